"""Probes of framework behaviour on a GPU machine, printed for the record (not a test)."""

import ctypes
import subprocess
import sys

PROBES = {
    "jax alone": "import jax.numpy as jnp; print(jnp.ones(3).sum(), jnp.ones(3).devices())",
    "jax after torch cuda": "import torch; t=torch.ones(3, device='cuda'); import jax.numpy as jnp; print(jnp.ones(3).sum())",
    "jax after validate(torch cuda)": (
        "import torch, optype_dlpack as od; t=torch.ones(3, device='cuda'); od.validate(t.__dlpack__());"
        "import jax.numpy as jnp; print(jnp.ones(3).sum())"),
    "jax after cupy": "import cupy; cupy.ones(3); import jax.numpy as jnp; print(jnp.ones(3).sum())",
    "jax first then torch": "import jax.numpy as jnp; a=jnp.ones(3); import torch; t=torch.ones(3, device='cuda'); print(jnp.ones(3).sum())",
    "jax first, then validate": (
        "import jax.numpy as jnp, optype_dlpack as od; a=jnp.ones(3); print(od.validate(a)); print((a+1).sum())"),
    "cupy reversed capsule": (
        "import cupy, numpy as np, optype_dlpack as od, ctypes;"
        "v=cupy.asarray(np.arange(24).reshape(4,6).astype('float32'))[::-1];"
        "print('cupy strides', v.strides, v.shape);"
        "c=v.__dlpack__();"
        "g=ctypes.pythonapi.PyCapsule_GetPointer; g.restype=ctypes.c_void_p; g.argtypes=[ctypes.py_object, ctypes.c_char_p];"
        "p=g(c, b'dltensor'); f=(ctypes.c_int64*6).from_address(p);"
        "sp=ctypes.cast(f[3], ctypes.POINTER(ctypes.c_int64)); st=ctypes.cast(f[4], ctypes.POINTER(ctypes.c_int64));"
        "print('dlpack shape', sp[0], sp[1], 'strides', st[0], st[1], 'byte_offset', f[5], 'data', hex(f[0]))"),
}

for name, code in PROBES.items():
    result = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, timeout=120)
    tail = (result.stdout + result.stderr).strip().splitlines()[-3:]
    print(f"--- {name}: exit {result.returncode}")
    print("\n".join(tail))

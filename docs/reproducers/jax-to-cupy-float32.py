"""jax -> cupy, case float32: FAIL (a read-only source came back writable).

Made by optype_dlpack._survey from its adapter table; ends with an AssertionError (or the
process dying) while the fault is there, and exits 0 once it is gone."""

import numpy as np
import ml_dtypes
from optype_dlpack import inspect
from optype_dlpack._survey import read_only
import jax
jax.config.update('jax_enable_x64', True)
import jax.numpy as jnp
import cupy as cp

a = np.arange(6).reshape(2, 3).astype(np.float32)
x = jnp.asarray(a)
before = inspect(x)
y = cp.from_dlpack(x)
after = inspect(y)
same_memory = before.data_ptr + before.byte_offset == after.data_ptr + after.byte_offset
writable = True  # how the survey tells that cupy's array may be written
assert not (same_memory and writable), 'a read-only source came back writable'
print('not reproduced: the cell passes now')

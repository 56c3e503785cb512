"""What a user would write instead of a validator: read a DLPack capsule with ctypes.

The structs are the repository's one ctypes copy of dlpack.h (tests/support/dlpack_h.py),
loaded by path: the benchmarks run from benchmarks/ against the installed package, with
nothing of the source tree on sys.path, and that module imports nothing but ctypes.
"""

from __future__ import annotations

import ctypes
import importlib.util
from pathlib import Path
from types import ModuleType


def _load_dlpack_h() -> ModuleType:
    path = Path(__file__).resolve().parent.parent / "tests" / "support" / "dlpack_h.py"
    spec = importlib.util.spec_from_file_location("dlpack_h", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DLManagedTensorVersioned = _load_dlpack_h().DLManagedTensorVersioned

_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_get_pointer.restype = ctypes.c_void_p
_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_NAME = b"dltensor_versioned"


def read_versioned(capsule: object) -> tuple[int, int, int, tuple[int, ...]]:
    """(device_type, dtype code, bits, shape) of a versioned capsule — no checks at all."""
    managed = DLManagedTensorVersioned.from_address(_get_pointer(capsule, _NAME))
    tensor = managed.dl_tensor
    shape = tuple(tensor.shape[i] for i in range(tensor.ndim))
    return tensor.device.device_type, tensor.dtype.code, tensor.dtype.bits, shape

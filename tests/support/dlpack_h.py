"""dlpack.h (DLPack 1.3) as ctypes declares it: the structs, and the device, dtype and flag codes.

The structs are the package's (optype_dlpack/_dlpack_ctypes.py, the one ctypes copy, which the
package's own test producer ``optype_dlpack.testing`` uses), loaded here by path: this module,
like that one, imports nothing but ctypes, so any process can load it, by import or by path,
without importing optype_dlpack first (the fuzz harness imports the package only under its
coverage instrumentation). The codes (``KDL_CPU``, ``KDL_FLOAT``, ``READ_ONLY``, ...) are read
from the package's enums on first use; tests/typing/test_header_enums.py holds those enums to
the header.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType


def _load_structs() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "optype_dlpack" / "_dlpack_ctypes.py"
    spec = importlib.util.spec_from_file_location("_dlpack_ctypes_for_tests", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_structs = _load_structs()
DLDevice = _structs.DLDevice
DLDataType = _structs.DLDataType
DLTensor = _structs.DLTensor
DLPackVersion = _structs.DLPackVersion
DELETER = _structs.DELETER
DLManagedTensor = _structs.DLManagedTensor
DLManagedTensorVersionedHeader = _structs.DLManagedTensorVersionedHeader
DLManagedTensorVersioned = _structs.DLManagedTensorVersioned
DLPackExchangeAPIHeader = _structs.DLPackExchangeAPIHeader
MANAGED_TENSOR_FROM_PY_OBJECT = _structs.MANAGED_TENSOR_FROM_PY_OBJECT
DLTENSOR_FROM_PY_OBJECT = _structs.DLTENSOR_FROM_PY_OBJECT
DLPackExchangeAPI = _structs.DLPackExchangeAPI
VERSIONED_NAME: bytes = _structs.VERSIONED_NAME
LEGACY_NAME: bytes = _structs.LEGACY_NAME
address_of = _structs.address_of
int64_array = _structs.int64_array
as_int64_pointer = _structs.as_int64_pointer


# -- the codes, from the package's enums --------------------------------------------------


def _codes() -> dict[str, int]:
    from optype_dlpack import DLDataTypeCode, DLDeviceType, DLPackFlags

    codes = {f"KDL_{member.name}": int(member) for member in DLDeviceType}  # KDL_CPU, KDL_CUDA, ...
    codes |= {f"KDL_{member.name}": int(member) for member in DLDataTypeCode}  # KDL_INT, KDL_FLOAT, ...
    codes |= {member.name: int(member) for member in DLPackFlags if member.name}  # READ_ONLY, ...
    return codes


def __getattr__(name: str) -> int:
    """KDL_<device type>, KDL_<dtype code> and the flag names, as plain integers (the way a
    producer writes them), read from the enums only when a caller first asks."""
    codes = _codes()
    if name in codes:
        globals().update(codes)
        return codes[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

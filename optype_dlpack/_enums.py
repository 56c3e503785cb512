"""The DLPack 1.3 enumerations and small value types (device, dtype, version, flags).

Every member value is held against the values compiled into the extension from
``dlpack.h`` by ``tests/test_header_enums.py``; nothing here may drift from the header.
"""

from __future__ import annotations

import enum
import types
from typing import NamedTuple

from . import _core

__all__ = [
    "DLPACK_VERSION",
    "DLDataType",
    "DLDataTypeCode",
    "DLDevice",
    "DLDeviceType",
    "DLPackFlags",
    "DLPackVersion",
]


class DLDeviceType(enum.IntEnum):
    """``DLDeviceType`` of ``dlpack.h`` v1.3 (names without the ``kDL`` prefix)."""

    CPU = 1
    CUDA = 2
    CUDA_HOST = 3  # page-locked host memory (cudaMallocHost)
    OPENCL = 4
    VULKAN = 7
    METAL = 8
    VPI = 9
    ROCM = 10
    ROCM_HOST = 11  # page-locked host memory (hipMallocHost)
    EXT_DEV = 12
    CUDA_MANAGED = 13
    ONE_API = 14
    WEBGPU = 15
    HEXAGON = 16
    MAIA = 17
    TRN = 18
    # the array API's (and optype's) pre-0.5 name for CUDA_HOST
    CPU_PINNED = 3


class DLDataTypeCode(enum.IntEnum):
    """``DLDataTypeCode`` of ``dlpack.h`` v1.3."""

    INT = 0
    UINT = 1
    FLOAT = 2
    OPAQUE_HANDLE = 3
    BFLOAT = 4
    COMPLEX = 5
    BOOL = 6
    FLOAT8_E3M4 = 7
    FLOAT8_E4M3 = 8
    FLOAT8_E4M3B11FNUZ = 9
    FLOAT8_E4M3FN = 10
    FLOAT8_E4M3FNUZ = 11
    FLOAT8_E5M2 = 12
    FLOAT8_E5M2FNUZ = 13
    FLOAT8_E8M0FNU = 14
    FLOAT6_E2M3FN = 15
    FLOAT6_E3M2FN = 16
    FLOAT4_E2M1FN = 17


class DLPackFlags(enum.IntFlag):
    """Bits of ``DLManagedTensorVersioned.flags``."""

    READ_ONLY = 1
    IS_COPIED = 2
    IS_SUBBYTE_TYPE_PADDED = 4


class DLPackVersion(NamedTuple):
    """``DLPackVersion``: a versioned capsule's ``(major, minor)``."""

    major: int
    minor: int


DLPACK_VERSION = DLPackVersion(*_core.DLPACK_HEADER_VERSION)
"""The ``dlpack.h`` version the extension was compiled against."""


class DLDataType(NamedTuple):
    """``DLDataType``: ``code``, total ``bits`` per lane, and ``lanes``.

    ``str()`` gives the conventional name (``"float32"``, ``"bfloat16"``, ``"bool"``,
    ``"float8_e4m3fn"``, ``"float32x4"`` for four lanes); ``parse()`` reads it back.
    """

    code: DLDataTypeCode
    bits: int
    lanes: int = 1

    @classmethod
    def parse(cls, name: str, /) -> DLDataType:
        """Read a dtype name such as ``"float32"``, ``"uint8"``, ``"bfloat16"`` or ``"bool"``."""
        code, bits, lanes = _core.parse_dtype(name)
        return cls(DLDataTypeCode(code), bits, lanes)

    def __str__(self) -> str:
        return _core.format_dtype(int(self.code), self.bits, self.lanes)


class DLDevice(NamedTuple):
    """``DLDevice``: ``type`` and ``id``; ``str()`` gives ``"cpu"`` or ``"cuda:1"``."""

    type: DLDeviceType
    id: int = 0

    # Generic in the stubs (DLDevice[DeviceTypeT]); subscripting works at run time too.
    __class_getitem__ = classmethod(types.GenericAlias)

    @classmethod
    def parse(cls, name: str, /) -> DLDevice:
        """Read a device name such as ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"cuda_host"``."""
        device_type, device_id = _core.parse_device(name)
        return cls(DLDeviceType(device_type), device_id)

    def __str__(self) -> str:
        return _core.format_device(int(self.type), self.id)

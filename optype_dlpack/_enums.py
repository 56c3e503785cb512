"""The DLPack 1.3 enumerations and small value types (device, dtype, version, flags).

Every member value is held against the values compiled into the extension from
``dlpack.h`` by ``tests/typing/test_header_enums.py``; nothing here may drift from the header.

Nothing compiled is imported here (the package's ``__init__`` imports the extension; this
module does not depend on it): only ``parse()`` and ``str()`` of ``DLDataType`` and
``DLDevice`` call into ``_core``, which they import when called.
"""

from __future__ import annotations

import enum
import sys
from typing import Generic

if sys.version_info >= (3, 11):
    from typing import NamedTuple, Self
else:  # a generic NamedTuple needs 3.11; typing_extensions backports it
    from typing_extensions import NamedTuple, Self

if sys.version_info >= (3, 13):
    from typing import TypeVar
else:
    from typing_extensions import TypeVar

__all__ = [
    "DLDataType",
    "DLDataTypeCode",
    "DLDevice",
    "DLDeviceType",
    "DLPackFlags",
    "DLPackVersion",
]


class DLDeviceType(enum.IntEnum):
    """``DLDeviceType`` of ``dlpack.h`` v1.3 (names without the ``kDL`` prefix).

    ``TPU``, ``TPU_HOST`` and ``ASCEND`` are values DLPack defined after 1.3 (validation
    reports them as findings, docs/validation.md).
    """

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
    # DLPack's main branch after the 1.3 release (no version bump): not in dlpack.h v1.3
    TPU = 19  # Google TPU device memory (dlpack#188)
    TPU_HOST = 20  # TPU pinned host memory, as CUDA_HOST for CUDA (dlpack#188); JAX exports it
    ASCEND = 21  # Huawei Ascend NPU device memory (dlpack#189)
    # The array API's (and optype's) pre-0.5 name for CUDA_HOST: an alias, not a member
    # (`DLDeviceType(3).name` is "CUDA_HOST"; in optype.dlpack, where CPU_PINNED is the member,
    # it is "CPU_PINNED"). pyright, pyrefly and ty read the alias as CUDA_HOST's literal;
    # mypy counts it as a 17th member (python/mypy#16830, docs/typing.md). It is an alias the
    # checkers see, so that `Literal[DLDeviceType.CPU_PINNED]` is a valid type, as in optype.
    CPU_PINNED = CUDA_HOST


class DLDataTypeCode(enum.IntEnum):
    """``DLDataTypeCode`` of ``dlpack.h`` v1.3.

    ``BCOMPLEX`` is a value DLPack defined after 1.3 (validation reports it as a finding,
    docs/validation.md).
    """

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
    # DLPack's main branch after the 1.3 release (no version bump): not in dlpack.h v1.3
    BCOMPLEX = 18  # complex of two bfloat16, 32 bits, laid out as COMPLEX (dlpack#187)


class DLPackFlags(enum.IntFlag):
    """Bits of ``DLManagedTensorVersioned.flags``."""

    READ_ONLY = 1
    IS_COPIED = 2
    IS_SUBBYTE_TYPE_PADDED = 4


class DLPackVersion(NamedTuple):
    """``DLPackVersion``: a versioned capsule's ``(major, minor)``."""

    major: int
    minor: int


class DLDataType(NamedTuple):
    """``DLDataType``: ``code``, total ``bits`` per lane, and ``lanes``.

    ``str()`` gives the conventional name (``"float32"``, ``"bfloat16"``, ``"bool"``,
    ``"float8_e4m3fn"``, ``"float32x4"`` for four lanes); ``parse()`` reads it back.
    """

    code: DLDataTypeCode
    bits: int
    lanes: int = 1

    @classmethod
    def parse(cls, name: str, /) -> Self:
        """Read a dtype name such as ``"float32"``, ``"uint8"``, ``"bfloat16"`` or ``"bool"``."""
        from . import _core  # here, not at the top: the enums import without the extension

        code, bits, lanes = _core.parse_dtype(name)
        return cls(DLDataTypeCode(code), bits, lanes)

    def __str__(self) -> str:
        from . import _core  # here, not at the top: the enums import without the extension

        return _core.format_dtype(int(self.code), self.bits, self.lanes)


# NOTE: covariant: a `DLDevice` is an immutable tuple, and its device type only comes out of it.
_DeviceTypeT_co = TypeVar("_DeviceTypeT_co", bound=DLDeviceType, default=DLDeviceType, covariant=True)


class DLDevice(NamedTuple, Generic[_DeviceTypeT_co]):
    """``DLDevice``: ``type`` and ``id``; ``str()`` gives ``"cpu"`` or ``"cuda:1"``.

    Generic in its device type, so that ``TensorInfo[Literal[DLDeviceType.CUDA]].device.type``
    is ``Literal[DLDeviceType.CUDA]``. Constructing one infers ``DLDevice[DLDeviceType]`` (both
    checkers widen a member argument); annotate the variable for a literal device type.
    """

    type: _DeviceTypeT_co
    id: int = 0

    @classmethod
    def parse(cls, name: str, /) -> DLDevice[DLDeviceType]:
        """Read a device name such as ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"cuda_host"``."""
        from . import _core  # here, not at the top: the enums import without the extension

        device_type, device_id = _core.parse_device(name)
        # `DLDevice`, not `cls`: the device type read here is any member, whatever `cls` was
        # parametrised with.
        return DLDevice(DLDeviceType(device_type), device_id)

    def __str__(self) -> str:
        from . import _core  # here, not at the top: the enums import without the extension

        return _core.format_device(int(self.type), self.id)

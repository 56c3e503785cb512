import enum
from typing import Final, Generic, Literal, NamedTuple

from typing_extensions import Self, TypeVar

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
    CPU = 1
    CUDA = 2
    CUDA_HOST = 3
    OPENCL = 4
    VULKAN = 7
    METAL = 8
    VPI = 9
    ROCM = 10
    ROCM_HOST = 11
    EXT_DEV = 12
    CUDA_MANAGED = 13
    ONE_API = 14
    WEBGPU = 15
    HEXAGON = 16
    MAIA = 17
    TRN = 18
    # NOTE: an alias, not a member: at run time `CPU_PINNED is CUDA_HOST`. Annotated without a
    # value, it is a non-member attribute of CUDA_HOST's literal type for both checkers; written
    # `CPU_PINNED = CUDA_HOST`, mypy would count a 17th member with a literal type of its own
    # (and `Final[...]` or `ClassVar[...]` make pyright lose the type in importing modules).
    CPU_PINNED: Literal[DLDeviceType.CUDA_HOST]

class DLDataTypeCode(enum.IntEnum):
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
    READ_ONLY = 1
    IS_COPIED = 2
    IS_SUBBYTE_TYPE_PADDED = 4

class DLPackVersion(NamedTuple):
    major: int
    minor: int

DLPACK_VERSION: Final[DLPackVersion]

class DLDataType(NamedTuple):
    code: DLDataTypeCode
    bits: int
    lanes: int = 1

    @classmethod
    def parse(cls, name: str, /) -> Self: ...
    def __str__(self) -> str: ...

# NOTE: covariant: a `DLDevice` is an immutable tuple, and its device type only comes out of it.
_DeviceTypeT_co = TypeVar("_DeviceTypeT_co", bound=DLDeviceType, default=DLDeviceType, covariant=True)

# Generic in the stubs only, so that `TensorInfo[Literal[DLDeviceType.CUDA]].device.type`
# is `Literal[DLDeviceType.CUDA]`. Constructing one infers `DLDevice[DLDeviceType]` (both
# checkers widen a member argument); annotate the variable for a literal device type.
class DLDevice(NamedTuple, Generic[_DeviceTypeT_co]):
    type: _DeviceTypeT_co
    id: int = 0

    @classmethod
    def parse(cls, name: str, /) -> Self: ...
    def __str__(self) -> str: ...

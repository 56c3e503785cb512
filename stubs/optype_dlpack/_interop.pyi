# The interop functions of the extension (src_cpp/interop.cpp); optype_dlpack._core re-exports
# them from here. Their run-time signatures are real (inspect.signature reads them).
import sys
from typing import Any, Protocol, final, type_check_only

import numpy as np
import numpy.typing as npt
from typing_extensions import TypeAlias

from ._protocols import CanDLPackCompat

if sys.version_info >= (3, 12):
    from collections.abc import Buffer
else:
    from typing_extensions import Buffer

if sys.version_info >= (3, 13):
    from types import CapsuleType
else:
    from typing_extensions import CapsuleType

__all__ = ["DLPackObject", "asdlpack", "from_dlpack", "to_dlpack"]

@type_check_only
class _HasArrayInterface(Protocol):
    # An attribute or a property (a read-only protocol member accepts both).
    @property
    def __array_interface__(self) -> dict[str, Any]: ...

@type_check_only
class _HasCudaArrayInterface(Protocol):
    @property
    def __cuda_array_interface__(self) -> dict[str, Any]: ...

# What from_dlpack reads: a capsule, or a producer (asked `__dlpack__(stream=None, max_version=...)`,
# then `__dlpack__(stream=None)`, so the weakest usable producer is `CanDLPackCompat`).
_DLPackSource: TypeAlias = CanDLPackCompat | CapsuleType
# What asdlpack wraps, in the order it looks: capsules and NumPy arrays, DLPack producers, the
# two array interfaces, the buffer protocol (bytes, bytearray, array.array, memoryview, mmap).
_AsDLPackSource: TypeAlias = CapsuleType | CanDLPackCompat | _HasCudaArrayInterface | _HasArrayInterface | Buffer

def from_dlpack(x: _DLPackSource, /, *, copy: bool | None = None) -> npt.NDArray[Any]: ...
def to_dlpack(obj: np.ndarray[Any, Any] | Buffer, /, *, versioned: bool = True, readonly: bool | None = None) -> CapsuleType: ...
def asdlpack(obj: _AsDLPackSource, /) -> DLPackObject: ...
@final
class DLPackObject:
    """Memory offered through the DLPack protocol; made by asdlpack()."""

    def __dlpack__(
        self,
        /,
        *,
        stream: int | Any | None = None,
        max_version: tuple[int, int] | None = None,
        dl_device: tuple[int, int] | None = None,
        copy: bool | None = None,
    ) -> CapsuleType: ...
    def __dlpack_device__(self, /) -> tuple[int, int]: ...

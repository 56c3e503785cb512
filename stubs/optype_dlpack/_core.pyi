# The pybind11 extension (src_cpp/module.cpp). Parameter names, kinds and defaults are held
# against the extension's own signature lines by tests/typing/test_stub_parity.py.
import sys
from collections.abc import Callable, Sequence
from typing import Any, Final, Generic, Literal, Protocol, SupportsIndex, SupportsInt, TypeAlias, final, overload, type_check_only

import numpy as np

from typing_extensions import Never, TypeVar

from ._enums import DLDataType, DLDevice, DLDeviceType, DLPackFlags, DLPackVersion
from ._errors import Violation
from ._protocols import CanDLPackCompat

if sys.version_info >= (3, 12):
    from collections.abc import Buffer
else:
    from typing_extensions import Buffer

if sys.version_info >= (3, 13):
    from types import CapsuleType
else:
    from typing_extensions import CapsuleType

_DTypeT = TypeVar("_DTypeT", bound=np.dtype[Any])

# NOTE: covariant: the device type only comes out of a `TensorInfo` (and of an `Expect`, through
# the `TensorInfo` it returns), so a CUDA `TensorInfo` is also a `TensorInfo[DLDeviceType]`.
_DeviceTypeT_co = TypeVar("_DeviceTypeT_co", bound=DLDeviceType, default=DLDeviceType, covariant=True)
# What `x` may be: a capsule, or a producer. The validator asks `__dlpack__(stream=..., max_version=...)`
# and falls back to `__dlpack__(stream=...)`, so the weakest producer it can use is `CanDLPackCompat`.
_DLPackSource: TypeAlias = CanDLPackCompat | CapsuleType

# `device=` in the spellings that say nothing statically: a device type as an int (a
# `DLDeviceType` is one; any id), a `(device_type, device_id)` tuple (a `DLDevice` is one), or a
# name such as "cuda:1".
_DeviceLike: TypeAlias = int | str | tuple[int, int]

@type_check_only
class _NumPyDType(Protocol):
    # numpy.dtype; JAX's and ml_dtypes' dtypes are numpy dtypes. (`kind` keeps arrays out.)
    @property
    def kind(self) -> str: ...
    @property
    def itemsize(self) -> int: ...

@type_check_only
class _TorchDType(Protocol):
    # torch.dtype. (An attribute `is_floating_point`, not torch.Tensor's method, keeps tensors out.)
    @property
    def is_floating_point(self) -> bool: ...
    @property
    def itemsize(self) -> int: ...

# `dtype=`: the extension reads a DLDataType or `(code, bits[, lanes])` tuple field by field, a
# name such as "float32" or "bfloat16", a type by its `__name__` (`numpy.float32`,
# `ml_dtypes.bfloat16`), and any other object by its `str()` (`numpy.dtype("float32")`,
# `torch.float32`). "Any other object" would be `object` and check nothing, so the stubs
# name the two dtype objects that `str()` spells as a dtype name, structurally (neither NumPy
# nor torch is a dependency).
_DTypeLike: TypeAlias = DLDataType | str | tuple[int, int] | tuple[int, int, int] | type | _NumPyDType | _TorchDType

# `layout=`: the extension also accepts "c", "f" and "A" (NumPy's spellings); the stubs
# advertise the canonical ones only.
_Layout: TypeAlias = Literal["C", "F", "any"]
_VerifyDevice: TypeAlias = Literal["auto", "require", "skip"]

DLPACK_HEADER_VERSION: Final[tuple[int, int]]
HEADER_DEVICE_TYPES: Final[dict[str, int]]
HEADER_DTYPE_CODES: Final[dict[str, int]]
HEADER_FLAGS: Final[dict[str, int]]
KNOWN_DEVICE_TYPES: Final[dict[str, int]]
KNOWN_DTYPE_CODES: Final[dict[str, int]]
# The rule registry of rules.hpp, one (id, field, checks, reference, since) row per rule.
RULE_REGISTRY: Final[tuple[tuple[str, str, str, str, str], ...]]
STREAM_DEVICE_TYPES: Final[tuple[int, ...]]

def parse_dtype(name: str, /) -> tuple[int, int, int]: ...
def format_dtype(
    code: SupportsInt | SupportsIndex,
    bits: SupportsInt | SupportsIndex,
    lanes: SupportsInt | SupportsIndex,
    /,
) -> str: ...
def parse_device(name: str, /) -> tuple[int, int]: ...
def format_device(device_type: SupportsInt | SupportsIndex, device_id: SupportsInt | SupportsIndex, /) -> str: ...
def _noop(x: object, /) -> None: ...
def _ndarray_reading_state() -> Literal["unknown", "trusted", "refused"]: ...
def _checked_run(steps: tuple[object, ...], values: tuple[object, ...], env: dict[Any, Any], /) -> bool: ...
def _checked_function(function: Callable[..., Any], fallback: Callable[..., Any], /) -> Callable[..., Any]: ...
def _checked_install(
    wrapper: Callable[..., Any],
    parameters: tuple[object, ...],
    positional_limit: int,
    fail: Callable[..., Any],
    returns: tuple[object, ...] | None = None,
    /,
) -> bool: ...
def _checked_switch(enabled: bool, /) -> bool: ...
@final
class _CheckedFunction:
    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...
def cuda_driver_available() -> bool: ...
def cuda_driver_status() -> str: ...

# Final at run time, and never constructed directly: inspect(), validate() and Expect.validate()
# make them.
@final
class TensorInfo(Generic[_DeviceTypeT_co]):
    # No constructor is bound (the run time raises `TypeError: No constructor defined!`): a
    # parameter that nothing can be passed to makes every call `TensorInfo(...)` a type error.
    def __init__(self, never: Never, /) -> None: ...
    @property
    def device(self) -> DLDevice[_DeviceTypeT_co]: ...
    @property
    def dtype(self) -> DLDataType: ...
    @property
    def shape(self) -> tuple[int, ...]: ...
    @property
    def strides(self) -> tuple[int, ...]: ...
    @property
    def byte_offset(self) -> int: ...
    @property
    def data_ptr(self) -> int: ...
    @property
    def version(self) -> DLPackVersion | None: ...
    @property
    def flags(self) -> DLPackFlags: ...
    @property
    def readonly(self) -> bool: ...
    @property
    def ndim(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def nbytes(self) -> int: ...
    @property
    def is_c_contiguous(self) -> bool: ...
    @property
    def is_f_contiguous(self) -> bool: ...
    @property
    def device_verified(self) -> bool | None: ...
    # Values DLPack defined after 1.3, or newer than this package knows: permitted, worth hearing
    # about (docs/validation.md); `()` for a tensor of DLPack 1.3 values.
    @property
    def findings(self) -> tuple[Violation, ...]: ...
    def __repr__(self) -> str: ...

def inspect(x: _DLPackSource, /) -> TensorInfo: ...

# `device` given as a member literal, or as a `(member, id)` tuple (a `DLDevice[Literal[...]]`
# is one), tells the checker which device the result is on; anything else gives `TensorInfo`.
# One overload per member, in the enum's order (tests/typing/test_stub_parity.py checks that every
# member has its overload, here and in `Expect.__init__`). A type variable bound by the union of
# the member literals kept the literal only under pyright and mypy, and under pyright only up to
# Python 3.11 (docs/typing.md); a literal parameter per member keeps it under every checker.
@overload
def validate(
    x: _DLPackSource,
    /,
    *,
    device: Literal[DLDeviceType.CPU] | tuple[Literal[DLDeviceType.CPU], int],
    dtype: _DTypeLike | None = None,
    ndim: int | None = None,
    shape: Sequence[int | None] | None = None,
    writable: bool | None = None,
    layout: _Layout | None = None,
    verify_device: _VerifyDevice = "auto",
    strict: bool = False,
) -> TensorInfo[Literal[DLDeviceType.CPU]]: ...
@overload
def validate(
    x: _DLPackSource,
    /,
    *,
    device: Literal[DLDeviceType.CUDA] | tuple[Literal[DLDeviceType.CUDA], int],
    dtype: _DTypeLike | None = None,
    ndim: int | None = None,
    shape: Sequence[int | None] | None = None,
    writable: bool | None = None,
    layout: _Layout | None = None,
    verify_device: _VerifyDevice = "auto",
    strict: bool = False,
) -> TensorInfo[Literal[DLDeviceType.CUDA]]: ...
@overload
def validate(
    x: _DLPackSource,
    /,
    *,
    device: Literal[DLDeviceType.CUDA_HOST] | tuple[Literal[DLDeviceType.CUDA_HOST], int],
    dtype: _DTypeLike | None = None,
    ndim: int | None = None,
    shape: Sequence[int | None] | None = None,
    writable: bool | None = None,
    layout: _Layout | None = None,
    verify_device: _VerifyDevice = "auto",
    strict: bool = False,
) -> TensorInfo[Literal[DLDeviceType.CUDA_HOST]]: ...
@overload
def validate(
    x: _DLPackSource,
    /,
    *,
    device: Literal[DLDeviceType.OPENCL] | tuple[Literal[DLDeviceType.OPENCL], int],
    dtype: _DTypeLike | None = None,
    ndim: int | None = None,
    shape: Sequence[int | None] | None = None,
    writable: bool | None = None,
    layout: _Layout | None = None,
    verify_device: _VerifyDevice = "auto",
    strict: bool = False,
) -> TensorInfo[Literal[DLDeviceType.OPENCL]]: ...
@overload
def validate(
    x: _DLPackSource,
    /,
    *,
    device: Literal[DLDeviceType.VULKAN] | tuple[Literal[DLDeviceType.VULKAN], int],
    dtype: _DTypeLike | None = None,
    ndim: int | None = None,
    shape: Sequence[int | None] | None = None,
    writable: bool | None = None,
    layout: _Layout | None = None,
    verify_device: _VerifyDevice = "auto",
    strict: bool = False,
) -> TensorInfo[Literal[DLDeviceType.VULKAN]]: ...
@overload
def validate(
    x: _DLPackSource,
    /,
    *,
    device: Literal[DLDeviceType.METAL] | tuple[Literal[DLDeviceType.METAL], int],
    dtype: _DTypeLike | None = None,
    ndim: int | None = None,
    shape: Sequence[int | None] | None = None,
    writable: bool | None = None,
    layout: _Layout | None = None,
    verify_device: _VerifyDevice = "auto",
    strict: bool = False,
) -> TensorInfo[Literal[DLDeviceType.METAL]]: ...
@overload
def validate(
    x: _DLPackSource,
    /,
    *,
    device: Literal[DLDeviceType.VPI] | tuple[Literal[DLDeviceType.VPI], int],
    dtype: _DTypeLike | None = None,
    ndim: int | None = None,
    shape: Sequence[int | None] | None = None,
    writable: bool | None = None,
    layout: _Layout | None = None,
    verify_device: _VerifyDevice = "auto",
    strict: bool = False,
) -> TensorInfo[Literal[DLDeviceType.VPI]]: ...
@overload
def validate(
    x: _DLPackSource,
    /,
    *,
    device: Literal[DLDeviceType.ROCM] | tuple[Literal[DLDeviceType.ROCM], int],
    dtype: _DTypeLike | None = None,
    ndim: int | None = None,
    shape: Sequence[int | None] | None = None,
    writable: bool | None = None,
    layout: _Layout | None = None,
    verify_device: _VerifyDevice = "auto",
    strict: bool = False,
) -> TensorInfo[Literal[DLDeviceType.ROCM]]: ...
@overload
def validate(
    x: _DLPackSource,
    /,
    *,
    device: Literal[DLDeviceType.ROCM_HOST] | tuple[Literal[DLDeviceType.ROCM_HOST], int],
    dtype: _DTypeLike | None = None,
    ndim: int | None = None,
    shape: Sequence[int | None] | None = None,
    writable: bool | None = None,
    layout: _Layout | None = None,
    verify_device: _VerifyDevice = "auto",
    strict: bool = False,
) -> TensorInfo[Literal[DLDeviceType.ROCM_HOST]]: ...
@overload
def validate(
    x: _DLPackSource,
    /,
    *,
    device: Literal[DLDeviceType.EXT_DEV] | tuple[Literal[DLDeviceType.EXT_DEV], int],
    dtype: _DTypeLike | None = None,
    ndim: int | None = None,
    shape: Sequence[int | None] | None = None,
    writable: bool | None = None,
    layout: _Layout | None = None,
    verify_device: _VerifyDevice = "auto",
    strict: bool = False,
) -> TensorInfo[Literal[DLDeviceType.EXT_DEV]]: ...
@overload
def validate(
    x: _DLPackSource,
    /,
    *,
    device: Literal[DLDeviceType.CUDA_MANAGED] | tuple[Literal[DLDeviceType.CUDA_MANAGED], int],
    dtype: _DTypeLike | None = None,
    ndim: int | None = None,
    shape: Sequence[int | None] | None = None,
    writable: bool | None = None,
    layout: _Layout | None = None,
    verify_device: _VerifyDevice = "auto",
    strict: bool = False,
) -> TensorInfo[Literal[DLDeviceType.CUDA_MANAGED]]: ...
@overload
def validate(
    x: _DLPackSource,
    /,
    *,
    device: Literal[DLDeviceType.ONE_API] | tuple[Literal[DLDeviceType.ONE_API], int],
    dtype: _DTypeLike | None = None,
    ndim: int | None = None,
    shape: Sequence[int | None] | None = None,
    writable: bool | None = None,
    layout: _Layout | None = None,
    verify_device: _VerifyDevice = "auto",
    strict: bool = False,
) -> TensorInfo[Literal[DLDeviceType.ONE_API]]: ...
@overload
def validate(
    x: _DLPackSource,
    /,
    *,
    device: Literal[DLDeviceType.WEBGPU] | tuple[Literal[DLDeviceType.WEBGPU], int],
    dtype: _DTypeLike | None = None,
    ndim: int | None = None,
    shape: Sequence[int | None] | None = None,
    writable: bool | None = None,
    layout: _Layout | None = None,
    verify_device: _VerifyDevice = "auto",
    strict: bool = False,
) -> TensorInfo[Literal[DLDeviceType.WEBGPU]]: ...
@overload
def validate(
    x: _DLPackSource,
    /,
    *,
    device: Literal[DLDeviceType.HEXAGON] | tuple[Literal[DLDeviceType.HEXAGON], int],
    dtype: _DTypeLike | None = None,
    ndim: int | None = None,
    shape: Sequence[int | None] | None = None,
    writable: bool | None = None,
    layout: _Layout | None = None,
    verify_device: _VerifyDevice = "auto",
    strict: bool = False,
) -> TensorInfo[Literal[DLDeviceType.HEXAGON]]: ...
@overload
def validate(
    x: _DLPackSource,
    /,
    *,
    device: Literal[DLDeviceType.MAIA] | tuple[Literal[DLDeviceType.MAIA], int],
    dtype: _DTypeLike | None = None,
    ndim: int | None = None,
    shape: Sequence[int | None] | None = None,
    writable: bool | None = None,
    layout: _Layout | None = None,
    verify_device: _VerifyDevice = "auto",
    strict: bool = False,
) -> TensorInfo[Literal[DLDeviceType.MAIA]]: ...
@overload
def validate(
    x: _DLPackSource,
    /,
    *,
    device: Literal[DLDeviceType.TRN] | tuple[Literal[DLDeviceType.TRN], int],
    dtype: _DTypeLike | None = None,
    ndim: int | None = None,
    shape: Sequence[int | None] | None = None,
    writable: bool | None = None,
    layout: _Layout | None = None,
    verify_device: _VerifyDevice = "auto",
    strict: bool = False,
) -> TensorInfo[Literal[DLDeviceType.TRN]]: ...
@overload
def validate(
    x: _DLPackSource,
    /,
    *,
    device: Literal[DLDeviceType.TPU] | tuple[Literal[DLDeviceType.TPU], int],
    dtype: _DTypeLike | None = None,
    ndim: int | None = None,
    shape: Sequence[int | None] | None = None,
    writable: bool | None = None,
    layout: _Layout | None = None,
    verify_device: _VerifyDevice = "auto",
    strict: bool = False,
) -> TensorInfo[Literal[DLDeviceType.TPU]]: ...
@overload
def validate(
    x: _DLPackSource,
    /,
    *,
    device: Literal[DLDeviceType.TPU_HOST] | tuple[Literal[DLDeviceType.TPU_HOST], int],
    dtype: _DTypeLike | None = None,
    ndim: int | None = None,
    shape: Sequence[int | None] | None = None,
    writable: bool | None = None,
    layout: _Layout | None = None,
    verify_device: _VerifyDevice = "auto",
    strict: bool = False,
) -> TensorInfo[Literal[DLDeviceType.TPU_HOST]]: ...
@overload
def validate(
    x: _DLPackSource,
    /,
    *,
    device: Literal[DLDeviceType.ASCEND] | tuple[Literal[DLDeviceType.ASCEND], int],
    dtype: _DTypeLike | None = None,
    ndim: int | None = None,
    shape: Sequence[int | None] | None = None,
    writable: bool | None = None,
    layout: _Layout | None = None,
    verify_device: _VerifyDevice = "auto",
    strict: bool = False,
) -> TensorInfo[Literal[DLDeviceType.ASCEND]]: ...
@overload
def validate(
    x: _DLPackSource,
    /,
    *,
    device: _DeviceLike | None = None,
    dtype: _DTypeLike | None = None,
    ndim: int | None = None,
    shape: Sequence[int | None] | None = None,
    writable: bool | None = None,
    layout: _Layout | None = None,
    verify_device: _VerifyDevice = "auto",
    strict: bool = False,
) -> TensorInfo: ...

# Final at run time (wrap an Expect to add behaviour).
@final
class Expect(Generic[_DeviceTypeT_co]):
    @overload
    def __init__(
        self: Expect[Literal[DLDeviceType.CPU]],
        *,
        device: Literal[DLDeviceType.CPU] | tuple[Literal[DLDeviceType.CPU], int],
        dtype: _DTypeLike | None = None,
        ndim: int | None = None,
        shape: Sequence[int | None] | None = None,
        writable: bool | None = None,
        layout: _Layout | None = None,
        verify_device: _VerifyDevice = "auto",
        strict: bool = False,
    ) -> None: ...
    @overload
    def __init__(
        self: Expect[Literal[DLDeviceType.CUDA]],
        *,
        device: Literal[DLDeviceType.CUDA] | tuple[Literal[DLDeviceType.CUDA], int],
        dtype: _DTypeLike | None = None,
        ndim: int | None = None,
        shape: Sequence[int | None] | None = None,
        writable: bool | None = None,
        layout: _Layout | None = None,
        verify_device: _VerifyDevice = "auto",
        strict: bool = False,
    ) -> None: ...
    @overload
    def __init__(
        self: Expect[Literal[DLDeviceType.CUDA_HOST]],
        *,
        device: Literal[DLDeviceType.CUDA_HOST] | tuple[Literal[DLDeviceType.CUDA_HOST], int],
        dtype: _DTypeLike | None = None,
        ndim: int | None = None,
        shape: Sequence[int | None] | None = None,
        writable: bool | None = None,
        layout: _Layout | None = None,
        verify_device: _VerifyDevice = "auto",
        strict: bool = False,
    ) -> None: ...
    @overload
    def __init__(
        self: Expect[Literal[DLDeviceType.OPENCL]],
        *,
        device: Literal[DLDeviceType.OPENCL] | tuple[Literal[DLDeviceType.OPENCL], int],
        dtype: _DTypeLike | None = None,
        ndim: int | None = None,
        shape: Sequence[int | None] | None = None,
        writable: bool | None = None,
        layout: _Layout | None = None,
        verify_device: _VerifyDevice = "auto",
        strict: bool = False,
    ) -> None: ...
    @overload
    def __init__(
        self: Expect[Literal[DLDeviceType.VULKAN]],
        *,
        device: Literal[DLDeviceType.VULKAN] | tuple[Literal[DLDeviceType.VULKAN], int],
        dtype: _DTypeLike | None = None,
        ndim: int | None = None,
        shape: Sequence[int | None] | None = None,
        writable: bool | None = None,
        layout: _Layout | None = None,
        verify_device: _VerifyDevice = "auto",
        strict: bool = False,
    ) -> None: ...
    @overload
    def __init__(
        self: Expect[Literal[DLDeviceType.METAL]],
        *,
        device: Literal[DLDeviceType.METAL] | tuple[Literal[DLDeviceType.METAL], int],
        dtype: _DTypeLike | None = None,
        ndim: int | None = None,
        shape: Sequence[int | None] | None = None,
        writable: bool | None = None,
        layout: _Layout | None = None,
        verify_device: _VerifyDevice = "auto",
        strict: bool = False,
    ) -> None: ...
    @overload
    def __init__(
        self: Expect[Literal[DLDeviceType.VPI]],
        *,
        device: Literal[DLDeviceType.VPI] | tuple[Literal[DLDeviceType.VPI], int],
        dtype: _DTypeLike | None = None,
        ndim: int | None = None,
        shape: Sequence[int | None] | None = None,
        writable: bool | None = None,
        layout: _Layout | None = None,
        verify_device: _VerifyDevice = "auto",
        strict: bool = False,
    ) -> None: ...
    @overload
    def __init__(
        self: Expect[Literal[DLDeviceType.ROCM]],
        *,
        device: Literal[DLDeviceType.ROCM] | tuple[Literal[DLDeviceType.ROCM], int],
        dtype: _DTypeLike | None = None,
        ndim: int | None = None,
        shape: Sequence[int | None] | None = None,
        writable: bool | None = None,
        layout: _Layout | None = None,
        verify_device: _VerifyDevice = "auto",
        strict: bool = False,
    ) -> None: ...
    @overload
    def __init__(
        self: Expect[Literal[DLDeviceType.ROCM_HOST]],
        *,
        device: Literal[DLDeviceType.ROCM_HOST] | tuple[Literal[DLDeviceType.ROCM_HOST], int],
        dtype: _DTypeLike | None = None,
        ndim: int | None = None,
        shape: Sequence[int | None] | None = None,
        writable: bool | None = None,
        layout: _Layout | None = None,
        verify_device: _VerifyDevice = "auto",
        strict: bool = False,
    ) -> None: ...
    @overload
    def __init__(
        self: Expect[Literal[DLDeviceType.EXT_DEV]],
        *,
        device: Literal[DLDeviceType.EXT_DEV] | tuple[Literal[DLDeviceType.EXT_DEV], int],
        dtype: _DTypeLike | None = None,
        ndim: int | None = None,
        shape: Sequence[int | None] | None = None,
        writable: bool | None = None,
        layout: _Layout | None = None,
        verify_device: _VerifyDevice = "auto",
        strict: bool = False,
    ) -> None: ...
    @overload
    def __init__(
        self: Expect[Literal[DLDeviceType.CUDA_MANAGED]],
        *,
        device: Literal[DLDeviceType.CUDA_MANAGED] | tuple[Literal[DLDeviceType.CUDA_MANAGED], int],
        dtype: _DTypeLike | None = None,
        ndim: int | None = None,
        shape: Sequence[int | None] | None = None,
        writable: bool | None = None,
        layout: _Layout | None = None,
        verify_device: _VerifyDevice = "auto",
        strict: bool = False,
    ) -> None: ...
    @overload
    def __init__(
        self: Expect[Literal[DLDeviceType.ONE_API]],
        *,
        device: Literal[DLDeviceType.ONE_API] | tuple[Literal[DLDeviceType.ONE_API], int],
        dtype: _DTypeLike | None = None,
        ndim: int | None = None,
        shape: Sequence[int | None] | None = None,
        writable: bool | None = None,
        layout: _Layout | None = None,
        verify_device: _VerifyDevice = "auto",
        strict: bool = False,
    ) -> None: ...
    @overload
    def __init__(
        self: Expect[Literal[DLDeviceType.WEBGPU]],
        *,
        device: Literal[DLDeviceType.WEBGPU] | tuple[Literal[DLDeviceType.WEBGPU], int],
        dtype: _DTypeLike | None = None,
        ndim: int | None = None,
        shape: Sequence[int | None] | None = None,
        writable: bool | None = None,
        layout: _Layout | None = None,
        verify_device: _VerifyDevice = "auto",
        strict: bool = False,
    ) -> None: ...
    @overload
    def __init__(
        self: Expect[Literal[DLDeviceType.HEXAGON]],
        *,
        device: Literal[DLDeviceType.HEXAGON] | tuple[Literal[DLDeviceType.HEXAGON], int],
        dtype: _DTypeLike | None = None,
        ndim: int | None = None,
        shape: Sequence[int | None] | None = None,
        writable: bool | None = None,
        layout: _Layout | None = None,
        verify_device: _VerifyDevice = "auto",
        strict: bool = False,
    ) -> None: ...
    @overload
    def __init__(
        self: Expect[Literal[DLDeviceType.MAIA]],
        *,
        device: Literal[DLDeviceType.MAIA] | tuple[Literal[DLDeviceType.MAIA], int],
        dtype: _DTypeLike | None = None,
        ndim: int | None = None,
        shape: Sequence[int | None] | None = None,
        writable: bool | None = None,
        layout: _Layout | None = None,
        verify_device: _VerifyDevice = "auto",
        strict: bool = False,
    ) -> None: ...
    @overload
    def __init__(
        self: Expect[Literal[DLDeviceType.TRN]],
        *,
        device: Literal[DLDeviceType.TRN] | tuple[Literal[DLDeviceType.TRN], int],
        dtype: _DTypeLike | None = None,
        ndim: int | None = None,
        shape: Sequence[int | None] | None = None,
        writable: bool | None = None,
        layout: _Layout | None = None,
        verify_device: _VerifyDevice = "auto",
        strict: bool = False,
    ) -> None: ...
    @overload
    def __init__(
        self: Expect[Literal[DLDeviceType.TPU]],
        *,
        device: Literal[DLDeviceType.TPU] | tuple[Literal[DLDeviceType.TPU], int],
        dtype: _DTypeLike | None = None,
        ndim: int | None = None,
        shape: Sequence[int | None] | None = None,
        writable: bool | None = None,
        layout: _Layout | None = None,
        verify_device: _VerifyDevice = "auto",
        strict: bool = False,
    ) -> None: ...
    @overload
    def __init__(
        self: Expect[Literal[DLDeviceType.TPU_HOST]],
        *,
        device: Literal[DLDeviceType.TPU_HOST] | tuple[Literal[DLDeviceType.TPU_HOST], int],
        dtype: _DTypeLike | None = None,
        ndim: int | None = None,
        shape: Sequence[int | None] | None = None,
        writable: bool | None = None,
        layout: _Layout | None = None,
        verify_device: _VerifyDevice = "auto",
        strict: bool = False,
    ) -> None: ...
    @overload
    def __init__(
        self: Expect[Literal[DLDeviceType.ASCEND]],
        *,
        device: Literal[DLDeviceType.ASCEND] | tuple[Literal[DLDeviceType.ASCEND], int],
        dtype: _DTypeLike | None = None,
        ndim: int | None = None,
        shape: Sequence[int | None] | None = None,
        writable: bool | None = None,
        layout: _Layout | None = None,
        verify_device: _VerifyDevice = "auto",
        strict: bool = False,
    ) -> None: ...
    @overload
    def __init__(
        self: Expect[DLDeviceType],
        *,
        device: _DeviceLike | None = None,
        dtype: _DTypeLike | None = None,
        ndim: int | None = None,
        shape: Sequence[int | None] | None = None,
        writable: bool | None = None,
        layout: _Layout | None = None,
        verify_device: _VerifyDevice = "auto",
        strict: bool = False,
    ) -> None: ...
    def validate(self, x: _DLPackSource, /) -> TensorInfo[_DeviceTypeT_co]: ...
    def check(self, x: _DLPackSource, /) -> None: ...
    def matches(self, x: object, /) -> bool: ...
    def __repr__(self) -> str: ...

# == Interop (src_cpp/interop.cpp) ==

@type_check_only
class _HasArrayInterface(Protocol):
    # An attribute or a property (a read-only protocol member accepts both).
    @property
    def __array_interface__(self) -> dict[str, Any]: ...

@type_check_only
class _HasCudaArrayInterface(Protocol):
    @property
    def __cuda_array_interface__(self) -> dict[str, Any]: ...

# What asdlpack wraps, in the order it looks: capsules and NumPy arrays, DLPack producers, the
# two array interfaces, and buffers (bytes, bytearray, array.array, memoryview, mmap).
_AsDLPackSource: TypeAlias = CapsuleType | CanDLPackCompat | _HasCudaArrayInterface | _HasArrayInterface | Buffer

# NumPy is an optional dependency (the `numpy` extra), and only `from_dlpack` needs its types:
# nothing else here reads `np`, so without NumPy installed the rest of the API keeps its types
# (only `from_dlpack`'s result is then unknown). A NumPy array keeps its dtype through the
# round trip; any other producer gives an array of a dtype known only at run time.
@overload
def from_dlpack(x: np.ndarray[Any, _DTypeT], /, *, device: Literal["cpu"] | tuple[int, int] | None = None, copy: bool | None = None) -> np.ndarray[tuple[Any, ...], _DTypeT]: ...
@overload
def from_dlpack(x: _DLPackSource, /, *, device: Literal["cpu"] | tuple[int, int] | None = None, copy: bool | None = None) -> np.ndarray[tuple[Any, ...], np.dtype[Any]]: ...

@type_check_only
class _NumPyArray(_HasArrayInterface, Protocol):
    # numpy.ndarray, structurally (NumPy's stub makes it a `Buffer` only for Python >= 3.12).
    # `__array_finalize__` keeps out other objects that only carry an array interface, which
    # to_dlpack refuses.
    def __array_finalize__(self, obj: None, /) -> None: ...

# `obj`: a NumPy array or a buffer, both spelled structurally, so that the annotation means the
# same with or without NumPy installed (an `np.ndarray` here would be `Any` without NumPy).
def to_dlpack(obj: _NumPyArray | Buffer, /, *, versioned: bool = True, readonly: bool | None = None) -> CapsuleType: ...
def asdlpack(obj: _AsDLPackSource, /) -> DLPackObject: ...
@final
class DLPackObject:
    # As TensorInfo: only asdlpack() makes one.
    def __init__(self, never: Never, /) -> None: ...
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

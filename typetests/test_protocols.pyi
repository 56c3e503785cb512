# pyright: reportInvalidStubStatement=false
import enum
from typing import Any, ClassVar, Literal, TypeVar

import jax
import numpy as np
import numpy.typing as npt
import torch
from typing_extensions import CapsuleType, assert_type

from optype_dlpack import (
    CanDLPack,
    CanDLPackCompat,
    CanDLPackDevice,
    DLDeviceType,
    HasDLPackCExchangeAPI,
    SupportsDLPack,
)

# Producers written the way the array API specifies `__dlpack__` (keyword-only, four arguments).
class SpecProducer:
    def __dlpack__(
        self,
        /,
        *,
        stream: int | Any | None = None,
        max_version: tuple[int, int] | None = None,
        dl_device: tuple[enum.Enum, int] | None = None,
        copy: bool | None = None,
    ) -> CapsuleType: ...
    def __dlpack_device__(self, /) -> tuple[enum.IntEnum, int]: ...

class CUDAProducer:
    def __dlpack__(
        self,
        /,
        *,
        stream: int | Any | None = None,
        max_version: tuple[int, int] | None = None,
        dl_device: tuple[enum.Enum, int] | None = None,
        copy: bool | None = None,
    ) -> CapsuleType: ...
    def __dlpack_device__(self, /) -> tuple[Literal[DLDeviceType.CUDA], int]: ...

# optype's spelling: `stream: int | None` (a CPU-only producer's contract is still int-or-None)
class OptypeStyleProducer:
    def __dlpack__(
        self,
        /,
        *,
        stream: int | None = None,
        max_version: tuple[int, int] | None = None,
        dl_device: tuple[int, int] | None = None,
        copy: bool | None = None,
    ) -> CapsuleType: ...

# pre-2023.12 producers: `stream` only
class LegacyProducer:
    def __dlpack__(self, /, *, stream: int | None = None) -> CapsuleType: ...

# broken producers
class DataAttributeProducer:
    __dlpack__: CapsuleType  # the capsule itself, not a method that makes one

class WrongReturnProducer:
    def __dlpack__(
        self,
        /,
        *,
        stream: int | Any | None = None,
        max_version: tuple[int, int] | None = None,
        dl_device: tuple[enum.Enum, int] | None = None,
        copy: bool | None = None,
    ) -> bytes: ...

class PositionalStreamProducer:
    def __dlpack__(
        self,
        stream: int | None = None,
        /,
        max_version: tuple[int, int] | None = None,
        dl_device: tuple[int, int] | None = None,
        copy: bool | None = None,
    ) -> CapsuleType: ...

# A plain `Enum` (the array API's own annotation) is not an `int`: consumers hand device
# types to C, so the type parameters are bound by `int`.
class PlainEnumDeviceProducer:
    def __dlpack_device__(self, /) -> tuple[enum.Enum, int]: ...

class ExchangeAPIProducer:
    __dlpack_c_exchange_api__: ClassVar[CapsuleType]

array_f8: npt.NDArray[np.float64]
tensor: torch.Tensor
jax_array: jax.Array
spec: SpecProducer
cuda: CUDAProducer
optype_style: OptypeStyleProducer
legacy: LegacyProducer
data_attribute: DataAttributeProducer
wrong_return: WrongReturnProducer
positional_stream: PositionalStreamProducer
plain_enum_device: PlainEnumDeviceProducer
exchange: ExchangeAPIProducer
can_dlpack: CanDLPack
supports_cuda: SupportsDLPack[Literal[DLDeviceType.CUDA], int]

###
# CanDLPack

can_array: CanDLPack = array_f8
can_tensor: CanDLPack = tensor
can_spec: CanDLPack = spec
can_cuda: CanDLPack = cuda
can_optype_style: CanDLPack = optype_style
can_explicit: CanDLPack[int, int] = spec
assert_type(can_dlpack.__dlpack__(), CapsuleType)
assert_type(
    can_dlpack.__dlpack__(stream=-1, max_version=(1, 3), dl_device=(DLDeviceType.CPU, 0), copy=False),
    CapsuleType,
)

# NOTE: NumPy annotates `ndarray.__dlpack__(self: NDArray[number], ...)`, so pyright rejects a
# boolean array (which exports at run time); mypy does not check a method's `self` annotation
# when it matches a protocol, and accepts it. The checkers disagree, so there is no test line.
# jax 0.10 annotates `jax.Array.__dlpack__(self) -> Any` in jax/_src/basearray.pyi: no keywords,
# although the run-time method takes all four. Statically it is no producer at all.
can_jax: CanDLPack = jax_array  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
can_legacy: CanDLPack = legacy  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
can_data_attribute: CanDLPack = data_attribute  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
can_wrong_return: CanDLPack = wrong_return  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
can_positional_stream: CanDLPack = positional_stream  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
can_dlpack.__dlpack__(-1)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
can_dlpack.__dlpack__(dl_device=(1, 0))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]

###
# CanDLPackCompat

compat_array: CanDLPackCompat = array_f8
compat_tensor: CanDLPackCompat = tensor
compat_spec: CanDLPackCompat = spec
compat_legacy: CanDLPackCompat = legacy
assert_type(legacy.__dlpack__(stream=None), CapsuleType)

compat_jax: CanDLPackCompat = jax_array  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
compat_data_attribute: CanDLPackCompat = data_attribute  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
compat_positional_stream: CanDLPackCompat = positional_stream  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]

###
# CanDLPackDevice

device_array: CanDLPackDevice = array_f8
device_array_literal: CanDLPackDevice[Literal[1], Literal[0]] = array_f8
device_tensor: CanDLPackDevice = tensor
device_tensor_intenum: CanDLPackDevice[enum.IntEnum, int] = tensor
device_spec: CanDLPackDevice = spec
device_cuda: CanDLPackDevice[Literal[DLDeviceType.CUDA], int] = cuda
device_cuda_any: CanDLPackDevice[DLDeviceType, int] = cuda
assert_type(cuda.__dlpack_device__(), tuple[Literal[DLDeviceType.CUDA], int])
assert_type(device_cuda.__dlpack_device__(), tuple[Literal[DLDeviceType.CUDA], int])

device_cuda_as_cpu: CanDLPackDevice[Literal[DLDeviceType.CPU], int] = cuda  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
device_array_as_cuda: CanDLPackDevice[Literal[2], int] = array_f8  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
# torch annotates `tuple[enum.IntEnum, int]`: some IntEnum, not necessarily `DLDeviceType`
device_tensor_dldevicetype: CanDLPackDevice[DLDeviceType, int] = tensor  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
# jax 0.10's stub declares no `__dlpack_device__` on `jax.Array`
device_jax: CanDLPackDevice = jax_array  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
device_plain_enum: CanDLPackDevice = plain_enum_device  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
device_legacy: CanDLPackDevice = legacy  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]

###
# SupportsDLPack

supports_array: SupportsDLPack = array_f8
supports_array_literal: SupportsDLPack[Literal[1], Literal[0]] = array_f8
supports_tensor: SupportsDLPack = tensor
supports_tensor_intenum: SupportsDLPack[enum.IntEnum, int] = tensor
supports_spec: SupportsDLPack = spec
supports_cuda_producer: SupportsDLPack[Literal[DLDeviceType.CUDA], int] = cuda
# covariant: a CUDA producer is a producer on some device
supports_widened: SupportsDLPack[DLDeviceType, int] = supports_cuda
supports_bare: SupportsDLPack = supports_cuda
can_from_supports: CanDLPack = supports_cuda
device_from_supports: CanDLPackDevice[Literal[DLDeviceType.CUDA], int] = supports_cuda
assert_type(supports_cuda.__dlpack_device__(), tuple[Literal[DLDeviceType.CUDA], int])
assert_type(supports_cuda.__dlpack__(max_version=(1, 3)), CapsuleType)

supports_cuda_as_cpu: SupportsDLPack[Literal[DLDeviceType.CPU], int] = cuda  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
supports_narrowed: SupportsDLPack[Literal[DLDeviceType.CUDA], int] = supports_spec  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
# jax 0.10's stub: no keywords on `__dlpack__`, no `__dlpack_device__` (see CanDLPack above)
supports_jax: SupportsDLPack = jax_array  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
supports_optype_style: SupportsDLPack = optype_style  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
supports_legacy: SupportsDLPack = legacy  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]

###
# HasDLPackCExchangeAPI

has_exchange: HasDLPackCExchangeAPI = exchange
assert_type(ExchangeAPIProducer.__dlpack_c_exchange_api__, CapsuleType)
assert_type(HasDLPackCExchangeAPI.__dlpack_c_exchange_api__, CapsuleType)

# torch 2.13 has the capsule at run time, but annotates `__dlpack_c_exchange_api__: object`
# (an instance attribute) in torch/_tensor.py, so statically it is not a capsule on the type.
has_exchange_tensor: HasDLPackCExchangeAPI = tensor  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
has_exchange_array: HasDLPackCExchangeAPI = array_f8  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
has_exchange_spec: HasDLPackCExchangeAPI = spec  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]

###
# Solving the type parameters from a producer: through `__dlpack_device__` (`CanDLPackDevice`,
# `SupportsDLPack`). `CanDLPack`'s parameters describe the device but appear in none of its
# parameters (`dl_device` is fixed, see _protocols.py), so nothing can solve them from a
# `__dlpack__` alone: a function generic in them takes a `SupportsDLPack`.

_DeviceTypeT = TypeVar("_DeviceTypeT", bound=enum.Enum | int)
_DeviceIdT = TypeVar("_DeviceIdT", bound=int)

def device_of(x: SupportsDLPack[_DeviceTypeT, _DeviceIdT], /) -> tuple[_DeviceTypeT, _DeviceIdT]: ...
def device_reported(x: CanDLPackDevice[_DeviceTypeT, _DeviceIdT], /) -> tuple[_DeviceTypeT, _DeviceIdT]: ...

assert_type(device_of(array_f8), tuple[Literal[1], Literal[0]])
assert_type(device_reported(array_f8), tuple[Literal[1], Literal[0]])
assert_type(device_of(cuda), tuple[Literal[DLDeviceType.CUDA], int])

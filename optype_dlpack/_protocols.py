"""Structural types of the Python DLPack protocol (array API 2023.12+, DLPack 1.3).

Drop-in compatible with ``optype.dlpack``: the same names, the same type parameters.
"""

from __future__ import annotations

import enum
import sys
from typing import Any, ClassVar, Protocol

from ._enums import DLDeviceType

if sys.version_info >= (3, 13):
    from types import CapsuleType
    from typing import TypeVar, runtime_checkable
else:
    from typing_extensions import CapsuleType, TypeVar, runtime_checkable

__all__ = [
    "CanDLPack",
    "CanDLPackCompat",
    "CanDLPackDataType",
    "CanDLPackDevice",
    "HasDLPackCExchangeAPI",
    "SupportsDLPack",
]

# NOTE: covariant, because they describe what `__dlpack_device__` returns: a producer on
# `Literal[DLDeviceType.CUDA]` is also one on `DLDeviceType` and on `int`. The device type is
# bound by `enum.Enum | int`, as in `optype.dlpack`: producers report plain ints (NumPy: `(1, 0)`),
# and the array API standard annotates `__dlpack_device__ -> tuple[Enum, int]`, so
# `CanDLPackDevice[enum.Enum, int]` (optype's spelling of a spec producer) is a valid type here too.
_DeviceTypeT_co = TypeVar("_DeviceTypeT_co", bound=enum.Enum | int, default=int, covariant=True)
_DeviceIdT_co = TypeVar("_DeviceIdT_co", bound=int, default=int, covariant=True)
# The type code of `__dlpack_data_type__`'s `(code, bits, lanes)`; as for the device type.
_DataTypeCodeT_co = TypeVar("_DataTypeCodeT_co", bound=enum.Enum | int, default=int, covariant=True)


@runtime_checkable
class CanDLPack(Protocol[_DeviceTypeT_co, _DeviceIdT_co]):
    """An object with the full array API ``__dlpack__`` (keyword-only arguments)."""

    # The parameter types are the narrowest a careful consumer passes, so that every real
    # annotation of `__dlpack__` accepts them (a protocol's parameters must be assignable to
    # the implementation's):
    # - `stream`: the spec's `int | Any | None` (torch: `Any | None`; NumPy: `int | Any | None`).
    # - `dl_device`: `(DLDeviceType member, int)`. It is NOT `tuple[_DeviceTypeT_co, _DeviceIdT_co]`
    #   (optype's spelling): torch annotates `tuple[enum.IntEnum, int]`, which does not accept
    #   `tuple[int, int]`, so `torch.Tensor` would not be a bare `CanDLPack` for mypy. The type
    #   parameters therefore only describe the device; `SupportsDLPack` checks them through
    #   `__dlpack_device__`.
    # - `copy`: `bool | Any | None`, because NumPy 2.1 annotated it as `numpy.bool`.
    # The return type is a capsule; torch leaves it unannotated (mypy: `Any`, pyright: inferred).
    def __dlpack__(
        self,
        /,
        *,
        stream: int | Any | None = ...,
        max_version: tuple[int, int] | None = ...,
        dl_device: tuple[DLDeviceType, int] | None = ...,
        copy: bool | Any | None = ...,
    ) -> CapsuleType: ...


@runtime_checkable
class CanDLPackCompat(Protocol):
    """A legacy producer: ``__dlpack__`` takes at most a ``stream`` keyword (pre-2023.12)."""

    def __dlpack__(self, /, *, stream: None = ...) -> CapsuleType: ...


@runtime_checkable
class CanDLPackDevice(Protocol[_DeviceTypeT_co, _DeviceIdT_co]):
    """An object that reports where its data lives, as ``(device_type, device_id)``."""

    def __dlpack_device__(self, /) -> tuple[_DeviceTypeT_co, _DeviceIdT_co]: ...


@runtime_checkable
class CanDLPackDataType(Protocol[_DataTypeCodeT_co]):
    """A dtype object that reports its DLPack data type, as ``(code, bits, lanes)``.

    The dtype half of array-api#972 (``dtype.__dlpack_data_type__()``), as tvm-ffi accepts it.
    """

    def __dlpack_data_type__(self, /) -> tuple[_DataTypeCodeT_co, int, int]: ...


@runtime_checkable
class SupportsDLPack(
    CanDLPack[_DeviceTypeT_co, _DeviceIdT_co],
    CanDLPackDevice[_DeviceTypeT_co, _DeviceIdT_co],
    Protocol[_DeviceTypeT_co, _DeviceIdT_co],
):
    """A complete DLPack producer: ``__dlpack__`` and ``__dlpack_device__``."""


@runtime_checkable
class HasDLPackCExchangeAPI(Protocol):
    """A producer type offering the DLPack 1.3 C exchange API.

    The attribute lives on the type and holds a capsule named ``"dlpack_exchange_api"``
    that points to a static ``DLPackExchangeAPI`` table.
    """

    # A class variable: the spec puts the capsule on the type (`type(x).__dlpack_c_exchange_api__`).
    __dlpack_c_exchange_api__: ClassVar[CapsuleType]

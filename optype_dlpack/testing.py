"""A DLPack producer for tests: capsules with exactly the field values asked for.

``CapsuleProducer().capsule(...)`` builds a capsule field by field with ctypes (any value, a
malformed one included), keeps its structs and memory alive until its deleter runs, and
counts the deleter's calls (``deleter_calls``; a second call for one tensor raises). The
capsule carries the destructor the Python specification describes: it frees the tensor only
if no consumer renamed the capsule. ``CapsuleOffer`` hands one capsule out through
``__dlpack__``, for consumers that accept producers only. The hypothesis strategies in
``optype_dlpack.strategies`` draw their capsules from here; the package's own tests use both.

Nothing here imports anything beyond the standard library and the package.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from types import EllipsisType
from typing import Final, TypeAlias

from ._dlpack_ctypes import (
    DELETER,
    LEGACY_NAME,
    VERSIONED_NAME,
    DLDataType,
    DLDevice,
    DLManagedTensor,
    DLManagedTensorVersioned,
    DLManagedTensorVersionedHeader,
    DLPackVersion,
    DLTensor,
    address_of,
    as_int64_pointer,
    int64_array,
)

__all__ = ["CapsuleOffer", "CapsuleProducer", "Extents", "row_major_strides"]

Extents: TypeAlias = "Sequence[int] | EllipsisType | None"
"""A shape or strides argument: the values, ``...`` for the default (0-d; compact row-major)
or ``None`` for a NULL pointer."""

_capsule_new = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p)(
    ("PyCapsule_New", ctypes.pythonapi)
)
_capsule_is_valid = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p)(
    ("PyCapsule_IsValid", ctypes.pythonapi)
)
_capsule_get_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p)(
    ("PyCapsule_GetPointer", ctypes.pythonapi)
)
# A capsule keeps a pointer to its name: every name given out lives as long as the process.
_NAMES: Final[dict[str, bytes]] = {}


def _stable_name(name: str) -> bytes:
    return _NAMES.setdefault(name, name.encode())


def row_major_strides(shape: Sequence[int]) -> list[int]:
    """The strides (in elements) of a compact row-major tensor of `shape`."""
    strides = [1] * len(shape)
    for axis in range(len(shape) - 2, -1, -1):
        strides[axis] = strides[axis + 1] * max(shape[axis + 1], 1)
    return strides


def _wrap64(value: int) -> int:
    """Any integer as the int64 a C producer would store (wrapping, as a careless one would)."""
    return (value + 2**63) % 2**64 - 2**63


# A tensor's producer, by the address of its managed struct: the one deleter and capsule
# destructor below (module-level, so they outlive every capsule) find it here, and the entry
# keeps the producer alive as long as one of its tensors is.
_OWNERS: Final[dict[int, CapsuleProducer]] = {}


def _delete(address: int | None) -> None:
    owner = _OWNERS.pop(address or 0, None)
    if owner is None:
        raise RuntimeError(f"the deleter ran twice (or for a tensor never made) at {address}")
    owner.deleter_calls += 1
    del owner.live[address or 0]


def _destroy(capsule: int | None) -> None:
    # The Python specification's capsule destructor: free only if nobody renamed it.
    for name in (VERSIONED_NAME, LEGACY_NAME):
        if _capsule_is_valid(capsule, name):
            _delete(_capsule_get_pointer(capsule, name))


_DELETER: Final = DELETER(_delete)
_DESTRUCTOR: Final = ctypes.PYFUNCTYPE(None, ctypes.c_void_p)(_destroy)


class CapsuleProducer:
    """Makes capsules with any field values; counts deleter calls; keeps each tensor's
    structs and memory until its deleter runs, as a real producer does."""

    def __init__(self) -> None:
        self.deleter_calls = 0
        self.live: dict[int, tuple[object, ...]] = {}

    def capsule(
        self,
        *,
        data: int = 0,
        memory: object = None,
        device: tuple[int, int] = (1, 0),
        shape: Extents = ...,
        strides: Extents = ...,
        ndim: int | None = None,
        dtype: tuple[int, int, int] = (2, 32, 1),
        byte_offset: int = 0,
        layout: str = "versioned",
        version: tuple[int, int] = (1, 3),
        flags: int = 0,
        name: str | None = None,
    ) -> object:
        """A capsule with these fields (the keywords of the C++ test producer's ``make_capsule``).

        ``shape``/``strides``: values, ``...`` (0-d; compact row-major) or ``None`` (NULL).
        ``ndim`` overrides ``len(shape)``. ``layout``: ``"legacy"``, ``"versioned"`` or
        ``"versioned_header"`` (a versioned struct cut off after ``flags``, what a reader of
        another major version may read). ``name`` overrides the capsule's name. ``memory``
        (any object) is kept alive with the tensor: the buffer ``data`` points into.
        """
        if layout not in ("legacy", "versioned", "versioned_header"):
            raise ValueError(f"layout: expected 'legacy', 'versioned' or 'versioned_header', got {layout!r}")
        extents = [] if shape is None or isinstance(shape, EllipsisType) else [_wrap64(n) for n in shape]
        dims = len(extents) if ndim is None else ndim
        # Arrays hold max(len(shape), ndim) entries padded with 1, so an ndim override alone
        # never makes a reader stray out of bounds.
        slots = max(len(extents), min(max(dims, 0), 4096))
        padded = extents + [1] * (slots - len(extents))
        shape_array = None if shape is None else int64_array(padded)
        if strides is None:
            strides_array = None
        elif isinstance(strides, EllipsisType):
            strides_array = int64_array([_wrap64(s) for s in row_major_strides(padded)])
        else:
            steps = [_wrap64(s) for s in strides]
            strides_array = int64_array(steps + [1] * (slots - len(steps)))
        tensor = DLTensor()
        tensor.data = data or None
        tensor.device = DLDevice(*device)
        tensor.ndim = dims
        tensor.dtype = DLDataType(*dtype)
        tensor.shape = as_int64_pointer(shape_array)
        tensor.strides = as_int64_pointer(strides_array)
        tensor.byte_offset = byte_offset
        managed: DLManagedTensorVersioned | DLManagedTensorVersionedHeader | DLManagedTensor
        deleter = address_of(_DELETER)
        if layout == "versioned":
            managed = DLManagedTensorVersioned(DLPackVersion(*version), None, deleter, flags, tensor)
        elif layout == "versioned_header":
            managed = DLManagedTensorVersionedHeader(DLPackVersion(*version), None, deleter, flags)
        else:
            managed = DLManagedTensor(tensor, None, deleter)
        address = ctypes.addressof(managed)
        self.live[address] = (managed, shape_array, strides_array, memory)
        _OWNERS[address] = self
        default = VERSIONED_NAME if layout != "legacy" else LEGACY_NAME
        capsule_name = default if name is None else _stable_name(name)
        capsule: object = _capsule_new(address, capsule_name, address_of(_DESTRUCTOR))
        return capsule


class CapsuleOffer:
    """Offers one capsule through ``__dlpack__``, as a CPU producer would (for consumers that
    accept only producers, not capsules). Every call returns the same capsule."""

    def __init__(self, capsule: object, device: tuple[int, int] = (1, 0)) -> None:
        self.capsule = capsule
        self.device = device

    def __dlpack__(self, **kwargs: object) -> object:
        return self.capsule

    def __dlpack_device__(self) -> tuple[int, int]:
        return self.device

"""The Python test producer: DLPack capsules with exact field values, made with ctypes.

Its memory is a NumPy array it keeps, with the structs, until the tensor's deleter runs; the
deleter counts its calls and fails on a second call for one tensor; the capsules carry the
destructor the Python specification describes (free the tensor if nobody consumed it). Use
the fixture ``ctypes_producer`` (tests/conftest.py), which also checks that every tensor made
during the test was freed. The C++ test producer, for capsules made by compiled code and for
field values ctypes cannot write safely, is the fixture ``cpp_producer``.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from tests.support.capsules import new_capsule
from tests.support.dlpack_h import (
    DELETER,
    KDL_CPU,
    LEGACY_NAME,
    VERSIONED_NAME,
    DLDataType,
    DLDevice,
    DLManagedTensor,
    DLManagedTensorVersioned,
    DLPackVersion,
    DLTensor,
    address_of,
    as_int64_pointer,
    int64_array,
)

_capsule_is_valid = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p)(
    ("PyCapsule_IsValid", ctypes.pythonapi)
)
_capsule_get_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p)(
    ("PyCapsule_GetPointer", ctypes.pythonapi)
)


class CtypesProducer:
    """Makes capsules over NumPy memory; counts deleter calls; keeps each tensor's memory
    (and its structs) until its deleter runs, as a real producer does."""

    def __init__(self) -> None:
        self.deleter_calls = 0
        self.live: dict[int, tuple[object, ...]] = {}
        self._deleter = DELETER(self._delete)
        self._destructor = ctypes.PYFUNCTYPE(None, ctypes.c_void_p)(self._destroy)

    def _delete(self, address: int | None) -> None:
        self.deleter_calls += 1
        assert address is not None
        del self.live[address]  # a second call for the same tensor fails loudly here

    def _destroy(self, capsule: int | None) -> None:
        # The Python specification's capsule destructor: free only if nobody renamed it.
        for name in (VERSIONED_NAME, LEGACY_NAME):
            if _capsule_is_valid(capsule, name):
                self._delete(_capsule_get_pointer(capsule, name))

    def capsule(
        self,
        memory: np.ndarray[Any, Any] | None = None,
        *,
        versioned: bool = True,
        shape: tuple[int, ...] | None = None,
        strides: tuple[int, ...] | None | bool = True,
        dtype: tuple[int, int, int] | None = None,
        device: tuple[int, int] = (KDL_CPU, 0),
        byte_offset: int = 0,
        data: int | None = None,
        flags: int = 0,
        version: tuple[int, int] = (1, 3),
    ) -> object:
        """A capsule over `memory` (shape/strides/dtype from it unless given; strides=None
        sends NULL strides, strides=True the array's own)."""
        if memory is None:
            memory = np.arange(6, dtype=np.float32)
        if shape is None:
            shape = memory.shape
        if strides is True:
            strides = tuple(s // memory.itemsize for s in memory.strides)
        if dtype is None:
            dtype = {"f": 2, "i": 0, "u": 1, "b": 6, "c": 5}[memory.dtype.kind], memory.itemsize * 8, 1
        ndim = len(shape)
        shape_array = int64_array(shape)
        strides_array = None if strides is None else int64_array(strides)
        tensor = DLTensor()
        tensor.data = memory.ctypes.data if data is None else (data or None)
        tensor.device = DLDevice(*device)
        tensor.ndim = ndim
        tensor.dtype = DLDataType(*dtype)
        tensor.shape = as_int64_pointer(shape_array)
        if strides_array is not None:
            tensor.strides = as_int64_pointer(strides_array)
        tensor.byte_offset = byte_offset
        managed: DLManagedTensorVersioned | DLManagedTensor
        if versioned:
            managed = DLManagedTensorVersioned(DLPackVersion(*version), None, address_of(self._deleter), flags, tensor)
        else:
            managed = DLManagedTensor(tensor, None, address_of(self._deleter))
        address = ctypes.addressof(managed)
        self.live[address] = (managed, shape_array, strides_array, memory)
        return new_capsule(address, VERSIONED_NAME if versioned else LEGACY_NAME, address_of(self._destructor))

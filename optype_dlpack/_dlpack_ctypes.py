"""dlpack.h (DLPack 1.3) as ctypes declares it: the structs a capsule holds.

The one ctypes copy in the repository: the package's test producer (``optype_dlpack.testing``)
builds capsules with it, and the repository's tests, fuzz harness and benchmarks load it too
(tests/support/dlpack_h.py). It imports nothing but ctypes, so a process can load it by path
without importing optype_dlpack (the fuzz harness imports the package only under its coverage
instrumentation). Function pointers (deleters, exchange-table entries) are plain addresses
(``c_void_p``), so any value can be written into them; ``DELETER`` makes a callable one and
``address_of`` turns it into the value to store.
"""

from __future__ import annotations

import ctypes
from typing import Any

# -- the structs ----------------------------------------------------------------------------


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


class DLPackVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


# void (*deleter)(DLManagedTensor[Versioned]* self): the struct's address, as an integer.
DELETER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class DLManagedTensor(ctypes.Structure):
    """The legacy struct (capsule name ``dltensor``): no version, no flags."""

    _fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", ctypes.c_void_p)]


class DLManagedTensorVersionedHeader(ctypes.Structure):
    """What every major version of DLManagedTensorVersioned begins with; a reader may read
    no further before it has checked the major version."""

    _fields_ = [
        ("version", DLPackVersion),
        ("manager_ctx", ctypes.c_void_p),
        ("deleter", ctypes.c_void_p),
        ("flags", ctypes.c_uint64),
    ]


class DLManagedTensorVersioned(ctypes.Structure):
    """The versioned struct (capsule name ``dltensor_versioned``)."""

    _fields_ = [*DLManagedTensorVersionedHeader._fields_, ("dl_tensor", DLTensor)]


class DLPackExchangeAPIHeader(ctypes.Structure):
    """The header of a C exchange table: its version, and the table of the previous major
    version (a chain a reader walks until it finds a version it knows)."""

    _fields_ = [("version", DLPackVersion), ("prev_api", ctypes.c_void_p)]


# int (*)(void* py_object, DLManagedTensorVersioned** out) and int (*)(void* py_object, DLTensor* out)
MANAGED_TENSOR_FROM_PY_OBJECT = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p))
DLTENSOR_FROM_PY_OBJECT = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)


class DLPackExchangeAPI(ctypes.Structure):
    """The C exchange table (``__dlpack_c_exchange_api__``); its entries are addresses."""

    _fields_ = [
        ("header", DLPackExchangeAPIHeader),
        ("managed_tensor_allocator", ctypes.c_void_p),
        ("managed_tensor_from_py_object_no_sync", ctypes.c_void_p),
        ("managed_tensor_to_py_object_no_sync", ctypes.c_void_p),
        ("dltensor_from_py_object_no_sync", ctypes.c_void_p),
        ("current_work_stream", ctypes.c_void_p),
    ]


VERSIONED_NAME = b"dltensor_versioned"
LEGACY_NAME = b"dltensor"


def address_of(function: Any) -> int | None:
    """The address a ctypes callback (``DELETER(...)``, ...) is stored as in a struct."""
    return ctypes.cast(function, ctypes.c_void_p).value


def int64_array(values: tuple[int, ...] | list[int]) -> Any:
    """A C int64_t array holding `values` (at least one element, so its address is never NULL)."""
    return (ctypes.c_int64 * max(len(values), 1))(*values)


def as_int64_pointer(array: Any) -> Any:
    """`array` (or an address, any integer, None for NULL) as the ``int64_t*`` that
    DLTensor.shape and .strides hold."""
    return ctypes.cast(array, ctypes.POINTER(ctypes.c_int64))

"""What a capsule declares of itself, read raw with ctypes, apart from the validator under test.

Producers change what they export between releases (JAX exported legacy capsules only up to
0.10; 0.12 answers a versioned request with a versioned, read-only capsule), and which
release a Python gets depends on the Python. Tests of real producers therefore hold the
validator to what the capsule in hand says, not to what one release of the producer said.
"""

from __future__ import annotations

import ctypes
from typing import NamedTuple

from optype_dlpack import DLPackFlags, DLPackVersion

_capsule_get_name = ctypes.pythonapi.PyCapsule_GetName
_capsule_get_name.restype = ctypes.c_char_p
_capsule_get_name.argtypes = [ctypes.py_object]
_capsule_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_get_pointer.restype = ctypes.c_void_p
_capsule_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


class _VersionedHead(ctypes.Structure):
    """The fields of DLManagedTensorVersioned (dlpack.h 1.x) before its DLTensor."""

    _fields_ = [
        ("major", ctypes.c_uint32),
        ("minor", ctypes.c_uint32),
        ("manager_ctx", ctypes.c_void_p),
        ("deleter", ctypes.c_void_p),
        ("flags", ctypes.c_uint64),
    ]


class Declared(NamedTuple):
    version: DLPackVersion | None  # None: a legacy capsule, which has neither version nor flags
    flags: DLPackFlags

    @property
    def read_only(self) -> bool:
        return DLPackFlags.READ_ONLY in self.flags


def declared(capsule: object) -> Declared:
    """The version and flags an unconsumed DLPack capsule declares."""
    name = _capsule_get_name(capsule)
    if name == b"dltensor":
        return Declared(None, DLPackFlags(0))
    assert name == b"dltensor_versioned", f"not an unconsumed DLPack capsule: {name!r}"
    head = _VersionedHead.from_address(_capsule_get_pointer(capsule, name))
    return Declared(DLPackVersion(head.major, head.minor), DLPackFlags(head.flags))

"""Capsules through Python's C API, apart from the validator under test: their names, the
pointers they hold, new ones over ctypes structs, and what a DLPack capsule declares of itself.

Producers change what they export between releases (JAX exported legacy capsules only up to
0.10; 0.12 answers a versioned request with a versioned, read-only capsule), and which
release a Python gets depends on the Python. Tests of real producers therefore hold the
validator to what the capsule in hand says, not to what one release of the producer said.
"""

from __future__ import annotations

import ctypes
from typing import NamedTuple

from optype_dlpack import DLPackFlags, DLPackVersion
from optype_dlpack.testing import CapsuleOffer  # the package's own, re-exported for the tests
from tests.support.dlpack_h import DLManagedTensorVersionedHeader

__all__ = ["CapsuleOffer", "Declared", "capsule_name", "capsule_pointer", "declared", "new_capsule", "rename_capsule"]

new_capsule = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p)(
    ("PyCapsule_New", ctypes.pythonapi)
)
"""new_capsule(address, name, destructor) -> capsule (destructor: an address, or None)."""
_capsule_get_name = ctypes.PYFUNCTYPE(ctypes.c_char_p, ctypes.py_object)(("PyCapsule_GetName", ctypes.pythonapi))
_capsule_get_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)(
    ("PyCapsule_GetPointer", ctypes.pythonapi)
)


_capsule_set_name = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.py_object, ctypes.c_char_p)(
    ("PyCapsule_SetName", ctypes.pythonapi)
)


def rename_capsule(capsule: object, name: bytes) -> None:
    """Renames the capsule, as a consumer does when it takes the tensor (``used_dltensor...``).
    The name must outlive the capsule: pass a bytes constant."""
    assert _capsule_set_name(capsule, name) == 0


def capsule_name(capsule: object) -> str:
    """The capsule's name: ``dltensor_versioned``, ``used_dltensor``, ..."""
    name = _capsule_get_name(capsule)
    assert name is not None, "a capsule without a name"
    return name.decode()


def capsule_pointer(capsule: object) -> int:
    """The address the capsule holds (its struct), read under the capsule's own name."""
    name = _capsule_get_name(capsule)
    return _capsule_get_pointer(capsule, name)  # type: ignore[no-any-return]


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
    head = DLManagedTensorVersionedHeader.from_address(_capsule_get_pointer(capsule, name))
    return Declared(DLPackVersion(head.version.major, head.version.minor), DLPackFlags(head.flags))

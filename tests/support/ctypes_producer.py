"""The Python test producer: DLPack capsules with exact field values, over NumPy memory.

The package's own test producer (``optype_dlpack.testing.CapsuleProducer``, which other
projects use too) with the tests' NumPy conveniences: shape, strides and dtype read from a
NumPy array unless given. Its memory is kept, with the structs, until the tensor's deleter
runs; the deleter counts its calls and fails on a second call for one tensor; the capsules
carry the destructor the Python specification describes (free the tensor if nobody consumed
it). Use the fixture ``ctypes_producer`` (tests/conftest.py), which also checks that every
tensor made during the test was freed. The C++ test producer, for capsules made by compiled
code and for field values ctypes cannot write safely, is the fixture ``cpp_producer``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optype_dlpack.testing import CapsuleProducer
from tests.support.dlpack_h import KDL_CPU


class CtypesProducer(CapsuleProducer):
    """Makes capsules over NumPy memory; counts deleter calls; keeps each tensor's memory
    (and its structs) until its deleter runs, as a real producer does."""

    def capsule(  # type: ignore[override]  # the NumPy conveniences, positional memory first
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
        return super().capsule(
            data=memory.ctypes.data if data is None else data,
            memory=memory,
            device=device,
            shape=list(shape),
            strides=None if strides is None or strides is False else list(strides),
            dtype=dtype,
            byte_offset=byte_offset,
            layout="versioned" if versioned else "legacy",
            version=version,
            flags=flags,
        )

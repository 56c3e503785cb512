"""Values DLPack defined after 1.3 (and newer ones) in from_dlpack and to_dlpack.

bcomplex32 (kDLBcomplex = 18, dlpack#187) goes through NumPy as ml_dtypes.bcomplex32: the
interop layer finds ml_dtypes' type by the name in the C++ dtype table, as for bfloat16. TPU
host memory (dlpack#188) is host memory; TPU and Ascend memory (dlpack#188, #189), and device
types newer than the package knows, are not readable by the CPU.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import ml_dtypes
import numpy as np
import pytest

from optype_dlpack import DLDataType, DLDataTypeCode, from_dlpack, inspect, to_dlpack, validate

BCOMPLEX32 = DLDataType(DLDataTypeCode.BCOMPLEX, 32, 1)


def test_to_dlpack_exports_bcomplex32_as_code_18() -> None:
    x = np.array([1 + 2j, -3.5j, 4], dtype=ml_dtypes.bcomplex32)
    info = inspect(to_dlpack(x))
    assert info.dtype == BCOMPLEX32
    assert (info.shape, info.nbytes) == ((3,), 12)


def test_from_dlpack_round_trips_bcomplex32() -> None:
    x = np.array([[1 + 2j, -3.5j], [4, 0.25 - 1j]], dtype=ml_dtypes.bcomplex32)
    y = from_dlpack(to_dlpack(x))
    assert y.dtype == np.dtype(ml_dtypes.bcomplex32)
    assert y.__array_interface__["data"][0] == x.__array_interface__["data"][0]  # a view, not a copy
    assert y.tolist() == x.tolist()


def test_validate_reads_the_ml_dtypes_type_as_a_constraint() -> None:
    capsule = to_dlpack(np.zeros(2, dtype=ml_dtypes.bcomplex32))
    assert validate(capsule, dtype=ml_dtypes.bcomplex32).dtype == BCOMPLEX32
    assert validate(capsule, dtype=np.dtype(ml_dtypes.bcomplex32)).dtype == BCOMPLEX32
    assert validate(capsule, dtype="bcomplex32").dtype == BCOMPLEX32


def test_from_dlpack_reads_tpu_host_memory_in_place(cpp_producer: ModuleType) -> None:
    array = from_dlpack(cpp_producer.make_capsule(device=(20, 0), shape=[2, 3], allocate=True))
    assert (array.shape, array.dtype) == ((2, 3), np.float32)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"device": (19, 0)}, "on tpu:0, which the CPU cannot read"),
        ({"device": (21, 2)}, "on ascend:2, which the CPU cannot read"),
        ({"device": (25, 0)}, "on device25:0, which the CPU cannot read"),
        ({"dtype": (42, 8, 1)}, "dtype code42_bits8 has no NumPy equivalent"),
    ],
    ids=repr,
)
def test_from_dlpack_refuses_what_the_cpu_cannot_read(
    cpp_producer: ModuleType, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(BufferError, match=message):
        from_dlpack(cpp_producer.make_capsule(shape=[2, 3], allocate=True, **fields))

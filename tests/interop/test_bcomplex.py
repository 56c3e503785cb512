"""bcomplex32 (kDLBcomplex = 18, which DLPack defined after 1.3: dlpack#187) through NumPy and ml_dtypes.

The interop layer finds ml_dtypes' type by the name in the C++ dtype table, so the code after
1.3 goes both ways like bfloat16 does.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

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

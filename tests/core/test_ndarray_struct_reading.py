"""An exact numpy.ndarray is read from its array struct, and the reading is NumPy's own export.

inspect, validate and Expect read an exact ``numpy.ndarray`` without calling its
``__dlpack__`` (src_cpp/numpy_view.hpp): cheaper than the check itself. These tests hold that
reading to NumPy's export. The oracle is the same memory seen through a subclass of ndarray,
which the validator must ask through ``__dlpack__`` like any other producer: every field of
the result, and every error, must be the same both ways. The reading is used only after it
agreed with NumPy's own capsule once in the process (its calibration), which the first tests
check in a fresh interpreter.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import optype_dlpack as od
from optype_dlpack import _core
from tests.support.child import last_json, run_code

# Every public field of a TensorInfo.
FIELDS = tuple(name for name in dir(_core.TensorInfo) if not name.startswith("_"))


class Asked(np.ndarray):
    """An ndarray subclass: asked through NumPy's __dlpack__, never read from the struct."""


def outcome(call: Any) -> tuple[str, Any]:
    """What `call()` gave: every field of the TensorInfo, or the error's type and text."""
    try:
        info = call()
    except Exception as error:  # noqa: BLE001 - the error is the outcome being compared
        return ("error", (type(error), str(error)))
    if info is None:
        return ("ok", None)
    return ("ok", {name: getattr(info, name) for name in FIELDS})


def assert_read_as_exported(array: np.ndarray, **constraints: Any) -> None:
    asked = array.view(Asked)
    assert outcome(lambda: od.validate(array, **constraints)) == outcome(lambda: od.validate(asked, **constraints))
    expect = od.Expect(**constraints)
    assert outcome(lambda: expect.check(array)) == outcome(lambda: expect.check(asked))
    assert outcome(lambda: od.inspect(array)) == outcome(lambda: od.inspect(asked))


# -- calibration, in a fresh interpreter ------------------------------------------------------

# Whether NumPy's own capsule for an array `x` holds what the reading gives: a versioned
# capsule whose tensor has the array's data and extents, explicit strides in items (NumPy
# 2.3 and older leave them NULL for a C-contiguous array, which the reading does not mirror),
# no byte offset, and READ_ONLY exactly when the array is read-only. Read through ctypes,
# apart from the validator.
AGREES = """
from tests.support.capsules import capsule_name, capsule_pointer
from tests.support.dlpack_h import DLManagedTensorVersioned

def agrees(x):
    capsule = x.__dlpack__(max_version=(1, 3))
    if capsule_name(capsule) != "dltensor_versioned":
        return False
    managed = DLManagedTensorVersioned.from_address(capsule_pointer(capsule))
    t = managed.dl_tensor
    n = x.ndim
    return (
        (t.data or 0) == x.ctypes.data and t.byte_offset == 0 and t.ndim == n
        and (t.device.device_type, t.device.device_id) == (1, 0)
        and (t.dtype.code, t.dtype.bits, t.dtype.lanes) == (2, 8 * x.itemsize, 1)
        and managed.flags == (0 if x.flags.writeable else 1)
        and (n == 0 or (bool(t.shape) and bool(t.strides)))
        and [t.shape[i] for i in range(n)] == list(x.shape)
        and [t.strides[i] for i in range(n)] == [s // x.itemsize for s in x.strides]
    )
"""


def test_the_reading_is_trusted_exactly_when_it_agreed_with_numpys_capsule() -> None:
    before, after, agreed = last_json(
        run_code(
            AGREES
            + """
import json, numpy as np
from optype_dlpack import _core, validate
before = _core._ndarray_reading_state()
x = np.zeros((2, 3), np.float32)
agreed = agrees(x)
validate(x)
print(json.dumps([before, _core._ndarray_reading_state(), agreed]))
"""
        )
    )
    assert before == "unknown"
    assert after == ("trusted" if agreed else "refused")


def test_calibration_waits_for_an_array_numpy_exports() -> None:
    # A dtype NumPy refuses is never read from the struct, so it calibrates nothing.
    after_refusal, after, agreed = last_json(
        run_code(
            AGREES
            + """
import json, numpy as np
from optype_dlpack import _core, validate
try:
    validate(np.zeros(3, ">f4"))
except BufferError:
    pass
after_refusal = _core._ndarray_reading_state()
x = np.zeros(3, np.float32)[::-1]
agreed = agrees(x)
validate(x)
print(json.dumps([after_refusal, _core._ndarray_reading_state(), agreed]))
"""
        )
    )
    assert after_refusal == "unknown"
    assert after == ("trusted" if agreed else "refused")


def test_this_session_calibrated_on_its_first_array() -> None:
    od.validate(np.zeros(2))
    assert _core._ndarray_reading_state() in {"trusted", "refused"}


# -- the reading equals the export ------------------------------------------------------------

EXPORTED_DTYPES = [
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "complex64",
    "complex128",
    "longdouble",
    "clongdouble",
    "intc",
    "long",
    "ulong",
    "longlong",
]


@pytest.mark.parametrize("dtype", EXPORTED_DTYPES)
def test_every_builtin_dtype(dtype: str) -> None:
    assert_read_as_exported(np.arange(6).astype(dtype).reshape(2, 3))


@pytest.mark.parametrize(
    "dtype",
    [">f4", ">i8", "<u2" if np.little_endian else ">u2", "datetime64[s]", "timedelta64[ms]", "U3", "S2", "V4", "O",
     [("a", "f4"), ("b", "i2")]],
)
def test_dtypes_numpy_refuses_or_decides(dtype: Any) -> None:
    assert_read_as_exported(np.zeros(4, dtype=dtype))


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.zeros(()),
        lambda: np.zeros((0, 3)),
        lambda: np.zeros((3, 0, 2))[:, :, ::-1],
        lambda: np.arange(24.0).reshape(2, 3, 4).transpose(2, 0, 1),
        lambda: np.arange(24.0).reshape(2, 3, 4)[::-1, 1:, ::2],
        lambda: np.broadcast_to(np.arange(3.0), (4, 3)),
        lambda: np.asfortranarray(np.ones((3, 5), np.int16)),
        lambda: np.zeros((1,) * 16),
        lambda: np.zeros((1,) * 17),
        lambda: np.zeros((1,) * 40),
        lambda: np.frombuffer(b"\0" * 17, np.uint8)[1:].view(np.float64),
        lambda: np.lib.stride_tricks.as_strided(np.zeros(16, np.uint8), (3,), (3,)).view(np.uint8),
        lambda: np.lib.stride_tricks.as_strided(np.zeros(32, np.uint8).view(np.int32), (3,), (6,)),
        lambda: np.lib.stride_tricks.as_strided(np.zeros(32, np.uint8).view(np.int32), (1, 2), (6, 4)),
        lambda: np.lib.stride_tricks.as_strided(np.zeros(32, np.uint8).view(np.int32), (0, 2), (6, 4)),
    ],
    ids=[
        "0-d",
        "empty",
        "empty-reversed",
        "transposed",
        "sliced",
        "broadcast-readonly",
        "fortran",
        "16-dims",
        "17-dims",
        "40-dims",
        "unaligned",
        "byte-strides",
        "stride-not-whole-items",
        "size-1-axis-odd-stride",
        "empty-odd-stride",
    ],
)
def test_layouts(make: Any) -> None:
    assert_read_as_exported(make())


def test_readonly_arrays_carry_numpys_read_only_flag() -> None:
    array = np.arange(4.0)
    array.flags.writeable = False
    assert_read_as_exported(array)
    assert od.validate(array).readonly
    assert_read_as_exported(array, writable=True)


def test_an_array_imported_through_dlpack_reports_the_tensors_device() -> None:
    # NumPy reports the device of the capsule at the end of the base chain: such arrays are
    # asked, not read. (A CPU capsule keeps the answer kDLCPU, and the path is the same.)
    imported = np.from_dlpack(np.arange(5.0))
    assert_read_as_exported(imported)
    assert_read_as_exported(imported[1:][::2])


@pytest.mark.parametrize(
    "constraints",
    [
        {"device": "cpu", "dtype": "float32", "ndim": 2},
        {"dtype": "float64"},
        {"shape": (None, 5)},
        {"layout": "C"},
        {"layout": "F"},
        {"writable": True},
        {"device": "cuda"},
        {"strict": True},
    ],
)
def test_constraints_give_the_same_violations(constraints: dict[str, Any]) -> None:
    for array in (np.zeros((4, 3), np.float32), np.zeros((4, 3), np.float32).T, np.zeros((2, 5))[:, ::2]):
        assert_read_as_exported(array, **constraints)


def test_the_array_is_held_and_its_memory_unchanged() -> None:
    array = np.arange(10, dtype=np.int32)
    before = array.copy()
    for _ in range(1000):
        od.Expect(dtype="int32").check(array)
        od.validate(array)
    np.testing.assert_array_equal(array, before)
    assert array.base is None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    array=hnp.arrays(
        dtype=st.one_of(hnp.scalar_dtypes(), hnp.byte_string_dtypes(), hnp.datetime64_dtypes()),
        shape=hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=4),
    ),
    steps=st.lists(st.sampled_from([1, -1, 2, -2, 3]), min_size=5, max_size=5),
    transpose=st.booleans(),
    readonly=st.booleans(),
)
def test_any_array_reads_as_numpy_exports_it(
    array: np.ndarray, steps: list[int], transpose: bool, readonly: bool
) -> None:
    view = array[tuple(slice(None, None, step) for step in steps[: array.ndim])] if array.ndim else array
    if transpose:
        view = view.T
    if readonly:
        view.flags.writeable = False
    assert_read_as_exported(view)
    assert_read_as_exported(view, dtype="float32", ndim=2, layout="C", writable=True)

"""TensorInfo as a Python object, and the constraint values validate() reads on every call.

- Every field is a read-only ``property``; the class is final and cannot be changed.
- Pickling and copying refuse at every protocol (protocols 0 and 1 once aborted the process,
  so that check runs in a child).
- Instances take weak references, take no part in the garbage collector, and describe any
  number of dimensions.
- A million validate() and inspect() calls leave nothing behind.
- validate() reads the same constraint values the same way whichever str object spells them,
  and holds only a bounded number of them.
"""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import optype_dlpack as od
from optype_dlpack import DLPackValidationError, TensorInfo
from tests.support.child import last_json, run_code

FIELDS = [
    "device",
    "dtype",
    "shape",
    "strides",
    "byte_offset",
    "data_ptr",
    "version",
    "flags",
    "readonly",
    "ndim",
    "size",
    "nbytes",
    "is_c_contiguous",
    "is_f_contiguous",
    "device_verified",
    "findings",
]


def _capsule(array: np.ndarray[Any, Any]) -> object:
    return array.__dlpack__(max_version=(1, 3))


def _text(*parts: str) -> str:
    """A new str object on every call (a literal would be one shared constant)."""
    return "".join(parts)


###
# The class


@pytest.mark.parametrize("name", FIELDS)
def test_every_field_is_a_read_only_property(name: str) -> None:
    info = od.inspect(np.zeros((2, 3), dtype=np.float32))
    assert isinstance(vars(TensorInfo)[name], property)
    with pytest.raises(AttributeError):
        setattr(info, name, 0)
    with pytest.raises(AttributeError):
        delattr(info, name)


@pytest.mark.parametrize("name", FIELDS)
def test_a_getter_refuses_other_objects(name: str) -> None:
    getter = vars(TensorInfo)[name].fget
    for other in (object(), od.Expect(), None):
        with pytest.raises(TypeError):
            getter(other)


def test_no_new_attributes() -> None:
    info = od.inspect(np.zeros(3))
    with pytest.raises(AttributeError):
        info.extra = 1  # type: ignore[attr-defined]
    assert not hasattr(info, "__dict__")


def test_the_class_cannot_be_changed() -> None:
    with pytest.raises(TypeError, match="immutable"):
        TensorInfo.shape = property(lambda self: ())  # type: ignore[method-assign,assignment]
    with pytest.raises(TypeError, match="immutable"):
        TensorInfo.extra = 1  # type: ignore[attr-defined]
    assert od.inspect(np.zeros((4, 5))).shape == (4, 5)


def test_pickling_and_copying_refuse_at_every_protocol() -> None:
    results = last_json(
        run_code(
            """
            import copy, json, pickle
            import numpy as np
            import optype_dlpack as od

            info = od.inspect(np.zeros((2, 3)))
            calls = {f"pickle {p}": (lambda p=p: pickle.dumps(info, p)) for p in range(pickle.HIGHEST_PROTOCOL + 1)}
            calls["copy"] = lambda: copy.copy(info)
            calls["deepcopy"] = lambda: copy.deepcopy(info)
            out = {}
            for name, call in calls.items():
                try:
                    call()
                    out[name] = ["returned", ""]
                except Exception as error:
                    out[name] = [type(error).__name__, str(error)]
            print(json.dumps(out))
            """
        )
    )
    for name, (kind, message) in results.items():
        assert kind == "TypeError" and "cannot pickle" in message, (name, kind, message)


def test_weak_references() -> None:
    info = od.inspect(np.zeros(3))
    ref = weakref.ref(info)
    assert ref() is info
    del info
    gc.collect()
    assert ref() is None


def test_instances_take_no_part_in_the_garbage_collector() -> None:
    # they hold no Python object, so they can be in no cycle
    assert not gc.is_tracked(od.inspect(np.zeros(3)))


###
# What an instance holds


@pytest.mark.parametrize("ndim", [0, 1, 6, 7, 31])
def test_any_number_of_dimensions(ndim: int) -> None:
    # 6 dimensions were kept inline before, more on the heap: each side of that line
    base = np.zeros((2,) * min(ndim, 8) + (1,) * max(ndim - 8, 0) + (3,), dtype=np.int16)
    array = base[..., 1]
    info = od.inspect(array)
    element = array.itemsize
    assert info.ndim == array.ndim == ndim
    assert info.shape == array.shape
    assert info.strides == tuple(s // element for s in array.strides)
    assert info.size == array.size and info.nbytes == array.nbytes
    assert info.byte_offset == 0 and info.data_ptr == array.__array_interface__["data"][0]
    assert repr(info).startswith(f"TensorInfo(device=cpu, dtype=int16, shape={array.shape!r}, strides=")


def test_an_instance_outlives_its_capsule() -> None:
    capsule = _capsule(np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::2])
    info = od.validate(capsule, device="cpu", dtype="float32")
    del capsule
    gc.collect()
    assert (info.shape, info.strides, info.version) == ((3, 2), (4, 2), od.DLPackVersion(1, 0))
    assert (info.is_c_contiguous, info.is_f_contiguous, info.readonly) == (False, False, False)


def test_a_million_calls_leave_nothing_behind(assert_no_growth: Callable[..., None]) -> None:
    capsule = _capsule(np.ones((64, 64), dtype=np.float32))
    device, dtype = _text("c", "pu"), _text("float", "32")  # referenced here and by validate() only
    expect = od.Expect(device=device, dtype=dtype)

    def round_trips() -> None:
        for _ in range(250_000):
            od.validate(capsule, device=device, dtype=dtype)
            od.inspect(capsule)
            expect.validate(capsule)
            od.validate(capsule, device=_text("c", "pu"), dtype=_text("float", "32"))

    assert_no_growth(round_trips, capsule, device, dtype)


###
# Constraint values


def test_equal_strings_are_read_alike() -> None:
    capsule = _capsule(np.zeros((2, 3), dtype=np.float32))
    for _ in range(100):  # more distinct objects than any cache of them holds
        info = od.validate(capsule, device=_text("cp", "u"), dtype=_text("float", "32"), layout=_text("C"))
        assert info.shape == (2, 3)
        with pytest.raises(DLPackValidationError, match=r"\[expect\.dtype\]"):
            od.validate(capsule, dtype=_text("float", "64"))
        with pytest.raises(DLPackValidationError, match=r"\[expect\.device\]"):
            od.validate(capsule, device=_text("cpu:", "1"))


def test_a_string_reads_the_same_on_every_call() -> None:
    capsule = _capsule(np.zeros(3, dtype=np.float32))
    names = [_text("cpu", f":{i}") for i in range(3)]
    for _ in range(3):
        od.validate(capsule, device=names[0])
        for name in names[1:]:
            with pytest.raises(DLPackValidationError, match=r"\[expect\.device\]"):
                od.validate(capsule, device=name)


def test_a_str_subclass_is_read_by_its_value() -> None:
    class Name(str):
        def __str__(self) -> str:
            return "int8"

    capsule = _capsule(np.zeros(3, dtype=np.float32))
    assert od.validate(capsule, dtype=Name("float32"), device=Name("cpu")).ndim == 1


def test_values_that_cannot_be_read_raise_every_time() -> None:
    capsule = _capsule(np.zeros(3, dtype=np.float32))
    bad = {"dtype": "float33", "device": "gpu9", "layout": "Z", "verify_device": "always"}
    for _ in range(3):
        for name, value in bad.items():
            with pytest.raises(ValueError, match=f"^{name}: "):
                od.validate(capsule, **{name: value})


def test_only_a_bounded_number_of_values_is_held() -> None:
    capsule = _capsule(np.zeros(3, dtype=np.float32))
    names = [_text("float", "32") for _ in range(200)]
    before = [sys.getrefcount(name) for name in names]
    for name in names:
        od.validate(capsule, dtype=name)
    after = [sys.getrefcount(name) for name in names]
    held = sum(now > then for now, then in zip(after, before))
    assert 0 < held <= 64, held
    assert after[:100] == before[:100]  # the first ones were let go

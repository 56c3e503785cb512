"""validate() reuses the constraints read on its last call when it is given the same objects
again (each immutable): a reused entry must never stand for other constraints, whether the
values differ, are mutable and were changed, or a producer calls validate() while the entry
is in use."""

from __future__ import annotations

import numpy as np
import pytest

import optype_dlpack as od


def rules_of(call: object) -> list[str]:
    with pytest.raises(od.DLPackValidationError) as raised:
        call()  # type: ignore[operator]
    return list(raised.value.rules)


def test_the_same_literals_give_the_same_answers() -> None:
    x = np.ones((2, 3), dtype=np.float32)
    for _ in range(3):
        assert od.validate(x, device="cpu", dtype="float32", ndim=2).shape == (2, 3)
    assert rules_of(lambda: od.validate(x, device="cpu", dtype="float64", ndim=2)) == ["expect.dtype"]
    assert od.validate(x, device="cpu", dtype="float32", ndim=2).ndim == 2
    assert rules_of(lambda: od.validate(x, device="cpu", dtype="float32", ndim=3)) == ["expect.ndim"]


def test_a_mutable_shape_is_read_again() -> None:
    x = np.ones((2, 3), dtype=np.float32)
    shape = [2, 3]
    assert od.validate(x, shape=shape).shape == (2, 3)
    shape[1] = 4  # the same list object, now another shape
    assert rules_of(lambda: od.validate(x, shape=shape)) == ["expect.shape"]
    shape_tuple = (2, 3)
    assert od.validate(x, shape=shape_tuple).shape == (2, 3)
    assert rules_of(lambda: od.validate(x, shape=(2, 4))) == ["expect.shape"]


def test_a_bad_value_still_raises_after_a_good_one() -> None:
    x = np.ones(3, dtype=np.float32)
    od.validate(x, layout="C")
    with pytest.raises(ValueError, match="layout"):
        od.validate(x, layout="Z")
    with pytest.raises(TypeError, match="verify_device"):
        od.validate(x, verify_device=1)
    assert od.validate(x, layout="C").ndim == 1


class ValidatingProducer:
    """A producer whose __dlpack__ runs validate() with other constraints first."""

    def __init__(self) -> None:
        self.array = np.ones(4, dtype=np.int8)
        self.inner: list[str] = []

    def __dlpack__(self, **kwargs: object) -> object:
        other = np.ones((2, 2), dtype=np.float64)
        self.inner.append(str(od.validate(other, dtype="float64", ndim=2).dtype))
        return self.array.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        return self.array.__dlpack_device__()


def test_a_producer_validating_inside_validate_changes_nothing() -> None:
    producer = ValidatingProducer()
    for _ in range(3):
        assert od.validate(producer, dtype="int8", ndim=1).shape == (4,)
        assert rules_of(lambda: od.validate(producer, dtype="int8", ndim=2)) == ["expect.ndim"]
    assert len(producer.inner) == 6

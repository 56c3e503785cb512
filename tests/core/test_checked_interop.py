"""Expect and Spec metadata enforced by the checkers people already run: beartype and typeguard.

Both are test requirements (pure Python, small); nothing here skips.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import beartype
import numpy as np
import pytest
import typeguard
from beartype.roar import BeartypeCallHintParamViolation, BeartypeCallHintReturnViolation

import optype_dlpack as od
from optype_dlpack import CheckedCallError, Expect, Spec, beartype_validator, checked
from optype_dlpack._checked import typeguard_checker_lookup
from tests.support.arrays import FRAMEWORKS, framework_module

F32 = Expect(dtype="float32", ndim=2)
SQUARE = Spec(shape=("n", "n"))


def ones(framework: str, *shape: int, dtype: str = "float32") -> object:
    module = framework_module(framework)
    return module.ones(shape, dtype=getattr(module, dtype))


# ---------------------------------------------------------------------------------------------
# beartype


@beartype.beartype
def bear_scale(x: Annotated[object, beartype_validator(F32)], y: Annotated[object, beartype_validator(SQUARE)]) -> object:
    return x


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_beartype_enforces_expect_and_spec(framework: str) -> None:
    bear_scale(ones(framework, 2, 2), ones(framework, 3, 3))
    with pytest.raises(BeartypeCallHintParamViolation, match=r"Expect\(dtype='float32', ndim=2\)\.matches"):
        bear_scale(ones(framework, 2, 2, dtype="int32"), ones(framework, 3, 3))
    with pytest.raises(BeartypeCallHintParamViolation, match=r"Spec\(shape=\('n', 'n'\)\)\.matches"):
        bear_scale(ones(framework, 2, 2), ones(framework, 3, 4))


def test_beartype_checks_the_return_value_too() -> None:
    @beartype.beartype
    def f(x: object) -> Annotated[object, beartype_validator(F32)]:
        return x

    f(np.ones((2, 2), np.float32))
    with pytest.raises(BeartypeCallHintReturnViolation):
        f(np.ones(2))


def test_one_annotation_serves_beartype_and_checked() -> None:
    both = checked(bear_scale)
    both(np.ones((2, 2), np.float32), np.ones((3, 3)))
    with pytest.raises(CheckedCallError, match=r"n = 3 from `y`.shape\[0\], but `y`.shape\[1\] = 4"):
        both(np.ones((2, 2), np.float32), np.ones((3, 4)))


def test_checked_outside_beartype_checks_first() -> None:
    @checked
    @beartype.beartype
    def f(a: Annotated[np.ndarray, Spec(shape=("n",))], b: Annotated[np.ndarray, Spec(shape=("n",))]) -> None:
        pass

    f(np.ones(2), np.ones(2))
    with pytest.raises(CheckedCallError):
        f(np.ones(2), np.ones(3))
    with pytest.raises(BeartypeCallHintParamViolation):  # beartype's own part: the type
        f(np.ones(2), np.ones(2).__dlpack__())  # a capsule meets the constraints, not the type


def test_beartype_validator_refuses_other_objects() -> None:
    with pytest.raises(TypeError, match="Expect or a Spec"):
        beartype_validator("float32")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# typeguard


@pytest.fixture
def typeguard_plugin() -> Iterator[None]:
    """The lookup, registered as the ``typeguard.checker_lookup`` entry point would register it."""
    typeguard.checker_lookup_functions.insert(0, typeguard_checker_lookup)
    try:
        yield
    finally:
        typeguard.checker_lookup_functions.remove(typeguard_checker_lookup)


@pytest.mark.usefixtures("typeguard_plugin")
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_typeguard_enforces_expect_and_spec(framework: str) -> None:
    @typeguard.typechecked
    def f(x: Annotated[object, F32], y: Annotated[object, SQUARE]) -> Annotated[object, F32]:
        return x

    f(ones(framework, 2, 2), ones(framework, 3, 3))
    with pytest.raises(typeguard.TypeCheckError, match=r"does not match Expect\(dtype='float32', ndim=2\).*dtype"):
        f(ones(framework, 2, 2, dtype="int32"), ones(framework, 3, 3))
    with pytest.raises(typeguard.TypeCheckError, match=r"n = 3 from `value`.shape\[0\]"):
        f(ones(framework, 2, 2), ones(framework, 3, 4))


@pytest.mark.usefixtures("typeguard_plugin")
def test_typeguard_still_checks_the_annotated_type() -> None:
    @typeguard.typechecked
    def f(x: Annotated[np.ndarray, F32], n: Annotated[int, "unrelated"]) -> int:
        return n

    assert f(np.ones((2, 2), np.float32), 3) == 3
    with pytest.raises(typeguard.TypeCheckError, match="numpy.ndarray"):
        f(np.ones((2, 2), np.float32).__dlpack__(), 3)  # a capsule: right constraints, wrong type
    with pytest.raises(typeguard.TypeCheckError, match="int"):
        f(np.ones((2, 2), np.float32), "3")  # type: ignore[arg-type]


@pytest.mark.usefixtures("typeguard_plugin")
def test_typeguard_check_type() -> None:
    typeguard.check_type(np.ones((2, 2), np.float32), Annotated[np.ndarray, F32])
    with pytest.raises(typeguard.TypeCheckError):
        typeguard.check_type(np.ones(2), Annotated[np.ndarray, F32])


def test_the_lookup_leaves_other_annotations_to_typeguard() -> None:
    assert typeguard_checker_lookup(int, (), ()) is None
    assert typeguard_checker_lookup(int, (), ("unrelated",)) is None
    assert od.Spec is Spec

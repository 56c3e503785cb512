"""@checked: Annotated[T, Expect(...)] / Annotated[T, Spec(...)] enforced on every call.

Shape symbols bound across one call, shared device and dtype groups, every kind of parameter,
methods, coroutines, the return value, the error's form and the off switches.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import pickle
from typing import Annotated, Any, Optional

import numpy as np
import pytest

import optype_dlpack as od
from optype_dlpack import CheckedCallError, DLPackValidationError, Expect, Spec, checked, checks_enabled
from tests.support.frameworks import skip_if_missing
from tests.support.arrays import FRAMEWORKS, framework_module, zeros
from tests.support.ctypes_producer import CtypesProducer

Array = Any  # the annotated type itself is not the runtime's business


def ones(framework: str, *shape: int, dtype: str = "float32") -> Any:
    module = framework_module(framework)
    return module.ones(shape, dtype=getattr(module, dtype))


# ---------------------------------------------------------------------------------------------
# shape symbols


@checked
def matmul(
    a: Annotated[Array, Spec(shape=("n", "k"))], b: Annotated[Array, Spec(shape=("k", "m"))]
) -> Annotated[Array, Spec(shape=("n", "m"))]:
    return a @ b


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_symbols_that_agree_pass(framework: str) -> None:
    out = matmul(ones(framework, 2, 3), ones(framework, 3, 4))
    assert tuple(out.shape) == (2, 4)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_symbol_conflict_names_both_places(framework: str) -> None:
    with pytest.raises(CheckedCallError) as caught:
        matmul(ones(framework, 2, 3), ones(framework, 4, 5))
    message = str(caught.value)
    assert "k = 3 from `a`.shape[1], but `b`.shape[0] = 4 [checked.symbol]" in message
    assert message.startswith("matmul(): 1 violation")
    assert caught.value.parameters == ("b",)
    assert caught.value.rules == ("checked.symbol",)


def test_the_return_value_is_checked_against_the_arguments_symbols() -> None:
    @checked
    def transpose_wrongly(a: Annotated[Array, Spec(shape=("n", "m"))]) -> Annotated[Array, Spec(shape=("m", "n"))]:
        return a

    with pytest.raises(CheckedCallError, match=r"m = 3 from `a`.shape\[1\], but `return`.shape\[0\] = 2"):
        transpose_wrongly(np.ones((2, 3)))
    assert transpose_wrongly(np.ones((2, 2))).shape == (2, 2)


def test_a_symbol_repeated_in_one_tensor() -> None:
    @checked
    def trace(a: Annotated[Array, Spec(shape=("n", "n"))]) -> float:
        return float(np.trace(a))

    assert trace(np.eye(3)) == 3.0
    with pytest.raises(CheckedCallError, match=r"n = 2 from `a`.shape\[0\], but `a`.shape\[1\] = 3"):
        trace(np.ones((2, 3)))


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_star_group_binds_leading_extents_as_a_whole(framework: str) -> None:
    @checked
    def add(x: Annotated[Array, Spec(shape=("*batch", "n"))], y: Annotated[Array, Spec(shape=("*batch", "n"))]) -> None:
        pass

    add(ones(framework, 5), ones(framework, 5))  # an empty group
    add(ones(framework, 2, 3, 5), ones(framework, 2, 3, 5))
    with pytest.raises(CheckedCallError, match=r"\*batch = \(2, 3\) from `x`.shape\[0:2\], but `y`.shape\[0:2\] = \(2, 4\)"):
        add(ones(framework, 2, 3, 5), ones(framework, 2, 4, 5))
    with pytest.raises(CheckedCallError, match=r"\*batch = \(2, 3\) from `x`.shape\[0:2\], but `y`.shape\[0:1\] = \(2,\)"):
        add(ones(framework, 2, 3, 5), ones(framework, 2, 5))
    with pytest.raises(CheckedCallError, match=r"`y`: ndim: expected >= 1, got 0 \[checked.ndim\]"):
        add(ones(framework, 5), ones(framework))


def test_fixed_extents_around_a_group_and_anonymous_items() -> None:
    spec = Spec(shape=(2, "...", 3))
    assert spec.matches(np.ones((2, 3)))
    assert spec.matches(np.ones((2, 7, 7, 3)))
    assert not spec.matches(np.ones((2, 7, 4)))
    assert not spec.matches(np.ones((3,)))
    any_middle = Spec(shape=("n", None, "_", "n"))
    assert any_middle.matches(np.ones((2, 5, 6, 2)))
    assert not any_middle.matches(np.ones((2, 5, 6, 3)))


def test_jaxtyping_string_form() -> None:
    @checked
    def f(a: Annotated[Array, Spec(shape="*batch n 3")], b: Annotated[Array, Spec(shape="n")]) -> None:
        pass

    f(np.ones((4, 2, 3)), np.ones(2))
    with pytest.raises(CheckedCallError, match="n = 2 from `a`.shape"):
        f(np.ones((4, 2, 3)), np.ones(5))
    with pytest.raises(CheckedCallError, match=r"`a`: shape\[2\]: expected 3, got 4 \[checked.shape\]"):
        f(np.ones((4, 2, 4)), np.ones(2))


def test_a_rank_mismatch_shows_the_shape_as_written() -> None:
    with pytest.raises(CheckedCallError, match=r"`a`: shape: expected \('n', 'k'\), got \(2,\) \[expect.shape\]"):
        matmul(np.ones(2), np.ones((2, 2)))


@pytest.mark.parametrize(
    ("shape", "error"),
    [
        (("*a", "*b"), ValueError),
        (("n", "2x"), ValueError),
        (("*1",), ValueError),
        ((1.5,), TypeError),
        ((True,), TypeError),
    ],
)
def test_malformed_symbolic_shapes_are_refused(shape: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="shape"):
        Spec(shape=shape)


def test_malformed_group_names_are_refused() -> None:
    with pytest.raises(TypeError, match="same_device"):
        Spec(same_device="not a name")
    with pytest.raises(TypeError, match="same_dtype"):
        Spec(same_dtype=3)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# concrete constraints, devices and dtypes


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_every_violation_of_every_argument_is_listed(framework: str) -> None:
    f32 = Expect(dtype="float32", ndim=2)

    @checked
    def f(a: Annotated[Array, f32], b: Annotated[Array, f32]) -> None:
        pass

    f(zeros(framework, 2, 2), zeros(framework, 3, 3))
    with pytest.raises(CheckedCallError) as caught:
        f(ones(framework, 2, dtype="int8"), ones(framework, 2, 2, dtype="int32"))
    error = caught.value
    assert error.parameters == ("a", "a", "b")
    assert error.rules == ("expect.dtype", "expect.ndim", "expect.dtype")
    assert "`a`: dtype: expected float32, got int8 [expect.dtype]" in str(error)
    assert "`b`: dtype: expected float32, got int32 [expect.dtype]" in str(error)
    assert error.function.endswith("f")


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_shared_dtype_from_the_decorator(framework: str) -> None:
    @checked(same_dtype=True)
    def f(a: Annotated[Array, Expect(ndim=1)], b: Annotated[Array, Spec()]) -> None:
        pass

    f(ones(framework, 2, dtype="int32"), ones(framework, 3, dtype="int32"))
    with pytest.raises(CheckedCallError, match=r"dtype = int32 from `a`.dtype, but `b`.dtype = float32 \[checked.same_dtype\]"):
        f(ones(framework, 2, dtype="int32"), ones(framework, 3))


def test_named_dtype_groups_are_separate() -> None:
    @checked
    def f(
        a: Annotated[Array, Spec(same_dtype="T")],
        b: Annotated[Array, Spec(same_dtype="T")],
        index: Annotated[Array, Spec(same_dtype="I")],
    ) -> None:
        pass

    f(np.ones(2), np.ones(2), np.ones(2, np.int64))
    with pytest.raises(CheckedCallError, match="dtype T = float64 from `a`.dtype, but `b`.dtype = float32"):
        f(np.ones(2), np.ones(2, np.float32), np.ones(2, np.int64))


def host_capsule(producer: CtypesProducer) -> object:
    """A tensor on another device than the CPU's (CUDA host memory: NumPy memory, in fact)."""
    return producer.capsule(np.ones(3, np.float32), device=(3, 0))


def test_shared_device_from_the_decorator(ctypes_producer: CtypesProducer) -> None:
    @checked(same_device=True)
    def f(a: Annotated[Array, Expect(verify_device="skip")], b: Annotated[Array, Expect(verify_device="skip")]) -> None:
        pass

    f(np.ones(3), np.ones(2))
    with pytest.raises(CheckedCallError, match=r"device = cpu from `a`.device, but `b`.device = cuda_host:0 \[checked.same_device\]"):
        f(np.ones(3), host_capsule(ctypes_producer))


def test_shared_device_group_in_a_spec(ctypes_producer: CtypesProducer) -> None:
    @checked
    def f(a: Annotated[Array, Spec(same_device="d")], b: Annotated[Array, Spec(same_device="d", verify_device="skip")]) -> None:
        pass

    with pytest.raises(CheckedCallError, match="device d = cpu from `a`.device, but `b`.device = cuda_host:0"):
        f(np.ones(3), host_capsule(ctypes_producer))


def test_torch_and_numpy_on_the_cpu_share_a_device() -> None:
    skip_if_missing("torch")
    import torch

    @checked(same_device=True)
    def f(a: Annotated[Array, Spec()], b: Annotated[Array, Spec()]) -> None:
        pass

    f(np.ones(3), torch.ones(3))


def test_an_argument_that_is_not_a_tensor() -> None:
    with pytest.raises(CheckedCallError, match=r"`a`: type: expected a DLPack capsule or producer, got list \[checked.not_a_tensor\]"):
        matmul([[1.0]], np.ones((1, 1)))


# ---------------------------------------------------------------------------------------------
# every kind of parameter


@checked
def kinds(
    a: Annotated[Array, Spec(shape=("n",))],
    /,
    b: Annotated[Array, Spec(shape=("n",))],
    c: Annotated[Array, Spec(shape=("n",))] | None = None,
    *args: Annotated[Array, Spec(shape=("n",))],
    d: Annotated[Array, Spec(shape=("n",))],
    e: Annotated[Array, Spec(shape=("n",))] = np.ones(2),
    **kwargs: Annotated[Array, Spec(shape=("n",))],
) -> int:
    return 1 + len(args) + len(kwargs)


def test_every_kind_of_parameter_is_checked() -> None:
    two = np.ones(2)
    assert kinds(two, two, d=two) == 1
    assert kinds(two, b=two, d=two, e=two) == 1
    assert kinds(two, two, two, two, two, d=two, x=two) == 4
    assert kinds(two, two, None, d=two) == 1
    three = np.ones(3)
    for call, place in [
        (lambda: kinds(two, three, d=two), "`b`.shape[0] = 3"),
        (lambda: kinds(two, b=three, d=two), "`b`.shape[0] = 3"),
        (lambda: kinds(two, two, three, d=two), "`c`.shape[0] = 3"),
        (lambda: kinds(two, two, two, two, three, d=two), "`args[1]`.shape[0] = 3"),
        (lambda: kinds(two, two, d=three), "`d`.shape[0] = 3"),
        (lambda: kinds(two, two, d=two, e=three), "`e`.shape[0] = 3"),
        (lambda: kinds(two, two, d=two, extra=three), "`kwargs['extra']`.shape[0] = 3"),
    ]:
        with pytest.raises(CheckedCallError) as caught:
            call()
        assert f"n = 2 from `a`.shape[0], but {place}" in str(caught.value)


def test_a_default_value_is_not_checked() -> None:
    # what the caller did not pass is the function's own business (the default of e has n = 2)
    three = np.ones(3)
    assert kinds(three, three, d=three) == 1


def test_optional_parameters_accept_none() -> None:
    @checked
    def f(a: Optional[Annotated[Array, Expect(ndim=1)]], b: Annotated[Optional[Array], Expect(ndim=1)] = None) -> None:
        pass

    f(None)
    f(None, None)
    with pytest.raises(CheckedCallError, match="`b`: ndim"):
        f(None, np.ones((1, 1)))


def test_a_wrong_call_is_the_functions_own_type_error() -> None:
    with pytest.raises(TypeError, match="argument"):
        matmul(np.ones((1, 1)))  # type: ignore[call-arg]


class Layer:
    scale = 2.0

    @checked
    def method(self, x: Annotated[Array, Spec(shape=("n",))], y: Annotated[Array, Spec(shape=("n",))]) -> float:
        return float((x * y).sum()) * self.scale

    @classmethod
    @checked
    def class_method(cls, x: Annotated[Array, Expect(ndim=1)]) -> float:
        return float(x.sum()) * cls.scale

    @checked
    @classmethod
    def class_method_outside(cls, x: Annotated[Array, Expect(ndim=1)]) -> float:
        return float(x.sum()) * cls.scale

    @staticmethod
    @checked
    def static_method(x: Annotated[Array, Expect(ndim=1)]) -> float:
        return float(x.sum())

    @checked
    @staticmethod
    def static_method_outside(x: Annotated[Array, Expect(ndim=1)]) -> float:
        return float(x.sum())


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_methods(framework: str) -> None:
    layer = Layer()
    assert layer.method(ones(framework, 2), ones(framework, 2)) == 4.0
    with pytest.raises(CheckedCallError, match="n = 2 from `x`.shape"):
        layer.method(ones(framework, 2), ones(framework, 3))
    for method in (Layer.class_method, layer.class_method, Layer.class_method_outside):
        assert method(ones(framework, 2)) == 4.0
        with pytest.raises(CheckedCallError, match="`x`: ndim"):
            method(ones(framework, 2, 2))
    for method in (Layer.static_method, layer.static_method, Layer.static_method_outside):
        assert method(ones(framework, 2)) == 2.0
        with pytest.raises(CheckedCallError, match="`x`: ndim"):
            method(ones(framework, 2, 2))


# ---------------------------------------------------------------------------------------------
# coroutines


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_coroutine_checks_its_arguments_before_it_runs(framework: str) -> None:
    started: list[bool] = []

    @checked
    async def scale(x: Annotated[Array, Spec(shape=("n",))]) -> Annotated[Array, Spec(shape=("n",))]:
        started.append(True)
        await asyncio.sleep(0)
        return x[:1] if x.shape[0] == 3 else x

    assert inspect.iscoroutinefunction(scale)
    assert tuple(asyncio.run(scale(ones(framework, 2))).shape) == (2,)
    with pytest.raises(CheckedCallError, match="`x`: ndim|`x`: shape"):
        asyncio.run(scale(ones(framework, 2, 2)))
    assert started == [True]  # the failed call never ran the body
    with pytest.raises(CheckedCallError, match=r"n = 3 from `x`.shape\[0\], but `return`.shape\[0\] = 1"):
        asyncio.run(scale(ones(framework, 3)))


# ---------------------------------------------------------------------------------------------
# what the wrapper keeps of the function


def test_the_wrapper_keeps_name_signature_and_wrapped() -> None:
    assert matmul.__name__ == "matmul"
    assert matmul.__wrapped__.__name__ == "matmul"  # type: ignore[attr-defined]
    assert inspect.signature(matmul) == inspect.signature(matmul.__wrapped__)  # type: ignore[attr-defined]
    assert list(inspect.signature(kinds).parameters) == ["a", "b", "c", "args", "d", "e", "kwargs"]


def test_a_function_without_constraints_still_works() -> None:
    @checked
    def plain(a: int, b: Annotated[int, "unrelated"]) -> int:
        return a + b

    assert plain(1, 2) == 3


def test_a_forward_reference_is_resolved_at_the_first_call() -> None:
    @checked
    def f(a: Annotated[Later, Expect(ndim=1)]) -> None:  # type: ignore[name-defined]  # noqa: F821
        pass

    globals()["Later"] = np.ndarray
    try:
        f(np.ones(2))
        with pytest.raises(CheckedCallError):
            f(np.ones((2, 2)))
    finally:
        del globals()["Later"]


def test_two_constraints_in_one_annotation_are_refused() -> None:
    with pytest.raises(TypeError, match="one Expect or Spec per annotation"):

        @checked
        def f(a: Annotated[Array, Expect(ndim=1), Spec(ndim=1)]) -> None:
            pass


def test_checked_refuses_what_is_not_callable() -> None:
    with pytest.raises(TypeError, match="expected a function"):
        checked(3)  # type: ignore[call-overload]


# ---------------------------------------------------------------------------------------------
# off switches


def test_checks_enabled_as_a_context_and_as_a_function() -> None:
    bad = (np.ones((2, 3)), np.ones((4, 5)))
    with checks_enabled(False):
        matmul_unchecked = matmul.__wrapped__  # type: ignore[attr-defined]
        assert matmul(np.ones((2, 3)), np.ones((3, 1))).shape == matmul_unchecked(np.ones((2, 3)), np.ones((3, 1))).shape
        with pytest.raises(ValueError, match="matmul"):  # numpy's own error, not ours
            matmul(*bad)
        with checks_enabled(True):
            with pytest.raises(CheckedCallError):
                matmul(*bad)
    with pytest.raises(CheckedCallError):
        matmul(*bad)
    checks_enabled(False)
    try:
        with pytest.raises(ValueError, match="matmul"):
            matmul(*bad)
    finally:
        checks_enabled(True)
    with pytest.raises(CheckedCallError):
        matmul(*bad)


@pytest.mark.parametrize("value", ["0", "false", "off", "No"])
def test_the_environment_switch_returns_the_function_itself(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    def f(a: Annotated[Array, Expect(ndim=1)]) -> None:
        pass

    monkeypatch.setenv("OPTYPE_DLPACK_CHECKS", value)
    assert checked(f) is f
    assert checked(same_device=True)(f) is f
    monkeypatch.setenv("OPTYPE_DLPACK_CHECKS", "1")
    assert checked(f) is not f


# ---------------------------------------------------------------------------------------------
# the error, Expect.matches, Spec


def test_the_error_is_a_validation_error_and_pickles() -> None:
    with pytest.raises(CheckedCallError) as caught:
        matmul(np.ones((2, 3), np.float32), np.ones((4, 5)))
    error = caught.value
    assert isinstance(error, DLPackValidationError)
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is CheckedCallError
    assert str(copy) == str(error)
    assert copy.parameters == error.parameters
    assert copy.violations == error.violations
    assert copy.function == error.function
    assert error.__suppress_context__  # the native error that led to it is not shown


def test_expect_matches() -> None:
    expect = Expect(dtype="float32", ndim=2)
    assert expect.matches(np.ones((2, 2), np.float32)) is True
    assert expect.matches(np.ones((2, 2))) is False
    assert expect.matches([1, 2]) is False
    assert expect.matches(np.ones((2, 2), np.float32).__dlpack__()) is True
    assert inspect.signature(Expect.matches).parameters.keys() == {"self", "x"}


def test_expect_matches_raises_what_a_producer_raises() -> None:
    class Broken:
        def __dlpack__(self, **kwargs: object) -> object:
            raise TypeError("broken producer")

        def __dlpack_device__(self) -> tuple[int, int]:
            return (1, 0)

    with pytest.raises(TypeError, match="broken producer"):
        Expect().matches(Broken())


def test_spec_check_and_repr() -> None:
    spec = Spec(dtype="float32", shape=("n", "n"), same_device="d")
    assert repr(spec) == "Spec(dtype='float32', shape=('n', 'n'), same_device='d')"
    assert spec.symbolic
    assert not Spec(dtype="float32", shape=(None, 3)).symbolic
    spec.check(np.ones((2, 2), np.float32))
    with pytest.raises(CheckedCallError, match=r"n = 2 from `x`.shape\[0\], but `x`.shape\[1\] = 3"):
        spec.check(np.ones((2, 3), np.float32))
    assert isinstance(spec.expect, Expect)


def test_spec_passes_concrete_constraints_to_expect() -> None:
    spec = Spec(device="cpu", dtype="float32", shape=("n", 3), writable=True, layout="c")
    assert spec.matches(np.ones((5, 3), np.float32))
    assert not spec.matches(np.ones((5, 3), np.float32).T.copy().T)  # Fortran order
    readonly = np.ones((5, 3), np.float32)
    readonly.flags.writeable = False
    assert not spec.matches(readonly)
    with pytest.raises(ValueError, match="dtype"):
        Spec(dtype="no such dtype")


def test_public_names() -> None:
    for name in ("Spec", "checked", "checks_enabled", "CheckedCallError", "beartype_validator"):
        assert name in od.__all__
        assert getattr(od, name) is not None
    assert functools.partial  # the module imports cleanly without the decorator's dependencies


# ---------------------------------------------------------------------------------------------
# the native part: malformed plans are refused, never a crash


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ((), TypeError),
        (([], (), {}), TypeError),
        (((), (), []), TypeError),
        ((((0,),), (np.ones(2),), {}), TypeError),
        ((((0, Expect().check, [], False),), (np.ones(2),), {}), TypeError),
        ((((5, Expect().check, None, False),), (np.ones(2),), {}), IndexError),
        ((((-1, Expect().check, None, False),), (np.ones(2),), {}), IndexError),
        ((((0, Expect().check, ((0, "n", 0),), False),), (np.ones(2),), {}), TypeError),  # check makes no TensorInfo
        ((((0, Expect().validate, ((0, "n", 3),), False),), (np.ones(2),), {}), IndexError),
        ((((0, Expect().validate, ((9, "n"),), False),), (np.ones(2),), {}), TypeError),
        ((((0, Expect().validate, ((0, "n"),), False),), (np.ones(2),), {}), TypeError),
        ((((0, Expect().validate, (("x", "n", 0),), False),), (np.ones(2),), {}), TypeError),
        ((((0, Expect().validate, ((0, ["unhashable"], 0),), False),), (np.ones(2),), {}), TypeError),
        ((((0, Expect().validate, ((1, 0, "3"),), False),), (np.ones(2),), {}), TypeError),
    ],
)
def test_checked_run_refuses_malformed_plans(arguments: tuple[Any, ...], error: type[Exception]) -> None:
    with pytest.raises(error):
        od._core._checked_run(*arguments)


def test_checked_run_binds_into_the_dict() -> None:
    env: dict[Any, Any] = {}
    steps = (
        (0, Expect().validate, ((3, 1), (1, -1, 3), (2, "batch", 0, 1), (0, "n", -1), (4, "d"), (5, "t")), False),
        (1, Expect().check, None, True),
    )
    assert od._core._checked_run(steps, (np.ones((4, 5, 3), np.float32), None), env) is True
    assert env == {"batch": (4, 5), "n": 3, "d": (1, 0), "t": (2, 32, 1)}
    assert od._core._checked_run(steps, (np.ones((4, 5, 2), np.float32), None), {}) is False
    assert od._core._checked_run(steps, (np.ones((4, 5, 3), np.float32), None), {"n": 2}) is False
    with pytest.raises(TypeError, match="NoneType"):  # None passes only where the step says so
        od._core._checked_run(steps[:1], (None,), {})

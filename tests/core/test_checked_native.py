"""@checked's native callable: the binder, the calls it leaves to Python, and what a hostile
argument or caller can do to it.

A plain plan (positional and keyword tensor parameters, symbols, groups, a return check) is
taken by the native callable (optype_dlpack._core._CheckedFunction); a coroutine, a checked
*args or **kwargs stay with the Python wrapper. Whatever the binder takes, the results and the
errors are the Python path's: each case runs against a twin whose plan was never installed in
its native callable, which therefore hands every call to the Python wrapper.
"""

from __future__ import annotations

import ctypes
import gc
import sys
import tracemalloc
import weakref
from typing import Annotated, Any
from unittest import mock

import numpy as np
import pytest

import optype_dlpack as od
from optype_dlpack import CheckedCallError, DLPackValidationError, Expect, Spec, checked, checks_enabled
from tests.support.child import run_code

Array = Any
F32 = Expect(dtype="float32", ndim=2)
NK = Spec(dtype="float32", shape=("n", "k"))
KM = Spec(dtype="float32", shape=("k", "m"))


RECEIVED: list[tuple[Any, ...]] = []  # what the functions of native_pair() were called with


def native_pair(*, keyword_only: bool = False) -> tuple[Any, Any]:
    """The same checked function twice: natively, and on the Python path. Both return None
    (which their return check lets through) and record what they received."""

    def define() -> Any:
        if keyword_only:

            @checked
            def function(
                a: Annotated[Array, NK], *, b: Annotated[Array, KM], c: Annotated[Array, F32] | None = None
            ) -> Annotated[Any, F32] | None:
                RECEIVED.append((a, b, c))

            return function

        @checked
        def function(
            a: Annotated[Array, NK], b: Annotated[Array, KM], /, c: Annotated[Array, F32] | None = None
        ) -> Annotated[Any, F32] | None:
            RECEIVED.append((a, b, c))

        return function

    native = define()
    with mock.patch.object(od._checked._Plan, "install", lambda plan, native: None):
        python = define()
    return native, python


def f32(*shape: int) -> np.ndarray[Any, Any]:
    return np.ones(shape, np.float32)


def outcome(function: Any, *args: Any, **kwargs: Any) -> tuple[str, str]:
    """What a call did, comparable across the two paths (the function's name left out)."""
    RECEIVED.clear()
    try:
        function(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - every error is compared
        text = str(error).replace("python", "FUNCTION").replace("native", "FUNCTION")
        return type(error).__name__, text
    return "returned", repr([[None if item is None else item.shape for item in call] for call in RECEIVED])


def test_a_plain_plan_is_native_and_the_rest_stay_in_python() -> None:
    native, _ = native_pair()
    assert type(native) is od._core._CheckedFunction

    @checked
    def star(*xs: Annotated[Array, F32]) -> None: ...

    @checked
    async def coroutine(x: Annotated[Array, F32]) -> None: ...

    assert type(star) is not od._core._CheckedFunction
    assert type(coroutine) is not od._core._CheckedFunction


CALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((f32(2, 3), f32(3, 4)), {}),
    ((f32(2, 3), f32(3, 4), f32(5, 5)), {}),
    ((f32(2, 3), f32(3, 4)), {"c": f32(1, 1)}),
    ((f32(2, 3), f32(3, 4)), {"c": None}),
    ((f32(2, 3), f32(4, 4)), {}),  # k disagrees
    ((f32(2, 3), np.ones((3, 4))), {}),  # dtype
    ((f32(2, 3), f32(3, 4)), {"c": f32(3)}),  # ndim of c
    ((f32(2, 3), "not a tensor"), {}),
    ((f32(2, 3),), {}),  # too few
    ((f32(2, 3), f32(3, 4), f32(1, 1), f32(1, 1)), {}),  # too many
    ((f32(2, 3), f32(3, 4)), {"b": f32(3, 4)}),  # positional-only given by keyword
    ((f32(2, 3), f32(3, 4), f32(1, 1)), {"c": f32(1, 1)}),  # given twice
    ((f32(2, 3), f32(3, 4)), {"d": f32(1, 1)}),  # no such parameter
]


@pytest.mark.parametrize(("args", "kwargs"), CALLS)
def test_every_call_ends_as_on_the_python_path(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    native, python = native_pair()
    assert outcome(native, *args, **kwargs) == outcome(python, *args, **kwargs)


def test_the_return_value_is_checked_as_on_the_python_path() -> None:
    def define() -> Any:
        @checked
        def transpose(a: Annotated[Array, NK] | None, wrong: bool = False) -> Annotated[Array, Spec(shape=("k", "n"))] | None:
            if a is None:
                return None
            return a if wrong else a.T

        return transpose

    native = define()
    with mock.patch.object(od._checked._Plan, "install", lambda plan, native: None):
        python = define()
    x = f32(2, 3)
    assert native(x).shape == python(x).shape == (3, 2)
    assert native(None) is python(None) is None  # an optional argument, an optional result
    errors = []
    for function in (native, python):
        with pytest.raises(CheckedCallError) as caught:
            function(x, wrong=True)
        errors.append(str(caught.value))
    assert errors[0] == errors[1]
    assert "k = 3 from `a`.shape[1], but `return`.shape[0] = 2" in errors[0]


KEYWORD_CALLS: list[dict[str, Any]] = [
    {"a": f32(2, 3), "b": f32(3, 4)},
    {"b": f32(3, 4), "a": f32(2, 3), "c": f32(1, 1)},
    {"a": f32(2, 3), "b": f32(4, 4)},
    {"a": f32(2, 3)},
    {"a": f32(2, 3), "b": f32(3, 4), "c": f32(2)},
]


@pytest.mark.parametrize("kwargs", KEYWORD_CALLS)
def test_keyword_arguments_bind_as_on_the_python_path(kwargs: dict[str, Any]) -> None:
    native, python = native_pair(keyword_only=True)
    a = kwargs.pop("a")
    assert outcome(native, a, **kwargs) == outcome(python, a, **kwargs)
    assert outcome(native, **kwargs, a=a) == outcome(python, **kwargs, a=a)


def test_a_keyword_built_at_run_time_is_found() -> None:
    native, _ = native_pair(keyword_only=True)
    name = "".join(["b"])  # not interned: compared by value
    with pytest.raises(CheckedCallError, match=r"`b`\.shape\[0\]"):
        native(f32(2, 3), **{name: f32(4, 4)})


class Keyword(str):
    """A keyword that is a str subclass: matched as Python matches it, by the Python wrapper."""

    __slots__ = ()


def test_a_keyword_that_is_a_str_subclass_is_still_checked() -> None:
    native, python = native_pair(keyword_only=True)
    for function in (native, python):
        with pytest.raises(CheckedCallError, match=r"`b`\.shape\[0\]"):
            function(f32(2, 3), **{Keyword("b"): f32(4, 4)})
        RECEIVED.clear()
        function(f32(2, 3), **{Keyword("b"): f32(3, 4)})
        assert len(RECEIVED) == 1


def vectorcall(function: Any, args: tuple[Any, ...], kwnames: tuple[str, ...]) -> Any:
    """PyObject_Vectorcall(function, args, len(args) - len(kwnames), kwnames), as a C caller
    may call it: kwnames is not checked for duplicates there."""
    array = (ctypes.py_object * len(args))(*args)
    return _vectorcall_of(function)(function, ctypes.cast(array, ctypes.c_void_p), len(args) - len(kwnames), kwnames)


_VECTORCALL = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.py_object, ctypes.c_void_p, ctypes.c_size_t, ctypes.py_object)


def _vectorcall_of(function: Any) -> Any:
    """PyObject_Vectorcall where CPython exports it (3.11 and later). On 3.10 it is an inline
    function, so the callable's own vectorcall function is called, as that inline function
    calls it: found at the instance offset its type declares (tp_vectorcall_offset, the eighth
    word of a type object after the object header of a build without Py_TRACE_REFS)."""
    exported = getattr(ctypes.pythonapi, "PyObject_Vectorcall", None)
    if exported is not None:
        return _VECTORCALL(("PyObject_Vectorcall", ctypes.pythonapi))
    words_before = 7 + (2 if hasattr(sys, "getobjects") else 0)  # Py_TRACE_REFS adds two
    offset = ctypes.c_ssize_t.from_address(id(type(function)) + words_before * ctypes.sizeof(ctypes.c_void_p)).value
    assert offset > 0, "the callable has no vectorcall function"
    address = ctypes.c_void_p.from_address(id(function) + offset).value
    assert address, "the callable has no vectorcall function"
    return _VECTORCALL(address)


def test_a_keyword_given_twice_by_a_c_caller_is_refused_before_the_body_runs() -> None:
    ran: list[object] = []

    @checked
    def function(a: Annotated[Array, F32], b: Annotated[Array, F32] | None = None) -> None:
        ran.append(b)

    good, bad = f32(2, 2), f32(3)
    with pytest.raises(TypeError, match="multiple values"):
        vectorcall(function, (good, good, bad), ("b", "b"))
    with pytest.raises(TypeError, match="multiple values"):
        vectorcall(function, (good, bad, good), ("b", "b"))
    assert ran == []
    vectorcall(function, (good, good), ("b",))
    assert ran == [good]


class Producer:
    """A NumPy array's producer whose __dlpack__ first runs `hook`."""

    def __init__(self, array: np.ndarray[Any, Any], hook: Any) -> None:
        self.array, self.hook, self.calls = array, hook, 0

    def __dlpack__(self, **kwargs: Any) -> Any:
        self.calls += 1
        self.hook(self)
        return self.array.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        return self.array.__dlpack_device__()


@checked
def square(a: Annotated[Array, Spec(shape=("n", "n"))], b: Annotated[Array, Spec(shape=("n", "m"))]) -> int:
    return int(np.from_dlpack(b).shape[1])


def test_a_producer_that_calls_the_function_again_binds_its_own_symbols() -> None:
    depth: list[int] = []

    def reenter(producer: Producer) -> None:
        if len(depth) < 3:
            depth.append(len(depth))
            m = 10 + len(depth)
            assert square(Producer(f32(5, 5), reenter), f32(5, m)) == m  # other n, other m
            with pytest.raises(CheckedCallError, match="n = 5"):
                square(f32(5, 5), f32(4, 1))

    assert square(Producer(f32(2, 2), reenter), f32(2, 7)) == 7
    assert depth == [0, 1, 2]


def test_a_producers_own_error_is_raised_as_it_is() -> None:
    def boom(producer: Producer) -> None:
        raise RuntimeError("boom")

    ran: list[object] = []

    @checked
    def function(a: Annotated[Array, F32]) -> None:
        ran.append(a)

    with pytest.raises(RuntimeError, match="boom"):
        function(Producer(f32(2, 2), boom))
    assert ran == []


def test_a_producer_that_changes_its_tensor_between_the_check_and_the_diagnosis() -> None:
    def change(producer: Producer) -> None:
        if producer.calls > 1:  # the check sees a float64 vector, the diagnosis a match
            producer.array = f32(2, 2)

    native, python = native_pair()
    for function in (native, python):
        with pytest.raises(DLPackValidationError) as caught:
            function(f32(1, 2), Producer(np.ones(3), change))
        assert not isinstance(caught.value, CheckedCallError)  # the check's own error


def test_a_check_that_raises_type_error_is_diagnosed_with_it_as_the_context() -> None:
    def refuse(producer: Producer) -> None:
        raise TypeError("no tensor here")

    native, python = native_pair()
    errors = []
    for function in (native, python):
        with pytest.raises(CheckedCallError) as caught:
            function(f32(2, 3), Producer(f32(3, 4), refuse))
        errors.append(caught.value)
    assert [str(error).split("(): ", 1)[1] for error in errors] == [str(errors[1]).split("(): ", 1)[1]] * 2
    assert all(isinstance(error.__context__, TypeError) for error in errors)


def test_replacing_wrapped_does_not_change_what_is_called() -> None:
    native, _ = native_pair()
    native.__wrapped__ = lambda *args: "replaced"
    assert outcome(native, f32(2, 3), f32(3, 4)) == ("returned", "[[(2, 3), (3, 4), None]]")


def test_the_checks_switch_reaches_the_native_callable() -> None:
    native, _ = native_pair()
    with checks_enabled(False):
        assert outcome(native, None, None) == ("returned", "[[None, None, None]]")
    with pytest.raises(CheckedCallError):
        native("a", "b")


def test_the_callable_cannot_be_made_or_subclassed_from_python() -> None:
    cls = od._core._CheckedFunction
    with pytest.raises(TypeError):
        cls()
    with pytest.raises(TypeError):
        type("Sub", (cls,), {})


def test_methods_bind_as_functions_do() -> None:
    class Holder:
        @checked
        def method(self, a: Annotated[Array, F32]) -> Any:
            return self, a

    holder, x = Holder(), f32(2, 2)
    assert Holder.__dict__["method"].__get__(None, Holder) is Holder.__dict__["method"]
    assert holder.method(x) == (holder, x)
    assert Holder.method(holder, x) == (holder, x)
    bound = holder.method
    assert bound.__self__ is holder
    assert bound(a=x) == (holder, x)
    with pytest.raises(CheckedCallError, match="Holder.method"):
        holder.method(f32(3))


def test_repr_pickle_and_weak_references() -> None:
    native, _ = native_pair()
    assert repr(native).startswith("<checked <function native_pair.<locals>.define.<locals>.function at 0x")
    reference = weakref.ref(native)
    assert reference() is native
    assert native.__reduce__() == native.__qualname__


def test_a_cycle_through_the_callable_is_collected() -> None:
    def make() -> weakref.ref[Any]:
        @checked
        def recursive(a: Annotated[Array, F32]) -> Any:
            return recursive  # the closure holds the callable: a cycle

        recursive.cycle = recursive  # and its __dict__ too
        return weakref.ref(recursive)

    reference = make()
    gc.collect()
    assert reference() is None


def test_calls_leak_nothing() -> None:
    native, _ = native_pair()
    x, y = f32(2, 3), f32(3, 4)

    def passing() -> None:
        native(x, y)
        native(x, y, c=None)
        RECEIVED.clear()

    def failing() -> None:
        try:
            native(x, x)
        except CheckedCallError:
            pass
        try:
            native(x)
        except TypeError:
            pass

    for calls in (passing, failing):
        for _ in range(500):  # warms up caches
            calls()
        gc.collect()  # what earlier tests left: its references to NK.expect go now, not within
        counts = (sys.getrefcount(x), sys.getrefcount(y), sys.getrefcount(NK.expect), sys.getrefcount(native))
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            for _ in range(3000):
                calls()
            gc.collect()
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
        assert grown < 8 * 1024, calls.__name__  # tracemalloc's own records: well under a byte a call
        assert (sys.getrefcount(x), sys.getrefcount(y), sys.getrefcount(NK.expect), sys.getrefcount(native)) == counts


def test_a_daemon_thread_inside_a_checked_call_at_exit() -> None:
    code = """
        import threading
        from typing import Annotated, Any
        import numpy as np
        from optype_dlpack import Spec, checked

        @checked
        def function(a: Annotated[Any, Spec(shape=("n", "k"))], b: Annotated[Any, Spec(shape=("k",))]) -> None:
            pass

        class Slow:
            def __init__(self):
                self.array = np.ones(3, np.float32)
            def __dlpack__(self, **kwargs):
                threading.Event().wait(0.001)  # the interpreter exits while a thread waits here
                return self.array.__dlpack__(**kwargs)
            def __dlpack_device__(self):
                return self.array.__dlpack_device__()

        def loop():
            x, y = np.ones((2, 3), np.float32), Slow()
            while True:
                function(x, y)

        threads = [threading.Thread(target=loop, daemon=True) for _ in range(4)]
        for thread in threads:
            thread.start()
        threading.Event().wait(0.2)
        print("exiting")
    """
    done = run_code(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "exiting"


def test_a_plan_larger_than_the_native_binder_takes_stays_in_python() -> None:
    names = [f"x{i}" for i in range(40)]
    namespace: dict[str, Any] = {"Annotated": Annotated, "Array": Array, "F32": F32, "checked": checked}
    parameters = ", ".join(f"{name}: Annotated[Array, F32]" for name in names)
    exec(f"@checked\ndef wide({parameters}):\n    return {names[-1]}", namespace)  # noqa: S102 - our own source
    wide = namespace["wide"]
    arrays = [f32(1, 1) for _ in names]
    assert wide(*arrays) is arrays[-1]
    with pytest.raises(CheckedCallError, match="`x39`: ndim: expected 2, got 1"):
        wide(*arrays[:-1], f32(1))


def plain_function(a: object) -> object:
    return a


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ((), TypeError),
        ((plain_function, (), -1, plain_function), TypeError),  # not a checked function
        (("wrapper", [], -1, plain_function), TypeError),
        (("wrapper", (), -1, "not callable"), TypeError),
        (("wrapper", ((0, "a", F32, None),), -1, plain_function), TypeError),  # four fields
        (("wrapper", ((0, "a", "not an Expect", None, False),), -1, plain_function), TypeError),
        (("wrapper", ((0, b"a", F32, None, False),), -1, plain_function), TypeError),
        (("wrapper", ((-2, "a", F32, None, False),), -1, plain_function), ValueError),
        (("wrapper", ((0, "a", F32, [], False),), -1, plain_function), TypeError),
        (("wrapper", ((0, "a", F32, ((9, "n"),), False),), -1, plain_function), TypeError),
        (("wrapper", ((0, "a", F32, ((0, "n"),), False),), -1, plain_function), TypeError),
        (("wrapper", ((0, "a", F32, ((2, "g", -1, 0),), False),), -1, plain_function), ValueError),
        (("wrapper", ((0, "a", F32, ((1, 0, "3"),), False),), -1, plain_function), TypeError),
        (("wrapper", ((0, "a", F32, None, False),), "many", plain_function), TypeError),
    ],
)
def test_installing_a_malformed_plan_is_refused(arguments: tuple[Any, ...], error: type[Exception]) -> None:
    wrapper = od._core._checked_function(plain_function, plain_function)
    arguments = tuple(wrapper if item == "wrapper" else item for item in arguments)
    with pytest.raises(error):
        od._core._checked_install(*arguments)
    assert wrapper(1) == 1  # nothing installed: every call forwarded


def test_a_plan_is_installed_once() -> None:
    diagnosed: list[tuple[Any, ...]] = []

    def diagnosis(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        diagnosed.append((args, kwargs))  # finds nothing: the check's own error is raised

    wrapper = od._core._checked_function(plain_function, plain_function)
    plan = ((0, "a", F32, None, False),)
    assert od._core._checked_install(wrapper, plan, 1, diagnosis) is True
    assert od._core._checked_install(wrapper, (), 1, diagnosis) is False
    x = f32(2)
    with pytest.raises(DLPackValidationError, match="ndim") as caught:
        wrapper(x)
    assert not isinstance(caught.value, CheckedCallError)
    assert diagnosed == [((x,), {})]
    with pytest.raises(TypeError):
        od._core._checked_function(plain_function, "not callable")

"""The Python API of the extension is safe to misuse.

- No ``TensorInfo`` or ``Expect`` instance without its C++ object can reach C++ code: such an
  instance read uninitialised memory (crashes, so those checks run in a child process).
- ``Expect`` and ``TensorInfo`` are final.
- Constraint values raise ``TypeError`` (wrong kind) or ``ValueError`` (impossible value)
  naming the constraint, never pybind11's ``RuntimeError``; anything with ``__index__``
  (NumPy integers included) is an integer.
- The package's errors survive pickling (multiprocessing) with their message and records.
- A daemon thread inside validate() or Expect.check() when the interpreter exits does not
  abort the process: the forced unwind that ends it passes through the extension.
- The module does not declare itself free-threading safe.
"""

from __future__ import annotations

import ast
import concurrent.futures
import multiprocessing
import pickle
import re
import signal
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import optype_dlpack as od
from optype_dlpack import (
    DLPackConsumedError,
    DLPackError,
    DLPackValidationError,
    DLPackVersionError,
    Expect,
    TensorInfo,
    Violation,
)
from tests.support.child import last_json, run_code

ROOT = Path(__file__).resolve().parents[2]


# Prepended to the child scripts: records what each call did.
_OUTCOME = """
import json, sys
import numpy as np
import optype_dlpack as od

def outcome(call):
    try:
        value = call()
    except Exception as error:
        return [type(error).__name__, str(error)]
    return ["returned", repr(value)]
"""


def child_results(body: str) -> Any:
    """Runs `body` after _OUTCOME; it prints one JSON document last. A crash fails the test."""
    return last_json(run_code(_OUTCOME + textwrap.dedent(body)))


###
# 1. No uninitialised instance reaches C++ code


def test_tensor_info_cannot_be_created() -> None:
    # Every way to call TensorInfo's allocator; should one hand out an instance, every
    # property and the repr are read from it (which crashed when the C++ object was missing).
    results = child_results(
        """
        TI = od.TensorInfo
        base = TI.__mro__[1]
        names = sorted(n for n, a in vars(TI).items() if isinstance(a, property)) + ["__repr__"]

        def make_and_read(make):
            def call():
                info = make()
                return [repr(info) if name == "__repr__" else getattr(info, name) for name in names]
            return call

        routes = {
            "TensorInfo()": lambda: TI(),
            "TensorInfo.__new__": lambda: TI.__new__(TI),
            "object.__new__": lambda: object.__new__(TI),
            "base.__new__": lambda: base.__new__(TI),
        }
        print(json.dumps({route: outcome(make_and_read(make)) for route, make in routes.items()}))
        """
    )
    assert {route: kind for route, (kind, _) in results.items()} == dict.fromkeys(results, "TypeError")
    assert re.fullmatch(r"cannot create '(\w+\.)*TensorInfo' instances.*", results["TensorInfo()"][1])


def test_tensor_info_from_validation_still_works() -> None:
    info = od.validate(np.zeros((2, 3), dtype=np.float32))
    assert type(info) is TensorInfo
    assert info.shape == (2, 3) and info.strides == (3, 1) and info.ndim == 2
    assert repr(info).startswith("TensorInfo(device=cpu, dtype=float32")


def test_uninitialised_expect_is_refused_by_every_method() -> None:
    # Expect.__new__ (and pybind11's base __new__) make an instance without a C++ object;
    # validate and check refuse it, repr says so, and __init__ then makes it a usable Expect.
    results = child_results(
        """
        E = od.Expect
        x = np.zeros(3)
        out = {}
        for route, make in {"Expect.__new__": lambda: E.__new__(E),
                            "pybind11_object.__new__": lambda: E.__mro__[1].__new__(E)}.items():
            e = make()
            out[route] = {
                "validate": outcome(lambda: e.validate(x)),
                "check": outcome(lambda: e.check(x)),
                "repr": outcome(lambda: repr(e)),
                "unbound validate": outcome(lambda: E.validate(e, x)),
            }
            e.__init__(ndim=1)
            out[route]["after __init__"] = [outcome(lambda: e.check(x)), outcome(lambda: repr(e)),
                                            outcome(lambda: e.validate(x).shape)]
        print(json.dumps(out))
        """
    )
    for route, got in results.items():
        for method in ("validate", "check", "unbound validate"):
            kind, message = got[method]
            assert kind == "TypeError", (route, method, got[method])
            assert "initialised" in message and "Expect(...)" in message, (route, method, message)
        assert got["repr"][0] == "returned" and "not initialised" in got["repr"][1], (route, got["repr"])
        assert got["after __init__"] == [["returned", "None"], ["returned", "'Expect(ndim=1)'"], ["returned", "(3,)"]]


def test_expect_methods_refuse_other_objects() -> None:
    for call in (lambda: Expect.validate(object(), np.zeros(3)), lambda: Expect.__repr__(object())):
        with pytest.raises(TypeError, match="Expect"):
            call()
    with pytest.raises(TypeError):
        Expect.check(object(), np.zeros(3))  # type: ignore[arg-type]


###
# 2. Final classes


@pytest.mark.parametrize("cls", [Expect, TensorInfo], ids=lambda c: c.__name__)
def test_final(cls: type) -> None:
    with pytest.raises(TypeError, match="not an acceptable base type"):
        type("Subclass", (cls,), {})
    assert "Final" in (cls.__doc__ or "")
    stub = ast.parse((ROOT / "stubs" / "optype_dlpack" / "_core.pyi").read_text(encoding="utf-8"))
    (node,) = [n for n in stub.body if isinstance(n, ast.ClassDef) and n.name == cls.__name__]
    assert "final" in [ast.unparse(d) for d in node.decorator_list]


###
# 3. Constraint values

_X = np.zeros((2, 3), dtype=np.float32)


class _Index:
    """An integer only through __index__."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __index__(self) -> int:
        return self.value


class _BrokenIndex:
    def __index__(self) -> int:
        raise KeyError("from __index__")


# (constraints, exception, message pattern): each names the constraint it is about
_BAD_CONSTRAINTS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"dtype": (2, -1)}, ValueError, r"^dtype: bits: -1 is out of range"),
    ({"dtype": (2, 256)}, ValueError, r"^dtype: bits"),
    ({"dtype": (2**70, 32)}, ValueError, r"^dtype: code"),
    ({"dtype": (2, 32, 2**16)}, ValueError, r"^dtype: lanes"),
    ({"dtype": (2.0, 32)}, TypeError, r"^dtype: code: expected an int, got float"),
    ({"dtype": (2, 32, 1, 1)}, ValueError, r"^dtype: a tuple must be"),
    ({"dtype": "\ud800"}, ValueError, r"^dtype: cannot read"),
    ({"dtype": object()}, TypeError, r"^dtype: cannot read"),
    ({"device": (1, 2**40)}, ValueError, r"^device: device_id: 1099511627776 is out of range"),
    ({"device": (2**40, 0)}, ValueError, r"^device: device_type"),
    ({"device": 2**40}, ValueError, r"^device: 1099511627776 is out of range"),
    ({"device": (1, 0, 0)}, ValueError, r"^device: a tuple must be"),
    ({"device": (1.0, 0)}, TypeError, r"^device: device_type: expected an int"),
    ({"device": [1, 0]}, TypeError, r"^device: expected"),
    ({"device": True}, TypeError, r"^device: expected"),
    ({"device": "\ud800"}, ValueError, r"^device: cannot read"),
    ({"ndim": 2**70}, ValueError, r"^ndim: 1180591620717411303424 is out of range"),
    ({"ndim": -1}, ValueError, r"^ndim: -1 is out of range"),
    ({"ndim": 1025}, ValueError, r"^ndim: 1025 is out of range"),
    ({"ndim": 2.0}, TypeError, r"^ndim: expected an int, got float"),
    ({"ndim": True}, TypeError, r"^ndim: expected an int, got bool"),
    ({"ndim": np.array([2, 3])}, TypeError, r"^ndim: expected an int"),
    ({"shape": (2**70,)}, ValueError, r"^shape\[0\]: 1180591620717411303424 is out of range"),
    ({"shape": (2, -1)}, ValueError, r"^shape\[1\]: -1 is out of range"),
    ({"shape": (2, 3.0)}, TypeError, r"^shape\[1\]: expected an int, got float"),
    ({"shape": np.array([[2, 3]])}, TypeError, r"^shape\[0\]: expected an int"),
    ({"shape": np.array(2)}, TypeError, r"^shape: expected a sequence"),
    ({"shape": "23"}, TypeError, r"^shape: expected a sequence"),
    ({"shape": b"\x02\x03"}, TypeError, r"^shape: expected a sequence"),
    ({"shape": 2}, TypeError, r"^shape: expected a sequence"),
    ({"shape": (1,) * 1025}, ValueError, r"^shape: 1025 extents"),
    ({"ndim": 2, "shape": (2,)}, ValueError, r"^ndim and shape disagree"),
    ({"writable": 1}, TypeError, r"^writable: expected True, False or None"),
    ({"layout": 1}, TypeError, r"^layout: expected 'C', 'F' or 'any', got int"),
    ({"layout": "K"}, ValueError, r"^layout: expected 'C', 'F' or 'any', got 'K'"),
    ({"layout": "\ud800"}, ValueError, r"^layout: expected"),
    ({"verify_device": None}, TypeError, r"^verify_device: expected 'auto', 'require' or 'skip', got NoneType"),
    ({"verify_device": "never"}, ValueError, r"^verify_device: expected"),
    ({"verify_device": "\ud800"}, ValueError, r"^verify_device: expected"),
]

def _case_id(constraints: dict[str, Any]) -> str:
    """A short, stable test id: no object addresses."""
    return re.sub(r" at 0x[0-9a-f]+", "", ascii(constraints))[:60]


# Each path a constraint is read by: validate's fast call, Expect's constructor.
_CONSTRAINT_READERS: dict[str, Callable[..., object]] = {
    "validate": lambda **constraints: od.validate(_X, **constraints),
    "Expect": lambda **constraints: Expect(**constraints),
}


@pytest.mark.parametrize("reader", sorted(_CONSTRAINT_READERS))
@pytest.mark.parametrize(
    ("constraints", "error", "pattern"),
    [pytest.param(*case, id=_case_id(case[0])) for case in _BAD_CONSTRAINTS],
)
def test_bad_constraint_names_itself(
    reader: str, constraints: dict[str, Any], error: type[Exception], pattern: str
) -> None:
    with pytest.raises(error, match=pattern) as excinfo:
        _CONSTRAINT_READERS[reader](**constraints)
    assert type(excinfo.value) is error  # not a subclass such as pybind11's cast errors


@pytest.mark.parametrize("reader", sorted(_CONSTRAINT_READERS))
def test_an_index_that_raises_keeps_its_error(reader: str) -> None:
    with pytest.raises(KeyError, match="from __index__"):
        _CONSTRAINT_READERS[reader](ndim=_BrokenIndex())


# Integers spelled as anything with __index__: each is met by _X (2x3 float32 on the CPU).
_INDEX_CONSTRAINTS: list[dict[str, Any]] = [
    {"ndim": np.int64(2)},
    {"ndim": np.uint8(2)},
    {"ndim": np.array(2)},
    {"ndim": _Index(2)},
    {"shape": np.array([2, 3])},
    {"shape": np.array([2, 3], dtype=np.uint16)},
    {"shape": (np.int32(2), None)},
    {"shape": [_Index(2), np.int64(3)]},
    {"shape": range(2, 4)},
    {"device": np.int64(1)},
    {"device": (np.int64(1), np.int32(0))},
    {"device": _Index(1)},
    {"dtype": (np.uint8(2), np.int64(32))},
    {"dtype": (_Index(2), _Index(32), np.int16(1))},
]


@pytest.mark.parametrize("constraints", _INDEX_CONSTRAINTS, ids=_case_id)
def test_index_integers_are_integers(constraints: dict[str, Any]) -> None:
    assert od.validate(_X, **constraints).shape == (2, 3)
    expect = Expect(**constraints)
    assert expect.check(_X) is None
    assert expect.validate(_X).shape == (2, 3)


def test_index_integers_are_checked() -> None:
    with pytest.raises(DLPackValidationError) as excinfo:
        od.validate(_X, ndim=np.int64(3), device=(np.int64(1), np.int64(1)))
    assert excinfo.value.rules == ("expect.device", "expect.ndim")


def test_inspect_takes_no_constraints() -> None:
    with pytest.raises(TypeError):
        od.inspect(_X, ndim=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"inspect\(\) takes 1 positional argument but 2 were given"):
        od.inspect(_X, _X)  # type: ignore[call-arg]
    assert od.inspect(_X).shape == (2, 3)


def test_expect_repr_shows_the_constraints_as_given() -> None:
    shape = [None, 3]
    expect = Expect(shape=shape, dtype="float32", verify_device="skip")
    shape.append(4)  # later changes to an argument do not change the Expect
    assert repr(expect) == "Expect(dtype='float32', shape=[None, 3], verify_device='skip')"
    assert expect.check(_X) is None


###
# 4. Errors survive pickling


def _violations() -> list[Violation]:
    return [
        Violation("expect.dtype", "dtype", "float64", "float32"),
        Violation("expect.ndim", "ndim", "3", "2"),
    ]


@pytest.mark.parametrize("cls", [DLPackValidationError, DLPackVersionError, DLPackConsumedError])
def test_validation_errors_pickle(cls: type[DLPackValidationError]) -> None:
    error = cls(_violations())
    error.hint = "an attribute set after raising"  # type: ignore[attr-defined]
    if sys.version_info >= (3, 11):  # notes exist since 3.11
        error.add_note("a note")
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        copy = pickle.loads(pickle.dumps(error, protocol))
        assert type(copy) is cls
        assert str(copy) == str(error) and copy.args == error.args
        assert copy.violations == error.violations and copy.rules == error.rules
        assert copy.hint == "an attribute set after raising"  # type: ignore[attr-defined]
        if sys.version_info >= (3, 11):
            assert copy.__notes__ == ["a note"]


def test_base_error_pickles() -> None:
    copy = pickle.loads(pickle.dumps(DLPackError("some message")))
    assert type(copy) is DLPackError and str(copy) == "some message"


def test_raised_error_pickles() -> None:
    with pytest.raises(DLPackValidationError) as excinfo:
        od.validate(_X, dtype="float64", ndim=3)
    copy = pickle.loads(pickle.dumps(excinfo.value))
    assert str(copy) == str(excinfo.value)
    assert copy.rules == ("expect.dtype", "expect.ndim")


def test_error_crosses_a_process_pool() -> None:
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        future = pool.submit(od.validate, np.zeros((2, 3)), dtype="int8", ndim=3)
        with pytest.raises(DLPackValidationError) as excinfo:
            future.result(timeout=120)
    error = excinfo.value
    assert error.rules == ("expect.dtype", "expect.ndim")
    assert str(error).splitlines() == [
        "DLPack tensor failed validation (2 violations):",
        "  dtype: expected int8, got float64 [expect.dtype]",
        "  ndim: expected 3, got 2 [expect.ndim]",
    ]


###
# 5. Forced unwinds

_DAEMON_THREADS = """
import threading, time
import numpy as np
import optype_dlpack as od


class Producer:
    # __dlpack__ runs Python code, so a thread can be stopped (by the exiting interpreter)
    # while the extension waits for it
    def __init__(self):
        self.array = np.zeros((2, 3))

    def __dlpack_device__(self):
        return self.array.__dlpack_device__()

    def __dlpack__(self, **kwargs):
        total = 0
        for i in range(200):
            total += i
        return self.array.__dlpack__(**kwargs)


class Extent:
    # __index__ runs Python code while the constraints are read
    def __index__(self):
        total = 0
        for i in range(50):
            total += i
        return 3


class Shape:
    def __len__(self):
        return 2

    def __getitem__(self, i):
        if i >= 2:
            raise IndexError(i)
        return Extent()


passing = od.Expect(ndim=2)
failing = od.Expect(ndim=3, dtype="int8")


def make_expect(producer):
    # DLDevice's repr is Python code too
    repr(od.Expect(device=od.DLDevice(od.DLDeviceType.CPU, 0), shape=Shape()))


calls = [
    od.inspect,
    od.validate,
    lambda p: od.validate(p, dtype="int8"),
    lambda p: od.validate(p, shape=Shape()),
    passing.check,
    failing.check,
    passing.validate,
    failing.validate,
    make_expect,
]


def loop(call):
    producer = Producer()
    while True:
        try:
            call(producer)
        except od.DLPackValidationError:
            pass


for call in calls:
    for _ in range(2):
        threading.Thread(target=loop, args=(call,), daemon=True).start()
time.sleep(0.05)
"""


# CPython 3.10 itself can crash a daemon thread that wakes after finalization has freed the
# interpreter (take_gil reads the freed state): daemon threads running only Python code crash
# the same way, about one exit in ten on a 2-core machine. There a SIGSEGV is CPython's and is
# not counted; an abort, the failure of a reference dropped without the GIL, counts everywhere.
CPYTHONS_OWN_EXIT_CRASH = {-signal.SIGSEGV} if sys.version_info < (3, 11) else set()


def test_daemon_threads_do_not_abort_the_exit() -> None:
    runs = 20
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: run_code(_DAEMON_THREADS), range(runs)))
    failed = [
        result for result in results if result.returncode != 0 and result.returncode not in CPYTHONS_OWN_EXIT_CRASH
    ]
    assert not failed, (
        f"{len(failed)} of {runs} exits failed, exit codes {[r.returncode for r in failed]}; "
        f"first stderr:\n{failed[0].stderr[-2000:]}"
    )


###
# 6. No free-threading declaration


def test_module_does_not_declare_free_threading() -> None:
    source = (ROOT / "src_cpp" / "module.cpp").read_text(encoding="utf-8")
    (declaration,) = re.findall(r"^PYBIND11_MODULE\(.*$", source, flags=re.MULTILINE)
    assert declaration == "PYBIND11_MODULE(_core, m) {"

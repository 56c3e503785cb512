"""Threads, interpreter shutdown and signals, for every entry point.

The entry points are inspect, validate, Expect.check, from_dlpack, asdlpack, to_dlpack and
DLPackObject.__dlpack__. Four properties are checked:

1. Threads that share one capsule never consume it twice: when several threads race to
   from_dlpack the same capsule, exactly one gets the array, every other one gets an error
   naming a consumed capsule, and the producer's deleter runs exactly once. Threads that
   inspect or validate the capsule meanwhile never consume it. Shared producers hand every
   thread its own tensor.
2. Daemon threads that are inside an entry point when the interpreter exits are ended by
   CPython with a forced unwind through our C++ frames; the process still exits with 0.
3. SIGINT during a loop over an entry point raises KeyboardInterrupt promptly, every time
   (the loop survives 30 interrupts and dies of the 31st), and the
   process ends with the ordinary KeyboardInterrupt status.
4. After the races nothing stays alive: arrays die with their last reference, deleters ran
   once, the producers' reference counts are back where they started.

The shutdown, signal and first-import tests run this file as a script in a child process
(see `main` at the bottom), so that a crash fails one test instead of ending the session.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import importlib.util
import json
import os
import random
import select
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import optype_dlpack as od

if __name__ != "__main__":
    # Imported while the session collects, so that conftest's gc.freeze() moves its objects
    # out of the collector's sight. The child processes (this file run as a script) do
    # without: importing torch takes seconds.
    from tests.support.child import PACKAGE_PARENT, child_environment, run_python
    from tests.support.frameworks import needs, optional_import

    torch = optional_import("torch")
else:

    def needs(*names: str) -> pytest.MarkDecorator:  # the children collect no tests
        return pytest.mark.skipif(False, reason="")

THREADS = 8
ROUNDS = 60
ENTRY_POINTS = ("inspect", "validate", "Expect.check", "from_dlpack", "asdlpack", "to_dlpack", "DLPackObject.__dlpack__")
DAEMON_EXIT_RUNS = 20
SIGINT_ROUNDS = 30  # interrupts survived per child, each at a random moment of the loop
CHILD_TIMEOUT_S = 120.0  # a hung child fails its test instead of the whole session
SIGINT_GRACE_S = 10.0  # "promptly", with room for a loaded 2-core machine

_capsule_name = ctypes.pythonapi.PyCapsule_GetName
_capsule_name.restype = ctypes.c_char_p
_capsule_name.argtypes = [ctypes.py_object]


def capsule_name(capsule: object) -> str:
    name = _capsule_name(capsule)
    return name.decode() if name is not None else "<NULL>"


# ---------------------------------------------------------------------------------------
# Racing threads


@dataclass
class Outcome:
    """What one thread's call returned or raised."""

    value: Any = None
    error: BaseException | None = None


def race(calls: Sequence[Callable[[], object]]) -> list[Outcome]:
    """Runs each call in its own thread, all released together by a barrier, and returns
    their outcomes in order. Every exception is caught and returned, none escapes a thread."""
    barrier = threading.Barrier(len(calls))
    outcomes = [Outcome() for _ in calls]

    # Each thread sees only its own call and outcome: an error's traceback keeps its frame
    # alive, and that frame must not reach another thread's result (the array whose death
    # the tests watch).
    def run(call: Callable[[], object], outcome: Outcome) -> None:
        barrier.wait()
        try:
            outcome.value = call()
        except BaseException as error:  # noqa: BLE001 - returned to the test, which judges it
            outcome.error = error

    threads = [threading.Thread(target=run, args=pair) for pair in zip(calls, outcomes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(CHILD_TIMEOUT_S)
        assert not thread.is_alive(), "a racing thread hung"
    return outcomes


@pytest.fixture
def frequent_switches() -> Iterator[None]:
    """Lets the interpreter switch threads at (nearly) every chance, so a window between
    reading a capsule and taking it is found if there is one."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def assert_consumed_error(error: BaseException | None) -> None:
    """The error of a thread that lost the race for a capsule: it names the consumed capsule
    (DLPackConsumedError when the name was already used_*, BufferError when another thread
    took it in between)."""
    assert isinstance(error, (od.DLPackConsumedError, BufferError)), repr(error)
    assert "consumed" in str(error), str(error)


def the_one_array(outcomes: Sequence[Outcome]) -> np.ndarray:
    """Exactly one thread got an array; every other one lost the race."""
    winners = [o.value for o in outcomes if o.error is None]
    assert len(winners) == 1, f"{len(winners)} threads consumed the same capsule: {outcomes}"
    for outcome in outcomes:
        if outcome.error is not None:
            assert_consumed_error(outcome.error)
    assert isinstance(winners[0], np.ndarray)
    return winners[0]


# ---------------------------------------------------------------------------------------
# Capsules to share: each knows its expected values and counts how often its tensor was freed


@dataclass
class SharedCapsule:
    capsule: object
    expected: np.ndarray
    count_frees: Callable[[], Callable[[], int]]  # starts counting deleter runs from now
    used_name: str
    frees: Callable[[], int] = field(init=False)  # deleter runs since counting started


def refcount_frees(source: object) -> Callable[[], Callable[[], int]]:
    """Frees of a capsule whose deleter drops one reference to `source` (NumPy's exports
    and ours). Both counts are taken with the same holders of `source` (this closure), so
    the maker's local variables do not count. A second deleter call shows as 2."""

    def start() -> Callable[[], int]:
        held = sys.getrefcount(source)
        return lambda: held - sys.getrefcount(source)

    return start


def numpy_capsule(version: tuple[int, int] | None, seed: int) -> SharedCapsule:
    source = np.asarray(np.arange(24, dtype=np.float64).reshape(4, 6) * seed)
    capsule = source.__dlpack__(max_version=version) if version else source.__dlpack__()
    used = "used_dltensor_versioned" if version else "used_dltensor"
    return SharedCapsule(capsule, source.copy(), refcount_frees(source), used)


def torch_capsule(version: tuple[int, int] | None, seed: int) -> SharedCapsule:
    tensor = torch.arange(20, dtype=torch.int32).reshape(5, 4) * seed
    capsule = tensor.__dlpack__(max_version=version) if version else tensor.__dlpack__()
    used = "used_dltensor_versioned" if version else "used_dltensor"

    def start() -> Callable[[], int]:
        held = tensor._use_count()  # the capsule holds one use of the tensor until its deleter runs
        return lambda: held - tensor._use_count()

    return SharedCapsule(capsule, tensor.numpy().copy(), start, used)


def producer_capsule(cpp_producer: ModuleType, layout: str, seed: int) -> SharedCapsule:
    """The test producer's capsule over a NumPy array it keeps alive: its deleter is counted."""
    data = np.arange(12, dtype=np.int64).reshape(3, 4) * seed
    capsule = cpp_producer.make_capsule(
        data=data.ctypes.data, owner=data, shape=(3, 4), dtype=(0, 64, 1), layout=layout
    )
    used = "used_dltensor_versioned" if layout == "versioned" else "used_dltensor"

    def start() -> Callable[[], int]:
        before = cpp_producer.deleter_calls()
        return lambda: cpp_producer.deleter_calls() - before

    return SharedCapsule(capsule, data.copy(), start, used)


def own_capsule(dtype: str, seed: int) -> SharedCapsule:
    """to_dlpack's capsule (bfloat16 through ml_dtypes, already imported here)."""
    import ml_dtypes

    numpy_dtype = np.dtype(ml_dtypes.bfloat16) if dtype == "bfloat16" else np.dtype(dtype)
    source = (np.arange(10, dtype=np.float32) * seed - 3).astype(numpy_dtype)
    capsule = od.to_dlpack(source)
    return SharedCapsule(capsule, source.copy(), refcount_frees(source), "used_dltensor_versioned")


CAPSULE_KINDS = (
    "numpy-versioned",
    "numpy-legacy",
    pytest.param("torch-versioned", marks=needs("torch")),
    pytest.param("torch-legacy", marks=needs("torch")),
    "producer-versioned",
    "producer-legacy",
    "to_dlpack-bfloat16",
)


def make_shared_capsule(kind: str, cpp_producer: ModuleType, seed: int) -> SharedCapsule:
    maker, _, variant = kind.partition("-")
    version = (1, 0) if variant == "versioned" else None
    if maker == "numpy":
        shared = numpy_capsule(version, seed)
    elif maker == "torch":
        shared = torch_capsule(version, seed)
    elif maker == "producer":
        shared = producer_capsule(cpp_producer, variant, seed)
    else:
        shared = own_capsule(variant, seed)
    shared.frees = shared.count_frees()  # now that the maker's local references are gone
    return shared


def assert_freed_once_when_array_dies(shared: SharedCapsule, held: list[np.ndarray]) -> None:
    """The array (the only item of `held`, which hands over the last reference) owns the
    tensor: nothing is freed while it lives, the deleter runs exactly once when it dies, and
    nothing else keeps the array alive."""
    assert shared.frees() == 0, "the tensor was freed while an array still views it"
    dead = weakref.ref(held[0])
    held.clear()
    assert dead() is None, "the array outlived its last reference"
    assert shared.frees() == 1, f"the deleter ran {shared.frees()} times"


# ---------------------------------------------------------------------------------------
# 1. Threads sharing capsules and producers


@pytest.mark.parametrize("kind", CAPSULE_KINDS)
@pytest.mark.usefixtures("frequent_switches")
def test_threads_racing_for_one_capsule_consume_it_once(kind: str, tensors_freed: ModuleType) -> None:
    capsules = []
    for seed in range(ROUNDS):
        shared = make_shared_capsule(kind, tensors_freed, seed)
        capsules.append((shared, sys.getrefcount(shared.capsule)))
        outcomes = race([functools.partial(od.from_dlpack, shared.capsule)] * THREADS)
        held = [the_one_array(outcomes)]
        del outcomes
        np.testing.assert_array_equal(held[0], shared.expected)
        assert capsule_name(shared.capsule) == shared.used_name
        assert_freed_once_when_array_dies(shared, held)
    assert_capsules_released(capsules)


def assert_capsules_released(capsules: list[tuple[SharedCapsule, int]]) -> None:
    """Once the races' garbage is collected, nothing holds a capsule but its SharedCapsule:
    no error, traceback or array kept one."""
    gc.collect()
    for shared, references in capsules:
        now = sys.getrefcount(shared.capsule)  # outside the assert, whose rewriting holds one more
        assert now == references, "a reference to a capsule was leaked"


def readers_of(capsule: object) -> list[Callable[[], object]]:
    """Calls that only read a capsule: inspect, validate and Expect.check, passing and failing."""
    wrong_dtype = od.Expect(dtype="int8", ndim=1)
    return [
        functools.partial(od.inspect, capsule),
        functools.partial(od.validate, capsule, device="cpu", ndim=2),
        functools.partial(od.validate, capsule, dtype="complex64", shape=(1,)),  # fails: two violations
        functools.partial(od.Expect(device="cpu").check, capsule),
        functools.partial(wrong_dtype.check, capsule),  # fails
        functools.partial(od.Expect(ndim=2).validate, capsule),
    ]


def assert_reader_outcomes(outcomes: Sequence[Outcome], shared: SharedCapsule) -> None:
    """Each reader saw the whole tensor, or a constraint violation, or a consumed capsule;
    never a half-taken one."""
    for outcome in outcomes:
        if outcome.error is None:
            if isinstance(outcome.value, od.TensorInfo):
                assert outcome.value.shape == shared.expected.shape
            else:
                assert outcome.value is None  # Expect.check
        elif isinstance(outcome.error, od.DLPackConsumedError):
            assert_consumed_error(outcome.error)
        else:
            assert isinstance(outcome.error, od.DLPackValidationError), repr(outcome.error)
            assert outcome.error.rules and "capsule.consumed" not in outcome.error.rules


@pytest.mark.parametrize("kind", CAPSULE_KINDS)
@pytest.mark.usefixtures("frequent_switches")
def test_readers_racing_with_consumers_never_consume(kind: str, tensors_freed: ModuleType) -> None:
    capsules = []
    for seed in range(ROUNDS // 2):
        shared = make_shared_capsule(kind, tensors_freed, seed)
        capsules.append((shared, sys.getrefcount(shared.capsule)))
        readers = readers_of(shared.capsule)
        consumers = [functools.partial(od.from_dlpack, shared.capsule)] * (THREADS - len(readers) + 2)
        outcomes = race([*readers, *consumers])
        assert_reader_outcomes(outcomes[: len(readers)], shared)
        held = [the_one_array(outcomes[len(readers) :])]
        del outcomes, readers, consumers
        np.testing.assert_array_equal(held[0], shared.expected)
        assert_freed_once_when_array_dies(shared, held)
    assert_capsules_released(capsules)


@pytest.mark.parametrize("kind", CAPSULE_KINDS)
@pytest.mark.usefixtures("frequent_switches")
def test_threads_validating_a_capsule_leave_it_unconsumed(kind: str, tensors_freed: ModuleType) -> None:
    shared = make_shared_capsule(kind, tensors_freed, 3)
    name = capsule_name(shared.capsule)

    def read_many_times(call: Callable[[], object]) -> Callable[[], object]:
        def loop() -> None:
            for _ in range(50):
                try:
                    call()
                except od.DLPackConsumedError:
                    raise
                except od.DLPackValidationError:
                    pass  # the readers that ask for a wrong dtype or shape

        return loop

    outcomes = race([read_many_times(call) for call in readers_of(shared.capsule)] * 2)
    assert [o.error for o in outcomes] == [None] * len(outcomes)
    assert capsule_name(shared.capsule) == name, "validating a capsule renamed it"
    assert shared.frees() == 0, "validating a capsule freed its tensor"
    held = [od.from_dlpack(shared.capsule)]  # still consumable, exactly once
    np.testing.assert_array_equal(held[0], shared.expected)
    assert_freed_once_when_array_dies(shared, held)


class PythonProducer:
    """A producer written in Python: the interpreter may switch threads, deliver a signal or
    end a thread while one of our entry points is inside its methods."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def __dlpack__(
        self,
        *,
        stream: object = None,
        max_version: tuple[int, int] | None = None,
        dl_device: object = None,
        copy: bool | None = None,
    ) -> object:
        busy()
        return self.array.__dlpack__(stream=stream, max_version=max_version, dl_device=dl_device, copy=copy)

    def __dlpack_device__(self) -> tuple[int, int]:
        busy()
        return (1, 0)


def busy() -> int:
    """A little Python work: a few chances for the interpreter to switch threads."""
    return sum(i * i for i in range(16))


def calls_on_producer(x: object, expected: np.ndarray) -> list[Callable[[], object]]:
    """Every entry point, on one shared producer; each call checks what it got."""

    def consume() -> None:
        np.testing.assert_array_equal(od.from_dlpack(x), expected)

    def rewrap() -> None:
        np.testing.assert_array_equal(od.from_dlpack(od.asdlpack(x).__dlpack__(max_version=(1, 3))), expected)

    def describe() -> None:
        assert od.inspect(x).shape == expected.shape

    def constrain() -> None:
        assert od.validate(x, ndim=expected.ndim).shape == expected.shape
        od.Expect(shape=expected.shape).check(x)
        with pytest.raises(od.DLPackValidationError, match="ndim"):
            od.validate(x, ndim=expected.ndim + 1)

    return [consume, consume, rewrap, describe, constrain, consume, rewrap, constrain]


def shared_producers(cpp_producer: ModuleType) -> dict[str, tuple[object, np.ndarray, Callable[[], object]]]:
    """name -> (producer, its values, what must be back to its starting value afterwards)."""
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    producers: dict[str, tuple[object, np.ndarray, Callable[[], object]]] = {}
    if torch is not None:
        tensor = torch.arange(12, dtype=torch.float64).reshape(4, 3)
        producers["torch"] = (tensor, tensor.numpy().copy(), lambda: tensor._use_count())
    return producers | {
        "numpy": (array, array.copy(), lambda: sys.getrefcount(array)),
        "python": (PythonProducer(array), array.copy(), lambda: sys.getrefcount(array)),
        "test-producer": (
            cpp_producer.Producer(shape=(2, 5), dtype=(2, 32, 1), allocate=True),
            np.zeros((2, 5), np.float32),
            cpp_producer.live_tensors,
        ),
        "DLPackObject": (od.asdlpack(array), array.copy(), lambda: sys.getrefcount(array)),
    }


@pytest.mark.parametrize(
    "name", ["numpy", pytest.param("torch", marks=needs("torch")), "python", "test-producer", "DLPackObject"]
)
@pytest.mark.usefixtures("frequent_switches")
def test_threads_sharing_a_producer_each_get_their_own_tensor(name: str, tensors_freed: ModuleType) -> None:
    x, expected, balance = shared_producers(tensors_freed)[name]
    calls = calls_on_producer(x, expected)
    for _ in range(ROUNDS // 4):  # warm caches (exchange-API lookup, interned names) first
        for call in calls:
            call()
    gc.collect()
    start = balance()
    for _ in range(ROUNDS // 4):
        outcomes = race(calls)
        assert [o.error for o in outcomes] == [None] * len(outcomes)
    del outcomes
    gc.collect()
    assert balance() == start, "a tensor or a reference to the producer was leaked"


@pytest.mark.usefixtures("frequent_switches")
def test_threads_exporting_one_array_all_succeed(tensors_freed: ModuleType) -> None:
    """to_dlpack, asdlpack and DLPackObject.__dlpack__ on one array from many threads."""
    array = np.arange(30, dtype=np.int16).reshape(5, 6)
    wrapped = od.asdlpack(array)
    start = sys.getrefcount(array)

    def export() -> None:
        for capsule in (
            od.to_dlpack(array),
            od.to_dlpack(array, versioned=False),
            wrapped.__dlpack__(),
            od.asdlpack(array).__dlpack__(max_version=(1, 0)),
        ):
            np.testing.assert_array_equal(od.from_dlpack(capsule), array)

    for _ in range(ROUNDS // 4):
        outcomes = race([export] * THREADS)
        assert [o.error for o in outcomes] == [None] * THREADS
    del outcomes
    gc.collect()
    now = sys.getrefcount(array)  # outside the assert, whose rewriting holds one more
    assert now == start, "an export leaked a reference to the array"


# ---------------------------------------------------------------------------------------
# 1b. The first bfloat16 import: `import ml_dtypes` runs Python code between reading the
# capsule and taking it, so other threads run in that window. Only a fresh interpreter has
# not imported ml_dtypes yet.


def run_child(*arguments: str, timeout: float = CHILD_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """Runs this file as a script with the optype_dlpack the tests import."""
    return run_python(__file__, *arguments, timeout=timeout)


def assert_clean_exit(result: subprocess.CompletedProcess[str]) -> None:
    output = f"exit code {result.returncode}\nstdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
    assert "terminate called" not in result.stderr, output
    assert "Fatal Python error" not in result.stderr, output
    assert result.returncode == 0, output


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("producer", id="producer-1"),
        pytest.param("producer", id="producer-2"),
        pytest.param("torch", marks=needs("torch")),
    ],
)
def test_threads_racing_through_the_first_ml_dtypes_import_consume_once(source: str, cpp_producer: ModuleType) -> None:
    """One race per fresh interpreter (ml_dtypes is imported only once in each); twice for
    the test producer, whose deleter is counted."""
    result = run_child("first-import-race", source, str(cpp_producer.__file__))
    assert_clean_exit(result)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["ml_dtypes_imported_before"] is False, "ml_dtypes was imported before the race: nothing was tested"
    assert report["arrays"] == 1, report
    for error in report["errors"]:
        assert error["type"] in ("DLPackConsumedError", "BufferError"), report
        assert "consumed" in error["message"], report
    assert report["values"] == report["expected"], report
    assert report["frees_while_alive"] == 0, report
    assert report["frees_after"] == 1, report


def first_import_race(source: str, producer_path: str) -> None:
    """Child: 8 threads from_dlpack one bfloat16 capsule while ml_dtypes is first imported."""
    imported_before = "ml_dtypes" in sys.modules
    values = np.array([1.5, -2.0, 0.25, 3.0, -0.5, 8.0], dtype=np.float32)
    bits = (values.view(np.uint32) >> 16).astype(np.uint16)  # bfloat16: the top half of a float32
    if source == "torch":
        import torch

        tensor = torch.from_numpy(values).to(torch.bfloat16)
        capsule = tensor.__dlpack__(max_version=(1, 0))
        held = tensor._use_count()
        frees: Callable[[], int] = lambda: held - tensor._use_count()  # noqa: E731
    else:
        cpp_producer = load_module("dlpack_test_producer", producer_path)
        capsule = cpp_producer.make_capsule(data=bits.ctypes.data, owner=bits, shape=(6,), dtype=(4, 16, 1))
        frees = cpp_producer.deleter_calls
    imported_before = imported_before or "ml_dtypes" in sys.modules
    sys.setswitchinterval(1e-6)
    outcomes = race([functools.partial(od.from_dlpack, capsule)] * THREADS)
    arrays = [o.value for o in outcomes if o.error is None]
    report: dict[str, object] = {
        "ml_dtypes_imported_before": imported_before,
        "arrays": len(arrays),
        "errors": [{"type": type(o.error).__name__, "message": str(o.error)} for o in outcomes if o.error],
        "expected": bits.tolist(),
        "values": arrays[0].view(np.uint16).tolist() if len(arrays) == 1 else None,
        "frees_while_alive": frees(),
    }
    print(json.dumps(report), flush=True)  # seen even if freeing the arrays crashes
    del arrays, outcomes
    gc.collect()
    report["frees_after"] = frees()
    print(json.dumps(report), flush=True)


def load_module(name: str, path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------------------
# Work for the child processes: calls into each entry point through Python-level producers
# (Python code runs inside our C++ frames), failing checks (DLPackValidationError is built
# by Python code) and NumPy arrays (no Python code at all).


class PythonArrayInterface:
    """__array_interface__ computed by Python code."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    @property
    def __array_interface__(self) -> dict[str, object]:
        busy()
        return self.array.__array_interface__


class PythonBuffer:
    """The buffer protocol in Python code (Python 3.12+: __buffer__)."""

    def __init__(self, data: bytearray) -> None:
        self.data = data

    def __buffer__(self, flags: int, /) -> memoryview:
        busy()
        return memoryview(self.data)


def failing(error: type[BaseException], call: Callable[..., object], *args: object, **kwargs: object) -> Callable[[], None]:
    """A call that must raise `error` (anything else escapes, and shows in the child's stderr)."""

    def run() -> None:
        try:
            call(*args, **kwargs)
        except error:
            return
        raise AssertionError(f"{call!r} did not raise {error.__name__}")

    return run


def consumed_capsule(array: np.ndarray) -> object:
    capsule = array.__dlpack__(max_version=(1, 0))
    od.from_dlpack(capsule)  # the view dies at once: the capsule stays renamed, its tensor freed
    return capsule


def workloads(entry: str) -> list[Callable[[], object]]:
    """Calls into one entry point, each returning normally when it behaved."""
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    swapped = array.astype(array.dtype.newbyteorder())  # non-native byte order: no DLPack dtype
    python_producer = PythonProducer(array)
    call = functools.partial
    if entry == "inspect":
        return [
            call(od.inspect, python_producer),
            call(od.inspect, array),
            failing(od.DLPackConsumedError, od.inspect, consumed_capsule(array)),
        ]
    if entry == "validate":
        return [
            call(od.validate, python_producer, dtype="float32", shape=(3, 4)),
            failing(od.DLPackValidationError, od.validate, python_producer, dtype="int8", ndim=1),
            call(od.validate, array, ndim=2, layout="C"),
        ]
    if entry == "Expect.check":
        return [
            call(od.Expect(dtype="float32", ndim=2).check, python_producer),
            failing(od.DLPackValidationError, od.Expect(dtype="int8", shape=(2,)).check, python_producer),
            call(od.Expect(device="cpu").check, array),
        ]
    if entry == "from_dlpack":
        return [
            call(od.from_dlpack, python_producer),
            lambda: od.from_dlpack(array.__dlpack__(max_version=(1, 0))),
            call(od.from_dlpack, array),
            failing(od.DLPackConsumedError, od.from_dlpack, consumed_capsule(array)),
            failing(BufferError, od.from_dlpack, swapped),  # the message holds the dtype's repr()
        ]
    if entry == "asdlpack":
        return [
            call(od.asdlpack, python_producer),
            call(od.asdlpack, PythonArrayInterface(array)),
            call(od.asdlpack, array),
            failing(od.DLPackConsumedError, od.asdlpack, consumed_capsule(array)),
            failing(BufferError, od.asdlpack, swapped),
            failing(TypeError, od.asdlpack, object()),
        ]
    if entry == "to_dlpack":
        calls = [
            call(od.to_dlpack, array),
            call(od.to_dlpack, bytearray(64)),  # a memoryview: a collection may start inside
            failing(BufferError, od.to_dlpack, swapped),
        ]
        if sys.version_info >= (3, 12):
            calls.append(call(od.to_dlpack, PythonBuffer(bytearray(64))))
        return calls
    if entry == "DLPackObject.__dlpack__":
        wrapped_capsule = od.asdlpack(array.__dlpack__(max_version=(1, 0)))
        od.from_dlpack(wrapped_capsule)  # consumes the wrapped capsule
        return [
            od.asdlpack(python_producer).__dlpack__,  # forwarded to Python code
            call(od.asdlpack(PythonArrayInterface(array)).__dlpack__, max_version=(1, 0)),
            od.asdlpack(array).__dlpack__,
            failing(BufferError, od.asdlpack(array).__dlpack__, dl_device=(2, 0)),
            failing(BufferError, wrapped_capsule.__dlpack__),
        ]
    raise ValueError(f"unknown entry point {entry!r}")


# ---------------------------------------------------------------------------------------
# 2. Daemon threads inside every entry point when the interpreter exits


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_daemon_threads_inside_the_entry_point_at_exit(entry: str) -> None:
    result = run_child("daemon-exit", entry, str(DAEMON_EXIT_RUNS))
    lines = result.stdout.strip().splitlines()
    exit_codes = json.loads(lines[-1]) if result.returncode == 0 and lines else None
    distinct = "\n".join(dict.fromkeys(result.stderr.splitlines()))  # each message once, in order
    report = (
        f"driver exit code {result.returncode}; exit codes of the {DAEMON_EXIT_RUNS} runs (negative: killed by "
        f"that signal, -6 SIGABRT, -11 SIGSEGV): {exit_codes}\nstderr, each line once:\n{distinct[-4000:]}"
    )
    assert exit_codes == [0] * DAEMON_EXIT_RUNS, report
    assert "terminate called" not in result.stderr, report
    assert "Fatal Python error" not in result.stderr, report
    assert "Exception in thread" not in result.stderr, report


class Cycle:
    """Cyclic garbage whose finalizer runs Python code: a collection that starts while a
    thread is inside one of our functions (an allocation there can start one) runs Python
    code inside our frames, where the interpreter may end the thread at exit."""

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        busy()


def loop_forever(call: Callable[[], object], started: threading.Event) -> None:
    call()
    started.set()
    while True:
        call()


def make_garbage_forever(started: threading.Event) -> None:
    started.set()
    while True:
        Cycle()
        busy()


def exit_with_daemons_inside(entry: str) -> None:
    """Starts daemon threads that loop over the entry point, waits until each made a call,
    and returns: the caller then lets the interpreter exit under them."""
    gc.set_threshold(20)  # frequent collections: finalizers run inside our frames too
    sys.setswitchinterval(1e-4)  # threads start and take turns quickly
    calls = workloads(entry)
    events = [threading.Event() for _ in range(len(calls) + 1)]
    for call, started in zip(calls, events):
        threading.Thread(target=loop_forever, args=(call, started), daemon=True).start()
    threading.Thread(target=make_garbage_forever, args=(events[-1],), daemon=True).start()
    for started in events:
        assert started.wait(10.0), "a daemon thread never completed its first call"
    time.sleep(random.uniform(0.0, 0.02))


def daemon_exit_runs(entry: str, runs: int) -> bool:
    """Forks `runs` children that exit with daemon threads inside `entry`, and prints their
    exit codes. Forking reuses this process's imports, so a run costs milliseconds, and each
    child still ends through the interpreter's ordinary exit. Returns True in a child."""
    codes = []
    for _ in range(runs):
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            exit_with_daemons_inside(entry)
            return True
        _, status = os.waitpid(pid, 0)
        codes.append(os.waitstatus_to_exitcode(status))
    print(json.dumps(codes), flush=True)
    return False


# ---------------------------------------------------------------------------------------
# 3. SIGINT during a long loop over each entry point


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_sigint_interrupts_a_loop_over_the_entry_point(entry: str) -> None:
    returncode, stderr = interrupt_child(entry, SIGINT_ROUNDS)
    assert "terminate called" not in stderr, stderr[-4000:]
    assert "Fatal Python error" not in stderr, stderr[-4000:]
    assert stderr.rstrip().endswith("KeyboardInterrupt"), stderr[-4000:]
    assert returncode == -signal.SIGINT, f"exit code {returncode}\n{stderr[-4000:]}"


def interrupt_child(entry: str, rounds: int) -> tuple[int, str]:
    """Starts a child looping over `entry` and interrupts it `rounds` + 1 times, each time
    at a random moment once it loops again; the child survives the first `rounds`
    KeyboardInterrupts and dies of the last. Returns its exit code and stderr. A signal that
    does not raise KeyboardInterrupt within SIGINT_GRACE_S fails the test."""
    child = subprocess.Popen(
        [sys.executable, __file__, "sigint", entry, str(rounds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_environment(),
        cwd=PACKAGE_PARENT,
    )
    assert child.stdout is not None
    try:
        for signal_number in range(rounds + 1):
            # The first line may take an import's time; later ones only the signal's.
            wait = CHILD_TIMEOUT_S if signal_number == 0 else SIGINT_GRACE_S
            readable, _, _ = select.select([child.stdout], [], [], wait)
            line = child.stdout.readline() if readable else ""
            if line.strip() != f"looping {signal_number}":
                child.kill()
                _, stderr = child.communicate()
                what = "never started looping" if signal_number == 0 else f"swallowed SIGINT number {signal_number}"
                pytest.fail(f"the loop over {entry} {what} (got {line!r}):\n{stderr[-4000:]}")
            time.sleep(random.uniform(0.005, 0.05))
            child.send_signal(signal.SIGINT)
        try:
            _, stderr = child.communicate(timeout=SIGINT_GRACE_S)
        except subprocess.TimeoutExpired:
            child.kill()
            _, stderr = child.communicate()
            pytest.fail(f"the last SIGINT did not end the loop over {entry} within {SIGINT_GRACE_S} s:\n{stderr[-4000:]}")
        return child.returncode, stderr
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()


def loop_until_interrupted(entry: str, rounds: int) -> None:
    """Child: calls the entry point over and over. The first `rounds` KeyboardInterrupts
    are caught (an interrupted call must leave everything usable, so the loop goes on);
    the next one ends the process the ordinary way."""
    calls = workloads(entry)
    for call in calls:
        call()
    for signal_number in range(rounds + 1):
        print(f"looping {signal_number}", flush=True)
        try:
            while True:
                for call in calls:
                    call()
        except KeyboardInterrupt:
            if signal_number == rounds:
                raise


# ---------------------------------------------------------------------------------------
# The child processes


def main(argv: list[str]) -> None:
    mode, *arguments = argv
    if mode == "daemon-exit":
        daemon_exit_runs(arguments[0], int(arguments[1]))
    elif mode == "sigint":
        loop_until_interrupted(arguments[0], int(arguments[1]))
    elif mode == "first-import-race":
        first_import_race(arguments[0], arguments[1])
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])

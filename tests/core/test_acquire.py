"""How producers are asked for their tensors: one negotiation for the validator and the importer.

Each test names the safety property it holds the negotiation to: keyword fallbacks that reach
producers of every age, the stream a reading consumer must pass explicitly, an exchange-API
table chain that is walked with a bound and never through an implausible address, no
exponential retries, producer exceptions that propagate, no Python code run while an
exception is set, and a capsule taken by exactly one consumer. Cases that would crash or hang
the interpreter run in a child process, so they fail instead of stopping the test session.
"""

from __future__ import annotations

import ctypes
import gc
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from optype_dlpack import Expect, from_dlpack, inspect, validate
from tests.support.capsules import new_capsule
from tests.support.child import last_json, run_code
from tests.support.dlpack_h import (
    DELETER,
    DLTENSOR_FROM_PY_OBJECT,
    KDL_CPU,
    KDL_CUDA,
    KDL_FLOAT,
    MANAGED_TENSOR_FROM_PY_OBJECT,
    DLDataType,
    DLDevice,
    DLManagedTensorVersioned,
    DLPackExchangeAPI,
    DLPackExchangeAPIHeader,
    DLPackVersion,
    DLTensor,
    address_of,
)
from tests.support.frameworks import needs

FAR = 0x7F00_1234_5000  # a plausible address that nothing reads (verify_device="skip")
CHILD_TIMEOUT = 60  # seconds; the failures these children catch are hangs and crashes


def run_child(code: str, **env: str) -> dict[str, Any]:
    """Runs `code` in a fresh interpreter; returns the JSON it prints last. A crash, a hang or
    any output on stderr fails the test with what the child said."""
    result: dict[str, Any] = last_json(run_code(code, env=env, timeout=CHILD_TIMEOUT), quiet=True)
    return result


# ---------------------------------------------------------------------------------------
# Keyword fallbacks and the stream argument


class NoArguments:
    """A producer from before DLPack's stream keyword: __dlpack__ takes no arguments."""

    def __init__(self, make: Callable[[], object]) -> None:
        self.make = make
        self.calls = 0

    def __dlpack__(self) -> object:
        self.calls += 1
        return self.make()

    def __dlpack_device__(self) -> tuple[int, int]:
        return (KDL_CPU, 0)


def test_no_argument_producer_is_read_by_validate_and_from_dlpack(tensors_freed: ModuleType) -> None:
    def make() -> object:
        return tensors_freed.make_capsule(shape=[3], allocate=True)

    checked = NoArguments(make)
    assert validate(checked, shape=(3,), dtype="float32").shape == (3,)
    assert checked.calls == 1  # the keyword calls were refused before the method ran
    imported = NoArguments(make)
    assert from_dlpack(imported).tolist() == [0.0, 0.0, 0.0]
    assert imported.calls == 1
    gc.collect()
    assert tensors_freed.deleter_calls() == 2


class Recorder:
    """Records the keywords of each __dlpack__ call; `stream` defaults to -1, as torch's does."""

    def __init__(self, make: Callable[[], object], device: tuple[int, int] = (KDL_CPU, 0)) -> None:
        self.make = make
        self.device = device
        self.calls: list[dict[str, object]] = []

    def __dlpack__(self, *, stream: object = -1, **kwargs: object) -> object:
        self.calls.append({"stream": stream, **kwargs})
        return self.make()

    def __dlpack_device__(self) -> tuple[int, int]:
        return self.device


def test_from_dlpack_passes_stream_none_explicitly(tensors_freed: ModuleType) -> None:
    # The host reads the data at once: the producer must synchronise (stream=None). Leaving the
    # keyword out would let this producer, like torch >= 2.10, default to -1 (no synchronisation).
    recorder = Recorder(lambda: tensors_freed.make_capsule(shape=[2], allocate=True))
    from_dlpack(recorder)
    assert recorder.calls == [{"stream": None, "max_version": (1, 3)}]


def test_validate_passes_the_stream_of_a_reader_that_never_reads(tensors_freed: ModuleType) -> None:
    host = Recorder(lambda: tensors_freed.make_capsule(shape=[2], allocate=True))
    validate(host)
    assert host.calls == [{"stream": None, "max_version": (1, 3)}]
    device = Recorder(lambda: tensors_freed.make_capsule(device=(KDL_CUDA, 0), shape=[2], data=FAR), (KDL_CUDA, 0))
    validate(device, verify_device="skip")
    assert device.calls == [{"stream": -1, "max_version": (1, 3)}]  # -1: do not synchronise


def test_keyword_fallback_goes_from_both_keywords_to_stream_to_none(tensors_freed: ModuleType) -> None:
    class Refuses:
        def __init__(self) -> None:
            self.calls = 0

        def __dlpack__(self, **kwargs: object) -> object:
            self.calls += 1
            raise TypeError(f"refused {sorted(kwargs)}")

    for consumer in (validate, inspect, from_dlpack):
        refuses = Refuses()
        with pytest.raises(TypeError, match=r"refused \[\]"):
            consumer(refuses)
        assert refuses.calls == 3


# ---------------------------------------------------------------------------------------
# Producer exceptions


def test_attribute_error_inside_dlpack_device_propagates(tensors_freed: ModuleType) -> None:
    class Broken:
        def __dlpack__(self, **kwargs: object) -> object:
            return tensors_freed.make_capsule(shape=[1], allocate=True)

        def __dlpack_device__(self) -> tuple[int, int]:
            raise AttributeError("the device handle went away")

    for consumer in (validate, inspect, Expect(ndim=1).check):
        with pytest.raises(AttributeError, match="the device handle went away"):
            consumer(Broken())
    assert tensors_freed.deleter_calls() == 0  # __dlpack__ was never asked


def test_a_type_without_dlpack_device_is_tolerated(tensors_freed: ModuleType) -> None:
    class NoDevice:
        def __dlpack__(self, **kwargs: object) -> object:
            return tensors_freed.make_capsule(shape=[1], allocate=True)

    assert validate(NoDevice()).shape == (1,)  # the capsule alone decides


def test_attribute_error_inside_dlpack_propagates(tensors_freed: ModuleType) -> None:
    class Broken:
        def __dlpack__(self, **kwargs: object) -> object:
            raise AttributeError("no such buffer")

    for consumer in (validate, from_dlpack):
        with pytest.raises(AttributeError, match="no such buffer"):
            consumer(Broken())


class Recursing:
    """Reports a CUDA device (so the validator asks with stream=-1) and validates itself from
    inside __dlpack__, down to `depth` levels, where it raises RecursionError as the
    interpreter would."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.level = 0
        self.calls = 0

    def __dlpack_device__(self) -> tuple[int, int]:
        return (KDL_CUDA, 0)

    def __dlpack__(self, **kwargs: object) -> object:
        self.calls += 1
        if self.level == self.depth:
            raise RecursionError("maximum recursion depth exceeded")
        self.level += 1
        try:
            return validate(self)
        finally:
            self.level -= 1


def test_recursion_error_is_never_retried() -> None:
    producer = Recursing(depth=10)
    with pytest.raises(RecursionError):
        validate(producer)
    assert producer.calls == 11  # one call per level; a retry at each level would make 2047


def test_real_recursion_into_validate_ends_in_linear_calls() -> None:
    outcome = run_child(
        """
        import json, sys
        from optype_dlpack import validate

        class Recursing:
            calls = 0
            def __dlpack_device__(self):
                return (2, 0)
            def __dlpack__(self, **kwargs):
                Recursing.calls += 1
                return validate(self)

        sys.setrecursionlimit(150)
        try:
            validate(Recursing())
        except RecursionError:
            error = "RecursionError"
        print(json.dumps({"error": error, "calls": Recursing.calls}))
        """
    )
    assert outcome["error"] == "RecursionError"
    assert 0 < outcome["calls"] <= 150


# ---------------------------------------------------------------------------------------
# No Python code runs while an exception is set


def test_missing_dlpack_is_looked_up_once_and_device_on_the_type() -> None:
    class Probe:
        def __init__(self) -> None:
            self.lookups: list[str] = []

        def __getattr__(self, name: str) -> object:
            self.lookups.append(name)
            raise AttributeError(name)

    for consumer in (validate, inspect, from_dlpack):
        probe = Probe()
        with pytest.raises(TypeError, match="expected a DLPack capsule or an object with __dlpack__, got Probe"):
            consumer(probe)
        # one lookup of __dlpack__, none made while its AttributeError was pending, and
        # __dlpack_device__ decided on the type, where __getattr__ is never consulted
        assert probe.lookups == ["__dlpack__"]


@pytest.mark.parametrize("value", [[1, 2, 3], None, 1.5, "text"], ids=repr)
def test_non_dlpack_objects_raise_nothing_unraisable(monkeypatch: pytest.MonkeyPatch, value: object) -> None:
    # Python 3.13 reports "Exception ignored in PyObject_HasAttr()" when an attribute lookup
    # runs with an exception set; earlier versions hide it.
    unraisable: list[str] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda report: unraisable.append(repr(report.exc_value)))
    for consumer in (validate, inspect, from_dlpack):
        with pytest.raises(TypeError, match="expected a DLPack capsule or an object with __dlpack__"):
            consumer(value)
    assert unraisable == []


# ---------------------------------------------------------------------------------------
# The DLPack C exchange API, built with ctypes


class TableProducer:
    """An exchange table whose functions hand out a float32 vector [0, 1, 2, 3] on `device`
    (host memory of its own) and count what they did; the tables in front of it in a chain
    are other major versions."""

    def __init__(self, device: tuple[int, int] = (KDL_CPU, 0)) -> None:
        self.device = device
        self.memory = (ctypes.c_float * 4)(0.0, 1.0, 2.0, 3.0)
        self.shape = (ctypes.c_int64 * 1)(4)
        self.strides = (ctypes.c_int64 * 1)(1)
        self.exports = 0
        self.deleted = 0
        self.live: list[DLManagedTensorVersioned] = []
        # The callbacks live as long as the tables that hold their addresses.
        self.deleter = DELETER(self._delete)
        self.from_object = MANAGED_TENSOR_FROM_PY_OBJECT(self._managed)
        self.tensor_from_object = DLTENSOR_FROM_PY_OBJECT(self._tensor)
        self.table = DLPackExchangeAPI()
        self.table.header.version = DLPackVersion(1, 3)
        self.table.managed_tensor_from_py_object_no_sync = address_of(self.from_object)
        self.table.dltensor_from_py_object_no_sync = address_of(self.tensor_from_object)
        self.chain: list[DLPackExchangeAPIHeader] = []

    def _fill(self, tensor: DLTensor) -> None:
        tensor.data = ctypes.addressof(self.memory)
        tensor.device = DLDevice(*self.device)
        tensor.ndim = 1
        tensor.dtype = DLDataType(KDL_FLOAT, 32, 1)
        tensor.shape = self.shape
        tensor.strides = self.strides
        tensor.byte_offset = 0

    def _managed(self, _obj: int, out: Any) -> int:
        self.exports += 1
        managed = DLManagedTensorVersioned()
        managed.version = DLPackVersion(1, 3)
        managed.deleter = address_of(self.deleter)
        self._fill(managed.dl_tensor)
        self.live.append(managed)
        out[0] = ctypes.addressof(managed)
        return 0

    def _tensor(self, _obj: int, out: int) -> int:
        self.exports += 1
        self._fill(DLTensor.from_address(out))
        return 0

    def _delete(self, managed: int | None) -> None:
        self.deleted += 1

    def newest(self, links: int) -> int:
        """The address of a chain of `links` tables of major 2 in front of the real one."""
        previous = ctypes.addressof(self.table.header)
        self.chain = []
        for _ in range(links):
            header = DLPackExchangeAPIHeader(DLPackVersion(2, 0), previous)
            self.chain.append(header)
            previous = ctypes.addressof(header)
        return ctypes.addressof(self.chain[-1]) if links else ctypes.addressof(self.table)


def producer_class(
    address: int, make: Callable[[], object], *, form: str = "int"
) -> tuple[type, list[dict[str, object]]]:
    """A producer type publishing `address` as its exchange API (the DLPack 1.2 integer or
    the 1.3 capsule), and the list of the keywords of each of its __dlpack__ calls."""
    calls: list[dict[str, object]] = []

    def __dlpack__(self: object, **kwargs: object) -> object:
        calls.append(kwargs)
        return make()

    attributes: dict[str, object] = {"__dlpack__": __dlpack__}
    if form == "int":
        attributes["__c_dlpack_exchange_api__"] = address
    else:
        attributes["__dlpack_c_exchange_api__"] = capsule_at(address)
    return type("TableBacked", (), attributes), calls


_API_NAME = ctypes.create_string_buffer(b"dlpack_exchange_api")


def capsule_at(address: int) -> object:
    return new_capsule(address, ctypes.cast(_API_NAME, ctypes.c_char_p), None)


@pytest.mark.parametrize("links", [0, 1, 16])
@pytest.mark.parametrize("form", ["int", "capsule"])
def test_exchange_table_within_the_bound_is_used(tensors_freed: ModuleType, links: int, form: str) -> None:
    tables = TableProducer()
    cls, calls = producer_class(
        tables.newest(links), lambda: tensors_freed.make_capsule(shape=[4], allocate=True), form=form
    )
    assert validate(cls(), shape=(4,)).shape == (4,)  # an owned tensor
    Expect(shape=(4,)).check(cls())  # a borrowed DLTensor
    assert from_dlpack(cls()).tolist() == [0.0, 1.0, 2.0, 3.0]
    gc.collect()
    assert (tables.exports, tables.deleted) == (3, 2)
    assert calls == []


def test_exchange_table_beyond_the_bound_is_not_used(tensors_freed: ModuleType) -> None:
    tables = TableProducer()
    cls, calls = producer_class(tables.newest(17), lambda: tensors_freed.make_capsule(shape=[4], allocate=True))
    assert validate(cls()).shape == (4,)
    assert from_dlpack(cls()).tolist() == [0.0, 0.0, 0.0, 0.0]  # the test producer's zeros
    assert tables.exports == 0
    assert len(calls) == 2


def test_host_read_of_a_device_tensor_from_the_table_asks_dlpack_with_stream_none(
    tensors_freed: ModuleType,
) -> None:
    tables = TableProducer(device=(KDL_CUDA, 0))
    cls, calls = producer_class(tables.newest(0), lambda: tensors_freed.make_capsule(shape=[4], allocate=True))
    assert from_dlpack(cls()).tolist() == [0.0, 0.0, 0.0, 0.0]
    assert (tables.exports, tables.deleted) == (1, 1)  # released at once, unread
    assert calls == [{"stream": None, "max_version": (1, 3)}]


# A table remembered from an earlier call fills a DLTensor that Expect checks without a Source:
# what it accepts and refuses, and every message, must be what validate() (which always takes
# the full path, asking for an owned tensor) says of the same tensor.


class ChangingTable(TableProducer):
    """A TableProducer whose DLTensor export is changed by `change` before it is handed out,
    and which fails (returns -1 and sets no exception) while `failing` is true."""

    def __init__(self) -> None:
        super().__init__()
        self.change: Callable[[DLTensor], None] = lambda tensor: None
        self.failing = False
        self.square_shape = (ctypes.c_int64 * 2)(2, 2)
        self.f_strides = (ctypes.c_int64 * 2)(1, 2)

    def _fill(self, tensor: DLTensor) -> None:
        super()._fill(tensor)
        self.change(tensor)

    def _tensor(self, obj: int, out: int) -> int:
        if self.failing:
            self.exports += 1
            return -1
        return super()._tensor(obj, out)


def remembered_producer(tensors_freed: ModuleType) -> tuple[ChangingTable, object]:
    """A producer whose type's exchange table is remembered: one check has been made."""
    tables = ChangingTable()
    cls, calls = producer_class(tables.newest(0), lambda: tensors_freed.make_capsule(shape=[4], allocate=True))
    producer = cls()
    Expect(dtype="float32").check(producer)
    assert calls == []
    tables.exports = 0
    return tables, producer


def outcome_of(call: Callable[[], object]) -> str:
    """The message of the ValueError the call raises, or "passed"."""
    try:
        call()
    except ValueError as error:
        return str(error)
    return "passed"


def test_remembered_table_is_asked_once_per_passing_check(tensors_freed: ModuleType) -> None:
    tables, producer = remembered_producer(tensors_freed)
    for _ in range(3):
        Expect(dtype="float32", shape=(4,), layout="C").check(producer)
    assert tables.exports == 3
    assert tables.deleted == 0  # borrowed tensors: nothing to release


def square(table: ChangingTable, t: DLTensor) -> None:
    t.ndim, t.shape, t.strides = 2, table.square_shape, table.f_strides  # 2 x 2, Fortran order


def set_field(name: str, value: object) -> Callable[[ChangingTable, DLTensor], None]:
    return lambda table, t: setattr(t, name, value)


CHANGES: dict[str, Callable[[ChangingTable, DLTensor], None]] = {
    "dtype": set_field("dtype", DLDataType(KDL_FLOAT, 64, 1)),
    "shape and layout": square,
    "NULL strides": set_field("strides", None),
    "negative extent": lambda table, t: table.shape.__setitem__(0, -4),
    "NULL data": set_field("data", None),
    "negative device type": set_field("device", DLDevice(-5, 0)),
    "CPU device id": set_field("device", DLDevice(KDL_CPU, 3)),
    "ndim above the bound": set_field("ndim", 2000),
    "offset past the address space": set_field("byte_offset", 2**63),
    # what a declared device and dtype decide in one test (the quick path's pinned values)
    "no lanes": set_field("dtype", DLDataType(KDL_FLOAT, 32, 0)),
    "two lanes": set_field("dtype", DLDataType(KDL_FLOAT, 32, 2)),
    "unknown dtype code": set_field("dtype", DLDataType(200, 32, 1)),
    "invalid float width": set_field("dtype", DLDataType(KDL_FLOAT, 24, 1)),
    "CUDA device": set_field("device", DLDevice(KDL_CUDA, 0)),
    "negative device id": set_field("device", DLDevice(KDL_CPU, -1)),
    "unknown device type": set_field("device", DLDevice(63, 0)),
}

# Without a declared device and dtype, and with both (then the quick path tests them, and the
# plainness of the values, in one comparison: expect.hpp's pinned_values_met)
REFUSAL_CONSTRAINTS: dict[str, dict[str, Any]] = {
    "dtype, shape, layout": {"dtype": "float32", "shape": (4,), "layout": "C"},
    "device and dtype pinned": {"device": "cpu", "dtype": "float32", "shape": (4,), "layout": "C"},
}


@pytest.mark.parametrize("declared", list(REFUSAL_CONSTRAINTS))
@pytest.mark.parametrize("change", list(CHANGES))
def test_remembered_table_refusals_are_those_of_the_full_path(
    tensors_freed: ModuleType, change: str, declared: str
) -> None:
    tables, producer = remembered_producer(tensors_freed)
    tables.change = lambda tensor: CHANGES[change](tables, tensor)
    constraints = REFUSAL_CONSTRAINTS[declared]
    try:
        checked = outcome_of(lambda: Expect(**constraints).check(producer))
        full = outcome_of(lambda: validate(producer, **constraints))
    finally:
        tables.shape[0] = 4
    assert checked == full


CONSTRAINT_SETS: list[dict[str, Any]] = [
    {},
    {"device": "cpu", "dtype": "float32", "ndim": 1, "shape": (4,), "layout": "C"},
    {"shape": (None,), "layout": "F"},
    {"device": "cuda"},
    {"device": "cpu:1"},
    {"dtype": "int32"},
    {"ndim": 2},
    {"shape": (5,)},
    {"shape": (4, 1)},
    {"dtype": "float64", "ndim": 0, "shape": (2, 2), "device": "cuda:0"},
    {"verify_device": "skip"},
    {"verify_device": "require"},
]


@pytest.mark.parametrize("constraints", CONSTRAINT_SETS, ids=str)
def test_remembered_table_constraints_are_judged_as_by_the_full_path(
    tensors_freed: ModuleType, constraints: dict[str, Any]
) -> None:
    _, producer = remembered_producer(tensors_freed)

    assert outcome_of(lambda: Expect(**constraints).check(producer)) == outcome_of(
        lambda: validate(producer, **constraints)
    )


def test_remembered_table_failure_raises(tensors_freed: ModuleType) -> None:
    tables, producer = remembered_producer(tensors_freed)
    tables.failing = True
    with pytest.raises(BufferError, match="the exchange API failed without an error"):
        Expect(dtype="float32").check(producer)
    assert tables.exports == 1  # a failing table is not asked again
    tables.failing = False
    Expect(dtype="float32").check(producer)


def test_remembered_table_binds_checked_symbols(tensors_freed: ModuleType) -> None:
    from typing import Annotated

    from optype_dlpack import Spec, checked

    tables, producer = remembered_producer(tensors_freed)

    @checked
    def pair(a: Annotated[object, Spec(dtype="float32", shape=("n",))], b: Annotated[object, Spec(shape=("n",))]) -> int:
        return 1

    assert pair(producer, producer) == 1
    assert tables.exports == 2
    other = ChangingTable()
    other.shape[0] = 3
    other_cls, _ = producer_class(other.newest(0), lambda: None)
    with pytest.raises(ValueError, match="n = 4"):
        pair(producer, other_cls())


CHILD_TABLES = """
import ctypes, json, sys
import numpy as np
from optype_dlpack import Expect, from_dlpack, validate
from tests.support.capsules import new_capsule
from tests.support.dlpack_h import DLPackExchangeAPIHeader as Header, DLPackVersion as Version

NAME = ctypes.create_string_buffer(b"dlpack_exchange_api")

def producer(attribute, value):
    def dlpack(self, **kwargs):
        return np.arange(3, dtype=np.float32).__dlpack__(**kwargs)
    return type("P", (), {"__dlpack__": dlpack, attribute: value})()

def read_all(obj):
    return [validate(obj).shape[0], Expect(ndim=1).validate(obj).shape[0], len(from_dlpack(obj))]
"""


def test_cyclic_exchange_chains_end() -> None:
    outcome = run_child(
        CHILD_TABLES
        + """
a, b, c = Header(Version(2, 0)), Header(Version(2, 0)), Header(Version(0, 9))
a.prev_api, b.prev_api = ctypes.addressof(b), ctypes.addressof(a)  # a -> b -> a
c.prev_api = ctypes.addressof(c)  # c -> c
results = {}
for name, table in (("two-cycle", a), ("self-loop", c)):
    for attribute, value in (
        ("__c_dlpack_exchange_api__", ctypes.addressof(table)),
        ("__dlpack_c_exchange_api__", new_capsule(ctypes.addressof(table), NAME, None)),
    ):
        results[f"{name} {attribute}"] = read_all(producer(attribute, value))
print(json.dumps(results))
"""
    )
    assert outcome and all(shapes == [3, 3, 3] for shapes in outcome.values()), outcome


def test_implausible_table_addresses_are_not_read() -> None:
    outcome = run_child(
        CHILD_TABLES
        + """
misaligned = ctypes.create_string_buffer(64)
results = {}
for value in (16, 1, 4095, ctypes.addressof(misaligned) + 4, -1, -4096, 2**64 + 4096, 2**80, True):
    results[f"int {value}"] = read_all(producer("__c_dlpack_exchange_api__", value))
for value in (16, 1, 4095, ctypes.addressof(misaligned) + 4):
    results[f"capsule {value}"] = read_all(producer("__dlpack_c_exchange_api__", new_capsule(value, NAME, None)))
# a chain whose link leads somewhere implausible
old = Header(Version(2, 0))
for link in (16, 8, ctypes.addressof(misaligned) + 4):
    old.prev_api = link
    results[f"link {link}"] = read_all(producer("__c_dlpack_exchange_api__", ctypes.addressof(old)))
print(json.dumps(results))
"""
    )
    assert outcome and all(shapes == [3, 3, 3] for shapes in outcome.values()), outcome


# ---------------------------------------------------------------------------------------
# One taker per capsule


@needs("torch")
def test_capsule_taken_by_another_consumer_during_import_is_not_taken_twice(cpp_producer: ModuleType) -> None:
    # from_dlpack of a bfloat16 capsule imports ml_dtypes after reading the capsule and before
    # taking it; an import hook takes the same capsule (with torch) in that window. Exactly
    # one consumer may own the tensor, and its deleter must run exactly once.
    outcome = run_child(
        """
        import gc, importlib.util, json, os, sys
        import torch.utils.dlpack
        from optype_dlpack import from_dlpack

        spec = importlib.util.spec_from_file_location("dlpack_test_producer", os.environ["PRODUCER"])
        cpp_producer = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(cpp_producer)
        assert "ml_dtypes" not in sys.modules, "the window under test is the first import of ml_dtypes"

        capsule = cpp_producer.make_capsule(dtype=(4, 16, 1), shape=[4], allocate=True)
        taken = []

        class TakeDuringImport:
            def find_spec(self, name, path=None, target=None):
                if name == "ml_dtypes" and not taken:
                    taken.append(torch.utils.dlpack.from_dlpack(capsule))
                return None

        sys.meta_path.insert(0, TakeDuringImport())
        try:
            imported = from_dlpack(capsule)
            error = None
        except Exception as exc:
            imported, error = None, f"{type(exc).__name__}: {exc}"
        owners = len(taken) + (imported is not None)
        del taken[:], imported, capsule
        gc.collect()
        print(json.dumps({"owners": owners, "error": error, "deleter_calls": cpp_producer.deleter_calls(),
                          "live": cpp_producer.live_tensors()}))
        """,
        PRODUCER=cpp_producer.__file__,
    )
    assert outcome["owners"] == 1, outcome
    # Refused; with from_dlpack checking take()'s result: "BufferError: the capsule was
    # consumed by another consumer while it was being imported; nothing was taken".
    assert outcome["error"] is not None, outcome
    assert (outcome["deleter_calls"], outcome["live"]) == (1, 0), outcome


@needs("torch")
def test_subclass_overriding_dlpack_is_asked_not_its_base_exchange_table() -> None:
    # torch.Tensor publishes a C exchange table; a subclass that overrides __dlpack__ without
    # publishing its own must be asked through its own method, by every entry point.
    import torch

    class Refusing(torch.Tensor):
        def __dlpack__(self, *args: object, **kwargs: object) -> object:
            raise BufferError("this subclass does not export")

    class Plain(torch.Tensor):
        pass

    base = torch.arange(3.0)
    refusing = base.as_subclass(Refusing)
    for entry_point in (inspect, validate, from_dlpack, Expect(ndim=1).check):
        with pytest.raises(BufferError, match="does not export"):
            entry_point(refusing)
    assert validate(base.as_subclass(Plain)).shape == (3,)
    assert from_dlpack(base.as_subclass(Plain)).tolist() == [0.0, 1.0, 2.0]

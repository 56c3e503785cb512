"""atheris harness over the Python entry points: inspect, validate, Expect(...).check,
from_dlpack and asdlpack, fed random capsules, producers and constraints.

Every call must return, or raise one of the documented classes (ValueError, which
DLPackValidationError is, TypeError, BufferError, OverflowError) or the very exception a
producer of this harness raised. Anything else, an invariant broken (a capsule renamed by a
reader, a tensor freed twice or never, a reference leaked), a crash or a hang is a finding.

Capsules are built with ctypes. Every pointer in them is NULL or points into memory this
harness owns; `data` covers every byte the tensor addresses whenever the tensor is small
enough to allocate ("backed"), and only backed tensors go to from_dlpack, which reads them.

The input is read by `read_plan`: first the fixed fields of FIELDS, then one byte per
extent and per stride. make_corpus.py writes seeds in the same layout.

Run it through run_python_fuzzer.py, which restarts it after a finding; directly:
    python tests/fuzz/python_fuzzer.py CORPUS_DIR [libFuzzer flags]
"""

from __future__ import annotations

import ctypes
import importlib.util
import struct
import sys
import types
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# --- the input -----------------------------------------------------------------------------

#: The fixed fields, in input order, one byte each unless a struct format says otherwise.
FIELDS: tuple[tuple[str, str], ...] = (
    ("name", "B"),  # the capsule's name: see VALUES
    ("name_bytes", "6s"),  # ... when that says "custom"
    ("memory", "B"),  # the struct behind it: see VALUES ("named" follows the name)
    ("major", "B"),
    ("minor", "B"),
    ("flags", "B"),
    ("device_type", "B"),
    ("device_id", "B"),
    ("code", "B"),
    ("bits", "B"),
    ("lanes", "B"),
    ("ndim", "B"),
    ("byte_offset", "B"),
    ("pointers", "B"),  # bit 0: shape; bit 1: strides; bits 2-3 data: NULL, backed, 16 bytes, 16 bytes
    ("target", "B"),  # what the entry points get: see make_target
    ("results", "4s"),  # what a producer's successive __dlpack__ calls do: see RESULTS
    ("device_reply", "B"),  # what its __dlpack_device__ does: see device_reply
    ("signature", "B"),  # which __dlpack__ signature it has
    ("exchange", "6s"),  # the exchange-API table chain: see make_exchange_api
    ("constraints", "7s"),  # one index per validate() keyword: see CONSTRAINT_VALUES
    ("copy", "B"),  # from_dlpack's copy=
    ("export", "4s"),  # the keywords of DLPackObject.__dlpack__: see export_keywords
)
HEADER = struct.Struct("<" + "".join(fmt for _, fmt in FIELDS))

#: What a field's byte selects: bytes below 0xC0 the first (valid, common) value, the others
#: any value by their index. So most fields of a random input describe a valid tensor.
VALUES: dict[str, tuple[Any, ...]] = {
    "name": (b"dltensor_versioned", b"dltensor", b"used_dltensor_versioned", b"used_dltensor",
             b"dlpack_exchange_api", None, "custom"),
    "memory": ("named", "legacy", "versioned"),
    "major": (1, 0, 2, 255, 256, 2**32 - 1),
    "minor": (3, 0, 1, 2, 4, 255, 256, 2**32 - 1),
    "flags": (0, 1, 2, 4, 3, 8, 1 << 63),
    "device_type": (1, 2, 3, 13, 0, 19, 2**31 - 1, -1),
    "device_id": (0, 1, 2, -1, 2**31 - 1),
    "code": (2, 0, 1, 4, 5, 6, 10, 17, 3, 18, 255),
    "bits": (32, 8, 16, 64, 1, 4, 6, 2, 128, 0, 3, 255),
    "lanes": (1, 2, 4, 0, 65535),
    "ndim": (2, 0, 1, 3, 4, 5, 6, -1, 1024, 1025, 2**31 - 1, -(2**31)),
    "byte_offset": (0, 1, 3, 8, 2**40, 2**63 - 1, 2**63, 2**64 - 1),
    "pointers": (0b0111, *range(16)),
}  # fmt: skip
VERSIONED_NAMES = (b"dltensor_versioned", b"used_dltensor_versioned")
MAX_EXTENTS = 1025  # one more than kMaxNdim: the core must refuse longer shapes unread
BIG = (-1, -2, 2**31, 2**32 + 1, 2**40, 2**62, 2**63 - 1, -(2**63))


def pick(options: tuple[Any, ...], index: int) -> Any:
    return options[index % len(options)]


def choose(values: tuple[Any, ...], byte: int) -> Any:
    return values[0] if byte < 0xC0 else pick(values, byte)


def extent(byte: int) -> int:
    """0-4 for most bytes; a large or negative edge for the top 16."""
    return byte % 5 if byte < 0xF0 else pick(BIG, byte)


def stride(byte: int, compact_stride: int) -> int:
    """The compact stride for half the bytes; -6..6 or an edge for the others."""
    return compact_stride if byte < 0x80 else extent(byte) if byte >= 0xF0 else byte % 13 - 6


@dataclass
class Plan:
    """Everything one run does, read up front from the input."""

    fields: dict[str, Any]
    shape: list[int]
    strides: list[int]


def read_plan(data: bytes) -> Plan:
    """The fixed fields, then one byte per extent and one per stride."""
    head = data[: HEADER.size].ljust(HEADER.size, b"\0")
    fields = dict(zip((name for name, _ in FIELDS), HEADER.unpack(head)))
    fields.update({name: choose(values, fields[name]) for name, values in VALUES.items()})
    count = min(max(fields["ndim"], 0), MAX_EXTENTS)
    rest = data[HEADER.size :].ljust(2 * count, b"\0")
    shape = [extent(b) for b in rest[:count]]
    strides = [stride(b, s) for b, s in zip(rest[count : 2 * count], compact(shape))]
    return Plan(fields, shape, strides)


# --- DLPack structs and capsules ----------------------------------------------------------


def _load_dlpack_h() -> types.ModuleType:
    """tests/support/dlpack_h.py, by path: this harness runs as a script, outside the test
    package, and must not import optype_dlpack before atheris instruments it (dlpack_h
    imports nothing but ctypes until its codes are asked for)."""
    path = Path(__file__).resolve().parent.parent / "support" / "dlpack_h.py"
    spec = importlib.util.spec_from_file_location("dlpack_h", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


dlpack_h = _load_dlpack_h()
DLDevice, DLDataType, DLTensor = dlpack_h.DLDevice, dlpack_h.DLDataType, dlpack_h.DLTensor
DLPackVersion, DLManagedTensor, DLManagedTensorVersioned = (
    dlpack_h.DLPackVersion,
    dlpack_h.DLManagedTensor,
    dlpack_h.DLManagedTensorVersioned,
)
DLPackExchangeAPI, DELETER, address_of = dlpack_h.DLPackExchangeAPI, dlpack_h.DELETER, dlpack_h.address_of
FROM_OBJECT, DLTENSOR_FROM_OBJECT = dlpack_h.MANAGED_TENSOR_FROM_PY_OBJECT, dlpack_h.DLTENSOR_FROM_PY_OBJECT


capsule_new = ctypes.pythonapi.PyCapsule_New
capsule_new.restype = ctypes.py_object
capsule_new.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
capsule_name = ctypes.pythonapi.PyCapsule_GetName
capsule_name.restype = ctypes.c_void_p  # the pointer: a NULL name reads as None
capsule_name.argtypes = (ctypes.py_object,)
capsule_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
capsule_get_pointer.restype = ctypes.c_void_p
capsule_get_pointer.argtypes = (ctypes.py_object, ctypes.c_void_p)


def name_of(capsule: object) -> bytes | None:
    address = capsule_name(capsule)
    return None if address is None else ctypes.string_at(address)


class Case:
    """One run: the tensor it describes, the memory behind it, and the deleter's accounting."""

    current: Case | None = None  # the run the ctypes callbacks serve

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.keep: list[object] = []  # ctypes memory the capsules point into
        self.handed: Counter[int] = Counter()  # managed tensors whose ownership went to the core
        self.deleted: Counter[int] = Counter()
        self.capsules: list[tuple[object, bytes | None]] = []  # and the name each was made with
        self.raised: list[BaseException] = []  # exceptions this harness's producers raised
        self.backed = False
        self.tensor = self.make_tensor()

    def make_tensor(self) -> DLTensor:
        f, plan = self.plan.fields, self.plan
        t = DLTensor()
        t.device = DLDevice(f["device_type"], f["device_id"])
        t.dtype = DLDataType(f["code"], f["bits"], f["lanes"])
        t.ndim = f["ndim"]
        t.byte_offset = f["byte_offset"]
        if f["pointers"] & 1:
            t.shape = dlpack_h.as_int64_pointer(self.array(plan.shape))
        if f["pointers"] & 2:
            t.strides = dlpack_h.as_int64_pointer(self.array(plan.strides))
        t.data = self.data_pointer(t, f["pointers"] >> 2 & 3)
        return t

    def array(self, values: list[int]) -> int:
        memory = (ctypes.c_int64 * len(values))(*(v if -(2**63) <= v < 2**63 else -1 for v in values))
        self.keep.append(memory)
        return ctypes.addressof(memory)

    def data_pointer(self, t: DLTensor, choice: int) -> int | None:
        if choice == 0:
            return None
        addressed = byte_extent(self.plan, t, padded=self.plan.fields["flags"] & 4 != 0)
        if choice == 1 and addressed is not None and addressed[1] - addressed[0] <= 1 << 20:
            low, high = addressed
            memory = ctypes.create_string_buffer(max(high - low, 1))
            self.keep.append(memory)
            self.backed = ctypes.addressof(memory) - low > 0
            if self.backed:
                return ctypes.addressof(memory) - low
        memory = ctypes.create_string_buffer(16)
        self.keep.append(memory)
        return ctypes.addressof(memory)

    def managed(self, versioned: bool) -> int:
        """A fresh managed tensor over the one DLTensor; its address."""
        f = self.plan.fields
        m: DLManagedTensorVersioned | DLManagedTensor
        if versioned:
            m = DLManagedTensorVersioned()
            m.version = DLPackVersion(f["major"], f["minor"])
            m.flags = f["flags"]
        else:
            m = DLManagedTensor()
        m.dl_tensor = self.tensor
        m.deleter = address_of(on_delete)
        self.keep.append(m)
        return ctypes.addressof(m)

    def capsule(self, *, legacy: bool = False) -> object:
        """A fresh capsule as the input describes it (`legacy`: a plain legacy one instead)."""
        f = self.plan.fields
        name = f["name_bytes"].split(b"\0")[0] if f["name"] == "custom" else f["name"]
        name = b"dltensor" if legacy else name
        name_memory = None if name is None else ctypes.create_string_buffer(name)
        self.keep.append(name_memory)
        memory = "legacy" if legacy else f["memory"]
        address = self.managed(versioned=memory == "versioned" or memory == "named" and name in VERSIONED_NAMES)
        capsule = capsule_new(address, None if name_memory is None else ctypes.addressof(name_memory), None)
        self.capsules.append((capsule, name))
        return capsule

    def hand_over(self) -> int:
        """A managed tensor whose ownership passes to the caller (exchange API)."""
        address = self.managed(versioned=True)
        self.handed[address] += 1
        return address

    def check_ownership(self) -> None:
        """After every result died: each tensor taken was freed exactly once, no other one."""
        for capsule, name in self.capsules:
            if name_of(capsule) != name:  # renamed to used_*: consumed, so owed a deleter call
                self.handed[capsule_pointer(capsule)] += 1
            require(sys.getrefcount(capsule) == 3, "no reference to a capsule outlives the calls")
        require(self.deleted == self.handed, f"deleters: ran {dict(self.deleted)}, owed {dict(self.handed)}")


def capsule_pointer(capsule: object) -> int:
    return int(capsule_get_pointer(capsule, capsule_name(capsule)))


@DELETER
def on_delete(address: int) -> None:
    if Case.current is not None:
        Case.current.deleted[address] += 1


def byte_extent(plan: Plan, t: DLTensor, *, padded: bool) -> tuple[int, int] | None:
    """The bytes [low, high) the tensor addresses relative to data, or None if it is not readable."""
    shape = plan.shape
    if not 0 <= t.ndim <= 64 or len(shape) != t.ndim or any(n < 0 for n in shape):
        return None
    strides = plan.strides if plan.fields["pointers"] & 2 else compact(shape)
    bits = t.dtype.bits * t.dtype.lanes
    unit = 8 * -(-bits // 8) if bits >= 8 or padded else bits
    if 0 in shape:
        return t.byte_offset, t.byte_offset
    low = sum(min(0, (n - 1) * s) for n, s in zip(shape, strides))
    high = sum(max(0, (n - 1) * s) for n, s in zip(shape, strides)) + 1
    return t.byte_offset + low * unit // 8, t.byte_offset - (-high * unit // 8)


def compact(shape: list[int]) -> list[int]:
    out, step = [], 1
    for n in reversed(shape):
        out.append(step)
        step *= max(n, 1)
    return out[::-1]


# --- producers -------------------------------------------------------------------------------


class ProducerError(Exception):
    """What a producer of this harness raises on its own account."""


RESULTS = ("capsule", "capsule", "capsule", "TypeError", "RuntimeError", "BufferError", "ProducerError", "None", "int", "legacy capsule")


def dlpack_result(case: Case, index: int) -> object:
    kind = pick(RESULTS, case.plan.fields["results"][index % 4])
    if kind == "capsule":
        return case.capsule()
    if kind == "legacy capsule":  # what a pre-1.0 producer returns even when asked for max_version
        return case.capsule(legacy=True)
    if kind == "None":
        return None
    if kind == "int":
        return 7
    error = {"TypeError": TypeError, "RuntimeError": RuntimeError, "BufferError": BufferError}.get(kind, ProducerError)(
        "raised by the fuzz producer"
    )
    case.raised.append(error)
    raise error


def device_reply(case: Case) -> Any:
    t, choice = case.tensor, case.plan.fields["device_reply"] % 8
    replies = {
        0: (t.device.device_type, t.device.device_id),
        1: (t.device.device_type, t.device.device_id),
        2: (1, 0),
        3: (2, 5),
        4: [1, 0],
        5: (1, 0, 0),
        6: (2**40, 0),
    }
    if choice in replies:
        return replies[choice]
    error = ProducerError("__dlpack_device__ failed")
    case.raised.append(error)
    raise error


def make_producer_type(case: Case, *, with_exchange: bool) -> type:
    calls = iter(range(1 << 30))

    def full(self: object, *, stream: Any = None, max_version: Any = None, dl_device: Any = None, copy: Any = None) -> object:
        return dlpack_result(case, next(calls))

    def legacy(self: object, stream: Any = None) -> object:
        return dlpack_result(case, next(calls))

    def dlpack_device(self: object) -> Any:
        return device_reply(case)

    signature = case.plan.fields["signature"] % 3
    namespace: dict[str, Any] = {"__dlpack__": (full, legacy, full)[signature]}
    if signature != 2:  # the third kind has no __dlpack_device__
        namespace["__dlpack_device__"] = dlpack_device
    if with_exchange:
        namespace.update(make_exchange_api(case))
    return type("FuzzProducer", (), namespace)


@FROM_OBJECT
def managed_from_object(obj: int, out: Any) -> int:
    case = Case.current
    if case is None or case.plan.fields["exchange"][4] % 3 == 0:
        return -1
    out[0] = None if case.plan.fields["exchange"][4] % 3 == 1 else case.hand_over()
    return 0


@DLTENSOR_FROM_OBJECT
def dltensor_from_object(obj: int, out: int) -> int:
    case = Case.current
    if case is None or case.plan.fields["exchange"][5] % 2 == 0:
        return -1
    ctypes.memmove(out, ctypes.addressof(case.tensor), ctypes.sizeof(DLTensor))
    return 0


def make_exchange_api(case: Case) -> dict[str, Any]:
    """A chain of 1-4 tables (versions and prev_api links from the input; cycles included),
    offered as a capsule (1.3) or an address (1.2)."""
    spec = case.plan.fields["exchange"]
    count = 1 + spec[0] % 4
    tables = (DLPackExchangeAPI * count)()
    case.keep.append(tables)
    for i, table in enumerate(tables):
        table.header.version = DLPackVersion((spec[1] >> (2 * i)) % 3, 3)  # majors 0, 1, 2
        link = (spec[2] >> (2 * i)) % 4  # the index of the previous table; beyond count: NULL
        table.header.prev_api = ctypes.addressof(tables[link]) if link < count else None
        table.managed_tensor_from_py_object_no_sync = address_of(managed_from_object)
        if spec[3] & (1 << i):
            table.dltensor_from_py_object_no_sync = address_of(dltensor_from_object)
    address = ctypes.addressof(tables[0])
    if spec[3] & 0x80:
        return {"__c_dlpack_exchange_api__": address}
    name = b"dlpack_exchange_api" if spec[3] & 0x40 == 0 else b"dltensor"
    return {"__dlpack_c_exchange_api__": capsule_new(address, name, None)}


# --- what the entry points get --------------------------------------------------------------


TYPESTRS = ("<f4", "|u1", "<i8", ">f4", "|b1", "<c8", "<V4", "|O", "x")


class ArrayInterface:
    """Host memory described by __array_interface__ (version 3), over a buffer that holds every
    byte the description addresses: asdlpack's exports may copy it."""

    def __init__(self, case: Case) -> None:
        typestr = pick(TYPESTRS, case.plan.fields["code"])
        itemsize = int(typestr[2:]) if typestr[2:].isdigit() else 8
        shape = [n if n < 0 else min(n, 4) for n in case.plan.shape[:4]]
        strides: list[int] | None = [s * itemsize for s in case.plan.strides[: len(shape)]]
        low = sum(min(0, (n - 1) * s) for n, s in zip(shape, strides or ()))
        high = sum(max(0, (n - 1) * s) for n, s in zip(shape, strides or ())) + itemsize
        if not case.plan.fields["pointers"] & 2 or high - low > 1 << 20:
            strides, low, high = None, 0, itemsize * 4**4
        memory = ctypes.create_string_buffer(high - low)
        case.keep.append(memory)
        self.__array_interface__ = {
            "shape": tuple(shape),
            "typestr": typestr,
            "data": (ctypes.addressof(memory) - low, bool(case.plan.fields["flags"] & 1)),
            "strides": None if strides is None else tuple(strides),
            "version": pick((3, 3, 3, 2, 4), case.plan.fields["signature"]),
        }


def make_target(case: Case) -> object:
    choice = case.plan.fields["target"] % 6
    if choice == 0:
        return case.capsule()
    if choice in (1, 2):
        return make_producer_type(case, with_exchange=choice == 2)()
    if choice == 3:
        return ArrayInterface(case)
    if choice == 4:
        return bytearray(case.plan.fields["name_bytes"])
    return pick((None, 3, "dltensor", b"x", object()), case.plan.fields["signature"])


# --- keywords ------------------------------------------------------------------------------

CONSTRAINT_VALUES: dict[str, tuple[Any, ...]] = {
    "device": (None, "cpu", "cuda:1", (1, 0), (2, 0), "bogus", 3, ("cpu",), (2**40, 0)),
    "dtype": (None, "float32", "int8", "bfloat16", (2, 32, 1), (2, 32), (99, 1, 1), "floatx", 3.5, (2, 300, 1)),
    "ndim": (None, 0, 1, 2, -1, 1025, True, "2", 2**70),
    "shape": (None, (2, 3), (None, 3), (), (-1,), [2, "x"], "ab", (2**70,), (None,) * 3),
    "writable": (None, True, False, 1),
    "layout": (None, "C", "F", "any", "A", "c", "x", 3),
    "verify_device": ("auto", "require", "skip", "bogus", None),
}


def constraints(case: Case) -> dict[str, Any]:
    indexes = case.plan.fields["constraints"]
    chosen = {key: pick(values, indexes[i]) for i, (key, values) in enumerate(CONSTRAINT_VALUES.items())}
    return {key: value for key, value in chosen.items() if value is not None or key == "verify_device"}


def export_keywords(case: Case) -> dict[str, Any]:
    spec = case.plan.fields["export"]
    options = {
        "stream": (None, -1, 0, 1, 2, "s"),
        "max_version": (None, (1, 3), (1, 0), (0, 8), (2, 0), (1,), "x"),
        "dl_device": (None, (1, 0), (2, 0), (1, 1), "cpu"),
        "copy": (None, True, False, 2),
    }
    return {key: pick(values, spec[i]) for i, (key, values) in enumerate(options.items()) if spec[i] % 8 != 7}


# --- one run -------------------------------------------------------------------------------


class Finding(AssertionError):
    """A broken invariant; atheris reports it and saves the input."""


def require(holds: bool, invariant: str) -> None:
    if not holds:
        raise Finding(invariant)


DOCUMENTED = (ValueError, TypeError, BufferError, OverflowError)


def call(case: Case, function: Any, *args: Any, **kwargs: Any) -> tuple[Any, BaseException | None]:
    """Calls an entry point: a result, or a documented exception (or a producer's own)."""
    try:
        return function(*args, **kwargs), None
    except Exception as error:
        if not (isinstance(error, DOCUMENTED) or any(error is raised for raised in case.raised)):
            raise Finding(f"{getattr(function, '__name__', function)} raised {type(error).__name__}: {error}") from error
        forget_frames(error)
        return None, error


def forget_frames(error: BaseException | None) -> None:
    """Drops an error's tracebacks: their frames would keep the arguments (capsules) alive."""
    while error is not None:
        error.__traceback__ = None
        error = error.__context__


def rules(error: BaseException | None) -> object:
    return getattr(error, "rules", type(error))


def run(case: Case) -> None:
    """Every entry point on one target; the results stay alive (as locals) until it returns."""
    x = make_target(case)
    is_capsule = type(x).__name__ == "PyCapsule"
    name = name_of(x) if is_capsule else None

    info, error = call(case, od.inspect, x)
    if info is not None and is_capsule:
        t = case.tensor
        require(info.shape == tuple(case.plan.shape) and len(info.strides) == info.ndim == t.ndim, "inspect: shape")
        require(info.dtype == (t.dtype.code, t.dtype.bits, t.dtype.lanes), "inspect: dtype")
        require((info.version is None) == (name == b"dltensor"), "inspect: version of a legacy capsule")

    keywords = constraints(case)
    expect, _ = call(case, od.Expect, **keywords)
    _, validate_error = call(case, od.validate, x, **keywords)
    if expect is not None:
        _, check_error = call(case, expect.check, x)
        if is_capsule:
            require(rules(check_error) == rules(validate_error), "Expect.check and validate agree on a capsule")
    if is_capsule:
        require(name_of(x) == name, "readers never rename a capsule")

    target = case.plan.fields["target"] % 6
    if (target <= 2 and case.backed) or target >= 4:  # from_dlpack reads the data
        array, error = call(case, od.from_dlpack, x, copy=pick((None, True, False, 2), case.plan.fields["copy"]))
        if is_capsule and error is not None:
            require(name_of(x) == name, "from_dlpack leaves a capsule it refused unconsumed")

    wrapped, _ = call(case, od.asdlpack, x)
    if wrapped is not None:
        call(case, wrapped.__dlpack_device__)
        keywords = export_keywords(case)
        if target <= 2 and not case.backed:
            keywords.pop("copy", None)  # a copy reads the data
        exported, _ = call(case, wrapped.__dlpack__, **keywords)
        if exported is not None:
            described, error = call(case, od.inspect, exported)
            if target in (3, 4):  # sources asdlpack describes itself
                require(error is None, f"asdlpack exports valid capsules: {error}")


def test_one_input(data: bytes) -> None:
    case = Case(read_plan(data))
    Case.current = case
    try:
        run(case)  # its results die when it returns: the deleters owed have run then
        case.check_ownership()
    finally:
        Case.current = None


od: Any = None  # optype_dlpack, imported by main() under atheris' instrumentation


def main() -> None:
    import atheris

    global od
    with atheris.instrument_imports():
        import optype_dlpack as od  # its Python layer gives coverage feedback too
    import numpy  # noqa: F401  (from_dlpack imports it: keep that out of the first run)

    sys.unraisablehook = unraisable
    for function in harness_functions():  # the choices an input makes count as coverage
        atheris.instrument_func(function)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


def harness_functions() -> list[types.FunctionType]:
    found = [f for f in globals().values() if isinstance(f, types.FunctionType) and f.__module__ == __name__]
    return found + [f for f in vars(Case).values() if isinstance(f, types.FunctionType)]


def unraisable(report: Any) -> None:
    """An exception swallowed in a deleter or destructor is a finding too."""
    print(f"unraisable exception in {report.object!r}: {report.exc_type.__name__}: {report.exc_value}", file=sys.stderr)
    sys.stderr.flush()
    import os

    os.abort()


if __name__ == "__main__":
    main()

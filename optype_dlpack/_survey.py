"""The DLPack compatibility matrix: every installed producer × every consumer × a grid of arrays.

``python -m optype_dlpack._survey [--format text|json|markdown] [--merge OTHER.json]``

Each framework is one ``Adapter`` in ``ADAPTERS``: Python source that imports it, makes its
array from a NumPy array ``a`` (``make``), and imports a producer ``x`` with its own
``from_dlpack`` (``consume``). The cases (``CASES``) are NumPy expressions. Every producer runs
in a child process, cell by cell; a cell that kills the child (torch aborts on negative
strides; ``import tensorflow`` before ``import paddle`` segfaults) or hangs is recorded as
``crash``/``timeout`` and the child restarts after it, so the survey itself never crashes.

What one cell (producer, consumer, case) measures:

- ``exported``: the consumer returned an array (else ``refused``, with the exception);
- ``zero_copy``: the result's data pointer (``inspect`` of its own export) equals the producer's;
- ``values``: the result's elements equal the case's, byte for byte;
- ``writable``: a read-only source (a read-only NumPy array, a capsule flagged READ_ONLY, an
  immutable framework's array) shared zero-copy must not come back writable;
- ``deleter``: only for the producer ``counting`` (``optype_dlpack.testing.CapsuleProducer``,
  whose deleter counts its calls): once the result is released, every tensor exported was
  deleted exactly once (other producers' deleters cannot be observed from Python).

``run`` exits 1 when a producer fails ``check_producer`` or a cell fails (values, writability,
deleter, crash, timeout); refusals are reported, not failures.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import importlib.util
import json
import queue
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

if TYPE_CHECKING:
    from ._protocols import CanDLPackCompat

__all__ = ["ADAPTERS", "CASES", "FINDINGS", "Adapter", "Case", "Finding", "add_arguments", "run", "survey"]


@dataclass(frozen=True, slots=True)
class Adapter:
    """One framework: how to make its array from NumPy's ``a``, how it imports a producer ``x``."""

    name: str
    module: str  # the import whose absence means "not installed"
    distributions: tuple[str, ...]  # where its version is read
    setup: str  # statements run once (imports)
    make: str | None  # expression over `a` (a NumPy array): this framework's array; None: no producer
    consume: str | None  # expression over `x` (a producer): this framework's array; None: no consumer
    writable: str | None = None  # expression over `y` (its array): whether it may be written; None: unknown
    device: str = "cpu"


ADAPTERS: Final[tuple[Adapter, ...]] = (
    Adapter("numpy", "numpy", ("numpy",), "import numpy as np", "a", "np.from_dlpack(x)", "y.flags.writeable"),
    Adapter("counting", "optype_dlpack.testing", ("optype-dlpack",),
            "from optype_dlpack._survey import CountingExport", "CountingExport(a)", None, "y.writable"),
    Adapter("optype_dlpack", "optype_dlpack", ("optype-dlpack",), "import optype_dlpack",
            "optype_dlpack.asdlpack(a)", "optype_dlpack.from_dlpack(x)", "y.flags.writeable"),
    Adapter("torch", "torch", ("torch",), "import torch\nfrom optype_dlpack._survey import torch_from_numpy",
            "torch_from_numpy(a)", "torch.from_dlpack(x)", "True"),
    Adapter("jax", "jax", ("jax",), "import jax\njax.config.update('jax_enable_x64', True)\nimport jax.numpy as jnp",
            "jnp.asarray(a)", "jnp.from_dlpack(x)", "False"),
    # paddle before tensorflow: a child imports its consumers in this order, and `import paddle`
    # after `import tensorflow` kills the process (the tensorflow producer's row shows it)
    Adapter("paddle", "paddle", ("paddlepaddle", "paddlepaddle-gpu"), "import paddle",
            "paddle.to_tensor(a)", "paddle.from_dlpack(x)", "True"),
    Adapter("tensorflow", "tensorflow", ("tensorflow-cpu", "tensorflow"), "import tensorflow as tf",
            "tf.constant(a)", "tf.experimental.dlpack.from_dlpack(x.__dlpack__())", "False"),
    Adapter("pyarrow", "pyarrow", ("pyarrow",), "import pyarrow as pa",
            "pa.Tensor.from_numpy(a)", "pa.Tensor.from_dlpack(x)", "False"),
    Adapter("mlx", "mlx.core", ("mlx", "mlx-cpu"), "import mlx.core as mx", "mx.array(a)", "mx.from_dlpack(x)"),
    Adapter("array_api_strict", "array_api_strict", ("array-api-strict",), "import array_api_strict as xp",
            "xp.asarray(a)", "xp.from_dlpack(x)", "y._array.flags.writeable"),
    Adapter("tvm_ffi", "tvm_ffi", ("apache-tvm-ffi",), "import tvm_ffi",
            "tvm_ffi.from_dlpack(a)", "tvm_ffi.from_dlpack(x)"),
    Adapter("pydlpack", "dlpack", ("pydlpack",), "import dlpack", "dlpack.asdlpack(a)", None),
    Adapter("dask", "dask.array", ("dask",), "import dask.array as da", "da.from_array(a)", None),
    Adapter("cupy", "cupy", ("cupy", "cupy-cuda12x", "cupy-cuda13x"), "import cupy as cp",
            "cp.asarray(a)", "cp.from_dlpack(x)", "True", device="cuda"),
    Adapter("torch_cuda", "torch", ("torch",),
            "import torch\nassert torch.cuda.is_available(), 'no CUDA device'\n"
            "from optype_dlpack._survey import torch_from_numpy",
            "torch_from_numpy(a).cuda()", "torch.from_dlpack(x)", "True", device="cuda"),
    Adapter("numba_cuda", "numba.cuda", ("numba-cuda", "numba"), "from numba import cuda",
            "cuda.to_device(a)", None, device="cuda"),
)


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    expression: str  # a NumPy array, given `np` and `ml_dtypes`


def _dtype_case(name: str, dtype: str) -> Case:
    return Case(name, f"np.arange(6).reshape(2, 3).astype({dtype})")


CASES: Final[tuple[Case, ...]] = (
    _dtype_case("float32", "np.float32"),
    _dtype_case("float64", "np.float64"),
    _dtype_case("float16", "np.float16"),
    _dtype_case("bfloat16", "ml_dtypes.bfloat16"),
    _dtype_case("float8_e4m3fn", "ml_dtypes.float8_e4m3fn"),
    _dtype_case("float8_e5m2", "ml_dtypes.float8_e5m2"),
    _dtype_case("int8", "np.int8"),
    _dtype_case("int64", "np.int64"),
    _dtype_case("uint8", "np.uint8"),
    _dtype_case("bool", "bool"),
    _dtype_case("complex64", "np.complex64"),
    _dtype_case("complex128", "np.complex128"),
    Case("0-d", "np.array(3.5, dtype=np.float32)"),
    Case("empty", "np.zeros((0, 3), dtype=np.float32)"),
    Case("non-contiguous", "np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::2]"),
    Case("transposed", "np.arange(6, dtype=np.float32).reshape(2, 3).T"),
    Case("negative-strides", "np.arange(6, dtype=np.float32)[::-1]"),
    Case("read-only", "read_only(np.arange(6, dtype=np.float32))"),
    Case("broadcast", "np.broadcast_to(np.arange(3, dtype=np.float32), (2, 3))"),
)
CONFORMANCE_CASE: Final = "float32"  # the array check_producer is run on
FAILING: Final = frozenset({"FAIL", "crash", "timeout", "error"})
CELL_TIMEOUT_S: Final = 120.0  # no line from the child for this long: the cell hangs


# -- helpers the adapters' source uses (imported by the child) -------------------------------


def read_only(array: Any) -> Any:
    array.flags.writeable = False
    return array


def torch_from_numpy(array: Any) -> Any:
    """torch's tensor of a NumPy array; ml_dtypes types (which torch.from_numpy refuses) through
    their bits, reinterpreted as torch's type of the same name."""
    torch: Any = importlib.import_module("torch")  # untyped here: torch is optional
    if array.dtype.kind == "V" or array.dtype.name.startswith(("bfloat", "float8")):
        np: Any = importlib.import_module("numpy")  # Any: its stubs differ between versions
        bits = np.ascontiguousarray(array).view(f"u{array.dtype.itemsize}")
        return torch.from_numpy(bits).view(getattr(torch, array.dtype.name))
    return torch.from_numpy(array)


class CountingExport:
    """A producer over a NumPy array whose capsules come from ``CapsuleProducer``: every tensor
    it exports is counted, and its deleter calls too."""

    def __init__(self, array: Any) -> None:
        from .testing import CapsuleProducer

        self.array = array
        self.producer = CapsuleProducer()
        self.writable = bool(array.flags.writeable)

    def __dlpack__(
        self,
        *,
        stream: object = None,
        max_version: tuple[int, int] | None = None,
        dl_device: tuple[int, int] | None = None,
        copy: bool | None = None,
    ) -> object:
        from ._enums import DLDataTypeCode, DLPackFlags

        if stream is not None:
            raise BufferError("a CPU array takes stream=None only")
        if dl_device is not None and tuple(dl_device) != (1, 0):
            raise BufferError(f"cannot export to {dl_device}")
        a = self.array.copy() if copy else self.array
        special = {"bfloat16": "BFLOAT", "float8_e4m3fn": "FLOAT8_E4M3FN", "float8_e5m2": "FLOAT8_E5M2"}
        kinds = {"b": DLDataTypeCode.BOOL, "i": DLDataTypeCode.INT, "u": DLDataTypeCode.UINT,
                 "f": DLDataTypeCode.FLOAT, "c": DLDataTypeCode.COMPLEX}
        name = a.dtype.name
        code = DLDataTypeCode[special[name]] if name in special else kinds[a.dtype.kind]
        versioned = max_version is not None and max_version[0] >= 1
        if not versioned and not self.writable:
            raise BufferError("a read-only array needs a versioned capsule (READ_ONLY)")
        flags = (0 if self.writable and not copy else int(DLPackFlags.READ_ONLY)) if not copy else 0
        flags |= int(DLPackFlags.IS_COPIED) if copy and versioned else 0
        return self.producer.capsule(
            memory=a, data=a.ctypes.data if a.size else 0, shape=list(a.shape),
            strides=[s // a.itemsize for s in a.strides], dtype=(int(code), a.itemsize * 8, 1),
            layout="versioned" if versioned else "legacy", flags=flags if versioned else 0)

    def __dlpack_device__(self) -> tuple[int, int]:
        return (1, 0)


# -- the child: one producer, its cells ---------------------------------------------------------


def _emit(record: Mapping[str, object]) -> None:
    print(json.dumps(record), flush=True)


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _pointer(obj: object) -> tuple[int, bool, int] | None:
    """(address of element 0, READ_ONLY flag, bits per element) of what `obj` exports, or None
    if unreadable."""
    from . import inspect

    try:
        # `inspect` reads any object at run time (TypeError for one it cannot): a cast here
        info = inspect(cast("CanDLPackCompat", obj))
    except Exception:  # noqa: BLE001 - an object that does not export has no pointer to compare
        return None
    return info.data_ptr + info.byte_offset, info.readonly, info.dtype.bits * info.dtype.lanes


def _same_values(expected: Any, got: Any) -> bool:
    np: Any = importlib.import_module("numpy")  # Any: numpy's stubs differ between its versions

    from . import from_dlpack

    for read in (lambda: np.from_dlpack(got), lambda: from_dlpack(got), lambda: np.asarray(got)):
        try:
            array = np.ascontiguousarray(read())
        except Exception:  # noqa: BLE001,S112 - try the next way of reading it
            continue
        reference = np.ascontiguousarray(expected)
        if array.shape != reference.shape or array.dtype.itemsize != reference.dtype.itemsize:
            return False
        if reference.dtype == bool:
            return bool((array.view(np.uint8) != 0).tolist() == reference.tolist())
        return bool(array.tobytes() == reference.tobytes())
    raise TypeError("the result could not be read back as a NumPy array")


def _writable(namespace: dict[str, Any], adapter: Adapter, array: object) -> bool | None:
    """Whether `array` may be written, by the adapter's own test; None where it cannot tell
    (a producer's export object that is not an array, say)."""
    if adapter.writable is None:
        return None
    try:
        return bool(eval(adapter.writable, {**namespace, "y": array}))  # noqa: S307 - the survey's own table
    except Exception:  # noqa: BLE001 - not that framework's array: unknown
        return None


def _cell(namespace: dict[str, Any], producer: Adapter, consumer: Adapter, case: Case) -> dict[str, object]:
    import gc

    cell: dict[str, object] = {"producer": producer.name, "consumer": consumer.name, "case": case.name}
    try:
        a = eval(case.expression, namespace)  # noqa: S307 - the survey's own table
        x = eval(producer.make or "None", {**namespace, "a": a})  # noqa: S307
    except Exception as exc:  # noqa: BLE001 - this producer cannot make this case
        return {**cell, "status": "n/a", "detail": f"cannot make: {_describe(exc)}"}
    if not callable(getattr(x, "__dlpack__", None)):
        return {**cell, "status": "n/a", "detail": "no __dlpack__"}
    source = _pointer(x)
    if source is not None and source[2] != a.dtype.itemsize * 8:
        # the framework has no such type and made another (mlx: float64 as float32)
        return {**cell, "status": "n/a", "detail": f"cannot make: {source[2]}-bit elements for {a.dtype}"}
    source_writable = _writable(namespace, producer, x)
    y: object = None
    try:
        y = eval(consumer.consume or "None", {**namespace, "x": x})  # noqa: S307
    except Exception as exc:  # noqa: BLE001 - a refusal is the observation
        # SystemError: a C function failed without setting an exception, a bug whatever the input
        cell.update(status="FAIL" if isinstance(exc, SystemError) else "refused", detail=_describe(exc))
    if "status" in cell:  # refused: counted once the exception (whose frames hold the capsule) is gone
        return _with_deleter(cell, x, None)
    result = _pointer(y)
    zero_copy = None if source is None or result is None or a.size == 0 else source[0] == result[0]
    writable = _writable(namespace, consumer, y)
    source_read_only = (source is not None and source[1]) or source_writable is False
    problems: list[str] = []
    try:
        if not _same_values(a, y):
            problems.append("values differ")
    except Exception as exc:  # noqa: BLE001 - unreadable values are reported with the cell
        cell["values"] = f"unreadable: {_describe(exc)}"
    else:
        cell["values"] = "values differ" not in problems
    if source_read_only and zero_copy and writable:
        problems.append("a read-only source came back writable")
    cell.update(zero_copy=zero_copy, writable=writable, source_read_only=source_read_only)
    status = "FAIL" if problems else ("ok" if zero_copy is not False else "copy")
    cell.update(status=status, detail="; ".join(problems))
    del y
    gc.collect()
    return _with_deleter(cell, x, None)


def _with_deleter(cell: dict[str, object], x: object, _: None) -> dict[str, object]:
    import gc

    from .testing import CapsuleProducer

    # by its producer, not its class: the child runs this module as __main__, where the class
    # the adapter imported from optype_dlpack._survey is another object
    producer = getattr(x, "producer", None)
    if not isinstance(producer, CapsuleProducer):
        return cell
    gc.collect()
    made = producer.deleter_calls + len(producer.live)
    leaked = len(producer.live)
    cell["deleter"] = f"{producer.deleter_calls} calls for {made} tensors"
    if leaked:
        cell.update(status="FAIL", detail="; ".join(filter(None, [str(cell.get("detail", "")),
                                                                    f"{leaked} tensor(s) never deleted"])))
    return cell


def _conformance(namespace: dict[str, Any], producer: Adapter) -> dict[str, object]:
    from ._conformance import check_producer

    case = next(c for c in CASES if c.name == CONFORMANCE_CASE)
    x = eval(producer.make or "None", {**namespace, "a": eval(case.expression, namespace)})  # noqa: S307
    report = check_producer(x)
    return {"ok": report.ok, "checks": [[c.id, c.status.value, c.detail] for c in report.checks]}


def _child(producer_name: str, cells: Sequence[tuple[str, str]]) -> None:
    import warnings

    warnings.simplefilter("ignore")
    adapters = {a.name: a for a in ADAPTERS}
    producer = adapters[producer_name]
    namespace: dict[str, Any] = {"read_only": read_only}
    exec("import numpy as np\nimport ml_dtypes", namespace)  # noqa: S102
    _emit({"start": ["", "setup"]})
    exec(producer.setup, namespace)  # noqa: S102 - an ImportError ends the child: "not installed"
    cases = {c.name: c for c in CASES}
    imported: set[str] = {producer.name}
    unavailable: set[str] = set()
    for consumer_name, case_name in cells:
        if case_name == "conformance":
            _emit({"start": [consumer_name, case_name]})
            _emit({"conformance": _conformance(namespace, producer)})
            continue
        if consumer_name in unavailable:
            continue
        consumer = adapters[consumer_name]
        if consumer_name not in imported:
            _emit({"start": [consumer_name, "import"]})
            try:
                exec(consumer.setup, namespace)  # noqa: S102
            except Exception as exc:  # noqa: BLE001 - e.g. a CUDA consumer without a device
                unavailable.add(consumer_name)
                _emit({"unavailable": [consumer_name, _describe(exc)]})
                continue
            imported.add(consumer_name)
        _emit({"start": [consumer_name, case_name]})
        try:
            _emit({"cell": _cell(namespace, producer, consumer, cases[case_name])})
        except Exception as exc:  # noqa: BLE001 - a fault of the survey's own: shown, never hidden
            _emit({"cell": {"producer": producer.name, "consumer": consumer_name, "case": case_name,
                            "status": "error", "detail": f"survey error: {_describe(exc)}"}})
    _emit({"done": True})


# -- the parent -------------------------------------------------------------------------------


def _version(adapter: Adapter) -> str | None:
    for distribution in adapter.distributions:
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _installed(adapter: Adapter) -> str | None:
    """None if the adapter's module can be found, else why not."""
    try:
        found = importlib.util.find_spec(adapter.module) is not None
    except (ImportError, ValueError) as exc:
        return _describe(exc)
    return None if found else f"ModuleNotFoundError: No module named {adapter.module!r}"


def _reader(stream: Iterable[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _run_child(producer: Adapter, cells: list[tuple[str, str]], timeout: float) -> tuple[list[dict[str, Any]], str]:
    """Runs `cells` in one child; returns the records it printed and how it ended
    ("done", "crash: ...", "timeout")."""
    command = [sys.executable, "-m", "optype_dlpack._survey", "--child", producer.name, json.dumps(cells)]
    records: list[dict[str, Any]] = []
    errors: list[str] = []
    # `-m` puts the working directory first on the child's sys.path: run it where this very
    # package lies, so that the child imports it, not a source tree it was started in.
    home = Path(__file__).resolve().parent.parent
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=home) as child:
        assert child.stdout is not None and child.stderr is not None
        lines: queue.Queue[str | None] = queue.Queue()
        readers = [threading.Thread(target=_reader, args=(child.stdout, lines), daemon=True),
                   threading.Thread(target=errors.extend, args=(child.stderr,), daemon=True)]
        for reader in readers:
            reader.start()
        hung = False
        while True:
            try:
                line = lines.get(timeout=timeout)
            except queue.Empty:
                child.kill()
                hung = True
                break
            if line is None:
                break
            if line.startswith("{"):
                records.append(json.loads(line))
        code = child.wait()
        for reader in readers:
            reader.join(timeout=10)
    if hung:
        return records, "timeout"
    if records and "done" in records[-1]:
        return records, "done"
    said = [e.strip() for e in errors if e.strip() and not e.startswith((" ", "WARNING", "I0000", "E0000"))]
    # the abort's own message: the last line that names one (earlier cells may have printed more)
    telling = [e for e in said if any(w in e for w in ("what():", "terminate", "Fatal Python", "fault", "Abort"))]
    tail = telling[-1:] or said[-1:]
    how = f"signal {-code}" if code < 0 else f"exit {code}"
    return records, f"crash ({how}){': ' + tail[-1][:200] if tail else ''}"


def _survey_producer(producer: Adapter, consumers: list[Adapter], cases: list[Case],
                     timeout: float) -> dict[str, Any]:
    pending = [("", "conformance")] + [(c.name, k.name) for c in consumers for k in cases]
    cells: list[dict[str, object]] = []
    entry: dict[str, Any] = {"name": producer.name, "version": _version(producer), "cells": cells}
    while pending:
        records, ending = _run_child(producer, pending, timeout)
        current: tuple[str, str] | None = None
        for record in records:
            if "start" in record:
                current = (record["start"][0], record["start"][1])
            elif "cell" in record:
                cells.append(record["cell"])
                pending.remove((record["cell"]["consumer"], record["cell"]["case"]))
                current = None
            elif "unavailable" in record:
                name, why = record["unavailable"]
                entry.setdefault("unavailable", {})[name] = why
                pending[:] = [p for p in pending if p[0] != name]
                current = None
            elif "conformance" in record:
                entry["conformance"] = record["conformance"]
                pending.remove(("", "conformance"))
                current = None
        if ending == "done":
            break
        if current is None or current == ("", "setup"):  # the producer's own import failed
            entry["absent"] = ending if current is None else f"import failed: {ending}"
            break
        if current == ("", "conformance"):
            entry["conformance"] = {"ok": False, "checks": [["child", ending, "check_producer did not finish"]]}
            pending.remove(current)
            continue
        # the cell in progress killed the child: record it; all of that consumer's cells if
        # the child died importing the consumer
        consumer, case = current
        importing = case == "import"
        doomed = [p for p in pending if p[0] == consumer] if importing else [current]
        for name, case_name in doomed:
            status = "timeout" if ending == "timeout" else "crash"
            detail = f"importing {consumer} after {producer.name}: {ending}" if importing else ending
            cells.append({"producer": producer.name, "consumer": name, "case": case_name,
                          "status": status, "detail": detail})
            pending.remove((name, case_name))
    return entry


def survey(producers: Sequence[str] | None = None, consumers: Sequence[str] | None = None,
           cases: Sequence[str] | None = None, *, timeout: float = CELL_TIMEOUT_S,
           machine: str = "cpu") -> dict[str, Any]:
    """The matrix as a JSON-ready dict (see the module docstring)."""
    chosen = [a for a in ADAPTERS if producers is None or a.name in producers]
    sinks = [a for a in ADAPTERS if a.consume and (consumers is None or a.name in consumers)]
    grid = [c for c in CASES if cases is None or c.name in cases]
    absent = {a.name: why for a in {*chosen, *sinks} if (why := _installed(a))}
    present_sinks = [a for a in sinks if a.name not in absent]
    result: dict[str, Any] = {
        "machine": machine,
        "python": sys.version.split()[0],
        "versions": {a.name: _version(a) for a in ADAPTERS if a.name not in absent},
        "not_installed": absent,
        "cases": {c.name: c.expression for c in grid},
        "consumers": [a.name for a in present_sinks],
        "producers": [],
    }
    for producer in chosen:
        if producer.name in absent:
            continue
        entry = _survey_producer(producer, present_sinks, grid, timeout)
        if "absent" in entry and not entry["cells"]:  # its own setup failed: not usable here
            result["not_installed"][producer.name] = entry["absent"]
            result["versions"].pop(producer.name, None)
            continue
        result["producers"].append(entry)
    unusable = {name: why for p in result["producers"] for name, why in p.pop("unavailable", {}).items()}
    result["not_installed"].update(unusable)
    result["consumers"] = [name for name in result["consumers"] if name not in unusable]
    for name in unusable:
        result["versions"].pop(name, None)
    return result


def failures(result: Mapping[str, Any]) -> list[str]:
    """What makes ``run`` exit 1: producers failing conformance, failing cells."""
    found = [f"{p['name']}: does not conform" for p in result["producers"]
             if not p.get("conformance", {"ok": True})["ok"]]
    found += [f"{c['producer']} -> {c['consumer']} [{c['case']}]: {c['status']} {c.get('detail', '')}"
              for p in result["producers"] for c in p["cells"] if c["status"] in FAILING]
    return found


# -- output -----------------------------------------------------------------------------------

_MARK: Final = {"ok": "ok", "copy": "copy", "refused": "refused", "n/a": "n/a", "FAIL": "FAIL",
                "crash": "CRASH", "timeout": "TIMEOUT", "error": "ERROR"}
LEGEND: Final = ("ok: imported zero-copy with equal values; copy: imported as a copy with equal values; "
                 "refused: the consumer raised (the exception is listed); n/a: the producer cannot make "
                 "the case or does not export; FAIL: wrong values, a read-only source come back "
                 "writable, or a tensor never deleted; CRASH/TIMEOUT: the process died or hung")


def _matrix(result: Mapping[str, Any], producer: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    consumers: list[str] = list(result["consumers"])
    by_cell = {(c["consumer"], c["case"]): c for c in producer["cells"]}
    rows: list[list[str]] = []
    for case in result["cases"]:
        row = [case]
        for consumer in consumers:
            cell = by_cell.get((consumer, case))
            row.append(_MARK.get(cell["status"], cell["status"]) if cell else "")
        rows.append(row)
    return ["case", *consumers], rows


def _versions(result: Mapping[str, Any]) -> list[str]:
    lines = [f"Python {result['python']} ({result['machine']})"]
    lines += [f"{name} {version}" for name, version in result["versions"].items()]
    lines += [f"{name}: not installed ({why})" for name, why in result["not_installed"].items()]
    return lines


def _notes(producer: Mapping[str, Any]) -> list[str]:
    return [f"{c['consumer']} [{c['case']}]: {c['status']}: {c['detail']}" + (f" ({c['deleter']})" if "deleter" in c else "")
            for c in producer["cells"] if c.get("detail") and c["status"] != "n/a"]


def _summary_rows(result: Mapping[str, Any]) -> tuple[list[list[str]], list[str]]:
    """One row per producer: its verdict (the colour key) and its cells counted by status."""
    rows = [["producer", "verdict", "ok", "copy", "refused", "failed"]]
    keys: list[str] = []
    for producer in result["producers"]:
        if "absent" in producer:
            rows.append([producer["name"], "skipped", "", "", "", ""])
            keys.append("skipped")
            continue
        statuses = [cell["status"] for cell in producer["cells"]]
        failed = sum(status in FAILING for status in statuses)
        conforms = producer.get("conformance", {"ok": True})["ok"]
        verdict = "conforms" if conforms and not failed else "does NOT conform"
        counts = [str(statuses.count(status)) for status in ("ok", "copy", "refused")]
        rows.append([producer["name"], verdict, *counts, str(failed)])
        keys.append(verdict)
    return rows, keys


def render_text(result: Mapping[str, Any], paint: Callable[[str, str], str] | None = None) -> str:
    """The matrices, then a summary table (coloured by `paint`, the command line's painter)."""
    from ._cli import painter, table  # noqa: PLC0415 - the command line's table and colours

    rows, keys = _summary_rows(result)
    summary = table(rows, keys, paint or painter(enabled=False))
    return "\n".join([_render_matrices(result), "summary", *summary])


def _render_matrices(result: Mapping[str, Any]) -> str:
    out = [*_versions(result), "", LEGEND, ""]
    for producer in result["producers"]:
        out.append(f"== producer {producer['name']} {producer.get('version') or ''}")
        if "absent" in producer:
            out += [f"   {producer['absent']}", ""]
            continue
        header, rows = _matrix(result, producer)
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            out.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
        conformance = producer.get("conformance")
        if conformance:
            out.append(f"conformance: {'conforms' if conformance['ok'] else 'does NOT conform'}")
            out += [f"  {status:<4}  {check}  {detail}" for check, status, detail in conformance["checks"]]
        out += [f"  {note}" for note in _notes(producer)]
        out.append("")
    return "\n".join(out)


def reproducer_name(cell: Mapping[str, Any]) -> str:
    return f"{cell['producer']}-to-{cell['consumer']}-{cell['case']}.py".replace("_", "-")


def render_markdown(result: Mapping[str, Any], others: Sequence[Mapping[str, Any]] = (),
                    reproducers: Mapping[str, str] | None = None) -> str:
    """docs/compatibility.md: this run's matrices, then `others` (runs on other machines), or a
    marked place for the GPU run."""
    out = [
        "# DLPack compatibility matrix",
        "",
        "Generated from three runs, each saved as JSON: a CPU machine with every CPU framework "
        "installed (Python 3.11, jax 0.10), a GPU machine (its CUDA frameworks), and JAX 0.12 (which "
        "needs Python 3.12 or later) with NumPy and this package, by",
        "",
        "```bash",
        "python -m optype_dlpack._survey --format json > docs/compatibility-cpu.json        # CPU machine",
        "python -m optype_dlpack._survey --format json --machine gpu \\",
        "    --producers numpy,counting,torch,torch_cuda,cupy,numba_cuda,jax \\",
        "    --consumers numpy,optype_dlpack,torch,torch_cuda,cupy,numba_cuda,jax \\",
        "    > docs/compatibility-gpu.json                                                  # GPU machine",
        "python -m optype_dlpack._survey --format json --machine cpu-jax-0.12 \\",
        "    --producers numpy,counting,optype_dlpack,jax --consumers numpy,optype_dlpack,jax \\",
        "    > docs/compatibility-cpu-jax-0.12.json            # CPU machine, Python 3.12 with jax 0.12",
        "python -m optype_dlpack._survey --from-json docs/compatibility-cpu.json \\",
        "    --merge docs/compatibility-gpu.json --merge docs/compatibility-cpu-jax-0.12.json \\",
        "    --reproducers docs/reproducers \\",
        "    --format markdown > docs/compatibility.md",
        "```",
        "",
        "(leave `--merge` out where there is no GPU run; without `--from-json` the "
        "survey runs on the spot). Each table: one producer's arrays (rows: cases) imported by each "
        "consumer's `from_dlpack` (columns). A cell measures: exported or refused; zero-copy (the "
        "result's data pointer, read by `optype_dlpack.inspect` of its own export, is the producer's); "
        "values equal byte for byte; a read-only source (READ_ONLY capsule, read-only NumPy array, an "
        "immutable framework's array) shared zero-copy not come back writable; for the producer "
        "`counting` only (`optype_dlpack.testing.CapsuleProducer`, whose deleter counts), every tensor "
        "deleted exactly once after the result is released. Every producer runs in a child process: "
        "a cell that kills it is recorded as CRASH and the survey goes on.",
        "",
        f"Legend: {LEGEND}.",
        "",
    ]
    for run in (result, *others):
        out += _markdown_run(run, reproducers or {})
    out += _markdown_findings([result, *others], reproducers or {})
    if not any(run["machine"] != "cpu" for run in (result, *others)):
        out += ["## GPU: not yet recorded", "",
                "The CUDA producers and consumers (torch_cuda, cupy, numba_cuda) run on a GPU machine; "
                "their results are merged here with `--merge docs/compatibility-gpu.json`.", ""]
    return "\n".join(out)


def _markdown_run(run: Mapping[str, Any], reproducers: Mapping[str, str]) -> list[str]:
    out = [f"## {run['machine'].upper()} run", "", "Versions:", ""]
    out += [f"- {line}" for line in _versions(run)]
    out.append("")
    for producer in run["producers"]:
        out += [f"### {producer['name']} {producer.get('version') or ''}".rstrip(), ""]
        if "absent" in producer:
            out += [producer["absent"], ""]
            continue
        header, rows = _matrix(run, producer)
        failing = {(c["consumer"], c["case"]): c for c in producer["cells"] if c["status"] in FAILING}
        out += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in rows:
            cells = [row[0]]
            for consumer, mark in zip(header[1:], row[1:], strict=True):
                cell = failing.get((consumer, row[0]))
                link = reproducers.get(reproducer_name(cell)) if cell else None
                cells.append(f"[{mark}](reproducers/{link})" if link else mark)
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
        conformance = producer.get("conformance")
        if conformance:
            verdict = "conforms" if conformance["ok"] else "**does not conform**"
            out += [f"`check_producer` ({CONFORMANCE_CASE} array): {verdict}", "",
                    "| check | status | detail |", "|---|---|---|"]
            out += [f"| {check} | {status} | {_escape(detail)} |" for check, status, detail in conformance["checks"]]
            out.append("")
        notes = _notes(producer)
        if notes:
            out += ["<details><summary>details of the cells</summary>", ""]
            out += [f"- {_escape(note)}" for note in notes]
            out += ["", "</details>", ""]
    return out


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;")


def merge(paths: Sequence[str]) -> list[dict[str, Any]]:
    """The results of other machines' runs (``--format json``), to show after this one."""
    return [json.loads(Path(path).read_text(encoding="utf-8")) for path in paths]


# -- what is known of the failures upstream ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """A kind of failing cell, whose fault lies upstream: the issue filed, or one to file."""

    consumer: str | None  # None: any
    producer: str | None
    detail: str  # a substring of the cell's status and detail
    title: str
    issue: str | None = None  # the upstream issue's address, where one exists
    body: str = ""  # a draft for the issue to file, where none exists

    def matches(self, cell: Mapping[str, Any]) -> bool:
        return ((self.consumer is None or cell["consumer"].startswith(self.consumer))
                and (self.producer is None or cell["producer"] == self.producer)
                and self.detail in f"{cell['status']} {cell.get('detail', '')}")


FINDINGS: Final[tuple[Finding, ...]] = (  # the first that matches a cell is its finding
    Finding(None, "jax", "read-only source came back writable",
            "JAX exports its immutable arrays as legacy capsules, which cannot say READ_ONLY",
            "https://github.com/data-apis/array-api/issues/191",
            body="By design (data-apis/array-api#749 recommends sharing): consumers import JAX's buffers "
                 "as writable. jax 0.12 answers a versioned request with a READ_ONLY capsule."),
    Finding("torch", None, "crash", "torch.from_dlpack aborts the process on a negative stride",
            "https://github.com/pytorch/pytorch/issues/188023"),
    Finding("numpy", None, "SystemError",
            "numpy.from_dlpack runs the capsule's destructor with an exception set (SystemError, deleter skipped)",
            "https://github.com/numpy/numpy/issues/32697"),
    Finding("torch", None, "read-only source came back writable",
            "torch.from_dlpack ignores DLPACK_FLAG_BITMASK_READ_ONLY: a read-only capsule becomes a writable tensor",
            body="`torch.from_dlpack` of a versioned capsule whose flags hold READ_ONLY (e.g. "
                 "`np.from_dlpack`-able `a = np.arange(6.0); a.flags.writeable = False`) returns a tensor that shares "
                 "the memory and can be written (`t[0] = 1` changes `a`). The array API standard recommends "
                 "copying, or refusing with BufferError, when the consumer cannot honour the flag "
                 "(data-apis/array-api#749). Expected: a copy (IS_COPIED semantics), or a BufferError; "
                 "actual: a writable alias. Reproducer: docs/reproducers/numpy-to-torch-read-only.py."),
    Finding(None, "tensorflow", "read-only source came back writable",
            "TensorFlow exports its immutable tensors as legacy capsules, which cannot say READ_ONLY",
            "https://github.com/data-apis/array-api/issues/191",
            body="As JAX's: consumers import TensorFlow's buffers as writable aliases."),
    Finding(None, "pyarrow", "read-only source came back writable",
            "pyarrow exports its immutable tensors as versioned capsules without the READ_ONLY flag",
            body="`pa.Tensor.from_numpy(np.arange(6.0)).__dlpack__(max_version=(1, 3))` is a DLPack 1.3 "
                 "capsule whose flags lack DLPACK_FLAG_BITMASK_READ_ONLY, although Arrow memory is "
                 "immutable; `np.from_dlpack` of it is therefore a writable array over Arrow's buffer. "
                 "Expected: READ_ONLY set on every versioned export. Reproducer: "
                 "docs/reproducers/pyarrow-to-numpy-float32.py."),
    Finding("pyarrow", None, "SystemError",
            "pyarrow.Tensor.from_dlpack runs the capsule's destructor with an exception set (SystemError)",
            body="Like numpy/numpy#32697: `pa.Tensor.from_dlpack` of a capsule it cannot import (bfloat16, "
                 "float8, a legacy capsule) releases the capsule while its exception is set; a producer "
                 "whose deleter runs Python code (a ctypes or Cython producer) then fails, and Python reports "
                 "SystemError instead of pyarrow's own error. Expected: the error pyarrow raised, and the "
                 "producer's deleter run once. Reproducer: docs/reproducers/counting-to-pyarrow-*.py."),
    Finding("array_api_strict", None, "SystemError",
            "array_api_strict.from_dlpack forwards to numpy.from_dlpack (numpy/numpy#32697)",
            "https://github.com/numpy/numpy/issues/32697"),
    Finding("mlx", None, "values differ",
            "mlx.core.from_dlpack silently turns float64 and complex128 into float32 and complex64",
            body="`mx.from_dlpack(np.arange(6.0))` returns a float32 array (and complex64 for complex128) "
                 "without a warning or an error: a consumer that cannot hold the producer's dtype should "
                 "raise BufferError (or TypeError), as the array API standard's from_dlpack expects the "
                 "dtype to be kept. Reproducer: docs/reproducers/numpy-to-mlx-float64.py."),
    Finding("paddle", None, "never deleted",
            "paddle.from_dlpack never calls the tensor's deleter once the imported tensor is released",
            body="A producer whose deleter counts its calls (optype_dlpack.testing.CapsuleProducer, behind "
                 "`__dlpack__`) sees `paddle.from_dlpack(x)` consume the capsule (renamed used_dltensor...), "
                 "but after `del` of the paddle tensor and `gc.collect()` the deleter has not run: the "
                 "producer's memory is never released. Expected: the deleter runs exactly once when the "
                 "last paddle tensor over that memory is freed. Reproducer: "
                 "docs/reproducers/counting-to-paddle-float32.py."),
    Finding("paddle", None, "read-only source came back writable",
            "paddle.from_dlpack ignores DLPACK_FLAG_BITMASK_READ_ONLY: a read-only capsule becomes a writable tensor",
            body="As torch's: `paddle.from_dlpack` of a versioned capsule flagged READ_ONLY (a read-only NumPy "
                 "array's export) shares the memory as an ordinary, writable tensor. Expected: a copy, or "
                 "BufferError. Reproducer: docs/reproducers/numpy-to-paddle-read-only.py."),
    Finding("paddle", "tensorflow", "importing paddle after tensorflow",
            "`import paddle` after `import tensorflow` kills the process",
            body="With tensorflow-cpu 2.21 and paddlepaddle 3.3.1 from PyPI (Linux x86-64, Python 3.11), "
                 "`python -c 'import tensorflow, paddle'` dies with a signal, while `import paddle, tensorflow` "
                 "works. Expected: both orders import."),
)


def findings_for(cell: Mapping[str, Any]) -> Finding | None:
    return next((finding for finding in FINDINGS if finding.matches(cell)), None)


def _markdown_findings(results: Sequence[Mapping[str, Any]], reproducers: Mapping[str, str]) -> list[str]:
    out = ["## Failing cells", "",
           "Each kind of failing cell (producer, consumer, outcome) has one reproducer under "
           "docs/reproducers/ (tests/package/test_survey.py runs each), and, where the fault is "
           "upstream's, the upstream issue: the one filed, or a draft of the one to file.", ""]
    listed: set[str] = set()
    for result in results:
        for producer in result["producers"]:
            for cell in producer["cells"]:
                script = reproducers.get(reproducer_name(cell))
                if cell["status"] not in FAILING or script is None or script in listed:
                    continue
                listed.add(script)
                out.append(f"- [{script}](reproducers/{script}): {cell['producer']} → {cell['consumer']}, "
                           f"{cell['status']}: {_escape(str(cell.get('detail', '')))}")
                finding = findings_for(cell)
                if finding is None:
                    out.append("  - upstream: not yet triaged")
                elif finding.issue:
                    out.append(f"  - upstream: [{finding.title}]({finding.issue})" +
                               (f". {finding.body}" if finding.body else ""))
                else:
                    out.append(f"  - upstream issue to file: **{finding.title}**. {finding.body}")
    out.append("")
    return out


# -- reproducers ------------------------------------------------------------------------------


def reproducer(cell: Mapping[str, Any]) -> str:
    """A script that redoes one failing cell from the adapters' own source."""
    adapters = {a.name: a for a in ADAPTERS}
    producer, consumer = adapters[cell["producer"]], adapters[cell["consumer"]]
    case = next(c for c in CASES if c.name == cell["case"])
    lines = [
        f'"""{producer.name} -> {consumer.name}, case {case.name}: {cell["status"]} ({cell.get("detail", "")}).',
        "",
        "Made by optype_dlpack._survey from its adapter table; ends with an AssertionError (or the",
        'process dying) while the fault is there, and exits 0 once it is gone."""',
        "",
        "import numpy as np",
        "import ml_dtypes",
        "from optype_dlpack import inspect",
        "from optype_dlpack._survey import read_only",
        producer.setup,
    ]
    if consumer.setup != producer.setup:
        lines.append(consumer.setup)
    detail = str(cell.get("detail", ""))
    lines += ["", f"a = {case.expression}", f"x = {producer.make}", "before = inspect(x)"]
    if "SystemError" in detail:
        lines += ["try:", f"    y = {consumer.consume}", "except SystemError as error:",
                  "    raise AssertionError('an error without an exception (SystemError)') from error",
                  "except Exception as error:  # a refusal with an exception of its own: the fault is gone",
                  "    print(f'refused with {type(error).__name__}')"]
        if "never deleted" in detail:
            lines += ["import gc", "gc.collect()", "assert not x.producer.live, 'a tensor never deleted'"]
        lines.append("print('not reproduced: the cell passes now')")
        return "\n".join(lines) + "\n"
    lines += [f"y = {consumer.consume}", "after = inspect(y)",
              "same_memory = before.data_ptr + before.byte_offset == after.data_ptr + after.byte_offset"]
    if "values" in detail:
        lines.append("got = np.asarray(y)")
        lines.append("assert got.dtype == a.dtype and got.tobytes() == np.ascontiguousarray(a).tobytes(), "
                     "f'values differ: {got.dtype} {got!r}'")
    if "writable" in detail:
        lines.append(f"writable = {consumer.writable}  # how the survey tells that {consumer.name}'s array may be written")
        lines.append("assert not (same_memory and writable), 'a read-only source came back writable'")
    if "never deleted" in detail:
        lines += ["import gc", "del y, after", "gc.collect()",
                  "assert not x.producer.live, 'a tensor never deleted after the result was released'"]
    lines.append("print('not reproduced: the cell passes now')")
    return "\n".join(lines) + "\n"


def write_reproducers(results: Sequence[Mapping[str, Any]], folder: Path) -> dict[str, str]:
    """One script per failing cell kind (producer, consumer, status): the first such case."""
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    seen: dict[tuple[str, str, str, str], str] = {}
    for result in results:
        for producer in result["producers"]:
            for cell in producer["cells"]:
                if cell["status"] not in FAILING or cell["producer"] not in {a.name for a in ADAPTERS}:
                    continue
                kind = str(cell.get("detail", "")).split(":")[0][:40]
                key = (cell["producer"], cell["consumer"], cell["status"], kind)
                if key not in seen:
                    seen[key] = reproducer_name(cell)
                    (folder / seen[key]).write_text(reproducer(cell), encoding="utf-8")
                written[reproducer_name(cell)] = seen[key]
    return written


# -- command line -----------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=["text", "json", "markdown"], default="text")
    parser.add_argument("--producers", help="comma-separated adapter names (default: all)")
    parser.add_argument("--consumers", help="comma-separated adapter names (default: all)")
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    parser.add_argument("--merge", action="append", default=[], metavar="JSON",
                        help="a --format json result from another machine (e.g. gpu.json), shown after this one")
    parser.add_argument("--from-json", metavar="JSON",
                        help="show a saved --format json result instead of running the survey")
    parser.add_argument("--machine", default="cpu", help="the name this run is shown under (cpu, gpu, ...)")
    parser.add_argument("--reproducers", metavar="DIR",
                        help="write a reproducer per failing cell kind there and link them (markdown)")
    parser.add_argument("--timeout", type=float, default=CELL_TIMEOUT_S, help="seconds one cell may take")


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [name.strip() for name in text.split(",") if name.strip()]


def run(args: argparse.Namespace) -> int:
    if args.from_json:
        result: dict[str, Any] = json.loads(Path(args.from_json).read_text(encoding="utf-8"))
    else:
        result = survey(_names(args.producers), _names(args.consumers), _names(args.cases),
                        timeout=args.timeout, machine=args.machine)
    others = merge(args.merge)
    links = write_reproducers([result, *others], Path(args.reproducers)) if args.reproducers else {}
    if args.format == "json":
        print(json.dumps(result, indent=1))
    elif args.format == "markdown":
        print(render_markdown(result, others, links))
    else:
        from ._cli import painter, use_color  # noqa: PLC0415 - the command line's colours

        paint = painter(use_color(getattr(args, "color", "never"), sys.stdout))
        print(render_text(result, paint))
        for other in others:
            print(render_text(other, paint))
    found = failures(result)
    for line in found:
        print(f"survey: {line}", file=sys.stderr)
    return 1 if found else 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        try:
            _child(argv[1], [tuple(cell) for cell in json.loads(argv[2])])
        except BaseException:
            traceback.print_exc()
            return 3
        return 0
    parser = argparse.ArgumentParser(prog="python -m optype_dlpack._survey",
                                     description="The DLPack compatibility matrix of the installed frameworks.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

"""optype_dlpack's C++ API against nanobind's nb::ndarray, on the same two functions.

    python benchmarks/cpp_api/run.py [--write-docs]

Builds both extensions (ours.cpp with the command docs/cpp.md gives; theirs.cpp with nanobind's
sources, as its CMake recipe does, here with one compiler command), then measures, in this
process: the cost of a call with a NumPy and a PyTorch argument (the best of several repeats of
a calibrated loop, in microseconds), and what each does with an argument it should refuse. With
--write-docs the table replaces the one between the markers in docs/cpp.md.

Needs: optype_dlpack (the build under test), pybind11, nanobind, numpy; torch and jax where
installed (their rows are left out otherwise).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import platform
import subprocess
import sys
import sysconfig
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

os.environ.setdefault("JAX_PLATFORMS", "cpu")

HERE = Path(__file__).resolve().parent
DOC = HERE.parents[1] / "docs" / "cpp.md"
START, END = "<!-- nanobind-table:start -->", "<!-- nanobind-table:end -->"
CXX = os.environ.get("CXX", "c++")
FLAGS = ["-O2", "-std=c++17", "-shared", "-fPIC", "-fvisibility=hidden"]


def build(out: Path, name: str, sources: list[Path], includes: list[str]) -> ModuleType:
    """Compiles `sources` into the module `name`, once for each content of sources and headers."""
    command = [CXX, *FLAGS, *(f"-I{d}" for d in includes), *map(str, sources)]
    digest = hashlib.sha256("\0".join([*command, sys.version]).encode())
    for path in [*sources, *(p for d in includes[2:] for p in sorted(Path(d).rglob("*.h*")))]:
        digest.update(path.read_bytes())
    directory = out / digest.hexdigest()[:16]
    target = directory / f"{name}{sysconfig.get_config_var('EXT_SUFFIX')}"
    if not target.exists():
        directory.mkdir(parents=True, exist_ok=True)
        subprocess.run([*command, "-o", str(target)], check=True)
    spec = importlib.util.spec_from_file_location(name, target)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_both(out: Path) -> tuple[ModuleType, ModuleType]:
    import nanobind
    import pybind11

    import optype_dlpack

    python = sysconfig.get_paths()["include"]
    ours = build(out, "bench_ours", [HERE / "ours.cpp"], [pybind11.get_include(), python, optype_dlpack.get_include()])
    source = Path(nanobind.source_dir())
    robin_map = source.parent / "ext" / "robin_map" / "include"
    theirs = build(
        out,
        "bench_theirs",
        [source / "nb_combined.cpp", HERE / "theirs.cpp"],
        [nanobind.include_dir(), str(robin_map), python],
    )
    return ours, theirs


def per_call_us(calls: list[Callable[[], object]], repeats: int = 15) -> list[float]:
    """Per call, in microseconds, the best of `repeats` samples of about 50 ms each. The calls
    are sampled in turn within each repeat (the order rotated), so that a change of load on the
    machine falls on all of them alike."""
    timers = [timeit.Timer(call) for call in calls]
    numbers = [max(1, timer.autorange()[0] // 4) for timer in timers]
    best = [float("inf")] * len(calls)
    for repeat in range(repeats):
        for k in range(len(calls)):
            i = (k + repeat) % len(calls)
            best[i] = min(best[i], timers[i].timeit(numbers[i]) / numbers[i])
    return [seconds * 1e6 for seconds in best]


def outcome(call: Callable[[], object]) -> str:
    try:
        returned = call()
    except Exception as error:  # noqa: BLE001 - what each raises is what is compared
        first = str(error).strip().splitlines()
        detail = next((line.strip() for line in first[1:] if "[expect." in line), first[0] if first else "")
        return f"{type(error).__name__}: {detail}"
    return "accepted" if returned is None else f"accepted, returned {returned!r}"


def measure(ours: ModuleType, theirs: ModuleType) -> list[tuple[str, str, str]]:
    import numpy as np

    rows: list[tuple[str, str, str]] = []
    frameworks: dict[str, Any] = {}
    for name in ("torch", "jax"):
        try:
            frameworks[name] = __import__(name)
        except ImportError:
            pass

    def both(label: str, make: Callable[[ModuleType], str]) -> None:
        rows.append((label, make(ours), make(theirs)))

    import optype_dlpack

    x = np.arange(8.0)
    f = np.ones(8, np.float32)
    subjects: list[tuple[str, Callable[[ModuleType], Callable[[], object]]]] = [
        ("per call, `total(x)`, NumPy float64[8] (µs)", lambda m: lambda: m.total(x)),
        ("per call, `scale(x, 1)`, NumPy float32[8] (µs)", lambda m: lambda: m.scale(f, 1.0)),
    ]
    if "torch" in frameworks:
        t = frameworks["torch"].arange(8, dtype=frameworks["torch"].float64)
        subjects.insert(1, ("per call, `total(x)`, PyTorch float64[8] (µs)", lambda m: lambda: m.total(t)))
    calls = [lambda: optype_dlpack._core._noop(x)]
    for _, make in subjects:
        calls += [make(ours), make(theirs)]
    timings = per_call_us(calls)
    rows.append(("floor: a pybind11 call that does nothing with `x` (µs)", f"{timings[0]:.2f}", "—"))
    for k, (label, _) in enumerate(subjects):
        rows.append((label, f"{timings[1 + 2 * k]:.2f}", f"{timings[2 + 2 * k]:.2f}"))

    both("float32 array into the float64 parameter", lambda m: outcome(lambda: m.total(np.zeros(3, np.float32))))
    both("2-d array into the 1-d parameter", lambda m: outcome(lambda: m.total(np.zeros((2, 2)))))

    def float64_into_float32(m: ModuleType) -> str:
        caller = np.ones(3)
        result = outcome(lambda: m.scale(caller, 5.0))
        return f"{result}; the caller's array reads {caller.tolist()}"

    both("float64 array into the writable float32 parameter", float64_into_float32)
    if "jax" in frameworks:
        jnp = frameworks["jax"].numpy

        def immutable(m: ModuleType) -> str:
            array = jnp.ones(3, jnp.float32)
            result = outcome(lambda: m.scale(array, 5.0))
            return f"{result}; the JAX array reads {[float(v) for v in array]}"

        both("immutable JAX array into the writable parameter", immutable)
    both("signature of `total`", lambda m: "`" + (m.total.__doc__ or "").strip().splitlines()[0] + "`")
    both(
        "lines of C++ (the two functions and the module)",
        lambda m: str(sum(1 for line in (HERE / ("ours.cpp" if m is ours else "theirs.cpp")).read_text().splitlines() if line.strip() and not line.lstrip().startswith("//"))),
    )
    return rows


def cell(text: str) -> str:
    """`text` in a Markdown table cell."""
    return text.replace("|", "\\|")


def table(rows: list[tuple[str, str, str]]) -> str:
    import nanobind

    import optype_dlpack

    lines = [
        f"Measured by `python benchmarks/cpp_api/run.py` on {platform.machine()}, Python "
        f"{platform.python_version()}, optype_dlpack {optype_dlpack.__version__}, nanobind {nanobind.__version__}, "
        f"both built with `{CXX} {' '.join(FLAGS)}`.",
        "",
        "| | optype_dlpack (pybind11) | nanobind `nb::ndarray` |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {label} | {cell(a)} | {cell(b)} |" for label, a, b in rows]
    return "\n".join(lines)


def write_docs(text: str) -> None:
    document = DOC.read_text(encoding="utf-8")
    head, _, rest = document.partition(START)
    _, _, tail = rest.partition(END)
    DOC.write_text(f"{head}{START}\n{text}\n{END}{tail}", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-docs", action="store_true", help="rewrite the table in docs/cpp.md")
    args = parser.parse_args()
    out = Path(tempfile.gettempdir()) / "optype-dlpack-cpp-api-benchmark"  # builds kept for reruns
    ours, theirs = build_both(out)
    text = table(measure(ours, theirs))
    print(text)
    if args.write_docs:
        write_docs(text)


if __name__ == "__main__":
    sys.exit(main())

"""The benchmark harness (benchmarks/): how a group is timed, and how verdicts are decided.

The timings themselves are judged from recorded runs (benchmarks/BENCHMARKS.md), never here;
these tests hold the method: warm-up discarded, min and median reported, ratios to the
group's own floor, verdicts on medians, an unavailable state reported rather than faked.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
NOOP = "floor: no-op native call"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def render() -> ModuleType:
    return load("render")


@pytest.fixture(scope="module")
def worker() -> ModuleType:
    return load("worker")


def row(median: float, minimum: float | None = None) -> dict[str, float]:
    return {"min_ns": median if minimum is None else minimum, "median_ns": median, "loops": 1, "repeats": 1}


def state(**groups: dict[str, Any]) -> dict[str, Any]:
    return {"description": "", "groups": groups, "processes": [], "import": {
        "command": "", "runs": 3, "min_ms": 12.0, "median_ms": 14.0, "modules": [],
        "loads": {"numpy": False, "ml_dtypes": False, "optype_dlpack._conformance": False}}}


def verdicts(render: ModuleType, record: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(t["state"], t["target"]): t["verdict"] for t in render.evaluate(record)}


def find(found: dict[tuple[str, str], str], state_name: str, start: str) -> str:
    matches = [met for (name, target), met in found.items() if name == state_name and target.startswith(start)]
    assert len(matches) == 1, (start, found)
    return matches[0]


def test_ratios_are_to_the_groups_own_floor_and_need_medians_and_minima_to_agree(render: ModuleType) -> None:
    capsule = {"results": {
        NOOP: row(100, 40),
        "ours: Expect.check(capsule)": row(140, 80),  # 1.4x on medians, 2x on minima: noise decides
        "ours: validate(capsule, device=…, dtype=…)": row(310, 130),  # 3.1x and 3.25x: missed
    }}
    numpy = {"results": {
        NOOP: row(1000),  # another group's floor plays no part in the capsule group's ratios
        "producer: x.__dlpack__(max_version=(1, 3))": row(200),
        "ours: Expect.check(x)": row(300),  # +100 ns: met
        "ours: validate(x)": row(351),  # +151 ns: missed
        "ours: from_dlpack(x)": row(90),
        "alt: numpy.from_dlpack(x)": row(100),
    }}
    found = verdicts(render, {"states": {"no-libcuda": state(capsule=capsule, numpy=numpy)}})
    assert find(found, "no-libcuda", "`Expect.check(capsule)`") == "unsettled"
    assert find(found, "no-libcuda", "`validate(capsule") == "missed"
    assert find(found, "no-libcuda", "`Expect.check(numpy_array)`") == "met"
    assert find(found, "no-libcuda", "`validate(numpy_array)`") == "missed"
    assert find(found, "no-libcuda", "`from_dlpack(x)` ≤ `numpy.from_dlpack(x)` (numpy)") == "met"
    assert find(found, "no-libcuda", "`from_dlpack(x)` ≤ `numpy.from_dlpack(x)` (jax)") == "not measured"


def test_scaling_spread_and_import(render: ModuleType) -> None:
    results = {NOOP: row(30)}
    for size, slower in zip(render.SIZES, (1.0, 1.0, 1.05, 1.12)):
        for subject in ("validate(x)", "Expect.check(x)", "from_dlpack(x)"):
            results[f"{subject} [{size}]"] = row(100 * (slower if subject == "from_dlpack(x)" else 1.0))
    measured = state(scaling={"results": results, "rss_growth_kib": 0})
    measured["import"]["loads"]["numpy"] = True
    found = verdicts(render, {"states": {"no-libcuda": measured}})
    assert find(found, "no-libcuda", "flat ±10 %") == "missed"  # 12 % for from_dlpack
    assert find(found, "no-libcuda", "no RSS growth") == "met"
    assert find(found, "no-libcuda", "`import optype_dlpack`") == "missed"  # 14 ms, but it loads NumPy


def test_an_unavailable_state_is_reported_not_judged(render: ModuleType) -> None:
    record = {"states": {"libcuda": {"description": "", "unavailable": "libcuda.so.1: cannot open"}}}
    assert render.evaluate(record) == [
        {"target": "every target", "state": "libcuda", "measured": "state unavailable: libcuda.so.1: cannot open",
         "verdict": "not measured"}
    ]


def test_cuda_targets_belong_to_the_libcuda_state(render: ModuleType) -> None:
    cuda = {"results": {
        NOOP: row(30),
        "Expect(verify_device='auto').check(x) [torch]": row(250),
        "Expect(verify_device='skip').check(x) [torch]": row(100),  # 2.5x: missed
    }}
    found = verdicts(render, {"states": {"no-libcuda": state(), "libcuda": state(cuda=cuda)}})
    assert find(found, "libcuda", "verified CUDA `Expect.check` (torch)") == "missed"
    assert find(found, "libcuda", "verified CUDA `Expect.check` (cupy)") == "not measured"
    assert not [target for (name, target) in found if name == "no-libcuda" and "CUDA" in target]


def test_measure_discards_the_warmup_and_interleaves(worker: ModuleType) -> None:
    calls: list[str] = []
    subjects = [("a", "record('a')", {"record": calls.append}), ("b", "record('b')", {"record": calls.append})]
    results = worker.measure(subjects, repeats=4, warmup=3, sample_ns=20_000)
    assert [results[name]["repeats"] for name in ("a", "b")] == [4, 4]
    assert all(results[name]["min_ns"] <= results[name]["median_ns"] for name in ("a", "b"))
    loops = {name: results[name]["loops"] for name in ("a", "b")}
    timed = calls[-(loops["a"] * 7 + loops["b"] * 7):]  # the 3 warm-up and 4 kept repeats
    samples, position = [], 0
    while position < len(timed):
        samples.append(timed[position])
        position += loops[timed[position]]
    # every repeat times each subject once: the subjects take turns, the floors among them
    assert [sorted(samples[i:i + 2]) for i in range(0, len(samples), 2)] == [["a", "b"]] * 7


def test_a_wrong_statement_fails_before_any_timing(worker: ModuleType) -> None:
    with pytest.raises(NameError):
        worker.measure([("bad", "missing(x)", {"x": 1})], repeats=1, warmup=0, sample_ns=1000)

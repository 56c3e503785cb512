"""The compatibility matrix (optype_dlpack._survey) over a few producers, consumers and cases,
and the reproducers docs/compatibility.md links to."""

from __future__ import annotations

import argparse
import json
import re
import signal
from pathlib import Path
from typing import Any

import pytest

from optype_dlpack import _survey
from tests.support.child import run_python
from tests.support.frameworks import missing_here, needs, skip_if_missing

ROOT = Path(__file__).resolve().parents[2]
# The modules of the test requirements (pyproject.toml's test group). A reproducer that needs
# another framework (tensorflow, paddle, pyarrow, mlx: each hundreds of MB) is run where the
# matrix is recorded, by the survey's documented command, not here.
TEST_REQUIREMENTS = {"numpy", "torch", "jax", "jaxlib", "ml_dtypes", "array_api_strict", "dlpack", "tvm_ffi", "optype_dlpack"}
# What a GPU machine has (the GPU suite runs these reproducers there; elsewhere they need hardware).
GPU_FRAMEWORKS = {"cupy", "numba"}
IMPORTED = re.compile(r"^(?:import|from)\s+(\w+)", re.MULTILINE)


def needs_only_test_requirements(path: Path) -> bool:
    builtin = {"sys", "os", "ctypes", "gc", "signal", "subprocess", "math", "__future__"}
    return set(IMPORTED.findall(path.read_text(encoding="utf-8"))) <= TEST_REQUIREMENTS | GPU_FRAMEWORKS | builtin


def needs_gpu(path: Path) -> bool:
    text = path.read_text(encoding="utf-8")
    return "torch.cuda.is_available()" in text or bool(set(IMPORTED.findall(text)) & GPU_FRAMEWORKS)


def gpu_present() -> bool:
    from optype_dlpack import _core

    return bool(_core.cuda_driver_available())


REPRODUCERS = [path for path in sorted((ROOT / "docs" / "reproducers").glob("*.py")) if needs_only_test_requirements(path)]
CASES = ["float32", "bfloat16", "negative-strides", "read-only", "empty"]
# torch and jax as test requirements, unless this run leaves one out (tests/support/frameworks.py)
FRAMEWORKS = [name for name in ("torch", "jax") if not missing_here(name)]
PRODUCERS = ["numpy", "counting", *FRAMEWORKS]
CONSUMERS = ["numpy", "optype_dlpack", *FRAMEWORKS]


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    return _survey.survey(PRODUCERS, CONSUMERS, CASES)


def cell(result: dict[str, Any], producer: str, consumer: str, case: str) -> dict[str, Any]:
    [entry] = [p for p in result["producers"] if p["name"] == producer]
    [found] = [c for c in entry["cells"] if c["consumer"] == consumer and c["case"] == case]
    return found  # type: ignore[no-any-return]


def test_structure(result: dict[str, Any]) -> None:
    assert result["machine"] == "cpu"
    assert [p["name"] for p in result["producers"]] == PRODUCERS
    assert result["consumers"] == CONSUMERS
    assert sorted(result["cases"]) == sorted(CASES)
    assert {"numpy", *FRAMEWORKS} <= set(result["versions"])
    json.dumps(result)  # what --format json prints
    for producer in result["producers"]:
        assert len(producer["cells"]) == len(CONSUMERS) * len(CASES)
        assert {c["status"] for c in producer["cells"]} <= {"ok", "copy", "refused", "n/a", "FAIL", "crash", "timeout"}
        assert producer["conformance"]["checks"]


def test_numpy_into_numpy_is_zero_copy_with_equal_values(result: dict[str, Any]) -> None:
    found = cell(result, "numpy", "numpy", "float32")
    assert found["status"] == "ok"
    assert found["zero_copy"] is True and found["values"] is True


def test_numpy_conforms(result: dict[str, Any]) -> None:
    [numpy] = [p for p in result["producers"] if p["name"] == "numpy"]
    assert numpy["conformance"]["ok"]


def test_the_package_imports_every_numpy_case(result: dict[str, Any]) -> None:
    statuses = {case: cell(result, "numpy", "optype_dlpack", case)["status"] for case in CASES}
    assert statuses == dict.fromkeys(CASES, "ok")


def test_read_only_stays_read_only_through_the_package(result: dict[str, Any]) -> None:
    found = cell(result, "numpy", "optype_dlpack", "read-only")
    assert found["source_read_only"] is True and found["zero_copy"] is True and found["writable"] is False


def test_counting_producer_sees_each_tensor_deleted_once(result: dict[str, Any]) -> None:
    for consumer in CONSUMERS:
        found = cell(result, "counting", consumer, "float32")
        calls, _, _, made, _ = found["deleter"].split()
        assert calls == made, found


@needs("torch")
def test_a_dying_child_is_a_cell_not_the_end(result: dict[str, Any]) -> None:
    # torch aborts the process on a negative stride (2.13); whatever it does, the survey
    # records the cell and goes on with the next one
    found = cell(result, "numpy", "torch", "negative-strides")
    assert found["status"] in {"ok", "crash"}
    assert cell(result, "numpy", "torch", "read-only")["status"] in {"ok", "FAIL", "refused"}


def test_failures_make_the_exit_status(result: dict[str, Any]) -> None:
    broken = {"producers": [{"name": "p", "conformance": {"ok": True},
                             "cells": [{"producer": "p", "consumer": "c", "case": "k", "status": "crash", "detail": "x"}]}]}
    assert _survey.failures(broken) == ["p -> c [k]: crash x"]
    assert _survey.failures({"producers": [{"name": "p", "conformance": {"ok": False}, "cells": []}]})


def test_run_exits_0_when_every_cell_passes(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    _survey.add_arguments(parser)
    args = parser.parse_args(["--producers", "numpy", "--consumers", "numpy", "--cases", "float32", "--format", "json"])
    assert _survey.run(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["producers"][0]["cells"][0]["status"] == "ok"


def test_markdown_marks_the_gpu_run_until_it_is_merged(result: dict[str, Any]) -> None:
    text = _survey.render_markdown(result)
    assert "## GPU: not yet recorded" in text
    assert "| case | " + " | ".join(CONSUMERS) + " |" in text
    gpu = {**result, "machine": "gpu"}
    merged = _survey.render_markdown(result, [gpu])
    assert "## GPU run" in merged and "not yet recorded" not in merged


def test_absent_framework_is_reported_not_fatal() -> None:
    found = _survey.survey(["cupy", "numpy"], ["numpy"], ["float32"])
    if "cupy" not in found["not_installed"]:
        pytest.skip("CuPy is installed here (a GPU machine)")
    assert "No module named 'cupy'" in found["not_installed"]["cupy"]
    assert [p["name"] for p in found["producers"]] == ["numpy"]


@pytest.mark.parametrize("path", REPRODUCERS, ids=lambda p: p.name)
def test_reproducer_runs(path: Path) -> None:
    """Each reproducer either still shows its fault (an AssertionError, or the process killed
    by a signal) or reports the fault gone; any other ending is a broken reproducer."""
    for framework in set(IMPORTED.findall(path.read_text(encoding="utf-8"))) & (TEST_REQUIREMENTS - {"optype_dlpack"}):
        skip_if_missing(framework)
    if needs_gpu(path) and not gpu_present():
        pytest.skip("needs an NVIDIA GPU (the GPU suite runs it; docs/gpu-results.md)")
    completed = run_python(str(path), timeout=300)
    died = completed.returncode < 0 and -completed.returncode in {signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS}
    shows_fault = completed.returncode == 1 and "AssertionError" in completed.stderr
    gone = completed.returncode == 0 and "not reproduced" in completed.stdout
    assert died or shows_fault or gone, (completed.returncode, completed.stderr[-2000:])

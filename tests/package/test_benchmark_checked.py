"""The benchmark groups of @checked (benchmarks/worker.py): every subject runs, and the
subjects that should fail a mismatch do (a benchmark of a check that checks nothing proves nothing)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from optype_dlpack import CheckedCallError
from tests.support.frameworks import needs

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def worker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmarks_worker_checked", BENCHMARKS / "worker.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("framework", ["numpy", pytest.param("torch", marks=needs("torch"))])
def test_every_subject_of_the_checked_group_runs(worker: ModuleType, framework: str) -> None:
    subjects, facts = worker.checked_group(framework)
    names = [name for name, _, _ in subjects]
    assert "ours: @checked f(x, y) [Expect]" in names
    assert "plain: check(x); check(y); f(x, y)" in names
    # a test requirement where it installs (Python 3.11+): there the comparison is always measured
    assert facts["jaxtyping"] is (sys.version_info >= (3, 11))
    for _, statement, namespace in subjects:
        exec(compile(statement, "<subject>", "exec"), dict(namespace))  # noqa: S102 - the group's own statements


def test_the_measured_functions_check(worker: ModuleType) -> None:
    space: dict[str, Any] = worker.checked_functions("numpy", jaxtyping=False)
    mismatched = (np.ones((2, 3), np.float32), np.ones((4, 5), np.float32))  # k = 3, then 4
    for name in ("with_symbols", "with_groups"):
        with pytest.raises(CheckedCallError):
            space[name](*mismatched)
    with pytest.raises(CheckedCallError):
        space["with_expect"](np.ones(2, np.float32), mismatched[1])  # ndim 1
    assert space["switched_off"] is space["plain"]

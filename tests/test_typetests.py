"""The type tests pass under mypy (three Python versions) and basedpyright.

Both checkers read their settings from pyproject.toml: strict, with every expected error
written as `# type: ignore[code]  # pyright: ignore[rule]` and both set to fail when an
expected error goes away (`warn_unused_ignores`; `reportUnnecessaryTypeIgnoreComment`, with
`enableTypeIgnoreComments = false` so that mypy's comments do not silence pyright).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TYPETESTS = sorted((ROOT / "typetests").glob("*.pyi"))

pytestmark = pytest.mark.slow


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)


def _basedpyright() -> list[str]:
    script = Path(sys.executable).with_name("basedpyright")
    return [str(script)] if script.exists() else [sys.executable, "-m", "basedpyright"]


def test_there_are_type_tests() -> None:
    assert {path.name for path in TYPETESTS} >= {
        "test_enums.pyi",
        "test_errors.pyi",
        "test_protocols.pyi",
        "test_validate.pyi",
    }


@pytest.mark.parametrize("python_version", [None, "3.10", "3.13"], ids=["running", "py310", "py313"])
def test_mypy(python_version: str | None) -> None:
    args = [sys.executable, "-m", "mypy", "--config-file", "pyproject.toml", "--no-error-summary"]
    if python_version is not None:
        args += ["--python-version", python_version]
    result = _run([*args, *(str(path.relative_to(ROOT)) for path in TYPETESTS)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "", result.stdout


def test_basedpyright() -> None:
    # the stubs are checked too (strict), not only through what the type tests use
    args = [*_basedpyright(), "--pythonpath", sys.executable, "--outputjson", "typetests", "stubs"]
    result = _run(args)
    report = json.loads(result.stdout)
    errors = [
        f"{d['file']}:{d['range']['start']['line'] + 1}: {d['message']} ({d.get('rule', '')})"
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    ]
    assert errors == []
    assert report["summary"]["errorCount"] == 0
    assert report["summary"]["filesAnalyzed"] >= len(TYPETESTS)
    assert result.returncode == 0, result.stderr

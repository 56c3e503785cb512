"""The type tests pass under mypy (three Python versions) and basedpyright.

They read the package from this tree: its `.py` files and `_core.pyi` are the typed source
(docs/typing.md), and both checkers check those too, strict, through the same runs.
Both checkers read their settings from pyproject.toml: strict, with every expected error
written as `# type: ignore[code]  # pyright: ignore[rule]` and both set to fail when an
expected error goes away (`warn_unused_ignores`; `reportUnnecessaryTypeIgnoreComment`, with
`enableTypeIgnoreComments = false` so that mypy's comments do not silence pyright).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # mypy brings tomli on 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
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


def test_expected_errors_must_stay_errors() -> None:
    # without these settings a negative test line would pass silently once its error went away
    with (ROOT / "pyproject.toml").open("rb") as file:
        tool = tomllib.load(file)["tool"]
    mypy, pyright = tool["mypy"], tool["basedpyright"]
    assert mypy["strict"] is True
    assert mypy["warn_unused_ignores"] is True
    assert "ignore-without-code" in mypy["enable_error_code"]
    # nothing shadows the package's own types: no separate stub directory
    assert "mypy_path" not in mypy
    assert mypy["files"] == ["optype_dlpack"]
    assert pyright["typeCheckingMode"] == "strict"
    assert pyright["enableTypeIgnoreComments"] is False
    assert pyright["reportUnnecessaryTypeIgnoreComment"] == "error"
    assert pyright["reportIgnoreCommentWithoutRule"] == "error"
    assert "stubPath" not in pyright
    assert pyright["include"] == ["optype_dlpack", "typetests"]


@pytest.mark.parametrize("path", TYPETESTS, ids=lambda path: path.name)
def test_every_expected_error_is_expected_by_both_checkers(path: Path) -> None:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        mypy = re.search(r"# type: ignore\[[\w-]+(, [\w-]+)*\]", line)
        pyright = re.search(r"# pyright: ignore\[\w+(, \w+)*\]", line)
        assert bool(mypy) == bool(pyright), f"{path.name}:{number}: one checker's expectation only: {line}"


@pytest.mark.parametrize("python_version", [None, "3.10", "3.13"], ids=["running", "py310", "py313"])
def test_mypy(python_version: str | None) -> None:
    args = [sys.executable, "-m", "mypy", "--config-file", "pyproject.toml", "--no-error-summary"]
    if python_version is not None:
        args += ["--python-version", python_version]
    # the package explicitly too: its own files are checked, not only what the type tests use
    result = _run([*args, "optype_dlpack", *(str(path.relative_to(ROOT)) for path in TYPETESTS)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "", result.stdout


def test_basedpyright() -> None:
    # the package (its .py files and _core.pyi) is checked too (strict), not only through
    # what the type tests use
    args = [*_basedpyright(), "--pythonpath", sys.executable, "--outputjson", "typetests", "optype_dlpack"]
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

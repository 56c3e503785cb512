"""The type tests pass under mypy, pyright, basedpyright, pyrefly and ty at every supported
Python version (tests/typing/typetest_matrix.py runs and judges them).

They read the package from this tree: its `.py` files and `_core.pyi` are the typed source
(docs/typing.md), and every checker checks those too, through the same runs. Every expected
error is written `# type: ignore[code]  # pyright: ignore[rule]` (or names its checkers with
`# rejected-by:`), and a run fails when an expected error goes away: mypy and pyright through
their own settings (`warn_unused_ignores`; `reportUnnecessaryTypeIgnoreComment`, with
`enableTypeIgnoreComments = false` so that mypy's comments do not silence pyright), pyrefly and
ty through the matrix script, which compares their errors with those lines.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.typing import typetest_matrix

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
    # pyrefly and ty honour no other tool's ignore comment: the matrix checks their errors
    # against the expected-error lines itself
    assert tool["pyrefly"]["enabled-ignores"] == ["pyrefly"]
    assert tool["ty"]["analysis"]["respect-type-ignore-comments"] is False


@pytest.mark.parametrize("path", TYPETESTS, ids=lambda path: path.name)
def test_every_expected_error_is_expected_by_both_checkers(path: Path) -> None:
    # a line that only some checkers refuse says which (`# rejected-by:`, checked against its
    # native comments by typetest_matrix.native_comment_problems)
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if "# rejected-by:" in line:
            continue
        mypy = re.search(r"# type: ignore\[[\w-]+(, [\w-]+)*\]", line)
        pyright = re.search(r"# pyright: ignore\[\w+(, \w+)*\]", line)
        assert bool(mypy) == bool(pyright), f"{path.name}:{number}: one checker's expectation only: {line}"


def test_partial_expectations_carry_each_named_checkers_comment() -> None:
    assert typetest_matrix.native_comment_problems() == []


def test_every_allowlist_entry_names_its_upstream_issue() -> None:
    for entry in typetest_matrix.allowlist():
        assert entry.checker in typetest_matrix.CHECKERS
        assert set(entry.python) <= set(typetest_matrix.PYTHON_VERSIONS)
        assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+/issues/\d+", entry.issue), entry
        assert len(entry.reason) > 40, entry


@pytest.fixture(scope="module")
def runs() -> list[typetest_matrix.Run]:
    return typetest_matrix.run_all()


def test_the_matrix_passes_under_every_checker_and_python_version(runs: list[typetest_matrix.Run]) -> None:
    # mypy, pyright, basedpyright, pyrefly and ty at Python 3.10 ... 3.14, each over the type
    # tests and the package's own sources: every expected error proven, no other error,
    # checker bugs only through the allowlist, no stale entry
    assert len(runs) == len(typetest_matrix.CHECKERS) * len(typetest_matrix.PYTHON_VERSIONS)
    assert typetest_matrix.judge(runs, typetest_matrix.allowlist()) == []


def test_the_producer_matrix_in_the_docs_is_the_one_the_checkers_give(runs: list[typetest_matrix.Run]) -> None:
    docs = (ROOT / "docs" / "typing.md").read_text(encoding="utf-8")
    begin, end = "<!-- producer matrix: begin -->\n", "<!-- producer matrix: end -->"
    assert begin in docs and end in docs
    written = docs.split(begin, 1)[1].split(end, 1)[0]
    assert written == typetest_matrix.markdown(runs), "regenerate: python tests/typing/typetest_matrix.py --markdown FILE"

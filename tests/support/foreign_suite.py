"""Another project's installed test file, run in a child pytest against this package.

NumPy's and pydlpack's wheels ship their tests. A test here finds the file in the installed
package (it is never copied into this repository) and runs it with the plugin
tests/support/foreign_suite_plugin.py, which puts this package's function in place of the
project's own before the file is collected. The run is isolated from this repository's and
the project's pytest configuration (an empty ini file in a temporary folder is the root), so
that neither one's options decide what the other's tests mean.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from tests.support.child import run_python


@dataclass
class SuiteRun:
    """What the child pytest did: each test's outcome ("passed", "failed", "xfailed",
    "skipped: reason"), how often the substitute was called, and its output."""

    tests: dict[str, str]
    calls: int
    unmatched_known_differences: list[str]
    returncode: int
    output: str

    def failures(self) -> dict[str, str]:
        return {name: outcome for name, outcome in self.tests.items() if outcome != "passed" and outcome != "xfailed"}


def run_suite(
    test_file: Path,
    substitute: str,
    known_differences: dict[str, tuple[str, str]],
    tmp_path: Path,
    *,
    confcutdir: Path | None = None,
    select: str | None = None,
    ignore_warnings: tuple[str, ...] = (),
) -> SuiteRun:
    """Runs `test_file` with the substitute ``--substitute`` names; `known_differences`
    ({test name pattern: (exception name, reason)}) must fail with that exception.
    `confcutdir` lets the project's own conftest.py files from that folder down take part (by
    default none does); `select` is a ``-k`` expression. Every warning is an error, except the
    categories in `ignore_warnings` (``ResourceWarning``)."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    differences = tmp_path / "known_differences.json"
    differences.write_text(json.dumps(known_differences))
    outcomes = tmp_path / "outcomes.json"
    arguments = [
        "-m",
        "pytest",
        "-p",
        "foreign_suite_plugin",
        "-p",
        "no:cacheprovider",  # writes nothing into the installed package
        "-c",
        str(tmp_path / "pytest.ini"),
        "--rootdir",
        str(tmp_path),
        # as NumPy's own runs: its conftest.py imports as numpy.conftest (importlib mode would
        # import it under another name, and with it a second numpy, which numpy refuses)
        "--import-mode=prepend",
        "-W",
        "error",
        "-q",
        f"--substitute={substitute}",
        f"--known-differences={differences}",
        f"--outcomes={outcomes}",
        str(test_file),
    ]
    if confcutdir is not None:
        arguments.insert(-1, f"--confcutdir={confcutdir}")
    for category in ignore_warnings:
        arguments[-1:-1] = ["-W", f"ignore::{category}"]
    if select is not None:
        arguments[-1:-1] = ["-k", select]
    # The plugin is loaded by its own name, from this folder: it imports nothing of the tests.
    path = os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))
    # PYTHONDONTWRITEBYTECODE: no rewritten test module is cached next to the installed file
    environment = {"PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1"}
    completed = run_python(*arguments, cwd=tmp_path, timeout=600.0, env=environment)
    output = completed.stdout[-6000:] + completed.stderr[-3000:]
    assert outcomes.exists(), f"the child pytest ended before it finished ({completed.returncode}):\n{output}"
    recorded = json.loads(outcomes.read_text())
    return SuiteRun(
        tests=recorded["tests"],
        calls=recorded["calls"],
        unmatched_known_differences=recorded["unmatched_known_differences"],
        returncode=completed.returncode,
        output=output,
    )

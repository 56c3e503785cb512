"""Fresh interpreters for the tests that must not run in the test session itself.

Some cases would crash or hang the interpreter if the code under test were wrong; some need
process-wide state to be fresh (the CUDA driver is opened once per process, ml_dtypes is
imported once, the interpreter exits). They run in a child process, so that a crash fails
the test instead of ending the session.

Every child imports the same optype_dlpack as the session (the build under test, not the
uncompiled source tree), and can import ``tests.support`` after it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import optype_dlpack

REPOSITORY = Path(__file__).resolve().parents[2]
# The directory the package under test was imported from.
PACKAGE_PARENT = str(Path(optype_dlpack.__file__).resolve().parents[1])
TIMEOUT_S = 120.0  # a hung child fails its test instead of the whole session


def child_environment(**variables: str) -> dict[str, str]:
    """This process's environment plus `variables`, with a PYTHONPATH that finds the package
    under test first and the repository (for ``tests.support``) after it."""
    env = {**os.environ, **variables}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGE_PARENT, env.get("PYTHONPATH"), str(REPOSITORY)]))
    return env


def run_python(
    *arguments: str,
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout: float = TIMEOUT_S,
) -> subprocess.CompletedProcess[str]:
    """Runs ``python *arguments`` and returns what it did; a hang fails the test.

    `env` adds variables to this process's environment. The working directory defaults to
    the package's parent: ``-c`` puts the working directory first on sys.path, and in a
    source checkout that holds the uncompiled package.
    """
    try:
        return subprocess.run(
            [sys.executable, *arguments],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=child_environment(**(env or {})),
            cwd=PACKAGE_PARENT if cwd is None else cwd,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the child process did not finish within {timeout} s (a hang)")


def run_code(code: str, *argv: str, **options: Any) -> subprocess.CompletedProcess[str]:
    """Runs the (dedented) `code` with ``python -c``; `argv` becomes sys.argv[1:]."""
    return run_python("-c", textwrap.dedent(code), *argv, **options)


def last_json(completed: subprocess.CompletedProcess[str], *, quiet: bool = False) -> Any:
    """The JSON document the child printed last. A failed child fails the test with what it
    said; with `quiet`, so does any output on stderr."""
    assert completed.returncode == 0, (
        f"the child process failed ({completed.returncode}):\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
    )
    if quiet:
        assert completed.stderr == "", completed.stderr
    return json.loads(completed.stdout.splitlines()[-1])


_AGAINST_MODULE = """
import ctypes, importlib.util, json, os, sys
spec = importlib.util.spec_from_file_location("helpers_under_test", sys.argv[1])
t = importlib.util.module_from_spec(spec)
spec.loader.exec_module(t)
result = {}
exec(sys.argv[2])
print(json.dumps(result))
"""


def run_against(module_file: str, snippet: str, **options: Any) -> dict[str, Any]:
    """Runs `snippet` in a child that has loaded `module_file` (a test file) as ``t``; the
    snippet fills the dict ``result``, which comes back."""
    result: dict[str, Any] = last_json(run_code(_AGAINST_MODULE, module_file, textwrap.dedent(snippet), **options))
    return result

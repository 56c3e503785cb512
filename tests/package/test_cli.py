"""The command line (``optype-dlpack``, ``python -m optype_dlpack``): exit statuses, one-line
errors, --version, --format json, prog, a closed stdout, colour, and survey's verdict.

Every case runs the command in a child process, as a user would.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys

import numpy
import pytest

import optype_dlpack as od
from tests.support.child import PACKAGE_PARENT, REPOSITORY, TIMEOUT_S, child_environment, run_code, run_python

if sys.version_info >= (3, 11):
    import tomllib
else:  # mypy, a test requirement, brings tomli on 3.10
    import tomli as tomllib

ANSI = re.compile(r"\033\[[0-9;]*m")
EXIT_BROKEN_PIPE = 141


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m optype_dlpack ARGS`` in a child."""
    return run_python("-m", "optype_dlpack", *args, env=env)


def console_script(*args: str) -> subprocess.CompletedProcess[str]:
    """The ``optype-dlpack`` script as pip writes it: the entry point pyproject.toml names,
    called without arguments, with sys.argv as the shell gives it."""
    with (REPOSITORY / "pyproject.toml").open("rb") as file:
        target = tomllib.load(file)["project"]["scripts"]["optype-dlpack"]
    module, _, function = target.partition(":")
    code = f"""
        import sys
        from {module} import {function}
        sys.argv[0] = "/usr/local/bin/optype-dlpack"
        sys.exit({function}())
    """
    return run_code(code, *args)


# -- exit statuses and errors ----------------------------------------------------------------


def test_check_of_a_conforming_producer_exits_0() -> None:
    result = cli("check", "numpy:arange(3.0)")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "numpy:arange(3.0): conforms" in result.stdout
    assert result.stderr == ""


def test_check_of_a_non_conforming_producer_exits_1() -> None:
    result = cli("check", "builtins:object()")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "builtins:object(): does NOT conform" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "no-colon"], "expected MODULE:EXPRESSION such as 'numpy:arange(3.0)', got 'no-colon'"),
        (["check", "no_such_module_xyz:f()"], "cannot import 'no_such_module_xyz': ModuleNotFoundError:"),
        (["check", "numpy:arange("], "evaluating 'arange(' in numpy raised SyntaxError:"),
        (["check", "numpy:no_such_name"], "evaluating 'no_such_name' in numpy raised NameError:"),
        (["check", "numpy:arange(1, 2, 0)"], "evaluating 'arange(1, 2, 0)' in numpy raised ZeroDivisionError:"),
    ],
    ids=["usage", "import", "syntax", "name", "evaluation"],
)
def test_an_import_or_evaluation_error_is_one_line_and_exits_2(args: list[str], message: str) -> None:
    result = cli(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"python -m optype_dlpack check: error: {message}"), line


def test_traceback_shows_the_traceback_of_an_error() -> None:
    result = cli("check", "--traceback", "numpy:no_such_name")
    assert result.returncode == 2
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert "NameError: name 'no_such_name' is not defined" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("python -m optype_dlpack check: error: evaluating")


@pytest.mark.parametrize("args", [[], ["bogus"], ["check"], ["info", "--format", "yaml"]], ids=repr)
def test_a_usage_error_is_one_line_and_exits_2(args: list[str]) -> None:
    result = cli(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = result.stderr.splitlines()
    assert re.match(r"python -m optype_dlpack( \w+)?: error: .+ \(see 'python -m optype_dlpack( \w+)? --help'\)$", line)


# -- --version, prog, --help -----------------------------------------------------------------


def test_version() -> None:
    result = cli("--version")
    assert (result.returncode, result.stdout) == (0, f"optype_dlpack {od.__version__}\n")


def test_prog_is_python_m_under_m_and_the_script_name_as_the_script() -> None:
    module = cli("--help")
    assert module.returncode == 0
    assert module.stdout.startswith("usage: python -m optype_dlpack ")
    assert "python -m optype_dlpack check 'numpy:arange(3.0)'" in module.stdout
    script = console_script("--help")
    assert script.returncode == 0, script.stderr
    assert script.stdout.startswith("usage: optype-dlpack ")
    assert "optype-dlpack check 'numpy:arange(3.0)'" in script.stdout
    assert "python -m" not in script.stdout


def test_console_script_runs_check() -> None:
    result = console_script("check", "builtins:object()")
    assert result.returncode == 1
    assert "does NOT conform" in result.stdout


def test_check_help_says_the_expression_is_evaluated_as_python() -> None:
    result = cli("check", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "EXPRESSION is evaluated as Python (eval) in a copy of that module's namespace" in text
    assert "python -m optype_dlpack check 'numpy:arange(3.0)'" in text


def test_every_example_in_the_help_is_quoted_for_the_shell() -> None:
    for args in (["--help"], ["check", "--help"]):
        for line in cli(*args).stdout.splitlines():
            if " check " in line and line.strip().startswith("python -m"):
                assert re.search(r"check (--format json )?'[^']+'$", line), line


# -- --format json ---------------------------------------------------------------------------


def test_check_json() -> None:
    result = cli("check", "--format", "json", "builtins:object()")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert document["producer"] == "builtins:object()"
    assert document["conforms"] is False
    statuses = {check["id"]: check["status"] for check in document["checks"]}
    assert statuses["method.dlpack"] == "fail"
    assert set(statuses.values()) <= {"pass", "warn", "fail", "skip"}


def test_info_json_and_text() -> None:
    document = json.loads(cli("info", "--format", "json").stdout)
    assert document["optype_dlpack"] == od.__version__
    assert document["dlpack_header"] == "{}.{}".format(*od.DLPACK_VERSION)
    assert document["enums"]["DLDeviceType"] == {m.name: m.value for m in od.DLDeviceType}
    assert document["enums"]["DLDataTypeCode"] == {m.name: m.value for m in od.DLDataTypeCode}
    text = cli("info")
    assert text.returncode == 0, text.stderr
    assert f"optype_dlpack {od.__version__}" in text.stdout
    assert "DLPack header  1.3" in text.stdout
    assert "CUDA driver" in text.stdout
    for member in [*od.DLDeviceType, *od.DLDataTypeCode]:
        assert member.name in text.stdout


# -- survey (optype_dlpack._survey's: tests/package/test_survey.py tests the matrix itself) --

SMALL_SURVEY = ("survey", "--producers", "numpy", "--consumers", "numpy", "--cases", "0-d,transposed")


def test_survey_of_numpy_prints_versions_and_a_plain_summary_when_piped() -> None:
    result = cli(*SMALL_SURVEY)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"numpy {numpy.__version__}" in result.stdout.splitlines()
    summary = result.stdout[result.stdout.index("\nsummary\n") :].splitlines()[2:]
    assert summary[0].split() == ["producer", "verdict", "ok", "copy", "refused", "failed"]
    assert summary[1].split() == ["numpy", "conforms", "2", "0", "0", "0"]
    assert ANSI.search(result.stdout) is None  # piped: plain


def test_survey_json() -> None:
    result = cli(*SMALL_SURVEY, "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["versions"]["numpy"] == numpy.__version__
    assert [producer["name"] for producer in document["producers"]] == ["numpy"]


def test_survey_summary_in_colour_when_asked() -> None:
    result = cli(*SMALL_SURVEY, "--color", "always")
    assert "\033[32mconforms\033[0m" in result.stdout



def test_survey_is_delegated_to_the_survey_module_when_it_exists() -> None:
    # the interface of optype_dlpack._survey: add_arguments(parser) and run(args) -> int
    code = """
        import sys, types
        survey = types.ModuleType("optype_dlpack._survey")
        survey.add_arguments = lambda parser: parser.add_argument("--grid", default="small")
        survey.run = lambda args: print("delegated", args.grid, args.color, args.traceback) or 3
        sys.modules["optype_dlpack._survey"] = survey
        from optype_dlpack._cli import main
        sys.exit(main(sys.argv[1:]))
    """
    result = run_code(code, "survey", "--grid", "large", "--color", "never")
    assert (result.returncode, result.stdout, result.stderr) == (3, "delegated large never False\n", "")


# -- a closed stdout, colour -----------------------------------------------------------------


@pytest.mark.parametrize(
    "args", [["info"], ["check", "numpy:arange(3.0)"], ["check", "--format", "json", "builtins:object()"]]
)
def test_a_reader_that_goes_away_is_no_broken_pipe_error(args: list[str]) -> None:
    # a real pipe whose reading end is closed before the child writes (as `| head -n 0` would)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        child = run_writing_to([sys.executable, "-m", "optype_dlpack", *args], write_end)
    finally:
        os.close(write_end)
    assert child.stderr == ""
    assert child.returncode == EXIT_BROKEN_PIPE


def test_piped_into_head() -> None:
    command = f"{sys.executable} -m optype_dlpack info | head -n 1; exit ${{PIPESTATUS[0]}}"
    result = run_writing_to(["bash", "-c", command], subprocess.PIPE)
    assert result.stdout == f"optype_dlpack {od.__version__}\n"
    assert result.stderr == ""
    assert result.returncode in (0, EXIT_BROKEN_PIPE)  # whether head closed before the last write


def run_writing_to(command: list[str], stdout: int) -> subprocess.CompletedProcess[str]:
    """`command` in a child whose stdout is `stdout` (a file descriptor or subprocess.PIPE)."""
    return subprocess.run(
        command,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        env=child_environment(),
        cwd=PACKAGE_PARENT,
        timeout=TIMEOUT_S,
        check=False,
    )


def on_terminal(*args: str, no_color: str | None = None) -> str:
    """What ``python -m optype_dlpack ARGS`` writes to a terminal (a pseudo-terminal), with
    NO_COLOR set to `no_color` or unset."""
    env = child_environment()
    env.pop("NO_COLOR", None)
    if no_color is not None:
        env["NO_COLOR"] = no_color
    controller, terminal = pty.openpty()
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "optype_dlpack", *args],
            stdout=terminal,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=PACKAGE_PARENT,
        )
        os.close(terminal)
        chunks = []
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        child.wait(timeout=TIMEOUT_S)
    finally:
        os.close(controller)
    return b"".join(chunks).decode()


def test_colour_on_a_terminal_and_plain_with_no_color() -> None:
    coloured = on_terminal("check", "builtins:object()")
    assert "\033[31mfail\033[0m" in coloured
    assert "\033[1;31mdoes NOT conform\033[0m" in coloured
    plain = on_terminal("check", "builtins:object()", no_color="1")
    assert "does NOT conform" in plain
    assert ANSI.search(plain) is None


def test_colour_options() -> None:
    always = cli("check", "--color", "always", "builtins:object()")
    assert "\033[31mfail\033[0m" in always.stdout
    assert ANSI.sub("", always.stdout) == cli("check", "builtins:object()").stdout
    assert ANSI.search(cli("check", "--color", "never", "builtins:object()").stdout) is None

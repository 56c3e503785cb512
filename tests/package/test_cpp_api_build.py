"""docs/cpp.md's example extension is built as the page says (CMake, and the plain compiler
command) against nothing but the package, pybind11 and Python, then imported in a child.

Twice: against the package under test (the source tree, built in place or installed
editable) and against a wheel installed into a scratch virtual environment (slow: the wheel
builds the extension with CMake).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import pytest

import optype_dlpack
from tests.support.child import TIMEOUT_S, child_environment, last_json, run_code

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "cpp.md"
FILE_BLOCK = re.compile(r"^<!-- file: (\S+) -->\n```\w+\n(.*?)^```", re.DOTALL | re.MULTILINE)
RUN_BLOCK = re.compile(r"^<!-- run: (\S+) -->\n```sh\n(.*?)^```", re.DOTALL | re.MULTILINE)
BUILD_TIMEOUT_S = 600.0
TOOLS = str(Path(sys.executable).parent)  # cmake, when it came from PyPI, lies beside the interpreter

# Imports the example from the directory sys.argv[1] and calls it as docs/cpp.md says.
IMPORT_EXAMPLE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import example, optype_dlpack
result = {"package": optype_dlpack.__file__, "total": example.total(np.arange(5.0)),
          "squares": np.from_dlpack(example.squares(4)).tolist()}
try:
    example.total(np.zeros(3, np.float32))
except optype_dlpack.DLPackValidationError as error:
    result["error"] = str(error)
print(json.dumps(result))
"""


def write_example(directory: Path) -> None:
    """Writes the page's files (example.cpp, CMakeLists.txt) into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in FILE_BLOCK.findall(DOC.read_text(encoding="utf-8")):
        (directory / name).write_text(text, encoding="utf-8")


def shell_block(name: str) -> str:
    blocks = dict(RUN_BLOCK.findall(DOC.read_text(encoding="utf-8")))
    return blocks[name]


def run_shell(script: str, cwd: Path, env: dict[str, str]) -> None:
    """Runs the page's commands with bash; `python` is the interpreter `env`'s PATH finds first."""
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"{script}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def assert_example_works(result: dict[str, Any]) -> None:
    assert result["total"] == 10.0
    assert result["squares"] == [0.0, 1.0, 4.0, 9.0]
    assert "dtype: expected float64, got float32 [expect.dtype]" in result["error"]


def tree_environment(directory: Path) -> dict[str, str]:
    """The session's environment, with a `python` on PATH that imports the package under test."""
    env = child_environment()
    (directory / "bin").mkdir(exist_ok=True)
    python = directory / "bin" / "python"
    if not python.exists():
        python.symlink_to(sys.executable)
    env["PATH"] = os.pathsep.join([str(python.parent), env["PATH"], TOOLS])
    return env


def test_the_include_directory_holds_dlpack_h_and_the_umbrella_header() -> None:
    include = Path(optype_dlpack.get_include())
    assert (include / "dlpack" / "dlpack.h").is_file()
    assert "#define DLPACK_MINOR_VERSION 3" in (include / "dlpack" / "dlpack.h").read_text(encoding="utf-8")
    umbrella = (include / "optype_dlpack" / "optype_dlpack.hpp").read_text(encoding="utf-8")
    shipped = sorted(p.name for p in (include / "optype_dlpack").glob("*.hpp") if p.name != "optype_dlpack.hpp")
    assert sorted(re.findall(r'#include "(\w+\.hpp)"', umbrella)) == shipped


def test_the_cmake_directory_holds_the_package_configuration() -> None:
    cmake_dir = Path(optype_dlpack.get_cmake_dir())
    assert (cmake_dir / "optype_dlpackConfig.cmake").is_file()
    assert (cmake_dir / "optype_dlpackConfigVersion.cmake").is_file()


def test_plain_compiler_command_in_the_source_tree(tmp_path: Path) -> None:
    write_example(tmp_path)
    run_shell(shell_block("compiler"), tmp_path, tree_environment(tmp_path))
    result = last_json(run_code(IMPORT_EXAMPLE, str(tmp_path)))
    assert Path(result["package"]).parent == Path(optype_dlpack.__file__).parent
    assert_example_works(result)


@pytest.mark.slow
def test_cmake_package_in_the_source_tree(tmp_path: Path) -> None:
    write_example(tmp_path)
    run_shell(shell_block("cmake"), tmp_path, tree_environment(tmp_path))
    assert_example_works(last_json(run_code(IMPORT_EXAMPLE, str(tmp_path / "build"))))


@pytest.fixture(scope="module")
def scratch_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment holding the package from a freshly built wheel, and (through a
    .pth line after its own site-packages) this interpreter's packages: pybind11, numpy."""
    out = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
        cwd=out, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False,
    )
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "optype_dlpack/include/dlpack/dlpack.h" in names
    assert "optype_dlpack/share/cmake/optype_dlpack/optype_dlpackConfig.cmake" in names

    venv = out / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=TIMEOUT_S)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        env=env, check=True, capture_output=True, timeout=BUILD_TIMEOUT_S,
    )
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        env=env, check=True, capture_output=True, text=True,
    ).stdout.strip()
    (Path(site) / "zz_session_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    return venv


def venv_environment(venv: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), env["PATH"], TOOLS])
    return env


def import_in_venv(venv: Path, directory: Path) -> dict[str, Any]:
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", textwrap.dedent(IMPORT_EXAMPLE), str(directory)],
        cwd=directory, env=venv_environment(venv), capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
    )
    result: dict[str, Any] = last_json(done)
    assert Path(result["package"]).is_relative_to(venv), result["package"]
    return result


@pytest.mark.slow
@pytest.mark.parametrize("how", ["compiler", "cmake"])
def test_example_from_an_installed_wheel(scratch_venv: Path, tmp_path: Path, how: str) -> None:
    write_example(tmp_path)
    run_shell(shell_block(how), tmp_path, venv_environment(scratch_venv))
    assert_example_works(import_in_venv(scratch_venv, tmp_path / ("build" if how == "cmake" else "")))

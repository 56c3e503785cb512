"""An editable install (`pip install -e .`) gives type checkers the same types as the wheel.

A copy of the source tree is built twice, as a wheel and as an editable install, each into its
own virtual environment (with this interpreter's packages visible, for numpy's types and the
build backend). mypy and basedpyright then reveal the types of a small user file
in each: the answers must be identical, and precise (no `Any`, no `Unknown`, the device literal
kept). The two builds share one CMake build tree, so the extension compiles once.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

USER_CODE = """\
import optype_dlpack
from optype_dlpack import DLDeviceType, Expect


def use(x: optype_dlpack.CanDLPackCompat) -> None:
    reveal_type(optype_dlpack.validate(x, device=DLDeviceType.CUDA))
    reveal_type(optype_dlpack.from_dlpack)
    reveal_type(DLDeviceType.CPU)
    reveal_type(Expect(device=DLDeviceType.CPU, ndim=2))
    reveal_type(optype_dlpack.DLDevice.parse("cuda:1"))
    reveal_type(optype_dlpack.DLPACK_VERSION)
"""
REVEALS = USER_CODE.count("reveal_type(")


@dataclass(frozen=True)
class Install:
    python: Path
    package_dir: Path  # where `import optype_dlpack` finds the package


# The environments (and the checkers, which ask an environment's interpreter for its search
# path) find the package through their installs only, not through this session's PYTHONPATH.
_ENV = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}


def _run(args: list[str | Path], cwd: Path, env: dict[str, str] = _ENV) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, check=False)


def _checked(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result.stdout


def _copy_sources(destination: Path) -> None:
    # the tracked files (and the extension is built afresh): an editable install builds its
    # extension into the source tree, which must not be this checkout
    files = _checked(_run(["git", "ls-files", "-z"], ROOT)).split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _venv(path: Path) -> Path:
    # This interpreter's packages (numpy, the build backend, ...) are visible through a .pth
    # line naming its site-packages: a plain directory, so no .pth file there (an editable
    # install of another checkout, say) is read. `system_site_packages` would give the base
    # interpreter's packages, not those of the environment running the tests.
    venv.EnvBuilder(with_pip=False).create(path)
    python = path / "bin" / "python"
    site = Path(_checked(_run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], path)).strip())
    ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (site / "_parent_packages.pth").write_text("".join(f"{d}\n" for d in sorted(ours)), encoding="utf-8")
    return python


def _pip(python: Path, *args: str | Path, cwd: Path, env: dict[str, str]) -> None:
    # This interpreter's pip, installing into the other environment. --ignore-installed: the
    # optype_dlpack that runs these tests is visible there too (through the .pth line), and pip
    # would otherwise call the requirement satisfied by it, or uninstall it from here.
    _checked(_run([sys.executable, "-m", "pip", "--python", python, *args[:1], "--ignore-installed", *args[1:]],
                  cwd, env))


def _package_dir(python: Path, cwd: Path) -> Path:
    code = "import optype_dlpack, pathlib; print(pathlib.Path(optype_dlpack.__file__).parent)"
    return Path(_checked(_run([python, "-P", "-c", code], cwd)).strip())


@pytest.fixture(scope="module")
def installs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Install]:
    scratch = tmp_path_factory.mktemp("editable")
    source = scratch / "src"
    _copy_sources(source)
    env = {**_ENV, "OPTYPE_DLPACK_BUILD_DIR": str(scratch / "build")}

    wheel_python = _venv(scratch / "wheel-venv")
    _checked(_run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                   "-w", scratch / "dist", source], scratch, env))
    (wheel,) = (scratch / "dist").glob("*.whl")
    _pip(wheel_python, "install", "--no-deps", wheel, cwd=scratch, env=env)

    editable_python = _venv(scratch / "editable-venv")
    _pip(editable_python, "install", "--no-deps", "--no-build-isolation", "-e", source, cwd=scratch, env=env)

    result = {
        "wheel": Install(wheel_python, _package_dir(wheel_python, scratch)),
        "editable": Install(editable_python, _package_dir(editable_python, scratch)),
    }
    # each environment imports its own install, not this checkout or another copy
    assert result["editable"].package_dir == source / "optype_dlpack"
    assert result["wheel"].package_dir.is_relative_to(scratch / "wheel-venv")
    return result


@pytest.fixture(scope="module")
def user_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # a directory of its own: no pyproject.toml, no optype_dlpack/ beside it
    path = tmp_path_factory.mktemp("user") / "use.py"
    path.write_text(USER_CODE, encoding="utf-8")
    return path


def _mypy_reveals(install: Install, user_file: Path) -> list[str]:
    cache = user_file.parent / f".mypy_cache-{install.python.parent.parent.name}"
    result = _run(
        [sys.executable, "-m", "mypy", "--python-executable", install.python, "--cache-dir", cache,
         "--no-error-summary", "--show-error-codes", user_file.name],
        user_file.parent,
    )
    lines = result.stdout.splitlines()
    assert [line for line in lines if ": error:" in line] == [], result.stdout
    return [m.group(1) for line in lines if (m := re.search(r'note: Revealed type is "(.*)"$', line))]


def _pyright_reveals(install: Install, user_file: Path) -> list[str]:
    script = Path(sys.executable).with_name("basedpyright")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "basedpyright"]
    result = _run([*command, "--pythonpath", install.python, "--outputjson", user_file.name], user_file.parent)
    report = json.loads(result.stdout)
    diagnostics = report["generalDiagnostics"]
    assert [d["message"] for d in diagnostics if d["severity"] == "error"] == []
    return [
        d["message"].partition('" is "')[2].removesuffix('"')
        for d in diagnostics
        if d["severity"] == "information" and d["message"].startswith("Type of ")
    ]


CHECKERS = {"mypy": _mypy_reveals, "basedpyright": _pyright_reveals}


@pytest.mark.parametrize("checker", CHECKERS)
def test_editable_install_reveals_the_wheels_types(
    installs: dict[str, Install], user_file: Path, checker: str
) -> None:
    reveal = CHECKERS[checker]
    wheel = reveal(installs["wheel"], user_file)
    editable = reveal(installs["editable"], user_file)
    assert len(wheel) == REVEALS, wheel
    assert editable == wheel


@pytest.mark.parametrize("checker", CHECKERS)
def test_the_types_are_precise(installs: dict[str, Install], user_file: Path, checker: str) -> None:
    # what an install without `_core.pyi` beside the extension would reveal: Any / Unknown
    reveals = CHECKERS[checker](installs["editable"], user_file)
    assert len(reveals) == REVEALS, reveals
    assert [r for r in reveals if r in {"Any", "Unknown"} or "Unknown" in r] == []
    validate, from_dlpack, cpu, expect, device, version = reveals
    assert re.search(r"TensorInfo\[Literal\[(optype_dlpack\._enums\.)?DLDeviceType\.CUDA\]\]", validate), validate
    assert "ndarray" in from_dlpack, from_dlpack
    assert "DLDeviceType.CPU" in cpu, cpu
    assert re.search(r"Expect\[Literal\[(optype_dlpack\._enums\.)?DLDeviceType\.CPU\]\]", expect), expect
    assert "DLDevice[" in device, device
    assert "DLPackVersion" in version, version

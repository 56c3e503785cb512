"""The wheel puts the extension, the stubs, py.typed and the C++ headers together, and the
sdist holds everything a build needs (a wheel is built from it); both carry the LICENSE, and
the wheel's metadata says what pyproject.toml declares and publishes no development tools.

Each build runs CMake (about 20 s): the wheel from the repository reuses
``OPTYPE_DLPACK_BUILD_DIR`` when it is set; the one from the sdist always builds afresh.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # mypy, a test requirement, brings tomli on 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
STUBS = sorted((ROOT / "stubs" / "optype_dlpack").glob("*.pyi"))
HEADERS = sorted((ROOT / "src_cpp" / "include" / "optype_dlpack").glob("*.hpp"))
SOURCES = sorted((ROOT / "optype_dlpack").glob("*.py"))

pytestmark = pytest.mark.slow


def _build(source: Path, kind: str, outdir: Path, *, fresh: bool) -> Path:
    env = dict(os.environ)
    if fresh:  # a CMake build tree belongs to one source directory
        env.pop("OPTYPE_DLPACK_BUILD_DIR", None)
    result = subprocess.run(
        [sys.executable, "-m", "build", f"--{kind}", "--no-isolation", "--outdir", str(outdir), str(source)],
        cwd=outdir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    (built,) = outdir.glob("*.whl" if kind == "wheel" else "*.tar.gz")
    return built


@pytest.fixture(scope="module")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(ROOT, "wheel", tmp_path_factory.mktemp("wheel"), fresh=False)


@pytest.fixture(scope="module")
def wheel(built_wheel: Path) -> list[str]:
    with zipfile.ZipFile(built_wheel) as archive:
        return archive.namelist()


def _dist_info_file(built_wheel: Path, name: str) -> str:
    with zipfile.ZipFile(built_wheel) as archive:
        (path,) = [n for n in archive.namelist() if n.split("/")[0].endswith(".dist-info") and n.endswith(f"/{name}")]
        return archive.read(path).decode("utf-8")


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(ROOT, "sdist", tmp_path_factory.mktemp("sdist"), fresh=True)


@pytest.fixture(scope="module")
def sdist_names(sdist: Path) -> set[str]:
    with tarfile.open(sdist) as archive:
        # drop the leading "optype_dlpack-<version>/"
        return {name.partition("/")[2] for name in archive.getnames() if "/" in name}


def test_extension_is_in_the_package(wheel: list[str]) -> None:
    extensions = [name for name in wheel if name.startswith("optype_dlpack/_core.") and name.endswith((".so", ".pyd"))]
    assert len(extensions) == 1, wheel


def test_every_stub_sits_beside_its_module(wheel: list[str]) -> None:
    assert STUBS, "no stubs in the repository"
    for stub in STUBS:
        assert f"optype_dlpack/{stub.name}" in wheel
        module = stub.stem
        beside = [n for n in wheel if n == f"optype_dlpack/{module}.py" or n.startswith(f"optype_dlpack/{module}.")]
        assert any(not n.endswith(".pyi") for n in beside), f"{stub.name} stubs nothing in the wheel"


def test_every_module_is_in_the_package(wheel: list[str]) -> None:
    for source in SOURCES:
        assert f"optype_dlpack/{source.name}" in wheel


def test_py_typed_is_in_the_package(wheel: list[str]) -> None:
    assert "optype_dlpack/py.typed" in wheel


def test_headers_are_in_the_package(wheel: list[str]) -> None:
    assert HEADERS, "no headers in the repository"
    for header in HEADERS:
        assert f"optype_dlpack/include/optype_dlpack/{header.name}" in wheel


def test_nothing_lies_outside_the_package(wheel: list[str]) -> None:
    outside = [n for n in wheel if not n.startswith(("optype_dlpack/", "optype_dlpack-"))]
    assert outside == []


def test_sdist_holds_the_build_inputs(sdist_names: set[str]) -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "--", *_sdist_include()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    missing = sorted(name for name in tracked if name and name not in sdist_names)
    assert missing == []
    for needed in ("pyproject.toml", "hatch_build.py", "CMakeLists.txt", "optype_dlpack/py.typed"):
        assert needed in sdist_names


def test_wheel_from_sdist_has_the_same_files(sdist: Path, wheel: list[str], tmp_path: Path) -> None:
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path / "src", filter="data")
    (source,) = (tmp_path / "src").iterdir()
    built = _build(source, "wheel", tmp_path, fresh=True)
    with zipfile.ZipFile(built) as archive:
        assert sorted(archive.namelist()) == sorted(wheel)


def test_license_is_in_the_wheel(built_wheel: Path) -> None:
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("BSD 3-Clause License\n\nCopyright (c) 2026, The optype_dlpack developers\n")
    assert _dist_info_file(built_wheel, "licenses/LICENSE") == license_text


def test_license_is_in_the_sdist(sdist: Path, sdist_names: set[str]) -> None:
    assert "LICENSE" in sdist_names
    with tarfile.open(sdist) as archive:
        (member,) = [m for m in archive.getmembers() if m.name.endswith("/LICENSE") and m.name.count("/") == 1]
        extracted = archive.extractfile(member)
        assert extracted is not None
        assert extracted.read().decode("utf-8") == (ROOT / "LICENSE").read_text(encoding="utf-8")


def test_metadata_declares_license_classifiers_and_urls(built_wheel: Path) -> None:
    metadata = _dist_info_file(built_wheel, "METADATA").splitlines()
    assert "License-Expression: BSD-3-Clause" in metadata
    assert "License-File: LICENSE" in metadata
    classifiers = {line.removeprefix("Classifier: ") for line in metadata if line.startswith("Classifier: ")}
    supported = {f"Programming Language :: Python :: 3.{minor}" for minor in range(10, 14)}
    assert supported | {"Typing :: Typed", "Environment :: GPU :: NVIDIA CUDA", "Operating System :: POSIX :: Linux"} <= classifiers
    assert any(c.startswith("Development Status :: ") for c in classifiers)
    urls = {line.removeprefix("Project-URL: ").split(", ")[0] for line in metadata if line.startswith("Project-URL: ")}
    assert urls == {"Homepage", "Documentation", "Source", "Issues"}


def test_no_development_tool_is_published(built_wheel: Path) -> None:
    metadata = _dist_info_file(built_wheel, "METADATA").splitlines()
    requirements = [line.removeprefix("Requires-Dist: ") for line in metadata if line.startswith("Requires-Dist: ")]
    tools = ("mypy", "basedpyright", "pyright", "pyrefly", "ty", "pytest", "hatchling", "cmake", "build")
    published = [r for r in requirements if r.split(";")[0].split("[")[0].split(">")[0].split("=")[0].strip() in tools]
    assert published == []
    assert "Provides-Extra: test" not in metadata


def _sdist_include() -> list[str]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        include = tomllib.load(file)["tool"]["hatch"]["build"]["targets"]["sdist"]["include"]
    return [entry.lstrip("/") for entry in include]

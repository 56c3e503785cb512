"""Hatchling build hook: configure, build and install the C++ extension with CMake.

The extension is staged into a temporary prefix and mapped into the wheel with
``force_include``. For editable installs the extension is installed next to the sources
instead. Its stub, ``stubs/optype_dlpack/_core.pyi``, is linked from beside it
(``optype_dlpack/_core.pyi``), so the wheel and an editable install carry the same types
without any copying (docs/typing.md).

Honoured environment: ``CMAKE_ARGS`` (extra configure arguments, shell-split),
``CMAKE_BUILD_TYPE`` (default ``Release``), ``CMAKE_GENERATOR``, and
``OPTYPE_DLPACK_BUILD_DIR`` (a persistent build tree, for fast local rebuilds).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CMakeBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        root = Path(self.root)
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

        self._tmp = Path(tempfile.mkdtemp(prefix="optype-dlpack-build-"))
        try:
            if version == "editable":
                prefix = root  # installs optype_dlpack/_core*.so beside the sources
            else:
                prefix = self._tmp / "stage"
            build_dir = Path(os.environ.get("OPTYPE_DLPACK_BUILD_DIR") or self._tmp / "build")
            self._run_cmake(root, build_dir, prefix)
        except BaseException:
            shutil.rmtree(self._tmp, ignore_errors=True)
            raise

        if version != "editable":
            package = prefix / "optype_dlpack"
            for path in sorted(package.rglob("*")):
                if path.is_file():
                    target = "optype_dlpack/" + path.relative_to(package).as_posix()
                    build_data["force_include"][str(path)] = target

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        tmp = getattr(self, "_tmp", None)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    def _run_cmake(self, source: Path, build_dir: Path, prefix: Path) -> None:
        cmake = _find_cmake()
        configure = [
            cmake,
            "-S", str(source),
            "-B", str(build_dir),
            f"-DCMAKE_BUILD_TYPE={os.environ.get('CMAKE_BUILD_TYPE', 'Release')}",
            f"-DCMAKE_INSTALL_PREFIX={prefix}",
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-DPython_INCLUDE_DIR={sysconfig.get_paths()['include']}",
        ]
        try:
            import pybind11

            configure.append(f"-Dpybind11_DIR={pybind11.get_cmake_dir()}")
        except ImportError:  # CMake may still find a system pybind11
            pass
        configure += shlex.split(os.environ.get("CMAKE_ARGS", ""))
        jobs = str(os.cpu_count() or 2)
        self._call(configure)
        self._call([cmake, "--build", str(build_dir), "--parallel", jobs])
        self._call([cmake, "--install", str(build_dir)])

    def _call(self, args: list[str]) -> None:
        self.app.display_info("+ " + " ".join(args))
        subprocess.run(args, check=True)


def _find_cmake() -> str:
    try:
        import cmake  # the PyPI package puts a binary in its data dir

        candidate = Path(cmake.CMAKE_BIN_DIR) / "cmake"
        if candidate.exists():
            return str(candidate)
    except (ImportError, AttributeError):
        pass
    found = shutil.which("cmake")
    if found is None:
        raise RuntimeError("optype_dlpack needs CMake >= 3.18 to build (pip install cmake)")
    return found

"""Builds benchmarks/exchange_floor.c, the floor of any DLPack-based checker, at benchmark time.

    from exchange_floor import load_call_through
    call_through = load_call_through()   # the function, or a string saying why there is none

The build is cached under the system's temporary folder, keyed by a hash of the compiler
command, the Python version, the source and dlpack.h: a rerun imports the module already built.
dlpack.h is the one the measured package was built against (optype_dlpack.get_include(), where
the build installs it), else apache-tvm-ffi's, where the package's build takes it from
(cmake/dlpack.cmake); no copy of it lives in this repository. The compiler is $CC, else ``cc``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable
from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "exchange_floor.c"
MODULE = "_exchange_floor"
FLAGS = ["-O2", "-std=c11", "-shared", "-fPIC"]


def compiler() -> list[str]:
    """The C compiler command ($CC may carry flags, as "gcc -pthread"), or [] if none is found."""
    command = shlex.split(os.environ.get("CC", "cc"))
    return command if command and shutil.which(command[0]) else []


def dlpack_include() -> Path | None:
    """The folder holding dlpack/dlpack.h, or None."""
    candidates: list[Path] = []
    try:
        import optype_dlpack

        candidates.append(Path(optype_dlpack.get_include()))
    except (ImportError, AttributeError):
        pass
    try:
        import tvm_ffi.libinfo

        candidates.append(Path(tvm_ffi.libinfo.find_dlpack_include_path()))
    except Exception:  # noqa: BLE001, S110 - no apache-tvm-ffi, or one that cannot find its header
        pass
    return next((folder for folder in candidates if (folder / "dlpack" / "dlpack.h").is_file()), None)


def build(cc: list[str], include: Path) -> Path:
    """The built extension, compiled once per command, Python, source and header."""
    command = [*cc, *FLAGS, f"-I{sysconfig.get_paths()['include']}", f"-I{include}", str(SOURCE)]
    digest = hashlib.sha256("\0".join([*command, sys.version]).encode())
    digest.update(SOURCE.read_bytes())
    digest.update((include / "dlpack" / "dlpack.h").read_bytes())
    folder = Path(tempfile.gettempdir()) / "optype-dlpack-exchange-floor" / digest.hexdigest()[:16]
    target = folder / f"{MODULE}{sysconfig.get_config_var('EXT_SUFFIX')}"
    if not target.exists():
        folder.mkdir(parents=True, exist_ok=True)
        # into a private name first: a concurrent build never sees, or imports, a partial file
        partial = folder / f"{MODULE}.{os.getpid()}.partial"
        subprocess.run([*command, "-o", str(partial)], check=True, capture_output=True, text=True)
        partial.replace(target)
    return target


def load_call_through() -> Callable[..., object] | str:
    """`_exchange_floor.call_through`, built where needed; or why it cannot be had (a benchmark
    row is left out for that reason, never an error that stops its group)."""
    cc = compiler()
    if not cc:
        return f"no C compiler ({os.environ.get('CC', 'cc')!r} not found)"
    include = dlpack_include()
    if include is None:
        return "no dlpack.h (neither optype_dlpack.get_include() nor apache-tvm-ffi holds dlpack/dlpack.h)"
    try:
        target = build(cc, include)
    except subprocess.CalledProcessError as exc:
        said = " ".join(exc.stderr.strip().splitlines()[-3:])
        return f"building {SOURCE.name} failed ({' '.join(cc)} exited {exc.returncode}){': ' + said if said else ''}"
    except OSError as exc:
        return f"building {SOURCE.name} failed: {exc}"
    spec = importlib.util.spec_from_file_location(MODULE, target)
    if spec is None or spec.loader is None:
        return f"cannot import {target}"
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ImportError as exc:
        return f"importing {target.name} failed: {exc}"
    call_through: Callable[..., object] = module.call_through
    return call_through

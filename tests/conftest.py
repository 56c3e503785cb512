"""Shared fixtures: the two test producers and a small extension builder.

``cpp_producer`` is the C++ test producer (a compiled module: any field value, capsules made
by C++ code); ``ctypes_producer`` is the Python one (tests/support/ctypes_producer.py:
capsules over NumPy memory, with a deleter written in Python). ``tensors_freed`` and
``producer_memory`` work with the C++ one.

C++ test helpers are compiled straight with the C++ compiler (``$CXX``, default ``c++``)
against pybind11's, Python's and dlpack.h's include directories, and cached in the
temporary directory under a hash of everything that goes into them, so a session pays for
a build only when a source, a header or a flag changed.

``OPTYPE_DLPACK_TEST_CXXFLAGS`` adds compiler flags to every such build, e.g.
``-fsanitize=address,undefined`` (then run pytest with libasan preloaded, see
docs/validation.md).
"""

from __future__ import annotations

import gc
import hashlib
import importlib.util
import os
import shlex
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.ctypes_producer import CtypesProducer

TESTS = Path(__file__).parent
PRODUCER_SOURCE = TESTS / "producer" / "dlpack_test_producer.cpp"


def dlpack_include_dir() -> str:
    """The directory holding dlpack/dlpack.h (from the build requirement apache-tvm-ffi)."""
    # Asked in a child process: importing tvm_ffi here would load a thousand modules (and
    # torch) into the test session, which slows every gc.collect() down tenfold.
    code = "import tvm_ffi.libinfo as l; print(l.find_dlpack_include_path(), end='')"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def build_extension(
    source: Path,
    module_name: str,
    *,
    include_dirs: Iterable[str] = (),
    depends: Iterable[Path] = (),
) -> ModuleType:
    """Compile one C++ source into a Python extension module and import it.

    The build is cached under the hash of the source, the files in ``depends``, the flags
    and the interpreter, so an unchanged helper is never rebuilt.
    """
    import pybind11

    cxx = os.environ.get("CXX", "c++")
    includes = [pybind11.get_include(), sysconfig.get_paths()["include"], dlpack_include_dir(), *include_dirs]
    flags = [
        "-std=c++17",
        "-O1",
        "-g",
        "-fPIC",
        "-shared",
        "-fvisibility=hidden",
        "-fno-omit-frame-pointer",
        "-Wall",
        "-Wextra",
        *shlex.split(os.environ.get("OPTYPE_DLPACK_TEST_CXXFLAGS", "")),
    ]
    digest = hashlib.sha256()
    for part in (cxx, sys.version, *includes, *flags):
        digest.update(part.encode() + b"\0")
    for path in (source, *sorted(depends)):
        digest.update(path.read_bytes() + b"\0")
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    out_dir = Path(tempfile.gettempdir()) / "optype-dlpack-test-build" / digest.hexdigest()[:20]
    target = out_dir / f"{module_name}{suffix}"
    if not target.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        partial = out_dir / f".{module_name}.{os.getpid()}{suffix}"
        command = [cxx, *flags, *(f"-I{d}" for d in includes), str(source), "-o", str(partial)]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            pytest.fail(f"building {source.name} failed:\n{shlex.join(command)}\n{result.stderr}", pytrace=False)
        os.replace(partial, target)  # atomic: a parallel session sees the whole file or none

    spec = importlib.util.spec_from_file_location(module_name, target)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def build_cpp_extension() -> Callable[..., ModuleType]:
    """build_extension(source, module_name, *, include_dirs=(), depends=()) -> module."""
    return build_extension


@pytest.fixture(scope="session")
def cpp_producer() -> ModuleType:
    """The C++ test producer (tests/producer/dlpack_test_producer.cpp), the module itself.

    ``make_capsule(*, data, device, shape, strides, ndim, dtype, byte_offset, layout,
    version, flags, name, owner, allocate, null_deleter)``, ``deleter_calls()``,
    ``live_tensors()``, ``reset_counters()``, ``set_guard_pages(on)`` / ``guard_pages()``
    (see ``producer_memory``), and the ``Producer`` / ``LegacyProducer`` classes.
    """
    return build_extension(PRODUCER_SOURCE, "dlpack_test_producer")


@pytest.fixture(scope="module", params=["heap", "guard_pages"])
def producer_memory(request: pytest.FixtureRequest, cpp_producer: ModuleType) -> Iterator[str]:
    """Runs each test of a module twice: once with the producer's structs, arrays and data
    buffers on the heap (each its own exact-size allocation, which AddressSanitizer bounds),
    once with each ending where a PROT_NONE page begins, so that reading one byte past any
    of them faults at once even without sanitizers. Use it with
    ``pytestmark = pytest.mark.usefixtures("producer_memory")``."""
    cpp_producer.set_guard_pages(request.param == "guard_pages")
    try:
        yield request.param
    finally:
        cpp_producer.set_guard_pages(False)


@pytest.fixture
def tensors_freed(cpp_producer: ModuleType) -> Iterator[ModuleType]:
    """The C++ test producer, and a check that every tensor made during the test was freed, each
    by exactly one deleter call (capsules made with null_deleter=True are not counted)."""
    gc.collect()
    live_before = cpp_producer.live_tensors()
    cpp_producer.reset_counters()
    yield cpp_producer
    gc.collect()
    assert cpp_producer.live_tensors() == live_before, "a managed tensor was leaked"


@pytest.fixture
def ctypes_producer() -> Iterator[CtypesProducer]:
    """The Python test producer (tests/support/ctypes_producer.py); after the test, every
    tensor it made must have been freed, exactly once."""
    made = CtypesProducer()
    yield made
    gc.collect()
    assert made.live == {}, "a managed tensor was leaked"


def pytest_collection_finish(session: pytest.Session) -> None:
    """Moves everything imported so far (numpy, torch, jax, ...) out of the collector's
    sight: tests that count deleters call gc.collect(), which would otherwise walk those
    frameworks' millions of objects each time. Objects made by tests are collected as usual."""
    _jax_defaults_to_cpu()
    gc.collect()
    gc.freeze()


def _jax_defaults_to_cpu() -> None:
    """JAX puts new arrays on a GPU when it has one. The framework tests describe CPU arrays,
    so they stay on the CPU everywhere; the CUDA tests place theirs on the GPU explicitly."""
    try:
        import jax
    except ImportError:
        return
    jax.config.update("jax_default_device", jax.devices("cpu")[0])


def _resident_bytes() -> int:
    """This process's resident memory (Linux /proc). 0 where it says nothing about leaks, so
    the check is vacuous there: off Linux, and under AddressSanitizer (whose quarantine keeps
    freed memory resident on purpose)."""
    if "asan" in os.environ.get("LD_PRELOAD", ""):
        return 0
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


@pytest.fixture
def assert_no_growth() -> Callable[..., None]:
    """`assert_no_growth(round_trips, *watched)` runs `round_trips` once to warm caches, then
    again under measurement, and asserts that the second run grew neither Python's traced
    memory, nor the resident size, nor the reference counts of the `watched` objects."""
    import tracemalloc

    def check(round_trips: Callable[[], None], *watched: object) -> None:
        round_trips()
        gc.collect()
        refs = tuple(sys.getrefcount(obj) for obj in watched)
        resident = _resident_bytes()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            round_trips()
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        # tracemalloc sees Python's allocators only; the resident size also sees C allocations
        # (capsule structs, deleter contexts): 4 * 10^4 leaked structs would add megabytes.
        assert _resident_bytes() - resident < 2**20
        assert tuple(sys.getrefcount(obj) for obj in watched) == refs
        assert grown < 64 * 1024, f"{grown} bytes still allocated after the round trips"

    return check

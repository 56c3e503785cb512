"""pydlpack's own asdlpack tests pass with optype_dlpack.asdlpack in place of pydlpack's.

pydlpack (a pinned test requirement) ships its tests in its wheel. dlpack/tests/test_dlpack.py
is read from the installed package, never copied here, and run in a child pytest whose plugin
(tests/support/foreign_suite_plugin.py) binds ``optype_dlpack.asdlpack`` in place of
pydlpack's ``asdlpack`` and ``asdlpack_<protocol>`` before the file is collected. Its
backends are narrowed to this package's test requirements (numpy, torch, jax), so that the
verdict does not depend on what else happens to be installed; its skips are its own (CUDA
devices, protocols a backend lacks, a JAX bug it names). dlpack/tests/test_buffer.py and
test_capsule.py test pydlpack's Buffer and Capsule classes, which have no counterpart here.

KNOWN_DIFFERENCES lists the tests that assert pydlpack's own choices, where this package is
right to differ (docs/interop.md, "Differences from pydlpack's asdlpack"); they must fail.
A failing test_asdlpack_impl stops at its first sample (a 0-d array), so the behaviour its
other samples check is asserted here too, on the same samples, read with ``inspect``.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import optype_dlpack as od
from tests.support.capsules import capsule_pointer
from tests.support.child import REPOSITORY
from tests.support.dlpack_h import DLManagedTensor
from tests.support.foreign_suite import run_suite
from tests.support.frameworks import missing_here

PYDLPACK_TESTS = "dlpack.tests.test_dlpack"
BACKENDS = ("numpy", "torch", "jax")

NULL_SHAPE_AT_0D = (
    "a 0-d tensor's shape pointer is NULL in this package's capsules (there is no extent to point at; "
    "NumPy's own export does the same), and pydlpack's todict reads a NULL shape as None where the test "
    "expects (); pydlpack's exporter writes a pointer to nothing"
)

# {test name pattern (* matching anything): (the exception the test fails with, why this
# package differs)}
KNOWN_DIFFERENCES: dict[str, tuple[str, str]] = {
    "test_asdlpack_impl[DLManagedTensorVersioned-*]": (
        "AssertionError",
        "impl_cls=DLManagedTensorVersioned makes pydlpack put a DLManagedTensorVersioned into a 'dltensor' "
        "capsule, which the specification reserves for DLManagedTensor; this package's __dlpack__() without "
        "max_version gives a legacy capsule, and a versioned one only to a consumer that asks with max_version",
    ),
    "test_asdlpack_impl[DLManagedTensor-cpu-*-numpy]": ("AssertionError", NULL_SHAPE_AT_0D),
    "test_asdlpack_buffer[*]": (
        "BufferError",
        "asdlpack keeps its buffer export while the DLPackObject and the arrays over its memory live, so "
        "the test's mmap.close() under them raises BufferError, the buffer protocol's answer; pydlpack "
        "releases the export at once, and the arrays it leaves behind address unmapped memory",
    ),
}


JAX_NULL_SHAPE_TEST = "test_asdlpack_impl[DLManagedTensor-cpu-dlpack-jax]"


def jax_exports_null_shape_at_0d() -> bool:
    """Whether JAX's legacy capsule of a 0-d array has a NULL shape (asdlpack hands a
    producer's capsule on as it is): what the producer declares, not a fact assumed of a
    JAX version."""
    import jax.numpy as jnp

    capsule = jnp.asarray(np.int8(1)).__dlpack__()
    return not DLManagedTensor.from_address(capsule_pointer(capsule)).dl_tensor.shape


def known_differences() -> dict[str, tuple[str, str]]:
    known = dict(KNOWN_DIFFERENCES)
    if not missing_here("jax") and jax_exports_null_shape_at_0d():
        known[JAX_NULL_SHAPE_TEST] = (
            "AssertionError",
            "JAX's own capsule of a 0-d array has a NULL shape, and asdlpack hands it on as JAX made it "
            "(pydlpack rebuilds the struct): " + NULL_SHAPE_AT_0D,
        )
    return known


# The tests of pydlpack's matrix that must run here (the rest are its CUDA, cuDF, numba,
# CuPy and TensorFlow cells, protocols a backend lacks, and JAX cells it skips itself).
MUST_RUN = {
    "numpy": [
        *(f"test_asdlpack_impl[{impl}-cpu-{protocol}-numpy]"
          for impl in ("DLManagedTensor", "DLManagedTensorVersioned")
          for protocol in ("dlpack", "array_interface_v3", "buffer")),
        *(f"test_asdlpack_function[cpu-{protocol}-numpy]" for protocol in ("dlpack", "array_interface_v3", "buffer")),
        "test_asdlpack_buffer[numpy]",
    ],
    "torch": [
        "test_asdlpack_impl[DLManagedTensor-cpu-dlpack-torch]",
        "test_asdlpack_impl[DLManagedTensorVersioned-cpu-dlpack-torch]",
        "test_asdlpack_function[cpu-dlpack-torch]",
        "test_asdlpack_buffer[torch]",
    ],
    "jax": [
        "test_asdlpack_impl[DLManagedTensor-cpu-dlpack-jax]",
        "test_asdlpack_impl[DLManagedTensorVersioned-cpu-dlpack-jax]",
    ],
}


def pydlpack_tests() -> Path:
    spec = importlib.util.find_spec(PYDLPACK_TESTS)
    assert spec is not None and spec.origin is not None, "pydlpack's wheel ships dlpack/tests/test_dlpack.py"
    return Path(spec.origin)


def test_pydlpacks_asdlpack_suite_passes_with_this_asdlpack(tmp_path: Path) -> None:
    backends = [name for name in BACKENDS if not missing_here(name)]
    # the backend is the last parameter. pydlpack's CUDA cells (on a GPU machine) are left out:
    # they differ as its CPU cells do (a 0-d NULL shape, a versioned struct in a 'dltensor'
    # capsule) but fail with other exceptions; tests/cuda holds asdlpack's CUDA behaviour.
    selection = "(" + " or ".join(f"{name}]" for name in backends) + ") and not cuda"
    # pydlpack's buffer_samples() opens a file it never closes: its ResourceWarning is pydlpack's.
    run = run_suite(
        pydlpack_tests(),
        "pydlpack",
        known_differences(),
        tmp_path,
        select=selection,
        ignore_warnings=("ResourceWarning",),
    )
    failed = {name: outcome for name, outcome in run.tests.items() if outcome == "failed"}
    assert failed == {}, run.output
    assert run.unmatched_known_differences == [], "known differences that match no test of this pydlpack"
    assert run.returncode == 0, run.output
    ran = {name for name, outcome in run.tests.items() if outcome in ("passed", "xfailed")}
    must_run = {name for backend in backends for name in MUST_RUN[backend]}
    assert must_run <= ran, {name: run.tests.get(name, "not collected") for name in sorted(must_run - ran)}
    assert run.calls >= len(must_run)


def test_the_documentation_lists_every_known_difference() -> None:
    text = (REPOSITORY / "docs" / "interop.md").read_text()
    section = text.split("## Differences from pydlpack's `asdlpack`", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `(test_[^`]+)`", section, re.MULTILINE))
    assert listed == {*KNOWN_DIFFERENCES, JAX_NULL_SHAPE_TEST}


# ---------------------------------------------------------------------------------------
# What test_asdlpack_impl checks of each sample (dlpack/tests/test_dlpack.py, pydlpack 0.2.1:
# ndim, shape, element strides, device, byte offset, bits, the data pointer), for every
# sample of pydlpack's, read with this package's inspect.


def describe(capsule: object) -> dict[str, Any]:
    info = od.inspect(capsule)
    return {
        "ndim": info.ndim,
        "shape": info.shape,
        "strides": info.strides,
        "device": tuple(info.device),
        "byte_offset": info.byte_offset,
        "bits": info.dtype.bits,
        "data": info.data_ptr,
    }


def expected_description(array: np.ndarray[Any, Any]) -> dict[str, Any]:
    return {
        "ndim": array.ndim,
        "shape": array.shape,
        "strides": tuple(stride // array.itemsize for stride in array.strides),
        "device": (1, 0),
        "byte_offset": 0,
        "bits": array.itemsize * 8,
        "data": array.__array_interface__["data"][0],
    }


def test_asdlpack_describes_pydlpacks_numpy_samples_as_they_are() -> None:
    samples = importlib.import_module(PYDLPACK_TESTS).samples
    count = 0
    for array in samples("numpy"):
        for source in (array, memoryview(array)):
            capsule = od.asdlpack(source).__dlpack__()
            assert describe(capsule) == expected_description(array), (array.dtype, array.shape, array.strides)
            count += 1
    assert count >= 40


@pytest.mark.filterwarnings("ignore::ResourceWarning")  # buffer_samples() never closes one file it opens
def test_asdlpack_describes_pydlpacks_buffer_samples_as_they_are() -> None:
    buffer_samples = importlib.import_module(PYDLPACK_TESTS).buffer_samples
    kinds = []
    for obj in buffer_samples():
        kinds.append(type(obj).__name__)
        view = np.asarray(memoryview(obj))
        description = describe(od.asdlpack(obj).__dlpack__(max_version=(1, 0)))
        assert description == expected_description(view), kinds[-1]
        del view  # the generator closes the mmap samples when it resumes
    assert kinds == ["bytes", "bytearray", "array", "array", "memmap", "mmap"]

"""Side-by-side benchmarks (pytest-benchmark): the floor, our checks, and what users use instead.

Run through benchmarks/run.py, which writes BENCHMARKS.md from the medians. Each group shares
one input, so ratios inside a group compare like with like.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import optype_dlpack as od
from capsule_reader import read_versioned

torch = pytest.importorskip("torch", reason="torch is a benchmark partner installed by .ci/run")
jnp = pytest.importorskip("jax.numpy", reason="jax is a benchmark partner installed by .ci/run")

SHAPE = (64, 64)
NUMPY_ARRAY = np.ones(SHAPE, dtype=np.float32)
TORCH_TENSOR = torch.ones(SHAPE, dtype=torch.float32)
JAX_ARRAY = jnp.ones(SHAPE, dtype=jnp.float32)
CAPSULE = NUMPY_ARRAY.__dlpack__(max_version=(1, 3))
EXPECT = od.Expect(device=od.DLDeviceType.CPU, dtype="float32", ndim=2)


def bench(benchmark: Any, group: str, func: Callable[..., object], *args: object) -> None:
    benchmark.group = group
    benchmark(func, *args)


# -- the floor and our checks on one capsule ----------------------------------------------

@pytest.mark.parametrize(
    ("name", "func"),
    [
        ("floor: pybind11 no-op(x)", od._core._noop),
        ("floor: len(())", lambda _: len(())),
        ("ours: Expect.check(capsule)", EXPECT.check),
        ("ours: validate(capsule, device, dtype)", lambda c: od.validate(c, device="cpu", dtype="float32")),
        ("ours: inspect(capsule)", od.inspect),
        ("alt: ctypes capsule reader", read_versioned),
    ],
)
def test_capsule(benchmark: Any, name: str, func: Callable[[object], object]) -> None:
    benchmark.name = name
    bench(benchmark, "capsule", func, CAPSULE)


def test_capsule_pydlpack(benchmark: Any) -> None:
    import dlpack  # PyPI pydlpack, a test requirement
    legacy = NUMPY_ARRAY.__dlpack__()
    benchmark.name = "alt: pydlpack todict(legacy capsule)"
    bench(benchmark, "capsule", dlpack.todict, legacy)


# -- producers: the cost over the producer's own __dlpack__ --------------------------------

PRODUCERS = {"numpy": NUMPY_ARRAY, "torch": TORCH_TENSOR, "jax": JAX_ARRAY}


@pytest.mark.parametrize("framework", PRODUCERS)
@pytest.mark.parametrize(
    ("name", "func"),
    [
        ("producer: x.__dlpack__()", lambda x: x.__dlpack__()),
        ("producer: x.__dlpack__(max_version=(1, 3))", lambda x: x.__dlpack__(max_version=(1, 3))),
        ("ours: validate(x)", od.validate),
        ("ours: Expect.check(x)", EXPECT.check),
    ],
)
def test_producer(benchmark: Any, framework: str, name: str, func: Callable[[object], object]) -> None:
    benchmark.name = f"{name} [{framework}]"
    bench(benchmark, f"producer-{framework}", func, PRODUCERS[framework])


# -- importing: zero-copy views -------------------------------------------------------------

@pytest.mark.parametrize("framework", PRODUCERS)
@pytest.mark.parametrize(
    ("name", "func"),
    [
        ("ours: from_dlpack(x)", lambda x: od.from_dlpack(x)),
        ("alt: numpy.from_dlpack(x)", np.from_dlpack),
        ("alt: torch.from_dlpack(x)", lambda x: torch.from_dlpack(x)),
    ],
)
def test_import(benchmark: Any, framework: str, name: str, func: Callable[[object], object]) -> None:
    benchmark.name = f"{name} [{framework}]"
    bench(benchmark, f"import-{framework}", func, PRODUCERS[framework])

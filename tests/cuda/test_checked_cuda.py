"""@checked with CUDA tensors (torch) and CuPy arrays: shape symbols, device and dtype groups,
methods, coroutines and device="cuda" constraints, on the native path and the Python one.

Every test needs an NVIDIA GPU and its driver, and each needs its framework (torch with CUDA,
CuPy): without them it is skipped, saying which.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import numpy as np
import pytest

import optype_dlpack as od
from optype_dlpack import CheckedCallError, Expect, Spec, _core, checked

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not _core.cuda_driver_available(), reason="needs an NVIDIA GPU and driver"),
]

Array = Any


@pytest.fixture(params=["torch", "cupy"])
def cuda_ones(request: pytest.FixtureRequest) -> Any:
    """ones(*shape, dtype="float32") on cuda:0, from torch or CuPy."""
    module = request.getfixturevalue(request.param)

    def ones(*shape: int, dtype: str = "float32") -> Any:
        if request.param == "torch":
            return module.ones(shape, dtype=getattr(module, dtype), device="cuda")
        return module.ones(shape, dtype=dtype)

    return ones


@checked
def matmul(a: Annotated[Array, Spec(shape=("n", "k"))], b: Annotated[Array, Spec(shape=("k", "m"))]) -> Any:
    return a @ b


@checked
def matmul_checked_result(
    a: Annotated[Array, Spec(shape=("n", "k"))], b: Annotated[Array, Spec(shape=("k", "m"))]
) -> Annotated[Array, Spec(shape=("n", "m"), device="cuda")]:
    return a @ b


def test_both_plans_are_native() -> None:
    assert type(matmul) is _core._CheckedFunction
    assert type(matmul_checked_result) is _core._CheckedFunction


@pytest.mark.parametrize("function", [matmul, matmul_checked_result], ids=["arguments", "with-result"])
def test_symbols_bind_across_cuda_arguments(cuda_ones: Any, function: Any) -> None:
    assert tuple(function(cuda_ones(2, 3), cuda_ones(3, 4)).shape) == (2, 4)
    with pytest.raises(CheckedCallError, match=r"k = 3 from `a`.shape\[1\], but `b`.shape\[0\] = 5 \[checked.symbol\]"):
        function(cuda_ones(2, 3), cuda_ones(5, 4))
    assert tuple(function(a=cuda_ones(1, 2), b=cuda_ones(2, 2)).shape) == (1, 2)


@checked(same_device=True)
def same_device(a: Annotated[Array, Spec()], b: Annotated[Array, Spec()]) -> None:
    pass


def test_same_device_names_both_parameters_for_cpu_and_cuda(cuda_ones: Any) -> None:
    same_device(cuda_ones(3), cuda_ones(2))
    with pytest.raises(CheckedCallError, match=r"device = cpu from `a`.device, but `b`.device = cuda:0 \[checked.same_device\]"):
        same_device(np.ones(3, np.float32), cuda_ones(3))
    with pytest.raises(CheckedCallError, match=r"device = cuda:0 from `a`.device, but `b`.device = cpu \[checked.same_device\]"):
        same_device(cuda_ones(3), np.ones(3, np.float32))


def test_torch_and_cupy_on_one_gpu_share_a_device(torch: Any, cupy: Any) -> None:
    same_device(torch.ones(3, device="cuda:0"), cupy.ones(3))


@checked(same_dtype=True)
def same_dtype(a: Annotated[Array, Spec(device="cuda")], b: Annotated[Array, Spec(device="cuda")]) -> None:
    pass


def test_same_dtype_on_the_gpu(cuda_ones: Any) -> None:
    same_dtype(cuda_ones(3), cuda_ones(2, 2))
    with pytest.raises(CheckedCallError, match=r"dtype = float32 from `a`.dtype, but `b`.dtype = float64 \[checked.same_dtype\]"):
        same_dtype(cuda_ones(3), cuda_ones(3, dtype="float64"))


class Layer:
    def __init__(self, width: int) -> None:
        self.width = width

    @checked
    def forward(self, x: Annotated[Array, Spec(device="cuda", dtype="float32", shape=("batch", "n"))]) -> int:
        return int(x.shape[0])

    @checked
    @classmethod
    def name(cls, x: Annotated[Array, Expect(device="cuda")]) -> str:
        return cls.__name__


def test_a_method_checks_cuda_arguments(cuda_ones: Any) -> None:
    layer = Layer(4)
    assert layer.forward(cuda_ones(5, 4)) == 5
    assert Layer.name(cuda_ones(1)) == "Layer"
    with pytest.raises(CheckedCallError, match=r"(?s)Layer.forward\(\): 1 violation.*`x`: device: expected cuda, got cpu"):
        layer.forward(np.ones((5, 4), np.float32))
    with pytest.raises(CheckedCallError, match=r"`x`: dtype: expected float32, got float64"):
        layer.forward(cuda_ones(5, 4, dtype="float64"))


def test_a_coroutine_checks_cuda_arguments_before_it_runs(cuda_ones: Any) -> None:
    started: list[bool] = []

    @checked
    async def scale(x: Annotated[Array, Spec(device="cuda", shape=("n",))]) -> Annotated[Array, Spec(shape=("n",))]:
        started.append(True)
        await asyncio.sleep(0)
        return x * 2

    assert tuple(asyncio.run(scale(cuda_ones(2))).shape) == (2,)
    with pytest.raises(CheckedCallError, match="`x`: device: expected cuda, got cpu"):
        asyncio.run(scale(np.ones(2, np.float32)))
    assert started == [True]


@checked
def on_cuda(x: Annotated[Array, Expect(device="cuda", ndim=2)]) -> Any:
    return x


def test_an_expect_for_cuda(cuda_ones: Any) -> None:
    x = cuda_ones(2, 2)
    assert on_cuda(x) is x
    with pytest.raises(CheckedCallError, match=r"`x`: device: expected cuda, got cpu \[expect.device\]"):
        on_cuda(np.ones((2, 2), np.float32))
    with pytest.raises(CheckedCallError, match=r"`x`: ndim: expected 2, got 1 \[expect.ndim\]"):
        on_cuda(cuda_ones(2))


def test_checks_switched_off_let_anything_through(cuda_ones: Any) -> None:
    with od.checks_enabled(False):
        assert on_cuda("not a tensor") == "not a tensor"
    x = cuda_ones(2, 2)
    assert on_cuda(x) is x

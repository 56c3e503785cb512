"""The C++ header API for pybind11 extensions (optype_dlpack/pybind11.hpp).

A small extension (tests/producer/dlpack_extension_example.cpp) is compiled against the
headers of the installed package, found with optype_dlpack.get_include(), and called with
real arrays and with malformed capsules from the test producer.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import jax.numpy as jnp
import numpy as np
import pytest

import optype_dlpack
from optype_dlpack import DLPackConsumedError, DLPackValidationError
from tests.support.capsules import capsule_name
from tests.support.frameworks import needs, optional_import

torch: Any = optional_import("torch")  # None only where CI leaves torch out: see tests/support/frameworks.py
needs_torch = needs("torch")

EXAMPLE = Path(__file__).resolve().parents[1] / "producer" / "dlpack_extension_example.cpp"

@pytest.fixture(scope="session")
def extension(build_cpp_extension: Callable[..., ModuleType]) -> ModuleType:
    include = Path(optype_dlpack.get_include())
    headers = sorted((include / "optype_dlpack").glob("*.hpp"))
    return build_cpp_extension(EXAMPLE, "dlpack_extension_example", include_dirs=[str(include)], depends=headers)


def test_get_include_points_at_the_installed_headers() -> None:
    include = Path(optype_dlpack.get_include())
    assert include.is_dir()
    assert include.parent == Path(optype_dlpack.__file__).parent
    for header in ("pybind11.hpp", "check.hpp", "expect.hpp", "acquire.hpp", "source.hpp", "dlpack.hpp"):
        assert (include / "optype_dlpack" / header).is_file()


def test_numpy_and_jax_arguments(extension: ModuleType) -> None:
    x = np.arange(5.0)
    assert extension.total(x) == 10.0
    assert extension.total(x[::-1]) == 10.0  # negative stride
    assert extension.total(x[::2]) == 6.0
    assert extension.rows(np.zeros((4, 3), np.float32)) == 4
    assert extension.rows(jnp.zeros((2, 3))) == 2


@needs_torch
def test_torch_arguments(extension: ModuleType) -> None:
    assert extension.total(torch.arange(5, dtype=torch.float64)) == 10.0
    assert extension.total(torch.arange(10, dtype=torch.float64)[1::3]) == 1.0 + 4.0 + 7.0
    assert extension.rows(torch.zeros(7, 3)) == 7
    assert extension.kind(torch.zeros(1)) == "tensor"


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: np.arange(12.0).reshape(3, 4).T, id="numpy"),
        pytest.param(lambda: torch.zeros(2, 3, dtype=torch.int16), id="torch", marks=needs_torch),
        pytest.param(lambda: jnp.ones((2, 2)), id="jax"),
    ],
)
def test_describe_matches_inspect(extension: ModuleType, make: Callable[[], object]) -> None:
    x = make()
    described = extension.describe(x)
    info = optype_dlpack.inspect(x)
    assert described["shape"] == info.shape
    assert described["strides"] == info.strides
    assert described["dtype"] == tuple(info.dtype)
    assert described["device"] == tuple(info.device)
    assert described["versioned"] == (info.version is not None)
    assert described["data"] == info.data_ptr + info.byte_offset
    assert described["size"] == info.size
    assert described["c_contiguous"] == info.is_c_contiguous


def test_writes_go_through(extension: ModuleType) -> None:
    x = np.ones(4, np.float32)
    extension.scale(x, 3.0)
    np.testing.assert_array_equal(x, [3.0] * 4)


@needs_torch
def test_writes_go_through_to_torch(extension: ModuleType) -> None:
    t = torch.ones(2, 2)
    extension.scale(t, 2.0)
    assert torch.equal(t, torch.full((2, 2), 2.0))


def test_requirements_raise_the_package_errors(extension: ModuleType) -> None:
    with pytest.raises(DLPackValidationError) as excinfo:
        extension.total(np.arange(5, dtype=np.float32).reshape(5, 1))
    assert excinfo.value.rules == ("expect.dtype", "expect.ndim")
    assert "dtype: expected float64, got float32 [expect.dtype]" in str(excinfo.value)
    with pytest.raises(DLPackValidationError) as excinfo:
        extension.rows(np.zeros((4, 2), np.float32))
    assert excinfo.value.rules == ("expect.shape",)
    read_only = np.ones(3, np.float32)
    read_only.flags.writeable = False
    for not_writable in (read_only, jnp.ones(3)):  # READ_ONLY; JAX: legacy (to 0.10) or READ_ONLY
        with pytest.raises(DLPackValidationError) as excinfo:
            extension.scale(not_writable, 2.0)
        assert excinfo.value.rules == ("expect.writable",)
    with pytest.raises(DLPackValidationError) as excinfo:
        extension.scale(np.ones((3, 3), np.float32).T, 2.0)
    assert excinfo.value.rules == ("expect.layout",)
    assert extension.require_ndim(np.zeros((1, 2)), 2) == 2
    with pytest.raises(DLPackValidationError) as excinfo:
        extension.require_ndim(np.zeros((1, 2)), 3)
    assert excinfo.value.rules == ("expect.ndim",)


def test_malformed_capsules(extension: ModuleType, tensors_freed: ModuleType) -> None:
    capsule = tensors_freed.make_capsule(shape=[3], dtype=(2, 64, 1), allocate=True, device=(1, 4))
    with pytest.raises(DLPackValidationError) as excinfo:
        extension.total(capsule)
    assert excinfo.value.rules == ("device.cpu_id",)
    with pytest.raises(DLPackValidationError) as excinfo:
        extension.describe(tensors_freed.make_capsule(shape=[3], dtype=(6, 1, 1), allocate=True))
    assert excinfo.value.rules == ("dtype.bits",)
    used = tensors_freed.make_capsule(name="used_dltensor_versioned", shape=None, ndim=2)
    with pytest.raises(DLPackConsumedError):
        extension.describe(used)
    with pytest.raises(TypeError, match="capsule named 'bogus'"):
        extension.describe(tensors_freed.make_capsule(name="bogus"))
    del capsule, used, excinfo
    gc.collect()
    assert tensors_freed.deleter_calls() == 4


def test_capsules_are_read_not_consumed(extension: ModuleType, tensors_freed: ModuleType) -> None:
    x = np.arange(3.0)
    capsule = x.__dlpack__(max_version=(1, 0))
    assert extension.total(capsule) == 3.0
    assert extension.total(capsule) == 3.0
    assert capsule_name(capsule) == "dltensor_versioned"
    ours = tensors_freed.make_capsule(shape=[4], dtype=(2, 64, 1), allocate=True)
    assert extension.total(ours) == 0.0
    assert tensors_freed.deleter_calls() == 0
    del ours
    assert tensors_freed.deleter_calls() == 1


def test_producers_are_released_exactly_once(extension: ModuleType, tensors_freed: ModuleType) -> None:
    producer = tensors_freed.Producer(shape=[2, 5], allocate=True)
    assert extension.describe(producer)["shape"] == (2, 5)
    assert tensors_freed.deleter_calls() == 1
    with pytest.raises(DLPackValidationError):
        extension.total(producer)
    assert tensors_freed.deleter_calls() == 2
    legacy = tensors_freed.LegacyProducer(shape=[4], dtype=(2, 64, 1), allocate=True, layout="legacy")
    assert extension.total(legacy) == 0.0
    assert tensors_freed.deleter_calls() == 3
    with pytest.raises(BufferError):
        extension.describe(tensors_freed.Producer(error=BufferError("no export")))


def test_non_dlpack_arguments_are_left_to_pybind11(extension: ModuleType) -> None:
    assert extension.kind(np.zeros(1)) == "tensor"
    assert extension.kind(3) == "other"
    assert extension.kind("dltensor") == "other"
    with pytest.raises(TypeError, match="incompatible function arguments"):
        extension.total([1.0, 2.0])
    assert extension.describe.__doc__.startswith("describe(x: optype_dlpack.CanDLPack) -> dict")

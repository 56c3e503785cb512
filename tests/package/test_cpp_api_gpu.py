"""The C++ API's device checks on a real GPU (tests/producer/cpp_api_extension.cpp): the
extension asks _core's CUDA driver and gets the answers Python gets. Every test here needs an
NVIDIA GPU, its driver and a CUDA build of torch, and is skipped without them (run them with
tests/gpu/run_gpu_suite.sh, docs/gpu-results.md)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

import optype_dlpack
from optype_dlpack import DLPackValidationError, Expect, _core
from tests.package.test_cpp_api import ext  # noqa: F401 - the extension, a fixture

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not _core.cuda_driver_available(), reason="needs an NVIDIA GPU and driver"),
]

KDL_CPU, KDL_CUDA = 1, 2
FLOAT32 = (2, 32, 1)


@pytest.fixture(scope="module")
def torch() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import torch
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA build of torch (the driver sees a GPU, torch does not)")
    return torch


def violations_of(call: Callable[[], object]) -> tuple[object, ...]:
    with pytest.raises(DLPackValidationError) as excinfo:
        call()
    return excinfo.value.violations


def test_the_extension_sees_cores_driver(ext: ModuleType) -> None:
    driver = ext.driver()
    assert driver["available"] is True
    assert driver["loaded"] is True
    assert driver["count_status"] == 0
    assert driver["count"] >= 1


def test_a_cuda_tensor_is_verified(ext: ModuleType, torch: Any) -> None:
    x = torch.arange(6, dtype=torch.float32, device="cuda:0")
    assert ext.verified_auto(x) == 1
    assert ext.verified(x) == 1
    assert optype_dlpack.inspect(x).device_verified is True


def test_device_memory_under_a_cpu_label_is_caught(ext: ModuleType, torch: Any, tensors_freed: ModuleType) -> None:
    x = torch.zeros(4, dtype=torch.float32, device="cuda:0")
    capsule = tensors_freed.make_capsule(data=x.data_ptr(), device=(KDL_CPU, 0), shape=[4], dtype=FLOAT32)
    cpp = violations_of(lambda: ext.verified(capsule))
    python = violations_of(lambda: Expect(verify_device="require").validate(capsule))
    assert cpp == python
    assert [v.rule for v in cpp] == ["device.cpu_pointer_is_device"]


def test_host_memory_under_a_cuda_label_is_caught(ext: ModuleType, tensors_freed: ModuleType) -> None:
    capsule = tensors_freed.make_capsule(device=(KDL_CUDA, 0), shape=[4], dtype=FLOAT32, allocate=True)
    cpp = violations_of(lambda: ext.verified_auto(capsule))
    python = violations_of(lambda: optype_dlpack.validate(capsule))
    assert cpp == python
    assert [v.rule for v in cpp] == ["device.not_device_memory"]


def test_a_torch_stream_is_passed(ext: ModuleType, torch: Any) -> None:
    x = torch.ones(5, dtype=torch.float32, device="cuda:0")
    stream = torch.cuda.Stream()
    assert ext.on_given_stream(x, stream.cuda_stream) == 5
    assert ext.on_default_stream(x) == 5

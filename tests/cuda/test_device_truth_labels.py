"""What each CUDA label promises, and the rule, field and message that catch the lie.

The label checks of device_truth.hpp run here against a fake driver's answers (built into
the helper extension), so that every machine checks them, not only one with a GPU.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

import optype_dlpack
from optype_dlpack import RULES

HERE = Path(__file__).parent
CPU, CUDA, CUDA_HOST, CUDA_MANAGED = 1, 2, 3, 13
HOST, PINNED, DEVICE, MANAGED = 0, 1, 2, 3  # optype_dlpack::cuda::MemoryType
AT = "0x10000"


@pytest.fixture(scope="module")
def labels(build_cpp_extension: Callable[..., ModuleType]) -> ModuleType:
    include = Path(optype_dlpack.get_include())
    headers = sorted((include / "optype_dlpack").glob("*.hpp"))
    return build_cpp_extension(HERE / "device_truth_labels.cpp", "device_truth_labels",
                               include_dirs=[str(include)], depends=headers)


LIES = [
    ((CUDA, 0), (HOST, -1), ("device.not_device_memory", "data", "device memory (the capsule says kDLCUDA)",
                             f"host memory unknown to the CUDA driver at {AT}")),
    ((CUDA, 0), (PINNED, 0), ("device.not_device_memory", "data", "device memory (the capsule says kDLCUDA)",
                              f"page-locked host memory at {AT}")),
    ((CUDA, 1), (DEVICE, 0), ("device.ordinal", "device.device_id",
                              f"0 (the GPU that holds the data at {AT})", "1")),
    ((CUDA, 5), (MANAGED, 0), ("device.ordinal", "device.device_id", "the ordinal of a CUDA device (2 present)",
                               "5")),
    ((CUDA_HOST, 0), (DEVICE, 1), ("device.not_pinned", "data",
                                   "page-locked host memory (the capsule says kDLCUDAHost)",
                                   f"device memory on GPU 1 at {AT}")),
    ((CUDA_HOST, 0), (MANAGED, 0), ("device.not_pinned", "data",
                                    "page-locked host memory (the capsule says kDLCUDAHost)",
                                    f"managed memory at {AT}")),
    ((CUDA_MANAGED, 0), (PINNED, 0), ("device.not_managed", "data",
                                      "managed memory (the capsule says kDLCUDAManaged)",
                                      f"page-locked host memory at {AT}")),
    ((CUDA_MANAGED, 0), (DEVICE, 0), ("device.not_managed", "data",
                                      "managed memory (the capsule says kDLCUDAManaged)",
                                      f"device memory on GPU 0 at {AT}")),
    ((CPU, 0), (DEVICE, 1), ("device.cpu_pointer_is_device", "device.device_type",
                             f"kDLCUDA with device_id 1 (the data at {AT} is device memory on GPU 1)", "kDLCPU")),
]


@pytest.mark.parametrize(("label", "memory", "violation"), LIES, ids=lambda case: repr(case))
def test_label_lies(labels: ModuleType, label: tuple[int, int], memory: tuple[int, int],
                    violation: tuple[str, str, str, str]) -> None:
    assert labels.label_lies(*label, *memory) == [violation]
    rule, field = violation[:2]
    assert RULES[rule].field == field


TRUTHS = [
    ((CUDA, 0), (DEVICE, 0)),
    ((CUDA, 1), (MANAGED, 0)),  # managed memory: any GPU that exists
    ((CUDA_HOST, 0), (PINNED, 0)),
    ((CUDA_MANAGED, 0), (MANAGED, 0)),
    ((CPU, 0), (HOST, -1)),
    ((CPU, 0), (PINNED, 0)),
    ((CPU, 0), (MANAGED, 0)),  # the CPU reads managed memory
]


@pytest.mark.parametrize(("label", "memory"), TRUTHS, ids=lambda case: repr(case))
def test_label_truths(labels: ModuleType, label: tuple[int, int], memory: tuple[int, int]) -> None:
    assert labels.label_lies(*label, *memory) == []

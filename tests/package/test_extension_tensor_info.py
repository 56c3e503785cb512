"""od::TensorInfo crosses the pybind11 boundary as optype_dlpack.TensorInfo, both ways.

A small extension (tests/producer/tensor_info_extension.cpp) returns ``dlpack_tensor::info()``
and takes ``const od::TensorInfo&`` arguments; the conversions go through the extension's
type_caster (optype_dlpack/pybind11.hpp) and the functions optype_dlpack._core exports.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import optype_dlpack

SOURCE = Path(__file__).resolve().parents[1] / "producer" / "tensor_info_extension.cpp"


@pytest.fixture(scope="module")
def extension(build_cpp_extension: Callable[..., ModuleType]) -> ModuleType:
    include = Path(optype_dlpack.get_include())
    headers = sorted((include / "optype_dlpack").glob("*.hpp"))
    return build_cpp_extension(SOURCE, "tensor_info_extension", include_dirs=[str(include)], depends=headers)


def test_info_is_returned_as_a_tensor_info(extension: ModuleType) -> None:
    array = np.arange(24, dtype=np.float32).reshape(2, 3, 4)[:, ::2, 1:]
    info = extension.info(array)
    assert type(info) is optype_dlpack.TensorInfo
    ours = optype_dlpack.inspect(array)
    assert repr(info) == repr(ours)
    for name in ("shape", "strides", "dtype", "device", "size", "nbytes", "version", "flags", "data_ptr"):
        assert getattr(info, name) == getattr(ours, name), name
    assert info.device_verified is None


def test_a_tensor_info_argument_is_read(extension: ModuleType) -> None:
    array = np.zeros((5, 7), dtype=np.int16)[::-1]
    info = optype_dlpack.validate(array, dtype="int16")
    assert info.device_verified is None
    assert extension.fields(info) == ((5, 7), (-7, 1), 16, 35, True, -1)  # -1: not asked
    assert extension.fields(extension.info(np.zeros(3))) == ((3,), (1,), 64, 3, True, -1)
    assert extension.fields(object()) is None


def test_a_record_no_tensor_info_can_hold_is_refused(extension: ModuleType) -> None:
    with pytest.raises(ValueError, match="ndim"):
        extension.bad_info()

"""__dlpack_device__ is left out only for exactly numpy.ndarray, whose __dlpack__ takes
stream=None whatever device it reports, and whose two answers come from one field.

Any other type is asked, even one that is named like NumPy's or derives from it: its
__dlpack_device__ decides the stream argument and must agree with its capsule.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import optype_dlpack
from optype_dlpack import DLPackValidationError
from tests.support.dlpack_h import KDL_CUDA, KDL_OPENCL

LIE = (KDL_CUDA, 0)  # what the impostors below report; their capsules say kDLCPU


class LyingSubclass(np.ndarray):  # type: ignore[type-arg]
    # A device that takes no stream (NumPy's own __dlpack__ accepts only stream=None) and
    # that no driver here can check
    def __dlpack_device__(self) -> tuple[int, int]:
        return (KDL_OPENCL, 0)


class ndarray:  # noqa: N801 - named like NumPy's on purpose
    """A Python class that calls itself numpy.ndarray."""

    __module__ = "numpy"

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._array = np.arange(6, dtype=np.float32)

    def __dlpack__(self, **kwargs: Any) -> object:
        self.calls.append(f"__dlpack__(stream={kwargs.get('stream')!r})")
        return self._array.__dlpack__(max_version=kwargs.get("max_version"))

    def __dlpack_device__(self) -> tuple[int, int]:
        self.calls.append("__dlpack_device__")
        return LIE


def test_numpy_arrays_still_validate() -> None:
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    info = optype_dlpack.validate(x, device="cpu", dtype="float32", shape=(3, 4))
    assert info.data_ptr == x.ctypes.data
    assert optype_dlpack.Expect(ndim=1).check(x[0, ::2]) is None
    assert optype_dlpack.inspect(x.T).strides == (1, 4)


@pytest.mark.parametrize("call", ["validate", "check", "inspect"])
def test_a_subclass_is_asked(call: str) -> None:
    x = np.arange(6, dtype=np.float32).view(LyingSubclass)
    with pytest.raises(DLPackValidationError) as caught:
        if call == "validate":
            optype_dlpack.validate(x)
        elif call == "check":
            optype_dlpack.Expect().check(x)
        else:
            optype_dlpack.inspect(x)
    assert caught.value.rules == ("producer.device",)


def test_a_class_named_like_numpys_is_asked() -> None:
    impostor = ndarray()
    assert f"{type(impostor).__module__}.{type(impostor).__qualname__}" == "numpy.ndarray"
    with pytest.raises(DLPackValidationError) as caught:
        optype_dlpack.validate(impostor)
    assert caught.value.rules == ("producer.device",)
    # asked first, and its answer (a CUDA device) chose the stream: -1, "do not synchronise"
    assert impostor.calls == ["__dlpack_device__", "__dlpack__(stream=-1)"]

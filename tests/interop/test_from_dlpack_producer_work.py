"""What from_dlpack asks of a producer object: one __dlpack__ call and nothing more.

A producer's own __dlpack__ is most of the cost of importing its tensor (JAX's is Python code
that takes microseconds), so from_dlpack must not make the producer do more work than
numpy.from_dlpack does: no __dlpack_device__ call (the capsule's device decides), one
__dlpack__ call, and, for JAX, the same Python code inside it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import numpy as np
import pytest

from optype_dlpack import _core
from tests.support.ctypes_producer import CtypesProducer
from tests.support.dlpack_h import KDL_CPU
from tests.support.frameworks import needs

from_dlpack = _core.from_dlpack


class RecordingExporter:
    """A producer object that records every DLPack method called on it."""

    def __init__(self, make: Callable[[], object]) -> None:
        self.make = make
        self.calls: list[str] = []

    def __dlpack__(
        self, *, stream: Any = None, max_version: Any = None, dl_device: Any = None, copy: Any = None
    ) -> Any:
        self.calls.append("__dlpack__")
        return self.make()

    def __dlpack_device__(self) -> tuple[int, int]:
        self.calls.append("__dlpack_device__")
        return (KDL_CPU, 0)


@pytest.mark.parametrize(
    "options",
    [{}, {"copy": True}, {"copy": False}, {"device": "cpu"}, {"device": (KDL_CPU, 0)}],
    ids=["default", "copy=True", "copy=False", "device='cpu'", "device=(kDLCPU, 0)"],
)
def test_producer_is_asked_for_its_tensor_once_and_never_for_its_device(
    ctypes_producer: CtypesProducer, options: dict[str, Any]
) -> None:
    memory = np.arange(6, dtype=np.float32)
    exporter = RecordingExporter(lambda: ctypes_producer.capsule(memory))
    array = from_dlpack(exporter, **options)
    assert array.tolist() == memory.tolist()
    assert exporter.calls == ["__dlpack__"]


def python_functions_run_by(consume: Callable[[Any], object], source: object) -> list[str]:
    """The Python functions that run while `consume(source)` imports the tensor and while the
    array dies (the producer's deleter), in order, after two warm-up calls."""
    for _ in range(2):
        consume(source)
    called: list[str] = []

    def record(frame: FrameType, event: str, arg: object) -> None:
        if event == "call":
            called.append(f"{frame.f_code.co_filename}:{frame.f_code.co_name}")

    sys.setprofile(record)
    try:
        array = consume(source)
        del array
    finally:
        sys.setprofile(None)
    return called


@needs("jax")
def test_jax_runs_the_same_python_code_as_for_numpy_from_dlpack() -> None:
    # JAX's __dlpack__ is Python; what it runs depends on the arguments it gets (max_version,
    # dl_device, copy, stream). Ours differ from NumPy's (stream=None and max_version=(1, 3)
    # against dl_device=None, copy=None and max_version=(1, 0)), and must not cost JAX more.
    import jax

    cpu = jax.devices("cpu")[0]  # JAX's default device is a GPU where there is one
    source = jax.device_put(np.arange(12, dtype=np.float32).reshape(3, 4), cpu)
    ours = python_functions_run_by(from_dlpack, source)
    numpys = python_functions_run_by(np.from_dlpack, source)
    assert any("__dlpack__" in name for name in ours), ours
    assert ours == numpys

"""from_dlpack's `device` argument, as NumPy and the array API standard have it.

``from_dlpack(x, /, *, device=None, copy=None)``: a NumPy array lives in host memory, so the
one device it can be asked for is the CPU, spelled as NumPy spells it (``"cpu"``, what
``ndarray.device`` gives) or as DLPack does (``(kDLCPU, 0)``, what ``__dlpack_device__``
returns, a ``DLDevice``). Anything else is ``ValueError``, as in ``numpy.from_dlpack``, raised
before the producer is asked. Asking for the CPU by name lets ``copy=None`` copy memory the
CPU cannot read (the standard's "copy only if needed"); ``copy=False`` still never copies.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from optype_dlpack import DLDevice, DLDeviceType, _core
from tests.support.capsules import capsule_name
from tests.support.child import run_against
from tests.support.ctypes_producer import CtypesProducer
from tests.support.dlpack_h import KDL_CPU, KDL_CUDA, KDL_CUDA_HOST, KDL_ROCM

from_dlpack = _core.from_dlpack

HOST_SPELLINGS: list[Any] = [
    None,
    "cpu",
    (1, 0),
    (KDL_CPU, 0),
    (DLDeviceType.CPU, 0),
    DLDevice(DLDeviceType.CPU, 0),
    DLDevice.parse("cpu"),
    *([np.arange(1).device] if hasattr(np.ndarray, "device") else []),  # NumPy >= 2: "cpu"
]

# Other devices, and spellings of the CPU that NumPy's from_dlpack refuses too (NumPy takes
# only "cpu"): a device type is not a device, and a bool is not a device id.
REFUSED_SPELLINGS: list[Any] = [
    "gpu",
    "cuda",
    "cuda:0",
    "CPU",
    "cpu:0",
    "",
    b"cpu",
    (1, 1),
    (2, 0),
    (1, 0, 0),
    (1,),
    (),
    [1, 0],
    (1.0, 0),
    ("cpu", 0),
    (True, False),
    (1, 2**80),
    1,
    DLDeviceType.CPU,
    DLDevice(DLDeviceType.CUDA, 0),
    object(),
]


@pytest.mark.parametrize("device", HOST_SPELLINGS, ids=repr)
def test_the_cpu_in_every_spelling_gives_the_same_zero_copy_view(
    ctypes_producer: CtypesProducer, device: Any
) -> None:
    memory = np.arange(6, dtype=np.float32)
    array = from_dlpack(ctypes_producer.capsule(memory), device=device)
    assert array.ctypes.data == memory.ctypes.data
    source = np.arange(4)
    assert np.shares_memory(from_dlpack(source, device=device), source)


@pytest.mark.parametrize("device", REFUSED_SPELLINGS, ids=repr)
def test_any_other_device_is_a_value_error_before_the_producer_is_asked(
    ctypes_producer: CtypesProducer, device: Any
) -> None:
    capsule = ctypes_producer.capsule()
    asked: list[dict[str, Any]] = []

    class Producer:
        def __dlpack__(self, **kwargs: Any) -> object:
            asked.append(kwargs)
            return np.arange(3).__dlpack__(**kwargs)

        def __dlpack_device__(self) -> tuple[int, int]:
            return (KDL_CPU, 0)

    message = r"from_dlpack: device must be None, 'cpu' or \(1, 0\) \(kDLCPU, 0\): a NumPy array lives in host memory"
    with pytest.raises(ValueError, match=message):
        from_dlpack(capsule, device=device)
    with pytest.raises(ValueError, match=message):
        from_dlpack(Producer(), device=device)
    with pytest.raises(ValueError, match=message):
        from_dlpack(np.arange(3), device=device)
    assert asked == []
    assert capsule_name(capsule) == "dltensor_versioned"  # left as it was
    del capsule
    gc.collect()
    assert ctypes_producer.deleter_calls == 1


def test_the_message_names_what_was_given() -> None:
    with pytest.raises(ValueError, match=r"; got 'gpu'$"):
        from_dlpack(np.arange(3), device="gpu")


@pytest.mark.parametrize("device", ["cpu", (1, 0)], ids=repr)
def test_copy_keeps_its_meaning_for_host_memory(ctypes_producer: CtypesProducer, device: Any) -> None:
    memory = np.arange(6, dtype=np.int16)
    copied = from_dlpack(ctypes_producer.capsule(memory), device=device, copy=True)
    assert copied.flags.writeable and not np.shares_memory(copied, memory)
    for copy in (None, False):
        assert from_dlpack(ctypes_producer.capsule(memory), device=device, copy=copy).ctypes.data == memory.ctypes.data
    pinned = ctypes_producer.capsule(memory, device=(KDL_CUDA_HOST, 0))  # memory the CPU reads: a view
    assert from_dlpack(pinned, device=device).ctypes.data == memory.ctypes.data


def test_asking_for_the_cpu_does_not_permit_a_copy_that_copy_false_forbids(ctypes_producer: CtypesProducer) -> None:
    capsule = ctypes_producer.capsule(device=(KDL_CUDA, 1))
    with pytest.raises(
        BufferError, match="the tensor is on cuda:1, which the CPU cannot read, and copy=False forbids copying it"
    ):
        from_dlpack(capsule, device="cpu", copy=False)
    assert capsule_name(capsule) == "dltensor_versioned"


def test_devices_without_a_host_copy_are_refused_whatever_the_device_argument(ctypes_producer: CtypesProducer) -> None:
    capsule = ctypes_producer.capsule(device=(KDL_ROCM, 0))
    with pytest.raises(BufferError, match="the tensor is on rocm:0, which the CPU cannot read; move it to the CPU"):
        from_dlpack(capsule, device="cpu")
    assert capsule_name(capsule) == "dltensor_versioned"


def test_asking_for_the_cpu_copies_cuda_memory_when_copy_is_none(tmp_path: Path) -> None:
    # Without a CUDA driver the copy cannot run: the error says the copy was attempted
    # (device="cpu" with copy=None means "copy if needed"), where device=None says to pass
    # copy=True. A fresh interpreter: the CUDA driver is opened once per process.
    result = run_against(
        __file__,
        """
        p = t.CtypesProducer()
        for device in (None, "cpu", (1, 0)):
            capsule = p.capsule(device=(t.KDL_CUDA, 0))
            try:
                t.from_dlpack(capsule, device=device)
            except BufferError as error:
                result[repr(device)] = [str(error), t.capsule_name(capsule)]
        """,
        cwd=tmp_path,
        env={"OPTYPE_DLPACK_DISABLE_CUDA": "1"},
    )
    assert result["None"][0].endswith("; pass copy=True to copy it into host memory")
    for device in ("'cpu'", "(1, 0)"):
        message, name = result[device]
        assert message.startswith("from_dlpack: copying the tensor from cuda:0 needs the CUDA driver, which is unavailable (")
        assert name == "dltensor_versioned"  # nothing was taken

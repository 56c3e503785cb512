"""Interop on a real GPU: CUDA tensors copied to host arrays, __cuda_array_interface__
devices read from the driver, streams honoured. Every test here needs an NVIDIA GPU and its
driver, and is skipped without them; docs/interop.md says what runs without one.
"""

from __future__ import annotations

import gc
from typing import Any

import numpy as np
import pytest

import optype_dlpack
from optype_dlpack import DLPackFlags, _core
from tests.support.capsules import capsule_name
from tests.support.dlpack_h import KDL_CPU, KDL_CUDA, KDL_CUDA_HOST, KDL_CUDA_MANAGED

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not _core.cuda_driver_available(), reason="needs an NVIDIA GPU"),
]

asdlpack = _core.asdlpack
from_dlpack = _core.from_dlpack
FLOAT32 = (2, 32, 1)


class CudaInterface:
    """Only __cuda_array_interface__ (the producer's attribute copied, `...` drops an entry)."""

    def __init__(self, interface: dict[str, Any], owner: object, **changes: Any) -> None:
        merged = {**interface, **changes}
        self.__cuda_array_interface__ = {k: v for k, v in merged.items() if v is not ...}
        self.owner = owner


def test_from_dlpack_refuses_cuda_without_copy(torch: Any) -> None:
    tensor = torch.arange(4, device="cuda")
    with pytest.raises(BufferError, match="the tensor is on cuda:0, which the CPU cannot read; pass copy=True"):
        from_dlpack(tensor)
    with pytest.raises(BufferError, match="copy=False forbids copying it"):
        from_dlpack(tensor, copy=False)


def test_from_dlpack_copies_cuda_tensors(torch: Any) -> None:
    tensor = torch.arange(24, dtype=torch.float64, device="cuda").reshape(4, 6)[::2, 1::2]
    array = from_dlpack(tensor, copy=True)
    np.testing.assert_array_equal(array, tensor.cpu().numpy())
    assert array.flags.writeable and array.flags.c_contiguous
    flipped = torch.arange(10, device="cuda").flip(0)
    assert from_dlpack(flipped, copy=True).tolist() == list(range(9, -1, -1))
    offset = torch.arange(100, dtype=torch.int32, device="cuda")[37:40]
    assert from_dlpack(offset, copy=True).tolist() == [37, 38, 39]
    assert from_dlpack(torch.zeros((0, 3), device="cuda"), copy=True).shape == (0, 3)
    assert from_dlpack(torch.tensor(2.5, device="cuda"), copy=True) == 2.5


@pytest.mark.parametrize("wrap", [False, True], ids=["tensor", "asdlpack"])
def test_copy_waits_for_work_on_a_side_stream(torch: Any, wrap: bool) -> None:
    # The producer is asked with stream=None (asdlpack passes an omitted stream on as None,
    # where torch would default to -1, no synchronisation): the work queued on the current
    # stream, a long spin and then the values, is ordered before the copy.
    tensor = torch.zeros(1 << 20, device="cuda")
    torch.cuda.synchronize()
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        torch.cuda._sleep(1 << 30)  # about half a second of GPU time before the values land
        tensor.fill_(7.0)
        array = from_dlpack(asdlpack(tensor) if wrap else tensor, copy=True)
    side.synchronize()
    assert (array == 7.0).all(), "the copy ran before the producer's work"


def test_every_gpu_is_named_by_the_driver(torch: Any) -> None:
    for index in range(torch.cuda.device_count()):
        tensor = torch.arange(6, dtype=torch.float32, device=f"cuda:{index}")
        torch.cuda.synchronize(index)
        wrapped = asdlpack(CudaInterface(tensor.__cuda_array_interface__, tensor, stream=...))
        assert wrapped.__dlpack_device__() == (KDL_CUDA, index)
        assert optype_dlpack.validate(wrapped, verify_device="require").device_verified
        assert torch.from_dlpack(wrapped).data_ptr() == tensor.data_ptr()
        host = optype_dlpack.inspect(wrapped.__dlpack__(max_version=(1, 0), dl_device=(KDL_CPU, 0)))
        assert host.device == (KDL_CPU, 0) and host.flags == DLPackFlags.IS_COPIED
        assert from_dlpack(wrapped, copy=True).tolist() == [0, 1, 2, 3, 4, 5]
        assert np.from_dlpack(wrapped, device="cpu").tolist() == [0, 1, 2, 3, 4, 5]


def test_cuda_interface_consumed_on_the_producers_stream(torch: Any) -> None:
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        tensor = torch.full((1000,), 3.0, device="cuda")
        interface = tensor.__cuda_array_interface__
        wrapped = asdlpack(CudaInterface(interface, tensor))
        consumed = torch.from_dlpack(wrapped)  # torch passes its current stream: the producer's
    stream.synchronize()
    assert consumed.sum().item() == 3000.0
    if interface.get("stream") not in (None, 1, 2):
        with pytest.raises(BufferError, match="ordering two CUDA streams is not supported"):
            wrapped.__dlpack__(stream=1)


def test_cupy_arrays_and_managed_memory(cupy: Any) -> None:
    array = cupy.arange(8, dtype=cupy.float32).reshape(2, 4)[:, ::2]
    wrapped = asdlpack(CudaInterface(array.__cuda_array_interface__, array))
    assert wrapped.__dlpack_device__() == (KDL_CUDA, array.device.id)
    np.testing.assert_array_equal(from_dlpack(wrapped, copy=True), cupy.asnumpy(array))
    np.testing.assert_array_equal(from_dlpack(array, copy=True), cupy.asnumpy(array))

    memory = cupy.cuda.malloc_managed(64)
    managed = cupy.ndarray((16,), dtype=cupy.float32, memptr=memory)
    managed[...] = 2.0
    cupy.cuda.Device().synchronize()
    wrapped = asdlpack(CudaInterface(managed.__cuda_array_interface__, managed))
    assert wrapped.__dlpack_device__()[0] == KDL_CUDA_MANAGED
    view = from_dlpack(wrapped)  # managed memory: the host reads it in place
    assert view.ctypes.data == managed.data.ptr
    assert view.tolist() == [2.0] * 16
    del view, wrapped
    gc.collect()


def test_pinned_host_memory(torch: Any) -> None:
    pinned = torch.arange(4, dtype=torch.float32).pin_memory()
    interface = {"shape": (4,), "typestr": "<f4", "data": (pinned.data_ptr(), False), "version": 3}
    wrapped = asdlpack(CudaInterface(interface, pinned))
    assert wrapped.__dlpack_device__() == (KDL_CUDA_HOST, 0)
    view = from_dlpack(wrapped)
    assert view.ctypes.data == pinned.data_ptr()
    assert view.tolist() == [0, 1, 2, 3]
    as_cpu = optype_dlpack.inspect(wrapped.__dlpack__(max_version=(1, 0), dl_device=(KDL_CPU, 0)))
    assert as_cpu.device == (KDL_CPU, 0) and as_cpu.data_ptr == pinned.data_ptr()  # host memory: no copy
    as_pinned = optype_dlpack.inspect(wrapped.__dlpack__(max_version=(1, 0), dl_device=(KDL_CUDA_HOST, 0)))
    assert as_pinned.device == (KDL_CUDA_HOST, 0)


# ---------------------------------------------------------------------------------------
# Device memory under a host label: the driver is asked before a host view is made


def labelled(cpp_producer: Any, owner: Any, pointer: int, device: tuple[int, int]) -> object:
    """A capsule over 16 float32 at `pointer` (kept alive by `owner`), labelled `device`."""
    return cpp_producer.make_capsule(data=pointer, device=device, shape=(16,), strides=(1,), dtype=FLOAT32, owner=owner)


@pytest.mark.parametrize("copy", [None, False, True])
@pytest.mark.parametrize(
    ("label", "name"),
    [((KDL_CPU, 0), "cpu"), ((KDL_CUDA_HOST, 0), "cuda_host:0"), ((KDL_CUDA_MANAGED, 0), "cuda_managed:0")],
)
def test_device_memory_under_a_host_label_is_refused(
    tensors_freed: Any, torch: Any, label: tuple[int, int], name: str, copy: bool | None
) -> None:
    tensor = torch.arange(16, dtype=torch.float32, device="cuda")
    capsule = labelled(tensors_freed, tensor, tensor.data_ptr(), label)
    lie = rf"from_dlpack: data: the driver reports device memory on cuda:{tensor.device.index} \(at 0x[0-9a-f]+\) "
    with pytest.raises(BufferError, match=lie + f"for a tensor labelled {name}; the CPU cannot read it"):
        from_dlpack(capsule, copy=copy)
    assert capsule_name(capsule) == "dltensor_versioned"  # not consumed
    assert tensors_freed.deleter_calls() == 0


def test_device_memory_behind_a_byte_offset_is_refused(tensors_freed: Any, torch: Any) -> None:
    # `data` is host memory; the addressed bytes, byte_offset further, are a GPU's.
    host = np.zeros(16, dtype=np.float32)
    tensor = torch.arange(16, dtype=torch.float32, device="cuda")
    offset = tensor.data_ptr() - host.ctypes.data
    if offset < 0:
        pytest.skip("the GPU allocation lies below the host array; byte_offset cannot reach it")
    capsule = tensors_freed.make_capsule(
        data=host.ctypes.data, device=(KDL_CPU, 0), shape=(16,), strides=(1,), dtype=FLOAT32,
        byte_offset=offset, owner=(host, tensor),
    )
    with pytest.raises(BufferError, match="the driver reports device memory on cuda:"):
        from_dlpack(capsule)
    assert capsule_name(capsule) == "dltensor_versioned"


@pytest.mark.parametrize("label", [(KDL_CPU, 0), (KDL_CUDA_HOST, 0), (KDL_CUDA_MANAGED, 0)])
def test_memory_the_cpu_can_read_still_passes_under_any_host_label(
    tensors_freed: Any, torch: Any, label: tuple[int, int]
) -> None:
    # Page-locked memory labelled CPU or managed, ordinary memory labelled page-locked:
    # imprecise labels, but the CPU reads the memory, as before.
    pinned = torch.arange(16, dtype=torch.float32).pin_memory()
    view = from_dlpack(labelled(tensors_freed, pinned, pinned.data_ptr(), label))
    assert view.ctypes.data == pinned.data_ptr() and view.tolist() == list(range(16))
    ordinary = np.arange(16, dtype=np.float32)
    view = from_dlpack(labelled(tensors_freed, ordinary, ordinary.ctypes.data, label))
    assert view.ctypes.data == ordinary.ctypes.data
    del view
    gc.collect()

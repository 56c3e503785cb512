"""The CUDA driver's word against the capsule's label, on a real GPU.

Real producers (torch, CuPy, JAX, numba-cuda) must verify; capsules from the test producer
that wrap real pointers under lying labels must each be caught by their own rule. The
allocation bounds and the current context are read independently, through libcuda with
ctypes. Every test here needs an NVIDIA GPU and its driver and is skipped without them.
"""

from __future__ import annotations

import ctypes
import functools
import os
import threading
import types
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import optype_dlpack
from optype_dlpack import DLPackValidationError, _core
from tests.support.child import last_json, run_code
from tests.support.dlpack_h import KDL_CPU, KDL_CUDA, KDL_CUDA_HOST, KDL_CUDA_MANAGED

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not _core.cuda_driver_available(), reason="needs an NVIDIA GPU and driver"),
]

UINT8, FLOAT32 = (1, 8, 1), (2, 32, 1)


def quietly_import(name: str) -> Any:
    """Imports a framework; warnings it raises while importing (CUDA path hints,
    deprecations) are its own business, not this package's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return __import__(name, fromlist=["_"])


# ---------------------------------------------------------------------------------------
# libcuda through ctypes: the independent witness for allocation bounds and contexts.

_CU_POINTER_ATTRIBUTE_RANGE_START_ADDR = 11
_CU_POINTER_ATTRIBUTE_RANGE_SIZE = 12


class LibCuda:
    def __init__(self) -> None:
        self.lib = ctypes.CDLL("libcuda.so.1")
        self.lib.cuPointerGetAttribute.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64]
        self.lib.cuCtxGetCurrent.argtypes = [ctypes.POINTER(ctypes.c_void_p)]

    def allocation(self, ptr: int) -> tuple[int, int]:
        """(start, size) of the allocation that holds ptr."""
        start, size = ctypes.c_uint64(), ctypes.c_size_t()
        assert self.lib.cuPointerGetAttribute(ctypes.byref(start), _CU_POINTER_ATTRIBUTE_RANGE_START_ADDR, ptr) == 0
        assert self.lib.cuPointerGetAttribute(ctypes.byref(size), _CU_POINTER_ATTRIBUTE_RANGE_SIZE, ptr) == 0
        return start.value, size.value

    def current_context(self) -> int | None:
        context = ctypes.c_void_p()
        assert self.lib.cuCtxGetCurrent(ctypes.byref(context)) == 0
        return context.value


@pytest.fixture(scope="module")
def libcuda() -> LibCuda:
    return LibCuda()


@pytest.fixture(scope="module")
def torch() -> Any:
    torch = quietly_import("torch")
    assert torch.cuda.is_available(), "the driver sees a GPU but torch does not: a CPU-only torch?"
    return torch


@pytest.fixture(autouse=True)
def on_gpu_0(request: pytest.FixtureRequest) -> None:
    """Makes GPU 0 current for torch's "cuda" before each test that uses torch: another
    framework initialising every GPU (JAX does, at its first array) can leave GPU 1's context
    current on this thread, and the tests' expectations name device 0."""
    if "torch" in request.fixturenames:
        request.getfixturevalue("torch").cuda.set_device(0)


@pytest.fixture(scope="module")
def cupy() -> Any:
    return quietly_import("cupy")


@pytest.fixture(scope="module")
def jax() -> Any:
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # leave the GPU to the others
    jax = quietly_import("jax")
    assert jax.devices("gpu"), "the driver sees a GPU but JAX does not: a CPU-only jaxlib?"
    return jax


@pytest.fixture(scope="module")
def numba_cuda() -> Any:
    return quietly_import("numba.cuda")


def rules_of(call: Callable[[], object]) -> tuple[str, ...]:
    """The rule ids a validation raises, () when it passes."""
    try:
        call()
    except DLPackValidationError as error:
        return error.rules
    return ()


def assert_caught(capsule: object, rule: str, verify: str = "auto") -> None:
    with pytest.raises(DLPackValidationError) as caught:
        optype_dlpack.validate(capsule, verify_device=verify)
    assert caught.value.rules == (rule,), str(caught.value)


def assert_verified(x: object, verify: str = "auto") -> optype_dlpack.TensorInfo:
    info = optype_dlpack.validate(x, verify_device=verify)
    assert info.device_verified is True, repr(info)
    return info


def test_driver_is_loaded() -> None:
    assert _core.cuda_driver_status() == "loaded"


# ---------------------------------------------------------------------------------------
# Real producers: every dtype and layout verifies.

TORCH_DTYPES = [
    "float32", "float16", "bfloat16", "float64", "int8", "uint8", "int16", "int32", "int64",
    "bool", "complex64", "complex128",
]  # fmt: skip
TORCH_LAYOUTS: dict[str, Callable[[Any], Any]] = {
    "contiguous": lambda x: x,
    "transposed": lambda x: x.t(),
    "sliced": lambda x: x[1:, ::2],
    "offset": lambda x: x[2:],
    "row": lambda x: x[3],
    "scalar": lambda x: x[1, 1],
    "broadcast": lambda x: x[:1].expand(4, 6),
    "empty": lambda x: x[:0],
}


@pytest.mark.parametrize("layout", sorted(TORCH_LAYOUTS))
@pytest.mark.parametrize("dtype", TORCH_DTYPES)
def test_torch_tensors_verify(torch: Any, dtype: str, layout: str) -> None:
    base = torch.arange(24, device="cuda").reshape(4, 6).to(getattr(torch, dtype))
    view = TORCH_LAYOUTS[layout](base)
    info = assert_verified(view)
    assert info.device == (KDL_CUDA, 0)
    assert info.shape == tuple(view.shape)
    assert_verified(view.__dlpack__(max_version=(1, 0)))
    assert_verified(view.__dlpack__())  # no max_version: a legacy capsule
    assert optype_dlpack.Expect(device="cuda:0", verify_device="require").check(view) is None


CUPY_DTYPES = ["float32", "float16", "float64", "int8", "uint8", "int32", "int64", "bool", "complex64"]
CUPY_LAYOUTS: dict[str, Callable[[Any], Any]] = {
    "contiguous": lambda x: x,
    "transposed": lambda x: x.T,
    "sliced": lambda x: x[1:, ::2],
    "offset": lambda x: x[2:],
    "scalar": lambda x: x[1, 1],
    "empty": lambda x: x[:0],
}


@pytest.mark.parametrize("layout", sorted(CUPY_LAYOUTS))
@pytest.mark.parametrize("dtype", CUPY_DTYPES)
def test_cupy_arrays_verify(cupy: Any, dtype: str, layout: str) -> None:
    base = cupy.asarray(np.arange(24).reshape(4, 6).astype(dtype))  # a copy, no kernel
    view = CUPY_LAYOUTS[layout](base)
    assert_verified(view.__dlpack__())
    info = assert_verified(view)
    assert info.device == (KDL_CUDA, base.device.id)
    assert info.shape == view.shape


@pytest.mark.parametrize("dtype", CUPY_DTYPES)
def test_cupy_negative_strides(cupy: Any, dtype: str) -> None:
    # CuPy 14 exports a negative stride as its byte stride divided by the item size as an
    # unsigned number: (2**64 - 24) // 4 for a float32 stride of -24 bytes. The element
    # offsets then overflow, which the validator reports instead of addressing wild memory.
    # One-byte items divide exactly, so their negative strides come out right.
    base = cupy.asarray(np.arange(24).reshape(4, 6).astype(dtype))
    view = base[::-1, ::-2]  # negative strides: the lowest byte is not data
    if base.itemsize == 1:
        info = assert_verified(view.__dlpack__())
        assert info.strides == (-6, -2)
        return
    with pytest.raises(optype_dlpack.DLPackValidationError) as caught:
        optype_dlpack.validate(view.__dlpack__())
    assert caught.value.rules == ("extent.overflow",)


def test_cupy_managed_arrays_verify(cupy: Any) -> None:
    memory = cupy.cuda.malloc_managed(64 * 4)
    managed = cupy.ndarray((8, 8), dtype=cupy.float32, memptr=memory)
    info = assert_verified(managed)  # CuPy labels it from the same pointer attributes
    assert info.device.type in (KDL_CUDA, KDL_CUDA_MANAGED)


JAX_DTYPES = ["float32", "float16", "bfloat16", "int8", "uint8", "int32", "bool"]


@pytest.mark.parametrize("dtype", JAX_DTYPES)
def test_jax_arrays_verify(jax: Any, dtype: str) -> None:
    import ml_dtypes

    host = np.arange(24).reshape(4, 6).astype(ml_dtypes.bfloat16 if dtype == "bfloat16" else dtype)
    for source in (host, host.reshape(24), host[1:2, 2:3].reshape(()), host[:0, :3]):
        array = jax.device_put(source, jax.devices("gpu")[0])
        assert_verified(array)
        assert_verified(array.__dlpack__())


@pytest.mark.parametrize("dtype", ["float32", "int16", "uint8", "complex128"])
def test_numba_arrays_verify(numba_cuda: Any, cpp_producer: Any, dtype: str) -> None:
    """numba-cuda arrays speak __cuda_array_interface__, not DLPack: the test producer wraps
    what they describe, labelled truthfully."""
    host = np.arange(24).reshape(4, 6).astype(dtype)
    code = {"f": 2, "i": 0, "u": 1, "c": 5}[host.dtype.kind]
    dl_dtype = (code, host.dtype.itemsize * 8, 1)
    with warnings.catch_warnings():  # numba's first use of the driver may comment on it
        warnings.simplefilter("ignore")
        arrays = [
            (numba_cuda.to_device(host), (KDL_CUDA, numba_cuda.get_current_device().id)),
            (numba_cuda.managed_array((4, 6), dtype=dtype), (KDL_CUDA_MANAGED, 0)),
            (numba_cuda.pinned_array((4, 6), dtype=dtype), (KDL_CUDA_HOST, 0)),
        ]
    for array, device in arrays:
        if device[0] == KDL_CUDA_HOST:  # a host ndarray in page-locked memory
            pointer, strides = array.ctypes.data, array.strides
        else:
            interface = array.__cuda_array_interface__
            pointer, strides = interface["data"][0], interface["strides"] or array.strides
        capsule = cpp_producer.make_capsule(
            data=pointer,
            device=device,
            shape=(4, 6),
            strides=tuple(s // host.dtype.itemsize for s in strides),
            dtype=dl_dtype,
            owner=array,
        )
        assert_verified(capsule)


# ---------------------------------------------------------------------------------------
# Lying capsules around real pointers: each lie has its own rule.


@pytest.fixture
def device_tensor(torch: Any) -> Any:
    return torch.arange(64, dtype=torch.float32, device="cuda")


def wrap(cpp_producer: Any, owner: Any, pointer: int, device: tuple[int, int], **fields: Any) -> object:
    fields.setdefault("shape", (16,))
    fields.setdefault("strides", (1,))
    fields.setdefault("dtype", FLOAT32)
    return cpp_producer.make_capsule(data=pointer, device=device, owner=owner, **fields)


def test_truthful_wrap_verifies(cpp_producer: Any, device_tensor: Any) -> None:
    assert_verified(wrap(cpp_producer, device_tensor, device_tensor.data_ptr(), (KDL_CUDA, 0)))
    assert_verified(wrap(cpp_producer, device_tensor, device_tensor.data_ptr(), (KDL_CUDA, 0)), verify="require")


def test_wrong_device_id(cpp_producer: Any, device_tensor: Any) -> None:
    assert_caught(wrap(cpp_producer, device_tensor, device_tensor.data_ptr(), (KDL_CUDA, 1)), "device.ordinal")


def test_device_pointer_labelled_cpu(cpp_producer: Any, device_tensor: Any) -> None:
    capsule = wrap(cpp_producer, device_tensor, device_tensor.data_ptr(), (KDL_CPU, 0))
    assert_caught(capsule, "device.cpu_pointer_is_device", verify="require")
    with pytest.raises(DLPackValidationError, match=r"\[device.cpu_pointer_is_device\]"):
        optype_dlpack.Expect(verify_device="require").check(capsule)
    # "auto" reads no bytes and does not ask about a kDLCPU label (docs/validation.md) ...
    assert optype_dlpack.validate(capsule).device_verified is None
    assert optype_dlpack.Expect(device="cpu").check(capsule) is None
    # ... but from_dlpack, which would read them on the host, asks and refuses.
    with pytest.raises(BufferError, match="the driver reports device memory on cuda:0"):
        optype_dlpack.from_dlpack(capsule)


def test_device_pointer_labelled_pinned_or_managed(cpp_producer: Any, device_tensor: Any) -> None:
    pointer = device_tensor.data_ptr()
    assert_caught(wrap(cpp_producer, device_tensor, pointer, (KDL_CUDA_HOST, 0)), "device.not_pinned")
    assert_caught(wrap(cpp_producer, device_tensor, pointer, (KDL_CUDA_MANAGED, 0)), "device.not_managed")


def test_host_pointer_labelled_cuda(cpp_producer: Any) -> None:
    host = np.arange(16, dtype=np.float32)
    pointer = host.ctypes.data
    assert_caught(wrap(cpp_producer, host, pointer, (KDL_CUDA, 0)), "device.not_device_memory")
    assert_caught(wrap(cpp_producer, host, pointer, (KDL_CUDA_HOST, 0)), "device.not_pinned")
    assert_caught(wrap(cpp_producer, host, pointer, (KDL_CUDA_MANAGED, 0)), "device.not_managed")
    assert_verified(wrap(cpp_producer, host, pointer, (KDL_CPU, 0)), verify="require")


def test_numpy_arrays_with_cuda_in_use(torch: Any) -> None:
    x = np.arange(16, dtype=np.float32)
    assert optype_dlpack.validate(x).device_verified is None  # "auto" leaves CPU labels unasked
    assert_verified(x, verify="require")  # libcuda is loaded: "require" asks, and the driver confirms
    assert optype_dlpack.from_dlpack(x.__dlpack__()).tolist() == x.tolist()  # asked, host memory


def test_pinned_memory_labelled_each_way(cpp_producer: Any, torch: Any) -> None:
    pinned = torch.arange(16, dtype=torch.float32).pin_memory()
    assert pinned.is_pinned()
    pointer = pinned.data_ptr()
    assert_verified(wrap(cpp_producer, pinned, pointer, (KDL_CUDA_HOST, 0)))
    assert_verified(wrap(cpp_producer, pinned, pointer, (KDL_CPU, 0)), verify="require")  # the CPU reads it
    assert_verified(pinned, verify="require")  # torch labels pinned tensors kDLCPU
    assert_caught(wrap(cpp_producer, pinned, pointer, (KDL_CUDA, 0)), "device.not_device_memory")
    assert_caught(wrap(cpp_producer, pinned, pointer, (KDL_CUDA_MANAGED, 0)), "device.not_managed")


def test_managed_memory_labelled_each_way(cpp_producer: Any, cupy: Any) -> None:
    memory = cupy.cuda.malloc_managed(16 * 4)
    pointer, ordinal = memory.ptr, memory.device_id
    assert_verified(wrap(cpp_producer, memory, pointer, (KDL_CUDA_MANAGED, 0)))
    assert_verified(wrap(cpp_producer, memory, pointer, (KDL_CUDA, ordinal)))  # the driver calls it device memory
    assert_verified(wrap(cpp_producer, memory, pointer, (KDL_CPU, 0)), verify="require")  # the CPU reads it
    assert_caught(wrap(cpp_producer, memory, pointer, (KDL_CUDA_HOST, 0)), "device.not_pinned")


def test_managed_memory_labelled_with_a_gpu_that_does_not_exist(cpp_producer: Any, cupy: Any) -> None:
    memory = cupy.cuda.malloc_managed(16 * 4)
    count = cupy.cuda.runtime.getDeviceCount()
    assert_verified(wrap(cpp_producer, memory, memory.ptr, (KDL_CUDA, count - 1)))  # any GPU reaches it
    for device_id in sorted({count, max(count, 3)}):  # cuda:3 on a machine of three GPUs or fewer
        assert_caught(wrap(cpp_producer, memory, memory.ptr, (KDL_CUDA, device_id)), "device.ordinal")


# With PyTorch's expandable segments, the driver reports the whole reserved address range
# (most of the GPU's memory) as the allocation of every tensor in it; only the pages in use
# are mapped. Allocator settings are read once per process: this runs in a child.
_EXPANDABLE_SEGMENTS_CHILD = """
import ctypes, json
import torch
import optype_dlpack

from tests.support.capsules import new_capsule
from tests.support.dlpack_h import KDL_CUDA, KDL_UINT, DLDataType, DLDevice, DLManagedTensor, int64_array
alive = []

def byte_capsule(data, extent, stride=1):
    # A legacy uint8 capsule (no deleter) over `data`, kDLCUDA on GPU 0.
    shape, strides = int64_array([extent]), int64_array([stride])
    managed = DLManagedTensor()
    managed.dl_tensor.data = data
    managed.dl_tensor.device = DLDevice(KDL_CUDA, 0)
    managed.dl_tensor.ndim = 1
    managed.dl_tensor.dtype = DLDataType(KDL_UINT, 8, 1)
    managed.dl_tensor.shape = shape
    managed.dl_tensor.strides = strides
    alive.extend((managed, shape, strides))
    return new_capsule(ctypes.addressof(managed), b"dltensor", None)

def outcome(capsule, verify="auto"):
    try:
        return {"verified": optype_dlpack.validate(capsule, verify_device=verify).device_verified}
    except optype_dlpack.DLPackValidationError as error:
        return {"rules": list(error.rules), "message": str(error)}

libcuda = ctypes.CDLL("libcuda.so.1")
libcuda.cuPointerGetAttribute.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64]
small = torch.empty(4 << 20, dtype=torch.uint8, device="cuda")
large = torch.empty(64 << 20, dtype=torch.uint8, device="cuda")
reserved = ctypes.c_size_t()
assert libcuda.cuPointerGetAttribute(ctypes.byref(reserved), 12, small.data_ptr()) == 0  # RANGE_SIZE
try:
    optype_dlpack.from_dlpack(byte_capsule(small.data_ptr(), 1 << 30), copy=True)
    copy = "copied"
except BufferError as error:
    copy = str(error)
small.fill_(7)  # the context still works: no copy read an unmapped address
print(json.dumps({
    "copy": copy,
    "usable_after": int(small[-1].item()),
    "reserved": reserved.value,
    "small": outcome(small),
    "large": outcome(large, "require"),
    "small_wrapped": outcome(byte_capsule(small.data_ptr(), 4 << 20), "require"),
    "claims_1_gib": outcome(byte_capsule(small.data_ptr(), 1 << 30)),
    "claims_1_gib_required": outcome(byte_capsule(small.data_ptr(), 1 << 30), "require"),
    "steps_1_gib": outcome(byte_capsule(small.data_ptr(), 2, 1 << 30)),
}))
"""


def test_expandable_segments_unmapped_bytes_are_caught(torch: Any, tmp_path: Path) -> None:
    completed = run_code(
        _EXPANDABLE_SEGMENTS_CHILD, env={"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}, cwd=tmp_path, timeout=300
    )
    seen = last_json(completed)
    assert seen["reserved"] > 1 << 30, "expandable segments should reserve far more than the tensor"
    assert seen["small"] == {"verified": True}
    assert seen["large"] == {"verified": True}  # 64 MiB over several mappings, all mapped
    assert seen["small_wrapped"] == {"verified": True}
    for case in ("claims_1_gib", "claims_1_gib_required", "steps_1_gib"):
        assert seen[case].get("rules") == ["device.unmapped"], seen[case]
    assert "unmapped" in seen["copy"], seen["copy"]  # from_dlpack(copy=True) refuses to copy them
    assert seen["usable_after"] == 7


def test_extent_past_the_allocation(cpp_producer: Any, libcuda: LibCuda, device_tensor: Any) -> None:
    start, size = libcuda.allocation(device_tensor.data_ptr())
    exact = wrap(cpp_producer, device_tensor, start, (KDL_CUDA, 0), shape=(size,), dtype=UINT8)
    assert_verified(exact)
    beyond = wrap(cpp_producer, device_tensor, start, (KDL_CUDA, 0), shape=(size + 1,), dtype=UINT8)
    assert_caught(beyond, "device.extent")
    strided = wrap(cpp_producer, device_tensor, start, (KDL_CUDA, 0), shape=(2,), strides=(size,), dtype=UINT8)
    assert_caught(strided, "device.extent")


def test_byte_offset_past_the_allocation(cpp_producer: Any, libcuda: LibCuda, device_tensor: Any) -> None:
    start, size = libcuda.allocation(device_tensor.data_ptr())
    inside = wrap(cpp_producer, device_tensor, start, (KDL_CUDA, 0), shape=(4,), dtype=UINT8, byte_offset=size - 4)
    assert_verified(inside)
    for byte_offset in (size - 3, size, size + 4096):
        capsule = wrap(cpp_producer, device_tensor, start, (KDL_CUDA, 0), shape=(4,), dtype=UINT8, byte_offset=byte_offset)
        assert_caught(capsule, "device.extent")


def test_negative_strides_before_the_allocation(cpp_producer: Any, libcuda: LibCuda, device_tensor: Any) -> None:
    start, _ = libcuda.allocation(device_tensor.data_ptr())
    capsule = wrap(cpp_producer, device_tensor, start, (KDL_CUDA, 0), shape=(2,), strides=(-1,))
    assert_caught(capsule, "device.extent")
    inside = wrap(cpp_producer, device_tensor, start + 4, (KDL_CUDA, 0), shape=(2,), strides=(-1,))
    assert_verified(inside)


def test_empty_tensors_check_only_the_label(cpp_producer: Any, torch: Any) -> None:
    assert_verified(torch.empty((0, 3), device="cuda"))
    count = torch.cuda.device_count()
    assert_verified(cpp_producer.make_capsule(data=0, device=(KDL_CUDA, count - 1), shape=(0,), strides=(1,), dtype=FLOAT32))
    nowhere = cpp_producer.make_capsule(data=0, device=(KDL_CUDA, count), shape=(0,), strides=(1,), dtype=FLOAT32)
    assert_caught(nowhere, "device.ordinal")
    assert optype_dlpack.validate(nowhere, verify_device="skip").device_verified is None


def test_skip_never_asks_on_a_gpu(cpp_producer: Any, device_tensor: Any) -> None:
    lie = wrap(cpp_producer, device_tensor, device_tensor.data_ptr(), (KDL_CPU, 0))
    assert optype_dlpack.validate(lie, verify_device="skip").device_verified is None


# ---------------------------------------------------------------------------------------
# Validation never creates, changes or leaves a current context.


def validate_required(capsule: object) -> optype_dlpack.TensorInfo:
    """Asks the driver about every label, kDLCPU included."""
    return optype_dlpack.validate(capsule, verify_device="require")


def lies_and_truths(cpp_producer: Any, torch: Any) -> Iterator[object]:
    tensor = torch.arange(64, dtype=torch.float32, device="cuda")
    host = np.zeros(16, dtype=np.float32)
    yield tensor.__dlpack__()
    yield wrap(cpp_producer, tensor, tensor.data_ptr(), (KDL_CUDA, 1))
    yield wrap(cpp_producer, tensor, tensor.data_ptr(), (KDL_CPU, 0))
    yield wrap(cpp_producer, host, host.ctypes.data, (KDL_CUDA, 0))
    yield wrap(cpp_producer, tensor, tensor.data_ptr(), (KDL_CUDA, 0), byte_offset=1 << 40)


def test_context_unchanged_in_this_thread(cpp_producer: Any, torch: Any, libcuda: LibCuda) -> None:
    capsules = list(lies_and_truths(cpp_producer, torch))
    before = libcuda.current_context()
    assert before is not None  # torch made its primary context current
    for capsule in capsules:
        rules_of(functools.partial(validate_required, capsule))
    assert libcuda.current_context() == before


def test_no_context_made_current_in_a_fresh_thread(cpp_producer: Any, torch: Any, libcuda: LibCuda) -> None:
    capsules = list(lies_and_truths(cpp_producer, torch))
    seen: dict[str, Any] = {}

    def work() -> None:
        seen["before"] = libcuda.current_context()
        seen["rules"] = [rules_of(functools.partial(validate_required, c)) for c in capsules]
        seen["after"] = libcuda.current_context()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen["before"] is None
    assert seen["rules"] == [
        (),
        ("device.ordinal",),
        ("device.cpu_pointer_is_device",),
        ("device.not_device_memory",),
        ("device.extent",),
    ]
    assert seen["after"] is None


# ---------------------------------------------------------------------------------------
# Two GPUs: the driver is asked without switching devices.


@pytest.fixture
def second_gpu(torch: Any) -> Any:
    if torch.cuda.device_count() < 2:
        pytest.skip("needs two NVIDIA GPUs")
    return torch.device("cuda", 1)


def test_tensor_on_gpu_1_labelled_gpu_0(cpp_producer: Any, torch: Any, second_gpu: Any, libcuda: LibCuda) -> None:
    tensor = torch.arange(64, dtype=torch.float32, device=second_gpu)
    with torch.cuda.device(1):  # torch exports only from the current device
        capsule = tensor.__dlpack__()
    assert torch.cuda.current_device() == 0
    before = libcuda.current_context()
    # Asked while GPU 0's context is current: pointer queries need no context of GPU 1.
    info = assert_verified(capsule)
    assert info.device == (KDL_CUDA, 1)
    assert_verified(wrap(cpp_producer, tensor, tensor.data_ptr(), (KDL_CUDA, 1)))
    assert_caught(wrap(cpp_producer, tensor, tensor.data_ptr(), (KDL_CUDA, 0)), "device.ordinal")
    assert libcuda.current_context() == before


# ---------------------------------------------------------------------------------------
# Interop on CUDA memory: copies to the host, and __cuda_array_interface__ producers.


class _CapsuleHolder:
    """Hands over one capsule made elsewhere (so no framework runs in the caller's thread)."""

    def __init__(self, capsule: object, device: tuple[int, int]) -> None:
        self._capsule, self._device = capsule, device

    def __dlpack__(self, **_: Any) -> object:
        return self._capsule

    def __dlpack_device__(self) -> tuple[int, int]:
        return self._device


@pytest.mark.parametrize("layout", ["contiguous", "transposed", "sliced", "offset", "scalar", "empty"])
@pytest.mark.parametrize("dtype", ["float32", "float16", "int64", "bool", "complex64"])
def test_from_dlpack_copies_cuda_tensors(torch: Any, dtype: str, layout: str) -> None:
    base = torch.arange(24, device="cuda").reshape(4, 6).to(getattr(torch, dtype))
    view = TORCH_LAYOUTS[layout](base)
    copied = optype_dlpack.from_dlpack(view, copy=True)
    assert isinstance(copied, np.ndarray)
    np.testing.assert_array_equal(copied, view.cpu().numpy())


def test_from_dlpack_copy_leaves_no_context_current(torch: Any, libcuda: LibCuda) -> None:
    tensor = torch.arange(64, dtype=torch.float32, device="cuda")
    holder = _CapsuleHolder(tensor.__dlpack__(max_version=(1, 0)), (KDL_CUDA, 0))
    expected = tensor.cpu().numpy()
    seen: dict[str, Any] = {}

    def work() -> None:
        seen["before"] = libcuda.current_context()
        seen["copied"] = optype_dlpack.from_dlpack(holder, copy=True)
        seen["after"] = libcuda.current_context()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen["before"] is None
    np.testing.assert_array_equal(seen["copied"], expected)
    assert seen["after"] is None


def test_asdlpack_of_cuda_array_interface(torch: Any, cupy: Any, numba_cuda: Any) -> None:
    tensor = torch.arange(24, dtype=torch.float32, device="cuda").reshape(4, 6)[:, 1:]
    array = cupy.asarray(np.arange(24, dtype=np.int32).reshape(4, 6))[::2]
    with warnings.catch_warnings():  # numba's first use of the driver may comment on it
        warnings.simplefilter("ignore")
        numba_array = numba_cuda.to_device(np.arange(12, dtype=np.float64))
    for source in (tensor, array, numba_array):
        interface_only = types.SimpleNamespace(__cuda_array_interface__=source.__cuda_array_interface__)
        wrapped = optype_dlpack.asdlpack(interface_only)
        info = assert_verified(wrapped)
        assert info.device.type == KDL_CUDA
        assert info.shape == tuple(source.shape)
        assert info.data_ptr == source.__cuda_array_interface__["data"][0]

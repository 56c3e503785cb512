"""from_dlpack: zero-copy NumPy views of DLPack tensors, consumed exactly once.

Capsules with exact field values come from the ctypes producer (tests/support/ctypes_producer.py), whose
deleter counts its calls and whose memory is a NumPy array it keeps until the deleter
runs. numpy, torch and jax are the real producers.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from optype_dlpack import DLPackConsumedError, DLPackValidationError, DLPackVersionError, _core
from tests.support.capsules import capsule_name, declared
from tests.support.child import run_against
from tests.support.ctypes_producer import CtypesProducer
from tests.support.dlpack_h import (
    IS_SUBBYTE_TYPE_PADDED,
    KDL_CPU,
    KDL_CUDA,
    KDL_CUDA_HOST,
    KDL_CUDA_MANAGED,
    KDL_OPENCL,
    KDL_ROCM,
    KDL_ROCM_HOST,
    READ_ONLY,
)
from tests.support.frameworks import needs

needs_torch = needs("torch")

from_dlpack = _core.from_dlpack
to_dlpack = _core.to_dlpack


class Exporter:
    """A minimal DLPack producer object over one capsule factory."""

    def __init__(self, make: Any, device: tuple[int, int] = (KDL_CPU, 0)) -> None:
        self.make = make
        self.device = device
        self.calls: list[dict[str, Any]] = []

    def __dlpack__(self, **kwargs: Any) -> object:
        self.calls.append(kwargs)
        return self.make()

    def __dlpack_device__(self) -> tuple[int, int]:
        return self.device


# ---------------------------------------------------------------------------------------
# Zero copy and ownership


def test_view_shares_memory_with_the_capsule(ctypes_producer: CtypesProducer) -> None:
    memory = np.arange(6, dtype=np.float32)
    capsule = ctypes_producer.capsule(memory)
    array = from_dlpack(capsule)
    assert array.ctypes.data == memory.ctypes.data
    assert array.flags.writeable
    array[1] = 42.0
    assert memory[1] == 42.0
    memory[2] = -1.0
    assert array[2] == -1.0


def test_capsule_is_renamed_once_and_deleter_runs_once_when_the_last_view_dies(ctypes_producer: CtypesProducer) -> None:
    capsule = ctypes_producer.capsule()
    array = from_dlpack(capsule)
    assert capsule_name(capsule) == "used_dltensor_versioned"
    view = array[1:]
    del capsule, array
    gc.collect()
    assert ctypes_producer.deleter_calls == 0  # a view of the array still reads the memory
    assert view.sum() == 15.0
    del view
    gc.collect()
    assert ctypes_producer.deleter_calls == 1


def test_legacy_capsule_is_renamed_and_freed_once(ctypes_producer: CtypesProducer) -> None:
    capsule = ctypes_producer.capsule(versioned=False)
    array = from_dlpack(capsule)
    assert capsule_name(capsule) == "used_dltensor"
    del array
    assert ctypes_producer.deleter_calls == 1
    del capsule
    gc.collect()
    assert ctypes_producer.deleter_calls == 1


def test_capsule_dropped_first_keeps_the_array_valid(ctypes_producer: CtypesProducer) -> None:
    memory = np.arange(6, dtype=np.float32)
    array = from_dlpack(ctypes_producer.capsule(memory))
    del memory  # the producer's own reference keeps it until the deleter runs
    gc.collect()
    assert array.tolist() == [0, 1, 2, 3, 4, 5]
    assert ctypes_producer.deleter_calls == 0
    del array
    assert ctypes_producer.deleter_calls == 1


def test_second_consumption_is_refused(ctypes_producer: CtypesProducer) -> None:
    capsule = ctypes_producer.capsule()
    first = from_dlpack(capsule)
    with pytest.raises(DLPackConsumedError, match="used_dltensor_versioned"):
        from_dlpack(capsule)
    del first
    assert ctypes_producer.deleter_calls == 1


def test_producer_is_asked_like_a_host_consumer(ctypes_producer: CtypesProducer) -> None:
    exporter = Exporter(ctypes_producer.capsule)
    from_dlpack(exporter)
    # stream=None (synchronise with the legacy default stream) is passed explicitly: the host
    # reads the bytes next, and a producer or wrapper with another default must still synchronise.
    assert exporter.calls == [{"stream": None, "max_version": (1, 3)}]


def test_legacy_producer_gets_the_typeerror_fallback(ctypes_producer: CtypesProducer) -> None:
    class OldProducer:
        def __init__(self) -> None:
            self.calls: list[object] = []

        def __dlpack__(self, stream: object = None) -> object:
            self.calls.append(stream)
            return ctypes_producer.capsule(versioned=False)

    old = OldProducer()
    assert from_dlpack(old).tolist() == [0, 1, 2, 3, 4, 5]
    assert old.calls == [None]


def test_producer_errors_propagate(ctypes_producer: CtypesProducer) -> None:
    class Refuses:
        def __dlpack__(self, **kwargs: object) -> object:
            raise BufferError("cannot export this")

    with pytest.raises(BufferError, match="cannot export this"):
        from_dlpack(Refuses())

    class NotACapsule:
        def __dlpack__(self, **kwargs: object) -> object:
            return 42

    with pytest.raises(TypeError, match=r"NotACapsule.__dlpack__\(\) returned int, not a PyCapsule"):
        from_dlpack(NotACapsule())


def test_objects_without_dlpack_are_refused() -> None:
    with pytest.raises(TypeError, match="expected a DLPack capsule or an object with __dlpack__, got list"):
        from_dlpack([1, 2, 3])


def test_argument_errors() -> None:
    a = np.arange(3)
    with pytest.raises(TypeError, match=r"copy must be True, False or None, not int"):
        from_dlpack(a, copy=1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'stream'"):
        from_dlpack(a, stream=None)
    with pytest.raises(TypeError, match=r"takes 1 positional argument but 2 were given"):
        from_dlpack(a, None)


# ---------------------------------------------------------------------------------------
# Validation first: a rejected capsule stays unconsumed, and its own destructor frees it.


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"device": (KDL_CPU, 3)}, "device.cpu_id"),
        ({"device": (99, 0), "version": (1, 2)}, "device.type"),  # permitted from 1.3 (docs/validation.md)
        ({"dtype": (2, 12, 1)}, "dtype.bits"),
        ({"dtype": (42, 8, 1), "version": (1, 2)}, "dtype.code"),
        ({"shape": (-1,), "strides": (1,)}, "shape.negative"),
        ({"strides": None}, "strides.null_since_1_2"),
        ({"data": 0}, "data.null"),
        ({"flags": 1 << 7}, "flags.unknown"),
    ],
)
def test_invalid_capsule_is_rejected_and_left_unconsumed(
    ctypes_producer: CtypesProducer, fields: dict[str, Any], rule: str
) -> None:
    capsule = ctypes_producer.capsule(**fields)
    with pytest.raises(DLPackValidationError, match=rule) as caught:
        from_dlpack(capsule)
    assert rule in caught.value.rules
    assert capsule_name(capsule) == "dltensor_versioned"
    assert ctypes_producer.deleter_calls == 0
    del capsule
    gc.collect()
    assert ctypes_producer.deleter_calls == 1


def test_unsupported_major_version_is_a_version_error(ctypes_producer: CtypesProducer) -> None:
    capsule = ctypes_producer.capsule(version=(2, 0))
    with pytest.raises(DLPackVersionError, match=r"version: expected major version 1, got 2.0"):
        from_dlpack(capsule)
    assert capsule_name(capsule) == "dltensor_versioned"


def test_null_strides_mean_c_order_before_1_2(ctypes_producer: CtypesProducer) -> None:
    memory = np.arange(6, dtype=np.float32)
    array = from_dlpack(ctypes_producer.capsule(memory, shape=(2, 3), strides=None, version=(1, 1)))
    assert array.strides == (12, 4)
    assert array.tolist() == [[0, 1, 2], [3, 4, 5]]
    legacy = from_dlpack(ctypes_producer.capsule(memory, shape=(3, 2), strides=None, versioned=False))
    assert legacy.tolist() == [[0, 1], [2, 3], [4, 5]]


def test_failure_inside_a_producer_call_leaves_nothing_behind(ctypes_producer: CtypesProducer) -> None:
    # The producer's capsule was rejected: dropping it is the only cleanup.
    exporter = Exporter(lambda: ctypes_producer.capsule(dtype=(2, 12, 1)))
    with pytest.raises(DLPackValidationError, match="dtype.bits"):
        from_dlpack(exporter)
    gc.collect()
    assert ctypes_producer.deleter_calls == 1


# ---------------------------------------------------------------------------------------
# Layout: strides (negative, zero), byte_offset, 0-d, empty


def test_negative_and_zero_strides(ctypes_producer: CtypesProducer) -> None:
    memory = np.arange(12, dtype=np.int64)
    capsule = ctypes_producer.capsule(memory, shape=(3, 4), strides=(-4, 1), data=memory[8:].ctypes.data)
    array = from_dlpack(capsule)
    assert array.tolist() == [[8, 9, 10, 11], [4, 5, 6, 7], [0, 1, 2, 3]]
    assert array.strides == (-32, 8)
    broadcast = from_dlpack(ctypes_producer.capsule(memory, shape=(2, 3), strides=(0, 1)))
    assert broadcast.tolist() == [[0, 1, 2], [0, 1, 2]]
    assert broadcast.strides == (0, 8)


def test_byte_offset_is_applied(ctypes_producer: CtypesProducer) -> None:
    memory = np.arange(8, dtype=np.float64)
    array = from_dlpack(ctypes_producer.capsule(memory, shape=(3,), strides=(2,), byte_offset=16))
    assert array.tolist() == [2.0, 4.0, 6.0]
    assert array.ctypes.data == memory.ctypes.data + 16


def test_zero_dimensional_with_null_shape_and_strides(ctypes_producer: CtypesProducer) -> None:
    memory = np.array([7.5], dtype=np.float32)
    array = from_dlpack(ctypes_producer.capsule(memory, shape=(), strides=None))
    assert array.shape == ()
    assert array.ndim == 0
    assert float(array) == 7.5


def test_empty_tensor_with_null_data(ctypes_producer: CtypesProducer) -> None:
    memory = np.zeros(0, dtype=np.float32)
    array = from_dlpack(ctypes_producer.capsule(memory, shape=(0, 3), strides=(3, 1), data=0))
    assert array.shape == (0, 3)
    assert array.dtype == np.float32
    assert array.size == 0
    del array
    assert ctypes_producer.deleter_calls == 1


def test_unstepped_axes_may_carry_huge_strides(ctypes_producer: CtypesProducer) -> None:
    memory = np.arange(3, dtype=np.float64)
    array = from_dlpack(ctypes_producer.capsule(memory, shape=(1, 3), strides=(2**62, 1)))
    assert array.tolist() == [[0.0, 1.0, 2.0]]


def test_too_many_dimensions_for_numpy(ctypes_producer: CtypesProducer) -> None:
    memory = np.zeros(1, dtype=np.float32)
    capsule = ctypes_producer.capsule(memory, shape=(1,) * 65, strides=(1,) * 65)
    with pytest.raises(BufferError, match="the tensor has 65 dimensions; NumPy arrays have at most 64"):
        from_dlpack(capsule)
    assert capsule_name(capsule) == "dltensor_versioned"


# ---------------------------------------------------------------------------------------
# Writability


def test_read_only_flag_gives_a_read_only_array(ctypes_producer: CtypesProducer) -> None:
    array = from_dlpack(ctypes_producer.capsule(flags=READ_ONLY))
    assert not array.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        array[0] = 1.0


def test_legacy_capsules_give_read_only_arrays(ctypes_producer: CtypesProducer) -> None:
    array = from_dlpack(ctypes_producer.capsule(versioned=False))
    assert not array.flags.writeable


def test_copy_of_read_only_memory_is_writeable(ctypes_producer: CtypesProducer) -> None:
    memory = np.arange(6, dtype=np.float32)
    array = from_dlpack(ctypes_producer.capsule(memory, flags=READ_ONLY), copy=True)
    assert array.flags.writeable
    array[0] = 99.0
    assert memory[0] == 0.0


# ---------------------------------------------------------------------------------------
# copy


def test_copy_true_is_independent_and_frees_the_tensor_at_once(ctypes_producer: CtypesProducer) -> None:
    memory = np.arange(12, dtype=np.int32)
    capsule = ctypes_producer.capsule(memory, shape=(3, 2), strides=(4, 2))
    array = from_dlpack(capsule, copy=True)
    assert capsule_name(capsule) == "used_dltensor_versioned"
    assert ctypes_producer.deleter_calls == 1
    assert array.tolist() == [[0, 2], [4, 6], [8, 10]]
    assert not np.shares_memory(array, memory)
    memory[0] = 100
    assert array[0, 0] == 0


def test_copy_false_and_none_never_copy(ctypes_producer: CtypesProducer) -> None:
    memory = np.arange(6, dtype=np.float32)
    for copy in (False, None):
        array = from_dlpack(ctypes_producer.capsule(memory), copy=copy)
        assert array.ctypes.data == memory.ctypes.data


@pytest.mark.parametrize("device", [(KDL_CUDA_HOST, 0), (KDL_ROCM_HOST, 0), (KDL_CUDA_MANAGED, 0)])
def test_cpu_accessible_devices_are_viewed_in_place(ctypes_producer: CtypesProducer, device: tuple[int, int]) -> None:
    memory = np.arange(4, dtype=np.float32)
    array = from_dlpack(ctypes_producer.capsule(memory, device=device))
    assert array.ctypes.data == memory.ctypes.data


@pytest.mark.parametrize("copy", [None, False])
def test_cuda_memory_is_refused_without_copy(ctypes_producer: CtypesProducer, copy: bool | None) -> None:
    capsule = ctypes_producer.capsule(device=(KDL_CUDA, 1))
    expected = "the tensor is on cuda:1, which the CPU cannot read"
    if copy is False:
        expected += ", and copy=False forbids copying it"
    with pytest.raises(BufferError, match=f"{expected}; pass copy=True to copy it into host memory"):
        from_dlpack(capsule, copy=copy)
    assert capsule_name(capsule) == "dltensor_versioned"


@pytest.mark.parametrize("device", [(KDL_ROCM, 0), (KDL_OPENCL, 2)])
def test_other_devices_are_refused_even_with_copy(ctypes_producer: CtypesProducer, device: tuple[int, int]) -> None:
    capsule = ctypes_producer.capsule(device=device)
    name = {KDL_ROCM: "rocm:0", KDL_OPENCL: "opencl:2"}[device[0]]
    with pytest.raises(
        BufferError, match=f"the tensor is on {name}, which the CPU cannot read; move it to the CPU with its own library"
    ):
        from_dlpack(capsule, copy=True)
    assert capsule_name(capsule) == "dltensor_versioned"


def run_child(snippet: str, tmp_path: Path, **env: str) -> dict[str, Any]:
    """Runs `snippet` in a fresh interpreter (this module as `t`), for process-wide state:
    the CUDA driver is opened once per process, ml_dtypes is imported once."""
    return run_against(__file__, snippet, cwd=tmp_path, env=env)


def test_cuda_copy_without_a_driver_is_a_clear_error(tmp_path: Path) -> None:
    result = run_child(
        """
        p = t.CtypesProducer()
        capsule = p.capsule(device=(t.KDL_CUDA, 0))
        try:
            t.from_dlpack(capsule, copy=True)
        except BufferError as error:
            result["error"] = str(error)
        result["name"] = t.capsule_name(capsule)
        del capsule
        result["calls"] = p.deleter_calls
        """,
        tmp_path,
        OPTYPE_DLPACK_DISABLE_CUDA="1",
    )
    assert result["error"].startswith(
        "from_dlpack: copying the tensor from cuda:0 needs the CUDA driver, which is unavailable ("
    )
    assert result["name"] == "dltensor_versioned"  # not consumed: its destructor freed it
    assert result["calls"] == 1


# ---------------------------------------------------------------------------------------
# dtypes


@pytest.mark.parametrize(
    "dtype",
    ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
     "float16", "float32", "float64", "complex64", "complex128"],
)
def test_every_numpy_dtype_round_trips_through_a_capsule(dtype: str) -> None:
    source = (np.arange(6) % 3).astype(dtype).reshape(2, 3)
    array = from_dlpack(source.__dlpack__(max_version=(1, 0)))
    assert array.dtype == np.dtype(dtype)
    assert array.ctypes.data == source.ctypes.data
    np.testing.assert_array_equal(array, source)


ML_DTYPES = [
    "bfloat16", "float8_e3m4", "float8_e4m3", "float8_e4m3b11fnuz", "float8_e4m3fn", "float8_e4m3fnuz",
    "float8_e5m2", "float8_e5m2fnuz", "float8_e8m0fnu", "complex32",
]
PADDED_ML_DTYPES = ["float6_e2m3fn", "float6_e3m2fn", "float4_e2m1fn", "int4", "uint4", "int2", "uint2"]


@pytest.mark.parametrize("name", ML_DTYPES + PADDED_ML_DTYPES)
def test_ml_dtypes_round_trip(name: str) -> None:
    import ml_dtypes  # a test requirement: installed wherever tests run
    dtype = np.dtype(getattr(ml_dtypes, name))
    source = np.arange(4).astype(dtype)
    capsule = to_dlpack(source)
    array = from_dlpack(capsule)
    assert array.dtype == dtype
    assert array.ctypes.data == source.ctypes.data
    np.testing.assert_array_equal(array.view(np.uint8), source.view(np.uint8))


def test_packed_sub_byte_types_are_refused(ctypes_producer: CtypesProducer) -> None:
    memory = np.zeros(4, dtype=np.uint8)
    capsule = ctypes_producer.capsule(memory, dtype=(17, 4, 1), shape=(8,), strides=(1,))
    with pytest.raises(BufferError, match=r"dtype float4_e2m1fn is packed .*IS_SUBBYTE_TYPE_PADDED"):
        from_dlpack(capsule)
    padded = from_dlpack(ctypes_producer.capsule(memory, dtype=(17, 4, 1), shape=(4,), strides=(1,), flags=IS_SUBBYTE_TYPE_PADDED))
    assert padded.dtype.name == "float4_e2m1fn"


@pytest.mark.parametrize(
    ("dtype", "message"),
    [
        ((2, 32, 4), "dtype float32x4 has 4 lanes; a NumPy array holds one value per element"),
        ((2, 128, 1), "dtype float128 has no NumPy equivalent"),
        ((3, 64, 1), "dtype opaque64 has no NumPy equivalent"),
        ((0, 3, 1), "dtype int3 has no NumPy equivalent"),
    ],
)
def test_dtypes_numpy_cannot_hold(ctypes_producer: CtypesProducer, dtype: tuple[int, int, int], message: str) -> None:
    capsule = ctypes_producer.capsule(np.zeros(8, dtype=np.uint8), dtype=dtype, shape=(1,), strides=(1,))
    with pytest.raises(BufferError, match=message):
        from_dlpack(capsule)
    assert capsule_name(capsule) == "dltensor_versioned"


def test_ml_dtypes_missing_is_named(tmp_path: Path) -> None:
    result = run_child(
        """
        import sys
        sys.modules["ml_dtypes"] = None  # an import of it now fails, as if not installed
        p = t.CtypesProducer()
        capsule = p.capsule(t.np.zeros(2, t.np.uint16), dtype=(4, 16, 1))
        try:
            t.from_dlpack(capsule)
        except BufferError as error:
            result["error"] = str(error)
        result["name"] = t.capsule_name(capsule)
        result["float32"] = t.from_dlpack(t.np.ones(2, t.np.float32)).tolist()
        """,
        tmp_path,
    )
    assert result["error"] == (
        "from_dlpack: dtype bfloat16 needs the ml_dtypes package for its NumPy dtype, "
        "and ml_dtypes is not installed (pip install ml_dtypes)"
    )
    assert result["name"] == "dltensor_versioned"
    assert result["float32"] == [1.0, 1.0]


# ---------------------------------------------------------------------------------------
# NumPy arrays as input: the same result as a round trip through to_dlpack


def test_numpy_input_is_a_view_with_the_exporter_rules() -> None:
    source = np.arange(12.0).reshape(3, 4)[::-1, ::2]
    array = from_dlpack(source)
    assert type(array) is np.ndarray
    assert array.ctypes.data == source.ctypes.data
    assert array.strides == source.strides
    array[0, 0] = -5.0
    assert source[0, 0] == -5.0
    readonly = np.arange(3)
    readonly.flags.writeable = False
    assert not from_dlpack(readonly).flags.writeable
    with pytest.raises(BufferError, match="non-native byte order"):
        from_dlpack(np.arange(3, dtype=">f8"))
    with pytest.raises(BufferError, match="has no DLPack equivalent"):
        from_dlpack(np.array(["a"]))
    with pytest.raises(BufferError, match="stride 5 bytes of axis 0 is not a multiple of the item size"):
        from_dlpack(np.zeros(4, dtype=[("a", "<i4"), ("b", "u1")])["a"])
    copy = from_dlpack(source, copy=True)
    assert not np.shares_memory(copy, source)
    np.testing.assert_array_equal(copy, source)


def test_numpy_subclass_input_gives_an_ndarray(tmp_path: Path) -> None:
    mapped = np.memmap(tmp_path / "data.bin", dtype=np.int16, mode="w+", shape=(4,))
    array = from_dlpack(mapped)
    assert type(array) is np.ndarray
    array[2] = 9
    assert mapped[2] == 9
    del array, mapped


# ---------------------------------------------------------------------------------------
# Real producers


@needs_torch
def test_torch_producer() -> None:
    import torch
    tensor = torch.arange(12, dtype=torch.float32).reshape(3, 4)[:, 1::2]
    array = from_dlpack(tensor)
    assert array.ctypes.data == tensor.data_ptr()
    assert array.strides == (16, 8)
    array[0, 0] = 100.0
    assert tensor[0, 0].item() == 100.0
    tensor[2, 1] = -1.0
    assert array[2, 1] == -1.0
    assert array.flags.writeable
    for dtype in (torch.bool, torch.int8, torch.uint8, torch.int64, torch.float16, torch.bfloat16,
                  torch.float64, torch.complex64, torch.float8_e4m3fn, torch.float8_e5m2):
        source = torch.zeros(3, dtype=dtype)
        assert from_dlpack(source).ctypes.data == source.data_ptr()


@needs_torch
def test_torch_tensor_dies_first() -> None:
    import torch
    tensor = torch.arange(1000, dtype=torch.int64)
    array = from_dlpack(tensor)
    del tensor
    gc.collect()
    assert int(array.sum()) == sum(range(1000))


@needs_torch
def test_torch_capsules_legacy_and_versioned() -> None:
    import torch
    tensor = torch.arange(6, dtype=torch.int32)
    versioned = tensor.__dlpack__(max_version=(1, 0))
    legacy = tensor.__dlpack__()
    assert capsule_name(versioned) == "dltensor_versioned"
    assert capsule_name(legacy) == "dltensor"
    a, b = from_dlpack(versioned), from_dlpack(legacy)
    assert a.ctypes.data == b.ctypes.data == tensor.data_ptr()
    assert a.flags.writeable and not b.flags.writeable


def test_jax_producer() -> None:
    import jax
    cpu = jax.devices("cpu")[0]  # JAX's default device is a GPU where there is one
    source = jax.device_put(np.arange(10, dtype=np.float32).reshape(2, 5), cpu)
    jax_says = declared(source.__dlpack__(max_version=(1, 3)))  # legacy up to JAX 0.10, read-only later
    array = from_dlpack(source)
    # writeable only where the capsule promises it: versioned, without READ_ONLY
    assert array.flags.writeable is (jax_says.version is not None and not jax_says.read_only)
    assert array.ctypes.data == source.unsafe_buffer_pointer()
    np.testing.assert_array_equal(array, np.asarray(source))
    del source
    gc.collect()
    assert array.tolist() == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    bf16 = from_dlpack(jax.device_put(np.ones(3, dtype=np.float32), cpu).astype("bfloat16"))
    assert bf16.dtype.name == "bfloat16"


def test_numpy_capsules_legacy_and_versioned() -> None:
    source = np.arange(6, dtype=np.uint16)
    versioned = from_dlpack(source.__dlpack__(max_version=(1, 0)))
    legacy = from_dlpack(source.__dlpack__())
    assert versioned.ctypes.data == legacy.ctypes.data == source.ctypes.data
    assert versioned.flags.writeable and not legacy.flags.writeable
    readonly = np.arange(3)
    readonly.flags.writeable = False
    assert not from_dlpack(readonly.__dlpack__(max_version=(1, 0))).flags.writeable


# ---------------------------------------------------------------------------------------
# Lifetime at scale: nothing grows over many round trips


@needs_torch
def test_source_is_freed_with_the_last_view() -> None:
    import torch
    tensor = torch.arange(8)
    witness = weakref.ref(tensor)
    array = from_dlpack(tensor)
    del tensor
    gc.collect()
    assert witness() is None or array.base is not None  # torch may keep the tensor or only its storage
    del array
    gc.collect()
    assert witness() is None


def test_no_growth_over_many_imports(ctypes_producer: CtypesProducer, assert_no_growth: Callable[..., None]) -> None:
    memory = np.arange(16, dtype=np.float64)

    def round_trips() -> None:
        for _ in range(10_000):
            from_dlpack(memory)
            from_dlpack(ctypes_producer.capsule(memory))
            from_dlpack(memory.__dlpack__(max_version=(1, 0)), copy=True)

    assert_no_growth(round_trips, memory)
    assert ctypes_producer.deleter_calls == 20_000


@needs_torch
def test_no_growth_over_many_imports_from_torch(assert_no_growth: Callable[..., None]) -> None:
    import torch
    tensor = torch.arange(16)

    def round_trips() -> None:
        for _ in range(10_000):
            from_dlpack(tensor)  # through torch's DLPack C exchange API

    assert_no_growth(round_trips, tensor)

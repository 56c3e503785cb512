"""from_dlpack: zero-copy NumPy views of DLPack tensors, consumed exactly once.

Capsules with exact field values come from a small ctypes producer defined here, whose
deleter counts its calls and whose memory is a NumPy array it keeps until the deleter
runs. numpy, torch and jax are the real producers.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import subprocess
import sys
import textwrap
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from optype_dlpack import DLPackConsumedError, DLPackValidationError, DLPackVersionError, _core
from tests.support.frameworks import needs

needs_torch = needs("torch")

from_dlpack = _core.from_dlpack
to_dlpack = _core.to_dlpack

KDL_CPU, KDL_CUDA, KDL_CUDA_HOST, KDL_OPENCL, KDL_ROCM, KDL_ROCM_HOST, KDL_CUDA_MANAGED = 1, 2, 3, 4, 10, 11, 13
READ_ONLY, IS_COPIED, SUBBYTE_PADDED = 1, 2, 4

# ---------------------------------------------------------------------------------------
# A ctypes producer: the DLPack 1.3 structs as dlpack.h lays them out.


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


class DLPackVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


DELETER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class DLManagedTensorVersioned(ctypes.Structure):
    _fields_ = [
        ("version", DLPackVersion),
        ("manager_ctx", ctypes.c_void_p),
        ("deleter", DELETER),
        ("flags", ctypes.c_uint64),
        ("dl_tensor", DLTensor),
    ]


class DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", DELETER)]


_capsule_new = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p)(
    ("PyCapsule_New", ctypes.pythonapi)
)
_capsule_is_valid = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p)(
    ("PyCapsule_IsValid", ctypes.pythonapi)
)
_capsule_get_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p)(
    ("PyCapsule_GetPointer", ctypes.pythonapi)
)
_capsule_get_name = ctypes.PYFUNCTYPE(ctypes.c_char_p, ctypes.py_object)(("PyCapsule_GetName", ctypes.pythonapi))

VERSIONED, LEGACY = b"dltensor_versioned", b"dltensor"


def capsule_name(capsule: object) -> str:
    name = _capsule_get_name(capsule)
    assert name is not None
    return name.decode()


class Producer:
    """Makes capsules over NumPy memory; counts deleter calls; keeps each tensor's memory
    (and its structs) until its deleter runs, as a real producer does."""

    def __init__(self) -> None:
        self.deleter_calls = 0
        self.live: dict[int, tuple[object, ...]] = {}
        self._deleter = DELETER(self._delete)
        self._destructor = ctypes.PYFUNCTYPE(None, ctypes.c_void_p)(self._destroy)

    def _delete(self, address: int | None) -> None:
        self.deleter_calls += 1
        assert address is not None
        del self.live[address]  # a second call for the same tensor fails loudly here

    def _destroy(self, capsule: int | None) -> None:
        # The Python specification's capsule destructor: free only if nobody renamed it.
        for name in (VERSIONED, LEGACY):
            if _capsule_is_valid(capsule, name):
                self._delete(_capsule_get_pointer(capsule, name))

    def capsule(
        self,
        memory: np.ndarray[Any, Any] | None = None,
        *,
        versioned: bool = True,
        shape: tuple[int, ...] | None = None,
        strides: tuple[int, ...] | None | bool = True,
        dtype: tuple[int, int, int] | None = None,
        device: tuple[int, int] = (KDL_CPU, 0),
        byte_offset: int = 0,
        data: int | None = None,
        flags: int = 0,
        version: tuple[int, int] = (1, 3),
    ) -> object:
        """A capsule over `memory` (shape/strides/dtype from it unless given; strides=None
        sends NULL strides, strides=True the array's own)."""
        if memory is None:
            memory = np.arange(6, dtype=np.float32)
        if shape is None:
            shape = memory.shape
        if strides is True:
            strides = tuple(s // memory.itemsize for s in memory.strides)
        if dtype is None:
            dtype = {"f": 2, "i": 0, "u": 1, "b": 6, "c": 5}[memory.dtype.kind], memory.itemsize * 8, 1
        ndim = len(shape)
        shape_array = (ctypes.c_int64 * max(ndim, 1))(*shape)
        strides_array = None if strides is None else (ctypes.c_int64 * max(ndim, 1))(*strides)
        tensor = DLTensor()
        tensor.data = memory.ctypes.data if data is None else (data or None)
        tensor.device = DLDevice(*device)
        tensor.ndim = ndim
        tensor.dtype = DLDataType(*dtype)
        tensor.shape = ctypes.cast(shape_array, ctypes.POINTER(ctypes.c_int64))
        if strides_array is not None:
            tensor.strides = ctypes.cast(strides_array, ctypes.POINTER(ctypes.c_int64))
        tensor.byte_offset = byte_offset
        managed: DLManagedTensorVersioned | DLManagedTensor
        if versioned:
            managed = DLManagedTensorVersioned(DLPackVersion(*version), None, self._deleter, flags, tensor)
        else:
            managed = DLManagedTensor(tensor, None, self._deleter)
        address = ctypes.addressof(managed)
        self.live[address] = (managed, shape_array, strides_array, memory)
        return _capsule_new(address, VERSIONED if versioned else LEGACY, ctypes.cast(self._destructor, ctypes.c_void_p))


@pytest.fixture
def producer() -> Iterator[Producer]:
    """The ctypes producer; after the test, every tensor it made must have been freed once."""
    made = Producer()
    yield made
    gc.collect()
    assert made.live == {}, "a managed tensor was leaked"


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


def test_view_shares_memory_with_the_capsule(producer: Producer) -> None:
    memory = np.arange(6, dtype=np.float32)
    capsule = producer.capsule(memory)
    array = from_dlpack(capsule)
    assert array.ctypes.data == memory.ctypes.data
    assert array.flags.writeable
    array[1] = 42.0
    assert memory[1] == 42.0
    memory[2] = -1.0
    assert array[2] == -1.0


def test_capsule_is_renamed_once_and_deleter_runs_once_when_the_last_view_dies(producer: Producer) -> None:
    capsule = producer.capsule()
    array = from_dlpack(capsule)
    assert capsule_name(capsule) == "used_dltensor_versioned"
    view = array[1:]
    del capsule, array
    gc.collect()
    assert producer.deleter_calls == 0  # a view of the array still reads the memory
    assert view.sum() == 15.0
    del view
    gc.collect()
    assert producer.deleter_calls == 1


def test_legacy_capsule_is_renamed_and_freed_once(producer: Producer) -> None:
    capsule = producer.capsule(versioned=False)
    array = from_dlpack(capsule)
    assert capsule_name(capsule) == "used_dltensor"
    del array
    assert producer.deleter_calls == 1
    del capsule
    gc.collect()
    assert producer.deleter_calls == 1


def test_capsule_dropped_first_keeps_the_array_valid(producer: Producer) -> None:
    memory = np.arange(6, dtype=np.float32)
    array = from_dlpack(producer.capsule(memory))
    del memory  # the producer's own reference keeps it until the deleter runs
    gc.collect()
    assert array.tolist() == [0, 1, 2, 3, 4, 5]
    assert producer.deleter_calls == 0
    del array
    assert producer.deleter_calls == 1


def test_second_consumption_is_refused(producer: Producer) -> None:
    capsule = producer.capsule()
    first = from_dlpack(capsule)
    with pytest.raises(DLPackConsumedError, match="used_dltensor_versioned"):
        from_dlpack(capsule)
    del first
    assert producer.deleter_calls == 1


def test_producer_is_asked_like_a_host_consumer(producer: Producer) -> None:
    exporter = Exporter(producer.capsule)
    from_dlpack(exporter)
    # stream=None (synchronise with the legacy default stream) is passed explicitly: the host
    # reads the bytes next, and a producer or wrapper with another default must still synchronise.
    assert exporter.calls == [{"stream": None, "max_version": (1, 3)}]


def test_legacy_producer_gets_the_typeerror_fallback(producer: Producer) -> None:
    class OldProducer:
        def __init__(self) -> None:
            self.calls: list[object] = []

        def __dlpack__(self, stream: object = None) -> object:
            self.calls.append(stream)
            return producer.capsule(versioned=False)

    old = OldProducer()
    assert from_dlpack(old).tolist() == [0, 1, 2, 3, 4, 5]
    assert old.calls == [None]


def test_producer_errors_propagate(producer: Producer) -> None:
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
    with pytest.raises(TypeError, match="unexpected keyword argument 'device'"):
        from_dlpack(a, device="cpu")
    with pytest.raises(TypeError, match=r"takes 1 positional argument but 2 were given"):
        from_dlpack(a, None)


# ---------------------------------------------------------------------------------------
# Validation first: a rejected capsule stays unconsumed, and its own destructor frees it.


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"device": (KDL_CPU, 3)}, "device.cpu_id"),
        ({"device": (99, 0)}, "device.type"),
        ({"dtype": (2, 12, 1)}, "dtype.bits"),
        ({"dtype": (42, 8, 1)}, "dtype.code"),
        ({"shape": (-1,), "strides": (1,)}, "shape.negative"),
        ({"strides": None}, "strides.null_since_1_2"),
        ({"data": 0}, "data.null"),
        ({"flags": 1 << 7}, "flags.unknown"),
    ],
)
def test_invalid_capsule_is_rejected_and_left_unconsumed(
    producer: Producer, fields: dict[str, Any], rule: str
) -> None:
    capsule = producer.capsule(**fields)
    with pytest.raises(DLPackValidationError, match=rule) as caught:
        from_dlpack(capsule)
    assert rule in caught.value.rules
    assert capsule_name(capsule) == "dltensor_versioned"
    assert producer.deleter_calls == 0
    del capsule
    gc.collect()
    assert producer.deleter_calls == 1


def test_unsupported_major_version_is_a_version_error(producer: Producer) -> None:
    capsule = producer.capsule(version=(2, 0))
    with pytest.raises(DLPackVersionError, match=r"version: expected major version 1, got 2.0"):
        from_dlpack(capsule)
    assert capsule_name(capsule) == "dltensor_versioned"


def test_null_strides_mean_c_order_before_1_2(producer: Producer) -> None:
    memory = np.arange(6, dtype=np.float32)
    array = from_dlpack(producer.capsule(memory, shape=(2, 3), strides=None, version=(1, 1)))
    assert array.strides == (12, 4)
    assert array.tolist() == [[0, 1, 2], [3, 4, 5]]
    legacy = from_dlpack(producer.capsule(memory, shape=(3, 2), strides=None, versioned=False))
    assert legacy.tolist() == [[0, 1], [2, 3], [4, 5]]


def test_failure_inside_a_producer_call_leaves_nothing_behind(producer: Producer) -> None:
    # The producer's capsule was rejected: dropping it is the only cleanup.
    exporter = Exporter(lambda: producer.capsule(dtype=(2, 12, 1)))
    with pytest.raises(DLPackValidationError, match="dtype.bits"):
        from_dlpack(exporter)
    gc.collect()
    assert producer.deleter_calls == 1


# ---------------------------------------------------------------------------------------
# Layout: strides (negative, zero), byte_offset, 0-d, empty


def test_negative_and_zero_strides(producer: Producer) -> None:
    memory = np.arange(12, dtype=np.int64)
    capsule = producer.capsule(memory, shape=(3, 4), strides=(-4, 1), data=memory[8:].ctypes.data)
    array = from_dlpack(capsule)
    assert array.tolist() == [[8, 9, 10, 11], [4, 5, 6, 7], [0, 1, 2, 3]]
    assert array.strides == (-32, 8)
    broadcast = from_dlpack(producer.capsule(memory, shape=(2, 3), strides=(0, 1)))
    assert broadcast.tolist() == [[0, 1, 2], [0, 1, 2]]
    assert broadcast.strides == (0, 8)


def test_byte_offset_is_applied(producer: Producer) -> None:
    memory = np.arange(8, dtype=np.float64)
    array = from_dlpack(producer.capsule(memory, shape=(3,), strides=(2,), byte_offset=16))
    assert array.tolist() == [2.0, 4.0, 6.0]
    assert array.ctypes.data == memory.ctypes.data + 16


def test_zero_dimensional_with_null_shape_and_strides(producer: Producer) -> None:
    memory = np.array([7.5], dtype=np.float32)
    array = from_dlpack(producer.capsule(memory, shape=(), strides=None))
    assert array.shape == ()
    assert array.ndim == 0
    assert float(array) == 7.5


def test_empty_tensor_with_null_data(producer: Producer) -> None:
    memory = np.zeros(0, dtype=np.float32)
    array = from_dlpack(producer.capsule(memory, shape=(0, 3), strides=(3, 1), data=0))
    assert array.shape == (0, 3)
    assert array.dtype == np.float32
    assert array.size == 0
    del array
    assert producer.deleter_calls == 1


def test_unstepped_axes_may_carry_huge_strides(producer: Producer) -> None:
    memory = np.arange(3, dtype=np.float64)
    array = from_dlpack(producer.capsule(memory, shape=(1, 3), strides=(2**62, 1)))
    assert array.tolist() == [[0.0, 1.0, 2.0]]


def test_too_many_dimensions_for_numpy(producer: Producer) -> None:
    memory = np.zeros(1, dtype=np.float32)
    capsule = producer.capsule(memory, shape=(1,) * 65, strides=(1,) * 65)
    with pytest.raises(BufferError, match="the tensor has 65 dimensions; NumPy arrays have at most 64"):
        from_dlpack(capsule)
    assert capsule_name(capsule) == "dltensor_versioned"


# ---------------------------------------------------------------------------------------
# Writability


def test_read_only_flag_gives_a_read_only_array(producer: Producer) -> None:
    array = from_dlpack(producer.capsule(flags=READ_ONLY))
    assert not array.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        array[0] = 1.0


def test_legacy_capsules_give_read_only_arrays(producer: Producer) -> None:
    array = from_dlpack(producer.capsule(versioned=False))
    assert not array.flags.writeable


def test_copy_of_read_only_memory_is_writeable(producer: Producer) -> None:
    memory = np.arange(6, dtype=np.float32)
    array = from_dlpack(producer.capsule(memory, flags=READ_ONLY), copy=True)
    assert array.flags.writeable
    array[0] = 99.0
    assert memory[0] == 0.0


# ---------------------------------------------------------------------------------------
# copy


def test_copy_true_is_independent_and_frees_the_tensor_at_once(producer: Producer) -> None:
    memory = np.arange(12, dtype=np.int32)
    capsule = producer.capsule(memory, shape=(3, 2), strides=(4, 2))
    array = from_dlpack(capsule, copy=True)
    assert capsule_name(capsule) == "used_dltensor_versioned"
    assert producer.deleter_calls == 1
    assert array.tolist() == [[0, 2], [4, 6], [8, 10]]
    assert not np.shares_memory(array, memory)
    memory[0] = 100
    assert array[0, 0] == 0


def test_copy_false_and_none_never_copy(producer: Producer) -> None:
    memory = np.arange(6, dtype=np.float32)
    for copy in (False, None):
        array = from_dlpack(producer.capsule(memory), copy=copy)
        assert array.ctypes.data == memory.ctypes.data


@pytest.mark.parametrize("device", [(KDL_CUDA_HOST, 0), (KDL_ROCM_HOST, 0), (KDL_CUDA_MANAGED, 0)])
def test_cpu_accessible_devices_are_viewed_in_place(producer: Producer, device: tuple[int, int]) -> None:
    memory = np.arange(4, dtype=np.float32)
    array = from_dlpack(producer.capsule(memory, device=device))
    assert array.ctypes.data == memory.ctypes.data


@pytest.mark.parametrize("copy", [None, False])
def test_cuda_memory_is_refused_without_copy(producer: Producer, copy: bool | None) -> None:
    capsule = producer.capsule(device=(KDL_CUDA, 1))
    expected = "the tensor is on cuda:1, which the CPU cannot read"
    if copy is False:
        expected += ", and copy=False forbids copying it"
    with pytest.raises(BufferError, match=f"{expected}; pass copy=True to copy it into host memory"):
        from_dlpack(capsule, copy=copy)
    assert capsule_name(capsule) == "dltensor_versioned"


@pytest.mark.parametrize("device", [(KDL_ROCM, 0), (KDL_OPENCL, 2)])
def test_other_devices_are_refused_even_with_copy(producer: Producer, device: tuple[int, int]) -> None:
    capsule = producer.capsule(device=device)
    name = {KDL_ROCM: "rocm:0", KDL_OPENCL: "opencl:2"}[device[0]]
    with pytest.raises(
        BufferError, match=f"the tensor is on {name}, which the CPU cannot read; move it to the CPU with its own library"
    ):
        from_dlpack(capsule, copy=True)
    assert capsule_name(capsule) == "dltensor_versioned"


_CHILD = """
import ctypes, importlib.util, json, os, sys
sys.path.append(os.path.dirname(os.path.dirname(os.path.dirname(sys.argv[1]))))  # `tests`, after the installed package
spec = importlib.util.spec_from_file_location("interop_from_helpers", sys.argv[1])
t = importlib.util.module_from_spec(spec)
spec.loader.exec_module(t)
result = {}
exec(sys.argv[2])
print(json.dumps(result))
"""


def run_child(snippet: str, tmp_path: Path, **env: str) -> dict[str, Any]:
    """Runs `snippet` in a fresh interpreter (this module as `t`), for process-wide state:
    the CUDA driver is opened once per process, ml_dtypes is imported once."""
    completed = subprocess.run(
        [sys.executable, "-c", _CHILD, __file__, textwrap.dedent(snippet)],
        cwd=tmp_path,
        env=dict(os.environ, **env),
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout.splitlines()[-1])
    return result


def test_cuda_copy_without_a_driver_is_a_clear_error(tmp_path: Path) -> None:
    result = run_child(
        """
        p = t.Producer()
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


def test_packed_sub_byte_types_are_refused(producer: Producer) -> None:
    memory = np.zeros(4, dtype=np.uint8)
    capsule = producer.capsule(memory, dtype=(17, 4, 1), shape=(8,), strides=(1,))
    with pytest.raises(BufferError, match=r"dtype float4_e2m1fn is packed .*IS_SUBBYTE_TYPE_PADDED"):
        from_dlpack(capsule)
    padded = from_dlpack(producer.capsule(memory, dtype=(17, 4, 1), shape=(4,), strides=(1,), flags=SUBBYTE_PADDED))
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
def test_dtypes_numpy_cannot_hold(producer: Producer, dtype: tuple[int, int, int], message: str) -> None:
    capsule = producer.capsule(np.zeros(8, dtype=np.uint8), dtype=dtype, shape=(1,), strides=(1,))
    with pytest.raises(BufferError, match=message):
        from_dlpack(capsule)
    assert capsule_name(capsule) == "dltensor_versioned"


def test_ml_dtypes_missing_is_named(tmp_path: Path) -> None:
    result = run_child(
        """
        import sys
        sys.modules["ml_dtypes"] = None  # an import of it now fails, as if not installed
        p = t.Producer()
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
    array = from_dlpack(source)
    assert not array.flags.writeable  # JAX exports legacy capsules, which cannot promise writability
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


def test_no_growth_over_many_imports(producer: Producer, assert_no_growth: Callable[..., None]) -> None:
    memory = np.arange(16, dtype=np.float64)

    def round_trips() -> None:
        for _ in range(10_000):
            from_dlpack(memory)
            from_dlpack(producer.capsule(memory))
            from_dlpack(memory.__dlpack__(max_version=(1, 0)), copy=True)

    assert_no_growth(round_trips, memory)
    assert producer.deleter_calls == 20_000


@needs_torch
def test_no_growth_over_many_imports_from_torch(assert_no_growth: Callable[..., None]) -> None:
    import torch
    tensor = torch.arange(16)

    def round_trips() -> None:
        for _ in range(10_000):
            from_dlpack(tensor)  # through torch's DLPack C exchange API

    assert_no_growth(round_trips, tensor)

"""asdlpack: any array-like offered through the full __dlpack__ / __dlpack_device__ protocol.

Sources: DLPack producers (re-exported, arguments passed through as given), capsules, NumPy
arrays, __cuda_array_interface__ v2/v3, __array_interface__ v3 and buffer-protocol objects.
numpy, torch and jax consume the results; the package's conformance checker judges them.
CUDA-array-interface objects are faked here for every path that needs no GPU; the paths
that do are in test_interop_gpu.py.
"""

from __future__ import annotations

import array
import gc
import mmap
import sys
import textwrap
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import optype_dlpack
from optype_dlpack import DLPackConsumedError, DLPackFlags, _core
from optype_dlpack._conformance import check_producer
from tests.support.capsules import capsule_name
from tests.support.child import run_against
from tests.support.dlpack_h import KDL_CPU, KDL_CUDA
from tests.support.frameworks import needs

needs_torch = needs("torch")

asdlpack = _core.asdlpack
from_dlpack = _core.from_dlpack
to_dlpack = _core.to_dlpack
DLPackObject = _core.DLPackObject

# ---------------------------------------------------------------------------------------
# Source kinds


class ArrayInterface:
    """An object offering memory through __array_interface__ only."""

    def __init__(self, interface: dict[str, Any], owner: object = None) -> None:
        self.__array_interface__ = interface
        self.owner = owner  # keeps the memory alive, as such objects must


def interface_of(source: np.ndarray[Any, Any], **changes: Any) -> ArrayInterface:
    interface = dict(source.__array_interface__)
    interface.update(changes)
    return ArrayInterface(interface, source)


class CudaInterface:
    """An object offering (possibly fake) device memory through __cuda_array_interface__."""

    def __init__(self, **entries: Any) -> None:
        interface: dict[str, Any] = {"shape": (0,), "typestr": "<f4", "data": (0, False), "version": 3}
        interface.update(entries)
        self.__cuda_array_interface__ = {k: v for k, v in interface.items() if v is not ...}


def sources() -> list[tuple[str, Any]]:
    """One 2x3 float64 source of each kind that needs no GPU, all over the values 0..5."""
    base = np.arange(6.0).reshape(2, 3)
    return [
        ("ndarray", base.copy()),
        ("array_interface", interface_of(base.copy())),
        ("buffer", memoryview(bytearray(base.tobytes())).cast("d", (2, 3))),
        ("capsule", to_dlpack(base.copy())),
    ]


def consume_with_torch(wrapped: Any) -> Any:
    import torch

    return torch.from_dlpack(wrapped)


CONSUMERS = [
    pytest.param(np.from_dlpack, id="numpy"),
    pytest.param(consume_with_torch, id="torch", marks=needs_torch),
    pytest.param(from_dlpack, id="optype_dlpack"),
]


@pytest.mark.parametrize("consume", CONSUMERS)
@pytest.mark.parametrize("kind", [kind for kind, _ in sources()])
def test_every_source_kind_reaches_every_consumer(kind: str, consume: Callable[[Any], Any]) -> None:
    source = dict(sources())[kind]  # made afresh: a capsule is handed out once
    wrapped = asdlpack(source)
    assert isinstance(wrapped, DLPackObject)
    assert wrapped.__dlpack_device__() == (KDL_CPU, 0)
    assert consume(wrapped).tolist() == [[0, 1, 2], [3, 4, 5]]


@pytest.mark.parametrize(
    "source",
    [np.arange(4.0), bytearray(8), array.array("i", [1, 2]), interface_of(np.arange(3, dtype=np.int16))],
    ids=["ndarray", "bytearray", "array.array", "array_interface"],
)
def test_conformance_checker_passes_wrapped_sources(source: Any) -> None:
    report = check_producer(asdlpack(source))
    assert report.ok, str(report)


@needs_torch
def test_zero_copy_and_mutation_visible_both_ways() -> None:
    import torch
    import jax.numpy as jnp
    source = np.zeros(4, dtype=np.float32)
    wrapped = asdlpack(source)
    by_torch = torch.from_dlpack(wrapped)
    by_numpy = np.from_dlpack(wrapped)
    assert by_torch.data_ptr() == by_numpy.ctypes.data == source.ctypes.data
    by_torch[0] = 3.0
    assert source[0] == 3.0 and by_numpy[0] == 3.0
    source[1] = 4.0
    assert by_torch[1].item() == 4.0
    assert jnp.from_dlpack(wrapped).tolist() == [3.0, 4.0, 0.0, 0.0]


@needs_torch
def test_numpy_arrays_with_ml_dtypes_reach_torch() -> None:
    import torch
    import ml_dtypes
    source = np.array([1.5, -2.0], dtype=ml_dtypes.bfloat16)
    with pytest.raises(BufferError):
        source.__dlpack__()  # NumPy's own export refuses bfloat16
    tensor = torch.from_dlpack(asdlpack(source))
    assert tensor.dtype == torch.bfloat16
    assert tensor.tolist() == [1.5, -2.0]


def test_buffer_kinds() -> None:
    assert from_dlpack(asdlpack(b"\x01\x02")).tolist() == [1, 2]
    assert from_dlpack(asdlpack(array.array("f", [0.5]))).dtype == np.float32
    mapped = mmap.mmap(-1, 4)
    view = np.from_dlpack(asdlpack(mapped))
    view[3] = 5
    assert mapped[3] == 5
    del view
    gc.collect()
    mapped.close()
    with pytest.raises(BufferError, match="buffer format 'O' has no DLPack dtype"):
        asdlpack(memoryview(np.array([None])))


def test_read_only_buffers() -> None:
    wrapped = asdlpack(b"abc")
    assert optype_dlpack.inspect(wrapped.__dlpack__(max_version=(1, 0))).readonly
    assert not np.from_dlpack(wrapped).flags.writeable
    with pytest.raises(BufferError, match="a legacy 'dltensor' capsule cannot mark memory read-only"):
        wrapped.__dlpack__()
    copy = wrapped.__dlpack__(copy=True)  # a copy is the consumer's to write: no flag needed
    assert capsule_name(copy) == "dltensor"


def test_objects_with_nothing_to_offer() -> None:
    with pytest.raises(TypeError, match=r"asdlpack\(\) expects a DLPack producer, .* got int"):
        asdlpack(3)
    with pytest.raises(TypeError, match="cannot create 'optype_dlpack.DLPackObject' instances"):
        DLPackObject()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="asdlpack.. got an unexpected keyword argument 'copy'"):
        asdlpack(b"", copy=True)  # type: ignore[call-arg]


def test_repr() -> None:
    assert repr(asdlpack(np.zeros((2, 3), np.float32))) == "<DLPackObject over a NumPy array (numpy.ndarray): cpu float32 (2, 3)>"
    assert repr(asdlpack(b"ab")) == "<DLPackObject over a buffer (bytes): cpu uint8 (2,) read-only>"


# ---------------------------------------------------------------------------------------
# __dlpack__ keywords on our own exports


def test_max_version_selects_the_capsule_kind() -> None:
    wrapped = asdlpack(np.arange(3.0))
    assert capsule_name(wrapped.__dlpack__()) == "dltensor"
    assert capsule_name(wrapped.__dlpack__(max_version=None)) == "dltensor"
    assert capsule_name(wrapped.__dlpack__(max_version=(0, 8))) == "dltensor"
    for requested in ((1, 0), (1, 3), (2, 0)):
        capsule = wrapped.__dlpack__(max_version=requested)
        assert capsule_name(capsule) == "dltensor_versioned"
        assert optype_dlpack.inspect(capsule).version == (1, 3)
    with pytest.raises(TypeError, match=r"max_version must be a \(major, minor\) tuple of int, not '1.0'"):
        wrapped.__dlpack__(max_version="1.0")


def test_copy_keyword() -> None:
    source = np.arange(12.0).reshape(3, 4)[:, ::2]
    wrapped = asdlpack(source)
    shared = optype_dlpack.inspect(wrapped.__dlpack__(max_version=(1, 0), copy=False))
    assert shared.data_ptr == source.ctypes.data
    assert shared.flags == DLPackFlags(0)
    copied_capsule = wrapped.__dlpack__(max_version=(1, 0), copy=True)
    copied = optype_dlpack.inspect(copied_capsule)
    assert copied.flags == DLPackFlags.IS_COPIED
    assert copied.is_c_contiguous and copied.data_ptr % 256 == 0
    array = from_dlpack(copied_capsule)
    np.testing.assert_array_equal(array, source)
    assert array.flags.writeable
    array[0, 0] = 99.0
    assert source[0, 0] == 0.0
    with pytest.raises(TypeError, match=r"copy must be True, False or None, not str"):
        wrapped.__dlpack__(copy="yes")


def test_copy_of_read_only_source_is_writable() -> None:
    source = np.arange(3.0)
    source.flags.writeable = False
    capsule = asdlpack(source).__dlpack__(max_version=(1, 0), copy=True)
    assert optype_dlpack.inspect(capsule).flags == DLPackFlags.IS_COPIED
    assert from_dlpack(capsule).flags.writeable


def test_dl_device_keyword() -> None:
    wrapped = asdlpack(np.arange(3.0))
    assert optype_dlpack.inspect(wrapped.__dlpack__(dl_device=(KDL_CPU, 0))).device == (KDL_CPU, 0)
    with pytest.raises(BufferError, match=r"cannot export memory on cpu to cuda:0 \(supported: the same device, or the CPU\)"):
        wrapped.__dlpack__(dl_device=(KDL_CUDA, 0))
    with pytest.raises(TypeError, match=r"dl_device must be a \(device_type, device_id\) tuple, not 'cpu'"):
        wrapped.__dlpack__(dl_device="cpu")


@pytest.mark.parametrize("stream", [-1, 0, 1, 2, 12345])
def test_stream_must_be_none_for_cpu_memory(stream: int) -> None:
    wrapped = asdlpack(np.arange(3.0))
    with pytest.raises(ValueError, match=rf"stream must be None for CPU memory, got {stream} "):
        wrapped.__dlpack__(stream=stream)
    assert capsule_name(wrapped.__dlpack__(stream=None)) == "dltensor"


def test_keyword_only_arguments() -> None:
    wrapped = asdlpack(np.arange(3.0))
    with pytest.raises(TypeError, match=r"__dlpack__\(\) takes 0 positional arguments but 1 were given"):
        wrapped.__dlpack__(None)
    with pytest.raises(TypeError, match="unexpected keyword argument 'device'"):
        wrapped.__dlpack__(device="cpu")


def test_numpy_source_is_reread_at_each_export() -> None:
    source = np.arange(6.0)
    wrapped = asdlpack(source)
    assert not optype_dlpack.inspect(wrapped.__dlpack__(max_version=(1, 0))).readonly
    source.flags.writeable = False
    assert optype_dlpack.inspect(wrapped.__dlpack__(max_version=(1, 0))).readonly


# ---------------------------------------------------------------------------------------
# DLPack producers: re-exported with the arguments exactly as given, an omitted stream as None
# (the specification's default, so that a producer with another default still synchronises)


class RecordingProducer:
    def __init__(self, source: np.ndarray[Any, Any]) -> None:
        self.source = source
        self.calls: list[tuple[tuple[object, ...], dict[str, object]]] = []

    def __dlpack__(self, *args: object, **kwargs: object) -> object:
        self.calls.append((args, kwargs))
        return self.source.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        return (KDL_CPU, 0)


def test_producer_arguments_pass_through_exactly() -> None:
    producer = RecordingProducer(np.arange(3.0))
    wrapped = asdlpack(producer)
    wrapped.__dlpack__()
    wrapped.__dlpack__(stream=None)
    wrapped.__dlpack__(max_version=(1, 0), copy=True, dl_device=(1, 0))
    assert producer.calls == [
        ((), {"stream": None}),
        ((), {"stream": None}),
        ((), {"stream": None, "max_version": (1, 0), "copy": True, "dl_device": (1, 0)}),
    ]
    assert wrapped.__dlpack_device__() == (KDL_CPU, 0)
    assert repr(wrapped) == "<DLPackObject over a DLPack producer (RecordingProducer)>"


def test_producer_errors_pass_through() -> None:
    class Broken:
        def __dlpack__(self, **kwargs: object) -> object:
            raise BufferError("the producer's own words")

        def __dlpack_device__(self) -> tuple[int, int]:
            raise RuntimeError("no device")

    wrapped = asdlpack(Broken())
    with pytest.raises(BufferError, match="the producer's own words"):
        wrapped.__dlpack__()
    with pytest.raises(RuntimeError, match="no device"):
        wrapped.__dlpack_device__()


@needs_torch
def test_torch_producers_are_reexported() -> None:
    import torch
    tensor = torch.arange(6, dtype=torch.int32)
    wrapped = asdlpack(tensor)
    assert wrapped.__dlpack_device__() == (KDL_CPU, 0)
    view = np.from_dlpack(wrapped)
    assert view.ctypes.data == tensor.data_ptr()
    view[0] = 77
    assert tensor[0].item() == 77


def jax_cpu_array() -> Any:
    import jax

    return jax.device_put(np.arange(3.0), jax.devices("cpu")[0])  # JAX prefers a GPU where there is one


def test_jax_producers_are_reexported() -> None:
    assert np.from_dlpack(asdlpack(jax_cpu_array())).tolist() == [0.0, 1.0, 2.0]


@needs_torch
def test_jax_producers_are_reexported_to_torch() -> None:
    import torch
    assert torch.from_dlpack(asdlpack(jax_cpu_array())).tolist() == [0.0, 1.0, 2.0]


# ---------------------------------------------------------------------------------------
# Capsules: handed out once


def test_capsule_is_handed_out_once() -> None:
    capsule = to_dlpack(np.arange(3.0))
    wrapped = asdlpack(capsule)
    assert wrapped.__dlpack_device__() == (KDL_CPU, 0)
    array = np.from_dlpack(wrapped)
    assert array.tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(BufferError, match="the wrapped capsule was already consumed .'used_dltensor_versioned'."):
        np.from_dlpack(wrapped)
    with pytest.raises(BufferError, match="the wrapped capsule was already consumed"):
        wrapped.__dlpack_device__()


def test_capsule_kind_must_suit_the_consumer() -> None:
    wrapped = asdlpack(to_dlpack(np.arange(3.0)))
    with pytest.raises(BufferError, match=r"the wrapped capsule is versioned .* legacy capsules \(max_version < \(1, 0\)\)"):
        wrapped.__dlpack__()
    with pytest.raises(BufferError, match="copy=True is not supported"):
        wrapped.__dlpack__(max_version=(1, 0), copy=True)
    with pytest.raises(BufferError, match="the wrapped capsule is on cpu; it cannot be exported to cuda:0"):
        wrapped.__dlpack__(max_version=(1, 0), dl_device=(KDL_CUDA, 0))
    legacy = asdlpack(to_dlpack(np.arange(3.0), versioned=False))
    assert capsule_name(legacy.__dlpack__(max_version=(1, 0))) == "dltensor"  # a consumer must accept legacy


def test_used_capsule_is_refused_up_front() -> None:
    capsule = to_dlpack(np.arange(3.0))
    from_dlpack(capsule)
    with pytest.raises(DLPackConsumedError, match="used_dltensor_versioned"):
        asdlpack(capsule)


# ---------------------------------------------------------------------------------------
# __array_interface__ (version 3)


def test_array_interface_pointer_data() -> None:
    source = np.arange(12, dtype=np.int32).reshape(3, 4)[::-1, ::2]
    info = optype_dlpack.inspect(asdlpack(interface_of(source)).__dlpack__(max_version=(1, 0)))
    assert info.data_ptr == source.ctypes.data
    assert info.shape == (3, 2)
    assert info.strides == (-4, 2)
    assert info.dtype == (0, 32, 1)
    readonly = interface_of(np.arange(3.0), data=(np.arange(3.0).ctypes.data, True))
    assert optype_dlpack.inspect(asdlpack(readonly).__dlpack__(max_version=(1, 0))).readonly


def test_array_interface_buffer_data_and_offset() -> None:
    memory = bytearray(np.arange(4, dtype=np.int16).tobytes())
    interface = {"shape": (3,), "typestr": "<i2", "data": memory, "offset": 2, "version": 3}
    wrapped = asdlpack(ArrayInterface(interface))
    assert from_dlpack(wrapped).tolist() == [1, 2, 3]
    with pytest.raises(BufferError, match="Existing exports"):
        memory.extend(b"x")  # the wrapper holds the buffer, so its address cannot move


def test_array_interface_over_the_objects_own_buffer() -> None:
    class SelfDescribing(bytearray):
        @property
        def __array_interface__(self) -> dict[str, Any]:
            return {"shape": (len(self) // 4,), "typestr": "<u4", "version": 3}

    source = SelfDescribing(np.array([7, 8], dtype=np.uint32).tobytes())
    assert from_dlpack(asdlpack(source)).tolist() == [7, 8]


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"version": 2}, BufferError, r"__array_interface__: only version 3 is supported, got 2"),
        ({"mask": np.zeros(3, bool)}, BufferError, r"masked arrays cannot be exported \('mask' is not None\)"),
        ({"typestr": ">f8"}, BufferError, r"typestr '>f8' has non-native byte order"),
        ({"typestr": "<f16"}, BufferError, r"typestr '<f16' has no DLPack dtype"),
        ({"typestr": "|V8"}, BufferError, r"typestr '\|V8' has no DLPack dtype"),
        ({"typestr": "float"}, ValueError, r"__array_interface__\['typestr'\]: cannot read 'float'"),
        ({"strides": (12,)}, BufferError, r"stride 12 bytes of axis 0 is not a multiple of the item size \(8 bytes\)"),
        ({"strides": (8, 8)}, BufferError, r"'strides' has 2 entries for 1 dimensions"),
        ({"shape": (-3,)}, BufferError, r"describes no valid tensor:\n  shape: expected extents >= 0, got shape\[0\] = -3 \[shape.negative\]"),
        ({"shape": [3]}, TypeError, r"__array_interface__\['shape'\]: expected a tuple of int, got list"),
        ({"data": (0, False)}, BufferError, r"data: expected a data pointer .* \[data.null\]"),
        ({"data": (1, "no")}, TypeError, r"__array_interface__\['data'\]: expected \(pointer, readonly\)"),
        ({"offset": 99, "data": None}, BufferError, r"\['offset'\]: 99 lies outside the buffer's 24 bytes"),
    ],
)
def test_array_interface_errors(changes: dict[str, Any], error: type[Exception], message: str) -> None:
    source = np.arange(3.0)
    if changes.get("data", 1) is None:
        changes["data"] = bytearray(24)
    with pytest.raises(error, match=message):
        asdlpack(interface_of(source, **changes))


def test_array_interface_not_a_dict() -> None:
    with pytest.raises(TypeError, match=r"ArrayInterface.__array_interface__: expected a dict, got list"):
        asdlpack(ArrayInterface([]))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------
# __cuda_array_interface__ without a GPU: parsing, streams, and the missing driver


@pytest.mark.parametrize(
    ("entries", "error", "message"),
    [
        ({"version": 1}, BufferError, r"__cuda_array_interface__: versions 2 and 3 are supported, got 1"),
        ({"version": ...}, BufferError, r"versions 2 and 3 are supported, got no 'version' entry"),
        ({"mask": object()}, BufferError, r"masked arrays cannot be exported"),
        ({"stream": 0}, BufferError, r"\['stream'\]: 0 is disallowed by the CUDA array interface \(ambiguous\)"),
        ({"stream": -5}, BufferError, r"\['stream'\]: expected a stream handle > 0, got -5"),
        ({"data": 5}, TypeError, r"__cuda_array_interface__\['data'\]: expected \(pointer, readonly\)"),
        ({"shape": ...}, TypeError, r"__cuda_array_interface__: missing the required 'shape' entry"),
        ({"typestr": ">i4"}, BufferError, r"typestr '>i4' has non-native byte order"),
        ({"shape": (4,), "data": (0, False)}, BufferError, r"\[data.null\]"),
    ],
)
def test_cuda_interface_errors(entries: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        asdlpack(CudaInterface(**entries))


def test_empty_cuda_interface_needs_no_driver() -> None:
    # An empty array's pointer is 0 and lives nowhere: no driver is asked (docs/interop.md).
    wrapped = asdlpack(CudaInterface(shape=(0, 3), typestr="<f4", version=2))
    assert wrapped.__dlpack_device__() == (KDL_CUDA, 0)
    info = optype_dlpack.inspect(wrapped.__dlpack__(max_version=(1, 0), stream=-1))
    assert (info.device, info.shape, info.dtype) == ((KDL_CUDA, 0), (0, 3), (2, 32, 1))
    host = optype_dlpack.inspect(wrapped.__dlpack__(max_version=(1, 0), dl_device=(KDL_CPU, 0)))
    assert host.device == (KDL_CPU, 0)
    assert host.flags == DLPackFlags.IS_COPIED
    with pytest.raises(BufferError, match="copy=False forbids it"):
        wrapped.__dlpack__(dl_device=(KDL_CPU, 0), copy=False)
    with pytest.raises(BufferError, match=r"copy=True on cuda:0 needs a device allocation, which asdlpack does not make"):
        wrapped.__dlpack__(copy=True)


def test_cuda_consumer_streams() -> None:
    wrapped = asdlpack(CudaInterface())
    for stream in (None, -1, 1, 2, 0xDEADBEEF):
        wrapped.__dlpack__(stream=stream)
    with pytest.raises(ValueError, match=r"stream=0 is disallowed for CUDA \(ambiguous\)"):
        wrapped.__dlpack__(stream=0)
    with pytest.raises(ValueError, match=r"stream must be -1, 1, 2 or a stream handle, got -7"):
        wrapped.__dlpack__(stream=-7)
    with pytest.raises(TypeError, match=r"stream must be an int or None for CUDA memory, not str"):
        wrapped.__dlpack__(stream="default")
    with pytest.raises(ValueError, match="stream must be None for CPU memory"):
        wrapped.__dlpack__(stream=1, dl_device=(KDL_CPU, 0))


def test_cuda_interface_stream_is_honoured() -> None:
    # The producer names stream 77: consuming on 77, or without synchronisation, needs nothing.
    wrapped = asdlpack(CudaInterface(stream=77))
    wrapped.__dlpack__(stream=77)
    wrapped.__dlpack__(stream=-1)
    # Any other stream would need the producer's work ordered before it.
    for consumer in (None, 1, 2, 78):
        with pytest.raises(
            BufferError, match=r"synchronise with CUDA stream 77, and the consumer asked for stream \d+;"
        ):
            wrapped.__dlpack__(stream=consumer)
    with pytest.raises(BufferError, match="synchronise with CUDA stream 77"):
        wrapped.__dlpack__(dl_device=(KDL_CPU, 0))  # the copy runs on the legacy default stream
    legacy_stream = asdlpack(CudaInterface(stream=1))
    legacy_stream.__dlpack__()  # None means the legacy default stream: the same one
    legacy_stream.__dlpack__(dl_device=(KDL_CPU, 0))
    version2 = asdlpack(CudaInterface(stream=77, version=2))  # 'stream' is a version 3 entry
    version2.__dlpack__()


def run_without_driver(snippet: str, tmp_path: Path) -> dict[str, Any]:
    """Runs `snippet` (with `asdlpack`, `CudaInterface`, `result`) where the driver is disabled:
    it is opened once per process, so only a fresh one can be without it on a GPU machine."""
    snippet = "asdlpack, CudaInterface = t.asdlpack, t.CudaInterface\n" + textwrap.dedent(snippet)
    return run_against(__file__, snippet, cwd=tmp_path, env={"OPTYPE_DLPACK_DISABLE_CUDA": "1"})


def test_cuda_interface_without_a_driver_is_a_clear_error(tmp_path: Path) -> None:
    result = run_without_driver(
        """
        try:
            asdlpack(CudaInterface(shape=(4,), data=(0x7f0000001000, False)))
        except BufferError as error:
            result["error"] = str(error)
        """,
        tmp_path,
    )
    assert result["error"].startswith(
        "asdlpack: __cuda_array_interface__ memory needs the CUDA driver to tell which device holds it, "
        "and the driver is unavailable ("
    )


# ---------------------------------------------------------------------------------------
# Lifetimes


@needs_torch
def test_capsules_outlive_the_wrapper_and_the_source() -> None:
    import torch
    source = np.arange(50.0)
    witness = weakref.ref(source)
    wrapped = asdlpack(source)
    wrapper_witness = weakref.ref(wrapped)
    tensor = torch.from_dlpack(wrapped)
    del wrapped, source
    gc.collect()
    assert wrapper_witness() is None
    assert witness() is not None
    assert tensor.sum().item() == 1225.0
    del tensor
    gc.collect()
    assert witness() is None


def test_wrapper_holds_a_buffer_export_while_it_lives() -> None:
    data = bytearray(4)
    wrapped = asdlpack(data)
    with pytest.raises(BufferError, match="Existing exports"):
        data.extend(b"x")
    del wrapped
    data.extend(b"x")


def test_cycle_through_the_wrapper_is_collected() -> None:
    source = interface_of(np.arange(3.0))
    witness = weakref.ref(source)
    source.wrapper = asdlpack(source)  # type: ignore[attr-defined]
    capsule = source.wrapper.__dlpack__(max_version=(1, 0))  # type: ignore[attr-defined]
    del source
    gc.collect()
    assert witness() is not None  # the capsule still holds it
    assert from_dlpack(capsule).tolist() == [0.0, 1.0, 2.0]
    del capsule
    gc.collect()
    assert witness() is None


def test_no_growth_over_many_exports() -> None:
    source = np.arange(8.0)
    wrapped = asdlpack(source)
    data = bytearray(8)
    for _ in range(2):
        before = (sys.getrefcount(source), sys.getrefcount(data))
        for _ in range(10_000):
            wrapped.__dlpack__(max_version=(1, 0))
            from_dlpack(wrapped)
            np.from_dlpack(asdlpack(data))
            asdlpack(source).__dlpack__(copy=True)
        gc.collect()
        assert (sys.getrefcount(source), sys.getrefcount(data)) == before


def test_producer_without_dlpack_device_reports_its_capsules_device() -> None:
    # A producer from before __dlpack_device__ (2021.12): the wrapper answers with the device of
    # the producer's capsule, which it reads without consuming or copying anything.
    class OldProducer:
        def __init__(self) -> None:
            self.source = np.arange(3.0)

        def __dlpack__(self, stream: object = None) -> object:
            return self.source.__dlpack__(stream=stream)

    wrapped = asdlpack(OldProducer())
    assert wrapped.__dlpack_device__() == (KDL_CPU, 0)
    assert from_dlpack(wrapped).tolist() == [0.0, 1.0, 2.0]

"""to_dlpack: capsules over NumPy arrays and buffer-protocol objects, without copying.

Capsules are read back with the package's own validator (``inspect`` runs every structural
rule of DLPack 1.3) and with ctypes where a field must be seen raw; numpy, torch and jax
consume them. Deleters are driven from other threads to show they take the GIL themselves.
"""

from __future__ import annotations

import array
import ctypes
import gc
import mmap
import sys
import textwrap
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import optype_dlpack
from optype_dlpack import DLPackFlags, _core
from tests.support.capsules import CapsuleOffer, capsule_name, capsule_pointer, rename_capsule
from tests.support.child import run_code
from tests.support.dlpack_h import DELETER, DLManagedTensor, DLManagedTensorVersioned
from tests.support.frameworks import needs

needs_torch = needs("torch")

to_dlpack = _core.to_dlpack
from_dlpack = _core.from_dlpack
asdlpack = _core.asdlpack

# ---------------------------------------------------------------------------------------
# Reading a capsule's struct raw


def struct_of(capsule: object) -> DLManagedTensorVersioned | DLManagedTensor:
    struct = DLManagedTensorVersioned if capsule_name(capsule) == "dltensor_versioned" else DLManagedTensor
    return struct.from_address(capsule_pointer(capsule))


def take(capsule: object) -> tuple[int, DLManagedTensorVersioned | DLManagedTensor]:
    """Consumes a capsule as a consumer would: rename it, and own the deleter call."""
    managed = struct_of(capsule)
    rename_capsule(capsule, b"used_dltensor_versioned" if isinstance(managed, DLManagedTensorVersioned) else b"used_dltensor")
    return ctypes.addressof(managed), managed




# ---------------------------------------------------------------------------------------
# Capsule contents


def test_versioned_capsule_describes_the_array_without_copying() -> None:
    source = np.arange(24, dtype=np.int32).reshape(2, 3, 4)[:, ::-1, 1::2]
    capsule = to_dlpack(source)
    assert capsule_name(capsule) == "dltensor_versioned"
    info = optype_dlpack.inspect(capsule)  # every structural rule of DLPack 1.3 holds
    assert info.version == (1, 3)
    assert info.data_ptr == source.ctypes.data
    assert info.shape == (2, 3, 2)
    assert info.strides == (12, -4, 2)
    assert info.dtype == (0, 32, 1)
    assert info.device == (1, 0)
    assert info.flags == DLPackFlags(0)


def test_strides_are_always_filled_and_null_only_for_0d() -> None:
    for versioned in (True, False):
        contiguous = struct_of(to_dlpack(np.zeros((2, 3)), versioned=versioned)).dl_tensor
        assert contiguous.shape and contiguous.strides
        scalar = struct_of(to_dlpack(np.array(1.5), versioned=versioned)).dl_tensor
        assert scalar.ndim == 0 and not scalar.shape and not scalar.strides  # NULL pointers


def test_legacy_capsule() -> None:
    source = np.arange(6.0)
    capsule = to_dlpack(source, versioned=False)
    assert capsule_name(capsule) == "dltensor"
    info = optype_dlpack.inspect(capsule)
    assert info.version is None
    assert info.data_ptr == source.ctypes.data


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        ("bool", (6, 8, 1)), ("int8", (0, 8, 1)), ("uint64", (1, 64, 1)), ("float16", (2, 16, 1)),
        ("float32", (2, 32, 1)), ("complex64", (5, 64, 1)), ("complex128", (5, 128, 1)),
    ],
)
def test_numpy_dtypes(dtype: str, expected: tuple[int, int, int]) -> None:
    assert optype_dlpack.inspect(to_dlpack(np.zeros(3, dtype))).dtype == expected


def test_ml_dtypes_and_padded_sub_byte_types() -> None:
    import ml_dtypes
    assert optype_dlpack.inspect(to_dlpack(np.zeros(2, ml_dtypes.bfloat16))).dtype == (4, 16, 1)
    assert optype_dlpack.inspect(to_dlpack(np.zeros(2, ml_dtypes.float8_e4m3fn))).dtype == (10, 8, 1)
    int4 = optype_dlpack.inspect(to_dlpack(np.zeros(2, ml_dtypes.int4)))
    assert int4.dtype == (0, 4, 1)
    assert int4.flags == DLPackFlags.IS_SUBBYTE_TYPE_PADDED
    with pytest.raises(BufferError, match=r"dtype int4 is stored one element per byte, which only a versioned capsule"):
        to_dlpack(np.zeros(2, ml_dtypes.int4), versioned=False)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (np.array(["a", "b"]), r"dtype dtype\('<U1'\) has no DLPack equivalent"),
        (np.array([None]), r"dtype dtype\('O'\) has no DLPack equivalent"),
        (np.zeros(2, np.longdouble), "has no DLPack equivalent"),
        (np.zeros(2, ">f4"), r"dtype dtype\('>f4'\) has non-native byte order; DLPack tensors are native-endian"),
        (np.zeros(3, "datetime64[s]"), "has no DLPack equivalent"),
        (np.zeros(4, [("a", "<i4"), ("b", "u1")])["a"],
         "stride 5 bytes of axis 0 is not a multiple of the item size .4 bytes.; DLPack strides count elements"),
    ],
)
def test_arrays_dlpack_cannot_describe(source: np.ndarray[Any, Any], message: str) -> None:
    with pytest.raises(BufferError, match=message):
        to_dlpack(source)


def test_unstepped_axes_tolerate_any_stride() -> None:
    source = np.zeros(4, [("a", "<i4"), ("b", "u1")])["a"][:1]  # stride 5, but only one element
    assert optype_dlpack.inspect(to_dlpack(source)).shape == (1,)


# ---------------------------------------------------------------------------------------
# Read-only memory


def test_read_only_sources_are_flagged() -> None:
    source = np.arange(3.0)
    source.flags.writeable = False
    capsule = to_dlpack(source)
    assert struct_of(capsule).flags == 1  # READ_ONLY
    assert optype_dlpack.inspect(capsule).readonly
    assert not from_dlpack(capsule).flags.writeable


def test_readonly_true_forces_the_flag() -> None:
    source = np.arange(3.0)
    assert optype_dlpack.inspect(to_dlpack(source, readonly=True)).readonly
    assert not optype_dlpack.inspect(to_dlpack(source, readonly=False)).readonly


def test_readonly_false_on_read_only_memory_is_refused() -> None:
    with pytest.raises(BufferError, match="the memory is read-only; readonly=False would let consumers write to it"):
        to_dlpack(b"abc", readonly=False)


@pytest.mark.parametrize("readonly", [None, True])
def test_legacy_capsules_cannot_carry_read_only(readonly: bool | None) -> None:
    source = np.arange(3.0)
    if readonly is None:
        source.flags.writeable = False
    with pytest.raises(
        BufferError, match="a legacy 'dltensor' capsule cannot mark memory read-only .* ask for a versioned capsule"
    ):
        to_dlpack(source, versioned=False, readonly=readonly)


def test_argument_errors() -> None:
    with pytest.raises(TypeError, match=r"versioned must be True or False, not int"):
        to_dlpack(np.zeros(1), versioned=1)
    with pytest.raises(TypeError, match=r"readonly must be True, False or None, not str"):
        to_dlpack(np.zeros(1), readonly="yes")
    with pytest.raises(TypeError, match=r"to_dlpack\(\) expects a NumPy array or an object with the buffer protocol, got list"):
        to_dlpack([1, 2])


# ---------------------------------------------------------------------------------------
# Buffer-protocol objects


def test_buffer_objects() -> None:
    data = bytearray(b"\x01\x02\x03\x04")
    info = optype_dlpack.inspect(to_dlpack(data))
    assert (info.dtype, info.shape, info.readonly) == ((1, 8, 1), (4,), False)
    assert optype_dlpack.inspect(to_dlpack(b"xyz")).readonly
    doubles = array.array("d", [1.0, 2.0, 3.0])
    assert optype_dlpack.inspect(to_dlpack(doubles)).dtype == (2, 64, 1)
    ints = array.array("q", [5, 6])
    assert from_dlpack(to_dlpack(ints)).tolist() == [5, 6]
    strided = memoryview(bytearray(range(10)))[1::3]
    assert from_dlpack(to_dlpack(strided)).tolist() == [1, 4, 7]
    matrix = memoryview(bytearray(range(6))).cast("B", (2, 3))
    assert from_dlpack(to_dlpack(matrix)).tolist() == [[0, 1, 2], [3, 4, 5]]
    mapped = mmap.mmap(-1, 8)
    exported = from_dlpack(to_dlpack(mapped))
    exported[0] = 7
    assert mapped[0] == 7
    del exported
    gc.collect()
    mapped.close()


@needs_torch
def test_buffer_zero_copy_and_mutation_both_ways() -> None:
    data = bytearray(4)
    import torch
    tensor = torch.from_dlpack(to_dlpack(data))
    tensor[0] = 200
    assert data[0] == 200
    data[1] = 9
    assert tensor[1].item() == 9


# A buffer of wide characters: typecode "w" (Py_UCS4) from 3.13 on, where "u" (wchar_t) is
# deprecated; both have a buffer format DLPack has no dtype for.
WIDE_CHAR_TYPECODE = "w" if sys.version_info >= (3, 13) else "u"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (memoryview(np.zeros(2, ">i4")), "buffer format '>i' has non-native byte order"),
        (array.array(WIDE_CHAR_TYPECODE, "ab"), "buffer format '[uw]' has no DLPack dtype"),
        (memoryview(np.zeros(2, "S3")), "buffer format '3s' has no DLPack dtype"),
        (memoryview(np.zeros(2, np.longdouble)), "buffer format 'g' has no DLPack dtype"),
    ],
)
def test_buffers_dlpack_cannot_describe(source: object, message: str) -> None:
    with pytest.raises(BufferError, match=message):
        to_dlpack(source)


def test_exported_bytearray_cannot_be_resized_while_a_capsule_lives() -> None:
    data = bytearray(8)
    capsule = to_dlpack(data)
    with pytest.raises(BufferError, match="Existing exports of data: object cannot be re-sized"):
        data.extend(b"more")
    del capsule
    data.extend(b"more")  # the unconsumed capsule released its export
    assert len(data) == 12


# ---------------------------------------------------------------------------------------
# Consumers


def test_consumers_share_memory() -> None:
    import jax.numpy as jnp
    source = np.arange(12, dtype=np.float32).reshape(3, 4)
    by_numpy = np.from_dlpack(CapsuleOffer(to_dlpack(source)))
    # legacy: every JAX reads it (JAX before 0.12 reads no other kind)
    by_jax = jnp.from_dlpack(CapsuleOffer(to_dlpack(source, versioned=False)))
    assert by_numpy.ctypes.data == source.ctypes.data
    source[2, 3] = -7.0
    assert by_numpy[2, 3] == -7.0
    np.testing.assert_array_equal(np.asarray(by_jax)[1], source[1])


@needs_torch
def test_torch_shares_memory() -> None:
    import torch
    source = np.arange(12, dtype=np.float32).reshape(3, 4)
    by_torch = torch.from_dlpack(to_dlpack(source))
    by_numpy = np.from_dlpack(CapsuleOffer(to_dlpack(source)))
    assert by_torch.data_ptr() == by_numpy.ctypes.data == source.ctypes.data
    by_torch[0, 0] = 50.0
    assert source[0, 0] == 50.0 and by_numpy[0, 0] == 50.0
    source[2, 3] = -7.0
    assert by_torch[2, 3].item() == -7.0


@needs_torch
def test_consumers_take_strided_and_0d_arrays() -> None:
    import torch
    source = np.arange(20.0).reshape(4, 5)[::2, 1::2]
    tensor = torch.from_dlpack(to_dlpack(source))
    assert tensor.stride() == (10, 2)
    np.testing.assert_array_equal(tensor.numpy(), source)
    scalar = torch.from_dlpack(to_dlpack(np.array(2.5)))
    assert scalar.shape == () and scalar.item() == 2.5
    assert np.from_dlpack(CapsuleOffer(to_dlpack(np.array(4)))) == 4


# ---------------------------------------------------------------------------------------
# Lifetimes: the source lives until the deleter runs, which runs exactly once


def test_unconsumed_capsule_frees_everything() -> None:
    source = np.arange(5.0)
    witness = weakref.ref(source)
    capsule = to_dlpack(source)
    del source
    gc.collect()
    assert witness() is not None  # the capsule keeps it
    del capsule
    gc.collect()
    assert witness() is None


@needs_torch
@pytest.mark.parametrize("order", ["source-first", "capsule-first", "consumer-first"])
def test_every_deletion_order_with_torch(order: str) -> None:
    import torch
    source = np.arange(100.0)
    witness = weakref.ref(source)
    capsule = to_dlpack(source)
    tensor = torch.from_dlpack(capsule)
    assert capsule_name(capsule) == "used_dltensor_versioned"
    if order == "source-first":
        del source
        gc.collect()
        assert tensor.sum().item() == 4950.0
        del capsule, tensor
    elif order == "capsule-first":
        del capsule
        gc.collect()
        assert tensor.sum().item() == 4950.0
        del tensor, source
    else:
        del tensor
        gc.collect()
        assert witness() is not None  # our own reference
        del capsule, source
    gc.collect()
    assert witness() is None


def test_round_trip_through_from_dlpack_keeps_the_source() -> None:
    source = np.arange(10.0)
    witness = weakref.ref(source)
    view = from_dlpack(to_dlpack(source))
    del source
    gc.collect()
    assert witness() is not None
    assert view.sum() == 45.0
    del view
    gc.collect()
    assert witness() is None


def test_reference_cycle_through_a_holder_is_collected() -> None:
    class Holder:
        pass

    holder = Holder()
    holder.array = np.arange(4.0)  # type: ignore[attr-defined]
    holder.capsule = to_dlpack(holder.array)  # type: ignore[attr-defined]
    holder.me = holder  # type: ignore[attr-defined]
    witness = weakref.ref(holder.array)  # type: ignore[attr-defined]
    del holder
    gc.collect()
    assert witness() is None


@pytest.mark.parametrize("versioned", [True, False])
def test_deleter_runs_once_from_another_thread_without_the_gil(versioned: bool) -> None:
    source = np.arange(8.0)
    witness = weakref.ref(source)
    capsule = to_dlpack(source, versioned=versioned)
    address, managed = take(capsule)
    deleter = DELETER(managed.deleter)
    del source, capsule, managed
    gc.collect()
    assert witness() is not None  # taken: the renamed capsule no longer frees it
    # A ctypes call releases the GIL around the C function: the deleter must take it.
    thread = threading.Thread(target=deleter, args=(address,))
    thread.start()
    thread.join()
    gc.collect()
    assert witness() is None


def consume_with_torch(capsule: object) -> object:
    import torch

    return torch.from_dlpack(capsule)


def consume_with_numpy(capsule: object) -> object:
    return np.from_dlpack(CapsuleOffer(capsule))


CONSUMERS = [
    pytest.param(consume_with_numpy, id="numpy"),
    pytest.param(consume_with_torch, id="torch", marks=needs_torch),
]


@pytest.mark.parametrize("consume", CONSUMERS)
def test_no_growth_over_many_round_trips(
    assert_no_growth: Callable[..., None], consume: Callable[[object], object]
) -> None:
    source = np.arange(64.0)
    data = bytearray(32)

    def round_trips() -> None:
        for _ in range(10_000):
            to_dlpack(source)  # unconsumed: freed by the capsule
            consume(to_dlpack(source))
            from_dlpack(to_dlpack(data))
            to_dlpack(source, versioned=False)

    assert_no_growth(round_trips, source, data)


# A capsule consumed, its tensor freed at exit with the consumer's array
CONSUMED_AT_EXIT = [
    pytest.param("consumed = np.from_dlpack(_core.asdlpack(_core.to_dlpack(np.ones(3))))", id="numpy"),
    pytest.param(
        "import torch; consumed = torch.from_dlpack(_core.to_dlpack(np.ones(3)))", id="torch", marks=needs_torch
    ),
]


@pytest.mark.parametrize("consume", CONSUMED_AT_EXIT)
def test_capsules_alive_at_interpreter_exit(tmp_path: Path, consume: str) -> None:
    # Deleters that run while the interpreter finalizes must neither crash nor touch Python.
    code = textwrap.dedent(
        f"""
        import numpy as np
        from optype_dlpack import _core
        kept = _core.to_dlpack(np.arange(4.0))  # unconsumed, freed at exit
        {consume}
        legacy = _core.to_dlpack(bytearray(8), versioned=False)
        view = _core.from_dlpack(_core.to_dlpack(np.zeros(2)))
        class Cycle:
            pass
        cycle = Cycle()
        cycle.me, cycle.capsule = cycle, _core.to_dlpack(np.arange(2))
        print("done")
        """
    )
    completed = run_code(code, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "done\n"
    assert completed.stderr == ""

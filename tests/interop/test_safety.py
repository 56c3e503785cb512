"""Interop safety: what from_dlpack and asdlpack must never do to a capsule or a process.

- from_dlpack consumes a capsule only once its NumPy array (or copy) exists: a tensor NumPy
  cannot hold, or a copy that cannot be allocated, leaves the capsule as it was.
- A copy's MemoryError survives a deleter that runs Python code.
- A CUDA copy without a driver is BufferError whatever the tensor's size: the driver is
  asked before any host memory is allocated.
- asdlpack checks a wrapped capsule by every structural rule, as validate() does, and never
  reads past `flags` of a tensor of another major version.
- NumPy subclasses that override __dlpack__ are asked through it.
- A wrapped producer asked without a stream is asked with the specification's default, None.

Tests whose failure would crash the interpreter run that part in a child process, which
loads this file to build the same capsules.
"""

from __future__ import annotations

import ctypes
import gc
import mmap
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import optype_dlpack
from optype_dlpack import DLPackValidationError, DLPackVersionError, _core
from tests.support.capsules import capsule_name, new_capsule
from tests.support.child import run_against
from tests.support.dlpack_h import (
    DELETER,
    KDL_CPU,
    KDL_CUDA,
    DLDataType,
    DLDevice,
    DLManagedTensorVersioned,
    DLManagedTensorVersionedHeader,
    DLPackVersion,
    address_of,
    as_int64_pointer,
    int64_array,
)

from_dlpack = _core.from_dlpack
asdlpack = _core.asdlpack
to_dlpack = _core.to_dlpack

UNALLOCATABLE = 2**46  # float32 elements: 256 TiB, beyond the 128 TiB a process can map on x86-64
FLOAT32 = (2, 32, 1)

# ---------------------------------------------------------------------------------------
# Capsules built with ctypes

_alive: list[object] = []  # what the capsules made here point to lives as long as the process


class PythonDeleterCapsule:
    """A ``dltensor_versioned`` capsule whose deleter is a Python function (through ctypes),
    as a producer written with ctypes or cffi has. The capsule has no destructor: the tensor
    is freed only by a consumer that takes it, and ``deleted`` counts those calls."""

    def __init__(self, *, data: int, device: tuple[int, int], shape: tuple[int, ...], strides: tuple[int, ...]) -> None:
        self.deleted = 0
        self._deleter = DELETER(self._count)
        ndim = len(shape)
        self._shape = int64_array(shape)
        self._strides = int64_array(strides)
        managed = DLManagedTensorVersioned()
        managed.version = DLPackVersion(1, 3)
        managed.deleter = address_of(self._deleter)
        managed.dl_tensor.data = data
        managed.dl_tensor.device = DLDevice(*device)
        managed.dl_tensor.ndim = ndim
        managed.dl_tensor.dtype = DLDataType(*FLOAT32)
        managed.dl_tensor.shape = as_int64_pointer(self._shape)
        managed.dl_tensor.strides = as_int64_pointer(self._strides)
        self._managed = managed
        self.capsule = new_capsule(ctypes.addressof(managed), b"dltensor_versioned", None)
        _alive.append(self)

    def _count(self, _managed: int) -> None:
        self.deleted += 1


class StraddlingTensor:
    """A sound ``dltensor_versioned`` capsule (4 float32 in host memory) whose struct straddles
    two pages: the header every major version shares (version, manager_ctx, deleter, flags)
    ends the first, ``dl_tensor`` begins the second. ``guard()`` makes the second page
    unreadable, so that reading anything past ``flags`` crashes the process."""

    def __init__(self, version: tuple[int, int]) -> None:
        page = mmap.PAGESIZE
        self._memory = mmap.mmap(-1, 2 * page)
        base = ctypes.addressof(ctypes.c_char.from_buffer(self._memory))
        self._second_page = base + page
        self._shape = (ctypes.c_int64 * 1)(4)
        self._strides = (ctypes.c_int64 * 1)(1)
        header_size = ctypes.sizeof(DLManagedTensorVersionedHeader)
        self.managed = DLManagedTensorVersioned.from_address(self._second_page - header_size)
        self.managed.version = DLPackVersion(*version)
        tensor = self.managed.dl_tensor
        tensor.data = HOST
        tensor.device = DLDevice(KDL_CPU, 0)
        tensor.ndim = 1
        tensor.dtype = DLDataType(*FLOAT32)
        tensor.shape = as_int64_pointer(self._shape)
        tensor.strides = as_int64_pointer(self._strides)
        self.capsule = new_capsule(ctypes.addressof(self.managed), b"dltensor_versioned", None)
        _alive.append(self)  # the capsule has no destructor and points into this memory

    def guard(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        assert libc.mprotect(self._second_page, mmap.PAGESIZE, 0) == 0, os.strerror(ctypes.get_errno())  # PROT_NONE


_host_memory = ctypes.create_string_buffer(4096)
HOST = ctypes.addressof(_host_memory)

# ---------------------------------------------------------------------------------------
# A child process runs a snippet against this module (as `t`) and reports a JSON result.

def run_child(snippet: str, tmp_path: Path, **env: str) -> dict[str, Any]:
    return run_against(__file__, snippet, cwd=tmp_path, env=env)


# ---------------------------------------------------------------------------------------
# from_dlpack consumes only once the array exists


@pytest.mark.parametrize("layout", ["versioned", "legacy"])
@pytest.mark.parametrize("copy", [None, False, True])
def test_a_tensor_numpy_cannot_hold_leaves_the_capsule_unconsumed(
    tensors_freed: Any, layout: str, copy: bool | None
) -> None:
    # An empty tensor whose shape's byte count overflows: DLPack allows it, NumPy does not.
    capsule = tensors_freed.make_capsule(data=0, shape=(0, 2**62, 4), layout=layout)
    with pytest.raises(BufferError, match=r"from_dlpack: NumPy cannot hold the tensor \(ValueError: array is too big"):
        from_dlpack(capsule, copy=copy)
    assert capsule_name(capsule) == ("dltensor_versioned" if layout == "versioned" else "dltensor")
    assert tensors_freed.deleter_calls() == 0
    del capsule
    gc.collect()
    assert tensors_freed.deleter_calls() == 1  # freed by its own destructor, once


def test_a_producer_tensor_numpy_cannot_hold_is_released_once(tensors_freed: Any) -> None:
    source = tensors_freed.Producer(data=0, shape=(0, 2**62, 4))
    with pytest.raises(BufferError, match="NumPy cannot hold the tensor"):
        from_dlpack(source)
    gc.collect()
    assert tensors_freed.deleter_calls() == 1


def test_a_copy_that_cannot_be_allocated_leaves_the_capsule_unconsumed(tensors_freed: Any) -> None:
    keep = np.zeros(1, dtype=np.float32)
    # 2**46 elements over one float (stride 0): a view costs nothing, a copy 256 TiB, more than
    # x86-64's 128 TiB of user address space, so no allocator can hand it out (whatever the
    # machine's memory or overcommit policy: a smaller request can succeed and be OOM-killed).
    capsule = tensors_freed.make_capsule(data=keep.ctypes.data, shape=(UNALLOCATABLE,), strides=(0,), owner=keep)
    with pytest.raises(MemoryError):
        from_dlpack(capsule, copy=True)
    assert capsule_name(capsule) == "dltensor_versioned"
    assert tensors_freed.deleter_calls() == 0
    assert from_dlpack(capsule).shape == (UNALLOCATABLE,)  # still there to be taken, once


def test_a_copys_memory_error_survives_a_python_deleter() -> None:
    keep = np.zeros(1, dtype=np.float32)
    made = PythonDeleterCapsule(data=keep.ctypes.data, device=(KDL_CPU, 0), shape=(UNALLOCATABLE,), strides=(0,))
    with pytest.raises(MemoryError):
        from_dlpack(made.capsule, copy=True)
    assert capsule_name(made.capsule) == "dltensor_versioned"
    assert made.deleted == 0


def test_a_python_deleter_runs_once_after_a_copy() -> None:
    source = np.arange(4, dtype=np.float32)
    made = PythonDeleterCapsule(data=source.ctypes.data, device=(KDL_CPU, 0), shape=(4,), strides=(1,))
    copy = from_dlpack(made.capsule, copy=True)
    assert copy.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert capsule_name(made.capsule) == "used_dltensor_versioned"
    assert made.deleted == 1


def test_a_large_cuda_copy_without_a_driver_is_a_buffer_error(tmp_path: Path) -> None:
    # 2**46 float32 "on cuda:0": the driver must be asked before 256 TiB of host memory is.
    result = run_child(
        """
        made = t.PythonDeleterCapsule(data=t.HOST, device=(t.KDL_CUDA, 0), shape=(t.UNALLOCATABLE,), strides=(1,))
        try:
            t.from_dlpack(made.capsule, copy=True)
        except Exception as error:
            result["error"] = [type(error).__name__, str(error)]
        result["name"] = t.capsule_name(made.capsule)
        result["deleted"] = made.deleted
        """,
        tmp_path,
        OPTYPE_DLPACK_DISABLE_CUDA="1",
    )
    kind, message = result["error"]
    assert kind == "BufferError"
    assert message.startswith(
        "from_dlpack: copying the tensor from cuda:0 needs the CUDA driver, which is unavailable ("
    )
    assert "OPTYPE_DLPACK_DISABLE_CUDA=1" in message
    assert result["name"] == "dltensor_versioned"
    assert result["deleted"] == 0


# ---------------------------------------------------------------------------------------
# asdlpack checks a wrapped capsule as validate() does

_MALFORMED: dict[str, dict[str, Any]] = {
    "shape.null": {"shape": None, "ndim": 1},
    "ndim.negative": {"shape": (3,), "ndim": -1},
    "dtype.lanes": {"shape": (3,), "dtype": (2, 32, 0)},
    "flags.unknown": {"shape": (3,), "flags": 1 << 3},
    "version.major": {"shape": (3,), "version": (2, 0)},
    "strides.null_since_1_2": {"shape": (3,), "strides": None},
}


@pytest.mark.parametrize("rule", sorted(_MALFORMED))
def test_asdlpack_refuses_a_malformed_capsule(tensors_freed: Any, rule: str) -> None:
    capsule = tensors_freed.make_capsule(data=HOST, **_MALFORMED[rule])
    with pytest.raises(DLPackValidationError) as by_validate:
        optype_dlpack.validate(capsule, verify_device="skip")
    with pytest.raises(DLPackValidationError) as by_asdlpack:
        asdlpack(capsule)
    assert type(by_asdlpack.value) is type(by_validate.value)
    assert by_asdlpack.value.rules == by_validate.value.rules == (rule,)
    assert capsule_name(capsule) == "dltensor_versioned"  # nothing consumed
    assert tensors_freed.deleter_calls() == 0


def test_asdlpack_still_wraps_a_sound_capsule(tensors_freed: Any) -> None:
    capsule = tensors_freed.make_capsule(allocate=True, shape=(2, 3))
    wrapped = asdlpack(capsule)
    assert np.from_dlpack(wrapped).tolist() == [[0.0] * 3] * 2


def test_a_capsule_of_another_major_version_is_refused_unread(tmp_path: Path) -> None:
    result = run_child(
        """
        made = t.StraddlingTensor((2, 0))
        made.guard()
        for call in ("wrap", "export", "device"):
            try:
                wrapped = t.asdlpack(made.capsule)
                if call == "export":
                    wrapped.__dlpack__(max_version=(1, 0), dl_device=(t.KDL_CPU, 0))
                if call == "device":
                    wrapped.__dlpack_device__()
                result[call] = None
            except Exception as error:
                result[call] = [type(error).__name__, list(getattr(error, "rules", ()))]
        """,
        tmp_path,
    )
    for call in ("wrap", "export", "device"):
        assert result[call] == [DLPackVersionError.__name__, ["version.major"]], call


def test_a_wrapped_capsule_whose_major_version_changed_is_not_read_past_flags(tmp_path: Path) -> None:
    # Sound when wrapped; then its producer rewrites the version (the struct is its memory).
    result = run_child(
        """
        made = t.StraddlingTensor((1, 3))
        wrapped = t.asdlpack(made.capsule)
        made.managed.version.major = 2
        made.guard()
        for call in ("export", "device"):
            try:
                if call == "export":
                    wrapped.__dlpack__(max_version=(1, 0), dl_device=(t.KDL_CPU, 0))
                else:
                    wrapped.__dlpack_device__()
                result[call] = None
            except Exception as error:
                result[call] = [type(error).__name__, str(error)]
        """,
        tmp_path,
    )
    assert result["export"] == ["BufferError", "__dlpack__(): the wrapped capsule has DLPack major version 2"]
    assert result["device"] == ["BufferError", "__dlpack_device__(): the wrapped capsule has DLPack major version 2"]


# ---------------------------------------------------------------------------------------
# NumPy subclasses with their own __dlpack__ are producers


class LegacyOnly(np.ndarray):
    """NumPy's own test_dlpack.py: a subclass that exports only legacy capsules."""

    def __dlpack__(self, stream: object = None) -> object:  # type: ignore[override]
        return super().__dlpack__(stream=None)


class Refusing(np.ndarray):
    def __dlpack__(self, **kwargs: object) -> object:  # type: ignore[override]
        raise BufferError("this array is not for export")


class Plain(np.ndarray):
    """A subclass that leaves __dlpack__ alone: read directly, as NumPy arrays are."""


def test_a_subclass_exporting_legacy_capsules_gives_a_read_only_array() -> None:
    view = np.arange(5).view(LegacyOnly)
    assert not from_dlpack(view).flags.writeable  # a legacy capsule cannot say "writeable"
    assert not np.from_dlpack(asdlpack(view)).flags.writeable
    assert from_dlpack(np.arange(5)).flags.writeable


def test_a_subclass_that_refuses_to_export_is_refused() -> None:
    view = np.arange(5).view(Refusing)
    with pytest.raises(BufferError, match="this array is not for export"):
        from_dlpack(view)
    wrapped = asdlpack(view)
    assert repr(wrapped) == "<DLPackObject over a DLPack producer (Refusing)>"
    with pytest.raises(BufferError, match="this array is not for export"):
        wrapped.__dlpack__()


def test_a_subclass_without_its_own_dlpack_is_read_directly() -> None:
    view = np.arange(5.0).view(Plain)
    array = from_dlpack(view)
    assert type(array) is np.ndarray and array.ctypes.data == view.ctypes.data
    assert repr(asdlpack(view)).startswith("<DLPackObject over a NumPy array (Plain)")


# ---------------------------------------------------------------------------------------
# A wrapped producer asked without a stream is asked with stream=None


class Recording:
    def __init__(self) -> None:
        self.source = np.arange(3.0)
        self.calls: list[tuple[tuple[object, ...], dict[str, object]]] = []

    def __dlpack__(self, *args: object, **kwargs: Any) -> object:
        self.calls.append((args, dict(kwargs)))
        kwargs.pop("stream", None)  # NumPy takes only None for CPU memory, and None is its default
        return self.source.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        return (KDL_CPU, 0)


class NoStreamKeyword:
    def __init__(self) -> None:
        self.source = np.arange(3.0)
        self.calls: list[dict[str, object]] = []

    def __dlpack__(self, *, max_version: Any = None) -> object:
        self.calls.append({"max_version": max_version})
        return self.source.__dlpack__(max_version=max_version)

    def __dlpack_device__(self) -> tuple[int, int]:
        return (KDL_CPU, 0)


def test_an_omitted_stream_reaches_the_producer_as_none() -> None:
    producer = Recording()
    wrapped = asdlpack(producer)
    wrapped.__dlpack__()
    wrapped.__dlpack__(max_version=(1, 0))
    wrapped.__dlpack__(stream=None)
    wrapped.__dlpack__(stream=-1, copy=False)
    wrapped.__dlpack__(7)  # the pre-2023.12 positional stream: passed as given
    assert producer.calls == [
        ((), {"stream": None}),
        ((), {"max_version": (1, 0), "stream": None}),
        ((), {"stream": None}),
        ((), {"stream": -1, "copy": False}),
        ((7,), {}),
    ]
    assert from_dlpack(wrapped).tolist() == [0.0, 1.0, 2.0]
    assert producer.calls[-1] == ((), {"max_version": (1, 3), "stream": None})


def test_a_producer_without_the_stream_keyword_is_asked_without_it() -> None:
    # stream=None is the specified default: a producer that has no `stream` keyword is asked
    # with the consumer's other arguments alone, whether the consumer omitted it or passed None.
    producer = NoStreamKeyword()
    wrapped = asdlpack(producer)
    assert from_dlpack(wrapped).tolist() == [0.0, 1.0, 2.0]
    assert producer.calls[-1] == {"max_version": (1, 3)}
    wrapped.__dlpack__(stream=None, max_version=(1, 0))
    assert producer.calls[-1] == {"max_version": (1, 0)}
    with pytest.raises(TypeError):
        wrapped.__dlpack__(stream=5)  # a stream it cannot take: passed through, and refused

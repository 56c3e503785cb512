# pyright: reportInvalidStubStatement=false
import array
import mmap
from typing import Any

import jax
import numpy as np
import numpy.typing as npt
import torch
from typing_extensions import CapsuleType, assert_type

from optype_dlpack import CanDLPack, CanDLPackCompat, DLPackObject, SupportsDLPack, asdlpack, from_dlpack, to_dlpack

array_f4: npt.NDArray[np.float32]
tensor: torch.Tensor
jax_array: jax.Array
capsule: CapsuleType
legacy: CanDLPackCompat
wrapped: DLPackObject
data: bytes
buffer: bytearray
doubles: array.array[float]
view: memoryview
mapped: mmap.mmap

class _WithInterface:
    @property
    def __array_interface__(self) -> dict[str, Any]: ...

class _WithCudaInterface:
    __cuda_array_interface__: dict[str, Any]

with_interface: _WithInterface
with_cuda_interface: _WithCudaInterface

###
# from_dlpack

# a NumPy array keeps its dtype; any other producer's dtype is known only at run time
assert_type(from_dlpack(array_f4), np.ndarray[tuple[Any, ...], np.dtype[np.float32]])
assert_type(from_dlpack(array_f4, copy=True), np.ndarray[tuple[Any, ...], np.dtype[np.float32]])
assert_type(from_dlpack(tensor), np.ndarray[tuple[Any, ...], np.dtype[Any]])
# jax 0.10's stub gives `jax.Array.__dlpack__` no `stream` keyword (see test_protocols.pyi)
from_dlpack(jax_array, copy=True)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
assert_type(from_dlpack(capsule, copy=False), np.ndarray[tuple[Any, ...], np.dtype[Any]])
assert_type(from_dlpack(legacy), np.ndarray[tuple[Any, ...], np.dtype[Any]])
assert_type(from_dlpack(wrapped), np.ndarray[tuple[Any, ...], np.dtype[Any]])

from_dlpack([1, 2])  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
from_dlpack(array_f4, copy=1)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
from_dlpack(x=array_f4)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue]

###
# to_dlpack

assert_type(to_dlpack(array_f4), CapsuleType)
assert_type(to_dlpack(data, versioned=False), CapsuleType)
assert_type(to_dlpack(buffer, readonly=True), CapsuleType)
assert_type(to_dlpack(doubles), CapsuleType)
assert_type(to_dlpack(view), CapsuleType)
assert_type(to_dlpack(mapped), CapsuleType)

to_dlpack(tensor)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
to_dlpack(array_f4, versioned=None)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]

###
# asdlpack and DLPackObject

assert_type(asdlpack(array_f4), DLPackObject)
assert_type(asdlpack(tensor), DLPackObject)
assert_type(asdlpack(capsule), DLPackObject)
assert_type(asdlpack(with_interface), DLPackObject)
assert_type(asdlpack(with_cuda_interface), DLPackObject)
assert_type(asdlpack(data), DLPackObject)
assert_type(asdlpack(mapped), DLPackObject)
assert_type(wrapped.__dlpack__(), CapsuleType)
assert_type(wrapped.__dlpack__(stream=None, max_version=(1, 0), dl_device=(1, 0), copy=True), CapsuleType)
assert_type(wrapped.__dlpack_device__(), tuple[int, int])
as_supports: SupportsDLPack = wrapped
as_can: CanDLPack = wrapped
np.from_dlpack(wrapped)

asdlpack(3)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
wrapped.__dlpack__(None)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]

# pyright: reportInvalidStubStatement=false
from typing import Literal

import jax
import ml_dtypes
import numpy as np
import numpy.typing as npt
import torch
from typing_extensions import CapsuleType, assert_type

from optype_dlpack import (
    CanDLPackCompat,
    DLDataType,
    DLDevice,
    DLDeviceType,
    DLPackFlags,
    DLPackVersion,
    Expect,
    SupportsDLPack,
    TensorInfo,
    inspect,
    validate,
)

array: npt.NDArray[np.float32]
tensor: torch.Tensor
jax_array: jax.Array
capsule: CapsuleType
legacy: CanDLPackCompat
producer: SupportsDLPack
device_type: DLDeviceType
device: DLDevice
cuda1: DLDevice[Literal[DLDeviceType.CUDA]]
cuda_info: TensorInfo[Literal[DLDeviceType.CUDA]]
info: TensorInfo
dtype: DLDataType
name: str
expect_cuda: Expect[Literal[DLDeviceType.CUDA]]

###
# TensorInfo

assert_type(info.device, DLDevice[DLDeviceType])
assert_type(info.device.type, DLDeviceType)
assert_type(info.device.id, int)
assert_type(info.dtype, DLDataType)
assert_type(info.shape, tuple[int, ...])
assert_type(info.strides, tuple[int, ...])
assert_type(info.byte_offset, int)
assert_type(info.data_ptr, int)
assert_type(info.version, DLPackVersion | None)
assert_type(info.flags, DLPackFlags)
assert_type(info.readonly, bool)
assert_type(info.ndim, int)
assert_type(info.size, int)
assert_type(info.nbytes, int)
assert_type(info.is_c_contiguous, bool)
assert_type(info.is_f_contiguous, bool)
assert_type(info.device_verified, bool | None)
assert_type(cuda_info.device, DLDevice[Literal[DLDeviceType.CUDA]])
assert_type(cuda_info.device.type, Literal[DLDeviceType.CUDA])
# bare `TensorInfo` is `TensorInfo[DLDeviceType]`; a CUDA one is also one on some device
info_default: TensorInfo[DLDeviceType] = info
info_widened: TensorInfo = cuda_info

info_narrowed: TensorInfo[Literal[DLDeviceType.CUDA]] = info  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
info_other: TensorInfo[Literal[DLDeviceType.CPU]] = cuda_info  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
info_int: TensorInfo[int]  # type: ignore[type-var]  # pyright: ignore[reportInvalidTypeArguments]
info.shape = (1,)  # type: ignore[misc]  # pyright: ignore[reportAttributeAccessIssue]

###
# inspect

assert_type(inspect(array), TensorInfo)
assert_type(inspect(tensor), TensorInfo)
assert_type(inspect(capsule), TensorInfo)
assert_type(inspect(legacy), TensorInfo)
assert_type(inspect(producer), TensorInfo)

inspect()  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
inspect(x=array)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
inspect([1.0, 2.0])  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
# jax 0.10's stub gives `jax.Array.__dlpack__` no `stream` keyword (see test_protocols.pyi)
inspect(jax_array)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]

###
# validate

# a DLDeviceType member: the result is known to be on that device type
assert_type(validate(array, device=DLDeviceType.CUDA), TensorInfo[Literal[DLDeviceType.CUDA]])
assert_type(validate(array, device=DLDeviceType.CPU), TensorInfo[Literal[DLDeviceType.CPU]])
assert_type(validate(array, device=DLDeviceType.CPU_PINNED), TensorInfo[Literal[DLDeviceType.CUDA_HOST]])
assert_type(validate(array, device=DLDeviceType.CUDA).device.type, Literal[DLDeviceType.CUDA])
# a (member, id) tuple, and a DLDevice whose type is a member literal
assert_type(validate(tensor, device=(DLDeviceType.CUDA, 1)), TensorInfo[Literal[DLDeviceType.CUDA]])
assert_type(validate(tensor, device=cuda1), TensorInfo[Literal[DLDeviceType.CUDA]])
assert_type(validate(tensor, device=cuda_info.device), TensorInfo[Literal[DLDeviceType.CUDA]])
# anything else: some device type
assert_type(validate(array), TensorInfo[DLDeviceType])
assert_type(validate(array, device=None), TensorInfo)
assert_type(validate(array, device="cuda:1"), TensorInfo)
assert_type(validate(array, device=name), TensorInfo)
assert_type(validate(array, device=2), TensorInfo)
assert_type(validate(array, device=(2, 0)), TensorInfo)
assert_type(validate(array, device=device_type), TensorInfo)
assert_type(validate(array, device=device), TensorInfo)
assert_type(validate(array, device=DLDevice.parse("cuda:1")), TensorInfo)
# the other constraints, in every spelling the extension reads
assert_type(
    validate(
        capsule,
        device=DLDeviceType.CPU,
        dtype="float32",
        ndim=2,
        shape=(3, None),
        writable=True,
        layout="C",
        verify_device="require",
    ),
    TensorInfo[Literal[DLDeviceType.CPU]],
)
assert_type(validate(array, dtype=dtype), TensorInfo)
assert_type(validate(array, dtype=DLDataType.parse("bfloat16")), TensorInfo)
assert_type(validate(array, dtype=(2, 32)), TensorInfo)
assert_type(validate(array, dtype=(2, 32, 4)), TensorInfo)
assert_type(validate(array, dtype=np.float32), TensorInfo)
assert_type(validate(array, dtype=np.dtype(np.float32)), TensorInfo)
assert_type(validate(array, dtype=array.dtype), TensorInfo)
assert_type(validate(array, dtype=ml_dtypes.bfloat16), TensorInfo)
assert_type(validate(tensor, dtype=torch.bfloat16), TensorInfo)
assert_type(validate(tensor, dtype=tensor.dtype), TensorInfo)
assert_type(validate(array, shape=[None, 4]), TensorInfo)
assert_type(validate(array, layout="F"), TensorInfo)
assert_type(validate(array, layout="any"), TensorInfo)
assert_type(validate(array, layout=None), TensorInfo)
assert_type(validate(array, verify_device="skip"), TensorInfo)
assert_type(validate(array, verify_device="auto"), TensorInfo)

cuda_result: TensorInfo[Literal[DLDeviceType.CUDA]] = validate(array, device=DLDeviceType.CPU)  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
unknown_result: TensorInfo[Literal[DLDeviceType.CUDA]] = validate(array, device="cuda")  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
validate(x=array)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue]
validate(array, DLDeviceType.CUDA)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue]
validate(array, device=1.5)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
validate(array, dtype=32)  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]
validate(array, dtype=tensor)  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]
validate(array, dtype=array)  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]
validate(array, ndim="2")  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]
validate(array, shape=3)  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]
validate(array, writable=1)  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]
validate(array, layout="K")  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]
validate(array, verify_device=True)  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]
validate(array, verify_device=None)  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]
validate([1.0], device=DLDeviceType.CPU)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]

###
# Expect

assert_type(Expect(device=DLDeviceType.CUDA), Expect[Literal[DLDeviceType.CUDA]])
assert_type(Expect(device=DLDeviceType.CUDA).validate(array), TensorInfo[Literal[DLDeviceType.CUDA]])
assert_type(Expect(device=(DLDeviceType.ROCM, 0)).validate(tensor), TensorInfo[Literal[DLDeviceType.ROCM]])
assert_type(Expect(device=cuda1).validate(tensor), TensorInfo[Literal[DLDeviceType.CUDA]])
assert_type(Expect(device="cuda"), Expect[DLDeviceType])
assert_type(Expect(), Expect[DLDeviceType])
assert_type(Expect(dtype="float32", ndim=1, shape=(None,), writable=False, layout="any"), Expect)
assert_type(Expect(verify_device="skip").validate(capsule), TensorInfo)
assert_type(expect_cuda.validate(array), TensorInfo[Literal[DLDeviceType.CUDA]])
expect_cuda.check(array)
Expect(dtype="float32").check(capsule)
expect_widened: Expect = expect_cuda

expect_narrowed: Expect[Literal[DLDeviceType.CUDA]] = Expect(device="cuda")  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
Expect(DLDeviceType.CUDA)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue]
Expect(layout="K")  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]
expect_cuda.validate(x=array)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
expect_cuda.check([1.0])  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]

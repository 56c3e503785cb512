# pyright: reportInvalidStubStatement=false
import enum
from typing import Literal

from typing_extensions import assert_type

from optype_dlpack import (
    DLPACK_VERSION,
    DLDataType,
    DLDataTypeCode,
    DLDevice,
    DLDeviceType,
    DLPackFlags,
    DLPackVersion,
)

device_type: DLDeviceType
dtype_code: DLDataTypeCode
flags: DLPackFlags
name: str
some_int: int
cuda0: DLDevice[Literal[DLDeviceType.CUDA]]

###
# DLDeviceType

assert_type(DLDeviceType.CPU, Literal[DLDeviceType.CPU])
assert_type(DLDeviceType.CUDA, Literal[DLDeviceType.CUDA])
assert_type(DLDeviceType.CUDA_HOST, Literal[DLDeviceType.CUDA_HOST])
assert_type(DLDeviceType.OPENCL, Literal[DLDeviceType.OPENCL])
assert_type(DLDeviceType.VULKAN, Literal[DLDeviceType.VULKAN])
assert_type(DLDeviceType.METAL, Literal[DLDeviceType.METAL])
assert_type(DLDeviceType.VPI, Literal[DLDeviceType.VPI])
assert_type(DLDeviceType.ROCM, Literal[DLDeviceType.ROCM])
assert_type(DLDeviceType.ROCM_HOST, Literal[DLDeviceType.ROCM_HOST])
assert_type(DLDeviceType.EXT_DEV, Literal[DLDeviceType.EXT_DEV])
assert_type(DLDeviceType.CUDA_MANAGED, Literal[DLDeviceType.CUDA_MANAGED])
assert_type(DLDeviceType.ONE_API, Literal[DLDeviceType.ONE_API])
assert_type(DLDeviceType.WEBGPU, Literal[DLDeviceType.WEBGPU])
assert_type(DLDeviceType.HEXAGON, Literal[DLDeviceType.HEXAGON])
assert_type(DLDeviceType.MAIA, Literal[DLDeviceType.MAIA])
assert_type(DLDeviceType.TRN, Literal[DLDeviceType.TRN])
# CPU_PINNED is an alias: its type is CUDA_HOST's member literal (mypy: a member of its own, see
# the allowlist), and a valid literal type as in optype.dlpack
assert_type(DLDeviceType.CPU_PINNED, Literal[DLDeviceType.CUDA_HOST])
pinned_literal: Literal[DLDeviceType.CPU_PINNED] = DLDeviceType.CPU_PINNED
value_as_int: int = device_type.value
assert_type(DLDeviceType(some_int), DLDeviceType)
as_int: int = DLDeviceType.CUDA
as_intenum: enum.IntEnum = device_type

cuda_only: Literal[DLDeviceType.CUDA] = DLDeviceType.CPU  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
not_a_member: DLDeviceType = 2  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]

###
# DLDataTypeCode

assert_type(DLDataTypeCode.INT, Literal[DLDataTypeCode.INT])
assert_type(DLDataTypeCode.UINT, Literal[DLDataTypeCode.UINT])
assert_type(DLDataTypeCode.FLOAT, Literal[DLDataTypeCode.FLOAT])
assert_type(DLDataTypeCode.OPAQUE_HANDLE, Literal[DLDataTypeCode.OPAQUE_HANDLE])
assert_type(DLDataTypeCode.BFLOAT, Literal[DLDataTypeCode.BFLOAT])
assert_type(DLDataTypeCode.COMPLEX, Literal[DLDataTypeCode.COMPLEX])
assert_type(DLDataTypeCode.BOOL, Literal[DLDataTypeCode.BOOL])
assert_type(DLDataTypeCode.FLOAT8_E3M4, Literal[DLDataTypeCode.FLOAT8_E3M4])
assert_type(DLDataTypeCode.FLOAT8_E4M3, Literal[DLDataTypeCode.FLOAT8_E4M3])
assert_type(DLDataTypeCode.FLOAT8_E4M3B11FNUZ, Literal[DLDataTypeCode.FLOAT8_E4M3B11FNUZ])
assert_type(DLDataTypeCode.FLOAT8_E4M3FN, Literal[DLDataTypeCode.FLOAT8_E4M3FN])
assert_type(DLDataTypeCode.FLOAT8_E4M3FNUZ, Literal[DLDataTypeCode.FLOAT8_E4M3FNUZ])
assert_type(DLDataTypeCode.FLOAT8_E5M2, Literal[DLDataTypeCode.FLOAT8_E5M2])
assert_type(DLDataTypeCode.FLOAT8_E5M2FNUZ, Literal[DLDataTypeCode.FLOAT8_E5M2FNUZ])
assert_type(DLDataTypeCode.FLOAT8_E8M0FNU, Literal[DLDataTypeCode.FLOAT8_E8M0FNU])
assert_type(DLDataTypeCode.FLOAT6_E2M3FN, Literal[DLDataTypeCode.FLOAT6_E2M3FN])
assert_type(DLDataTypeCode.FLOAT6_E3M2FN, Literal[DLDataTypeCode.FLOAT6_E3M2FN])
assert_type(DLDataTypeCode.FLOAT4_E2M1FN, Literal[DLDataTypeCode.FLOAT4_E2M1FN])
code_as_int: int = dtype_code

float_only: Literal[DLDataTypeCode.FLOAT] = DLDataTypeCode.BFLOAT  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]

###
# DLPackFlags

assert_type(DLPackFlags.READ_ONLY, Literal[DLPackFlags.READ_ONLY])
assert_type(DLPackFlags.IS_COPIED, Literal[DLPackFlags.IS_COPIED])
assert_type(DLPackFlags.IS_SUBBYTE_TYPE_PADDED, Literal[DLPackFlags.IS_SUBBYTE_TYPE_PADDED])
assert_type(DLPackFlags.READ_ONLY | DLPackFlags.IS_COPIED, DLPackFlags)
assert_type(flags & DLPackFlags.READ_ONLY, DLPackFlags)
flags_as_int: int = flags

###
# DLPackVersion

assert_type(DLPackVersion(1, 3), DLPackVersion)
assert_type(DLPackVersion(1, 3).major, int)
assert_type(DLPackVersion(1, 3).minor, int)
version_pair: tuple[int, int] = DLPackVersion(1, 3)

DLPackVersion(1)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]

###
# DLPACK_VERSION

assert_type(DLPACK_VERSION, DLPackVersion)

###
# DLDataType

assert_type(DLDataType(DLDataTypeCode.FLOAT, 32), DLDataType)
assert_type(DLDataType(DLDataTypeCode.FLOAT, 32, 4), DLDataType)
assert_type(DLDataType.parse(name), DLDataType)
assert_type(DLDataType.parse("bfloat16").code, DLDataTypeCode)
assert_type(DLDataType.parse("float32").bits, int)
assert_type(DLDataType.parse("float32x4").lanes, int)
assert_type(str(DLDataType.parse("float32")), str)
dtype_triple: tuple[DLDataTypeCode, int, int] = DLDataType.parse(name)

DLDataType.parse(name=name)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
DLDataType.parse(32)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]

###
# DLDevice

assert_type(DLDevice.parse(name), DLDevice[DLDeviceType])
assert_type(DLDevice.parse("cuda:1").type, DLDeviceType)
assert_type(DLDevice.parse("cuda:1").id, int)
# constructing one: a `DLDevice[DLDeviceType]` (ty keeps the member literal, the others widen it)
device_cuda1: DLDevice[DLDeviceType] = DLDevice(DLDeviceType.CUDA, 1)
device_cpu: DLDevice[DLDeviceType] = DLDevice(DLDeviceType.CPU)
assert_type(cuda0.type, Literal[DLDeviceType.CUDA])
assert_type(str(cuda0), str)
any_device: DLDevice = cuda0
device_pair: tuple[DLDeviceType, int] = cuda0

cpu0: DLDevice[Literal[DLDeviceType.CPU]] = cuda0  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
DLDevice.parse(0)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]

"""Run-time behaviour of the enums and value types, and compatibility with ``optype.dlpack``."""

from __future__ import annotations

import inspect
import typing

import pytest

import optype_dlpack
from optype_dlpack import DLDataType, DLDataTypeCode, DLDevice, DLDeviceType

C = DLDataTypeCode

# Every conventional dtype name, with what it means. At least one per code (checked below).
DTYPE_NAMES = {
    "float4_e2m1fn_x2": (C.FLOAT4_E2M1FN, 4, 2),  # torch's packed pair
    "int8": (C.INT, 8, 1),
    "int16": (C.INT, 16, 1),
    "int32": (C.INT, 32, 1),
    "int64": (C.INT, 64, 1),
    "int4": (C.INT, 4, 1),
    "uint8": (C.UINT, 8, 1),
    "uint16": (C.UINT, 16, 1),
    "uint32": (C.UINT, 32, 1),
    "uint64": (C.UINT, 64, 1),
    "uint1": (C.UINT, 1, 1),
    "float16": (C.FLOAT, 16, 1),
    "float32": (C.FLOAT, 32, 1),
    "float64": (C.FLOAT, 64, 1),
    "opaque64": (C.OPAQUE_HANDLE, 64, 1),
    "bfloat16": (C.BFLOAT, 16, 1),
    "complex64": (C.COMPLEX, 64, 1),
    "complex128": (C.COMPLEX, 128, 1),
    "bool": (C.BOOL, 8, 1),
    "float8_e3m4": (C.FLOAT8_E3M4, 8, 1),
    "float8_e4m3": (C.FLOAT8_E4M3, 8, 1),
    "float8_e4m3b11fnuz": (C.FLOAT8_E4M3B11FNUZ, 8, 1),
    "float8_e4m3fn": (C.FLOAT8_E4M3FN, 8, 1),
    "float8_e4m3fnuz": (C.FLOAT8_E4M3FNUZ, 8, 1),
    "float8_e5m2": (C.FLOAT8_E5M2, 8, 1),
    "float8_e5m2fnuz": (C.FLOAT8_E5M2FNUZ, 8, 1),
    "float8_e8m0fnu": (C.FLOAT8_E8M0FNU, 8, 1),
    "float6_e2m3fn": (C.FLOAT6_E2M3FN, 6, 1),
    "float6_e3m2fn": (C.FLOAT6_E3M2FN, 6, 1),
    "float4_e2m1fn": (C.FLOAT4_E2M1FN, 4, 1),
    "bcomplex32": (C.BCOMPLEX, 32, 1),  # DLPack after 1.3 (dlpack#187); ml_dtypes.bcomplex32
    "float32x4": (C.FLOAT, 32, 4),
    "int8x16": (C.INT, 8, 16),
}



def test_dtype_table_covers_every_code() -> None:
    assert {fields[0] for fields in DTYPE_NAMES.values()} == set(DLDataTypeCode)


@pytest.mark.parametrize(("name", "fields"), list(DTYPE_NAMES.items()))
def test_dtype_parse(name: str, fields: tuple[DLDataTypeCode, int, int]) -> None:
    dtype = DLDataType.parse(name)
    assert dtype == fields
    assert type(dtype) is DLDataType
    assert type(dtype.code) is DLDataTypeCode


@pytest.mark.parametrize(("name", "fields"), list(DTYPE_NAMES.items()))
def test_dtype_str_round_trip(name: str, fields: tuple[DLDataTypeCode, int, int]) -> None:
    dtype = DLDataType(*fields)
    assert str(dtype) == name
    assert DLDataType.parse(str(dtype)) == dtype


def test_dtype_lanes_default_to_one() -> None:
    assert DLDataType(C.FLOAT, 32) == DLDataType.parse("float32") == (2, 32, 1)


def test_dtype_parse_reads_torch_packed_pairs() -> None:
    # torch names two packed fp4 values "float4_e2m1fn_x2"; the conventional spelling has no "_"
    assert DLDataType.parse("float4_e2m1fn_x2") == (C.FLOAT4_E2M1FN, 4, 2)


@pytest.mark.parametrize("name", ["float33", "Float32", "", "float32x0", "float8", "bfloat32", "bool16", "complex"])
def test_dtype_parse_rejects_bad_names(name: str) -> None:
    with pytest.raises(ValueError, match=rf"^not a DLPack dtype name: '{name}' \(expected e\.g\. 'float32', "):
        DLDataType.parse(name)


DEVICE_NAMES = {
    "cpu": (DLDeviceType.CPU, 0),
    "cuda": (DLDeviceType.CUDA, 0),
    "cuda:0": (DLDeviceType.CUDA, 0),
    "cuda:1": (DLDeviceType.CUDA, 1),
    "CUDA": (DLDeviceType.CUDA, 0),
    "cuda_host": (DLDeviceType.CUDA_HOST, 0),
    "CUDA_HOST": (DLDeviceType.CUDA_HOST, 0),
    "cpu_pinned": (DLDeviceType.CUDA_HOST, 0),
    "CPU_PINNED": (DLDeviceType.CUDA_HOST, 0),
    "rocm:3": (DLDeviceType.ROCM, 3),
    "one_api:0": (DLDeviceType.ONE_API, 0),
    "trn:2": (DLDeviceType.TRN, 2),
    "tpu:0": (DLDeviceType.TPU, 0),  # DLPack after 1.3 (dlpack#188)
    "tpu_host:1": (DLDeviceType.TPU_HOST, 1),
    "ascend:3": (DLDeviceType.ASCEND, 3),  # DLPack after 1.3 (dlpack#189)
}


@pytest.mark.parametrize(("name", "fields"), DEVICE_NAMES.items())
def test_device_parse(name: str, fields: tuple[DLDeviceType, int]) -> None:
    device = DLDevice.parse(name)
    assert device == fields
    assert type(device) is DLDevice
    assert type(device.type) is DLDeviceType


@pytest.mark.parametrize("device_type", list(DLDeviceType))
@pytest.mark.parametrize("device_id", [0, 1, 7])
def test_device_str_round_trip(device_type: DLDeviceType, device_id: int) -> None:
    device = DLDevice(device_type, device_id)
    assert DLDevice.parse(str(device)) == device


def test_device_str() -> None:
    assert str(DLDevice(DLDeviceType.CPU)) == "cpu"
    assert str(DLDevice(DLDeviceType.CUDA, 1)) == "cuda:1"
    assert str(DLDevice(DLDeviceType.CPU_PINNED)) == "cuda_host:0"


@pytest.mark.parametrize("name", ["", "cuda:x", "cuda:-1", "npu", "float32", "cuda:1:2"])
def test_device_parse_rejects_bad_names(name: str) -> None:
    with pytest.raises(ValueError, match=rf"^not a DLPack device name: '{name}' \(expected e\.g\. 'cpu', 'cuda', "):
        DLDevice.parse(name)


###
# optype compatibility: `from optype.dlpack import X` -> `from optype_dlpack import X`.
# The names, members and values below are optype's (jorenham/optype, optype/dlpack.py).

OPTYPE_DEVICE_TYPES = {
    "CPU": 1,
    "CUDA": 2,
    "CPU_PINNED": 3,
    "OPENCL": 4,
    "VULKAN": 7,
    "METAL": 8,
    "VPI": 9,
    "ROCM": 10,
    "CUDA_MANAGED": 13,
    "ONE_API": 14,
}
OPTYPE_DTYPE_CODES = {"INT": 0, "UINT": 1, "FLOAT": 2, "OPAQUE_HANDLE": 3, "BFLOAT": 4, "COMPLEX": 5, "BOOL": 6}
OPTYPE_PROTOCOLS = {"CanDLPack": 2, "CanDLPackCompat": 0, "CanDLPackDevice": 2}  # name -> type parameters


@pytest.mark.parametrize(("name", "value"), OPTYPE_DEVICE_TYPES.items())
def test_optype_device_type_members(name: str, value: int) -> None:
    assert DLDeviceType[name] == value


@pytest.mark.parametrize(("name", "value"), OPTYPE_DTYPE_CODES.items())
def test_optype_dtype_code_members(name: str, value: int) -> None:
    assert DLDataTypeCode[name] == value


def test_optype_enums_are_int_enums() -> None:
    import enum

    assert issubclass(DLDeviceType, enum.IntEnum)
    assert issubclass(DLDataTypeCode, enum.IntEnum)


@pytest.mark.parametrize(("name", "n_params"), OPTYPE_PROTOCOLS.items())
def test_optype_protocols(name: str, n_params: int) -> None:
    protocol = getattr(optype_dlpack, name)
    assert name in optype_dlpack.__all__
    assert getattr(protocol, "_is_protocol", False)
    assert getattr(protocol, "_is_runtime_protocol", False)
    assert len(getattr(protocol, "__parameters__", ())) == n_params
    if n_params:
        # both parameters default to int, as in optype: the bare name means [int, int]
        for parameter in protocol.__parameters__:
            assert parameter.__default__ is int
            assert parameter.__covariant__


def test_optype_dlpack_signature() -> None:
    signature = inspect.signature(optype_dlpack.CanDLPack.__dlpack__)
    keyword_only = [p.name for p in signature.parameters.values() if p.kind is p.KEYWORD_ONLY]
    assert keyword_only == ["stream", "max_version", "dl_device", "copy"]
    compat = inspect.signature(optype_dlpack.CanDLPackCompat.__dlpack__)
    assert [p.name for p in compat.parameters.values() if p.kind is p.KEYWORD_ONLY] == ["stream"]
    device = inspect.signature(optype_dlpack.CanDLPackDevice.__dlpack_device__)
    assert [p.name for p in device.parameters.values()] == ["self"]
    assert typing.get_origin(typing.get_type_hints(optype_dlpack.CanDLPackDevice.__dlpack_device__)["return"]) is tuple

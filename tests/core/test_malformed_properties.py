"""Property tests: random capsule fields never crash the validator, valid tensors always pass.

The capsules come from the test-only C++ producer; the validator only reads a capsule's
fields (never the data), so any value may be written into them safely, with one exception
the strategies avoid: a legacy struct under the versioned name whose data pointer reads as
a plausible version 1.x, which no reader can tell from a versioned tensor (whose fields it
then reads past the end of the smaller legacy struct).

Every test runs twice (fixture ``producer_memory``): with the producer's structs and arrays
on the heap, and with each placed right before a PROT_NONE page, where reading one byte past
a struct faults at once.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optype_dlpack import (
    DLDataType,
    DLDataTypeCode,
    DLDevice,
    DLDeviceType,
    DLPackConsumedError,
    DLPackValidationError,
    DLPackVersion,
    inspect,
    validate,
)

pytestmark = pytest.mark.usefixtures("producer_memory")

int64 = st.integers(-(2**63), 2**63 - 1)
small_extent = st.integers(0, 5)
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def garbage_extents() -> st.SearchStrategy[list[int]]:
    return st.lists(st.one_of(st.integers(-3, 6), int64), max_size=6)


def reads_as_plausible_version(data: int) -> bool:
    """Whether a legacy struct's data word, read as a DLPackVersion, says 1.x with a minor
    below 256: what a legacy struct under the versioned name cannot be told apart from."""
    return data & 0xFFFF_FFFF == 1 and data >> 32 < 256


@st.composite
def any_fields(draw: st.DrawFn) -> dict[str, Any]:
    layout = draw(st.sampled_from(["legacy", "versioned"]))
    fields: dict[str, Any] = {
        "data": draw(st.one_of(st.just(0), st.integers(0, 2**64 - 1), st.just(0x7F00_0000_1000))),
        "device": (draw(st.integers(-(2**31), 2**31 - 1)), draw(st.integers(-(2**31), 2**31 - 1))),
        "shape": draw(st.one_of(st.none(), garbage_extents())),
        "strides": draw(st.one_of(st.none(), st.just(...), garbage_extents())),
        "dtype": (draw(st.integers(0, 255)), draw(st.integers(0, 255)), draw(st.integers(0, 65535))),
        "byte_offset": draw(st.one_of(st.integers(0, 256), st.integers(0, 2**64 - 1))),
        "layout": layout,
        "flags": draw(st.one_of(st.integers(0, 7), st.integers(0, 2**64 - 1))),
    }
    if draw(st.booleans()):
        fields["ndim"] = draw(st.one_of(st.integers(-2, 8), st.integers(-(2**31), 2**31 - 1)))
    if layout == "versioned":
        fields["version"] = (draw(st.integers(0, 3)), draw(st.integers(0, 2**32 - 1)))
        if fields["version"][0] == 1 and draw(st.booleans()):
            fields["name"] = "dltensor"  # the wrong name for this struct
        elif fields["version"][0] != 1 and draw(st.booleans()):
            fields["layout"] = "versioned_header"  # another major: nothing past flags may be read
    elif draw(st.booleans()) and not reads_as_plausible_version(fields["data"]):
        fields["name"] = "dltensor_versioned"  # the legacy struct under the versioned name
    if draw(st.integers(0, 9)) == 0:
        fields["name"] = draw(st.sampled_from(["used_dltensor", "used_dltensor_versioned", "bogus"]))
    return fields


@given(fields=any_fields())
@SETTINGS
def test_random_fields_never_crash(cpp_producer: ModuleType, fields: dict[str, Any]) -> None:
    capsule = cpp_producer.make_capsule(**fields)
    try:
        info = inspect(capsule)
    except DLPackValidationError as error:
        assert error.violations
        assert all(v.rule and v.field and v.expected and v.got for v in error.violations)
        if isinstance(error, DLPackConsumedError):
            assert fields.get("name", "").startswith("used_")
    except TypeError as error:
        assert fields.get("name") == "bogus", error
    else:  # whatever passed is what the capsule says
        assert info.data_ptr == fields["data"]
        assert info.byte_offset == fields["byte_offset"]
        assert info.dtype == DLDataType(DLDataTypeCode(fields["dtype"][0]), *fields["dtype"][1:])
        assert info.size == math.prod(info.shape)


@st.composite
def valid_fields(draw: st.DrawFn) -> dict[str, Any]:
    ndim = draw(st.integers(0, 5))
    shape = draw(st.lists(small_extent, min_size=ndim, max_size=ndim))
    device_type = draw(st.sampled_from(list(DLDeviceType)))
    device_id = 0 if device_type == DLDeviceType.CPU else draw(st.integers(0, 7))
    code = draw(st.sampled_from(list(DLDataTypeCode)))
    bits = {
        DLDataTypeCode.INT: st.sampled_from([1, 4, 8, 16, 32, 64]),
        DLDataTypeCode.UINT: st.sampled_from([1, 2, 8, 16, 32, 64]),
        DLDataTypeCode.FLOAT: st.sampled_from([16, 32, 64, 128]),
        DLDataTypeCode.OPAQUE_HANDLE: st.integers(1, 255),
        DLDataTypeCode.BFLOAT: st.just(16),
        DLDataTypeCode.COMPLEX: st.sampled_from([32, 64, 128]),
        DLDataTypeCode.BOOL: st.just(8),
        DLDataTypeCode.FLOAT6_E2M3FN: st.just(6),
        DLDataTypeCode.FLOAT6_E3M2FN: st.just(6),
        DLDataTypeCode.FLOAT4_E2M1FN: st.just(4),
        DLDataTypeCode.BCOMPLEX: st.just(32),  # DLPack after 1.3: two bfloat16
    }.get(code, st.just(8))
    layout = draw(st.sampled_from(["legacy", "versioned"]))
    version = (1, draw(st.integers(0, 9)))
    strides_null = ndim > 0 and (layout == "legacy" or version[1] < 2) and draw(st.booleans())
    fields: dict[str, Any] = {
        "device": (int(device_type), device_id),
        "shape": shape,
        "strides": None if strides_null else draw(st.lists(st.integers(-6, 6), min_size=ndim, max_size=ndim)),
        "dtype": (int(code), draw(bits), draw(st.sampled_from([1, 1, 1, 2, 4]))),
        "byte_offset": draw(st.integers(0, 1024)),
        "layout": layout,
        "version": version,
        "flags": draw(st.integers(0, 3)) if layout == "versioned" else 0,
        "data": 0 if 0 in shape and draw(st.booleans()) else 0x10_0000_0000,
    }
    return fields


@given(fields=valid_fields())
@SETTINGS
def test_valid_random_tensors_pass(cpp_producer: ModuleType, fields: dict[str, Any]) -> None:
    capsule = cpp_producer.make_capsule(**fields)
    shape = tuple(fields["shape"])
    # the data pointers are made up: the driver (where there is one) is not asked about them
    info = validate(capsule, shape=shape, ndim=len(shape), device=fields["device"], dtype=fields["dtype"],
                    verify_device="skip")
    assert info.device == DLDevice(DLDeviceType(fields["device"][0]), fields["device"][1])
    assert info.shape == shape and info.ndim == len(shape)
    assert info.size == math.prod(shape)
    if fields["strides"] is None:
        expected = [1] * len(shape)
        for axis in range(len(shape) - 2, -1, -1):
            expected[axis] = expected[axis + 1] * max(shape[axis + 1], 1)
        assert info.strides == tuple(expected)
        assert info.is_c_contiguous
    else:
        assert info.strides == tuple(fields["strides"])
    assert info.byte_offset == fields["byte_offset"]
    assert info.data_ptr == fields["data"]
    if fields["layout"] == "legacy":
        assert info.version is None and info.flags == 0
    else:
        assert info.version == DLPackVersion(*fields["version"])
        assert info.flags == fields["flags"]
        assert info.readonly == bool(fields["flags"] & 1)
    element_bits = fields["dtype"][1] * fields["dtype"][2]
    if element_bits < 8:  # packed sub-byte elements
        assert info.nbytes == -(-info.size * element_bits // 8)
    else:
        assert info.nbytes == info.size * -(-element_bits // 8)

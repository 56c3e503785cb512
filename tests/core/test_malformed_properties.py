"""Property tests: random capsule fields never crash the validator, valid tensors always pass.

The field values come from the package's own strategies (optype_dlpack.strategies, which
other projects use on their consumers); the capsules from the test-only C++ producer; the validator only reads a capsule's
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
from optype_dlpack.strategies import capsule_fields, valid_capsule_fields

pytestmark = pytest.mark.usefixtures("producer_memory")

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@given(fields=capsule_fields())
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


@given(fields=valid_capsule_fields())
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

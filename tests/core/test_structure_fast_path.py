"""The one-pass check of the common case agrees with the rule-by-rule diagnosis, value by value.

check_structure (src_cpp/include/optype_dlpack/check.hpp) first tries one pass for a tensor
with strides whose device and dtype are values of DLPack 1.3 (tested as sets of bits built
from the tables at compile time); anything else goes to the rule-by-rule diagnosis. A legacy
capsule may send NULL strides, which the one pass never takes: the same tensor with NULL
strides and with its compact strides written out is diagnosed on the slow path and tried on
the fast one. Both must give the same outcome (the same violations, or the same findings and
description) for every device type and id and every dtype code and width.
"""

from __future__ import annotations

import numpy as np
import pytest

import optype_dlpack as od
from optype_dlpack import DLPackValidationError
from tests.support.ctypes_producer import CtypesProducer
from tests.support.dlpack_h import KDL_CPU

MEMORY = np.zeros(64, dtype=np.uint8)  # room for 4 elements of up to 128 bits


def outcome(capsule: object) -> tuple[object, ...]:
    try:
        info = od.inspect(capsule)
    except DLPackValidationError as error:
        return ("invalid", tuple((v.rule, v.field, v.expected, v.got) for v in error.violations))
    findings = tuple((v.rule, v.field, v.expected, v.got) for v in info.findings)
    return ("valid", info.size, info.nbytes, info.is_c_contiguous, info.is_f_contiguous, findings)


def both_paths(producer: CtypesProducer, device: tuple[int, int], dtype: tuple[int, int, int]) -> tuple[object, object]:
    fields = {"versioned": False, "shape": (4,), "dtype": dtype, "device": device}
    slow = outcome(producer.capsule(MEMORY, strides=None, **fields))
    fast = outcome(producer.capsule(MEMORY, strides=(1,), **fields))
    return slow, fast


@pytest.mark.parametrize("device_id", [-1, 0, 1])
def test_every_device_type_and_id(ctypes_producer: CtypesProducer, device_id: int) -> None:
    for device_type in [*range(-2, 70), 255, 256, 2**31 - 1, -(2**31)]:
        slow, fast = both_paths(ctypes_producer, (device_type, device_id), (2, 32, 1))
        assert fast == slow, (device_type, device_id)


@pytest.mark.parametrize("code", range(41))
def test_every_dtype_code_and_width(ctypes_producer: CtypesProducer, code: int) -> None:
    for bits in range(256):
        for lanes in (1, 0) if bits in (8, 32) else (1,):
            slow, fast = both_paths(ctypes_producer, (KDL_CPU, 0), (code, bits, lanes))
            assert fast == slow, (code, bits, lanes)


def test_codes_beyond_the_sets(ctypes_producer: CtypesProducer) -> None:
    for code in (63, 64, 127, 128, 200, 255):
        for bits in (1, 8, 16, 32, 64, 128, 255):
            slow, fast = both_paths(ctypes_producer, (KDL_CPU, 0), (code, bits, 1))
            assert fast == slow, (code, bits)

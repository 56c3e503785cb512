"""optype.dlpack and optype_dlpack at run time: the protocols accept each other's producers,
the device types agree by value, and the one difference (the name of code 3) is the documented one.

The static half is typetests/test_optype.pyi (run under every checker by test_typetests.py).
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import optype_dlpack as od
from optype_dlpack import CanDLPackDataType
from tests.support.frameworks import needs, optional_import

# A test requirement; only a run that names it in OPTYPE_DLPACK_TEST_SKIP_FRAMEWORKS (a machine
# that cannot install it) goes without, and then these tests skip and say why.
pytestmark = needs("optype")
opd = importlib.import_module("optype.dlpack") if optional_import("optype") is not None else None

PROTOCOL_PAIRS = (
    []
    if opd is None
    else [
        (opd.CanDLPack, od.CanDLPack),
        (opd.CanDLPackCompat, od.CanDLPackCompat),
        (opd.CanDLPackDevice, od.CanDLPackDevice),
    ]
)


@pytest.mark.parametrize(("theirs", "ours"), PROTOCOL_PAIRS, ids=lambda p: getattr(p, "__name__", ""))
def test_a_numpy_array_is_both_packages_producer(theirs: type, ours: type) -> None:
    array = np.empty(0)
    assert isinstance(array, theirs)
    assert isinstance(array, ours)


@pytest.mark.parametrize(("theirs", "ours"), PROTOCOL_PAIRS, ids=lambda p: getattr(p, "__name__", ""))
def test_our_dlpack_object_is_optypes_producer(theirs: type, ours: type) -> None:
    wrapped = od.asdlpack(np.arange(3.0))
    assert isinstance(wrapped, theirs)
    assert isinstance(wrapped, ours)
    assert np.from_dlpack(wrapped).tolist() == [0.0, 1.0, 2.0]


def test_device_types_agree_by_value() -> None:
    for member in opd.DLDeviceType:
        assert od.DLDeviceType(member.value) == member.value
        assert od.DLDeviceType[member.name] is od.DLDeviceType(member.value)


def test_cpu_pinned_is_an_alias_here_and_the_member_name_in_optype() -> None:
    assert od.DLDeviceType.CPU_PINNED is od.DLDeviceType.CUDA_HOST
    assert od.DLDeviceType(3).name == "CUDA_HOST"  # dlpack.h's name since DLPack 0.5
    assert opd.DLDeviceType(3).name == "CPU_PINNED"
    assert od.DLDeviceType.CPU_PINNED == opd.DLDeviceType.CPU_PINNED == 3


def test_a_dtype_with_dlpack_data_type_is_a_can_dlpack_data_type() -> None:
    class Float32:
        def __dlpack_data_type__(self) -> tuple[int, int, int]:
            return (int(od.DLDataTypeCode.FLOAT), 32, 1)

    assert isinstance(Float32(), CanDLPackDataType)
    assert not isinstance(np.dtype("float32"), CanDLPackDataType)

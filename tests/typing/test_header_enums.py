"""The Python enums hold exactly the values compiled into the extension from dlpack.h.

The extension reports every enumerator of the header it was built against (``HEADER_*``) and
its own C++ tables (``KNOWN_*``). Names are matched by a rule, not a hand-written list: a
header name without its prefix and a member name are the same word once underscores are
dropped and case is ignored (``kDLCUDAHost`` ~ ``CUDA_HOST``, ``kDLOpenCL`` ~ ``OPENCL``).

Besides the header's values, the package knows the few that DLPack's main branch defined after
the 1.3 release without a version bump (``AFTER_1_3``): dlpack.h v1.3 lacks them, a newer
header may have them, and either way they are "known beyond the header", never a failure.
"""

from __future__ import annotations

import enum

import pytest

from optype_dlpack import (
    DLPACK_VERSION,
    DLDataTypeCode,
    DLDeviceType,
    DLPackFlags,
    DLPackVersion,
    _core,
)

# The values DLPack defined after 1.3, with the pull requests that added them to dlpack.h
# (dmlc/dlpack#187, #188, #189); the header's main branch still says version 1.3.
AFTER_1_3_DEVICE_TYPES = {"kDLTPU": 19, "kDLTPUHost": 20, "kDLAscend": 21}  # dlpack#188, #188, #189
AFTER_1_3_DTYPE_CODES = {"kDLBcomplex": 18}  # dlpack#187


def _beyond(header: dict[str, int], after_1_3: dict[str, int]) -> dict[str, int]:
    """The values after 1.3 that `header` lacks: those the package knows beyond it."""
    return {name: value for name, value in after_1_3.items() if name not in header}


KNOWN_DEVICE_TYPES = _core.HEADER_DEVICE_TYPES | _beyond(_core.HEADER_DEVICE_TYPES, AFTER_1_3_DEVICE_TYPES)
KNOWN_DTYPE_CODES = _core.HEADER_DTYPE_CODES | _beyond(_core.HEADER_DTYPE_CODES, AFTER_1_3_DTYPE_CODES)

HEADER_TABLES = [
    pytest.param(DLDeviceType, _core.HEADER_DEVICE_TYPES, "kDL", id="DLDeviceType"),
    pytest.param(DLDataTypeCode, _core.HEADER_DTYPE_CODES, "kDL", id="DLDataTypeCode"),
    pytest.param(DLPackFlags, _core.HEADER_FLAGS, "DLPACK_FLAG_BITMASK_", id="DLPackFlags"),
]
# The same enums against every value the package knows: the header's and those after 1.3.
KNOWN_TABLES = [
    pytest.param(DLDeviceType, KNOWN_DEVICE_TYPES, "kDL", id="DLDeviceType"),
    pytest.param(DLDataTypeCode, KNOWN_DTYPE_CODES, "kDL", id="DLDataTypeCode"),
    pytest.param(DLPackFlags, _core.HEADER_FLAGS, "DLPACK_FLAG_BITMASK_", id="DLPackFlags"),
]


def _word(name: str) -> str:
    return name.replace("_", "").upper()


def _header_to_member(enum_type: type[enum.Enum], header: dict[str, int], prefix: str) -> dict[str, str]:
    """Map each header name to the member name that is the same word (both ways unique)."""
    members = {_word(member.name): member.name for member in enum_type}  # canonical members only
    assert len(members) == len(list(enum_type)), "two members normalise to the same word"
    mapping: dict[str, str] = {}
    for header_name in header:
        assert header_name.startswith(prefix), header_name
        word = _word(header_name.removeprefix(prefix))
        assert word in members, f"{header_name} = {header[header_name]} has no member in {enum_type.__name__}"
        mapping[header_name] = members[word]
    return mapping


@pytest.mark.parametrize(("enum_type", "header", "prefix"), HEADER_TABLES)
def test_every_header_enumerator_is_a_member_with_its_value(
    enum_type: type[enum.Enum], header: dict[str, int], prefix: str
) -> None:
    assert header, "the extension reported no enumerators"
    for header_name, member_name in _header_to_member(enum_type, header, prefix).items():
        assert enum_type[member_name].value == header[header_name], (header_name, member_name)


@pytest.mark.parametrize(("enum_type", "known", "prefix"), KNOWN_TABLES)
def test_every_member_is_a_header_enumerator_or_after_1_3(
    enum_type: type[enum.Enum], known: dict[str, int], prefix: str
) -> None:
    mapping = _header_to_member(enum_type, known, prefix)
    for name, member_name in mapping.items():
        assert enum_type[member_name].value == known[name], (name, member_name)
    extra = [member.name for member in enum_type if member.name not in set(mapping.values())]
    assert extra == [], f"{enum_type.__name__} members that neither dlpack.h nor DLPack after 1.3 define: {extra}"
    assert sorted(member.value for member in enum_type) == sorted(known.values())


@pytest.mark.parametrize(
    ("header", "after_1_3"),
    [(_core.HEADER_DEVICE_TYPES, AFTER_1_3_DEVICE_TYPES), (_core.HEADER_DTYPE_CODES, AFTER_1_3_DTYPE_CODES)],
    ids=["DLDeviceType", "DLDataTypeCode"],
)
def test_values_after_1_3_agree_with_a_header_that_has_them(header: dict[str, int], after_1_3: dict[str, int]) -> None:
    # dlpack.h v1.3 has none of them; a header of DLPack's main branch has all, with these values
    assert {name: header[name] for name in after_1_3 if name in header} in ({}, after_1_3)


def test_values_after_1_3_are_named_in_the_enums() -> None:
    assert (DLDeviceType.TPU, DLDeviceType.TPU_HOST, DLDeviceType.ASCEND) == (19, 20, 21)
    assert DLDataTypeCode.BCOMPLEX == 18


def test_cpu_pinned_is_the_only_alias_and_means_cuda_host() -> None:
    aliases = {name for name in DLDeviceType.__members__ if name not in {m.name for m in DLDeviceType}}
    assert aliases == {"CPU_PINNED"}
    assert DLDeviceType.CPU_PINNED is DLDeviceType.CUDA_HOST
    assert DLDeviceType["CPU_PINNED"] is DLDeviceType(3)
    for enum_type in (DLDataTypeCode, DLPackFlags):
        assert list(enum_type.__members__) == [member.name for member in enum_type], enum_type


def test_device_types_skip_the_unassigned_codes() -> None:
    # 5 and 6 were never assigned in dlpack.h; 19-21 came after 1.3
    assert sorted(DLDeviceType) == [1, 2, 3, 4, *range(7, 22)]
    for code in (0, 5, 6, 22):
        with pytest.raises(ValueError, match=f"{code} is not a valid DLDeviceType"):
            DLDeviceType(code)


def test_dtype_codes_are_contiguous() -> None:
    assert [member.value for member in DLDataTypeCode] == list(range(19))  # 18 came after 1.3


def test_flags_are_single_bits() -> None:
    assert [member.value for member in DLPackFlags] == [1, 2, 4]


def test_cpp_device_table_is_the_header_and_the_values_after_1_3() -> None:
    assert _core.KNOWN_DEVICE_TYPES == KNOWN_DEVICE_TYPES


def test_cpp_dtype_table_is_the_header_and_the_values_after_1_3() -> None:
    assert _core.KNOWN_DTYPE_CODES == KNOWN_DTYPE_CODES


def test_dlpack_version_is_the_header_version() -> None:
    assert isinstance(DLPACK_VERSION, DLPackVersion)
    assert DLPACK_VERSION == (1, 3)
    assert (DLPACK_VERSION.major, DLPACK_VERSION.minor) == _core.DLPACK_HEADER_VERSION

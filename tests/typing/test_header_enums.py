"""The Python enums hold exactly the values compiled into the extension from dlpack.h.

The extension reports every enumerator of the header it was built against (``HEADER_*``) and
its own C++ tables (``KNOWN_*``). Names are matched by a rule, not a hand-written list: a
header name without its prefix and a member name are the same word once underscores are
dropped and case is ignored (``kDLCUDAHost`` ~ ``CUDA_HOST``, ``kDLOpenCL`` ~ ``OPENCL``).
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

HEADER_TABLES = [
    pytest.param(DLDeviceType, _core.HEADER_DEVICE_TYPES, "kDL", id="DLDeviceType"),
    pytest.param(DLDataTypeCode, _core.HEADER_DTYPE_CODES, "kDL", id="DLDataTypeCode"),
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


@pytest.mark.parametrize(("enum_type", "header", "prefix"), HEADER_TABLES)
def test_every_member_is_a_header_enumerator(enum_type: type[enum.Enum], header: dict[str, int], prefix: str) -> None:
    mapped = set(_header_to_member(enum_type, header, prefix).values())
    extra = [member.name for member in enum_type if member.name not in mapped]
    assert extra == [], f"{enum_type.__name__} members that dlpack.h does not define: {extra}"
    assert sorted(member.value for member in enum_type) == sorted(header.values())


def test_cpu_pinned_is_the_only_alias_and_means_cuda_host() -> None:
    aliases = {name for name in DLDeviceType.__members__ if name not in {m.name for m in DLDeviceType}}
    assert aliases == {"CPU_PINNED"}
    assert DLDeviceType.CPU_PINNED is DLDeviceType.CUDA_HOST
    assert DLDeviceType["CPU_PINNED"] is DLDeviceType(3)
    for enum_type in (DLDataTypeCode, DLPackFlags):
        assert list(enum_type.__members__) == [member.name for member in enum_type], enum_type


def test_device_types_skip_the_unassigned_codes() -> None:
    # 5 and 6 were never assigned in dlpack.h
    assert sorted(DLDeviceType) == [1, 2, 3, 4, *range(7, 19)]
    for code in (0, 5, 6, 19):
        with pytest.raises(ValueError, match=f"{code} is not a valid DLDeviceType"):
            DLDeviceType(code)


def test_dtype_codes_are_contiguous() -> None:
    assert [member.value for member in DLDataTypeCode] == list(range(18))


def test_flags_are_single_bits() -> None:
    assert [member.value for member in DLPackFlags] == [1, 2, 4]


def test_cpp_device_table_equals_the_header() -> None:
    assert _core.KNOWN_DEVICE_TYPES == _core.HEADER_DEVICE_TYPES


def test_cpp_dtype_table_equals_the_header() -> None:
    assert _core.KNOWN_DTYPE_CODES == _core.HEADER_DTYPE_CODES


def test_dlpack_version_is_the_header_version() -> None:
    assert isinstance(DLPACK_VERSION, DLPackVersion)
    assert DLPACK_VERSION == (1, 3)
    assert (DLPACK_VERSION.major, DLPACK_VERSION.minor) == _core.DLPACK_HEADER_VERSION

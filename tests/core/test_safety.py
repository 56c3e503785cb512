"""The structural checks read only what a capsule's name promises, and follow no pointer
that cannot be an array.

Capsules are built here with ctypes, with exactly the field values a case needs. Cases that
would read past a struct or follow a bad pointer if the checks were wrong run in a child
process: a crash there fails the test instead of ending the test run. Where the point is a
read past the end of a struct, the struct sits at the very end of a readable page followed
by an inaccessible one, so that such a read faults at once.
"""

from __future__ import annotations

import ctypes
import mmap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import optype_dlpack
from optype_dlpack import DLPackValidationError
from tests.support.capsules import new_capsule
from tests.support.child import run_against
from tests.support.dlpack_h import (
    KDL_CPU,
    LEGACY_NAME,
    VERSIONED_NAME,
    DLDataType,
    DLDevice,
    DLManagedTensor,
    DLManagedTensorVersioned,
    DLPackVersion,
    DLTensor,
    as_int64_pointer,
    int64_array,
)

UINT8, INT8, FLOAT32 = (1, 8, 1), (0, 8, 1), (2, 32, 1)

# ---------------------------------------------------------------------------------------
# Capsules with exactly the fields a case needs

assert ctypes.sizeof(DLManagedTensor) == 64 and ctypes.sizeof(DLManagedTensorVersioned) == 80
LEGACY, VERSIONED = LEGACY_NAME, VERSIONED_NAME

_alive: list[object] = []  # every struct, array and page made here lives as long as the process


def int64_array_address(values: tuple[int, ...]) -> int:
    """The address of a fresh int64 array holding `values` (at least one element)."""
    array = int64_array(values)
    _alive.append(array)
    return ctypes.addressof(array)


def fill_tensor(
    tensor: DLTensor,
    *,
    data: int,
    shape: tuple[int, ...] | int | None,
    ndim: int | None = None,
    strides: tuple[int, ...] | int | None = None,
    dtype: tuple[int, int, int] = UINT8,
    device: tuple[int, int] = (KDL_CPU, 0),
    byte_offset: int = 0,
) -> None:
    """Writes the fields. A tuple of extents or strides becomes an array; an int is taken as
    the address itself; None is NULL."""
    tensor.data = data or None
    tensor.device = DLDevice(*device)
    tensor.ndim = ndim if ndim is not None else (len(shape) if isinstance(shape, tuple) else 0)
    tensor.dtype = DLDataType(*dtype)
    # addresses, not arrays: some cases need impossible ones
    tensor.shape = as_int64_pointer(int64_array_address(shape) if isinstance(shape, tuple) else shape)
    tensor.strides = as_int64_pointer(int64_array_address(strides) if isinstance(strides, tuple) else strides)
    tensor.byte_offset = byte_offset


def legacy_capsule(name: bytes = LEGACY, **fields: Any) -> object:
    """A DLManagedTensor (64 bytes) with these fields, under `name`."""
    managed = DLManagedTensor()
    fill_tensor(managed.dl_tensor, **fields)
    _alive.append(managed)
    return new_capsule(ctypes.addressof(managed), name, None)


def versioned_capsule(
    name: bytes = VERSIONED,
    *,
    version: tuple[int, int] = (1, 3),
    flags: int = 0,
    deleter: int = 0,
    **fields: Any,
) -> object:
    """A DLManagedTensorVersioned (80 bytes) with these fields, under `name`."""
    managed = DLManagedTensorVersioned()
    managed.version = DLPackVersion(*version)
    managed.flags = flags
    managed.deleter = deleter or None
    fill_tensor(managed.dl_tensor, **fields)
    _alive.append(managed)
    return new_capsule(ctypes.addressof(managed), name, None)


def legacy_capsule_before_a_guard_page(name: bytes, **fields: Any) -> object:
    """A DLManagedTensor at the very end of a readable page; the next page cannot be read,
    so reading one byte past the struct faults."""
    page = mmap.PAGESIZE
    pages = mmap.mmap(-1, 2 * page)
    start = ctypes.addressof(ctypes.c_char.from_buffer(pages))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    if libc.mprotect(start + page, page, 0) != 0:  # PROT_NONE
        raise OSError(ctypes.get_errno(), "mprotect failed")
    managed = DLManagedTensor.from_address(start + page - ctypes.sizeof(DLManagedTensor))
    fill_tensor(managed.dl_tensor, **fields)
    _alive.append(pages)
    return new_capsule(ctypes.addressof(managed), name, None)


def violations_of(call: Callable[[], object]) -> list[list[str]]:
    """The violations a check raises as [rule, field, expected, got], [] when it passes."""
    try:
        call()
    except DLPackValidationError as error:
        return [list(v) for v in error.violations]
    return []


def rules_of(call: Callable[[], object]) -> list[str]:
    return [v[0] for v in violations_of(call)]


# ---------------------------------------------------------------------------------------
# Cases that crash (or read out of bounds) when a check goes wrong: each runs in a child
# process, which prints the violations of od.inspect and od.validate on its capsule.

# A legacy struct's data pointer, read as a version word: {1, 32512}.
DATA_READ_AS_VERSION_1_32512 = 0x7F00_0000_0001


def case_legacy_scalar_under_versioned_name() -> object:
    """64 bytes under the versioned name, read as version 1.32512 with flags 0; its
    dl_tensor would end 16 bytes past the struct."""
    return legacy_capsule_before_a_guard_page(VERSIONED, data=DATA_READ_AS_VERSION_1_32512, shape=None, ndim=0)


def case_legacy_tensor_under_versioned_name() -> object:
    """The same with a shape array, whose address then lies where flags should be."""
    return legacy_capsule_before_a_guard_page(VERSIONED, data=DATA_READ_AS_VERSION_1_32512, shape=(16,))


def case_empty_byte_tensor_at_0x1_under_versioned_name() -> object:
    """An empty byte tensor at 0x1 (where Rust producers put them) under the versioned name:
    its data word reads as version 1.0, a plausible version; its shape pointer is flags."""
    return legacy_capsule_before_a_guard_page(VERSIONED, data=0x1, shape=(0,))


def case_shape_in_the_first_page() -> object:
    return legacy_capsule(data=0x10000, shape=0x8, ndim=1)


def case_bad_dtype_and_shape_in_the_first_page() -> object:
    return legacy_capsule(data=0x10000, shape=0x8, ndim=1, dtype=(2, 31, 1))


def case_strides_in_the_first_page() -> object:
    return legacy_capsule(data=0x10000, shape=(4,), strides=0x10)


def case_versioned_struct_under_legacy_name_with_a_shape_at_0x1() -> object:
    """80 bytes under the legacy name: READ_ONLY flags (1) then lie where shape should be,
    and a deleter word that reads as ndim 2, uint8."""
    deleter_read_as_ndim_2_uint8 = (1 << 48) | (8 << 40) | (1 << 32) | 2
    return versioned_capsule(
        LEGACY, flags=1, deleter=deleter_read_as_ndim_2_uint8, data=0x10000, shape=(4,), strides=(1,)
    )


def violations_in_child(case: str, tmp_path: Path) -> list[list[str]]:
    """The violations of inspect and validate on the capsule `case` makes, in a child process."""
    result = run_against(
        __file__,
        f"""
        capsule = t.{case}()
        result["inspect"] = t.violations_of(lambda: t.optype_dlpack.inspect(capsule))
        result["validate"] = t.violations_of(lambda: t.optype_dlpack.validate(capsule, dtype="uint8"))
        """,
        cwd=tmp_path,  # never the source tree: the package on the path is under test
    )
    assert result["inspect"] == result["validate"]  # the same rules stop both before any constraint
    violations: list[list[str]] = result["inspect"]
    return violations


def test_legacy_struct_under_versioned_name_with_an_implausible_minor(tmp_path: Path) -> None:
    violations = violations_in_child("case_legacy_scalar_under_versioned_name", tmp_path)
    assert [v[0] for v in violations] == ["capsule.layout"]
    assert "version word of 1.32512" in violations[0][3]


def test_legacy_struct_under_versioned_name_with_a_shape_array(tmp_path: Path) -> None:
    violations = violations_in_child("case_legacy_tensor_under_versioned_name", tmp_path)
    assert [v[0] for v in violations] == ["capsule.layout"]


def test_legacy_struct_under_versioned_name_whose_flags_are_an_address(tmp_path: Path) -> None:
    violations = violations_in_child("case_empty_byte_tensor_at_0x1_under_versioned_name", tmp_path)
    assert [v[0] for v in violations] == ["capsule.layout"]
    assert "read as an address" in violations[0][3]


def test_shape_pointer_in_the_first_page_is_never_followed(tmp_path: Path) -> None:
    violations = violations_in_child("case_shape_in_the_first_page", tmp_path)
    assert violations == [
        [
            "shape.address",
            "shape",
            "the address of 1 int64 extents (past the first page, 8-byte aligned)",
            "0x8",
        ]
    ]


def test_strides_pointer_in_the_first_page_is_never_followed(tmp_path: Path) -> None:
    violations = violations_in_child("case_strides_in_the_first_page", tmp_path)
    assert [v[0] for v in violations] == ["strides.address"]
    assert violations[0][3] == "0x10"


def test_versioned_struct_under_legacy_name_is_explained_not_followed(tmp_path: Path) -> None:
    violations = violations_in_child("case_versioned_struct_under_legacy_name_with_a_shape_at_0x1", tmp_path)
    assert [v[0] for v in violations] == ["capsule.layout"]
    assert "version 1.3" in violations[0][3]


# ---------------------------------------------------------------------------------------
# Well-formed capsules whose data pointer reads like a version word: never rejected.


def test_empty_byte_tensor_at_0x1_is_valid() -> None:
    capsule = legacy_capsule(data=0x1, shape=(0,))
    info = optype_dlpack.validate(capsule, dtype="uint8", shape=(0,))
    assert (info.data_ptr, info.shape, info.size, info.nbytes) == (0x1, (0,), 0, 0)
    assert info.version is None


def test_buffer_at_0x20_0000_0001_is_valid() -> None:
    # The validator never reads the data of a CPU tensor, so the address need not be mapped.
    capsule = legacy_capsule(data=0x20_0000_0001, shape=(4, 4), strides=(4, 1))
    info = optype_dlpack.inspect(capsule)
    assert (info.data_ptr, info.shape, info.strides, info.nbytes) == (0x20_0000_0001, (4, 4), (4, 1), 16)
    assert info.is_c_contiguous


def test_versioned_tensor_at_0x1_is_valid() -> None:
    info = optype_dlpack.inspect(versioned_capsule(data=0x1, shape=(0, 3), strides=(3, 1)))
    assert (info.data_ptr, info.shape, info.version) == (0x1, (0, 3), (1, 3))


def test_misnamed_versioned_struct_is_still_explained() -> None:
    """An 80-byte struct under the legacy name: its deleter (NULL here) reads as ndim 0 and
    lanes 0, which no tensor may have, and its version word as data."""
    capsule = versioned_capsule(LEGACY, data=0x10000, shape=(4,), strides=(1,))
    assert rules_of(lambda: optype_dlpack.inspect(capsule)) == ["capsule.layout"]


def test_real_tensor_with_a_version_like_data_word_keeps_its_own_rules() -> None:
    """A broken legacy tensor whose data is 0x1 is reported for what is broken, not as a
    misnamed struct: its lanes are fine and its arrays are real."""
    capsule = legacy_capsule(data=0x1, shape=(2,), strides=(1,), device=(KDL_CPU, 1))
    assert rules_of(lambda: optype_dlpack.inspect(capsule)) == ["device.cpu_id"]


# ---------------------------------------------------------------------------------------
# Implausible shape and strides addresses.


def test_misaligned_shape_and_strides_are_rejected() -> None:
    extents = int64_array_address((4, 4, 4))
    capsule = legacy_capsule(data=0x10000, shape=extents + 4, ndim=2, strides=extents + 2)
    violations = violations_of(lambda: optype_dlpack.inspect(capsule))
    assert [v[0] for v in violations] == ["shape.address", "strides.address"]
    assert violations[0][3] == hex(extents + 4)
    assert violations[1][2] == "the address of 2 int64 strides (past the first page, 8-byte aligned)"


def test_null_shape_keeps_its_own_rule() -> None:
    capsule = legacy_capsule(data=0x10000, shape=None, ndim=2)
    assert rules_of(lambda: optype_dlpack.inspect(capsule)) == ["shape.null"]


def test_scalars_never_read_shape_or_strides() -> None:
    capsule = legacy_capsule(data=0x10000, shape=0x8, strides=0x3, ndim=0, dtype=FLOAT32)
    info = optype_dlpack.inspect(capsule)
    assert (info.shape, info.strides, info.size) == ((), (), 1)


def test_other_rules_are_reported_with_the_address_rules(tmp_path: Path) -> None:
    violations = violations_in_child("case_bad_dtype_and_shape_in_the_first_page", tmp_path)
    assert [v[0] for v in violations] == ["dtype.bits", "shape.address"]


# ---------------------------------------------------------------------------------------
# Implied strides (NULL strides, legal before DLPack 1.2) of empty tensors.


@pytest.mark.parametrize(
    ("shape", "strides"),
    [
        ((0, 3, 4), (12, 4, 1)),  # compact row-major, an extent of 0 counted as 1
        ((3, 0, 4), (4, 4, 1)),
        ((0, 2**31, 2**31), (2**62, 2**31, 1)),  # the largest that still fit
        ((0, 3, 2**62), (0, 2**62, 1)),  # 3 * 2**62 does not fit: 0, the fitting ones exact
        ((0, 2**40, 2**40), (0, 2**40, 1)),
        ((2**62, 0, 4, 2**62), (0, 0, 2**62, 1)),
    ],
)
@pytest.mark.parametrize("versioned", [False, True])
def test_implied_strides_of_empty_tensors(shape: tuple[int, ...], strides: tuple[int, ...], versioned: bool) -> None:
    if versioned:
        capsule = versioned_capsule(version=(1, 1), data=0, shape=shape, strides=None, dtype=INT8)
    else:
        capsule = legacy_capsule(data=0, shape=shape, strides=None, dtype=INT8)
    info = optype_dlpack.inspect(capsule)
    assert (info.shape, info.strides, info.size, info.nbytes) == (shape, strides, 0, 0)
    assert info.is_c_contiguous and info.is_f_contiguous


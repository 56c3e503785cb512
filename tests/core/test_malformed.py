"""Malformed capsules and misbehaving producers, from the test-only C++ producer.

Each case breaks one rule (or a few at once) of DLPack 1.3 and must raise the documented
exception with the rule's id, never crash, and leave the tensor to be freed exactly once:
the validator never consumes what it reads, so the capsule's own destructor runs the
producer's deleter when the capsule dies.

Every test runs twice (fixture ``producer_memory``): with the producer's structs and arrays
on the heap, and with each placed right before a PROT_NONE page, where reading one byte past
a struct faults at once.
"""

from __future__ import annotations

import ast
import ctypes
import gc
import mmap
import os
import signal
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from optype_dlpack import (
    DLDataType,
    DLDataTypeCode,
    DLDevice,
    DLDeviceType,
    DLPackConsumedError,
    DLPackFlags,
    DLPackValidationError,
    DLPackVersion,
    DLPackVersionError,
    Expect,
    from_dlpack,
    inspect,
    validate,
)
from tests.support.capsules import capsule_pointer
from tests.support.child import run_python

pytestmark = pytest.mark.usefixtures("producer_memory")

CODE = DLDataTypeCode
INT64_MAX = 2**63 - 1
# A plausible heap address that no case dereferences: only the capsule's fields are read.
FAR = 0x7F00_1234_5000

# (id, make_capsule keyword arguments, exception, rule ids in report order)
CASES: list[tuple[str, dict[str, Any], type[Exception], tuple[str, ...]]] = [
    # --- the capsule: name, layout, version
    ("versioned struct named dltensor", {"name": "dltensor"}, DLPackValidationError, ("capsule.layout",)),
    (
        "legacy struct named dltensor_versioned",
        {"layout": "legacy", "name": "dltensor_versioned", "data": FAR, "allocate": False},
        DLPackValidationError,
        ("capsule.layout",),
    ),
    # major != 1: nothing after flags is read, so the NULL shape goes unreported
    ("major 0", {"version": (0, 8), "shape": None, "ndim": 3, "allocate": False}, DLPackVersionError, ("version.major",)),
    ("major 2", {"version": (2, 0), "shape": None, "ndim": 3, "allocate": False}, DLPackVersionError, ("version.major",)),
    ("major 255", {"version": (255, 255), "dtype": (99, 0, 0)}, DLPackVersionError, ("version.major",)),
    # a struct of another major may end right after flags: nothing past them may be read
    ("major 2, struct ends after flags", {"layout": "versioned_header", "version": (2, 0)}, DLPackVersionError,
     ("version.major",)),
    ("major 0, struct ends after flags", {"layout": "versioned_header", "version": (0, 1), "flags": 8},
     DLPackVersionError, ("version.major",)),
    # used_* capsules are not read at all: the NULL shape goes unreported
    (
        "used_dltensor",
        {"layout": "legacy", "name": "used_dltensor", "shape": None, "ndim": 3, "allocate": False},
        DLPackConsumedError,
        ("capsule.consumed",),
    ),
    (
        "used_dltensor_versioned",
        {"name": "used_dltensor_versioned", "shape": None, "ndim": 3, "allocate": False},
        DLPackConsumedError,
        ("capsule.consumed",),
    ),
    ("capsule named bogus", {"name": "bogus"}, TypeError, ()),
    ("capsule named dlpack_exchange_api", {"name": "dlpack_exchange_api"}, TypeError, ()),
    ("capsule named numpy_dltensor", {"name": "numpy_dltensor"}, TypeError, ()),
    ("capsule named DLTENSOR", {"layout": "legacy", "name": "DLTENSOR"}, TypeError, ()),
    ("capsule named empty string", {"name": ""}, TypeError, ()),
    # --- flags
    ("unknown flag bit 3", {"flags": 8}, DLPackValidationError, ("flags.unknown",)),
    ("unknown flag bit 63", {"flags": 1 << 63}, DLPackValidationError, ("flags.unknown",)),
    ("known flags plus unknown", {"flags": 1 | 2 | 16}, DLPackValidationError, ("flags.unknown",)),
    ("padded flag on float32", {"flags": 4}, DLPackValidationError, ("flags.subbyte_padded",)),
    (
        "padded flag on fp4 pairs",
        {"flags": 4, "dtype": (CODE.FLOAT4_E2M1FN, 4, 2)},
        DLPackValidationError,
        ("flags.subbyte_padded",),
    ),
    # --- device
    # device types past those the package knows (1-4, 7-21) are findings only in a 1.3+ capsule
    ("device type 22 in a legacy capsule", {"layout": "legacy", "device": (22, 0)}, DLPackValidationError,
     ("device.type",)),
    ("device type 22 in a 1.2 capsule", {"device": (22, 0), "version": (1, 2)}, DLPackValidationError,
     ("device.type",)),
    ("device type 256 (past any plausible code)", {"device": (256, 0)}, DLPackValidationError, ("device.type",)),
    ("device type 0", {"device": (0, 0)}, DLPackValidationError, ("device.type",)),
    ("device type 5 (never assigned)", {"device": (5, 0)}, DLPackValidationError, ("device.type",)),
    ("device type 6 (never assigned)", {"device": (6, 0)}, DLPackValidationError, ("device.type",)),
    ("device type -1", {"device": (-1, 0)}, DLPackValidationError, ("device.type",)),
    ("negative device id", {"device": (2, -1)}, DLPackValidationError, ("device.id",)),
    ("cpu with id 1", {"device": (1, 1)}, DLPackValidationError, ("device.cpu_id",)),
    ("cpu with negative id", {"device": (1, -3)}, DLPackValidationError, ("device.id",)),
    ("unknown type, negative id", {"layout": "legacy", "device": (99, -1)}, DLPackValidationError,
     ("device.type", "device.id")),
    # --- dtype (the bits rules have their own table below)
    ("lanes 0", {"dtype": (CODE.FLOAT, 32, 0)}, DLPackValidationError, ("dtype.lanes",)),
    ("bcomplex of 8 bits", {"dtype": (CODE.BCOMPLEX, 8, 1)}, DLPackValidationError, ("dtype.bits",)),
    ("unknown code 19 in a legacy capsule", {"layout": "legacy", "dtype": (19, 8, 1)}, DLPackValidationError,
     ("dtype.code",)),
    ("unknown code 255 in a 1.2 capsule", {"dtype": (255, 32, 1), "version": (1, 2)}, DLPackValidationError,
     ("dtype.code",)),
    ("unknown code 30 of 0 bits in a 1.3 capsule", {"dtype": (30, 0, 1)}, DLPackValidationError, ("dtype.bits",)),
    ("bad bits and lanes 0", {"dtype": (CODE.BOOL, 1, 0)}, DLPackValidationError, ("dtype.bits", "dtype.lanes")),
    # --- ndim, shape, strides
    ("ndim -1", {"ndim": -1}, DLPackValidationError, ("ndim.negative",)),
    ("ndim int32 min", {"ndim": -(2**31)}, DLPackValidationError, ("ndim.negative",)),
    ("ndim 1025", {"ndim": 1025}, DLPackValidationError, ("ndim.too_large",)),
    ("ndim int32 max", {"shape": None, "ndim": 2**31 - 1, "allocate": False}, DLPackValidationError, ("ndim.too_large",)),
    ("NULL shape", {"shape": None, "ndim": 2, "allocate": False, "data": FAR}, DLPackValidationError, ("shape.null",)),
    ("negative extent", {"shape": [2, -1], "allocate": False, "data": FAR}, DLPackValidationError, ("shape.negative",)),
    (
        "two negative extents",
        {"shape": [-1, 3, -2], "allocate": False, "data": FAR},
        DLPackValidationError,
        ("shape.negative", "shape.negative"),
    ),
    ("NULL strides in 1.2", {"strides": None, "version": (1, 2)}, DLPackValidationError, ("strides.null_since_1_2",)),
    ("NULL strides in 1.3", {"strides": None, "version": (1, 3)}, DLPackValidationError, ("strides.null_since_1_2",)),
    ("NULL strides in 1.9", {"strides": None, "version": (1, 9)}, DLPackValidationError, ("strides.null_since_1_2",)),
    # --- overflow
    (
        "element count overflows",
        {"shape": [2**32, 2**32], "allocate": False, "data": FAR},
        DLPackValidationError,
        ("size.overflow",),
    ),
    (
        "element count overflows (NULL strides)",
        {"shape": [2**62, 4], "strides": None, "version": (1, 1), "allocate": False, "data": FAR},
        DLPackValidationError,
        ("size.overflow",),
    ),
    (
        "stride offset overflows",
        {"shape": [3, 2], "strides": [2**62, 1], "allocate": False, "data": FAR},
        DLPackValidationError,
        ("extent.overflow",),
    ),
    (
        "negative stride offset reaches int64 min",
        {"shape": [3], "strides": [-(2**62)], "allocate": False, "data": FAR},
        DLPackValidationError,
        ("extent.overflow",),
    ),
    (
        "byte extent overflows",
        {"shape": [2**61], "dtype": (CODE.FLOAT, 64, 1), "allocate": False, "data": FAR},
        DLPackValidationError,
        ("extent.overflow",),
    ),
    (
        "byte_offset plus extent overflows",
        {"shape": [4], "byte_offset": INT64_MAX - 8, "allocate": False, "data": FAR},
        DLPackValidationError,
        ("extent.overflow",),
    ),
    ("byte_offset 2**63", {"byte_offset": 2**63, "data": FAR, "allocate": False}, DLPackValidationError, ("byte_offset.overflow",)),
    ("byte_offset 2**64-1", {"byte_offset": 2**64 - 1, "data": FAR, "allocate": False}, DLPackValidationError, ("byte_offset.overflow",)),
    (
        "addresses wrap past the top",
        {"shape": [4], "data": 2**64 - 8, "allocate": False},
        DLPackValidationError,
        ("extent.address",),
    ),
    (
        "addresses wrap below zero",
        {"shape": [100], "strides": [-1], "data": 16, "allocate": False},
        DLPackValidationError,
        ("extent.address",),
    ),
    # --- data
    ("NULL data with elements", {"shape": [2, 3], "allocate": False}, DLPackValidationError, ("data.null",)),
    ("NULL data, 0-d", {"shape": [], "allocate": False}, DLPackValidationError, ("data.null",)),
    (
        "NULL data, legacy",
        {"shape": [4], "layout": "legacy", "allocate": False},
        DLPackValidationError,
        ("data.null",),
    ),
    # --- several at once: every rule that can be known is reported
    (
        "many violations",
        {"device": (256, 0), "dtype": (CODE.BFLOAT, 32, 1), "flags": 8, "shape": [2], "allocate": False},
        DLPackValidationError,
        ("flags.unknown", "device.type", "dtype.bits", "data.null"),
    ),
    (
        "NULL strides in 1.3 and NULL data",
        {"strides": None, "shape": [2, 2], "allocate": False},
        DLPackValidationError,
        ("strides.null_since_1_2", "data.null"),
    ),
]


def make(cpp_producer: ModuleType, kwargs: dict[str, Any]) -> object:
    arguments: dict[str, Any] = {"shape": [2, 3], "allocate": True}
    arguments.update(kwargs)
    return cpp_producer.make_capsule(**arguments)


def assert_fails(capsule: object, error: type[Exception], rules: tuple[str, ...]) -> None:
    with pytest.raises(error) as excinfo:
        inspect(capsule)
    if isinstance(excinfo.value, DLPackValidationError):
        assert excinfo.value.rules == rules
        assert str(excinfo.value).count("\n  ") == len(rules)  # one message line per violation
        for violation in excinfo.value.violations:
            assert violation.field and violation.expected and violation.got
    else:
        assert rules == ()
        assert type(excinfo.value) is error
        assert "capsule named" in str(excinfo.value)


@pytest.mark.parametrize(("kwargs", "error", "rules"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_capsule(tensors_freed: ModuleType, kwargs: dict[str, Any], error: type[Exception],
                           rules: tuple[str, ...]) -> None:
    capsule = make(tensors_freed, kwargs)
    assert_fails(capsule, error, rules)
    assert_fails(capsule, error, rules)  # reading twice reads the same: nothing was consumed
    # the same through validate(), Expect.validate() and Expect.check()
    for check in (lambda: validate(capsule, ndim=None), lambda: Expect().validate(capsule),
                  lambda: Expect(dtype="float32").check(capsule)):
        with pytest.raises(error):
            check()
    assert tensors_freed.deleter_calls() == 0
    del capsule, check
    gc.collect()  # the tracebacks kept above hold reference cycles
    assert tensors_freed.deleter_calls() == 1  # the capsule's destructor, exactly once


# Every dtype-bits rule: (code, bits) pairs DLPack 1.3 forbids.
BAD_BITS = [
    (CODE.INT, 0), (CODE.INT, 9), (CODE.INT, 12), (CODE.INT, 24), (CODE.INT, 48), (CODE.INT, 255),
    (CODE.UINT, 0), (CODE.UINT, 10), (CODE.UINT, 33),
    (CODE.FLOAT, 0), (CODE.FLOAT, 8), (CODE.FLOAT, 24), (CODE.FLOAT, 80),
    (CODE.OPAQUE_HANDLE, 0),
    (CODE.BFLOAT, 8), (CODE.BFLOAT, 32),
    (CODE.COMPLEX, 8), (CODE.COMPLEX, 16), (CODE.COMPLEX, 96),
    (CODE.BOOL, 1), (CODE.BOOL, 16),
    *((CODE(code), bits) for code in range(CODE.FLOAT8_E3M4, CODE.FLOAT8_E8M0FNU + 1) for bits in (4, 16)),
    (CODE.FLOAT6_E2M3FN, 8), (CODE.FLOAT6_E2M3FN, 4),
    (CODE.FLOAT6_E3M2FN, 8), (CODE.FLOAT6_E3M2FN, 5),
    (CODE.FLOAT4_E2M1FN, 8), (CODE.FLOAT4_E2M1FN, 6),
]  # fmt: skip

GOOD_BITS = [
    *((CODE.INT, bits) for bits in (1, 2, 3, 4, 5, 6, 7, 8, 16, 32, 64, 128)),
    *((CODE.UINT, bits) for bits in (1, 4, 8, 16, 32, 64, 128)),
    *((CODE.FLOAT, bits) for bits in (16, 32, 64, 128)),
    (CODE.OPAQUE_HANDLE, 1), (CODE.OPAQUE_HANDLE, 64),
    (CODE.BFLOAT, 16),
    (CODE.COMPLEX, 32), (CODE.COMPLEX, 64), (CODE.COMPLEX, 128),
    (CODE.BOOL, 8),
    *((CODE(code), 8) for code in range(CODE.FLOAT8_E3M4, CODE.FLOAT8_E8M0FNU + 1)),
    (CODE.FLOAT6_E2M3FN, 6), (CODE.FLOAT6_E3M2FN, 6), (CODE.FLOAT4_E2M1FN, 4),
]  # fmt: skip


@pytest.mark.parametrize(("code", "bits"), BAD_BITS, ids=[f"{c.name}-{b}" for c, b in BAD_BITS])
def test_dtype_bits_rules(tensors_freed: ModuleType, code: DLDataTypeCode, bits: int) -> None:
    capsule = make(tensors_freed, {"dtype": (code, bits, 1)})
    with pytest.raises(DLPackValidationError) as excinfo:
        inspect(capsule)
    (violation,) = excinfo.value.violations
    assert violation.rule == "dtype.bits"
    assert violation.field == "dtype.bits"
    assert violation.got == str(bits)
    assert "kDL" in violation.expected
    del capsule, excinfo
    gc.collect()
    assert tensors_freed.deleter_calls() == 1


@pytest.mark.parametrize(("code", "bits"), GOOD_BITS, ids=[f"{c.name}-{b}" for c, b in GOOD_BITS])
def test_dtype_bits_valid(tensors_freed: ModuleType, code: DLDataTypeCode, bits: int) -> None:
    capsule = make(tensors_freed, {"dtype": (code, bits, 1), "shape": [3, 5]})
    info = inspect(capsule)
    assert info.dtype == DLDataType(code, bits, 1)
    # sub-byte elements are packed unless the producer says they are padded
    assert info.nbytes == -(-15 * bits // 8)
    del capsule
    assert tensors_freed.deleter_calls() == 1


# ---------------------------------------------------------------------------------------
# Legal corners the validator must accept


def test_null_strides_before_1_2_and_in_legacy(tensors_freed: ModuleType) -> None:
    for layout, version in (("legacy", (0, 0)), ("versioned", (1, 0)), ("versioned", (1, 1))):
        capsule = make(tensors_freed, {"strides": None, "layout": layout, "version": version, "shape": [2, 3, 4]})
        info = inspect(capsule)
        assert info.strides == (12, 4, 1)  # compact row-major, filled in
        assert info.is_c_contiguous and not info.is_f_contiguous
    assert tensors_freed.deleter_calls() == 2  # the third capsule is still alive here


def test_zero_d_with_null_shape_and_strides(tensors_freed: ModuleType) -> None:
    info = inspect(make(tensors_freed, {"shape": None, "strides": None, "ndim": 0}))
    assert (info.shape, info.strides, info.size, info.nbytes) == ((), (), 1, 4)


def test_empty_tensors_may_have_null_data(tensors_freed: ModuleType) -> None:
    for shape in ([0], [3, 0], [0, 0, 5]):
        info = inspect(make(tensors_freed, {"shape": shape, "allocate": False}))
        assert info.data_ptr == 0 and info.size == 0 and info.nbytes == 0
        info = inspect(make(tensors_freed, {"shape": shape, "data": FAR, "allocate": False}))
        assert info.data_ptr == FAR


def test_strides_of_empty_tensors_are_not_checked(tensors_freed: ModuleType) -> None:
    info = inspect(make(tensors_freed, {"shape": [0, 3], "strides": [2**62, -(2**62)], "allocate": False}))
    assert info.strides == (2**62, -(2**62))


def test_newer_minor_versions_are_read(tensors_freed: ModuleType) -> None:
    info = inspect(make(tensors_freed, {"version": (1, 7)}))
    assert info.version == DLPackVersion(1, 7)


def test_flags_are_reported(tensors_freed: ModuleType) -> None:
    info = inspect(make(tensors_freed, {"flags": 3}))
    assert info.flags == DLPackFlags.READ_ONLY | DLPackFlags.IS_COPIED
    assert info.readonly
    padded = inspect(make(tensors_freed, {"flags": 4, "dtype": (CODE.FLOAT4_E2M1FN, 4, 1), "shape": [5]}))
    assert padded.flags == DLPackFlags.IS_SUBBYTE_TYPE_PADDED
    assert padded.nbytes == 5  # one byte per padded element
    packed = inspect(make(tensors_freed, {"dtype": (CODE.FLOAT4_E2M1FN, 4, 1), "shape": [5]}))
    assert packed.nbytes == 3


def test_geometry_of_odd_strides(tensors_freed: ModuleType) -> None:
    info = inspect(make(tensors_freed, {"shape": [3, 4], "strides": [-4, 0], "byte_offset": 64}))
    assert info.strides == (-4, 0) and info.byte_offset == 64
    assert not info.is_c_contiguous and not info.is_f_contiguous
    vector = inspect(make(tensors_freed, {"dtype": (CODE.FLOAT, 32, 4), "shape": [2]}))
    assert str(vector.dtype) == "float32x4" and vector.nbytes == 32
    wide = inspect(make(tensors_freed, {"shape": [1] * 1024}))
    assert wide.ndim == 1024 and wide.size == 1


def test_devices_not_asked_about_are_unverified(tensors_freed: ModuleType) -> None:
    # device memory described by a capsule: structurally valid, never dereferenced; the
    # driver (when there is one) is not asked, so nothing is verified
    for device in ((2, 0), (2, 3), (3, 0), (10, 1), (13, 0), (18, 0)):
        capsule = make(tensors_freed, {"device": device, "data": FAR, "allocate": False})
        info = validate(capsule, verify_device="skip")
        assert info.device == DLDevice(DLDeviceType(device[0]), device[1])
        assert info.device_verified is None


def test_null_deleter(tensors_freed: ModuleType) -> None:
    capsule = make(tensors_freed, {"null_deleter": True})
    assert inspect(capsule).shape == (2, 3)
    del capsule
    assert tensors_freed.deleter_calls() == 0  # nothing to call; the producer freed it itself


def test_owner_is_kept_alive_until_the_deleter(tensors_freed: ModuleType) -> None:
    class Owner:
        pass

    owner = Owner()
    capsule = make(tensors_freed, {"owner": owner})
    refs = sys.getrefcount(owner)
    inspect(capsule)
    assert sys.getrefcount(owner) == refs
    del capsule
    assert sys.getrefcount(owner) == refs - 1


# ---------------------------------------------------------------------------------------
# The producer's two memory modes


def protection_at(address: int) -> str:
    """The permissions ("rw-p", "---p", ...) of the mapping that holds `address`."""
    with open("/proc/self/maps", encoding="ascii") as maps:
        for line in maps:
            span, permissions = line.split()[:2]
            low, high = (int(bound, 16) for bound in span.split("-"))
            if low <= address < high:
                return permissions
    return "unmapped"


def word_at(address: int) -> int:
    return ctypes.c_uint64.from_address(address).value


@pytest.mark.parametrize(("layout", "struct_size", "dl_tensor_offset"),
                         [("legacy", 64, 0), ("versioned", 80, 32), ("versioned_header", 32, None)],
                         ids=["legacy", "versioned", "versioned_header"])
def test_what_the_producer_hands_out_ends_at_a_guard_page(tensors_freed: ModuleType, producer_memory: str,
                                                           layout: str, struct_size: int,
                                                           dl_tensor_offset: int | None) -> None:
    guarded = producer_memory == "guard_pages"
    assert tensors_freed.guard_pages() == guarded
    capsule = make(tensors_freed, {"layout": layout, "shape": [2, 3]})
    managed = capsule_pointer(capsule)
    pieces = {"struct": (managed, struct_size)}
    if dl_tensor_offset is not None:  # DLTensor: data at +0, shape at +24, strides at +32
        tensor = managed + dl_tensor_offset
        pieces |= {"data": (word_at(tensor), 2 * 3 * 4), "shape": (word_at(tensor + 24), 2 * 8),
                   "strides": (word_at(tensor + 32), 2 * 8)}
    for piece, (start, size) in pieces.items():
        assert protection_at(start + size - 1).startswith("rw"), piece
        if guarded:  # the very next byte is no longer readable
            assert protection_at(start + size) == "---p", piece
    del capsule
    assert tensors_freed.deleter_calls() == 1
    if guarded:  # the deleter unmapped them
        assert all(protection_at(start) == "unmapped" for start, _ in pieces.values())


# ---------------------------------------------------------------------------------------
# Words that look like something else, and extents whose products do not fit. Cases that a
# broken reader answers with a stray read (a fault under guard pages) or with undefined
# behaviour (an abort under UBSan) run in a child process: a fault fails that test instead
# of ending the test session.

# The data word of a legacy tensor where a versioned reader expects its version: read as
# {major, minor} it says {1, 32512}; as a pointer it is 0x7F00_0000_0001, the start of a
# uint8 tensor (an odd address is legal for one-byte elements).
READS_AS_VERSION_1_32512 = (32512 << 32) | 1
UINT8 = (int(CODE.UINT), 8, 1)  # plain ints: the child process reads the arguments back with literal_eval

CHILD_SCRIPT = """
import ast, gc, importlib.util, sys

path, memory, action = sys.argv[1:4]
kwargs = ast.literal_eval(sys.argv[4])
spec = importlib.util.spec_from_file_location("dlpack_test_producer", path)
cpp_producer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cpp_producer)
cpp_producer.set_guard_pages(memory == "guard_pages")
import optype_dlpack


def outcome():
    capsule = cpp_producer.make_capsule(**kwargs)
    try:
        if action == "from_dlpack":
            array = optype_dlpack.from_dlpack(capsule)
            return {"shape": array.shape, "strides": array.strides}
        info = optype_dlpack.inspect(capsule)
        return {"shape": info.shape, "strides": info.strides, "size": info.size, "nbytes": info.nbytes,
                "data_ptr": info.data_ptr}
    except Exception as error:
        return {"errors": [cls.__name__ for cls in type(error).__mro__], "message": str(error),
                "rules": list(getattr(error, "rules", ())),
                "fields": [violation.field for violation in getattr(error, "violations", ())]}


result = outcome()
gc.collect()
result["deleter_calls"] = cpp_producer.deleter_calls()
print(repr(result))
"""


def in_child(cpp_producer: ModuleType, memory: str, action: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """What `action` ("inspect" or "from_dlpack") does with the capsule make_capsule(**kwargs),
    in a child process with the producer's memory placed as `memory` says."""
    arguments = (cpp_producer.__file__, memory, action, repr(kwargs))
    result = run_python("-X", "faulthandler", "-c", CHILD_SCRIPT, *arguments, timeout=300)
    if result.returncode != 0:
        code = result.returncode
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
        pytest.fail(f"{action} of make_capsule(**{kwargs}) ended the process ({how}):\n{result.stderr[-6000:]}",
                    pytrace=False)
    outcome: dict[str, Any] = ast.literal_eval(result.stdout.splitlines()[-1])
    return outcome


def test_legacy_struct_whose_data_word_reads_as_version_1_x(cpp_producer: ModuleType, producer_memory: str) -> None:
    # A 64-byte DLManagedTensor under the versioned name. A versioned dl_tensor would end 16
    # bytes past it, so none of it may be read; the name and the struct disagree.
    kwargs = {"layout": "legacy", "name": "dltensor_versioned", "data": READS_AS_VERSION_1_32512,
              "shape": [2, 3], "dtype": UINT8}
    for action in ("inspect", "from_dlpack"):
        outcome = in_child(cpp_producer, producer_memory, action, kwargs)
        assert "DLPackValidationError" in outcome.get("errors", ()), outcome
        assert (outcome["rules"], outcome["fields"]) == (["capsule.layout"], ["capsule"]), outcome["message"]
        assert outcome["deleter_calls"] == 1


@pytest.mark.parametrize("layout", ["legacy", "versioned"])
@pytest.mark.parametrize("shape", [[0, 2**62, 4], [0, 2**62, 3]], ids=["0-by-huge-by-4", "0-by-huge-by-3"])
def test_empty_tensor_with_null_strides_and_huge_extents(cpp_producer: ModuleType, producer_memory: str, layout: str,
                                                         shape: list[int]) -> None:
    # Well-formed: no element, so no element count or offset overflows. The compact strides
    # a reader fills in for NULL multiply extents that it must not let overflow.
    kwargs = {"layout": layout, "version": (1, 1), "shape": shape, "strides": None, "dtype": UINT8,
              "data": FAR}
    outcome = in_child(cpp_producer, producer_memory, "inspect", kwargs)
    assert "errors" not in outcome, outcome["message"]
    assert (outcome["shape"], outcome["size"], outcome["nbytes"]) == (tuple(shape), 0, 0)
    strides = outcome["strides"]
    assert strides[1:] == (shape[2], 1)  # the ones that fit are exact
    assert all(0 <= stride < 2**63 for stride in strides), strides  # the one that cannot is no wrapped product
    assert outcome["deleter_calls"] == 1
    # NumPy has no array of that shape: importing it fails cleanly, the capsule released once
    outcome = in_child(cpp_producer, producer_memory, "from_dlpack", kwargs)
    assert {"ValueError", "BufferError"} & set(outcome.get("errors", ())), outcome
    assert outcome["deleter_calls"] == 1


def test_legacy_data_pointer_0x1(tensors_freed: ModuleType) -> None:
    # A legacy struct's first word is its data pointer, whatever it looks like: 0x1 here starts
    # an empty uint8 tensor (well-formed), it is not a version 1.0.
    kwargs = {"layout": "legacy", "data": 1, "shape": [0], "dtype": UINT8, "allocate": False}
    info = validate(make(tensors_freed, kwargs), dtype="uint8", shape=(0,))
    assert (info.data_ptr, info.size, info.nbytes, info.version) == (1, 0, 0, None)
    array = from_dlpack(make(tensors_freed, kwargs))
    assert array.shape == (0,) and array.dtype == "uint8"
    del array
    assert tensors_freed.deleter_calls() == 2


EIGHT_GIB = 0x2_0000_0000
MAP_FIXED_NOREPLACE = 0x10_0000  # Linux 4.17+


@pytest.fixture
def page_at_8_gib() -> Iterator[int]:
    """One read-write page mapped at exactly 8 GiB (0x2_0000_0000), where its byte 1 has an
    address whose low 32 bits are 1. Skipped where the kernel refuses that mapping, as it
    does under AddressSanitizer (whose shadow memory reserves the range)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_FIXED_NOREPLACE
    address = libc.mmap(EIGHT_GIB, mmap.PAGESIZE, mmap.PROT_READ | mmap.PROT_WRITE, flags, -1, 0)
    if address in (None, ctypes.c_void_p(-1).value):
        pytest.skip(f"the kernel refused a mapping at {EIGHT_GIB:#x}: {os.strerror(ctypes.get_errno())}")
    if address != EIGHT_GIB:  # a kernel before 4.17 takes the address as a hint only
        libc.munmap(address, mmap.PAGESIZE)
        pytest.skip(f"the kernel placed the mapping at {address:#x}, not at {EIGHT_GIB:#x}")
    try:
        yield address
    finally:
        libc.munmap(address, mmap.PAGESIZE)


@pytest.mark.parametrize("layout", ["legacy", "versioned"])
def test_data_pointer_whose_low_word_is_1(tensors_freed: ModuleType, page_at_8_gib: int, layout: str) -> None:
    # 0x2_0000_0001: a real one-byte uint8 tensor whose pointer, read as a version, says 1.2.
    ctypes.memset(page_at_8_gib + 1, 0xAB, 1)
    kwargs = {"layout": layout, "data": page_at_8_gib + 1, "shape": [1], "dtype": UINT8,
              "allocate": False}
    info = validate(make(tensors_freed, kwargs), dtype="uint8", shape=(1,))
    assert (info.data_ptr, info.nbytes) == (EIGHT_GIB + 1, 1)
    array = from_dlpack(make(tensors_freed, kwargs))
    assert array.tolist() == [0xAB]
    del array
    assert tensors_freed.deleter_calls() == 2


# ---------------------------------------------------------------------------------------
# Producers: objects with __dlpack__


def test_producer_is_asked_like_a_careful_consumer(tensors_freed: ModuleType) -> None:
    p = tensors_freed.Producer(shape=[4], allocate=True)
    info = validate(p, shape=(4,))
    assert info.version == DLPackVersion(1, 3)
    assert p.calls == [{"stream": None, "max_version": (1, 3), "dl_device": None, "copy": None}]
    assert p.device_calls == 1
    # the capsule it returned was released at once, exactly once
    assert tensors_freed.deleter_calls() == 1


@pytest.mark.parametrize(("device", "stream"), [((2, 0), -1), ((10, 1), -1), ((13, 0), -1), ((3, 0), None),
                                                ((1, 0), None), ((4, 0), None)])
def test_stream_argument_follows_the_device(tensors_freed: ModuleType, device: tuple[int, int],
                                            stream: int | None) -> None:
    p = tensors_freed.Producer(device=device, shape=[4], data=FAR)
    validate(p, verify_device="skip")  # FAR is no real allocation: only the stream is under test
    assert p.calls[0]["stream"] == stream  # -1: "do not synchronise" on stream devices


def test_legacy_signature_producer(tensors_freed: ModuleType) -> None:
    p = tensors_freed.LegacyProducer(shape=[2, 2], allocate=True, layout="legacy")
    info = validate(p, dtype="float32", shape=(2, 2))
    assert info.version is None
    assert p.calls == [{"stream": None}]  # the keyword call was refused before it ran
    assert tensors_freed.deleter_calls() == 1
    versioned = tensors_freed.LegacyProducer(shape=[2], allocate=True)
    assert inspect(versioned).version == DLPackVersion(1, 3)


def test_producer_device_disagrees(tensors_freed: ModuleType) -> None:
    for reported, said in (((2, 0), "cuda:0"), ((1, 1), "cpu:1"), ((25, 0), "device25:0")):
        p = tensors_freed.Producer(reported_device=reported, shape=[3], allocate=True)
        with pytest.raises(DLPackValidationError) as excinfo:
            validate(p)
        (violation,) = excinfo.value.violations
        assert violation.rule == "producer.device"
        assert violation.expected == f"{said} (what __dlpack_device__() reports)"
        assert violation.got == "cpu in the capsule"
    assert tensors_freed.deleter_calls() == 3


def test_producer_device_disagrees_with_other_violations(tensors_freed: ModuleType) -> None:
    p = tensors_freed.Producer(reported_device=(2, 0), shape=[3], allocate=True, flags=8)
    with pytest.raises(DLPackValidationError) as excinfo:
        validate(p, dtype="int8", ndim=2)
    assert excinfo.value.rules == ("flags.unknown", "producer.device", "expect.dtype", "expect.ndim")


@pytest.mark.parametrize("reported", [[1, 0], "cpu", (1,), (1, 0, 0), ("cpu", 0), (1, 2**40)], ids=repr)
def test_producer_device_malformed(tensors_freed: ModuleType, reported: object) -> None:
    p = tensors_freed.Producer(reported_device=reported, shape=[3], allocate=True)
    with pytest.raises((TypeError, OverflowError)):
        validate(p)
    assert p.calls == []  # __dlpack__ was never asked


def test_producer_returns_no_capsule(tensors_freed: ModuleType) -> None:
    for returned in (42, None, b"dltensor", [1]):
        p = tensors_freed.Producer(returns=returned)
        with pytest.raises(TypeError, match="not a PyCapsule"):
            inspect(p)


def test_producer_returns_consumed_or_malformed_capsules(tensors_freed: ModuleType) -> None:
    p = tensors_freed.Producer(name="used_dltensor_versioned", shape=[2], allocate=True)
    with pytest.raises(DLPackConsumedError):
        inspect(p)
    p = tensors_freed.Producer(dtype=(CODE.BOOL, 4, 1), shape=[2], allocate=True)
    with pytest.raises(DLPackValidationError) as excinfo:
        inspect(p)
    assert excinfo.value.rules == ("dtype.bits",)
    p = tensors_freed.Producer(version=(2, 0))
    with pytest.raises(DLPackVersionError):
        inspect(p)
    assert tensors_freed.deleter_calls() == 3


def test_producer_errors_propagate(tensors_freed: ModuleType) -> None:
    error = BufferError("cannot export this array")
    p = tensors_freed.Producer(error=error)
    with pytest.raises(BufferError) as excinfo:
        validate(p)
    assert excinfo.value is error
    assert len(p.calls) == 1  # BufferError is final: no retry
    # a TypeError makes the validator retry without max_version, then with no keyword at all,
    # then gives up
    p = tensors_freed.Producer(error=TypeError("bad keyword"))
    with pytest.raises(TypeError, match="bad keyword"):
        validate(p)
    assert [sorted(call) for call in p.calls] == [["copy", "dl_device", "max_version", "stream"]] * 3
    p = tensors_freed.Producer(device_error=BufferError("sharded"))
    with pytest.raises(BufferError, match="sharded"):
        inspect(p)
    assert p.calls == []
    assert tensors_freed.deleter_calls() == 0


def test_attribute_error_inside_dlpack_device_propagates(tensors_freed: ModuleType) -> None:
    # The type defines __dlpack_device__: an AttributeError raised inside it is the producer's
    # own failure, not a missing method (only a type without the method is tolerated).
    p = tensors_freed.Producer(device_error=AttributeError("__dlpack_device__"), shape=[1], allocate=True)
    with pytest.raises(AttributeError, match="__dlpack_device__"):
        inspect(p)
    assert p.calls == []


def test_producer_released_exactly_once_even_on_failure(tensors_freed: ModuleType) -> None:
    p = tensors_freed.Producer(shape=[3], allocate=True)
    for n in range(1, 4):
        with pytest.raises(DLPackValidationError):
            validate(p, dtype="float64")
        assert tensors_freed.deleter_calls() == n
    Expect(shape=(3,)).check(p)
    assert tensors_freed.deleter_calls() == 4
    gc.collect()
    assert tensors_freed.deleter_calls() == 4


def test_not_dlpack_at_all() -> None:
    for x in (object(), 3, "dltensor", [1, 2], None):
        with pytest.raises(TypeError, match="__dlpack__"):
            inspect(x)

"""Values DLPack defined after 1.3, and values newer than the package knows (docs/validation.md).

DLPack's main branch added kDLBcomplex = 18 (dlpack#187), kDLTPU = 19 and kDLTPUHost = 20
(dlpack#188) and kDLAscend = 21 (dlpack#189) without a version bump. A capsule that carries one
is valid, with a finding; a value above those in a versioned capsule of 1.3 or later is
permitted, with a finding; strict checking turns findings into violations.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import optype_dlpack
from optype_dlpack import (
    DLDataType,
    DLDataTypeCode,
    DLDevice,
    DLDeviceType,
    DLPackValidationError,
    DLPackVersion,
    Expect,
    Violation,
    inspect,
    validate,
)
from tests.support.ctypes_producer import CtypesProducer

PROBE = Path(__file__).resolve().parents[1] / "producer" / "newer_values_probe.cpp"
FINDINGS_PROBE = Path(__file__).resolve().parents[1] / "producer" / "tensor_info_findings_probe.cpp"

TPU_HOST = {"device": (20, 0)}
BCOMPLEX = {"dtype": (18, 32, 1)}


def build_against_the_headers(build_cpp_extension: Callable[..., ModuleType], source: Path) -> ModuleType:
    include = Path(optype_dlpack.get_include())
    headers = sorted((include / "optype_dlpack").glob("*.hpp"))
    return build_cpp_extension(source, source.stem, include_dirs=[str(include)], depends=headers)


@pytest.fixture(scope="module")
def probe(build_cpp_extension: Callable[..., ModuleType]) -> ModuleType:
    return build_against_the_headers(build_cpp_extension, PROBE)


@pytest.fixture(scope="module")
def findings_probe(build_cpp_extension: Callable[..., ModuleType]) -> ModuleType:
    return build_against_the_headers(build_cpp_extension, FINDINGS_PROBE)


def capsule(cpp_producer: ModuleType, **kwargs: Any) -> object:
    arguments: dict[str, Any] = {"shape": [2, 3], "allocate": True}
    arguments.update(kwargs)
    return cpp_producer.make_capsule(**arguments)


# --- the Python API: such capsules validate


@pytest.mark.parametrize(
    "layout", [{}, {"version": (1, 1)}, {"layout": "legacy"}], ids=["version 1.3", "version 1.1", "legacy"]
)
def test_tpu_host_capsule_validates(cpp_producer: ModuleType, layout: dict[str, Any]) -> None:
    info = validate(capsule(cpp_producer, **TPU_HOST, **layout), device="tpu_host", dtype="float32")
    assert info.device == DLDevice(DLDeviceType.TPU_HOST, 0)
    assert str(info.device) == "tpu_host:0"


@pytest.mark.parametrize("layout", [{}, {"layout": "legacy"}], ids=["version 1.3", "legacy"])
def test_bcomplex_capsule_validates(cpp_producer: ModuleType, layout: dict[str, Any]) -> None:
    info = validate(capsule(cpp_producer, **BCOMPLEX, **layout), dtype="bcomplex32")
    assert info.dtype == DLDataType(DLDataTypeCode.BCOMPLEX, 32, 1)
    assert str(info.dtype) == "bcomplex32"
    assert info.nbytes == 6 * 4


@pytest.mark.parametrize("device_type", [DLDeviceType.TPU, DLDeviceType.ASCEND])
def test_tpu_and_ascend_capsules_validate(cpp_producer: ModuleType, device_type: DLDeviceType) -> None:
    assert validate(capsule(cpp_producer, device=(device_type, 1)), device=device_type).device == (device_type, 1)


def test_bcomplex_has_exactly_32_bits(cpp_producer: ModuleType) -> None:
    with pytest.raises(DLPackValidationError) as excinfo:
        inspect(capsule(cpp_producer, dtype=(18, 64, 1)))
    assert excinfo.value.violations[0].expected == "32 bits for kDLBcomplex"


@pytest.mark.parametrize("version", [(1, 3), (1, 4), (1, 200)])
def test_newer_values_pass_in_a_capsule_of_1_3_or_later(cpp_producer: ModuleType, version: tuple[int, int]) -> None:
    info = inspect(capsule(cpp_producer, device=(25, 0), dtype=(30, 8, 1), version=version))
    assert info.version == DLPackVersion(*version)
    assert "device=device25:0, dtype=code30_bits8" in repr(info)
    # no enum member for them: the fields read as plain ints
    assert info.device == (25, 0) and type(info.device.type) is int
    assert info.dtype == (30, 8, 1) and type(info.dtype.code) is int


@pytest.mark.parametrize(
    ("kwargs", "rule"),
    [
        ({"device": (22, 0), "version": (1, 2)}, "device.type"),
        ({"device": (22, 0), "layout": "legacy"}, "device.type"),
        ({"device": (256, 0)}, "device.type"),
        ({"dtype": (19, 8, 1), "version": (1, 0)}, "dtype.code"),
        ({"dtype": (19, 8, 1), "layout": "legacy"}, "dtype.code"),
    ],
    ids=repr,
)
def test_newer_values_fail_elsewhere(cpp_producer: ModuleType, kwargs: dict[str, Any], rule: str) -> None:
    with pytest.raises(DLPackValidationError) as excinfo:
        inspect(capsule(cpp_producer, **kwargs))
    assert excinfo.value.rules == (rule,)


def test_tpu_host_memory_is_read_in_place(cpp_producer: ModuleType) -> None:
    # page-locked host memory, as kDLCUDAHost: the CPU reads it without a copy
    array = optype_dlpack.from_dlpack(capsule(cpp_producer, **TPU_HOST))
    assert isinstance(array, np.ndarray)
    assert array.shape == (2, 3)


# --- the C++ core: findings, and strict checking


def test_findings_name_the_values_after_1_3(cpp_producer: ModuleType, probe: ModuleType) -> None:
    passed, violations, findings = probe.check(capsule(cpp_producer, **TPU_HOST, **BCOMPLEX), False)
    assert (passed, violations) == (True, [])
    assert findings == [
        (
            "device.type_after_1_3",
            "device.device_type",
            "a DLDeviceType of dlpack.h v1.3, which every consumer of 1.3 knows",
            "kDLTPUHost = 20, which DLPack defined after 1.3 (dlpack#188)",
        ),
        (
            "dtype.code_after_1_3",
            "dtype.code",
            "a DLDataTypeCode of dlpack.h v1.3, which every consumer of 1.3 knows",
            "kDLBcomplex = 18, which DLPack defined after 1.3 (dlpack#187)",
        ),
    ]


def test_findings_name_the_newer_values(cpp_producer: ModuleType, probe: ModuleType) -> None:
    passed, violations, findings = probe.check(capsule(cpp_producer, device=(25, 0), dtype=(30, 8, 1)), False)
    assert (passed, violations) == (True, [])
    assert findings == [
        (
            "device.type_newer",
            "device.device_type",
            "a DLDeviceType this package knows (1-4, 7-21)",
            "device type 25, newer than this package knows (permitted in a version 1.3 capsule)",
        ),
        (
            "dtype.code_newer",
            "dtype.code",
            "a DLDataTypeCode this package knows (0-18)",
            "code 30, newer than this package knows (permitted in a version 1.3 capsule)",
        ),
    ]


@pytest.mark.parametrize(
    ("kwargs", "rules"),
    [
        (TPU_HOST, ["device.type_after_1_3"]),
        (BCOMPLEX, ["dtype.code_after_1_3"]),
        ({"device": (21, 0), "dtype": (40, 16, 1), "version": (1, 5)}, ["device.type_after_1_3", "dtype.code_newer"]),
    ],
    ids=repr,
)
def test_strict_makes_findings_violations(
    cpp_producer: ModuleType, probe: ModuleType, kwargs: dict[str, Any], rules: list[str]
) -> None:
    passed, violations, findings = probe.check(capsule(cpp_producer, **kwargs), True)
    assert (passed, findings) == (False, [])
    assert [violation[0] for violation in violations] == rules
    _, _, permissive_findings = probe.check(capsule(cpp_producer, **kwargs), False)
    assert violations == permissive_findings  # the same records, promoted


def test_values_of_1_3_have_no_findings(cpp_producer: ModuleType, probe: ModuleType) -> None:
    for kwargs in ({}, {"device": (18, 0), "dtype": (17, 4, 1)}, {"layout": "legacy"}):
        assert probe.check(capsule(cpp_producer, **kwargs), True) == (True, [], [])
        assert probe.tensor_info_findings(capsule(cpp_producer, **kwargs)) == []


def test_tensor_info_holds_the_findings(cpp_producer: ModuleType, probe: ModuleType) -> None:
    findings = probe.tensor_info_findings(capsule(cpp_producer, layout="legacy", **TPU_HOST, **BCOMPLEX))
    assert [finding[0] for finding in findings] == ["device.type_after_1_3", "dtype.code_after_1_3"]
    assert findings == probe.check(capsule(cpp_producer, **TPU_HOST, **BCOMPLEX), False)[2]


def test_finding_rules_are_registered() -> None:
    for rule in ("device.type_after_1_3", "device.type_newer", "dtype.code_after_1_3", "dtype.code_newer"):
        assert optype_dlpack.RULES[rule].checks.startswith("a finding, an error only with strict=True")


# --- the Python API: TensorInfo.findings, and strict=True

# What the rules say of kDLTPUHost = 20 and kDLBcomplex = 18 (rules.hpp, docs/validation.md).
TPU_HOST_FINDING = Violation(
    "device.type_after_1_3",
    "device.device_type",
    "a DLDeviceType of dlpack.h v1.3, which every consumer of 1.3 knows",
    "kDLTPUHost = 20, which DLPack defined after 1.3 (dlpack#188)",
)
BCOMPLEX_FINDING = Violation(
    "dtype.code_after_1_3",
    "dtype.code",
    "a DLDataTypeCode of dlpack.h v1.3, which every consumer of 1.3 knows",
    "kDLBcomplex = 18, which DLPack defined after 1.3 (dlpack#187)",
)


def tpu_host_bcomplex(producer: CtypesProducer, **kwargs: Any) -> object:
    """A capsule on TPU pinned host memory (20) holding bcomplex32 (18): six 4-byte elements."""
    return producer.capsule(device=(20, 0), dtype=(18, 32, 1), **kwargs)


def test_tensor_info_findings_name_tpu_host_and_bcomplex(ctypes_producer: CtypesProducer) -> None:
    info = validate(tpu_host_bcomplex(ctypes_producer, version=(1, 3)), device="tpu_host", dtype="bcomplex32")
    assert info.version == DLPackVersion(1, 3)
    assert info.findings == (TPU_HOST_FINDING, BCOMPLEX_FINDING)
    assert all(type(finding) is Violation for finding in info.findings)
    assert str(info.findings[0]) == (
        "device.device_type: expected a DLDeviceType of dlpack.h v1.3, which every consumer of 1.3 knows, "
        "got kDLTPUHost = 20, which DLPack defined after 1.3 (dlpack#188) [device.type_after_1_3]"
    )


def test_findings_are_the_same_on_every_read(ctypes_producer: CtypesProducer) -> None:
    info = inspect(tpu_host_bcomplex(ctypes_producer))
    assert info.findings == info.findings == (TPU_HOST_FINDING, BCOMPLEX_FINDING)


def test_a_tensor_of_dlpack_1_3_values_has_no_findings(ctypes_producer: CtypesProducer) -> None:
    assert inspect(ctypes_producer.capsule()).findings == ()
    assert validate(np.arange(3.0), strict=True).findings == ()


def test_strict_raises_naming_the_field(ctypes_producer: CtypesProducer) -> None:
    capsule = tpu_host_bcomplex(ctypes_producer)  # held: freed after the error, not while it is raised
    with pytest.raises(DLPackValidationError) as excinfo:
        validate(capsule, strict=True)
    # the findings, promoted to violations: the same rule ids and fields
    assert excinfo.value.violations == (TPU_HOST_FINDING, BCOMPLEX_FINDING)
    assert [violation.field for violation in excinfo.value.violations] == ["device.device_type", "dtype.code"]
    assert "device.device_type: expected" in str(excinfo.value)


@pytest.mark.parametrize("kwargs", [{"device": (20, 0)}, {"dtype": (18, 32, 1)}], ids=repr)
def test_strict_raises_for_each_value_after_1_3(ctypes_producer: CtypesProducer, kwargs: dict[str, Any]) -> None:
    permissive = validate(ctypes_producer.capsule(**kwargs)).findings
    assert len(permissive) == 1
    capsule = ctypes_producer.capsule(**kwargs)
    with pytest.raises(DLPackValidationError) as excinfo:
        validate(capsule, strict=True)
    assert excinfo.value.violations == permissive


def test_newer_values_are_findings_in_a_capsule_of_1_3(ctypes_producer: CtypesProducer) -> None:
    capsule = ctypes_producer.capsule(device=(25, 0), dtype=(30, 32, 1), version=(1, 3))
    info = validate(capsule)
    assert [(f.rule, f.field) for f in info.findings] == [
        ("device.type_newer", "device.device_type"),
        ("dtype.code_newer", "dtype.code"),
    ]
    assert info.findings[1].got == "code 30, newer than this package knows (permitted in a version 1.3 capsule)"
    capsule = ctypes_producer.capsule(device=(25, 0), dtype=(30, 32, 1), version=(1, 3))
    with pytest.raises(DLPackValidationError) as excinfo:
        validate(capsule, strict=True)
    assert excinfo.value.violations == info.findings


def test_a_legacy_capsule_of_values_after_1_3_has_the_findings(ctypes_producer: CtypesProducer) -> None:
    # the package knows 18-21 (docs/validation.md): a legacy capsule may carry them, and says so
    legacy = tpu_host_bcomplex(ctypes_producer, versioned=False)
    assert validate(legacy).findings == (TPU_HOST_FINDING, BCOMPLEX_FINDING)
    legacy = tpu_host_bcomplex(ctypes_producer, versioned=False)
    with pytest.raises(DLPackValidationError) as excinfo:
        validate(legacy, strict=True)
    assert excinfo.value.rules == ("device.type_after_1_3", "dtype.code_after_1_3")


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize(
    ("kwargs", "rules"),
    [
        ({"device": (22, 0), "versioned": False}, ("device.type",)),
        ({"dtype": (19, 32, 1), "versioned": False}, ("dtype.code",)),
        ({"device": (22, 0), "dtype": (19, 32, 1), "version": (1, 2)}, ("device.type", "dtype.code")),
    ],
    ids=repr,
)
def test_newer_values_outside_a_capsule_of_1_3_stay_errors(
    ctypes_producer: CtypesProducer, kwargs: dict[str, Any], rules: tuple[str, ...], strict: bool
) -> None:
    capsule = ctypes_producer.capsule(**kwargs)
    with pytest.raises(DLPackValidationError) as excinfo:
        validate(capsule, strict=strict)
    assert excinfo.value.rules == rules


def test_expect_strict_check(ctypes_producer: CtypesProducer) -> None:
    Expect(ndim=1).check(tpu_host_bcomplex(ctypes_producer))
    strict = Expect(ndim=1, strict=True)
    assert repr(strict) == "Expect(ndim=1, strict=True)"
    assert repr(Expect(ndim=1, strict=False)) == "Expect(ndim=1)"
    capsule = tpu_host_bcomplex(ctypes_producer)
    with pytest.raises(DLPackValidationError) as excinfo:
        strict.check(capsule)
    assert excinfo.value.violations == (TPU_HOST_FINDING, BCOMPLEX_FINDING)
    with pytest.raises(DLPackValidationError):
        strict.validate(capsule)
    strict.check(ctypes_producer.capsule())  # values of 1.3 pass


def test_strict_and_the_constraints_report_together(ctypes_producer: CtypesProducer) -> None:
    capsule = ctypes_producer.capsule(device=(20, 0))
    with pytest.raises(DLPackValidationError) as excinfo:
        validate(capsule, ndim=2, strict=True)
    assert excinfo.value.rules == ("device.type_after_1_3", "expect.ndim")


@pytest.mark.parametrize("value", [1, 0, None, "yes"], ids=repr)
def test_strict_takes_a_bool_only(value: object) -> None:
    with pytest.raises(TypeError, match="^strict: expected True or False"):
        validate(np.arange(3.0), strict=value)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="^strict: expected True or False"):
        Expect(strict=value)  # type: ignore[call-overload]


def test_a_tensor_info_read_by_an_extension_keeps_its_findings(
    ctypes_producer: CtypesProducer, findings_probe: ModuleType
) -> None:
    info = inspect(tpu_host_bcomplex(ctypes_producer))
    assert findings_probe.findings(info) == [tuple(finding) for finding in info.findings]
    assert len(info.findings) == 2
    assert findings_probe.findings(inspect(ctypes_producer.capsule())) == []

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
    inspect,
    validate,
)

PROBE = Path(__file__).resolve().parents[1] / "producer" / "newer_values_probe.cpp"

TPU_HOST = {"device": (20, 0)}
BCOMPLEX = {"dtype": (18, 32, 1)}


@pytest.fixture(scope="module")
def probe(build_cpp_extension: Callable[..., ModuleType]) -> ModuleType:
    include = Path(optype_dlpack.get_include())
    headers = sorted((include / "optype_dlpack").glob("*.hpp"))
    return build_cpp_extension(PROBE, "newer_values_probe", include_dirs=[str(include)], depends=headers)


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

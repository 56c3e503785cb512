"""The rule registry: one list of rule ids (rules.hpp), exported as RULES, shown in the docs.

Every id a Violation can carry is in RULES, with the field its violations name; the C++
sources report rules through the registry; docs/validation.md's rules table is the registry,
row for row; the conformance checks' ids are a list of their own.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import optype_dlpack
from optype_dlpack import RULES, DLPackValidationError, Expect, check_producer, inspect, validate
from optype_dlpack import Rule

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT / "src_cpp"
REGISTRY = SOURCES / "include" / "optype_dlpack" / "rules.hpp"
RULE_ENTRY = re.compile(r'^\s*X\((\w+), "([a-z_]+\.[a-z0-9_]+)",', re.MULTILINE)
# A rule id written as a string literal where a violation is recorded: add("shape.null", ...)
ID_LITERAL_ADDED = re.compile(r'\badd\(\s*"([a-z_]+\.[a-z0-9_]+)"')
RULE_CONSTANT = re.compile(r"\bRule::(\w+)\b")
# A plausible heap address that no case dereferences: only the capsule's fields are read.
FAR = 0x7F00_1234_5000


def registry_entries() -> list[tuple[str, str]]:
    """(name, id) of every rule, in the order of rules.hpp's list."""
    return RULE_ENTRY.findall(REGISTRY.read_text(encoding="utf-8"))


def cpp_sources() -> list[Path]:
    return sorted(path for path in SOURCES.rglob("*.[ch]pp") if path != REGISTRY)


def fields_of(rule: Rule) -> set[str]:
    """The fields a rule's violations may name: "data, strides or shape" allows three."""
    return set(re.split(r", | or ", rule.field))


# ---------------------------------------------------------------------------------------
# RULES is the registry


def test_rules_are_the_registry_in_its_order() -> None:
    ids = [rule_id for _, rule_id in registry_entries()]
    assert len(ids) >= 40
    assert list(RULES) == ids


def test_rules_are_immutable_records() -> None:
    with pytest.raises(TypeError):
        RULES["shape.null"] = RULES["shape.null"]  # type: ignore[index]
    rule = RULES["dtype.bits"]
    with pytest.raises(AttributeError):
        rule.checks = "anything"  # type: ignore[misc]
    assert rule == Rule("dtype.bits", "dtype.bits", rule.checks, rule.reference, rule.since)
    assert optype_dlpack.RULES is RULES


@pytest.mark.parametrize("rule", RULES.values(), ids=lambda rule: rule.id)
def test_every_rule_is_described(rule: Rule) -> None:
    assert RULES[rule.id] is rule
    for text in rule:
        assert text and text == text.strip() and "|" not in text and "\n" not in text, rule
    assert rule.id.split(".")[0] in {
        "managed", "capsule", "version", "flags", "device", "dtype", "ndim", "shape", "strides",
        "size", "extent", "byte_offset", "data", "producer", "expect",
    }


# ---------------------------------------------------------------------------------------
# The C++ sources report rules through the registry


def test_cpp_names_only_registered_rules() -> None:
    names = {name for name, _ in registry_entries()}
    used: set[str] = set()
    for path in cpp_sources():
        found = set(RULE_CONSTANT.findall(path.read_text(encoding="utf-8")))
        assert found <= names, f"{path.name}: {sorted(found - names)}"
        used |= found
    assert len(used) >= 30  # the checks report through Rule::..., not through literals


def test_rule_ids_written_out_in_cpp_are_registered() -> None:
    for path in cpp_sources():
        literals = set(ID_LITERAL_ADDED.findall(path.read_text(encoding="utf-8")))
        assert literals <= set(RULES), f"{path.name}: {sorted(literals - set(RULES))}"


def test_checks_write_no_rule_id_literals() -> None:
    # Only the registry spells out ids; every check names its rule by Rule::...
    for path in cpp_sources():
        if path.name in {"rules.hpp", "rules_module.cpp"}:
            continue
        text = path.read_text(encoding="utf-8")
        assert ID_LITERAL_ADDED.findall(text) == [], path.name
        assert not any(f'"{rule_id}"' in text for rule_id in RULES), path.name


# ---------------------------------------------------------------------------------------
# What errors carry: registered ids, naming the registry's fields


def assert_registered(error: DLPackValidationError) -> None:
    assert error.violations
    for violation in error.violations:
        assert violation.rule in RULES, violation
        assert violation.field in fields_of(RULES[violation.rule]), violation


MALFORMED: list[dict[str, Any]] = [
    {"device": (99, -1)},
    {"device": (1, 1)},
    {"dtype": (42, 8, 1), "version": (1, 2)},  # in a 1.3 capsule, a code newer than the package: a finding
    {"dtype": (2, 12, 0)},
    {"flags": 8},
    {"flags": 4},
    {"version": (2, 0)},
    {"ndim": -1},
    {"ndim": 1025},
    {"shape": None, "ndim": 2, "allocate": False, "data": FAR},
    {"shape": [2, -1], "allocate": False, "data": FAR},
    {"strides": None, "version": (1, 2)},
    {"shape": [2**32, 2**32], "allocate": False, "data": FAR},
    {"shape": [3, 2], "strides": [2**62, 1], "allocate": False, "data": FAR},
    {"shape": [2**61], "dtype": (2, 64, 1), "allocate": False, "data": FAR},
    {"byte_offset": 2**63, "data": FAR, "allocate": False},
    {"shape": [4], "data": 2**64 - 8, "allocate": False},
    {"shape": [2, 3], "allocate": False},
    {"name": "dltensor"},
]


@pytest.mark.parametrize("kwargs", MALFORMED, ids=repr)
def test_structural_violations_carry_registered_rules(cpp_producer: ModuleType, kwargs: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {"shape": [2, 3], "allocate": True}
    arguments.update(kwargs)
    capsule = cpp_producer.make_capsule(**arguments)
    with pytest.raises(DLPackValidationError) as excinfo:
        inspect(capsule)
    assert_registered(excinfo.value)


def test_producer_and_constraint_violations_carry_registered_rules(cpp_producer: ModuleType) -> None:
    p = cpp_producer.Producer(reported_device=(2, 0), shape=[3], allocate=True, flags=8)
    with pytest.raises(DLPackValidationError) as excinfo:
        validate(p, dtype="int8", ndim=2)
    assert excinfo.value.rules == ("flags.unknown", "producer.device", "expect.dtype", "expect.ndim")
    assert_registered(excinfo.value)

    x = np.zeros((2, 3), dtype=np.float32)
    constraints = Expect(device="cuda:1", dtype="float64", shape=(None, 4), writable=False, layout="F")
    with pytest.raises(DLPackValidationError) as excinfo:
        constraints.check(x)
    assert set(excinfo.value.rules) == {"expect.device", "expect.dtype", "expect.shape", "expect.writable",
                                        "expect.layout"}
    assert_registered(excinfo.value)


def test_consumed_capsules_carry_a_registered_rule() -> None:
    capsule = np.arange(3.0).__dlpack__()
    np.from_dlpack(type("Handover", (), {"__dlpack__": lambda self, **kw: capsule,
                                         "__dlpack_device__": lambda self: (1, 0)})())
    with pytest.raises(DLPackValidationError) as excinfo:
        inspect(capsule)
    assert excinfo.value.rules == ("capsule.consumed",)
    assert_registered(excinfo.value)


def test_unverified_devices_carry_a_registered_rule(cpp_producer: ModuleType) -> None:
    capsule = cpp_producer.make_capsule(device=(4, 0), shape=[3], data=FAR)  # OpenCL: no driver can tell
    with pytest.raises(DLPackValidationError) as excinfo:
        validate(capsule, verify_device="require")
    assert excinfo.value.rules == ("device.unverified",)
    assert_registered(excinfo.value)


# ---------------------------------------------------------------------------------------
# docs/validation.md's table is the registry

DOCS = ROOT / "docs" / "validation.md"


def rules_table() -> list[tuple[str, ...]]:
    """The rows of the table under "## Rules", backticks (code formatting) taken out."""
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("\n## Rules\n") :]
    section = section[: section.index("\n## ", 1)]
    header = "| id | field | checks | reference | since |\n|---|---|---|---|---|\n"
    assert section.count(header) == 1
    body = section[section.index(header) + len(header) :].split("\n\n", 1)[0]
    rows = []
    for line in body.splitlines():
        assert line.startswith("| ") and line.endswith(" |"), line
        rows.append(tuple(cell.strip().replace("`", "") for cell in line[2:-2].split(" | ")))
    return rows


def test_docs_rules_table_is_the_registry() -> None:
    rows = rules_table()
    documented = [row[0] for row in rows]
    assert sorted(set(RULES) - set(documented)) == [], "rules the docs do not list"
    assert sorted(set(documented) - set(RULES)) == [], "documented ids that are no rule"
    assert documented == list(RULES)  # in the registry's order
    for row in rows:
        assert Rule(*row) == RULES[row[0]]


# ---------------------------------------------------------------------------------------
# Conformance checks have ids of their own, never rule ids


def conformance_ids_in_the_docs() -> set[str]:
    text = (ROOT / "docs" / "conformance.md").read_text(encoding="utf-8")
    return set(re.findall(r"`([a-z_]+(?:\.[a-z0-9_]+)?)`", "\n".join(
        line.split(" | ")[0] for line in text.splitlines() if line.startswith("| `")
    )))


def test_conformance_check_ids_are_not_rule_ids() -> None:
    documented = conformance_ids_in_the_docs()
    assert {"device.tuple", "stream.cpu", "export.default"} <= documented
    assert documented.isdisjoint(RULES)
    checked = {check.id for check in check_producer(np.arange(3.0)).checks}
    assert checked <= documented
    assert checked.isdisjoint(RULES)


# ---------------------------------------------------------------------------------------
# Device facts: the conformance checker reads the core's device table


def test_stream_devices_come_from_the_core() -> None:
    from optype_dlpack import DLDeviceType, _conformance, _core

    assert _core.STREAM_DEVICE_TYPES == (DLDeviceType.CUDA, DLDeviceType.ROCM, DLDeviceType.CUDA_MANAGED)
    stream_devices = vars(_conformance)["_STREAM_DEVICES"]  # private: the stubs leave it out
    assert stream_devices == frozenset(DLDeviceType(code) for code in _core.STREAM_DEVICE_TYPES)
    assert all(type(device) is DLDeviceType for device in stream_devices)

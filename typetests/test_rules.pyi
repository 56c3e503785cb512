# pyright: reportInvalidStubStatement=false
from collections.abc import Mapping

from typing_extensions import assert_type

from optype_dlpack import RULES, Violation
from optype_dlpack import Rule

violation: Violation

###
# RULES: rule id -> its record, for every id a Violation can name

assert_type(RULES, Mapping[str, Rule])
assert_type(RULES["shape.null"], Rule)
assert_type(RULES[violation.rule].checks, str)
assert_type(RULES.get("shape.null"), Rule | None)
rule = RULES["dtype.bits"]
assert_type(rule.id, str)
assert_type(rule.field, str)
assert_type(rule.checks, str)
assert_type(rule.reference, str)
assert_type(rule.since, str)
as_tuple: tuple[str, str, str, str, str] = rule

RULES["shape.null"] = rule  # type: ignore[index]  # pyright: ignore[reportIndexIssue]
rule.checks = "anything"  # type: ignore[misc]  # pyright: ignore[reportAttributeAccessIssue]

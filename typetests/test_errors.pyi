# pyright: reportInvalidStubStatement=false
from typing_extensions import assert_type

from optype_dlpack import (
    DLPackConsumedError,
    DLPackError,
    DLPackValidationError,
    DLPackVersionError,
    Violation,
)

violation: Violation
violations: list[Violation]
error: DLPackValidationError
version_error: DLPackVersionError
consumed_error: DLPackConsumedError

###
# Violation

assert_type(Violation("shape.negative", "shape[0]", ">= 0", "-1"), Violation)
assert_type(violation.rule, str)
assert_type(violation.field, str)
assert_type(violation.expected, str)
assert_type(violation.got, str)
assert_type(str(violation), str)
as_tuple: tuple[str, str, str, str] = violation

Violation("shape.negative", "shape[0]", ">= 0")  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
Violation("ndim.negative", "ndim", ">= 0", -1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]

###
# DLPackError

as_exception: Exception = DLPackError("message")

as_value_error: ValueError = DLPackError("message")  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]

###
# DLPackValidationError

assert_type(DLPackValidationError(violations), DLPackValidationError)
assert_type(DLPackValidationError((violation,)), DLPackValidationError)
assert_type(error.violations, tuple[Violation, ...])
assert_type(error.rules, tuple[str, ...])
validation_as_value_error: ValueError = error
validation_as_base: DLPackError = error

DLPackValidationError(violations=violations)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
DLPackValidationError(["shape.negative"])  # type: ignore[list-item]  # pyright: ignore[reportArgumentType]
error.rules = ()  # type: ignore[misc]  # pyright: ignore[reportAttributeAccessIssue]

###
# DLPackVersionError

assert_type(DLPackVersionError(violations), DLPackVersionError)
assert_type(version_error.violations, tuple[Violation, ...])
version_as_validation: DLPackValidationError = version_error

version_as_consumed: DLPackConsumedError = version_error  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]

###
# DLPackConsumedError

assert_type(DLPackConsumedError(violations), DLPackConsumedError)
assert_type(consumed_error.rules, tuple[str, ...])
consumed_as_validation: DLPackValidationError = consumed_error

consumed_as_version: DLPackVersionError = consumed_error  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]

# pyright: reportInvalidStubStatement=false
from typing import Literal

from typing_extensions import assert_type

from optype_dlpack import CheckStatus, ConformanceCheck, ConformanceReport, check_producer

report: ConformanceReport
check: ConformanceCheck

###
# check_producer

assert_type(check_producer(object()), ConformanceReport)

check_producer()  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
check_producer(obj=object())  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]

###
# ConformanceReport

assert_type(report.ok, bool)
assert_type(report.producer, str)
assert_type(report.checks, tuple[ConformanceCheck, ...])
assert_type(report.by_status(CheckStatus.FAIL), tuple[ConformanceCheck, ...])

report.ok = False  # type: ignore[misc]  # pyright: ignore[reportAttributeAccessIssue]
report.by_status("fail")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]

###
# ConformanceCheck

assert_type(check.id, str)
assert_type(check.status, CheckStatus)
assert_type(check.detail, str)

###
# CheckStatus

assert_type(CheckStatus.PASS.value, Literal["pass"])

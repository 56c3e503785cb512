import enum
from typing import NamedTuple, final

__all__ = ["CheckStatus", "ConformanceCheck", "ConformanceReport", "check_producer"]

class CheckStatus(str, enum.Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"

class ConformanceCheck(NamedTuple):
    id: str
    status: CheckStatus
    detail: str

@final
class ConformanceReport:
    __slots__ = ("checks", "producer")
    @property
    def producer(self) -> str: ...
    @property
    def checks(self) -> tuple[ConformanceCheck, ...]: ...
    def __init__(self, producer: str, checks: tuple[ConformanceCheck, ...]) -> None: ...
    @property
    def ok(self) -> bool: ...
    def by_status(self, status: CheckStatus, /) -> tuple[ConformanceCheck, ...]: ...

def check_producer(obj: object, /) -> ConformanceReport: ...

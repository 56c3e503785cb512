import enum
from dataclasses import dataclass
from typing import NamedTuple, final

__all__ = ["CheckStatus", "ConformanceCheck", "ConformanceReport", "check_producer"]

class CheckStatus(enum.Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"

class ConformanceCheck(NamedTuple):
    id: str
    status: CheckStatus
    detail: str

@final
@dataclass(frozen=True, slots=True)
class ConformanceReport:
    producer: str
    checks: tuple[ConformanceCheck, ...]
    @property
    def ok(self) -> bool: ...
    def by_status(self, status: CheckStatus, /) -> tuple[ConformanceCheck, ...]: ...

def check_producer(obj: object, /) -> ConformanceReport: ...

from collections.abc import Iterable, Mapping
from typing import Final, NamedTuple

__all__ = [
    "RULES",
    "DLPackConsumedError",
    "DLPackError",
    "DLPackValidationError",
    "DLPackVersionError",
    "Rule",
    "Violation",
]

class Rule(NamedTuple):
    id: str
    field: str
    checks: str
    reference: str
    since: str

RULES: Final[Mapping[str, Rule]]

class Violation(NamedTuple):
    rule: str
    field: str
    expected: str
    got: str

    def __str__(self) -> str: ...

class DLPackError(Exception): ...

class DLPackValidationError(DLPackError, ValueError):
    violations: tuple[Violation, ...]

    def __init__(self, violations: Iterable[Violation], /) -> None: ...
    def __reduce__(self) -> tuple[type[DLPackValidationError], tuple[tuple[Violation, ...]], dict[str, object]]: ...
    @property
    def rules(self) -> tuple[str, ...]: ...

class DLPackVersionError(DLPackValidationError): ...
class DLPackConsumedError(DLPackValidationError): ...

from collections.abc import Iterable
from typing import NamedTuple

__all__ = [
    "DLPackConsumedError",
    "DLPackError",
    "DLPackValidationError",
    "DLPackVersionError",
    "Violation",
]

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

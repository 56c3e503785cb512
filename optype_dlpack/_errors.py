"""Exceptions raised by validation, and the structured record of one violation."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

__all__ = [
    "CheckedCallError",
    "DLPackConsumedError",
    "DLPackError",
    "DLPackValidationError",
    "DLPackVersionError",
    "Violation",
]


class Violation(NamedTuple):
    """One broken rule or unmet constraint.

    ``rule`` is a stable id such as ``"shape.negative"``, a key of ``optype_dlpack.RULES`` (see
    docs/validation.md); ``field`` names the part of the tensor at fault.
    """

    rule: str
    field: str
    expected: str
    got: str

    def __str__(self) -> str:
        return f"{self.field}: expected {self.expected}, got {self.got} [{self.rule}]"


class DLPackError(Exception):
    """Base class of this package's errors."""

    def __init__(self, *args: object) -> None:  # written out so that inspect.signature can read it
        super().__init__(*args)


class DLPackValidationError(DLPackError, ValueError):
    """A DLPack tensor broke the specification or a declared constraint.

    The message lists every violation, one per line; ``violations`` holds them as records.
    """

    violations: tuple[Violation, ...]

    def __init__(self, violations: Iterable[Violation], /) -> None:
        self.violations = tuple(violations)
        count = len(self.violations)
        lines = "".join(f"\n  {violation}" for violation in self.violations)
        super().__init__(f"DLPack tensor failed validation ({count} violation{'s' if count != 1 else ''}):{lines}")

    def __reduce__(self) -> tuple[type[DLPackValidationError], tuple[object, ...], dict[str, object]]:
        # Exception's own reduce would rebuild the error from its message (``self.args``), which
        # __init__ would then read as violations, one per character. Rebuild it from the records
        # instead; the instance dict carries whatever else was set (``__notes__``, say).
        return type(self), (self.violations,), self.__dict__

    @property
    def rules(self) -> tuple[str, ...]:
        """The rule ids of the violations, in order."""
        return tuple(violation.rule for violation in self.violations)


class DLPackVersionError(DLPackValidationError):
    """A versioned capsule's major version is not 1: nothing after ``flags`` was read."""


class DLPackConsumedError(DLPackValidationError):
    """The capsule was already consumed (named ``used_dltensor`` or ``used_dltensor_versioned``)."""


class CheckedCallError(DLPackValidationError):
    """A call of an ``@optype_dlpack.checked`` function broke the constraints of its annotations.

    ``function`` is the function's qualified name; ``violations`` holds every violation of every
    argument (and of the return value), and ``parameters[i]`` names the argument of
    ``violations[i]`` (``"a"``, ``"args[1]"``, ``"kwargs['x']"``, ``"return"``). A violation of a
    shape symbol or of a shared device or dtype names both places in its ``expected`` field.
    """

    function: str
    parameters: tuple[str, ...]

    def __init__(self, function: str, failures: Iterable[tuple[str, Violation]], /) -> None:
        failures = tuple(failures)
        super().__init__(violation for _, violation in failures)
        self.function = function
        self.parameters = tuple(parameter for parameter, _ in failures)
        count = len(failures)
        lines = "".join(f"\n  {_describe(parameter, violation)}" for parameter, violation in failures)
        self.args = (f"{function}(): {count} violation{'s' if count != 1 else ''} of the annotations:{lines}",)

    def __reduce__(self) -> tuple[type[DLPackValidationError], tuple[object, ...], dict[str, object]]:
        # rebuilt from the function's name and the (parameter, violation) pairs: the message too
        return type(self), (self.function, tuple(zip(self.parameters, self.violations))), self.__dict__


def _describe(parameter: str, violation: Violation) -> str:
    """One line of a CheckedCallError: a relation between two places reads as one sentence."""
    if violation.rule.startswith("checked.same_") or violation.rule == "checked.symbol":
        return f"{violation.expected}, but `{parameter}`.{violation.field} = {violation.got} [{violation.rule}]"
    return f"`{parameter}`: {violation}"

"""The validator's rules, read from the C++ registry (``optype_dlpack/rules.hpp``)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from ._core import RULE_REGISTRY

__all__ = ["RULES", "Rule"]


class Rule(NamedTuple):
    """One rule of the validator, as the registry of ``optype_dlpack/rules.hpp`` lists it.

    ``id`` is what a ``Violation.rule`` says; ``field`` the field its violations name;
    ``checks`` what it checks; ``reference`` where the specification says so (``"H"``:
    dlpack.h v1.3, ``"PY"``: the DLPack Python specification, ``"AAPI"``: the array API
    standard; ``"-"``: a rule of this library's own); ``since`` the DLPack version that
    introduced what it checks.
    """

    id: str
    field: str
    checks: str
    reference: str
    since: str


# Read from the C++ registry, the one list of rule ids (docs/validation.md shows it).
RULES: Mapping[str, Rule] = MappingProxyType({row[0]: Rule(*row) for row in RULE_REGISTRY})

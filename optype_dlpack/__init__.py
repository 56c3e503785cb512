"""Typed and checked DLPack.

The complete DLPack 1.3 protocols and enums for type checkers, and a C++ validator that
opens a capsule at run time and checks it against the specification and your constraints.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Final

from . import _core
from ._enums import (
    DLDataType,
    DLDataTypeCode,
    DLDevice,
    DLDeviceType,
    DLPackFlags,
    DLPackVersion,
)
from ._errors import (
    DLPackConsumedError,
    DLPackError,
    DLPackValidationError,
    DLPackVersionError,
    Violation,
)
from ._interop import DLPackObject, asdlpack, from_dlpack, to_dlpack
from ._protocols import (
    CanDLPack,
    CanDLPackCompat,
    CanDLPackDevice,
    HasDLPackCExchangeAPI,
    SupportsDLPack,
)
from ._rules import RULES, Rule
from ._validate import Expect, TensorInfo, inspect, validate

if TYPE_CHECKING:
    from ._conformance import CheckStatus, ConformanceCheck, ConformanceReport, check_producer

__all__ = [
    "DLPACK_VERSION",
    "RULES",
    "CanDLPack",
    "CanDLPackCompat",
    "CanDLPackDevice",
    "CheckStatus",
    "ConformanceCheck",
    "ConformanceReport",
    "DLDataType",
    "DLDataTypeCode",
    "DLDevice",
    "DLDeviceType",
    "DLPackConsumedError",
    "DLPackError",
    "DLPackFlags",
    "DLPackObject",
    "DLPackValidationError",
    "DLPackVersion",
    "DLPackVersionError",
    "Expect",
    "HasDLPackCExchangeAPI",
    "Rule",
    "SupportsDLPack",
    "TensorInfo",
    "Violation",
    "__version__",
    "asdlpack",
    "check_producer",
    "from_dlpack",
    "get_include",
    "inspect",
    "to_dlpack",
    "validate",
]

__version__: Final[str] = "0.1.0"

DLPACK_VERSION: Final = DLPackVersion(*_core.DLPACK_HEADER_VERSION)
"""The ``dlpack.h`` version the extension was compiled against."""


def get_include() -> str:
    """The directory holding the C++ headers (``#include <optype_dlpack/...>``)."""
    return os.path.join(os.path.dirname(__file__), "include")


# The conformance checker (dataclasses, inspect, its own tables) is loaded by its first use,
# not by `import optype_dlpack`: a validator that checks every call should not pay for it.
_CONFORMANCE_NAMES: Final = frozenset({"CheckStatus", "ConformanceCheck", "ConformanceReport", "check_producer"})


def __getattr__(name: str) -> object:
    if name in _CONFORMANCE_NAMES:
        from . import _conformance

        value: object = getattr(_conformance, name)
        globals()[name] = value  # later lookups find it without coming here
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _CONFORMANCE_NAMES)

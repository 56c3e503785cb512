"""Typed and checked DLPack.

The complete DLPack 1.3 protocols and enums for type checkers, and a C++ validator that
opens a capsule at run time and checks it against the specification and your constraints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from . import _core
from ._conformance import CheckStatus, ConformanceCheck, ConformanceReport, check_producer
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
    return str(Path(__file__).parent / "include")

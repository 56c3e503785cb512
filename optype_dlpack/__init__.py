"""Typed and checked DLPack.

The complete DLPack 1.3 protocols and enums for type checkers, and a C++ validator that
opens a capsule at run time and checks it against the specification and your constraints.
"""

from __future__ import annotations

import os

from . import _core
from ._interop import DLPackObject, asdlpack, from_dlpack, to_dlpack
from ._validate import Expect, TensorInfo, inspect, validate

# `typing` itself is not imported at run time (it and what it imports cost milliseconds):
# type checkers take this name as true, the interpreter never runs the block.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

    from ._checked import Spec, beartype_validator, checked, checks_enabled
    from ._conformance import CheckStatus, ConformanceCheck, ConformanceReport, check_producer
    from ._enums import DLDataType, DLDataTypeCode, DLDevice, DLDeviceType, DLPackFlags, DLPackVersion
    from ._errors import CheckedCallError, DLPackConsumedError, DLPackError, DLPackValidationError, DLPackVersionError, Violation
    from ._protocols import (
        CanDLPack,
        CanDLPackCompat,
        CanDLPackDataType,
        CanDLPackDevice,
        HasDLPackCExchangeAPI,
        SupportsDLPack,
    )
    from ._rules import RULES, Rule

    DLPACK_VERSION: DLPackVersion
    """The ``dlpack.h`` version the extension was compiled against."""

__all__ = [
    "DLPACK_VERSION",
    "RULES",
    "CanDLPack",
    "CanDLPackCompat",
    "CanDLPackDataType",
    "CanDLPackDevice",
    "CheckStatus",
    "CheckedCallError",
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
    "Spec",
    "SupportsDLPack",
    "TensorInfo",
    "Violation",
    "__version__",
    "asdlpack",
    "beartype_validator",
    "check_producer",
    "checked",
    "checks_enabled",
    "from_dlpack",
    "get_cmake_dir",
    "get_include",
    "inspect",
    "to_dlpack",
    "validate",
]

__version__: Final[str] = "0.1.0"


def get_include() -> str:
    """The directory holding the C++ headers (``#include <optype_dlpack/...>``)."""
    return os.path.join(os.path.dirname(__file__), "include")


def get_cmake_dir() -> str:
    """The directory holding ``optype_dlpackConfig.cmake``: ``find_package(optype_dlpack CONFIG)``
    with ``optype_dlpack_DIR`` set to it gives the imported target ``optype_dlpack::headers``."""
    return os.path.join(os.path.dirname(__file__), "share", "cmake", "optype_dlpack")


# What `import optype_dlpack` loads is the extension and the functions above; every other public
# name is loaded by its first use (PEP 562): the enums, errors and protocols with `typing` and
# `enum`, the conformance checker with `dataclasses` and `inspect`. A first call of the validator
# that needs the enums or the errors loads them too. Name -> the submodule that defines it.
_LAZY: dict[str, str] = {
    **dict.fromkeys(("Spec", "beartype_validator", "checked", "checks_enabled"), "_checked"),
    **dict.fromkeys(("CheckStatus", "ConformanceCheck", "ConformanceReport", "check_producer"), "_conformance"),
    **dict.fromkeys(("DLDataType", "DLDataTypeCode", "DLDevice", "DLDeviceType", "DLPackFlags", "DLPackVersion"), "_enums"),
    **dict.fromkeys(
        ("CheckedCallError", "DLPackConsumedError", "DLPackError", "DLPackValidationError", "DLPackVersionError", "Violation"), "_errors"
    ),
    **dict.fromkeys(
        (
            "CanDLPack",
            "CanDLPackCompat",
            "CanDLPackDataType",
            "CanDLPackDevice",
            "HasDLPackCExchangeAPI",
            "SupportsDLPack",
        ),
        "_protocols",
    ),
    **dict.fromkeys(("RULES", "Rule"), "_rules"),
}


def _load(name: str) -> object:
    if name == "DLPACK_VERSION":
        from ._enums import DLPackVersion

        return DLPackVersion(*_core.DLPACK_HEADER_VERSION)
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)


# At run time only: type checkers see the imports above, and without a module `__getattr__`
# they still report a misspelt `optype_dlpack.name`.
if not TYPE_CHECKING:

    def __getattr__(name: str) -> object:
        if name != "DLPACK_VERSION" and name not in _LAZY:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = _load(name)
        globals()[name] = value  # later lookups find it without coming here
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *_LAZY, "DLPACK_VERSION"})

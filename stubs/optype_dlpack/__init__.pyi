from typing import Final

from ._conformance import CheckStatus, ConformanceCheck, ConformanceReport, check_producer
from ._enums import (
    DLPACK_VERSION,
    DLDataType,
    DLDataTypeCode,
    DLDevice,
    DLDeviceType,
    DLPackFlags,
    DLPackVersion,
)
from ._errors import (
    RULES,
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

__version__: Final[str]

def get_include() -> str: ...

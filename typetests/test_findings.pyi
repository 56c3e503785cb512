# pyright: reportInvalidStubStatement=false
# TensorInfo.findings and the `strict` keyword of validate() and Expect() (docs/validation.md).
from typing import Literal

import numpy as np
import numpy.typing as npt
from typing_extensions import CapsuleType, assert_type

from optype_dlpack import DLDeviceType, Expect, TensorInfo, Violation, validate

array: npt.NDArray[np.float32]
capsule: CapsuleType
info: TensorInfo

assert_type(info.findings, tuple[Violation, ...])
assert_type(validate(capsule, strict=True).findings, tuple[Violation, ...])

# strict leaves the device literal as it is
assert_type(validate(array, strict=True), TensorInfo)
assert_type(validate(capsule, device=DLDeviceType.TPU_HOST, strict=True), TensorInfo[Literal[DLDeviceType.TPU_HOST]])
assert_type(Expect(device=DLDeviceType.CUDA, strict=True), Expect[Literal[DLDeviceType.CUDA]])
assert_type(Expect(strict=False).validate(array).findings, tuple[Violation, ...])

# a bool only, and by keyword only; findings is read-only
validate(array, strict="yes")  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]
Expect(strict=None)  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]
info.findings = ()  # type: ignore[misc]  # pyright: ignore[reportAttributeAccessIssue]

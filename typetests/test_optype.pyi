# pyright: reportInvalidStubStatement=false
# optype.dlpack and optype_dlpack are interchangeable, in both directions: the same type
# parameters (device type bound by `enum.Enum | int`), the same `CPU_PINNED` literal.
import enum
from typing import Literal

import numpy as np
import numpy.typing as npt
import optype.dlpack as opd
import torch

import optype_dlpack as od
from optype_dlpack import CanDLPackDataType

array: npt.NDArray[np.float32]
tensor: torch.Tensor

# optype's spellings of a standard producer are valid types here
spec_can: od.CanDLPack[enum.Enum, int]
spec_device: od.CanDLPackDevice[enum.Enum, int]
spec_supports: od.SupportsDLPack[enum.Enum, int]
pinned: Literal[od.DLDeviceType.CPU_PINNED]
optype_pinned: Literal[opd.DLDeviceType.CPU_PINNED]

# the bound still refuses what is neither an enum nor an int
not_a_device: od.CanDLPackDevice[str, int]  # type: ignore[type-var]  # pyright: ignore[reportInvalidTypeArguments]

# optype's protocols -> ours
optype_can: opd.CanDLPack
optype_compat: opd.CanDLPackCompat
optype_device: opd.CanDLPackDevice
optype_device_enum: opd.CanDLPackDevice[enum.Enum, int]
ours_from_optype_can: od.CanDLPack = optype_can
ours_from_optype_compat: od.CanDLPackCompat = optype_compat
ours_from_optype_device: od.CanDLPackDevice = optype_device
ours_from_optype_device_enum: od.CanDLPackDevice[enum.Enum, int] = optype_device_enum
od.validate(optype_can)
od.validate(optype_compat)

# ours -> optype's
ours_can: od.CanDLPack[od.DLDeviceType, int]
ours_compat: od.CanDLPackCompat
ours_device: od.CanDLPackDevice
ours_device_enum: od.CanDLPackDevice[enum.Enum, int]
optype_from_ours_can: opd.CanDLPack[od.DLDeviceType, int] = ours_can
optype_from_ours_compat: opd.CanDLPackCompat = ours_compat
optype_from_ours_device: opd.CanDLPackDevice = ours_device
optype_from_ours_device_enum: opd.CanDLPackDevice[enum.Enum, int] = ours_device_enum

# what optype's own dlpack tests assign (a NumPy array), and a torch tensor
array_compat: od.CanDLPackCompat = array
array_device: od.CanDLPackDevice = array
tensor_device: od.CanDLPackDevice[enum.Enum | int, int] = tensor

# __dlpack_data_type__ (array-api#972): `(code, bits, lanes)`
class Float32DType:
    def __dlpack_data_type__(self) -> tuple[Literal[od.DLDataTypeCode.FLOAT], Literal[32], Literal[1]]: ...

class NotADType:
    def __dlpack_data_type__(self) -> tuple[int, int]: ...

dtype_any: CanDLPackDataType = Float32DType()
dtype_float: CanDLPackDataType[od.DLDataTypeCode] = Float32DType()
dtype_bad: CanDLPackDataType = NotADType()  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]

# pyright: reportInvalidStubStatement=false
# Real producers as their own annotations describe them, one section each. What each checker
# says of every line is the producer matrix of docs/typing.md (tests/typing/typetest_matrix.py
# --markdown); a line refused by some checkers only says which, in `# rejected-by:`.
import enum
from typing import Any

from array_api_strict._array_object import Array as StrictArray
import cupy
import jax
import numpy as np
import numpy.typing as npt
import torch
from typing_extensions import CapsuleType

from optype_dlpack import SupportsDLPack, from_dlpack, validate

class SpecArray:
    # `__dlpack__` and `__dlpack_device__` exactly as the array API standard (2023.12+) writes them
    def __dlpack__(
        self,
        /,
        *,
        stream: int | Any | None = None,
        max_version: tuple[int, int] | None = None,
        dl_device: tuple[enum.Enum, int] | None = None,
        copy: bool | None = None,
    ) -> CapsuleType: ...
    def __dlpack_device__(self, /) -> tuple[enum.Enum, int]: ...

numpy_float32: npt.NDArray[np.float32]
numpy_bool: npt.NDArray[np.bool_]
torch_tensor: torch.Tensor
jax_array: jax.Array
strict_array: StrictArray
cupy_array: cupy.ndarray
spec_array: SpecArray

# The widest producer type: the standard annotates the device type as an `Enum`, NumPy as an int.
AnyProducer = SupportsDLPack[enum.Enum | int, int]

# == producer: numpy.ndarray (float32) ==
validate(numpy_float32)
numpy_float32_supports: AnyProducer = numpy_float32
from_dlpack(numpy_float32)

# == producer: numpy.ndarray (bool) ==
validate(numpy_bool)  # pyright: ignore[reportArgumentType]  # rejected-by: pyright, basedpyright, ty
numpy_bool_supports: AnyProducer = numpy_bool  # pyright: ignore[reportAssignmentType]  # rejected-by: pyright, basedpyright, ty
from_dlpack(numpy_bool)

# == producer: torch.Tensor ==
validate(torch_tensor)
torch_tensor_supports: AnyProducer = torch_tensor
from_dlpack(torch_tensor)

# == producer: jax.Array ==
validate(jax_array)  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]
jax_array_supports: AnyProducer = jax_array  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
from_dlpack(jax_array)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]

# == producer: array_api_strict.Array ==
validate(strict_array)
strict_array_supports: AnyProducer = strict_array
from_dlpack(strict_array)

# == producer: cupy.ndarray (cupy-stubs) ==
validate(cupy_array)  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]
cupy_array_supports: AnyProducer = cupy_array  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
from_dlpack(cupy_array)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]

# == producer: the array API's signatures (a class written from the standard) ==
validate(spec_array)
spec_array_supports: AnyProducer = spec_array
from_dlpack(spec_array)

# pyright: reportInvalidStubStatement=false
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import numpy as np
import numpy.typing as npt
from typing_extensions import assert_type

from optype_dlpack import (
    CheckedCallError,
    DLPackValidationError,
    Expect,
    Spec,
    beartype_validator,
    checked,
    checks_enabled,
)

Array = npt.NDArray[np.float32]
array: Array

###
# @checked keeps the function's exact signature

@checked
def matmul(
    a: Annotated[Array, Spec(shape=("n", "k"))],
    b: Annotated[Array, Spec(shape=("k", "m"))],
    /,
    *,
    scale: float = ...,
) -> Annotated[Array, Spec(shape=("n", "m"))]: ...

assert_type(matmul(array, array), Array)
assert_type(matmul(array, array, scale=2.0), Array)
as_callable: Callable[[Array, Array], Array] = matmul

matmul(array)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
matmul(array, array, scale="2")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
matmul(array, array, 2.0)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
matmul(a=array, b=array)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
wrong_result: str = matmul(array, array)  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]

@checked(same_device=True, same_dtype=True)
def add(x: Annotated[Array, Expect(dtype="float32")], y: Annotated[Array, Expect(dtype="float32")]) -> Array: ...

assert_type(add(array, array), Array)
assert_type(add(x=array, y=array), Array)
add(array, "y")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]

checked(same_device="yes")  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]

@checked
async def fetch(x: Annotated[Array, Spec(ndim=1)]) -> int: ...

as_coroutine: Coroutine[Any, Any, int] = fetch(array)
wrong_coroutine: Coroutine[Any, Any, str] = fetch(array)  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]

class Layer:
    @checked
    def forward(self, x: Annotated[Array, Spec(shape=("*batch", "n"))]) -> Array: ...
    @classmethod
    @checked
    def build(cls, x: Annotated[Array, Expect(ndim=2)]) -> "Layer": ...
    @staticmethod
    @checked
    def norm(x: Annotated[Array, Expect(ndim=2)]) -> float: ...

layer: Layer
assert_type(layer.forward(array), Array)
assert_type(Layer.build(array), Layer)
assert_type(Layer.norm(array), float)
layer.forward(array, array)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]

###
# Spec, Expect.matches, the switch and the error

spec = Spec(device="cpu", dtype="float32", shape=("n", 3), same_device="d", same_dtype="T")
assert_type(Spec(shape="*batch n 3"), Spec)
assert_type(spec.matches(array), bool)
assert_type(spec.check(array), None)
assert_type(spec.symbolic, bool)
assert_type(Expect(dtype="float32").matches(array), bool)
assert_type(Expect(dtype="float32").matches(3), bool)
Spec(shape=(1.5,))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
Spec(same_device=1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]

assert_type(checks_enabled(False), checks_enabled)
checks_enabled("no")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]

error: CheckedCallError
as_validation_error: DLPackValidationError = error
as_value_error: ValueError = error
assert_type(error.function, str)
assert_type(error.parameters, tuple[str, ...])

validator = beartype_validator(spec)
beartype_validator("float32")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]

"""validate() and Expect: the declared constraints, against real producers (NumPy, PyTorch
and JAX on the CPU).

Writability (versioned capsules say it, legacy ones cannot), every spelling of device and
dtype that docs/validation.md lists, shape wildcards, layouts, the error that lists every
violation at once, an Expect's reuse of its constraints, and constraints that cannot be
read, which raise before any tensor is looked at.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

import optype_dlpack as od
from optype_dlpack import (
    DLDataType,
    DLDataTypeCode,
    DLDevice,
    DLDeviceType,
    DLPackFlags,
    DLPackValidationError,
    Expect,
    inspect,
    validate,
)
from tests.support.arrays import FRAMEWORKS, TorchDType, torch, zeros
from tests.support.capsules import Declared, declared
from tests.support.frameworks import needs

needs_torch = needs("torch")
CODE = DLDataTypeCode


def test_read_only_numpy() -> None:
    x = np.arange(4.0)
    x.flags.writeable = False
    info = inspect(x)  # asked for a versioned capsule: numpy flags it
    assert info.readonly and info.flags == DLPackFlags.READ_ONLY
    validate(x, writable=False)
    with pytest.raises(DLPackValidationError) as excinfo:
        validate(x, writable=True)
    assert excinfo.value.rules == ("expect.writable",)
    assert "READ_ONLY set" in str(excinfo.value)
    capsule = x.__dlpack__(max_version=(1, 0))
    assert inspect(capsule).readonly
    with pytest.raises(BufferError):  # numpy refuses: a legacy capsule cannot say read-only
        x.__dlpack__()


@pytest.mark.parametrize("framework", ["numpy", pytest.param("torch", marks=needs_torch)])
def test_writable_arrays(framework: str) -> None:
    validate(zeros(framework, 2), writable=True)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_legacy_capsules_promise_neither_state(framework: str) -> None:
    legacy = zeros(framework, 2).__dlpack__()  # no max_version: a legacy capsule
    assert declared(legacy).version is None
    # a legacy capsule cannot promise either state (see docs/validation.md)
    for writable in (True, False):
        with pytest.raises(DLPackValidationError) as excinfo:
            validate(legacy, writable=writable)
        assert excinfo.value.rules == ("expect.writable",)
        assert "legacy capsule" in excinfo.value.violations[0].got
    validate(legacy, writable=None)


def writability_refused(says: Declared, writable: bool) -> str | None:
    """Why validate(writable=writable) refuses a capsule that declares `says` (None: it accepts)."""
    if says.version is None:
        return "legacy capsule"  # cannot promise either state
    if says.read_only == writable:
        return "READ_ONLY set" if writable else "READ_ONLY not set"
    return None


def test_jax_arrays_are_as_writable_as_jax_declares() -> None:
    x = jnp.zeros(2)
    jax_says = declared(x.__dlpack__(max_version=(1, 3)))  # legacy up to JAX 0.10, read-only later
    validate(x, writable=None)
    for writable in (True, False):
        refused = writability_refused(jax_says, writable)
        if refused is None:
            validate(x, writable=writable)
            continue
        with pytest.raises(DLPackValidationError) as excinfo:
            validate(x, writable=writable)
        assert excinfo.value.rules == ("expect.writable",)
        assert refused in excinfo.value.violations[0].got


# ---------------------------------------------------------------------------------------
# constraint spellings


@pytest.mark.parametrize(
    "device",
    [
        DLDeviceType.CPU,
        (DLDeviceType.CPU, 0),
        DLDevice(DLDeviceType.CPU, 0),
        DLDevice.parse("cpu"),
        "cpu",
        "CPU",
        "cpu:0",
        (1, 0),
        1,
    ],
    ids=repr,
)
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_device_spellings_that_match(device: object, framework: str) -> None:
    x = zeros(framework, 2)
    validate(x, device=device)
    Expect(device=device).check(x)


@pytest.mark.parametrize(
    ("device", "expected"),
    [
        (DLDeviceType.CUDA, "cuda"),
        ((DLDeviceType.CUDA, 1), "cuda:1"),
        (DLDevice(DLDeviceType.CUDA, 1), "cuda:1"),
        ("cuda:1", "cuda:1"),
        ("cuda", "cuda"),
        ("gpu", "cuda"),
        ("cpu_pinned", "cuda_host"),
        ((DLDeviceType.CPU, 1), "cpu:1"),
        (DLDeviceType.ROCM, "rocm"),
    ],
    ids=repr,
)
def test_device_spellings_that_differ(device: object, expected: str) -> None:
    with pytest.raises(DLPackValidationError) as excinfo:
        validate(np.zeros(2), device=device)
    (violation,) = excinfo.value.violations
    assert violation == od.Violation("expect.device", "device", expected, "cpu")


def spelling(dtype: object, make: Callable[[], object], *, uses_torch: bool = False) -> Any:
    return pytest.param(dtype, make, id=repr(dtype), marks=needs_torch if uses_torch else ())


DTYPE_SPELLINGS = [
    spelling(DLDataType(CODE.FLOAT, 32), lambda: np.zeros(2, np.float32)),
    spelling("float32", lambda: torch.zeros(2), uses_torch=True),
    spelling(np.dtype("float32"), lambda: jnp.zeros(2)),
    spelling(np.float32, lambda: torch.zeros(2), uses_torch=True),
    spelling(TorchDType("float32"), lambda: np.zeros(2, np.float32), uses_torch=True),
    spelling(jnp.float32, lambda: torch.zeros(2), uses_torch=True),
    spelling((2, 32), lambda: np.zeros(2, np.float32)),
    spelling((2, 32, 1), lambda: np.zeros(2, np.float32)),
    spelling("double", lambda: np.zeros(2)),
    spelling("half", lambda: torch.zeros(2, dtype=torch.float16), uses_torch=True),
    spelling("bool", lambda: np.zeros(2, bool)),
    spelling(np.bool_, lambda: torch.zeros(2, dtype=torch.bool), uses_torch=True),
    spelling(bool, lambda: jnp.zeros(2, bool)),
    spelling(ml_dtypes.bfloat16, lambda: torch.zeros(2, dtype=torch.bfloat16), uses_torch=True),
    spelling(np.dtype(ml_dtypes.bfloat16), lambda: jnp.zeros(2, jnp.bfloat16)),
    spelling("bfloat16", lambda: jnp.zeros(2, jnp.bfloat16)),
    spelling(TorchDType("bfloat16"), lambda: jnp.zeros(2, jnp.bfloat16), uses_torch=True),
    spelling(ml_dtypes.float8_e4m3fn, lambda: torch.zeros(2, dtype=torch.float8_e4m3fn), uses_torch=True),
    spelling("float8_e5m2", lambda: jnp.zeros(2, jnp.float8_e5m2)),
    spelling(TorchDType("complex64"), lambda: np.zeros(2, np.complex64), uses_torch=True),
    spelling(np.complex128, lambda: torch.zeros(2, dtype=torch.complex128), uses_torch=True),
    spelling(np.uint64, lambda: torch.zeros(2, dtype=torch.uint64), uses_torch=True),
]


@pytest.mark.parametrize(("dtype", "make"), DTYPE_SPELLINGS)
def test_dtype_spellings(dtype: object, make: Callable[[], object]) -> None:
    if isinstance(dtype, TorchDType):
        dtype = dtype.resolve()
    x = make()
    validate(x, dtype=dtype)
    Expect(dtype=dtype).check(x)
    with pytest.raises(DLPackValidationError) as excinfo:
        validate(x, dtype="int8")
    assert excinfo.value.rules == ("expect.dtype",)
    assert excinfo.value.violations[0].expected == "int8"


@pytest.mark.parametrize(
    ("shape", "ok"),
    [
        ((2, 3, 4), True),
        ((None, 3, 4), True),
        ((2, None, None), True),
        ((None, None, None), True),
        ([2, 3, 4], True),
        ((2, 3), False),
        ((2, 3, 5), False),
        ((None, 4, None), False),
        ((), False),
    ],
    ids=str,
)
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_shape_wildcards(shape: tuple[int | None, ...], ok: bool, framework: str) -> None:
    x = zeros(framework, 2, 3, 4)
    if ok:
        validate(x, shape=shape)
        return
    with pytest.raises(DLPackValidationError) as excinfo:
        validate(x, shape=shape)
    (violation,) = excinfo.value.violations
    assert violation.rule == "expect.shape"
    assert violation.got == "(2, 3, 4)"


@pytest.mark.parametrize(
    ("make", "c", "f"),
    [
        pytest.param(lambda: np.zeros((2, 3)), True, False, id="C"),
        pytest.param(lambda: np.zeros((2, 3)).T, False, True, id="F"),
        pytest.param(lambda: np.zeros((2, 3))[:, ::2], False, False, id="strided"),
        pytest.param(lambda: np.zeros(5), True, True, id="1d"),
        pytest.param(lambda: np.zeros(()), True, True, id="0d"),
        pytest.param(lambda: np.zeros((0, 3)), True, True, id="empty"),
        pytest.param(lambda: torch.zeros(2, 3).t(), False, True, id="torch-F", marks=needs_torch),
        pytest.param(lambda: jnp.zeros((2, 3)), True, False, id="jax-C"),
    ],
)
def test_layouts(make: Callable[[], object], c: bool, f: bool) -> None:
    x = make()
    validate(x, layout="any")
    for layout, holds in (("C", c), ("F", f)):
        if holds:
            validate(x, layout=layout)
            continue
        with pytest.raises(DLPackValidationError) as excinfo:
            validate(x, layout=layout)
        assert excinfo.value.rules == ("expect.layout",)


def test_every_violation_is_listed() -> None:
    x = np.zeros((2, 3))
    x.flags.writeable = False
    constraints = {
        "device": "cuda:1",
        "dtype": "float32",
        "ndim": 3,
        "shape": (2, 3, None),
        "writable": True,
        "layout": "F",
    }
    expected = [
        od.Violation("expect.device", "device", "cuda:1", "cpu"),
        od.Violation("expect.dtype", "dtype", "float32", "float64"),
        od.Violation("expect.shape", "shape", "(2, 3, None)", "(2, 3)"),
        od.Violation("expect.ndim", "ndim", "3", "2"),
        od.Violation("expect.writable", "writable", "a writable tensor", "READ_ONLY set"),
        od.Violation("expect.layout", "layout", "F-contiguous", "C-contiguous strides"),
    ]
    for check in (lambda: validate(x, **constraints), lambda: Expect(**constraints).validate(x),
                  lambda: Expect(**constraints).check(x)):
        with pytest.raises(DLPackValidationError) as excinfo:
            check()
        error = excinfo.value
        assert isinstance(error, ValueError)
        assert list(error.violations) == expected
        lines = str(error).splitlines()
        assert lines[0] == "DLPack tensor failed validation (6 violations):"
        assert lines[1:] == [f"  {v.field}: expected {v.expected}, got {v.got} [{v.rule}]" for v in expected]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_expect_reuses_its_constraints(framework: str) -> None:
    expect = Expect(device="cpu", dtype=np.float32, shape=(None, 3), layout="C")
    assert repr(expect) == "Expect(device='cpu', dtype=<class 'numpy.float32'>, shape=(None, 3), layout='C')"
    for rows in (4, 5, 1):
        x = zeros(framework, rows, 3)
        assert expect.check(x) is None
        assert expect.validate(x).shape == (rows, 3)
    with pytest.raises(DLPackValidationError):
        expect.check(np.zeros((4, 3)))


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"device": "npu"}, ValueError),
        ({"device": "cuda:x"}, ValueError),
        ({"device": 1.5}, TypeError),
        ({"dtype": "float33"}, ValueError),
        ({"dtype": object()}, TypeError),
        ({"dtype": np.dtype(">f4")}, TypeError),
        ({"ndim": -1}, ValueError),
        ({"ndim": True}, TypeError),
        ({"ndim": 2, "shape": (1,)}, ValueError),
        ({"shape": "ab"}, TypeError),
        ({"shape": (1, -2)}, ValueError),
        ({"shape": (1.0,)}, TypeError),
        ({"writable": 1}, TypeError),
        ({"layout": "K"}, ValueError),
        ({"verify_device": "maybe"}, ValueError),
    ],
    ids=repr,
)
def test_bad_constraints_are_rejected(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        validate(np.zeros(1), **kwargs)
    with pytest.raises(error):
        Expect(**kwargs)

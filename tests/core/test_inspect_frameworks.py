"""inspect() and validate() against real producers: NumPy, PyTorch (CPU) and JAX (CPU).

Every TensorInfo field is held against what the framework itself says about the array, and
every capsule handed to the validator is shown to be untouched: still named as it was, and
still consumable by a framework afterwards.
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Callable
from typing import Any

import jax
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
    DLPackVersion,
    Expect,
    inspect,
    validate,
)
from tests.support.capsules import Declared, declared
from tests.support.frameworks import needs, optional_import

torch: Any = optional_import("torch")  # None only where CI leaves torch out: see tests/support/frameworks.py
needs_torch = needs("torch")

_capsule_get_name = ctypes.pythonapi.PyCapsule_GetName
_capsule_get_name.restype = ctypes.c_char_p
_capsule_get_name.argtypes = [ctypes.py_object]


def capsule_name(capsule: object) -> str:
    name = _capsule_get_name(capsule)
    assert name is not None
    return name.decode()


class Hand:
    """Hands one capsule to a consumer that insists on calling __dlpack__."""

    def __init__(self, capsule: object) -> None:
        self.capsule = capsule

    def __dlpack__(self, **kwargs: object) -> object:
        return self.capsule

    def __dlpack_device__(self) -> tuple[int, int]:
        return (1, 0)


CODE = DLDataTypeCode

# Tests that hold every framework to the same rule run once per framework.
FRAMEWORKS = [pytest.param("numpy"), pytest.param("torch", marks=needs_torch), pytest.param("jax")]


def framework_module(framework: str) -> Any:
    """numpy, torch or jax.numpy: each has zeros, ones and float32 alike."""
    return {"numpy": np, "torch": torch, "jax": jnp}[framework]


def zeros(framework: str, *shape: int) -> Any:
    module = framework_module(framework)
    return module.zeros(shape, dtype=module.float32)


class TorchDType:
    """torch's dtype of this name, looked up as the test runs: torch is imported only where it
    is installed."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    def resolve(self) -> Any:
        return getattr(torch, self.name)


# ---------------------------------------------------------------------------------------
# What each framework says about its arrays


def numpy_facts(x: np.ndarray) -> dict[str, Any]:
    return {
        "shape": x.shape,
        "strides": tuple(s // x.itemsize for s in x.strides),
        "data_ptr": x.__array_interface__["data"][0],
        "c": x.flags.c_contiguous,
        "f": x.flags.f_contiguous,
        "itemsize": x.itemsize,
        "size": x.size,
    }


def torch_facts(x: Any) -> dict[str, Any]:
    return {
        "shape": tuple(x.shape),
        "strides": tuple(x.stride()),
        "data_ptr": x.data_ptr(),
        "c": x.is_contiguous(),
        "f": x.t().is_contiguous() if x.ndim == 2 else None,
        "itemsize": x.element_size(),
        "size": x.numel(),
    }


def jax_facts(x: jax.Array) -> dict[str, Any]:
    strides: list[int] = []
    step = 1
    for extent in reversed(x.shape):
        strides.insert(0, step)
        step *= extent
    return {
        "shape": x.shape,
        "strides": tuple(strides),
        "data_ptr": x.unsafe_buffer_pointer(),
        "c": True,
        "f": x.size == 0 or sum(e != 1 for e in x.shape) <= 1,
        "itemsize": x.dtype.itemsize,
        "size": x.size,
    }


def assert_describes(info: od.TensorInfo, facts: dict[str, Any], dtype: DLDataType) -> None:
    assert info.device == DLDevice(DLDeviceType.CPU, 0)
    assert info.device.type is DLDeviceType.CPU
    assert info.dtype == dtype
    assert isinstance(info.dtype.code, DLDataTypeCode)
    assert info.shape == facts["shape"]
    assert info.ndim == len(facts["shape"])
    assert info.size == facts["size"] == math.prod(facts["shape"])
    assert info.nbytes == facts["size"] * facts["itemsize"]
    assert info.byte_offset == 0
    if facts["size"] > 0:
        assert info.strides == facts["strides"]
        assert info.data_ptr == facts["data_ptr"]
    else:  # empty: the strides are arbitrary and the pointer may be NULL
        assert len(info.strides) == info.ndim
        assert info.data_ptr in (0, facts["data_ptr"])
        assert info.is_c_contiguous and info.is_f_contiguous
    assert info.is_c_contiguous == facts["c"]
    if facts["f"] is not None:
        assert info.is_f_contiguous == facts["f"]
    if od._core.cuda_driver_available():
        # with a driver loaded in the process, a CPU pointer is confirmed not to be device memory
        assert info.device_verified in (None, True)
    else:
        assert info.device_verified is None  # CPU memory and no driver: nothing was asked


# ---------------------------------------------------------------------------------------
# dtypes

NUMPY_DTYPES = [
    (np.bool_, DLDataType(CODE.BOOL, 8)),
    (np.int8, DLDataType(CODE.INT, 8)),
    (np.int16, DLDataType(CODE.INT, 16)),
    (np.int32, DLDataType(CODE.INT, 32)),
    (np.int64, DLDataType(CODE.INT, 64)),
    (np.uint8, DLDataType(CODE.UINT, 8)),
    (np.uint16, DLDataType(CODE.UINT, 16)),
    (np.uint32, DLDataType(CODE.UINT, 32)),
    (np.uint64, DLDataType(CODE.UINT, 64)),
    (np.float16, DLDataType(CODE.FLOAT, 16)),
    (np.float32, DLDataType(CODE.FLOAT, 32)),
    (np.float64, DLDataType(CODE.FLOAT, 64)),
    (np.complex64, DLDataType(CODE.COMPLEX, 64)),
    (np.complex128, DLDataType(CODE.COMPLEX, 128)),
]

TORCH_DTYPES = [
    (TorchDType("bool"), DLDataType(CODE.BOOL, 8)),
    (TorchDType("int8"), DLDataType(CODE.INT, 8)),
    (TorchDType("int16"), DLDataType(CODE.INT, 16)),
    (TorchDType("int32"), DLDataType(CODE.INT, 32)),
    (TorchDType("int64"), DLDataType(CODE.INT, 64)),
    (TorchDType("uint8"), DLDataType(CODE.UINT, 8)),
    (TorchDType("uint16"), DLDataType(CODE.UINT, 16)),
    (TorchDType("uint32"), DLDataType(CODE.UINT, 32)),
    (TorchDType("uint64"), DLDataType(CODE.UINT, 64)),
    (TorchDType("float16"), DLDataType(CODE.FLOAT, 16)),
    (TorchDType("bfloat16"), DLDataType(CODE.BFLOAT, 16)),
    (TorchDType("float32"), DLDataType(CODE.FLOAT, 32)),
    (TorchDType("float64"), DLDataType(CODE.FLOAT, 64)),
    (TorchDType("complex64"), DLDataType(CODE.COMPLEX, 64)),
    (TorchDType("complex128"), DLDataType(CODE.COMPLEX, 128)),
    (TorchDType("float8_e4m3fn"), DLDataType(CODE.FLOAT8_E4M3FN, 8)),
    (TorchDType("float8_e4m3fnuz"), DLDataType(CODE.FLOAT8_E4M3FNUZ, 8)),
    (TorchDType("float8_e5m2"), DLDataType(CODE.FLOAT8_E5M2, 8)),
    (TorchDType("float8_e5m2fnuz"), DLDataType(CODE.FLOAT8_E5M2FNUZ, 8)),
    (TorchDType("float8_e8m0fnu"), DLDataType(CODE.FLOAT8_E8M0FNU, 8)),
]

JAX_DTYPES = [
    (jnp.bool_, DLDataType(CODE.BOOL, 8)),
    (jnp.int8, DLDataType(CODE.INT, 8)),
    (jnp.int16, DLDataType(CODE.INT, 16)),
    (jnp.int32, DLDataType(CODE.INT, 32)),
    (jnp.uint8, DLDataType(CODE.UINT, 8)),
    (jnp.uint16, DLDataType(CODE.UINT, 16)),
    (jnp.uint32, DLDataType(CODE.UINT, 32)),
    (jnp.float16, DLDataType(CODE.FLOAT, 16)),
    (jnp.bfloat16, DLDataType(CODE.BFLOAT, 16)),
    (jnp.float32, DLDataType(CODE.FLOAT, 32)),
    (jnp.complex64, DLDataType(CODE.COMPLEX, 64)),
    (jnp.float8_e3m4, DLDataType(CODE.FLOAT8_E3M4, 8)),
    (jnp.float8_e4m3, DLDataType(CODE.FLOAT8_E4M3, 8)),
    (jnp.float8_e4m3b11fnuz, DLDataType(CODE.FLOAT8_E4M3B11FNUZ, 8)),
    (jnp.float8_e4m3fn, DLDataType(CODE.FLOAT8_E4M3FN, 8)),
    (jnp.float8_e4m3fnuz, DLDataType(CODE.FLOAT8_E4M3FNUZ, 8)),
    (jnp.float8_e5m2, DLDataType(CODE.FLOAT8_E5M2, 8)),
    (jnp.float8_e5m2fnuz, DLDataType(CODE.FLOAT8_E5M2FNUZ, 8)),
    (jnp.float8_e8m0fnu, DLDataType(CODE.FLOAT8_E8M0FNU, 8)),
]


@pytest.mark.parametrize(("scalar", "dtype"), NUMPY_DTYPES, ids=lambda v: getattr(v, "__name__", str(v)))
@pytest.mark.parametrize("shape", [(), (0, 3), (5,), (2, 3, 4)], ids=str)
def test_numpy_dtypes_and_shapes(scalar: type, dtype: DLDataType, shape: tuple[int, ...]) -> None:
    x = np.zeros(shape, dtype=scalar)
    info = inspect(x)
    assert_describes(info, numpy_facts(x), dtype)
    assert info.version == DLPackVersion(1, 0)  # numpy asks nothing newer of itself
    assert info.flags == DLPackFlags(0)
    assert not info.readonly
    # the spellings of the same dtype all match
    for spelling in (scalar, np.dtype(scalar), str(np.dtype(scalar)), dtype, str(dtype)):
        assert validate(x, dtype=spelling, shape=shape, ndim=len(shape), device="cpu") is not None


@needs_torch
@pytest.mark.parametrize(("named", "dtype"), TORCH_DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(), (0, 3), (5,), (2, 3, 4)], ids=str)
def test_torch_dtypes_and_shapes(named: TorchDType, dtype: DLDataType, shape: tuple[int, ...]) -> None:
    torch_dtype = named.resolve()
    x = torch.zeros(shape, dtype=torch.float32).to(torch_dtype)
    info = inspect(x)  # torch offers the DLPack C exchange API: no capsule at all
    assert_describes(info, torch_facts(x), dtype)
    assert info.version is not None and info.version.major == 1
    assert not info.readonly
    capsule_info = inspect(x.__dlpack__(max_version=(1, 3)))
    assert (capsule_info.shape, capsule_info.strides, capsule_info.dtype) == (info.shape, info.strides, info.dtype)
    for spelling in (torch_dtype, dtype, str(dtype)):
        validate(x, dtype=spelling, shape=shape, device=DLDeviceType.CPU)


@needs_torch
def test_torch_float4_packed_pairs() -> None:
    x = torch.zeros(6, dtype=torch.uint8).view(torch.float4_e2m1fn_x2)
    info = validate(x, dtype=torch.float4_e2m1fn_x2)
    # torch exports two packed fp4 values per byte as one element of two lanes
    assert info.dtype == DLDataType(CODE.FLOAT4_E2M1FN, 4, 2)
    assert str(info.dtype) == "float4_e2m1fn_x2"
    assert DLDataType.parse(str(info.dtype)) == info.dtype
    assert info.nbytes == 6


@pytest.mark.parametrize(("jax_dtype", "dtype"), JAX_DTYPES, ids=lambda v: getattr(v, "__name__", str(v)))
@pytest.mark.parametrize("shape", [(), (0, 3), (5,), (2, 3, 4)], ids=str)
def test_jax_dtypes_and_shapes(jax_dtype: Any, dtype: DLDataType, shape: tuple[int, ...]) -> None:
    x = jnp.zeros(shape, dtype=jax_dtype)
    info = inspect(x)
    assert_describes(info, jax_facts(x), dtype)
    # legacy capsules up to JAX 0.10, versioned read-only ones later: as the capsule says
    jax_says = declared(x.__dlpack__(max_version=(1, 3)))
    assert (info.version, info.flags, info.readonly) == (jax_says.version, jax_says.flags, jax_says.read_only)
    for spelling in (jax_dtype, np.dtype(jax_dtype), dtype):
        validate(x, dtype=spelling, shape=shape)


ML_DTYPES = [
    (ml_dtypes.bfloat16, DLDataType(CODE.BFLOAT, 16)),
    (ml_dtypes.float8_e3m4, DLDataType(CODE.FLOAT8_E3M4, 8)),
    (ml_dtypes.float8_e4m3, DLDataType(CODE.FLOAT8_E4M3, 8)),
    (ml_dtypes.float8_e4m3b11fnuz, DLDataType(CODE.FLOAT8_E4M3B11FNUZ, 8)),
    (ml_dtypes.float8_e4m3fn, DLDataType(CODE.FLOAT8_E4M3FN, 8)),
    (ml_dtypes.float8_e4m3fnuz, DLDataType(CODE.FLOAT8_E4M3FNUZ, 8)),
    (ml_dtypes.float8_e5m2, DLDataType(CODE.FLOAT8_E5M2, 8)),
    (ml_dtypes.float8_e5m2fnuz, DLDataType(CODE.FLOAT8_E5M2FNUZ, 8)),
    (ml_dtypes.float8_e8m0fnu, DLDataType(CODE.FLOAT8_E8M0FNU, 8)),
]


@pytest.mark.parametrize(("ml_dtype", "dtype"), ML_DTYPES, ids=lambda v: getattr(v, "__name__", str(v)))
def test_ml_dtypes_numpy_arrays(cpp_producer: Any, ml_dtype: type, dtype: DLDataType) -> None:
    # NumPy 2.4 cannot export ml_dtypes arrays (2.5 adds register_dlpack_dtype): wrap one
    # in a capsule whose deleter keeps the array alive, as an extension would.
    x = np.arange(12, dtype=np.float32).astype(ml_dtype).reshape(3, 4)
    for layout, version in (("versioned", DLPackVersion(1, 3)), ("legacy", None)):
        capsule = cpp_producer.make_capsule(
            data=x.ctypes.data, shape=list(x.shape), dtype=tuple(dtype), owner=x, layout=layout
        )
        info = validate(capsule, dtype=ml_dtype, shape=(3, 4), layout="C")
        assert_describes(info, numpy_facts(x), dtype)
        assert info.version == version
        validate(capsule, dtype=np.dtype(ml_dtype))
        validate(capsule, dtype=str(np.dtype(ml_dtype)))
    # the last capsule is still the producer's: JAX can take it and sees the same values
    consumed = jnp.from_dlpack(Hand(capsule))
    assert capsule_name(capsule) == "used_dltensor"
    np.testing.assert_array_equal(np.asarray(consumed).astype(np.float32), x.astype(np.float32))
    assert validate(jnp.asarray(x), dtype=ml_dtype).dtype == dtype  # and JAX's own export


# ---------------------------------------------------------------------------------------
# views: transposed, negative and zero strides, offsets


def numpy_views() -> list[tuple[str, np.ndarray]]:
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    return [
        ("transposed", base.T),
        ("negative", base[::-1]),
        ("negative-both", base[::-2, ::-3]),
        ("sliced", base[1:3, 2:5]),
        ("broadcast", np.broadcast_to(np.arange(6.0), (4, 6))),
        ("size-1 axis", base[:1]),
        ("fortran", np.asfortranarray(base)),
        ("3d-permuted", np.arange(24.0).reshape(2, 3, 4).transpose(2, 0, 1)),
    ]


@pytest.mark.parametrize(("name", "x"), numpy_views(), ids=[n for n, _ in numpy_views()])
def test_numpy_views(name: str, x: np.ndarray) -> None:
    info = inspect(x)
    assert_describes(info, numpy_facts(x), DLDataType(CODE.FLOAT, 64))
    assert info.readonly == (not x.flags.writeable)


# made in the test: torch is imported only where it is installed
TORCH_VIEWS: dict[str, Callable[[Any], Any]] = {
    "transposed": lambda base: base.t(),
    "sliced": lambda base: base[1:3, 2:5],
    "stepped": lambda base: base[::2, ::3],
    "expanded": lambda base: torch.arange(6.0).expand(4, 6),
    "size-1 axis": lambda base: base[:1],
    "strided size-1": lambda base: torch.empty_strided((3, 1), (1, 7)),
}


@needs_torch
@pytest.mark.parametrize("name", TORCH_VIEWS)
def test_torch_views(name: str) -> None:
    x = TORCH_VIEWS[name](torch.arange(24, dtype=torch.float32).reshape(4, 6))
    info = inspect(x)
    assert_describes(info, torch_facts(x), DLDataType(CODE.FLOAT, 32))
    assert info.byte_offset == 0  # torch folds the storage offset into data


def test_zero_stride_broadcast() -> None:
    info = inspect(np.broadcast_to(np.arange(3, dtype=np.int32), (5, 3)))
    assert info.strides == (0, 1)
    assert info.readonly  # numpy marks broadcast views read-only, and says so in the flags
    assert not info.is_c_contiguous and not info.is_f_contiguous
    assert info.size == 15 and info.nbytes == 60


@needs_torch
def test_zero_stride_expand() -> None:
    expanded = inspect(torch.zeros(1, 3).expand(5, 3))
    assert expanded.strides == (0, 1) and not expanded.readonly  # torch's expand stays writable


def test_size_one_axes_are_normalised() -> None:
    # shape (3, 1) with an odd stride on the size-1 axis is both C- and F-contiguous
    column = np.zeros((1, 3)).T  # numpy's own (3, 1) view, strides (1, 3) in elements
    validate(column, layout="C")
    validate(column, layout="F")


@needs_torch
def test_size_one_axes_with_odd_strides_are_normalised() -> None:
    x = torch.empty_strided((3, 1), (1, 7))
    for layout in ("C", "F", "any"):
        validate(x, layout=layout)


# ---------------------------------------------------------------------------------------
# capsules handed over directly: read, never renamed or consumed


def test_numpy_capsules_are_untouched() -> None:
    x = np.arange(6, dtype=np.int16).reshape(2, 3)
    legacy = x.__dlpack__()
    versioned = x.__dlpack__(max_version=(1, 0))
    assert inspect(legacy).version is None
    assert inspect(versioned).version == DLPackVersion(1, 0)
    for _ in range(3):  # again and again: still there
        validate(legacy, dtype="int16", shape=(2, 3))
        validate(versioned, dtype=np.int16, shape=(2, None), writable=True)
    assert capsule_name(legacy) == "dltensor"
    assert capsule_name(versioned) == "dltensor_versioned"
    for capsule in (legacy, versioned):
        y = np.from_dlpack(Hand(capsule))
        assert y.__array_interface__["data"][0] == x.__array_interface__["data"][0]
        np.testing.assert_array_equal(y, x)
    assert capsule_name(legacy) == "used_dltensor"
    assert capsule_name(versioned) == "used_dltensor_versioned"


@needs_torch
def test_torch_capsules_are_untouched() -> None:
    x = torch.arange(12, dtype=torch.float32).reshape(3, 4).t()
    for capsule, version in ((x.__dlpack__(), None), (x.__dlpack__(max_version=(1, 3)), DLPackVersion(1, 3))):
        info = inspect(capsule)
        assert info.version == version
        assert info.strides == (1, 4)
        validate(capsule, dtype=torch.float32, layout="F")
        assert capsule_name(capsule) in ("dltensor", "dltensor_versioned")
        y = torch.from_dlpack(capsule)
        assert y.data_ptr() == x.data_ptr() and torch.equal(y, x)
        assert capsule_name(capsule).startswith("used_")


def test_jax_capsule_is_untouched() -> None:
    x = jnp.arange(6, dtype=jnp.float32).reshape(2, 3)
    capsule = x.__dlpack__()
    info = inspect(capsule)
    assert info.version is None and info.data_ptr == x.unsafe_buffer_pointer()
    assert capsule_name(capsule) == "dltensor"
    y = np.from_dlpack(Hand(capsule))
    np.testing.assert_array_equal(y, np.asarray(x))
    assert capsule_name(capsule) == "used_dltensor"


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_objects_are_left_usable(framework: str) -> None:
    module = framework_module(framework)
    x = module.ones((3,), dtype=module.float32)
    inspect(x)
    validate(x, shape=(3,))
    Expect(ndim=1).check(x)
    assert float(np.from_dlpack(x).sum()) == 3.0


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
        ({"device": "tpu"}, ValueError),
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

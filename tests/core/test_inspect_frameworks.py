"""inspect() against real producers: NumPy, PyTorch (CPU) and JAX (CPU).

Every TensorInfo field is held against what the framework itself says about the array, and
every capsule handed to the validator is shown to be untouched: still named as it was, and
still consumable by a framework afterwards. validate()'s constraints, against the same
producers, are in test_validate.py.
"""

from __future__ import annotations

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
    DLPackVersion,
    Expect,
    inspect,
    validate,
)
from tests.support.arrays import FRAMEWORKS, TorchDType, framework_module, torch
from tests.support.capsules import CapsuleOffer, capsule_name, declared
from tests.support.frameworks import needs

needs_torch = needs("torch")



CODE = DLDataTypeCode

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
    consumed = jnp.from_dlpack(CapsuleOffer(capsule))
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
        y = np.from_dlpack(CapsuleOffer(capsule))
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
    y = np.from_dlpack(CapsuleOffer(capsule))
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

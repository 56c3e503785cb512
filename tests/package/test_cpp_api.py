"""The C++ API of docs/cpp.md, as an extension uses it (tests/producer/cpp_api_extension.cpp,
built against the installed headers through optype_dlpack.hpp): overloads, signatures, typed
tensors and views, streams, the CUDA driver shared with optype_dlpack._core, and tensors
returned to Python."""

from __future__ import annotations

import gc
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import jax.numpy as jnp
import numpy as np
import pytest

import optype_dlpack
from optype_dlpack import DLPackValidationError, Expect, _core
from tests.support.child import last_json, run_code
from tests.support.frameworks import needs, optional_import

torch: Any = optional_import("torch")
needs_torch = needs("torch")

SOURCE = Path(__file__).resolve().parents[1] / "producer" / "cpp_api_extension.cpp"
KDL_CUDA = 2
FLOAT32 = (2, 32, 1)


@pytest.fixture(scope="session")
def ext(build_cpp_extension: Callable[..., ModuleType]) -> ModuleType:
    include = Path(optype_dlpack.get_include())
    headers = sorted((include / "optype_dlpack").glob("*.hpp"))
    return build_cpp_extension(SOURCE, "cpp_api_extension", include_dirs=[str(include)], depends=headers)


def expect_of(function: Callable[..., object]) -> list[str]:
    """The Expect(...) expressions in a function's signature."""
    return re.findall(r"optype_dlpack\.(Expect\(.*?\))\]", function.__doc__ or "")


# ---------------------------------------------------------------------------------------
# Overloads


def test_overloads_by_dtype_fall_through(ext: ModuleType) -> None:
    assert ext.total(np.arange(4, dtype=np.float32)) == 6.0
    assert ext.total(np.arange(4.0)) == 6.0
    assert ext.total(jnp.arange(3.0, dtype=jnp.float32)) == 3.0
    assert ext.total("x") == "text: x"
    assert ext.plain_total(np.arange(4.0)) == 6.0  # without report_overloads: the first pass


def test_no_overload_lists_every_overloads_violations(ext: ModuleType) -> None:
    with pytest.raises(DLPackValidationError) as excinfo:
        ext.total(np.zeros((2, 2), np.int16))
    error = excinfo.value
    assert error.rules == ("expect.dtype", "expect.ndim", "expect.dtype", "expect.ndim")
    assert [v.field for v in error.violations] == [
        "overload 1: dtype",
        "overload 1: ndim",
        "overload 2: dtype",
        "overload 2: ndim",
    ]
    assert "overload 2: dtype: expected float64, got int16 [expect.dtype]" in str(error)
    notes = error.__notes__
    assert len(notes) == 3
    assert notes[0].startswith('overload 1: total(x: typing.Annotated[optype_dlpack.CanDLPack, optype_dlpack.Expect(dtype="float32", ndim=1)])')
    assert notes[2] == "overload 3: total(x: str) -> str (an argument of another type)"


def test_no_overload_for_a_non_tensor_is_pybind11s_type_error(ext: ModuleType) -> None:
    with pytest.raises(TypeError, match="incompatible function arguments"):
        ext.total(3)
    # and the next call starts afresh
    assert ext.total(np.ones(2)) == 2.0


def test_without_report_overloads_the_first_overloads_violations_are_raised(ext: ModuleType) -> None:
    with pytest.raises(DLPackValidationError) as excinfo:
        ext.plain_total(np.zeros((2, 2), np.int16))
    assert excinfo.value.rules == ("expect.dtype", "expect.ndim")


def test_a_body_calling_back_resolves_its_own_overloads(ext: ModuleType) -> None:
    assert ext.call_back(np.ones(1, np.float32), lambda: ext.total(np.ones(2))) == 2.0
    with pytest.raises(DLPackValidationError) as excinfo:
        ext.call_back(np.ones(1, np.float32), lambda: ext.plain_total(np.ones((1, 1))))
    assert excinfo.value.rules == ("expect.dtype", "expect.ndim")  # raised, not declined


def test_broken_rules_raise_during_overload_resolution(ext: ModuleType, tensors_freed: ModuleType) -> None:
    capsule = tensors_freed.make_capsule(shape=[3], dtype=(2, 64, 1), allocate=True, device=(1, 4))
    with pytest.raises(DLPackValidationError) as excinfo:
        ext.total(capsule)
    assert excinfo.value.rules == ("device.cpu_id",)
    del capsule, excinfo


# ---------------------------------------------------------------------------------------
# Signatures


def test_signatures_show_the_constraints(ext: ModuleType) -> None:
    assert expect_of(ext.everything) == [
        'Expect(dtype="complex128", shape=(None, 3), device=(1, 0), layout="F", writable=False, verify_device="skip")'
    ]
    assert expect_of(ext.bf16_rows) == ['Expect(dtype="bfloat16", ndim=2, device="cuda")']
    assert expect_of(ext.float8) == ['Expect(dtype=(10, 8, 1), layout="C", writable=True)']
    assert ext.facts.__doc__.startswith("facts(x: optype_dlpack.CanDLPack) -> dict")
    assert ext.squares.__doc__.endswith("-> optype_dlpack.SupportsDLPack\n")


@pytest.mark.parametrize("name", ["everything", "bf16_rows", "float8", "add_one", "total"])
def test_signature_constraints_are_expect_expressions(ext: ModuleType, name: str) -> None:
    """Each Expect(...) in a signature builds the Expect the C++ requirements stand for."""
    for expression in expect_of(getattr(ext, name)):
        expect = eval(expression, {"Expect": Expect})  # noqa: S307 - the extension's own signature
        assert isinstance(expect, Expect)


def test_the_signature_constraints_check_what_the_extension_checks(ext: ModuleType) -> None:
    (expression,) = expect_of(ext.add_one)
    expect = eval(expression, {"Expect": Expect})  # noqa: S307
    for candidate in (np.zeros((2, 2), np.float32), np.zeros(2, np.float32), jnp.zeros((2, 2), jnp.float32)):
        try:
            expect.validate(candidate)
            python_accepts = True
        except DLPackValidationError:
            python_accepts = False
        try:
            ext.add_one(candidate)
            cpp_accepts = True
        except DLPackValidationError:
            cpp_accepts = False
        assert python_accepts == cpp_accepts


# ---------------------------------------------------------------------------------------
# Typed tensors and views


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: np.arange(12.0, dtype=np.float32).reshape(3, 4)[:, ::2], id="numpy"),
        pytest.param(lambda: np.zeros((2, 3), np.complex128).T, id="complex"),
        pytest.param(lambda: torch.arange(6, dtype=torch.int16).reshape(2, 3), id="torch", marks=needs_torch),
        pytest.param(lambda: jnp.ones((2, 2)), id="jax"),
    ],
)
def test_facts_match_inspect(ext: ModuleType, make: Callable[[], object]) -> None:
    x = make()
    facts = ext.facts(x)
    info = optype_dlpack.inspect(x)
    itemsize = info.dtype.bits * info.dtype.lanes // 8
    assert tuple(facts["shape"]) == info.shape
    assert tuple(facts["strides"]) == info.strides
    assert tuple(facts["byte_strides"]) == tuple(s * itemsize for s in info.strides)
    assert facts["itemsize"] == itemsize
    assert facts["nbytes"] == info.size * itemsize
    assert facts["data"] == info.data_ptr + info.byte_offset
    assert facts["device_verified"] == -1  # a CPU label is not asked about (as validate does)
    assert facts["info"].shape == info.shape
    assert facts["info"].dtype == info.dtype


def test_view_writes_through(ext: ModuleType) -> None:
    x = np.zeros((3, 4), np.float32)
    ext.add_one(x[:, 1::2])
    assert x.tolist() == [[0.0, 1.0, 0.0, 1.0]] * 3


def test_no_write_into_an_immutable_jax_array(ext: ModuleType) -> None:
    x = jnp.zeros((2, 2), jnp.float32)
    with pytest.raises(DLPackValidationError) as excinfo:
        ext.add_one(x)
    assert excinfo.value.rules == ("expect.writable",)
    assert float(x.sum()) == 0.0


def test_no_silent_conversion_of_float64_into_a_float32_parameter(ext: ModuleType) -> None:
    x = np.zeros((2, 2))
    with pytest.raises(DLPackValidationError) as excinfo:
        ext.add_one(x)
    assert excinfo.value.rules == ("expect.dtype",)


def test_view_of_another_type_raises(ext: ModuleType) -> None:
    with pytest.raises(DLPackValidationError) as excinfo:
        ext.wrong_view(np.zeros(3))
    assert excinfo.value.rules == ("expect.dtype", "expect.ndim")


# ---------------------------------------------------------------------------------------
# Streams: a producer on a CUDA label (an empty tensor: no memory for a driver to check)


def cuda_producer(tensors_freed: ModuleType) -> Any:
    return tensors_freed.Producer(reported_device=(KDL_CUDA, 0), device=(KDL_CUDA, 0), shape=[0], dtype=FLOAT32)


def test_default_stream_is_the_legacy_default_stream(ext: ModuleType, tensors_freed: ModuleType) -> None:
    producer = cuda_producer(tensors_freed)
    assert ext.on_default_stream(producer) == 0
    assert producer.calls[-1]["stream"] is None


def test_the_consumers_stream_is_passed(ext: ModuleType, tensors_freed: ModuleType) -> None:
    producer = cuda_producer(tensors_freed)
    ext.set_stream(12345)
    assert ext.on_our_stream(producer) == 0
    assert producer.calls[-1]["stream"] == 12345
    assert ext.on_given_stream(producer, 777) == 0
    assert producer.calls[-1]["stream"] == 777
    assert ext.without_sync(producer) == 0
    assert producer.calls[-1]["stream"] == -1


def test_a_cpu_producer_is_asked_with_stream_none(ext: ModuleType, tensors_freed: ModuleType) -> None:
    producer = tensors_freed.Producer(reported_device=(1, 0), shape=[2], dtype=FLOAT32, allocate=True)
    assert ext.on_given_stream(producer, 777) == 2
    assert producer.calls[-1]["stream"] is None
    assert ext.on_given_stream(np.zeros(2, np.float32), 777) == 2  # NumPy takes stream=None only


# ---------------------------------------------------------------------------------------
# The CUDA driver: _core's, shared


def test_the_driver_is_cores(ext: ModuleType) -> None:
    driver = ext.driver()
    assert driver["available"] == _core.cuda_driver_available()
    if not driver["available"]:
        assert driver["reason"] == _core.cuda_driver_status()


def test_device_checks_as_validate_does(ext: ModuleType, tensors_freed: ModuleType) -> None:
    producer = cuda_producer(tensors_freed)
    python_verified = optype_dlpack.inspect(producer).device_verified
    assert ext.verified_auto(producer) == (-1 if python_verified is None else int(python_verified))
    if _core.cuda_driver_available():
        return  # tests/cuda/test_cpp_api_gpu.py: the checks with a driver
    with pytest.raises(DLPackValidationError) as cpp:
        ext.verified(producer)
    with pytest.raises(DLPackValidationError) as python:
        Expect(verify_device="require").validate(producer)
    assert cpp.value.violations == python.value.violations
    assert cpp.value.rules == ("device.unverified",)


def test_one_driver_state_in_the_process(ext: ModuleType) -> None:
    """OPTYPE_DLPACK_DISABLE_CUDA is read once, by _core, for the extension too."""
    result = last_json(
        run_code(
            """
            import importlib.util, json, sys
            from optype_dlpack import _core
            spec = importlib.util.spec_from_file_location("cpp_api_extension", sys.argv[1])
            ext = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(ext)
            driver = ext.driver()
            print(json.dumps({"reason": driver["reason"], "core": _core.cuda_driver_status(),
                              "available": driver["available"]}))
            """,
            ext.__file__,
            env={"OPTYPE_DLPACK_DISABLE_CUDA": "1"},
        )
    )
    assert result["available"] is False
    assert result["reason"] == result["core"]
    assert "OPTYPE_DLPACK_DISABLE_CUDA" in result["reason"]


# ---------------------------------------------------------------------------------------
# Tensors returned to Python


def test_an_owned_vector_returned(ext: ModuleType) -> None:
    returned = ext.squares(5)
    assert returned.__dlpack_device__() == (1, 0)
    array = np.from_dlpack(returned)
    del returned
    gc.collect()
    assert array.tolist() == [0.0, 1.0, 4.0, 9.0, 16.0]
    assert jnp.from_dlpack(ext.squares(3)).tolist() == [0.0, 1.0, 4.0]
    info = optype_dlpack.inspect(ext.squares(2))
    assert info.version == (1, 3)
    assert info.flags == 0


@needs_torch
def test_an_owned_vector_returned_to_torch(ext: ModuleType) -> None:
    assert torch.from_dlpack(ext.squares(4)).tolist() == [0.0, 1.0, 4.0, 9.0]


def test_a_unique_ptr_returned_read_only(ext: ModuleType) -> None:
    before = ext.frees()
    returned = ext.fortran_matrix()
    array = np.from_dlpack(returned)
    assert array.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert not array.flags.writeable
    assert optype_dlpack.inspect(returned).flags == 1  # READ_ONLY
    with pytest.raises(BufferError, match="read-only"):
        returned.__dlpack__()  # a legacy capsule cannot say read-only
    del returned
    gc.collect()
    assert ext.frees() == before  # the array still uses the memory
    del array
    gc.collect()
    assert ext.frees() == before + 1


def test_borrowed_memory_keeps_its_owner_alive(ext: ModuleType) -> None:
    data = b"abcdefg"
    held = sys.getrefcount(data)
    array = np.from_dlpack(ext.every_other(data))
    assert bytes(array) == b"aceg"
    assert sys.getrefcount(data) == held + 1
    del array
    gc.collect()
    assert sys.getrefcount(data) == held


def test_a_shape_beyond_the_vector_is_refused(ext: ModuleType) -> None:
    with pytest.raises(ValueError, match="address elements"):
        ext.out_of_bounds()


def test_export_refuses_what_it_cannot_do(ext: ModuleType) -> None:
    returned = ext.squares(2)
    with pytest.raises(BufferError, match="copy"):
        returned.__dlpack__(copy=True)
    with pytest.raises(BufferError, match="device"):
        returned.__dlpack__(dl_device=(KDL_CUDA, 0))


def test_strict_makes_newer_values_violations(ext: ModuleType, tensors_freed: ModuleType) -> None:
    """As validate(strict=True): a device type newer than the package knows, permitted in a
    version 1.3 capsule, is a finding by default and a violation under od::strict."""
    newer = tensors_freed.make_capsule(device=(25, 0), shape=[0], dtype=FLOAT32)
    assert ext.facts(newer)["shape"] == [0]
    with pytest.raises(DLPackValidationError) as cpp:
        ext.strict_ndim(newer)
    with pytest.raises(DLPackValidationError) as python:
        optype_dlpack.validate(newer, strict=True)
    assert cpp.value.violations == python.value.violations
    assert expect_of(ext.strict_ndim) == ["Expect(strict=True)"]

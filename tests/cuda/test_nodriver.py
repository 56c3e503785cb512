"""CUDA capsules where the CUDA driver cannot be asked.

Every machine can run these: with ``OPTYPE_DLPACK_DISABLE_CUDA=1`` (in a child process, since
the driver is opened once per process) no driver is ever used, and in this process the
expectation follows whatever driver the machine has. The capsules are built here with
ctypes; the child process loads this file to build the same ones.
"""

from __future__ import annotations

import ctypes
import textwrap
from pathlib import Path
from typing import Any

import pytest

import optype_dlpack
from optype_dlpack import DLPackValidationError, _core
from tests.support.capsules import new_capsule
from tests.support.child import run_against
from tests.support.dlpack_h import (
    KDL_CPU,
    KDL_CUDA,
    KDL_CUDA_HOST,
    KDL_CUDA_MANAGED,
    KDL_ROCM,
    VERSIONED_NAME,
    DLDataType,
    DLDevice,
    DLManagedTensorVersioned,
    DLPackVersion,
    as_int64_pointer,
    int64_array,
)

FLOAT32 = (2, 32, 1)

# ---------------------------------------------------------------------------------------
# Capsules built with ctypes

_alive: list[object] = []  # the structs of every capsule made here live as long as the process


def make_capsule(
    *,
    data: int,
    device: tuple[int, int],
    shape: tuple[int, ...],
    strides: tuple[int, ...] | None,
    dtype: tuple[int, int, int] = FLOAT32,
    byte_offset: int = 0,
    version: tuple[int, int] = (1, 3),
) -> object:
    """A ``dltensor_versioned`` capsule with exactly these fields (and a NULL deleter)."""
    ndim = len(shape)
    shape_array = int64_array(shape)
    strides_array = None if strides is None else int64_array(strides)
    managed = DLManagedTensorVersioned()
    managed.version = DLPackVersion(*version)
    managed.dl_tensor.data = data or None
    managed.dl_tensor.device = DLDevice(*device)
    managed.dl_tensor.ndim = ndim
    managed.dl_tensor.dtype = DLDataType(*dtype)
    managed.dl_tensor.shape = as_int64_pointer(shape_array)
    if strides_array is not None:
        managed.dl_tensor.strides = as_int64_pointer(strides_array)
    managed.dl_tensor.byte_offset = byte_offset
    _alive.extend((managed, shape_array, strides_array))
    return new_capsule(ctypes.addressof(managed), VERSIONED_NAME, None)


_host_buffer = ctypes.create_string_buffer(4096)  # real host memory for "lying" CUDA labels
HOST = ctypes.addressof(_host_buffer)


def cuda_capsule(device: tuple[int, int] = (KDL_CUDA, 0), **fields: Any) -> object:
    """A well-formed 4-element float32 capsule over host memory, labelled ``device``."""
    fields.setdefault("data", HOST)
    fields.setdefault("shape", (4,))
    fields.setdefault("strides", (1,))
    return make_capsule(device=device, **fields)


# ---------------------------------------------------------------------------------------
# A child process with the driver disabled runs a snippet against this module (as `t`).

_RULES_OF = """
import optype_dlpack
from optype_dlpack import _core
def rules_of(call):
    try:
        info = call()
    except optype_dlpack.DLPackValidationError as error:
        return {"raised": type(error).__name__, "violations": [list(v) for v in error.violations]}
    return {"raised": None, "device_verified": info.device_verified if info is not None else "none"}
"""


def run_without_driver(snippet: str, tmp_path: Path) -> dict[str, Any]:
    snippet = _RULES_OF + textwrap.dedent(snippet)
    return run_against(__file__, snippet, cwd=tmp_path, env={"OPTYPE_DLPACK_DISABLE_CUDA": "1"})


# ---------------------------------------------------------------------------------------
# The driver disabled by the environment.


def test_environment_disables_the_driver(tmp_path: Path) -> None:
    out = run_without_driver(
        "result['available'] = _core.cuda_driver_available(); result['status'] = _core.cuda_driver_status()",
        tmp_path,
    )
    assert out["available"] is False
    assert "OPTYPE_DLPACK_DISABLE_CUDA=1" in out["status"]


@pytest.mark.parametrize("device", [(KDL_CUDA, 0), (KDL_CUDA, 3), (KDL_CUDA_HOST, 0), (KDL_CUDA_MANAGED, 0)])
def test_auto_leaves_cuda_capsules_unverified(device: tuple[int, int], tmp_path: Path) -> None:
    out = run_without_driver(
        f"""
result['inspect'] = rules_of(lambda: optype_dlpack.inspect(t.cuda_capsule({device!r})))
result['validate'] = rules_of(lambda: optype_dlpack.validate(t.cuda_capsule({device!r})))
result['expect'] = rules_of(lambda: optype_dlpack.Expect(device={device!r}).validate(t.cuda_capsule({device!r})))
""",
        tmp_path,
    )
    for call in ("inspect", "validate", "expect"):
        assert out[call] == {"raised": None, "device_verified": None}, call


@pytest.mark.parametrize(
    "device", [(KDL_CUDA, 0), (KDL_CUDA_HOST, 0), (KDL_CUDA_MANAGED, 0), (KDL_CPU, 0), (KDL_ROCM, 0)]
)
def test_require_raises_unverified_with_the_reason(device: tuple[int, int], tmp_path: Path) -> None:
    out = run_without_driver(
        f"""
capsule = t.cuda_capsule({device!r})
result['validate'] = rules_of(lambda: optype_dlpack.validate(capsule, verify_device='require'))
result['expect'] = rules_of(lambda: optype_dlpack.Expect(verify_device='require').check(capsule))
""",
        tmp_path,
    )
    for call in ("validate", "expect"):
        assert out[call]["raised"] == "DLPackValidationError", call
        [(rule, field, expected, got)] = out[call]["violations"]
        assert (rule, field) == ("device.unverified", "device")
        assert expected == "a device verified by the CUDA driver"
        if device[0] == KDL_ROCM:  # no CUDA driver could check it in any case
            assert got == "unverified (the CUDA driver cannot check kDLROCM memory)"
        else:
            assert got == "unverified (OPTYPE_DLPACK_DISABLE_CUDA=1 disables the CUDA driver)"


def test_skip_never_asks(tmp_path: Path) -> None:
    out = run_without_driver(
        """
result['validate'] = rules_of(lambda: optype_dlpack.validate(t.cuda_capsule(), verify_device='skip'))
result['expect'] = rules_of(lambda: optype_dlpack.Expect(verify_device='skip').validate(t.cuda_capsule()))
result['check'] = rules_of(lambda: optype_dlpack.Expect(verify_device='skip').check(t.cuda_capsule()))
""",
        tmp_path,
    )
    assert out["validate"] == {"raised": None, "device_verified": None}
    assert out["expect"] == {"raised": None, "device_verified": None}
    assert out["check"] == {"raised": None, "device_verified": "none"}


def test_cpu_capsules_are_not_asked_about_under_auto(tmp_path: Path) -> None:
    out = run_without_driver(
        "result['cpu'] = rules_of(lambda: optype_dlpack.validate(t.cuda_capsule((t.KDL_CPU, 0))))", tmp_path
    )
    assert out["cpu"] == {"raised": None, "device_verified": None}


# ---------------------------------------------------------------------------------------
# In this process: the machine's own driver, whatever it is.


def test_driver_status_is_consistent() -> None:
    status = _core.cuda_driver_status()
    if _core.cuda_driver_available():
        assert status == "loaded"
    else:
        assert status  # names why, e.g. "libcuda.so.1 cannot be loaded …"
        assert status != "loaded"


def test_auto_on_a_host_pointer_labelled_cuda() -> None:
    capsule = cuda_capsule()
    if not _core.cuda_driver_available():
        assert optype_dlpack.validate(capsule).device_verified is None
        assert optype_dlpack.inspect(capsule).device_verified is None
    else:  # the driver sees through the label: HOST is ordinary host memory
        with pytest.raises(DLPackValidationError) as caught:
            optype_dlpack.validate(capsule)
        assert caught.value.rules == ("device.not_device_memory",)


def test_require_on_a_host_pointer_labelled_cpu() -> None:
    capsule = cuda_capsule((KDL_CPU, 0))
    if not _core.cuda_driver_available():
        with pytest.raises(DLPackValidationError) as caught:
            optype_dlpack.validate(capsule, verify_device="require")
        [violation] = caught.value.violations
        assert violation.rule == "device.unverified"
        assert violation.got == f"unverified ({_core.cuda_driver_status()})"
    else:
        assert optype_dlpack.validate(capsule, verify_device="require").device_verified is True


def test_skip_never_asks_in_process() -> None:
    # A host pointer labelled CUDA: any question to a driver would expose it.
    info = optype_dlpack.validate(cuda_capsule(), verify_device="skip")
    assert info.device_verified is None
    assert info.device == optype_dlpack.DLDevice(optype_dlpack.DLDeviceType.CUDA, 0)
    assert optype_dlpack.Expect(verify_device="skip").check(cuda_capsule()) is None


# ---------------------------------------------------------------------------------------
# CUDA capsules still get every structural rule, whatever verify_device says: the driver
# is only asked about a tensor that passed them.

_BROKEN: dict[str, dict[str, Any]] = {
    "shape.negative": {"shape": (4, -1), "strides": (1, 1)},
    "strides.null_since_1_2": {"shape": (4,), "strides": None},
    "device.id": {"device": (KDL_CUDA, -1)},
    "dtype.bits": {"dtype": (2, 12, 1)},
    "dtype.lanes": {"dtype": (2, 32, 0)},
    "data.null": {"data": 0},
    "version.major": {"version": (2, 0)},
    "byte_offset.overflow": {"byte_offset": 2**63},
    "ndim.too_large": {"shape": (1,) * 1025, "strides": (1,) * 1025},
}


@pytest.mark.parametrize("verify", ["auto", "require", "skip"])
@pytest.mark.parametrize("rule", sorted(_BROKEN))
def test_structural_rules_apply_to_cuda_capsules(rule: str, verify: str) -> None:
    with pytest.raises(DLPackValidationError) as caught:
        optype_dlpack.validate(cuda_capsule(**_BROKEN[rule]), verify_device=verify)
    assert caught.value.rules == (rule,)


def test_structural_rules_apply_without_a_driver(tmp_path: Path) -> None:
    out = run_without_driver(
        """
for rule, fields in t._BROKEN.items():
    result[rule] = rules_of(lambda: optype_dlpack.validate(t.cuda_capsule(**fields), verify_device='require'))
""",
        tmp_path,
    )
    for rule in _BROKEN:
        assert [v[0] for v in out[rule]["violations"]] == [rule], rule


def test_constraints_apply_to_cuda_capsules() -> None:
    with pytest.raises(DLPackValidationError) as caught:
        optype_dlpack.validate(cuda_capsule((KDL_CUDA, 1)), device="cuda:0", dtype="float16", verify_device="skip")
    assert caught.value.rules == ("expect.device", "expect.dtype")

"""Run-time ``isinstance`` checks of the protocols against real producers.

``isinstance`` with a runtime-checkable protocol only sees that the methods exist, so each
producer is also called the way the protocol promises (keyword-only arguments) to check that
the promise holds.
"""

from __future__ import annotations

import ctypes
from typing import Any

import jax.numpy as jnp
import numpy as np
import pytest

from optype_dlpack import (
    CanDLPack,
    CanDLPackCompat,
    CanDLPackDevice,
    HasDLPackCExchangeAPI,
    SupportsDLPack,
)
from tests.support.frameworks import needs, optional_import

torch: Any = optional_import("torch")  # None only where CI leaves torch out: see tests/support/frameworks.py
needs_torch = needs("torch")

PRODUCER_PROTOCOLS = [CanDLPack, CanDLPackCompat, CanDLPackDevice, SupportsDLPack]

_capsule_is_valid = ctypes.pythonapi.PyCapsule_IsValid
_capsule_is_valid.restype = ctypes.c_int
_capsule_is_valid.argtypes = [ctypes.py_object, ctypes.c_char_p]


def _is_capsule(obj: object, name: bytes) -> bool:
    return type(obj).__name__ == "PyCapsule" and _capsule_is_valid(obj, name) == 1


def _numpy() -> Any:
    return np.arange(6, dtype=np.float32).reshape(2, 3)


def _torch() -> Any:
    return torch.arange(6, dtype=torch.float32).reshape(2, 3)


def _jax() -> Any:
    return jnp.arange(6, dtype=jnp.float32).reshape(2, 3)


PRODUCERS = [
    pytest.param(_numpy, id="numpy"),
    pytest.param(_torch, id="torch", marks=needs_torch),
    pytest.param(_jax, id="jax"),
]


class LegacyProducer:
    """A pre-2023.12 producer: `__dlpack__` takes `stream` only."""

    def __init__(self) -> None:
        self._array = np.zeros(3)

    def __dlpack__(self, *, stream: None = None) -> Any:
        return self._array.__dlpack__(stream=stream)


@pytest.mark.parametrize("make", PRODUCERS)
@pytest.mark.parametrize("protocol", PRODUCER_PROTOCOLS, ids=lambda p: p.__name__)
def test_framework_arrays_are_producers(make: Any, protocol: type) -> None:
    assert isinstance(make(), protocol)


@pytest.mark.parametrize("make", PRODUCERS)
def test_framework_arrays_keep_the_can_dlpack_promise(make: Any) -> None:
    x = make()
    capsule = x.__dlpack__(stream=None, max_version=(1, 3), dl_device=None, copy=None)
    assert _is_capsule(capsule, b"dltensor_versioned") or _is_capsule(capsule, b"dltensor")
    assert _is_capsule(x.__dlpack__(stream=None), b"dltensor")  # CanDLPackCompat: the legacy request


@pytest.mark.parametrize("make", PRODUCERS)
def test_framework_arrays_keep_the_can_dlpack_device_promise(make: Any) -> None:
    device_type, device_id = make().__dlpack_device__()
    assert (int(device_type), int(device_id)) == (1, 0)
    assert isinstance(device_type, int)
    assert isinstance(device_id, int)


@pytest.mark.parametrize("make", PRODUCERS)
def test_stream_is_keyword_only(make: Any) -> None:
    with pytest.raises(TypeError):
        make().__dlpack__(None)


def test_legacy_producer_is_only_compat() -> None:
    legacy = LegacyProducer()
    assert isinstance(legacy, CanDLPackCompat)
    # isinstance cannot see the missing keywords: the method exists, so this is True too...
    assert isinstance(legacy, CanDLPack)
    # ...but it is not a device reporter, so not a complete producer
    assert not isinstance(legacy, CanDLPackDevice)
    assert not isinstance(legacy, SupportsDLPack)
    with pytest.raises(TypeError, match="max_version"):
        legacy.__dlpack__(max_version=(1, 3))


@pytest.mark.parametrize(
    "obj",
    [object(), [1.0, 2.0], memoryview(b"abc"), 3.0, np.float64(1.0).item()],
    ids=["object", "list", "memoryview", "float", "python-scalar"],
)
@pytest.mark.parametrize("protocol", [*PRODUCER_PROTOCOLS, HasDLPackCExchangeAPI], ids=lambda p: p.__name__)
def test_non_producers_are_not_instances(obj: object, protocol: type) -> None:
    assert not isinstance(obj, protocol)


@pytest.mark.parametrize("protocol", [*PRODUCER_PROTOCOLS, HasDLPackCExchangeAPI], ids=lambda p: p.__name__)
def test_a_capsule_is_not_a_producer(protocol: type) -> None:
    assert not isinstance(_numpy().__dlpack__(), protocol)


@needs_torch
def test_torch_tensor_has_the_c_exchange_api() -> None:
    tensor = _torch()
    assert isinstance(tensor, HasDLPackCExchangeAPI)
    # the 1.3 form: a capsule named "dlpack_exchange_api" on the type
    assert _is_capsule(type(tensor).__dlpack_c_exchange_api__, b"dlpack_exchange_api")


@pytest.mark.parametrize("make", [pytest.param(_numpy, id="numpy"), pytest.param(_jax, id="jax")])
def test_others_have_no_c_exchange_api(make: Any) -> None:
    x = make()
    assert not isinstance(x, HasDLPackCExchangeAPI)
    assert not hasattr(type(x), "__dlpack_c_exchange_api__")

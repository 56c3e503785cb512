"""from_dlpack and asdlpack against the project's test-only C++ producer (tests/conftest.py):
its deleters count their calls, and it can write any field value, so ownership is checked
on capsules made by C++ code, as real producers make them."""

from __future__ import annotations

import gc
from types import ModuleType

import numpy as np
import pytest

from optype_dlpack import DLPackConsumedError, DLPackValidationError, _core

from_dlpack = _core.from_dlpack
asdlpack = _core.asdlpack


def test_view_owns_the_tensor_until_its_last_view_dies(tensors_freed: ModuleType) -> None:
    capsule = tensors_freed.make_capsule(shape=(2, 3), dtype=(2, 64, 1), allocate=True)
    array = from_dlpack(capsule)
    array[...] = 4.0
    assert tensors_freed.deleter_calls() == 0
    column = array[:, 1]
    del array, capsule
    gc.collect()
    assert tensors_freed.deleter_calls() == 0
    assert column.tolist() == [4.0, 4.0]
    del column
    gc.collect()
    assert tensors_freed.deleter_calls() == 1


@pytest.mark.parametrize("layout", ["versioned", "legacy"])
def test_consumed_once(tensors_freed: ModuleType, layout: str) -> None:
    capsule = tensors_freed.make_capsule(shape=(4,), allocate=True, layout=layout)
    array = from_dlpack(capsule)
    with pytest.raises(DLPackConsumedError, match="already consumed"):
        from_dlpack(capsule)
    assert array.flags.writeable == (layout == "versioned")
    del array
    assert tensors_freed.deleter_calls() == 1


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"shape": None, "ndim": 2}, "shape.null"),
        ({"strides": None, "shape": (2, 2)}, "strides.null_since_1_2"),
        ({"version": (1, 3), "flags": 8}, "flags.unknown"),
        ({"layout": "legacy", "name": "dltensor_versioned"}, "capsule.layout"),
    ],
)
def test_rejected_capsules_are_freed_by_their_own_destructor(
    tensors_freed: ModuleType, fields: dict[str, object], rule: str
) -> None:
    fields.setdefault("shape", (4,))
    capsule = tensors_freed.make_capsule(allocate=fields.get("shape") is not None, **fields)
    with pytest.raises(DLPackValidationError, match=rule.replace(".", r"\.")):
        from_dlpack(capsule)
    assert tensors_freed.deleter_calls() == 0
    del capsule
    gc.collect()
    assert tensors_freed.deleter_calls() == 1


def test_producer_objects(tensors_freed: ModuleType) -> None:
    modern = tensors_freed.Producer(shape=(3,), allocate=True)
    assert from_dlpack(modern).shape == (3,)
    assert modern.calls == [{"stream": None, "max_version": (1, 3), "dl_device": None, "copy": None}]
    old = tensors_freed.LegacyProducer(shape=(2,), allocate=True, layout="legacy")
    assert from_dlpack(old).shape == (2,)
    assert old.calls[-1] == {"stream": None}
    gc.collect()
    assert tensors_freed.deleter_calls() == 2


def test_reexported_producer_passes_arguments_through(tensors_freed: ModuleType) -> None:
    source = tensors_freed.Producer(shape=(2,), allocate=True)
    wrapped = asdlpack(source)
    view = np.from_dlpack(wrapped)
    assert view.shape == (2,)
    assert source.calls[-1]["max_version"] == (1, 0)  # what NumPy asked, untouched
    del view
    gc.collect()
    assert tensors_freed.deleter_calls() == 1


def test_capsule_wrapped_by_asdlpack_is_freed_once(tensors_freed: ModuleType) -> None:
    wrapped = asdlpack(tensors_freed.make_capsule(shape=(5,), allocate=True))
    array = np.from_dlpack(wrapped)
    del wrapped
    gc.collect()
    assert array.shape == (5,)
    del array
    gc.collect()
    assert tensors_freed.deleter_calls() == 1

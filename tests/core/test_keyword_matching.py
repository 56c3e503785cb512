"""Keyword arguments of validate() reach the parameter they name, however they are spelt.

validate() remembers where the keyword names of its last call went (a call site passes the
same tuple of names every time; src_cpp/boundary.hpp, Parameters). These tests hold every
call to the meaning of its own names: call sites with the same names in other orders,
names built at run time (not interned), names passed through ``**``, and wrong names after
a remembered call, in turns.
"""

from __future__ import annotations

import numpy as np
import pytest

import optype_dlpack as od
from optype_dlpack import DLPackValidationError

X = np.zeros((2, 3), dtype=np.float32)


def runtime(name: str) -> str:
    """`name` as a new str object, not the interned one."""
    return "".join(list(name))


def test_same_names_in_other_orders_and_spellings() -> None:
    for _ in range(3):
        assert od.validate(X, device="cpu", dtype="float32").shape == (2, 3)
        assert od.validate(X, dtype="float32", device="cpu").shape == (2, 3)
        assert od.validate(X, **{runtime("dtype"): "float32", runtime("device"): "cpu"}).shape == (2, 3)
        with pytest.raises(DLPackValidationError, match="expect.dtype"):
            od.validate(X, device="cpu", dtype="int8")
        with pytest.raises(DLPackValidationError, match="expect.dtype"):
            od.validate(X, dtype="int8", device="cpu")
        with pytest.raises(DLPackValidationError, match="expect.ndim"):
            od.validate(X, ndim=3, device="cpu")
        with pytest.raises(DLPackValidationError, match="expect.ndim"):
            od.validate(X, device="cpu", ndim=3)


def test_each_name_reaches_its_own_parameter_after_another_call_site() -> None:
    # The same tuple of names from one call site, called between others: the values go
    # where the names say, never where the previous call's names went.
    def first(x: object, a: object, b: object) -> od.TensorInfo:
        return od.validate(x, ndim=a, dtype=b)

    def second(x: object, a: object, b: object) -> od.TensorInfo:
        return od.validate(x, dtype=a, ndim=b)

    for _ in range(3):
        assert first(X, 2, "float32").ndim == 2
        assert second(X, "float32", 2).ndim == 2
        with pytest.raises(DLPackValidationError, match="expect.ndim"):
            first(X, 1, "float32")
        with pytest.raises(DLPackValidationError, match="expect.dtype"):
            second(X, "int32", 2)


def test_wrong_names_are_refused_after_a_remembered_call() -> None:
    od.validate(X, device="cpu", dtype="float32")
    with pytest.raises(TypeError, match="unexpected keyword argument 'devices'"):
        od.validate(X, devices="cpu", dtype="float32")
    with pytest.raises(TypeError, match="unexpected keyword argument 'devices'"):
        od.validate(X, **{runtime("devices"): "cpu"})
    od.validate(X, device="cpu", dtype="float32")
    with pytest.raises(TypeError, match="takes 1 positional argument"):
        od.validate(X, X, device="cpu", dtype="float32")  # type: ignore[call-arg]


def test_every_parameter_by_keyword_at_once() -> None:
    names = ("device", "dtype", "ndim", "shape", "writable", "layout", "verify_device", "strict")
    values = ("cpu", "float32", 2, (2, 3), None, "C", "skip", False)
    for spell in (str, runtime):
        info = od.validate(X, **{spell(n): v for n, v in zip(names, values)})
        assert info.shape == (2, 3)
        assert info.device_verified is None
        with pytest.raises(DLPackValidationError, match="expect.shape"):
            od.validate(X, **{spell(n): v for n, v in zip(names, (*values[:3], (3, 2), *values[4:]))})

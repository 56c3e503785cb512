"""inspect.signature works on every public callable, and tells the truth about it.

The extension's functions and methods carry CPython text signatures (``__text_signature__``);
each signature here is checked against the callable itself: a call that passes every
parameter by the kind the signature gives is accepted, and a positional-only parameter
refuses its name as a keyword, a keyword-only one refuses a positional argument.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import optype_dlpack as od

_P = inspect.Parameter

# Public classes that no one constructs: calling them raises TypeError whatever the arguments.
NOT_CONSTRUCTED = {"TensorInfo", "DLPackObject"}


def _public_callables() -> dict[str, Callable[..., Any]]:
    return {name: getattr(od, name) for name in od.__all__ if callable(getattr(od, name))}


@pytest.mark.parametrize("name", sorted(set(_public_callables()) - NOT_CONSTRUCTED))
def test_every_public_callable_has_a_signature(name: str) -> None:
    signature = inspect.signature(_public_callables()[name])
    assert isinstance(signature, inspect.Signature)


@pytest.mark.parametrize("name", sorted(NOT_CONSTRUCTED))
def test_classes_that_are_never_constructed_refuse_every_call(name: str) -> None:
    with pytest.raises(TypeError, match="cannot create"):
        getattr(od, name)()


def test_the_errors_take_what_exception_takes() -> None:
    # DLPackError writes its __init__ out only so that inspect can read a signature for it
    (parameter,) = inspect.signature(od.DLPackError).parameters.values()
    assert parameter.kind is inspect.Parameter.VAR_POSITIONAL
    assert od.DLPackError("a", 1).args == ("a", 1)


###
# The extension's callables: signature, and calls that follow it


def _capsule() -> object:
    return np.arange(6, dtype=np.float32).reshape(2, 3).__dlpack__(max_version=(1, 3))


def _array() -> np.ndarray[Any, Any]:
    return np.arange(6, dtype=np.float32).reshape(2, 3)


EXPECT = od.Expect(ndim=2)

# qualified name -> (callable, its text signature as inspect renders it, arguments for a call:
# a value for each required parameter)
EXTENSION: dict[str, tuple[Callable[..., Any], str, Callable[[], dict[str, Any]]]] = {
    "inspect": (od.inspect, "(x, /)", lambda: {"x": _capsule()}),
    "validate": (
        od.validate,
        "(x, /, *, device=None, dtype=None, ndim=None, shape=None, writable=None, layout=None, verify_device='auto', "
        "strict=False)",
        lambda: {"x": _capsule()},
    ),
    "from_dlpack": (od.from_dlpack, "(x, /, *, device=None, copy=None)", lambda: {"x": _capsule()}),
    "to_dlpack": (od.to_dlpack, "(obj, /, *, versioned=True, readonly=None)", lambda: {"obj": _array()}),
    "asdlpack": (od.asdlpack, "(obj, /)", lambda: {"obj": _array()}),
    "Expect": (
        od.Expect,
        "(*, device=None, dtype=None, ndim=None, shape=None, writable=None, layout=None, verify_device='auto', "
        "strict=False)",
        dict,
    ),
    "Expect.__init__": (
        od.Expect.__init__,
        "(self, /, *, device=None, dtype=None, ndim=None, shape=None, writable=None, layout=None, "
        "verify_device='auto', strict=False)",
        lambda: {"self": od.Expect.__new__(od.Expect)},
    ),
    "Expect.check": (od.Expect.check, "(self, x, /)", lambda: {"self": EXPECT, "x": _capsule()}),
    "Expect.validate": (od.Expect.validate, "(self, x, /)", lambda: {"self": EXPECT, "x": _capsule()}),
    "Expect.matches": (od.Expect.matches, "(self, x, /)", lambda: {"self": EXPECT, "x": _capsule()}),
    "Expect.__repr__": (od.Expect.__repr__, "(self, /)", lambda: {"self": EXPECT}),
    "Expect.__class_getitem__": (od.Expect.__class_getitem__, "(item, /)", lambda: {"item": od.DLDeviceType}),
    "TensorInfo.__repr__": (od.TensorInfo.__repr__, "(self, /)", lambda: {"self": od.inspect(_capsule())}),
    "TensorInfo.__class_getitem__": (od.TensorInfo.__class_getitem__, "(item, /)", lambda: {"item": od.DLDeviceType}),
    "DLPackObject.__dlpack__": (
        od.DLPackObject.__dlpack__,
        "(self, /, *, stream=None, max_version=None, dl_device=None, copy=None)",
        lambda: {"self": od.asdlpack(_array())},
    ),
    "DLPackObject.__dlpack_device__": (
        od.DLPackObject.__dlpack_device__,
        "(self, /)",
        lambda: {"self": od.asdlpack(_array())},
    ),
    "_core.parse_dtype": (od._core.parse_dtype, "(name, /)", lambda: {"name": "float32"}),
    "_core.format_dtype": (od._core.format_dtype, "(code, bits, lanes, /)", lambda: {"code": 2, "bits": 32, "lanes": 1}),
    "_core.parse_device": (od._core.parse_device, "(name, /)", lambda: {"name": "cuda:1"}),
    "_core.format_device": (od._core.format_device, "(device_type, device_id, /)", lambda: {"device_type": 2, "device_id": 1}),
    "_core.cuda_driver_available": (od._core.cuda_driver_available, "()", dict),
    "_core.cuda_driver_status": (od._core.cuda_driver_status, "()", dict),
}


def _call(function: Callable[..., Any], signature: inspect.Signature, values: dict[str, Any]) -> Any:
    """Calls `function` with `values`, each passed the way its parameter must be passed (by
    keyword when the signature has no such parameter)."""
    params = signature.parameters
    positional = [values[p.name] for p in params.values() if p.kind is _P.POSITIONAL_ONLY and p.name in values]
    keywords = {
        name: value for name, value in values.items() if name not in params or params[name].kind is not _P.POSITIONAL_ONLY
    }
    return function(*positional, **keywords)


@pytest.mark.parametrize("qualname", sorted(EXTENSION))
def test_extension_signature_is_the_documented_one(qualname: str) -> None:
    function, expected, _ = EXTENSION[qualname]
    assert str(inspect.signature(function)) == expected


@pytest.mark.parametrize("qualname", sorted(EXTENSION))
def test_a_call_that_follows_the_signature_is_accepted(qualname: str) -> None:
    function, _, arguments = EXTENSION[qualname]
    signature = inspect.signature(function)
    values = arguments()
    required = {p.name for p in signature.parameters.values() if p.default is _P.empty and p.kind in (_P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD, _P.KEYWORD_ONLY)}
    assert required <= set(values), f"the test gives no value for {required - set(values)}"
    _call(function, signature, values)
    # every keyword-only parameter, given its default explicitly, is accepted too
    defaults = {p.name: p.default for p in signature.parameters.values() if p.kind is _P.KEYWORD_ONLY}
    _call(function, signature, {**arguments(), **defaults})


@pytest.mark.parametrize("qualname", sorted(EXTENSION))
def test_positional_only_parameters_refuse_their_names(qualname: str) -> None:
    function, _, arguments = EXTENSION[qualname]
    signature = inspect.signature(function)
    values = arguments()
    for parameter in signature.parameters.values():
        if parameter.kind is not _P.POSITIONAL_ONLY or parameter.name == "self":
            continue  # (a method descriptor checks `self` before anything else)
        positional = [values[p.name] for p in signature.parameters.values() if p.kind is _P.POSITIONAL_ONLY and p.name != parameter.name]
        with pytest.raises(TypeError):
            function(*positional, **{parameter.name: values[parameter.name]})


@pytest.mark.parametrize("qualname", sorted(q for q, (_, expected, _) in EXTENSION.items() if "*" in expected))
def test_keyword_only_parameters_refuse_positions(qualname: str) -> None:
    function, _, arguments = EXTENSION[qualname]
    signature = inspect.signature(function)
    values = arguments()
    keyword_only = [p for p in signature.parameters.values() if p.kind is _P.KEYWORD_ONLY]
    assert keyword_only
    positional = [values[p.name] for p in signature.parameters.values() if p.kind is _P.POSITIONAL_ONLY]
    with pytest.raises(TypeError):
        function(*positional, keyword_only[0].default)


@pytest.mark.parametrize("qualname", sorted(EXTENSION))
def test_unknown_keywords_are_refused(qualname: str) -> None:
    function, _, arguments = EXTENSION[qualname]
    signature = inspect.signature(function)
    with pytest.raises(TypeError):
        _call(function, signature, {**arguments(), "no_such_parameter": None})


def test_bound_methods_drop_self() -> None:
    assert str(inspect.signature(EXPECT.check)) == "(x, /)"
    assert str(inspect.signature(od.asdlpack(_array()).__dlpack__)) == (
        "(*, stream=None, max_version=None, dl_device=None, copy=None)"
    )


def test_every_public_extension_method_is_covered() -> None:
    # a new public method of an extension class must get an entry above
    found = set()
    for cls in (od.Expect, od.TensorInfo, od.DLPackObject):
        for name, attribute in vars(cls).items():
            public = not name.startswith("_") or (name.startswith("__") and name.endswith("__"))
            function = attribute.__func__ if isinstance(attribute, staticmethod) else attribute
            if public and type(function).__name__ in {"method_descriptor", "builtin_function_or_method", "instancemethod"}:
                found.add(f"{cls.__name__}.{name}")
    assert found <= set(EXTENSION), sorted(found - set(EXTENSION))

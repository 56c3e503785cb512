"""Checked annotations: ``Annotated[T, Expect(...)]`` or ``Annotated[T, Spec(...)]`` on a
function's parameters and return value, enforced on every call by ``@checked``.

`Expect` (C++) holds concrete constraints only; `Spec` adds what relates one tensor to another
within a call: shape symbols (``"n"``, ``"*batch"``) and shared device or dtype groups. A Spec
splits itself once, at construction, into a native `Expect` for everything concrete and a small
program for the symbols. ``@checked`` reads the annotations once into a plan, which it compiles
into a native callable (src_cpp/checked_function.cpp): a call then costs one native check per
argument, the symbols bound in a C++ array. Only a failed check comes back here, to the
diagnosis. docs/annotations.md describes the vocabulary and the error format.
"""

# Spec's internals (its split shape, its binder) are read by the plan and the diagnosis below:
# one unit, in one module, so protected names are used across it.
# pyright: reportPrivateUsage=false

from __future__ import annotations

import functools
import importlib
import inspect
import os
import sys
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple, TypeVar, cast, overload

from . import _core
from ._errors import CheckedCallError, DLPackValidationError, Violation

if sys.version_info >= (3, 11):
    from typing import Self
else:  # pragma: no cover - the oldest supported Python
    from typing_extensions import Self

if sys.version_info >= (3, 13):
    from typing import TypeIs
else:  # pragma: no cover - older Pythons
    from typing_extensions import TypeIs

__all__ = ["CheckedCallError", "Spec", "beartype_validator", "checked", "checks_enabled"]

_F = TypeVar("_F", bound=Callable[..., Any])

ENVIRONMENT_SWITCH = "OPTYPE_DLPACK_CHECKS"
_OFF_VALUES = frozenset({"0", "false", "no", "off"})

# Read by every checked wrapper on every call (a module global: the cheapest lookup there is).
_enabled = True


def _switch(enabled: bool) -> None:
    """The state that the Python wrappers read, and the one that the native ones read."""
    global _enabled
    _enabled = enabled
    _core._checked_switch(enabled)


class checks_enabled:  # noqa: N801 - used like a function, as torch.set_grad_enabled is
    """Turn the checks of every ``@checked`` function on or off, now; as a context manager,
    restore the previous state on exit.

    ``checks_enabled(False)`` switches off at once; ``with checks_enabled(False): ...`` switches
    off for the block. The state is one per process (not per thread). Functions decorated while
    ``OPTYPE_DLPACK_CHECKS=0`` was set are not wrapped at all and stay unchecked.
    """

    def __init__(self, enabled: bool, /) -> None:
        self._previous = _enabled
        _switch(bool(enabled))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        _switch(self._previous)


def _checks_wanted_by_environment() -> bool:
    return os.environ.get(ENVIRONMENT_SWITCH, "1").strip().lower() not in _OFF_VALUES


# ---------------------------------------------------------------------------------------------
# Spec: an Expect plus symbols


class _Dims(NamedTuple):
    """A symbolic shape, split: what the native Expect checks and what the plan binds."""

    native_ndim: int | None
    native_shape: tuple[int | None, ...] | None
    min_ndim: int  # with a "*group": the extents named around it
    symbols: tuple[tuple[str, int], ...]  # (name, index); a negative index counts from the end
    fixed: tuple[tuple[int, int], ...]  # (index, extent) that the native shape cannot hold
    star: tuple[str, int, int] | None  # (name, leading, trailing); name "" = anonymous "..."


def _shape_items(shape: str | Sequence[int | str | None]) -> list[int | str | None]:
    """jaxtyping's string form ``"batch n 3"`` or a sequence, as a list of items."""
    if isinstance(shape, str):
        return [int(word) if word.isdigit() else word for word in shape.split()]
    items: list[object] = list(shape)
    for index, item in enumerate(items):
        if not (item is None or isinstance(item, (int, str))) or isinstance(item, bool):
            raise TypeError(f"shape[{index}]: expected an int, a symbol (str) or None, got {type(item).__name__}")
    return cast("list[int | str | None]", items)


def _is_star(item: int | str | None) -> bool:
    return isinstance(item, str) and (item.startswith("*") or item == "...")


def _split_dims(shape: str | Sequence[int | str | None], ndim: int | None) -> _Dims:
    items = _shape_items(shape)
    stars = [index for index, item in enumerate(items) if _is_star(item)]
    if len(stars) > 1:
        raise ValueError(f"shape: at most one '*group' or '...', got {len(stars)}")
    for index, item in enumerate(items):
        if isinstance(item, str) and not _is_star(item) and not item.isidentifier():
            raise ValueError(f"shape[{index}]: {item!r} is not a symbol (a Python identifier, '*name' or '...')")
    if not stars:
        symbols = tuple((item, index) for index, item in enumerate(items) if isinstance(item, str) and item != "_")
        native = tuple(item if isinstance(item, int) else None for item in items)
        return _Dims(ndim, native, 0, symbols, (), None)
    at = stars[0]
    leading, trailing = at, len(items) - at - 1
    # extents before the group count from the start, those after it from the end
    placed = [(item, index) for index, item in enumerate(items[:at])]
    placed += [(item, index - len(items)) for index, item in enumerate(items) if index > at]
    symbols = tuple((item, index) for item, index in placed if isinstance(item, str) and item != "_")
    fixed = tuple((index, item) for item, index in placed if isinstance(item, int))
    star_item = items[at]
    assert isinstance(star_item, str)
    name = "" if star_item == "..." else star_item[1:]
    if name and not name.isidentifier():
        raise ValueError(f"shape[{at}]: {star_item!r} is not a group ('*' and a Python identifier)")
    return _Dims(ndim, None, leading + trailing, symbols, fixed, (name, leading, trailing))


class Spec:
    """`Expect`'s constraints plus symbols that relate the tensors of one call.

    ``shape`` may hold symbols: ``"n"`` (one extent, equal wherever ``n`` appears in the call),
    ``"*batch"`` (any number of extents, bound as a group), ``"..."`` (any number, unbound),
    ``"_"`` or ``None`` (any one extent), or be one string in jaxtyping's form (``"batch n 3"``).
    ``same_device="d"`` / ``same_dtype="T"`` put the tensor into a group whose members must share
    a device / a dtype. Everything concrete is compiled into a native `Expect` (``.expect``).
    """

    __slots__ = ("_dims", "_program", "_repr", "_shape", "expect", "same_device", "same_dtype")

    expect: _core.Expect[Any]
    same_device: str | None
    same_dtype: str | None

    def __init__(
        self,
        *,
        device: Any = None,
        dtype: Any = None,
        ndim: int | None = None,
        shape: str | Sequence[int | str | None] | None = None,
        writable: bool | None = None,
        layout: Any = None,
        verify_device: Any = "auto",
        same_device: str | None = None,
        same_dtype: str | None = None,
    ) -> None:
        _check_group_name("same_device", same_device)
        _check_group_name("same_dtype", same_dtype)
        dims = _split_dims(shape, ndim) if shape is not None else _Dims(ndim, None, 0, (), (), None)
        self.expect = _core.Expect(
            device=device,
            dtype=dtype,
            ndim=dims.native_ndim,
            shape=dims.native_shape,
            writable=writable,
            layout=layout,
            verify_device=verify_device,
        )
        self._dims = dims
        self._shape = None if shape is None else repr(shape if isinstance(shape, str) else tuple(shape))
        self.same_device = same_device
        self.same_dtype = same_dtype
        given = {"device": device, "dtype": dtype, "ndim": ndim, "shape": shape, "writable": writable, "layout": layout}
        parts = [f"{key}={value!r}" for key, value in given.items() if value is not None]
        if verify_device != "auto":
            parts.append(f"verify_device={verify_device!r}")
        parts += [f"{key}={value!r}" for key, value in (("same_device", same_device), ("same_dtype", same_dtype)) if value]
        self._repr = f"Spec({', '.join(parts)})"
        self._program = _program(self)

    def __repr__(self) -> str:
        return self._repr

    @property
    def symbolic(self) -> bool:
        """Whether a call must read this tensor's shape, device or dtype (symbols or groups)."""
        return self._program is not None

    def matches(self, x: Any, /) -> bool:
        """Whether ``x`` meets the constraints; a shape symbol must agree with itself
        (``("n", "n")`` is a square). False for an object that is not a DLPack tensor."""
        expect = self.expect
        step = (0, expect.check if self._program is None else expect.validate, self._program, False)
        try:
            return bool(_core._checked_run((step,), (x,), {}))
        except DLPackValidationError:
            return False
        except TypeError:
            if _is_dlpack_object(x):
                raise
            return False

    def check(self, x: Any, /) -> None:
        """Raise CheckedCallError (a DLPackValidationError) unless ``x`` matches."""
        failures = list(_diagnose([("x", self, x)]))
        if failures:
            raise CheckedCallError("Spec.check", failures)


def _check_group_name(keyword: str, group: object) -> None:
    if group is not None and not (isinstance(group, str) and group.isidentifier()):
        raise TypeError(f"{keyword}: expected a group name (a Python identifier), got {group!r}")


def _is_constraint(item: object) -> TypeIs[Spec | _core.Expect[Any]]:
    return isinstance(item, (Spec, _core.Expect))


def _is_dlpack_object(x: object) -> bool:
    return hasattr(x, "__dlpack__") or type(x).__name__ == "PyCapsule"


def _with_groups(spec: Spec | _core.Expect[Any], same_device: bool, same_dtype: bool) -> Spec | _core.Expect[Any]:
    """The decorator's ``same_device=True``/``same_dtype=True``: a Spec in the call's one group
    (named ""), unless it names a group of its own."""
    if not (same_device or same_dtype):
        return spec
    copy = Spec.__new__(Spec)
    if isinstance(spec, Spec):
        copy.expect, copy._dims, copy._repr, copy._shape = spec.expect, spec._dims, spec._repr, spec._shape
        copy.same_device, copy.same_dtype = spec.same_device, spec.same_dtype
    else:
        copy.expect, copy._dims, copy._repr, copy._shape = spec, _Dims(None, None, 0, (), (), None), repr(spec), None
        copy.same_device = copy.same_dtype = None
    if same_device and copy.same_device is None:
        copy.same_device = ""
    if same_dtype and copy.same_dtype is None:
        copy.same_dtype = ""
    copy._program = _program(copy)
    return copy


# ---------------------------------------------------------------------------------------------
# Diagnosis: the slow path, taken only once a check failed; it finds every violation.


def _device_name(device: Any) -> str:
    return str(_core.format_device(int(device[0]), int(device[1])))


def _dtype_name(dtype: Any) -> str:
    return str(_core.format_dtype(int(dtype[0]), int(dtype[1]), int(dtype[2])))


class _Origins:
    """What the call bound so far, and where: the first place each symbol or group was seen."""

    def __init__(self) -> None:
        self.seen: dict[Any, tuple[Any, str, str]] = {}  # key -> (value, shown value, place)

    def bind(self, key: Any, value: Any, shown: str, label: str, field: str, what: str) -> Violation | None:
        place = f"`{label}`.{field}"
        if key not in self.seen:
            self.seen[key] = (value, shown, place)
            return None
        bound, bound_shown, bound_place = self.seen[key]
        if bound == value:
            return None
        rule = "checked.symbol" if what in ("", "*") else f"checked.same_{what}"
        name = f"{what}{key}" if what in ("", "*") else (f"{what} {key[1]}" if key[1] else what)
        return Violation(rule, field, f"{name} = {bound_shown} from {bound_place}", shown)


def _shape_violations(label: str, dims: _Dims, shape: tuple[int, ...], origins: _Origins) -> Iterator[Violation]:
    ndim = len(shape)
    if dims.star is not None and ndim < dims.min_ndim:
        yield Violation("checked.ndim", "ndim", f">= {dims.min_ndim}", str(ndim))
        return
    if dims.native_shape is not None and ndim != len(dims.native_shape):
        return  # the native check reported the rank; the symbols cannot be placed
    for index, extent in dims.fixed:
        if shape[index] != extent:
            yield Violation("checked.shape", f"shape[{index % ndim}]", str(extent), str(shape[index]))
    if dims.star is not None and dims.star[0]:
        name, leading, trailing = dims.star
        group = shape[leading : ndim - trailing]
        conflict = origins.bind(name, group, str(group), label, f"shape[{leading}:{ndim - trailing}]", "*")
        if conflict is not None:
            yield conflict
    for name, index in dims.symbols:
        conflict = origins.bind(name, shape[index], str(shape[index]), label, f"shape[{index % ndim}]", "")
        if conflict is not None:
            yield conflict


def _spec_violations(label: str, spec: Spec | _core.Expect[Any], value: Any, origins: _Origins) -> Iterator[Violation]:
    expect = spec.expect if isinstance(spec, Spec) else spec
    try:
        info = expect.validate(value)
    except DLPackValidationError as error:
        yield from (_symbolic_shape(spec, violation) for violation in error.violations)
        try:  # the symbols are still bound (and checked) where the tensor can be read
            info = _core.inspect(value)
        except (DLPackValidationError, TypeError):
            return
    except TypeError:
        yield Violation("checked.not_a_tensor", "type", "a DLPack capsule or producer", type(value).__name__)
        return
    if not isinstance(spec, Spec):
        return
    yield from _shape_violations(label, spec._dims, tuple(info.shape), origins)
    if spec.same_device is not None:
        conflict = origins.bind(("device", spec.same_device), info.device, _device_name(info.device), label, "device", "device")
        if conflict is not None:
            yield conflict
    if spec.same_dtype is not None:
        conflict = origins.bind(("dtype", spec.same_dtype), info.dtype, _dtype_name(info.dtype), label, "dtype", "dtype")
        if conflict is not None:
            yield conflict


def _symbolic_shape(spec: Spec | _core.Expect[Any], violation: Violation) -> Violation:
    """A native shape violation, with the shape as the Spec spells it (symbols, not None)."""
    if isinstance(spec, Spec) and violation.field == "shape" and spec._shape is not None:
        return violation._replace(expected=spec._shape)
    return violation


def _diagnose(checks: Iterable[tuple[str, Spec | _core.Expect[Any], object]]) -> Iterator[tuple[str, Violation]]:
    origins = _Origins()
    for label, spec, value in checks:
        for violation in _spec_violations(label, spec, value, origins):
            yield label, violation


# ---------------------------------------------------------------------------------------------
# The plan: which parameters are checked, and how


class _Entry(NamedTuple):
    spec: Spec | _core.Expect[Any]
    optional: bool  # None passes (the annotated type admits None)


def _constraint_of(hint: Any) -> _Entry | None:
    """The Spec or Expect in ``Annotated[T, ...]`` (or in ``Annotated[...] | None``)."""
    optional = False
    origin = typing.get_origin(hint)
    if origin is typing.Union or (sys.version_info >= (3, 10) and origin is types.UnionType):
        members = typing.get_args(hint)
        annotated = [member for member in members if typing.get_origin(member) is typing.Annotated]
        if len(annotated) != 1:
            return None
        optional = type(None) in members
        hint = annotated[0]
    elif origin is not typing.Annotated:
        return None
    found = [constraint for constraint in map(_constraint_in, hint.__metadata__) if constraint is not None]
    if not found:
        return None
    if len(found) > 1:
        raise TypeError(f"one Expect or Spec per annotation, got {len(found)}: {found}")
    base = typing.get_args(hint)[0]
    optional = optional or base is None or type(None) in typing.get_args(base)
    return _Entry(found[0], optional)


def _constraint_in(item: object) -> Spec | _core.Expect[Any] | None:
    """An Expect or a Spec, or the one behind a validator from beartype_validator()."""
    if _is_constraint(item):
        return item
    found = _BEARTYPE_VALIDATORS.get(id(item))
    return found[1] if found is not None and found[0] is item else None


def _call_label(function: Callable[..., Any]) -> str:
    return getattr(function, "__qualname__", None) or getattr(function, "__name__", None) or repr(function)


_NO_VALUE: Any = object()


# One argument's part of a call, for _core._checked_run: (position in the values, the native
# check, the program of symbols and groups, whether None passes).
_Step = tuple[int, Callable[[Any], Any], "tuple[tuple[Any, ...], ...] | None", bool]
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _step(position: int, entry: _Entry) -> _Step:
    spec = entry.spec
    program = _program(spec) if isinstance(spec, Spec) else None
    expect = spec.expect if isinstance(spec, Spec) else spec
    # without a program the TensorInfo is not needed: check() makes none
    call: Callable[[Any], Any] = expect.check if program is None else expect.validate
    return position, call, program, entry.optional


def _program(spec: Spec) -> tuple[tuple[Any, ...], ...] | None:
    """What _core._checked_run binds for one tensor (checked_plan.hpp's Op); None: nothing."""
    dims = spec._dims
    steps: list[tuple[Any, ...]] = []
    if dims.star is not None:
        steps.append((3, dims.min_ndim))
        steps += [(1, index, extent) for index, extent in dims.fixed]
        name, leading, trailing = dims.star
        if name:
            steps.append((2, name, leading, trailing))
    steps += [(0, name, index) for name, index in dims.symbols]
    if spec.same_device is not None:
        steps.append((4, ("device", spec.same_device)))
    if spec.same_dtype is not None:
        steps.append((5, ("dtype", spec.same_dtype)))
    return tuple(steps) or None


class _Plan:
    """Everything the wrapper needs, read once from the annotations."""

    def __init__(self, function: Callable[..., Any], same_device: bool, same_dtype: bool, scope: dict[str, Any]) -> None:
        hints = typing.get_type_hints(function, localns=scope or None, include_extras=True)
        self.name = _call_label(function)
        self.signature = inspect.signature(function)
        self.entries: dict[str, _Entry] = {}
        for name, hint in hints.items():
            entry = _constraint_of(hint)
            if entry is not None:
                self.entries[name] = _Entry(_with_groups(entry.spec, same_device, same_dtype), entry.optional)
        self.returns = self.entries.pop("return", None)
        parameters = list(self.signature.parameters.values())
        # in the signature's order (__annotations__ puts positional-only parameters last)
        self.entries = {parameter.name: self.entries[parameter.name] for parameter in parameters if parameter.name in self.entries}
        self.kinds = {parameter.name: parameter.kind for parameter in parameters}
        self.positions = {parameter.name: index for index, parameter in enumerate(parameters)}
        self.positional_count = sum(parameter.kind in _POSITIONAL for parameter in parameters)
        # the fast path: every checked parameter is positional and given positionally (a keyword
        # argument cannot name a parameter given positionally, so other keywords may be present)
        self.fast_steps = tuple(
            _step(index, self.entries[parameter.name])
            for index, parameter in enumerate(parameters)
            if parameter.name in self.entries and parameter.kind in _POSITIONAL
        )
        self.fast_only = len(self.fast_steps) == len(self.entries)
        self.last = max((step[0] for step in self.fast_steps), default=-1)
        # an entry's step without its position, which each call's values decide
        self.step_tails = {name: _step(0, entry)[1:] for name, entry in self.entries.items()}
        self.keyword_names = frozenset(name for name, kind in self.kinds.items() if kind is not inspect.Parameter.POSITIONAL_ONLY)
        self.check_arguments = self._make_argument_check()
        self.check_result = self._make_result_check()
        self.native = self._native_parameters()
        self.native_returns = None if self.returns is None else _native_entry(-1, None, self.returns)

    def _native_parameters(self) -> tuple[tuple[Any, ...], ...] | None:
        """The plan as _core._checked_install compiles it: per checked parameter (position or
        -1, keyword name or None, Expect, program, whether None passes). None where the native
        binder cannot take every call: a checked *args or **kwargs."""
        native: list[tuple[Any, ...]] = []
        for name, entry in self.entries.items():
            kind = self.kinds[name]
            if kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                return None
            position = self.positions[name] if kind in _POSITIONAL else -1
            keyword = None if kind is inspect.Parameter.POSITIONAL_ONLY else name
            native.append(_native_entry(position, keyword, entry))
        return tuple(native)

    def install(self, native: Any) -> None:
        """Compiles this plan into the native callable `native`."""
        assert self.native is not None
        _core._checked_install(native, self.native, self.positional_limit, self.fail, self.native_returns)

    @property
    def positional_limit(self) -> int:
        """The most positional arguments the function takes; -1 with *args."""
        kinds = self.kinds.values()
        return -1 if inspect.Parameter.VAR_POSITIONAL in kinds else self.positional_count

    # -- the labelled values of one call (for the slow paths)

    def labelled(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterator[tuple[str, str, object]]:
        """(label, parameter name, value) of every checked value the call passes (not defaults)."""
        for name in self.entries:
            kind = self.kinds[name]
            position = self.positions[name]
            if kind is inspect.Parameter.VAR_POSITIONAL:
                extra = args[self.positional_count :]
                yield from ((f"{name}[{index}]", name, item) for index, item in enumerate(extra))
            elif kind is inspect.Parameter.VAR_KEYWORD:
                named = self.keyword_names
                yield from ((f"{name}[{key!r}]", name, item) for key, item in kwargs.items() if key not in named)
            elif kind in _POSITIONAL and position < len(args):
                yield name, name, args[position]
            elif name in kwargs and kind is not inspect.Parameter.POSITIONAL_ONLY:
                yield name, name, kwargs[name]

    def fail(self, args: tuple[Any, ...], kwargs: dict[str, Any], result: object = _NO_VALUE) -> None:
        """Raise CheckedCallError listing every violation of the call (and of its result); a
        call that does not fit the signature raises the TypeError the function would."""
        self.signature.bind(*args, **kwargs)
        checks = [(label, self.entries[name], value) for label, name, value in self.labelled(args, kwargs)]
        if result is not _NO_VALUE and self.returns is not None:
            checks.append(("return", self.returns, result))
        failures = list(_diagnose((label, entry.spec, value) for label, entry, value in checks if not _skipped(entry, value)))
        if failures:
            raise CheckedCallError(self.name, failures) from None

    def run(self, steps: tuple[_Step, ...], values: tuple[Any, ...], env: dict[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any], result: object = _NO_VALUE) -> None:
        """One native call for the steps; on any failure, the error that says everything."""
        try:
            if _core._checked_run(steps, values, env):
                return
        except (DLPackValidationError, TypeError):
            self.fail(args, kwargs, result)
            raise
        self.fail(args, kwargs, result)
        raise AssertionError("a binding failed that the diagnosis could not find")  # pragma: no cover

    # -- the checks a call runs

    def _make_argument_check(self) -> Callable[[tuple[Any, ...], dict[str, Any]], dict[Any, Any]]:
        fast_steps, last, fast_only, run = self.fast_steps, self.last, self.fast_only, self.run

        def check_slowly(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[Any, Any]:
            tails = self.step_tails
            steps: list[_Step] = []
            values: list[object] = []
            for index, (_, name, value) in enumerate(self.labelled(args, kwargs)):
                steps.append((index, *tails[name]))
                values.append(value)
            env: dict[Any, Any] = {}
            run(tuple(steps), tuple(values), env, args, kwargs)
            return env

        def check(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[Any, Any]:
            if len(args) <= last or not fast_only:
                return check_slowly(args, kwargs)
            env: dict[Any, Any] = {}
            run(fast_steps, args, env, args, kwargs)
            return env

        return check

    def _make_result_check(self) -> Callable[[object, dict[Any, Any], tuple[Any, ...], dict[str, Any]], None] | None:
        if self.returns is None:
            return None
        steps = (_step(0, self.returns),)
        run = self.run

        def check_result(result: object, env: dict[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            run(steps, (result,), env, args, kwargs, result)

        return check_result


def _native_entry(position: int, keyword: str | None, entry: _Entry) -> tuple[Any, ...]:
    """One checked value as _core._checked_install reads it."""
    spec = entry.spec
    expect, program = (spec.expect, _program(spec)) if isinstance(spec, Spec) else (spec, None)
    return position, keyword, expect, program, entry.optional


def _skipped(entry: _Entry, value: object) -> bool:
    return value is None and entry.optional


# ---------------------------------------------------------------------------------------------
# The decorator


_checked_run = _core._checked_run  # a module global: the wrapper's cheapest lookup


def _wrap(function: Callable[..., Any], same_device: bool, same_dtype: bool, scope: dict[str, Any]) -> Callable[..., Any]:
    # A plain function (no checked *args or **kwargs, not a coroutine) gets a native callable
    # (_core._checked_function) that binds, checks and calls in C++. The Python wrapper below
    # takes the rest, and every call the native binder leaves to it: it runs the common call,
    # every checked argument given positionally, inline (one native call and no Python frame of
    # ours); everything else goes through the plan's methods.
    plan: _Plan | None = None
    fast_steps: tuple[_Step, ...] = ()
    last = 0
    fast_only = False  # until the plan is compiled
    check_arguments: Callable[[tuple[Any, ...], dict[str, Any]], dict[Any, Any]]
    check_result: Callable[[object, dict[Any, Any], tuple[Any, ...], dict[str, Any]], None] | None = None

    native: Any = None  # the native callable, once made

    def compile_plan() -> None:
        nonlocal plan, fast_steps, last, fast_only, check_arguments, check_result
        plan = _Plan(function, same_device, same_dtype, scope)
        fast_steps, last, fast_only = plan.fast_steps, plan.last, plan.fast_only
        check_arguments, check_result = plan.check_arguments, plan.check_result
        if native is not None and plan.native is not None:
            plan.install(native)

    def compile_then_check(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[Any, Any]:
        compile_plan()  # a forward reference that decoration could not resolve: resolved now
        return check_arguments(args, kwargs)

    def fail(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Raise the error that lists every violation; returns when none is found."""
        assert plan is not None
        plan.fail(args, kwargs)

    def mismatch(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        fail(args, kwargs)
        raise AssertionError("a binding failed that the diagnosis could not find")  # pragma: no cover

    try:
        compile_plan()
    except NameError:
        check_arguments = compile_then_check

    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def checked_coroutine(*args: Any, **kwargs: Any) -> Any:
            if not _enabled:
                return await function(*args, **kwargs)
            env = check_arguments(args, kwargs)  # before the coroutine runs
            result = await function(*args, **kwargs)
            if check_result is not None:
                check_result(result, env, args, kwargs)
            return result

        wrapper: Callable[..., Any] = checked_coroutine
    else:

        @functools.wraps(function)
        def checked_function(*args: Any, **kwargs: Any) -> Any:
            if not _enabled:
                return function(*args, **kwargs)
            if fast_only and len(args) > last:
                env: dict[Any, Any] = {}
                try:
                    if not _checked_run(fast_steps, args, env):
                        mismatch(args, kwargs)
                except (DLPackValidationError, TypeError):
                    fail(args, kwargs)
                    raise
            else:
                env = check_arguments(args, kwargs)
            result = function(*args, **kwargs)
            if check_result is not None:
                check_result(result, env, args, kwargs)
            return result

        wrapper = checked_function
        # The native callable takes every call of a plain plan; until a forward reference is
        # resolved it hands each call to the Python wrapper, which compiles the plan and
        # installs it.
        if plan is None or plan.native is not None:
            native = functools.update_wrapper(_core._checked_function(function, wrapper), function)
            if plan is not None and plan.native is not None:
                plan.install(native)
            wrapper = native
    # what inspect.signature would find through __wrapped__, stated: no walk on every request
    setattr(wrapper, "__signature__", plan.signature if plan is not None else inspect.signature(function))  # noqa: B010
    return wrapper


@overload
def checked(function: _F, /) -> _F: ...
@overload
def checked(function: None = None, /, *, same_device: bool = False, same_dtype: bool = False) -> Callable[[_F], _F]: ...
def checked(function: Any = None, /, *, same_device: bool = False, same_dtype: bool = False) -> Any:
    """Check every call of ``function`` against the `Expect` and `Spec` in its annotations.

    ``@checked`` or ``@checked(same_device=True, same_dtype=True)`` (every checked tensor of a
    call on one device / of one dtype). Works on functions, methods, class and static methods,
    coroutines. The annotations are read once, at decoration (or at the first call when a
    forward reference is not yet defined). With ``OPTYPE_DLPACK_CHECKS=0`` in the environment at
    decoration, the function is returned as it is.
    """
    if function is not None:
        return _decorate(function, same_device, same_dtype, _decorating_scope())

    def decorate(function: Any, /) -> Any:
        return _decorate(function, same_device, same_dtype, _decorating_scope())

    return decorate


def _decorating_scope() -> dict[str, Any]:
    """The local names where the decorator is applied (two frames up: checked's caller).

    Under ``from __future__ import annotations`` an annotation is a string, and a name in it that
    is local to an enclosing function or class body is found nowhere else. A copy: the frame is
    not kept alive. Empty at module level, where the function's globals serve.
    """
    frame = sys._getframe(2)  # noqa: SLF001 - what get_type_hints cannot see without it
    if frame.f_locals is frame.f_globals:
        return {}
    return dict(frame.f_locals)


def _decorate(function: Any, same_device: bool, same_dtype: bool, scope: dict[str, Any]) -> Any:
    if not _checks_wanted_by_environment():
        return function
    method: Any = function  # not narrowed: the checkers type __func__ of a bare classmethod as unknown
    if isinstance(function, (classmethod, staticmethod)):
        inner = cast("Callable[..., Any]", method.__func__)
        method_type = cast("Callable[[Callable[..., Any]], Any]", classmethod if isinstance(function, classmethod) else staticmethod)
        return method_type(_wrap(inner, same_device, same_dtype, scope))
    if not callable(function):
        raise TypeError(f"checked: expected a function, got {type(function).__name__}")
    return _wrap(function, same_device, same_dtype, scope)


# ---------------------------------------------------------------------------------------------
# typeguard: a checker lookup that enforces Expect and Spec metadata


def typeguard_checker_lookup(origin_type: Any, args: tuple[Any, ...], extras: tuple[Any, ...]) -> Any:
    """typeguard's ``checker_lookup`` hook: ``Annotated[T, Expect(...)]`` checks ``T`` as
    typeguard would, then the constraints. Registered by the ``typeguard.checker_lookup`` entry
    point, or by hand: ``typeguard.checker_lookup_functions.insert(0, typeguard_checker_lookup)``."""
    constraints = [item for item in extras if _is_constraint(item)]
    if not constraints:
        return None

    def check(value: Any, origin: Any, type_args: tuple[Any, ...], memo: Any) -> None:
        _typeguard_check_base(value, origin, type_args, memo)
        for constraint in constraints:
            if not constraint.matches(value):
                failures = list(_diagnose([("value", constraint, value)]))
                raise importlib.import_module("typeguard").TypeCheckError(
                    f"does not match {constraint!r}: " + "; ".join(str(violation) for _, violation in failures)
                )

    return check


def _typeguard_check_base(value: Any, origin: Any, args: tuple[Any, ...], memo: Any) -> None:
    """What typeguard does for ``T`` itself once the metadata is set aside."""
    typeguard: Any = importlib.import_module("typeguard")  # present: typeguard is calling us
    for lookup in typeguard.checker_lookup_functions:
        if lookup is typeguard_checker_lookup:
            continue
        checker = lookup(origin, args, ())
        if checker:
            checker(value, origin, args, memo)
            return
    if inspect.isclass(origin) and not isinstance(value, origin):
        raise typeguard.TypeCheckError(f"is not an instance of {origin.__module__}.{origin.__qualname__}")


# ---------------------------------------------------------------------------------------------
# beartype: a validator (beartype.vale.Is) that @checked recognises too

# id(validator) -> (validator, constraint): the validators are made once per annotation, and
# held here for the process (an annotation lives as long as its function, usually as long).
_BEARTYPE_VALIDATORS: dict[int, tuple[object, Spec | _core.Expect[Any]]] = {}


def beartype_validator(constraint: Spec | _core.Expect[Any], /) -> Any:
    """``beartype.vale.Is[constraint.matches]``, for ``Annotated[T, beartype_validator(E)]``.

    beartype skips metadata it does not know (an Expect or a Spec), and ``Is[...]`` wants a
    callable of exactly one parameter, so ``Is[E.matches]`` is refused: this is the validator
    to use instead. ``@checked`` recognises it as the constraint itself, so one annotation
    serves both decorators. beartype checks each tensor on its own (a Spec's symbols must agree
    within the tensor); symbols across arguments are ``@checked``'s.
    """
    if not _is_constraint(cast("object", constraint)):
        raise TypeError(f"beartype_validator: expected an Expect or a Spec, got {type(constraint).__name__}")
    is_valid: Any = importlib.import_module("beartype.vale").Is

    def matches(x: object) -> bool:
        return constraint.matches(x)

    matches.__qualname__ = matches.__name__ = f"{constraint!r}.matches"
    validator: object = is_valid[matches]
    _BEARTYPE_VALIDATORS[id(validator)] = (validator, constraint)
    return validator

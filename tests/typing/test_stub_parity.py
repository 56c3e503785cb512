"""The stubs of the pybind11 extension match its real signatures.

stubtest cannot read a pybind11 function's signature, but pybind11 writes it as the first line
of the docstring (``validate(x: object, /, *, device: object = None, ...) -> ...``). Each one is
compared with the `.pyi`: parameter names, kinds and defaults. An overloaded stub function may
make a parameter required in a narrowing overload, but its last overload must take every call
the extension takes. The enums' declarations for the checkers are compared with the run-time
enums too (an alias is declared apart from the value the run time sees).
"""

from __future__ import annotations

import ast
import enum
import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from optype_dlpack import DLDataTypeCode, DLDeviceType, DLPackFlags, _core

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "optype_dlpack"

_NO_DEFAULT = object()
_KINDS = inspect.Parameter


@dataclass(frozen=True)
class Param:
    name: str
    kind: inspect._ParameterKind
    default: Any  # a Python value, or _NO_DEFAULT

    def __str__(self) -> str:
        default = "" if self.default is _NO_DEFAULT else f"={self.default!r}"
        return f"{self.kind.description} {self.name}{default}"


def _default(node: ast.expr | None) -> Any:
    if node is None:
        return _NO_DEFAULT
    try:
        return ast.literal_eval(node)
    except ValueError:
        return ast.unparse(node)


def _params(args: ast.arguments) -> list[Param]:
    positional = [*args.posonlyargs, *args.args]
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    out = [
        Param(arg.arg, _KINDS.POSITIONAL_ONLY if i < len(args.posonlyargs) else _KINDS.POSITIONAL_OR_KEYWORD, _default(d))
        for i, (arg, d) in enumerate(zip(positional, defaults))
    ]
    if args.vararg:
        out.append(Param(args.vararg.arg, _KINDS.VAR_POSITIONAL, _NO_DEFAULT))
    out += [Param(arg.arg, _KINDS.KEYWORD_ONLY, _default(d)) for arg, d in zip(args.kwonlyargs, args.kw_defaults)]
    if args.kwarg:
        out.append(Param(args.kwarg.arg, _KINDS.VAR_KEYWORD, _NO_DEFAULT))
    return out


def _runtime_params(function: Any) -> list[Param]:
    """Parameters from pybind11's signature line, the docstring's first line."""
    first_line = (function.__doc__ or "").partition("\n")[0]
    assert first_line.startswith(f"{function.__name__}("), f"no signature line: {first_line!r}"
    definition = ast.parse(f"def {first_line}: ...").body[0]
    assert isinstance(definition, ast.FunctionDef)
    return _params(definition.args)


def _is_property(node: ast.FunctionDef) -> bool:
    return any(isinstance(d, ast.Name) and d.id == "property" for d in node.decorator_list)


@dataclass
class StubClass:
    methods: dict[str, list[ast.FunctionDef]]
    properties: set[str]
    generic: bool  # declared `Generic[...]`, which provides `__class_getitem__`


@dataclass
class StubModule:
    functions: dict[str, list[ast.FunctionDef]]
    classes: dict[str, StubClass]
    variables: set[str]


def _public(name: str) -> bool:
    return not name.startswith("_") or (name.startswith("__") and name.endswith("__"))


def _read_stub(name: str) -> StubModule:
    module = StubModule({}, {}, set())
    for node in ast.parse((PACKAGE / f"{name}.pyi").read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef) and _public(node.name):
            module.functions.setdefault(node.name, []).append(node)
        elif isinstance(node, ast.ClassDef) and _public(node.name):
            generic = any(isinstance(b, ast.Subscript) and ast.unparse(b.value) == "Generic" for b in node.bases)
            cls = StubClass({}, set(), generic)
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and _is_property(item):
                    cls.properties.add(item.name)
                elif isinstance(item, ast.FunctionDef):
                    cls.methods.setdefault(item.name, []).append(item)
            module.classes[node.name] = cls
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and _public(node.target.id):
            module.variables.add(node.target.id)
    return module


CORE = _read_stub("_core")


def _runtime_functions() -> dict[str, Any]:
    return {name: obj for name, obj in vars(_core).items() if inspect.isbuiltin(obj) and _public(name)}


def _runtime_classes() -> dict[str, type]:
    return {name: obj for name, obj in vars(_core).items() if isinstance(obj, type) and _public(name)}


def _runtime_methods() -> dict[str, Any]:
    """`Class.method` -> the pybind11 function, for every method bound in module.cpp."""
    out = {}
    for class_name, cls in _runtime_classes().items():
        for name, attr in vars(cls).items():
            function = attr.__func__ if isinstance(attr, staticmethod) else attr
            if type(function).__name__ in {"instancemethod", "builtin_function_or_method", "method_descriptor"} and _public(name):
                out[f"{class_name}.{name}"] = function
    return out


def _not_in_stub() -> set[str]:
    """Run-time `__class_getitem__` of classes the stubs declare Generic (see the stubtest allowlist)."""
    return {
        f"{class_name}.__class_getitem__"
        for class_name, cls in CORE.classes.items()
        if cls.generic and f"{class_name}.__class_getitem__" in _runtime_methods()
    }


def _check_signature(qualname: str, runtime: list[Param], overloads: list[ast.FunctionDef]) -> None:
    shown = ", ".join(map(str, runtime))
    for stub in overloads:
        params = _params(stub.args)
        assert [(p.name, p.kind) for p in params] == [(p.name, p.kind) for p in runtime], (
            f"{qualname} (stub line {stub.lineno}): {', '.join(map(str, params))}\n  runtime: {shown}"
        )
        for ours, theirs in zip(params, runtime):
            assert ours.default is _NO_DEFAULT or ours.default == theirs.default, (
                f"{qualname} (stub line {stub.lineno}): default of {ours.name} is {ours.default!r}, "
                f"the extension's is {theirs.default!r}"
            )
    last = _params(overloads[-1].args)
    assert [p.default for p in last] == [p.default for p in runtime], (
        f"{qualname}: the last stub overload must have the extension's defaults ({shown})"
    )


def test_stub_declares_every_function() -> None:
    assert sorted(CORE.functions) == sorted(_runtime_functions())


def test_stub_declares_every_class() -> None:
    assert sorted(CORE.classes) == sorted(_runtime_classes())


def test_stub_declares_every_constant() -> None:
    runtime = {
        name
        for name, obj in vars(_core).items()
        if _public(name) and not name.startswith("__") and not callable(obj) and not inspect.ismodule(obj)
    }
    assert sorted(CORE.variables) == sorted(runtime)


@pytest.mark.parametrize("name", sorted(_runtime_functions()))
def test_function_signature(name: str) -> None:
    _check_signature(name, _runtime_params(_runtime_functions()[name]), CORE.functions[name])


def _uncallable_constructors() -> set[str]:
    """`__init__(self, never: Never, /)`: a class with no bound constructor (the run time raises
    `TypeError: No constructor defined!`), so that the checkers reject every call of the class."""
    return {
        f"{class_name}.__init__"
        for class_name, cls in CORE.classes.items()
        for function in cls.methods.get("__init__", [])
        if ast.unparse(function.args) == "self, never: Never, /"
    }


@pytest.mark.parametrize("class_name", ["DLPackObject", "TensorInfo"])
def test_classes_without_a_constructor_cannot_be_called(class_name: str) -> None:
    with pytest.raises(TypeError, match="cannot create"):
        getattr(_core, class_name)()
    assert f"{class_name}.__init__" in _uncallable_constructors()


def test_stub_declares_every_method() -> None:
    runtime = set(_runtime_methods()) - _not_in_stub()
    stub = {f"{cls_name}.{name}" for cls_name, cls in CORE.classes.items() for name in cls.methods}
    assert sorted(stub - _uncallable_constructors()) == sorted(runtime)


@pytest.mark.parametrize("qualname", sorted(set(_runtime_methods()) - _not_in_stub()))
def test_method_signature(qualname: str) -> None:
    class_name, name = qualname.split(".")
    _check_signature(qualname, _runtime_params(_runtime_methods()[qualname]), CORE.classes[class_name].methods[name])


@pytest.mark.parametrize("class_name", sorted(_runtime_classes()))
def test_properties(class_name: str) -> None:
    runtime = {name for name, attr in vars(_runtime_classes()[class_name]).items() if isinstance(attr, property)}
    assert sorted(CORE.classes[class_name].properties) == sorted(runtime)


###
# Enums

def _is_type_checking(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"


def _declared_enum(class_name: str) -> tuple[dict[str, int], dict[str, str]]:
    """What the checkers read of an enum in _enums.py: members with their values, and aliases
    (`ALIAS = MEMBER`, or `if TYPE_CHECKING: ALIAS: Literal[Enum.MEMBER]`) with the member they name."""
    tree = ast.parse((PACKAGE / "_enums.py").read_text(encoding="utf-8"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name)
    members: dict[str, int] = {}
    aliases: dict[str, str] = {}
    for item in cls.body:
        if isinstance(item, ast.Assign) and isinstance(item.value, ast.Name):
            # `ALIAS = MEMBER`: an alias at run time, and for pyright, pyrefly and ty
            (target,) = item.targets
            assert isinstance(target, ast.Name)
            aliases[target.id] = item.value.id
        elif isinstance(item, ast.Assign):
            (target,) = item.targets
            assert isinstance(target, ast.Name)
            members[target.id] = ast.literal_eval(item.value)
        elif _is_type_checking(item):
            assert isinstance(item, ast.If)
            for declaration in item.body:
                assert isinstance(declaration, ast.AnnAssign), ast.unparse(declaration)
                assert isinstance(declaration.target, ast.Name), ast.unparse(declaration)
                annotation = declaration.annotation
                assert isinstance(annotation, ast.Subscript), ast.unparse(declaration)
                assert isinstance(annotation.slice, ast.Attribute), ast.unparse(declaration)
                aliases[declaration.target.id] = annotation.slice.attr
        else:
            assert isinstance(item, ast.Expr), f"{class_name}: unexpected {ast.unparse(item)}"  # the docstring
    return members, aliases


@pytest.mark.parametrize("enum_type", [DLDeviceType, DLDataTypeCode, DLPackFlags], ids=lambda e: e.__name__)
def test_enum_declarations(enum_type: type[enum.Enum]) -> None:
    members, aliases = _declared_enum(enum_type.__name__)
    assert members == {member.name: member.value for member in enum_type}
    runtime_aliases = {
        name: member.name for name, member in enum_type.__members__.items() if name != member.name
    }
    assert aliases == runtime_aliases


def _literal_device_overloads(function: ast.FunctionDef) -> str | None:
    """The member that an overload's `device: Literal[DLDeviceType.M] | tuple[...]` names."""
    device = next((arg for arg in function.args.kwonlyargs if arg.arg == "device"), None)
    assert device is not None and device.annotation is not None
    literal = ast.unparse(device.annotation)
    found = re.fullmatch(r"Literal\[DLDeviceType\.(\w+)\] \| tuple\[Literal\[DLDeviceType\.\1\], int\]", literal)
    return found[1] if found else None


@pytest.mark.parametrize("qualname", ["validate", "Expect.__init__"])
def test_device_overloads_name_every_member(qualname: str) -> None:
    # one overload per member keeps `device=DLDeviceType.M` literal under every checker
    tree = ast.parse((PACKAGE / "_core.pyi").read_text(encoding="utf-8"))
    body: list[ast.stmt] = tree.body
    *owner, name = qualname.split(".")
    if owner:
        body = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == owner[0]).body
    overloads = [n for n in body if isinstance(n, ast.FunctionDef) and n.name == name]
    named = [_literal_device_overloads(function) for function in overloads]
    assert named == [*(member.name for member in DLDeviceType), None]
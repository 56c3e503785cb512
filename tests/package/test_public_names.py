"""Public means `__all__`: sorted, complete, the same in the extension's stub, and every name type-tested."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import optype_dlpack

ROOT = Path(__file__).resolve().parents[2]
STUBS = ROOT / "stubs" / "optype_dlpack"
TYPETESTS = ROOT / "typetests"


def _isort_key(name: str) -> tuple[int, str]:
    """ruff's RUF022 order: SCREAMING_CASE, then CamelCase, then everything else."""
    if len(name) > 1 and name.isupper():
        return 0, name
    if name[:1].isupper():
        return 1, name
    return 2, name


def _stub_all(path: Path) -> list[str] | None:
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return list(ast.literal_eval(node.value))
    return None


def _stub_modules() -> list[str]:
    return sorted(path.stem for path in STUBS.glob("*.pyi"))


def test_all_is_sorted() -> None:
    assert optype_dlpack.__all__ == sorted(optype_dlpack.__all__, key=_isort_key)


def test_all_has_no_duplicates() -> None:
    assert len(set(optype_dlpack.__all__)) == len(optype_dlpack.__all__)


@pytest.mark.parametrize("name", optype_dlpack.__all__)
def test_public_name_exists(name: str) -> None:
    assert hasattr(optype_dlpack, name)


def test_every_public_name_is_type_tested() -> None:
    text = "\n".join(path.read_text(encoding="utf-8") for path in sorted(TYPETESTS.glob("*.pyi")))
    untested = [name for name in optype_dlpack.__all__ if not re.search(rf"(?<![\w.]){re.escape(name)}\b", text)]
    assert untested == [], f"public names no file in typetests/ mentions: {untested}"


@pytest.mark.parametrize("module", _stub_modules())
def test_stub_all_equals_runtime_all(module: str) -> None:
    qualname = "optype_dlpack" if module == "__init__" else f"optype_dlpack.{module}"
    runtime = importlib.import_module(qualname)
    stub_all = _stub_all(STUBS / f"{module}.pyi")
    runtime_all = getattr(runtime, "__all__", None)
    assert stub_all == runtime_all
    if stub_all is not None:
        assert stub_all == sorted(stub_all, key=_isort_key)


"""Each typed fact has one source: an annotated `.py` module, or the extension's stub in `stubs/`.

The extension's stub is written once, in `stubs/optype_dlpack/`, and reached from beside the
extension through a link, so the wheel, an editable install and this tree show the same file.
No module has both (the `.pyi` would hide the `.py` from every checker, so one of the two
would go unchecked), every compiled module has its `.pyi`, and the strict runs configured in
pyproject.toml cover the whole package. docs/typing.md describes the layout.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # mypy brings tomli on 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "optype_dlpack"
EXTENSION_SUFFIXES = tuple(importlib.machinery.EXTENSION_SUFFIXES)


def _stubs() -> list[Path]:
    return sorted(PACKAGE.glob("*.pyi"))


def test_no_module_is_typed_twice() -> None:
    both = [stub.name for stub in _stubs() if stub.with_suffix(".py").exists()]
    assert both == []


@pytest.mark.parametrize("stub", _stubs(), ids=lambda path: path.name)
def test_every_stub_describes_a_compiled_module(stub: Path) -> None:
    module = importlib.import_module(f"optype_dlpack.{stub.stem}")
    assert str(module.__file__).endswith(EXTENSION_SUFFIXES), module.__file__


def test_every_compiled_module_has_a_stub() -> None:
    # the package under test (a wheel install, an editable one, or a build in this tree)
    import optype_dlpack

    installed = Path(optype_dlpack.__file__).parent
    compiled = {path.name.split(".")[0] for path in installed.iterdir() if path.name.endswith(EXTENSION_SUFFIXES)}
    assert compiled, f"no compiled module in {installed}"
    assert sorted(compiled - {stub.stem for stub in _stubs()}) == []
    for name in compiled:  # and the stub travels with it
        assert (installed / f"{name}.pyi").read_text(encoding="utf-8") == (PACKAGE / f"{name}.pyi").read_text(
            encoding="utf-8"
        )


def test_the_package_is_marked_typed() -> None:
    assert (PACKAGE / "py.typed").is_file()


def test_stubs_hold_only_the_extensions_stubs_and_the_package_links_to_them() -> None:
    # stubs/ is where the hand-written types live: only what has no Python source to annotate
    written = sorted(path.name for path in (ROOT / "stubs" / "optype_dlpack").iterdir())
    assert written == sorted(stub.name for stub in _stubs())
    for stub in _stubs():
        # a link, not a copy: a second copy could drift
        assert stub.is_symlink(), f"{stub.name} should link to stubs/optype_dlpack/{stub.name}"
        assert stub.resolve() == (ROOT / "stubs" / "optype_dlpack" / stub.name).resolve()


def test_the_strict_runs_cover_the_package() -> None:
    with (ROOT / "pyproject.toml").open("rb") as file:
        tool = tomllib.load(file)["tool"]
    assert tool["mypy"]["strict"] is True
    assert tool["mypy"]["files"] == ["optype_dlpack"]
    assert tool["basedpyright"]["typeCheckingMode"] == "strict"
    assert "optype_dlpack" in tool["basedpyright"]["include"]

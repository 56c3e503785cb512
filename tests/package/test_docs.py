"""Every ```python block in README.md and docs/*.md runs, in order, one namespace per file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.frameworks import skip_if_missing

ROOT = Path(__file__).resolve().parents[2]
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
DOCUMENTS = [
    path
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    if PYTHON_BLOCK.search(path.read_text(encoding="utf-8"))
]
# A block may opt out only when it needs hardware CI never has.
NEEDS_GPU = "# needs: cuda"
# The frameworks a document's examples import (torch is left out of some CI runs)
FRAMEWORK_IMPORT = re.compile(r"^(?:import|from) (torch|jax)\b", re.MULTILINE)


def python_blocks(path: Path) -> list[str]:
    return PYTHON_BLOCK.findall(path.read_text(encoding="utf-8"))


def gpu_present() -> bool:
    import optype_dlpack

    return bool(optype_dlpack._core.cuda_driver_available())


def load_pytest_plugin(config: pytest.Config) -> None:
    """The package's pytest plugin, as its entry point loads it where the package is installed
    (docs/testing-your-library.md marks tests with its marker)."""
    name = "optype_dlpack.pytest_plugin"
    if config.pluginmanager.get_plugin(name) is None:
        config.pluginmanager.import_plugin(name)  # pytest_configure runs for it as it registers


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_examples_run(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pytestconfig: pytest.Config
) -> None:
    load_pytest_plugin(pytestconfig)
    blocks = python_blocks(path)
    for framework in sorted(set(FRAMEWORK_IMPORT.findall("\n".join(blocks)))):
        skip_if_missing(framework)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{path.stem}"}
    for number, block in enumerate(blocks, start=1):
        if NEEDS_GPU in block and not gpu_present():
            continue  # a GPU-only example; docs/gpu-results.md records its run on a GPU
        code = compile(block, f"{path.name}[python block {number}]", "exec")
        exec(code, namespace)  # noqa: S102 - the documentation's own examples


def test_readme_opens_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = re.search(r"```bash\n(.*?)```", text, re.DOTALL)
    assert first_block is not None
    commands = first_block.group(1).strip().splitlines()
    assert commands == [
        "pip install . && optype-dlpack info",
        'pip install -U pip && pip install . --group test torch==2.13.0 jax && pytest',
    ]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert 'pip install . --group test torch==2.13.0 jax' in ci
    assert "pytest" in ci

"""stubtest holds the installed package's types against its run time: `_core.pyi` against the
extension, and the annotated `.py` modules (inline types, `py.typed`) against themselves as
imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import optype_dlpack

ROOT = Path(__file__).resolve().parents[2]
STUBS = sorted((ROOT / "optype_dlpack").glob("*.pyi"))
ALLOWLIST = ROOT / "tests" / "typing" / "stubtest-allowlist.txt"
INSTALLED = Path(optype_dlpack.__file__).parent

pytestmark = pytest.mark.slow


def test_installed_stubs_are_the_repository_stubs() -> None:
    # stubtest reads the installed ones: if this fails, reinstall (pip install --no-build-isolation .)
    assert STUBS, "no stubs in the repository"
    for stub in STUBS:
        installed = INSTALLED / stub.name
        assert installed.exists(), f"{stub.name} is not installed beside the package"
        assert installed.read_text(encoding="utf-8") == stub.read_text(encoding="utf-8"), f"{stub.name} is stale"
    assert (INSTALLED / "py.typed").exists()


def test_allowlist_entries_have_reasons() -> None:
    reason = heading = False
    for line in ALLOWLIST.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped:
            reason = False  # a reason covers the entries right below it
        elif stripped.startswith("# =="):
            heading, reason = True, False
        elif stripped.startswith("#"):
            reason = True
        else:
            assert heading, f"{stripped}: no heading above it"
            assert reason, f"{stripped}: no reason right above it"


def test_stubtest(tmp_path: Path) -> None:
    # run outside the repository, so that pyproject.toml is not read: only the installed
    # package (the one this interpreter imports) and its types
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "optype_dlpack", "--allowlist", str(ALLOWLIST)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout

"""NumPy is an optional extra: without it, the core API keeps its types.

mypy with `--no-site-packages` sees the package from this tree and no NumPy (nor torch, jax);
only `from_dlpack`, whose result is a NumPy array, loses its type then (docs/typing.md).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

USER_CODE = """\
from typing import Literal
from typing_extensions import CapsuleType, assert_type
import optype_dlpack as od

capsule: CapsuleType
assert_type(od.validate(capsule, device=od.DLDeviceType.CUDA), od.TensorInfo[Literal[od.DLDeviceType.CUDA]])
assert_type(od.inspect(capsule), od.TensorInfo)
assert_type(od.to_dlpack(b"bytes"), CapsuleType)
assert_type(od.asdlpack(capsule), od.DLPackObject)
od.to_dlpack(3)  # line 10: neither a NumPy array nor a buffer
"""


def test_the_core_api_is_typed_without_numpy(tmp_path: Path) -> None:
    user = tmp_path / "user_code.py"
    user.write_text(USER_CODE, encoding="utf-8")
    (tmp_path / "none.ini").write_text("[mypy]\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-site-packages", "--strict", "--no-error-summary",
         "--config-file", str(tmp_path / "none.ini"), "--cache-dir", str(tmp_path / "cache"), str(user)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    ours = [line for line in result.stdout.splitlines() if line.startswith(str(user))]
    assert len(ours) == 1, result.stdout + result.stderr
    assert ours[0].startswith(f"{user}:10: error:") and "[arg-type]" in ours[0], ours

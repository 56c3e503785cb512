"""NumPy's own from_dlpack tests pass with optype_dlpack.from_dlpack in numpy.from_dlpack's place.

NumPy's wheel ships its tests: numpy/_core/tests/test_dlpack.py (numpy/core/ before NumPy 2)
is read from the installed NumPy, never copied here, and run in a child pytest whose plugin
(tests/support/foreign_suite_plugin.py) binds ``optype_dlpack.from_dlpack`` in place of
``numpy.from_dlpack`` throughout NumPy before the file is collected. NumPy's own conftest.py
takes part, as in NumPy's runs. Whichever NumPy is installed, its suite must pass, except the
tests listed in KNOWN_DIFFERENCES, where NumPy's test asserts NumPy's own choice and this
package is right to differ (docs/interop.md, "Differences from numpy.from_dlpack", gives the
same list): those must fail, so that a stale entry is noticed.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from tests.support.child import REPOSITORY
from tests.support.foreign_suite import run_suite

# {test name pattern ("TestDLPack::test_x[*]", * matching anything): (the exception the test
# fails with, why this package differs)}. NumPy 2.4's suite needs none.
KNOWN_DIFFERENCES: dict[str, tuple[str, str]] = {}

# NumPy 2.5 added np.dtypes.register_dlpack_dtype: a registry mapping DLPack (code, bits) pairs
# to NumPy dtypes of the user's choice. Listed where this NumPy has the registry.
REGISTRY_REASON = (
    "NumPy's register_dlpack_dtype lets a user map DLPack dtypes to NumPy dtypes of their choice (the test "
    "maps byte strings to kDLFloat8_e3m4 and kDLBfloat); this package reads and writes DLPack dtypes by "
    "the specification's table alone (ml_dtypes' types for bfloat16 and float8), so a byte-string array "
    "has no DLPack dtype (BufferError), and no registration can make a tensor's bytes mean another type "
    "than the one the capsule declares"
)
REGISTRY_DIFFERENCES: dict[str, tuple[str, str]] = {
    "TestRegisterDlpackDtype::test_roundtrip": ("BufferError", REGISTRY_REASON),
    "TestRegisterDlpackDtype::test_register_conflict": ("BufferError", REGISTRY_REASON),
}


def known_differences() -> dict[str, tuple[str, str]]:
    known = dict(KNOWN_DIFFERENCES)
    if hasattr(np.dtypes, "register_dlpack_dtype"):
        known |= REGISTRY_DIFFERENCES
    return known


def numpy_dlpack_tests() -> Path:
    package = Path(np.__file__).parent
    for folder in ("_core", "core"):
        candidate = package / folder / "tests" / "test_dlpack.py"
        if candidate.is_file():
            return candidate
    raise AssertionError(f"NumPy {np.__version__} at {package} ships no test_dlpack.py (a wheel without its tests?)")


def test_numpys_from_dlpack_suite_passes_with_this_from_dlpack(tmp_path: Path) -> None:
    tests_file = numpy_dlpack_tests()
    run = run_suite(tests_file, "numpy", known_differences(), tmp_path, confcutdir=Path(np.__file__).parent)
    assert run.tests, f"no test of {tests_file} ran:\n{run.output}"
    assert run.failures() == {}, f"NumPy {np.__version__}'s {tests_file.name}:\n{run.output}"
    assert run.unmatched_known_differences == [], "known differences that match no test of this NumPy"
    assert run.returncode == 0, run.output
    # The tests reached this package's from_dlpack: NumPy's test_from_dlpack_* and
    # test_dtype_passthrough call it, one call at least per test that names it.
    calling = [name for name in run.tests if "from_dlpack" in name or "passthrough" in name]
    assert calling and run.calls >= len(calling), (run.calls, calling)


def test_the_documentation_lists_every_known_difference() -> None:
    text = (REPOSITORY / "docs" / "interop.md").read_text()
    section = text.split("## Differences from `numpy.from_dlpack`", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `(Test\w+::[^`]+)`", section, re.MULTILINE))
    assert listed == {*KNOWN_DIFFERENCES, *REGISTRY_DIFFERENCES}

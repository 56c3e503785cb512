"""The array frameworks the README's test command installs (torch, jax), for the tests.

They are test requirements: a missing framework is an error, so the suite never passes with
a part of it silently left out. The one exception is a run that names the framework in
``OPTYPE_DLPACK_TEST_SKIP_FRAMEWORKS`` (comma- or space-separated): CI's runs on the other
Pythons (.ci/python-versions) leave torch out, because for those Pythons PyPI offers only
its CUDA builds, gigabytes each. There, and only while the framework is indeed missing, the
tests that use it skip and say why.

Use ``needs("torch")`` as a mark on a test or a ``pytest.param``, ``optional_import("torch")``
for a module-level import in a file whose other tests run without it, and
``skip_if_missing("torch")`` inside a test that finds out only as it runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from types import ModuleType

import pytest

SKIP_VARIABLE = "OPTYPE_DLPACK_TEST_SKIP_FRAMEWORKS"


def _left_out() -> frozenset[str]:
    return frozenset(os.environ.get(SKIP_VARIABLE, "").replace(",", " ").split())


def missing_here(name: str) -> bool:
    """Whether this run was told to do without the framework `name`, and it is not installed."""
    assert "." not in name, "name the framework's top-level package"
    return name in _left_out() and importlib.util.find_spec(name) is None


def skip_reason(name: str) -> str:
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return f"{name} is not installed for Python {python} in CI ({SKIP_VARIABLE}={os.environ[SKIP_VARIABLE]})"


def needs(*names: str) -> pytest.MarkDecorator:
    """A mark that skips the test or parameter where one of `names` is ``missing_here``.

    Everywhere else it does nothing: the test imports the framework and fails if it is missing.
    """
    missing = [name for name in names if missing_here(name)]
    reason = skip_reason(missing[0]) if missing else ""
    return pytest.mark.skipif(bool(missing), reason=reason)


def optional_import(name: str) -> ModuleType | None:
    """The framework's module; None where it is ``missing_here`` (the tests that use it carry
    ``needs(name)``). A framework missing anywhere else raises ImportError, failing the file."""
    if missing_here(name):
        return None
    return importlib.import_module(name)


def skip_if_missing(name: str) -> None:
    """Skips the running test where the framework `name` is ``missing_here``."""
    if missing_here(name):
        pytest.skip(skip_reason(name))

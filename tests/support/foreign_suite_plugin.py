"""A pytest plugin for a child pytest that runs another project's tests against this package.

Loaded with ``-p foreign_suite_plugin`` by tests/support/foreign_suite.py (which puts this
folder on the child's path; the plugin imports nothing of the tests). Its
options:

- ``--substitute=numpy``: ``numpy.from_dlpack`` becomes ``optype_dlpack.from_dlpack``;
  ``--substitute=pydlpack``: pydlpack's ``asdlpack`` and ``asdlpack_<protocol>`` functions
  become ``optype_dlpack.asdlpack``. The substitution happens when pytest is configured,
  before any test file is collected, in every module of the project that holds the original
  function: a test file that reads ``np.from_dlpack`` at call time and one that imports the
  name get the substitute alike. Each substitute counts its calls, so the parent can tell
  that the tests reached this package and not the original.
- ``--known-differences=FILE``: a JSON object {pattern: [exception, reason]}; each test whose
  name (class and function with its parameters, ``TestDLPack::test_device``) matches a
  pattern (``*`` matches anything, every other character only itself) is marked
  ``xfail(strict=True, raises=exception)`` with that reason: it must fail, with that
  exception (a builtin's name); a pass, or another exception, fails the run.
- ``--outcomes=FILE``: where to write, at the end, each test's outcome, the substitutes' call
  count and the patterns that matched no test.
"""

from __future__ import annotations

import builtins
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import optype_dlpack

_calls = 0
_outcomes: dict[str, str] = {}
_unmatched: list[str] = []


def _counted(function: Callable[..., Any]) -> Callable[..., Any]:
    def substitute(*args: Any, **kwargs: Any) -> Any:
        global _calls
        _calls += 1
        return function(*args, **kwargs)

    substitute.__name__ = substitute.__qualname__ = function.__name__
    substitute.__doc__ = function.__doc__
    return substitute


def _asdlpack_for_pydlpack(obj: Any, impl_cls: Any = None) -> Any:
    # pydlpack's `impl_cls` picks the struct its own exporter writes; optype_dlpack's export
    # follows the consumer's max_version instead, so the argument has nothing to select here.
    del impl_cls
    return optype_dlpack.asdlpack(obj)


def _replace_everywhere(package: str, name: str, original: object, substitute: object) -> int:
    """Binds `substitute` in place of `original` in every imported module of `package`; returns
    how many bindings it replaced. Module dicts are read directly: a module's __getattr__
    (lazy attributes, deprecation warnings) is never triggered."""
    replaced = 0
    for module_name, module in list(sys.modules.items()):
        if module is None or not (module_name == package or module_name.startswith(package + ".")):
            continue
        if vars(module).get(name) is original:
            setattr(module, name, substitute)
            replaced += 1
    return replaced


def _substitute_numpy() -> None:
    import numpy

    substitute = _counted(optype_dlpack.from_dlpack)
    assert _replace_everywhere("numpy", "from_dlpack", numpy.from_dlpack, substitute) > 0
    assert numpy.from_dlpack is substitute


def _substitute_pydlpack() -> None:
    import dlpack

    names = [name for name in vars(dlpack) if name == "asdlpack" or name.startswith("asdlpack_")]
    assert "asdlpack" in names, names
    substitute = _counted(_asdlpack_for_pydlpack)
    for name in names:
        assert _replace_everywhere("dlpack", name, getattr(dlpack, name), substitute) > 0


SUBSTITUTES = {"numpy": _substitute_numpy, "pydlpack": _substitute_pydlpack}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("foreign suite")
    group.addoption("--substitute", choices=sorted(SUBSTITUTES), required=True)
    group.addoption("--known-differences", type=Path, default=None)
    group.addoption("--outcomes", type=Path, required=True)


def pytest_configure(config: pytest.Config) -> None:
    SUBSTITUTES[config.getoption("substitute")]()


def _test_name(item_or_report: pytest.Item | pytest.TestReport) -> str:
    # "path/to/test_x.py::TestClass::test[param]" -> "TestClass::test[param]"
    return item_or_report.nodeid.split("::", 1)[1]


def _matcher(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    path = config.getoption("known_differences")
    known: dict[str, list[str]] = json.loads(path.read_text()) if path is not None else {}
    matchers = {pattern: _matcher(pattern) for pattern in known}
    matched: set[str] = set()
    for item in items:
        for pattern, (exception, reason) in known.items():
            if matchers[pattern].fullmatch(_test_name(item)):
                raises = getattr(builtins, exception)
                item.add_marker(pytest.mark.xfail(strict=True, raises=raises, reason=reason))
                matched.add(pattern)
                break
    _unmatched.extend(sorted(set(known) - matched))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    name = _test_name(report)
    if report.failed:
        _outcomes[name] = "failed"
    elif report.skipped and hasattr(report, "wasxfail"):
        _outcomes[name] = "xfailed"
    elif report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _outcomes[name] = f"skipped: {reason}"
    elif report.when == "call" and name not in _outcomes:
        _outcomes[name] = "passed"


def pytest_sessionfinish(session: pytest.Session) -> None:
    outcomes = {"tests": _outcomes, "calls": _calls, "unmatched_known_differences": _unmatched}
    session.config.getoption("outcomes").write_text(json.dumps(outcomes, indent=1))

"""A pytest plugin for libraries that produce or consume DLPack tensors.

Registered as a ``pytest11`` entry point under its module's name (active wherever the package
is installed; ``-p optype_dlpack.pytest_plugin`` loads it explicitly, and, the names being the
same, not twice; ``-p no:optype_dlpack.pytest_plugin`` turns it off). It gives:

- the marker ``@pytest.mark.dlpack_producer(make, ..., strict=False)``: after the marked test
  passes, each ``make`` (a producer, or a callable without arguments returning one) is run
  through ``optype_dlpack.check_producer``; the test fails with the conformance report if a
  check fails (with ``strict=True``, also if one warns). A single callable alone would be taken
  by pytest for the decorated function: give a producer, two arguments, or ``strict=...``;
- the fixture ``dlpack_conformance``: a function ``dlpack_conformance(obj, strict=False)`` that
  does the same inside a test and returns the report;
- the fixture ``dlpack_capsule_producer``: an ``optype_dlpack.testing.CapsuleProducer`` for the
  strategies of ``optype_dlpack.strategies`` (capsules to throw at a consumer).
"""

from __future__ import annotations

from collections.abc import Callable, Generator

import pytest

from ._conformance import CheckStatus, ConformanceReport, check_producer
from .testing import CapsuleProducer

__all__ = ["assert_conforms", "dlpack_capsule_producer", "dlpack_conformance"]

MARKER = "dlpack_producer"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(make, ..., strict=False): check each DLPack producer (or the producer each callable "
        "returns) for conformance after the test; fail with the report",
    )


def assert_conforms(producer: object, *, strict: bool = False) -> ConformanceReport:
    """The producer's conformance report; fails the running test if a check failed (or, with
    `strict`, warned)."""
    report = check_producer(producer)
    failing = report.by_status(CheckStatus.FAIL) + (report.by_status(CheckStatus.WARN) if strict else ())
    if failing:
        pytest.fail(f"DLPack producer does not conform ({', '.join(c.id for c in failing)}):\n{report}",
                    pytrace=False)
    return report


def _producer_of(make: object) -> object:
    # a class or another callable without __dlpack__ is a factory; anything else the producer
    if isinstance(make, type) or (not hasattr(make, "__dlpack__") and callable(make)):
        return make()
    return make


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    result = yield  # the test body first: its own failure is reported as it is
    for marker in item.iter_markers(MARKER):
        strict = bool(marker.kwargs.get("strict", False))
        if not marker.args:
            pytest.fail(f"@pytest.mark.{MARKER} needs at least one producer or factory", pytrace=False)
        for make in marker.args:
            assert_conforms(_producer_of(make), strict=strict)
    return result


@pytest.fixture
def dlpack_conformance() -> Callable[..., ConformanceReport]:
    """``dlpack_conformance(obj, strict=False)``: the conformance report of `obj`; the test
    fails with it if a check failed (or, with `strict`, warned)."""
    return assert_conforms


@pytest.fixture
def dlpack_capsule_producer() -> CapsuleProducer:
    """A producer of capsules with any field values, counting its deleter's calls."""
    return CapsuleProducer()

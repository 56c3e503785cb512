"""The pytest plugin (optype_dlpack.pytest_plugin) as a library's test suite would use it."""

from __future__ import annotations

import pytest

# The core keeps the classes it raises and returns (DLPackValidationError, DLDevice) from the
# first import of these modules. pytester's in-process runs drop the modules a run imported
# first, and a later import would make new classes, which `except od.DLPackValidationError`
# in later tests would not catch: imported here, they are in place before any run.
import optype_dlpack._enums
import optype_dlpack._errors  # noqa: F401

pytest_plugins = ["pytester"]

PRODUCERS = '''
import numpy as np
import pytest


class Good:
    """A producer that passes every check: a NumPy array's own export."""

    def __init__(self):
        self.array = np.arange(6.0)

    def __dlpack__(self, **kwargs):
        return self.array.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self.array.__dlpack_device__()


class WrongDevice(Good):
    """Claims a device its capsules disagree with."""

    def __dlpack_device__(self):
        return (1, 1)
'''


def run(pytester: pytest.Pytester, body: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_producer=PRODUCERS + body)
    return pytester.runpytest("-p", "optype_dlpack.pytest_plugin", "-p", "no:cacheprovider", *args)


def test_marker_passes_a_conforming_producer(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
@pytest.mark.dlpack_producer(Good())  # one callable alone would be taken for the decorated test
def test_good():
    pass

@pytest.mark.dlpack_producer(Good, lambda: Good())  # factories, called after the test
def test_factories():
    pass
""")
    result.assert_outcomes(passed=2)


def test_marker_fails_with_the_report(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
@pytest.mark.dlpack_producer(WrongDevice, Good())
def test_wrong_device():
    pass
""")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*DLPack producer does not conform (*", "*disagrees with __dlpack_device__*"])


def test_marker_without_a_producer_is_an_error(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
@pytest.mark.dlpack_producer
def test_nothing():
    pass
""")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*needs at least one producer or factory*"])


def test_marker_is_registered_under_strict_markers(pytester: pytest.Pytester) -> None:
    result = run(pytester, "", "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.dlpack_producer(make, ..., strict=False)*"])


def test_fixture_returns_the_report_and_fails_a_bad_producer(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
def test_good(dlpack_conformance):
    report = dlpack_conformance(Good())
    assert report.ok

def test_bad(dlpack_conformance):
    dlpack_conformance(WrongDevice())
""")
    result.assert_outcomes(passed=1, failed=1)


def test_strict_fails_on_a_warning(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
class LegacyOnly(Good):
    def __dlpack__(self, stream=None):  # the pre-2023.12 signature: a warning, not a failure
        return self.array.__dlpack__(stream=stream)

def test_lenient(dlpack_conformance):
    assert dlpack_conformance(LegacyOnly()).ok

@pytest.mark.dlpack_producer(LegacyOnly, strict=True)
def test_strict():
    pass
""")
    result.assert_outcomes(passed=1, failed=1)


def test_strategies_drive_a_consumer(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
from hypothesis import given, settings
from optype_dlpack.strategies import malformed_capsules, well_formed_capsules
from optype_dlpack.testing import CapsuleProducer

PRODUCER = CapsuleProducer()

@given(drawn=well_formed_capsules(PRODUCER))
@settings(max_examples=50, deadline=None)
def test_numpy_reads_well_formed(drawn):
    assert np.ascontiguousarray(np.from_dlpack(drawn.offer)).tobytes() == drawn.element_bytes()

@given(drawn=malformed_capsules(PRODUCER))
@settings(max_examples=50, deadline=None)
def test_a_consumer_that_validates_refuses_malformed(drawn):
    import optype_dlpack
    with pytest.raises((optype_dlpack.DLPackError, TypeError)):
        optype_dlpack.from_dlpack(drawn.capsule)

def test_fixture_gives_a_producer(dlpack_capsule_producer):
    capsule = dlpack_capsule_producer.capsule(shape=[0], layout="legacy")
    del capsule
    assert dlpack_capsule_producer.deleter_calls == 1
""")
    result.assert_outcomes(passed=3)

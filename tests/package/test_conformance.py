"""check_producer against real producers and deliberately broken ones (the command line: test_cli.py)."""

from __future__ import annotations

from typing import Any

import numpy as np

import optype_dlpack as od
from optype_dlpack import CheckStatus, check_producer
from tests.support.capsules import declared
from tests.support.frameworks import needs


def statuses(report: od.ConformanceReport) -> dict[str, CheckStatus]:
    return {check.id: check.status for check in report.checks}


def test_numpy_conforms() -> None:
    report = check_producer(np.arange(6.0).reshape(2, 3))
    assert report.ok, str(report)
    got = statuses(report)
    assert got["export.default"] is CheckStatus.PASS
    assert got["export.versioned"] is CheckStatus.PASS
    assert got["copy"] is CheckStatus.PASS
    assert got["exchange_api"] is CheckStatus.SKIP


@needs("torch")
def test_torch_uses_the_exchange_api_and_misses_is_copied() -> None:
    import torch
    report = check_producer(torch.arange(6.0))
    got = statuses(report)
    assert got["exchange_api"] is CheckStatus.PASS
    # torch exports a copy for copy=True but leaves IS_COPIED unset, which the spec forbids.
    assert got["copy"] is CheckStatus.FAIL
    assert "IS_COPIED" in next(c.detail for c in report.checks if c.id == "copy")
    assert not report.ok


def test_jax_conforms_with_a_warning_for_legacy_capsules() -> None:
    import jax.numpy as jnp
    x = jnp.arange(3.0)
    report = check_producer(x)
    assert report.ok, str(report)
    # asked for 1.3, JAX up to 0.10 answers with a legacy capsule: a warning; later JAX answers
    versioned = declared(x.__dlpack__(max_version=(1, 3))).version is not None
    assert statuses(report)["export.versioned"] is (CheckStatus.PASS if versioned else CheckStatus.WARN)


def test_an_object_without_the_protocol_fails_every_method_check() -> None:
    report = check_producer(object())
    got = statuses(report)
    assert got["method.dlpack"] is CheckStatus.FAIL
    assert got["method.dlpack_device"] is CheckStatus.FAIL
    assert got["export.default"] is CheckStatus.SKIP
    assert not report.ok
    assert "does NOT conform" in str(report)


class AlwaysVersioned:
    """Returns a versioned capsule even to a consumer that did not ask for one."""

    def __init__(self) -> None:
        self.array = np.arange(4.0)

    def __dlpack__(self, **kwargs: Any) -> object:
        kwargs["max_version"] = (1, 0)
        return self.array.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        return (1, 0)


class LyingDevice:
    def __init__(self) -> None:
        self.array = np.arange(4.0)

    def __dlpack__(self, **kwargs: Any) -> object:
        return self.array.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        return (1, 1)  # claims CPU device 1; the capsule says device 0


class ReturnsBytes:
    def __dlpack__(self, **kwargs: Any) -> object:
        return b"not a capsule"

    def __dlpack_device__(self) -> tuple[int, int]:
        return (1, 0)


def test_versioned_capsule_for_a_legacy_consumer_fails() -> None:
    report = check_producer(AlwaysVersioned())
    got = statuses(report)
    assert got["export.default"] is CheckStatus.FAIL
    assert got["export.max_version_0"] is CheckStatus.FAIL


def test_device_that_disagrees_with_the_capsule_fails() -> None:
    report = check_producer(LyingDevice())
    assert statuses(report)["export.default"] is CheckStatus.FAIL
    assert "disagrees with __dlpack_device__()" in str(report)


def test_non_capsule_export_fails() -> None:
    report = check_producer(ReturnsBytes())
    assert statuses(report)["export.default"] is CheckStatus.FAIL
    assert "not a capsule" in str(report)

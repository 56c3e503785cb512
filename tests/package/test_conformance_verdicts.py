"""Each of check_producer's verdicts against a producer that deserves it (docs/conformance.md).

Every check either tests what it names or says it could not ("not tested: ..."): a refusal the
specification sanctions (BufferError) is never a failure, only an exact TypeError reads as a
signature without the keyword, and a failed device.tuple is named as the reason where it is one.
"""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np
import pytest

import optype_dlpack as od
from optype_dlpack import CheckStatus, ConformanceCheck, check_producer


def check(producer: object, check_id: str) -> ConformanceCheck:
    (found,) = [c for c in check_producer(producer).checks if c.id == check_id]
    return found


class PreStandardSignature:
    """A producer from before 2023.12: `__dlpack__(stream=None)` only, and it ignores the stream."""

    def __init__(self) -> None:
        self.array = np.arange(4.0)

    def __dlpack__(self, stream: object = None) -> object:
        return self.array.__dlpack__()

    def __dlpack_device__(self) -> tuple[int, int]:
        return (1, 0)


class PreStandardStreamChecking(PreStandardSignature):
    """The same signature, rejecting any stream but None on CPU as the specification asks."""

    def __dlpack__(self, stream: object = None) -> object:
        if stream is not None:
            raise ValueError(f"stream must be None on CPU, got {stream!r}")
        return self.array.__dlpack__()


class DtypeTypeError(TypeError):
    """A TypeError subclass about the data, as pyarrow's ArrowTypeError."""


class RefusesWithTypeErrorSubclass:
    """Accepts every 2023.12 keyword, but cannot export its data and says so with a TypeError
    subclass (pyarrow's bit-packed booleans)."""

    def __dlpack__(self, *, stream: object = None, max_version: object = None, dl_device: object = None,
                   copy: object = None) -> object:
        raise DtypeTypeError("bit-packed boolean data not supported by DLPack")

    def __dlpack_device__(self) -> tuple[int, int]:
        return (1, 0)


class RefusesWithBufferError:
    """Accepts every keyword and refuses every export with BufferError (a dtype DLPack lacks)."""

    def __dlpack__(self, **kwargs: object) -> object:
        raise BufferError("this dtype has no DLPack code")

    def __dlpack_device__(self) -> tuple[int, int]:
        return (1, 0)


class DeviceIdNone:
    """Reports its device id as None, as paddle does: `(kDLCPU, None)`; exports correctly."""

    def __init__(self) -> None:
        self.array = np.arange(4.0)

    def __dlpack__(self, **kwargs: Any) -> Any:  # noqa: ANN401 - numpy's capsule, whatever was asked
        return self.array.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple[int, None]:
        return (1, None)


class WithoutDLDevice:
    """Takes max_version and copy but not dl_device: half of the 2023.12 signature."""

    def __init__(self) -> None:
        self.array = np.arange(4.0)

    def __dlpack__(self, *, stream: object = None, max_version: Any = None, copy: bool | None = None) -> object:
        return self.array.__dlpack__(stream=stream, max_version=max_version, copy=copy)

    def __dlpack_device__(self) -> tuple[int, int]:
        return (1, 0)


def read_only_array() -> np.ndarray[Any, np.dtype[np.float64]]:
    array = np.arange(3.0)
    array.flags.writeable = False
    return array


# -- stream.cpu: tested without max_version where the producer rejects it -----------------------


def test_stream_accepted_on_cpu_by_a_pre_standard_producer_warns() -> None:
    found = check(PreStandardSignature(), "stream.cpu")
    assert (found.status, found.detail) == (
        CheckStatus.WARN,
        "accepted stream=1 for a CPU tensor (only None is valid on CPU)",
    )


def test_stream_rejected_on_cpu_by_a_pre_standard_producer_passes() -> None:
    found = check(PreStandardStreamChecking(), "stream.cpu")
    assert (found.status, found.detail) == (
        CheckStatus.PASS,
        "stream=None accepted; stream=1 rejected (ValueError)",
    )


def test_a_pre_standard_producer_is_warned_once_and_not_tested_for_the_new_keywords() -> None:
    got = {c.id: c for c in check_producer(PreStandardSignature()).checks}
    assert got["export.versioned"].status is CheckStatus.WARN
    assert "pre-2023.12 signature" in got["export.versioned"].detail
    for check_id in ("export.max_version_0", "dl_device", "copy"):
        assert got[check_id].status is CheckStatus.SKIP
        assert got[check_id].detail.startswith("not tested: rejects max_version")


# -- only an exact TypeError means "no such keyword" ---------------------------------------------


def test_a_type_error_subclass_is_not_read_as_an_old_signature() -> None:
    report = check_producer(RefusesWithTypeErrorSubclass())
    got = {c.id: c for c in report.checks}
    assert "pre-2023.12" not in str(report)
    # the refusal itself is of the wrong class: the specification names BufferError
    assert got["export.default"].status is CheckStatus.FAIL
    assert "DtypeTypeError" in got["export.default"].detail
    assert "must raise BufferError" in got["export.default"].detail
    # the same refusal again is no new verdict: each later check says it could not test
    for check_id in ("export.versioned", "export.max_version_0", "stream.cpu", "dl_device", "copy"):
        assert got[check_id].status is CheckStatus.SKIP, got[check_id]
        assert got[check_id].detail.startswith("not tested: "), got[check_id]
        assert "raised DtypeTypeError as __dlpack__(" in got[check_id].detail


def test_a_missing_2023_12_keyword_beside_max_version_warns() -> None:
    found = check(WithoutDLDevice(), "dl_device")
    assert (found.status, found.detail) == (
        CheckStatus.WARN,
        "rejects dl_device (TypeError) although it accepts max_version: the 2023.12 signature has both",
    )
    assert check(WithoutDLDevice(), "copy").status is CheckStatus.PASS


# -- a BufferError refusal is sanctioned, never a failure ----------------------------------------


def test_a_producer_refusing_every_export_with_buffer_error_conforms_untested() -> None:
    report = check_producer(RefusesWithBufferError())
    assert report.ok, str(report)
    got = {c.id: c for c in report.checks}
    for check_id in ("export.default", "export.versioned", "export.max_version_0", "stream.cpu", "dl_device", "copy"):
        assert got[check_id].status is CheckStatus.SKIP, got[check_id]
        assert got[check_id].detail.startswith("not tested: "), got[check_id]
        assert "BufferError" in got[check_id].detail


@pytest.mark.parametrize(
    "make",
    [read_only_array, lambda: od.asdlpack(read_only_array())],
    ids=["numpy-read-only", "asdlpack-read-only"],
)
def test_a_read_only_array_refusing_a_legacy_capsule_conforms(make: Any) -> None:
    report = check_producer(make())
    assert report.ok, str(report)
    got = {c.id: c for c in report.checks}
    # a legacy capsule cannot mark memory read-only: refusing it is what the specification asks
    assert got["export.default"].status is CheckStatus.SKIP
    assert got["export.default"].detail.startswith("not tested: __dlpack__() refused with BufferError")
    assert got["export.versioned"].status is CheckStatus.PASS
    assert got["copy"].status is CheckStatus.PASS


def test_a_numpy_array_of_an_ml_dtypes_type_conforms_untested() -> None:
    report = check_producer(np.zeros(3, dtype=ml_dtypes.bfloat16))
    assert report.ok, str(report)
    got = {c.id: c for c in report.checks}
    for check_id in ("export.default", "export.versioned", "copy"):
        assert got[check_id].status is CheckStatus.SKIP, got[check_id]
        assert "refused with BufferError" in got[check_id].detail


# -- a failed device.tuple is the reason given, and only where it is one -------------------------


def test_a_device_id_of_none_fails_device_tuple_and_the_rest_is_still_tested() -> None:
    got = {c.id: c for c in check_producer(DeviceIdNone()).checks}
    assert (got["device.tuple"].status, got["device.tuple"].detail) == (
        CheckStatus.FAIL,
        "returned (1, None): the device id must be an int",
    )
    # the device type alone says CPU: the stream rule is tested
    assert got["stream.cpu"].status is CheckStatus.PASS
    # there is no device to ask for: dl_device says why it was not tested
    assert (got["dl_device"].status, got["dl_device"].detail) == (
        CheckStatus.SKIP,
        "not tested: __dlpack_device__() gave no usable (device_type, device_id) (see device.tuple)",
    )
    assert got["export.default"].status is CheckStatus.PASS
    assert got["copy"].status is CheckStatus.PASS
    assert "no __dlpack__ or no device" not in str(got)


def test_inspect_names_dlpack_device_when_its_id_is_none() -> None:
    with pytest.raises(TypeError) as caught:
        od.inspect(od.asdlpack(DeviceIdNone()))
    assert "__dlpack_device__" in str(caught.value)

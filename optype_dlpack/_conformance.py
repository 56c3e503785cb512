"""Producer conformance: does an object implement the Python DLPack protocol as specified?

Each check has a stable id and ends as ``pass``, ``warn`` (legal but unhelpful to consumers,
or a known deviation), ``fail`` (breaks the specification) or ``skip`` (does not apply).
The capsules the checks obtain are inspected, never consumed: their own destructors free them.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, cast, final

from ._core import STREAM_DEVICE_TYPES, inspect
from ._enums import DLDeviceType, DLPackFlags
from ._errors import DLPackError

if sys.version_info >= (3, 13):
    from types import CapsuleType
else:
    from typing_extensions import CapsuleType

if TYPE_CHECKING:
    from ._core import TensorInfo
    from ._protocols import CanDLPackCompat

__all__ = ["CheckStatus", "ConformanceCheck", "ConformanceReport", "check_producer"]

_STREAM_DEVICES = frozenset(map(DLDeviceType, STREAM_DEVICE_TYPES))  # from the core's device table


class CheckStatus(enum.Enum):
    """The outcome of one conformance check."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


class ConformanceCheck(NamedTuple):
    """One check: a stable ``id``, its ``status`` and a sentence saying what was seen."""

    id: str
    status: CheckStatus
    detail: str


@final
@dataclass(frozen=True, slots=True)
class ConformanceReport:
    """Every check run against one producer."""

    producer: str
    checks: tuple[ConformanceCheck, ...]

    @property
    def ok(self) -> bool:
        """No check failed (warnings allowed)."""
        return all(check.status is not CheckStatus.FAIL for check in self.checks)

    def by_status(self, status: CheckStatus, /) -> tuple[ConformanceCheck, ...]:
        return tuple(check for check in self.checks if check.status is status)

    def __str__(self) -> str:
        return format_report(self, lambda text, _status: text, "conforms" if self.ok else "does NOT conform")


def format_report(report: ConformanceReport, paint: Callable[[str, CheckStatus], str], verdict: str) -> str:
    """The report as text: a line with the verdict, then one per check; `paint` may colour each
    status cell (the command line's colours on a terminal)."""
    width = max((len(check.id) for check in report.checks), default=0)
    lines = [f"{report.producer}: {verdict}"]
    lines += [f"  {paint(f'{c.status.value:<4}', c.status)}  {c.id:<{width}}  {c.detail}" for c in report.checks]
    return "\n".join(lines)


def _device_types_after_1_3() -> frozenset[int]:
    """The device types the core knows beyond the dlpack.h it was built against (19-21 on 1.3)."""
    from ._core import HEADER_DEVICE_TYPES, KNOWN_DEVICE_TYPES  # here: the imports above stay as they are

    return frozenset(code for name, code in KNOWN_DEVICE_TYPES.items() if name not in HEADER_DEVICE_TYPES)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _call(method: Callable[..., object], /, **kwargs: Any) -> tuple[object, BaseException | None]:
    try:
        return method(**kwargs), None
    except Exception as exc:  # noqa: BLE001 - any exception is an observation here
        return None, exc


def _same_error(error: BaseException | None, other: BaseException | None) -> bool:
    """Both calls failed the same way (same class, same message): the keyword that differs is not why."""
    return error is not None and other is not None and type(error) is type(other) and str(error) == str(other)


def _rejects_keyword(error: BaseException | None) -> bool:
    """Whether `error` is how Python rejects an unexpected keyword argument: exactly TypeError.

    A subclass (pyarrow's ArrowTypeError about a dtype, say) is the producer's own error about
    its data, not a signature that lacks the keyword.
    """
    return type(error) is TypeError


def _capsule_name(obj: object) -> str | None:
    # A capsule's repr is `<capsule object "NAME" at 0x...>`; nothing public exposes the name.
    if type(obj).__name__ != "PyCapsule":
        return None
    text = repr(obj)
    start = text.find('"')
    return text[start + 1 : text.find('"', start + 1)] if start >= 0 else ""


def _format_call(**kwargs: object) -> str:
    return "__dlpack__(" + ", ".join(f"{name}={value!r}" for name, value in kwargs.items()) + ")"


class _Checker:
    def __init__(self, obj: object) -> None:
        self.obj = obj
        self.results: list[ConformanceCheck] = []
        self.device: tuple[int, int] | None = None  # what __dlpack_device__() reported, when well-formed
        self.device_type: int | None = None  # its device type, even when the id was not an int
        self.device_failed = False  # device.tuple failed: checks that need the device say so
        self.accepts_max_version = False  # __dlpack__ takes max_version (2023.12 signature)
        # The call later checks add one keyword to, and what it did: a failure with the same
        # class and message after adding a keyword is not about that keyword.
        self.baseline_kwargs: dict[str, Any] = {}
        self.baseline_error: BaseException | None = None
        self.baseline_check = "export.default"

    def record(self, check_id: str, status: CheckStatus, detail: str) -> None:
        self.results.append(ConformanceCheck(check_id, status, detail))

    def run(self) -> None:
        self.check_methods()
        self.check_device()  # sets self.device, which decides the stream argument below
        self.check_default_export()
        self.check_versioned_export()  # decides the baseline call of the checks after it
        self.check_old_consumer()
        self.check_stream()
        self.check_dl_device()
        self.check_copy()
        self.check_exchange_api()

    # -- shared steps ---------------------------------------------------------------------------

    def _dlpack(self) -> Callable[..., object] | None:
        method = getattr(self.obj, "__dlpack__", None)
        return method if callable(method) else None

    def _stream_kw(self) -> dict[str, Any]:
        on_stream_device = self.device_type is not None and self.device_type in _STREAM_DEVICES
        return {"stream": -1} if on_stream_device else {}

    def _not_tested(self, check_id: str, call: str, error: BaseException) -> bool:
        """Records `check_id` as not tested when `error` is a refusal rather than a verdict on what
        the check asks: a BufferError (the refusal the specification names), or the same error
        the baseline call raised without the keyword under test. Returns whether it did."""
        if isinstance(error, BufferError):
            self.record(check_id, CheckStatus.SKIP,
                        f"not tested: {call} refused with {_describe(error)} (a refusal the specification allows)")
            return True
        if _same_error(error, self.baseline_error):
            self.record(check_id, CheckStatus.SKIP, f"not tested: {call} {self._failed_as_baseline(error)}")
            return True
        return False

    def _failed_as_baseline(self, error: BaseException) -> str:
        baseline = _format_call(**self.baseline_kwargs)
        return f"raised {type(error).__name__} as {baseline} did (see {self.baseline_check})"

    def _device_missing(self, check_id: str) -> bool:
        if self.device_failed or self.device is None:
            self.record(check_id, CheckStatus.SKIP,
                        "not tested: __dlpack_device__() gave no usable (device_type, device_id) (see device.tuple)")
            return True
        return False

    def _inspect_capsule(self, check_id: str, capsule: object, context: str) -> TensorInfo | None:
        if not isinstance(capsule, CapsuleType):
            self.record(check_id, CheckStatus.FAIL, f"{context} returned {type(capsule).__name__}, not a capsule")
            return None
        try:
            info = inspect(capsule)
        except (DLPackError, TypeError) as exc:
            self.record(check_id, CheckStatus.FAIL, f"{context} gave an invalid capsule: {exc}")
            return None
        if self.device is not None and (int(info.device.type), info.device.id) != self.device:
            self.record(check_id, CheckStatus.FAIL,
                        f"{context}: capsule device {info.device} disagrees with __dlpack_device__() {self.device}")
            return None
        return info

    # -- the checks -------------------------------------------------------------------------

    def check_methods(self) -> None:
        for check_id, name in (("method.dlpack", "__dlpack__"), ("method.dlpack_device", "__dlpack_device__")):
            if callable(getattr(self.obj, name, None)):
                self.record(check_id, CheckStatus.PASS, f"has {name}()")
            else:
                self.record(check_id, CheckStatus.FAIL, f"no callable {name}")

    def check_device(self) -> None:
        method = getattr(self.obj, "__dlpack_device__", None)
        if not callable(method):
            return self.record("device.tuple", CheckStatus.SKIP, "no __dlpack_device__")
        value, error = _call(method)
        self.device_failed = True  # until the value proves well-formed
        if error is not None:
            return self.record("device.tuple", CheckStatus.FAIL, f"__dlpack_device__() raised {_describe(error)}")
        match value:
            case tuple([int() as raw_type, int() as raw_id]):
                device_type, device_id = int(raw_type), int(raw_id)  # an IntEnum member, say, as a plain int
            case tuple([int() as raw_type, object()]):
                self.device_type = int(raw_type)  # enough to choose the stream argument
                return self.record("device.tuple", CheckStatus.FAIL,
                                   f"returned {value!r}: the device id must be an int")
            case _:
                return self.record("device.tuple", CheckStatus.FAIL, f"returned {value!r}, not (device_type, device_id)")
        self.device, self.device_type = (device_type, device_id), device_type
        if device_type not in DLDeviceType._value2member_map_:
            return self.record("device.tuple", CheckStatus.FAIL, f"non-standard device type {device_type}")
        self.device_failed = False
        if device_type in _device_types_after_1_3():
            return self.record(
                "device.tuple",
                CheckStatus.WARN,
                f"({DLDeviceType(device_type).name}, {device_id}): a device type DLPack defined after 1.3, "
                "which consumers built against dlpack.h v1.3 reject",
            )
        self.record("device.tuple", CheckStatus.PASS, f"({DLDeviceType(device_type).name}, {device_id})")

    def check_default_export(self) -> None:
        method = self._dlpack()
        if method is None:
            return self.record("export.default", CheckStatus.SKIP, "no __dlpack__")
        self.baseline_kwargs = self._stream_kw()
        capsule, self.baseline_error = _call(method, **self.baseline_kwargs)
        call = _format_call(**self.baseline_kwargs)
        if self.baseline_error is not None:
            if isinstance(self.baseline_error, BufferError):
                return self.record("export.default", CheckStatus.SKIP,
                                   f"not tested: {call} refused with {_describe(self.baseline_error)} "
                                   "(a refusal the specification allows)")
            return self.record("export.default", CheckStatus.FAIL,
                               f"{call} raised {_describe(self.baseline_error)} "
                               "(a producer that cannot export must raise BufferError)")
        info = self._inspect_capsule("export.default", capsule, call)
        if info is None:
            return None
        if info.version is not None:
            return self.record("export.default", CheckStatus.FAIL,
                               "without max_version the capsule must be a legacy 'dltensor' "
                               f"(a pre-1.0 consumer cannot read it), got version {info.version}")
        self.record("export.default", CheckStatus.PASS, f"legacy capsule: {info}")

    def check_versioned_export(self) -> None:
        method = self._dlpack()
        if method is None:
            return self.record("export.versioned", CheckStatus.SKIP, "no __dlpack__")
        kwargs = {"max_version": (1, 3), **self._stream_kw()}
        call = _format_call(**kwargs)
        capsule, error = _call(method, **kwargs)
        if error is not None and not _same_error(error, self.baseline_error) and _rejects_keyword(error):
            return self.record("export.versioned", CheckStatus.WARN,
                               f"rejects max_version (pre-2023.12 signature): {_describe(error)}")
        self.accepts_max_version = True
        if error is not None and self._not_tested("export.versioned", call, error):
            self._set_baseline(kwargs, error)
            return None
        self._set_baseline(kwargs, error)
        if error is not None:
            return self.record("export.versioned", CheckStatus.FAIL, f"{call} raised {_describe(error)}")
        info = self._inspect_capsule("export.versioned", capsule, call)
        if info is None:
            return None
        if info.version is None:
            return self.record("export.versioned", CheckStatus.WARN,
                               "asked for max_version=(1, 3) but returned a legacy capsule "
                               "(no READ_ONLY or IS_COPIED can be signalled)")
        self.record("export.versioned", CheckStatus.PASS, f"versioned {info.version.major}.{info.version.minor}")

    def _set_baseline(self, kwargs: dict[str, Any], error: BaseException | None) -> None:
        # the checks after export.versioned add their keyword to max_version=(1, 3)
        self.baseline_kwargs, self.baseline_error, self.baseline_check = kwargs, error, "export.versioned"

    def check_old_consumer(self) -> None:
        method = self._dlpack()
        if method is None:
            return self.record("export.max_version_0", CheckStatus.SKIP, "no __dlpack__")
        if not self.accepts_max_version:
            return self.record("export.max_version_0", CheckStatus.SKIP,
                               "not tested: rejects max_version (see export.versioned)")
        kwargs = {"max_version": (0, 8), **self._stream_kw()}
        call = _format_call(**kwargs)
        capsule, error = _call(method, **kwargs)
        if error is not None and _same_error(error, self.baseline_error):  # refused whatever the version
            return self.record("export.max_version_0", CheckStatus.SKIP,
                               f"not tested: {call} {self._failed_as_baseline(error)}")
        if isinstance(error, BufferError):
            return self.record("export.max_version_0", CheckStatus.PASS, "refuses a pre-1.0 consumer with BufferError")
        if error is not None:
            return self.record("export.max_version_0", CheckStatus.FAIL,
                               f"{call} raised {_describe(error)} (BufferError or a legacy capsule expected)")
        info = self._inspect_capsule("export.max_version_0", capsule, call)
        if info is None:
            return None
        if info.version is not None:
            return self.record("export.max_version_0", CheckStatus.FAIL,
                               f"a consumer of major 0 got a version {info.version.major}.{info.version.minor} capsule")
        self.record("export.max_version_0", CheckStatus.PASS, "legacy capsule for a major-0 consumer")

    def check_stream(self) -> None:
        method = self._dlpack()
        if method is None:
            return self.record("stream.cpu", CheckStatus.SKIP, "no __dlpack__")
        if self.device_type is None:
            return self.record("stream.cpu", CheckStatus.SKIP,
                               "not tested: __dlpack_device__() gave no device type (see device.tuple)")
        if self.device_type != DLDeviceType.CPU:
            return self.record("stream.cpu", CheckStatus.SKIP, "not a CPU producer")
        # max_version only where accepted: a TypeError for it must not pass for a rejected stream
        versioned = {"max_version": (1, 3)} if self.accepts_max_version else {}
        call = _format_call(stream=None, **versioned)
        _, error = _call(method, stream=None, **versioned)
        if error is not None:
            if self._not_tested("stream.cpu", call, error):
                return None
            return self.record("stream.cpu", CheckStatus.FAIL, f"{call} raised {_describe(error)}")
        _, error = _call(method, stream=1, **versioned)
        if error is None:
            return self.record("stream.cpu", CheckStatus.WARN,
                               "accepted stream=1 for a CPU tensor (only None is valid on CPU)")
        self.record("stream.cpu", CheckStatus.PASS, f"stream=None accepted; stream=1 rejected ({type(error).__name__})")

    def _rejected_2023_12_keyword(self, check_id: str, keyword: str) -> None:
        # every keyword of the 2023.12 signature came together: accepting max_version and not
        # this one is a partial implementation
        self.record(check_id, CheckStatus.WARN,
                    f"rejects {keyword} (TypeError) although it accepts max_version: "
                    "the 2023.12 signature has both")

    def check_dl_device(self) -> None:
        method = self._dlpack()
        if method is None:
            return self.record("dl_device", CheckStatus.SKIP, "no __dlpack__")
        if self._device_missing("dl_device"):
            return None
        if not self.accepts_max_version:
            return self.record("dl_device", CheckStatus.SKIP,
                               "not tested: rejects max_version, so dl_device too (pre-2023.12 signature)")
        own = self.device
        call = _format_call(**self.baseline_kwargs, dl_device=own)
        capsule, error = _call(method, **self.baseline_kwargs, dl_device=own)
        if error is not None:
            if self._not_tested("dl_device", call, error):
                return None
            if _rejects_keyword(error):
                return self._rejected_2023_12_keyword("dl_device", "dl_device")
            return self.record("dl_device", CheckStatus.FAIL, f"dl_device=its own device {own} raised {_describe(error)}")
        if self._inspect_capsule("dl_device", capsule, call) is None:
            return None
        foreign = (int(DLDeviceType.HEXAGON), 0)
        _, error = _call(method, **self.baseline_kwargs, dl_device=foreign)
        if error is None:
            return self.record("dl_device", CheckStatus.FAIL, "accepted dl_device=(HEXAGON, 0) without exporting there")
        if not isinstance(error, BufferError):
            return self.record("dl_device", CheckStatus.WARN,
                               f"an unsupported dl_device raised {type(error).__name__}, the spec asks for BufferError")
        self.record("dl_device", CheckStatus.PASS, "own device accepted; unsupported device → BufferError")

    def check_copy(self) -> None:
        method = self._dlpack()
        if method is None:
            return self.record("copy", CheckStatus.SKIP, "no __dlpack__")
        if not self.accepts_max_version:
            return self.record("copy", CheckStatus.SKIP,
                               "not tested: rejects max_version, so copy too (pre-2023.12 signature)")
        kwargs = self.baseline_kwargs
        call = _format_call(**kwargs, copy=False)
        shared, error = _call(method, copy=False, **kwargs)
        if error is not None:
            if self._not_tested("copy", call, error):
                return None
            if _rejects_keyword(error):
                return self._rejected_2023_12_keyword("copy", "copy")
            return self.record("copy", CheckStatus.FAIL, f"{call} raised {_describe(error)}")
        call = _format_call(**kwargs, copy=True)
        copied, error = _call(method, copy=True, **kwargs)
        if error is not None:
            if self._not_tested("copy", call, error):
                return None
            return self.record("copy", CheckStatus.WARN, f"{call} raised {_describe(error)}")
        shared_info = self._inspect_capsule("copy", shared, "__dlpack__(copy=False)")
        copied_info = self._inspect_capsule("copy", copied, "__dlpack__(copy=True)")
        if shared_info is None or copied_info is None:
            return None
        if copied_info.size and copied_info.data_ptr == shared_info.data_ptr:
            return self.record("copy", CheckStatus.FAIL, "copy=True returned the same data pointer as copy=False")
        if copied_info.version is not None and not copied_info.flags & DLPackFlags.IS_COPIED:
            return self.record("copy", CheckStatus.FAIL, "copy=True made a copy but did not set IS_COPIED")
        if copied_info.version is None:
            return self.record("copy", CheckStatus.PASS,
                               "copy=True returns other memory than copy=False "
                               "(legacy capsule: IS_COPIED cannot be set)")
        self.record("copy", CheckStatus.PASS, "copy=True returns other memory than copy=False (IS_COPIED set)")

    def check_exchange_api(self) -> None:
        api = getattr(type(self.obj), "__dlpack_c_exchange_api__", None)
        if api is None:
            return self.record("exchange_api", CheckStatus.SKIP, "no __dlpack_c_exchange_api__ on the type")
        name = _capsule_name(api)
        if name != "dlpack_exchange_api":
            return self.record("exchange_api", CheckStatus.FAIL,
                               f"__dlpack_c_exchange_api__ must be a capsule named 'dlpack_exchange_api', got {api!r}")
        try:
            # the validator takes the exchange API path; `inspect` takes any object at run time
            # (TypeError for one it cannot read), so the declared source type is a cast here
            through_api = inspect(cast("CanDLPackCompat", self.obj))
        except (DLPackError, TypeError, BufferError) as exc:
            if self._device_missing("exchange_api"):  # the validator asks __dlpack_device__ too
                return None
            return self.record("exchange_api", CheckStatus.FAIL, f"the exchange API gave an invalid tensor: {exc}")
        if self.device is not None and (int(through_api.device.type), through_api.device.id) != self.device:
            return self.record("exchange_api", CheckStatus.FAIL,
                               f"exchange API device {through_api.device} disagrees with __dlpack_device__()")
        self.record("exchange_api", CheckStatus.PASS, f"table usable: {through_api}")


def check_producer(obj: object, /) -> ConformanceReport:
    """Run every conformance check against ``obj`` (an object claiming to be a DLPack producer)."""
    checker = _Checker(obj)
    checker.run()
    return ConformanceReport(f"{type(obj).__module__}.{type(obj).__qualname__}", tuple(checker.results))

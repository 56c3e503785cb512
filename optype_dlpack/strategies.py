"""Hypothesis strategies of DLPack capsules, well-formed and malformed, for testing a consumer.

The package's own property tests draw from the same strategies (fed to its C++ test producer);
hypothesis is needed only here (``pip install hypothesis``).

- ``capsule_fields()``: field values of any kind, garbage included (a dict of the keywords of
  ``optype_dlpack.testing.CapsuleProducer.capsule``); data pointers are made up.
- ``valid_capsule_fields()``: fields of a well-formed tensor on any device; data pointers made up.
- ``well_formed_capsules(producer)``: CPU capsules over real memory, which a consumer must
  import with the values it holds: ``DrawnCapsule(capsule, fields, memory)``.
- ``malformed_capsules(producer)``: capsules the package's validator rejects; a consumer must
  refuse each with an exception and must not read its data (their pointers are made up).
"""

from __future__ import annotations

import ctypes
import itertools
import math
import random
from dataclasses import dataclass
import sys
from typing import Any, cast

from hypothesis import assume
from hypothesis import strategies as st

from ._core import inspect
from ._enums import DLDataTypeCode, DLDeviceType
from ._errors import DLPackError
from .testing import CapsuleOffer, CapsuleProducer, row_major_strides

if sys.version_info >= (3, 13):
    from types import CapsuleType
else:
    from typing_extensions import CapsuleType

__all__ = [
    "COMMON_DTYPES",
    "DrawnCapsule",
    "capsule_fields",
    "malformed_capsules",
    "reads_as_plausible_version",
    "valid_capsule_fields",
    "well_formed_capsules",
]

_INT64 = st.integers(-(2**63), 2**63 - 1)
_SMALL_EXTENT = st.integers(0, 5)
_MADE_UP_DATA = 0x10_0000_0000  # never dereferenced by a reader that validates first


def _garbage_extents() -> st.SearchStrategy[list[int]]:
    return st.lists(st.one_of(st.integers(-3, 6), _INT64), max_size=6)


def reads_as_plausible_version(data: int) -> bool:
    """Whether a legacy struct's data word, read as a DLPackVersion, says 1.x with a minor
    below 256: what a legacy struct under the versioned name cannot be told apart from
    (a reader then takes it for a versioned struct and reads past its end), so the
    strategies never make one."""
    return data & 0xFFFF_FFFF == 1 and data >> 32 < 256


@st.composite
def capsule_fields(draw: st.DrawFn) -> dict[str, Any]:
    """Field values of any kind: valid, garbage, wrong names, wrong struct for the name."""
    layout = draw(st.sampled_from(["legacy", "versioned"]))
    fields: dict[str, Any] = {
        "data": draw(st.one_of(st.just(0), st.integers(0, 2**64 - 1), st.just(0x7F00_0000_1000))),
        "device": (draw(st.integers(-(2**31), 2**31 - 1)), draw(st.integers(-(2**31), 2**31 - 1))),
        "shape": draw(st.one_of(st.none(), _garbage_extents())),
        "strides": draw(st.one_of(st.none(), st.just(...), _garbage_extents())),
        "dtype": (draw(st.integers(0, 255)), draw(st.integers(0, 255)), draw(st.integers(0, 65535))),
        "byte_offset": draw(st.one_of(st.integers(0, 256), st.integers(0, 2**64 - 1))),
        "layout": layout,
        "flags": draw(st.one_of(st.integers(0, 7), st.integers(0, 2**64 - 1))),
    }
    if draw(st.booleans()):
        fields["ndim"] = draw(st.one_of(st.integers(-2, 8), st.integers(-(2**31), 2**31 - 1)))
    if layout == "versioned":
        fields["version"] = (draw(st.integers(0, 3)), draw(st.integers(0, 2**32 - 1)))
        if fields["version"][0] == 1 and draw(st.booleans()):
            fields["name"] = "dltensor"  # the wrong name for this struct
        elif fields["version"][0] != 1 and draw(st.booleans()):
            fields["layout"] = "versioned_header"  # another major: nothing past flags may be read
    elif draw(st.booleans()) and not reads_as_plausible_version(fields["data"]):
        fields["name"] = "dltensor_versioned"  # the legacy struct under the versioned name
    if draw(st.integers(0, 9)) == 0:
        fields["name"] = draw(st.sampled_from(["used_dltensor", "used_dltensor_versioned", "bogus"]))
    return fields


def _bits_for(code: DLDataTypeCode) -> st.SearchStrategy[int]:
    return {
        DLDataTypeCode.INT: st.sampled_from([1, 4, 8, 16, 32, 64]),
        DLDataTypeCode.UINT: st.sampled_from([1, 2, 8, 16, 32, 64]),
        DLDataTypeCode.FLOAT: st.sampled_from([16, 32, 64, 128]),
        DLDataTypeCode.OPAQUE_HANDLE: st.integers(1, 255),
        DLDataTypeCode.BFLOAT: st.just(16),
        DLDataTypeCode.COMPLEX: st.sampled_from([32, 64, 128]),
        DLDataTypeCode.BOOL: st.just(8),
        DLDataTypeCode.FLOAT6_E2M3FN: st.just(6),
        DLDataTypeCode.FLOAT6_E3M2FN: st.just(6),
        DLDataTypeCode.FLOAT4_E2M1FN: st.just(4),
        DLDataTypeCode.BCOMPLEX: st.just(32),  # DLPack after 1.3: two bfloat16
    }.get(code, st.just(8))


@st.composite
def valid_capsule_fields(
    draw: st.DrawFn,
    *,
    devices: st.SearchStrategy[DLDeviceType] | None = None,
    codes: st.SearchStrategy[DLDataTypeCode] | None = None,
) -> dict[str, Any]:
    """Fields of a well-formed tensor (any device and dtype unless narrowed); data made up."""
    ndim = draw(st.integers(0, 5))
    shape = draw(st.lists(_SMALL_EXTENT, min_size=ndim, max_size=ndim))
    device_type = draw(devices if devices is not None else st.sampled_from(list(DLDeviceType)))
    device_id = 0 if device_type == DLDeviceType.CPU else draw(st.integers(0, 7))
    code = draw(codes if codes is not None else st.sampled_from(list(DLDataTypeCode)))
    layout = draw(st.sampled_from(["legacy", "versioned"]))
    version = (1, draw(st.integers(0, 9)))
    strides_null = ndim > 0 and (layout == "legacy" or version[1] < 2) and draw(st.booleans())
    return {
        "device": (int(device_type), device_id),
        "shape": shape,
        "strides": None if strides_null else draw(st.lists(st.integers(-6, 6), min_size=ndim, max_size=ndim)),
        "dtype": (int(code), draw(_bits_for(code)), draw(st.sampled_from([1, 1, 1, 2, 4]))),
        "byte_offset": draw(st.integers(0, 1024)),
        "layout": layout,
        "version": version,
        "flags": draw(st.integers(0, 3)) if layout == "versioned" else 0,
        "data": 0 if 0 in shape and draw(st.booleans()) else _MADE_UP_DATA,
    }


@dataclass(frozen=True)
class DrawnCapsule:
    """A drawn capsule: ``offer`` hands it out through ``__dlpack__``; ``fields`` are what it
    says; ``memory`` (well-formed ones) the bytes its tensor spans, element 0 at ``origin``."""

    capsule: object
    fields: dict[str, Any]
    memory: bytes = b""
    origin: int = 0

    @property
    def offer(self) -> CapsuleOffer:
        return CapsuleOffer(self.capsule)

    def element_bytes(self) -> bytes:
        """The tensor's elements in row-major order, as a C-contiguous copy would hold them
        (well-formed capsules only)."""
        shape: list[int] = self.fields["shape"]
        strides = self.fields["strides"]
        steps = list(strides) if strides is not None else row_major_strides(shape)
        itemsize = self.fields["dtype"][1] // 8
        out = bytearray()
        for index in itertools.product(*(range(n) for n in shape)):
            start = self.origin + sum(i * s for i, s in zip(index, steps, strict=True)) * itemsize
            out += self.memory[start : start + itemsize]
        return bytes(out)


def _span(shape: list[int], strides: list[int], itemsize: int) -> tuple[int, int]:
    """(bytes the tensor spans, byte distance from the lowest element to element 0)."""
    if 0 in shape:
        return 0, 0
    low = sum(min(0, (n - 1) * s) for n, s in zip(shape, strides, strict=True))
    high = sum(max(0, (n - 1) * s) for n, s in zip(shape, strides, strict=True))
    return (high - low + 1) * itemsize, -low * itemsize


COMMON_DTYPES: tuple[tuple[DLDataTypeCode, int], ...] = (
    *((DLDataTypeCode.INT, bits) for bits in (8, 16, 32, 64)),
    *((DLDataTypeCode.UINT, bits) for bits in (8, 16, 32, 64)),
    *((DLDataTypeCode.FLOAT, bits) for bits in (16, 32, 64)),
    (DLDataTypeCode.COMPLEX, 64),
    (DLDataTypeCode.COMPLEX, 128),
    (DLDataTypeCode.BOOL, 8),
)
"""The (code, bits) pairs ``well_formed_capsules`` draws by default: those NumPy reads."""


@st.composite
def well_formed_capsules(
    draw: st.DrawFn,
    producer: CapsuleProducer,
    *,
    dtypes: tuple[tuple[DLDataTypeCode, int], ...] = COMMON_DTYPES,
) -> DrawnCapsule:
    """A well-formed CPU capsule over real memory filled with drawn bytes, of one of `dtypes`
    (byte-sized (code, bits) pairs; one lane): a consumer must import it and read exactly
    those values."""
    fields = draw(valid_capsule_fields(devices=st.just(DLDeviceType.CPU)))
    code, bits = draw(st.sampled_from(dtypes))
    if bits % 8:
        raise ValueError(f"well_formed_capsules: {bits}-bit elements are not byte-sized")
    itemsize = bits // 8
    fields["dtype"] = (int(code), bits, 1)
    fields["byte_offset"] = draw(st.sampled_from([0, itemsize]))  # element-aligned
    shape: list[int] = fields["shape"]
    strides = list(fields["strides"]) if fields["strides"] is not None else row_major_strides(shape)
    size, lowest = _span(shape, strides, itemsize)
    seed = draw(st.integers(0, 2**32 - 1))
    content = random.Random(seed).randbytes(fields["byte_offset"] + size)
    if code == DLDataTypeCode.BOOL:
        content = bytes(b & 1 for b in content)
    buffer = ctypes.create_string_buffer(content, max(len(content), 1))  # never a NULL address
    fields["data"] = ctypes.addressof(buffer) + lowest if math.prod(shape) else 0
    capsule = producer.capsule(memory=buffer, **fields)
    return DrawnCapsule(capsule, fields, content, fields["byte_offset"] + lowest)


@st.composite
def malformed_capsules(draw: st.DrawFn, producer: CapsuleProducer) -> DrawnCapsule:
    """A capsule the package's validator rejects (a bad field, the wrong struct for its name,
    a consumed or foreign name): a consumer must refuse it without reading its data."""
    fields = draw(capsule_fields())
    capsule = producer.capsule(**fields)
    try:
        inspect(cast("CapsuleType", capsule))  # any object at run time; TypeError for one it cannot read
    except (DLPackError, TypeError):
        return DrawnCapsule(capsule, fields)
    assume(False)  # a well-formed draw (its data pointer is made up): not for this strategy
    raise AssertionError("unreachable")

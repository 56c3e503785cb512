"""Writes the seed corpora: corpus/core/ for core_fuzzer.cpp, corpus/python/ for python_fuzzer.py.

Each seed is one named case. Seeds named finding-* reproduce a defect the fuzzers found; they
stay in the corpus as regression inputs once it is fixed.

    python tests/fuzz/make_corpus.py          # rewrites both directories
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import python_fuzzer as harness  # noqa: E402  (FIELDS and VALUES: the Python seeds' layout)

# --- core_fuzzer.cpp: fields in the order build(), read_constraints() and
# --- check_exchange_chain() read them, then the text check_names() parses.

KDL_FLOAT, KDL_INT, KDL_UINT = harness.dlpack_h.KDL_FLOAT, harness.dlpack_h.KDL_INT, harness.dlpack_h.KDL_UINT


def compact(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(harness.compact(list(shape)))


def core_seed(
    *,
    versioned: bool = True,
    read_versioned: bool | None = None,
    version: tuple[int, int] = (1, 3),
    flags: int = 0,
    device: tuple[int, int] = (1, 0),
    dtype: tuple[int, int, int] = (KDL_FLOAT, 32, 1),
    shape: tuple[int, ...] | None = (2, 3),
    strides: tuple[int, ...] | None | str = "compact",
    ndim: int | None = None,
    byte_offset: int = 0,
    data: int | str | None = "buffer",
    constraints: bytes = b"",
    chain: tuple[tuple[int, int | None], ...] = (),
    text: bytes = b"",
) -> bytes:
    """One input. `data`: None, "buffer" (one harness byte) or an address; `chain`: (major, prev index)."""
    if strides == "compact":
        strides = None if shape is None else compact(shape)
    ndim = len(shape or ()) if ndim is None else ndim
    data_bits = 0 if data is None else 1 if data == "buffer" else 2
    pointers = (shape is not None) | (strides is not None) << 2 | data_bits << 4
    layout = versioned | (versioned if read_versioned is None else read_versioned) << 1
    out = struct.pack("<BBIIQiiBBHiQQ", layout, pointers, *version, flags, *device, *dtype, ndim, byte_offset,
                      data if isinstance(data, int) else 0)  # fmt: skip
    for array in (shape, strides):
        if array is not None:
            out += struct.pack(f"<{len(array)}q", *array)
    out += constraints or struct.pack("<BiiBBHHBB", 0, 0, 0, 0, 0, 0, 0, 0, 0)
    out += struct.pack("<B", len(chain))
    out += b"".join(struct.pack("<IB", major, 0) for major, _ in chain)
    out += bytes(255 if prev is None else prev for _, prev in chain)
    return out + struct.pack("<Q", 0x1000) + text


def core_constraints(*, device: tuple[int, int] | None = None, dtype: tuple[int, int, int] | None = None,
                     shape: tuple[int | None, ...] | None = None, writable: int = -1, layout: int = 0) -> bytes:  # fmt: skip
    """The constraints block: writable -1/1/0, layout 0 any, 1 C, 2 F (None in a shape: any)."""
    present = (device is not None) * 3 | (dtype is not None) << 2 | (shape is not None) * (8 | 16)
    present |= {-1: 0, 1: 1, 0: 2}[writable] << 5
    shape = shape or ()
    out = struct.pack("<BiiBBHHB", present, *(device or (0, 0)), *(dtype or (0, 0, 0)), len(shape), len(shape))
    out += struct.pack(f"<{len(shape)}q", *(-1 if n is None else n for n in shape))
    return out + struct.pack("<B", layout)


CORE_SEEDS: dict[str, bytes] = {
    "float32-c": core_seed(constraints=core_constraints(device=(1, 0), dtype=(2, 32, 1), shape=(2, None), layout=1)),
    "float64-f": core_seed(dtype=(KDL_FLOAT, 64, 1), shape=(3, 4), strides=(1, 3), constraints=core_constraints(layout=2)),
    "negative-strides": core_seed(shape=(4, 5), strides=(-5, -1), byte_offset=76),
    "broadcast": core_seed(shape=(3, 1, 4), strides=(0, 7, 1), constraints=core_constraints(writable=1)),
    "scalar": core_seed(shape=None, strides=None, ndim=0),
    "empty": core_seed(shape=(0, 5), data=None),
    "legacy-null-strides": core_seed(versioned=False, strides=None, dtype=(KDL_INT, 8, 1)),
    "v1.1-null-strides": core_seed(version=(1, 1), strides=None),
    "v1.2-null-strides": core_seed(version=(1, 2), strides=None),
    "version-2": core_seed(version=(2, 0)),
    "unknown-flags": core_seed(flags=1 << 5 | 1),
    "int4-packed": core_seed(dtype=(KDL_INT, 4, 1), shape=(3, 5)),
    "float4-padded": core_seed(dtype=(17, 4, 1), flags=4, shape=(2, 2)),
    "cuda-device": core_seed(device=(2, 1), data=0x7F00_0000_0000),
    "unknown-device-and-dtype": core_seed(device=(99, -1), dtype=(99, 0, 0)),
    "huge-extents": core_seed(shape=(2**40, 2**40)),
    "address-wraps": core_seed(shape=(4,), strides=(1,), data=0xFFFF_FFFF_FFFF_FFF8),
    "ndim-too-large": core_seed(ndim=1025, shape=(1,) * 1025, strides=None),
    "ndim-huge": core_seed(ndim=2**31 - 1, shape=None, strides=None),
    "versioned-read-as-legacy": core_seed(read_versioned=False),
    "legacy-read-as-versioned": core_seed(versioned=False, read_versioned=True, data=0x7F12_3456_7800),
    "exchange-chain": core_seed(chain=((0, 1), (2, 2), (1, None))),
    "exchange-chain-cycle": core_seed(chain=((0, 1), (2, 0))),
    "exchange-chain-long": core_seed(chain=tuple((0, i + 1) for i in range(19)) + ((1, None),)),
    "names": core_seed(text=b"float4_e2m1fn_x2"),
    "names-device": core_seed(text=b"cuda:3"),
    # Empty, so accepted, but the compact strides of its other extents overflow int64
    # (fill_strides, check.hpp: signed overflow).
    "finding-fill-strides-overflow": core_seed(versioned=False, shape=(0, 2**40, 2**40), strides=None, data=None),
    # A legacy struct under the versioned name whose data pointer reads as version 1.x with a
    # minor above 255 (no real version): check_structure reads dl_tensor 16 bytes past the struct.
    "finding-legacy-read-as-versioned-overread": core_seed(versioned=False, read_versioned=True, data=0x7F12_0000_0001),
    # int2 with a negative stride: byte_high misses the byte element 0 lies in.
    "finding-subbyte-byte-high-short": core_seed(dtype=(KDL_INT, 2, 1), shape=(4,), strides=(-1,), byte_offset=8),
    # The lowest offset reached is exactly INT64_MIN (128 * -2**56): negating it to count the
    # bytes below element 0 overflows (check.hpp, UBSan: negation of -9223372036854775808).
    "finding-min-offset-negation-overflow": core_seed(shape=(2, 129), strides=(0, -(2**56))),
}

# --- python_fuzzer.py: FIELDS in order, then one byte per extent and one per stride.


def byte_for(field: str, value: Any) -> int:
    """The byte that selects `value` for a field of harness.VALUES."""
    values = harness.VALUES[field]
    return int(next(b for b in (0, *range(0xC0, 0x100)) if harness.choose(values, b) == value))


def python_seed(*, shape: tuple[int, ...] = (2, 3), strides: bytes | None = None, **fields: Any) -> bytes:
    """One input: fields by name (VALUES fields by value, the others as raw bytes or bytes);
    `strides` one byte per axis as stride() reads them (default: compact)."""
    raw: dict[str, Any] = {name: (b"" if fmt.endswith("s") else 0) for name, fmt in harness.FIELDS}
    fields.setdefault("ndim", len(shape))
    for name, value in fields.items():
        raw[name] = byte_for(name, value) if name in harness.VALUES else value
    extents = bytes(n if 0 <= n < 5 else next(b for b in range(0xF0, 0x100) if harness.extent(b) == n) for n in shape)
    strides = bytes(len(shape)) if strides is None else strides
    return harness.HEADER.pack(*(raw[name] for name, _ in harness.FIELDS)) + extents + strides


TARGETS = {"capsule": 0, "producer": 1, "exchange producer": 2, "array interface": 3, "buffer": 4, "other": 5}
RESULTS = {kind: harness.RESULTS.index(kind) for kind in harness.RESULTS}


def results(*kinds: str) -> bytes:
    return bytes(RESULTS[kind] for kind in (*kinds, *kinds[-1:] * 4))[:4]


PYTHON_SEEDS: dict[str, bytes] = {
    "capsule-float32": python_seed(),
    "capsule-legacy": python_seed(name=b"dltensor"),
    "capsule-legacy-null-strides": python_seed(name=b"dltensor", pointers=0b0101),
    "capsule-used": python_seed(name=b"used_dltensor_versioned"),
    "capsule-version-2": python_seed(major=2),
    "capsule-mislabelled": python_seed(memory="legacy"),
    "capsule-strided": python_seed(shape=(4, 3), strides=bytes((0x80 + 6, 0x80 + 7))),
    "capsule-empty": python_seed(shape=(0, 3), pointers=0b0011),
    "capsule-int4-padded": python_seed(code=0, bits=4, flags=4),
    "capsule-readonly-constrained": python_seed(flags=1, constraints=bytes((1, 1, 3, 2, 2, 1, 2))),
    "producer": python_seed(target=TARGETS["producer"], results=results("capsule")),
    "producer-legacy-signature": python_seed(target=TARGETS["producer"], signature=1, results=results("TypeError", "capsule")),
    "producer-cuda-retry": python_seed(target=TARGETS["producer"], device_type=2, results=results("RuntimeError", "capsule")),
    "producer-raises": python_seed(target=TARGETS["producer"], results=results("ProducerError")),
    "producer-wrong-device": python_seed(target=TARGETS["producer"], device_reply=3, results=results("capsule")),
    "exchange-capsule": python_seed(target=TARGETS["exchange producer"], exchange=bytes((0, 1, 0xFF, 1, 2, 1))),
    "exchange-chain-v1.2": python_seed(target=TARGETS["exchange producer"], exchange=bytes((2, 0b010000, 0b111001, 0x80, 2, 0))),
    "array-interface": python_seed(target=TARGETS["array interface"], code=2),
    "buffer": python_seed(target=TARGETS["buffer"], name_bytes=b"abcdef", export=bytes((0, 1, 1, 1))),
    "other": python_seed(target=TARGETS["other"], signature=2),
    # A chain of one table of major version 0 whose prev_api is itself: usable_table
    # (acquire.hpp) walks it forever, with the GIL held.
    "finding-exchange-chain-cycle-hang": python_seed(target=TARGETS["exchange producer"], exchange=bytes(6)),
    # asdlpack wraps a producer without __dlpack_device__; the wrapper's __dlpack_device__()
    # then raises AttributeError.
    "finding-asdlpack-device-attributeerror": python_seed(target=TARGETS["producer"], signature=2, results=results("capsule")),
    # validate(ndim=2**70) and Expect(device=(2**40, 0)): RuntimeError from a pybind11 cast.
    "finding-constraint-int-overflow-runtimeerror": python_seed(constraints=bytes((8, 0, 8, 0, 0, 0, 0))),
    # from_dlpack(copy=True) of an empty tensor of shape (2**63-1, 0): the capsule is consumed,
    # then NumPy refuses the array ("array is too big"), so the call fails with the capsule used.
    "finding-from-dlpack-consumes-then-numpy-refuses": python_seed(shape=(2**63 - 1, 0), code=1, copy=1),
    # Stride -2**63 on an axis of 2: the lowest offset is INT64_MIN, whose negation overflows
    # in check_structure (a UBSan report in the fuzzing build).
    "finding-min-offset-negation-overflow": python_seed(shape=(2,), strides=bytes((0xF7,))),
}


def write(directory: Path, seeds: dict[str, bytes]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.iterdir():
        stale.unlink()
    for name, data in seeds.items():
        (directory / name).write_bytes(data)


def main() -> None:
    write(HERE / "corpus" / "core", CORE_SEEDS)
    write(HERE / "corpus" / "python", PYTHON_SEEDS)
    sizes = sum(len(data) for data in (*CORE_SEEDS.values(), *PYTHON_SEEDS.values()))
    print(f"wrote {len(CORE_SEEDS)} core and {len(PYTHON_SEEDS)} python seeds, {sizes} bytes")


if __name__ == "__main__":
    main()

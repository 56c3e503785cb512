"""Cost and memory of validate / from_dlpack against tensor size (one process per size).

Usage: python benchmarks/scaling.py SIZE [LOOPS]  → prints one JSON line.
A zero-copy path costs the same at every size and grows no memory.
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time

import numpy as np

import optype_dlpack as od


def median_ns(func: object, arg: object, loops: int, repeats: int = 7) -> float:
    timings = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for _ in range(loops):
            func(arg)  # type: ignore[operator]
        timings.append((time.perf_counter_ns() - start) / loops)
    return statistics.median(timings)


def peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> None:
    size = int(sys.argv[1])
    loops = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000
    array = np.ones(size, dtype=np.float32)
    od.validate(array)
    od.from_dlpack(array)  # warm both paths before measuring memory
    rss_before = peak_rss_kib()
    result = {
        "size": size,
        "validate_ns": median_ns(od.validate, array, loops),
        "from_dlpack_ns": median_ns(od.from_dlpack, array, loops),
        "numpy_from_dlpack_ns": median_ns(np.from_dlpack, array, loops),
    }
    result["rss_growth_kib"] = peak_rss_kib() - rss_before
    result["array_kib"] = array.nbytes // 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main()

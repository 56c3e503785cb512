"""What asking the CUDA driver costs: validate() with verify_device="auto" against "skip".

Run on a machine with an NVIDIA GPU (tests/gpu/run_gpu_suite.sh runs it):

    python3 -P tests/gpu/time_verify.py

Each row is the median, over REPEATS rounds, of the mean time of one call in a round of
NUMBER calls. The capsule is made once and never consumed (validate() only reads it).
"""

from __future__ import annotations

import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable

import numpy as np

import optype_dlpack
from optype_dlpack import _core

NUMBER = 20_000
REPEATS = 15


def median_ns(call: Callable[[], object]) -> float:
    for _ in range(1_000):  # warm up (the first call opens the driver)
        call()
    rounds = []
    for _ in range(REPEATS):
        start = time.perf_counter_ns()
        for _ in range(NUMBER):
            call()
        rounds.append((time.perf_counter_ns() - start) / NUMBER)
    return statistics.median(rounds)


def main() -> int:
    with warnings.catch_warnings():  # the frameworks' import-time notices are theirs
        warnings.simplefilter("ignore")
        import cupy
        import torch
    if not (_core.cuda_driver_available() and torch.cuda.is_available()):
        print(f"no CUDA device: {_core.cuda_driver_status()}", file=sys.stderr)
        return 1

    cuda = torch.arange(1 << 20, dtype=torch.float32, device="cuda")
    sliced = cuda.reshape(1024, 1024)[1:, ::2]
    # lowest byte is not data, so two queries; uint8 because CuPy 14 exports wider negative
    # strides wrongly (see test_cupy_negative_strides)
    reversed_ = cupy.asarray(np.zeros(1 << 20, dtype=np.uint8))[::-1]
    host = np.zeros(1 << 20, dtype=np.float32)
    subjects: list[tuple[str, object]] = [
        ("torch cuda capsule (1-D)", cuda.__dlpack__()),
        ("torch cuda capsule (sliced 2-D)", sliced.__dlpack__()),
        ("cupy cuda capsule (reversed uint8)", reversed_.__dlpack__()),
        ("torch cuda tensor (object)", cuda),
        ("numpy cpu capsule", host.__dlpack__()),
    ]
    rows = []
    for name, subject in subjects:
        times = {}
        for mode in ("auto", "skip"):
            times[mode] = median_ns(lambda s=subject, m=mode: optype_dlpack.validate(s, verify_device=m))
        check_auto = optype_dlpack.Expect(verify_device="auto")
        times["Expect.check auto"] = median_ns(lambda s=subject: check_auto.check(s))
        rows.append((name, times["auto"], times["skip"], times["auto"] - times["skip"], times["Expect.check auto"]))

    verified = optype_dlpack.validate(cuda, verify_device="require").device_verified
    print(f"optype_dlpack {optype_dlpack.__version__}, torch {torch.__version__}, "
          f"Python {platform.python_version()}, GPU {torch.cuda.get_device_name(0)}")
    print(f"driver: {_core.cuda_driver_status()}; torch tensor verified: {verified}")
    print(f"median of {REPEATS} rounds x {NUMBER} calls, ns per call\n")
    header = ("subject", "auto", "skip", "auto - skip", "Expect.check(auto)")
    print(f"| {header[0]:<32} | {header[1]:>8} | {header[2]:>8} | {header[3]:>11} | {header[4]:>18} |")
    print(f"|{'-' * 34}|{'-' * 9}:|{'-' * 9}:|{'-' * 12}:|{'-' * 19}:|")
    for name, auto, skip, extra, check in rows:
        print(f"| {name:<32} | {auto:>8.0f} | {skip:>8.0f} | {extra:>11.0f} | {check:>18.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""from_dlpack remembers "libcuda is not loaded" between calls (the loader is not asked on
every call), and must forget it as soon as libcuda is loaded: a device pointer under a host
label must never become a host view, however many imports came before.

The stand-in libcuda.so.1 (tests/cuda/fake_libcuda.c, built by the fixture of
test_verify_policy.py) is loaded by the child only after its first imports, as a CUDA
framework imported late would; other libraries are loaded before and after it, so that
libcuda is neither the first object loaded after the remembered walk nor the last.
"""

from __future__ import annotations

from pathlib import Path

from tests.cuda.test_verify_policy import fake_libcuda, run_child

__all__ = ["fake_libcuda"]  # the fixture, shared


def test_libcuda_loaded_after_imports_is_seen(fake_libcuda: Path, tmp_path: Path) -> None:
    out = run_child(
        """
import ctypes.util
cpu = lambda: optype_dlpack.from_dlpack(capsule_over(memory, (KDL_CPU, 0)))
result["before"] = [cpu().tolist()[:2] for _ in range(3)]
ctypes.CDLL(ctypes.util.find_library("m"))  # already loaded: nothing added
result["still_host"] = cpu().tolist()[:2]
ctypes.CDLL(ctypes.util.find_library("bz2") or ctypes.util.find_library("z"))  # a new object
result["after_other"] = cpu().tolist()[:2]
fake = ctypes.CDLL(sys.argv[1], mode=ctypes.RTLD_GLOBAL)
fake.fake_cuda_set_range.argtypes = [ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint, ctypes.c_uint, ctypes.c_int]
fake.fake_cuda_queries.restype = ctypes.c_longlong
import sqlite3  # more objects after libcuda
device_memory(memory)
result["device"] = outcome(cpu)
result["device_again"] = outcome(cpu)
""",
        fake_libcuda,
        tmp_path,
        state="not loaded",
    )
    assert out["before"] == [[0.0, 1.0]] * 3
    assert out["still_host"] == out["after_other"] == [0.0, 1.0]
    for key in ("device", "device_again"):
        assert "reports device memory on cuda:0" in out[key]["buffer_error"]
        assert out[key]["queries"] > 0  # the driver was asked

"""What verify_device="auto", "require" and "skip" ask the CUDA driver, label by label, and
what from_dlpack asks before the host reads, with libcuda loaded and without it.

Every machine runs these: a stand-in for libcuda.so.1 (fake_libcuda.c, built here) answers
the pointer queries from address ranges the test sets, and counts them. Loaded into a child
interpreter (the driver is opened once per process), it is libcuda "loaded in the process",
as after `import torch` of a CUDA build. Its "device memory" is host memory of the test's own,
so a mistaken host read would read it instead of crashing: the answers and the count of
queries tell what was asked.
"""

from __future__ import annotations

import shlex
import subprocess
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from tests.support.child import last_json, run_code

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def fake_libcuda(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stand-in driver, built as <dir>/libcuda.so.1 with that soname."""
    directory = tmp_path_factory.mktemp("fake_libcuda")
    library = directory / "libcuda.so.1"
    compiler = shlex.split(sysconfig.get_config_var("CC") or "cc")
    command = [*compiler, "-O1", "-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o", str(library),
               str(HERE / "fake_libcuda.c")]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, text=True)
    return library


# The child's preamble: libcuda loaded (or not), a 64-float buffer, capsules over it with any
# label, and what each call does.
_PREAMBLE = """
import ctypes, json, sys
import numpy as np
import optype_dlpack
from optype_dlpack import _core
from tests.support.capsules import capsule_name
from tests.support.ctypes_producer import CtypesProducer
from tests.support.dlpack_h import KDL_CPU, KDL_CUDA, KDL_CUDA_HOST, KDL_CUDA_MANAGED

fake = ctypes.CDLL(sys.argv[1], mode=ctypes.RTLD_GLOBAL) if sys.argv[2] == "loaded" else None
if fake is not None:
    fake.fake_cuda_set_range.argtypes = [ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint, ctypes.c_uint, ctypes.c_int]
    fake.fake_cuda_set_unmapped.argtypes = [ctypes.c_uint64, ctypes.c_uint64]
    fake.fake_cuda_queries.restype = ctypes.c_longlong
DEVICE, PINNED = 2, 1  # CU_MEMORYTYPE_*

producer = CtypesProducer()
memory = np.arange(64, dtype=np.float32)
result = {}

def device_memory(array, ordinal=0):
    fake.fake_cuda_set_range(array.ctypes.data, array.nbytes, DEVICE, 0, ordinal)

def queries():
    return fake.fake_cuda_queries() if fake is not None else 0

made = []  # every capsule stays alive: its ctypes destructor must not run with an exception set

def capsule_over(array, device, **fields):
    made.append(producer.capsule(array, device=device, **fields))
    return made[-1]

def outcome(call):
    before = queries()
    try:
        info = call()
        out = {"verified": getattr(info, "device_verified", "none")}
    except optype_dlpack.DLPackValidationError as error:
        out = {"rules": list(error.rules)}
    except BufferError as error:
        out = {"buffer_error": str(error)}
    out["queries"] = queries() - before
    return out
"""


def run_child(snippet: str, fake_libcuda: Path, tmp_path: Path, *, state: str = "loaded",
              env: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    code = _PREAMBLE + snippet + "\nprint(json.dumps(result))\n"
    return last_json(run_code(code, str(fake_libcuda), state, cwd=tmp_path, env=env))  # type: ignore[no-any-return]


LABELS = {"cpu": "KDL_CPU", "cuda_host": "KDL_CUDA_HOST", "cuda_managed": "KDL_CUDA_MANAGED"}


def test_auto_does_not_ask_about_cpu_labels(fake_libcuda: Path, tmp_path: Path) -> None:
    # Device memory under a kDLCPU label: "auto" reads no bytes and asks nothing about them.
    out = run_child(
        """
device_memory(memory)
capsule = lambda: capsule_over(memory, (KDL_CPU, 0))
check = optype_dlpack.Expect(dtype="float32", ndim=1)
result["status"] = _core.cuda_driver_status()
result["validate"] = outcome(lambda: optype_dlpack.validate(capsule()))
result["inspect"] = outcome(lambda: optype_dlpack.inspect(capsule()))
result["check"] = outcome(lambda: check.check(capsule()))
result["expect_validate"] = outcome(lambda: check.validate(capsule()))
result["numpy_array"] = outcome(lambda: optype_dlpack.validate(memory))
result["numpy_check"] = outcome(lambda: check.check(memory))
""",
        fake_libcuda,
        tmp_path,
    )
    assert out.pop("status") == "loaded"
    for call, seen in out.items():
        expected = {"verified": "none" if call.endswith("check") else None, "queries": 0}
        assert seen == expected, call


@pytest.mark.parametrize("how", ["validate", "check"])
def test_require_asks_about_cpu_labels(how: str, fake_libcuda: Path, tmp_path: Path) -> None:
    out = run_child(
        f"""
host = np.zeros(16, dtype=np.float32)
device_memory(memory, ordinal=1)
call = (lambda x: optype_dlpack.validate(x, verify_device="require")) if {how!r} == "validate" else (
    optype_dlpack.Expect(verify_device="require").check)
lie, truth = capsule_over(memory, (KDL_CPU, 0)), capsule_over(host, (KDL_CPU, 0))
result["lie"] = outcome(lambda: call(lie))
result["numpy_lie"] = outcome(lambda: call(memory))
result["truth"] = outcome(lambda: call(truth))
""",
        fake_libcuda,
        tmp_path,
    )
    assert out["lie"] == {"rules": ["device.cpu_pointer_is_device"], "queries": 1}
    assert out["numpy_lie"] == {"rules": ["device.cpu_pointer_is_device"], "queries": 1}
    assert out["truth"] == {"verified": True if how == "validate" else "none", "queries": 1}


def test_auto_asks_about_cuda_family_labels(fake_libcuda: Path, tmp_path: Path) -> None:
    out = run_child(
        """
host = np.zeros(16, dtype=np.float32)
device_memory(memory)
validate = lambda x: optype_dlpack.validate(x)
result["cuda_truth"] = outcome(lambda: validate(capsule_over(memory, (KDL_CUDA, 0))))
result["cuda_on_host"] = outcome(lambda: validate(capsule_over(host, (KDL_CUDA, 0))))
result["cuda_wrong_gpu"] = outcome(lambda: validate(capsule_over(memory, (KDL_CUDA, 1))))
result["pinned_on_device"] = outcome(lambda: validate(capsule_over(memory, (KDL_CUDA_HOST, 0))))
result["managed_on_device"] = outcome(lambda: validate(capsule_over(memory, (KDL_CUDA_MANAGED, 0))))
result["check_cuda_lie"] = outcome(lambda: optype_dlpack.Expect().check(capsule_over(host, (KDL_CUDA, 0))))
lie = capsule_over(host, (KDL_CUDA, 0))
result["skip"] = outcome(lambda: optype_dlpack.validate(lie, verify_device="skip"))
""",
        fake_libcuda,
        tmp_path,
    )
    assert out["cuda_truth"] == {"verified": True, "queries": 1}  # the pointer and its mapping, in one query
    assert out["cuda_on_host"] == {"rules": ["device.not_device_memory"], "queries": 1}
    assert out["cuda_wrong_gpu"] == {"rules": ["device.ordinal"], "queries": 1}
    assert out["pinned_on_device"] == {"rules": ["device.not_pinned"], "queries": 1}
    assert out["managed_on_device"] == {"rules": ["device.not_managed"], "queries": 1}
    assert out["check_cuda_lie"] == {"rules": ["device.not_device_memory"], "queries": 1}
    assert out["skip"] == {"verified": None, "queries": 0}


@pytest.mark.parametrize("label", sorted(LABELS))
def test_from_dlpack_refuses_device_memory_under_host_labels(label: str, fake_libcuda: Path, tmp_path: Path) -> None:
    out = run_child(
        f"""
device_memory(memory)
capsule = capsule_over(memory, ({LABELS[label]}, 0))
result["import"] = outcome(lambda: optype_dlpack.from_dlpack(capsule))
result["name_after"] = capsule_name(capsule)
result["copy"] = outcome(lambda: optype_dlpack.from_dlpack(capsule, copy=True))
""",
        fake_libcuda,
        tmp_path,
    )
    refused = out["import"]["buffer_error"]
    assert refused.startswith("from_dlpack: data: the driver reports device memory on cuda:0")
    assert "a NumPy array over it would crash on its first read" in refused
    assert out["name_after"] == "dltensor_versioned"  # refused before anything was taken
    assert "buffer_error" in out["copy"]


def test_from_dlpack_reads_host_memory_under_host_labels(fake_libcuda: Path, tmp_path: Path) -> None:
    out = run_child(
        """
pinned = np.arange(8, dtype=np.float32)
fake.fake_cuda_set_range(pinned.ctypes.data, pinned.nbytes, PINNED, 0, 0)
before = queries()
result["cpu"] = optype_dlpack.from_dlpack(capsule_over(memory, (KDL_CPU, 0))).tolist()
result["pinned_as_cpu"] = optype_dlpack.from_dlpack(capsule_over(pinned, (KDL_CPU, 0))).tolist()
result["pinned"] = optype_dlpack.from_dlpack(capsule_over(pinned, (KDL_CUDA_HOST, 0))).tolist()
result["queries"] = queries() - before
""",
        fake_libcuda,
        tmp_path,
    )
    assert out["cpu"] == list(range(64))
    assert out["pinned_as_cpu"] == out["pinned"] == list(range(8))
    assert out["queries"] == 3  # each import asked, once


def test_no_answer_is_remembered(fake_libcuda: Path, tmp_path: Path) -> None:
    # Host memory freed and its addresses taken by a device allocation: the next capsule over
    # the same addresses must be asked about afresh, never read on the host from an old answer.
    out = run_child(
        """
capsule = lambda: capsule_over(memory, (KDL_CPU, 0))
result["host"] = optype_dlpack.from_dlpack(capsule()).tolist() == list(range(64))
result["host_required"] = outcome(lambda: optype_dlpack.validate(capsule(), verify_device="require"))
device_memory(memory)  # the same addresses, now device memory
result["reused"] = outcome(lambda: optype_dlpack.from_dlpack(capsule()))
result["reused_required"] = outcome(lambda: optype_dlpack.validate(capsule(), verify_device="require"))
fake.fake_cuda_clear()  # freed again: host memory as before
result["host_again"] = outcome(lambda: optype_dlpack.from_dlpack(capsule()))
""",
        fake_libcuda,
        tmp_path,
    )
    assert out["host"] is True
    assert out["host_required"] == {"verified": True, "queries": 1}
    assert "reports device memory on cuda:0" in out["reused"]["buffer_error"]
    assert out["reused_required"] == {"rules": ["device.cpu_pointer_is_device"], "queries": 1}
    assert out["host_again"] == {"verified": "none", "queries": 1}


def test_without_libcuda_nothing_loads_it_but_a_cuda_label(fake_libcuda: Path, tmp_path: Path) -> None:
    # libcuda can be found (LD_LIBRARY_PATH) but is not loaded: CPU tensors never load it,
    # not even from_dlpack; the first CUDA label under "auto" does.
    out = run_child(
        """
def libcuda_mapped():
    with open("/proc/self/maps") as maps:
        return "libcuda.so" in maps.read()
result["validate"] = outcome(lambda: optype_dlpack.validate(capsule_over(memory, (KDL_CPU, 0))))
result["check"] = outcome(lambda: optype_dlpack.Expect().check(memory))
result["imported"] = optype_dlpack.from_dlpack(capsule_over(memory, (KDL_CPU, 0))).tolist()[:2]
result["loaded_by_cpu"] = libcuda_mapped()
result["cuda"] = outcome(lambda: optype_dlpack.validate(capsule_over(memory, (KDL_CUDA, 0))))
result["loaded_by_cuda"] = libcuda_mapped()
""",
        fake_libcuda,
        tmp_path,
        state="not loaded",
        env={"LD_LIBRARY_PATH": str(fake_libcuda.parent)},
    )
    assert out["validate"] == {"verified": None, "queries": 0}
    assert out["check"] == {"verified": "none", "queries": 0}
    assert out["imported"] == [0.0, 1.0]
    assert out["loaded_by_cpu"] is False
    # loaded now, and its answer (host memory it does not know) catches the label
    assert out["cuda"] == {"rules": ["device.not_device_memory"], "queries": 0}
    assert out["loaded_by_cuda"] is True


def test_an_offset_inside_the_allocation_asks_once(fake_libcuda: Path, tmp_path: Path) -> None:
    # The lowest addressed byte is not data (a byte_offset, negative strides): when the
    # allocation holding it holds data too, data is not asked about separately. When it does
    # not, the second query still finds the bytes in another allocation.
    out = run_child(
        """
base = memory.ctypes.data
fake.fake_cuda_set_range(base, 128, DEVICE, 0, 0)         # floats 0-31
fake.fake_cuda_set_range(base + 128, 128, DEVICE, 0, 0)   # floats 32-63: another allocation
cuda = lambda **fields: capsule_over(memory, (KDL_CUDA, 0), **fields)
result["offset"] = outcome(lambda: optype_dlpack.validate(cuda(shape=(4,), strides=(1,), byte_offset=16)))
result["reversed"] = outcome(lambda: optype_dlpack.validate(
    cuda(data=base + 60, shape=(4,), strides=(-1,))))
result["across"] = outcome(lambda: optype_dlpack.validate(
    cuda(data=base + 128, shape=(2,), strides=(-4,))))
""",
        fake_libcuda,
        tmp_path,
    )
    assert out["offset"] == {"verified": True, "queries": 1}  # the lowest byte and its mapping
    assert out["reversed"] == {"verified": True, "queries": 1}
    assert out["across"] == {"rules": ["device.extent"], "queries": 2}  # the lowest byte, then data


def test_unmapped_bytes_of_a_reserved_range(fake_libcuda: Path, tmp_path: Path) -> None:
    # One device range whose second half is reserved but not mapped (PyTorch's expandable
    # segments): the first query answers for the mapping at the lowest byte, and the walk
    # asks on from where that mapping ends.
    out = run_child(
        """
base = memory.ctypes.data
fake.fake_cuda_set_range(base, 256, DEVICE, 0, 0)
fake.fake_cuda_set_unmapped(base + 128, 128)
cuda = lambda **fields: capsule_over(memory, (KDL_CUDA, 0), **fields)
result["mapped_half"] = outcome(lambda: optype_dlpack.validate(cuda(shape=(32,), strides=(1,))))
result["both_halves"] = outcome(lambda: optype_dlpack.validate(cuda(shape=(64,), strides=(1,))))
result["copy_mapped"] = optype_dlpack.from_dlpack(cuda(shape=(32,), strides=(1,)), copy=True).tolist()
result["copy_unmapped"] = outcome(lambda: optype_dlpack.from_dlpack(cuda(shape=(64,), strides=(1,)), copy=True))
""",
        fake_libcuda,
        tmp_path,
    )
    assert out["mapped_half"] == {"verified": True, "queries": 1}
    assert out["both_halves"] == {"rules": ["device.unmapped"], "queries": 2}
    assert out["copy_mapped"] == list(range(32))
    assert "unmapped" in out["copy_unmapped"]["buffer_error"]


def test_a_driver_without_the_mapping_attributes(fake_libcuda: Path, tmp_path: Path) -> None:
    # A driver older than CUDA 12 refuses MAPPING_SIZE and MAPPING_BASE_ADDR: the combined
    # query is dropped after its first refusal, and the mappings are walked block by block.
    out = run_child(
        """
base = memory.ctypes.data
fake.fake_cuda_refuse_attributes_from(18)
fake.fake_cuda_set_range(base, 256, DEVICE, 0, 0)
cuda = lambda **fields: capsule_over(memory, (KDL_CUDA, 0), **fields)
result["first"] = outcome(lambda: optype_dlpack.validate(cuda(shape=(64,), strides=(1,))))
result["again"] = outcome(lambda: optype_dlpack.validate(cuda(shape=(64,), strides=(1,))))
fake.fake_cuda_set_unmapped(base + 128, 128)
result["unmapped"] = outcome(lambda: optype_dlpack.validate(cuda(shape=(64,), strides=(1,))))
result["cpu_required"] = outcome(lambda: optype_dlpack.validate(memory, verify_device="require"))
""",
        fake_libcuda,
        tmp_path,
    )
    # combined (refused), without the mapping, mapping (refused), MAPPED at the first and last byte
    assert out["first"] == {"verified": True, "queries": 5}
    assert out["again"] == {"verified": True, "queries": 3}
    assert out["unmapped"] == {"rules": ["device.unmapped"], "queries": 3}
    assert out["cpu_required"] == {"rules": ["device.cpu_pointer_is_device"], "queries": 1}

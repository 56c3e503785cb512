"""TensorInfo instances freed and made again: what a new one shows is only its own tensor.

validate() and inspect() keep freed TensorInfo instances of a few dimensions for reuse
(src_cpp/tensor_info_type.cpp, FreeLists). These tests hold that to what a fresh allocation
would give:

- a new instance describes its own tensor only, whatever was freed before it, for every
  ndim (those kept and those beyond), and in any order of making and freeing;
- an instance still referenced is never handed out again, however many are alive;
- weak references to a freed instance are dead, their callbacks ran, and the instance made
  next has none of them (callbacks that make and free instances themselves included);
- at exit the kept instances are released, and instances freed after that (by atexit
  handlers that run later, by module teardown) are freed normally: the interpreter exits
  cleanly.
"""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import optype_dlpack as od
from tests.support.child import run_code

# More than the kept instances of one ndim (FreeLists::kCapacity), so that some are freed.
MANY = 100
# Beyond the dimensions whose instances are kept (FreeLists::kMaxRecycledNdim), too.
NDIMS = range(9)


def array_of(ndim: int, seed: int) -> np.ndarray:
    """A small array whose shape, strides, dtype and address depend on `seed` and `ndim`: every
    other element of its last axis, so that its strides are not compact."""
    dtype = (np.float32, np.int16, np.uint8, np.float64)[seed % 4]
    if ndim == 0:
        return np.asarray(dtype(seed))
    shape = tuple(1 + (seed + axis) % 3 for axis in range(ndim))
    whole = np.arange(int(np.prod(shape)) * 2, dtype=dtype).reshape((*shape[:-1], shape[-1] * 2))
    return whole[..., ::2]


def described(info: od.TensorInfo) -> tuple[object, ...]:
    return (info.device, info.dtype, info.shape, info.strides, info.byte_offset, info.data_ptr, info.ndim,
            info.size, info.nbytes, info.is_c_contiguous, info.is_f_contiguous, info.readonly, info.version)


@pytest.mark.parametrize("ndim", NDIMS)
def test_an_instance_made_after_frees_describes_its_own_tensor(ndim: int) -> None:
    arrays = [array_of(ndim, seed) for seed in range(8)]
    for x in arrays:
        od.inspect(arrays[-1])  # made and freed at once: kept for the next
        info = od.validate(x)
        assert info.shape == x.shape
        # an axis of extent 1 takes any stride (NumPy 2.3 and older export a C-contiguous array
        # with NULL strides, read as compact): compare the others
        assert [s for s, n in zip(info.strides, x.shape) if n != 1] == [
            s // x.itemsize for s, n in zip(x.strides, x.shape) if n != 1
        ]
        assert info.data_ptr == x.ctypes.data
        assert info.dtype.bits == x.itemsize * 8
        assert info.ndim == ndim
        assert info.size == x.size


def test_instances_of_every_ndim_made_and_freed_in_turn() -> None:
    arrays = [array_of(ndim, seed) for seed in range(5) for ndim in NDIMS]
    truth = [described(od.inspect(x)) for x in arrays]
    for round_ in range(3):
        order = arrays if round_ % 2 == 0 else arrays[::-1]
        want = truth if round_ % 2 == 0 else truth[::-1]
        assert [described(od.inspect(x)) for x in order] == want


def test_instances_alive_are_never_handed_out_again() -> None:
    x = array_of(2, 1)
    for _ in range(3):
        alive = [od.validate(x) for _ in range(MANY)]
        assert len({id(info) for info in alive}) == MANY
        assert all(described(info) == described(alive[0]) for info in alive)
        del alive  # more than are kept: the rest go back to the allocator


def test_freed_instance_is_not_reachable_through_its_weak_references() -> None:
    x = array_of(2, 2)
    called: list[object] = []
    info = od.inspect(x)
    ref = weakref.ref(info, called.append)
    proxy = weakref.proxy(info)
    del info
    gc.collect()
    assert ref() is None
    assert called == [ref]
    with pytest.raises(ReferenceError):
        _ = proxy.shape
    fresh = od.inspect(x)
    assert weakref.getweakrefcount(fresh) == 0
    again = weakref.ref(fresh)
    assert again() is fresh
    assert described(fresh) == described(od.inspect(x))


def test_weak_reference_callbacks_that_make_and_free_instances() -> None:
    # The callbacks run while the instance is freed, before it is kept: they make and free
    # instances of the same ndim themselves, which must neither see it nor disturb it.
    arrays = [array_of(2, seed) for seed in range(4)]
    seen: list[tuple[object, ...]] = []

    def callback(_: object) -> None:
        made = [od.inspect(x) for x in arrays]
        seen.extend(described(info) for info in made)
        del made

    for _ in range(20):
        info = od.inspect(arrays[0])
        refs = [weakref.ref(info, callback) for _ in range(3)]
        del info
        assert all(ref() is None for ref in refs)
    truth = [described(od.inspect(x)) for x in arrays]
    assert seen == truth * (len(seen) // len(truth))
    assert len(seen) == 20 * 3 * len(arrays)


def test_instances_freed_at_exit_after_the_lists_closed() -> None:
    # atexit runs handlers last-registered first: this one, registered before the package is
    # imported, runs after the package closed its lists, and makes and frees instances then.
    # Instances also die in module teardown and in a weak reference callback at exit.
    code = """
import atexit, weakref

def late():
    import numpy as np
    import optype_dlpack as od
    for ndim in range(9):
        x = np.zeros((2,) * ndim, dtype=np.float32)
        infos = [od.validate(x) for _ in range(40)]
        assert all(info.shape == (2,) * ndim for info in infos)
        del infos
    print("late handler ran")

atexit.register(late)

import numpy as np
import optype_dlpack as od

kept = [od.inspect(np.zeros((3,) * (n % 9), dtype=np.float32)) for n in range(200)]
ref = weakref.ref(kept[0], lambda r: [od.inspect(np.zeros(3)) for _ in range(50)])
for _ in range(1000):
    od.validate(np.zeros((4, 4)), device="cpu")
print("main done")
"""
    completed = run_code(code)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["main", "done", "late", "handler", "ran"]
    assert completed.stderr == ""

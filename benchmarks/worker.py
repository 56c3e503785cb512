"""One benchmark process: sets up a libcuda state, runs groups, prints one JSON document.

Usage (benchmarks/run.py starts it; never needed by hand):
    python benchmarks/worker.py STATE REPEATS WARMUP SAMPLE_US GROUP [GROUP ...]

STATE is ``no-libcuda`` (the parent sets OPTYPE_DLPACK_DISABLE_CUDA=1; no CUDA framework is
initialised) or ``libcuda`` (torch is imported and its CUDA runtime initialised, else
``ctypes.CDLL("libcuda.so.1")``; the process reports ``unavailable`` when neither loads it).

Method, per group: every subject of the group, the floors included (a no-op native call and
``len(())``), is timed in turn within each repeat, so that a drift of the machine reaches the
floors as much as the subjects. Each subject is a compiled loop of one statement (as
``timeit`` does: no extra Python frame per call); its loop count is calibrated once so that
one sample lasts about SAMPLE_US. The first WARMUP repeats are discarded; min and median of
the rest are reported in ns per call.
"""

from __future__ import annotations

import ctypes
import gc
import importlib.util
import itertools
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Subject = tuple[str, str, dict[str, Any]]  # (name, statement, namespace)
NOOP = "floor: no-op native call"
LEN = "floor: len(())"
EXCHANGE = "floor: exchange call ×2 + f(x, y)"


def libcuda_mapped() -> bool:
    """Whether libcuda is mapped into this process (what the validator's "auto" looks for)."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            return any("libcuda.so" in line for line in maps)
    except OSError:
        return False


def load_libcuda() -> str:
    """Loads libcuda the way a CUDA user's process has it; '' on success, else why not."""
    reasons = []
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.init()
        else:
            reasons.append(f"torch {torch.__version__}: no CUDA device")
    except Exception as exc:  # noqa: BLE001 - an absent or CPU-only torch is a reason, not an error
        reasons.append(f"torch: {type(exc).__name__}: {exc}")
    if not libcuda_mapped():
        try:
            ctypes.CDLL("libcuda.so.1")
        except OSError as exc:
            reasons.append(f"ctypes.CDLL('libcuda.so.1'): {exc}")
    return "" if libcuda_mapped() else "; ".join(reasons) or "libcuda not mapped after loading"


def compile_loop(statement: str, namespace: dict[str, Any]) -> Callable[[int], None]:
    names = sorted(namespace)
    defaults = "".join(f", {name}={name}" for name in names)
    source = f"def loop(_n, _repeat=_repeat{defaults}):\n    for _ in _repeat(None, _n):\n        {statement}\n"
    scope: dict[str, Any] = {"_repeat": itertools.repeat, **namespace}
    exec(compile(source, f"<{statement}>", "exec"), scope)  # noqa: S102 - our own statements
    loop: Callable[[int], None] = scope["loop"]
    return loop


def calibrate(loop: Callable[[int], None], sample_ns: float) -> int:
    """Loops per sample, from the fastest of several trials: a slow first call or a moment of
    preemption cannot set the count."""
    best = float("inf")
    loops = 16
    for attempt in range(40):
        start = time.perf_counter_ns()
        loop(loops)
        took = time.perf_counter_ns() - start
        best = min(best, took / loops)
        if took >= sample_ns / 4:
            if attempt >= 2:
                break
        else:
            loops *= 4
    return max(1, int(sample_ns / best))


def measure(subjects: list[Subject], repeats: int, warmup: int, sample_ns: float) -> dict[str, dict[str, Any]]:
    loops = []
    for _, statement, namespace in subjects:
        loop = compile_loop(statement, namespace)
        loop(1)  # raises here, before any timing, when the statement is wrong
        loops.append((loop, calibrate(loop, sample_ns)))
    samples: list[list[float]] = [[] for _ in subjects]
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for repeat in range(warmup + repeats):
            # rotate the order each repeat: no subject always follows the same one
            for offset in range(len(subjects)):
                index = (offset + repeat) % len(subjects)
                loop, count = loops[index]
                start = time.perf_counter_ns()
                loop(count)
                samples[index].append((time.perf_counter_ns() - start) / count)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {
        name: {
            "min_ns": min(kept),
            "median_ns": statistics.median(kept),
            "loops": count,
            "repeats": len(kept),
        }
        for (name, _, _), (_, count), kept in zip(subjects, loops, (s[warmup:] for s in samples))
    }


# -- the groups ------------------------------------------------------------------------------

SHAPE = (64, 64)
SIZES = (1, 10**3, 10**6, 10**8)


def bound_names() -> dict[str, Any]:
    """The functions a statement calls, bound to names as the floor's no-op is: a statement
    measures the call, not a module attribute lookup. (A module with a PEP 562 __getattr__, as
    optype_dlpack and numpy have, is one CPython does not specialise attribute lookups on: the
    capsule group times `od.validate` too, to show what that lookup costs.)"""
    import numpy as np

    import optype_dlpack as od

    return {"od": od, "validate": od.validate, "inspect": od.inspect, "from_dlpack": od.from_dlpack,
            "numpy_from_dlpack": np.from_dlpack}


def floors(x: object) -> list[Subject]:
    import optype_dlpack as od

    return [(NOOP, "noop(x)", {"noop": od._core._noop, "x": x}), (LEN, "len(())", {})]


def capsule_group(smoke: bool) -> tuple[list[Subject], dict[str, Any]]:
    import numpy as np

    import optype_dlpack as od

    from capsule_reader import read_versioned

    capsule = np.ones(SHAPE, dtype=np.float32).__dlpack__(max_version=(1, 3))
    space = {"x": capsule, **bound_names()}
    subjects = [
        *floors(capsule),
        ("ours: Expect.check(capsule)", "check(x)", {"check": od.Expect(device="cpu", dtype="float32", ndim=2).check, "x": capsule}),
        ("ours: Expect(verify_device='skip').check(capsule)", "check(x)",
         {"check": od.Expect(device="cpu", dtype="float32", ndim=2, verify_device="skip").check, "x": capsule}),
        ("ours: validate(capsule, device=…, dtype=…)", "validate(x, device='cpu', dtype='float32')", space),
        ("ours: od.validate(capsule, device=…, dtype=…) [a module attribute]",
         "od.validate(x, device='cpu', dtype='float32')", space),
        ("ours: inspect(capsule)", "inspect(x)", space),
        ("alt: ctypes capsule reader", "read(x)", {"read": read_versioned, "x": capsule}),
    ]
    try:
        import dlpack  # PyPI pydlpack, optional

        legacy = np.ones(SHAPE, dtype=np.float32).__dlpack__()
        subjects.append(("alt: pydlpack todict(legacy capsule)", "todict(x)", {"todict": dlpack.todict, "x": legacy}))
    except ImportError:
        pass
    return subjects, {}


def make_array(framework: str) -> object:
    if framework == "numpy":
        import numpy as np

        return np.ones(SHAPE, dtype=np.float32)
    if framework == "torch":
        import torch

        return torch.ones(SHAPE, dtype=torch.float32)
    import jax.numpy as jnp

    return jnp.ones(SHAPE, dtype=jnp.float32)


def producer_group(framework: str) -> tuple[list[Subject], dict[str, Any]]:
    import numpy as np

    import optype_dlpack as od

    x = make_array(framework)
    space = {"x": x, **bound_names()}
    subjects = [
        *floors(x),
        ("producer: x.__dlpack__()", "x.__dlpack__()", space),
        ("producer: x.__dlpack__(max_version=(1, 3))", "x.__dlpack__(max_version=(1, 3))", space),
        ("ours: Expect.check(x)", "check(x)", {"check": od.Expect(device="cpu", dtype="float32", ndim=2).check, "x": x}),
        ("ours: validate(x)", "validate(x)", space),
        ("ours: from_dlpack(x)", "from_dlpack(x)", space),
        ("alt: numpy.from_dlpack(x)", "numpy_from_dlpack(x)", space),
    ]
    if framework != "torch":
        try:
            import torch

            subjects.append(("alt: torch.from_dlpack(x)", "torch.from_dlpack(x)", {"torch": torch, "x": x}))
        except ImportError:
            pass
    facts = {"exchange_api": hasattr(type(x), "__dlpack_c_exchange_api__")}
    return subjects, facts


def scaling_group() -> tuple[list[Subject], dict[str, Any]]:
    """Every size in one process, interleaved: no size pays the others' warm-up."""
    import numpy as np

    import optype_dlpack as od

    arrays = {size: np.ones(size, dtype=np.float32) for size in SIZES}
    subjects = floors(arrays[1])
    for size, array in arrays.items():
        space = {"x": array, **bound_names(), "check": od.Expect(device="cpu", dtype="float32").check}
        subjects += [
            (f"validate(x) [{size}]", "validate(x)", space),
            (f"Expect.check(x) [{size}]", "check(x)", space),
            (f"from_dlpack(x) [{size}]", "from_dlpack(x)", space),
            (f"numpy.from_dlpack(x) [{size}]", "numpy_from_dlpack(x)", space),
        ]
    return subjects, {"array_kib": {str(size): a.nbytes // 1024 for size, a in arrays.items()}}


def cuda_group() -> tuple[list[Subject], dict[str, Any]]:
    """The driver asked (verify_device="auto") against not asked ("skip"), on device memory."""
    import optype_dlpack as od

    inputs: dict[str, object] = {}
    reasons: list[str] = []
    try:
        import torch

        if torch.cuda.is_available():
            inputs["torch"] = torch.ones(SHAPE, dtype=torch.float32, device="cuda")
        else:
            reasons.append("torch: no CUDA device")
    except ImportError as exc:
        reasons.append(f"torch: {exc}")
    try:
        import cupy

        inputs["cupy"] = cupy.ones(SHAPE, dtype=cupy.float32)
    except Exception as exc:  # noqa: BLE001 - no CuPy, or no device for it
        reasons.append(f"cupy: {type(exc).__name__}: {exc}")
    if not inputs:
        return [], {"unavailable": "; ".join(reasons)}
    x0 = next(iter(inputs.values()))
    subjects = floors(x0)
    for name, x in inputs.items():
        for verify in ("auto", "skip"):
            check = od.Expect(device="cuda", dtype="float32", ndim=2, verify_device=verify).check
            subjects.append((f"Expect(verify_device='{verify}').check(x) [{name}]", "check(x)", {"check": check, "x": x}))
            subjects.append((f"validate(x, verify_device='{verify}') [{name}]", f"validate(x, verify_device='{verify}')",
                             {"validate": od.validate, "x": x}))
    facts = {"device_verified": {name: od.validate(x).device_verified for name, x in inputs.items()}}
    if reasons:
        facts["missing"] = "; ".join(reasons)
    return subjects, facts


CHECKED_SOURCE = """
from typing import Annotated
from optype_dlpack import Expect, Spec, checked

T = Any
F32 = Expect(device="cpu", dtype="float32", ndim=2)


def plain(a, b):
    return None


@checked
def with_expect(a: Annotated[T, F32], b: Annotated[T, F32]):
    return None


@checked
def with_symbols(a: Annotated[T, Spec(dtype="float32", shape=("n", "k"))],
                 b: Annotated[T, Spec(dtype="float32", shape=("k", "m"))]):
    return None


@checked(same_device=True, same_dtype=True)
def with_groups(a: Annotated[T, Spec(shape=("n", "k"))], b: Annotated[T, Spec(shape=("k", "m"))]):
    return None
"""


def checked_functions(framework: str, jaxtyping: bool = True) -> dict[str, Any]:
    """The functions of the group, defined from source (as a user writes them) in one namespace;
    with_jaxtyping only where jaxtyping and beartype are installed (and wanted)."""
    namespace: dict[str, Any] = {"Any": Any}
    exec(compile(CHECKED_SOURCE, "<checked group>", "exec"), namespace)  # noqa: S102 - our own source
    os.environ["OPTYPE_DLPACK_CHECKS"] = "0"
    try:
        namespace["switched_off"] = namespace["checked"](namespace["plain"])  # the function itself
    finally:
        del os.environ["OPTYPE_DLPACK_CHECKS"]
    if not jaxtyping:
        return namespace
    try:
        from beartype import beartype
        from jaxtyping import Float, jaxtyped

        array_type = type(make_array(framework))

        @jaxtyped(typechecker=beartype)
        def with_jaxtyping(a: Float[array_type, "n k"], b: Float[array_type, "k m"]) -> None:  # noqa: F821
            return None

        namespace["with_jaxtyping"] = with_jaxtyping
    except ImportError:
        pass
    return namespace


def checked_group(framework: str) -> tuple[list[Subject], dict[str, Any]]:
    """@checked with two annotated arguments, against two Expect.check calls and the plain call;
    where the arrays' type offers the DLPack C exchange API (torch's), against the floor of any
    checker too: the two exports through it and the plain call (benchmarks/exchange_floor.c)."""
    import optype_dlpack as od

    x = make_array(framework)
    space = checked_functions(framework)
    space.update(x=x, y=x, check=space["F32"].check)
    subjects = [
        *floors(x),
        ("plain: f(x, y)", "plain(x, y)", space),
        ("plain: check(x); check(y); f(x, y)", "check(x); check(y); plain(x, y)", space),
        ("ours: @checked f(x, y) [Expect]", "with_expect(x, y)", space),
        ("ours: @checked f(x, y) [Spec symbols]", "with_symbols(x, y)", space),
        ("ours: @checked(same_device, same_dtype) f(x, y)", "with_groups(x, y)", space),
        ("ours: @checked f(x, y=y) [keyword]", "with_expect(x, b=y)", space),
        ("ours: @checked with OPTYPE_DLPACK_CHECKS=0", "switched_off(x, y)", space),
    ]
    if "with_jaxtyping" in space:
        subjects.append(("alt: jaxtyping + beartype f(x, y)", "with_jaxtyping(x, y)", space))
    facts: dict[str, Any] = {"jaxtyping": "with_jaxtyping" in space, "optype_dlpack": od.__version__}
    call_through = exchange_floor(x)
    if isinstance(call_through, str):
        facts["exchange_floor"] = call_through
    else:
        space["call_through"] = call_through
        subjects.insert(3, (EXCHANGE, "call_through(plain, x, y)", space))
    return subjects, facts


def exchange_floor(x: object) -> Callable[..., object] | str:
    """benchmarks/exchange_floor.c's call_through, which asks the producer's DLPack C exchange
    API for each argument's DLTensor and calls f, checking nothing: what any checker reading
    tensors through DLPack must pay. Or why it is not measured: only a type that offers
    dltensor_from_py_object_no_sync (torch's does; NumPy's arrays have no exchange API) has
    this floor, and the extension is compiled here, which needs a C compiler and dlpack.h."""
    if not hasattr(type(x), "__dlpack_c_exchange_api__") and not hasattr(type(x), "__c_dlpack_exchange_api__"):
        return f"{type(x).__module__}.{type(x).__qualname__} offers no DLPack C exchange API"
    # by path: the tests load this file as a module, with benchmarks/ not on sys.path
    spec = importlib.util.spec_from_file_location("exchange_floor", Path(__file__).with_name("exchange_floor.py"))
    assert spec is not None and spec.loader is not None
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    call_through: Callable[..., object] | str = builder.load_call_through()
    if isinstance(call_through, str):
        return call_through
    try:
        call_through(lambda a, b: None, x, x)  # a table may lack the DLTensor export: say so, not fail the group
    except (TypeError, RuntimeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return call_through


def build(group: str, smoke: bool) -> tuple[list[Subject], dict[str, Any]]:
    if group == "capsule":
        return capsule_group(smoke)
    if group in ("numpy", "torch", "jax"):
        return producer_group(group)
    if group == "scaling":
        return scaling_group()
    if group == "cuda":
        return cuda_group()
    if group in ("checked-numpy", "checked-torch"):
        return checked_group(group.split("-")[1])
    raise SystemExit(f"unknown group {group!r}")


def run_group(group: str, repeats: int, warmup: int, sample_ns: float, smoke: bool) -> dict[str, Any]:
    try:
        subjects, facts = build(group, smoke)
    except ImportError as exc:
        return {"unavailable": f"{type(exc).__name__}: {exc}"}
    if not subjects:
        return facts
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    results = measure(subjects, repeats, warmup, sample_ns)
    facts["rss_growth_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    return {"results": results, **facts}


def main() -> None:
    state, repeats, warmup, sample_us, *groups = sys.argv[1:]
    smoke = os.environ.get("OPTYPE_DLPACK_BENCH_SMOKE") == "1"
    out: dict[str, Any] = {"state": state, "groups": {}}
    if state == "libcuda":
        why = load_libcuda()
        if why:
            out["unavailable"] = why
            print(json.dumps(out))
            return
    import optype_dlpack as od

    for group in groups:
        out["groups"][group] = run_group(group, int(repeats), int(warmup), float(sample_us) * 1e3, smoke)
    out["libcuda_mapped"] = libcuda_mapped()
    out["driver"] = od._core.cuda_driver_status()
    print(json.dumps(out))


if __name__ == "__main__":
    main()

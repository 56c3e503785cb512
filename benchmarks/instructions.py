"""Instructions per call of each benchmark, counted by callgrind: repeatable on a busy machine.

    PYTHONPATH=$PWD python -P benchmarks/instructions.py [--calls N] [--groups capsule,numpy,...]
        [--states no-libcuda,not-loaded,libcuda]

Each state runs in a fresh process under ``valgrind --tool=callgrind --instr-atstart=no``;
the subjects are those of benchmarks/worker.py (the same statements, compiled into the same
loops), each warmed up first, then counted over N calls between two client requests (the
counters are zeroed before the loop and dumped after it). The figure is instructions per
loop iteration, the loop included, and the ratio is to the no-op native call of the same
group, as the timed benchmarks report.

States: ``no-libcuda`` sets OPTYPE_DLPACK_DISABLE_CUDA=1 (as the timed benchmarks do);
``not-loaded`` leaves the driver enabled but loads no libcuda (a process that imported no
CUDA framework: the validator looks for libcuda among the loaded objects); ``libcuda`` loads
a stand-in libcuda.so.1 (tests/cuda/fake_libcuda.c, built here) as a CUDA framework would,
so that every path that asks the driver runs (the stand-in answers from a table: a real
driver's cuPointerGetAttributes costs more, and is not counted here). Needs valgrind and its
header valgrind/callgrind.h, and a C compiler.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent
STATES = ("no-libcuda", "not-loaded", "libcuda")
GROUPS = ("capsule", "numpy", "torch", "jax")
# Alternatives other than NumPy's from_dlpack cost microseconds and set no target: left out.
KEPT_ALTERNATIVES = ("alt: numpy.from_dlpack(x)",)

CLIENT_REQUESTS = """
#include <valgrind/callgrind.h>
void cg_start(void) { CALLGRIND_START_INSTRUMENTATION; }
void cg_zero(void) { CALLGRIND_ZERO_STATS; }
void cg_dump(const char* name) { CALLGRIND_DUMP_STATS_AT(name); }
"""


def compile_shared(source: str, name: str, directory: Path, *extra: str) -> Path:
    compiler = os.environ.get("CC", "cc")
    c_file = directory / f"{name}.c"
    c_file.write_text(source, encoding="utf-8")
    library = directory / f"{name}.so"
    subprocess.run([compiler, "-O1", "-shared", "-fPIC", *extra, "-o", str(library), str(c_file)], check=True)
    return library


# -- the child: runs under callgrind --------------------------------------------------------


def child(state: str, calls: int, groups: list[str], requests_library: str, fake_libcuda: str) -> None:
    if state == "libcuda":
        ctypes.CDLL(fake_libcuda, mode=ctypes.RTLD_GLOBAL)
    sys.path.insert(0, str(HERE))
    import worker

    requests = ctypes.CDLL(requests_library)
    requests.cg_dump.argtypes = [ctypes.c_char_p]
    measured = []
    for group in groups:
        try:
            subjects, _ = worker.build(group, smoke=False)
        except ImportError:
            continue
        for name, statement, namespace in subjects:
            if name.startswith("alt:") and name not in KEPT_ALTERNATIVES:
                continue
            loop = worker.compile_loop(statement, namespace)
            loop(200)  # warm-up: first calls, specialisation, caches
            measured.append((f"{group}|{name}", loop))
    requests.cg_start()
    for label, loop in measured:
        loop(calls)  # once more, instrumented, before counting: the code is translated
        requests.cg_zero()
        loop(calls)
        requests.cg_dump(label.encode())


# -- the parent: starts the children, reads their dumps --------------------------------------


def counted(directory: Path) -> dict[str, int]:
    out = {}
    dumps = directory.glob("callgrind.out.*.*")  # callgrind.out.PID.N: the Nth dump, in order
    for dump in sorted(dumps, key=lambda path: int(path.suffix[1:])):
        text = dump.read_text(encoding="utf-8", errors="replace")
        trigger = re.search(r"^desc: Trigger: Client Request: (.*)$", text, re.MULTILINE)
        total = re.search(r"^(?:totals|summary): (\d+)", text, re.MULTILINE)
        if trigger and total:
            out[trigger.group(1).strip()] = int(total.group(1))
    return out


def run_state(state: str, calls: int, groups: list[str], scratch: Path, requests: Path, fake: Path) -> dict[str, int]:
    out_dir = scratch / state
    out_dir.mkdir()
    env = dict(os.environ)
    env.pop("OPTYPE_DLPACK_DISABLE_CUDA", None)
    env["JAX_PLATFORMS"] = "cpu"
    if state == "no-libcuda":
        env["OPTYPE_DLPACK_DISABLE_CUDA"] = "1"
    command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--dump-instr=no",
               f"--callgrind-out-file={out_dir}/callgrind.out.%p", sys.executable, "-P", __file__, "--child", state,
               str(calls), ",".join(groups), str(requests), str(fake)]  # fmt: skip
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return {label: total // calls for label, total in counted(out_dir).items()}


def table(results: dict[str, dict[str, int]], states: list[str]) -> str:
    labels: list[str] = []
    for per_state in results.values():
        labels += [label for label in per_state if label not in labels]
    head = "| group | benchmark | " + " | ".join(f"{s}: Ir/call | × no-op" for s in states) + " |"
    rows = [head, "|---|---|" + "---:|---:|" * len(states)]
    for label in labels:
        group, name = label.split("|", 1)
        cells = []
        for state in states:
            per_state = results.get(state, {})
            value = per_state.get(label)
            floor = per_state.get(f"{group}|floor: no-op native call")
            cells += ["-", "-"] if value is None else [f"{value:,}", f"{value / floor:.2f}" if floor else "-"]
        rows.append(f"| {group} | `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        state, calls, groups, requests, fake = sys.argv[2:7]
        child(state, int(calls), groups.split(","), requests, fake)
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--groups", default=",".join(GROUPS))
    parser.add_argument("--states", default=",".join(STATES))
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed")
    states = args.states.split(",")
    with tempfile.TemporaryDirectory(prefix="optype-dlpack-callgrind-") as temporary:
        scratch = Path(temporary)
        requests = compile_shared(CLIENT_REQUESTS, "client_requests", scratch)
        fake_source = (REPOSITORY / "tests" / "cuda" / "fake_libcuda.c").read_text(encoding="utf-8")
        fake = scratch / "libcuda.so.1"
        compile_shared(fake_source, "fake_libcuda", scratch, "-Wl,-soname,libcuda.so.1")
        (scratch / "fake_libcuda.so").rename(fake)
        results = {state: run_state(state, args.calls, args.groups.split(","), scratch, requests, fake) for state in states}
    print(f"instructions per call (callgrind, {args.calls} calls after warm-up), {sys.executable}")
    print(table(results, states))


if __name__ == "__main__":
    main()

"""Run every benchmark in both libcuda states, write one JSON file, render BENCHMARKS.md.

    bash benchmarks/record.sh NAME      # build, install, then the command below
    python benchmarks/run.py --full --machine NAME --out benchmarks/recorded/NAME.json
        every group in fresh processes, both libcuda states, import time; then renders
        BENCHMARKS.md (every recorded/*.json), docs/gpu-results.md's benchmark section and
        the plots (benchmarks/render.py)
    python benchmarks/run.py --smoke
        every benchmark a few times in one process per state; nothing written (CI)

States: "no-libcuda" runs with OPTYPE_DLPACK_DISABLE_CUDA=1 and initialises no CUDA framework;
"libcuda" imports torch and initialises its CUDA runtime (else loads libcuda.so.1 with ctypes)
before anything is measured. Where libcuda cannot be loaded the state is recorded as
unavailable, with the reason. benchmarks/worker.py describes how a group is timed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent
STATES = {
    "no-libcuda": "libcuda not loaded (OPTYPE_DLPACK_DISABLE_CUDA=1, no CUDA framework initialised)",
    "libcuda": "libcuda loaded (torch's CUDA runtime initialised, else ctypes.CDLL('libcuda.so.1'))",
}
GROUPS = ("capsule", "numpy", "torch", "jax", "scaling", "cuda", "checked-numpy", "checked-torch")
FULL = {"repeats": 50, "warmup": 10, "sample_us": 3000, "import_runs": 31}
SMOKE = {"repeats": 2, "warmup": 1, "sample_us": 20, "import_runs": 3}


def state_environment(state: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("OPTYPE_DLPACK_DISABLE_CUDA", None)
    # JAX's arrays stay on the CPU in both states (its CUDA plugin would put them on a GPU and
    # reserve most of its memory); libcuda, where wanted, is loaded through torch or ctypes
    env["JAX_PLATFORMS"] = "cpu"
    if state == "no-libcuda":
        env["OPTYPE_DLPACK_DISABLE_CUDA"] = "1"
    return env


def run_worker(state: str, groups: list[str], settings: dict[str, int]) -> dict[str, Any]:
    command = [sys.executable, str(HERE / "worker.py"), state, str(settings["repeats"]),
               str(settings["warmup"]), str(settings["sample_us"]), *groups]
    # cwd = benchmarks/: `import optype_dlpack` finds the installed package (or PYTHONPATH's)
    done = subprocess.run(command, cwd=HERE, env=state_environment(state), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"benchmark worker {state} {groups} failed ({done.returncode})")
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


IMPORT_PROBE = """
import sys
{prelude}
before = set(sys.modules)
import optype_dlpack
print(" ".join(sorted(set(sys.modules) - before)))
"""


def import_time(state: str, runs: int) -> dict[str, Any]:
    """`python -X importtime`: the cumulative time of the `optype_dlpack` line, fresh processes."""
    prelude = "import ctypes; ctypes.CDLL('libcuda.so.1')" if state == "libcuda" else ""
    code = IMPORT_PROBE.format(prelude=prelude)
    times, modules = [], []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=HERE, env=state_environment(state),
                              capture_output=True, text=True, check=True)
        for line in done.stderr.splitlines():
            match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|\s*optype_dlpack$", line)
            if match:
                times.append(int(match.group(1)) / 1000)
        modules = done.stdout.split()
    return {
        "command": f"python -X importtime -c {code!r}",
        "runs": len(times),
        "min_ms": min(times),
        "median_ms": statistics.median(times),
        "modules": modules,
        "loads": {name: name in modules for name in ("numpy", "ml_dtypes", "optype_dlpack._conformance")},
    }


def package_versions() -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json\n"
        "names = ['optype-dlpack', 'numpy', 'torch', 'jax', 'jaxlib', 'cupy-cuda13x', 'cupy-cuda12x', 'ml_dtypes', 'pydlpack']\n"
        "out = {}\n"
        "for n in names:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: pass\n"
        "import optype_dlpack\n"
        "out['package measured'] = optype_dlpack.__file__.rsplit('/', 2)[0]\n"
        "print(json.dumps(out))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=HERE, capture_output=True, text=True, check=True)
    versions: dict[str, str] = json.loads(done.stdout)
    return versions


def command_output(*command: str) -> str:
    if shutil.which(command[0]) is None:
        return ""
    done = subprocess.run(list(command), capture_output=True, text=True, check=False, cwd=REPOSITORY)
    return done.stdout.strip() if done.returncode == 0 else ""


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor()
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    return match.group(1) if match else platform.processor()


def machine_facts(label: str, commit: str | None) -> dict[str, Any]:
    if commit is None:
        commit = command_output("git", "rev-parse", "--short", "HEAD")
        if commit and command_output("git", "status", "--porcelain", "--untracked-files=no"):
            commit += " (modified)"
    return {
        "machine": label,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit or "unknown",
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": f"{platform.python_version()} {platform.python_implementation()}",
        "gpu": command_output("nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"),
        "versions": package_versions(),
        "load_average_before": os.getloadavg(),
    }


def run_state(state: str, settings: dict[str, int], smoke: bool) -> dict[str, Any]:
    probe = run_worker(state, [], settings)
    if "unavailable" in probe:
        return {"description": STATES[state], "unavailable": probe["unavailable"]}
    groups = [g for g in GROUPS if g != "cuda" or state == "libcuda"]
    runs = [run_worker(state, groups, settings)] if smoke else [run_worker(state, [g], settings) for g in groups]
    out: dict[str, Any] = {"description": STATES[state], "groups": {}, "processes": []}
    for run in runs:
        out["groups"].update(run["groups"])
        out["processes"].append({"groups": list(run["groups"]), "libcuda_mapped": run["libcuda_mapped"],
                                 "driver": run["driver"]})
    out["import"] = import_time(state, settings["import_runs"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--smoke", action="store_true", help="every benchmark a few times; write nothing (CI)")
    mode.add_argument("--full", action="store_true", help="the recorded run")
    parser.add_argument("--machine", default=platform.node(), help="a name for the machine (tables, file name)")
    parser.add_argument("--commit", help="the commit measured (default: git's HEAD, where git knows it)")
    parser.add_argument("--out", type=Path, help="the JSON file (default benchmarks/recorded/MACHINE.json)")
    parser.add_argument("--no-render", action="store_true", help="write the JSON only")
    args = parser.parse_args()
    settings = SMOKE if args.smoke else FULL
    record: dict[str, Any] = {"settings": settings, **machine_facts(args.machine, args.commit), "states": {}}
    for state in STATES:
        print(f"::: {state}", flush=True)
        record["states"][state] = run_state(state, settings, args.smoke)
    record["load_average_after"] = os.getloadavg()

    from render import evaluate, render_all, summary

    record["targets"] = evaluate(record)
    print(summary(record))
    if args.smoke:
        return
    out = args.out or HERE / "recorded" / f"{args.machine}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out}")
    if not args.no_render:
        render_all()


if __name__ == "__main__":
    main()

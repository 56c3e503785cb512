"""Runs python_fuzzer.py in child processes until a budget of runs or seconds is spent,
restarting after every finding (a crash, a hang, a broken invariant) and keeping its input.

    python tests/fuzz/run_python_fuzzer.py --runs 1000000 --seed 1 --artifacts DIR [CORPUS...]

New inputs go to a scratch corpus (the first directory given to the child); the corpora named
here are only read. Exits 1 when anything was found, printing each finding and its input file.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HARNESS = Path(__file__).with_name("python_fuzzer.py")
SEED_CORPUS = Path(__file__).with_name("corpus") / "python"


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="*", type=Path, default=[SEED_CORPUS], help="corpora to start from (read only)")
    parser.add_argument("--runs", type=int, default=10**6, help="executions in all, across restarts")
    parser.add_argument("--max-total-time", type=int, default=0, help="seconds in all (0: no limit)")
    parser.add_argument("--seed", type=int, default=1, help="the first child's -seed; each restart takes the next")
    parser.add_argument("--artifacts", type=Path, default=Path("fuzz-artifacts"), help="where findings' inputs go")
    parser.add_argument("--timeout", type=int, default=10, help="seconds one input may take before it is a hang")
    return parser.parse_args()


def run_child(args: argparse.Namespace, scratch: str, seed: int, runs: int, seconds: int) -> tuple[int, int, str]:
    """One child until its budget or its first finding: (exit status, executions, output)."""
    command = [
        sys.executable, str(HARNESS), scratch, *map(str, args.corpus),
        f"-seed={seed}", f"-runs={runs}", f"-timeout={args.timeout}", "-rss_limit_mb=4096",
        f"-artifact_prefix={args.artifacts}/", "-print_final_stats=1",
    ]  # fmt: skip
    if seconds > 0:
        command.append(f"-max_total_time={seconds}")
    env = dict(os.environ, PYTHONHASHSEED="0")  # the same seed runs the same inputs
    child = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, check=False)
    final = re.search(r"stat::number_of_executed_units: (\d+)", child.stdout)
    progress = [int(n) for n in re.findall(r"^#(\d+)", child.stdout, re.MULTILINE)]
    executed = int(final.group(1)) if final else max(progress, default=0)
    return child.returncode, executed, child.stdout


def main() -> int:
    args = parse_arguments()
    args.artifacts.mkdir(parents=True, exist_ok=True)
    findings: list[str] = []
    executed, seed, start = 0, args.seed, time.monotonic()
    with tempfile.TemporaryDirectory(prefix="python-fuzz-corpus-") as scratch:
        while executed < args.runs:
            left = args.max_total_time - int(time.monotonic() - start) if args.max_total_time else 0
            if args.max_total_time and left <= 0:
                break
            before = set(args.artifacts.iterdir())
            status, count, output = run_child(args, scratch, seed, args.runs - executed, left)
            executed += max(count, 1)
            if status == 0:
                break
            saved = sorted(set(args.artifacts.iterdir()) - before)
            findings.append(f"seed {seed}, exit {status}, input {', '.join(map(str, saved)) or '(none saved)'}\n"
                            + "\n".join(output.splitlines()[-25:]))
            seed += 1
    elapsed = time.monotonic() - start
    print(f"python fuzzing: {executed} executions in {elapsed:.0f} s ({executed / max(elapsed, 1e-9):.0f}/s), "
          f"{len(findings)} finding(s)")
    for finding in findings:
        print(f"\n--- finding: {finding}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())

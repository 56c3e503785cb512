"""Runs python_fuzzer.py in child processes until a budget of runs or seconds is spent,
restarting after every finding (a crash, a hang, a broken invariant) and keeping its input.

    python tests/fuzz/run_python_fuzzer.py --runs 1000000 --seed 1 --artifacts DIR [--build DIR] [CORPUS...]

With --build (the output of build-python-target.sh) the children import that build of the
package, under ASan and UBSan, guided by the coverage of its C++ code; without, they import
the optype_dlpack the interpreter finds, guided by Python coverage alone.

The children work on a scratch copy of the corpora named here (which stay as they are); the
input of each finding leaves the scratch corpus, so that the next child gets past it. Exits 1
when anything was found, printing each finding and the file its input was saved to.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HARNESS = Path(__file__).with_name("python_fuzzer.py")
INTERRUPTED = 72  # libFuzzer's exit status after SIGINT or SIGTERM
SEED_CORPUS = Path(__file__).with_name("corpus") / "python"


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="*", type=Path, default=[SEED_CORPUS], help="corpora to start from (read only)")
    parser.add_argument("--runs", type=int, default=10**6, help="executions in all, across restarts")
    parser.add_argument("--max-total-time", type=int, default=0, help="seconds in all (0: no limit)")
    parser.add_argument("--seed", type=int, default=1, help="the first child's -seed; each restart takes the next")
    parser.add_argument("--artifacts", type=Path, default=Path("fuzz-artifacts"), help="where findings' inputs go")
    parser.add_argument("--timeout", type=int, default=10, help="seconds one input may take before it is a hang")
    parser.add_argument("--build", type=Path, help="a build from build-python-target.sh to fuzz")
    parser.add_argument("--replay", type=Path, help="run this one input (a finding's) and exit")
    return parser.parse_args()


def run_child(args: argparse.Namespace, scratch: Path, seed: int, runs: int, seconds: int) -> tuple[int, int, str]:
    """One child until its budget or its first finding: (exit status, executions, output)."""
    command = [
        sys.executable, str(HARNESS), str(scratch),
        f"-seed={seed}", f"-runs={runs}", f"-timeout={args.timeout}", "-rss_limit_mb=4096",
        f"-artifact_prefix={args.artifacts}/", "-print_final_stats=1",
    ]  # fmt: skip
    if seconds > 0:
        command.append(f"-max_total_time={seconds}")
    env = child_environment(args)
    child = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, check=False)
    final = re.search(r"stat::number_of_executed_units: (\d+)", child.stdout)
    progress = [int(n) for n in re.findall(r"^#(\d+)", child.stdout, re.MULTILINE)]
    executed = int(final.group(1)) if final else max(progress, default=0)
    return child.returncode, executed, child.stdout


HEADLINES = re.compile(r"Finding: |ERROR: |runtime error: |=== Timeout|unraisable exception|Uncaught Python exception")


def headline(output: str) -> str:
    """What went wrong, in the few lines that say it (the full output goes beside the input)."""
    lines = [line for line in output.splitlines() if HEADLINES.search(line)]
    return "\n".join(lines[:3]) or "\n".join(output.splitlines()[-10:])


def child_environment(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ, PYTHONHASHSEED="0")  # the same seed runs the same inputs
    if args.build is not None:
        env.update(sanitized_environment(args.build))
    return env


def sanitized_environment(build: Path) -> dict[str, str]:
    """Runs the children on the ASan build: its runtime preloaded (after libFuzzer, see
    build-python-target.sh), every allocation through malloc, leaks not reported (the
    interpreter keeps much alive until exit by design), a small quarantine."""
    return {
        "PYTHONPATH": str(build.resolve() / "site"),
        "LD_PRELOAD": (build / "preload").read_text().strip(),
        "PYTHONMALLOC": "malloc",
        "ASAN_OPTIONS": "detect_leaks=0:verify_asan_link_order=0:quarantine_size_mb=64",
        "UBSAN_OPTIONS": "print_stacktrace=1",
    }


def copy_corpora(corpora: list[Path], scratch: Path) -> None:
    for corpus in corpora:
        for seed in corpus.iterdir():
            shutil.copyfile(seed, scratch / f"{corpus.name}-{seed.name}")


def drop_input(scratch: Path, found: Path) -> None:
    """Removes the finding's input from the scratch corpus (libFuzzer replays a corpus first)."""
    data = found.read_bytes()
    for unit in scratch.iterdir():
        if unit.read_bytes() == data:
            unit.unlink()


def fuzz(args: argparse.Namespace, scratch: Path) -> tuple[int, list[str]]:
    """Children one after another until the budget is spent: (executions, findings)."""
    findings: list[str] = []
    executed, seed, unsaved, start = 0, args.seed, 0, time.monotonic()
    while executed < args.runs:
        left = args.max_total_time - int(time.monotonic() - start) if args.max_total_time else 0
        if args.max_total_time and left <= 0:
            break
        status, count, output = run_child(args, scratch, seed, args.runs - executed, left)
        executed += max(count, 1)
        if status == 0:
            break
        if status == INTERRUPTED:  # a signal from outside (SIGINT, SIGTERM), not an input
            findings.append(f"seed {seed}: the child was interrupted (no finding; the run is incomplete)")
            break
        saved = re.search(r"Test unit written to (\S+)", output)
        findings.append(f"seed {seed}, exit {status}, input {saved.group(1) if saved else '(not saved)'}\n"
                        + headline(output))
        seed += 1
        if saved is None:  # e.g. killed before libFuzzer wrote the input: try the next seed
            unsaved += 1
            if unsaved == 3:
                break  # the harness itself is broken: another child would fail the same way
            continue
        unsaved = 0
        Path(saved.group(1) + ".log").write_text(output)
        drop_input(scratch, Path(saved.group(1)))
    return executed, findings


def main() -> int:
    args = parse_arguments()
    if args.replay is not None:
        replay = [sys.executable, str(HARNESS), str(args.replay)]
        return subprocess.run(replay, env=child_environment(args), check=False).returncode
    args.artifacts.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="python-fuzz-corpus-") as directory:
        scratch = Path(directory)
        copy_corpora(args.corpus, scratch)
        executed, findings = fuzz(args, scratch)
    elapsed = time.monotonic() - start
    print(f"python fuzzing: {executed} executions in {elapsed:.0f} s ({executed / max(elapsed, 1e-9):.0f}/s), "
          f"{len(findings)} finding(s)")
    for finding in findings:
        print(f"\n--- finding: {finding}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())

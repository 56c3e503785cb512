"""Instructions per call of the `checked-*` group's subjects, counted by callgrind (NumPy input).

Wall time on a shared or small machine drifts; instruction counts do not. Each subject runs in
two fresh processes under ``valgrind --tool=callgrind`` (address randomisation off, one hash
seed), 0 and N calls; the difference of the two totals over N is the cost of one call, start-up
and imports cancelled out. N must be large (20000): start-up varies by some 10^4 instructions.
Each subject first runs once without valgrind, so that both counted processes find the
bytecode caches written (a process that writes them costs millions of instructions more).

    python benchmarks/checked_callgrind.py [N]      # prints a table, instructions per call
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUBJECTS = {
    "plain: f(x, y)": "plain(x, y)",
    "plain: check(x); check(y); f(x, y)": "check(x); check(y); plain(x, y)",
    "ours: @checked f(x, y) [Expect]": "with_expect(x, y)",
    "ours: @checked f(x, y) [Spec symbols]": "with_symbols(x, y)",
    "ours: @checked(same_device, same_dtype) f(x, y)": "with_groups(x, y)",
    "ours: @checked f(x, y=y) [keyword]": "with_expect(x, b=y)",
    "ours: @checked, checks_enabled(False)": "with_expect(x, y)",
    "ours: @checked with OPTYPE_DLPACK_CHECKS=0": "switched_off(x, y)",
    "alt: jaxtyping + beartype f(x, y)": "with_jaxtyping(x, y)",
}
CHILD = """
import sys
sys.path.insert(0, {here!r})
from worker import checked_functions, make_array
space = checked_functions("numpy", jaxtyping={jaxtyping!r})
x = y = make_array("numpy")
space.update(x=x, y=y, check=space["F32"].check)
if {off!r}:
    from optype_dlpack import checks_enabled
    checks_enabled(False)
statement = compile({statement!r}, "<subject>", "exec")
for _ in range({count}):
    exec(statement, space)
"""
# the exec of a compiled statement is counted too: the "plain" rows carry it alike
RANDOMISATION_OFF = ["setarch", platform.machine(), "-R"] if shutil.which("setarch") else []


def child_code(statement: str, count: int, off: bool) -> str:
    return CHILD.format(here=str(HERE), statement=statement, count=count, off=off, jaxtyping="jaxtyping" in statement)


def warm_up(statement: str, off: bool) -> None:
    """Runs the subject once, uncounted: whatever it imports has its bytecode cached after."""
    code = child_code(statement, 1, off)
    subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, cwd=HERE, env={**os.environ, "PYTHONHASHSEED": "0"})


def instructions(statement: str, count: int, off: bool) -> int:
    code = child_code(statement, count, off)
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "callgrind.out")
        done = subprocess.run(
            [*RANDOMISATION_OFF, "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-c", code],
            capture_output=True, text=True, check=True, cwd=HERE, env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        match = re.search(r"Collected : (\d+)", done.stderr)
        assert match, done.stderr
        return int(match.group(1))


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    rows = {}
    for name, statement in SUBJECTS.items():
        off = "checks_enabled(False)" in name
        try:
            warm_up(statement, off)
            once, twice = instructions(statement, 0, off), instructions(statement, count, off)
        except subprocess.CalledProcessError as error:
            print(f"{name}: failed ({error.stderr.strip().splitlines()[-1:]})", flush=True)
            continue
        rows[name] = (twice - once) / count
        print(f"{name:55s} {rows[name]:10.0f}", flush=True)


if __name__ == "__main__":
    main()

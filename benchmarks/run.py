"""Run every benchmark in one command and write BENCHMARKS.md (tables, verdicts, plots).

    python benchmarks/run.py            # full run (a few minutes), rewrites BENCHMARKS.md
    python benchmarks/run.py --smoke    # every benchmark once, nothing written (CI)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
REPORT = HERE / "BENCHMARKS.md"
SIZES = (1, 10**3, 10**6, 10**8)
MARK_START, MARK_END = "<!-- generated:start -->", "<!-- generated:end -->"


def run_pytest_benchmarks(smoke: bool) -> dict[str, float]:
    """Median seconds per benchmark name."""
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "bench.json"
    args = [sys.executable, "-m", "pytest", str(HERE / "bench_dlpack.py"), "-q", "-p", "no:cacheprovider",
            "-c", str(HERE / "pytest.ini")]
    if smoke:
        args.append("--benchmark-disable")
    else:
        args += [f"--benchmark-json={out}", "--benchmark-min-rounds=20", "--benchmark-warmup=on"]
    # cwd = benchmarks/, so that `import optype_dlpack` finds the installed package, not the source tree
    subprocess.run(args, check=True, cwd=HERE)
    if smoke:
        return {}
    data = json.loads(out.read_text())
    return {b["name"]: b["stats"]["median"] for b in data["benchmarks"]}


def run_scaling(smoke: bool) -> list[dict[str, float]]:
    rows = []
    for size in SIZES[:2] if smoke else SIZES:
        loops = "50" if smoke else "20000"
        line = subprocess.run([sys.executable, str(HERE / "scaling.py"), str(size), loops], check=True,
                              capture_output=True, text=True, cwd=HERE).stdout.strip().splitlines()[-1]
        rows.append(json.loads(line))
    return rows


def run_import_time() -> tuple[float, bool]:
    """(milliseconds to import optype_dlpack, whether numpy got imported too), median of 7."""
    times = []
    numpy_loaded = False
    for _ in range(7):
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import optype_dlpack, sys; print('numpy' in sys.modules)"],
            check=True, capture_output=True, text=True, cwd=HERE)
        numpy_loaded = result.stdout.strip() == "True"
        for line in result.stderr.splitlines():
            match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|\s+optype_dlpack$", line)
            if match:
                times.append(int(match.group(1)) / 1000)
    times.sort()
    return times[len(times) // 2], numpy_loaded


def ns(seconds: float) -> str:
    return f"{seconds * 1e9:,.0f} ns"


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def write_report(medians: dict[str, float], scaling: list[dict[str, float]], import_ms: float,
                 numpy_loaded: bool) -> None:
    floor = medians["floor: pybind11 no-op(x)"]
    lines = [
        f"Measured {datetime.date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, by `python benchmarks/run.py` "
        "(pytest-benchmark medians, one process; a 64×64 float32 tensor).",
        "",
        "| group | benchmark | median | × pybind11 no-op |",
        "|---|---|---:|---:|",
    ]
    order = sorted(medians.items(), key=lambda item: (item[0].split("[")[-1], item[1]))
    for name, median in order:
        group = name.split("[")[-1].rstrip("]") if "[" in name else "capsule"
        lines.append(f"| {group} | `{name.split(' [')[0]}` | {ns(median)} | {median / floor:.2f} |")

    def get(name: str) -> float:
        return medians[name]

    check = get("ours: Expect.check(capsule)")
    val = get("ours: validate(capsule, device, dtype)")
    numpy_added = get("ours: validate(x) [numpy]") - get("producer: x.__dlpack__() [numpy]")
    torch_check = get("ours: Expect.check(x) [torch]")
    torch_dunder = get("producer: x.__dlpack__() [torch]")
    ours_import = get("ours: from_dlpack(x) [numpy]")
    numpy_import = get("alt: numpy.from_dlpack(x) [numpy]")
    spread = max(
        max(row[key] for row in scaling) / min(row[key] for row in scaling) - 1
        for key in ("validate_ns", "from_dlpack_ns")
    )
    rss = max(row["rss_growth_kib"] for row in scaling)
    lines += [
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
        f"| `Expect.check(capsule)` ≤ 1.5× no-op | {check / floor:.2f}× ({ns(check)} vs {ns(floor)}) | {verdict(check <= 1.5 * floor)} |",
        f"| `validate(capsule, device=…, dtype=…)` ≤ 3× no-op | {val / floor:.2f}× ({ns(val)}) | {verdict(val <= 3 * floor)} |",
        f"| `validate(numpy_array)` adds ≤ 150 ns to `__dlpack__()` | +{numpy_added * 1e9:,.0f} ns | {verdict(numpy_added <= 150e-9)} |",
        f"| `Expect.check(torch_tensor)` < `torch_tensor.__dlpack__()` | {ns(torch_check)} vs {ns(torch_dunder)} | {verdict(torch_check < torch_dunder)} |",
        f"| `from_dlpack(x)` ≤ `numpy.from_dlpack(x)` | {ns(ours_import)} vs {ns(numpy_import)} | {verdict(ours_import <= numpy_import)} |",
        f"| flat ±10 % from 1 to 10⁸ elements | largest spread {spread * 100:.1f} % | {verdict(spread <= 0.10)} |",
        f"| no RSS growth (zero copy) | largest growth {rss} KiB over {len(scaling)} sizes | {verdict(rss < 1024)} |",
        f"| import ≤ 20 ms (NumPy not loaded: {not numpy_loaded}) | {import_ms:.1f} ms | {verdict(import_ms <= 20 and not numpy_loaded)} |",
        "",
        "| elements | validate | from_dlpack | numpy.from_dlpack | RSS growth | array |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in scaling:
        lines.append(f"| {row['size']:,} | {row['validate_ns']:,.0f} ns | {row['from_dlpack_ns']:,.0f} ns | "
                     f"{row['numpy_from_dlpack_ns']:,.0f} ns | {row['rss_growth_kib']} KiB | {row['array_kib']:,} KiB |")
    text = REPORT.read_text() if REPORT.exists() else f"# Benchmarks\n\n{MARK_START}\n{MARK_END}\n"
    start, end = text.index(MARK_START) + len(MARK_START), text.index(MARK_END)
    REPORT.write_text(text[:start] + "\n" + "\n".join(lines) + "\n" + text[end:])
    plot(medians, scaling, floor)


def plot(medians: dict[str, float], scaling: list[dict[str, float]], floor: float) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: plots not redrawn", file=sys.stderr)
        return
    names = [n for n in medians if "[" not in n or n.endswith("[numpy]") or n.endswith("[torch]")]
    names.sort(key=lambda n: medians[n])
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(names) + 1))
    ax.barh(names, [medians[n] * 1e9 for n in names],
            color=["tab:green" if n.startswith("ours") else "tab:gray" for n in names])
    ax.axvline(floor * 1e9, color="k", linestyle=":", label="pybind11 no-op")
    ax.set_xscale("log")
    ax.set_xlabel("median time per call (ns, log scale)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(HERE / "comparison.png", dpi=110)
    fig, ax = plt.subplots(figsize=(6, 4))
    sizes = [row["size"] for row in scaling]
    for key, label in (("validate_ns", "validate"), ("from_dlpack_ns", "from_dlpack"),
                       ("numpy_from_dlpack_ns", "numpy.from_dlpack")):
        ax.plot(sizes, [row[key] for row in scaling], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("elements")
    ax.set_ylabel("median ns per call")
    ax.legend()
    fig.tight_layout()
    fig.savefig(HERE / "scaling.png", dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true", help="run each benchmark once; write nothing")
    args = parser.parse_args()
    medians = run_pytest_benchmarks(args.smoke)
    scaling = run_scaling(args.smoke)
    import_ms, numpy_loaded = run_import_time()
    print(f"import optype_dlpack: {import_ms:.1f} ms (numpy loaded: {numpy_loaded})")
    for row in scaling:
        print(json.dumps(row))
    if not args.smoke:
        write_report(medians, scaling, import_ms, numpy_loaded)
        print(f"wrote {REPORT}")


if __name__ == "__main__":
    main()

"""Targets, tables and plots from the JSON files of benchmarks/run.py.

    python benchmarks/render.py     # rewrites BENCHMARKS.md and docs/gpu-results.md from recorded/*.json

Every ratio is to the no-op native call measured interleaved in the same process (its
group's own floor). A target is met or missed when medians and minima agree; "unsettled" when
they do not (noise decided it: the run says so rather than flip). A line of information (the
floor of a DLPack checker) has no target: its verdict reads "information".
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "recorded"
REPORT = HERE / "BENCHMARKS.md"
GPU_REPORT = HERE.parent / "docs" / "gpu-results.md"
MARK_START, MARK_END = "<!-- generated:start -->", "<!-- generated:end -->"
GPU_START, GPU_END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"
NOOP = "floor: no-op native call"
EXCHANGE = "floor: exchange call ×2 + f(x, y)"
CHECKED = "ours: @checked f(x, y) [Expect]"
JAXTYPING = "alt: jaxtyping + beartype f(x, y)"
SIZES = ("1", "1000", "1000000", "100000000")
Target = dict[str, Any]


def timing(state: dict[str, Any], group: str, name: str) -> tuple[float, float] | None:
    """(min, median) ns per call, or None when not measured."""
    row = state.get("groups", {}).get(group, {}).get("results", {}).get(name)
    return None if row is None else (row["min_ns"], row["median_ns"])


def ns(value: float) -> str:
    return f"{value:,.0f} ns"


class Judge:
    """Collects the verdicts of one state."""

    def __init__(self, state_name: str, state: dict[str, Any]) -> None:
        self.state_name, self.state, self.targets = state_name, state, []  # type: list[Target]

    def add(self, target: str, measured: str, on_medians: bool | None, on_minima: bool | None = None) -> None:
        """A target is met (or missed) when the medians and the minima agree; where they do not,
        noise decided it, and the verdict says "unsettled" instead of flipping."""
        on_minima = on_medians if on_minima is None else on_minima
        if on_medians is None:
            decided = "not measured"
        elif on_medians == on_minima:
            decided = "met" if on_medians else "missed"
        else:
            decided = "unsettled"
        self.targets.append({"target": target, "state": self.state_name, "measured": measured, "verdict": decided})

    def inform(self, subject: str, measured: str) -> None:
        """A line for information, not a target: nothing to meet or miss."""
        self.targets.append({"target": subject, "state": self.state_name, "measured": measured,
                             "verdict": "information"})

    def ratio_to_noop(self, target: str, group: str, name: str, limit: float) -> None:
        subject, floor = timing(self.state, group, name), timing(self.state, group, NOOP)
        if subject is None or floor is None:
            self.add(target, f"not measured ({group}: {self.why(group)})", None)
            return
        ratio, ratio_min = subject[1] / floor[1], subject[0] / floor[0]
        self.add(target, f"{ratio:.2f}× (min {ratio_min:.2f}×; {ns(subject[1])} vs {ns(floor[1])})", ratio <= limit,
                 ratio_min <= limit)

    def added_to(self, target: str, group: str, name: str, base: str, limit_ns: float) -> None:
        subject, reference = timing(self.state, group, name), timing(self.state, group, base)
        if subject is None or reference is None:
            self.add(target, f"not measured ({group}: {self.why(group)})", None)
            return
        added = subject[1] - reference[1]
        self.add(target, f"{added:+,.0f} ns (min {subject[0] - reference[0]:+,.0f} ns; {ns(subject[1])} vs {ns(reference[1])})",
                 added <= limit_ns, subject[0] - reference[0] <= limit_ns)

    def compare(self, target: str, group: str, name: str, other: str, factor: float = 1.0) -> None:
        subject, reference = timing(self.state, group, name), timing(self.state, group, other)
        if subject is None or reference is None:
            self.add(target, f"not measured ({group}: {self.why(group)})", None)
            return
        ratio = subject[1] / reference[1]
        self.add(target, f"{ns(subject[1])} vs {ns(reference[1])} ({ratio:.2f}×; min {subject[0] / reference[0]:.2f}×)",
                 subject[1] <= factor * reference[1], subject[0] <= factor * reference[0])

    def why(self, group: str) -> str:
        found = self.state.get("groups", {}).get(group)
        if found is None:
            return "not run in this state"
        return str(found.get("unavailable", "subject missing"))


def judge_state(state_name: str, state: dict[str, Any]) -> list[Target]:
    judge = Judge(state_name, state)
    judge.ratio_to_noop("`Expect.check(capsule)` ≤ 1.5× no-op", "capsule", "ours: Expect.check(capsule)", 1.5)
    judge.added_to("`Expect.check(numpy_array)` ≤ NumPy's `__dlpack__(max_version=(1, 3))` + 100 ns", "numpy",
                   "ours: Expect.check(x)", "producer: x.__dlpack__(max_version=(1, 3))", 100)
    judge.ratio_to_noop("`validate(capsule, device=…, dtype=…)` ≤ 3× no-op", "capsule",
                        "ours: validate(capsule, device=…, dtype=…)", 3.0)
    judge.added_to("`validate(numpy_array)` ≤ NumPy's `__dlpack__(max_version=(1, 3))` + 150 ns", "numpy",
                   "ours: validate(x)", "producer: x.__dlpack__(max_version=(1, 3))", 150)
    exchange = state.get("groups", {}).get("torch", {}).get("exchange_api")
    judge.ratio_to_noop(f"`Expect.check(torch_tensor)` ≤ 3× no-op (exchange API offered: {exchange})", "torch",
                        "ours: Expect.check(x)", 3.0)
    judge.compare("`Expect.check(torch_tensor)` < torch's `__dlpack__()`", "torch", "ours: Expect.check(x)",
                  "producer: x.__dlpack__()")
    for framework in ("torch", "cupy") if state_name == "libcuda" else ():
        judge.compare(f"verified CUDA `Expect.check` ({framework}) ≤ 2× `verify_device='skip'`", "cuda",
                      f"Expect(verify_device='auto').check(x) [{framework}]",
                      f"Expect(verify_device='skip').check(x) [{framework}]", 2.0)
    for framework in ("numpy", "torch", "jax"):
        judge.compare(f"`from_dlpack(x)` ≤ `numpy.from_dlpack(x)` ({framework})", framework, "ours: from_dlpack(x)",
                      "alt: numpy.from_dlpack(x)")
    for framework in ("numpy", "torch"):
        judge_checked(judge, framework)
    judge_scaling(judge)
    judge_import(judge)
    return judge.targets


def judge_checked(judge: Judge, framework: str) -> None:
    """Issue targets of @checked: two annotated arguments cost at most 2x two Expect.check
    calls and the plain call; switched off at most 1.1x the plain call; 20x below jaxtyping."""
    group, checks = f"checked-{framework}", "plain: check(x); check(y); f(x, y)"
    for kind in ("Expect", "Spec symbols"):
        judge.compare(f"`@checked` f(x, y) [{kind}] ≤ 2× two `Expect.check` + f ({framework})", group,
                      f"ours: @checked f(x, y) [{kind}]", checks, 2.0)
    judge.compare(f"`@checked` switched off ≤ 1.1× f ({framework})", group,
                  "ours: @checked with OPTYPE_DLPACK_CHECKS=0", "plain: f(x, y)", 1.1)
    judge.compare(f"`@checked` [Expect] ≥ 20× faster than jaxtyping + beartype ({framework})", group,
                  CHECKED, JAXTYPING, 1 / 20)
    if framework == "torch":
        judge_exchange_floor(judge, group)


def judge_exchange_floor(judge: Judge, group: str) -> None:
    """Information, not a target: the floor (torch's DLPack C exchange API asked for both
    arguments' DLTensors, then f, nothing checked) bounds every checker that reads torch tensors
    through DLPack. jaxtyping ÷ floor is the largest speed-up over jaxtyping any such checker
    could reach on this machine; @checked ÷ floor is how far @checked is from that floor."""
    subject = "floor of any checker reading torch tensors through DLPack (two exchange-API exports + f)"
    floor, checked, jaxtyping, plain = (timing(judge.state, group, name)
                                        for name in (EXCHANGE, CHECKED, JAXTYPING, "plain: f(x, y)"))
    if floor is None or checked is None:
        found = judge.state.get("groups", {}).get(group, {})
        judge.inform(subject, f"not measured ({group}: {found.get('exchange_floor') or judge.why(group)})")
        return
    parts = [f"floor {ns(floor[1])} (min {ns(floor[0])})"]
    if plain is not None:
        parts.append(f"of which f itself {ns(plain[1])}")
    if jaxtyping is not None:
        parts.append(f"jaxtyping ÷ floor {jaxtyping[1] / floor[1]:.1f}× (min {jaxtyping[0] / floor[0]:.1f}×)")
    parts.append(f"`@checked` ÷ floor {checked[1] / floor[1]:.2f}× (min {checked[0] / floor[0]:.2f}×)")
    judge.inform(subject, "; ".join(parts))


def judge_scaling(judge: Judge) -> None:
    group = judge.state.get("groups", {}).get("scaling", {})
    if "results" not in group:
        judge.add("flat ±10 % from 1 to 10⁸ elements", f"not measured (scaling: {judge.why('scaling')})", None)
        return
    def worst_spread(key: str) -> tuple[float, str]:
        spreads = []
        for subject in ("validate(x)", "Expect.check(x)", "from_dlpack(x)"):
            values = [group["results"][f"{subject} [{size}]"][key] for size in SIZES]
            spreads.append((max(values) / min(values) - 1, subject))
        return max(spreads)

    (worst, which), (worst_min, which_min) = worst_spread("median_ns"), worst_spread("min_ns")
    judge.add("flat ±10 % from 1 to 10⁸ elements (after warm-up)",
              f"largest spread {worst * 100:.1f} % ({which}; minima: {worst_min * 100:.1f} %, {which_min})",
              worst <= 0.10, worst_min <= 0.10)
    growth = group["rss_growth_kib"]
    judge.add("no RSS growth while timing (zero copy)", f"{growth:,} KiB", growth < 1024)


def judge_import(judge: Judge) -> None:
    found = judge.state.get("import")
    if found is None:
        judge.add("import ≤ 20 ms", "not measured", None)
        return
    loaded = [name for name, yes in found["loads"].items() if yes]
    judge.add("`import optype_dlpack` ≤ 20 ms, loading neither NumPy, ml_dtypes nor the conformance checker",
              f"{found['median_ms']:.1f} ms (min {found['min_ms']:.1f} ms); loads {', '.join(loaded) or 'none of them'}",
              found["median_ms"] <= 20 and not loaded, found["min_ms"] <= 20 and not loaded)


def evaluate(record: dict[str, Any]) -> list[Target]:
    targets: list[Target] = []
    for state_name, state in record["states"].items():
        if "unavailable" in state:
            targets.append({"target": "every target", "state": state_name,
                            "measured": f"state unavailable: {state['unavailable']}", "verdict": "not measured"})
            continue
        targets += judge_state(state_name, state)
    return targets


def verdict(decided: str) -> str:
    return "**missed**" if decided == "missed" else decided


def summary(record: dict[str, Any]) -> str:
    return "\n".join(f"{t['state']:>10}  {verdict(t['verdict']):>12}  {t['target']}: {t['measured']}" for t in record["targets"])


# -- markdown --------------------------------------------------------------------------------

def header(record: dict[str, Any], level: str = "###") -> list[str]:
    versions = ", ".join(f"{name} {version}" for name, version in record["versions"].items())
    before, after = (" / ".join(f"{x:.2f}" for x in record[key]) for key in ("load_average_before", "load_average_after"))
    settings = record["settings"]
    return [
        f"{level} {record['machine']} — {record['date']}",
        "",
        f"Machine `{record['machine']}`: {record['cpu']}, {record['cores']} cores, {record['platform']}"
        + (f", GPU {record['gpu']}" if record["gpu"] else ", no GPU") + f"; Python {record['python']}; {versions}. "
        f"Commit `{record['commit']}`. Load average {before} before, {after} after. "
        f"Each group in a fresh process per state; {settings['warmup']} warm-up repeats discarded, then "
        f"{settings['repeats']} repeats of about {settings['sample_us'] / 1000:g} ms per subject, interleaved with the "
        f"group's floors; import: {settings['import_runs']} fresh processes.",
        "",
    ]


def group_table(group_name: str, group: dict[str, Any]) -> list[str]:
    floor = group["results"].get(NOOP)
    lines = [f"{group_name}:", "", "| benchmark | min | median | × no-op (median) | × no-op (min) |", "|---|---:|---:|---:|---:|"]
    for name, row in group["results"].items():
        ratios = ("", "") if floor is None else (f"{row['median_ns'] / floor['median_ns']:.2f}",
                                                 f"{row['min_ns'] / floor['min_ns']:.2f}")
        lines.append(f"| `{name}` | {ns(row['min_ns'])} | {ns(row['median_ns'])} | {ratios[0]} | {ratios[1]} |")
    return [*lines, ""]


def state_section(state_name: str, state: dict[str, Any], groups: tuple[str, ...]) -> list[str]:
    lines = [f"#### State `{state_name}`: {state['description']}", ""]
    if "unavailable" in state:
        return [*lines, f"Not measured: this state is unavailable on this machine ({state['unavailable']}).", ""]
    mapped = sorted({str(p["libcuda_mapped"]) for p in state["processes"]})
    lines += [f"libcuda mapped in the benchmark processes: {', '.join(mapped)}; the validator's driver: "
              f"{state['processes'][0]['driver']}.", ""]
    for group_name in groups:
        group = state["groups"].get(group_name)
        if group is None:
            continue
        if "results" not in group:
            lines += [f"{group_name}: not measured ({group.get('unavailable', '')}).", ""]
            continue
        lines += group_table(group_name, group)
    found = state.get("import")
    if found:
        lines += [f"import: `{found['command']}`, {found['runs']} runs: min {found['min_ms']:.1f} ms, "
                  f"median {found['median_ms']:.1f} ms; modules it loads: {len(found['modules'])}.", ""]
    return lines


def targets_table(record: dict[str, Any]) -> list[str]:
    lines = ["| target | state | measured (medians; minima in brackets) | verdict |", "|---|---|---|---|"]
    lines += [f"| {t['target']} | `{t['state']}` | {t['measured']} | {verdict(t['verdict'])} |" for t in record["targets"]]
    return [*lines, ""]


def machine_section(record: dict[str, Any]) -> list[str]:
    lines = [*header(record), *targets_table(record)]
    for state_name, state in record["states"].items():
        lines += state_section(state_name, state,
                               ("capsule", "numpy", "torch", "jax", "checked-numpy", "checked-torch", "scaling"))
    name = record["machine"]
    if (HERE / "plots" / f"comparison-{name}.png").exists():
        lines += [f"![our checks and the alternatives on {name}](plots/comparison-{name}.png) "
                  f"![cost against size on {name}](plots/scaling-{name}.png)", ""]
    return lines


def replace_between(path: Path, start_mark: str, end_mark: str, body: list[str]) -> None:
    text = path.read_text()
    start, end = text.index(start_mark) + len(start_mark), text.index(end_mark)
    path.write_text(text[:start] + "\n" + "\n".join(body).rstrip() + "\n" + text[end:])


def cuda_section(record: dict[str, Any]) -> list[str]:
    state = record["states"].get("libcuda", {})
    group = state.get("groups", {}).get("cuda")
    if group is None or "results" not in group:
        return []
    lines = header(record, "####")
    lines += [f"State `libcuda`: {state['description']}. device_verified: {group.get('device_verified')}.", ""]
    lines += group_table("cuda", group)
    lines += ["| target | measured (medians; minima in brackets) | verdict |", "|---|---|---|"]
    lines += [f"| {t['target']} | {t['measured']} | {verdict(t['verdict'])} |" for t in record["targets"]
              if t["state"] == "libcuda" and "CUDA" in t["target"]]
    return [*lines, ""]


def load_all() -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(RESULTS.glob("*.json"))]


def render_all() -> None:
    records = load_all()
    for record in records:
        record["targets"] = evaluate(record)  # the rules of this file, also for older files
        plot(record)  # first: the page links the plots that exist
    body: list[str] = []
    for record in records:
        body += machine_section(record)
    replace_between(REPORT, MARK_START, MARK_END, body)
    print(f"wrote {REPORT}")
    gpu = [line for record in records for line in cuda_section(record)]
    if gpu:
        replace_between(GPU_REPORT, GPU_START, GPU_END, gpu)
        print(f"wrote {GPU_REPORT}")


def plot(record: dict[str, Any]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: plots not redrawn", file=sys.stderr)
        return
    state = record["states"]["no-libcuda"]
    rows = [(f"{name} [{group}]", row["median_ns"]) for group in ("capsule", "numpy", "torch")
            for name, row in state["groups"].get(group, {}).get("results", {}).items() if not name.startswith("floor: len")]
    rows.sort(key=lambda item: item[1])
    (HERE / "plots").mkdir(exist_ok=True)
    fig, ax = plt.subplots(figsize=(9, 0.3 * len(rows) + 1))
    ax.barh([n for n, _ in rows], [v for _, v in rows],
            color=["tab:green" if n.startswith("ours") else "tab:gray" for n, _ in rows])
    ax.set_xscale("log")
    ax.set_xlabel("median ns per call (log scale); state no-libcuda")
    fig.tight_layout()
    fig.savefig(HERE / "plots" / f"comparison-{record['machine']}.png", dpi=100)
    scaling = state["groups"].get("scaling", {}).get("results", {})
    fig, ax = plt.subplots(figsize=(6, 4))
    draw: Callable[..., object] = ax.plot
    for subject in ("validate(x)", "Expect.check(x)", "from_dlpack(x)", "numpy.from_dlpack(x)"):
        if f"{subject} [1]" in scaling:
            draw([int(s) for s in SIZES], [scaling[f"{subject} [{s}]"]["median_ns"] for s in SIZES], marker="o", label=subject)
    ax.set_xscale("log")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("elements")
    ax.set_ylabel("median ns per call")
    ax.legend()
    fig.tight_layout()
    fig.savefig(HERE / "plots" / f"scaling-{record['machine']}.png", dpi=100)


if __name__ == "__main__":
    render_all()

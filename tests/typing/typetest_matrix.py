"""Run the type tests under every checker at every supported Python version, and judge them.

    python tests/typing/typetest_matrix.py [--markdown FILE]

Checkers: mypy, pyright and basedpyright (each at --python-version 3.10 ... 3.14), pyrefly and
ty (the same versions). All runs start at once (they are independent processes) and read the
package from this tree and the settings from pyproject.toml.

What a type test expects:
- A line with `# type: ignore[code]  # pyright: ignore[rule]` must be an error under every
  checker. mypy and pyright/basedpyright enforce that themselves (`warn_unused_ignores`,
  `reportUnnecessaryTypeIgnoreComment`); pyrefly and ty honour no ignore comment of another
  tool here (pyproject.toml), so this script checks their errors against those lines.
- A line ending in `# rejected-by: a, b` is an error under exactly the checkers named (a
  producer whose annotations some checkers accept and others refuse). It carries the native
  comment of each named checker that has one (mypy `# type: ignore[...]`, pyright and
  basedpyright `# pyright: ignore[...]`).
- Any other line, and the package's own sources, must type-check.
A checker's own bug is not silenced on the line: it is an entry of
tests/typing/typetest-allowlist.toml (checker, Python versions, file, the line's code, the
upstream issue). An entry that no longer matches anything fails the run, so entries go away
when the bug is fixed.

The producer matrix of docs/typing.md is this script's `--markdown` output.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # mypy brings tomli on 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
TYPETESTS = sorted((ROOT / "typetests").glob("*.pyi"))
ALLOWLIST = ROOT / "tests" / "typing" / "typetest-allowlist.toml"
PRODUCERS = ROOT / "typetests" / "test_producers.pyi"

PYTHON_VERSIONS = ("3.10", "3.11", "3.12", "3.13", "3.14")
CHECKERS = ("mypy", "pyright", "basedpyright", "pyrefly", "ty")
# the checkers that enforce the expected-error lines themselves, through their own comments
NATIVE = {"mypy": "# type: ignore[", "pyright": "# pyright: ignore[", "basedpyright": "# pyright: ignore["}

_REJECTED_BY = re.compile(r"#\s*rejected-by:\s*([\w, ]+)$")
_SECTION = re.compile(r"^# == producer: (.+?) ==")


@dataclass(frozen=True)
class Diagnostic:
    file: str  # relative to ROOT
    line: int
    code: str
    message: str


@dataclass
class Run:
    checker: str
    python: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    failure: str = ""  # the checker did not run (no output to read)


def _tool(name: str) -> list[str]:
    script = Path(sys.executable).with_name(name)
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", name]


def _relative(path: str) -> str:
    resolved = Path(path)
    if not resolved.is_absolute():
        resolved = ROOT / resolved
    try:
        return resolved.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return path


def _pyright_config() -> Path:
    """pyright reads no `[tool.basedpyright]` (and a pyproject.toml may not hold both sections):
    the same settings, less basedpyright's own, in a config file of its own."""
    with (ROOT / "pyproject.toml").open("rb") as stream:
        settings = dict(tomllib.load(stream)["tool"]["basedpyright"])
    settings.pop("reportIgnoreCommentWithoutRule", None)  # basedpyright only
    settings["extraPaths"] = [str(ROOT)]
    directory = Path(tempfile.mkdtemp(prefix="typetest-pyright-"))
    config = directory / "pyrightconfig.json"
    config.write_text(json.dumps(settings), encoding="utf-8")
    return config


def _targets() -> list[str]:
    return [path.relative_to(ROOT).as_posix() for path in TYPETESTS]


def _command(checker: str, python: str) -> list[str]:
    if checker == "mypy":
        return [
            sys.executable, "-m", "mypy", "--config-file", "pyproject.toml", "--no-error-summary",
            "--python-version", python, "--cache-dir", f".mypy_cache/matrix-{python}",
            "--hide-error-context", "--no-pretty", "optype_dlpack", *_targets(),
        ]
    if checker == "basedpyright":
        return [*_tool(checker), "--pythonpath", sys.executable, "--pythonversion", python, "--outputjson",
                "typetests", "optype_dlpack"]
    if checker == "pyright":
        return [*_tool(checker), "--project", str(_pyright_config()), "--pythonpath", sys.executable,
                "--pythonversion", python, "--outputjson", "typetests", "optype_dlpack"]
    if checker == "pyrefly":
        return [*_tool("pyrefly"), "check", "--python-interpreter-path", sys.executable, "--python-version", python,
                "--output-format", "json", "optype_dlpack", *_targets()]
    if checker == "ty":
        return [*_tool("ty"), "check", "--python", sys.executable, "--python-version", python,
                "--output-format", "concise", "optype_dlpack", "typetests"]
    raise ValueError(checker)


_MYPY_LINE = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+): error: (?P<message>.*?)(?:  \[(?P<code>[\w-]+)\])?$")
_TY_LINE = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):\d+: error\[(?P<code>[\w-]+)\] (?P<message>.*)$")


def _parse(checker: str, stdout: str) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    if checker in {"mypy", "ty"}:
        pattern = _MYPY_LINE if checker == "mypy" else _TY_LINE
        for text in stdout.splitlines():
            match = pattern.match(text)
            if match:
                found.append(Diagnostic(_relative(match["file"]), int(match["line"]), match["code"] or "", match["message"]))
    elif checker in {"pyright", "basedpyright"}:
        for item in json.loads(stdout)["generalDiagnostics"]:
            if item["severity"] == "error" and "range" in item:
                found.append(Diagnostic(_relative(item["file"]), item["range"]["start"]["line"] + 1,
                                        item.get("rule", ""), item["message"]))
    else:  # pyrefly
        for item in json.loads(stdout)["errors"]:
            if item["severity"] == "error":
                found.append(Diagnostic(_relative(item["path"]), item["line"], item["name"], item["concise_description"]))
    return found


def run_checker(checker: str, python: str) -> Run:
    result = subprocess.run(_command(checker, python), cwd=ROOT, capture_output=True, text=True, check=False)
    run = Run(checker, python)
    try:
        run.diagnostics = _parse(checker, result.stdout)
    except (ValueError, KeyError) as error:
        run.failure = f"unreadable output ({error}): {result.stdout[-2000:]}{result.stderr[-2000:]}"
        return run
    if result.returncode != 0 and not run.diagnostics:
        run.failure = f"exit {result.returncode}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
    return run


def run_all(checkers: Iterable[str] = CHECKERS, versions: Iterable[str] = PYTHON_VERSIONS) -> list[Run]:
    jobs = [(checker, python) for checker in checkers for python in versions]
    # one process per core: more only makes the runs compete for memory and time
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:
        return list(pool.map(lambda job: run_checker(*job), jobs))


###
# Expectations


def code_of(text: str) -> str:
    """A source line without its trailing comments: what the allowlist names."""
    return text.split("  #", 1)[0].strip()


@dataclass(frozen=True)
class Line:
    file: str
    number: int
    text: str

    @property
    def rejected_by(self) -> frozenset[str] | None:
        """The checkers that must report an error here (None: none must)."""
        named = _REJECTED_BY.search(self.text)
        if named:
            return frozenset(name.strip() for name in named[1].split(","))
        if NATIVE["mypy"] in self.text and NATIVE["pyright"] in self.text:
            return frozenset(CHECKERS)
        return None


def typetest_lines() -> dict[tuple[str, int], Line]:
    lines: dict[tuple[str, int], Line] = {}
    for path in TYPETESTS:
        file = path.relative_to(ROOT).as_posix()
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            lines[file, number] = Line(file, number, text)
    return lines


@dataclass(frozen=True)
class Entry:
    checker: str
    python: tuple[str, ...]
    file: str
    line: str
    issue: str
    reason: str

    def covers(self, checker: str, python: str, file: str, text: str) -> bool:
        return (self.checker == checker and python in self.python and self.file == file
                and code_of(text) == self.line)


def allowlist() -> list[Entry]:
    with ALLOWLIST.open("rb") as stream:
        entries = tomllib.load(stream).get("entry", [])
    return [
        Entry(e["checker"], tuple(e.get("python", PYTHON_VERSIONS)), e["file"], e["line"], e["issue"], e["reason"])
        for e in entries
    ]


def native_comment_problems() -> list[str]:
    """`# rejected-by:` lines must carry the native comment of exactly the native checkers named."""
    problems = []
    for line in typetest_lines().values():
        named = _REJECTED_BY.search(line.text)
        if not named:
            continue
        checkers = line.rejected_by or frozenset()
        unknown = checkers - set(CHECKERS)
        if unknown:
            problems.append(f"{line.file}:{line.number}: unknown checker(s) {sorted(unknown)}")
        for checker, comment in NATIVE.items():
            if (checker in checkers) != (comment in line.text):
                problems.append(f"{line.file}:{line.number}: {checker} {'needs' if checker in checkers else 'must not have'} `{comment}...]`")
    return problems


def judge(runs: list[Run], entries: list[Entry]) -> list[str]:
    """Every problem of every run, and every allowlist entry that matched nothing."""
    lines = typetest_lines()
    used: set[Entry] = set()
    problems: list[str] = []

    def allowed(checker: str, python: str, file: str, number: int) -> bool:
        text = lines[file, number].text if (file, number) in lines else _source_line(file, number)
        for entry in entries:
            if entry.covers(checker, python, file, text):
                used.add(entry)
                return True
        return False

    for run in runs:
        label = f"{run.checker} (Python {run.python})"
        if run.failure:
            problems.append(f"{label}: {run.failure}")
            continue
        erroneous = {(d.file, d.line) for d in run.diagnostics}
        for d in run.diagnostics:
            expected = lines.get((d.file, d.line))
            wanted = expected.rejected_by if expected else None
            if run.checker in NATIVE:
                # the native comment took the expected errors; what is left is unexpected, or an
                # unused ignore (a missed expected error)
                bad = True
            else:
                bad = wanted is None or run.checker not in wanted
            if bad and not allowed(run.checker, run.python, d.file, d.line):
                problems.append(f"{label}: {d.file}:{d.line}: {d.message} [{d.code}]")
        if run.checker not in NATIVE:
            for (file, number), line in lines.items():
                wanted = line.rejected_by
                if wanted and run.checker in wanted and (file, number) not in erroneous:
                    if not allowed(run.checker, run.python, file, number):
                        problems.append(f"{label}: {file}:{number}: expected an error, got none: {code_of(line.text)}")
    ran = {(run.checker, run.python) for run in runs}
    for entry in entries:
        if entry not in used and any((entry.checker, python) in ran for python in entry.python):
            problems.append(f"allowlist entry matches nothing (fixed upstream? remove it): {entry.checker} {entry.file}: {entry.line}")
    return problems


def _source_line(file: str, number: int) -> str:
    path = ROOT / file
    if not path.is_file():
        return ""
    text = path.read_text(encoding="utf-8").splitlines()
    return text[number - 1] if 0 < number <= len(text) else ""


###
# The producer matrix (docs/typing.md)


def producer_sections() -> dict[str, list[int]]:
    sections: dict[str, list[int]] = {}
    current = None
    for number, text in enumerate(PRODUCERS.read_text(encoding="utf-8").splitlines(), start=1):
        header = _SECTION.match(text)
        if header:
            current = header[1]
            sections[current] = []
        elif current is not None and code_of(text) and not text.lstrip().startswith("#"):
            sections[current].append(number)
    return sections


def producer_verdicts(runs: list[Run]) -> dict[str, dict[tuple[str, str], list[str]]]:
    """producer -> (checker, python) -> the code of each line that the checker rejected."""
    file = PRODUCERS.relative_to(ROOT).as_posix()
    lines = typetest_lines()
    verdicts: dict[str, dict[tuple[str, str], list[str]]] = {}
    for producer, numbers in producer_sections().items():
        for run in runs:
            if run.checker in NATIVE:
                # their own comments hide the expected errors: the expectations are the verdict
                rejected = [n for n in numbers if run.checker in (lines[file, n].rejected_by or ())]
                rejected += [d.line for d in run.diagnostics if d.file == file and d.line in numbers and d.code != "unused-ignore"]
            else:
                rejected = [d.line for d in run.diagnostics if d.file == file and d.line in numbers]
            verdicts.setdefault(producer, {})[run.checker, run.python] = sorted({code_of(lines[file, n].text) for n in rejected})
    return verdicts


def markdown(runs: list[Run]) -> str:
    verdicts = producer_verdicts(runs)
    versions = sorted({run.python for run in runs})
    checkers = [c for c in CHECKERS if any(run.checker == c for run in runs)]
    out = ["| producer | " + " | ".join(checkers) + " |", "|---|" + "---|" * len(checkers)]
    notes: dict[str, int] = {}
    for producer, cells in verdicts.items():
        row = [producer]
        for checker in checkers:
            by_version: dict[tuple[str, ...], list[str]] = {}
            for python in versions:
                by_version.setdefault(tuple(cells.get((checker, python), [])), []).append(python)
            parts = []
            for rejected, pythons in by_version.items():
                where = "" if len(by_version) == 1 else f" ({', '.join(pythons)})"
                if not rejected:
                    parts.append("accepted" + where)
                else:
                    key = "; ".join(f"`{text}`" for text in rejected)
                    number = notes.setdefault(key, len(notes) + 1)
                    parts.append(f"rejected [{number}]" + where)
            row.append("<br>".join(parts))
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    out.extend(f"[{number}] rejected: {key}  " for key, number in notes.items())
    out.append("")
    out.append(f"Python versions: {', '.join(versions)} (one cell when every version gives the same verdict).")
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", type=Path, help="write the producer matrix (docs/typing.md) here")
    parser.add_argument("--checker", action="append", choices=CHECKERS, help="only these checkers")
    parser.add_argument("--python", action="append", choices=PYTHON_VERSIONS, help="only these versions")
    args = parser.parse_args()
    runs = run_all(args.checker or CHECKERS, args.python or PYTHON_VERSIONS)
    problems = native_comment_problems() + judge(runs, allowlist())
    if args.markdown:
        args.markdown.write_text(markdown(runs), encoding="utf-8")
    for run in runs:
        print(f"{run.checker:>12} Python {run.python}: {len(run.diagnostics)} diagnostics")
    for problem in problems:
        print(problem)
    print(f"typetest matrix: {len(runs)} runs, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

"""The command line: ``optype-dlpack {info,survey,check}`` (also ``python -m optype_dlpack``).

Exit statuses: 0 conforms (or nothing was judged), 1 does not conform, 2 a usage, import or
evaluation error (one line on stderr; ``--traceback`` adds the traceback), 141 stdout closed
early (``| head``), as a shell reports a process ended by SIGPIPE.

``survey`` is ``optype_dlpack._survey``'s: its ``add_arguments(parser)`` declares the
subcommand's options (besides ``--traceback`` and ``--color``, which every subcommand has) and
``run(args) -> int`` runs it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import NoReturn, TextIO

from . import DLPACK_VERSION, DLDataTypeCode, DLDeviceType, DLPackFlags, __version__, _core
from ._conformance import CheckStatus, ConformanceReport, format_report, check_producer

__all__ = ["main"]

PROG = "optype-dlpack"
MODULE_PROG = "python -m optype_dlpack"
EXIT_CONFORMS, EXIT_DOES_NOT_CONFORM, EXIT_ERROR = 0, 1, 2
EXIT_BROKEN_PIPE = 128 + 13  # what a shell reports for a process ended by SIGPIPE

_SGR = {  # ANSI colours of the statuses and verdicts
    "pass": "32",
    "warn": "33",
    "fail": "31",
    "skip": "2",
    "conforms": "32",
    "does NOT conform": "1;31",
    "skipped": "2",
}


class CommandError(Exception):
    """A failure the user can act on (an import, an expression): one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """Reports a usage error as one line, pointing at --help, with exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# -- output ---------------------------------------------------------------------------------


def use_color(choice: str, stream: TextIO) -> bool:
    if choice != "auto":
        return choice == "always"
    # https://no-color.org: any non-empty NO_COLOR turns colour off
    return not os.environ.get("NO_COLOR") and stream.isatty()


def painter(enabled: bool) -> Callable[[str, str], str]:
    """paint(text, key) wraps `text` in the colour of `key` (a status or verdict) when enabled."""

    def paint(text: str, key: str) -> str:
        code = _SGR.get(key)
        return f"\033[{code}m{text}\033[0m" if enabled and code else text

    return paint


def _status_painter(paint: Callable[[str, str], str]) -> Callable[[str, CheckStatus], str]:
    return lambda text, status: paint(text, status.value)


def _verdict(report: ConformanceReport) -> str:
    return "conforms" if report.ok else "does NOT conform"


def _report_json(report: ConformanceReport) -> dict[str, object]:
    return {
        "producer": report.producer,
        "conforms": report.ok,
        "checks": [{"id": c.id, "status": c.status.value, "detail": c.detail} for c in report.checks],
    }


def _print_json(document: object) -> None:
    print(json.dumps(document, indent=2))


def table(rows: Sequence[Sequence[str]], keys: Sequence[str], paint: Callable[[str, str], str]) -> list[str]:
    """Left-aligned columns; row i's second cell is painted with keys[i] (after padding, so that
    the escape codes do not count towards the width)."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines: list[str] = []
    for index, row in enumerate(rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        if index > 0:
            cells[1] = paint(cells[1], keys[index - 1])
        lines.append("  ".join(cells).rstrip())
    return lines


# -- info -----------------------------------------------------------------------------------


def _enum_tables() -> dict[str, dict[str, int]]:
    return {
        "DLDeviceType": {member.name: member.value for member in DLDeviceType},
        "DLDataTypeCode": {member.name: member.value for member in DLDataTypeCode},
        "DLPackFlags": {str(member.name): member.value for member in DLPackFlags},
    }


def _info(args: argparse.Namespace) -> int:
    major, minor = DLPACK_VERSION
    if args.format == "json":
        _print_json({
            "optype_dlpack": __version__,
            "dlpack_header": f"{major}.{minor}",
            "cuda_driver": _core.cuda_driver_status(),
            "enums": _enum_tables(),
        })
        return EXIT_CONFORMS
    print(f"optype_dlpack {__version__}")
    print(f"DLPack header  {major}.{minor} (dlpack.h the extension was compiled against)")
    print(f"CUDA driver    {_core.cuda_driver_status()}")
    for name, members in _enum_tables().items():
        print(f"\n{name}")
        for member, value in members.items():
            print(f"  {value:>3}  {member}")
        if name == "DLDeviceType":
            print("  (CPU_PINNED is an alias of CUDA_HOST)")
    return EXIT_CONFORMS


# -- check ----------------------------------------------------------------------------------


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _evaluate(expression: str) -> object:
    """The producer MODULE:EXPRESSION names: the module imported, the expression evaluated
    (eval) in a copy of its namespace. CommandError says which step failed."""
    module_name, sep, expr = expression.partition(":")
    if not sep or not module_name or not expr:
        raise CommandError(f"expected MODULE:EXPRESSION such as 'numpy:arange(3.0)', got {expression!r}")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise CommandError(f"cannot import {module_name!r}: {_describe(exc)}") from exc
    try:
        return eval(expr, vars(module).copy())  # noqa: S307 - the user's own expression, by design (--help says so)
    except Exception as exc:
        raise CommandError(f"evaluating {expr!r} in {module_name} raised {_describe(exc)}") from exc


def _check(args: argparse.Namespace) -> int:
    producer = _evaluate(args.expression)
    found = check_producer(producer)
    report = ConformanceReport(args.expression, found.checks)
    if args.format == "json":
        _print_json(_report_json(report))
    else:
        paint = painter(use_color(args.color, sys.stdout))
        print(format_report(report, _status_painter(paint), paint(_verdict(report), _verdict(report))))
    return EXIT_CONFORMS if report.ok else EXIT_DOES_NOT_CONFORM


# -- the parser -----------------------------------------------------------------------------


def _add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")


def _common_options() -> _Parser:
    common = _Parser(add_help=False)
    common.add_argument("--traceback", action="store_true", help="on an error, print the traceback too")
    common.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the text output: auto (default) on a terminal unless NO_COLOR is set",
    )
    return common


def _check_description(prog: str) -> str:
    return (
        "Check one producer against the Python DLPack protocol.\n\n"
        "MODULE:EXPRESSION: MODULE is imported, and EXPRESSION is evaluated as Python (eval) in a\n"
        "copy of that module's namespace; its value is the producer checked. EXPRESSION can run\n"
        "any code: give only expressions you trust. Quote the argument for the shell.\n\n"
        f"examples:\n  {prog} check 'numpy:arange(3.0)'\n  {prog} check 'torch:ones(2, 3)'\n"
        f"  {prog} check --format json 'jax.numpy:zeros((2, 2))'\n\n"
        "exit status: 0 conforms, 1 does not conform, 2 usage, import or evaluation error"
    )


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = _Parser(
        prog=prog,
        description="Typed and checked DLPack: package information and producer conformance.",
        epilog=(
            f"examples:\n  {prog} info\n  {prog} check 'numpy:arange(3.0)'\n  {prog} survey --format json\n\n"
            "exit status: 0 conforms, 1 does not conform, 2 usage, import or evaluation error"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"optype_dlpack {__version__}")
    # the subcommands' parsers are _Parsers too (argparse makes them of the parser's class)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{info,survey,check}")
    common = [_common_options()]

    info = commands.add_parser("info", parents=common, help="versions, CUDA driver state and the DLPack enum tables")
    _add_format(info)
    info.set_defaults(run=_info)

    survey = commands.add_parser(
        "survey", parents=common, help="conformance of every installed framework's arrays (exit 1 if any fails)"
    )
    from . import _survey  # noqa: PLC0415 - the survey's code, only where a parser is built

    _survey.add_arguments(survey)
    survey.set_defaults(run=_survey.run)

    check = commands.add_parser(
        "check",
        parents=common,
        help="conformance of one producer, MODULE:EXPRESSION (EXPRESSION is evaluated as Python)",
        description=_check_description(prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("expression", metavar="MODULE:EXPRESSION", help="e.g. 'numpy:arange(3.0)'")
    _add_format(check)
    check.set_defaults(run=_check)
    return parser


def _stdout_closed() -> int:
    """stdout's reader went away (`| head`): point stdout at /dev/null, so that the interpreter's
    last flush at exit does not fail again, and report it as SIGPIPE would."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE


def main(argv: Sequence[str] | None = None, *, prog: str = PROG) -> int:
    """Runs the command line and returns its exit status."""
    args = build_parser(prog).parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        status = run(args)
        sys.stdout.flush()  # inside the try: a closed pipe shows up here at the latest
    except BrokenPipeError:
        return _stdout_closed()
    except CommandError as error:
        if args.traceback:
            traceback.print_exception(error.__cause__ or error)
        print(f"{prog} {args.command}: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    return status

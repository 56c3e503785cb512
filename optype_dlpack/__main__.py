"""Command line: ``python -m optype_dlpack {info,survey,check}``.

- ``info``: package and DLPack header versions, the CUDA driver's state, the enum tables.
- ``survey``: conformance reports for sample arrays of every installed framework.
- ``check EXPR``: the conformance report for one producer, e.g. ``numpy:arange(3.0)``
  (the module before ``:`` is imported and the expression evaluated in its namespace).
  Exits 1 when the producer does not conform.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from . import (
    DLPACK_VERSION,
    DLDataTypeCode,
    DLDeviceType,
    DLPackFlags,
    __version__,
    _core,
)
from ._conformance import ConformanceReport, check_producer

# The frameworks `survey` asks for a sample array (the module whose `arange` makes it).
_SAMPLE_MODULES = ("numpy", "torch", "jax.numpy", "cupy")
_SAMPLE_EXPRESSION = "arange(6.0).reshape(2, 3)"


def _sample(module: Any) -> object:
    # Any: the frameworks are optional and untyped here; each spells the sample the same way
    return module.arange(6.0).reshape(2, 3)


def _info() -> int:
    major, minor = DLPACK_VERSION
    print(f"optype_dlpack {__version__}")
    print(f"DLPack header  {major}.{minor} (dlpack.h the extension was compiled against)")
    print(f"CUDA driver    {_core.cuda_driver_status()}")
    print("\nDLDeviceType")
    for member in DLDeviceType:
        print(f"  {member.value:>3}  {member.name}")
    print("  (CPU_PINNED is an alias of CUDA_HOST)")
    print("\nDLDataTypeCode")
    for code in DLDataTypeCode:
        print(f"  {code.value:>3}  {code.name}")
    print("\nDLPackFlags")
    for flag in DLPackFlags:
        print(f"  {flag.value:>3}  {flag.name}")
    return 0


def _print_report(report: ConformanceReport) -> None:
    print(report)
    print()


def _survey() -> int:
    for module_name in _SAMPLE_MODULES:
        description = f"{module_name}.{_SAMPLE_EXPRESSION}"
        try:
            sample = _sample(importlib.import_module(module_name))
        except Exception as exc:  # noqa: BLE001 - an absent or broken framework is reported, not fatal
            print(f"{description}: skipped ({type(exc).__name__}: {exc})\n")
            continue
        report = check_producer(sample)
        _print_report(ConformanceReport(description, report.checks))
    return 0


def _check(expression: str) -> int:
    module_name, sep, expr = expression.partition(":")
    if not sep or not module_name or not expr:
        print(f"check: expected MODULE:EXPRESSION such as 'numpy:arange(3.0)', got {expression!r}", file=sys.stderr)
        return 2
    module = importlib.import_module(module_name)
    producer = eval(expr, vars(module).copy())  # noqa: S307 - the user's own expression, by design
    report = check_producer(producer)
    _print_report(ConformanceReport(expression, report.checks))
    return 0 if report.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m optype_dlpack", description="Typed and checked DLPack.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("info", help="versions, CUDA driver state and the DLPack enum tables")
    commands.add_parser("survey", help="conformance of every installed framework's arrays")
    check = commands.add_parser("check", help="conformance of one producer, given as MODULE:EXPRESSION")
    check.add_argument("expression", help="e.g. 'numpy:arange(3.0)' or 'torch:ones(2, 3)'")
    args = parser.parse_args(argv)
    if args.command == "info":
        return _info()
    if args.command == "survey":
        return _survey()
    return _check(args.expression)


if __name__ == "__main__":
    sys.exit(main())

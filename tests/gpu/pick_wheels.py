"""Prints the carried wheels this interpreter lacks (used by run_gpu_suite.sh).

    python3 tests/gpu/pick_wheels.py .whl

A wheel is picked when its distribution is not installed, or is installed at a version
older than this project needs (MINIMUM); one already good enough is left alone, so that
nothing the GPU machine's frameworks were built with gets shadowed.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path

# What the project (and the build backend) need at least; a name absent here: any version.
MINIMUM = {
    "apache-tvm-ffi": "0.1.9",
    "hatchling": "1.24",
    "packaging": "24.2",
    "pathspec": "0.10.1",
    "pluggy": "1.0",
    "tomlkit": "0.11.1",
    "typing-extensions": "4.13",
    "hypothesis": "6.100",
    "sortedcontainers": "2.1",
    "ml-dtypes": "0.5",
}


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def release(version: str) -> tuple[int, ...]:
    """The leading numeric release of a version ("0.1.15.post2" -> (0, 1, 15))."""
    numbers = re.match(r"\d+(\.\d+)*", version)
    return tuple(int(part) for part in numbers.group(0).split(".")) if numbers else ()


def needed(distribution: str) -> bool:
    try:
        installed = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return True
    return release(installed) < release(MINIMUM.get(normalize(distribution), "0"))


def main(folder: str) -> int:
    for wheel in sorted(Path(folder).glob("*.whl")):
        distribution = wheel.name.split("-", 1)[0]
        if needed(distribution):
            print(wheel)
        else:
            print(f"have {distribution} {importlib.metadata.version(distribution)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else ".whl"))

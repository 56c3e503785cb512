"""Fixtures of the CUDA tests: the frameworks that make device memory, where a GPU is present."""

from __future__ import annotations

import warnings
from typing import Any

import pytest


def quietly_import(name: str) -> Any:
    """Imports a framework; warnings it raises while importing are its own business."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pytest.importorskip(name)


@pytest.fixture(scope="module")
def torch() -> Any:
    """torch, on a machine where it has a CUDA device (skips elsewhere)."""
    module = quietly_import("torch")
    if not module.cuda.is_available():
        pytest.skip("needs torch built with CUDA and an NVIDIA GPU")
    return module


@pytest.fixture(scope="module")
def cupy() -> Any:
    """CuPy (skips where it is not installed: it needs a GPU to install)."""
    return quietly_import("cupy")

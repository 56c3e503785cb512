"""Run-time validation of DLPack capsules and producers (implemented in C++)."""

from __future__ import annotations

from ._core import Expect, TensorInfo, inspect, validate

__all__ = ["Expect", "TensorInfo", "inspect", "validate"]

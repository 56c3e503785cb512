"""Arrays of the three frameworks that tests hold to one rule: NumPy, PyTorch (CPU), JAX (CPU)."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
import pytest

from tests.support.frameworks import needs, optional_import

torch: Any = optional_import("torch")  # None only where CI leaves torch out: see frameworks.py

# Tests that hold every framework to the same rule run once per framework.
FRAMEWORKS = [pytest.param("numpy"), pytest.param("torch", marks=needs("torch")), pytest.param("jax")]


def framework_module(framework: str) -> Any:
    """numpy, torch or jax.numpy: each has zeros, ones and float32 alike."""
    return {"numpy": np, "torch": torch, "jax": jnp}[framework]


def zeros(framework: str, *shape: int) -> Any:
    module = framework_module(framework)
    return module.zeros(shape, dtype=module.float32)


class TorchDType:
    """torch's dtype of this name, looked up as the test runs: torch is imported only where it
    is installed."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    def resolve(self) -> Any:
        return getattr(torch, self.name)

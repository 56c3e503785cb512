from ._core import Expect, TensorInfo, inspect, validate

__all__ = ["Expect", "TensorInfo", "inspect", "validate"]

"""Run-time validation of DLPack capsules and producers (implemented in C++)."""

from __future__ import annotations

from ._core import Expect, TensorInfo, inspect, validate

# `typing` is not imported at run time (import time): type checkers take this name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import inspect as _inspect

__all__ = ["Expect", "TensorInfo", "inspect", "validate"]


class _InitSignature:
    """A class's call signature for `inspect`: its ``__init__``'s without ``self``, on first use.

    ``Expect.__init__`` is a C method with a text signature. From Python 3.12 on,
    `inspect.signature(Expect)` binds that method to the class itself, which a C method refuses
    (TypeError), so the class states its signature; it is read from ``__init__``, the one place
    it is written, and `inspect` is imported only when someone asks.
    """

    def __get__(self, instance: object, owner: type) -> _inspect.Signature:
        import inspect as _inspect

        init = _inspect.signature(vars(owner)["__init__"])
        return init.replace(parameters=tuple(init.parameters.values())[1:])


setattr(Expect, "__signature__", _InitSignature())  # noqa: B010 (the stub has no such attribute)

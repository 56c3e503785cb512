"""Zero-copy interop: DLPack tensors as NumPy arrays, and array-likes as DLPack (in C++).

``from_dlpack`` views a DLPack tensor as a NumPy array (validated first, consumed once);
``to_dlpack`` makes a capsule over a NumPy array or a buffer; ``asdlpack`` offers any
array-like through the full ``__dlpack__`` / ``__dlpack_device__`` protocol as a
``DLPackObject``. docs/interop.md describes every rule.
"""

from __future__ import annotations

from ._core import DLPackObject, asdlpack, from_dlpack, to_dlpack

__all__ = ["DLPackObject", "asdlpack", "from_dlpack", "to_dlpack"]

from ._core import DLPackObject, asdlpack, from_dlpack, to_dlpack

__all__ = ["DLPackObject", "asdlpack", "from_dlpack", "to_dlpack"]

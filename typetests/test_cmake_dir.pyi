# pyright: reportInvalidStubStatement=false
from typing_extensions import assert_type

import optype_dlpack
from optype_dlpack import get_cmake_dir

###
# get_cmake_dir

assert_type(get_cmake_dir(), str)
assert_type(optype_dlpack.get_cmake_dir(), str)

get_cmake_dir("optype_dlpack")  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]

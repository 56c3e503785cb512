# pyright: reportInvalidStubStatement=false
from typing_extensions import assert_type

import optype_dlpack
from optype_dlpack import __version__, get_include

###
# __version__

assert_type(__version__, str)
assert_type(optype_dlpack.__version__, str)

###
# get_include

assert_type(get_include(), str)

get_include("optype_dlpack")  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]

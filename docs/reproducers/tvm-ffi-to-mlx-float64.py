"""tvm_ffi -> mlx, case float64: FAIL (values differ).

Made by optype_dlpack._survey from its adapter table; ends with an AssertionError (or the
process dying) while the fault is there, and exits 0 once it is gone."""

import numpy as np
import ml_dtypes
from optype_dlpack import inspect
from optype_dlpack._survey import read_only
import tvm_ffi
import mlx.core as mx

a = np.arange(6).reshape(2, 3).astype(np.float64)
x = tvm_ffi.from_dlpack(a)
before = inspect(x)
y = mx.from_dlpack(x)
after = inspect(y)
same_memory = before.data_ptr + before.byte_offset == after.data_ptr + after.byte_offset
got = np.asarray(y)
assert got.dtype == a.dtype and got.tobytes() == np.ascontiguousarray(a).tobytes(), f'values differ: {got.dtype} {got!r}'
print('not reproduced: the cell passes now')

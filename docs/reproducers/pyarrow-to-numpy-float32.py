"""pyarrow -> numpy, case float32: FAIL (a read-only source came back writable).

Made by optype_dlpack._survey from its adapter table; ends with an AssertionError (or the
process dying) while the fault is there, and exits 0 once it is gone."""

import numpy as np
import ml_dtypes
from optype_dlpack import inspect
from optype_dlpack._survey import read_only
import pyarrow as pa
import numpy as np

a = np.arange(6).reshape(2, 3).astype(np.float32)
x = pa.Tensor.from_numpy(a)
before = inspect(x)
y = np.from_dlpack(x)
after = inspect(y)
same_memory = before.data_ptr + before.byte_offset == after.data_ptr + after.byte_offset
writable = y.flags.writeable  # how the survey tells that numpy's array may be written
assert not (same_memory and writable), 'a read-only source came back writable'
print('not reproduced: the cell passes now')

"""counting -> pyarrow, case bfloat16: FAIL (SystemError: <cyfunction Tensor.from_dlpack at 0x7fb11576a140> returned NULL without setting an exception).

Made by optype_dlpack._survey from its adapter table; ends with an AssertionError (or the
process dying) while the fault is there, and exits 0 once it is gone."""

import numpy as np
import ml_dtypes
from optype_dlpack import inspect
from optype_dlpack._survey import read_only
from optype_dlpack._survey import CountingExport
import pyarrow as pa

a = np.arange(6).reshape(2, 3).astype(ml_dtypes.bfloat16)
x = CountingExport(a)
before = inspect(x)
y = pa.Tensor.from_dlpack(x)
after = inspect(y)
same_memory = before.data_ptr + before.byte_offset == after.data_ptr + after.byte_offset
print('not reproduced: the cell passes now')

"""counting -> pyarrow, case bfloat16: FAIL (SystemError: <cyfunction Tensor.from_dlpack at 0x7fe654c36140> returned NULL without setting an exception).

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
try:
    y = pa.Tensor.from_dlpack(x)
except SystemError as error:
    raise AssertionError('an error without an exception (SystemError)') from error
except Exception as error:  # a refusal with an exception of its own: the fault is gone
    print(f'refused with {type(error).__name__}')
print('not reproduced: the cell passes now')

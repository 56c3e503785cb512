"""numpy -> torch, case negative-strides: crash (crash (signal 6): terminate called after throwing an instance of 'c10::Error').

Made by optype_dlpack._survey from its adapter table; ends with an AssertionError (or the
process dying) while the fault is there, and exits 0 once it is gone."""

import numpy as np
import ml_dtypes
from optype_dlpack import inspect
from optype_dlpack._survey import read_only
import numpy as np
import torch
from optype_dlpack._survey import torch_from_numpy

a = np.arange(6, dtype=np.float32)[::-1]
x = a
before = inspect(x)
y = torch.from_dlpack(x)
after = inspect(y)
same_memory = before.data_ptr + before.byte_offset == after.data_ptr + after.byte_offset
print('not reproduced: the cell passes now')

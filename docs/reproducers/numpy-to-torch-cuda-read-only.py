"""numpy -> torch_cuda, case read-only: FAIL (a read-only source came back writable).

Made by optype_dlpack._survey from its adapter table; ends with an AssertionError (or the
process dying) while the fault is there, and exits 0 once it is gone."""

import numpy as np
import ml_dtypes
from optype_dlpack import inspect
from optype_dlpack._survey import read_only
import numpy as np
import torch
assert torch.cuda.is_available(), 'no CUDA device'
from optype_dlpack._survey import torch_from_numpy

a = read_only(np.arange(6, dtype=np.float32))
x = a
before = inspect(x)
y = torch.from_dlpack(x)
after = inspect(y)
same_memory = before.data_ptr + before.byte_offset == after.data_ptr + after.byte_offset
writable = True  # how the survey tells that torch_cuda's array may be written
assert not (same_memory and writable), 'a read-only source came back writable'
print('not reproduced: the cell passes now')

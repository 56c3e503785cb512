"""tensorflow -> paddle, case float32: crash (importing paddle after tensorflow: crash (signal 11): To enable the following instructions: AVX2 AVX512F AVX512_VNNI AVX512_BF16 FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.).

Made by optype_dlpack._survey from its adapter table; ends with an AssertionError (or the
process dying) while the fault is there, and exits 0 once it is gone."""

import numpy as np
import ml_dtypes
from optype_dlpack import inspect
from optype_dlpack._survey import read_only
import tensorflow as tf
import paddle

a = np.arange(6).reshape(2, 3).astype(np.float32)
x = tf.constant(a)
before = inspect(x)
y = paddle.from_dlpack(x)
after = inspect(y)
same_memory = before.data_ptr + before.byte_offset == after.data_ptr + after.byte_offset
print('not reproduced: the cell passes now')

// What @optype_dlpack.checked (checked_plan.hpp) needs of an Expect: its check, with the record
// of the tensor it checked. Defined by module.cpp, where Expect lives.
#pragma once

#include <Python.h>

#include "optype_dlpack/tensor_info.hpp"

namespace optype_dlpack::checked_plan {

/// Called with the record of a tensor that passed the checks, while the tensor is held (the
/// record borrows the tensor's shape and strides: copy what outlives the call).
using RecordUse = void (*)(void* context, const TensorInfoRecord& record);

/// Expect.check(x) for `expect` (an initialised optype_dlpack.Expect), then use(context,
/// record). Raises as Expect.check does (pybind11::error_already_set, or the exceptions that
/// detail::guarded translates), and TypeError when `expect` is not an initialised Expect.
void check_and_use(PyObject* expect, PyObject* x, RecordUse use, void* context);

}  // namespace optype_dlpack::checked_plan

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
/// record) unless `use` is nullptr. Raises as Expect.check does (pybind11::error_already_set, or the exceptions that
/// detail::guarded translates), and TypeError when `expect` is not an initialised Expect.
void check_and_use(PyObject* expect, PyObject* x, RecordUse use, void* context);

/// The constraints an initialised Expect compiled, opaque here; valid while the Expect lives
/// (its constraints never change after __init__).
class CompiledExpect;

/// The compiled constraints of `expect`, or nullptr when it is no initialised Expect. Runs no
/// Python and raises nothing.
const CompiledExpect* compiled_expect(PyObject* expect) noexcept;

/// check_and_use(expect, x, use, context) for the Expect whose constraints `compiled` are.
void check_and_use(const CompiledExpect* compiled, PyObject* x, RecordUse use, void* context);

}  // namespace optype_dlpack::checked_plan

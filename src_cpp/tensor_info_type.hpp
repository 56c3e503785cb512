// optype_dlpack._core.TensorInfo: a plain CPython type (private to the extension, not installed).
#pragma once

#include <pybind11/pybind11.h>

#include "optype_dlpack/tensor_info.hpp"

namespace optype_dlpack::tensor_info_type {

/// Creates the class TensorInfo in `m`, and the capsule `_tensor_info_api` that gives
/// extensions the functions behind optype_dlpack::TensorInfoApi.
void bind(pybind11::module_& m);

/// A new TensorInfo describing `record` (its arrays are copied); nullptr with a Python error
/// set on failure. The class must be bound.
PyObject* make(const TensorInfoRecord& record);

}  // namespace optype_dlpack::tensor_info_type

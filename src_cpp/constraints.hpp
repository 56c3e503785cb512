// The constraints of validate() and Expect() (private to the extension, not installed).
#pragma once

#include <pybind11/pybind11.h>

#include "optype_dlpack/expect.hpp"

namespace optype_dlpack::constraints {

namespace py = pybind11;
namespace od = optype_dlpack;

/// Constraint spellings → od::Constraints. None leaves a constraint out (verify_device takes
/// 'auto', 'require' or 'skip'; strict True or False). A value of the wrong kind raises
/// TypeError, a value of the right kind that no tensor can have raises ValueError; both name
/// the constraint.
od::Constraints make_constraints(py::handle device, py::handle dtype, py::handle ndim, py::handle shape,
                                 py::handle writable, py::handle layout, py::handle verify_device, py::handle strict);

}  // namespace optype_dlpack::constraints

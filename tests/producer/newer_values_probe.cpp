// Test-only extension: the C++ core's check of values that DLPack defined after 1.3 (and of
// values newer than the package knows), read from a capsule with nothing but check.hpp and
// tensor_info.hpp: check_structure's findings and strict violations, and TensorInfo::findings.
#include <pybind11/pybind11.h>

#include "optype_dlpack/check.hpp"
#include "optype_dlpack/tensor_info.hpp"

#include <cstring>
#include <stdexcept>
#include <vector>

namespace py = pybind11;
namespace od = optype_dlpack;

namespace {

/// The managed tensor of a 'dltensor' or 'dltensor_versioned' capsule, borrowed.
od::ManagedView view_of(const py::capsule& capsule) {
    const char* name = capsule.name();
    od::ManagedView view;
    if (name != nullptr && std::strcmp(name, "dltensor_versioned") == 0) {
        auto* managed = capsule.get_pointer<DLManagedTensorVersioned>();
        view.versioned = true;
        view.version = managed->version;
        view.flags = managed->flags;
        view.tensor = &managed->dl_tensor;
    } else if (name != nullptr && std::strcmp(name, "dltensor") == 0) {
        view.tensor = &capsule.get_pointer<DLManagedTensor>()->dl_tensor;
    } else {
        throw std::invalid_argument("expected a dltensor or dltensor_versioned capsule");
    }
    return view;
}

py::list records(const std::vector<od::Violation>& items) {
    py::list out;
    for (const auto& item : items) out.append(py::make_tuple(item.rule, item.field, item.expected, item.got));
    return out;
}

}  // namespace

PYBIND11_MODULE(newer_values_probe, m) {
    // (passed, violations, findings) of check_structure, each a list of (rule, field, expected, got)
    m.def("check", [](const py::capsule& capsule, bool strict) {
        od::Report report;
        od::Geometry geometry;
        const bool passed = od::check_structure(view_of(capsule), report, &geometry,
                                                strict ? od::Strictness::strict : od::Strictness::permissive);
        return py::make_tuple(passed && report.ok(), records(report.violations()), records(report.findings()));
    });
    // TensorInfo::findings of a capsule that passed check_structure
    m.def("tensor_info_findings", [](const py::capsule& capsule) {
        const od::ManagedView view = view_of(capsule);
        od::Report report;
        od::Geometry geometry;
        if (!od::check_structure(view, report, &geometry)) throw std::invalid_argument("the capsule is malformed");
        return records(od::TensorInfo(view, geometry, -1).findings);
    });
}

// optype_dlpack._core's view of the rule registry (include/optype_dlpack/rules.hpp) and of
// the device facts Python needs (include/optype_dlpack/tables.hpp): read once, at import,
// by optype_dlpack._errors (RULES) and optype_dlpack._conformance (stream devices).
#include <pybind11/pybind11.h>

#include "optype_dlpack/rules.hpp"
#include "optype_dlpack/tables.hpp"

namespace py = pybind11;
namespace od = optype_dlpack;

namespace {

/// ((id, field, checks, reference, since), ...), in the registry's order.
py::tuple rule_registry() {
    py::tuple rows(od::kRuleCount);
    for (std::size_t i = 0; i < od::kRuleCount; ++i) {
        const od::RuleInfo& rule = od::kRules[i];
        rows[i] = py::make_tuple(rule.id, rule.field, rule.checks, rule.reference, rule.since);
    }
    return rows;
}

/// The device types whose producers take a stream, as ints.
py::tuple stream_device_types() {
    py::list codes;
    for (const auto& info : od::kDeviceTypes) {
        if (info.stream_device) codes.append(info.code);
    }
    return py::tuple(codes);
}

}  // namespace

void register_rules(py::module_& m) {
    m.attr("RULE_REGISTRY") = rule_registry();
    m.attr("STREAM_DEVICE_TYPES") = stream_device_types();
}

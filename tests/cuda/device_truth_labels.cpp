// device_truth.hpp's label checks against answers a real driver would give, without one:
// the cuda:: functions device_truth.hpp calls are answered here from fixed facts, so that the
// rule, field and message of every label lie can be checked on any machine.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optype_dlpack/device_truth.hpp>

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

namespace od = optype_dlpack;
namespace py = pybind11;

namespace optype_dlpack::cuda {

constexpr int kGpus = 2;  // what the fake driver reports

Status device_count(int* out, std::string*) noexcept {
    *out = kGpus;
    return Status::ok;
}

bool driver_available() noexcept { return true; }
const char* driver_unavailable_reason() noexcept { return ""; }
bool driver_loaded_in_process() noexcept { return true; }
Status query_pointer(const void*, PointerFacts*, std::string*) noexcept { return Status::unavailable; }
Status query_pointer_and_mapping(const void*, PointerFacts*, std::string*) noexcept { return Status::unavailable; }
Mapped range_mapped(const void*, std::size_t, std::uintptr_t*, std::string* why, const PointerFacts*) noexcept {
    *why = "not asked";
    return Mapped::unknown;
}

}  // namespace optype_dlpack::cuda

namespace {

constexpr std::uintptr_t kData = 0x10000;

/// The violations of a 4-element float32 tensor at kData labelled (device_type, device_id),
/// whose memory the driver says is `memory` (an od::cuda::MemoryType) on GPU `ordinal`.
std::vector<std::tuple<std::string, std::string, std::string, std::string>> label_lies(std::int32_t device_type,
                                                                                       std::int32_t device_id,
                                                                                       int memory, int ordinal) {
    std::int64_t shape[1] = {4};
    DLTensor t{};
    t.data = reinterpret_cast<void*>(kData);
    t.device = DLDevice{static_cast<DLDeviceType>(device_type), device_id};
    t.ndim = 1;
    t.dtype = DLDataType{kDLFloat, 32, 1};
    t.shape = shape;
    od::cuda::PointerFacts facts;
    facts.type = static_cast<od::cuda::MemoryType>(memory);
    facts.device_ordinal = ordinal;
    facts.range_start = kData;
    facts.range_size = 16;
    od::Report report;
    od::detail::label_matches(t, facts, kData, report);
    std::vector<std::tuple<std::string, std::string, std::string, std::string>> out;
    for (const auto& v : report.violations()) out.emplace_back(v.rule, v.field, v.expected, v.got);
    return out;
}

}  // namespace

PYBIND11_MODULE(device_truth_labels, m) {
    m.def("label_lies", &label_lies, py::arg("device_type"), py::arg("device_id"), py::arg("memory"),
          py::arg("ordinal"));
}

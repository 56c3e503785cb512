/// optype_dlpack/device_truth.hpp — checks a capsule's device label against what the CUDA
/// driver says about its data pointer (cuda.hpp).
///
/// What each label claims, and the rule that catches the lie:
///   kDLCUDA         device memory (or managed memory, which the driver reports as device
///                   memory) on the GPU numbered device_id       device.not_device_memory,
///                                                               device.ordinal
///   kDLCUDAHost     page-locked host memory                     device.not_pinned
///   kDLCUDAManaged  managed memory                              device.not_managed
///   kDLCPU          memory the CPU can read: ordinary, page-locked or managed host memory,
///                   never device memory                         device.cpu_pointer_is_device
/// and, for all four, that every addressed byte lies in the one allocation that holds the
/// tensor (device.extent) and, for device memory, that every addressed byte is mapped
/// (device.unmapped): an address range reserved with CUDA's virtual memory management
/// (PyTorch's expandable segments) is reported whole by the driver, mapped or not. A kDLCUDA
/// label on managed memory must still name a GPU that exists (device.ordinal). Managed
/// memory labelled kDLCPU passes: the CPU can read it (it migrates on access), so a CPU
/// consumer is safe; the precise label is kDLCUDAManaged. Other device types cannot be
/// checked with the CUDA driver. Where the driver cannot tell, the answer is "unknown",
/// never "verified".
#pragma once

#include "check.hpp"
#include "cuda.hpp"
#include "expect.hpp"

#include <cstdint>
#include <string>

namespace optype_dlpack {

namespace detail {

inline std::string memory_at(const cuda::PointerFacts& facts, std::uintptr_t address) {
    std::string out = cuda::memory_type_name(facts.type);
    if (facts.type == cuda::MemoryType::device) out += " on GPU " + std::to_string(facts.device_ordinal);
    return out + " at " + hex(reinterpret_cast<const void*>(address));
}

inline std::string byte_range(std::uintptr_t low, std::uintptr_t high) {
    return "[" + hex(reinterpret_cast<const void*>(low)) + ", " + hex(reinterpret_cast<const void*>(high)) + ")";
}

inline std::int8_t report_unverified(Report& report, const std::string& why) {
    report.add(Rule::device_unverified, "a device verified by the CUDA driver", "unverified (" + why + ")");
    return 0;
}

inline std::int8_t report_driver_error(Report& report, const std::string& error) {
    report.add(Rule::device_driver_error, "an answer from the CUDA driver", error);
    return 0;
}

/// `base + offset` without wrapping around the address space.
inline bool offset_address(std::uintptr_t base, std::int64_t offset, std::uintptr_t* out) noexcept {
    if (offset >= 0) return !__builtin_add_overflow(base, static_cast<std::uint64_t>(offset), out);
    return !__builtin_sub_overflow(base, static_cast<std::uint64_t>(-(offset + 1)) + 1u, out);
}

/// Whether a kDLCUDA label's device_id names a GPU that exists. Records the violation (or
/// the driver's error) when it does not.
inline bool cuda_ordinal_exists(const DLTensor& t, Report& report) {
    int count = 0;
    std::string error;
    if (cuda::device_count(&count, &error) != cuda::Status::ok) {
        report_driver_error(report, error);
        return false;
    }
    if (t.device.device_id >= count) {
        report.add(Rule::device_ordinal, "the ordinal of a CUDA device (" + std::to_string(count) + " present)",
                   std::to_string(t.device.device_id));
        return false;
    }
    return true;
}

/// Empty tensors address no memory: only the label can be checked (a kDLCUDA device_id
/// must name a GPU that exists).
inline std::int8_t verify_empty_label(const DLTensor& t, Report& report) {
    if (t.device.device_type != kDLCUDA) return 1;
    return cuda_ordinal_exists(t, report) ? 1 : 0;
}

/// Records that the memory at `low` is not the `claimed` kind the tensor's label promises:
/// "page-locked host memory (the capsule says kDLCUDAHost)", got what the driver says.
inline void report_label_lie(Rule rule, cuda::MemoryType claimed, const DLTensor& t, const cuda::PointerFacts& facts,
                             std::uintptr_t low, Report& report) {
    report.add(rule,
               std::string(cuda::memory_type_name(claimed)) + " (the capsule says " +
                   device_header_name(static_cast<std::int32_t>(t.device.device_type)) + ")",
               memory_at(facts, low));
}

/// Whether the memory at `low` is the one kind that the tensor's label promises; records
/// `rule` when it is not.
inline bool memory_is(cuda::MemoryType claimed, Rule rule, const DLTensor& t, const cuda::PointerFacts& facts,
                      std::uintptr_t low, Report& report) {
    if (facts.type == claimed) return true;
    report_label_lie(rule, claimed, t, facts, low, report);
    return false;
}

/// Whether the CUDA driver can check this label: label_matches has a case for each.
constexpr bool driver_checks_label(DLDeviceType type) noexcept {
    switch (type) {
        case kDLCUDA:
        case kDLCUDAHost:
        case kDLCUDAManaged:
        case kDLCPU: return true;
        default: return false;
    }
}

/// Checks the memory kind at the lowest addressed byte against the label (one that
/// driver_checks_label accepts).
inline bool label_matches(const DLTensor& t, const cuda::PointerFacts& facts, std::uintptr_t low, Report& report) {
    using cuda::MemoryType;
    switch (t.device.device_type) {
        case kDLCUDA:
            if (facts.type != MemoryType::device && facts.type != MemoryType::managed) {
                report_label_lie(Rule::device_not_device_memory, MemoryType::device, t, facts, low, report);
                return false;
            }
            // Managed memory is reachable from every GPU, so any GPU that exists will do;
            // device memory only from its own.
            if (facts.type == MemoryType::managed) return cuda_ordinal_exists(t, report);
            if (facts.device_ordinal != t.device.device_id) {
                report.add(Rule::device_ordinal,
                           std::to_string(facts.device_ordinal) + " (the GPU that holds the data at " +
                               hex(reinterpret_cast<const void*>(low)) + ")",
                           std::to_string(t.device.device_id));
                return false;
            }
            return true;
        case kDLCUDAHost: return memory_is(MemoryType::host_pinned, Rule::device_not_pinned, t, facts, low, report);
        case kDLCUDAManaged: return memory_is(MemoryType::managed, Rule::device_not_managed, t, facts, low, report);
        default:  // kDLCPU
            if (facts.type == MemoryType::device) {
                report.add(Rule::device_cpu_pointer_is_device,
                           device_header_name(kDLCUDA) + " with device_id " + std::to_string(facts.device_ordinal) +
                               " (the data at " + hex(reinterpret_cast<const void*>(low)) +
                               " is device memory on GPU " + std::to_string(facts.device_ordinal) + ")",
                           device_header_name(kDLCPU));
                return false;
            }
            return true;
    }
}

/// Device memory: every addressed byte must be mapped, not merely reserved.
inline std::int8_t verify_mapped(const DLTensor& t, const cuda::PointerFacts& at_low, std::uintptr_t low,
                                 std::uintptr_t high, VerifyDevice mode, Report& report) {
    std::uintptr_t unmapped = 0;
    std::string why_unknown;
    const cuda::Mapped answer =
        cuda::range_mapped(reinterpret_cast<const void*>(low), high - low, &unmapped, &why_unknown, &at_low);
    if (answer == cuda::Mapped::all) return 1;
    if (answer == cuda::Mapped::unknown) {
        return mode == VerifyDevice::require ? report_unverified(report, why_unknown) : std::int8_t{-1};
    }
    std::string reservation;
    if (at_low.range_holds(low)) {
        reservation =
            " in the reserved address range " + byte_range(at_low.range_start, at_low.range_start + at_low.range_size);
    }
    report.add(Rule::device_unmapped, unmapped == low ? "data" : "shape",
               "addressed bytes " + byte_range(low, high) + " mapped to device memory",
               "byte " + hex(reinterpret_cast<const void*>(unmapped)) + " unmapped" + reservation + " (data " +
                   hex(t.data) + ")");
    return 0;
}

/// Asks the driver about the addressed bytes [data + byte_low, data + byte_high).
inline std::int8_t verify_addressed_memory(const DLTensor& t, const Geometry& geometry, VerifyDevice mode,
                                           Report& report) {
    const auto data = reinterpret_cast<std::uintptr_t>(t.data);
    std::uintptr_t low = 0, high = 0;
    if (!offset_address(data, geometry.byte_low, &low) || !offset_address(data, geometry.byte_high, &high)) {
        report.add(Rule::device_extent, "data", "addressed bytes inside one allocation",
                   "byte offsets [" + std::to_string(geometry.byte_low) + ", " + std::to_string(geometry.byte_high) +
                       ") from " + hex(t.data) + ", which wrap around the address space");
        return 0;
    }

    std::string error;
    cuda::PointerFacts at_low;
    // Only device memory under a kDLCUDA label gets as far as the mapping (verify_mapped).
    const void* lowest = reinterpret_cast<const void*>(low);
    const cuda::Status asked = t.device.device_type == kDLCUDA
                                   ? cuda::query_pointer_and_mapping(lowest, &at_low, &error)
                                   : cuda::query_pointer(lowest, &at_low, &error);
    if (asked != cuda::Status::ok) {
        return report_driver_error(report, error);
    }

    // When the lowest addressed byte is not `data` itself (a byte_offset, negative strides),
    // the bytes must still belong to the allocation that holds `data`: an offset past its
    // end may well land in a neighbouring allocation, which the driver would not flag.
    // Allocations never overlap, so when the allocation that holds `low` holds `data` too,
    // asking about `data` would only repeat that answer: the second query is left out. Not for
    // page-locked memory, whose range a driver may report in another address space.
    const bool data_in_low_allocation = at_low.type != cuda::MemoryType::host_pinned && at_low.range_holds(data);
    if (geometry.byte_low != 0 && !data_in_low_allocation) {
        cuda::PointerFacts at_data;
        if (cuda::query_pointer(t.data, &at_data, &error) != cuda::Status::ok) {
            return report_driver_error(report, error);
        }
        const bool same_allocation =
            at_data.type == at_low.type && (!at_data.range_holds(data) || at_data.range_holds(low));
        if (at_data.type != cuda::MemoryType::host_unregistered && !same_allocation) {
            report.add(
                Rule::device_extent, t.byte_offset != 0 ? "byte_offset" : "strides",
                "addressed bytes " + byte_range(low, high) + " inside the allocation " +
                    byte_range(at_data.range_start, at_data.range_start + at_data.range_size) + " that holds data (" +
                    hex(t.data) + ")",
                "bytes starting in " + memory_at(at_low, low) + " (byte_offset " + std::to_string(t.byte_offset) + ")");
            return 0;
        }
    }

    if (!label_matches(t, at_low, low, report)) return 0;

    // The allocation must hold every addressed byte. A range the driver does not report,
    // or reports in another address space (registered host memory), cannot be checked.
    if (at_low.range_holds(low) && high - at_low.range_start > at_low.range_size) {
        const std::uintptr_t end = at_low.range_start + at_low.range_size;
        report.add(Rule::device_extent, "shape",
                   "addressed bytes inside the allocation " + byte_range(at_low.range_start, end) + " that holds them",
                   "bytes " + byte_range(low, high) + ", " + std::to_string(high - end) + " of them past its end");
        return 0;
    }
    if (at_low.type == cuda::MemoryType::device) return verify_mapped(t, at_low, low, high, mode, report);
    return 1;
}

}  // namespace detail

namespace detail {

/// Asks the driver about a tensor whose label it can check (driver_checks_label), once the
/// caller decided to ask: loads the driver if it is not loaded yet.
inline std::int8_t ask_driver(const DLTensor& t, const Geometry& geometry, VerifyDevice mode, Report& report) {
    if (!cuda::driver_available()) {
        if (mode != VerifyDevice::require) return -1;
        return report_unverified(report, cuda::driver_unavailable_reason());
    }
    if (geometry.size == 0) return verify_empty_label(t, report);
    return verify_addressed_memory(t, geometry, mode, report);
}

}  // namespace detail

/// Whether verify_device() answers -1 for a tensor labelled `type` under `mode` without
/// asking anything: skip, and kDLCPU under automatic (see there).
inline bool device_left_unasked(DLDeviceType type, VerifyDevice mode) noexcept {
    return mode == VerifyDevice::skip || (type == kDLCPU && mode == VerifyDevice::automatic);
}

/// Result of asking the driver: -1 unknown (not asked, no driver, or the driver cannot tell),
/// 0 failed (each lie is in `report`), 1 verified: never 1 for a byte the driver does not
/// confirm. Call it on a tensor that passed check_structure. For callers that read the
/// struct, never the data (inspect, validate, Expect):
///   automatic: asks about a CUDA-family label (kDLCUDA, kDLCUDAHost, kDLCUDAManaged) when
///              the driver can be used, else -1. A kDLCPU label is not asked about: nothing
///              here reads the bytes, and the one question the driver could answer (is this
///              device memory?) costs a driver call on every CPU tensor once any framework
///              has loaded libcuda. A caller that reads the bytes on the host asks with
///              verify_before_host_read; one that promises the label to others asks with
///              require.
///   require:   asks about every label the driver can check, kDLCPU included; "cannot ask"
///              and "cannot tell" are the violation device.unverified, with the reason.
///   skip:      -1 without asking.
__attribute__((always_inline)) inline std::int8_t verify_device(const ManagedView& view, const Geometry& geometry,
                                                                VerifyDevice mode, Report& report) {
    if (view.tensor == nullptr || device_left_unasked(view.tensor->device.device_type, mode)) return -1;
    const DLTensor& t = *view.tensor;
    const DLDeviceType type = t.device.device_type;
    if (!detail::driver_checks_label(type)) {
        if (mode != VerifyDevice::require) return -1;
        return detail::report_unverified(
            report, "the CUDA driver cannot check " + device_header_name(static_cast<std::int32_t>(type)) + " memory");
    }
    return detail::ask_driver(t, geometry, mode, report);
}

/// For a caller about to read the tensor's bytes on the host, in place: asks the driver
/// about a label that promises memory the CPU can read (kDLCPU, kDLCUDAHost,
/// kDLCUDAManaged) whenever libcuda is loaded in the process, since device memory under such
/// a label would crash the first read. Without libcuda in the process no pointer can be CUDA
/// memory, and nothing is asked (the driver is not loaded for it). Results as verify_device
/// under automatic; an empty tensor reads nothing and is not asked about.
inline std::int8_t verify_before_host_read(const ManagedView& view, const Geometry& geometry, Report& report) {
    if (view.tensor == nullptr || geometry.size == 0) return -1;
    const DLTensor& t = *view.tensor;
    const DLDeviceType type = t.device.device_type;
    if (type != kDLCPU && type != kDLCUDAHost && type != kDLCUDAManaged) return -1;
    if (!cuda::driver_loaded_in_process()) return -1;
    return detail::ask_driver(t, geometry, VerifyDevice::automatic, report);
}

}  // namespace optype_dlpack

/// optype_dlpack/expect.hpp — declared constraints (device, dtype, ndim, shape, writability,
/// layout) checked against a tensor that passed the structural rules of check.hpp.
#pragma once

#include "check.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace optype_dlpack {

enum class LayoutRequirement : std::uint8_t { any, c, f };
/// What to ask the CUDA driver about a tensor's memory (device_truth.hpp, verify_device):
/// automatic asks about CUDA-family labels only, require about every label it can check
/// (kDLCPU included), skip about none.
enum class VerifyDevice : std::uint8_t { automatic, require, skip };

/// Wildcard extent in Constraints::shape.
inline constexpr std::int64_t kAnyExtent = -1;

/// What a caller declared about a tensor. Unset members constrain nothing.
struct Constraints {
    bool has_device_type = false;
    std::int32_t device_type = 0;
    bool has_device_id = false;
    std::int32_t device_id = 0;
    bool has_dtype = false;
    DLDataType dtype{0, 0, 0};
    std::int32_t ndim = -1;  ///< -1: any
    bool has_shape = false;
    std::vector<std::int64_t> shape;  ///< kAnyExtent for a wildcard
    std::int8_t writable = -1;        ///< -1: any, 1: must be writable, 0: must be read-only
    LayoutRequirement layout = LayoutRequirement::any;
    VerifyDevice verify = VerifyDevice::automatic;
    /// How the structural check treats values DLPack defined after 1.3 and newer ones
    /// (check_structure): findings, or with Strictness::strict violations.
    Strictness strictness = Strictness::permissive;
};

namespace detail {

inline std::string format_shape(const std::int64_t* shape, std::int32_t ndim, bool wildcards) {
    std::string out = "(";
    for (std::int32_t i = 0; i < ndim; ++i) {
        if (i != 0) out += ", ";
        out += (wildcards && shape[i] == kAnyExtent) ? std::string("None") : std::to_string(shape[i]);
    }
    if (ndim == 1) out += ",";
    return out + ")";
}

inline std::string describe_device(const Constraints& c) {
    const DeviceTypeInfo* info = find_device_type(c.device_type);
    std::string name = info != nullptr ? info->name : "device" + std::to_string(c.device_type);
    return c.has_device_id ? name + ":" + std::to_string(c.device_id) : name;
}

}  // namespace detail

/// Checks the declared constraints; records one violation per unmet constraint. Returns
/// whether every constraint is met.
inline bool check_constraints(const ManagedView& view, const Geometry& geometry, const Constraints& c, Report& report) {
    const DLTensor& t = *view.tensor;
    bool met = true;  // each report.add below records one violation
    if ((c.has_device_type && static_cast<std::int32_t>(t.device.device_type) != c.device_type) ||
        (c.has_device_id && t.device.device_id != c.device_id)) {
        met = false;
        report.add(Rule::expect_device, detail::describe_device(c),
                   format_device(static_cast<std::int32_t>(t.device.device_type), t.device.device_id));
    }
    if (c.has_dtype &&
        (t.dtype.code != c.dtype.code || t.dtype.bits != c.dtype.bits || t.dtype.lanes != c.dtype.lanes)) {
        met = false;
        report.add(Rule::expect_dtype, format_dtype(c.dtype.code, c.dtype.bits, c.dtype.lanes),
                   format_dtype(t.dtype.code, t.dtype.bits, t.dtype.lanes));
    }
    if (c.has_shape) {
        bool match = static_cast<std::size_t>(t.ndim) == c.shape.size();
        for (std::size_t i = 0; match && i < c.shape.size(); ++i) {
            match = c.shape[i] == kAnyExtent || c.shape[i] == t.shape[i];
        }
        if (!match) {
            met = false;
            report.add(Rule::expect_shape,
                       detail::format_shape(c.shape.data(), static_cast<std::int32_t>(c.shape.size()), true),
                       detail::format_shape(t.shape, t.ndim, false));
        }
    }
    if (c.ndim >= 0 && t.ndim != c.ndim) {
        met = false;
        report.add(Rule::expect_ndim, std::to_string(c.ndim), std::to_string(t.ndim));
    }
    if (c.writable == 1 && (!view.versioned || (view.flags & kFlagReadOnly) != 0)) {
        met = false;
        report.add(Rule::expect_writable, "a writable tensor",
                   view.versioned ? "READ_ONLY set" : "a legacy capsule, which cannot say whether it may be written");
    } else if (c.writable == 0 && (!view.versioned || (view.flags & kFlagReadOnly) == 0)) {
        met = false;
        report.add(Rule::expect_writable, "a read-only tensor",
                   view.versioned ? "READ_ONLY not set" : "a legacy capsule, which cannot say whether it is read-only");
    }
    if (c.layout == LayoutRequirement::c && !geometry.c_contiguous) {
        met = false;
        report.add(Rule::expect_layout, "C-contiguous",
                   std::string(geometry.f_contiguous ? "F-contiguous" : "non-contiguous") + " strides");
    } else if (c.layout == LayoutRequirement::f && !geometry.f_contiguous) {
        met = false;
        report.add(Rule::expect_layout, "F-contiguous",
                   std::string(geometry.c_contiguous ? "C-contiguous" : "non-contiguous") + " strides");
    }
    return met;
}

}  // namespace optype_dlpack

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

namespace detail {

// Each declared constraint, as one test: check_constraints reports what these find unmet, and
// constraints_met asks them all.

inline bool device_met(const DLTensor& t, const Constraints& c) noexcept {
    return (!c.has_device_type || static_cast<std::int32_t>(t.device.device_type) == c.device_type) &&
           (!c.has_device_id || t.device.device_id == c.device_id);
}

inline bool dtype_met(const DLTensor& t, const Constraints& c) noexcept {
    return !c.has_dtype ||
           (t.dtype.code == c.dtype.code && t.dtype.bits == c.dtype.bits && t.dtype.lanes == c.dtype.lanes);
}

inline bool shape_met(const DLTensor& t, const Constraints& c) noexcept {
    if (!c.has_shape) return true;
    if (static_cast<std::size_t>(t.ndim) != c.shape.size()) return false;
    for (std::size_t i = 0; i < c.shape.size(); ++i) {
        if (c.shape[i] != kAnyExtent && c.shape[i] != t.shape[i]) return false;
    }
    return true;
}

inline bool ndim_met(const DLTensor& t, const Constraints& c) noexcept { return c.ndim < 0 || t.ndim == c.ndim; }

/// Whether the tensor says it may be written (READ_ONLY unset in a versioned capsule); a legacy
/// capsule says neither.
inline bool writable_met(const ManagedView& view, const Constraints& c) noexcept {
    if (c.writable < 0) return true;
    if (!view.versioned) return false;
    return ((view.flags & kFlagReadOnly) == 0) == (c.writable == 1);
}

inline bool layout_met(const Geometry& geometry, const Constraints& c) noexcept {
    return (c.layout != LayoutRequirement::c || geometry.c_contiguous) &&
           (c.layout != LayoutRequirement::f || geometry.f_contiguous);
}

}  // namespace detail

/// Whether `c` pins the device type and the dtype to values that plain_1_3_values accepts (a
/// DLPack 1.3 device type and dtype, at least one lane). For such constraints a tensor meets
/// the device and dtype constraints and has plain values exactly when pinned_values_met says so.
inline bool pins_plain_values(const Constraints& c) noexcept {
    // outside [0, 64) no device type is plain (and the cast below would leave DLDeviceType's range)
    if (!c.has_device_type || !c.has_dtype || c.device_type < 0 || c.device_type >= 64) return false;
    DLTensor pinned{};
    pinned.device = {static_cast<DLDeviceType>(c.device_type), 0};
    pinned.dtype = c.dtype;
    return detail::plain_1_3_values(pinned);
}

/// For constraints that pins_plain_values: device_met && dtype_met && plain_1_3_values, in one
/// test. The device type and dtype equal the pinned ones, which are plain; what plain values
/// ask of the device id remains: not negative, and 0 on the CPU.
__attribute__((always_inline)) inline bool pinned_values_met(const DLTensor& t, const Constraints& c) noexcept {
    return static_cast<std::int32_t>(t.device.device_type) == c.device_type && t.device.device_id >= 0 &&
           (t.device.device_type != kDLCPU || t.device.device_id == 0) &&
           (!c.has_device_id || t.device.device_id == c.device_id) && t.dtype.code == c.dtype.code &&
           t.dtype.bits == c.dtype.bits && t.dtype.lanes == c.dtype.lanes;
}

/// Whether every declared constraint is met (check_constraints says which are not).
/// `kPinnedChecked`: pinned_values_met already said yes, so device and dtype are not asked again.
template <bool kPinnedChecked = false>
__attribute__((always_inline)) inline bool constraints_met(const ManagedView& view, const Geometry& geometry,
                                                           const Constraints& c) noexcept {
    const DLTensor& t = *view.tensor;
    return (kPinnedChecked || (detail::device_met(t, c) && detail::dtype_met(t, c))) && detail::shape_met(t, c) &&
           detail::ndim_met(t, c) && detail::writable_met(view, c) && detail::layout_met(geometry, c);
}

/// Checks the declared constraints; records one violation per unmet constraint. Returns
/// whether every constraint is met.
inline bool check_constraints(const ManagedView& view, const Geometry& geometry, const Constraints& c, Report& report) {
    const DLTensor& t = *view.tensor;
    bool met = true;  // each report.add below records one violation
    if (!detail::device_met(t, c)) {
        met = false;
        report.add(Rule::expect_device, detail::describe_device(c),
                   format_device(static_cast<std::int32_t>(t.device.device_type), t.device.device_id));
    }
    if (!detail::dtype_met(t, c)) {
        met = false;
        report.add(Rule::expect_dtype, format_dtype(c.dtype.code, c.dtype.bits, c.dtype.lanes),
                   format_dtype(t.dtype.code, t.dtype.bits, t.dtype.lanes));
    }
    if (!detail::shape_met(t, c)) {
        met = false;
        report.add(Rule::expect_shape,
                   detail::format_shape(c.shape.data(), static_cast<std::int32_t>(c.shape.size()), true),
                   detail::format_shape(t.shape, t.ndim, false));
    }
    if (!detail::ndim_met(t, c)) {
        met = false;
        report.add(Rule::expect_ndim, std::to_string(c.ndim), std::to_string(t.ndim));
    }
    if (!detail::writable_met(view, c)) {
        met = false;
        if (c.writable == 1) {
            report.add(
                Rule::expect_writable, "a writable tensor",
                view.versioned ? "READ_ONLY set" : "a legacy capsule, which cannot say whether it may be written");
        } else {
            report.add(
                Rule::expect_writable, "a read-only tensor",
                view.versioned ? "READ_ONLY not set" : "a legacy capsule, which cannot say whether it is read-only");
        }
    }
    if (!detail::layout_met(geometry, c)) {
        met = false;
        const bool wants_c = c.layout == LayoutRequirement::c;
        const bool other = wants_c ? geometry.f_contiguous : geometry.c_contiguous;
        report.add(Rule::expect_layout, wants_c ? "C-contiguous" : "F-contiguous",
                   std::string(other ? (wants_c ? "F-contiguous" : "C-contiguous") : "non-contiguous") + " strides");
    }
    return met;
}

}  // namespace optype_dlpack

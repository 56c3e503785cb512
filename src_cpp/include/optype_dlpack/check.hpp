/// optype_dlpack/check.hpp — the DLPack 1.3 rule set, applied to a borrowed managed tensor.
///
/// Each rule has a stable id (e.g. shape.null, strides.null_since_1_2, dtype.bits), listed with
/// what it checks in the registry of rules.hpp.
/// The checks allocate nothing while a tensor is valid: a Report only grows on failure.
/// The spec these rules come from is dlpack.h v1.3 and the DLPack Python specification.
#pragma once

#include "dlpack.hpp"
#include "rules.hpp"
#include "tables.hpp"

#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace optype_dlpack {

/// One broken rule or unmet constraint: `field: expected …, got … [rule]`.
struct Violation {
    const char* rule;   ///< stable id, e.g. shape.negative (rule_id(Rule::shape_negative))
    const char* field;  ///< the field of the tensor at fault, e.g. "shape"
    std::string expected;
    std::string got;
};

/// What kind of failure a report holds, which selects the exception raised for it.
enum class FailureKind : std::uint8_t { none, invalid, version, consumed };

/// Violations found so far. Empty (and allocation-free) while everything holds.
///
/// Besides violations, a report holds findings: what the rules permit but a consumer should
/// hear about (a value DLPack defined after 1.3, or one newer than this package knows). A
/// finding never makes a report fail; with Strictness::strict it is recorded as a violation.
///
/// Every call makes a report and nearly every report stays empty: its lists are allocated on
/// the first violation or finding, so that an empty report is one pointer, made and dropped
/// without touching a list.
class Report {
public:
    Report() noexcept = default;
    Report(const Report& other) : lists_(other.lists_ ? std::make_unique<Lists>(*other.lists_) : nullptr) {}
    Report(Report&&) noexcept = default;
    Report& operator=(const Report& other) {
        if (this != &other) lists_ = other.lists_ ? std::make_unique<Lists>(*other.lists_) : nullptr;
        return *this;
    }
    Report& operator=(Report&&) noexcept = default;
    ~Report() = default;

    bool ok() const noexcept { return !lists_ || lists_->items.empty(); }
    FailureKind kind() const noexcept { return ok() ? FailureKind::none : lists_->kind; }
    const std::vector<Violation>& violations() const noexcept { return lists_ ? lists_->items : no_violations(); }
    const std::vector<Violation>& findings() const noexcept { return lists_ ? lists_->findings : no_violations(); }

    /// Records a finding: it leaves ok() true.
    void note(Violation finding) { lists().findings.push_back(std::move(finding)); }

    /// Records a violation of `rule`, naming the field the registry gives it.
    void add(Rule rule, std::string expected, std::string got, FailureKind kind = FailureKind::invalid) {
        add(rule_info(rule).id, rule_info(rule).field, std::move(expected), std::move(got), kind);
    }

    /// Records a violation of `rule` at `field`: for the rules that name whichever field is
    /// at fault (their registry field reads "strides or shape").
    void add(Rule rule, const char* field, std::string expected, std::string got,
             FailureKind kind = FailureKind::invalid) {
        add(rule_info(rule).id, field, std::move(expected), std::move(got), kind);
    }

    /// Records a violation under any id: for rules of the caller's own (an extension's), which
    /// the registry of rules.hpp does not list.
    void add(const char* rule, const char* field, std::string expected, std::string got,
             FailureKind kind = FailureKind::invalid) {
        Lists& l = lists();
        if (l.items.empty() || kind > l.kind) l.kind = kind;
        l.items.push_back(Violation{rule, field, std::move(expected), std::move(got)});
    }

private:
    struct Lists {
        std::vector<Violation> items;
        std::vector<Violation> findings;
        FailureKind kind = FailureKind::invalid;
    };

    Lists& lists() {
        if (!lists_) lists_ = std::make_unique<Lists>();
        return *lists_;
    }

    /// What violations() and findings() return before anything was recorded.
    static const std::vector<Violation>& no_violations() noexcept {
        static const std::vector<Violation> none;
        return none;
    }

    std::unique_ptr<Lists> lists_;
};

/// How the values that DLPack defined after 1.3, and those newer than this package knows, are
/// treated: as findings (permissive, the default), or as violations (strict).
enum class Strictness : std::uint8_t { permissive, strict };

/// A managed tensor as found in a capsule (or received through the C exchange API).
/// Borrowed: whoever produced it keeps it alive while it is checked.
struct ManagedView {
    const DLTensor* tensor = nullptr;
    bool versioned = false;
    DLPackVersion version{0, 0};  ///< {0, 0} for legacy capsules
    std::uint64_t flags = 0;      ///< always 0 for legacy capsules
};

/// Facts derived from a tensor that passed the structural rules.
struct Geometry {
    bool readable = false;           ///< shape and strides were read (the rest is filled in)
    std::int64_t size = 0;           ///< number of elements
    std::int64_t min_offset = 0;     ///< lowest element offset reached, relative to element 0
    std::int64_t max_offset = 0;     ///< highest element offset reached
    std::uint64_t nbytes = 0;        ///< bytes the elements occupy if stored compactly
    std::uint32_t element_bits = 0;  ///< bits * lanes
    bool strides_implied = false;    ///< NULL strides: compact row-major
    bool c_contiguous = false;
    bool f_contiguous = false;

    /// Byte range [low, high) addressed relative to `data`, byte_offset included.
    /// Empty tensors address nothing (low == high == byte_offset).
    std::int64_t byte_low = 0;
    std::int64_t byte_high = 0;
};

namespace detail {

inline std::string to_str(std::int64_t v) { return std::to_string(v); }

inline bool mul_overflows(std::int64_t a, std::int64_t b, std::int64_t* out) noexcept {
    return __builtin_mul_overflow(a, b, out);
}
inline bool add_overflows(std::int64_t a, std::int64_t b, std::int64_t* out) noexcept {
    return __builtin_add_overflow(a, b, out);
}
inline bool sub_overflows(std::int64_t a, std::int64_t b, std::int64_t* out) noexcept {
    return __builtin_sub_overflow(a, b, out);
}

/// Bytes spanned by `count` consecutive elements of `element_bits` each (sub-byte types are
/// packed unless the producer says they are padded).
inline bool span_bytes(std::int64_t count, std::uint32_t element_bits, bool padded, std::int64_t* out) noexcept {
    if (element_bits >= 8 || padded) {
        std::int64_t per = static_cast<std::int64_t>((element_bits + 7) / 8);
        return !mul_overflows(count, per, out);
    }
    std::int64_t bits = 0;
    if (mul_overflows(count, static_cast<std::int64_t>(element_bits), &bits)) return false;
    *out = bits / 8 + (bits % 8 != 0 ? 1 : 0);  // rounded up without overflowing
    return true;
}

inline std::string hex(const void* p) {
    char buf[2 + 16 + 1];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(reinterpret_cast<std::uintptr_t>(p)));
    return buf;
}

}  // namespace detail

/// Nothing is ever mapped in the first page of an address space: a pointer below it is a
/// small integer that landed in a pointer's place, never an array.
inline constexpr std::uintptr_t kFirstMappableAddress = 4096;

/// Whether `p` may be followed as an int64 array: past the first page and aligned for
/// int64_t (reading through a misaligned int64_t* is undefined behaviour). Only the address
/// is judged: a pointer that passes may still be wrong, one that fails is never followed.
inline bool plausible_int64_array(const std::int64_t* p) noexcept {
    const auto address = reinterpret_cast<std::uintptr_t>(p);
    return address >= kFirstMappableAddress && address % alignof(std::int64_t) == 0;
}

/// The largest component a DLPackVersion word is believed to hold. DLPack counts its minor
/// versions one by one; a larger number is another field read as a version.
inline constexpr std::uint32_t kMaxPlausibleVersionComponent = 255;

/// The shape of a legacy managed tensor read by mistake from a versioned struct: its data
/// word then holds a DLPackVersion {1, minor}. Real data pointers can look like that too (an
/// empty byte tensor at address 0x1, a buffer at 0x20_0000_0001): on its own, this proves
/// nothing, and no rule rejects a tensor for it.
inline bool looks_like_version_word(const void* data) noexcept {
    auto word = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(data));
    return (word & 0xffffffffu) == 1u && (word >> 32) <= kMaxPlausibleVersionComponent;
}

namespace detail {

/// A DLManagedTensorVersioned read through the legacy name: besides the version word in
/// `data`, its deleter lies where ndim and dtype should be (the top 16 bits of a user-space
/// address, read as lanes, are 0) and its flags where shape should be (never an array
/// address). Each of those breaks a structural rule by itself, so this only names the cause
/// of a tensor that is malformed anyway, and reads nothing but the struct's own fields.
inline bool reads_as_misnamed_versioned(const DLTensor& t) noexcept {
    if (!looks_like_version_word(t.data)) return false;
    if (t.ndim < 0 || t.ndim > kMaxNdim || t.dtype.lanes == 0) return true;
    return t.ndim > 0 &&
           (!plausible_int64_array(t.shape) || (t.strides != nullptr && !plausible_int64_array(t.strides)));
}

/// Whether a version word read from a versioned capsule is something other than a version:
/// a legacy struct's data pointer, read through the versioned name.
inline bool implausible_version(const DLPackVersion& version) noexcept {
    return version.major > kMaxPlausibleVersionComponent || version.minor > kMaxPlausibleVersionComponent;
}

/// Whether a versioned capsule's flags word holds an address rather than flag bits: bits
/// DLPack does not define are set, and the value is an aligned user-space address. That is
/// a legacy struct's shape pointer, read through the versioned name; such flags are invalid
/// anyway (flags.unknown), and the tensor that would follow lies past the legacy struct.
inline bool flags_hold_an_address(std::uint64_t flags) noexcept {
    constexpr std::uint64_t kUserSpaceEnd = std::uint64_t{1} << 56;  // no user-space address reaches it
    return (flags & ~kKnownFlags) != 0 && flags >= kFirstMappableAddress && flags % alignof(std::int64_t) == 0 &&
           flags < kUserSpaceEnd;
}

inline std::string version_text(const DLPackVersion& version) {
    return std::to_string(version.major) + "." + std::to_string(version.minor);
}

/// The rules of a versioned capsule's header (version and flags). Returns false when
/// nothing past `flags` may be read: another major version, or no versioned struct at all.
inline bool check_versioned_header(const ManagedView& view, Report& report) {
    if (implausible_version(view.version)) {
        // A legacy struct under the versioned name: its dl_tensor would lie past its end.
        report.add(Rule::capsule_layout, "a DLManagedTensorVersioned under the name 'dltensor_versioned'",
                   "a version word of " + version_text(view.version) +
                       " (a legacy DLManagedTensor under the versioned name?)");
        return false;
    }
    if (view.version.major != DLPACK_MAJOR_VERSION) {
        report.add(Rule::version_major, "major version " + std::to_string(DLPACK_MAJOR_VERSION),
                   version_text(view.version), FailureKind::version);
        return false;  // a different major may lay out dl_tensor differently
    }
    if (flags_hold_an_address(view.flags)) {
        report.add(Rule::capsule_layout, "a DLManagedTensorVersioned under the name 'dltensor_versioned'",
                   "flags " + hex(reinterpret_cast<const void*>(static_cast<std::uintptr_t>(view.flags))) +
                       " that read as an address (a legacy DLManagedTensor under the versioned name, its "
                       "shape pointer where flags should be?)");
        return false;
    }
    if ((view.flags & ~kKnownFlags) != 0) {
        char bits[2 + 16 + 1];
        std::snprintf(bits, sizeof bits, "0x%llx", static_cast<unsigned long long>(view.flags));
        report.add(Rule::flags_unknown, "only bits 0-2 (READ_ONLY, IS_COPIED, IS_SUBBYTE_TYPE_PADDED)", bits);
    }
    return true;
}

/// The address rules of shape and strides, which decide whether they may be read.
inline bool check_array_addresses(const DLTensor& t, Report& report) {
    bool ok = true;
    if (!plausible_int64_array(t.shape)) {
        report.add(Rule::shape_address,
                   "the address of " + to_str(t.ndim) + " int64 extents (past the first page, 8-byte aligned)",
                   hex(t.shape));
        ok = false;
    }
    if (t.strides != nullptr && !plausible_int64_array(t.strides)) {
        report.add(Rule::strides_address,
                   "the address of " + to_str(t.ndim) + " int64 strides (past the first page, 8-byte aligned)",
                   hex(t.strides));
        ok = false;
    }
    return ok;
}

/// Whether a value newer than this package knows may stand in `view`: only in a versioned
/// capsule of the current major version whose minor is that of DLPack's values after 1.3 or
/// later (a producer built against an older header cannot name such a value; a legacy
/// capsule says nothing of its version).
inline bool newer_values_permitted(const ManagedView& view) noexcept {
    return view.versioned && view.version.major == DLPACK_MAJOR_VERSION && view.version.minor >= kMinorOfNewerValues;
}

/// " in a version 1.2 capsule", " in a legacy capsule": what a value came in.
inline std::string capsule_text(const ManagedView& view) {
    return view.versioned ? " in a version " + version_text(view.version) + " capsule" : " in a legacy capsule";
}

inline std::string after_1_3_text(const char* header_name, std::int32_t code, std::uint16_t pull_request) {
    return std::string(header_name) + " = " + std::to_string(code) + ", which DLPack defined after 1.3 (dlpack#" +
           std::to_string(pull_request) + ")";
}

inline std::string newer_text(const char* what, std::int32_t code, const ManagedView& view) {
    return std::string(what) + " " + std::to_string(code) + ", newer than this package knows (permitted in a version " +
           version_text(view.version) + " capsule)";
}

/// What a finding about one field says: its rules, and the names of its values.
struct FindingKind {
    Rule after_1_3;          ///< the rule of a value DLPack defined after 1.3
    Rule newer;              ///< the rule of a value newer than this package knows
    const char* enum_name;   ///< "DLDeviceType"
    const char* value_name;  ///< "device type"
};

/// The finding about one field whose value is `code`, found as `info` in `table` (nullptr:
/// not in it), if it is a value of DLPack after 1.3 or, where permitted, a newer one.
template <class Info, std::size_t N>
bool value_finding(const ManagedView& view, std::int32_t code, const Info* info, bool newer, const Info (&table)[N],
                   const FindingKind& kind, Violation& out) {
    const auto record = [&](Rule rule, std::string expected, std::string got) {
        out = Violation{rule_info(rule).id, rule_info(rule).field, std::move(expected), std::move(got)};
        return true;
    };
    if (info != nullptr && info->added_after_1_3_by != 0) {
        return record(kind.after_1_3,
                      std::string("a ") + kind.enum_name + " of dlpack.h v1.3, which every consumer of 1.3 knows",
                      after_1_3_text(info->header_name, code, info->added_after_1_3_by));
    }
    if (info == nullptr && newer && newer_values_permitted(view)) {
        return record(kind.newer,
                      std::string("a ") + kind.enum_name + " this package knows (" + code_ranges(table) + ")",
                      newer_text(kind.value_name, code, view));
    }
    return false;
}

}  // namespace detail

/// The findings about `view`'s values that DLPack defined after 1.3 or that are newer than
/// this package knows (rules device.type_after_1_3, device.type_newer, dtype.code_after_1_3,
/// dtype.code_newer), device first. Empty, and allocation-free, for a tensor of DLPack 1.3
/// values. Reads only the device and dtype of a non-NULL tensor whose header was checked.
inline std::vector<Violation> newer_value_findings(const ManagedView& view) {
    std::vector<Violation> out;
    static constexpr detail::FindingKind kDevice{Rule::device_type_after_1_3, Rule::device_type_newer, "DLDeviceType",
                                                 "device type"};
    static constexpr detail::FindingKind kDType{Rule::dtype_code_after_1_3, Rule::dtype_code_newer, "DLDataTypeCode",
                                                "code"};
    const auto device_type = static_cast<std::int32_t>(view.tensor->device.device_type);
    const std::uint8_t code = view.tensor->dtype.code;
    Violation finding{};
    if (detail::value_finding(view, device_type, find_device_type(device_type), newer_device_type(device_type),
                              kDeviceTypes, kDevice, finding)) {
        out.push_back(std::move(finding));
    }
    if (detail::value_finding(view, code, find_dtype_code(code), newer_dtype_code(code), kDTypeCodes, kDType,
                              finding)) {
        out.push_back(std::move(finding));
    }
    return out;
}

namespace detail {

/// The device types and dtypes of DLPack 1.3, as sets of bits to test in one step: what
/// plain_1_3_values asks of the tables (find_device_type, find_dtype_code, dtype_bits_valid),
/// computed from them at compile time. Every such device type is below 64, and every such
/// dtype code below kPlainCodeLimit (static_asserts below), so the sets hold them all.
inline constexpr std::uint32_t kPlainCodeLimit = 32;

struct PlainValueSets {
    std::uint64_t device_types = 0;                     ///< bit d: device type d is of DLPack 1.3
    std::uint64_t dtype_bits[kPlainCodeLimit][4] = {};  ///< [code] bit b: code with b bits is of DLPack 1.3
};

constexpr PlainValueSets make_plain_value_sets() noexcept {
    // Walks the tables themselves (codes are unique in each): GCC does not evaluate the
    // comparison of a pointer into a table with nullptr at compile time under -fsanitize.
    PlainValueSets sets{};
    for (const DeviceTypeInfo& info : kDeviceTypes) {
        if (info.added_after_1_3_by == 0 && info.code >= 0 && info.code < 64) {
            sets.device_types |= std::uint64_t{1} << static_cast<std::uint32_t>(info.code);
        }
    }
    for (const DTypeCodeInfo& info : kDTypeCodes) {
        if (info.added_after_1_3_by != 0 || info.code >= kPlainCodeLimit) continue;
        for (std::uint32_t bits = 0; bits < 256; ++bits) {
            if (dtype_bits_valid(info, static_cast<std::uint8_t>(bits))) {
                sets.dtype_bits[info.code][bits / 64] |= std::uint64_t{1} << (bits % 64);
            }
        }
    }
    return sets;
}

inline constexpr PlainValueSets kPlainValueSets = make_plain_value_sets();

constexpr bool plain_values_fit_the_sets() noexcept {
    for (const DeviceTypeInfo& info : kDeviceTypes) {
        if (info.added_after_1_3_by == 0 && (info.code < 0 || info.code >= 64)) return false;
    }
    for (const DTypeCodeInfo& info : kDTypeCodes) {
        if (info.added_after_1_3_by == 0 && info.code >= kPlainCodeLimit) return false;
    }
    return true;
}
static_assert(plain_values_fit_the_sets(), "a device type or dtype code of DLPack 1.3 lies outside kPlainValueSets");

/// Whether `t`'s device and dtype are values of DLPack 1.3 that every rule accepts: a known
/// device type with a valid id, a known dtype code with a valid width, at least one lane.
inline bool plain_1_3_values(const DLTensor& t) noexcept {
    const auto device_type = static_cast<std::uint32_t>(t.device.device_type);  // a negative one is above 63
    const std::uint32_t code = t.dtype.code, bits = t.dtype.bits;
    return device_type < 64 && ((kPlainValueSets.device_types >> device_type) & 1) != 0 && t.device.device_id >= 0 &&
           (t.device.device_type != kDLCPU || t.device.device_id == 0) && code < kPlainCodeLimit &&
           ((kPlainValueSets.dtype_bits[code][bits / 64] >> (bits % 64)) & 1) != 0 && t.dtype.lanes != 0;
}

/// The header of the common case: a versioned capsule of this major version with only known
/// flag bits, or a legacy one whose data word does not read as a version word.
inline bool plain_header(const ManagedView& view) noexcept {
    if (!view.versioned) return !looks_like_version_word(view.tensor->data);
    return view.version.major == DLPACK_MAJOR_VERSION && !implausible_version(view.version) &&
           (view.flags & ~kKnownFlags) == 0;
}

/// The structural rules of check_structure for the common case, in one pass over shape and
/// strides: a plain header and plain values (above), ndim in range, plausible shape and
/// non-NULL strides, every extent positive, and every count, offset and byte extent within
/// int64 (each computed with the same overflow checks). Returns true, with `geometry` filled
/// as check_structure fills it, only when check_structure would find nothing at all; false
/// when anything is unusual, which check_structure then diagnoses rule by rule. It records
/// nothing. `kValuesConfirmed`: the caller has already confirmed plain_1_3_values(*view.tensor)
/// (expect.hpp's pinned_values_met does, in one test with the declared device and dtype).
template <bool kValuesConfirmed = false>
__attribute__((always_inline)) inline bool structure_fast_path(const ManagedView& view, Geometry& geometry) noexcept {
    if (view.tensor == nullptr || !plain_header(view)) return false;
    const DLTensor& t = *view.tensor;
    if ((!kValuesConfirmed && !plain_1_3_values(t)) || t.ndim < 0 || t.ndim > kMaxNdim || t.data == nullptr) {
        return false;
    }
    if (t.ndim > 0 && (!plausible_int64_array(t.shape) || t.strides == nullptr || !plausible_int64_array(t.strides))) {
        return false;
    }
    // Size, offsets reached (relative to element 0) and C-contiguity, from the innermost axis;
    // extents of 1 take any stride (numpy and torch disagree on what to write there).
    std::int64_t size = 1, min_off = 0, max_off = 0;
    bool c_contig = true;
    std::int32_t above_one = 0;  // extents other than 1
    for (std::int32_t i = t.ndim - 1; i >= 0; --i) {
        const std::int64_t extent = t.shape[i], stride = t.strides[i];
        if (extent <= 0) return false;  // empty or negative: diagnosed on the slow path
        above_one += extent != 1;
        if (extent != 1 && stride != size) c_contig = false;
        std::int64_t reach = 0;
        if (mul_overflows(size, extent, &size) || mul_overflows(extent - 1, stride, &reach) ||
            (reach < 0 ? add_overflows(min_off, reach, &min_off) : add_overflows(max_off, reach, &max_off))) {
            return false;
        }
    }
    // A C-contiguous tensor is F-contiguous too exactly when at most one extent is not 1: with
    // two, the innermost has stride 1 in C order but at least the outer one's extent in F order.
    bool f_contig = c_contig && above_one <= 1;
    if (!c_contig) {
        f_contig = true;
        std::int64_t expected = 1;  // cannot overflow: bounded by size
        for (std::int32_t i = 0; i < t.ndim; ++i) {
            if (t.shape[i] != 1 && t.strides[i] != expected) f_contig = false;
            expected *= t.shape[i];
        }
    }
    if (t.byte_offset > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return false;
    const auto offset = static_cast<std::int64_t>(t.byte_offset);
    const std::uint32_t element_bits = static_cast<std::uint32_t>(t.dtype.bits) * t.dtype.lanes;
    const bool padded = (view.flags & kFlagSubbytePadded) != 0;
    if (element_bits == 0 || (padded && element_bits >= 8)) return false;
    // The byte range addressed, as check_structure computes it (see there); for whole-byte
    // elements, span_bytes is one multiplication by the element's bytes.
    std::int64_t nbytes = 0, lowest = 0, below = 0, end = 0, above = 0, low = 0, high = 0;
    if (sub_overflows(0, min_off, &lowest) || add_overflows(max_off, 1, &end)) return false;
    if (element_bits % 8 == 0) {
        const auto per = static_cast<std::int64_t>(element_bits / 8);
        if (mul_overflows(size, per, &nbytes) || mul_overflows(lowest, per, &below) ||
            mul_overflows(end, per, &above)) {
            return false;
        }
    } else if (!span_bytes(size, element_bits, padded, &nbytes) || !span_bytes(lowest, element_bits, padded, &below) ||
               !span_bytes(end, element_bits, padded, &above)) {
        return false;
    }
    if (add_overflows(offset, -below, &low) || add_overflows(offset, above, &high)) return false;
    const auto base = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(t.data));
    if ((low < 0 && base < static_cast<std::uint64_t>(-low)) ||
        (high > 0 && static_cast<std::uint64_t>(high) - 1 > UINTPTR_MAX - base)) {
        return false;
    }
    geometry.readable = true;
    geometry.size = size;
    geometry.min_offset = min_off;
    geometry.max_offset = max_off;
    geometry.nbytes = static_cast<std::uint64_t>(nbytes);
    geometry.element_bits = element_bits;
    geometry.strides_implied = false;
    geometry.c_contiguous = c_contig;
    geometry.f_contiguous = f_contig;
    geometry.byte_low = low;
    geometry.byte_high = high;
    return true;
}

}  // namespace detail

/// Applies every structural rule of DLPack 1.3. Returns true when the tensor is valid;
/// otherwise records each violation in `report`. Reads nothing past `flags` of a versioned
/// tensor whose major version is not 1 or whose header is no versioned header at all (a
/// legacy struct under the versioned name is 16 bytes shorter than the tensor would need),
/// and never dereferences shape or strides before ndim is in range and their addresses are
/// plausible. Rules that can still be checked after one fails are checked too, so a report
/// lists every broken rule that can be known.
///
/// `geometry` (optional) is filled whenever shape and strides could be read, even if some
/// other rule failed: `geometry->readable` says so, and the declared constraints of
/// expect.hpp may then be checked as well.
///
/// Values DLPack defined after 1.3, and in a versioned capsule of 1.3 or later values newer
/// than this package knows, are findings (Report::findings) under Strictness::permissive and
/// violations under Strictness::strict (newer_value_findings).
inline bool check_structure(const ManagedView& view, Report& report, Geometry* geometry,
                            Strictness strictness = Strictness::permissive) {
    using detail::to_str;
    if (report.ok()) {  // the common case first; anything unusual is diagnosed below
        Geometry scratch;
        if (detail::structure_fast_path(view, geometry != nullptr ? *geometry : scratch)) return true;
    }
    const std::size_t violations_before = report.violations().size();
    if (geometry != nullptr) *geometry = Geometry{};
    if (view.tensor == nullptr) {
        report.add(Rule::managed_null, "a DLManagedTensor pointer", "NULL");
        return false;
    }
    if (view.versioned) {
        if (!detail::check_versioned_header(view, report)) return false;
    } else if (detail::reads_as_misnamed_versioned(*view.tensor)) {
        report.add(Rule::capsule_layout, "a legacy DLManagedTensor under the name 'dltensor'",
                   "what looks like a DLManagedTensorVersioned (its first word reads as version 1." +
                       std::to_string(reinterpret_cast<std::uintptr_t>(view.tensor->data) >> 32) +
                       ", and the fields after it break the rules of a DLTensor)");
        return false;
    }

    const DLTensor& t = *view.tensor;
    bool ok = report.ok();

    // device and dtype code: a known value, or a newer one where permitted (a finding)
    const bool newer_permitted = detail::newer_values_permitted(view);
    const auto device_type = static_cast<std::int32_t>(t.device.device_type);
    if (find_device_type(device_type) == nullptr && !(newer_permitted && newer_device_type(device_type))) {
        report.add(Rule::device_type,
                   "a DLDeviceType this package knows (" + code_ranges(kDeviceTypes) + "), or one above them up to " +
                       to_str(kMaxPlausibleCode) + " in a versioned capsule of version 1." +
                       to_str(kMinorOfNewerValues) + " or later",
                   "device type " + to_str(device_type) + detail::capsule_text(view));
        ok = false;
    }
    if (t.device.device_id < 0) {
        report.add(Rule::device_id, "a device id >= 0", to_str(t.device.device_id));
        ok = false;
    } else if (t.device.device_type == kDLCPU && t.device.device_id != 0) {
        report.add(Rule::device_cpu_id, "0 for kDLCPU", to_str(t.device.device_id));
        ok = false;
    }

    // dtype
    const DTypeCodeInfo* code = find_dtype_code(t.dtype.code);
    if (code == nullptr && newer_permitted && newer_dtype_code(t.dtype.code)) {
        if (t.dtype.bits == 0) {  // the width of a code this package does not know is the producer's word
            report.add(Rule::dtype_bits, "at least 1 bit for code " + to_str(t.dtype.code), "0");
            ok = false;
        }
    } else if (code == nullptr) {
        report.add(Rule::dtype_code,
                   "a DLDataTypeCode this package knows (" + code_ranges(kDTypeCodes) +
                       "), or one above them in a versioned capsule of version 1." + to_str(kMinorOfNewerValues) +
                       " or later",
                   "code " + to_str(t.dtype.code) + detail::capsule_text(view));
        ok = false;
    } else if (!dtype_bits_valid(*code, t.dtype.bits)) {
        report.add(Rule::dtype_bits, valid_bits_text(*code) + " bits for " + code->header_name, to_str(t.dtype.bits));
        ok = false;
    }
    if (t.dtype.lanes == 0) {
        report.add(Rule::dtype_lanes, "lanes >= 1", "0");
        ok = false;
    }
    // values after 1.3 and newer ones: findings, or violations when strict (not looked for
    // when both values are of DLPack 1.3, as nearly all are: newer_value_findings builds a
    // Violation to find that out)
    const DeviceTypeInfo* device_info = find_device_type(device_type);
    const bool values_of_1_3 = device_info != nullptr && device_info->added_after_1_3_by == 0 && code != nullptr &&
                               code->added_after_1_3_by == 0;
    for (Violation& finding : values_of_1_3 ? std::vector<Violation>() : newer_value_findings(view)) {
        if (strictness == Strictness::strict) {
            report.add(finding.rule, finding.field, std::move(finding.expected), std::move(finding.got));
            ok = false;
        } else {
            report.note(std::move(finding));
        }
    }
    const std::uint32_t element_bits = static_cast<std::uint32_t>(t.dtype.bits) * t.dtype.lanes;
    const bool padded = (view.flags & kFlagSubbytePadded) != 0;
    if (padded && element_bits >= 8) {
        report.add(Rule::flags_subbyte_padded, "IS_SUBBYTE_TYPE_PADDED only with a sub-byte dtype (bits * lanes < 8)",
                   "it set with " + format_dtype(t.dtype.code, t.dtype.bits, t.dtype.lanes));
        ok = false;
    }

    // ndim, shape, strides: pointers are only followed once ndim and the pointers are sane
    if (t.ndim < 0) {
        report.add(Rule::ndim_negative, "ndim >= 0", to_str(t.ndim));
        return false;
    }
    if (t.ndim > kMaxNdim) {
        report.add(Rule::ndim_too_large, "ndim <= " + to_str(kMaxNdim), to_str(t.ndim));
        return false;
    }
    if (t.ndim > 0 && t.shape == nullptr) {
        report.add(Rule::shape_null, "a shape array of " + to_str(t.ndim) + " extents", "NULL");
        return false;
    }
    if (t.ndim > 0 && !detail::check_array_addresses(t, report)) return false;
    const bool strides_null = t.ndim > 0 && t.strides == nullptr;
    if (strides_null && view.versioned && view.version.minor >= 2) {
        report.add(Rule::strides_null_since_1_2,
                   "non-NULL strides for ndim " + to_str(t.ndim) + " (required since DLPack 1.2)",
                   "NULL in a version " + to_str(view.version.major) + "." + to_str(view.version.minor) + " capsule");
        ok = false;  // still readable: NULL strides are read as compact row-major
    }

    std::int64_t size = 1;
    bool size_overflow = false;
    bool shape_ok = true;
    bool empty = false;
    for (std::int32_t i = 0; i < t.ndim; ++i) {
        if (t.shape[i] < 0) {
            report.add(Rule::shape_negative, "extents >= 0", "shape[" + to_str(i) + "] = " + to_str(t.shape[i]));
            shape_ok = false;
        } else if (t.shape[i] == 0) {
            empty = true;
        } else if (!size_overflow && detail::mul_overflows(size, t.shape[i], &size)) {
            size_overflow = true;
        }
    }
    if (!shape_ok) return false;
    if (empty) size = 0, size_overflow = false;
    if (size_overflow) {
        report.add(Rule::size_overflow, "an element count that fits in int64", "an overflowing product");
        return false;
    }

    // Offsets reached, in elements relative to element 0 (strides as given, or implied compact).
    std::int64_t min_off = 0, max_off = 0, implied = 1;
    bool c_contig = true, f_contig = true;
    if (!empty) {
        for (std::int32_t i = t.ndim - 1; i >= 0; --i) {
            std::int64_t stride = strides_null ? implied : t.strides[i];
            std::int64_t reach = 0;
            if (detail::mul_overflows(t.shape[i] - 1, stride, &reach) ||
                (reach < 0 ? detail::add_overflows(min_off, reach, &min_off)
                           : detail::add_overflows(max_off, reach, &max_off))) {
                report.add(Rule::extent_overflow, "strides", "offsets that fit in int64",
                           "an overflowing offset along axis " + to_str(i));
                return false;
            }
            if (strides_null) implied *= t.shape[i];  // cannot overflow: bounded by size
        }
        if (!strides_null) {
            // Extents of 1 take any stride (numpy and torch disagree on what to write there).
            std::int64_t expected = 1;
            for (std::int32_t i = t.ndim - 1; i >= 0; --i) {
                if (t.shape[i] != 1 && t.strides[i] != expected) c_contig = false;
                expected *= t.shape[i];
            }
            expected = 1;
            for (std::int32_t i = 0; i < t.ndim; ++i) {
                if (t.shape[i] != 1 && t.strides[i] != expected) f_contig = false;
                expected *= t.shape[i];
            }
        } else {
            std::int32_t long_axes = 0;
            for (std::int32_t i = 0; i < t.ndim; ++i) long_axes += t.shape[i] != 1 ? 1 : 0;
            f_contig = long_axes <= 1;
        }
    }

    if (t.data == nullptr && size > 0) {
        report.add(Rule::data_null, "a data pointer (NULL only for empty tensors)",
                   "NULL for " + to_str(size) + " elements");
        ok = false;
    }

    if (t.byte_offset > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        report.add(Rule::byte_offset_overflow, "a byte offset that fits in int64", std::to_string(t.byte_offset));
        return false;
    }
    const auto offset = static_cast<std::int64_t>(t.byte_offset);
    std::int64_t nbytes = 0;
    std::int64_t low = offset, high = offset;
    if (element_bits != 0) {
        std::int64_t below = 0, end = 0, above = 0;
        bool fits = detail::span_bytes(size, element_bits, padded, &nbytes);
        if (fits && !empty) {
            // Element k holds bits [k * w, (k + 1) * w) past byte_offset (w: its width, a whole
            // byte for padded sub-byte types): the bytes addressed run from the one holding the
            // lowest element's first bit, floor(min_off * w / 8) = -ceil(-min_off * w / 8), to
            // the one holding the highest element's last bit, ceil((max_off + 1) * w / 8). (For
            // sub-byte elements the byte count is not the span of max - min + 1 elements.)
            std::int64_t lowest = 0;  // -min_off: overflows for an offset of INT64_MIN
            fits = !detail::sub_overflows(0, min_off, &lowest) &&
                   detail::span_bytes(lowest, element_bits, padded, &below) &&
                   !detail::add_overflows(max_off, 1, &end) && detail::span_bytes(end, element_bits, padded, &above) &&
                   !detail::add_overflows(offset, -below, &low) && !detail::add_overflows(offset, above, &high);
        }
        if (!fits) {
            report.add(Rule::extent_overflow, "shape", "a byte extent that fits in int64",
                       "an overflowing byte extent");
            return false;
        }
    }
    // The bytes addressed must lie inside the address space: data + [low, high) must not wrap.
    if (t.data != nullptr && size > 0) {
        const auto base = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(t.data));
        const std::uint64_t limit = UINTPTR_MAX;  // the last addressable byte
        bool wraps = low < 0 && base < static_cast<std::uint64_t>(-low);
        wraps = wraps || (high > 0 && static_cast<std::uint64_t>(high) - 1 > limit - base);
        if (wraps) {
            report.add(Rule::extent_address,
                       "data + byte_offset and the strides to address memory inside the address space",
                       "bytes [" + to_str(low) + ", " + to_str(high) + ") from data " + detail::hex(t.data) +
                           ", which wrap around");
            ok = false;
        }
    }

    if (geometry != nullptr) {
        geometry->readable = true;
        geometry->size = size;
        geometry->min_offset = min_off;
        geometry->max_offset = max_off;
        geometry->nbytes = static_cast<std::uint64_t>(nbytes);
        geometry->element_bits = element_bits;
        geometry->strides_implied = strides_null;
        geometry->c_contiguous = c_contig;
        geometry->f_contiguous = f_contig;
        geometry->byte_low = low;
        geometry->byte_high = high;
    }
    // Some rules (unknown flag bits) record a violation without making the tensor unreadable.
    return ok && report.violations().size() == violations_before;
}

/// The compact row-major stride (in elements) of `axis`, as a reader fills it in for NULL
/// strides; extents of 0 count as 1. Only an empty tensor can have compact strides that do not
/// fit in int64 (check_structure bounds the element count of any other), and no stride of an
/// empty tensor is ever stepped along: a stride that does not fit is 0.
inline std::int64_t implied_stride(const DLTensor& t, std::int32_t axis) noexcept {
    std::int64_t implied = 1;
    for (std::int32_t i = t.ndim - 1; i > axis; --i) {
        if (detail::mul_overflows(implied, t.shape[i] > 0 ? t.shape[i] : 1, &implied)) return 0;
    }
    return implied;
}

/// Writes the tensor's strides (in elements) into `out[0..ndim)`, computing compact
/// row-major strides when the producer sent NULL (legal before DLPack 1.2). Extents of 0
/// count as 1 there, so a non-empty axis keeps its usual stride. Call it on a tensor that
/// passed check_structure.
inline void fill_strides(const DLTensor& t, std::int64_t* out) noexcept {
    if (t.ndim <= 0) return;
    if (t.strides != nullptr) {
        for (std::int32_t i = 0; i < t.ndim; ++i) out[i] = t.strides[i];
        return;
    }
    // implied_stride for every axis, in one pass from the innermost
    std::int64_t implied = 1;
    bool overflowed = false;
    for (std::int32_t i = t.ndim - 1; i >= 0; --i) {
        out[i] = overflowed ? 0 : implied;
        overflowed = overflowed || detail::mul_overflows(implied, t.shape[i] > 0 ? t.shape[i] : 1, &implied);
    }
}

}  // namespace optype_dlpack

/// optype_dlpack/rules.hpp — the registry of every rule a Violation can name.
///
/// One list, OPTYPE_DLPACK_RULES, holds each rule once: its stable id, the field it reports,
/// what it checks (one sentence), where the specification says so, and since which DLPack
/// version it applies. Everything else is derived from it: the enum `Rule` that the checks
/// report with, the constexpr table `kRules`, Python's `optype_dlpack.RULES`, and (held
/// against it by the tests) the rules table of docs/validation.md.
///
/// References: "H" is dlpack.h v1.3 ("H (main after 1.3)": DLPack's main branch after the 1.3
/// release, with the pull request that added the value), "PY" the DLPack Python specification (python_spec.rst),
/// "AAPI" the array API standard's __dlpack__ / __dlpack_device__; "-" where a rule is this
/// library's own (a declared constraint, or a question to the CUDA driver).
///
/// The field of a rule is the one its violations name. A few rules name whichever field is at
/// fault ("strides or shape"); those are reported with the field given at the call site.
#pragma once

#include <cstddef>
#include <cstdint>

/// X(name, id, field, checks, reference, since) for every rule, in the order the
/// documentation lists them.
#define OPTYPE_DLPACK_RULES(X)                                                                                         \
    X(managed_null, "managed.null", "capsule", "the managed tensor pointer is not NULL",                               \
      "PY: a capsule holds a DLManagedTensor*", "0.x")                                                                 \
    X(capsule_layout, "capsule.layout", "capsule",                                                                     \
      "the struct matches the capsule's name: dltensor holds a DLManagedTensor, dltensor_versioned a "                 \
      "DLManagedTensorVersioned",                                                                                      \
      "PY: capsule names", "1.0")                                                                                      \
    X(capsule_consumed, "capsule.consumed", "capsule",                                                                 \
      "the capsule is not named used_dltensor or used_dltensor_versioned (raised as DLPackConsumedError)",             \
      "PY: consumers rename what they consume", "0.x / 1.0")                                                           \
    X(version_major, "version.major", "version",                                                                       \
      "a versioned capsule's major version is 1 (raised as DLPackVersionError); newer minors are read",                \
      "H: DLPackVersion, DLManagedTensorVersioned", "1.0")                                                             \
    X(flags_unknown, "flags.unknown", "flags",                                                                         \
      "only bits 0-2 of flags are set (READ_ONLY, IS_COPIED, IS_SUBBYTE_TYPE_PADDED)", "H: DLPACK_FLAG_BITMASK_*",     \
      "1.0 (bits 0-1), 1.1 (bit 2)")                                                                                   \
    X(flags_subbyte_padded, "flags.subbyte_padded", "flags",                                                           \
      "IS_SUBBYTE_TYPE_PADDED is set only with a sub-byte element (bits * lanes < 8)",                                 \
      "H: DLPACK_FLAG_BITMASK_IS_SUBBYTE_TYPE_PADDED", "1.1")                                                          \
    X(device_type, "device.type", "device.device_type",                                                                \
      "device_type is a DLDeviceType that DLPack defines (1-4, 7-21), or, in a versioned capsule of version 1.3 or "   \
      "later, one above them up to 255 (device.type_newer)",                                                           \
      "H: DLDeviceType", "per code; 18 (Trn) since 1.2; 19-21 after 1.3")                                              \
    X(device_type_after_1_3, "device.type_after_1_3", "device.device_type",                                            \
      "a finding, an error only with strict=True: device_type is one DLPack defined after 1.3 (19 kDLTPU, 20 "         \
      "kDLTPUHost, 21 kDLAscend), which consumers built against dlpack.h v1.3 reject",                                 \
      "H (main after 1.3): kDLTPU, kDLTPUHost (dlpack#188), kDLAscend (dlpack#189)", "after 1.3")                      \
    X(device_type_newer, "device.type_newer", "device.device_type",                                                    \
      "a finding, an error only with strict=True: device_type lies above every one this package knows (22-255) in a "  \
      "versioned capsule of version 1.3 or later, a value of a DLPack newer than this package",                        \
      "H: DLPACK_MINOR_VERSION (minor versions add enumeration values)", "after 1.3")                                  \
    X(device_id, "device.id", "device.device_id", "device_id is >= 0", "H: DLDevice", "0.x")                           \
    X(device_cpu_id, "device.cpu_id", "device.device_id", "device_id is 0 for kDLCPU", "H: DLDevice::device_id",       \
      "0.x")                                                                                                           \
    X(dtype_code, "dtype.code", "dtype.code",                                                                          \
      "code is a DLDataTypeCode that DLPack defines (0-18), or, in a versioned capsule of version 1.3 or later, one "  \
      "above them (dtype.code_newer)",                                                                                 \
      "H: DLDataTypeCode", "0-6 by 0.8, 7-17 since 1.1, 18 after 1.3")                                                 \
    X(dtype_code_after_1_3, "dtype.code_after_1_3", "dtype.code",                                                      \
      "a finding, an error only with strict=True: code is one DLPack defined after 1.3 (18 kDLBcomplex), which "       \
      "consumers built against dlpack.h v1.3 reject",                                                                  \
      "H (main after 1.3): kDLBcomplex (dlpack#187)", "after 1.3")                                                     \
    X(dtype_code_newer, "dtype.code_newer", "dtype.code",                                                              \
      "a finding, an error only with strict=True: code lies above every one this package knows (19-255) in a "         \
      "versioned capsule of version 1.3 or later, a value of a DLPack newer than this package; its bits are only "     \
      "held "                                                                                                          \
      "to >= 1",                                                                                                       \
      "H: DLPACK_MINOR_VERSION (minor versions add enumeration values)", "after 1.3")                                  \
    X(dtype_bits, "dtype.bits", "dtype.bits", "bits is a width the code allows", "H: DLDataType, DLDataTypeCode",      \
      "bool 8 since 0.8; fp8/fp6/fp4 since 1.1")                                                                       \
    X(dtype_lanes, "dtype.lanes", "dtype.lanes", "lanes is >= 1", "H: DLDataType::lanes", "0.x")                       \
    X(ndim_negative, "ndim.negative", "ndim", "ndim is >= 0", "H: DLTensor::ndim", "0.x")                              \
    X(ndim_too_large, "ndim.too_large", "ndim",                                                                        \
      "ndim is at most kMaxNdim: no framework goes near it, and a larger value is a misread struct",                   \
      "this library's limit", "-")                                                                                     \
    X(shape_null, "shape.null", "shape", "shape is not NULL when ndim > 0", "H: DLTensor::shape",                      \
      "0.x (NULL for ndim 0 written down in 1.3)")                                                                     \
    X(shape_address, "shape.address", "shape",                                                                         \
      "when ndim > 0, shape is an address that can hold an int64 array (past the first page, 8-byte aligned); "        \
      "one that cannot is never followed",                                                                             \
      "H: DLTensor::shape (int64_t*)", "0.x")                                                                          \
    X(strides_address, "strides.address", "strides",                                                                   \
      "a non-NULL strides is an address that can hold an int64 array, as for shape.address",                           \
      "H: DLTensor::strides (int64_t*)", "0.x")                                                                        \
    X(shape_negative, "shape.negative", "shape", "every extent is >= 0", "H: DLTensor::shape", "0.x")                  \
    X(strides_null_since_1_2, "strides.null_since_1_2", "strides",                                                     \
      "strides is not NULL when ndim > 0 in a versioned capsule of minor version 2 or later", "H: DLTensor::strides",  \
      "1.2")                                                                                                           \
    X(size_overflow, "size.overflow", "shape", "the element count fits in int64", "H: DLTensor (int64 extents)",       \
      "0.x")                                                                                                           \
    X(extent_overflow, "extent.overflow", "strides or shape",                                                          \
      "element offsets (extent * stride) and the byte extent fit in int64", "H: DLTensor addressing", "0.x")           \
    X(byte_offset_overflow, "byte_offset.overflow", "byte_offset", "byte_offset fits in int64",                        \
      "H: DLTensor::byte_offset", "0.x")                                                                               \
    X(extent_address, "extent.address", "data",                                                                        \
      "the bytes addressed, data + byte_offset plus the strides' reach, stay inside the address space",                \
      "H: DLTensor addressing", "0.x")                                                                                 \
    X(data_null, "data.null", "data", "data is not NULL when the tensor has elements (NULL is fine when it is empty)", \
      "H: DLTensor::data; PY: size-zero tensors", "1.0")                                                               \
    X(producer_device, "producer.device", "device", "__dlpack_device__() agrees with the capsule's device",            \
      "AAPI: __dlpack_device__", "2021.12 array API")                                                                  \
    X(expect_device, "expect.device", "device", "the device is the declared one", "-", "-")                            \
    X(expect_dtype, "expect.dtype", "dtype", "the dtype is the declared one", "-", "-")                                \
    X(expect_ndim, "expect.ndim", "ndim", "ndim is the declared one", "-", "-")                                        \
    X(expect_shape, "expect.shape", "shape", "the shape is the declared one (None matches any extent)", "-", "-")      \
    X(expect_writable, "expect.writable", "writable",                                                                  \
      "the tensor is as writable as declared (a legacy capsule promises neither)", "H: DLPACK_FLAG_BITMASK_READ_ONLY", \
      "1.0")                                                                                                           \
    X(expect_layout, "expect.layout", "layout", "the strides have the declared layout", "-", "-")                      \
    X(device_not_device_memory, "device.not_device_memory", "data",                                                    \
      "a kDLCUDA tensor's data is device (or managed) memory, as the CUDA driver says", "H: kDLCUDA", "0.x")           \
    X(device_ordinal, "device.ordinal", "device.device_id",                                                            \
      "a kDLCUDA device_id is the GPU that holds the data (device memory), or a GPU that exists (managed memory, "     \
      "empty tensors)",                                                                                                \
      "H: DLDevice::device_id", "0.x")                                                                                 \
    X(device_not_pinned, "device.not_pinned", "data", "a kDLCUDAHost tensor's data is page-locked host memory",        \
      "H: kDLCUDAHost", "0.x")                                                                                         \
    X(device_not_managed, "device.not_managed", "data", "a kDLCUDAManaged tensor's data is managed memory",            \
      "H: kDLCUDAManaged", "0.x")                                                                                      \
    X(device_cpu_pointer_is_device, "device.cpu_pointer_is_device", "device.device_type",                              \
      "a kDLCPU tensor's data is not device memory (page-locked and managed memory pass: the CPU reads them)",         \
      "H: kDLCPU", "0.x")                                                                                              \
    X(device_extent, "device.extent", "data, byte_offset, strides or shape",                                           \
      "every addressed byte lies in the one allocation that holds data", "H: DLTensor addressing", "0.x")              \
    X(device_unmapped, "device.unmapped", "data or shape",                                                             \
      "every addressed byte of device memory is mapped, not merely reserved", "H: DLTensor addressing", "0.x")         \
    X(device_driver_error, "device.driver_error", "device", "the CUDA driver answers the pointer query", "-", "-")     \
    X(device_unverified, "device.unverified", "device",                                                                \
      "with verify_device=\"require\", the CUDA driver can be asked about the memory, and can tell", "-", "-")

namespace optype_dlpack {

/// What the registry says about one rule.
struct RuleInfo {
    const char* id;         ///< stable id, e.g. "shape.negative": Violation::rule
    const char* field;      ///< the field its violations name ("strides or shape": the one at fault)
    const char* checks;     ///< what it checks, in one sentence
    const char* reference;  ///< where the specification says so ("-": this library's own rule)
    const char* since;      ///< the DLPack version that introduced what it checks ("-": none)
};

/// Every rule, by name; `rule_info(Rule::shape_null).id` is "shape.null".
enum class Rule : std::uint8_t {
#define OPTYPE_DLPACK_RULE_NAME(name, id, field, checks, reference, since) name,
    OPTYPE_DLPACK_RULES(OPTYPE_DLPACK_RULE_NAME)
#undef OPTYPE_DLPACK_RULE_NAME
};

/// The registry, indexed by Rule.
inline constexpr RuleInfo kRules[] = {
#define OPTYPE_DLPACK_RULE_INFO(name, id, field, checks, reference, since) \
    RuleInfo{id, field, checks, reference, since},
    OPTYPE_DLPACK_RULES(OPTYPE_DLPACK_RULE_INFO)
#undef OPTYPE_DLPACK_RULE_INFO
};

inline constexpr std::size_t kRuleCount = sizeof kRules / sizeof kRules[0];

namespace detail {

constexpr bool same_text(const char* a, const char* b) noexcept {
    while (*a != '\0' && *a == *b) ++a, ++b;
    return *a == *b;
}

/// Whether no id is listed twice (an id names one rule for good).
constexpr bool rule_ids_unique() noexcept {
    for (std::size_t i = 0; i < kRuleCount; ++i) {
        for (std::size_t j = i + 1; j < kRuleCount; ++j) {
            if (same_text(kRules[i].id, kRules[j].id)) return false;
        }
    }
    return true;
}

}  // namespace detail

static_assert(detail::rule_ids_unique(), "OPTYPE_DLPACK_RULES lists an id twice");

/// The registry's entry for `rule`: a constant when `rule` is.
constexpr const RuleInfo& rule_info(Rule rule) noexcept { return kRules[static_cast<std::size_t>(rule)]; }

/// The stable id of `rule`, e.g. "shape.null".
constexpr const char* rule_id(Rule rule) noexcept { return rule_info(rule).id; }

}  // namespace optype_dlpack

/// optype_dlpack/tables.hpp — names and rules for DLPack device types and dtype codes.
///
/// The tables are written against the enumerator names of dlpack.h (v1.3), so the values
/// always come from the header being compiled against. The few values DLPack's main branch
/// defined after 1.3 (namespace after_1_3) are written here, since that header lacks them.
#pragma once

#include "dlpack.hpp"

#include <complex>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

namespace optype_dlpack {

/// Values that DLPack's main branch added after the 1.3 release without a version bump (its
/// header still says 1.3), so dlpack.h v1.3 does not define them. Their own namespace keeps
/// them apart from the enumerators of a newer dlpack.h that may define the same names.
namespace after_1_3 {
inline constexpr std::uint8_t kDLBcomplex = 18;  ///< complex of two bfloat16, laid out as kDLComplex (dlpack#187)
inline constexpr std::int32_t kDLTPU = 19;       ///< Google TPU device memory (dlpack#188)
inline constexpr std::int32_t kDLTPUHost = 20;   ///< TPU pinned host memory, as kDLCUDAHost for CUDA (dlpack#188)
inline constexpr std::int32_t kDLAscend = 21;    ///< Huawei Ascend NPU device memory (dlpack#189)
}  // namespace after_1_3

/// The minor version that DLPack's values after 1.3 come with: its main branch still says 1.3.
/// A versioned capsule of this minor or later may carry a value newer than this package knows.
inline constexpr std::uint32_t kMinorOfNewerValues = 3;

/// The largest device type or dtype code believed to be a DLPack value at all. DLPack numbers
/// its values one by one (21 device types in nine years); a larger one is another field, or
/// garbage, read as a code.
inline constexpr std::int32_t kMaxPlausibleCode = 255;

/// One standard device type.
struct DeviceTypeInfo {
    std::int32_t code;
    const char* name;                  ///< lower-case name used in strings such as "cuda:1"
    const char* header_name;           ///< the enumerator's name in dlpack.h
    bool stream_device;                ///< producers take a stream (CUDA/ROCm): ask with stream=-1
    bool host_accessible;              ///< the CPU may read the data directly
    std::uint16_t added_after_1_3_by;  ///< 0: in dlpack.h v1.3; else the DLPack pull request that added it after 1.3
};

// TPU and Ascend memory is device memory the CPU cannot read; TPU host memory is page-locked
// host memory, as CUDA host memory is. None of them takes a stream: the Python specification
// defines the stream argument for CUDA and ROCm only, so producers are asked with stream=None.
inline constexpr DeviceTypeInfo kDeviceTypes[] = {
    {kDLCPU, "cpu", "kDLCPU", false, true, 0},
    {kDLCUDA, "cuda", "kDLCUDA", true, false, 0},
    {kDLCUDAHost, "cuda_host", "kDLCUDAHost", false, true, 0},
    {kDLOpenCL, "opencl", "kDLOpenCL", false, false, 0},
    {kDLVulkan, "vulkan", "kDLVulkan", false, false, 0},
    {kDLMetal, "metal", "kDLMetal", false, false, 0},
    {kDLVPI, "vpi", "kDLVPI", false, false, 0},
    {kDLROCM, "rocm", "kDLROCM", true, false, 0},
    {kDLROCMHost, "rocm_host", "kDLROCMHost", false, true, 0},
    {kDLExtDev, "ext_dev", "kDLExtDev", false, false, 0},
    {kDLCUDAManaged, "cuda_managed", "kDLCUDAManaged", true, true, 0},
    {kDLOneAPI, "one_api", "kDLOneAPI", false, false, 0},
    {kDLWebGPU, "webgpu", "kDLWebGPU", false, false, 0},
    {kDLHexagon, "hexagon", "kDLHexagon", false, false, 0},
    {kDLMAIA, "maia", "kDLMAIA", false, false, 0},
    {kDLTrn, "trn", "kDLTrn", false, false, 0},
    {after_1_3::kDLTPU, "tpu", "kDLTPU", false, false, 188},
    {after_1_3::kDLTPUHost, "tpu_host", "kDLTPUHost", false, true, 188},
    {after_1_3::kDLAscend, "ascend", "kDLAscend", false, false, 189},
};

/// The standard device type with this code, or nullptr.
constexpr const DeviceTypeInfo* find_device_type(std::int32_t code) noexcept {
    for (const auto& info : kDeviceTypes) {
        if (info.code == code) return &info;
    }
    return nullptr;
}

/// Whether the standard device type `code` has `column` set (a nonstandard type has none).
constexpr bool device_type_is(std::int32_t code, bool DeviceTypeInfo::*column) noexcept {
    const DeviceTypeInfo* info = find_device_type(code);
    return info != nullptr && info->*column;
}

/// Whether producers of this device type take a stream.
constexpr bool stream_device(std::int32_t device_type) noexcept {
    return device_type_is(device_type, &DeviceTypeInfo::stream_device);
}

/// Memory the host may read in place: host memory and CUDA managed memory.
constexpr bool host_accessible(std::int32_t device_type) noexcept {
    return device_type_is(device_type, &DeviceTypeInfo::host_accessible);
}

/// Memory the host may read in place without synchronising with a device: host-accessible
/// memory that no device stream writes (CPU, CUDA and ROCm page-locked memory; not managed
/// memory).
constexpr bool host_memory(std::int32_t device_type) noexcept {
    return host_accessible(device_type) && !stream_device(device_type);
}

/// The enumerator's name in dlpack.h ("kDLCUDA"), or "device type 25" for a code it lacks.
inline std::string device_header_name(std::int32_t code) {
    const DeviceTypeInfo* info = find_device_type(code);
    return info != nullptr ? info->header_name : "device type " + std::to_string(code);
}

/// The bit widths a dtype code allows when it allows several: every width from 1 up to
/// `every_up_to`, every power of two from `powers_from` up to 128, or any width at all.
struct BitWidths {
    std::uint8_t every_up_to = 0;  ///< 1..every_up_to are valid (0: none of them)
    std::uint8_t powers_from = 0;  ///< powers_from, 2 * powers_from, ..., 128 are valid (0: none)
    bool any = false;              ///< every width >= 1 (an opaque handle's width is agreed elsewhere)
};

/// One standard dtype code and the bit widths valid for it.
struct DTypeCodeInfo {
    std::uint8_t code;
    const char* name;                  ///< prefix used in names ("float" + "32"); full name if fixed_bits
    const char* header_name;           ///< the enumerator's name in dlpack.h
    std::uint8_t fixed_bits;           ///< the only valid width, or 0 when several are valid
    BitWidths widths;                  ///< the valid widths when several are
    std::uint16_t added_after_1_3_by;  ///< 0: in dlpack.h v1.3; else the DLPack pull request that added it after 1.3
};

inline constexpr DTypeCodeInfo kDTypeCodes[] = {
    {kDLInt, "int", "kDLInt", 0, {8, 16, false}, 0},
    {kDLUInt, "uint", "kDLUInt", 0, {8, 16, false}, 0},
    {kDLFloat, "float", "kDLFloat", 0, {0, 16, false}, 0},
    {kDLOpaqueHandle, "opaque", "kDLOpaqueHandle", 0, {0, 0, true}, 0},
    {kDLBfloat, "bfloat16", "kDLBfloat", 16, {}, 0},
    {kDLComplex, "complex", "kDLComplex", 0, {0, 32, false}, 0},
    {kDLBool, "bool", "kDLBool", 8, {}, 0},
    {kDLFloat8_e3m4, "float8_e3m4", "kDLFloat8_e3m4", 8, {}, 0},
    {kDLFloat8_e4m3, "float8_e4m3", "kDLFloat8_e4m3", 8, {}, 0},
    {kDLFloat8_e4m3b11fnuz, "float8_e4m3b11fnuz", "kDLFloat8_e4m3b11fnuz", 8, {}, 0},
    {kDLFloat8_e4m3fn, "float8_e4m3fn", "kDLFloat8_e4m3fn", 8, {}, 0},
    {kDLFloat8_e4m3fnuz, "float8_e4m3fnuz", "kDLFloat8_e4m3fnuz", 8, {}, 0},
    {kDLFloat8_e5m2, "float8_e5m2", "kDLFloat8_e5m2", 8, {}, 0},
    {kDLFloat8_e5m2fnuz, "float8_e5m2fnuz", "kDLFloat8_e5m2fnuz", 8, {}, 0},
    {kDLFloat8_e8m0fnu, "float8_e8m0fnu", "kDLFloat8_e8m0fnu", 8, {}, 0},
    {kDLFloat6_e2m3fn, "float6_e2m3fn", "kDLFloat6_e2m3fn", 6, {}, 0},
    {kDLFloat6_e3m2fn, "float6_e3m2fn", "kDLFloat6_e3m2fn", 6, {}, 0},
    {kDLFloat4_e2m1fn, "float4_e2m1fn", "kDLFloat4_e2m1fn", 4, {}, 0},
    // two bfloat16 (real, imaginary): 32 bits, as ml_dtypes' bcomplex32
    {after_1_3::kDLBcomplex, "bcomplex32", "kDLBcomplex", 32, {}, 187},
};

/// The standard dtype code with this value, or nullptr.
constexpr const DTypeCodeInfo* find_dtype_code(std::uint8_t code) noexcept {
    for (const auto& info : kDTypeCodes) {
        if (info.code == code) return &info;
    }
    return nullptr;
}

namespace detail {

/// Whether a table lists its codes in increasing order (code_ranges relies on it).
template <class Info, std::size_t N>
constexpr bool codes_increase(const Info (&table)[N]) noexcept {
    for (std::size_t i = 1; i < N; ++i) {
        if (!(table[i - 1].code < table[i].code)) return false;
    }
    return true;
}

static_assert(codes_increase(kDeviceTypes), "kDeviceTypes lists its codes in increasing order");
static_assert(codes_increase(kDTypeCodes), "kDTypeCodes lists its codes in increasing order");

}  // namespace detail

/// The codes a table defines, as runs of consecutive codes: "1-4, 7-21" for kDeviceTypes,
/// "0-18" for kDTypeCodes.
template <class Info, std::size_t N>
std::string code_ranges(const Info (&table)[N]) {
    std::string out;
    for (std::size_t first = 0; first < N;) {
        std::size_t last = first;
        while (last + 1 < N && table[last + 1].code == table[last].code + 1) ++last;
        if (!out.empty()) out += ", ";
        out += std::to_string(table[first].code);
        if (last != first) out += "-" + std::to_string(table[last].code);
        first = last + 1;
    }
    return out;
}

/// The highest code a table defines (the tables list their codes in increasing order).
template <class Info, std::size_t N>
constexpr auto highest_code(const Info (&table)[N]) noexcept {
    return table[N - 1].code;
}

/// Whether `code` lies above every device type this package knows, yet within
/// kMaxPlausibleCode: a value that a DLPack newer than this package may define.
constexpr bool newer_device_type(std::int32_t code) noexcept {
    return code > highest_code(kDeviceTypes) && code <= kMaxPlausibleCode;
}

/// Whether `code` lies above every dtype code this package knows (any such byte is plausible).
constexpr bool newer_dtype_code(std::uint8_t code) noexcept { return code > highest_code(kDTypeCodes); }

/// Whether `bits` is a valid width for a known dtype code.
constexpr bool dtype_bits_valid(const DTypeCodeInfo& info, std::uint8_t bits) noexcept {
    if (info.fixed_bits != 0) return bits == info.fixed_bits;
    const BitWidths& widths = info.widths;
    if (bits == 0) return false;
    if (widths.any || bits <= widths.every_up_to) return true;
    for (unsigned power = widths.powers_from; power != 0 && power <= 128; power *= 2) {
        if (static_cast<unsigned>(bits) == power) return true;
    }
    return false;
}

/// The valid widths in words: "1-8, 16, 32, 64 or 128", "16", "at least 1".
inline std::string valid_bits_text(const DTypeCodeInfo& info) {
    if (info.fixed_bits != 0) return std::to_string(info.fixed_bits);
    const BitWidths& widths = info.widths;
    if (widths.any) return "at least 1";
    std::string items[8];
    std::size_t count = 0;
    if (widths.every_up_to != 0) items[count++] = "1-" + std::to_string(widths.every_up_to);
    for (unsigned power = widths.powers_from; power != 0 && power <= 128 && count < 8; power *= 2) {
        items[count++] = std::to_string(power);
    }
    std::string out;
    for (std::size_t i = 0; i < count; ++i) {
        if (i != 0) out += i + 1 == count ? " or " : ", ";
        out += items[i];
    }
    return out;
}

/// "float32", "bfloat16", "bool", "float8_e4m3fn", "float32x4" (4 lanes), "float4_e2m1fn_x2",
/// or "code30_bits8" for a code this package does not know.
inline std::string format_dtype(std::uint8_t code, std::uint8_t bits, std::uint16_t lanes) {
    std::string out;
    const DTypeCodeInfo* info = find_dtype_code(code);
    if (info == nullptr) {
        out = "code" + std::to_string(code) + "_bits" + std::to_string(bits);
    } else if (info->fixed_bits != 0 && bits == info->fixed_bits) {
        out = info->name;
    } else if (info->fixed_bits != 0) {  // a fixed-width code with a wrong width
        out = std::string(info->name) + "(bits=" + std::to_string(bits) + ")";
    } else {
        out = std::string(info->name) + std::to_string(bits);
    }
    // Vector types: "float32x4"; after a name that does not end in a digit, torch's
    // spelling "float4_e2m1fn_x2", so that parse_dtype reads every name back.
    if (lanes != 1) out += (out.back() >= '0' && out.back() <= '9' ? "x" : "_x") + std::to_string(lanes);
    return out;
}

/// Parse a dtype name (the inverse of format_dtype, plus "float"/"double"/"half" aliases).
/// Returns false if the name is not a valid dtype.
inline bool parse_dtype(std::string_view text, DLDataType* out) noexcept {
    std::uint16_t lanes = 1;
    // a trailing "x<lanes>" for vector types, e.g. float32x4
    auto xpos = text.rfind('x');
    if (xpos != std::string_view::npos && xpos + 1 < text.size() && xpos > 0 && text[xpos - 1] >= '0' &&
        text[xpos - 1] <= '9') {
        unsigned value = 0;
        for (std::size_t i = xpos + 1; i < text.size(); ++i) {
            char c = text[i];
            if (c < '0' || c > '9' || value > 6553) return false;
            value = value * 10 + static_cast<unsigned>(c - '0');
        }
        if (value == 0 || value > 65535) return false;
        lanes = static_cast<std::uint16_t>(value);
        text = text.substr(0, xpos);
    }
    // torch spells packed pairs as a "_x<lanes>" suffix, e.g. float4_e2m1fn_x2
    auto upos = text.rfind("_x");
    if (lanes == 1 && upos != std::string_view::npos && upos + 2 < text.size()) {
        unsigned value = 0;
        bool digits = true;
        for (std::size_t i = upos + 2; i < text.size(); ++i) {
            char c = text[i];
            if (c < '0' || c > '9' || value > 6553) {
                digits = false;
                break;
            }
            value = value * 10 + static_cast<unsigned>(c - '0');
        }
        if (digits && value >= 1 && value <= 65535) {
            lanes = static_cast<std::uint16_t>(value);
            text = text.substr(0, upos);
        }
    }
    if (text == "half") text = "float16";
    if (text == "double") text = "float64";
    if (text == "bfloat") text = "bfloat16";
    for (const auto& info : kDTypeCodes) {
        std::string_view name(info.name);
        if (info.fixed_bits != 0) {
            if (text == name) {
                *out = DLDataType{info.code, info.fixed_bits, lanes};
                return true;
            }
            continue;
        }
        if (text.size() <= name.size() || text.substr(0, name.size()) != name) continue;
        std::string_view digits = text.substr(name.size());
        unsigned bits = 0;
        bool numeric = true;
        for (char c : digits) {
            if (c < '0' || c > '9' || bits > 25) {
                numeric = false;
                break;
            }
            bits = bits * 10 + static_cast<unsigned>(c - '0');
        }
        if (!numeric) continue;  // e.g. "float8_e4m3fn" is a fixed-width name, not float + bits
        if (bits == 0 || bits > 255 || (digits.size() > 1 && digits[0] == '0')) return false;
        if (!dtype_bits_valid(info, static_cast<std::uint8_t>(bits))) return false;
        *out = DLDataType{info.code, static_cast<std::uint8_t>(bits), lanes};
        return true;
    }
    return false;
}

/// "cpu", "cuda:1" (plain CPU memory prints without its always-zero id).
inline std::string format_device(std::int32_t type, std::int32_t id) {
    const DeviceTypeInfo* info = find_device_type(type);
    std::string out = info != nullptr ? info->name : "device" + std::to_string(type);
    if (!(type == kDLCPU && id == 0)) out += ":" + std::to_string(id);
    return out;
}

/// Parse "cpu", "cuda", "cuda:1", "CUDA_HOST", "cpu_pinned". Returns false on anything else.
inline bool parse_device(std::string_view text, DLDevice* out) noexcept {
    std::int32_t id = 0;
    auto colon = text.find(':');
    if (colon != std::string_view::npos) {
        std::string_view digits = text.substr(colon + 1);
        if (digits.empty() || digits.size() > 9) return false;
        id = 0;
        for (char c : digits) {
            if (c < '0' || c > '9') return false;
            id = id * 10 + (c - '0');
        }
        text = text.substr(0, colon);
    }
    char lower[32];
    if (text.empty() || text.size() >= sizeof lower) return false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        lower[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    std::string_view name(lower, text.size());
    if (name == "cpu_pinned") name = "cuda_host";
    if (name == "gpu") name = "cuda";
    for (const auto& info : kDeviceTypes) {
        if (name == info.name) {
            *out = DLDevice{static_cast<DLDeviceType>(info.code), id};
            return true;
        }
    }
    return false;
}

/// The DLDataType of a C++ element type: bool, the fixed-width integers, float, double,
/// std::complex<float> and std::complex<double>. Other types (bfloat16, float8, vectors)
/// have no portable C++ spelling: name them by code, bits and lanes instead.
template <class T>
constexpr DLDataType dtype_of() noexcept {
    using U = std::remove_cv_t<T>;
    if constexpr (std::is_same_v<U, bool>) {
        return DLDataType{kDLBool, 8, 1};
    } else if constexpr (std::is_integral_v<U>) {
        return DLDataType{static_cast<std::uint8_t>(std::is_signed_v<U> ? kDLInt : kDLUInt),
                          static_cast<std::uint8_t>(sizeof(U) * 8), 1};
    } else if constexpr (std::is_floating_point_v<U> && sizeof(U) <= 8) {
        return DLDataType{kDLFloat, static_cast<std::uint8_t>(sizeof(U) * 8), 1};
    } else if constexpr (std::is_same_v<U, std::complex<float>> || std::is_same_v<U, std::complex<double>>) {
        return DLDataType{kDLComplex, static_cast<std::uint8_t>(sizeof(U) * 8), 1};
    } else {
        static_assert(sizeof(U) == 0, "no DLPack dtype for this C++ type: use dtype_code<code, bits, lanes>");
        return DLDataType{0, 0, 0};
    }
}

}  // namespace optype_dlpack

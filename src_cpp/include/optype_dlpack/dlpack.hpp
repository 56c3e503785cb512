/// optype_dlpack/dlpack.hpp — includes dlpack.h and pins the ABI this library reads.
///
/// dlpack.h is not part of this library: it comes from the DLPack project (dmlc/dlpack),
/// shipped on PyPI by apache-tvm-ffi, and must be version 1.3 or newer.
#pragma once

#include <dlpack/dlpack.h>

#include <cstddef>
#include <cstdint>

#if !defined(DLPACK_MAJOR_VERSION) || !defined(DLPACK_MINOR_VERSION)
#error "optype_dlpack needs dlpack.h 1.3 or newer (this one predates 1.0)"
#elif DLPACK_MAJOR_VERSION != 1 || DLPACK_MINOR_VERSION < 3
#error "optype_dlpack needs dlpack.h 1.3 or newer"
#endif

namespace optype_dlpack {

/// Capsule names of the Python embedding (python_spec.rst).
inline constexpr const char* kLegacyName = "dltensor";
inline constexpr const char* kVersionedName = "dltensor_versioned";
inline constexpr const char* kUsedLegacyName = "used_dltensor";
inline constexpr const char* kUsedVersionedName = "used_dltensor_versioned";
inline constexpr const char* kExchangeApiName = "dlpack_exchange_api";

/// Flag bits defined by the header; every other bit is reserved.
inline constexpr std::uint64_t kFlagReadOnly = static_cast<std::uint64_t>(DLPACK_FLAG_BITMASK_READ_ONLY);
inline constexpr std::uint64_t kFlagIsCopied = static_cast<std::uint64_t>(DLPACK_FLAG_BITMASK_IS_COPIED);
inline constexpr std::uint64_t kFlagSubbytePadded =
    static_cast<std::uint64_t>(DLPACK_FLAG_BITMASK_IS_SUBBYTE_TYPE_PADDED);
inline constexpr std::uint64_t kKnownFlags = kFlagReadOnly | kFlagIsCopied | kFlagSubbytePadded;

/// The highest ndim accepted: no framework produces more, and a larger value is far more
/// likely to be garbage read through a wrong layout than a real tensor.
inline constexpr std::int32_t kMaxNdim = 1024;

// The field offsets below are the ABI every producer writes; a header that moved them
// would silently misread capsules.
static_assert(sizeof(DLPackVersion) == 8, "DLPackVersion ABI");
static_assert(sizeof(DLDevice) == 8, "DLDevice ABI");
static_assert(sizeof(DLDataType) == 4, "DLDataType ABI");
static_assert(offsetof(DLManagedTensorVersioned, flags) == 24 || sizeof(void*) != 8, "versioned ABI");
static_assert(offsetof(DLManagedTensorVersioned, dl_tensor) == 32 || sizeof(void*) != 8, "versioned ABI");
static_assert(offsetof(DLManagedTensor, dl_tensor) == 0, "legacy ABI");

}  // namespace optype_dlpack

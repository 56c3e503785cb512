/// optype_dlpack/cuda.hpp — what the CUDA driver says about a pointer.
///
/// libcuda is never linked: the implementation (src_cpp/cuda_driver.cpp) opens
/// libcuda.so.1 with dlopen on first use, so one build works with and without a GPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace optype_dlpack::cuda {

/// Where the driver says a pointer lives.
enum class MemoryType : std::uint8_t {
    host_unregistered,  ///< ordinary host memory the driver knows nothing about
    host_pinned,        ///< page-locked host memory (cudaMallocHost / cudaHostRegister)
    device,             ///< device memory (cudaMalloc)
    managed,            ///< managed memory (cudaMallocManaged)
};

struct PointerFacts {
    MemoryType type = MemoryType::host_unregistered;
    int device_ordinal = -1;           ///< for device and pinned memory
    std::uintptr_t range_start = 0;    ///< the allocation that holds the pointer (0 if unknown)
    std::size_t range_size = 0;
};

enum class Status : std::uint8_t { ok, unavailable, error };

/// Whether the driver can be used (loaded, initialised, not disabled).
/// OPTYPE_DLPACK_DISABLE_CUDA=1 in the environment disables it.
bool driver_available() noexcept;

/// Why the driver cannot be used ("" when it can).
const char* driver_unavailable_reason() noexcept;

/// Asks the driver about `ptr`. Never creates or changes a current CUDA context.
Status query_pointer(const void* ptr, PointerFacts* out, std::string* error) noexcept;

/// Copies `bytes` from device (or managed) memory at `src` to host memory at `dst`, synchronously.
/// Uses the context of the device that owns `src` without leaving it current afterwards.
Status copy_to_host(void* dst, const void* src, std::size_t bytes, std::string* error) noexcept;

}  // namespace optype_dlpack::cuda

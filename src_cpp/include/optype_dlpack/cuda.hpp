/// optype_dlpack/cuda.hpp — what the CUDA driver says about a pointer.
///
/// libcuda is never linked: the implementation (src_cpp/cuda_driver.cpp, in optype_dlpack._core)
/// opens libcuda.so.1 with dlopen on first use, so one build works with and without a GPU.
/// Another extension uses _core's: optype_dlpack/cuda_api.hpp defines the functions below by
/// calling through the table _core exports (DriverApi), so that every extension in the
/// process shares one driver state: one dlopen, one cuInit, one reading of the environment.
/// Nothing here creates a CUDA context or leaves one current: pointer queries need no
/// context at all, and copy_to_host pushes the owning context only for the copy.
///
/// OPTYPE_DLPACK_DISABLE_CUDA=1 in the environment (read once, at first use) keeps the
/// driver closed: CUDA capsules are then checked structurally and reported unverified.
///
/// These functions are noexcept on purpose: they call only the C driver and the C library,
/// never the Python C API, so no forced unwind of a finishing interpreter thread can start
/// below them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace optype_dlpack::cuda {

/// Where the driver says a pointer lives.
enum class MemoryType : std::uint8_t {
    host_unregistered,  ///< ordinary host memory the driver knows nothing about
    host_pinned,        ///< page-locked host memory (cudaMallocHost / cudaHostRegister)
    device,             ///< device memory (cudaMalloc, stream-ordered pools, VMM mappings)
    managed,            ///< managed memory (cudaMallocManaged)
};

/// "device memory", "page-locked host memory", …: for messages.
inline const char* memory_type_name(MemoryType type) noexcept {
    switch (type) {
        case MemoryType::host_unregistered: return "host memory unknown to the CUDA driver";
        case MemoryType::host_pinned: return "page-locked host memory";
        case MemoryType::device: return "device memory";
        case MemoryType::managed: return "managed memory";
    }
    return "memory of an unknown kind";
}

struct PointerFacts {
    MemoryType type = MemoryType::host_unregistered;
    int device_ordinal = -1;         ///< the GPU that holds device memory (or owns pinned/managed memory)
    std::uintptr_t range_start = 0;  ///< the allocation that holds the pointer (0 if unknown)
    std::size_t range_size = 0;      ///< its size in bytes (0 if unknown)

    /// What the same query said about the pointer's mapping (CUDA 12 and later drivers; see
    /// range_mapped), so that a range that starts at the pointer needs no second query.
    bool mapping_known = false;        ///< the fields below hold the driver's answer
    bool mapped = false;               ///< CU_POINTER_ATTRIBUTE_MAPPED
    std::uintptr_t mapping_start = 0;  ///< the mapping that holds the pointer (0 if unknown)
    std::size_t mapping_size = 0;      ///< its size in bytes (0 when the driver does not say)

    /// Whether [range_start, range_start + range_size) is known and holds `address`.
    bool range_holds(std::uintptr_t address) const noexcept {
        return range_size != 0 && address >= range_start && address - range_start < range_size;
    }
};

enum class Status : std::uint8_t { ok, unavailable, error };

/// Whether the driver can be used (loaded, initialised, not disabled). The first call
/// opens libcuda.so.1 and calls cuInit(0) (which creates no context); later calls are free.
bool driver_available() noexcept;

/// Why the driver cannot be used ("" when it can). Loads the driver like driver_available().
const char* driver_unavailable_reason() noexcept;

/// Whether libcuda is already loaded into this process, by anyone, found without loading
/// it. When it is not, no pointer of this process can be CUDA memory.
bool driver_loaded_in_process() noexcept;

/// Asks the driver about `ptr`, in one cuPointerGetAttributes call. Never creates or changes
/// a current CUDA context. Host memory the driver does not know is Status::ok with
/// MemoryType::host_unregistered.
Status query_pointer(const void* ptr, PointerFacts* out, std::string* error) noexcept;

/// query_pointer, and in the same call, for device memory, its mapping too
/// (PointerFacts::mapping_known; drivers of CUDA 12 and later), for range_mapped.
Status query_pointer_and_mapping(const void* ptr, PointerFacts* out, std::string* error) noexcept;

/// Whether every byte of a range of device memory is mapped to memory.
enum class Mapped : std::uint8_t { all, not_all, unknown };

/// Asks the driver whether every byte of [first, first + bytes) is mapped. Device memory may
/// be an address range reserved with CUDA's virtual memory management (cuMemAddressReserve:
/// PyTorch's expandable segments, stream-ordered pools) of which only parts are mapped; the
/// range PointerFacts reports is then the whole reservation, mapped or not. The mappings are
/// walked one by one (drivers of CUDA 12 and later say where each ends; with older ones, in
/// blocks of the 2 MiB allocation granularity). Mapped::not_all puts the first unmapped
/// address in `*unmapped`; Mapped::unknown (the driver cannot tell, or the range spans too
/// many blocks) puts the reason in `*why`. `at_first`: what query_pointer(first) said, whose
/// mapping answer (when it has one) stands for the first query of the walk; nullptr to ask.
/// Never creates or changes a current CUDA context.
Mapped range_mapped(const void* first, std::size_t bytes, std::uintptr_t* unmapped, std::string* why,
                    const PointerFacts* at_first) noexcept;

/// The number of CUDA devices the driver sees.
Status device_count(int* out, std::string* error) noexcept;

/// Copies `bytes` from device, managed or page-locked memory at `src` to host memory at
/// `dst`, synchronously (on the legacy default stream of the owning context). Uses the
/// context that owns `src` (or its device's primary context, retained for the copy), and
/// leaves the calling thread's current context as it found it.
Status copy_to_host(void* dst, const void* src, std::size_t bytes, std::string* error) noexcept;

/// The functions above as optype_dlpack._core exports them to other extensions (cuda_api.hpp),
/// with C types only, so that the two sides need not share a C++ standard library. Status,
/// Mapped are returned as ints; an error text is written, NUL-terminated and cut to fit,
/// into the caller's buffer.
struct DriverApi {
    std::uint32_t version;  ///< kDriverApiVersion: the layout of this struct and of PointerFacts
    std::uint32_t size;     ///< sizeof(DriverApi) on _core's side: later versions only append
    int (*driver_available)();
    const char* (*driver_unavailable_reason)();  ///< lives as long as the process
    int (*driver_loaded_in_process)();
    int (*query_pointer)(const void* ptr, PointerFacts* out, char* error, std::size_t error_size);
    int (*query_pointer_and_mapping)(const void* ptr, PointerFacts* out, char* error, std::size_t error_size);
    int (*range_mapped)(const void* first, std::size_t bytes, std::uintptr_t* unmapped, char* why, std::size_t why_size,
                        const PointerFacts* at_first);
    int (*device_count)(int* out, char* error, std::size_t error_size);
    int (*copy_to_host)(void* dst, const void* src, std::size_t bytes, char* error, std::size_t error_size);
};
inline constexpr std::uint32_t kDriverApiVersion = 1;
/// The C function of _core that returns its DriverApi: `const DriverApi* (void)`.
inline constexpr const char* kDriverApiSymbol = "optype_dlpack_cuda_driver_api_v1";

}  // namespace optype_dlpack::cuda

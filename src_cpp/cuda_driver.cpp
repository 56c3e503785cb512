// libcuda, opened at run time with dlopen (never linked), behind optype_dlpack/cuda.hpp.
//
// Entry points are looked up with dlsym under their ABI-versioned export names
// (cuMemcpyDtoH_v2, cuCtxPushCurrent_v2, …): each name is one fixed signature, the one the
// declarations below spell out, present in every driver since CUDA 11. cuGetProcAddress
// would pick a version per requested CUDA release instead, but it exists only in 11.3+
// drivers and changed its own signature in 12.0; a fixed ABI needs none of that. The
// non-"_ptds" names are the legacy-default-stream variants, which is what a synchronous
// copy wants.
#include "optype_dlpack/cuda.hpp"

#include <dlfcn.h>
#include <link.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <type_traits>

#if defined(OPTYPE_DLPACK_HAVE_CUDA_H)
#include <cuda.h>
#endif

namespace optype_dlpack::cuda {
namespace {

// ---------------------------------------------------------------------------------------
// The driver ABI used here. With the CUDA Toolkit's cuda.h the types and values are the
// header's; without it, the handful needed are declared by hand (values of the driver ABI,
// which never changes them).

namespace abi {
#if defined(OPTYPE_DLPACK_HAVE_CUDA_H)
using Result = CUresult;
using Device = CUdevice;
using DevicePtr = CUdeviceptr;
using Context = CUcontext;
using PointerAttribute = CUpointer_attribute;

inline constexpr Result kSuccess = CUDA_SUCCESS;
inline constexpr Result kErrorInvalidValue = CUDA_ERROR_INVALID_VALUE;

inline constexpr PointerAttribute kAttrContext = CU_POINTER_ATTRIBUTE_CONTEXT;
inline constexpr PointerAttribute kAttrMemoryType = CU_POINTER_ATTRIBUTE_MEMORY_TYPE;
inline constexpr PointerAttribute kAttrIsManaged = CU_POINTER_ATTRIBUTE_IS_MANAGED;
inline constexpr PointerAttribute kAttrDeviceOrdinal = CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL;
inline constexpr PointerAttribute kAttrRangeStart = CU_POINTER_ATTRIBUTE_RANGE_START_ADDR;
inline constexpr PointerAttribute kAttrRangeSize = CU_POINTER_ATTRIBUTE_RANGE_SIZE;
inline constexpr PointerAttribute kAttrMapped = CU_POINTER_ATTRIBUTE_MAPPED;
// CUDA 12 added these two; spelled by value so that an older toolkit's cuda.h still builds.
inline constexpr auto kAttrMappingSize = static_cast<PointerAttribute>(18);      // CU_POINTER_ATTRIBUTE_MAPPING_SIZE
inline constexpr auto kAttrMappingBaseAddr = static_cast<PointerAttribute>(19);  // ..._MAPPING_BASE_ADDR

inline constexpr unsigned kMemoryHost = CU_MEMORYTYPE_HOST;
inline constexpr unsigned kMemoryDevice = CU_MEMORYTYPE_DEVICE;
#else
enum Result : int { kSuccess = 0, kErrorInvalidValue = 1 };  // CUresult
using Device = int;                                          // CUdevice
using DevicePtr = unsigned long long;                        // CUdeviceptr (64-bit builds)
struct ContextRecord;                                        // struct CUctx_st
using Context = ContextRecord*;                              // CUcontext
enum PointerAttribute : int {                                // CUpointer_attribute
    kAttrContext = 1,
    kAttrMemoryType = 2,
    kAttrIsManaged = 8,
    kAttrDeviceOrdinal = 9,
    kAttrRangeStart = 11,
    kAttrRangeSize = 12,
    kAttrMapped = 13,
    kAttrMappingSize = 18,
    kAttrMappingBaseAddr = 19,
};
inline constexpr unsigned kMemoryHost = 1;    // CU_MEMORYTYPE_HOST
inline constexpr unsigned kMemoryDevice = 2;  // CU_MEMORYTYPE_DEVICE
#endif
static_assert(sizeof(DevicePtr) == sizeof(std::uint64_t), "CUdeviceptr is 64 bits on 64-bit builds");
static_assert(sizeof(Result) == sizeof(int) && sizeof(PointerAttribute) == sizeof(int), "driver enums are int-sized");

// One typedef per entry point, named after the export it is looked up under.
using cuInit_t = Result (*)(unsigned int flags);
using cuGetErrorName_t = Result (*)(Result error, const char** name);
using cuDeviceGetCount_t = Result (*)(int* count);
using cuDeviceGet_t = Result (*)(Device* device, int ordinal);
using cuPointerGetAttribute_t = Result (*)(void* data, PointerAttribute attribute, DevicePtr ptr);
using cuPointerGetAttributes_t = Result (*)(unsigned int count, PointerAttribute* attributes, void** data,
                                            DevicePtr ptr);
using cuCtxPushCurrent_v2_t = Result (*)(Context context);
using cuCtxPopCurrent_v2_t = Result (*)(Context* context);
using cuDevicePrimaryCtxRetain_t = Result (*)(Context* context, Device device);
using cuDevicePrimaryCtxRelease_v2_t = Result (*)(Device device);
using cuMemcpyDtoH_v2_t = Result (*)(void* dst, DevicePtr src, std::size_t bytes);

#if defined(OPTYPE_DLPACK_HAVE_CUDA_H)
// With the header at hand, each signature is checked against the driver's own declaration
// (cuda.h maps the unversioned names used here to the same _v2 exports).
static_assert(std::is_same_v<cuInit_t, decltype(&::cuInit)>);
static_assert(std::is_same_v<cuGetErrorName_t, decltype(&::cuGetErrorName)>);
static_assert(std::is_same_v<cuDeviceGetCount_t, decltype(&::cuDeviceGetCount)>);
static_assert(std::is_same_v<cuDeviceGet_t, decltype(&::cuDeviceGet)>);
static_assert(std::is_same_v<cuPointerGetAttribute_t, decltype(&::cuPointerGetAttribute)>);
static_assert(std::is_same_v<cuPointerGetAttributes_t, decltype(&::cuPointerGetAttributes)>);
static_assert(std::is_same_v<cuCtxPushCurrent_v2_t, decltype(&::cuCtxPushCurrent_v2)>);
static_assert(std::is_same_v<cuCtxPopCurrent_v2_t, decltype(&::cuCtxPopCurrent_v2)>);
static_assert(std::is_same_v<cuDevicePrimaryCtxRetain_t, decltype(&::cuDevicePrimaryCtxRetain)>);
static_assert(std::is_same_v<cuDevicePrimaryCtxRelease_v2_t, decltype(&::cuDevicePrimaryCtxRelease_v2)>);
static_assert(std::is_same_v<cuMemcpyDtoH_v2_t, decltype(&::cuMemcpyDtoH_v2)>);
#endif
}  // namespace abi

constexpr const char* kLibraryName = "libcuda.so.1";
constexpr const char* kDisableVariable = "OPTYPE_DLPACK_DISABLE_CUDA";

/// The value of OPTYPE_DLPACK_DISABLE_CUDA that disables the driver, or "" when it does not.
/// Read once: a later change to os.environ changes neither the decision nor its message (the
/// message used to read the variable again, and got NULL once Python had deleted it).
const std::string& disabling_value() {
    static const std::string value = [] {
        const char* set = std::getenv(kDisableVariable);
        const bool disables = set != nullptr && set[0] != '\0' && std::strcmp(set, "0") != 0;
        return disables ? std::string(set) : std::string();
    }();
    return value;
}

bool disabled_by_environment() { return !disabling_value().empty(); }

/// The opened driver: entry points resolved once; immutable afterwards.
struct Driver {
    void* library = nullptr;
    abi::cuGetErrorName_t get_error_name = nullptr;
    abi::cuDeviceGetCount_t device_get_count = nullptr;
    abi::cuDeviceGet_t device_get = nullptr;
    abi::cuPointerGetAttribute_t pointer_get_attribute = nullptr;
    abi::cuPointerGetAttributes_t pointer_get_attributes = nullptr;
    abi::cuCtxPushCurrent_v2_t ctx_push = nullptr;
    abi::cuCtxPopCurrent_v2_t ctx_pop = nullptr;
    abi::cuDevicePrimaryCtxRetain_t primary_retain = nullptr;
    abi::cuDevicePrimaryCtxRelease_v2_t primary_release = nullptr;
    abi::cuMemcpyDtoH_v2_t memcpy_dtoh = nullptr;
    std::string unavailable;  ///< why it cannot be used; empty when it can

    bool usable() const noexcept { return unavailable.empty(); }

    /// "CUDA_ERROR_INVALID_VALUE", or the number when the driver has no name for it.
    std::string result_name(abi::Result result) const {
        const char* name = nullptr;
        if (get_error_name != nullptr && get_error_name(result, &name) == abi::kSuccess && name != nullptr) {
            return name;
        }
        return "CUresult " + std::to_string(static_cast<int>(result));
    }

    std::string failure(const char* call, abi::Result result) const {
        return std::string(call) + " failed: " + result_name(result);
    }
};

template <typename Fn>
bool resolve(void* library, const char* name, Fn* out) noexcept {
    void* symbol = dlsym(library, name);
    // dlsym hands back an object pointer; POSIX guarantees it converts to a function pointer.
    *out = reinterpret_cast<Fn>(symbol);
    return symbol != nullptr;
}

Driver open_driver() {
    Driver d;
    if (disabled_by_environment()) {
        d.unavailable = std::string(kDisableVariable) + "=" + disabling_value() + " disables the CUDA driver";
        return d;
    }
    d.library = dlopen(kLibraryName, RTLD_NOW | RTLD_LOCAL);
    if (d.library == nullptr) {
        const char* why = dlerror();
        d.unavailable = std::string(kLibraryName) +
                        " cannot be loaded (no NVIDIA driver?): " + (why != nullptr ? why : "unknown dlopen error");
        return d;
    }
    abi::cuInit_t init = nullptr;
    const char* missing = nullptr;
    // Resolves one entry point, unless an earlier one is already missing (the first is reported).
    auto need = [&](const char* name, auto* slot) {
        if (missing == nullptr && !resolve(d.library, name, slot)) missing = name;
    };
    need("cuInit", &init);
    need("cuGetErrorName", &d.get_error_name);
    need("cuDeviceGetCount", &d.device_get_count);
    need("cuDeviceGet", &d.device_get);
    need("cuPointerGetAttribute", &d.pointer_get_attribute);
    need("cuPointerGetAttributes", &d.pointer_get_attributes);
    need("cuCtxPushCurrent_v2", &d.ctx_push);
    need("cuCtxPopCurrent_v2", &d.ctx_pop);
    need("cuDevicePrimaryCtxRetain", &d.primary_retain);
    need("cuDevicePrimaryCtxRelease_v2", &d.primary_release);
    need("cuMemcpyDtoH_v2", &d.memcpy_dtoh);
    if (missing != nullptr) {
        d.unavailable = std::string(kLibraryName) + " has no " + missing + " (a driver older than CUDA 11?)";
        return d;
    }
    abi::Result result = init(0);  // initialises the driver; creates no context
    if (result != abi::kSuccess) {
        d.unavailable = d.failure("cuInit(0)", result);
        return d;
    }
    return d;  // the library stays open for the life of the process
}

/// Opened on first use; a function-local static is initialised exactly once, thread-safely.
const Driver& driver() noexcept {
    static const Driver d = [] {
        try {
            return open_driver();
        } catch (const std::exception&) {  // only std::bad_alloc can get here
            Driver failed;
            failed.unavailable = "out of memory while opening the CUDA driver";
            return failed;
        }
    }();
    return d;
}

void set_error(std::string* error, const std::string& text) noexcept {
    if (error == nullptr) return;
    try {
        *error = text;
    } catch (const std::exception&) {
        error->clear();
    }
}

/// What cuPointerGetAttributes says, plus the owning context (for copies).
struct RawFacts {
    PointerFacts facts;
    abi::Context context = nullptr;
};

abi::Result classify(unsigned memory_type, bool managed, PointerFacts* out) noexcept {
    if (managed) {
        out->type = MemoryType::managed;
    } else if (memory_type == abi::kMemoryDevice) {
        out->type = MemoryType::device;
    } else if (memory_type == abi::kMemoryHost) {
        out->type = MemoryType::host_pinned;
    } else if (memory_type == 0) {
        out->type = MemoryType::host_unregistered;  // "default NULL values": the driver does not know it
    } else {
        return abi::kErrorInvalidValue;  // array or unified memory types do not describe a pointer
    }
    return abi::kSuccess;
}

/// Whether the driver refused the mapping attributes next to the others in one query (a
/// driver older than CUDA 12): query_raw then asks without them, this time and every time after.
std::atomic<bool> combined_query_rejected{false};

/// The answers of one cuPointerGetAttributes call. Zero-initialised and wider than the
/// driver writes, so a boolean written as one byte or four reads the same.
struct AttributeAnswers {
    abi::Context context = nullptr;
    unsigned memory_type = 0;
    unsigned long long is_managed = 0;
    int ordinal = -1;
    abi::DevicePtr range_start = 0;
    std::size_t range_size = 0;
    unsigned long long mapped = 0;
    abi::DevicePtr mapping_start = 0;
    std::size_t mapping_size = 0;
};

/// One cuPointerGetAttributes call for the six attributes that describe the pointer and,
/// with `with_mapping`, the three of its mapping (which range_mapped would otherwise ask
/// for in a query of their own).
abi::Result ask_attributes(const Driver& d, abi::DevicePtr address, bool with_mapping, AttributeAnswers* a) noexcept {
    *a = AttributeAnswers{};
    abi::PointerAttribute attributes[] = {abi::kAttrContext,       abi::kAttrMemoryType,      abi::kAttrIsManaged,
                                          abi::kAttrDeviceOrdinal, abi::kAttrRangeStart,      abi::kAttrRangeSize,
                                          abi::kAttrMapped,        abi::kAttrMappingBaseAddr, abi::kAttrMappingSize};
    void* data[] = {&a->context,    &a->memory_type, &a->is_managed,    &a->ordinal,     &a->range_start,
                    &a->range_size, &a->mapped,      &a->mapping_start, &a->mapping_size};
    return d.pointer_get_attributes(with_mapping ? 9u : 6u, attributes, data, address);
}

/// One cuPointerGetAttributes call (with `mapping`, two the first time a driver older than
/// CUDA 12 is asked); none of these attributes needs a current context. Throws only
/// std::bad_alloc (while composing a message).
Status query_raw(const Driver& d, const void* ptr, bool mapping, RawFacts* out, std::string* error) {
    const auto address = static_cast<abi::DevicePtr>(reinterpret_cast<std::uintptr_t>(ptr));
    AttributeAnswers a;
    bool with_mapping = mapping && !combined_query_rejected.load(std::memory_order_relaxed);
    abi::Result result = ask_attributes(d, address, with_mapping, &a);
    if (result != abi::kSuccess && with_mapping) {
        // Without the mapping attributes: when that succeeds, they were what the driver refused.
        with_mapping = false;
        result = ask_attributes(d, address, false, &a);
        if (result == abi::kSuccess) combined_query_rejected.store(true, std::memory_order_relaxed);
    }
    if (result == abi::kErrorInvalidValue) {
        // Older drivers answer INVALID_VALUE for host memory they do not know, as
        // cuPointerGetAttribute does; an attribute such a driver lacks would do the same.
        // Ask for the memory type alone to tell the two apart.
        a = AttributeAnswers{};
        result = d.pointer_get_attribute(&a.memory_type, abi::kAttrMemoryType, address);
        if (result == abi::kErrorInvalidValue) {
            out->facts = PointerFacts{};
            out->context = nullptr;
            return Status::ok;
        }
        if (result == abi::kSuccess) {
            (void)d.pointer_get_attribute(&a.is_managed, abi::kAttrIsManaged, address);
            (void)d.pointer_get_attribute(&a.ordinal, abi::kAttrDeviceOrdinal, address);
            (void)d.pointer_get_attribute(&a.context, abi::kAttrContext, address);
        }
    }
    if (result != abi::kSuccess) {
        set_error(error, d.failure("cuPointerGetAttributes", result));
        return Status::error;
    }
    PointerFacts facts;
    if (classify(a.memory_type, a.is_managed != 0, &facts) != abi::kSuccess) {
        set_error(error, "cuPointerGetAttributes answered memory type " + std::to_string(a.memory_type) +
                             ", which describes no pointer");
        return Status::error;
    }
    facts.device_ordinal = facts.type == MemoryType::host_unregistered ? -1 : a.ordinal;
    facts.range_start = static_cast<std::uintptr_t>(a.range_start);
    facts.range_size = a.range_size;
    facts.mapping_known = with_mapping && result == abi::kSuccess && facts.type == MemoryType::device;
    if (facts.mapping_known) {
        facts.mapped = a.mapped != 0;
        facts.mapping_start = static_cast<std::uintptr_t>(a.mapping_start);
        facts.mapping_size = a.mapping_size;
    }
    out->facts = facts;
    out->context = a.context;
    return Status::ok;
}

/// What the driver says about whether an address is mapped.
struct MappingFacts {
    bool mapped = false;               ///< CU_POINTER_ATTRIBUTE_MAPPED
    std::uintptr_t mapping_start = 0;  ///< the mapping that holds the address (0 if unknown)
    std::size_t mapping_size = 0;      ///< its size in bytes (0 when the driver does not say)

    /// Whether [mapping_start, mapping_start + mapping_size) is known and holds `address`.
    bool mapping_holds(std::uintptr_t address) const noexcept {
        return mapping_size != 0 && address >= mapping_start && address - mapping_start < mapping_size;
    }
};

/// What the driver says about `ptr`'s mapping. Throws only std::bad_alloc (while composing
/// a message).
Status query_mapping(const Driver& d, const void* ptr, MappingFacts* out, std::string* error) {
    const auto address = static_cast<abi::DevicePtr>(reinterpret_cast<std::uintptr_t>(ptr));
    unsigned long long mapped = 0;  // a boolean, however wide the driver writes it
    abi::DevicePtr mapping_start = 0;
    std::size_t mapping_size = 0;
    // A driver older than the mapping attributes (CUDA 12) rejects the whole call (with
    // CUDA_ERROR_INVALID_VALUE, or any other error): it is then asked only whether the
    // address is mapped, this time and every time after.
    static std::atomic<bool> mapping_attributes_rejected{false};
    abi::Result result = abi::kErrorInvalidValue;
    if (!mapping_attributes_rejected.load(std::memory_order_relaxed)) {
        abi::PointerAttribute attributes[] = {abi::kAttrMapped, abi::kAttrMappingBaseAddr, abi::kAttrMappingSize};
        void* data[] = {&mapped, &mapping_start, &mapping_size};
        result = d.pointer_get_attributes(3, attributes, data, address);
        if (result != abi::kSuccess) mapping_attributes_rejected.store(true, std::memory_order_relaxed);
    }
    if (result != abi::kSuccess) {
        mapped = 0;
        mapping_start = 0;
        mapping_size = 0;
        abi::PointerAttribute only_mapped[] = {abi::kAttrMapped};
        void* only_data[] = {&mapped};
        result = d.pointer_get_attributes(1, only_mapped, only_data, address);
    }
    if (result != abi::kSuccess) {
        set_error(error, d.failure("cuPointerGetAttributes(CU_POINTER_ATTRIBUTE_MAPPED)", result));
        return Status::error;
    }
    out->mapped = mapped != 0;
    out->mapping_start = static_cast<std::uintptr_t>(mapping_start);
    out->mapping_size = mapping_size;
    return Status::ok;
}

/// Mappings of CUDA's virtual memory management are made in multiples of the allocation
/// granularity, 2 MiB for device memory on every platform CUDA supports: where the driver
/// does not say how large a mapping is, each 2 MiB-aligned block is mapped or not as a whole.
constexpr std::uintptr_t kMappingGranularity = std::uintptr_t{2} << 20;

/// Driver queries one walk over the mappings may make before its answer is "unknown"
/// (128 GiB in blocks of the granularity).
constexpr std::size_t kMaxMappingQueries = 65536;

/// The next address of [p, high) that the driver must be asked about, or `high` when the
/// answer for `p` covers the rest: the end of the mapping that holds `p` when the driver
/// says which it is; otherwise the next granularity block, and finally the last byte.
std::uintptr_t next_address_to_ask(std::uintptr_t p, std::uintptr_t high, const MappingFacts& facts) noexcept {
    if (facts.mapping_holds(p)) {
        std::uintptr_t end = 0;
        if (__builtin_add_overflow(facts.mapping_start, facts.mapping_size, &end) || end >= high) return high;
        return end;
    }
    const std::uintptr_t last = high - 1;
    if (p == last) return high;
    std::uintptr_t next_block = 0;
    if (__builtin_add_overflow(p | (kMappingGranularity - 1), std::uintptr_t{1}, &next_block) || next_block > last) {
        return last;
    }
    return next_block;
}

/// The mapping answer that query_raw got along with the rest, if it got one.
bool known_mapping(const PointerFacts* at, MappingFacts* out) noexcept {
    if (at == nullptr || !at->mapping_known) return false;
    out->mapped = at->mapped;
    out->mapping_start = at->mapping_start;
    out->mapping_size = at->mapping_size;
    return true;
}

/// The walk of range_mapped over [low, high). `at_low`: what query_raw said about `low`
/// (its mapping answer saves the first query), or nullptr. Throws only std::bad_alloc (while
/// composing a message).
Mapped walk_mappings(const Driver& d, std::uintptr_t low, std::uintptr_t high, std::uintptr_t* unmapped,
                     std::string* why, const PointerFacts* at_low) {
    std::uintptr_t p = low;
    for (std::size_t queries = 0; p < high; ++queries) {
        if (queries == kMaxMappingQueries) {
            set_error(why, "the range spans more than " + std::to_string(kMaxMappingQueries) +
                               " blocks of device memory whose mappings the driver does not describe");
            return Mapped::unknown;
        }
        MappingFacts facts;
        std::string error;
        const bool answered = p == low && known_mapping(at_low, &facts);
        if (!answered && query_mapping(d, reinterpret_cast<const void*>(p), &facts, &error) != Status::ok) {
            set_error(why, "the CUDA driver cannot say whether device memory is mapped: " + error);
            return Mapped::unknown;
        }
        if (!facts.mapped && !facts.mapping_holds(p)) {
            if (unmapped != nullptr) *unmapped = p;
            return Mapped::not_all;
        }
        p = next_address_to_ask(p, high, facts);
    }
    return Mapped::all;
}

/// The loader's counts of the objects it ever added to and removed from the process.
struct LoaderCounts {
    bool known = false;  ///< false with a C library whose dl_phdr_info lacks them
    unsigned long long adds = 0;
    unsigned long long subs = 0;

    bool operator==(const LoaderCounts& other) const noexcept {
        return known && other.known && adds == other.adds && subs == other.subs;
    }
};

int read_counts(dl_phdr_info* info, std::size_t size, void* data) noexcept {
    auto* counts = static_cast<LoaderCounts*>(data);
    counts->known = size >= offsetof(dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs);
    if (counts->known) {
        counts->adds = info->dlpi_adds;
        counts->subs = info->dlpi_subs;
    }
    return 1;  // every object reports the same counts: the first is enough
}

LoaderCounts loader_counts() noexcept {
    LoaderCounts counts;
    dl_iterate_phdr(read_counts, &counts);
    return counts;
}

/// Walks the objects loaded into the process (dl_iterate_phdr) looking for libcuda, and
/// notes the object visited last (the one loaded latest).
struct LoadedObjects {
    bool found_driver = false;
    std::uintptr_t last_address = 0;     ///< dlpi_addr of the object visited last
    std::array<char, 4096> last_name{};  ///< its dlpi_name ("" when it has none, or a longer one)
};

int visit_loaded_object(dl_phdr_info* info, std::size_t, void* data) noexcept {
    auto* state = static_cast<LoadedObjects*>(data);
    const char* name = info->dlpi_name != nullptr ? info->dlpi_name : "";
    const char* slash = std::strrchr(name, '/');
    if (std::strncmp(slash != nullptr ? slash + 1 : name, "libcuda.so", 10) == 0) {
        state->found_driver = true;
        return 1;
    }
    state->last_address = static_cast<std::uintptr_t>(info->dlpi_addr);
    const std::size_t length = std::strlen(name);
    const bool fits = length < state->last_name.size();
    std::memcpy(state->last_name.data(), fits ? name : "", fits ? length + 1 : 1);
    return 0;
}

// "libcuda is not loaded", remembered without asking the loader again (dl_iterate_phdr takes
// the loader's lock and costs about 160 instructions a call, on every from_dlpack of a CPU
// tensor). The loader keeps the objects of the main namespace in one list in load order: an
// object loaded later, libcuda included, is linked in after the last one (link.h's l_next),
// and an object unloaded and loaded again is linked in anew, at the end. So while the object
// that was last when the walk found no libcuda is still last (its l_next is null), every
// object loaded now was loaded at that walk, and libcuda is not among them. That object is
// marked RTLD_NODELETE when it is remembered, so that it stays loaded and its link_map stays
// valid to read (whoever loaded it can no longer unload it; Python unloads no extension module
// and ctypes closes no library). A device pointer can only exist once libcuda was loaded, and a
// capsule that carries one reaches this call after that load completed (the producer made the
// pointer after dlopen returned, and handed the capsule over through the interpreter), so its
// l_next write is visible here and the walk is repeated. Where the last object cannot be
// remembered (no glibc, no name, dlopen refuses), nothing is remembered: the loader is asked.
#if defined(__GLIBC__)
std::atomic<link_map*> unchanged_since{nullptr};

bool nothing_loaded_since_walk() noexcept {
    link_map* last = unchanged_since.load(std::memory_order_acquire);
    return last != nullptr && __atomic_load_n(&last->l_next, __ATOMIC_ACQUIRE) == nullptr;
}

/// Remembers the object `walk` visited last, once it is pinned and nothing was loaded or
/// unloaded between that walk (whose counts were `before`) and the pinning.
void remember_last_object(const LoaderCounts& before, const LoadedObjects& walk) noexcept {
    if (!before.known || walk.last_name[0] == '\0') return;
    void* handle = dlopen(walk.last_name.data(), RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
    if (handle == nullptr) return;
    link_map* last = nullptr;
    const bool same_object = dlinfo(handle, RTLD_DI_LINKMAP, &last) == 0 && last != nullptr &&
                             static_cast<std::uintptr_t>(last->l_addr) == walk.last_address;
    dlclose(handle);  // drops the reference dlopen took; RTLD_NODELETE keeps the object loaded
    if (same_object && loader_counts() == before) {
        unchanged_since.store(last, std::memory_order_release);
    }
}
#else
bool nothing_loaded_since_walk() noexcept { return false; }
void remember_last_object(const LoaderCounts&, const LoadedObjects&) noexcept {}
#endif

/// query_pointer and query_pointer_and_mapping.
Status query_facts(const void* ptr, bool mapping, PointerFacts* out, std::string* error) noexcept {
    const Driver& d = driver();
    if (!d.usable()) {
        set_error(error, d.unavailable);
        return Status::unavailable;
    }
    try {
        RawFacts raw;
        Status status = query_raw(d, ptr, mapping, &raw, error);
        if (status == Status::ok && out != nullptr) *out = raw.facts;
        return status;
    } catch (const std::exception&) {  // std::bad_alloc while composing a message
        set_error(error, "out of memory");
        return Status::error;
    }
}

}  // namespace

bool driver_available() noexcept { return driver().usable(); }

const char* driver_unavailable_reason() noexcept { return driver().unavailable.c_str(); }

bool driver_loaded_in_process() noexcept {
    if (disabled_by_environment()) return false;
    static std::atomic<bool> seen{false};  // a driver once loaded stays loaded
    if (seen.load(std::memory_order_relaxed)) return true;
    if (nothing_loaded_since_walk()) return false;
    // dlopen(RTLD_NOLOAD) would answer too, but it searches the file system each time it
    // says no (tens of microseconds). The loader counts the objects it ever added: the list
    // of loaded objects is only walked again when that count has moved.
    static std::atomic<unsigned long long> walked_at{~0ull};
    const LoaderCounts first = loader_counts();
    if (first.known && first.adds == walked_at.load(std::memory_order_relaxed)) return false;
    LoadedObjects all;
    dl_iterate_phdr(visit_loaded_object, &all);
    if (all.found_driver) {
        seen.store(true, std::memory_order_relaxed);
        return true;
    }
    if (first.known) walked_at.store(first.adds, std::memory_order_relaxed);
    remember_last_object(first, all);
    return false;
}

Status query_pointer(const void* ptr, PointerFacts* out, std::string* error) noexcept {
    return query_facts(ptr, false, out, error);
}

Status query_pointer_and_mapping(const void* ptr, PointerFacts* out, std::string* error) noexcept {
    return query_facts(ptr, true, out, error);
}

Mapped range_mapped(const void* first, std::size_t bytes, std::uintptr_t* unmapped, std::string* why,
                    const PointerFacts* at_first) noexcept {
    const Driver& d = driver();
    if (!d.usable()) {
        set_error(why, d.unavailable);
        return Mapped::unknown;
    }
    const auto low = reinterpret_cast<std::uintptr_t>(first);
    std::uintptr_t high = 0;
    if (__builtin_add_overflow(low, bytes, &high)) {
        set_error(why, "the range wraps around the address space");
        return Mapped::unknown;
    }
    try {
        return walk_mappings(d, low, high, unmapped, why, at_first);
    } catch (const std::exception&) {  // std::bad_alloc while composing a message
        set_error(why, "out of memory");
        return Mapped::unknown;
    }
}

Status device_count(int* out, std::string* error) noexcept {
    const Driver& d = driver();
    if (!d.usable()) {
        set_error(error, d.unavailable);
        return Status::unavailable;
    }
    int count = 0;
    abi::Result result = d.device_get_count(&count);
    if (result != abi::kSuccess) {
        try {
            set_error(error, d.failure("cuDeviceGetCount", result));
        } catch (const std::exception&) {  // std::bad_alloc while composing the message
            set_error(error, "cuDeviceGetCount failed");
        }
        return Status::error;
    }
    if (out != nullptr) *out = count;
    return Status::ok;
}

Status copy_to_host(void* dst, const void* src, std::size_t bytes, std::string* error) noexcept {
    const Driver& d = driver();
    if (!d.usable()) {
        set_error(error, d.unavailable);
        return Status::unavailable;
    }
    if (bytes == 0) return Status::ok;
    try {
        RawFacts raw;
        if (query_raw(d, src, true, &raw, error) != Status::ok) return Status::error;
        const PointerFacts& facts = raw.facts;
        const auto first = reinterpret_cast<std::uintptr_t>(src);
        if (facts.type == MemoryType::host_unregistered) {
            set_error(error, "src: expected device, managed or page-locked memory, got " +
                                 std::string(memory_type_name(facts.type)));
            return Status::error;
        }
        if (facts.range_holds(first) && bytes > facts.range_size - (first - facts.range_start)) {
            set_error(error, "src: expected " + std::to_string(bytes) + " bytes inside its allocation, got " +
                                 std::to_string(facts.range_size - (first - facts.range_start)) + " bytes left in it");
            return Status::error;
        }
        if (facts.type == MemoryType::host_pinned) {
            std::memcpy(dst, src, bytes);  // host memory: the CPU reads it directly
            return Status::ok;
        }
        // A reserved range is reported whole (see range_mapped): never let the copy engine
        // read an unmapped address, which can leave the context unusable. Where the driver
        // cannot tell, the copy's own error is the answer.
        std::uintptr_t unmapped = 0, end = 0;
        if (facts.type == MemoryType::device && !__builtin_add_overflow(first, bytes, &end) &&
            walk_mappings(d, first, end, &unmapped, nullptr, &facts) == Mapped::not_all) {
            set_error(error, "src: expected " + std::to_string(bytes) + " bytes of mapped device memory, got byte " +
                                 std::to_string(unmapped - first) + " of them unmapped");
            return Status::error;
        }

        // The copy needs a current context: the one that owns src, or (for stream-ordered
        // and VMM allocations, which belong to no context) its device's primary context.
        abi::Context context = raw.context;
        abi::Device device = 0;
        bool retained = false;
        if (context == nullptr) {
            abi::Result result = d.device_get(&device, facts.device_ordinal);
            if (result == abi::kSuccess) result = d.primary_retain(&context, device);
            if (result != abi::kSuccess) {
                set_error(error, d.failure("cuDevicePrimaryCtxRetain", result));
                return Status::error;
            }
            retained = true;
        }
        abi::Result result = d.ctx_push(context);
        if (result != abi::kSuccess) {
            if (retained) (void)d.primary_release(device);
            set_error(error, d.failure("cuCtxPushCurrent", result));
            return Status::error;
        }
        const abi::Result copied = d.memcpy_dtoh(dst, static_cast<abi::DevicePtr>(first), bytes);
        abi::Context popped = nullptr;
        const abi::Result restored = d.ctx_pop(&popped);  // the caller's context is current again
        if (retained) (void)d.primary_release(device);
        if (copied != abi::kSuccess) {
            set_error(error, d.failure("cuMemcpyDtoH", copied));
            return Status::error;
        }
        if (restored != abi::kSuccess) {
            set_error(error, d.failure("cuCtxPopCurrent", restored));
            return Status::error;
        }
        return Status::ok;
    } catch (const std::exception&) {  // only std::bad_alloc while composing a message
        set_error(error, "out of memory");
        return Status::error;
    }
}

}  // namespace optype_dlpack::cuda

// The table other extensions call through (optype_dlpack/cuda_api.hpp): the functions above
// with C types, so that an extension built with another C++ standard library shares this
// driver state instead of opening libcuda a second time.
namespace {

namespace od = optype_dlpack;

void copy_text(const std::string& text, char* out, std::size_t size) noexcept {
    if (out == nullptr || size == 0) return;
    const std::size_t n = text.size() < size - 1 ? text.size() : size - 1;
    std::memcpy(out, text.data(), n);
    out[n] = '\0';
}

int api_driver_available() { return od::cuda::driver_available() ? 1 : 0; }
const char* api_driver_unavailable_reason() { return od::cuda::driver_unavailable_reason(); }
int api_driver_loaded_in_process() { return od::cuda::driver_loaded_in_process() ? 1 : 0; }

int api_query_pointer(const void* ptr, od::cuda::PointerFacts* out, char* error, std::size_t size) {
    std::string text;
    const od::cuda::Status status = od::cuda::query_pointer(ptr, out, &text);
    copy_text(text, error, size);
    return static_cast<int>(status);
}

int api_query_pointer_and_mapping(const void* ptr, od::cuda::PointerFacts* out, char* error, std::size_t size) {
    std::string text;
    const od::cuda::Status status = od::cuda::query_pointer_and_mapping(ptr, out, &text);
    copy_text(text, error, size);
    return static_cast<int>(status);
}

int api_range_mapped(const void* first, std::size_t bytes, std::uintptr_t* unmapped, char* why, std::size_t size,
                     const od::cuda::PointerFacts* at_first) {
    std::string text;
    const od::cuda::Mapped answer = od::cuda::range_mapped(first, bytes, unmapped, &text, at_first);
    copy_text(text, why, size);
    return static_cast<int>(answer);
}

int api_device_count(int* out, char* error, std::size_t size) {
    std::string text;
    const od::cuda::Status status = od::cuda::device_count(out, &text);
    copy_text(text, error, size);
    return static_cast<int>(status);
}

int api_copy_to_host(void* dst, const void* src, std::size_t bytes, char* error, std::size_t size) {
    std::string text;
    const od::cuda::Status status = od::cuda::copy_to_host(dst, src, bytes, &text);
    copy_text(text, error, size);
    return static_cast<int>(status);
}

constexpr od::cuda::DriverApi kDriverApi{
    od::cuda::kDriverApiVersion,
    sizeof(od::cuda::DriverApi),
    &api_driver_available,
    &api_driver_unavailable_reason,
    &api_driver_loaded_in_process,
    &api_query_pointer,
    &api_query_pointer_and_mapping,
    &api_range_mapped,
    &api_device_count,
    &api_copy_to_host,
};

}  // namespace

// Visible to dlsym (the module is built with hidden visibility); the name carries the version.
extern "C" __attribute__((visibility("default"))) const od::cuda::DriverApi* optype_dlpack_cuda_driver_api_v1() {
    return &kDriverApi;
}

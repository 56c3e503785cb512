/* A stand-in for libcuda.so.1 for machines without a GPU: the entry points that
 * src_cpp/cuda_driver.cpp resolves, answering pointer queries from a table of address ranges
 * that the test sets (fake_cuda_set_range). Built with the soname libcuda.so.1 and loaded
 * into a child interpreter with ctypes, it is "libcuda loaded in the process" for
 * driver_loaded_in_process(), and dlopen("libcuda.so.1") finds it by its soname.
 *
 * The "device memory" of a range is ordinary host memory of the test's own, so a mistaken
 * host read reads garbage instead of crashing: the tests see every answer, and count the
 * queries (fake_cuda_queries) to tell "asked" from "not asked". */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum { kSuccess = 0, kInvalidValue = 1 };
enum { kMaxRanges = 16 };

struct Range {
    uint64_t start, size;
    unsigned memory_type; /* CU_MEMORYTYPE_HOST 1 (page-locked), CU_MEMORYTYPE_DEVICE 2 */
    unsigned managed;
    int ordinal;
};

static struct Range ranges[kMaxRanges];
static int range_count;
static long long queries;
static uint64_t unmapped_start, unmapped_size; /* a hole in device ranges: reserved, not mapped */
static int refused_from = 1 << 30;             /* attributes from this value on are unknown (older drivers) */

/* ---- the test's controls ---- */

void fake_cuda_clear(void) {
    range_count = 0;
    unmapped_size = 0;
}

/* [start, start + size) of device ranges is reserved but not mapped (as in an address range
 * of CUDA's virtual memory management of which only parts are mapped). */
void fake_cuda_set_unmapped(uint64_t start, uint64_t size) {
    unmapped_start = start;
    unmapped_size = size;
}

/* Behave as a driver that does not know attributes numbered `first` and above. */
void fake_cuda_refuse_attributes_from(int first) { refused_from = first; }

int fake_cuda_set_range(uint64_t start, uint64_t size, unsigned memory_type, unsigned managed, int ordinal) {
    if (range_count == kMaxRanges) return -1;
    struct Range r = {start, size, memory_type, managed, ordinal};
    ranges[range_count++] = r;
    return 0;
}

long long fake_cuda_queries(void) { return queries; }

/* ---- the driver ---- */

static const struct Range* find(uint64_t ptr) {
    for (int i = range_count - 1; i >= 0; --i) { /* the latest range set wins */
        if (ptr >= ranges[i].start && ptr - ranges[i].start < ranges[i].size) return &ranges[i];
    }
    return NULL;
}

static int in_hole(uint64_t ptr) { return unmapped_size != 0 && ptr >= unmapped_start && ptr - unmapped_start < unmapped_size; }

/* The mapping of device memory that holds ptr: the part of its range before or after the hole. */
static void mapping_of(const struct Range* r, uint64_t ptr, uint64_t* start, uint64_t* size) {
    *start = r->start;
    *size = r->size;
    if (unmapped_size == 0 || unmapped_start >= r->start + r->size || unmapped_start + unmapped_size <= r->start) return;
    if (ptr < unmapped_start) {
        *size = unmapped_start - r->start;
    } else {
        *start = unmapped_start + unmapped_size;
        *size = r->start + r->size - *start;
    }
}

/* Writes one attribute of `r` (NULL: memory the driver does not know, all defaults). */
static int write_attribute(void* out, int attribute, const struct Range* r, uint64_t ptr) {
    const int mapped = r != NULL && r->memory_type == 2 && !in_hole(ptr);
    uint64_t mapping_start = 0, mapping_size = 0;
    if (mapped) mapping_of(r, ptr, &mapping_start, &mapping_size);
    if (attribute >= refused_from) return kInvalidValue;
    switch (attribute) {
        case 1: *(void**)out = NULL; return kSuccess;                                   /* CONTEXT */
        case 2: *(unsigned*)out = r ? r->memory_type : 0; return kSuccess;              /* MEMORY_TYPE */
        case 8: *(unsigned*)out = r ? r->managed : 0; return kSuccess;                  /* IS_MANAGED */
        case 9: *(int*)out = r ? r->ordinal : -2; return kSuccess;                      /* DEVICE_ORDINAL */
        case 11: *(uint64_t*)out = r ? r->start : 0; return kSuccess;                   /* RANGE_START_ADDR */
        case 12: *(size_t*)out = r ? (size_t)r->size : 0; return kSuccess;              /* RANGE_SIZE */
        case 13: *(int*)out = mapped; return kSuccess;                                  /* MAPPED */
        case 18: *(size_t*)out = (size_t)mapping_size; return kSuccess;                 /* MAPPING_SIZE */
        case 19: *(uint64_t*)out = mapping_start; return kSuccess;                      /* MAPPING_BASE_ADDR */
        default: return kInvalidValue;
    }
}

int cuInit(unsigned flags) { return flags == 0 ? kSuccess : kInvalidValue; }

int cuGetErrorName(int error, const char** name) {
    *name = error == kInvalidValue ? "CUDA_ERROR_INVALID_VALUE" : "CUDA_ERROR_UNKNOWN";
    return kSuccess;
}

int cuDeviceGetCount(int* count) {
    *count = 2;
    return kSuccess;
}

int cuDeviceGet(int* device, int ordinal) {
    *device = ordinal;
    return kSuccess;
}

int cuPointerGetAttributes(unsigned count, int* attributes, void** data, uint64_t ptr) {
    ++queries;
    const struct Range* r = find(ptr);
    for (unsigned i = 0; i < count; ++i) {
        if (write_attribute(data[i], attributes[i], r, ptr) != kSuccess) return kInvalidValue;
    }
    return kSuccess;
}

int cuPointerGetAttribute(void* data, int attribute, uint64_t ptr) {
    ++queries;
    const struct Range* r = find(ptr);
    if (r == NULL) return kInvalidValue; /* as the driver answers for memory it does not know */
    return write_attribute(data, attribute, r, ptr);
}

static int fake_context;

int cuCtxPushCurrent_v2(void* context) { return context != NULL ? kSuccess : kInvalidValue; }

int cuCtxPopCurrent_v2(void** context) {
    *context = &fake_context;
    return kSuccess;
}

int cuDevicePrimaryCtxRetain(void** context, int device) {
    (void)device;
    *context = &fake_context;
    return kSuccess;
}

int cuDevicePrimaryCtxRelease_v2(int device) {
    (void)device;
    return kSuccess;
}

int cuMemcpyDtoH_v2(void* dst, uint64_t src, size_t bytes) {
    memcpy(dst, (const void*)(uintptr_t)src, bytes);
    return kSuccess;
}

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

/* ---- the test's controls ---- */

void fake_cuda_clear(void) { range_count = 0; }

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

/* Writes one attribute of `r` (NULL: memory the driver does not know, all defaults). */
static int write_attribute(void* out, int attribute, const struct Range* r) {
    switch (attribute) {
        case 1: *(void**)out = NULL; return kSuccess;                                   /* CONTEXT */
        case 2: *(unsigned*)out = r ? r->memory_type : 0; return kSuccess;              /* MEMORY_TYPE */
        case 8: *(unsigned*)out = r ? r->managed : 0; return kSuccess;                  /* IS_MANAGED */
        case 9: *(int*)out = r ? r->ordinal : -2; return kSuccess;                      /* DEVICE_ORDINAL */
        case 11: *(uint64_t*)out = r ? r->start : 0; return kSuccess;                   /* RANGE_START_ADDR */
        case 12: *(size_t*)out = r ? (size_t)r->size : 0; return kSuccess;              /* RANGE_SIZE */
        case 13: *(int*)out = r && r->memory_type == 2 ? 1 : 0; return kSuccess;        /* MAPPED */
        case 18: *(size_t*)out = r && r->memory_type == 2 ? (size_t)r->size : 0; return kSuccess; /* MAPPING_SIZE */
        case 19: *(uint64_t*)out = r && r->memory_type == 2 ? r->start : 0; return kSuccess;      /* MAPPING_BASE */
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
        if (write_attribute(data[i], attributes[i], r) != kSuccess) return kInvalidValue;
    }
    return kSuccess;
}

int cuPointerGetAttribute(void* data, int attribute, uint64_t ptr) {
    ++queries;
    const struct Range* r = find(ptr);
    if (r == NULL) return kInvalidValue; /* as the driver answers for memory it does not know */
    return write_attribute(data, attribute, r);
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

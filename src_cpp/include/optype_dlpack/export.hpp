/// optype_dlpack/export.hpp — builds DLPack capsules ("dltensor" or "dltensor_versioned")
/// over memory that a Python object keeps alive, following the DLPack Python specification
/// (dmlc/dlpack python_spec.rst): the capsule's destructor frees an unconsumed tensor, and
/// the tensor's deleter runs exactly once, from any thread.
///
/// Needs <Python.h> (included first by the including translation unit).
#pragma once

#include "dlpack.hpp"

#include <Python.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

namespace optype_dlpack {

/// What a capsule describes. Shape and strides are copied into the capsule.
struct ExportSpec {
    void* data = nullptr;
    DLDevice device{kDLCPU, 0};
    DLDataType dtype{kDLUInt, 8, 1};
    std::int32_t ndim = 0;
    const std::int64_t* shape = nullptr;    ///< ndim extents (may be NULL when ndim == 0)
    const std::int64_t* strides = nullptr;  ///< ndim strides in elements (may be NULL when ndim == 0)
    std::uint64_t byte_offset = 0;
    std::uint64_t flags = 0;  ///< READ_ONLY, IS_COPIED, IS_SUBBYTE_TYPE_PADDED (versioned capsules only)
};

/// Memory for a copy made by the exporter: 256-byte aligned (dlpack.h's recommendation, which
/// some consumers require). Released with std::free. Returns nullptr when `bytes` is 0.
inline void* allocate_export_data(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    constexpr std::size_t kAlign = 256;
    std::size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
    if (rounded < bytes) throw std::bad_alloc();
    void* out = std::aligned_alloc(kAlign, rounded);
    if (out == nullptr) throw std::bad_alloc();
    return out;
}

namespace detail {

/// Whether Python objects may still be touched: not while the interpreter is finalizing
/// (a deleter may run then, or on a thread the runtime no longer serves).
inline bool python_usable() noexcept {
    if (!Py_IsInitialized()) return false;
#if PY_VERSION_HEX >= 0x030D0000
    return !Py_IsFinalizing();
#else
    return !_Py_IsFinalizing();
#endif
}

/// What a deleter releases besides the managed struct itself.
struct ExportContext {
    PyObject* keepalive;  ///< strong reference that keeps the memory alive (may be NULL)
    void* owned_data;     ///< a copy made for this capsule, freed with std::free (may be NULL)
};

/// One allocation: the managed struct, its context, then shape[ndim] and strides[ndim].
template <class Managed>
struct ExportBlock {
    Managed managed;
    ExportContext context;
};

/// Not noexcept: PyGILState_Ensure on a thread of a finalizing interpreter ends the thread with a
/// forced unwind, which must pass through (a noexcept frame would terminate the process).
inline void release_context(ExportContext& context) {
    if (context.keepalive != nullptr && python_usable()) {
        // Deleters may run on any thread, with or without the GIL: take it for the DECREF.
        PyGILState_STATE state = PyGILState_Ensure();
        Py_DECREF(context.keepalive);
        PyGILState_Release(state);
    }  // else the reference is leaked on purpose: the interpreter is going away
    std::free(context.owned_data);
}

template <class Managed>
void export_deleter(Managed* self) {
    if (self == nullptr) return;
    auto* block = reinterpret_cast<ExportBlock<Managed>*>(self);  // managed is the first member
    release_context(block->context);
    block->~ExportBlock<Managed>();
    std::free(block);
}

/// The PyCapsule destructor of the Python specification: frees the tensor only if no
/// consumer renamed the capsule (a consumer that renamed it owns the deleter call).
inline void versioned_capsule_destructor(PyObject* capsule) {
    if (!PyCapsule_IsValid(capsule, kVersionedName)) return;  // consumed (renamed): nothing to do
    auto* managed = static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(capsule, kVersionedName));
    if (managed != nullptr && managed->deleter != nullptr) managed->deleter(managed);
}

inline void legacy_capsule_destructor(PyObject* capsule) {
    if (!PyCapsule_IsValid(capsule, kLegacyName)) return;
    auto* managed = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule, kLegacyName));
    if (managed != nullptr && managed->deleter != nullptr) managed->deleter(managed);
}

inline void fill_tensor(DLTensor& t, const ExportSpec& spec, std::int64_t* dims) noexcept {
    t.data = spec.data;
    t.device = spec.device;
    t.ndim = spec.ndim;
    t.dtype = spec.dtype;
    t.byte_offset = spec.byte_offset;
    if (spec.ndim <= 0) {  // NULL shape and strides are what DLPack 1.3 allows for 0-d tensors
        t.shape = nullptr;
        t.strides = nullptr;
        return;
    }
    const auto n = static_cast<std::size_t>(spec.ndim);
    std::memcpy(dims, spec.shape, n * sizeof(std::int64_t));
    std::memcpy(dims + n, spec.strides, n * sizeof(std::int64_t));
    t.shape = dims;
    t.strides = dims + n;
}

template <class Managed>
Managed* new_block(const ExportSpec& spec, PyObject* keepalive, void* owned_data) noexcept {
    const std::size_t dims = 2 * static_cast<std::size_t>(spec.ndim > 0 ? spec.ndim : 0);
    void* memory = std::malloc(sizeof(ExportBlock<Managed>) + dims * sizeof(std::int64_t));
    if (memory == nullptr) return nullptr;
    auto* block = new (memory) ExportBlock<Managed>;  // every field is written below (no zeroing pass)
    block->context.keepalive = keepalive;
    block->context.owned_data = owned_data;
    auto* trailing = reinterpret_cast<std::int64_t*>(block + 1);
    fill_tensor(block->managed.dl_tensor, spec, trailing);
    block->managed.manager_ctx = &block->context;
    block->managed.deleter = &export_deleter<Managed>;
    return &block->managed;
}

static_assert(sizeof(ExportBlock<DLManagedTensorVersioned>) % alignof(std::int64_t) == 0, "trailing dims");
static_assert(sizeof(ExportBlock<DLManagedTensor>) % alignof(std::int64_t) == 0, "trailing dims");

}  // namespace detail

/// Builds a capsule for `spec`. `keepalive` (borrowed; may be NULL) is held until the deleter
/// runs; `owned_data` (may be NULL) is memory of a copy, freed by the deleter — on failure it
/// is freed here too. Versioned capsules carry DLPack version 1.3 and `spec.flags`; legacy
/// capsules cannot carry flags (the caller refuses flags it cannot drop). Returns a new
/// reference, or NULL with a Python exception set.
inline PyObject* make_capsule(const ExportSpec& spec, PyObject* keepalive, void* owned_data, bool versioned) {
    PyObject* capsule = nullptr;
    if (versioned) {
        auto* managed = detail::new_block<DLManagedTensorVersioned>(spec, keepalive, owned_data);
        if (managed == nullptr) {
            std::free(owned_data);
            return PyErr_NoMemory();
        }
        managed->version = DLPackVersion{DLPACK_MAJOR_VERSION, DLPACK_MINOR_VERSION};
        managed->flags = spec.flags;
        Py_XINCREF(keepalive);
        capsule = PyCapsule_New(managed, kVersionedName, &detail::versioned_capsule_destructor);
        if (capsule == nullptr) managed->deleter(managed);
    } else {
        auto* managed = detail::new_block<DLManagedTensor>(spec, keepalive, owned_data);
        if (managed == nullptr) {
            std::free(owned_data);
            return PyErr_NoMemory();
        }
        Py_XINCREF(keepalive);
        capsule = PyCapsule_New(managed, kLegacyName, &detail::legacy_capsule_destructor);
        if (capsule == nullptr) managed->deleter(managed);
    }
    return capsule;
}

/// Copies a strided array of whole-byte elements into `dst` in C order.
/// `first` points at element (0, ..., 0); `byte_strides` may be negative.
inline void copy_to_c_order(char* dst, const char* first, std::int32_t ndim, const std::int64_t* shape,
                            const std::int64_t* byte_strides, std::size_t itemsize) noexcept {
    std::int64_t size = 1;
    for (std::int32_t i = 0; i < ndim; ++i) size *= shape[i];
    if (size == 0) return;
    if (ndim == 0) {
        std::memcpy(dst, first, itemsize);
        return;
    }
    // The innermost axis is copied as a run; the outer axes are walked with a counter.
    const std::int32_t inner = ndim - 1;
    const std::int64_t run = shape[inner];
    const bool contiguous_run = byte_strides[inner] == static_cast<std::int64_t>(itemsize);
    std::int64_t index[kMaxNdim] = {};  // ndim <= kMaxNdim, checked by every caller
    const char* row = first;
    for (;;) {
        if (contiguous_run) {
            std::memcpy(dst, row, static_cast<std::size_t>(run) * itemsize);
            dst += static_cast<std::size_t>(run) * itemsize;
        } else {
            const char* p = row;
            for (std::int64_t j = 0; j < run; ++j, p += byte_strides[inner], dst += itemsize) {
                std::memcpy(dst, p, itemsize);
            }
        }
        std::int32_t axis = inner - 1;
        for (; axis >= 0; --axis) {
            row += byte_strides[axis];
            if (++index[axis] < shape[axis]) break;
            row -= byte_strides[axis] * shape[axis];
            index[axis] = 0;
        }
        if (axis < 0) return;
    }
}

}  // namespace optype_dlpack

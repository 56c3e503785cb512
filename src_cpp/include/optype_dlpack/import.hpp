/// optype_dlpack/import.hpp — takes ownership of a DLPack tensor whose data the host will
/// read, as the DLPack Python specification asks of a consumer: the capsule is renamed to
/// "used_*" exactly once, only when the caller takes the tensor (after its checks passed),
/// and the taker calls the deleter exactly once.
///
/// Producers are asked through acquire.hpp's negotiate() with StreamPolicy::host_read: the
/// host reads right after __dlpack__ returns, so the producer must synchronise with the legacy
/// default stream (stream=None, passed explicitly); a device tensor from the DLPack 1.3 C
/// exchange API is released and asked for again through __dlpack__(stream=None, ...).
/// __dlpack_device__() is not asked: the capsule's own device decides what the caller may do.
///
/// Anything the caller does between acquire() and take() that can run Python (an import, a
/// __del__, another thread taking the GIL) can let another consumer take the same capsule.
/// take() therefore re-checks the capsule at the moment it renames it, and verify_unconsumed()
/// lets the caller re-check before it reads the tensor again after such a step.
///
/// Needs <Python.h> (included first by the including translation unit).
#pragma once

#include "acquire.hpp"
#include "source.hpp"

#include <Python.h>

#include <cstdint>

namespace optype_dlpack {

/// A managed tensor whose ownership was handed over: call `release()` exactly once.
struct TakenTensor {
    void* managed = nullptr;  ///< DLManagedTensorVersioned* or DLManagedTensor*
    bool versioned = false;

    /// Runs the producer's deleter (if any) once. Safe to call on an empty TakenTensor. Not
    /// noexcept: a deleter is producer code and may run Python.
    void release() {
        void* m = managed;
        managed = nullptr;
        if (versioned) {
            release_managed(static_cast<DLManagedTensorVersioned*>(m));
        } else {
            release_managed(static_cast<DLManagedTensor*>(m));
        }
    }
};

/// A tensor obtained for reading on the host, not yet owned by the caller. Until `take()`,
/// destroying it leaves a capsule unconsumed (its own destructor frees the tensor) and
/// releases a tensor received from the exchange API.
class HostImport {
public:
    HostImport() = default;
    HostImport(const HostImport&) = delete;
    HostImport& operator=(const HostImport&) = delete;
    ~HostImport() noexcept(false) {       // a deleter or a capsule destructor may run Python
        if (!thread_holds_gil()) return;  // a forced unwind at exit: leave everything
        release_managed(exchanged_);
        Py_XDECREF(capsule_);  // an unconsumed capsule frees its tensor in its own destructor
    }

    ManagedView view;
    const char* consumed_name = nullptr;  ///< set with SourceError::consumed

    /// Obtains the tensor of `x`: a capsule (borrowed, not consumed until take()), or a
    /// producer's, asked under StreamPolicy::host_read.
    SourceError acquire(PyObject* x) {
        if (PyCapsule_CheckExact(x)) return read_capsule(x);
        Offer offer;
        if (!negotiate(x, StreamPolicy::host_read, offer)) return SourceError::python_error;
        if (offer.managed != nullptr) {
            hold_exchanged(offer.take_managed());
            return SourceError::none;
        }
        return read_capsule(offer.capsule);  // held by capsule_ now; dropped unconsumed, it frees the tensor
    }

    /// Whether the tensor read by acquire() is still there to take: true for a tensor from the
    /// exchange API (owned already), and for a capsule that still has the unconsumed name it
    /// was read under and still points at the same managed tensor. Otherwise sets a
    /// BufferError and returns false: the view must not be read again. Runs no Python code.
    bool verify_unconsumed() {
        if (exchanged_ != nullptr || capsule_ == nullptr) return true;
        bool intact = false;
#ifdef Py_GIL_DISABLED
        Py_BEGIN_CRITICAL_SECTION(capsule_);
#endif
        intact = capsule_intact();
#ifdef Py_GIL_DISABLED
        Py_END_CRITICAL_SECTION();
#endif
        if (!intact) raise_taken_elsewhere();
        return intact;
    }

    /// Takes ownership: a capsule is renamed to "used_dltensor[_versioned]" here and nowhere
    /// else, right after checking (with no Python code in between) that it still has the
    /// unconsumed name it was read under and still points at the same managed tensor. If
    /// another consumer took it meanwhile, returns an empty TakenTensor with a BufferError
    /// set: nothing was taken, and the view must not be read again. Otherwise the caller must
    /// `release()` the result exactly once.
    TakenTensor take() {
        if (exchanged_ != nullptr) {
            TakenTensor out{exchanged_, true};
            exchanged_ = nullptr;
            return out;
        }
        if (capsule_ == nullptr) return TakenTensor{};
        bool renamed = false;
#ifdef Py_GIL_DISABLED
        Py_BEGIN_CRITICAL_SECTION(capsule_);
#endif
        renamed = capsule_intact() && PyCapsule_SetName(capsule_, used_name()) == 0;
#ifdef Py_GIL_DISABLED
        Py_END_CRITICAL_SECTION();
#endif
        if (!renamed) {
            raise_taken_elsewhere();
            return TakenTensor{};
        }
        Py_CLEAR(capsule_);  // renamed: its destructor no longer frees the tensor
        return TakenTensor{managed_, view.versioned};
    }

private:
    /// Reads a capsule by its name (as Source::from_capsule does), keeping a reference to it.
    SourceError read_capsule(PyObject* capsule) {
        SourceError error = read_dlpack_capsule(capsule, &view, &managed_, &consumed_name);
        if (error != SourceError::none) return error;
        Py_INCREF(capsule);
        Py_XSETREF(capsule_, capsule);
        return SourceError::none;
    }

    /// Keeps a managed tensor from the exchange API (owned) and describes it in `view`.
    void hold_exchanged(DLManagedTensorVersioned* managed) {
        exchanged_ = managed;
        view.versioned = true;
        view.version = managed->version;
        view.flags = managed->version.major == DLPACK_MAJOR_VERSION ? managed->flags : 0;
        view.tensor = &managed->dl_tensor;
    }

    const char* unconsumed_name() const noexcept { return view.versioned ? kVersionedName : kLegacyName; }
    const char* used_name() const noexcept { return view.versioned ? kUsedVersionedName : kUsedLegacyName; }

    /// Whether capsule_ still has the name it was read under and the same managed tensor.
    /// Compares names and pointers only: no Python code runs and no exception is set.
    bool capsule_intact() const {
        return PyCapsule_IsValid(capsule_, unconsumed_name()) &&
               PyCapsule_GetPointer(capsule_, unconsumed_name()) == managed_;
    }

    static void raise_taken_elsewhere() {
        PyErr_SetString(PyExc_BufferError,
                        "the capsule was consumed by another consumer while it was being imported; nothing was taken");
    }

    PyObject* capsule_ = nullptr;  ///< the capsule read, until take() consumes it
    void* managed_ = nullptr;      ///< its DLManagedTensor[Versioned]
    DLManagedTensorVersioned* exchanged_ = nullptr;
};

}  // namespace optype_dlpack

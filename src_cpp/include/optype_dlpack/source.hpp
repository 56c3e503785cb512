/// optype_dlpack/source.hpp — obtains a borrowed DLPack tensor from a Python object the way a
/// careful consumer does: from a capsule (never renamed, consumed or freed), from the
/// DLPack 1.3 C exchange API of the object's type, or from its __dlpack__ method.
///
/// Needs <Python.h> (included first by the including translation unit).
#pragma once

#include "check.hpp"
#include "tables.hpp"

#include <Python.h>

#include <cstdint>
#include <cstring>

namespace optype_dlpack {

/// How a tensor was obtained.
enum class SourceKind : std::uint8_t {
    capsule,        ///< a capsule given by the caller
    dunder_dlpack,  ///< the capsule returned by the producer's __dlpack__
    exchange_api,   ///< the producer's DLPack exchange API (a borrowed DLTensor)
    array_struct,   ///< read from the producer's own array struct (the view's storage is the caller's)
};

/// Why a tensor could not be obtained, when no Python exception says it already.
enum class SourceError : std::uint8_t { none, consumed, python_error };

/// Runs a managed tensor's deleter, if it has one (and the tensor is not NULL). A deleter is
/// producer code and may run Python, so neither overload is noexcept.
inline void release_managed(DLManagedTensorVersioned* managed) {
    if (managed != nullptr && managed->deleter != nullptr) managed->deleter(managed);
}
inline void release_managed(DLManagedTensor* managed) {
    if (managed != nullptr && managed->deleter != nullptr) managed->deleter(managed);
}

/// Reads a capsule by its name (the name selects the layout) into `view`, and the managed
/// tensor's address into `managed`. Reads nothing else and changes nothing: the caller still
/// owns the capsule. A used_* capsule returns SourceError::consumed (its name in
/// `consumed_name`); any other name sets a Python TypeError.
inline SourceError read_dlpack_capsule(PyObject* capsule, ManagedView* view, void** managed,
                                       const char** consumed_name) {
    const char* name = PyCapsule_GetName(capsule);
    if (name == nullptr && PyErr_Occurred()) return SourceError::python_error;
    if (name != nullptr && std::strcmp(name, kVersionedName) == 0) {
        auto* versioned = static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(capsule, name));
        if (versioned == nullptr) return SourceError::python_error;
        *managed = versioned;
        view->versioned = true;
        view->version = versioned->version;
        view->flags = versioned->version.major == DLPACK_MAJOR_VERSION ? versioned->flags : 0;
        view->tensor = &versioned->dl_tensor;
        return SourceError::none;
    }
    if (name != nullptr && std::strcmp(name, kLegacyName) == 0) {
        auto* legacy = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule, name));
        if (legacy == nullptr) return SourceError::python_error;
        *managed = legacy;
        view->versioned = false;
        view->version = DLPackVersion{0, 0};
        view->flags = 0;
        view->tensor = &legacy->dl_tensor;
        return SourceError::none;
    }
    if (name != nullptr && (std::strcmp(name, kUsedVersionedName) == 0 || std::strcmp(name, kUsedLegacyName) == 0)) {
        *consumed_name = name;
        return SourceError::consumed;
    }
    PyErr_Format(PyExc_TypeError,
                 "expected a DLPack capsule named 'dltensor' or 'dltensor_versioned', got a capsule named %s%s%s",
                 name != nullptr ? "'" : "", name != nullptr ? name : "NULL", name != nullptr ? "'" : "");
    return SourceError::python_error;
}

/// Whether this thread may drop Python references and run deleters now. False only while a
/// forced unwind destroys our objects: when the interpreter exits while a daemon thread is
/// inside a call into Python, CPython (3.13 and older) ends that thread with pthread_exit from
/// the point where it would take the GIL back, and the unwind runs our destructors without the
/// GIL. Freeing an object then races the main thread's final collection (a crash at exit), so
/// such references and tensors are left: the process is ending.
///
/// CPython ends a thread that way only once the runtime is finalizing (the thread exits
/// because it saw that), and nothing here runs without the GIL otherwise (no call releases
/// it): while the interpreter runs, the answer is yes after two flag reads, where
/// PyGILState_Check reads thread-specific storage (about 50 instructions a call, and every
/// call of Expect.check releases up to two objects). The unwind may come late: after the
/// runtime is no longer initialized, no thread holds the GIL; while it finalizes, this
/// thread holds it only if its own thread state is the current one (PyGILState_Check would
/// say yes once finalization has deleted its thread-specific storage).
inline bool thread_holds_gil() noexcept {
#if PY_VERSION_HEX >= 0x030D0000
    const bool finalizing = Py_IsFinalizing() != 0;
#else
    const bool finalizing = _Py_IsFinalizing() != 0;
#endif
    if (!finalizing) return Py_IsInitialized() != 0;
    PyThreadState* mine = PyGILState_GetThisThreadState();
#if PY_VERSION_HEX >= 0x030D0000
    return mine != nullptr && mine == PyThreadState_GetUnchecked();
#else
    return mine != nullptr && mine == _PyThreadState_UncheckedGet();
#endif
}

/// Keeps whatever the tensor borrows from alive, and releases it exactly once.
class Source {
public:
    Source() = default;
    Source(const Source&) = delete;
    Source& operator=(const Source&) = delete;
    /// Moves ownership: the moved-from source holds nothing and releases nothing.
    Source(Source&& other) noexcept { take(other); }
    Source& operator=(Source&& other) {  // releases what this source held: may run Python
        if (this != &other) {
            release();
            take(other);
        }
        return *this;
    }
    ~Source() noexcept(false) { release(); }  // a deleter may run Python: let a forced unwind through

    ManagedView view;
    SourceKind kind = SourceKind::capsule;
    bool has_reported_device = false;  ///< __dlpack_device__() was asked
    DLDevice reported_device{kDLCPU, 0};
    const char* consumed_name = nullptr;  ///< set with SourceError::consumed

    /// Releases the tensor now (the producer's deleter runs if we own it).
    void release() {
        if (owned_ == nullptr && capsule_ == nullptr && object_ == nullptr) return;  // a borrowed capsule
        DLManagedTensorVersioned* owned = owned_;
        owned_ = nullptr;
        if (!thread_holds_gil()) {  // a forced unwind at exit: leave everything (see thread_holds_gil)
            capsule_ = object_ = nullptr;
            return;
        }
        release_managed(owned);
        Py_CLEAR(capsule_);
        Py_CLEAR(object_);
    }

    /// The capsule that holds the tensor (new reference), or nullptr if none does.
    PyObject* capsule() const noexcept { return capsule_; }

    /// Reads a capsule. Borrowed: the caller keeps owning it. Sets a Python TypeError for
    /// a capsule of another kind; returns SourceError::consumed for a used_* capsule.
    SourceError from_capsule(PyObject* capsule) {
        kind = SourceKind::capsule;
        void* managed = nullptr;
        SourceError error = read_dlpack_capsule(capsule, &view, &managed, &consumed_name);
        if (error != SourceError::none) return error;
        Py_INCREF(capsule);
        Py_XSETREF(capsule_, capsule);
        return SourceError::none;
    }

    /// Takes ownership of a managed tensor received from the exchange API.
    void adopt(DLManagedTensorVersioned* managed, PyObject* producer) {
        owned_ = managed;
        kind = SourceKind::exchange_api;
        view.versioned = true;
        view.version = managed->version;
        view.flags = managed->version.major == DLPACK_MAJOR_VERSION ? managed->flags : 0;
        view.tensor = &managed->dl_tensor;
        Py_INCREF(producer);
        Py_XSETREF(object_, producer);
    }

    /// Points at a DLTensor filled by dltensor_from_py_object_no_sync, valid while the
    /// producer object lives (it is held here) and is not mutated.
    DLTensor* borrow_slot(PyObject* producer, DLPackVersion api_version) {
        kind = SourceKind::exchange_api;
        view.versioned = true;
        view.version = api_version;
        view.flags = 0;
        view.tensor = &slot_;
        Py_INCREF(producer);
        Py_XSETREF(object_, producer);
        return &slot_;
    }

private:
    void take(Source& other) noexcept {
        view = other.view;
        kind = other.kind;
        has_reported_device = other.has_reported_device;
        reported_device = other.reported_device;
        consumed_name = other.consumed_name;
        capsule_ = other.capsule_;
        object_ = other.object_;
        owned_ = other.owned_;
        slot_ = other.slot_;
        if (other.view.tensor == &other.slot_) view.tensor = &slot_;  // the borrowed slot moved too
        other.capsule_ = other.object_ = nullptr;
        other.owned_ = nullptr;
        other.view = ManagedView{};
    }

    PyObject* capsule_ = nullptr;
    PyObject* object_ = nullptr;
    DLManagedTensorVersioned* owned_ = nullptr;
    DLTensor slot_{};
};

}  // namespace optype_dlpack

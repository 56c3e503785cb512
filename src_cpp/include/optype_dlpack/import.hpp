/// optype_dlpack/import.hpp — takes ownership of a DLPack tensor whose data the host will
/// read, as the DLPack Python specification asks of a consumer: the capsule is renamed to
/// "used_*" exactly once, only when the caller takes the tensor (after its checks passed),
/// and the taker calls the deleter exactly once.
///
/// The request differs from acquire.hpp's (which never reads the data): the host reads right
/// after __dlpack__ returns, so producers are asked with stream=None, which the spec defines as
/// "make the data safe on the legacy default stream" for CUDA and ROCm — where the driver's
/// synchronous copies run — and which is the only value CPU producers accept. The stream does
/// not depend on the device, so __dlpack_device__() is not asked (NumPy does not ask it either):
/// the capsule's own device decides what the caller may do. Objects whose type has the
/// DLPack 1.3 C exchange API are read through it when the tensor is host memory (that path
/// never synchronises, so device tensors take __dlpack__).
///
/// Needs <Python.h> (included first by the including translation unit).
#pragma once

#include "acquire.hpp"
#include "source.hpp"

#include <Python.h>

#include <cstdint>

namespace optype_dlpack {

/// Memory the host may read in place, without synchronising with a device.
inline bool host_memory(std::int32_t device_type) noexcept {
    return device_type == kDLCPU || device_type == kDLCUDAHost || device_type == kDLROCMHost;
}

/// Memory the host may read in place: host memory and CUDA managed memory.
inline bool host_accessible(std::int32_t device_type) noexcept {
    return host_memory(device_type) || device_type == kDLCUDAManaged;
}

/// A managed tensor whose ownership was handed over: call `release()` exactly once.
struct TakenTensor {
    void* managed = nullptr;  ///< DLManagedTensorVersioned* or DLManagedTensor*
    bool versioned = false;

    /// Runs the producer's deleter (if any). Safe to call on an empty TakenTensor.
    void release() noexcept {
        void* m = managed;
        managed = nullptr;
        if (m == nullptr) return;
        if (versioned) {
            auto* t = static_cast<DLManagedTensorVersioned*>(m);
            if (t->deleter != nullptr) t->deleter(t);
        } else {
            auto* t = static_cast<DLManagedTensor*>(m);
            if (t->deleter != nullptr) t->deleter(t);
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
    ~HostImport() {
        TakenTensor pending{exchanged_, true};
        exchanged_ = nullptr;
        pending.release();
    }

    ManagedView view;
    const char* consumed_name = nullptr;  ///< set with SourceError::consumed

    /// Obtains the tensor of `x`: a capsule (borrowed, not consumed until take()), or a
    /// producer's, through its type's exchange API or __dlpack__(stream=None, max_version=(1, 3)).
    SourceError acquire(PyObject* x) noexcept {
        if (PyCapsule_CheckExact(x)) return read_capsule(x);
        auto& s = detail::statics();
        if (!s.init()) return SourceError::python_error;

        if (const DLPackExchangeAPI* api = detail::exchange_api_of(Py_TYPE(x))) {
            if (api->managed_tensor_from_py_object_no_sync != nullptr) {
                DLManagedTensorVersioned* managed = nullptr;
                if (api->managed_tensor_from_py_object_no_sync(x, &managed) != 0 || managed == nullptr) {
                    if (!PyErr_Occurred()) PyErr_SetString(PyExc_BufferError, "the exchange API returned no tensor");
                    return SourceError::python_error;
                }
                const bool usable = managed->version.major != DLPACK_MAJOR_VERSION ||  // the checks report it
                                    host_memory(static_cast<std::int32_t>(managed->dl_tensor.device.device_type));
                if (usable) {
                    exchanged_ = managed;
                    view.versioned = true;
                    view.version = managed->version;
                    view.flags = managed->version.major == DLPACK_MAJOR_VERSION ? managed->flags : 0;
                    view.tensor = &managed->dl_tensor;
                    return SourceError::none;
                }
                // Device memory: ask again through __dlpack__, which synchronises.
                TakenTensor{managed, true}.release();
            }
        }

        PyObject* args[3] = {x, Py_None, s.max_version};
        const size_t nargs = 1 | PY_VECTORCALL_ARGUMENTS_OFFSET;
        PyObject* capsule = PyObject_VectorcallMethod(s.dlpack, args, nargs, s.kwnames_full);
        if (capsule == nullptr && PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();  // a pre-2023.12 producer: no max_version keyword
            capsule = PyObject_VectorcallMethod(s.dlpack, args, nargs, s.kwnames_stream);
        }
        if (capsule == nullptr) {
            if (PyErr_ExceptionMatches(PyExc_AttributeError) && !PyObject_HasAttr(x, s.dlpack)) {
                PyErr_Clear();
                PyErr_Format(PyExc_TypeError, "expected a DLPack capsule or an object with __dlpack__, got %.200s",
                             Py_TYPE(x)->tp_name);
            }
            return SourceError::python_error;
        }
        if (!PyCapsule_CheckExact(capsule)) {
            PyErr_Format(PyExc_TypeError, "%.200s.__dlpack__() returned %.200s, not a PyCapsule",
                         Py_TYPE(x)->tp_name, Py_TYPE(capsule)->tp_name);
            Py_DECREF(capsule);
            return SourceError::python_error;
        }
        SourceError result = read_capsule(capsule);
        Py_DECREF(capsule);  // held by source_ now; dropping it unconsumed frees the tensor
        return result;
    }

    /// Takes ownership: a capsule is renamed to "used_dltensor[_versioned]" here and nowhere
    /// else. The caller must `release()` the result exactly once.
    TakenTensor take() noexcept {
        if (exchanged_ != nullptr) {
            TakenTensor out{exchanged_, true};
            exchanged_ = nullptr;
            return out;
        }
        PyObject* capsule = source_.capsule();
        if (capsule == nullptr) return TakenTensor{};
        const char* name = view.versioned ? kVersionedName : kLegacyName;
        TakenTensor out{PyCapsule_GetPointer(capsule, name), view.versioned};
        // Cannot fail: the capsule was read under this name and nothing ran since.
        if (out.managed == nullptr || PyCapsule_SetName(capsule, view.versioned ? kUsedVersionedName
                                                                               : kUsedLegacyName) != 0) {
            PyErr_Clear();
            return TakenTensor{};
        }
        source_.release();  // drops our reference to the (now used) capsule
        return out;
    }

private:
    SourceError read_capsule(PyObject* capsule) noexcept {
        SourceError result = source_.from_capsule(capsule);
        if (result == SourceError::consumed) consumed_name = source_.consumed_name;
        if (result == SourceError::none) view = source_.view;
        return result;
    }

    Source source_;
    DLManagedTensorVersioned* exchanged_ = nullptr;
};

}  // namespace optype_dlpack

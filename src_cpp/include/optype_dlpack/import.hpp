/// optype_dlpack/import.hpp — takes ownership of a DLPack tensor whose data the host will
/// read, as the DLPack Python specification asks of a consumer: the capsule is renamed to
/// "used_*" exactly once, only when the caller takes the tensor (after its checks passed),
/// and the taker calls the deleter exactly once.
///
/// The request differs from acquire.hpp's (which never reads the data): the host reads right
/// after __dlpack__ returns, so the producer must synchronise with the legacy default stream
/// (where the driver's synchronous copies run): stream=None in the DLPack specification.
/// That is also the keyword's specified default, so producers are asked
/// __dlpack__(max_version=(1, 3)), then __dlpack__() if they reject the keyword, as NumPy asks.
/// The one producer known to default to something else is torch >= 2.10 (stream=-1, no
/// synchronisation), and torch >= 2.10 has the DLPack 1.3 C exchange API: objects whose type
/// has it are read through it when the tensor is host memory, and a device tensor from it is
/// released and asked for again with an explicit __dlpack__(stream=None, max_version=(1, 3)).
/// __dlpack_device__() is not asked: the capsule's own device decides what the caller may do.
///
/// Needs <Python.h> (included first by the including translation unit).
#pragma once

#include "acquire.hpp"
#include "source.hpp"

#include <Python.h>

#include <cstdint>
#include <cstring>

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
        Py_XDECREF(capsule_);  // an unconsumed capsule frees its tensor in its own destructor
    }

    ManagedView view;
    const char* consumed_name = nullptr;  ///< set with SourceError::consumed

    /// Obtains the tensor of `x`: a capsule (borrowed, not consumed until take()), or a
    /// producer's, through its type's exchange API or __dlpack__(stream=None, max_version=(1, 3)).
    SourceError acquire(PyObject* x) noexcept {
        if (PyCapsule_CheckExact(x)) return read_capsule(x);
        const auto& s = detail::statics();
        if (!s.ready()) return SourceError::python_error;
        bool explicit_stream = false;  // set for a device tensor whose exchange API cannot synchronise

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
                // Device memory: ask again through __dlpack__, which synchronises when asked.
                TakenTensor{managed, true}.release();
                explicit_stream = true;
            }
        }

        const Keywords& k = keywords();
        if (k.max_version == nullptr || k.stream_max_version == nullptr || k.stream == nullptr) {
            return SourceError::python_error;
        }
        PyObject* args[3] = {x, explicit_stream ? Py_None : s.max_version, s.max_version};
        const size_t nargs = 1 | PY_VECTORCALL_ARGUMENTS_OFFSET;
        PyObject* capsule =
            PyObject_VectorcallMethod(s.dlpack, args, nargs, explicit_stream ? k.stream_max_version : k.max_version);
        if (capsule == nullptr && PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();  // a pre-2023.12 producer: no max_version keyword
            capsule = PyObject_VectorcallMethod(s.dlpack, args, nargs, explicit_stream ? k.stream : nullptr);
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
        Py_DECREF(capsule);  // held by capsule_ now; dropping it unconsumed frees the tensor
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
        if (capsule_ == nullptr) return TakenTensor{};
        TakenTensor out{managed_, view.versioned};
        // Cannot fail: capsule_ is a capsule, read under its unconsumed name just before.
        if (PyCapsule_SetName(capsule_, view.versioned ? kUsedVersionedName : kUsedLegacyName) != 0) {
            PyErr_Clear();
            return TakenTensor{};
        }
        Py_CLEAR(capsule_);
        return out;
    }

private:
    /// Reads a capsule by its name (as Source::from_capsule does), keeping a reference to it.
    SourceError read_capsule(PyObject* capsule) noexcept {
        SourceError error = read_dlpack_capsule(capsule, &view, &managed_, &consumed_name);
        if (error != SourceError::none) return error;
        Py_INCREF(capsule);
        Py_XSETREF(capsule_, capsule);
        return SourceError::none;
    }

    /// Keyword-name tuples of interned strings: producers' argument parsers (NumPy's,
    /// pybind11's, CPython's) match interned keywords by pointer first.
    struct Keywords {
        PyObject* max_version;         // ("max_version",)
        PyObject* stream_max_version;  // ("stream", "max_version")
        PyObject* stream;              // ("stream",)
    };

    static const Keywords& keywords() noexcept {
        static const Keywords k{  // kept for good, like acquire.hpp's statics
            Py_BuildValue("(N)", PyUnicode_InternFromString("max_version")),
            Py_BuildValue("(NN)", PyUnicode_InternFromString("stream"), PyUnicode_InternFromString("max_version")),
            Py_BuildValue("(N)", PyUnicode_InternFromString("stream")),
        };
        return k;
    }

    PyObject* capsule_ = nullptr;  ///< the capsule read, until take() consumes it
    void* managed_ = nullptr;      ///< its DLManagedTensor[Versioned]
    DLManagedTensorVersioned* exchanged_ = nullptr;
};

}  // namespace optype_dlpack

/// optype_dlpack/acquire.hpp — asks a Python object for its tensor the way a careful DLPack
/// consumer does, and reports producer-level violations (a device that disagrees).
///
/// Order: a capsule is read as it is; an object whose type has the DLPack 1.3 C exchange
/// API (`type(x).__dlpack_c_exchange_api__`, a "dlpack_exchange_api" capsule, or the 1.2
/// integer form `__c_dlpack_exchange_api__`) is read through it; otherwise __dlpack_device__()
/// is asked first, then __dlpack__(stream=-1 for stream devices else None, max_version=(1, 3)),
/// falling back to __dlpack__(stream=...) when the producer rejects the keywords.
#pragma once

#include "source.hpp"

#include <Python.h>

#include <cstdint>
#ifdef Py_GIL_DISABLED
#include <mutex>
#endif

namespace optype_dlpack {

namespace detail {

/// Interned names and constant arguments, created once.
struct AcquireStatics {
    PyObject* dlpack = nullptr;             // "__dlpack__"
    PyObject* dlpack_device = nullptr;      // "__dlpack_device__"
    PyObject* exchange_api = nullptr;       // "__dlpack_c_exchange_api__"
    PyObject* exchange_api_v12 = nullptr;   // "__c_dlpack_exchange_api__"
    PyObject* kwnames_full = nullptr;       // ("stream", "max_version")
    PyObject* kwnames_stream = nullptr;     // ("stream",)
    PyObject* max_version = nullptr;        // (1, 3)
    PyObject* minus_one = nullptr;          // -1

    /// Whether every object was created (a Python error is set otherwise).
    bool ready() const noexcept {
        return dlpack != nullptr && dlpack_device != nullptr && exchange_api != nullptr &&
               exchange_api_v12 != nullptr && kwnames_full != nullptr && kwnames_stream != nullptr &&
               max_version != nullptr && minus_one != nullptr;
    }

    void create() noexcept {
        dlpack = PyUnicode_InternFromString("__dlpack__");
        dlpack_device = PyUnicode_InternFromString("__dlpack_device__");
        exchange_api = PyUnicode_InternFromString("__dlpack_c_exchange_api__");
        exchange_api_v12 = PyUnicode_InternFromString("__c_dlpack_exchange_api__");
        kwnames_full = Py_BuildValue("(ss)", "stream", "max_version");
        kwnames_stream = Py_BuildValue("(s)", "stream");
        max_version = Py_BuildValue("(II)", static_cast<unsigned>(DLPACK_MAJOR_VERSION),
                                    static_cast<unsigned>(DLPACK_MINOR_VERSION));
        minus_one = PyLong_FromLong(-1);
    }
};

/// Created once, on first use; C++ makes the initialisation thread-safe (free-threaded
/// Python included). Leaked on purpose: the objects live as long as the interpreter.
inline const AcquireStatics& statics() {
    static const AcquireStatics s = [] {
        AcquireStatics created;
        created.create();
        return created;
    }();
    return s;
}

#ifdef Py_GIL_DISABLED
/// Guards the exchange-API cache when no GIL serialises callers.
inline std::mutex& exchange_cache_lock() {
    static std::mutex lock;
    return lock;
}
#endif

/// A few types' exchange tables, keyed by type and its version tag (a tag is never reused
/// by another type, so a dead type's entry cannot be mistaken for a new one).
struct ExchangeCacheEntry {
    PyTypeObject* type = nullptr;
    unsigned int tag = 0;
    const DLPackExchangeAPI* api = nullptr;
};

inline ExchangeCacheEntry* exchange_cache() {
    static ExchangeCacheEntry entries[8];
    return entries;
}

/// The newest exchange table of major version 1 in the chain, or nullptr.
inline const DLPackExchangeAPI* usable_table(const DLPackExchangeAPI* api) noexcept {
    const DLPackExchangeAPIHeader* header = api != nullptr ? &api->header : nullptr;
    while (header != nullptr && header->version.major != DLPACK_MAJOR_VERSION) header = header->prev_api;
    return reinterpret_cast<const DLPackExchangeAPI*>(header);
}

/// Looks up the type's exchange API without a cache. Returns nullptr without an error
/// when the type has none (or an unusable one).
inline const DLPackExchangeAPI* lookup_exchange_api(PyTypeObject* type) noexcept {
    const auto& s = statics();
    PyObject* attr = PyObject_GetAttr(reinterpret_cast<PyObject*>(type), s.exchange_api);
    const DLPackExchangeAPI* api = nullptr;
    if (attr != nullptr) {
        if (PyCapsule_CheckExact(attr) && PyCapsule_IsValid(attr, kExchangeApiName)) {
            api = static_cast<const DLPackExchangeAPI*>(PyCapsule_GetPointer(attr, kExchangeApiName));
        }
        Py_DECREF(attr);
    } else {
        PyErr_Clear();
        attr = PyObject_GetAttr(reinterpret_cast<PyObject*>(type), s.exchange_api_v12);
        if (attr != nullptr) {
            if (PyLong_Check(attr)) api = static_cast<const DLPackExchangeAPI*>(PyLong_AsVoidPtr(attr));
            Py_DECREF(attr);
        }
        PyErr_Clear();
    }
    return usable_table(api);
}

inline const DLPackExchangeAPI* exchange_api_of(PyTypeObject* type) noexcept {
    ExchangeCacheEntry* cache = exchange_cache();
    const std::size_t slot = (reinterpret_cast<std::uintptr_t>(type) >> 4) & 7;
    {
#ifdef Py_GIL_DISABLED
        std::lock_guard<std::mutex> guard(exchange_cache_lock());
#endif
        const unsigned int tag =
            PyType_HasFeature(type, Py_TPFLAGS_VALID_VERSION_TAG) ? type->tp_version_tag : 0;
        if (tag != 0 && cache[slot].type == type && cache[slot].tag == tag) return cache[slot].api;
    }
    const DLPackExchangeAPI* api = lookup_exchange_api(type);  // runs Python: never under the lock
#ifdef Py_GIL_DISABLED
    std::lock_guard<std::mutex> guard(exchange_cache_lock());
#endif
    const unsigned int new_tag =
        PyType_HasFeature(type, Py_TPFLAGS_VALID_VERSION_TAG) ? type->tp_version_tag : 0;
    if (new_tag != 0) cache[slot] = ExchangeCacheEntry{type, new_tag, api};
    return api;
}

/// Reads a (device_type, device_id) tuple. Sets a TypeError naming the producer otherwise.
inline bool read_device_tuple(PyObject* value, DLDevice* out) noexcept {
    if (!PyTuple_Check(value) || PyTuple_GET_SIZE(value) != 2) {
        PyErr_Format(PyExc_TypeError, "__dlpack_device__() must return a (device_type, device_id) tuple, got %R",
                     value);
        return false;
    }
    long type = PyLong_AsLong(PyTuple_GET_ITEM(value, 0));
    if (type == -1 && PyErr_Occurred()) return false;
    long id = PyLong_AsLong(PyTuple_GET_ITEM(value, 1));
    if (id == -1 && PyErr_Occurred()) return false;
    if (type < INT32_MIN || type > INT32_MAX || id < INT32_MIN || id > INT32_MAX) {
        PyErr_Format(PyExc_OverflowError, "__dlpack_device__() returned an out-of-range value: %R", value);
        return false;
    }
    *out = DLDevice{static_cast<DLDeviceType>(type), static_cast<std::int32_t>(id)};
    return true;
}

}  // namespace detail

/// What the caller needs from the tensor beyond its DLTensor.
enum class Need : std::uint8_t {
    tensor,      ///< the DLTensor alone (borrowed exchange path allowed)
    everything,  ///< version and flags too
};

/// Obtains the tensor of `x` into `source`. Returns SourceError::none on success; otherwise a
/// Python exception is set (python_error) or the capsule was already consumed (consumed).
inline SourceError acquire(PyObject* x, Source& source, Need need) noexcept {
    if (PyCapsule_CheckExact(x)) return source.from_capsule(x);
    const auto& s = detail::statics();
    if (!s.ready()) {
        if (!PyErr_Occurred()) PyErr_NoMemory();
        return SourceError::python_error;
    }

    if (const DLPackExchangeAPI* api = detail::exchange_api_of(Py_TYPE(x))) {
        if (need == Need::tensor && api->dltensor_from_py_object_no_sync != nullptr) {
            DLTensor* slot = source.borrow_slot(x, api->header.version);
            if (api->dltensor_from_py_object_no_sync(x, slot) != 0) {
                if (!PyErr_Occurred()) PyErr_SetString(PyExc_BufferError, "the exchange API failed without an error");
                return SourceError::python_error;
            }
            return SourceError::none;
        }
        if (api->managed_tensor_from_py_object_no_sync != nullptr) {
            DLManagedTensorVersioned* managed = nullptr;
            if (api->managed_tensor_from_py_object_no_sync(x, &managed) != 0 || managed == nullptr) {
                if (!PyErr_Occurred()) PyErr_SetString(PyExc_BufferError, "the exchange API returned no tensor");
                return SourceError::python_error;
            }
            source.adopt(managed, x);
            return SourceError::none;
        }
    }

    // __dlpack_device__ first: it decides the stream argument, and must agree with the capsule.
    PyObject* device = PyObject_CallMethodNoArgs(x, s.dlpack_device);
    if (device != nullptr) {
        bool ok = detail::read_device_tuple(device, &source.reported_device);
        Py_DECREF(device);
        if (!ok) return SourceError::python_error;
        source.has_reported_device = true;
    } else if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Clear();  // tolerated here; the conformance checker reports it
    } else {
        return SourceError::python_error;
    }
    const DeviceTypeInfo* info =
        source.has_reported_device ? find_device_type(static_cast<std::int32_t>(source.reported_device.device_type))
                                   : nullptr;
    PyObject* stream = (info != nullptr && info->stream_device) ? s.minus_one : Py_None;

    PyObject* args[3] = {x, stream, s.max_version};
    const size_t nargs = 1 | PY_VECTORCALL_ARGUMENTS_OFFSET;
    PyObject* capsule = PyObject_VectorcallMethod(s.dlpack, args, nargs, s.kwnames_full);
    if (capsule == nullptr && stream == s.minus_one && PyErr_ExceptionMatches(PyExc_RuntimeError)) {
        // JAX 0.11 on CUDA takes the spec's -1 ("do not synchronise") for a stream handle and
        // fails with CUDA_ERROR_INVALID_HANDLE. The spec's default stream (None) still gives a
        // correct, synchronised export, so ask once more with it.
        PyErr_Clear();
        args[1] = Py_None;
        capsule = PyObject_VectorcallMethod(s.dlpack, args, nargs, s.kwnames_full);
    }
    if (capsule == nullptr && PyErr_ExceptionMatches(PyExc_TypeError)) {
        PyErr_Clear();  // a pre-2023.12 producer: no max_version keyword
        capsule = PyObject_VectorcallMethod(s.dlpack, args, nargs, s.kwnames_stream);
    }
    if (capsule == nullptr) {
        if (PyErr_ExceptionMatches(PyExc_AttributeError) && !PyObject_HasAttr(x, s.dlpack)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError,
                         "expected a DLPack capsule or an object with __dlpack__, got %.200s",
                         Py_TYPE(x)->tp_name);
        }
        return SourceError::python_error;
    }
    if (!PyCapsule_CheckExact(capsule)) {
        PyErr_Format(PyExc_TypeError, "%.200s.__dlpack__() returned %.200s, not a PyCapsule", Py_TYPE(x)->tp_name,
                     Py_TYPE(capsule)->tp_name);
        Py_DECREF(capsule);
        return SourceError::python_error;
    }
    SourceError result = source.from_capsule(capsule);
    Py_DECREF(capsule);  // the source holds it now; releasing it runs the producer's deleter
    source.kind = SourceKind::dunder_dlpack;
    return result;
}

/// Producer-level rule: __dlpack_device__() must agree with the capsule's device.
inline void check_reported_device(const Source& source, Report& report) {
    if (!source.has_reported_device || source.view.tensor == nullptr) return;
    const DLDevice& got = source.view.tensor->device;
    const DLDevice& said = source.reported_device;
    if (got.device_type != said.device_type || got.device_id != said.device_id) {
        report.add("producer.device", "device",
                   format_device(static_cast<std::int32_t>(said.device_type), said.device_id) +
                       " (what __dlpack_device__() reports)",
                   format_device(static_cast<std::int32_t>(got.device_type), got.device_id) + " in the capsule");
    }
}

}  // namespace optype_dlpack

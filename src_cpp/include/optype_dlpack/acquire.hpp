/// optype_dlpack/acquire.hpp — asks a Python object for its tensor the way a careful DLPack
/// consumer does (python_spec.rst of dmlc/dlpack). One negotiation serves every caller; a
/// StreamPolicy says what the caller will do with the tensor, which decides the stream:
///
/// - StreamPolicy::no_read (inspect, validate, Expect): only the struct is read, never the
///   data, so nothing needs to synchronise: __dlpack_device__() is asked first (when the
///   type defines it, and is not exactly numpy.ndarray, whose only stream is None), then
///   __dlpack__(stream=-1, ...) for stream devices, stream=None otherwise. A borrowed
///   DLTensor from the exchange API is accepted.
/// - StreamPolicy::host_read (from_dlpack): the host reads the data right after the call, so
///   the producer must synchronise with the legacy default stream: stream=None, always passed
///   explicitly (never left out, because a producer or a wrapper that forwards a left-out
///   stream may default to -1, "no synchronisation", as torch >= 2.10 does). A device tensor
///   from the exchange API (whose exports never synchronise) is released and asked for again
///   through __dlpack__(stream=None, ...).
///
/// Order: an object whose type has the DLPack 1.3 C exchange API
/// (`type(x).__dlpack_c_exchange_api__`, a "dlpack_exchange_api" capsule, or the 1.2 integer
/// form `__c_dlpack_exchange_api__`) is read through it; otherwise __dlpack__ is called with
/// (stream, max_version=(1, 3)), then (stream) and then no arguments when the producer rejects
/// the keywords with a TypeError (producers from before DLPack 2023.12, and older ones).
///
/// Needs <Python.h> (included first by the including translation unit).
#pragma once

#include "exchange_table.hpp"
#include "source.hpp"
#include "tables.hpp"

#include <Python.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#ifdef Py_GIL_DISABLED
#include <mutex>
#endif

namespace optype_dlpack {

/// What the caller will do with the tensor, which decides the stream the producer is asked with.
enum class StreamPolicy : std::uint8_t {
    no_read,    ///< reads the struct only: stream=-1 for stream devices (no synchronisation), else None
    host_read,  ///< the host reads the data at once: stream=None (the legacy default stream), explicitly
};

namespace detail {

/// Interned names and constant arguments, created once. Producers' argument parsers (CPython's,
/// NumPy's, pybind11's) match interned keyword names by pointer first.
struct AcquireStatics {
    PyObject* dlpack = nullptr;            // "__dlpack__"
    PyObject* dlpack_device = nullptr;     // "__dlpack_device__"
    PyObject* exchange_api = nullptr;      // "__dlpack_c_exchange_api__"
    PyObject* exchange_api_v12 = nullptr;  // "__c_dlpack_exchange_api__"
    PyObject* kwnames_full = nullptr;      // ("stream", "max_version")
    PyObject* kwnames_stream = nullptr;    // ("stream",)
    PyObject* max_version = nullptr;       // (1, 3)
    PyObject* minus_one = nullptr;         // -1

    /// Whether every object was created (a Python error is set otherwise).
    bool ready() const noexcept {
        return dlpack != nullptr && dlpack_device != nullptr && exchange_api != nullptr &&
               exchange_api_v12 != nullptr && kwnames_full != nullptr && kwnames_stream != nullptr &&
               max_version != nullptr && minus_one != nullptr;
    }

    void create() {
        dlpack = PyUnicode_InternFromString("__dlpack__");
        dlpack_device = PyUnicode_InternFromString("__dlpack_device__");
        exchange_api = PyUnicode_InternFromString("__dlpack_c_exchange_api__");
        exchange_api_v12 = PyUnicode_InternFromString("__c_dlpack_exchange_api__");
        kwnames_full =
            Py_BuildValue("(NN)", PyUnicode_InternFromString("stream"), PyUnicode_InternFromString("max_version"));
        kwnames_stream = Py_BuildValue("(N)", PyUnicode_InternFromString("stream"));
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

/// Whether the type (or a base) defines `name`: the MRO's dictionaries are read, no attribute
/// hook (__getattr__, a metaclass's __getattribute__) runs and no exception is raised.
/// Call it with no exception set.
inline bool type_defines(PyTypeObject* type, PyObject* name) {
#if defined(Py_GIL_DISABLED) && PY_VERSION_HEX >= 0x030D0000
    PyObject* found = _PyType_LookupRef(type, name);  // a borrowed result could die under another thread
    Py_XDECREF(found);
    return found != nullptr;
#else
    return _PyType_Lookup(type, name) != nullptr;
#endif
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

/// The table address a "dlpack_exchange_api" capsule holds, or 0.
inline std::uintptr_t table_address_of_capsule(PyObject* attr) {
    if (!PyCapsule_CheckExact(attr) || !PyCapsule_IsValid(attr, kExchangeApiName)) return 0;
    return reinterpret_cast<std::uintptr_t>(PyCapsule_GetPointer(attr, kExchangeApiName));
}

/// The table address the DLPack 1.2 integer form holds, or 0 for anything but an int in
/// [0, UINTPTR_MAX] (a bool, a negative or an oversized value included). Sets no error.
inline std::uintptr_t table_address_of_int(PyObject* attr) {
    if (!PyLong_Check(attr) || PyBool_Check(attr)) return 0;
    const unsigned long long value = PyLong_AsUnsignedLongLong(attr);  // refuses negative values
    if (value == static_cast<unsigned long long>(-1) && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    if (value > UINTPTR_MAX) return 0;
    return static_cast<std::uintptr_t>(value);
}

/// Looks up the type's exchange API without a cache. Returns nullptr without an error when
/// the type has none or an unusable one. Both forms carry an address that the producer
/// wrote; one that cannot hold a table (NULL, the first page, misaligned: `= 16` or `= 1`
/// from a confused producer) is treated as no exchange API at all, so such a producer is
/// still asked through __dlpack__, whose answer is checked like any other. Refusing the
/// object instead would punish a harmless mistake in an optional fast path, and reading
/// through the address would crash the interpreter.
/// Whether the exchange table that `type` inherits describes the `__dlpack__` it has: false
/// for a subclass that overrides `__dlpack__` (say, a torch.Tensor subclass exporting
/// differently) without publishing a table of its own, whose own method must then be asked.
/// The class that published the table is the deepest one in the MRO that holds the same
/// attribute object; both must resolve `__dlpack__` to the same object. Reads the MRO's
/// dictionaries only (no Python code runs); call it with no exception set.
inline bool table_matches_dlpack_method(PyTypeObject* type, PyObject* table_name) {
    const auto& s = statics();
    PyObject* table = _PyType_Lookup(type, table_name);
    PyObject* mro = type->tp_mro;
    if (table == nullptr || mro == nullptr || !PyTuple_Check(mro)) return false;
    PyTypeObject* publisher = type;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(mro); ++i) {
        auto* base = reinterpret_cast<PyTypeObject*>(PyTuple_GET_ITEM(mro, i));
        if (_PyType_Lookup(base, table_name) == table) publisher = base;
    }
    return _PyType_Lookup(type, s.dlpack) == _PyType_Lookup(publisher, s.dlpack);
}

inline const DLPackExchangeAPI* lookup_exchange_api(PyTypeObject* type) {
    const auto& s = statics();
    PyObject* type_object = reinterpret_cast<PyObject*>(type);
    std::uintptr_t address = 0;
    // The table is a class attribute: a type whose MRO holds none has none (no lookup runs).
    const bool has_capsule_table = type_defines(type, s.exchange_api);
    if (!has_capsule_table && !type_defines(type, s.exchange_api_v12)) return nullptr;
    if (!table_matches_dlpack_method(type, has_capsule_table ? s.exchange_api : s.exchange_api_v12)) {
        return nullptr;  // __dlpack__ overridden below the table's publisher: ask the override
    }
    if (PyObject* attr = PyObject_GetAttr(type_object, s.exchange_api)) {
        address = table_address_of_capsule(attr);
        Py_DECREF(attr);
    } else {
        PyErr_Clear();  // absent, or a property that fails: no fast path either way
        if (PyObject* v12 = PyObject_GetAttr(type_object, s.exchange_api_v12)) {
            address = table_address_of_int(v12);
            Py_DECREF(v12);
        } else {
            PyErr_Clear();
        }
    }
    if (!plausible_table_address(address)) return nullptr;
    return usable_table(reinterpret_cast<const DLPackExchangeAPI*>(address));
}

/// The slot of exchange_cache() that `type` uses.
inline std::size_t exchange_cache_slot(PyTypeObject* type) noexcept {
    return (reinterpret_cast<std::uintptr_t>(type) >> 4) & 7;
}

/// Whether the cache holds `type`'s exchange table, as it is now (its version tag); the table,
/// or nullptr for a type that has none, into `api`. Runs no Python.
inline bool remembered_exchange_api(PyTypeObject* type, const DLPackExchangeAPI** api) {
#ifdef Py_GIL_DISABLED
    std::lock_guard<std::mutex> guard(exchange_cache_lock());
#endif
    const ExchangeCacheEntry& entry = exchange_cache()[exchange_cache_slot(type)];
    const unsigned int tag = PyType_HasFeature(type, Py_TPFLAGS_VALID_VERSION_TAG) ? type->tp_version_tag : 0;
    if (tag == 0 || entry.type != type || entry.tag != tag) return false;
    *api = entry.api;
    return true;
}

/// The type's usable exchange table, or nullptr; cached per type (version tag).
inline const DLPackExchangeAPI* exchange_api_of(PyTypeObject* type) {
    const DLPackExchangeAPI* remembered = nullptr;
    if (remembered_exchange_api(type, &remembered)) return remembered;
    ExchangeCacheEntry* cache = exchange_cache();
    const std::size_t slot = exchange_cache_slot(type);
    const DLPackExchangeAPI* api = lookup_exchange_api(type);  // runs Python: never under the lock
#ifdef Py_GIL_DISABLED
    std::lock_guard<std::mutex> guard(exchange_cache_lock());
#endif
    const unsigned int new_tag = PyType_HasFeature(type, Py_TPFLAGS_VALID_VERSION_TAG) ? type->tp_version_tag : 0;
    if (new_tag != 0) cache[slot] = ExchangeCacheEntry{type, new_tag, api};
    return api;
}

/// Reads a (device_type, device_id) tuple. Sets a TypeError naming the producer otherwise.
/// A member of __dlpack_device__()'s tuple that is no integer (paddle's id of None): the error
/// names the method and the tuple, where Python's own would say only "'NoneType' object cannot
/// be interpreted as an integer". Other errors (an __index__ that raised) pass unchanged.
inline bool device_tuple_not_ints(PyObject* value) {
    if (PyErr_ExceptionMatches(PyExc_TypeError)) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError,
                     "__dlpack_device__() must return a (device_type, device_id) tuple of ints, got %R", value);
    }
    return false;
}

inline bool read_device_tuple(PyObject* value, DLDevice* out) {
    if (!PyTuple_Check(value) || PyTuple_GET_SIZE(value) != 2) {
        PyErr_Format(PyExc_TypeError, "__dlpack_device__() must return a (device_type, device_id) tuple, got %R",
                     value);
        return false;
    }
    long type = PyLong_AsLong(PyTuple_GET_ITEM(value, 0));
    if (type == -1 && PyErr_Occurred()) return device_tuple_not_ints(value);
    long id = PyLong_AsLong(PyTuple_GET_ITEM(value, 1));
    if (id == -1 && PyErr_Occurred()) return device_tuple_not_ints(value);
    if (type < INT32_MIN || type > INT32_MAX || id < INT32_MIN || id > INT32_MAX) {
        PyErr_Format(PyExc_OverflowError, "__dlpack_device__() returned an out-of-range value: %R", value);
        return false;
    }
    *out = DLDevice{static_cast<DLDeviceType>(type), static_cast<std::int32_t>(id)};
    return true;
}

}  // namespace detail

/// What a producer handed over. Owns it until the caller moves it out: the destructor drops
/// the capsule reference (an unconsumed capsule frees its tensor) and releases a managed tensor.
struct Offer {
    Offer() = default;
    Offer(const Offer&) = delete;
    Offer& operator=(const Offer&) = delete;
    ~Offer() noexcept(false) {            // a deleter is producer code and may run Python
        if (!thread_holds_gil()) return;  // a forced unwind at exit: leave everything
        release_managed(take_managed());
        Py_CLEAR(capsule);
    }

    PyObject* capsule = nullptr;                  ///< from __dlpack__ (a new reference to a PyCapsule)
    DLManagedTensorVersioned* managed = nullptr;  ///< from the exchange API (owned)
    bool borrowed = false;                        ///< the exchange API filled the caller's DLTensor
    DLPackVersion table_version{0, 0};            ///< the exchange table's version (with `borrowed`)
    bool has_reported_device = false;             ///< __dlpack_device__() was asked and answered
    DLDevice reported_device{kDLCPU, 0};

    /// Hands the managed tensor over (nullptr if none): the caller releases it.
    DLManagedTensorVersioned* take_managed() noexcept {
        DLManagedTensorVersioned* out = managed;
        managed = nullptr;
        return out;
    }
};

namespace detail {

/// How the exchange table answered.
enum class TableAnswer : std::uint8_t { tensor, ask_dlpack, error };

/// Sets a BufferError when a failing exchange-API function set no exception.
inline TableAnswer table_failed(const char* what) {
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_BufferError, what);
    return TableAnswer::error;
}

/// Asks the exchange table of `x`'s type. `borrow_into`: a DLTensor the table may fill in
/// place (StreamPolicy::no_read only; nullptr to require an owned tensor).
inline TableAnswer ask_table(PyObject* x, const DLPackExchangeAPI& api, StreamPolicy policy, Offer& offer,
                             DLTensor* borrow_into) {
    if (borrow_into != nullptr && policy == StreamPolicy::no_read && api.dltensor_from_py_object_no_sync != nullptr) {
        if (api.dltensor_from_py_object_no_sync(x, borrow_into) != 0) {
            return table_failed("the exchange API failed without an error");
        }
        offer.borrowed = true;
        offer.table_version = api.header.version;
        return TableAnswer::tensor;
    }
    if (api.managed_tensor_from_py_object_no_sync == nullptr) return TableAnswer::ask_dlpack;
    DLManagedTensorVersioned* managed = nullptr;
    if (api.managed_tensor_from_py_object_no_sync(x, &managed) != 0 || managed == nullptr) {
        return table_failed("the exchange API returned no tensor");
    }
    const bool host_reads_device_memory =
        policy == StreamPolicy::host_read &&
        managed->version.major == DLPACK_MAJOR_VERSION &&  // another major: the checks report it unread
        !host_memory(static_cast<std::int32_t>(managed->dl_tensor.device.device_type));
    if (host_reads_device_memory) {
        // The table's exports never synchronise, and the host is about to read: release this
        // one and ask __dlpack__(stream=None), which synchronises with the legacy default stream.
        release_managed(managed);
        return TableAnswer::ask_dlpack;
    }
    offer.managed = managed;
    return TableAnswer::tensor;
}

/// Asks __dlpack_device__() when the type defines it. Only a type without the method is
/// tolerated (the capsule's device then decides; the conformance checker reports the gap):
/// an exception raised by the method itself, an AttributeError included, is the producer's
/// and propagates.
inline bool ask_device(PyObject* x, Offer& offer) {
    const AcquireStatics& s = statics();
    if (!type_defines(Py_TYPE(x), s.dlpack_device)) return true;
    PyObject* device = PyObject_CallMethodNoArgs(x, s.dlpack_device);
    if (device == nullptr) return false;
    const bool ok = read_device_tuple(device, &offer.reported_device);
    Py_DECREF(device);
    offer.has_reported_device = ok;
    return ok;
}

/// Whether `type` is exactly NumPy's ndarray, whose __dlpack_device__ need not be asked:
/// NumPy's __dlpack__ takes stream=None and nothing else, whatever device it reports (kDLCPU,
/// or the kDLCUDAHost or kDLCUDAManaged of an array imported from such a tensor), and both
/// answers come from the same field of the array, so they cannot disagree. NumPy's type is
/// known without importing NumPy by what it is: a static type (never a heap type, as classes
/// made in Python are) named "numpy.ndarray". Another extension that names its static type
/// so would lose nothing but the call: it is asked with stream=None, which synchronises.
/// Static types are never freed, so the one found is remembered.
inline bool is_exact_ndarray(PyTypeObject* type) {
    static std::atomic<PyTypeObject*> found{nullptr};
    if (type == found.load(std::memory_order_relaxed)) return true;
    if (PyType_HasFeature(type, Py_TPFLAGS_HEAPTYPE) || std::strcmp(type->tp_name, "numpy.ndarray") != 0) {
        return false;
    }
    found.store(type, std::memory_order_relaxed);
    return true;
}

/// Whether __dlpack_device__() is to be asked before __dlpack__ under `policy`: only under
/// StreamPolicy::no_read (where the device decides the stream), and not for a type whose
/// stream argument is known without it (is_exact_ndarray).
inline bool device_decides_stream(PyObject* x, StreamPolicy policy) {
    return policy == StreamPolicy::no_read && !is_exact_ndarray(Py_TYPE(x));
}

/// The stream argument under `policy` (a borrowed reference).
inline PyObject* stream_argument(StreamPolicy policy, const Offer& offer) {
    if (policy == StreamPolicy::host_read || !offer.has_reported_device) return Py_None;
    return stream_device(static_cast<std::int32_t>(offer.reported_device.device_type)) ? statics().minus_one : Py_None;
}

/// __dlpack__ with the keywords the producer takes: (stream, max_version), then (stream), then
/// none, each next one only after a TypeError. A new reference, or nullptr with an exception.
inline PyObject* call_dlpack(PyObject* x, PyObject* stream) {
    const AcquireStatics& s = statics();
    PyObject* args[3] = {x, stream, s.max_version};
    const size_t nargs = 1 | PY_VECTORCALL_ARGUMENTS_OFFSET;
    PyObject* capsule = PyObject_VectorcallMethod(s.dlpack, args, nargs, s.kwnames_full);
    if (capsule != nullptr || !PyErr_ExceptionMatches(PyExc_TypeError)) return capsule;
    PyErr_Clear();  // a producer from before DLPack 2023.12: no max_version keyword
    capsule = PyObject_VectorcallMethod(s.dlpack, args, nargs, s.kwnames_stream);
    if (capsule != nullptr || !PyErr_ExceptionMatches(PyExc_TypeError)) return capsule;
    PyErr_Clear();  // no keywords at all
    return PyObject_VectorcallMethod(s.dlpack, args, nargs, nullptr);
}

/// Whether the pending exception from __dlpack__(stream=-1, ...) deserves one more call with
/// stream=None. JAX 0.11 on CUDA takes the spec's -1 ("do not synchronise") for a stream
/// handle and fails with a RuntimeError (CUDA_ERROR_INVALID_HANDLE); the spec's default
/// stream still gives a correct, synchronised export. Never after a RecursionError (a
/// producer that recurses into the validator would be asked 2^depth times) nor while the
/// interpreter shuts down.
inline bool retry_with_default_stream() {
    if (!PyErr_ExceptionMatches(PyExc_RuntimeError) || PyErr_ExceptionMatches(PyExc_RecursionError)) return false;
#if PY_VERSION_HEX >= 0x030D0000
    if (PyErr_ExceptionMatches(PyExc_PythonFinalizationError)) return false;
#endif
    return true;
}

/// The pending exception, taken out of the interpreter until restore() (dropped otherwise).
class FetchedError {
public:
    FetchedError() {
#if PY_VERSION_HEX >= 0x030C0000
        value_ = PyErr_GetRaisedException();
#else
        PyErr_Fetch(&type_, &value_, &traceback_);
#endif
    }
    FetchedError(const FetchedError&) = delete;
    FetchedError& operator=(const FetchedError&) = delete;
    ~FetchedError() noexcept(false) {     // dropping an exception may run its __del__
        if (!thread_holds_gil()) return;  // a forced unwind at exit: leave it (see thread_holds_gil)
        Py_XDECREF(value_);
#if PY_VERSION_HEX < 0x030C0000
        Py_XDECREF(type_);
        Py_XDECREF(traceback_);
#endif
    }

    /// Sets the exception again (once).
    void restore() {
#if PY_VERSION_HEX >= 0x030C0000
        PyErr_SetRaisedException(value_);
#else
        PyErr_Restore(type_, value_, traceback_);
        type_ = traceback_ = nullptr;
#endif
        value_ = nullptr;
    }

private:
    PyObject* value_ = nullptr;
#if PY_VERSION_HEX < 0x030C0000
    PyObject* type_ = nullptr;
    PyObject* traceback_ = nullptr;
#endif
};

/// Turns the AttributeError of an object without __dlpack__ into the TypeError the caller
/// documents. Decided by a lookup on the type made with the error fetched, so no Python code
/// runs with an exception set; when the type defines __dlpack__, the AttributeError came from
/// inside the producer and is left as it is.
inline void explain_missing_dlpack(PyObject* x) {
    if (!PyErr_ExceptionMatches(PyExc_AttributeError)) return;
    bool defined = false;
    {
        FetchedError producer_error;
        defined = type_defines(Py_TYPE(x), statics().dlpack);
        if (defined) producer_error.restore();
    }  // otherwise dropped here
    if (defined) return;
    PyErr_Format(PyExc_TypeError, "expected a DLPack capsule or an object with __dlpack__, got %.200s",
                 Py_TYPE(x)->tp_name);
}

/// Calls __dlpack__ with `stream` (and the retry above). A new reference to a PyCapsule,
/// or nullptr with an exception set.
inline PyObject* ask_dlpack(PyObject* x, PyObject* stream) {
    PyObject* capsule = call_dlpack(x, stream);
    if (capsule == nullptr && stream != Py_None && retry_with_default_stream()) {
        PyErr_Clear();
        capsule = call_dlpack(x, Py_None);
    }
    if (capsule == nullptr) {
        explain_missing_dlpack(x);
        return nullptr;
    }
    if (!PyCapsule_CheckExact(capsule)) {
        PyErr_Format(PyExc_TypeError, "%.200s.__dlpack__() returned %.200s, not a PyCapsule", Py_TYPE(x)->tp_name,
                     Py_TYPE(capsule)->tp_name);
        Py_DECREF(capsule);
        return nullptr;
    }
    return capsule;
}

}  // namespace detail

/// The one negotiation with a producer: asks `x` (anything but a capsule) for its tensor
/// under `policy`, into `offer`. `borrow_into`: a DLTensor that the exchange API may fill in
/// place, valid while `x` lives unchanged (StreamPolicy::no_read only); nullptr when the
/// caller needs an owned tensor. Returns false with a Python exception set.
inline bool negotiate(PyObject* x, StreamPolicy policy, Offer& offer, DLTensor* borrow_into = nullptr) {
    const detail::AcquireStatics& s = detail::statics();
    if (!s.ready()) {
        if (!PyErr_Occurred()) PyErr_NoMemory();
        return false;
    }
    if (const DLPackExchangeAPI* api = detail::exchange_api_of(Py_TYPE(x))) {
        switch (detail::ask_table(x, *api, policy, offer, borrow_into)) {
            case detail::TableAnswer::tensor: return true;
            case detail::TableAnswer::error: return false;
            case detail::TableAnswer::ask_dlpack: break;
        }
    }
    // __dlpack_device__ first: it decides the stream argument, and must agree with the capsule.
    if (detail::device_decides_stream(x, policy) && !detail::ask_device(x, offer)) return false;
    offer.capsule = detail::ask_dlpack(x, detail::stream_argument(policy, offer));
    return offer.capsule != nullptr;
}

/// What the caller needs from the tensor beyond its DLTensor.
enum class Need : std::uint8_t {
    tensor,      ///< the DLTensor alone (borrowed exchange path allowed)
    everything,  ///< version and flags too
};

/// How borrow_remembered() went.
enum class Borrowed : std::uint8_t { tensor, not_remembered, error };

/// The common case of negotiate() under StreamPolicy::no_read for a caller that needs the
/// DLTensor alone: `x`'s type has an exchange table, already remembered (exchange_api_of),
/// that fills a DLTensor in place. Fills `slot` and points `view` at it, valid while `x` lives
/// unchanged: the caller holds `x`. not_remembered when `x` is to be asked another way (no
/// Python ran); error with a Python exception set.
inline Borrowed borrow_remembered(PyObject* x, DLTensor* slot, ManagedView& view) {
    const DLPackExchangeAPI* api = nullptr;
    if (!detail::remembered_exchange_api(Py_TYPE(x), &api) || api == nullptr ||
        api->dltensor_from_py_object_no_sync == nullptr) {
        return Borrowed::not_remembered;
    }
    if (api->dltensor_from_py_object_no_sync(x, slot) != 0) {
        detail::table_failed("the exchange API failed without an error");
        return Borrowed::error;
    }
    view.versioned = true;  // as Source::borrow_slot describes a borrowed tensor
    view.version = api->header.version;
    view.flags = 0;
    view.tensor = slot;
    return Borrowed::tensor;
}

/// Obtains the tensor of `x` into `source` for reading its description (StreamPolicy::no_read).
/// Returns SourceError::none on success; otherwise a Python exception is set (python_error)
/// or the capsule was already consumed (consumed).
inline SourceError acquire(PyObject* x, Source& source, Need need) {
    if (PyCapsule_CheckExact(x)) return source.from_capsule(x);
    if (need == Need::tensor) {
        DLTensor tensor;
        ManagedView view;
        switch (borrow_remembered(x, &tensor, view)) {
            case Borrowed::tensor: *source.borrow_slot(x, view.version) = tensor; return SourceError::none;
            case Borrowed::error: return SourceError::python_error;
            case Borrowed::not_remembered: break;
        }
    }
    Offer offer;
    DLTensor borrowed{};
    if (!negotiate(x, StreamPolicy::no_read, offer, need == Need::tensor ? &borrowed : nullptr)) {
        return SourceError::python_error;
    }
    source.has_reported_device = offer.has_reported_device;
    source.reported_device = offer.reported_device;
    if (offer.borrowed) {
        *source.borrow_slot(x, offer.table_version) = borrowed;
        return SourceError::none;
    }
    if (offer.managed != nullptr) {
        source.adopt(offer.take_managed(), x);
        return SourceError::none;
    }
    if (offer.capsule == nullptr) return SourceError::python_error;  // negotiate() left an error set
    SourceError result = source.from_capsule(offer.capsule);         // the source holds the capsule now
    source.kind = SourceKind::dunder_dlpack;
    return result;
}

/// Producer-level rule: __dlpack_device__() must agree with the capsule's device.
inline void check_reported_device(const Source& source, Report& report) {
    if (!source.has_reported_device || source.view.tensor == nullptr) return;
    const DLDevice& got = source.view.tensor->device;
    const DLDevice& said = source.reported_device;
    if (got.device_type != said.device_type || got.device_id != said.device_id) {
        report.add(Rule::producer_device,
                   format_device(static_cast<std::int32_t>(said.device_type), said.device_id) +
                       " (what __dlpack_device__() reports)",
                   format_device(static_cast<std::int32_t>(got.device_type), got.device_id) + " in the capsule");
    }
}

}  // namespace optype_dlpack

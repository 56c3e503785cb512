// optype_dlpack._core interop: asdlpack, and DLPackObject, which offers what it wraps (a DLPack
// producer or capsule, a NumPy array, __cuda_array_interface__, __array_interface__ or a
// buffer) through the full __dlpack__ / __dlpack_device__ protocol. Also register_interop.
#include "interop.hpp"

#include <structmember.h>

#include "optype_dlpack/acquire.hpp"
#include "optype_dlpack/source.hpp"

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace optype_dlpack::interop {

namespace {

enum class WrapKind : std::uint8_t { producer, capsule, ndarray, buffer, array_interface, cuda_interface };

struct Wrapped {
    WrapKind kind = WrapKind::producer;
    PyObject* source = nullptr;     ///< strong: the wrapped object
    PyObject* keepalive = nullptr;  ///< strong: what capsules hold (array, memoryview or source)
    Described described;
    std::optional<std::int64_t> producer_stream;  ///< __cuda_array_interface__ 'stream'
    PyObject* device_tuple = nullptr;             ///< strong: what __dlpack_device__() returns (own exports)
};

struct DLPackObjectData {
    PyObject_HEAD
    Wrapped* wrapped;
    PyObject* weakrefs;
};

PyTypeObject* dlpack_object_type = nullptr;

Wrapped& wrapped_of(PyObject* self) {
    Wrapped* w = reinterpret_cast<DLPackObjectData*>(self)->wrapped;
    if (w == nullptr || w->source == nullptr) buffer_error("DLPackObject: the wrapper was cleared");
    return *w;
}

/// (device_type, device_id) from a __dlpack__ dl_device argument.
DLDevice device_argument(PyObject* value) {
    if (!PyTuple_Check(value) || PyTuple_GET_SIZE(value) != 2) {
        PyErr_Format(PyExc_TypeError, "__dlpack__(): dl_device must be a (device_type, device_id) tuple, not %R",
                     value);
        throw py::error_already_set();
    }
    const long type = PyLong_AsLong(PyTuple_GET_ITEM(value, 0));
    const long id = PyLong_AsLong(PyTuple_GET_ITEM(value, 1));
    if (PyErr_Occurred()) throw py::error_already_set();
    if (type < 0 || type > std::numeric_limits<std::int32_t>::max() || id < 0 ||
        id > std::numeric_limits<std::int32_t>::max()) {
        buffer_error("__dlpack__(): unsupported dl_device " + repr_of(value));
    }
    return DLDevice{static_cast<DLDeviceType>(type), static_cast<std::int32_t>(id)};
}

/// max_version → whether the consumer reads versioned capsules (major >= 1).
bool versioned_argument(PyObject* value) {
    if (value == nullptr || value == Py_None) return false;
    if (!PyTuple_Check(value) || PyTuple_GET_SIZE(value) != 2 || !PyLong_Check(PyTuple_GET_ITEM(value, 0)) ||
        !PyLong_Check(PyTuple_GET_ITEM(value, 1))) {
        PyErr_Format(PyExc_TypeError, "__dlpack__(): max_version must be a (major, minor) tuple of int, not %R", value);
        throw py::error_already_set();
    }
    const long major = PyLong_AsLong(PyTuple_GET_ITEM(value, 0));
    if (major == -1 && PyErr_Occurred()) throw py::error_already_set();
    return major >= 1;
}

/// A CUDA consumer stream: None → the legacy default stream (1); -1 → no synchronisation.
std::int64_t cuda_stream_argument(PyObject* value) {
    if (value == nullptr || value == Py_None) return 1;
    if (!PyLong_Check(value) || PyBool_Check(value)) {
        PyErr_Format(PyExc_TypeError, "__dlpack__(): stream must be an int or None for CUDA memory, not %.200s",
                     Py_TYPE(value)->tp_name);
        throw py::error_already_set();
    }
    const long long stream = PyLong_AsLongLong(value);
    if (stream == -1 && PyErr_Occurred()) throw py::error_already_set();
    if (stream == 0) {
        throw_error(PyExc_ValueError,
                    "__dlpack__(): stream=0 is disallowed for CUDA (ambiguous); pass 1 for the legacy "
                    "default stream, 2 for the per-thread default stream, or a stream handle");
    }
    if (stream < -1) {
        throw_error(PyExc_ValueError,
                    "__dlpack__(): stream must be -1, 1, 2 or a stream handle, got " + std::to_string(stream));
    }
    return static_cast<std::int64_t>(stream);
}

/// The __cuda_array_interface__ v3 contract: the consumer synchronises with the producer's
/// stream. Same stream, or no stream named: nothing to do.
void order_streams(const Wrapped& w, std::int64_t consumer) {
    if (!w.producer_stream || consumer == -1 || *w.producer_stream == consumer) return;
    buffer_error("__dlpack__(): the __cuda_array_interface__ producer asks consumers to synchronise with CUDA stream " +
                 std::to_string(*w.producer_stream) + ", and the consumer asked for stream " +
                 std::to_string(consumer) +
                 "; ordering two CUDA streams is not supported: synchronise the producer's stream yourself and "
                 "pass stream=-1, or consume on the producer's stream");
}

PyObject* wrapped_capsule_dlpack(Wrapped& w, bool versioned_ok, PyObject* dl_device, std::optional<bool> copy) {
    od::Source source;
    od::SourceError got = source.from_capsule(w.source);
    if (got == od::SourceError::consumed) {
        buffer_error("__dlpack__(): the wrapped capsule was already consumed ('" + std::string(source.consumed_name) +
                     "')");
    }
    if (got != od::SourceError::none) throw py::error_already_set();
    if (source.view.versioned && !versioned_ok) {
        buffer_error(
            "__dlpack__(): the wrapped capsule is versioned ('dltensor_versioned') and the consumer reads "
            "only legacy capsules (max_version < (1, 0))");
    }
    // Another major version may lay out everything past `flags` differently: read none of it.
    if (source.view.versioned && source.view.version.major != DLPACK_MAJOR_VERSION) {
        buffer_error("__dlpack__(): the wrapped capsule has DLPack major version " +
                     std::to_string(source.view.version.major));
    }
    if (copy == true) {
        buffer_error("__dlpack__(): a wrapped capsule is handed out as it is; copy=True is not supported");
    }
    if (dl_device != nullptr && dl_device != Py_None) {
        DLDevice want = device_argument(dl_device);
        const DLDevice& have = source.view.tensor->device;
        if (want.device_type != have.device_type || want.device_id != have.device_id) {
            buffer_error("__dlpack__(): the wrapped capsule is on " + device_name(have) +
                         "; it cannot be exported to " + device_name(want));
        }
    }
    Py_INCREF(w.source);
    return w.source;
}

/// Calls source.__dlpack__ with these arguments (kwnames: a tuple of keyword names, or NULL).
PyObject* call_dlpack(PyObject* source, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static PyObject* name = PyUnicode_InternFromString("__dlpack__");  // leaked on purpose
    if (name == nullptr) throw py::error_already_set();
    const Py_ssize_t count = nargs + (kwnames != nullptr ? PyTuple_GET_SIZE(kwnames) : 0);
    std::vector<PyObject*> call(static_cast<std::size_t>(count + 1));
    call[0] = source;
    for (Py_ssize_t i = 0; i < count; ++i) call[static_cast<std::size_t>(i + 1)] = args[i];
    return PyObject_VectorcallMethod(name, call.data(), static_cast<std::size_t>(nargs + 1), kwnames);
}

/// The keyword arguments of a __dlpack__ call, with `stream` taken out.
struct KeywordsWithoutStream {
    od::detail::unwind_safe<py::tuple> names{py::tuple()};  // held across the producer's call
    std::vector<PyObject*> values;
    PyObject* stream = nullptr;  ///< the stream given by keyword (borrowed), or nullptr
};

void split_stream(PyObject* const* kwvalues, PyObject* kwnames, KeywordsWithoutStream& out) {
    const Py_ssize_t given = kwnames != nullptr ? PyTuple_GET_SIZE(kwnames) : 0;
    std::vector<PyObject*> names;
    for (Py_ssize_t i = 0; i < given; ++i) {
        PyObject* key = PyTuple_GET_ITEM(kwnames, i);
        if (PyUnicode_CompareWithASCIIString(key, "stream") == 0) {
            out.stream = kwvalues[i];
        } else {
            names.push_back(key);
            out.values.push_back(kwvalues[i]);
        }
    }
    py::tuple kept(static_cast<py::size_t>(names.size()));
    for (std::size_t i = 0; i < names.size(); ++i) {
        Py_INCREF(names[i]);
        PyTuple_SET_ITEM(kept.ptr(), static_cast<Py_ssize_t>(i), names[i]);
    }
    static_cast<py::tuple&>(out.names) = std::move(kept);
}

/// __dlpack__ of a wrapped producer: the arguments pass through as given, except the stream
/// when it is omitted or None. That is passed as an explicit None, the specification's default
/// (synchronise with the legacy default stream): a consumer that omits it relies on that
/// default, and a producer may default to something else (torch >= 2.10 defaults to -1, no
/// synchronisation, and a consumer would read CUDA memory before the producer's work is done).
/// A producer that rejects the keyword (TypeError) is asked again without it. A positional
/// stream (the pre-2023.12 signature) or a stream other than None passes through as given.
PyObject* forward_dlpack(PyObject* source, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    KeywordsWithoutStream rest;
    split_stream(args + nargs, kwnames, rest);
    if (nargs > 0 || (rest.stream != nullptr && rest.stream != Py_None)) {
        PyObject* out = call_dlpack(source, args, nargs, kwnames);
        if (out == nullptr) throw py::error_already_set();
        return out;
    }
    static PyObject* stream = PyUnicode_InternFromString("stream");  // leaked on purpose
    if (stream == nullptr) throw py::error_already_set();
    const auto count = static_cast<Py_ssize_t>(rest.values.size());
    od::detail::unwind_safe<py::tuple> names{py::tuple(count + 1)};  // held across the producer's call
    for (Py_ssize_t i = 0; i < count; ++i) {
        PyObject* key = PyTuple_GET_ITEM(rest.names.ptr(), i);
        Py_INCREF(key);
        PyTuple_SET_ITEM(names.ptr(), i, key);
    }
    Py_INCREF(stream);
    PyTuple_SET_ITEM(names.ptr(), count, stream);
    std::vector<PyObject*> values = rest.values;
    values.push_back(Py_None);
    PyObject* out = call_dlpack(source, values.data(), 0, names.ptr());
    if (out == nullptr && PyErr_ExceptionMatches(PyExc_TypeError)) {
        PyErr_Clear();  // no `stream` keyword: ask without it
        out = call_dlpack(source, rest.values.data(), 0, rest.names.ptr());
    }
    if (out == nullptr) throw py::error_already_set();
    return out;
}

PyObject* dlpack_method(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    return guarded([&]() -> PyObject* {
        Wrapped& w = wrapped_of(self);
        if (w.kind == WrapKind::producer) return forward_dlpack(w.source, args, nargs, kwnames);
        static const char* const keywords[] = {"stream", "max_version", "dl_device", "copy"};
        static const od::detail::Parameters parameters("__dlpack__", 0, keywords);
        PyObject* values[4] = {};
        parameters.parse_or_throw(args, nargs, kwnames, values);
        PyObject* stream = values[0];
        const bool versioned = versioned_argument(values[1]);
        const std::optional<bool> copy = od::detail::optional_bool(values[3], "__dlpack__", "copy");
        if (w.kind == WrapKind::capsule) return wrapped_capsule_dlpack(w, versioned, values[2], copy);

        ExportRequest request;
        request.function = "__dlpack__()";
        request.versioned = versioned;
        request.copy = copy;
        Described fresh;
        const Described* d = &w.described;
        if (w.kind == WrapKind::ndarray) {  // re-read: the array's flags may have changed
            describe_ndarray(w.source, fresh, "__dlpack__()");
            d = &fresh;
        }
        const DLDevice own = d->spec.device;
        const bool own_is_host = od::host_memory(static_cast<std::int32_t>(own.device_type));
        bool to_host = false;
        bool relabel_cpu = false;  // page-locked host memory asked for as plain CPU memory
        if (values[2] != nullptr && values[2] != Py_None) {
            DLDevice want = device_argument(values[2]);
            const bool same = want.device_type == own.device_type && want.device_id == own.device_id;
            const bool want_cpu = want.device_type == kDLCPU && want.device_id == 0;
            if (!same &&
                !(want_cpu && (own_is_host || own.device_type == kDLCUDA || own.device_type == kDLCUDAManaged))) {
                buffer_error("__dlpack__(): cannot export memory on " + device_name(own) + " to " + device_name(want) +
                             " (supported: the same device, or the CPU)");
            }
            to_host = want_cpu && !own_is_host;
            relabel_cpu = want_cpu && own_is_host && own.device_type != kDLCPU;
        }
        if (to_host && copy == false) {
            buffer_error("__dlpack__(): exporting " + device_name(own) +
                         " memory to the CPU needs a copy, and copy=False forbids it");
        }
        if (own_is_host || to_host) {
            if (stream != nullptr && stream != Py_None) {
                throw_error(PyExc_ValueError,
                            "__dlpack__(): stream must be None for CPU memory, got " + repr_of(stream) +
                                " (the DLPack specification accepts only None for devices without streams)");
            }
        } else {
            order_streams(w, cuda_stream_argument(stream));
            if (copy == true) {
                buffer_error("__dlpack__(): copy=True on " + device_name(own) +
                             " needs a device allocation, which asdlpack does not make; ask for "
                             "dl_device=(1, 0) to copy into host memory");
            }
        }
        if (to_host) {
            if (w.producer_stream && *w.producer_stream > 2) order_streams(w, 1);  // copies run on the legacy stream
            request.to_host = true;
        }
        if (d == &fresh) return export_described(fresh, w.keepalive, request);
        if (relabel_cpu) {  // host memory exported as kDLCPU when asked for it
            Described relabelled = *d;
            relabelled.finish();
            relabelled.spec.device = DLDevice{kDLCPU, 0};
            return export_described(relabelled, w.keepalive, request);
        }
        return export_described(*d, w.keepalive, request);
    });
}

PyObject* dlpack_device_method(PyObject* self, PyObject*) {
    return guarded([&]() -> PyObject* {
        Wrapped& w = wrapped_of(self);
        const auto& names = od::detail::statics();
        if (!names.ready()) {
            if (!PyErr_Occurred()) PyErr_NoMemory();
            throw py::error_already_set();
        }
        if (w.kind == WrapKind::producer && od::detail::type_defines(Py_TYPE(w.source), names.dlpack_device)) {
            PyObject* out = PyObject_CallMethodNoArgs(w.source, names.dlpack_device);
            if (out == nullptr) throw py::error_already_set();
            return out;
        }
        if (w.device_tuple != nullptr) {
            Py_INCREF(w.device_tuple);
            return w.device_tuple;
        }
        DLDevice device = w.described.spec.device;
        if (w.kind == WrapKind::capsule || w.kind == WrapKind::producer) {
            // A capsule, or a producer from before __dlpack_device__ (2021.12): its capsule's
            // own device, read without consuming or copying anything.
            od::Source source;
            od::SourceError got = w.kind == WrapKind::capsule ? source.from_capsule(w.source)
                                                              : od::acquire(w.source, source, od::Need::tensor);
            if (got == od::SourceError::consumed) {
                buffer_error("__dlpack_device__(): the wrapped capsule was already consumed");
            }
            if (got != od::SourceError::none) throw py::error_already_set();
            if (source.view.versioned && source.view.version.major != DLPACK_MAJOR_VERSION) {
                buffer_error("__dlpack_device__(): the wrapped capsule has DLPack major version " +
                             std::to_string(source.view.version.major));
            }
            device = source.view.tensor->device;
        }
        return Py_BuildValue("(ii)", static_cast<int>(device.device_type), static_cast<int>(device.device_id));
    });
}

const char* kind_name(WrapKind kind) {
    switch (kind) {
        case WrapKind::producer: return "a DLPack producer";
        case WrapKind::capsule: return "a DLPack capsule";
        case WrapKind::ndarray: return "a NumPy array";
        case WrapKind::buffer: return "a buffer";
        case WrapKind::array_interface: return "__array_interface__";
        case WrapKind::cuda_interface: return "__cuda_array_interface__";
    }
    return "?";
}

PyObject* dlpack_object_repr(PyObject* self) {
    Wrapped* w = reinterpret_cast<DLPackObjectData*>(self)->wrapped;
    if (w == nullptr || w->source == nullptr) return PyUnicode_FromString("<DLPackObject (cleared)>");
    std::string text =
        std::string("<DLPackObject over ") + kind_name(w->kind) + " (" + Py_TYPE(w->source)->tp_name + ")";
    if (w->kind != WrapKind::producer && w->kind != WrapKind::capsule) {
        const Described& d = w->described;
        text += ": " + device_name(d.spec.device) + " " + dtype_name(d.spec.dtype) + " (";
        for (std::int32_t i = 0; i < d.shape.size(); ++i) text += (i ? ", " : "") + std::to_string(d.shape[i]);
        text += d.shape.size() == 1 ? ",)" : ")";
        if (d.readonly) text += " read-only";
    }
    return PyUnicode_FromString((text + ">").c_str());
}

int dlpack_object_traverse(PyObject* self, visitproc visit, void* arg) {
    Py_VISIT(Py_TYPE(self));
    if (Wrapped* w = reinterpret_cast<DLPackObjectData*>(self)->wrapped) {
        Py_VISIT(w->source);
        Py_VISIT(w->keepalive);
    }
    return 0;
}

int dlpack_object_clear(PyObject* self) {
    if (Wrapped* w = reinterpret_cast<DLPackObjectData*>(self)->wrapped) {
        Py_CLEAR(w->source);
        Py_CLEAR(w->keepalive);
        Py_CLEAR(w->device_tuple);
    }
    return 0;
}

void dlpack_object_dealloc(PyObject* self) {
    PyTypeObject* type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    auto* data = reinterpret_cast<DLPackObjectData*>(self);
    if (data->weakrefs != nullptr) PyObject_ClearWeakRefs(self);
    dlpack_object_clear(self);
    delete data->wrapped;
    data->wrapped = nullptr;
    type->tp_free(self);
    Py_DECREF(type);
}

PyObject* make_dlpack_object(Wrapped* wrapped) {
    auto* self = reinterpret_cast<DLPackObjectData*>(dlpack_object_type->tp_alloc(dlpack_object_type, 0));
    if (self == nullptr) {
        Py_XDECREF(wrapped->source);
        Py_XDECREF(wrapped->keepalive);
        Py_XDECREF(wrapped->device_tuple);
        delete wrapped;
        throw py::error_already_set();
    }
    self->wrapped = wrapped;
    self->weakrefs = nullptr;
    return reinterpret_cast<PyObject*>(self);
}

bool has_attribute(PyObject* obj, const char* name) {
    PyObject* value = nullptr;
    py::str key(name);
#if PY_VERSION_HEX >= 0x030D0000
    const int found = PyObject_GetOptionalAttr(obj, key.ptr(), &value);
#else
    const int found = _PyObject_LookupAttr(obj, key.ptr(), &value);
#endif
    Py_XDECREF(value);
    if (found < 0) throw py::error_already_set();
    return found == 1;
}

/// A capsule is checked when it is wrapped, by every structural rule, so that a malformed
/// tensor fails here, as validate() fails, and never reaches a consumer that trusts it.
void check_wrapped_capsule(PyObject* capsule) {
    od::Source source;
    od::SourceError got = source.from_capsule(capsule);
    if (got == od::SourceError::consumed) raise_consumed(source.consumed_name);
    if (got != od::SourceError::none) throw py::error_already_set();
    od::Report report;
    // (a report can hold a violation even when check_structure returns true: flags.unknown)
    if (!od::check_structure(source.view, report, nullptr) || !report.ok()) raise_report(report);
}

PyObject* asdlpack_impl(PyObject* obj) {
    auto wrapped = std::make_unique<Wrapped>();
    Wrapped& w = *wrapped;
    py::object keepalive = py::reinterpret_borrow<py::object>(obj);
    if (PyCapsule_CheckExact(obj)) {
        check_wrapped_capsule(obj);
        w.kind = WrapKind::capsule;
    } else if (exports_as_numpy(obj)) {  // exported directly: same rules as to_dlpack, every dtype NumPy holds
        w.kind = WrapKind::ndarray;
        describe_ndarray(obj, w.described, "asdlpack");
    } else if (has_attribute(obj, "__dlpack__")) {
        w.kind = WrapKind::producer;
    } else if (has_attribute(obj, "__cuda_array_interface__")) {
        w.kind = WrapKind::cuda_interface;
        w.producer_stream = describe_cuda_interface(obj, w.described);
    } else if (has_attribute(obj, "__array_interface__")) {
        w.kind = WrapKind::array_interface;
        keepalive = describe_array_interface(obj, w.described);
    } else if (PyObject_CheckBuffer(obj)) {
        w.kind = WrapKind::buffer;
        keepalive = py::reinterpret_steal<py::object>(PyMemoryView_FromObject(obj));
        if (!keepalive) throw py::error_already_set();
        describe_buffer(*PyMemoryView_GET_BUFFER(keepalive.ptr()), w.described, "asdlpack");
    } else {
        PyErr_Format(PyExc_TypeError,
                     "asdlpack() expects a DLPack producer, a capsule, an object with __cuda_array_interface__ or "
                     "__array_interface__, or a buffer (bytes, bytearray, array.array, memoryview, mmap, NumPy "
                     "arrays), got %.200s",
                     Py_TYPE(obj)->tp_name);
        throw py::error_already_set();
    }
    if (w.kind != WrapKind::producer && w.kind != WrapKind::capsule) {
        const DLDevice& device = w.described.spec.device;
        w.device_tuple =
            Py_BuildValue("(ii)", static_cast<int>(device.device_type), static_cast<int>(device.device_id));
        if (w.device_tuple == nullptr) throw py::error_already_set();
    }
    Py_INCREF(obj);
    w.source = obj;
    w.keepalive = keepalive.release().ptr();
    return make_dlpack_object(wrapped.release());
}

PyObject* py_asdlpack(PyObject*, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static const od::detail::Parameters parameters("asdlpack", 1);
    if (!parameters.parse(args, nargs, kwnames, nullptr)) return nullptr;
    return guarded([&]() -> PyObject* { return asdlpack_impl(args[0]); });
}

// ---------------------------------------------------------------------------------------
// Registration

PyMethodDef dlpack_object_methods[] = {
    {"__dlpack__", od::detail::as_method(&dlpack_method), METH_FASTCALL | METH_KEYWORDS,
     "__dlpack__($self, /, *, stream=None, max_version=None, dl_device=None, copy=None)\n--\n\n"
     "__dlpack__(self, /, *, stream=None, max_version=None, dl_device=None, copy=None)\n\n"
     "Export the memory as a DLPack capsule: versioned when max_version >= (1, 0), legacy otherwise.\n"
     "copy=True copies (IS_COPIED); copy=False never copies; dl_device=(1, 0) asks for host memory.\n"
     "A wrapped DLPack producer receives the arguments as given (an omitted stream as stream=None)."},
    {"__dlpack_device__", &dlpack_device_method, METH_NOARGS,
     "__dlpack_device__($self, /)\n--\n\n__dlpack_device__(self, /)\n\nThe (device_type, device_id) of the memory."},
    {nullptr, nullptr, 0, nullptr},
};

PyMemberDef dlpack_object_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(DLPackObjectData, weakrefs), READONLY, nullptr},
    {nullptr, 0, 0, 0, nullptr},
};

PyType_Slot dlpack_object_slots[] = {
    {Py_tp_dealloc, reinterpret_cast<void*>(&dlpack_object_dealloc)},
    {Py_tp_traverse, reinterpret_cast<void*>(&dlpack_object_traverse)},
    {Py_tp_clear, reinterpret_cast<void*>(&dlpack_object_clear)},
    {Py_tp_repr, reinterpret_cast<void*>(&dlpack_object_repr)},
    {Py_tp_methods, dlpack_object_methods},
    {Py_tp_members, dlpack_object_members},
    {Py_tp_doc, const_cast<char*>("Memory offered through the DLPack protocol; made by asdlpack().")},
    {0, nullptr},
};

PyType_Spec dlpack_object_spec = {
    "optype_dlpack.DLPackObject",
    sizeof(DLPackObjectData),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    dlpack_object_slots,
};

PyMethodDef interop_functions[] = {
    {"from_dlpack", od::detail::as_method(&py_from_dlpack), METH_FASTCALL | METH_KEYWORDS,
     "from_dlpack(x, /, *, device=None, copy=None)\n--\n\nfrom_dlpack(x, /, *, device=None, copy=None)\n\n"
     "A NumPy array over a DLPack tensor (a capsule or a producer), validated first and consumed once.\n"
     "Zero-copy for CPU-accessible memory; copy=True returns an independent array (also from CUDA);\n"
     "copy=False never copies. device: None, 'cpu' or (1, 0); with 'cpu', copy=None copies from CUDA."},
    {"to_dlpack", od::detail::as_method(&py_to_dlpack), METH_FASTCALL | METH_KEYWORDS,
     "to_dlpack(obj, /, *, versioned=True, readonly=None)\n--\n\nto_dlpack(obj, /, *, versioned=True, "
     "readonly=None)\n\n"
     "A DLPack capsule over a NumPy array or a buffer-protocol object, without copying.\n"
     "versioned=False gives a legacy 'dltensor' capsule; readonly=True marks the tensor READ_ONLY."},
    {"asdlpack", od::detail::as_method(&py_asdlpack), METH_FASTCALL | METH_KEYWORDS,
     "asdlpack(obj, /)\n--\n\nasdlpack(obj, /)\n\n"
     "A DLPackObject offering obj through __dlpack__ / __dlpack_device__: DLPack producers and capsules,\n"
     "__cuda_array_interface__ (v2, v3), __array_interface__ (v3) and buffer-protocol objects."},
    {nullptr, nullptr, 0, nullptr},
};

}  // namespace

}  // namespace optype_dlpack::interop

void register_interop(pybind11::module_& m) {
    namespace interop = optype_dlpack::interop;
    PyObject* type = PyType_FromSpec(&interop::dlpack_object_spec);
    if (type == nullptr) throw pybind11::error_already_set();
    interop::dlpack_object_type = reinterpret_cast<PyTypeObject*>(type);  // the module's reference keeps it alive
    if (PyModule_AddObjectRef(m.ptr(), "DLPackObject", type) != 0) throw pybind11::error_already_set();
    if (PyModule_AddFunctions(m.ptr(), interop::interop_functions) != 0) throw pybind11::error_already_set();
}

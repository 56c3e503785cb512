// optype_dlpack._core.TensorInfo: a plain CPython type whose instances hold the description
// inline (the fields, then the extents and strides in one allocation), so that inspect() and
// validate() cost one small allocation and no C++ object. Final, immutable, and made only by
// make(): its __new__ refuses. Python values (DLDevice, DLDataType, tuples) are built when a
// property is read.
#include "tensor_info_type.hpp"

#include "boundary.hpp"
#include "optype_dlpack/expect.hpp"
#include "optype_dlpack/pybind11.hpp"
#include "optype_dlpack/tables.hpp"

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <vector>

namespace optype_dlpack::tensor_info_type {

namespace {

namespace py = pybind11;
namespace od = optype_dlpack;

/// An instance: the record, whose shape and strides point into `dims` (ob_size entries: ndim
/// extents, then ndim strides). It holds no Python object, so it takes no part in the GC.
struct TensorInfoObject {
    PyObject_VAR_HEAD
    od::TensorInfoRecord record;
    PyObject* weakrefs;
    std::int64_t dims[1];
};

PyTypeObject* tensor_info_class = nullptr;  // the class, once bind() made it

const od::TensorInfoRecord& record_of_object(PyObject* self) {
    return reinterpret_cast<TensorInfoObject*>(self)->record;
}

// ---------------------------------------------------------------------------------------
// Making and freeing instances

/// A record that a TensorInfo can describe: ndim in range, and extents to copy.
bool check_record(const od::TensorInfoRecord& r) {
    if (r.ndim < 0 || r.ndim > od::kMaxNdim || (r.ndim > 0 && r.shape == nullptr)) {
        PyErr_Format(PyExc_ValueError, "TensorInfo: ndim %d out of range, or no shape", static_cast<int>(r.ndim));
        return false;
    }
    return true;
}

// Freed instances are kept for reuse, as CPython keeps floats and small tuples: validate()
// in a loop then costs no allocation. An instance's block depends only on its ndim (the
// extents and strides follow the fields), so there is one list per ndim, each bounded. Only
// instances whose reference count reached zero are kept, after their weak references were
// cleared (no weakref can reach them: their callbacks ran, and see a dead referent), and a
// kept instance is filled anew, header included, before it is handed out: nothing of the
// freed object shows. Guarded by the GIL (the module does not run without it). At exit the
// lists are emptied and closed (close_free_lists), so that no block outlives the interpreter
// in them and instances freed later go back to the allocator.
class FreeLists {
public:
    static constexpr std::int32_t kMaxRecycledNdim = 6;
    static constexpr int kCapacity = 16;

    /// A kept block for an instance of `ndim` dimensions, or nullptr.
    TensorInfoObject* take(std::int32_t ndim) noexcept {
        if (ndim > kMaxRecycledNdim) return nullptr;
        const auto slot = static_cast<std::size_t>(ndim);
        int& count = counts_[slot];
        return count > 0 ? blocks_[slot][--count] : nullptr;
    }

    /// Keeps `dead` (reference count zero, weak references cleared); false when it must be freed.
    bool keep(TensorInfoObject* dead) noexcept {
        const Py_ssize_t ndim = Py_SIZE(dead) / 2;  // ndim extents, then ndim strides
        if (closed_ || ndim > kMaxRecycledNdim) return false;
        const auto slot = static_cast<std::size_t>(ndim);
        int& count = counts_[slot];
        if (count == kCapacity) return false;
        blocks_[slot][count++] = dead;
        return true;
    }

    /// Frees every kept block, and keeps none from now on.
    void close() noexcept {
        closed_ = true;
        for (std::size_t ndim = 0; ndim <= kMaxRecycledNdim; ++ndim) {
            while (counts_[ndim] > 0) PyObject_Free(blocks_[ndim][--counts_[ndim]]);
        }
    }

private:
    TensorInfoObject* blocks_[kMaxRecycledNdim + 1][kCapacity] = {};
    int counts_[kMaxRecycledNdim + 1] = {};
    bool closed_ = false;
};

FreeLists free_lists;

/// A new instance of `ndim` dimensions, its fields unset: a kept block made live again, or a
/// new one.
TensorInfoObject* new_instance(std::int32_t ndim) {
    const Py_ssize_t dims = 2 * static_cast<Py_ssize_t>(ndim);
    if (TensorInfoObject* kept = free_lists.take(ndim)) {
        PyObject_InitVar(reinterpret_cast<PyVarObject*>(kept), tensor_info_class, dims);
        return kept;
    }
    return PyObject_NewVar(TensorInfoObject, tensor_info_class, dims);
}

PyObject* make_checked(const od::TensorInfoRecord& r) {
    TensorInfoObject* self = new_instance(r.ndim);
    if (self == nullptr) return nullptr;
    self->weakrefs = nullptr;
    self->record = r;
    if (r.ndim > 0) {
        // Element by element: a few dimensions, where a call to memcpy costs more than the copy.
        for (std::int32_t i = 0; i < r.ndim; ++i) self->dims[i] = r.shape[i];
        if (r.strides != nullptr) {
            for (std::int32_t i = 0; i < r.ndim; ++i) self->dims[r.ndim + i] = r.strides[i];
        } else {
            od::fill_record_strides(r, self->dims + r.ndim);
        }
        self->record.shape = self->dims;
        self->record.strides = self->dims + r.ndim;
    } else {
        self->record.shape = self->record.strides = nullptr;
    }
    return reinterpret_cast<PyObject*>(self);
}

void dealloc(PyObject* self) {
    auto* dead = reinterpret_cast<TensorInfoObject*>(self);
    if (dead->weakrefs != nullptr) {
        PyObject_ClearWeakRefs(self);  // runs their callbacks, which cannot reach `self` any more
        dead->weakrefs = nullptr;
    }
    // The class is final, so every instance has its layout; the test costs nothing and keeps
    // the lists to blocks of that layout should that ever change.
    if (Py_TYPE(self) == tensor_info_class && free_lists.keep(dead)) return;
    Py_TYPE(self)->tp_free(self);  // a static class: instances own no reference to it
}

/// atexit: empties the free lists and closes them (see FreeLists).
PyObject* close_free_lists(PyObject*, PyObject*) {
    free_lists.close();
    Py_RETURN_NONE;
}

PyMethodDef close_free_lists_def = {"_close_tensor_info_free_lists", &close_free_lists, METH_NOARGS, nullptr};

/// Registers close_free_lists with atexit, which runs it before the interpreter finalises.
void close_free_lists_at_exit() {
    auto function = py::reinterpret_steal<py::object>(PyCFunction_NewEx(&close_free_lists_def, nullptr, nullptr));
    if (!function) throw py::error_already_set();
    py::module_::import("atexit").attr("register")(function);
}

/// tp_new: instances come only from inspect(), validate() and Expect.validate(). (With a
/// tp_new of its own, the class also makes object.__new__(TensorInfo) refuse, as unsafe.)
PyObject* refuse_new(PyTypeObject* type, PyObject*, PyObject*) {
    PyErr_Format(PyExc_TypeError,
                 "cannot create '%s' instances: inspect(), validate() and Expect.validate() return them",
                 type->tp_name);
    return nullptr;
}

// ---------------------------------------------------------------------------------------
// The API for extensions (optype_dlpack::TensorInfoApi, pybind11.hpp)

PyObject* api_make(const od::TensorInfoRecord* record) { return make(*record); }

int api_read(PyObject* object, od::TensorInfoRecord* out) {
    if (tensor_info_class == nullptr || Py_TYPE(object) != tensor_info_class) return 0;
    *out = record_of_object(object);
    return 1;
}

const od::TensorInfoApi api = {od::kTensorInfoApiVersion, &api_make, &api_read};

// ---------------------------------------------------------------------------------------
// Properties: each a `property` whose getter is a method of the class (its descriptor
// refuses any other object), as pybind11 bound them before.

/// The classes of optype_dlpack._enums that the properties build, imported on first use.
enum class EnumClass : std::uint8_t { device, device_type, data_type, data_type_code, version, flags };
constexpr const char* kEnumClassNames[] = {"DLDevice",       "DLDeviceType",  "DLDataType",
                                           "DLDataTypeCode", "DLPackVersion", "DLPackFlags"};

/// Borrowed (kept for the process); nullptr with an error set if it cannot be imported.
PyObject* enum_class(EnumClass which) {
    static PyObject* classes[std::size(kEnumClassNames)] = {};  // read and written with the GIL held
    PyObject*& slot = classes[static_cast<std::size_t>(which)];
    if (slot == nullptr) {
        PyObject* module = PyImport_ImportModule("optype_dlpack._enums");
        if (module == nullptr) return nullptr;
        PyObject* found = PyObject_GetAttrString(module, kEnumClassNames[static_cast<std::size_t>(which)]);
        Py_DECREF(module);
        if (found == nullptr) return nullptr;
        if (slot != nullptr) {
            Py_DECREF(found);  // the import ran Python code, which may have filled it meanwhile
        } else {
            slot = found;
        }
    }
    return slot;
}

/// enum_class(which)(arguments built from `format`, ...); a new reference or nullptr.
template <class... Arguments>
PyObject* call_enum(EnumClass which, const char* format, Arguments... arguments) {
    PyObject* cls = enum_class(which);
    return cls == nullptr ? nullptr : PyObject_CallFunction(cls, format, arguments...);
}

/// The member of enum class `which` with this value, or the plain int for a value newer than the
/// enum knows (a versioned capsule may carry one: docs/validation.md); a new reference or nullptr.
PyObject* member_or_int(EnumClass which, int value) {
    PyObject* member = call_enum(which, "i", value);
    if (member == nullptr && PyErr_ExceptionMatches(PyExc_ValueError)) {
        PyErr_Clear();
        member = PyLong_FromLong(value);
    }
    return member;
}

PyObject* dims_tuple(const std::int64_t* values, std::int32_t count) {
    PyObject* out = PyTuple_New(count);
    for (std::int32_t i = 0; out != nullptr && i < count; ++i) {
        PyObject* item = PyLong_FromLongLong(values[i]);
        if (item == nullptr) Py_CLEAR(out);
        if (out != nullptr) PyTuple_SET_ITEM(out, i, item);
    }
    return out;
}

PyObject* get_device(PyObject* self, PyObject*) {
    const od::TensorInfoRecord& r = record_of_object(self);
    PyObject* type = member_or_int(EnumClass::device_type, static_cast<int>(r.device.device_type));
    if (type == nullptr) return nullptr;
    PyObject* out = call_enum(EnumClass::device, "Oi", type, static_cast<int>(r.device.device_id));
    Py_DECREF(type);
    return out;
}

PyObject* get_dtype(PyObject* self, PyObject*) {
    const od::TensorInfoRecord& r = record_of_object(self);
    PyObject* code = member_or_int(EnumClass::data_type_code, static_cast<int>(r.dtype.code));
    if (code == nullptr) return nullptr;
    PyObject* out =
        call_enum(EnumClass::data_type, "Oii", code, static_cast<int>(r.dtype.bits), static_cast<int>(r.dtype.lanes));
    Py_DECREF(code);
    return out;
}

PyObject* get_shape(PyObject* self, PyObject*) {
    const od::TensorInfoRecord& r = record_of_object(self);
    return dims_tuple(r.shape, r.ndim);
}

PyObject* get_strides(PyObject* self, PyObject*) {
    const od::TensorInfoRecord& r = record_of_object(self);
    return dims_tuple(r.strides, r.ndim);
}

PyObject* get_byte_offset(PyObject* self, PyObject*) {
    return PyLong_FromUnsignedLongLong(record_of_object(self).byte_offset);
}

PyObject* get_data_ptr(PyObject* self, PyObject*) {
    return PyLong_FromUnsignedLongLong(record_of_object(self).data_ptr);
}

PyObject* get_version(PyObject* self, PyObject*) {
    const od::TensorInfoRecord& r = record_of_object(self);
    if (r.versioned == 0) Py_RETURN_NONE;
    return call_enum(EnumClass::version, "kk", static_cast<unsigned long>(r.version.major),
                     static_cast<unsigned long>(r.version.minor));
}

PyObject* get_flags(PyObject* self, PyObject*) {
    return call_enum(EnumClass::flags, "K", static_cast<unsigned long long>(record_of_object(self).flags));
}

PyObject* get_readonly(PyObject* self, PyObject*) {
    return PyBool_FromLong((record_of_object(self).flags & od::kFlagReadOnly) != 0);
}

PyObject* get_ndim(PyObject* self, PyObject*) { return PyLong_FromLong(record_of_object(self).ndim); }

PyObject* get_size(PyObject* self, PyObject*) { return PyLong_FromLongLong(record_of_object(self).size); }

PyObject* get_nbytes(PyObject* self, PyObject*) { return PyLong_FromUnsignedLongLong(record_of_object(self).nbytes); }

PyObject* get_c_contiguous(PyObject* self, PyObject*) { return PyBool_FromLong(record_of_object(self).c_contiguous); }

PyObject* get_f_contiguous(PyObject* self, PyObject*) { return PyBool_FromLong(record_of_object(self).f_contiguous); }

PyObject* get_device_verified(PyObject* self, PyObject*) {
    const std::int8_t verified = record_of_object(self).device_verified;
    if (verified < 0) Py_RETURN_NONE;
    return PyBool_FromLong(verified == 1);
}

/// The findings as a tuple of optype_dlpack.Violation: computed from the record when read, so
/// that a TensorInfo stores nothing for them (record_findings).
PyObject* findings_tuple(const std::vector<od::Violation>& findings) {
    if (findings.empty()) return PyTuple_New(0);  // the empty tuple is a singleton
    od::detail::HeldReference violation(PyObject_GetAttrString(od::detail::errors_module().ptr(), "Violation"));
    od::detail::HeldReference out(PyTuple_New(static_cast<Py_ssize_t>(findings.size())));
    for (std::size_t i = 0; i < findings.size(); ++i) {
        const od::Violation& f = findings[i];
        PyObject* item =
            PyObject_CallFunction(violation.object, "ssss", f.rule, f.field, f.expected.c_str(), f.got.c_str());
        if (item == nullptr) throw py::error_already_set();
        PyTuple_SET_ITEM(out.object, static_cast<Py_ssize_t>(i), item);
    }
    return Py_NewRef(out.object);
}

PyObject* get_findings(PyObject* self, PyObject*) {
    return od::detail::guarded([&] { return findings_tuple(od::record_findings(record_of_object(self))); });
}

PyMethodDef getters[] = {
    {"device", &get_device, METH_NOARGS, "The device: a DLDevice."},
    {"dtype", &get_dtype, METH_NOARGS, "The element type: a DLDataType."},
    {"shape", &get_shape, METH_NOARGS, "The extents."},
    {"strides", &get_strides, METH_NOARGS, "The strides in elements (compact row-major when the capsule had none)."},
    {"byte_offset", &get_byte_offset, METH_NOARGS, "Bytes from data_ptr to the first element."},
    {"data_ptr", &get_data_ptr, METH_NOARGS, "The tensor's data pointer, as an int."},
    {"version", &get_version, METH_NOARGS, "The capsule's DLPackVersion; None for a legacy capsule."},
    {"flags", &get_flags, METH_NOARGS, "The capsule's DLPackFlags (0 for a legacy capsule)."},
    {"readonly", &get_readonly, METH_NOARGS, "Whether READ_ONLY is set."},
    {"ndim", &get_ndim, METH_NOARGS, "The number of dimensions."},
    {"size", &get_size, METH_NOARGS, "The number of elements."},
    {"nbytes", &get_nbytes, METH_NOARGS, "Bytes the elements occupy when stored compactly."},
    {"is_c_contiguous", &get_c_contiguous, METH_NOARGS, "Whether the strides are compact row-major."},
    {"is_f_contiguous", &get_f_contiguous, METH_NOARGS, "Whether the strides are compact column-major."},
    {"device_verified", &get_device_verified, METH_NOARGS,
     "Whether the CUDA driver confirmed the device; None when it was not asked."},
    {"findings", &get_findings, METH_NOARGS,
     "Violation records of what the rules permit but a consumer should hear about (a value DLPack defined after "
     "1.3, or one newer than this package knows); () when there are none."},
};

// ---------------------------------------------------------------------------------------
// __repr__

std::string tensor_info_text(const od::TensorInfoRecord& t) {
    std::string out =
        "TensorInfo(device=" + od::format_device(static_cast<std::int32_t>(t.device.device_type), t.device.device_id);
    out += ", dtype=" + od::format_dtype(t.dtype.code, t.dtype.bits, t.dtype.lanes);
    out += ", shape=" + od::detail::format_shape(t.shape, t.ndim, false);
    out += ", strides=" + od::detail::format_shape(t.strides, t.ndim, false);
    out += ", byte_offset=" + std::to_string(t.byte_offset);
    out += t.versioned != 0 ? ", version=" + std::to_string(t.version.major) + "." + std::to_string(t.version.minor)
                            : std::string(", version=legacy");
    if (t.flags != 0) out += ", flags=" + std::to_string(t.flags);
    return out + ")";
}

PyObject* tensor_info_repr(PyObject* self, PyObject*) {
    return od::detail::guarded([&] {
        const std::string text = tensor_info_text(record_of_object(self));
        return PyUnicode_FromStringAndSize(text.data(), static_cast<Py_ssize_t>(text.size()));
    });
}

PyObject* tensor_info_repr_slot(PyObject* self) { return tensor_info_repr(self, nullptr); }

// ---------------------------------------------------------------------------------------
// The class: static, not made from a spec, so that CPython treats it as a built-in type. That
// makes pickling refuse at every protocol (protocols 0 and 1 would otherwise pickle the
// object through object.__new__, which refuses it only when unpickling), and the class
// immutable.

PyMethodDef methods[] = {
    {"__repr__", &tensor_info_repr, METH_NOARGS | METH_COEXIST,
     "__repr__($self, /)\n--\n\n__repr__(self: optype_dlpack._core.TensorInfo) -> str\n"},
    {nullptr, nullptr, 0, nullptr},
};

/// The class object, before PyType_Ready: zeroed, with the object header CPython's macro
/// writes (reference count, no type yet).
PyTypeObject unready_class() noexcept {
    struct Head {
        PyVarObject ob_base;
    } head = {PyVarObject_HEAD_INIT(nullptr, 0)};
    PyTypeObject t{};
    t.ob_base = head.ob_base;
    return t;
}

PyTypeObject tensor_info_type = unready_class();

/// Fills in and readies the class; its attributes are added by bind().
void ready_class() {
    PyTypeObject& t = tensor_info_type;
    t.tp_name = "optype_dlpack._core.TensorInfo";
    t.tp_basicsize = static_cast<Py_ssize_t>(offsetof(TensorInfoObject, dims));
    t.tp_itemsize = static_cast<Py_ssize_t>(sizeof(std::int64_t));
    t.tp_dealloc = &dealloc;
    t.tp_repr = &tensor_info_repr_slot;
    // Not Py_TPFLAGS_BASETYPE: final. Not Py_TPFLAGS_HAVE_GC: an instance holds no Python object.
    t.tp_flags = Py_TPFLAGS_DEFAULT;
    t.tp_doc =
        "What a DLPack tensor is: read from its capsule after validation. Final, and made only by inspect(), "
        "validate() and Expect.validate().";
    t.tp_weaklistoffset = static_cast<Py_ssize_t>(offsetof(TensorInfoObject, weakrefs));
    t.tp_methods = methods;
    if (PyType_Ready(&t) != 0) throw py::error_already_set();
    // Set once the class is ready, as a slot only: with tp_new set, PyType_Ready would also put
    // a public __new__ in the class's namespace. TensorInfo() and object.__new__(TensorInfo)
    // read the slot.
    t.tp_new = refuse_new;
    PyType_Modified(&t);
}

/// Adds `value` to the class's namespace (the class is immutable to setattr).
void add_to_class(const char* name, PyObject* value) {
    if (value == nullptr || PyDict_SetItemString(tensor_info_type.tp_dict, name, value) != 0) {
        throw py::error_already_set();
    }
    PyType_Modified(&tensor_info_type);
}

void add_property(PyMethodDef* getter) {
    auto fget = py::reinterpret_steal<py::object>(PyDescr_NewMethod(&tensor_info_type, getter));
    if (!fget) throw py::error_already_set();
    auto property = py::reinterpret_steal<py::object>(
        PyObject_CallOneArg(reinterpret_cast<PyObject*>(&PyProperty_Type), fget.ptr()));
    add_to_class(getter->ml_name, property.ptr());
}

/// __class_getitem__, a static method bound to the class (as add_static_method makes it).
void add_class_getitem() {
    auto* cls = reinterpret_cast<PyObject*>(&tensor_info_type);
    auto function = py::reinterpret_steal<py::object>(PyCFunction_NewEx(&od::detail::class_getitem_def, cls, nullptr));
    if (!function) throw py::error_already_set();
    auto method = py::reinterpret_steal<py::object>(PyStaticMethod_New(function.ptr()));
    add_to_class(od::detail::class_getitem_def.ml_name, method.ptr());
}

}  // namespace

PyObject* make(const TensorInfoRecord& record) {
    if (!check_record(record)) return nullptr;
    return make_checked(record);
}

void bind(py::module_& m) {
    ready_class();
    for (PyMethodDef& getter : getters) add_property(&getter);
    add_class_getitem();
    tensor_info_class = &tensor_info_type;
    close_free_lists_at_exit();
    m.attr("TensorInfo") = py::handle(reinterpret_cast<PyObject*>(&tensor_info_type));
    auto capsule = py::reinterpret_steal<py::object>(
        PyCapsule_New(const_cast<od::TensorInfoApi*>(&api), od::kTensorInfoApiName, nullptr));
    if (!capsule) throw py::error_already_set();
    m.attr("_tensor_info_api") = capsule;
}

}  // namespace optype_dlpack::tensor_info_type

// optype_dlpack._core — thin pybind11 bindings over the header-only core in
// include/optype_dlpack/: header tables, dtype/device names, inspect/validate/Expect.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "python_call.hpp"
#include "optype_dlpack/acquire.hpp"
#include "optype_dlpack/check.hpp"
#include "optype_dlpack/cuda.hpp"
#include "optype_dlpack/device_truth.hpp"
#include "optype_dlpack/expect.hpp"
#include "optype_dlpack/pybind11.hpp"
#include "optype_dlpack/tables.hpp"
#include "optype_dlpack/tensor_info.hpp"

#include <array>
#include <cstdint>
#include <cstring>
#ifdef Py_GIL_DISABLED
#include <mutex>
#include <new>
#endif
#include <string>
#include <utility>
#include <vector>

namespace py = pybind11;
namespace od = optype_dlpack;

void register_interop(py::module_& m);  // interop.cpp
void register_rules(py::module_& m);     // rules_module.cpp

namespace {

using od::detail::acquire_or_raise;

// ---------------------------------------------------------------------------------------
// Constraint spellings → od::Constraints. A value of the wrong kind raises TypeError, a value
// of the right kind that no tensor can have raises ValueError; both name the constraint.

std::string type_name(py::handle value) {
    return Py_TYPE(value.ptr())->tp_name;
}

/// The UTF-8 text of a str, with what UTF-8 cannot hold (lone surrogates) escaped: such a
/// text is never a valid name, and reading it must not fail with a cast error.
std::string text_of_str(py::handle text) {
    auto bytes = py::reinterpret_steal<py::object>(PyUnicode_AsEncodedString(text.ptr(), "utf-8", "backslashreplace"));
    if (!bytes) throw py::error_already_set();
    return std::string(PyBytes_AS_STRING(bytes.ptr()), static_cast<std::size_t>(PyBytes_GET_SIZE(bytes.ptr())));
}

/// repr(value) for an error message.
std::string repr_text(py::handle value) {
    return text_of_str(py::repr(value));
}

/// Reads an integer constraint value: an int or anything with __index__ (NumPy integers,
/// 0-d integer arrays), never a bool. TypeError naming the constraint for anything else,
/// ValueError outside [low, high].
long long read_integer(py::handle value, const std::string& constraint, long long low, long long high) {
    const bool integer = !PyBool_Check(value.ptr()) && PyIndex_Check(value.ptr());
    auto index = py::reinterpret_steal<py::object>(integer ? PyNumber_Index(value.ptr()) : nullptr);
    if (!index) {
        // __index__ may refuse (a 2-d NumPy array); any error but TypeError is the object's own
        if (integer && !PyErr_ExceptionMatches(PyExc_TypeError)) throw py::error_already_set();
        PyErr_Clear();
        throw py::type_error(constraint + ": expected an int, got " + type_name(value));
    }
    int overflow = 0;
    const long long result = PyLong_AsLongLongAndOverflow(index.ptr(), &overflow);
    if (result == -1 && PyErr_Occurred()) throw py::error_already_set();
    if (overflow != 0 || result < low || result > high) {
        throw py::value_error(constraint + ": " + repr_text(index) + " is out of range (expected " +
                              std::to_string(low) + " to " + std::to_string(high) + ")");
    }
    return result;
}

std::int32_t read_int32(py::handle value, const std::string& constraint) {
    return static_cast<std::int32_t>(read_integer(value, constraint, INT32_MIN, INT32_MAX));
}

void parse_device_constraint(py::handle value, od::Constraints& c) {
    if (value.is_none()) return;
    if (PyUnicode_Check(value.ptr())) {
        std::string name = text_of_str(value);
        DLDevice device{};
        if (od::parse_device(name, &device)) {
            c.has_device_type = true;
            c.device_type = static_cast<std::int32_t>(device.device_type);
            c.has_device_id = name.find(':') != std::string::npos;
            c.device_id = device.device_id;
            return;
        }
        throw py::value_error("device: cannot read '" + name + "' as a device (try 'cpu', 'cuda', 'cuda:1')");
    }
    if (PyTuple_Check(value.ptr())) {  // (type, id) and DLDevice
        auto items = py::reinterpret_borrow<py::tuple>(value);
        if (items.size() != 2) {
            throw py::value_error("device: a tuple must be (device_type, device_id), got " + repr_text(value));
        }
        c.device_type = read_int32(items[0], "device: device_type");
        c.device_id = read_int32(items[1], "device: device_id");
        c.has_device_type = c.has_device_id = true;
        return;
    }
    if (PyIndex_Check(value.ptr()) && !PyBool_Check(value.ptr())) {  // DLDeviceType member or int: any id
        c.device_type = read_int32(value, "device");
        c.has_device_type = true;
        return;
    }
    throw py::type_error("device: expected a DLDeviceType, a (device_type, device_id) tuple, a DLDevice or a "
                         "string such as 'cuda:1', got " + type_name(value));
}

/// Reads numpy/torch/ml_dtypes dtype objects by name: "float32", "torch.bfloat16",
/// numpy scalar types through __name__ ("float32", "bool_").
bool dtype_from_object_name(py::handle value, DLDataType* out) {
    py::object text = PyType_Check(value.ptr()) ? py::str(value.attr("__name__")) : py::str(value);
    std::string name = text_of_str(text);
    if (name.rfind("torch.", 0) == 0) name = name.substr(6);
    if (!name.empty() && name.back() == '_') name.pop_back();  // numpy's bool_, object_
    return od::parse_dtype(name, out);
}

DLDataType parse_dtype_constraint(py::handle value) {
    DLDataType dtype{};
    if (PyUnicode_Check(value.ptr())) {
        std::string name = text_of_str(value);
        if (od::parse_dtype(name, &dtype)) return dtype;
        throw py::value_error("dtype: cannot read '" + name + "' as a DLPack dtype (try 'float32', 'bfloat16')");
    }
    if (PyTuple_Check(value.ptr())) {  // DLDataType and (code, bits[, lanes])
        auto items = py::reinterpret_borrow<py::tuple>(value);
        if (items.size() != 2 && items.size() != 3) {
            throw py::value_error("dtype: a tuple must be (code, bits) or (code, bits, lanes), got " +
                                  repr_text(value));
        }
        const auto code = read_integer(items[0], "dtype: code", 0, UINT8_MAX);
        const auto bits = read_integer(items[1], "dtype: bits", 0, UINT8_MAX);
        const auto lanes = items.size() == 3 ? read_integer(items[2], "dtype: lanes", 0, UINT16_MAX) : 1;
        return DLDataType{static_cast<std::uint8_t>(code), static_cast<std::uint8_t>(bits),
                          static_cast<std::uint16_t>(lanes)};
    }
    if (dtype_from_object_name(value, &dtype)) return dtype;
    throw py::type_error("dtype: cannot read " + repr_text(value) +
                         " as a DLPack dtype (pass a DLDataType, a name such as 'float32', a numpy dtype "
                         "or a torch dtype)");
}

/// Non-string dtype objects (numpy and torch dtypes are singletons) are cached by identity.
DLDataType cached_dtype_constraint(py::handle value) {
    if (PyUnicode_Check(value.ptr()) || PyTuple_Check(value.ptr())) return parse_dtype_constraint(value);
    struct Entry {
        PyObject* key = nullptr;
        DLDataType dtype{};
    };
    static std::array<Entry, 32> cache{};
    static std::size_t next = 0;
#ifdef Py_GIL_DISABLED
    static std::mutex lock;  // no GIL serialises callers
    std::unique_lock<std::mutex> guard(lock);
#endif
    for (const auto& entry : cache) {
        if (entry.key == value.ptr()) return entry.dtype;
    }
#ifdef Py_GIL_DISABLED
    guard.unlock();  // parsing runs Python code
#endif
    DLDataType dtype = parse_dtype_constraint(value);
#ifdef Py_GIL_DISABLED
    guard.lock();
#endif
    Entry& slot = cache[next++ % cache.size()];
    Py_XDECREF(slot.key);
    slot.key = value.inc_ref().ptr();  // the cache keeps its key alive, so identity stays valid
    slot.dtype = dtype;
    return dtype;
}

void parse_ndim_constraint(py::handle value, od::Constraints& c) {
    if (value.is_none()) return;
    c.ndim = static_cast<std::int32_t>(read_integer(value, "ndim", 0, od::kMaxNdim));
}

/// A shape is a sequence (a tuple, a list, a 1-d NumPy integer array) of extents and Nones.
void parse_shape_constraint(py::handle value, od::Constraints& c) {
    if (value.is_none()) return;
    const char* expected = "shape: expected a sequence of int or None, got ";
    // text is a sequence too, of characters or of bytes, but never a shape
    if (PyUnicode_Check(value.ptr()) || PyBytes_Check(value.ptr()) || PyByteArray_Check(value.ptr()) ||
        !PySequence_Check(value.ptr())) {
        throw py::type_error(expected + type_name(value));
    }
    // the only reference to a new list (when shape is neither list nor tuple), held while the
    // items' __index__ runs
    od::detail::unwind_safe<py::object> items{py::reinterpret_steal<py::object>(PySequence_Fast(value.ptr(), "shape"))};
    if (!items) {
        if (!PyErr_ExceptionMatches(PyExc_TypeError)) throw py::error_already_set();
        PyErr_Clear();  // a sequence type that cannot be iterated: a 0-d NumPy array
        throw py::type_error(expected + type_name(value));
    }
    const Py_ssize_t count = PySequence_Fast_GET_SIZE(items.ptr());
    if (count > od::kMaxNdim) {
        throw py::value_error("shape: " + std::to_string(count) + " extents, at most " +
                              std::to_string(od::kMaxNdim) + " allowed");
    }
    c.has_shape = true;
    c.shape.clear();
    for (Py_ssize_t i = 0; i < count; ++i) {
        py::handle item = PySequence_Fast_GET_ITEM(items.ptr(), i);
        c.shape.push_back(item.is_none() ? od::kAnyExtent
                                         : read_integer(item, "shape[" + std::to_string(i) + "]", 0, INT64_MAX));
    }
}

void parse_writable_constraint(py::handle value, od::Constraints& c) {
    if (value.is_none()) return;
    if (!PyBool_Check(value.ptr())) {
        throw py::type_error("writable: expected True, False or None, got " + type_name(value));
    }
    c.writable = value.ptr() == Py_True ? 1 : 0;
}

/// The text of a str-valued constraint; TypeError naming it for anything else.
std::string keyword_text(py::handle value, const char* constraint, const char* choices) {
    if (!PyUnicode_Check(value.ptr())) {
        throw py::type_error(std::string(constraint) + ": expected " + choices + ", got " + type_name(value));
    }
    return text_of_str(value);
}

void parse_layout_constraint(py::handle value, od::Constraints& c) {
    if (value.is_none()) return;
    const char* choices = "'C', 'F' or 'any'";
    const std::string text = keyword_text(value, "layout", choices);
    if (text == "C" || text == "c") {
        c.layout = od::LayoutRequirement::c;
    } else if (text == "F" || text == "f") {
        c.layout = od::LayoutRequirement::f;
    } else if (text != "any" && text != "A") {
        throw py::value_error(std::string("layout: expected ") + choices + ", got " + repr_text(value));
    }
}

void parse_verify_constraint(py::handle value, od::Constraints& c) {
    const char* choices = "'auto', 'require' or 'skip'";
    const std::string text = keyword_text(value, "verify_device", choices);
    if (text == "auto") {
        c.verify = od::VerifyDevice::automatic;
    } else if (text == "require") {
        c.verify = od::VerifyDevice::require;
    } else if (text == "skip") {
        c.verify = od::VerifyDevice::skip;
    } else {
        throw py::value_error(std::string("verify_device: expected ") + choices + ", got " + repr_text(value));
    }
}

od::Constraints make_constraints(py::handle device, py::handle dtype, py::handle ndim, py::handle shape,
                                 py::handle writable, py::handle layout, py::handle verify_device) {
    od::Constraints c;
    parse_device_constraint(device, c);
    if (!dtype.is_none()) {
        c.has_dtype = true;
        c.dtype = cached_dtype_constraint(dtype);
    }
    parse_ndim_constraint(ndim, c);
    parse_shape_constraint(shape, c);
    if (c.has_shape && c.ndim >= 0 && static_cast<std::size_t>(c.ndim) != c.shape.size()) {
        throw py::value_error("ndim and shape disagree: ndim=" + std::to_string(c.ndim) + " but shape has " +
                              std::to_string(c.shape.size()) + " extents");
    }
    parse_writable_constraint(writable, c);
    parse_layout_constraint(layout, c);
    parse_verify_constraint(verify_device, c);
    return c;
}

// ---------------------------------------------------------------------------------------
// The checks. `check` returns the verification result (-1/0/1) and raises on any violation.

std::int8_t run_checks(const od::Source& source, const od::Constraints* constraints, od::Geometry& geometry,
                       od::VerifyDevice verify) {
    od::detail::check_or_raise(source, constraints, geometry);
    od::Report report;
    std::int8_t verified = od::verify_device(source.view, geometry, verify, report);
    if (!report.ok()) od::detail::raise_report(report);
    return verified;
}

od::TensorInfo describe(py::handle x, const od::Constraints* constraints, od::VerifyDevice verify) {
    od::Source source;
    acquire_or_raise(x, source, od::Need::everything);
    od::Geometry geometry;
    std::int8_t verified = run_checks(source, constraints, geometry, verify);
    return od::TensorInfo(source.view, geometry, verified);
}

/// Constraints compiled once. The class is final: its methods read the C++ object through
/// initialised_expect(), which also refuses an instance that Expect.__new__ made without
/// __init__ (pybind11 gives such an instance no C++ object). Immutable: pybind11 ignores a
/// second __init__.
class Expect {
public:
    Expect(od::Constraints c, py::str repr) : c_(std::move(c)), repr_(std::move(repr)) {}

    od::TensorInfo validate(py::handle x) const { return describe(x, &c_, c_.verify); }

    void check(py::handle x) const {
        od::Source source;
        acquire_or_raise(x, source, c_.writable >= 0 ? od::Need::everything : od::Need::tensor);
        od::Geometry geometry;
        run_checks(source, &c_, geometry, c_.verify);
    }

    const py::str& repr() const { return repr_; }

private:
    od::Constraints c_;
    py::str repr_;  ///< made from the arguments at construction: later changes to them do not show
};

PyTypeObject* expect_type = nullptr;  // set once the class is bound

/// The C++ Expect behind `self`, whose instance is exactly an Expect (the class is final).
/// nullptr when Expect.__new__ made it without __init__.
const Expect* expect_of(py::handle self) {
    if (expect_type == nullptr || Py_TYPE(self.ptr()) != expect_type) {
        throw py::type_error("expected an optype_dlpack.Expect, got " + type_name(self));
    }
    auto holder = reinterpret_cast<py::detail::instance*>(self.ptr())->get_value_and_holder();
    return holder.holder_constructed() ? static_cast<const Expect*>(holder.value_ptr()) : nullptr;
}

/// expect_of(self), refusing an instance that was never initialised.
const Expect& initialised_expect(py::handle self, const char* method) {
    const Expect* expect = expect_of(self);
    if (expect == nullptr) {
        throw py::type_error(std::string("Expect.") + method +
                             "() needs an initialised Expect: this one was made by Expect.__new__ without "
                             "__init__; create it with Expect(...)");
    }
    return *expect;
}

/// "Expect(dtype='float32', ndim=2)": the constraints given, verify_device only when not "auto".
py::str expect_repr(const std::vector<std::pair<const char*, py::handle>>& given) {
    od::detail::unwind_safe<py::list> parts{py::list()};  // held while the values' __repr__ run
    for (const auto& [name, value] : given) {
        auto part = py::reinterpret_steal<py::object>(PyUnicode_FromFormat("%s=%R", name, value.ptr()));
        if (!part) throw py::error_already_set();
        parts.append(part);
    }
    return py::str("Expect({})").format(py::str(", ").attr("join")(parts));
}

Expect make_expect(py::handle device, py::handle dtype, py::handle ndim, py::handle shape, py::handle writable,
                   py::handle layout, py::handle verify_device) {
    od::Constraints c = make_constraints(device, dtype, ndim, shape, writable, layout, verify_device);
    std::vector<std::pair<const char*, py::handle>> given;
    const std::pair<const char*, py::handle> named[] = {{"device", device}, {"dtype", dtype},   {"ndim", ndim},
                                                        {"shape", shape},   {"writable", writable},
                                                        {"layout", layout}};
    for (const auto& item : named) {
        if (!item.second.is_none()) given.push_back(item);
    }
    if (c.verify != od::VerifyDevice::automatic) given.emplace_back("verify_device", verify_device);
    return Expect(std::move(c), expect_repr(given));
}

// ---------------------------------------------------------------------------------------
// Header tables, compiled from dlpack.h (the generated list names every enumerator).

py::dict header_device_types() {
    py::dict out;
#define OPTYPE_DLPACK_DEVICE_TYPE(name) out[#name] = static_cast<long long>(name);
#define OPTYPE_DLPACK_DTYPE_CODE(name)
#define OPTYPE_DLPACK_FLAG(name)
#include "optype_dlpack_header_enums.inc"
#undef OPTYPE_DLPACK_DEVICE_TYPE
#undef OPTYPE_DLPACK_DTYPE_CODE
#undef OPTYPE_DLPACK_FLAG
    return out;
}

py::dict header_dtype_codes() {
    py::dict out;
#define OPTYPE_DLPACK_DEVICE_TYPE(name)
#define OPTYPE_DLPACK_DTYPE_CODE(name) out[#name] = static_cast<long long>(name);
#define OPTYPE_DLPACK_FLAG(name)
#include "optype_dlpack_header_enums.inc"
#undef OPTYPE_DLPACK_DEVICE_TYPE
#undef OPTYPE_DLPACK_DTYPE_CODE
#undef OPTYPE_DLPACK_FLAG
    return out;
}

py::dict header_flags() {
    py::dict out;
#define OPTYPE_DLPACK_DEVICE_TYPE(name)
#define OPTYPE_DLPACK_DTYPE_CODE(name)
#define OPTYPE_DLPACK_FLAG(name) out[#name] = static_cast<unsigned long long>(name);
#include "optype_dlpack_header_enums.inc"
#undef OPTYPE_DLPACK_DEVICE_TYPE
#undef OPTYPE_DLPACK_DTYPE_CODE
#undef OPTYPE_DLPACK_FLAG
    return out;
}

// ---------------------------------------------------------------------------------------
// TensorInfo: frozen; Python values (DLDevice, DLDataType, …) are built when read.

py::object enums_attr(const char* name) {
    static auto* module = new py::object(py::module_::import("optype_dlpack._enums"));  // leaked, as above
    return module->attr(name);
}

py::tuple dims_tuple(const od::Dims& dims) {
    py::tuple out(static_cast<std::size_t>(dims.size()));
    for (std::int32_t i = 0; i < dims.size(); ++i) {
        out[static_cast<std::size_t>(i)] = py::int_(dims[i]);
    }
    return out;
}

py::object device_object(const DLDevice& d) {
    return enums_attr("DLDevice")(enums_attr("DLDeviceType")(static_cast<std::int32_t>(d.device_type)),
                                  d.device_id);
}

py::object dtype_object(const DLDataType& t) {
    return enums_attr("DLDataType")(enums_attr("DLDataTypeCode")(t.code), t.bits, t.lanes);
}

py::object verified_object(std::int8_t v) {
    return v < 0 ? py::none() : py::object(py::bool_(v == 1));
}

/// tp_new of TensorInfo. pybind11 makes the instances that inspect() and validate() return
/// without it (through tp_alloc, with the C++ object in place); an instance made by __new__
/// would hold none, and its properties would read uninitialised memory.
PyObject* refuse_new(PyTypeObject* type, PyObject*, PyObject*) {
    PyErr_Format(PyExc_TypeError,
                 "cannot create '%s' instances: inspect(), validate() and Expect.validate() return them",
                 type->tp_name);
    return nullptr;
}

void bind_tensor_info(py::module_& m) {
    using TI = od::TensorInfo;
    auto cls = py::class_<TI>(m, "TensorInfo", py::is_final(),
                              "What a DLPack tensor is: read from its capsule after validation. Final, and "
                              "made only by inspect(), validate() and Expect.validate().");
    // TensorInfo.__new__ (and object.__new__(TensorInfo), which CPython then refuses as unsafe)
    // read the slot when called, so replacing it after pybind11 made the type is enough.
    auto* type = reinterpret_cast<PyTypeObject*>(cls.ptr());
    type->tp_new = refuse_new;
    PyType_Modified(type);
    cls
        .def_property_readonly("device", [](const TI& t) { return device_object(t.device); })
        .def_property_readonly("dtype", [](const TI& t) { return dtype_object(t.dtype); })
        .def_property_readonly("shape", [](const TI& t) { return dims_tuple(t.shape); })
        .def_property_readonly("strides", [](const TI& t) { return dims_tuple(t.strides); })
        .def_property_readonly("byte_offset", [](const TI& t) { return t.byte_offset; })
        .def_property_readonly("data_ptr", [](const TI& t) { return t.data_ptr; })
        .def_property_readonly("version", [](const TI& t) -> py::object {
            if (!t.versioned) return py::none();
            return enums_attr("DLPackVersion")(t.version.major, t.version.minor);
        })
        .def_property_readonly("flags", [](const TI& t) { return enums_attr("DLPackFlags")(t.flags); })
        .def_property_readonly("readonly", [](const TI& t) { return (t.flags & od::kFlagReadOnly) != 0; })
        .def_property_readonly("ndim", [](const TI& t) { return t.shape.size(); })
        .def_property_readonly("size", [](const TI& t) { return t.size; })
        .def_property_readonly("nbytes", [](const TI& t) { return t.nbytes; })
        .def_property_readonly("is_c_contiguous", [](const TI& t) { return t.c_contiguous; })
        .def_property_readonly("is_f_contiguous", [](const TI& t) { return t.f_contiguous; })
        .def_property_readonly("device_verified", [](const TI& t) { return verified_object(t.device_verified); })
        // Generic in the stubs (TensorInfo[DeviceTypeT]); subscripting works at run time too.
        .def_static("__class_getitem__", [](const py::object&) { return py::type::of<TI>(); }, py::arg("item"))
        .def("__repr__", [](const TI& t) {
            std::string out = "TensorInfo(device=" + od::format_device(static_cast<std::int32_t>(t.device.device_type),
                                                                      t.device.device_id);
            out += ", dtype=" + od::format_dtype(t.dtype.code, t.dtype.bits, t.dtype.lanes);
            out += ", shape=" + py::repr(dims_tuple(t.shape)).cast<std::string>();
            out += ", strides=" + py::repr(dims_tuple(t.strides)).cast<std::string>();
            out += ", byte_offset=" + std::to_string(t.byte_offset);
            out += t.versioned ? ", version=" + std::to_string(t.version.major) + "." + std::to_string(t.version.minor)
                               : std::string(", version=legacy");
            if (t.flags != 0) out += ", flags=" + std::to_string(t.flags);
            return out + ")";
        });
}

// ---------------------------------------------------------------------------------------
// Hot paths in CPython's vectorcall convention. pybind11's dispatcher costs more than the
// checks themselves (it looks up the instance's type info under a lock for every method
// call, and takes a dict-building slow path as soon as a keyword is passed), so inspect,
// validate and Expect.check are plain METH_FASTCALL functions. Their docstrings open with
// the same signature line pybind11 writes, which tests/test_stub_parity.py reads.

using optype_dlpack::detail::guarded;

bool one_positional(const char* function, Py_ssize_t nargs) {
    if (nargs == 1) return true;
    PyErr_Format(PyExc_TypeError, "%s() takes exactly one positional argument (%zd given)", function, nargs);
    return false;
}

/// The keyword-only constraints of validate(), in the order make_constraints takes them.
constexpr const char* kConstraintNames[] = {"device", "dtype", "ndim", "shape", "writable", "layout",
                                            "verify_device"};
constexpr std::size_t kConstraintCount = sizeof(kConstraintNames) / sizeof(kConstraintNames[0]);

PyObject* interned_constraint_name(std::size_t i) {
    static PyObject* names[kConstraintCount] = {};  // created under the GIL at module init
    if (names[i] == nullptr) names[i] = PyUnicode_InternFromString(kConstraintNames[i]);
    return names[i];
}

PyObject* auto_string() {
    static PyObject* value = PyUnicode_InternFromString("auto");
    return value;
}

PyObject* fast_inspect(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
    if (!one_positional("inspect", nargs)) return nullptr;
    return guarded([&] {
        return py::cast(describe(args[0], nullptr, od::VerifyDevice::automatic)).release().ptr();
    });
}

PyObject* fast_validate(PyObject*, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    if (!one_positional("validate", nargs)) return nullptr;
    PyObject* values[kConstraintCount] = {Py_None, Py_None, Py_None, Py_None, Py_None, Py_None, auto_string()};
    const Py_ssize_t nkw = kwnames != nullptr ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t k = 0; k < nkw; ++k) {
        PyObject* name = PyTuple_GET_ITEM(kwnames, k);
        std::size_t found = kConstraintCount;
        for (std::size_t i = 0; i < kConstraintCount && found == kConstraintCount; ++i) {
            if (name == interned_constraint_name(i)) found = i;  // keyword names are interned
        }
        for (std::size_t i = 0; i < kConstraintCount && found == kConstraintCount; ++i) {
            if (PyUnicode_CompareWithASCIIString(name, kConstraintNames[i]) == 0) found = i;
        }
        if (found == kConstraintCount) {
            PyErr_Format(PyExc_TypeError, "validate() got an unexpected keyword argument '%U'", name);
            return nullptr;
        }
        values[found] = args[nargs + k];
    }
    return guarded([&] {
        od::Constraints c = make_constraints(values[0], values[1], values[2], values[3], values[4], values[5],
                                             values[6]);
        return py::cast(describe(args[0], &c, c.verify)).release().ptr();
    });
}

PyObject* fast_expect_check(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    if (!one_positional("check", nargs)) return nullptr;
    return guarded([&] {
        initialised_expect(self, "check").check(args[0]);
        Py_RETURN_NONE;
    });
}

PyMethodDef fast_inspect_def = {
    "inspect", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(fast_inspect)), METH_FASTCALL,
    "inspect(x: object, /) -> optype_dlpack._core.TensorInfo\n\n"
    "Describe a DLPack capsule or producer after the structural checks of DLPack 1.3.\n"};

PyMethodDef fast_validate_def = {
    "validate", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(fast_validate)),
    METH_FASTCALL | METH_KEYWORDS,
    "validate(x: object, /, *, device: object = None, dtype: object = None, ndim: object = None, "
    "shape: object = None, writable: object = None, layout: object = None, verify_device: object = 'auto') "
    "-> optype_dlpack._core.TensorInfo\n\n"
    "inspect() plus the declared constraints; raises DLPackValidationError listing every violation.\n"};

PyMethodDef fast_expect_check_def = {
    "check", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(fast_expect_check)), METH_FASTCALL,
    "check(self: optype_dlpack._core.Expect, x: object, /) -> None\n\n"
    "Check x against the constraints; returns None, raises DLPackValidationError.\n"};

void add_function(py::module_& m, PyMethodDef* def) {
    py::object function = py::reinterpret_steal<py::object>(PyCFunction_NewEx(def, nullptr, m.attr("__name__").ptr()));
    if (!function) throw py::error_already_set();
    m.attr(def->ml_name) = function;
}

void add_method(py::handle cls, PyMethodDef* def) {
    auto* type = reinterpret_cast<PyTypeObject*>(cls.ptr());
    py::object descriptor = py::reinterpret_steal<py::object>(PyDescr_NewMethod(type, def));
    if (!descriptor || PyObject_SetAttrString(cls.ptr(), def->ml_name, descriptor.ptr()) != 0) {
        throw py::error_already_set();
    }
}

}  // namespace

// Not declared free-threading safe (no py::mod_gil_not_used()): without the GIL nothing
// serialises two threads taking the same capsule (from_dlpack's importer, import.hpp, reads
// its name, then renames it: both threads can pass the read), and no free-threaded CPython is
// in the test matrix, so nothing here has run without the GIL. To declare it again: make the
// take atomic (a critical section on the capsule, Py_BEGIN_CRITICAL_SECTION), review every
// static (the dtype and exchange-API caches, the interned names, the imported modules) for
// unlocked access, and run the suite, with thread-stress tests, on a free-threaded build
// (3.13t or later) in CI.
PYBIND11_MODULE(_core, m) {
    m.doc() = "optype_dlpack's C++ core: DLPack capsule reading and validation";

    m.attr("DLPACK_HEADER_VERSION") = py::make_tuple(DLPACK_MAJOR_VERSION, DLPACK_MINOR_VERSION);
    m.attr("HEADER_DEVICE_TYPES") = header_device_types();
    m.attr("HEADER_DTYPE_CODES") = header_dtype_codes();
    m.attr("HEADER_FLAGS") = header_flags();
    {
        py::dict known_devices, known_codes;
        for (const auto& info : od::kDeviceTypes) known_devices[info.header_name] = info.code;
        for (const auto& info : od::kDTypeCodes) known_codes[info.header_name] = info.code;
        m.attr("KNOWN_DEVICE_TYPES") = known_devices;
        m.attr("KNOWN_DTYPE_CODES") = known_codes;
    }

    m.def("parse_dtype", [](const std::string& name) {
        DLDataType dtype{};
        if (!od::parse_dtype(name, &dtype)) {
            throw py::value_error("not a DLPack dtype name: '" + name +
                                  "' (expected e.g. 'float32', 'uint8', 'bfloat16', 'bool', 'float8_e4m3fn', "
                                  "'complex64', 'float32x4')");
        }
        return py::make_tuple(dtype.code, dtype.bits, dtype.lanes);
    }, py::arg("name"), py::pos_only());
    m.def("format_dtype", [](unsigned code, unsigned bits, unsigned lanes) {
        if (code > 255 || bits > 255 || lanes > 65535) throw py::value_error("dtype field out of range");
        return od::format_dtype(static_cast<std::uint8_t>(code), static_cast<std::uint8_t>(bits),
                                static_cast<std::uint16_t>(lanes));
    }, py::arg("code"), py::arg("bits"), py::arg("lanes"), py::pos_only());
    m.def("parse_device", [](const std::string& name) {
        DLDevice device{};
        if (!od::parse_device(name, &device)) {
            throw py::value_error("not a DLPack device name: '" + name +
                                  "' (expected e.g. 'cpu', 'cuda', 'cuda:1', 'cuda_host', 'rocm:0')");
        }
        return py::make_tuple(static_cast<std::int32_t>(device.device_type), device.device_id);
    }, py::arg("name"), py::pos_only());
    m.def("format_device", [](std::int32_t type, std::int32_t id) { return od::format_device(type, id); },
          py::arg("device_type"), py::arg("device_id"), py::pos_only());

    // The floor the benchmarks compare against: a pybind11 call that does nothing with its argument.
    m.def("_noop", [](py::handle) {}, py::arg("x"), py::pos_only());

    m.def("cuda_driver_available", &od::cuda::driver_available);
    m.def("cuda_driver_status", []() -> std::string {
        return od::cuda::driver_available() ? "loaded" : od::cuda::driver_unavailable_reason();
    });

    bind_tensor_info(m);

    for (std::size_t i = 0; i < kConstraintCount; ++i) interned_constraint_name(i);
    add_function(m, &fast_inspect_def);
    add_function(m, &fast_validate_def);

    auto expect_class = py::class_<Expect>(
        m, "Expect", py::is_final(),
        "Constraints compiled once; .check(x) is the allocation-free hot path.\n\n"
        "Final: it cannot be subclassed (wrap an Expect to add behaviour). Immutable: the constraints "
        "are read once, by __init__.")
        .def(py::init(&make_expect), py::kw_only(), py::arg("device") = py::none(), py::arg("dtype") = py::none(),
             py::arg("ndim") = py::none(), py::arg("shape") = py::none(), py::arg("writable") = py::none(),
             py::arg("layout") = py::none(), py::arg("verify_device") = "auto")
        .def_static("__class_getitem__", [](const py::object&) { return py::type::of<Expect>(); }, py::arg("item"))
        .def("validate", [](py::handle self, py::handle x) { return initialised_expect(self, "validate").validate(x); },
             py::arg("x"), py::pos_only(), "Check x against the constraints and return its TensorInfo.")
        .def("__repr__", [](py::handle self) -> py::str {
            const Expect* expect = expect_of(self);
            if (expect == nullptr) return py::str("<optype_dlpack.Expect, not initialised: create it with Expect(...)>");
            return expect->repr();
        });

    expect_type = reinterpret_cast<PyTypeObject*>(expect_class.ptr());
    add_method(expect_class, &fast_expect_check_def);

    register_interop(m);
    register_rules(m);
}

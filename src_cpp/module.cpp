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
#include <cstring>
#ifdef Py_GIL_DISABLED
#include <mutex>
#include <new>
#endif
#include <string>
#include <utility>

namespace py = pybind11;
namespace od = optype_dlpack;

void register_interop(py::module_& m);  // interop.cpp

namespace {

using od::detail::acquire_or_raise;

// ---------------------------------------------------------------------------------------
// Constraint spellings → od::Constraints

std::string text_of(py::handle value) {
    return py::str(value).cast<std::string>();
}

void parse_device_constraint(py::handle value, od::Constraints& c) {
    if (value.is_none()) return;
    if (PyLong_Check(value.ptr())) {  // DLDeviceType member or plain int: any id
        c.has_device_type = true;
        c.device_type = value.cast<std::int32_t>();
        return;
    }
    if (PyTuple_Check(value.ptr())) {  // (type, id) and DLDevice
        auto items = value.cast<py::tuple>();
        if (items.size() == 2 && PyLong_Check(items[0].ptr()) && PyLong_Check(items[1].ptr())) {
            c.has_device_type = c.has_device_id = true;
            c.device_type = items[0].cast<std::int32_t>();
            c.device_id = items[1].cast<std::int32_t>();
            return;
        }
    } else if (PyUnicode_Check(value.ptr())) {
        std::string name = value.cast<std::string>();
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
    throw py::type_error("device: expected a DLDeviceType, a (device_type, device_id) tuple, a DLDevice or a "
                         "string such as 'cuda:1', got " + std::string(Py_TYPE(value.ptr())->tp_name));
}

/// Reads numpy/torch/ml_dtypes dtype objects by name: "float32", "torch.bfloat16",
/// numpy scalar types through __name__ ("float32", "bool_").
bool dtype_from_object_name(py::handle value, DLDataType* out) {
    std::string name;
    if (PyType_Check(value.ptr())) {
        name = py::str(value.attr("__name__")).cast<std::string>();
    } else {
        name = text_of(value);
    }
    if (name.rfind("torch.", 0) == 0) name = name.substr(6);
    if (!name.empty() && name.back() == '_') name.pop_back();  // numpy's bool_, object_
    return od::parse_dtype(name, out);
}

DLDataType parse_dtype_constraint(py::handle value) {
    DLDataType dtype{};
    if (PyUnicode_Check(value.ptr())) {
        std::string name = value.cast<std::string>();
        if (od::parse_dtype(name, &dtype)) return dtype;
        throw py::value_error("dtype: cannot read '" + name + "' as a DLPack dtype (try 'float32', 'bfloat16')");
    }
    if (PyTuple_Check(value.ptr())) {  // DLDataType and (code, bits[, lanes])
        auto items = value.cast<py::tuple>();
        if (items.size() == 2 || items.size() == 3) {
            auto code = items[0].cast<unsigned>();
            auto bits = items[1].cast<unsigned>();
            unsigned lanes = items.size() == 3 ? items[2].cast<unsigned>() : 1;
            if (code > 255 || bits > 255 || lanes > 65535) throw py::value_error("dtype: value out of range");
            return DLDataType{static_cast<std::uint8_t>(code), static_cast<std::uint8_t>(bits),
                              static_cast<std::uint16_t>(lanes)};
        }
        throw py::value_error("dtype: a tuple must be (code, bits) or (code, bits, lanes)");
    }
    if (dtype_from_object_name(value, &dtype)) return dtype;
    throw py::type_error("dtype: cannot read " + text_of(py::repr(value)) +
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

od::Constraints make_constraints(py::handle device, py::handle dtype, py::handle ndim, py::handle shape,
                                 py::handle writable, py::handle layout, py::handle verify_device) {
    od::Constraints c;
    parse_device_constraint(device, c);
    if (!dtype.is_none()) {
        c.has_dtype = true;
        c.dtype = cached_dtype_constraint(dtype);
    }
    if (!ndim.is_none()) {
        if (!PyLong_Check(ndim.ptr()) || PyBool_Check(ndim.ptr())) throw py::type_error("ndim: expected an int");
        auto value = ndim.cast<long long>();
        if (value < 0 || value > od::kMaxNdim) throw py::value_error("ndim: expected 0 <= ndim <= 1024");
        c.ndim = static_cast<std::int32_t>(value);
    }
    if (!shape.is_none()) {
        if (PyUnicode_Check(shape.ptr()) || !PySequence_Check(shape.ptr())) {
            throw py::type_error("shape: expected a sequence of int or None");
        }
        c.has_shape = true;
        for (py::handle item : shape.cast<py::sequence>()) {
            if (item.is_none()) {
                c.shape.push_back(od::kAnyExtent);
            } else if (PyLong_Check(item.ptr()) && !PyBool_Check(item.ptr())) {
                auto extent = item.cast<long long>();
                if (extent < 0) throw py::value_error("shape: extents must be >= 0 (None for any)");
                c.shape.push_back(extent);
            } else {
                throw py::type_error("shape: expected a sequence of int or None");
            }
        }
        if (c.ndim >= 0 && static_cast<std::size_t>(c.ndim) != c.shape.size()) {
            throw py::value_error("ndim and shape disagree: ndim=" + std::to_string(c.ndim) + " but shape has " +
                                  std::to_string(c.shape.size()) + " extents");
        }
    }
    if (!writable.is_none()) {
        if (!PyBool_Check(writable.ptr())) throw py::type_error("writable: expected True, False or None");
        c.writable = writable.ptr() == Py_True ? 1 : 0;
    }
    if (!layout.is_none()) {
        std::string text = PyUnicode_Check(layout.ptr()) ? layout.cast<std::string>() : std::string("?");
        if (text == "C" || text == "c") {
            c.layout = od::LayoutRequirement::c;
        } else if (text == "F" || text == "f") {
            c.layout = od::LayoutRequirement::f;
        } else if (text != "any" && text != "A") {
            throw py::value_error("layout: expected 'C', 'F' or 'any', got " + text_of(py::repr(layout)));
        }
    }
    std::string verify = PyUnicode_Check(verify_device.ptr()) ? verify_device.cast<std::string>() : "?";
    if (verify == "auto") {
        c.verify = od::VerifyDevice::automatic;
    } else if (verify == "require") {
        c.verify = od::VerifyDevice::require;
    } else if (verify == "skip") {
        c.verify = od::VerifyDevice::skip;
    } else {
        throw py::value_error("verify_device: expected 'auto', 'require' or 'skip', got " +
                              text_of(py::repr(verify_device)));
    }
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

class Expect {
public:
    explicit Expect(od::Constraints c, py::object repr) : c_(std::move(c)), repr_(std::move(repr)) {}

    od::TensorInfo validate(py::handle x) const { return describe(x, &c_, c_.verify); }

    void check(py::handle x) const {
        od::Source source;
        acquire_or_raise(x, source, c_.writable >= 0 ? od::Need::everything : od::Need::tensor);
        od::Geometry geometry;
        run_checks(source, &c_, geometry, c_.verify);
    }

    const py::object& repr() const { return repr_; }

private:
    od::Constraints c_;
    py::object repr_;
};

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

void bind_tensor_info(py::module_& m) {
    using TI = od::TensorInfo;
    py::class_<TI>(m, "TensorInfo", "What a DLPack tensor is: read from its capsule after validation.")
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

PyTypeObject* expect_type = nullptr;  // set once the class is bound

PyObject* fast_expect_check(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    if (!one_positional("check", nargs)) return nullptr;
    // The descriptor only hands out instances of Expect (a final class), so the C++ object is
    // reached through pybind11's simple instance layout, without a type-info lookup.
    auto* instance = reinterpret_cast<py::detail::instance*>(self);
    auto holder = instance->get_value_and_holder();
    if (Py_TYPE(self) != expect_type || !holder.holder_constructed()) {
        PyErr_SetString(PyExc_TypeError, "Expect.check() needs an initialised Expect instance");
        return nullptr;
    }
    const Expect& expect = *static_cast<const Expect*>(holder.value_ptr());
    return guarded([&] {
        expect.check(args[0]);
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

PYBIND11_MODULE(_core, m, py::mod_gil_not_used()) {
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

    auto expect_class = py::class_<Expect>(m, "Expect", "Constraints compiled once; .check(x) is the allocation-free hot path.")
        .def(py::init([](py::handle device, py::handle dtype, py::handle ndim, py::handle shape, py::handle writable,
                         py::handle layout, py::handle verify_device) {
                 od::Constraints c = make_constraints(device, dtype, ndim, shape, writable, layout, verify_device);
                 py::dict given;
                 const std::pair<const char*, py::handle> named[] = {
                     {"device", device}, {"dtype", dtype}, {"ndim", ndim}, {"shape", shape},
                     {"writable", writable}, {"layout", layout}};
                 for (const auto& [key, value] : named) {
                     if (!value.is_none()) given[key] = value;
                 }
                 if (!(PyUnicode_Check(verify_device.ptr()) && verify_device.cast<std::string>() == "auto")) {
                     given["verify_device"] = verify_device;
                 }
                 return Expect(std::move(c), given);
             }),
             py::kw_only(), py::arg("device") = py::none(), py::arg("dtype") = py::none(),
             py::arg("ndim") = py::none(), py::arg("shape") = py::none(), py::arg("writable") = py::none(),
             py::arg("layout") = py::none(), py::arg("verify_device") = "auto")
        .def_static("__class_getitem__", [](const py::object&) { return py::type::of<Expect>(); }, py::arg("item"))
        .def("validate", &Expect::validate, py::arg("x"), py::pos_only(),
             "Check x against the constraints and return its TensorInfo.")
        .def("__repr__", [](const Expect& self) {
            std::string out = "Expect(";
            bool first = true;
            for (auto item : self.repr().cast<py::dict>()) {
                if (!first) out += ", ";
                first = false;
                out += py::str(item.first).cast<std::string>() + "=" + py::repr(item.second).cast<std::string>();
            }
            return out + ")";
        });

    expect_type = reinterpret_cast<PyTypeObject*>(expect_class.ptr());
    add_method(expect_class, &fast_expect_check_def);

    register_interop(m);
}

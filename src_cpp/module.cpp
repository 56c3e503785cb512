// optype_dlpack._core — thin pybind11 bindings over the header-only core in
// include/optype_dlpack/: header tables, dtype/device names, inspect/validate/Expect.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "boundary.hpp"
#include "checked_plan.hpp"
#include "constraints.hpp"
#include "expect_access.hpp"
#include "numpy_view.hpp"
#include "tensor_info_type.hpp"
#include "optype_dlpack/acquire.hpp"
#include "optype_dlpack/check.hpp"
#include "optype_dlpack/cuda.hpp"
#include "optype_dlpack/device_truth.hpp"
#include "optype_dlpack/expect.hpp"
#include "optype_dlpack/pybind11.hpp"
#include "optype_dlpack/tables.hpp"
#include "optype_dlpack/tensor_info.hpp"

#include <cstdint>
#include <cstring>
#include <iterator>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace py = pybind11;
namespace od = optype_dlpack;

void register_interop(py::module_& m);  // dlpack_object.cpp
void register_rules(py::module_& m);    // rules_module.cpp

namespace {

using od::constraints::make_constraints;
using od::detail::acquire_or_raise;
using od::detail::guarded;

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

/// The tensor of `x` into `source`: acquire_or_raise, except that an exact numpy.ndarray is
/// read from its array struct where that gives what NumPy's __dlpack__ would (numpy_view.hpp;
/// `storage` holds the reading while `source` is used).
void acquire_tensor(py::handle x, od::Source& source, od::Need need, od::interop::NdarrayView& storage) {
    if (PyCapsule_CheckExact(x.ptr())) {  // a capsule given by the caller: read it in place
        od::detail::raise_source_error(source.from_capsule(x.ptr()), source);
        return;
    }
    switch (od::interop::read_ndarray(x.ptr(), storage, source.view)) {
        case od::interop::NdarrayRead::read: source.kind = od::SourceKind::array_struct; return;
        case od::interop::NdarrayRead::not_applicable: acquire_or_raise(x, source, need); return;
        case od::interop::NdarrayRead::calibrate: {
            const od::ManagedView read = source.view;
            source.view = od::ManagedView{};
            acquire_or_raise(x, source, od::Need::everything);  // NumPy's own capsule, flags included
            od::interop::calibrate_ndarray(read, source.view);
            return;
        }
    }
}

/// A new TensorInfo describing `x` once it passed the checks (a new reference).
PyObject* describe(py::handle x, const od::Constraints* constraints, od::VerifyDevice verify) {
    od::Source source;
    od::interop::NdarrayView storage;
    acquire_tensor(x, source, od::Need::everything, storage);
    od::Geometry geometry;
    std::int8_t verified = run_checks(source, constraints, geometry, verify);
    PyObject* info = od::tensor_info_type::make(od::record_of(source.view, geometry, verified));
    if (info == nullptr) throw py::error_already_set();
    return info;
}

/// Constraints compiled once. The class is final: its methods read the C++ object through
/// initialised_expect(), which also refuses an instance that Expect.__new__ made without
/// __init__ (pybind11 gives such an instance no C++ object). Immutable: pybind11 ignores a
/// second __init__.
class Expect {
public:
    Expect(od::Constraints c, py::str repr)
        : c_(std::move(c)), pinned_(od::pins_plain_values(c_)), repr_(std::move(repr)) {}

    PyObject* validate(py::handle x) const { return describe(x, &c_, c_.verify); }

    void check(py::handle x) const {
        if (passes_quickly(x, nullptr, nullptr)) return;
        check_fully(x, nullptr, nullptr);  // inlined: the path of every capsule
    }

    /// check(x), then use(context, record) while the tensor is held (`use` may be nullptr).
    /// The quick paths are inlined into @checked's argument loop (a call per tensor and the
    /// registers it saves cost as much as a tenth of them), the full one is a call.
    __attribute__((always_inline)) void check_and_use(py::handle x, od::checked_plan::RecordUse use,
                                                      void* context) const {
        if (passes_quickly(x, use, context)) return;
        check_fully_out_of_line(x, use, context);
    }

    const py::str& repr() const { return repr_; }

private:
    __attribute__((noinline)) void check_fully_out_of_line(py::handle x, od::checked_plan::RecordUse use,
                                                           void* context) const {
        check_fully(x, use, context);
    }

    /// check_and_use through a Source: acquires `x` as every entry point does, then runs every
    /// check, raising what fails.
    __attribute__((always_inline)) void check_fully(py::handle x, od::checked_plan::RecordUse use,
                                                    void* context) const {
        od::Source source;
        od::interop::NdarrayView storage;
        acquire_tensor(x, source, need(), storage);
        od::Geometry geometry;
        const std::int8_t verified = run_checks(source, &c_, geometry, c_.verify);
        if (use != nullptr) use(context, od::record_of(source.view, geometry, verified));
    }

    /// The common cases, checked without a Source: an exact NumPy array read from its struct
    /// (passes_ndarray), or a tensor borrowed through a remembered exchange table when the
    /// DLTensor alone is needed (passes_borrowed). True when `x` passed, after use(context,
    /// record) when `use` is given; false when check_fully is to check it and say what failed.
    __attribute__((always_inline)) bool passes_quickly(py::handle x, od::checked_plan::RecordUse use,
                                                       void* context) const {
        if (PyCapsule_CheckExact(x.ptr())) return false;
        if (od::detail::is_exact_ndarray(Py_TYPE(x.ptr()))) return passes_ndarray(x, use, context);
        return need() == od::Need::tensor && passes_borrowed(x, use, context);
    }

    /// An exact NumPy array whose struct reads as NumPy's export would (read_ndarray) and that
    /// every structural rule, every constraint and the device check accept.
    __attribute__((always_inline)) bool passes_ndarray(py::handle x, od::checked_plan::RecordUse use,
                                                       void* context) const {
        od::interop::NdarrayView storage;
        od::ManagedView view;
        if (od::interop::read_ndarray(x.ptr(), storage, view) != od::interop::NdarrayRead::read) return false;
        return passes_view(view, use, context);
    }

    /// The common case, checked without a Source: a tensor borrowed through a remembered
    /// exchange table (od::borrow_remembered; the caller holds `x`) that every structural
    /// rule, every constraint and the device check accept. True when it passed, after
    /// use(context, record) when `use` is given; false when the full path is to check `x`,
    /// asking it again, and say what failed. A failing table raises here.
    __attribute__((always_inline)) bool passes_borrowed(py::handle x, od::checked_plan::RecordUse use,
                                                        void* context) const {
        DLTensor slot;
        od::ManagedView view;
        switch (od::borrow_remembered(x.ptr(), &slot, view)) {
            case od::Borrowed::tensor: break;
            case od::Borrowed::not_remembered: return false;
            case od::Borrowed::error: raise_set_error();
        }
        return passes_view(view, use, context);
    }

    /// The quick paths' checks of a tensor read without a Source: every structural rule (in
    /// structure_fast_path's common case), every constraint and the device check.
    __attribute__((always_inline)) bool passes_view(const od::ManagedView& view, od::checked_plan::RecordUse use,
                                                    void* context) const {
        od::Geometry geometry;
        if (pinned_) {  // device, dtype and their plainness in one test, then the rest
            if (!od::pinned_values_met(*view.tensor, c_) || !od::detail::structure_fast_path<true>(view, geometry) ||
                !od::constraints_met<true>(view, geometry, c_)) {
                return false;
            }
        } else if (!od::detail::structure_fast_path(view, geometry) || !od::constraints_met(view, geometry, c_)) {
            return false;  // structure_fast_path true: no structural rule finds anything
        }
        std::int8_t verified = -1;
        if (!od::device_left_unasked(view.tensor->device.device_type, c_.verify) &&
            !device_verified(view, geometry, verified)) {
            return false;
        }
        if (use != nullptr) use(context, od::record_of(view, geometry, verified));
        return true;
    }

    /// The device check of the quick paths, where the driver is asked: whether it found nothing
    /// wrong (`verified` set to its answer). Out of line: @checked's argument loop inlines the
    /// quick paths, and this one is rare there.
    __attribute__((noinline)) bool device_verified(const od::ManagedView& view, const od::Geometry& geometry,
                                                   std::int8_t& verified) const {
        od::Report report;
        verified = od::verify_device(view, geometry, c_.verify, report);
        return report.ok();
    }

    /// Raises the Python error set. Out of line, as device_verified.
    [[noreturn]] __attribute__((noinline)) static void raise_set_error() { throw py::error_already_set(); }

    /// What check() reads: the flags only when writability is constrained.
    od::Need need() const { return c_.writable >= 0 ? od::Need::everything : od::Need::tensor; }

    od::Constraints c_;
    bool pinned_;   ///< c_ pins a plain device type and dtype (od::pins_plain_values): the quick path tests them first
    py::str repr_;  ///< made from the arguments at construction: later changes to them do not show
};

PyTypeObject* expect_type = nullptr;  // set once the class is bound

/// The C++ Expect behind `self`, whose instance is exactly an Expect (the class is final).
/// nullptr when Expect.__new__ made it without __init__.
const Expect* expect_of(py::handle self) {
    if (expect_type == nullptr || Py_TYPE(self.ptr()) != expect_type) {
        throw py::type_error(std::string("expected an optype_dlpack.Expect, got ") + Py_TYPE(self.ptr())->tp_name);
    }
    // An exact Expect has pybind11's simple layout (one C++ object, no base class), where the
    // object's address is stored inline: read it without the lookup of get_value_and_holder().
    auto* instance = reinterpret_cast<py::detail::instance*>(self.ptr());
    if (instance->simple_layout) {
        return instance->simple_holder_constructed ? static_cast<const Expect*>(instance->simple_value_holder[0])
                                                   : nullptr;
    }
    auto holder = instance->get_value_and_holder();
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

/// "Expect(dtype='float32', ndim=2)": the constraints given, verify_device only when not "auto",
/// strict only when True.
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
                   py::handle layout, py::handle verify_device, py::handle strict) {
    od::Constraints c = make_constraints(device, dtype, ndim, shape, writable, layout, verify_device, strict);
    std::vector<std::pair<const char*, py::handle>> given;
    const std::pair<const char*, py::handle> named[] = {{"device", device}, {"dtype", dtype},       {"ndim", ndim},
                                                        {"shape", shape},   {"writable", writable}, {"layout", layout}};
    for (const auto& item : named) {
        if (!item.second.is_none()) given.push_back(item);
    }
    if (c.verify != od::VerifyDevice::automatic) given.emplace_back("verify_device", verify_device);
    if (c.strictness == od::Strictness::strict) given.emplace_back("strict", strict);
    return Expect(std::move(c), expect_repr(given));
}

}  // namespace

void optype_dlpack::checked_plan::check_and_use(PyObject* expect, PyObject* x, RecordUse use, void* context) {
    initialised_expect(expect, "check").check_and_use(x, use, context);
}

const optype_dlpack::checked_plan::CompiledExpect* optype_dlpack::checked_plan::compiled_expect(
    PyObject* expect) noexcept {
    if (expect_type == nullptr || Py_TYPE(expect) != expect_type) return nullptr;
    // As expect_of() reads it, the simple layout only (an exact Expect has it; nullptr sends a
    // call to check_and_use(expect, ...), which reads any layout and raises for no C++ object)
    const auto* instance = reinterpret_cast<const py::detail::instance*>(expect);
    if (!instance->simple_layout || !instance->simple_holder_constructed) return nullptr;
    return static_cast<const CompiledExpect*>(instance->simple_value_holder[0]);
}

void optype_dlpack::checked_plan::check_and_use(const CompiledExpect* compiled, PyObject* x, RecordUse use,
                                                void* context) {
    reinterpret_cast<const Expect*>(compiled)->check_and_use(x, use, context);
}

namespace {

// ---------------------------------------------------------------------------------------
// Header tables, compiled from dlpack.h (the generated list names every enumerator).

enum class HeaderEnum : std::uint8_t { device_type, dtype_code, flag };

/// {enumerator name: value} of one enum of dlpack.h.
py::dict header_enum(HeaderEnum which) {
    py::dict out;
    const auto add = [&](HeaderEnum kind, const char* name, long long value) {
        if (kind == which) out[name] = value;
    };
#define OPTYPE_DLPACK_DEVICE_TYPE(name) add(HeaderEnum::device_type, #name, static_cast<long long>(name));
#define OPTYPE_DLPACK_DTYPE_CODE(name) add(HeaderEnum::dtype_code, #name, static_cast<long long>(name));
#define OPTYPE_DLPACK_FLAG(name) add(HeaderEnum::flag, #name, static_cast<long long>(name));
#include "optype_dlpack_header_enums.inc"
#undef OPTYPE_DLPACK_DEVICE_TYPE
#undef OPTYPE_DLPACK_DTYPE_CODE
#undef OPTYPE_DLPACK_FLAG
    return out;
}

// ---------------------------------------------------------------------------------------
// Functions and methods in CPython's vectorcall convention (boundary.hpp). pybind11's
// dispatcher costs more than the checks themselves (it looks up the instance's type info
// under a lock for every method call, and takes a dict-building slow path as soon as a
// keyword is passed), so inspect, validate and Expect's methods are plain METH_FASTCALL
// functions.

using od::detail::Parameters;

/// The keyword-only constraints of validate() and Expect(), in the order make_constraints
/// takes them.
constexpr const char* kConstraintNames[] = {"device",   "dtype",  "ndim",          "shape",
                                            "writable", "layout", "verify_device", "strict"};
constexpr std::size_t kConstraintCount = std::size(kConstraintNames);

PyObject* auto_string() {
    static PyObject* value = PyUnicode_InternFromString("auto");
    return value;
}

PyObject* fast_inspect(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
    static const Parameters parameters("inspect", 1);
    if (!parameters.parse(args, nargs, nullptr, nullptr)) return nullptr;
    return guarded([&] { return describe(args[0], nullptr, od::VerifyDevice::automatic); });
}

/// Whether `value` is an object whose meaning as a constraint cannot change while it lives:
/// an exact str or int, a bool, None, or an exact tuple of exact ints and None (a shape).
bool immutable_constraint_value(PyObject* value) {
    if (value == nullptr || value == Py_None || PyUnicode_CheckExact(value) || PyLong_CheckExact(value) ||
        PyBool_Check(value)) {
        return true;
    }
    if (!PyTuple_CheckExact(value)) return false;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(value); ++i) {
        PyObject* item = PyTuple_GET_ITEM(value, i);
        if (item != Py_None && !PyLong_CheckExact(item)) return false;
    }
    return true;
}

/// The constraints of the last validate() call, with the objects they were read from (held):
/// a call given the same objects, each immutable, means the same constraints, and they are
/// not read again (reading 'cpu' and 'float32' costs more than the checks of a small tensor).
/// One entry: a loop validating with the same literal keywords hits it every time. Guarded
/// by the GIL (the module does not run without it). While a validate() that uses the entry
/// is running (its producer may call validate() again, with other constraints), the entry
/// is not replaced.
class LastConstraints {
public:
    /// The remembered constraints for `given`, or nullptr.
    const od::Constraints* find(PyObject* const* given) const {
        if (!filled_) return nullptr;
        for (std::size_t i = 0; i < kConstraintCount; ++i) {
            if (given[i] != values_[i]) return nullptr;
        }
        return &constraints_;
    }

    /// Remembers `c` as read from `given`, when every value is immutable and no call uses
    /// the entry now.
    void remember(PyObject* const* given, const od::Constraints& c) {
        if (users_ != 0) return;
        for (std::size_t i = 0; i < kConstraintCount; ++i) {
            if (!immutable_constraint_value(given[i])) return;
        }
        filled_ = false;
        constraints_ = c;  // may throw std::bad_alloc (a shape): the entry stays empty
        for (std::size_t i = 0; i < kConstraintCount; ++i) {
            Py_XINCREF(given[i]);
            Py_XSETREF(values_[i], given[i]);  // the old values are str, int, tuples: no code runs
        }
        filled_ = true;
    }

    /// Marks the entry in use for as long as it lives.
    class Use {
    public:
        explicit Use(LastConstraints& cache) : cache_(cache) { ++cache_.users_; }
        ~Use() { --cache_.users_; }
        Use(const Use&) = delete;
        Use& operator=(const Use&) = delete;

    private:
        LastConstraints& cache_;
    };

private:
    PyObject* values_[kConstraintCount] = {};
    od::Constraints constraints_;
    bool filled_ = false;
    int users_ = 0;
};

PyObject* fast_validate(PyObject*, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static const Parameters parameters("validate", 1, kConstraintNames);
    static LastConstraints* last = new LastConstraints();  // never destroyed: it holds Python objects
    PyObject* given[kConstraintCount] = {};
    if (!parameters.parse(args, nargs, kwnames, given)) return nullptr;
    return guarded([&] {
        if (const od::Constraints* known = last->find(given)) {
            const LastConstraints::Use use(*last);
            return describe(args[0], known, known->verify);
        }
        const auto value = [&](std::size_t i, PyObject* omitted) { return given[i] != nullptr ? given[i] : omitted; };
        od::Constraints c =
            make_constraints(value(0, Py_None), value(1, Py_None), value(2, Py_None), value(3, Py_None),
                             value(4, Py_None), value(5, Py_None), value(6, auto_string()), value(7, Py_False));
        last->remember(given, c);
        return describe(args[0], &c, c.verify);
    });
}

PyObject* fast_expect_check(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    static const Parameters parameters("check", 1);
    if (!parameters.parse(args, nargs, nullptr, nullptr)) return nullptr;
    return guarded([&] {
        initialised_expect(self, "check").check(args[0]);
        Py_RETURN_NONE;
    });
}

PyObject* fast_expect_validate(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    static const Parameters parameters("validate", 1);
    if (!parameters.parse(args, nargs, nullptr, nullptr)) return nullptr;
    return guarded([&] { return initialised_expect(self, "validate").validate(args[0]); });
}

PyObject* expect_repr(PyObject* self, PyObject*) {
    return guarded([&] {
        const Expect* expect = expect_of(self);
        if (expect == nullptr) {
            return PyUnicode_FromString("<optype_dlpack.Expect, not initialised: create it with Expect(...)>");
        }
        return Py_NewRef(expect->repr().ptr());
    });
}

/// pybind11's constructor of Expect (py::init), which __init__ calls with its arguments as
/// given: __init__ itself is a fast-call method, for its text signature.
PyObject* pybind11_expect_init = nullptr;

PyObject* expect_init(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    return guarded([&] {
        const Py_ssize_t count = nargs + (kwnames != nullptr ? PyTuple_GET_SIZE(kwnames) : 0);
        std::vector<PyObject*> call(static_cast<std::size_t>(count + 1));
        call[0] = self;
        for (Py_ssize_t i = 0; i < count; ++i) call[static_cast<std::size_t>(i + 1)] = args[i];
        return PyObject_Vectorcall(pybind11_expect_init, call.data(), static_cast<std::size_t>(nargs + 1), kwnames);
    });
}

#define OPTYPE_DLPACK_CONSTRAINT_SIGNATURE                                                                  \
    "*, device=None, dtype=None, ndim=None, shape=None, writable=None, layout=None, verify_device='auto', " \
    "strict=False)"
#define OPTYPE_DLPACK_CONSTRAINT_PARAMETERS                                                       \
    "*, device: object = None, dtype: object = None, ndim: object = None, shape: object = None, " \
    "writable: object = None, layout: object = None, verify_device: object = 'auto', strict: bool = False)"

PyMethodDef fast_inspect_def = {"inspect", od::detail::as_method(&fast_inspect), METH_FASTCALL,
                                "inspect(x, /)\n--\n\n"
                                "inspect(x: object, /) -> optype_dlpack._core.TensorInfo\n\n"
                                "Describe a DLPack capsule or producer after the structural checks of DLPack 1.3.\n"};

PyMethodDef fast_validate_def = {
    "validate", od::detail::as_method(&fast_validate), METH_FASTCALL | METH_KEYWORDS,
    "validate(x, /, " OPTYPE_DLPACK_CONSTRAINT_SIGNATURE
    "\n--\n\n"
    "validate(x: object, /, " OPTYPE_DLPACK_CONSTRAINT_PARAMETERS
    " -> optype_dlpack._core.TensorInfo\n\n"
    "inspect() plus the declared constraints; raises DLPackValidationError listing every violation.\n"};

PyMethodDef expect_methods[] = {
    {"__init__", od::detail::as_method(&expect_init), METH_FASTCALL | METH_KEYWORDS,
     "__init__($self, /, " OPTYPE_DLPACK_CONSTRAINT_SIGNATURE "\n--\n\n"
     "__init__(self: optype_dlpack._core.Expect, " OPTYPE_DLPACK_CONSTRAINT_PARAMETERS " -> None\n\n"
     "Read the constraints, once (a second __init__ changes nothing).\n"},
    {"check", od::detail::as_method(&fast_expect_check), METH_FASTCALL,
     "check($self, x, /)\n--\n\n"
     "check(self: optype_dlpack._core.Expect, x: object, /) -> None\n\n"
     "Check x against the constraints; returns None, raises DLPackValidationError.\n"},
    {"validate", od::detail::as_method(&fast_expect_validate), METH_FASTCALL,
     "validate($self, x, /)\n--\n\n"
     "validate(self: optype_dlpack._core.Expect, x: object, /) -> optype_dlpack._core.TensorInfo\n\n"
     "Check x against the constraints and return its TensorInfo.\n"},
    {"__repr__", &expect_repr, METH_NOARGS,
     "__repr__($self, /)\n--\n\n__repr__(self: optype_dlpack._core.Expect) -> str\n"},
};

void bind_expect(py::module_& m) {
    auto cls =
        py::class_<Expect>(
            m, "Expect", py::is_final(),
            "Constraints compiled once; .check(x) is the allocation-free hot path.\n\n"
            "Final: it cannot be subclassed (wrap an Expect to add behaviour). Immutable: the constraints "
            "are read once, by __init__.")
            .def(py::init(&make_expect), py::kw_only(), py::arg("device") = py::none(), py::arg("dtype") = py::none(),
                 py::arg("ndim") = py::none(), py::arg("shape") = py::none(), py::arg("writable") = py::none(),
                 py::arg("layout") = py::none(), py::arg("verify_device") = "auto", py::arg("strict") = false);
    expect_type = reinterpret_cast<PyTypeObject*>(cls.ptr());
    py::object pybind11_init = cls.attr("__init__");
    pybind11_expect_init = pybind11_init.release().ptr();  // kept for the process
    for (PyMethodDef& def : expect_methods) od::detail::add_method(cls, &def);
    od::detail::add_static_method(cls, &od::detail::class_getitem_def, cls);
}

// ---------------------------------------------------------------------------------------
// Names and the CUDA driver: pybind11 functions (their conversions and messages), each called
// through a fast-call function that carries its text signature.

/// An entry of signed_functions: the pybind11 function called through call_bound, and its docstring.
PyMethodDef signed_def(const char* name, const char* doc) noexcept {
    return {name, od::detail::as_method(&od::detail::call_bound), METH_FASTCALL | METH_KEYWORDS, doc};
}

PyMethodDef signed_functions[] = {
    signed_def("parse_dtype",
               "parse_dtype(name, /)\n--\n\nparse_dtype(name: str, /) -> tuple[int, int, int]\n\n"
               "(code, bits, lanes) of a dtype name such as 'float32' or 'bfloat16'.\n"),
    signed_def("format_dtype",
               "format_dtype(code, bits, lanes, /)\n--\n\n"
               "format_dtype(code: int, bits: int, lanes: int, /) -> str\n\n"
               "The name of a dtype ('float32', 'float32x4', 'code20_bits8').\n"),
    signed_def("parse_device",
               "parse_device(name, /)\n--\n\nparse_device(name: str, /) -> tuple[int, int]\n\n"
               "(device_type, device_id) of a device name such as 'cpu' or 'cuda:1'.\n"),
    signed_def("format_device",
               "format_device(device_type, device_id, /)\n--\n\n"
               "format_device(device_type: int, device_id: int, /) -> str\n\nThe name of a device "
               "('cpu', 'cuda:1').\n"),
    signed_def("cuda_driver_available",
               "cuda_driver_available()\n--\n\ncuda_driver_available() -> bool\n\nWhether libcuda could be loaded.\n"),
    signed_def(
        "cuda_driver_status",
        "cuda_driver_status()\n--\n\ncuda_driver_status() -> str\n\n'loaded', or why libcuda could not be loaded.\n"),
};

PyMethodDef& signed_function(const char* name) {
    for (PyMethodDef& def : signed_functions) {
        if (std::strcmp(def.ml_name, name) == 0) return def;
    }
    throw std::logic_error(std::string("no signature for ") + name);
}

/// Defines `function` in the module under `name`, through its entry in signed_functions.
template <class Function, class... Extra>
void def_signed(py::module_& m, const char* name, Function&& function, const Extra&... extra) {
    py::cpp_function bound(std::forward<Function>(function), py::name(name), extra...);
    od::detail::add_signed_function(m, &signed_function(name), bound);
}

/// `name` read by `parse` (od::parse_dtype, od::parse_device); ValueError, with examples, if
/// it is not one.
template <class Value>
Value parsed_name(const std::string& name, bool (*parse)(std::string_view, Value*), const char* what,
                  const char* examples) {
    Value value{};
    if (!parse(name, &value)) {
        throw py::value_error(std::string("not a DLPack ") + what + " name: '" + name + "' (expected e.g. " + examples +
                              ")");
    }
    return value;
}

void bind_names(py::module_& m) {
    def_signed(
        m, "parse_dtype",
        [](const std::string& name) {
            const auto dtype = parsed_name<DLDataType>(name, &od::parse_dtype, "dtype",
                                                       "'float32', 'uint8', 'bfloat16', 'bool', 'float8_e4m3fn', "
                                                       "'complex64', 'float32x4'");
            return py::make_tuple(dtype.code, dtype.bits, dtype.lanes);
        },
        py::arg("name"), py::pos_only());
    def_signed(
        m, "format_dtype",
        [](unsigned code, unsigned bits, unsigned lanes) {
            if (code > 255 || bits > 255 || lanes > 65535) throw py::value_error("dtype field out of range");
            return od::format_dtype(static_cast<std::uint8_t>(code), static_cast<std::uint8_t>(bits),
                                    static_cast<std::uint16_t>(lanes));
        },
        py::arg("code"), py::arg("bits"), py::arg("lanes"), py::pos_only());
    def_signed(
        m, "parse_device",
        [](const std::string& name) {
            const auto device = parsed_name<DLDevice>(name, &od::parse_device, "device",
                                                      "'cpu', 'cuda', 'cuda:1', 'cuda_host', 'rocm:0'");
            return py::make_tuple(static_cast<std::int32_t>(device.device_type), device.device_id);
        },
        py::arg("name"), py::pos_only());
    def_signed(
        m, "format_device", [](std::int32_t type, std::int32_t id) { return od::format_device(type, id); },
        py::arg("device_type"), py::arg("device_id"), py::pos_only());
    def_signed(m, "cuda_driver_available", &od::cuda::driver_available);
    def_signed(m, "cuda_driver_status", []() -> std::string {
        return od::cuda::driver_available() ? "loaded" : od::cuda::driver_unavailable_reason();
    });
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
    m.attr("HEADER_DEVICE_TYPES") = header_enum(HeaderEnum::device_type);
    m.attr("HEADER_DTYPE_CODES") = header_enum(HeaderEnum::dtype_code);
    m.attr("HEADER_FLAGS") = header_enum(HeaderEnum::flag);
    {
        py::dict known_devices, known_codes;
        for (const auto& info : od::kDeviceTypes) known_devices[info.header_name] = info.code;
        for (const auto& info : od::kDTypeCodes) known_codes[info.header_name] = info.code;
        m.attr("KNOWN_DEVICE_TYPES") = known_devices;
        m.attr("KNOWN_DTYPE_CODES") = known_codes;
    }

    bind_names(m);
    m.def(
        "_ndarray_reading_state", [] { return od::interop::ndarray_reading_state(); },
        "Whether exact NumPy arrays are read from their array struct: 'unknown' (not calibrated yet), 'trusted' "
        "or 'refused' (private: for tests).");
    // The floor the benchmarks compare against: a pybind11 call that does nothing with its argument.
    m.def(
        "_noop", [](py::handle) {}, py::arg("x"), py::pos_only());

    od::tensor_info_type::bind(m);
    od::detail::add_function(m, &fast_inspect_def);
    od::detail::add_function(m, &fast_validate_def);
    bind_expect(m);

    register_interop(m);
    register_rules(m);
    register_checked_plan(m);
}

// The native per-call path of @optype_dlpack.checked (see checked_function.hpp).
//
// optype_dlpack/_checked.py reads a function's annotations once into a plan; where every checked
// parameter is a plain one (positional and/or keyword, no *args/**kwargs, no return check, not a
// coroutine) it installs the plan here: per checked parameter its position, its keyword name,
// its Expect and its program of symbols and groups, with every symbol and group turned into a
// small slot number. A call then binds the arguments without building a tuple or a dict, runs
// each Expect's check (check_and_use, which hands over the checked tensor's record), binds the
// slots in an array on the stack, and calls the function with the very arguments it was given.
//
// Whatever this binder does not understand (a keyword given twice, more positional arguments
// than the function takes, a plan not installed yet) goes to the Python wrapper, which knows
// every case; a mismatch goes to the plan's Python diagnosis, which says what is wrong.
#include "checked_function.hpp"

#include "boundary.hpp"
#include "expect_access.hpp"
#include "optype_dlpack/tensor_info.hpp"

#include <structmember.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace optype_dlpack::checked_plan {
namespace {

namespace py = pybind11;

/// Whether checks run (optype_dlpack.checks_enabled); read and written with the GIL held.
bool checks_on = true;

/// A program's operations, numbered as _checked.py writes them (checked_plan.hpp's Op).
enum class Operation : std::uint8_t { symbol = 0, extent = 1, group = 2, min_ndim = 3, device = 4, dtype = 5 };

/// One step of a tensor's program, compiled: names are slot numbers.
struct Step {
    Operation op;
    std::int32_t slot;    ///< symbol, group, device, dtype
    std::int64_t first;   ///< symbol, extent: the index (negative: from the end); group: leading; min_ndim
    std::int64_t second;  ///< extent: the extent; group: trailing
};

/// One checked parameter.
struct Parameter {
    Py_ssize_t position;             ///< -1: keyword-only
    PyObject* name;                  ///< owned; nullptr: positional-only
    PyObject* expect;                ///< owned
    const CompiledExpect* compiled;  ///< expect's constraints (nullptr: not initialised, raised per call)
    bool optional;                   ///< None passes
    std::vector<Step> program;
};

/// More slots or checked parameters than this and the plan stays in Python (a call keeps its
/// slots and its arguments on the stack).
constexpr std::size_t kMaxSlots = 32;
constexpr std::size_t kMaxParameters = 32;

struct Plan {
    std::vector<Parameter> parameters;
    std::vector<Parameter> returns;  ///< the return value's check, when there is one
    std::size_t slots = 0;
    bool uses_groups = false;          ///< a "*group": its extents are copied per call
    Py_ssize_t positional_limit = -1;  ///< the most positional arguments the function takes; -1: any
    PyObject* fail = nullptr;          ///< owned: the plan's diagnosis, fail(args, kwargs[, result])

    Plan() = default;
    Plan(const Plan&) = delete;
    Plan& operator=(const Plan&) = delete;
    ~Plan() {
        for (auto* list : {&parameters, &returns}) {
            for (Parameter& parameter : *list) {
                Py_XDECREF(parameter.name);
                Py_XDECREF(parameter.expect);
            }
        }
        Py_XDECREF(fail);
    }
};

// ---------------------------------------------------------------------------------------
// One call's bindings

enum class SlotKind : std::uint8_t { unbound, extent, extents, device, dtype };

struct Slot {
    SlotKind kind;
    std::int64_t a;  ///< extent; extents: offset into Bindings::extents; device type; dtype code
    std::int64_t b;  ///< extents: count; device id; dtype bits
    std::int64_t c;  ///< dtype lanes
};

struct Bindings {
    Slot slots[kMaxSlots];
    std::vector<std::int64_t> extents;  ///< the "*group" extents bound so far
    const Parameter* parameter = nullptr;
    bool matched = true;
};

/// Binds the slot to (kind, a, b, c), or compares with what it holds; false on a conflict.
bool bind(Slot& slot, SlotKind kind, std::int64_t a, std::int64_t b, std::int64_t c) {
    if (slot.kind == SlotKind::unbound) {
        slot = Slot{kind, a, b, c};
        return true;
    }
    return slot.kind == kind && slot.a == a && slot.b == b && slot.c == c;
}

/// A "*group" of extents: bound as a run in `bindings.extents`, compared extent by extent.
bool bind_group(Bindings& bindings, Slot& slot, const std::int64_t* shape, std::int64_t count) {
    if (slot.kind == SlotKind::unbound) {
        slot = Slot{SlotKind::extents, static_cast<std::int64_t>(bindings.extents.size()), count, 0};
        bindings.extents.insert(bindings.extents.end(), shape, shape + count);
        return true;
    }
    if (slot.kind != SlotKind::extents || slot.b != count) return false;
    const std::int64_t* bound = bindings.extents.data() + slot.a;
    for (std::int64_t i = 0; i < count; ++i) {
        if (bound[i] != shape[i]) return false;
    }
    return true;
}

/// `index` (negative: from the end) as a position among `ndim` extents; -1 when outside.
std::int64_t placed(std::int64_t index, std::int32_t ndim) {
    const std::int64_t at = index < 0 ? index + ndim : index;
    return at >= 0 && at < ndim ? at : -1;
}

bool run_step(Bindings& bindings, const Step& step, const TensorInfoRecord& r) {
    switch (step.op) {
        case Operation::symbol: {
            const std::int64_t at = placed(step.first, r.ndim);
            return at >= 0 && bind(bindings.slots[step.slot], SlotKind::extent, r.shape[at], 0, 0);
        }
        case Operation::extent: {
            const std::int64_t at = placed(step.first, r.ndim);
            return at >= 0 && r.shape[at] == step.second;
        }
        case Operation::group: {
            if (step.first + step.second > r.ndim) return false;
            return bind_group(bindings, bindings.slots[step.slot], r.shape + step.first,
                              r.ndim - step.second - step.first);
        }
        case Operation::min_ndim: return r.ndim >= step.first;
        case Operation::device:
            return bind(bindings.slots[step.slot], SlotKind::device, static_cast<std::int64_t>(r.device.device_type),
                        r.device.device_id, 0);
        case Operation::dtype:
            return bind(bindings.slots[step.slot], SlotKind::dtype, r.dtype.code, r.dtype.bits, r.dtype.lanes);
    }
    return false;
}

/// check_and_use's RecordUse: the current parameter's program against the checked tensor.
void run_program(void* context, const TensorInfoRecord& record) {
    auto& bindings = *static_cast<Bindings*>(context);
    for (const Step& step : bindings.parameter->program) {
        if (!run_step(bindings, step, record)) {
            bindings.matched = false;
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------
// The callable

struct CheckedFunction {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject* function;  ///< the decorated function
    PyObject* fallback;  ///< the Python wrapper: every call this binder does not take
    PyObject* dict;      ///< __dict__: what functools.update_wrapper sets
    PyObject* weakrefs;
    Plan* plan;  ///< nullptr until installed
};

PyTypeObject* checked_function_type = nullptr;
PyObject* expect_class = nullptr;  ///< optype_dlpack.Expect, kept for the process

enum class Outcome { pass, mismatch, error, unbound, twice };

/// The argument given for `parameter`: borrowed, nullptr when not given. pass; twice when the
/// call gives it twice; unbound for a keyword that is not exactly a str (a subclass may compare
/// in its own way: the Python wrapper matches it as Python would).
Outcome argument_of(const Parameter& parameter, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
                    PyObject*& value) {
    value = parameter.position >= 0 && parameter.position < nargs ? args[parameter.position] : nullptr;
    if (kwnames == nullptr || parameter.name == nullptr) return Outcome::pass;
    const Py_ssize_t count = PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t i = 0; i < count; ++i) {
        PyObject* key = PyTuple_GET_ITEM(kwnames, i);
        if (key != parameter.name) {
            if (!PyUnicode_CheckExact(key)) return Outcome::unbound;
            if (PyUnicode_Compare(key, parameter.name) != 0) continue;
        }
        if (value != nullptr) return Outcome::twice;
        value = args[nargs + i];
    }
    return Outcome::pass;
}

/// Checks `value` against `parameter`, binding into `bindings`: pass, mismatch or error.
Outcome check_value(Bindings& bindings, const Parameter& parameter, PyObject* value) {
    bindings.parameter = &parameter;
    const RecordUse use = parameter.program.empty() ? nullptr : &run_program;  // nothing to bind: no record
    PyObject* done = detail::guarded([&]() -> PyObject* {
        if (parameter.compiled != nullptr) {
            check_and_use(parameter.compiled, value, use, &bindings);
        } else {
            check_and_use(parameter.expect, value, use, &bindings);  // raises its TypeError
        }
        return Py_True;  // borrowed: a marker, not returned to Python
    });
    if (done == nullptr) return Outcome::error;
    return bindings.matched ? Outcome::pass : Outcome::mismatch;
}

/// Every checked argument of the call: pass, mismatch, error (a Python error set), unbound (a
/// call this binder leaves to the Python wrapper, before any check ran), or twice (a checked
/// parameter given twice, before any check ran). Flattened: the quick path of each check
/// (check_and_use's) is inlined into the loop, since a call per argument and the registers it
/// saves cost as much as a tenth of that path; the full path stays a call (it is noinline).
__attribute__((flatten)) Outcome check_arguments(const Plan& plan, Bindings& bindings, PyObject* const* args,
                                                 Py_ssize_t nargs, PyObject* kwnames) {
    if (plan.positional_limit >= 0 && nargs > plan.positional_limit) return Outcome::unbound;
    const std::size_t count = plan.parameters.size();
    PyObject* values[kMaxParameters];
    for (std::size_t i = 0; i < count; ++i) {
        const Outcome bound = argument_of(plan.parameters[i], args, nargs, kwnames, values[i]);
        if (bound != Outcome::pass) return bound;
    }
    for (std::size_t s = 0; s < plan.slots; ++s) bindings.slots[s].kind = SlotKind::unbound;
    for (std::size_t i = 0; i < count; ++i) {
        const Parameter& parameter = plan.parameters[i];
        PyObject* value = values[i];
        if (value == nullptr || (value == Py_None && parameter.optional)) continue;
        const Outcome outcome = check_value(bindings, parameter, value);
        if (outcome != Outcome::pass) return outcome;
    }
    return Outcome::pass;
}

/// callable(args, kwargs[, result]): the call's arguments as a tuple and a dict (and the value
/// it returned, when not nullptr), for the Python diagnosis; nullptr on error.
PyObject* call_with_mapping(PyObject* callable, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
                            PyObject* result) {
    // held across the call into Python: a forced unwind at exit leaves them (unwind_safe)
    detail::unwind_safe<py::object> positional{py::reinterpret_steal<py::object>(PyTuple_New(nargs))};
    detail::unwind_safe<py::object> keywords{py::reinterpret_steal<py::object>(PyDict_New())};
    if (!positional || !keywords) return nullptr;
    for (Py_ssize_t i = 0; i < nargs; ++i) PyTuple_SET_ITEM(positional.ptr(), i, Py_NewRef(args[i]));
    const Py_ssize_t count = kwnames != nullptr ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t i = 0; i < count; ++i) {
        if (PyDict_SetItem(keywords.ptr(), PyTuple_GET_ITEM(kwnames, i), args[nargs + i]) < 0) return nullptr;
    }
    PyObject* call[] = {positional.ptr(), keywords.ptr(), result};
    return PyObject_Vectorcall(callable, call, result != nullptr ? 3 : 2, nullptr);
}

/// The exception being raised, taken (normalised, with its traceback); restore_error puts it back.
PyObject* take_error() {
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    if (traceback != nullptr) PyException_SetTraceback(value, traceback);
    Py_XDECREF(type);
    Py_XDECREF(traceback);
    return value;
#endif
}

/// Raises `error` (a reference taken by take_error) again.
void restore_error(PyObject* error) {
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(error);
#else
    PyErr_Restore(Py_NewRef(reinterpret_cast<PyObject*>(Py_TYPE(error))), error, PyException_GetTraceback(error));
#endif
}

/// Whether `error` is one that a failed check raises (not a producer's own error).
bool check_failed(PyObject* error) {
    static PyObject* validation_error = nullptr;  // kept for the process; read with the GIL held
    if (validation_error == nullptr) {
        validation_error = detail::guarded(
            [] { return PyObject_GetAttrString(detail::errors_module().ptr(), "DLPackValidationError"); });
        if (validation_error == nullptr) {
            PyErr_Clear();  // the check's own error is the one to raise
            return false;
        }
    }
    return PyErr_GivenExceptionMatches(error, PyExc_TypeError) != 0 ||
           PyErr_GivenExceptionMatches(error, validation_error) != 0;
}

/// A failed check (`outcome` mismatch, or error with its exception set): the diagnosis raises
/// the error that lists every violation. An error the diagnosis cannot explain is raised as it
/// was (as the Python wrapper does: `except (DLPackValidationError, TypeError): fail(); raise`).
PyObject* fail(const Plan& plan, Outcome outcome, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
               PyObject* result = nullptr) {
    PyObject* error = nullptr;
    if (outcome == Outcome::error) {
        error = take_error();
        if (!check_failed(error)) {  // a producer's own error: not a mismatch
            restore_error(error);
            return nullptr;
        }
    }
    PyObject* returned = call_with_mapping(plan.fail, args, nargs, kwnames, result);
    if (returned == nullptr) {
        if (error != nullptr) {  // raised while handling the check's error: that is its context
            PyObject* raised = take_error();
            if (raised != error) PyException_SetContext(raised, Py_NewRef(error));
            restore_error(raised);
            Py_DECREF(error);
        }
        return nullptr;
    }
    Py_DECREF(returned);
    if (error != nullptr) {
        restore_error(error);
        return nullptr;
    }
    PyErr_SetString(PyExc_AssertionError, "a binding failed that the diagnosis could not find");
    return nullptr;
}

/// The function returned `result` (a reference this takes): checked against the symbols and
/// groups the arguments bound, it is returned, or the diagnosis raises.
PyObject* check_result(const Plan& plan, Bindings& bindings, PyObject* result, PyObject* const* args, Py_ssize_t nargs,
                       PyObject* kwnames) {
    const Parameter& returns = plan.returns.front();
    if (result == Py_None && returns.optional) return result;
    const Outcome outcome = check_value(bindings, returns, result);
    if (outcome == Outcome::pass) return result;
    const detail::unwind_safe<py::object> held{py::reinterpret_steal<py::object>(result)};
    return fail(plan, outcome, args, nargs, kwnames, result);
}

/// checked_call with a plan, while `self` is held.
__attribute__((always_inline)) inline PyObject* checked_call_held(CheckedFunction* self, PyObject* const* args,
                                                                  std::size_t nargsf, PyObject* kwnames) {
    const Plan& plan = *self->plan;
    const Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    Bindings bindings;
    const Outcome outcome = check_arguments(plan, bindings, args, nargs, kwnames);
    if (outcome == Outcome::twice && PyFunction_Check(self->function)) {
        // A Python function refuses a named parameter given twice before its body runs (the
        // Python wrapper cannot: its **kwargs keeps the last value given).
        return PyObject_Vectorcall(self->function, args, nargsf, kwnames);
    }
    if (outcome == Outcome::unbound || outcome == Outcome::twice) {
        return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
    }
    if (outcome != Outcome::pass) return fail(plan, outcome, args, nargs, kwnames);
    PyObject* result = PyObject_Vectorcall(self->function, args, nargsf, kwnames);
    if (result == nullptr || plan.returns.empty()) return result;
    return check_result(plan, bindings, result, args, nargs, kwnames);
}

PyObject* checked_call(PyObject* callable, PyObject* const* args, std::size_t nargsf, PyObject* kwnames) {
    auto* self = reinterpret_cast<CheckedFunction*>(callable);
    if (!checks_on) return PyObject_Vectorcall(self->function, args, nargsf, kwnames);
    if (self->plan == nullptr) return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
    // Held while the checks and the call run: a producer's __dlpack__ may drop every other
    // reference. Dropped by hand, not by a destructor, so that a forced unwind at exit, which
    // must not touch reference counts, leaves it; nothing else leaves this function by unwinding.
    Py_INCREF(callable);
    PyObject* result = checked_call_held(self, args, nargsf, kwnames);
    Py_DECREF(callable);
    return result;
}

int traverse(PyObject* object, visitproc visit, void* arg) {
    auto* self = reinterpret_cast<CheckedFunction*>(object);
    Py_VISIT(Py_TYPE(object));
    Py_VISIT(self->function);
    Py_VISIT(self->fallback);
    Py_VISIT(self->dict);
    if (self->plan != nullptr) {
        Py_VISIT(self->plan->fail);
        for (const Parameter& parameter : self->plan->parameters) Py_VISIT(parameter.expect);
        for (const Parameter& parameter : self->plan->returns) Py_VISIT(parameter.expect);
    }
    return 0;
}

int clear(PyObject* object) {
    auto* self = reinterpret_cast<CheckedFunction*>(object);
    std::unique_ptr<Plan> plan(self->plan);  // released last: its references may run code
    self->plan = nullptr;
    Py_CLEAR(self->function);
    Py_CLEAR(self->fallback);
    Py_CLEAR(self->dict);
    return 0;
}

void dealloc(PyObject* object) {
    PyObject_GC_UnTrack(object);
    auto* self = reinterpret_cast<CheckedFunction*>(object);
    if (self->weakrefs != nullptr) PyObject_ClearWeakRefs(object);
    clear(object);
    PyTypeObject* type = Py_TYPE(object);
    type->tp_free(object);
    Py_DECREF(type);
}

/// A function's binding: the wrapper itself on a class, a bound method on an instance.
PyObject* descr_get(PyObject* self, PyObject* instance, PyObject*) {
    if (instance == nullptr || instance == Py_None) return Py_NewRef(self);
    return PyMethod_New(self, instance);
}

PyObject* repr(PyObject* object) {
    auto* self = reinterpret_cast<CheckedFunction*>(object);
    return PyUnicode_FromFormat("<checked %R>", self->function);
}

/// Pickled and copied as the function is: by its qualified name, as a global.
PyObject* reduce(PyObject* self, PyObject*) { return PyObject_GetAttrString(self, "__qualname__"); }

PyMethodDef methods[] = {
    {"__reduce__", reduce, METH_NOARGS, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef getset[] = {
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, nullptr, nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyMemberDef members[] = {
    {"__vectorcalloffset__", T_PYSSIZET, offsetof(CheckedFunction, vectorcall), READONLY, nullptr},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(CheckedFunction, weakrefs), READONLY, nullptr},
    {"__dictoffset__", T_PYSSIZET, offsetof(CheckedFunction, dict), READONLY, nullptr},
    {nullptr, 0, 0, 0, nullptr},
};

PyType_Slot slots[] = {
    {Py_tp_doc, const_cast<char*>("A function checked by @optype_dlpack.checked.")},
    {Py_tp_traverse, reinterpret_cast<void*>(&traverse)},
    {Py_tp_clear, reinterpret_cast<void*>(&clear)},
    {Py_tp_dealloc, reinterpret_cast<void*>(&dealloc)},
    {Py_tp_descr_get, reinterpret_cast<void*>(&descr_get)},
    {Py_tp_repr, reinterpret_cast<void*>(&repr)},
    {Py_tp_call, reinterpret_cast<void*>(&PyVectorcall_Call)},
    {Py_tp_methods, methods},
    {Py_tp_getset, getset},
    {Py_tp_members, members},
    {0, nullptr},
};

PyType_Spec spec = {"optype_dlpack._core._CheckedFunction", sizeof(CheckedFunction), 0,
                    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL |
                        Py_TPFLAGS_METHOD_DESCRIPTOR | Py_TPFLAGS_DISALLOW_INSTANTIATION,
                    slots};

// ---------------------------------------------------------------------------------------
// Making one, and installing its plan

CheckedFunction* as_checked_function(PyObject* object) {
    if (Py_TYPE(object) != checked_function_type) {
        throw py::type_error(std::string("expected a checked function, got ") + Py_TYPE(object)->tp_name);
    }
    return reinterpret_cast<CheckedFunction*>(object);
}

/// _checked_function(function, fallback, /): a checked function that forwards every call to
/// `fallback` until a plan is installed.
PyObject* make_checked_function(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
    return detail::guarded([&]() -> PyObject* {
        if (nargs != 2 || !PyCallable_Check(args[0]) || !PyCallable_Check(args[1])) {
            throw py::type_error("_checked_function(function: Callable, fallback: Callable, /)");
        }
        auto* self = PyObject_GC_New(CheckedFunction, checked_function_type);
        if (self == nullptr) throw py::error_already_set();
        self->vectorcall = &checked_call;
        self->function = Py_NewRef(args[0]);
        self->fallback = Py_NewRef(args[1]);
        self->dict = nullptr;
        self->weakrefs = nullptr;
        self->plan = nullptr;
        PyObject_GC_Track(self);
        return reinterpret_cast<PyObject*>(self);
    });
}

long long integer(PyObject* object) {
    const long long value = PyLong_AsLongLong(object);
    if (value == -1 && PyErr_Occurred() != nullptr) throw py::error_already_set();
    return value;
}

/// The slot of `key` (a symbol's or a group's name), a new one when first seen.
std::int32_t slot_of(std::vector<py::object>& keys, PyObject* key) {
    for (std::size_t i = 0; i < keys.size(); ++i) {
        const int equal = PyObject_RichCompareBool(keys[i].ptr(), key, Py_EQ);
        if (equal < 0) throw py::error_already_set();
        if (equal == 1) return static_cast<std::int32_t>(i);
    }
    keys.push_back(py::reinterpret_borrow<py::object>(key));
    return static_cast<std::int32_t>(keys.size() - 1);
}

/// One step of a program as _checked.py writes it: (op, operand, ...).
Step compile_step(PyObject* item, std::vector<py::object>& keys, Plan& plan) {
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) < 2) throw py::type_error("checked plan: malformed step");
    const Py_ssize_t size = PyTuple_GET_SIZE(item);
    const auto number = [&](Py_ssize_t i) { return static_cast<std::int64_t>(integer(PyTuple_GET_ITEM(item, i))); };
    const long long op = integer(PyTuple_GET_ITEM(item, 0));
    PyObject* operand = PyTuple_GET_ITEM(item, 1);
    if (op == 0 && size == 3) return Step{Operation::symbol, slot_of(keys, operand), number(2), 0};
    if (op == 1 && size == 3) return Step{Operation::extent, 0, number(1), number(2)};
    if (op == 2 && size == 4) {
        plan.uses_groups = true;
        const std::int64_t leading = number(2), trailing = number(3);
        if (leading < 0 || trailing < 0) throw py::value_error("checked plan: negative group bounds");
        return Step{Operation::group, slot_of(keys, operand), leading, trailing};
    }
    if (op == 3 && size == 2) return Step{Operation::min_ndim, 0, number(1), 0};
    if (op == 4 && size == 2) return Step{Operation::device, slot_of(keys, operand), 0, 0};
    if (op == 5 && size == 2) return Step{Operation::dtype, slot_of(keys, operand), 0, 0};
    throw py::type_error("checked plan: malformed step");
}

/// (position, name, expect, program, optional) of one checked parameter.
void compile_parameter(PyObject* item, std::vector<py::object>& keys, Plan& plan, std::vector<Parameter>& into) {
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 5) throw py::type_error("checked plan: malformed parameter");
    PyObject* name = PyTuple_GET_ITEM(item, 1);
    PyObject* expect = PyTuple_GET_ITEM(item, 2);
    PyObject* program = PyTuple_GET_ITEM(item, 3);
    const bool an_expect = reinterpret_cast<PyObject*>(Py_TYPE(expect)) == expect_class;
    if (!an_expect || (name != Py_None && !PyUnicode_CheckExact(name)) ||
        (program != Py_None && !PyTuple_Check(program))) {
        throw py::type_error("checked plan: malformed parameter");
    }
    const int optional = PyObject_IsTrue(PyTuple_GET_ITEM(item, 4));
    if (optional < 0) throw py::error_already_set();
    Parameter parameter{
        static_cast<Py_ssize_t>(integer(PyTuple_GET_ITEM(item, 0))), nullptr, nullptr, nullptr, optional == 1, {}};
    if (parameter.position < -1) throw py::value_error("checked plan: negative position");
    const Py_ssize_t steps = program == Py_None ? 0 : PyTuple_GET_SIZE(program);
    for (Py_ssize_t i = 0; i < steps; ++i) {
        parameter.program.push_back(compile_step(PyTuple_GET_ITEM(program, i), keys, plan));
    }
    into.push_back(std::move(parameter));  // first: the plan owns what is set below
    Parameter& placed_parameter = into.back();
    if (name != Py_None) {
        Py_INCREF(name);
        PyUnicode_InternInPlace(&name);  // as the keywords Python passes are: compared by address
        placed_parameter.name = name;
    }
    placed_parameter.expect = Py_NewRef(expect);
    placed_parameter.compiled = compiled_expect(expect);
}

/// _checked_install(wrapper, parameters, positional_limit, fail, returns=None, /) -> bool:
/// compiles the plan into the wrapper; False (nothing installed) for a plan larger than this
/// binder takes, or when the wrapper has one already. `returns`: the return value's
/// (position, name, expect, program, optional), position and name unused.
PyObject* install(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
    return detail::guarded([&]() -> PyObject* {
        if (nargs < 4 || nargs > 5 || !PyTuple_Check(args[1]) || !PyCallable_Check(args[3])) {
            throw py::type_error(
                "_checked_install(wrapper, parameters: tuple, positional_limit: int, fail, returns=None, /)");
        }
        CheckedFunction* self = as_checked_function(args[0]);
        const bool too_many = static_cast<std::size_t>(PyTuple_GET_SIZE(args[1])) > kMaxParameters;
        if (self->plan != nullptr || too_many) Py_RETURN_FALSE;
        auto plan = std::make_unique<Plan>();
        plan->positional_limit = static_cast<Py_ssize_t>(integer(args[2]));
        std::vector<py::object> keys;
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(args[1]); ++i) {
            compile_parameter(PyTuple_GET_ITEM(args[1], i), keys, *plan, plan->parameters);
        }
        if (nargs == 5 && args[4] != Py_None) compile_parameter(args[4], keys, *plan, plan->returns);
        if (keys.size() > kMaxSlots) Py_RETURN_FALSE;
        plan->slots = keys.size();
        plan->fail = Py_NewRef(args[3]);
        if (self->plan != nullptr) Py_RETURN_FALSE;  // a comparison above ran Python code
        self->plan = plan.release();
        Py_RETURN_TRUE;
    });
}

/// _checked_switch(enabled, /) -> bool: turns every checked function's checks on or off;
/// returns the previous state.
PyObject* switch_checks(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
    return detail::guarded([&]() -> PyObject* {
        if (nargs != 1) throw py::type_error("_checked_switch(enabled: bool, /)");
        const int enabled = PyObject_IsTrue(args[0]);
        if (enabled < 0) throw py::error_already_set();
        const bool previous = checks_on;
        checks_on = enabled == 1;
        return Py_NewRef(previous ? Py_True : Py_False);
    });
}

PyMethodDef make_def = {"_checked_function", detail::as_method(&make_checked_function), METH_FASTCALL,
                        "_checked_function(function, fallback, /)\n--\n\n"
                        "_checked_function(function: Callable, fallback: Callable, /) -> Callable\n\n"
                        "The callable of @optype_dlpack.checked (private: made by optype_dlpack._checked).\n"};

PyMethodDef install_def = {"_checked_install", detail::as_method(&install), METH_FASTCALL,
                           "_checked_install(wrapper, parameters, positional_limit, fail, returns=None, /)\n--\n\n"
                           "_checked_install(wrapper: Callable, parameters: tuple, positional_limit: int, fail: "
                           "Callable, returns: tuple | None = None, /) -> bool\n\n"
                           "Compiles a plan of @optype_dlpack.checked into its callable (private).\n"};

PyMethodDef switch_def = {"_checked_switch", detail::as_method(&switch_checks), METH_FASTCALL,
                          "_checked_switch(enabled, /)\n--\n\n"
                          "_checked_switch(enabled: bool, /) -> bool\n\n"
                          "Turns the checks of every @optype_dlpack.checked callable on or off (private).\n"};

}  // namespace

void register_checked_function(py::module_& m) {
    if (expect_class == nullptr) {
        py::object expect = m.attr("Expect");
        expect_class = expect.release().ptr();
    }
    if (checked_function_type == nullptr) {
        checked_function_type = reinterpret_cast<PyTypeObject*>(PyType_FromSpec(&spec));
        if (checked_function_type == nullptr) throw py::error_already_set();
    }
    m.add_object("_CheckedFunction",
                 py::reinterpret_borrow<py::object>(reinterpret_cast<PyObject*>(checked_function_type)));
    detail::add_function(m, &make_def);
    detail::add_function(m, &install_def);
    detail::add_function(m, &switch_def);
}

}  // namespace optype_dlpack::checked_plan

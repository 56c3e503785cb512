// optype_dlpack._core._checked_run: the per-call part of @optype_dlpack.checked (its plan is
// compiled once, in optype_dlpack/_checked.py). One native call checks every annotated argument
// of a call: each argument's Expect.validate, then the shape symbols, extents and device/dtype
// groups of the plan bound in one dict. A mismatch returns False; the Python side then finds
// every violation and says where (the slow path). Included once, by module.cpp.
#pragma once

#include <pybind11/pybind11.h>

#include "boundary.hpp"
#include "checked_function.hpp"
#include "optype_dlpack/pybind11.hpp"
#include "optype_dlpack/tensor_info.hpp"

#include <cstdint>
#include <string>

namespace optype_dlpack::checked_plan {

namespace py = pybind11;

/// The operations of a tensor's program, as _checked.py writes them: (op, operand, ...).
enum class Op : long { symbol = 0, extent = 1, group = 2, min_ndim = 3, device = 4, dtype = 5 };

/// Reads item `i` of `tuple` as a C long (an index, an extent, a count).
inline long long item_integer(PyObject* tuple, Py_ssize_t i) {
    const long long value = PyLong_AsLongLong(PyTuple_GET_ITEM(tuple, i));
    if (value == -1 && PyErr_Occurred() != nullptr) throw py::error_already_set();
    return value;
}

/// `index` (negative: from the end) as a position in an array of `ndim` extents.
inline std::int32_t position(long long index, std::int32_t ndim) {
    const long long at = index < 0 ? index + ndim : index;
    if (at < 0 || at >= ndim) throw py::index_error("checked plan: extent index out of range");
    return static_cast<std::int32_t>(at);
}

/// True when env[key] was unset (now `value`) or equal to `value`; steals `value`.
inline bool bind(PyObject* env, PyObject* key, PyObject* value) {
    py::object owned = py::reinterpret_steal<py::object>(value);
    if (!owned) throw py::error_already_set();
    PyObject* bound = PyDict_SetDefault(env, key, value);  // borrowed
    if (bound == nullptr) throw py::error_already_set();
    if (bound == value) return true;
    const int equal = PyObject_RichCompareBool(bound, value, Py_EQ);
    if (equal < 0) throw py::error_already_set();
    return equal == 1;
}

/// shape[first:last] as a tuple of ints (a new reference).
inline PyObject* extents(const TensorInfoRecord& r, std::int32_t first, std::int32_t last) {
    PyObject* out = PyTuple_New(last - first);
    for (std::int32_t i = first; out != nullptr && i < last; ++i) {
        PyObject* item = PyLong_FromLongLong(r.shape[i]);
        if (item == nullptr) Py_CLEAR(out);
        if (out != nullptr) PyTuple_SET_ITEM(out, i - first, item);
    }
    return out;
}

/// One step of a program against one tensor: false on a mismatch.
inline bool run_step(const TensorInfoRecord& r, PyObject* step, PyObject* env) {
    if (!PyTuple_Check(step) || PyTuple_GET_SIZE(step) < 2) throw py::type_error("checked plan: malformed step");
    const auto op = static_cast<Op>(item_integer(step, 0));
    PyObject* operand = PyTuple_GET_ITEM(step, 1);
    const Py_ssize_t size = PyTuple_GET_SIZE(step);
    switch (op) {
        case Op::symbol:
            if (size != 3) break;
            return bind(env, operand, PyLong_FromLongLong(r.shape[position(item_integer(step, 2), r.ndim)]));
        case Op::extent:
            if (size != 3) break;
            return r.shape[position(item_integer(step, 1), r.ndim)] == item_integer(step, 2);
        case Op::group: {
            if (size != 4) break;
            const auto leading = static_cast<std::int32_t>(item_integer(step, 2));
            const auto trailing = static_cast<std::int32_t>(item_integer(step, 3));
            if (leading < 0 || trailing < 0 || leading + trailing > r.ndim) return false;
            return bind(env, operand, extents(r, leading, r.ndim - trailing));
        }
        case Op::min_ndim: return r.ndim >= item_integer(step, 1);
        case Op::device:
            return bind(
                env, operand,
                Py_BuildValue("(ii)", static_cast<int>(r.device.device_type), static_cast<int>(r.device.device_id)));
        case Op::dtype:
            return bind(env, operand,
                        Py_BuildValue("(iii)", static_cast<int>(r.dtype.code), static_cast<int>(r.dtype.bits),
                                      static_cast<int>(r.dtype.lanes)));
    }
    throw py::type_error("checked plan: malformed step");
}

/// One argument: validate(value) -> TensorInfo, then its program. False on a mismatch.
inline bool run_argument(PyObject* validate, PyObject* value, PyObject* program, PyObject* env) {
    py::object info = py::reinterpret_steal<py::object>(PyObject_CallOneArg(validate, value));
    if (!info) throw py::error_already_set();
    if (program == Py_None) return true;
    TensorInfoRecord record{};
    if (detail::tensor_info_api().read(info.ptr(), &record) == 0) {
        throw py::type_error("checked plan: validate did not return a TensorInfo");
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(program); ++i) {
        if (!run_step(record, PyTuple_GET_ITEM(program, i), env)) return false;
    }
    return true;
}

/// _checked_run(steps, values, env, /) -> bool. steps: ((index, validate, program, optional), ...);
/// program: a tuple of steps, or None for a tensor whose Expect is all there is to check.
inline PyObject* checked_run(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
    return detail::guarded([&]() -> PyObject* {
        if (nargs != 3 || !PyTuple_Check(args[0]) || !PyTuple_Check(args[1]) || !PyDict_Check(args[2])) {
            throw py::type_error("_checked_run(steps: tuple, values: tuple, env: dict, /)");
        }
        PyObject* const steps = args[0];
        PyObject* const values = args[1];
        for (Py_ssize_t s = 0; s < PyTuple_GET_SIZE(steps); ++s) {
            PyObject* step = PyTuple_GET_ITEM(steps, s);
            const bool well_formed = PyTuple_Check(step) && PyTuple_GET_SIZE(step) == 4 &&
                                     (PyTuple_Check(PyTuple_GET_ITEM(step, 2)) || PyTuple_GET_ITEM(step, 2) == Py_None);
            if (!well_formed) throw py::type_error("checked plan: malformed argument step");
            const long long index = item_integer(step, 0);
            if (index < 0 || index >= PyTuple_GET_SIZE(values)) throw py::index_error("checked plan: no such argument");
            PyObject* value = PyTuple_GET_ITEM(values, static_cast<Py_ssize_t>(index));
            if (value == Py_None && PyObject_IsTrue(PyTuple_GET_ITEM(step, 3)) == 1) continue;
            if (!run_argument(PyTuple_GET_ITEM(step, 1), value, PyTuple_GET_ITEM(step, 2), args[2])) Py_RETURN_FALSE;
        }
        Py_RETURN_TRUE;
    });
}

inline PyMethodDef checked_run_def = {
    "_checked_run", detail::as_method(&checked_run), METH_FASTCALL,
    "_checked_run(steps, values, env, /)\n--\n\n"
    "_checked_run(steps: tuple[object, ...], values: tuple[object, ...], env: dict[object, object], /) -> bool\n\n"
    "The per-call checks of @optype_dlpack.checked (private: the plan is made by optype_dlpack._checked).\n"};

/// optype_dlpack.DLPackValidationError (borrowed, kept for the process).
inline PyObject* validation_error() {
    static PyObject* cls = nullptr;  // read and written with the GIL held
    if (cls == nullptr) {
        PyObject* found = PyObject_GetAttrString(detail::errors_module().ptr(), "DLPackValidationError");
        if (found == nullptr) throw py::error_already_set();
        cls = found;
    }
    return cls;
}

/// Expect.matches(x, /) -> bool: check(x) as a bool. False for a tensor that breaks a rule or a
/// constraint, and for an object that is neither a capsule nor a producer; any other error
/// (a producer's own) propagates.
inline PyObject* expect_matches(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    return detail::guarded([&]() -> PyObject* {
        if (nargs != 1) {
            throw py::type_error("Expect.matches() takes exactly one argument (" + std::to_string(nargs) + " given)");
        }
        PyObject* error_class = validation_error();
        // asked before the check: no attribute lookup may run while its error is pending
        const bool dlpack_object = PyCapsule_CheckExact(args[0]) || PyObject_HasAttrString(args[0], "__dlpack__") == 1;
        static PyObject* check_name = PyUnicode_InternFromString("check");
        PyObject* call[] = {self, args[0]};
        PyObject* result = PyObject_VectorcallMethod(check_name, call, 2, nullptr);
        if (result != nullptr) {
            Py_DECREF(result);
            Py_RETURN_TRUE;
        }
        if (PyErr_ExceptionMatches(error_class) || (!dlpack_object && PyErr_ExceptionMatches(PyExc_TypeError))) {
            PyErr_Clear();
            Py_RETURN_FALSE;
        }
        return nullptr;
    });
}

inline PyMethodDef expect_matches_def = {
    "matches", detail::as_method(&expect_matches), METH_FASTCALL,
    "matches($self, x, /)\n--\n\n"
    "matches(self: optype_dlpack._core.Expect, x: object, /) -> bool\n\n"
    "Whether x meets the constraints: check(x) as a bool (False for an object that is not a DLPack tensor).\n"};

}  // namespace optype_dlpack::checked_plan

/// Adds _checked_run to optype_dlpack._core, and Expect.matches (Expect must be bound).
inline void register_checked_plan(pybind11::module_& m) {
    optype_dlpack::detail::add_function(m, &optype_dlpack::checked_plan::checked_run_def);
    optype_dlpack::detail::add_method(m.attr("Expect"), &optype_dlpack::checked_plan::expect_matches_def);
    optype_dlpack::checked_plan::register_checked_function(m);
}

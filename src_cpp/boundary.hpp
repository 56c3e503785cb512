// The Python boundary of optype_dlpack._core (private to the extension, not installed):
// how a C++ body runs inside a CPython-convention function, how the package's errors are
// raised, how fast-call arguments are read, and how functions get their text signatures.
//
// Every public function and method of the extension is a METH_FASTCALL function (or, for
// pybind11-bound ones, is called through one) whose docstring opens with CPython's text
// signature, "name(x, /, *, copy=None)\n--\n\n", so that inspect.signature reads it. CPython
// strips that part from __doc__; the next line repeats the signature the way pybind11 writes
// it, which tests/typing/test_stub_parity.py compares with the stubs.
#pragma once

#include <pybind11/pybind11.h>

#include "optype_dlpack/pybind11.hpp"

#ifdef __GLIBCXX__
#include <cxxabi.h>
#endif
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <optional>
#include <string>
#include <utility>

namespace optype_dlpack::detail {

// ---------------------------------------------------------------------------------------
// Running C++ inside a CPython-convention function

/// Runs `body`, turning C++ and pybind11 exceptions into a set Python error (nullptr).
///
/// Not noexcept, and a forced unwind passes through: when the interpreter exits while a
/// daemon thread is in `body` (which calls back into Python), CPython ends the thread with
/// pthread_exit, whose unwind must reach the thread's start. Stopping it here, or at a
/// noexcept frame, aborts the process.
template <typename Body>
PyObject* guarded(Body&& body) {
    try {
        return body();
#ifdef __GLIBCXX__
    } catch (abi::__forced_unwind&) {
        throw;
#endif
    } catch (pybind11::error_already_set& error) {
        error.restore();
    } catch (pybind11::builtin_exception& error) {
        error.set_error();
    } catch (const std::bad_alloc&) {
        PyErr_NoMemory();
    } catch (const std::exception& error) {
        PyErr_SetString(PyExc_RuntimeError, error.what());
    } catch (...) {
        PyErr_SetString(PyExc_SystemError, "unknown C++ exception");
    }
    return nullptr;
}

// ---------------------------------------------------------------------------------------
// Errors. The package's own errors (DLPackValidationError and its subclasses) are raised from
// a Report by raise_report / raise_consumed (optype_dlpack/pybind11.hpp, shared with extension
// authors); everything else is a Python exception set here and carried out by
// py::error_already_set, which `guarded` restores.

[[noreturn]] inline void throw_error(PyObject* type, const std::string& message) {
    PyErr_SetString(type, message.c_str());
    throw pybind11::error_already_set();
}

[[noreturn]] inline void buffer_error(const std::string& message) { throw_error(PyExc_BufferError, message); }

// ---------------------------------------------------------------------------------------
// Arguments of METH_FASTCALL | METH_KEYWORDS functions

/// The parameters of a fast-call function: `positional` required positional-only arguments,
/// then up to kMaxKeywords optional keyword-only ones. Keyword names are interned once, on
/// construction (make these objects function-local statics, so that the GIL is held then):
/// the keywords Python passes are interned too, so a pointer comparison usually settles a
/// match, and reading the arguments allocates nothing. A keyword-only argument is reported
/// as given (its borrowed value) or omitted (nullptr), so None and "not passed" stay apart.
class Parameters {
public:
    static constexpr std::size_t kMaxKeywords = 8;

    template <std::size_t N>
    Parameters(const char* function, Py_ssize_t positional, const char* const (&keywords)[N])
        : Parameters(function, positional, keywords, N) {}
    Parameters(const char* function, Py_ssize_t positional) : Parameters(function, positional, nullptr, 0) {}

    std::size_t keyword_count() const noexcept { return count_; }

    /// Reads a call's arguments: the keyword-only ones into given[0..keyword_count()).
    /// Returns false with a TypeError set when the call does not fit the parameters.
    bool parse(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames, PyObject** given) const {
        if (nargs != positional_) {
            PyErr_Format(PyExc_TypeError, "%s() takes %zd positional argument%s but %zd were given", function_,
                         positional_, positional_ == 1 ? "" : "s", nargs);
            return false;
        }
        for (std::size_t k = 0; k < count_; ++k) given[k] = nullptr;
        if (kwnames == nullptr) return true;
        const Py_ssize_t passed = PyTuple_GET_SIZE(kwnames);
        if (kwnames == last_kwnames_) {  // the names of the last call: where each goes is known
            for (Py_ssize_t i = 0; i < passed; ++i) given[last_slots_[i]] = args[nargs + i];
            return true;
        }
        bool all_interned = static_cast<std::size_t>(passed) <= kMaxKeywords;
        std::uint8_t slots[kMaxKeywords] = {};
        for (Py_ssize_t i = 0; i < passed; ++i) {
            PyObject* key = PyTuple_GET_ITEM(kwnames, i);
            const std::size_t k = find(key);
            if (k == count_) {
                PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", function_, key);
                return false;
            }
            if (given[k] != nullptr) {
                PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", function_, names_[k]);
                return false;
            }
            given[k] = args[nargs + i];
            all_interned = all_interned && key == interned_[k];
            if (all_interned) slots[i] = static_cast<std::uint8_t>(k);
        }
        if (all_interned) remember_kwnames(kwnames, slots);
        return true;
    }

    /// parse(), raising py::error_already_set for a call that does not fit.
    void parse_or_throw(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames, PyObject** given) const {
        if (!parse(args, nargs, kwnames, given)) throw pybind11::error_already_set();
    }

private:
    Parameters(const char* function, Py_ssize_t positional, const char* const* keywords, std::size_t count)
        : function_(function), positional_(positional), count_(count < kMaxKeywords ? count : kMaxKeywords) {
        for (std::size_t k = 0; k < count_; ++k) {
            names_[k] = keywords[k];
            interned_[k] = PyUnicode_InternFromString(keywords[k]);  // kept for the process
            if (interned_[k] == nullptr) throw pybind11::error_already_set();
        }
    }

    /// Remembers `kwnames`, whose every name is one of interned_ (so exact, interned str), as
    /// the names of the last call, and `slots` as where each goes. A call site passes the same
    /// tuple (a constant of its code) on every call: the next call from it skips the matching.
    /// The tuple is held, so that its address cannot be reused while remembered; it is never
    /// released at exit (this object outlives the interpreter). Guarded by the GIL.
    void remember_kwnames(PyObject* kwnames, const std::uint8_t* slots) const {
        Py_INCREF(kwnames);
        PyObject* replaced = last_kwnames_;
        last_kwnames_ = kwnames;
        for (std::size_t i = 0; i < kMaxKeywords; ++i) last_slots_[i] = slots[i];
        Py_XDECREF(replaced);  // a tuple of str: releasing it runs no Python code
    }

    std::size_t find(PyObject* key) const {
        for (std::size_t k = 0; k < count_; ++k) {
            if (key == interned_[k]) return k;
        }
        for (std::size_t k = 0; k < count_; ++k) {  // a keyword built at run time, not interned
            if (PyUnicode_CompareWithASCIIString(key, names_[k]) == 0) return k;
        }
        return count_;
    }

    const char* function_;
    Py_ssize_t positional_;
    std::size_t count_;
    const char* names_[kMaxKeywords] = {};
    PyObject* interned_[kMaxKeywords] = {};
    mutable PyObject* last_kwnames_ = nullptr;            ///< held; see remember_kwnames
    mutable std::uint8_t last_slots_[kMaxKeywords] = {};  ///< keyword i of last_kwnames_ goes to given[last_slots_[i]]
};

/// None or omitted (nullptr) → nullopt; True/False → the value; anything else → TypeError.
inline std::optional<bool> optional_bool(PyObject* value, const char* function, const char* name) {
    if (value == nullptr || value == Py_None) return std::nullopt;
    if (value == Py_True) return true;
    if (value == Py_False) return false;
    PyErr_Format(PyExc_TypeError, "%s(): %s must be True, False or None, not %.200s", function, name,
                 Py_TYPE(value)->tp_name);
    throw pybind11::error_already_set();
}

// ---------------------------------------------------------------------------------------
// Binding functions and methods with text signatures

using FastCall = PyObject* (*)(PyObject*, PyObject* const*, Py_ssize_t);
using FastCallKeywords = PyObject* (*)(PyObject*, PyObject* const*, Py_ssize_t, PyObject*);

/// A fast-call function as the PyCFunction that PyMethodDef holds.
inline PyCFunction as_method(FastCall function) noexcept {
    return reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(function));
}
inline PyCFunction as_method(FastCallKeywords function) noexcept {
    return reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(function));
}

/// Adds `def` (static storage) to the module as a function.
inline void add_function(pybind11::module_& m, PyMethodDef* def) {
    auto function =
        pybind11::reinterpret_steal<pybind11::object>(PyCFunction_NewEx(def, nullptr, m.attr("__name__").ptr()));
    if (!function) throw pybind11::error_already_set();
    m.attr(def->ml_name) = function;
}

/// Sets `def` (static storage) on the class as an instance method, in place of what is there
/// (setting a dunder such as __repr__ updates the type's slot too).
inline void add_method(pybind11::handle cls, PyMethodDef* def) {
    auto* type = reinterpret_cast<PyTypeObject*>(cls.ptr());
    auto descriptor = pybind11::reinterpret_steal<pybind11::object>(PyDescr_NewMethod(type, def));
    if (!descriptor || PyObject_SetAttrString(cls.ptr(), def->ml_name, descriptor.ptr()) != 0) {
        throw pybind11::error_already_set();
    }
}

/// Sets `def` (static storage) on the class as a static method; `self` (borrowed, may be
/// nullptr) is what the C function receives as its first argument.
inline void add_static_method(pybind11::handle cls, PyMethodDef* def, pybind11::handle self) {
    auto function = pybind11::reinterpret_steal<pybind11::object>(PyCFunction_NewEx(def, self.ptr(), nullptr));
    if (!function) throw pybind11::error_already_set();
    auto method = pybind11::reinterpret_steal<pybind11::object>(PyStaticMethod_New(function.ptr()));
    if (!method || PyObject_SetAttrString(cls.ptr(), def->ml_name, method.ptr()) != 0) {
        throw pybind11::error_already_set();
    }
}

/// __class_getitem__ of the classes that are generic in the stubs (TensorInfo[DeviceTypeT]):
/// subscripting works at run time too, and gives the class itself (bound as `cls`).
inline PyObject* class_getitem(PyObject* cls, PyObject*) { return Py_NewRef(cls); }

/// For add_static_method(cls, &class_getitem_def, cls).
inline PyMethodDef class_getitem_def = {
    "__class_getitem__", &class_getitem, METH_O,
    "__class_getitem__(item, /)\n--\n\n__class_getitem__(item: object, /) -> type\n"};

/// A pybind11 function behind a fast-call function that carries its text signature (a
/// pybind11 function has none, and takes no attributes): the call goes to it unchanged, so
/// its conversions and error messages stay. `def` (static storage) must use call_bound.
inline PyObject* call_bound(PyObject* bound, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    return PyObject_Vectorcall(bound, args, static_cast<std::size_t>(nargs), kwnames);
}

inline void add_signed_function(pybind11::module_& m, PyMethodDef* def, const pybind11::cpp_function& bound) {
    auto function =
        pybind11::reinterpret_steal<pybind11::object>(PyCFunction_NewEx(def, bound.ptr(), m.attr("__name__").ptr()));
    if (!function) throw pybind11::error_already_set();
    m.attr(def->ml_name) = function;
}

}  // namespace optype_dlpack::detail

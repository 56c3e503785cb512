// Shared by the extension's translation units (not installed): runs a C++ body inside a
// CPython-convention function, turning exceptions into a set Python error.
#pragma once

#include <pybind11/pybind11.h>

#include "optype_dlpack/pybind11.hpp"

#ifdef __GLIBCXX__
#include <cxxabi.h>
#endif
#include <exception>
#include <new>
#include <utility>

namespace optype_dlpack::detail {

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

// unwind_safe<Object> (for references held across calls into Python) is in
// optype_dlpack/pybind11.hpp, beside the public code that needs it too.

}  // namespace optype_dlpack::detail

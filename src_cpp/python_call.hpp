// Shared by the extension's translation units (not installed): runs a C++ body inside a
// CPython-convention function, turning exceptions into a set Python error.
#pragma once

#include <pybind11/pybind11.h>

#include <exception>
#include <new>

namespace optype_dlpack::detail {

/// Runs `body`, turning C++ and pybind11 exceptions into a set Python error (nullptr).
template <typename Body>
PyObject* guarded(Body&& body) noexcept {
    try {
        return body();
    } catch (pybind11::error_already_set& error) {
        error.restore();
    } catch (pybind11::builtin_exception& error) {
        error.set_error();
    } catch (const std::bad_alloc&) {
        PyErr_NoMemory();
    } catch (const std::exception& error) {
        PyErr_SetString(PyExc_RuntimeError, error.what());
    }
    return nullptr;
}

}  // namespace optype_dlpack::detail

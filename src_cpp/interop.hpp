// What the interop translation units share (private to the extension, not installed):
// from_dlpack (DLPack → NumPy, zero-copy), to_dlpack (NumPy and buffer-protocol objects →
// capsule) and asdlpack (any array-like → an object with the full __dlpack__ /
// __dlpack_device__ protocol). docs/interop.md describes every rule.
//
//   numpy_bridge.cpp    dtypes both ways (ml_dtypes' from tables.hpp), arrays over memory
//   export_adapters.cpp NumPy arrays, buffers and the array interfaces described for export;
//                       export_described (capsules, copies) and to_dlpack
//   from_dlpack.cpp     from_dlpack
//   dlpack_object.cpp   asdlpack and DLPackObject, and register_interop
//
// The entry points are plain METH_FASTCALL functions and a small heap type rather than
// pybind11 bindings: each call costs a fraction of a microsecond, and __dlpack__ must tell an
// omitted keyword from an explicit None (boundary.hpp). pybind11 supplies the NumPy C-API table
// (pybind11/numpy.h), so NumPy is only needed at run time, and only by the functions that make
// or read NumPy arrays.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "boundary.hpp"
#include "optype_dlpack/check.hpp"
#include "optype_dlpack/export.hpp"
#include "optype_dlpack/tables.hpp"
#include "optype_dlpack/tensor_info.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace optype_dlpack::interop {

namespace py = pybind11;
namespace od = optype_dlpack;

using od::detail::buffer_error;
using od::detail::guarded;
using od::detail::raise_consumed;
using od::detail::raise_report;
using od::detail::throw_error;

// ---------------------------------------------------------------------------------------
// Messages

/// Clears an ordinary error of a best-effort step; raises anything else (KeyboardInterrupt,
/// SystemExit, a MemoryError is an Exception and is cleared too) so that it is never swallowed.
inline void clear_ordinary_error() {
    if (PyErr_Occurred() == nullptr) return;
    if (!PyErr_ExceptionMatches(PyExc_Exception)) throw py::error_already_set();
    PyErr_Clear();
}

/// repr(value) for a message: "<unprintable>" when repr() fails (an interrupt propagates).
inline std::string repr_of(PyObject* value) {
    PyObject* text = PyObject_Repr(value);
    if (text == nullptr) {
        clear_ordinary_error();
        return "<unprintable>";
    }
    const char* utf8 = PyUnicode_AsUTF8(text);
    std::string out = utf8 != nullptr ? utf8 : "<unprintable>";
    Py_DECREF(text);
    clear_ordinary_error();
    return out;
}

inline std::string device_name(const DLDevice& d) {
    return od::format_device(static_cast<std::int32_t>(d.device_type), d.device_id);
}

inline std::string dtype_name(const DLDataType& t) { return od::format_dtype(t.code, t.bits, t.lanes); }

/// The report's violations, one "\n  field: expected …, got … [rule]" line each (the text of
/// optype_dlpack.Violation), for messages that are not the package's own errors.
inline std::string violation_lines(const od::Report& report) {
    std::string out;
    for (const auto& v : report.violations()) {
        out += "\n  " + std::string(v.field) + ": expected " + v.expected + ", got " + v.got + " [" + v.rule + "]";
    }
    return out;
}

/// BufferError with the pending exception as its cause, and its words appended.
[[noreturn]] void buffer_error_from_pending(const std::string& message);

// ---------------------------------------------------------------------------------------
// NumPy (numpy_bridge.cpp), through pybind11's copy of its C-API table. Arrays cannot exist
// before NumPy is imported, so checking for one never imports it.

inline py::detail::npy_api& npy() { return py::detail::npy_api::get(); }

/// NumPy's ndarray type once NumPy is imported, else nullptr (an ndarray cannot exist
/// before; nullptr too when NumPy's C API cannot be loaded). Remembered once found.
PyTypeObject* ndarray_type();

bool is_ndarray(PyObject* obj);

/// Whether `obj` is a NumPy array whose DLPack export is NumPy's own: the exact type, or a
/// subclass that does not override __dlpack__. Such arrays are read directly; a subclass
/// with its own __dlpack__ (one that refuses, or exports read-only memory) is a producer
/// like any other and is asked through it.
bool exports_as_numpy(PyObject* obj);

/// The byte-order mark of a NumPy dtype or an array-interface typestr that is not native.
constexpr char kSwappedByteOrder = PY_LITTLE_ENDIAN ? '>' : '<';

inline std::size_t descr_itemsize(PyObject* descr) {
    return static_cast<std::size_t>(py::reinterpret_borrow<py::dtype>(descr).itemsize());
}

/// A DLPack dtype that NumPy can hold, with what the exporter must say about it.
struct DTypeMatch {
    DLDataType dtype{0, 0, 1};
    bool padded = false;  ///< one sub-byte element per byte (IS_SUBBYTE_TYPE_PADDED)
};

/// The DLPack dtype of a NumPy dtype; BufferError when there is none.
DTypeMatch dlpack_dtype_of_descr(PyObject* descr, const char* function);

/// A new reference to the NumPy dtype for a DLPack dtype; BufferError when there is none.
PyObject* numpy_descr_for(const DLDataType& t, bool padded);

constexpr int kNumpyMaxDims = 64;  // NumPy 2's NPY_MAXDIMS; NumPy 1 allows 32

inline int numpy_max_dims() { return npy().PyArray_RUNTIME_VERSION_ < 0x12 ? 32 : kNumpyMaxDims; }

/// A NumPy array over `data` (steals `descr`), with no base object yet: nothing keeps the
/// memory alive until the caller sets one (or copies), which it does before anyone else sees
/// the array. NumPy's refusal of the layout is BufferError: NumPy cannot hold the tensor.
py::object new_array(PyObject* descr, const DLTensor& t, Py_intptr_t* strides, void* data, bool writeable);

/// An independent, writeable copy of `array` (NumPy's MemoryError when it cannot allocate).
py::object independent_copy(const py::object& array, int order);

// ---------------------------------------------------------------------------------------
// Exportable memory (export_adapters.cpp)

/// Memory to export, with element strides.
struct Described {
    od::ExportSpec spec;
    od::Dims shape;
    od::Dims strides;  ///< in elements
    std::size_t itemsize = 0;
    bool readonly = false;
    bool padded = false;

    void finish() {
        spec.ndim = shape.size();
        spec.shape = shape.size() == 0 ? nullptr : shape.data();
        spec.strides = strides.size() == 0 ? nullptr : strides.data();
    }
    bool empty() const {
        for (auto extent : shape) {
            if (extent == 0) return true;
        }
        return false;
    }
    std::int64_t size() const {
        std::int64_t n = 1;
        for (auto extent : shape) n *= extent;
        return n;
    }
};

void describe_ndarray(PyObject* array, Described& d, const char* function);
void describe_buffer(const Py_buffer& view, Described& d, const char* function);
/// __array_interface__ (version 3). Returns what capsules must hold: the object, or a
/// memoryview when the memory is a buffer.
py::object describe_array_interface(PyObject* obj, Described& d);
/// __cuda_array_interface__ (versions 2 and 3); returns its consumer-facing 'stream'.
std::optional<std::int64_t> describe_cuda_interface(PyObject* obj, Described& d);

struct ExportRequest {
    bool versioned = true;
    std::optional<bool> readonly;  ///< to_dlpack's readonly argument
    std::optional<bool> copy;
    bool to_host = false;  ///< dl_device asked for kDLCPU memory of a device tensor
    const char* function = "to_dlpack";
};

/// A capsule over described memory (or over a copy of it), held alive by `keepalive`.
PyObject* export_described(const Described& d, PyObject* keepalive, const ExportRequest& r);

/// from_dlpack of a NumPy array: the result of from_dlpack(to_dlpack(x)) — the exporter's
/// rules (dtype, byte order, strides, READ_ONLY) — without building the capsule in between.
PyObject* view_of_ndarray(PyObject* x, std::optional<bool> copy);

// ---------------------------------------------------------------------------------------
// The module's functions (METH_FASTCALL | METH_KEYWORDS), registered by dlpack_object.cpp

PyObject* py_from_dlpack(PyObject*, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames);
PyObject* py_to_dlpack(PyObject*, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames);

}  // namespace optype_dlpack::interop

// optype_dlpack._core interop: from_dlpack (DLPack → NumPy, zero-copy), to_dlpack (NumPy and
// buffer-protocol objects → capsule) and asdlpack (any array-like → an object with the full
// __dlpack__ / __dlpack_device__ protocol).
//
// The entry points are plain METH_FASTCALL functions and a small heap type rather than
// pybind11 bindings: each call costs a fraction of a microsecond, and __dlpack__ must tell
// an omitted keyword from an explicit None (an omitted stream reaches a wrapped producer as
// the specification's default, None; an omitted max_version, dl_device or copy stays omitted).
// Each docstring carries the signature twice: as __text_signature__ (for inspect.signature)
// and, like pybind11's, as the first line of __doc__ (for the stub parity test).
// pybind11 supplies the NumPy C-API table (pybind11/numpy.h), so NumPy is only needed at
// run time, and only by the functions that make or read NumPy arrays.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <structmember.h>

#include "python_call.hpp"
#include "optype_dlpack/check.hpp"
#include "optype_dlpack/cuda.hpp"
#include "optype_dlpack/device_truth.hpp"
#include "optype_dlpack/export.hpp"
#include "optype_dlpack/import.hpp"
#include "optype_dlpack/tables.hpp"

#include <atomic>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <vector>

namespace py = pybind11;
namespace od = optype_dlpack;

namespace {

// ---------------------------------------------------------------------------------------
// Errors. Functions below throw py::error_already_set with the Python error already set;
// `guarded` turns every C++ exception into a Python one at the boundary.

[[noreturn]] void throw_error(PyObject* type, const std::string& message) {
    PyErr_SetString(type, message.c_str());
    throw py::error_already_set();
}

[[noreturn]] void buffer_error(const std::string& message) { throw_error(PyExc_BufferError, message); }

/// BufferError with the pending exception as its cause, and its words appended.
[[noreturn]] void buffer_error_from_pending(const std::string& message) {
    py::error_already_set cause;  // takes the pending exception
    const std::string text = message + " (" + cause.what() + ")";
    py::raise_from(cause, PyExc_BufferError, text.c_str());
    throw py::error_already_set();
}

/// Runs the producer's deleter of a taken tensor, leaving any pending exception as it was.
/// (Not noexcept: the deleter may run Python code, and so may see a forced unwind.)
void release_taken(od::TakenTensor& taken) {
    if (PyErr_Occurred() == nullptr) {
        taken.release();
        return;
    }
    od::detail::FetchedError pending;  // the one fetch-and-restore helper (acquire.hpp)
    taken.release();
    pending.restore();
}

using optype_dlpack::detail::guarded;

// The package's errors are raised as validate() raises them (one definition, in the public
// pybind11 header).
using optype_dlpack::detail::raise_consumed;
using optype_dlpack::detail::raise_report;

/// Clears an ordinary error of a best-effort step; raises anything else (KeyboardInterrupt,
/// SystemExit, a MemoryError is an Exception and is cleared too) so that it is never swallowed.
void clear_ordinary_error() {
    if (PyErr_Occurred() == nullptr) return;
    if (!PyErr_ExceptionMatches(PyExc_Exception)) throw py::error_already_set();
    PyErr_Clear();
}

/// repr(value) for a message: "<unprintable>" when repr() fails (an interrupt propagates).
std::string repr_of(PyObject* value) {
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

std::string device_name(const DLDevice& d) {
    return od::format_device(static_cast<std::int32_t>(d.device_type), d.device_id);
}

std::string dtype_name(const DLDataType& t) { return od::format_dtype(t.code, t.bits, t.lanes); }

// ---------------------------------------------------------------------------------------
// Keyword parsing for METH_FASTCALL | METH_KEYWORDS functions. Keyword-only parameters are
// reported as given (non-NULL) or omitted (NULL), so None and "not passed" stay distinct.

/// Keyword names, interned once: keywords Python passes are interned too, so a pointer
/// comparison usually settles the match.
template <std::size_t N>
struct Keywords {
    const char* const (&names)[N];
    PyObject* interned[N] = {};

    explicit Keywords(const char* const (&n)[N]) : names(n) {
        for (std::size_t k = 0; k < N; ++k) interned[k] = PyUnicode_InternFromString(names[k]);  // kept for good
    }

    std::size_t find(PyObject* key) const {
        for (std::size_t k = 0; k < N; ++k) {
            if (key == interned[k]) return k;
        }
        for (std::size_t k = 0; k < N; ++k) {
            if (PyUnicode_CompareWithASCIIString(key, names[k]) == 0) return k;
        }
        return N;
    }
};

template <std::size_t N>
void parse_arguments(const char* function, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
                     Py_ssize_t positional, const Keywords<N>& keywords, PyObject* (&out)[N]) {
    if (nargs != positional) {
        PyErr_Format(PyExc_TypeError, "%s() takes %zd positional argument%s but %zd were given", function,
                     positional, positional == 1 ? "" : "s", nargs);
        throw py::error_already_set();
    }
    for (auto& value : out) value = nullptr;
    const Py_ssize_t count = kwnames != nullptr ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t i = 0; i < count; ++i) {
        PyObject* key = PyTuple_GET_ITEM(kwnames, i);
        const std::size_t k = keywords.find(key);
        if (k == N) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", function, key);
            throw py::error_already_set();
        }
        if (out[k] != nullptr) {
            PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", function, keywords.names[k]);
            throw py::error_already_set();
        }
        out[k] = args[nargs + i];
    }
}

/// None/absent → nullopt; True/False → the value; anything else → TypeError.
std::optional<bool> optional_bool(PyObject* value, const char* function, const char* name) {
    if (value == nullptr || value == Py_None) return std::nullopt;
    if (value == Py_True) return true;
    if (value == Py_False) return false;
    PyErr_Format(PyExc_TypeError, "%s(): %s must be True, False or None, not %.200s", function, name,
                 Py_TYPE(value)->tp_name);
    throw py::error_already_set();
}

// ---------------------------------------------------------------------------------------
// NumPy, through pybind11's copy of its C-API table. Arrays cannot exist before NumPy is
// imported, so checking for one never imports it.

py::detail::npy_api& npy() { return py::detail::npy_api::get(); }

bool is_ndarray(PyObject* obj) {
    static std::atomic<PyTypeObject*> ndarray{nullptr};
    PyTypeObject* type = ndarray.load(std::memory_order_acquire);
    if (type == nullptr) {
        static PyObject* name = PyUnicode_InternFromString("numpy");  // leaked on purpose
        PyObject* numpy = name != nullptr ? PyImport_GetModule(name) : nullptr;
        if (numpy == nullptr) {
            PyErr_Clear();
            return false;
        }
        Py_DECREF(numpy);
        type = npy().PyArray_Type_;
        ndarray.store(type, std::memory_order_release);
    }
    return PyObject_TypeCheck(obj, type) != 0;
}

/// A new reference to what `type` offers as __dlpack__.
PyObject* dlpack_attribute_of(PyTypeObject* type) {
    static PyObject* name = PyUnicode_InternFromString("__dlpack__");  // leaked on purpose
    if (name == nullptr) throw py::error_already_set();
    PyObject* attribute = PyObject_GetAttr(reinterpret_cast<PyObject*>(type), name);
    if (attribute == nullptr) throw py::error_already_set();
    return attribute;
}

/// Whether `obj` is a NumPy array whose DLPack export is NumPy's own: the exact type, or a
/// subclass that does not override __dlpack__. Such arrays are read directly; a subclass
/// with its own __dlpack__ (one that refuses, or exports read-only memory) is a producer
/// like any other and is asked through it.
bool exports_as_numpy(PyObject* obj) {
    if (!is_ndarray(obj)) return false;
    PyTypeObject* ndarray = npy().PyArray_Type_;
    if (Py_TYPE(obj) == ndarray) return true;
    py::object own = py::reinterpret_steal<py::object>(dlpack_attribute_of(Py_TYPE(obj)));
    py::object numpys = py::reinterpret_steal<py::object>(dlpack_attribute_of(ndarray));
    return own.is(numpys);
}



std::size_t descr_itemsize(PyObject* descr) {
    return static_cast<std::size_t>(py::reinterpret_borrow<py::dtype>(descr).itemsize());
}

constexpr int kNpyHalf = 23;  // NPY_HALF: a stable value of NumPy's ABI, absent from pybind11's list
constexpr char kSwappedByteOrder = PY_LITTLE_ENDIAN ? '>' : '<';

// ---------------------------------------------------------------------------------------
// dtypes. NumPy's builtin types map by type number; bfloat16, float8/6/4 and the narrow
// integers come from ml_dtypes, which stores every element in its own byte (DLPack's
// IS_SUBBYTE_TYPE_PADDED layout for the sub-byte ones).

struct MlDtype {
    const char* name;
    std::uint8_t code;
    std::uint8_t bits;
};

constexpr MlDtype kMlDtypes[] = {
    {"bfloat16", kDLBfloat, 16},
    {"float8_e3m4", kDLFloat8_e3m4, 8},
    {"float8_e4m3", kDLFloat8_e4m3, 8},
    {"float8_e4m3b11fnuz", kDLFloat8_e4m3b11fnuz, 8},
    {"float8_e4m3fn", kDLFloat8_e4m3fn, 8},
    {"float8_e4m3fnuz", kDLFloat8_e4m3fnuz, 8},
    {"float8_e5m2", kDLFloat8_e5m2, 8},
    {"float8_e5m2fnuz", kDLFloat8_e5m2fnuz, 8},
    {"float8_e8m0fnu", kDLFloat8_e8m0fnu, 8},
    {"float6_e2m3fn", kDLFloat6_e2m3fn, 6},
    {"float6_e3m2fn", kDLFloat6_e3m2fn, 6},
    {"float4_e2m1fn", kDLFloat4_e2m1fn, 4},
    {"complex32", kDLComplex, 32},
    {"int4", kDLInt, 4},
    {"uint4", kDLUInt, 4},
    {"int2", kDLInt, 2},
    {"uint2", kDLUInt, 2},
    {"int1", kDLInt, 1},
    {"uint1", kDLUInt, 1},
};
constexpr std::size_t kMlCount = sizeof(kMlDtypes) / sizeof(kMlDtypes[0]);

/// ml_dtypes' scalar types (new references, kept for the process), or nullptr entries when
/// ml_dtypes lacks one. `import` decides whether ml_dtypes may be imported.
PyObject* const* ml_dtype_types(bool import) {
    static std::atomic<PyObject**> table{nullptr};
    if (PyObject** ready = table.load(std::memory_order_acquire)) return ready;
    PyObject* module = nullptr;
    if (import) {
        module = PyImport_ImportModule("ml_dtypes");
        if (module == nullptr) {
            // not installed (or broken): no dtype of its; an interrupt of the import propagates
            clear_ordinary_error();
            return nullptr;
        }
    } else {
        py::str name("ml_dtypes");
        module = PyImport_GetModule(name.ptr());
        if (module == nullptr) {
            PyErr_Clear();
            return nullptr;  // not imported: no array can have one of its dtypes
        }
    }
    auto** fresh = new PyObject*[kMlCount];
    for (std::size_t i = 0; i < kMlCount; ++i) {
        fresh[i] = PyObject_GetAttrString(module, kMlDtypes[i].name);  // an older ml_dtypes may lack some
        if (fresh[i] == nullptr) PyErr_Clear();
    }
    Py_DECREF(module);
    PyObject** expected = nullptr;
    if (!table.compare_exchange_strong(expected, fresh, std::memory_order_acq_rel)) {
        for (std::size_t i = 0; i < kMlCount; ++i) Py_XDECREF(fresh[i]);
        delete[] fresh;
        return expected;
    }
    return fresh;
}

/// A DLPack dtype that NumPy can hold, with what the exporter must say about it.
struct DTypeMatch {
    DLDataType dtype{0, 0, 1};
    bool padded = false;  ///< one sub-byte element per byte (IS_SUBBYTE_TYPE_PADDED)
};

/// The DLPack dtype of a NumPy dtype; BufferError when there is none.
DTypeMatch dlpack_dtype_of_descr(PyObject* descr, const char* function) {
    const auto* proxy = py::detail::array_descriptor_proxy(descr);
    const std::size_t itemsize = descr_itemsize(descr);
    if (proxy->byteorder == kSwappedByteOrder) {
        buffer_error(std::string(function) + ": dtype " + repr_of(descr) +
                     " has non-native byte order; DLPack tensors are native-endian (convert with "
                     "arr.astype(arr.dtype.newbyteorder('='))");
    }
    const auto bits = static_cast<std::uint8_t>(itemsize * 8);
    DTypeMatch out;
    switch (proxy->type_num) {
        case py::detail::npy_api::NPY_BOOL_:
            out.dtype = DLDataType{kDLBool, 8, 1};
            return out;
        case py::detail::npy_api::NPY_BYTE_:
        case py::detail::npy_api::NPY_SHORT_:
        case py::detail::npy_api::NPY_INT_:
        case py::detail::npy_api::NPY_LONG_:
        case py::detail::npy_api::NPY_LONGLONG_:
            out.dtype = DLDataType{kDLInt, bits, 1};
            return out;
        case py::detail::npy_api::NPY_UBYTE_:
        case py::detail::npy_api::NPY_USHORT_:
        case py::detail::npy_api::NPY_UINT_:
        case py::detail::npy_api::NPY_ULONG_:
        case py::detail::npy_api::NPY_ULONGLONG_:
            out.dtype = DLDataType{kDLUInt, bits, 1};
            return out;
        case kNpyHalf:
        case py::detail::npy_api::NPY_FLOAT_:
        case py::detail::npy_api::NPY_DOUBLE_:
            out.dtype = DLDataType{kDLFloat, bits, 1};
            return out;
        case py::detail::npy_api::NPY_CFLOAT_:
        case py::detail::npy_api::NPY_CDOUBLE_:
            out.dtype = DLDataType{kDLComplex, bits, 1};
            return out;
        default:
            break;
    }
    if (proxy->type_num >= 256) {  // NPY_USERDEF: user dtypes such as ml_dtypes'
        if (PyObject* const* types = ml_dtype_types(false)) {
            for (std::size_t i = 0; i < kMlCount; ++i) {
                if (types[i] != nullptr && types[i] == proxy->typeobj) {
                    out.dtype = DLDataType{kMlDtypes[i].code, kMlDtypes[i].bits, 1};
                    out.padded = kMlDtypes[i].bits < 8;
                    return out;
                }
            }
        }
    }
    buffer_error(std::string(function) + ": dtype " + repr_of(descr) +
                 " has no DLPack equivalent (DLPack holds booleans, integers, floats, complex numbers and "
                 "ml_dtypes' bfloat16/float8/float6/float4/int4 types; long double is not IEEE binary128)");
}

/// A new reference to the NumPy dtype for a DLPack dtype; BufferError when there is none.
PyObject* numpy_descr_for(const DLDataType& t, bool padded) {
    if (t.lanes != 1) {
        buffer_error("from_dlpack: dtype " + dtype_name(t) + " has " + std::to_string(t.lanes) +
                     " lanes; a NumPy array holds one value per element");
    }
    int type_num = -1;
    switch (t.code) {
        case kDLBool:
            if (t.bits == 8) type_num = py::detail::npy_api::NPY_BOOL_;
            break;
        case kDLInt:
            if (t.bits == 8) type_num = py::detail::npy_api::NPY_INT8_;
            if (t.bits == 16) type_num = py::detail::npy_api::NPY_INT16_;
            if (t.bits == 32) type_num = py::detail::npy_api::NPY_INT32_;
            if (t.bits == 64) type_num = py::detail::npy_api::NPY_INT64_;
            break;
        case kDLUInt:
            if (t.bits == 8) type_num = py::detail::npy_api::NPY_UINT8_;
            if (t.bits == 16) type_num = py::detail::npy_api::NPY_UINT16_;
            if (t.bits == 32) type_num = py::detail::npy_api::NPY_UINT32_;
            if (t.bits == 64) type_num = py::detail::npy_api::NPY_UINT64_;
            break;
        case kDLFloat:
            if (t.bits == 16) type_num = kNpyHalf;
            if (t.bits == 32) type_num = py::detail::npy_api::NPY_FLOAT_;
            if (t.bits == 64) type_num = py::detail::npy_api::NPY_DOUBLE_;
            break;
        case kDLComplex:  // (pybind11's NPY_COMPLEX*_ name the component type, not the complex one)
            if (t.bits == 64) type_num = py::detail::npy_api::NPY_CFLOAT_;
            if (t.bits == 128) type_num = py::detail::npy_api::NPY_CDOUBLE_;
            break;
        default:
            break;
    }
    if (type_num >= 0) {
        PyObject* descr = npy().PyArray_DescrFromType_(type_num);
        if (descr == nullptr) throw py::error_already_set();
        return descr;
    }
    for (std::size_t i = 0; i < kMlCount; ++i) {
        const MlDtype& ml = kMlDtypes[i];
        if (ml.code != t.code || ml.bits != t.bits) continue;
        if (ml.bits < 8 && !padded) {
            buffer_error("from_dlpack: dtype " + dtype_name(t) +
                         " is packed (several elements per byte, DLPack's default for sub-byte types); NumPy "
                         "(through ml_dtypes) holds one element per byte, which the producer signals with "
                         "IS_SUBBYTE_TYPE_PADDED");
        }
        PyObject* const* types = ml_dtype_types(true);
        if (types == nullptr) {
            buffer_error("from_dlpack: dtype " + dtype_name(t) +
                         " needs the ml_dtypes package for its NumPy dtype, and ml_dtypes is not installed "
                         "(pip install ml_dtypes)");
        }
        if (types[i] == nullptr) {
            buffer_error("from_dlpack: dtype " + dtype_name(t) + " needs ml_dtypes." + ml.name +
                         ", which the installed ml_dtypes lacks (upgrade ml_dtypes)");
        }
        PyObject* descr = nullptr;
        if (npy().PyArray_DescrConverter_(types[i], &descr) == 0 || descr == nullptr) {
            throw py::error_already_set();
        }
        return descr;
    }
    buffer_error("from_dlpack: dtype " + dtype_name(t) + " has no NumPy equivalent");
}

// ---------------------------------------------------------------------------------------
// from_dlpack

/// The base object of imported arrays: a capsule whose context says which struct it holds.
constexpr const char* kOwnerName = "optype_dlpack.dlpack_owner";
char versioned_marker;  // context of owners of versioned tensors (legacy ones have none)

/// Runs when the last array over an imported tensor dies, which may happen while an
/// exception is pending (an array dropped during unwinding): the deleter runs with it set
/// aside. Not noexcept: the deleter may run Python code.
void owner_destructor(PyObject* capsule) {
    void* managed = PyCapsule_GetPointer(capsule, kOwnerName);
    if (managed == nullptr) {
        PyErr_WriteUnraisable(capsule);
        return;
    }
    od::TakenTensor taken{managed, PyCapsule_GetContext(capsule) == &versioned_marker};
    release_taken(taken);
}

/// The base object of an imported array: runs the DLPack deleter once, when it dies.
/// Takes `taken` in every case (on failure its deleter has run).
PyObject* make_owner(od::TakenTensor taken) {
    PyObject* owner = PyCapsule_New(taken.managed, kOwnerName, &owner_destructor);
    if (owner == nullptr) {
        release_taken(taken);
        throw py::error_already_set();
    }
    if (taken.versioned) PyCapsule_SetContext(owner, &versioned_marker);  // cannot fail on a new capsule
    return owner;
}

/// Takes the tensor: only here is a capsule renamed "used_*". Raises when there is nothing
/// to take (another consumer took the capsule since it was read: take() says so with a
/// BufferError); the caller then drops what it made, and the tensor is not its to free.
od::TakenTensor take_tensor(od::HostImport& import) {
    od::TakenTensor taken = import.take();
    if (taken.managed != nullptr) return taken;
    if (!PyErr_Occurred()) buffer_error("from_dlpack: the capsule was consumed by another consumer while it was read");
    throw py::error_already_set();
}

/// Why the host cannot read a device, or "" when it can (`copy`: the caller's copy argument).
std::string unreadable_device(const DLDevice& device, std::optional<bool> copy) {
    const auto type = static_cast<std::int32_t>(device.device_type);
    if (od::host_accessible(type)) return "";
    if (type == kDLCUDA) {
        if (copy == true) return "";
        return "from_dlpack: the tensor is on " + device_name(device) +
               ", which the CPU cannot read" +
               (copy == false ? std::string(", and copy=False forbids copying it") : std::string()) +
               "; pass copy=True to copy it into host memory";
    }
    return "from_dlpack: the tensor is on " + device_name(device) +
           ", which the CPU cannot read; move it to the CPU with its own library first (copy=True copies from "
           "CUDA devices only)";
}

/// Element strides → NumPy byte strides. Strides of axes that are never stepped (extent 1,
/// or any axis of an empty tensor) are arbitrary in DLPack and may be huge: they become 0.
constexpr int kNumpyMaxDims = 64;  // NumPy 2's NPY_MAXDIMS; NumPy 1 allows 32

int numpy_max_dims() { return npy().PyArray_RUNTIME_VERSION_ < 0x12 ? 32 : kNumpyMaxDims; }

void byte_strides(const DLTensor& t, std::int64_t itemsize, bool empty, Py_intptr_t* out) {
    std::int64_t strides[kNumpyMaxDims];
    od::fill_strides(t, strides);
    for (std::int32_t i = 0; i < t.ndim; ++i) {
        std::int64_t bytes = 0;
        if (__builtin_mul_overflow(strides[i], itemsize, &bytes)) {
            if (!(empty || t.shape[i] <= 1)) buffer_error("from_dlpack: a stride overflows in bytes");
            bytes = 0;
        }
        out[i] = static_cast<Py_intptr_t>(bytes);
    }
}

/// A NumPy array over `data`, with no base object yet: nothing keeps the memory alive until
/// the caller sets one (or copies), which it does before anyone else sees the array. NumPy's
/// refusal of the layout (a shape whose byte count overflows, even with an extent of 0) is
/// BufferError: NumPy cannot hold the tensor.
py::object new_array(PyObject* descr, const DLTensor& t, Py_intptr_t* strides, void* data, bool writeable) {
    Py_intptr_t shape[kNumpyMaxDims];
    for (std::int32_t i = 0; i < t.ndim; ++i) shape[i] = static_cast<Py_intptr_t>(t.shape[i]);
    auto& api = npy();
    PyObject* array = api.PyArray_NewFromDescr_(api.PyArray_Type_, descr, t.ndim, shape, strides, data,
                                                writeable ? py::detail::npy_api::NPY_ARRAY_WRITEABLE_ : 0, nullptr);
    if (array == nullptr) {  // the descr reference was stolen either way
        if (PyErr_ExceptionMatches(PyExc_ValueError)) {
            buffer_error_from_pending("from_dlpack: NumPy cannot hold the tensor");
        }
        throw py::error_already_set();
    }
    return py::reinterpret_steal<py::object>(array);
}

/// An independent, writeable copy of `array` (NumPy's MemoryError when it cannot allocate).
py::object independent_copy(const py::object& array, int order) {
    PyObject* copy = npy().PyArray_NewCopy_(array.ptr(), order);
    if (copy == nullptr) throw py::error_already_set();
    return py::reinterpret_steal<py::object>(copy);
}

/// Copies a CUDA tensor's byte extent to host memory and returns an independent array.
/// The driver is asked before any host memory is allocated: without one, the answer is
/// BufferError whatever the tensor's size.
py::object copy_from_cuda(PyObject* descr, const DLTensor& t, const od::Geometry& geometry, Py_intptr_t* strides) {
    py::object holder = py::reinterpret_steal<py::object>(descr);
    const std::int64_t extent = geometry.byte_high - geometry.byte_low;
    if (extent > 0 && !od::cuda::driver_available()) {
        buffer_error("from_dlpack: copying the tensor from " + device_name(t.device) +
                     " needs the CUDA driver, which is unavailable (" + od::cuda::driver_unavailable_reason() + ")");
    }
    auto& api = npy();
    Py_intptr_t length = static_cast<Py_intptr_t>(extent);
    PyObject* bytes_descr = api.PyArray_DescrFromType_(py::detail::npy_api::NPY_UINT8_);
    if (bytes_descr == nullptr) throw py::error_already_set();
    py::object buffer = py::reinterpret_steal<py::object>(api.PyArray_NewFromDescr_(
        api.PyArray_Type_, bytes_descr, 1, &length, nullptr, nullptr, 0, nullptr));
    if (!buffer) throw py::error_already_set();
    char* host = py::detail::array_proxy(buffer.ptr())->data;
    if (extent > 0) {
        std::string error;
        const char* source = static_cast<const char*>(t.data) + geometry.byte_low;
        od::cuda::Status status = od::cuda::copy_to_host(host, source, static_cast<std::size_t>(extent), &error);
        if (status == od::cuda::Status::unavailable) {
            buffer_error("from_dlpack: copying the tensor from " + device_name(t.device) +
                         " needs the CUDA driver, which is unavailable (" + error + ")");
        }
        if (status != od::cuda::Status::ok) {
            buffer_error("from_dlpack: copying the tensor from " + device_name(t.device) + " failed: " + error);
        }
    }
    char* first = host + (static_cast<std::int64_t>(t.byte_offset) - geometry.byte_low);
    py::object view = new_array(holder.release().ptr(), t, strides, first, true);
    if (api.PyArray_SetBaseObject_(view.ptr(), buffer.release().ptr()) != 0) throw py::error_already_set();
    const int flags = py::detail::array_proxy(view.ptr())->flags;
    if ((flags & (py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_ | py::detail::npy_api::NPY_ARRAY_F_CONTIGUOUS_)) != 0) {
        return view;
    }
    return independent_copy(view, 0 /* NPY_CORDER */);
}

/// The label kDLCPU, kDLCUDAHost or kDLCUDAManaged promises memory the CPU can read. When
/// libcuda is loaded, a pointer may be device memory under such a label, and a host view of
/// it would crash on its first read: the driver is asked (device_truth.hpp), and a label
/// that hides device memory is refused. Other lies of these labels (ordinary host memory
/// labelled page-locked or managed) leave memory the CPU can read, and pass as before.
/// Without libcuda in the process no pointer can be CUDA memory, and nothing is asked.
void refuse_device_memory_under_host_label(const od::ManagedView& view, const od::Geometry& geometry) {
    const DLTensor& t = *view.tensor;
    const DLDeviceType type = t.device.device_type;
    if (type != kDLCPU && type != kDLCUDAHost && type != kDLCUDAManaged) return;
    if (geometry.size == 0 || !od::cuda::driver_loaded_in_process()) return;
    od::Report report;
    if (od::verify_device(view, geometry, od::VerifyDevice::automatic, report) != 0) return;  // true, or unknown
    // The label lied. Which memory does the tensor address, at either end?
    const auto data = reinterpret_cast<std::uintptr_t>(t.data);
    const std::uintptr_t ends[] = {data + static_cast<std::uintptr_t>(geometry.byte_low),
                                   data + static_cast<std::uintptr_t>(geometry.byte_high - 1)};
    for (std::uintptr_t address : ends) {
        od::cuda::PointerFacts facts;
        std::string error;
        const void* pointer = reinterpret_cast<const void*>(address);
        if (od::cuda::query_pointer(pointer, &facts, &error) != od::cuda::Status::ok) continue;
        if (facts.type != od::cuda::MemoryType::device) continue;
        std::string lie = "from_dlpack: data: the driver reports device memory on " +
                          device_name(DLDevice{kDLCUDA, facts.device_ordinal}) + " (at " + od::detail::hex(pointer) +
                          ") for a tensor labelled " + device_name(t.device) +
                          "; the CPU cannot read it, and a NumPy array over it would crash on its first read";
        for (const auto& v : report.violations()) {
            lie += "\n  " + std::string(v.field) + ": expected " + v.expected + ", got " + v.got + " [" + v.rule + "]";
        }
        buffer_error(lie);
    }
}

alignas(64) char empty_data[64];  // the data pointer of imported empty arrays: never read or written

/// from_dlpack of a NumPy array: the result of from_dlpack(to_dlpack(x)) — the exporter's
/// rules (dtype, byte order, strides, READ_ONLY) — without building the capsule in between.
PyObject* view_of_ndarray(PyObject* x, std::optional<bool> copy);

/// The NumPy array of an imported tensor whose memory the CPU can read. Nothing is consumed
/// until the array exists (and, with copy=True, until the copy exists): a failure before
/// leaves the capsule as it was.
PyObject* import_host_tensor(od::HostImport& import, PyObject* descr, Py_intptr_t* strides, bool empty,
                             std::optional<bool> copy) {
    const DLTensor& t = *import.view.tensor;
    // Legacy capsules cannot say whether the memory may be written: read-only, as NumPy does.
    const bool writeable = import.view.versioned && (import.view.flags & od::kFlagReadOnly) == 0;
    void* data = empty ? static_cast<void*>(empty_data) : static_cast<char*>(t.data) + t.byte_offset;
    py::object view = new_array(descr, t, strides, data, writeable);
    if (copy == true) {
        py::object independent = independent_copy(view, -1 /* NPY_KEEPORDER */);
        view = py::object();  // (it owns nothing: dropping it frees no memory)
        od::TakenTensor taken = take_tensor(import);  // read and copied: consumed, and freed now
        release_taken(taken);
        return independent.release().ptr();
    }
    PyObject* owner = make_owner(take_tensor(import));
    // The owner is stolen even on failure: dropping it then runs the deleter.
    if (npy().PyArray_SetBaseObject_(view.ptr(), owner) != 0) throw py::error_already_set();
    return view.release().ptr();
}

PyObject* from_dlpack_impl(PyObject* x, std::optional<bool> copy) {
    if (exports_as_numpy(x)) return view_of_ndarray(x, copy);
    npy();  // NumPy first: nothing is consumed if it is missing
    od::HostImport import;
    od::SourceError got = import.acquire(x);
    if (got == od::SourceError::consumed) raise_consumed(import.consumed_name);
    if (got == od::SourceError::python_error) throw py::error_already_set();

    od::Report report;
    od::Geometry geometry;
    // (a report can hold a violation even when check_structure returns true: flags.unknown)
    if (!od::check_structure(import.view, report, &geometry) || !report.ok()) raise_report(report);

    const DLTensor& t = *import.view.tensor;
    if (!od::host_accessible(static_cast<std::int32_t>(t.device.device_type))) {
        if (std::string why = unreadable_device(t.device, copy); !why.empty()) buffer_error(why);
    }
    const bool padded = (import.view.flags & od::kFlagSubbytePadded) != 0;
    PyObject* descr = numpy_descr_for(t.dtype, padded);
    py::object descr_holder = py::reinterpret_steal<py::object>(descr);
    // Finding the dtype may have run Python (the first import of ml_dtypes, an import hook),
    // and with it another consumer that took and freed the tensor: read nothing more unless
    // the capsule is still as it was read.
    if (!import.verify_unconsumed()) throw py::error_already_set();
    if (t.ndim > numpy_max_dims()) {
        buffer_error("from_dlpack: the tensor has " + std::to_string(t.ndim) + " dimensions; NumPy arrays have at most " +
                     std::to_string(numpy_max_dims()));
    }
    const auto itemsize = static_cast<std::int64_t>(descr_itemsize(descr));
    const bool empty = geometry.size == 0;
    Py_intptr_t strides[kNumpyMaxDims];
    byte_strides(t, itemsize, empty, strides);

    if (t.device.device_type == kDLCUDA) {
        py::object result = copy_from_cuda(descr_holder.release().ptr(), t, geometry, strides);
        od::TakenTensor taken = take_tensor(import);  // read and copied: consumed, and freed now
        release_taken(taken);
        return result.release().ptr();
    }
    refuse_device_memory_under_host_label(import.view, geometry);
    return import_host_tensor(import, descr_holder.release().ptr(), strides, empty, copy);
}

PyObject* py_from_dlpack(PyObject*, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    return guarded([&]() -> PyObject* {
        static const char* const names[] = {"copy"};
        static const Keywords keywords(names);
        PyObject* values[1];
        parse_arguments("from_dlpack", args, nargs, kwnames, 1, keywords, values);
        return from_dlpack_impl(args[0], optional_bool(values[0], "from_dlpack", "copy"));
    });
}

// ---------------------------------------------------------------------------------------
// Describing exportable memory: NumPy arrays, buffers, the array interfaces.

/// Extents or strides: inline up to 8 dimensions, so that describing a typical array
/// allocates nothing.
class Dims {
public:
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    std::int64_t* data() noexcept { return size_ <= kInline ? inline_ : heap_.data(); }
    const std::int64_t* data() const noexcept { return size_ <= kInline ? inline_ : heap_.data(); }
    std::int64_t& operator[](std::size_t i) noexcept { return data()[i]; }
    std::int64_t operator[](std::size_t i) const noexcept { return data()[i]; }
    const std::int64_t* begin() const noexcept { return data(); }
    const std::int64_t* end() const noexcept { return data() + size_; }

    void resize(std::size_t n) {
        if (n > kInline) heap_.resize(n);
        size_ = n;
    }
    void assign(std::size_t n, std::int64_t value) {
        resize(n);
        for (std::size_t i = 0; i < n; ++i) data()[i] = value;
    }
    template <class T>
    void assign(const T* first, const T* last) {
        resize(static_cast<std::size_t>(last - first));
        for (std::size_t i = 0; i < size_; ++i) data()[i] = static_cast<std::int64_t>(first[i]);
    }
    Dims& operator=(const std::vector<std::int64_t>& values) {
        assign(values.data(), values.data() + values.size());
        return *this;
    }

private:
    static constexpr std::size_t kInline = 8;
    std::size_t size_ = 0;
    std::int64_t inline_[kInline] = {};
    std::vector<std::int64_t> heap_;
};

/// Memory to export, with element strides.
struct Described {
    od::ExportSpec spec;
    Dims shape;
    Dims strides;  ///< in elements
    std::size_t itemsize = 0;
    bool readonly = false;
    bool padded = false;

    void finish() {
        spec.ndim = static_cast<std::int32_t>(shape.size());
        spec.shape = shape.empty() ? nullptr : shape.data();
        spec.strides = strides.empty() ? nullptr : strides.data();
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

/// Byte strides → element strides; BufferError where a stride that is stepped is not a
/// multiple of the item size.
void set_strides(Described& d, const Py_ssize_t* bytes, const char* function) {
    const auto itemsize = static_cast<std::int64_t>(d.itemsize);
    const bool empty = d.empty();
    d.strides.resize(d.shape.size());
    for (std::size_t i = 0; i < d.shape.size(); ++i) {
        const auto stride = static_cast<std::int64_t>(bytes[i]);
        if (stride % itemsize != 0 && !empty && d.shape[i] > 1) {
            buffer_error(std::string(function) + ": stride " + std::to_string(stride) + " bytes of axis " +
                         std::to_string(i) + " is not a multiple of the item size (" + std::to_string(itemsize) +
                         " bytes); DLPack strides count elements");
        }
        d.strides[i] = stride / itemsize;
    }
}

void describe_ndarray(PyObject* array, Described& d, const char* function) {
    const auto* proxy = py::detail::array_proxy(array);
    DTypeMatch match = dlpack_dtype_of_descr(proxy->descr, function);
    d.itemsize = descr_itemsize(proxy->descr);
    d.spec.dtype = match.dtype;
    d.padded = match.padded;
    d.spec.data = proxy->data;
    d.spec.device = DLDevice{kDLCPU, 0};
    d.readonly = (proxy->flags & py::detail::npy_api::NPY_ARRAY_WRITEABLE_) == 0;
    d.shape.assign(proxy->dimensions, proxy->dimensions + proxy->nd);
    set_strides(d, proxy->strides, function);
    d.finish();
}

std::string format_or_default(const char* format) { return format != nullptr ? format : "B"; }

/// The DLPack dtype of a buffer-protocol format string (struct module syntax).
DLDataType dtype_of_format(const char* format, std::size_t itemsize, const char* function) {
    const char* f = format != nullptr ? format : "B";
    const char order = (*f == '@' || *f == '=' || *f == '<' || *f == '>' || *f == '!') ? *f++ : '@';
    const bool swapped = PY_LITTLE_ENDIAN ? (order == '>' || order == '!') : order == '<';
    auto bits = static_cast<std::uint8_t>(itemsize * 8);
    std::uint8_t code = 255;
    if (f[0] != '\0' && f[1] == '\0') {
        switch (f[0]) {
            case 'b': case 'h': case 'i': case 'l': case 'q': case 'n':
                code = kDLInt;
                break;
            case 'B': case 'H': case 'I': case 'L': case 'Q': case 'N':
                code = kDLUInt;
                break;
            case 'e': case 'f': case 'd':
                code = kDLFloat;
                break;
            case '?':
                code = kDLBool;
                break;
            default:
                break;
        }
    } else if (f[0] == 'Z' && (f[1] == 'f' || f[1] == 'd') && f[2] == '\0') {
        code = kDLComplex;
    }
    if (code == 255 || itemsize == 0 || itemsize > 16) {
        buffer_error(std::string(function) + ": buffer format '" + format_or_default(format) +
                     "' has no DLPack dtype (expected a bool, integer, float or complex format such as 'f' or 'q')");
    }
    if (swapped && itemsize > 1) {
        buffer_error(std::string(function) + ": buffer format '" + format_or_default(format) +
                     "' has non-native byte order; DLPack tensors are native-endian");
    }
    return DLDataType{code, bits, 1};
}

void describe_buffer(const Py_buffer& view, Described& d, const char* function) {
    if (view.suboffsets != nullptr) {
        buffer_error(std::string(function) + ": the buffer is indirect (suboffsets), which DLPack cannot describe");
    }
    d.itemsize = static_cast<std::size_t>(view.itemsize);
    d.spec.dtype = dtype_of_format(view.format, d.itemsize, function);
    d.spec.data = view.buf;
    d.spec.device = DLDevice{kDLCPU, 0};
    d.readonly = view.readonly != 0;
    if (view.ndim > od::kMaxNdim) buffer_error(std::string(function) + ": too many dimensions");
    if (view.ndim == 0) {
        d.finish();
        return;
    }
    d.shape.assign(view.shape, view.shape + view.ndim);
    if (view.strides != nullptr) {
        set_strides(d, view.strides, function);
    } else {  // C-contiguous
        std::vector<Py_ssize_t> bytes(d.shape.size());
        Py_ssize_t step = view.itemsize;
        for (std::size_t i = d.shape.size(); i-- > 0;) {
            bytes[i] = step;
            step *= static_cast<Py_ssize_t>(d.shape[i] > 0 ? d.shape[i] : 1);
        }
        set_strides(d, bytes.data(), function);
    }
    d.finish();
}

/// An int from a dict entry; TypeError naming the interface and key otherwise.
std::int64_t int_entry(PyObject* value, const char* interface, const char* key) {
    if (!PyLong_Check(value) || PyBool_Check(value)) {
        PyErr_Format(PyExc_TypeError, "%s['%s']: expected an int, got %.200s", interface, key, Py_TYPE(value)->tp_name);
        throw py::error_already_set();
    }
    long long v = PyLong_AsLongLong(value);
    if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
    return static_cast<std::int64_t>(v);
}

std::vector<std::int64_t> int_tuple_entry(PyObject* value, const char* interface, const char* key) {
    if (!PyTuple_Check(value)) {
        PyErr_Format(PyExc_TypeError, "%s['%s']: expected a tuple of int, got %.200s", interface, key,
                     Py_TYPE(value)->tp_name);
        throw py::error_already_set();
    }
    std::vector<std::int64_t> out;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(value); ++i) out.push_back(int_entry(PyTuple_GET_ITEM(value, i), interface, key));
    if (out.size() > static_cast<std::size_t>(od::kMaxNdim)) buffer_error(std::string(interface) + ": too many dimensions");
    return out;
}

/// The DLPack dtype of an array-interface typestr ("<f8", "|b1", "<c16", ...).
DLDataType dtype_of_typestr(PyObject* value, std::size_t* itemsize, const char* interface) {
    if (!PyUnicode_Check(value)) {
        PyErr_Format(PyExc_TypeError, "%s['typestr']: expected a str, got %.200s", interface, Py_TYPE(value)->tp_name);
        throw py::error_already_set();
    }
    const char* text = PyUnicode_AsUTF8(value);
    if (text == nullptr) throw py::error_already_set();
    const std::string typestr = text;
    std::uint64_t size = 0;
    bool digits = typestr.size() >= 3;
    for (std::size_t i = 2; digits && i < typestr.size(); ++i) {
        digits = typestr[i] >= '0' && typestr[i] <= '9' && size < 1000;
        size = size * 10 + static_cast<std::uint64_t>(typestr[i] - '0');
    }
    const char order = typestr.empty() ? '?' : typestr[0];
    const char kind = typestr.size() > 1 ? typestr[1] : '?';
    if (!digits || size == 0 || (order != '<' && order != '>' && order != '|' && order != '=')) {
        PyErr_Format(PyExc_ValueError, "%s['typestr']: cannot read %R (expected e.g. '<f8')", interface, value);
        throw py::error_already_set();
    }
    const bool swapped = size > 1 && order == kSwappedByteOrder;
    std::uint8_t code = 255;
    switch (kind) {
        case 'b': code = size == 1 ? kDLBool : 255; break;
        case 'i': code = kDLInt; break;
        case 'u': code = kDLUInt; break;
        case 'f': code = (size == 2 || size == 4 || size == 8) ? kDLFloat : 255; break;
        case 'c': code = (size == 8 || size == 16) ? kDLComplex : 255; break;
        default: break;
    }
    if (code == kDLInt || code == kDLUInt) {
        if (size != 1 && size != 2 && size != 4 && size != 8) code = 255;
    }
    if (code == 255) {
        buffer_error(std::string(interface) + ": typestr '" + typestr +
                     "' has no DLPack dtype (expected a bool, integer, float or complex type)");
    }
    if (swapped) {
        buffer_error(std::string(interface) + ": typestr '" + typestr +
                     "' has non-native byte order; DLPack tensors are native-endian");
    }
    *itemsize = static_cast<std::size_t>(size);
    return DLDataType{code, static_cast<std::uint8_t>(size * 8), 1};
}

PyObject* dict_item(PyObject* dict, const char* key) {
    PyObject* value = PyDict_GetItemString(dict, key);  // borrowed; NULL when absent
    return value;
}

/// The structural rules of check.hpp, applied to what an interface described.
od::Geometry check_described(const Described& d, const char* interface) {
    DLTensor t{};
    t.data = d.spec.data;
    t.device = d.spec.device;
    t.ndim = d.spec.ndim;
    t.dtype = d.spec.dtype;
    t.shape = const_cast<std::int64_t*>(d.spec.shape);
    t.strides = const_cast<std::int64_t*>(d.spec.strides);
    t.byte_offset = d.spec.byte_offset;
    od::ManagedView view;
    view.tensor = &t;
    view.versioned = true;
    view.version = DLPackVersion{DLPACK_MAJOR_VERSION, DLPACK_MINOR_VERSION};
    od::Report report;
    od::Geometry geometry;
    if (!od::check_structure(view, report, &geometry) || !report.ok()) {
        std::string message = std::string(interface) + " describes no valid tensor:";
        for (const auto& v : report.violations()) {
            message += "\n  " + std::string(v.field) + ": expected " + v.expected + ", got " + v.got + " [" + v.rule + "]";
        }
        buffer_error(message);
    }
    return geometry;
}

/// Shape, typestr and strides, common to both array interfaces.
void describe_interface_layout(PyObject* dict, Described& d, const char* interface) {
    PyObject* shape = dict_item(dict, "shape");
    PyObject* typestr = dict_item(dict, "typestr");
    if (shape == nullptr || typestr == nullptr) {
        PyErr_Format(PyExc_TypeError, "%s: missing the required '%s' entry", interface, shape == nullptr ? "shape" : "typestr");
        throw py::error_already_set();
    }
    d.shape = int_tuple_entry(shape, interface, "shape");
    d.spec.dtype = dtype_of_typestr(typestr, &d.itemsize, interface);
    PyObject* mask = dict_item(dict, "mask");
    if (mask != nullptr && mask != Py_None) {
        buffer_error(std::string(interface) + ": masked arrays cannot be exported ('mask' is not None)");
    }
    PyObject* strides = dict_item(dict, "strides");
    if (strides != nullptr && strides != Py_None) {
        std::vector<std::int64_t> bytes = int_tuple_entry(strides, interface, "strides");
        if (bytes.size() != d.shape.size()) {
            buffer_error(std::string(interface) + ": 'strides' has " + std::to_string(bytes.size()) +
                         " entries for " + std::to_string(d.shape.size()) + " dimensions");
        }
        std::vector<Py_ssize_t> as_ssize(bytes.begin(), bytes.end());
        set_strides(d, as_ssize.data(), interface);
    } else {  // C-contiguous
        d.strides.assign(d.shape.size(), 0);
        std::int64_t step = 1;
        for (std::size_t i = d.shape.size(); i-- > 0;) {
            d.strides[i] = step;
            if (d.shape[i] > 0 && __builtin_mul_overflow(step, d.shape[i], &step)) {
                buffer_error(std::string(interface) + ": the shape's element count overflows");
            }
        }
    }
}

PyObject* interface_dict(PyObject* obj, const char* attribute) {
    PyObject* dict = PyObject_GetAttrString(obj, attribute);
    if (dict == nullptr) throw py::error_already_set();
    if (!PyDict_Check(dict)) {
        PyErr_Format(PyExc_TypeError, "%.200s.%s: expected a dict, got %.200s", Py_TYPE(obj)->tp_name, attribute,
                     Py_TYPE(dict)->tp_name);
        Py_DECREF(dict);
        throw py::error_already_set();
    }
    return dict;
}

/// __array_interface__ (version 3). Returns what capsules must hold: the object, or a
/// memoryview when the memory is a buffer.
py::object describe_array_interface(PyObject* obj, Described& d) {
    constexpr const char* interface = "__array_interface__";
    py::object dict = py::reinterpret_steal<py::object>(interface_dict(obj, interface));
    PyObject* version = dict_item(dict.ptr(), "version");
    if (version == nullptr || !PyLong_Check(version) || PyLong_AsLong(version) != 3) {
        PyErr_Clear();
        buffer_error(std::string(interface) + ": only version 3 is supported, got " +
                     (version != nullptr ? repr_of(version) : std::string("no 'version' entry")));
    }
    describe_interface_layout(dict.ptr(), d, interface);
    py::object keepalive = py::reinterpret_borrow<py::object>(obj);
    PyObject* data = dict_item(dict.ptr(), "data");
    if (data != nullptr && PyTuple_Check(data)) {
        if (PyTuple_GET_SIZE(data) != 2 || !PyBool_Check(PyTuple_GET_ITEM(data, 1))) {
            PyErr_SetString(PyExc_TypeError, "__array_interface__['data']: expected (pointer, readonly)");
            throw py::error_already_set();
        }
        const std::int64_t pointer = int_entry(PyTuple_GET_ITEM(data, 0), interface, "data");
        d.spec.data = reinterpret_cast<void*>(static_cast<std::uintptr_t>(pointer));
        d.readonly = PyTuple_GET_ITEM(data, 1) == Py_True;
    } else {
        // The memory is a buffer: the 'data' object's, or the object's own when absent.
        PyObject* holder = (data != nullptr && data != Py_None) ? data : obj;
        PyObject* view = PyMemoryView_FromObject(holder);
        if (view == nullptr) throw py::error_already_set();
        keepalive = py::reinterpret_steal<py::object>(view);
        const Py_buffer* buffer = PyMemoryView_GET_BUFFER(view);
        std::int64_t offset = 0;
        if (PyObject* value = dict_item(dict.ptr(), "offset")) offset = int_entry(value, interface, "offset");
        if (offset < 0 || offset > static_cast<std::int64_t>(buffer->len)) {
            buffer_error("__array_interface__['offset']: " + std::to_string(offset) + " lies outside the buffer's " +
                         std::to_string(buffer->len) + " bytes");
        }
        d.spec.data = static_cast<char*>(buffer->buf) + offset;
        d.readonly = buffer->readonly != 0;
    }
    d.spec.device = DLDevice{kDLCPU, 0};
    d.finish();
    check_described(d, interface);
    return keepalive;
}

/// The consumer-facing CUDA stream of a __cuda_array_interface__ (v3 'stream' entry).
std::optional<std::int64_t> interface_stream(PyObject* dict) {
    PyObject* stream = dict_item(dict, "stream");
    if (stream == nullptr || stream == Py_None) return std::nullopt;
    const std::int64_t value = int_entry(stream, "__cuda_array_interface__", "stream");
    if (value == 0) {
        buffer_error("__cuda_array_interface__['stream']: 0 is disallowed by the CUDA array interface (ambiguous)");
    }
    if (value < 0) {
        buffer_error("__cuda_array_interface__['stream']: expected a stream handle > 0, got " + std::to_string(value));
    }
    return value;
}

/// The device of CUDA memory, from the driver (never assumed).
DLDevice cuda_device_of(const void* pointer) {
    if (pointer == nullptr) return DLDevice{kDLCUDA, 0};  // empty arrays point nowhere: see docs/interop.md
    od::cuda::PointerFacts facts;
    std::string error;
    od::cuda::Status status = od::cuda::query_pointer(pointer, &facts, &error);
    if (status == od::cuda::Status::unavailable) {
        buffer_error("asdlpack: __cuda_array_interface__ memory needs the CUDA driver to tell which device holds it, "
                     "and the driver is unavailable (" + error + ")");
    }
    if (status != od::cuda::Status::ok) {
        buffer_error("asdlpack: the CUDA driver could not describe the __cuda_array_interface__ pointer: " + error);
    }
    const std::int32_t ordinal = facts.device_ordinal >= 0 ? facts.device_ordinal : 0;
    switch (facts.type) {
        case od::cuda::MemoryType::device:
            return DLDevice{kDLCUDA, ordinal};
        case od::cuda::MemoryType::managed:
            return DLDevice{kDLCUDAManaged, ordinal};
        case od::cuda::MemoryType::host_pinned:
            return DLDevice{kDLCUDAHost, 0};
        case od::cuda::MemoryType::host_unregistered:
            break;
    }
    buffer_error("asdlpack: the __cuda_array_interface__ pointer " + od::detail::hex(pointer) +
                 " is not memory the CUDA driver knows");
}

std::optional<std::int64_t> describe_cuda_interface(PyObject* obj, Described& d) {
    constexpr const char* interface = "__cuda_array_interface__";
    py::object dict = py::reinterpret_steal<py::object>(interface_dict(obj, interface));
    PyObject* version = dict_item(dict.ptr(), "version");
    const long v = (version != nullptr && PyLong_Check(version)) ? PyLong_AsLong(version) : -1;
    if (v != 2 && v != 3) {
        PyErr_Clear();
        buffer_error(std::string(interface) + ": versions 2 and 3 are supported, got " +
                     (version != nullptr ? repr_of(version) : std::string("no 'version' entry")));
    }
    describe_interface_layout(dict.ptr(), d, interface);
    PyObject* data = dict_item(dict.ptr(), "data");
    if (data == nullptr || !PyTuple_Check(data) || PyTuple_GET_SIZE(data) != 2 ||
        !PyBool_Check(PyTuple_GET_ITEM(data, 1))) {
        PyErr_SetString(PyExc_TypeError, "__cuda_array_interface__['data']: expected (pointer, readonly)");
        throw py::error_already_set();
    }
    const std::int64_t pointer = int_entry(PyTuple_GET_ITEM(data, 0), interface, "data");
    d.spec.data = reinterpret_cast<void*>(static_cast<std::uintptr_t>(pointer));
    d.readonly = PyTuple_GET_ITEM(data, 1) == Py_True;
    std::optional<std::int64_t> stream = v >= 3 ? interface_stream(dict.ptr()) : std::nullopt;
    d.finish();
    d.spec.device = DLDevice{kDLCUDA, 0};  // checked with a placeholder device, then asked for real
    check_described(d, interface);
    d.spec.device = cuda_device_of(d.spec.data);
    return stream;
}

// ---------------------------------------------------------------------------------------
// Exporting described memory as a capsule.

struct ExportRequest {
    bool versioned = true;
    std::optional<bool> readonly;  ///< to_dlpack's readonly argument
    std::optional<bool> copy;
    bool to_host = false;           ///< dl_device asked for kDLCPU memory of a device tensor
    const char* function = "to_dlpack";
};

/// Extent in bytes [low, high) relative to element 0.
std::pair<std::int64_t, std::int64_t> byte_extent(const Described& d) {
    if (d.empty()) return {0, 0};
    std::int64_t low = 0, high = 0;
    const auto itemsize = static_cast<std::int64_t>(d.itemsize);
    for (std::size_t i = 0; i < d.shape.size(); ++i) {
        const std::int64_t reach = (d.shape[i] - 1) * d.strides[i] * itemsize;
        (reach < 0 ? low : high) += reach;
    }
    return {low, high + itemsize};
}

PyObject* export_described(const Described& d, PyObject* keepalive, const ExportRequest& r) {
    od::ExportSpec spec = d.spec;
    const bool readonly = r.readonly.value_or(d.readonly);
    if (r.readonly == false && d.readonly) {
        buffer_error(std::string(r.function) + ": the memory is read-only; readonly=False would let consumers write to it");
    }
    const bool copying = r.copy == true || r.to_host;
    if (!copying && readonly && !r.versioned) {
        buffer_error(std::string(r.function) +
                     ": a legacy 'dltensor' capsule cannot mark memory read-only (DLPack 0.x has no flags); "
                     "ask for a versioned capsule");
    }
    if (d.padded && !r.versioned) {
        buffer_error(std::string(r.function) + ": dtype " + dtype_name(d.spec.dtype) +
                     " is stored one element per byte, which only a versioned capsule can say "
                     "(IS_SUBBYTE_TYPE_PADDED)");
    }
    spec.flags = (d.padded ? od::kFlagSubbytePadded : 0) | (!copying && readonly ? od::kFlagReadOnly : 0) |
                 (copying ? od::kFlagIsCopied : 0);
    if (!r.versioned) spec.flags = 0;
    if (!copying) return od::make_capsule(spec, keepalive, nullptr, r.versioned);

    if (d.spec.ndim > od::kMaxNdim) buffer_error(std::string(r.function) + ": too many dimensions");
    const char* first = static_cast<const char*>(d.spec.data) + d.spec.byte_offset;
    if (r.to_host) {  // device memory: copy the byte extent, keep the layout
        auto [low, high] = byte_extent(d);
        if (high > low && !od::cuda::driver_available()) {  // asked before any host memory is allocated
            buffer_error(std::string(r.function) + ": copying from " + device_name(d.spec.device) +
                         " to host memory needs the CUDA driver, which is unavailable (" +
                         od::cuda::driver_unavailable_reason() + ")");
        }
        void* host = od::allocate_export_data(static_cast<std::size_t>(high - low));
        if (high > low) {
            std::string error;
            od::cuda::Status status =
                od::cuda::copy_to_host(host, first + low, static_cast<std::size_t>(high - low), &error);
            if (status != od::cuda::Status::ok) {
                std::free(host);
                buffer_error(std::string(r.function) + ": copying from " + device_name(d.spec.device) +
                             " to host memory " +
                             (status == od::cuda::Status::unavailable ? "needs the CUDA driver, which is unavailable ("
                                                                      : "failed (") +
                             error + ")");
            }
        }
        spec.data = host != nullptr ? static_cast<char*>(host) - low : nullptr;
        spec.byte_offset = 0;
        spec.device = DLDevice{kDLCPU, 0};
        return od::make_capsule(spec, nullptr, host, r.versioned);
    }
    // Host memory: a compact C-order copy.
    const std::int64_t size = d.size();
    void* copy = od::allocate_export_data(static_cast<std::size_t>(size) * d.itemsize);
    std::vector<std::int64_t> bytes(d.shape.size()), compact(d.shape.size());
    std::int64_t step = 1;
    for (std::size_t i = d.shape.size(); i-- > 0;) {
        bytes[i] = d.strides[i] * static_cast<std::int64_t>(d.itemsize);
        compact[i] = step;
        step *= d.shape[i] > 0 ? d.shape[i] : 1;
    }
    if (copy != nullptr) {
        od::copy_to_c_order(static_cast<char*>(copy), first, d.spec.ndim, d.shape.data(), bytes.data(), d.itemsize);
    }
    spec.data = copy;
    spec.byte_offset = 0;
    spec.strides = compact.empty() ? nullptr : compact.data();
    spec.device = DLDevice{kDLCPU, 0};
    return od::make_capsule(spec, nullptr, copy, r.versioned);
}

PyObject* view_of_ndarray(PyObject* x, std::optional<bool> copy) {
    Described d;
    describe_ndarray(x, d, "from_dlpack");
    auto& api = npy();
    if (copy == true) {
        PyObject* independent = api.PyArray_NewCopy_(x, -1 /* NPY_KEEPORDER */);
        if (independent == nullptr) throw py::error_already_set();
        return independent;
    }
    // A base-class view keeps x (and so its memory) alive and inherits its writeability.
    PyObject* view = api.PyArray_View_(x, nullptr, reinterpret_cast<PyObject*>(api.PyArray_Type_));
    if (view == nullptr) throw py::error_already_set();
    return view;
}

// ---------------------------------------------------------------------------------------
// to_dlpack

PyObject* to_dlpack_impl(PyObject* obj, const ExportRequest& request) {
    Described d;
    if (is_ndarray(obj)) {
        describe_ndarray(obj, d, "to_dlpack");
        return export_described(d, obj, request);
    }
    if (!PyObject_CheckBuffer(obj)) {
        PyErr_Format(PyExc_TypeError,
                     "to_dlpack() expects a NumPy array or an object with the buffer protocol, got %.200s "
                     "(asdlpack() also wraps DLPack producers and the array interfaces)",
                     Py_TYPE(obj)->tp_name);
        throw py::error_already_set();
    }
    py::object view = py::reinterpret_steal<py::object>(PyMemoryView_FromObject(obj));
    if (!view) throw py::error_already_set();
    describe_buffer(*PyMemoryView_GET_BUFFER(view.ptr()), d, "to_dlpack");
    return export_described(d, view.ptr(), request);  // the memoryview holds the buffer export
}

PyObject* py_to_dlpack(PyObject*, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    return guarded([&]() -> PyObject* {
        static const char* const names[] = {"versioned", "readonly"};
        static const Keywords keywords(names);
        PyObject* values[2];
        parse_arguments("to_dlpack", args, nargs, kwnames, 1, keywords, values);
        ExportRequest request;
        if (values[0] != nullptr && !PyBool_Check(values[0])) {
            PyErr_Format(PyExc_TypeError, "to_dlpack(): versioned must be True or False, not %.200s",
                         Py_TYPE(values[0])->tp_name);
            throw py::error_already_set();
        }
        request.versioned = values[0] == nullptr || values[0] == Py_True;
        request.readonly = optional_bool(values[1], "to_dlpack", "readonly");
        return to_dlpack_impl(args[0], request);
    });
}

// ---------------------------------------------------------------------------------------
// asdlpack and DLPackObject

enum class WrapKind : std::uint8_t { producer, capsule, ndarray, buffer, array_interface, cuda_interface };

struct Wrapped {
    WrapKind kind = WrapKind::producer;
    PyObject* source = nullptr;     ///< strong: the wrapped object
    PyObject* keepalive = nullptr;  ///< strong: what capsules hold (array, memoryview or source)
    Described described;
    std::optional<std::int64_t> producer_stream;  ///< __cuda_array_interface__ 'stream'
    PyObject* device_tuple = nullptr;  ///< strong: what __dlpack_device__() returns (own exports)
};

struct DLPackObjectData {
    PyObject_HEAD
    Wrapped* wrapped;
    PyObject* weakrefs;
};

PyTypeObject* dlpack_object_type = nullptr;

Wrapped& wrapped_of(PyObject* self) {
    Wrapped* w = reinterpret_cast<DLPackObjectData*>(self)->wrapped;
    if (w == nullptr || w->source == nullptr) buffer_error("DLPackObject: the wrapper was cleared");
    return *w;
}

/// (device_type, device_id) from a __dlpack__ dl_device argument.
DLDevice device_argument(PyObject* value) {
    if (!PyTuple_Check(value) || PyTuple_GET_SIZE(value) != 2) {
        PyErr_Format(PyExc_TypeError, "__dlpack__(): dl_device must be a (device_type, device_id) tuple, not %R", value);
        throw py::error_already_set();
    }
    const long type = PyLong_AsLong(PyTuple_GET_ITEM(value, 0));
    const long id = PyLong_AsLong(PyTuple_GET_ITEM(value, 1));
    if (PyErr_Occurred()) throw py::error_already_set();
    if (type < 0 || type > std::numeric_limits<std::int32_t>::max() || id < 0 || id > std::numeric_limits<std::int32_t>::max()) {
        buffer_error("__dlpack__(): unsupported dl_device " + repr_of(value));
    }
    return DLDevice{static_cast<DLDeviceType>(type), static_cast<std::int32_t>(id)};
}

/// max_version → whether the consumer reads versioned capsules (major >= 1).
bool versioned_argument(PyObject* value) {
    if (value == nullptr || value == Py_None) return false;
    if (!PyTuple_Check(value) || PyTuple_GET_SIZE(value) != 2 || !PyLong_Check(PyTuple_GET_ITEM(value, 0)) ||
        !PyLong_Check(PyTuple_GET_ITEM(value, 1))) {
        PyErr_Format(PyExc_TypeError, "__dlpack__(): max_version must be a (major, minor) tuple of int, not %R", value);
        throw py::error_already_set();
    }
    const long major = PyLong_AsLong(PyTuple_GET_ITEM(value, 0));
    if (major == -1 && PyErr_Occurred()) throw py::error_already_set();
    return major >= 1;
}

/// A CUDA consumer stream: None → the legacy default stream (1); -1 → no synchronisation.
std::int64_t cuda_stream_argument(PyObject* value) {
    if (value == nullptr || value == Py_None) return 1;
    if (!PyLong_Check(value) || PyBool_Check(value)) {
        PyErr_Format(PyExc_TypeError, "__dlpack__(): stream must be an int or None for CUDA memory, not %.200s",
                     Py_TYPE(value)->tp_name);
        throw py::error_already_set();
    }
    const long long stream = PyLong_AsLongLong(value);
    if (stream == -1 && PyErr_Occurred()) throw py::error_already_set();
    if (stream == 0) {
        throw_error(PyExc_ValueError, "__dlpack__(): stream=0 is disallowed for CUDA (ambiguous); pass 1 for the legacy "
                                "default stream, 2 for the per-thread default stream, or a stream handle");
    }
    if (stream < -1) throw_error(PyExc_ValueError, "__dlpack__(): stream must be -1, 1, 2 or a stream handle, got " + std::to_string(stream));
    return static_cast<std::int64_t>(stream);
}

/// The __cuda_array_interface__ v3 contract: the consumer synchronises with the producer's
/// stream. Same stream, or no stream named: nothing to do.
void order_streams(const Wrapped& w, std::int64_t consumer) {
    if (!w.producer_stream || consumer == -1 || *w.producer_stream == consumer) return;
    buffer_error("__dlpack__(): the __cuda_array_interface__ producer asks consumers to synchronise with CUDA stream " +
                 std::to_string(*w.producer_stream) + ", and the consumer asked for stream " + std::to_string(consumer) +
                 "; ordering two CUDA streams is not supported: synchronise the producer's stream yourself and "
                 "pass stream=-1, or consume on the producer's stream");
}

PyObject* wrapped_capsule_dlpack(Wrapped& w, bool versioned_ok, PyObject* dl_device, std::optional<bool> copy) {
    od::Source source;
    od::SourceError got = source.from_capsule(w.source);
    if (got == od::SourceError::consumed) {
        buffer_error("__dlpack__(): the wrapped capsule was already consumed ('" + std::string(source.consumed_name) + "')");
    }
    if (got != od::SourceError::none) throw py::error_already_set();
    if (source.view.versioned && !versioned_ok) {
        buffer_error("__dlpack__(): the wrapped capsule is versioned ('dltensor_versioned') and the consumer reads "
                     "only legacy capsules (max_version < (1, 0))");
    }
    // Another major version may lay out everything past `flags` differently: read none of it.
    if (source.view.versioned && source.view.version.major != DLPACK_MAJOR_VERSION) {
        buffer_error("__dlpack__(): the wrapped capsule has DLPack major version " +
                     std::to_string(source.view.version.major));
    }
    if (copy == true) buffer_error("__dlpack__(): a wrapped capsule is handed out as it is; copy=True is not supported");
    if (dl_device != nullptr && dl_device != Py_None) {
        DLDevice want = device_argument(dl_device);
        const DLDevice& have = source.view.tensor->device;
        if (want.device_type != have.device_type || want.device_id != have.device_id) {
            buffer_error("__dlpack__(): the wrapped capsule is on " + device_name(have) + "; it cannot be exported to " +
                         device_name(want));
        }
    }
    Py_INCREF(w.source);
    return w.source;
}

/// Calls source.__dlpack__ with these arguments (kwnames: a tuple of keyword names, or NULL).
PyObject* call_dlpack(PyObject* source, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static PyObject* name = PyUnicode_InternFromString("__dlpack__");  // leaked on purpose
    if (name == nullptr) throw py::error_already_set();
    const Py_ssize_t count = nargs + (kwnames != nullptr ? PyTuple_GET_SIZE(kwnames) : 0);
    std::vector<PyObject*> call(static_cast<std::size_t>(count + 1));
    call[0] = source;
    for (Py_ssize_t i = 0; i < count; ++i) call[static_cast<std::size_t>(i + 1)] = args[i];
    return PyObject_VectorcallMethod(name, call.data(), static_cast<std::size_t>(nargs + 1), kwnames);
}

/// The keyword arguments of a __dlpack__ call, with `stream` taken out.
struct KeywordsWithoutStream {
    od::detail::unwind_safe<py::tuple> names{py::tuple()};  // held across the producer's call
    std::vector<PyObject*> values;
    PyObject* stream = nullptr;  ///< the stream given by keyword (borrowed), or nullptr
};

void split_stream(PyObject* const* kwvalues, PyObject* kwnames, KeywordsWithoutStream& out) {
    const Py_ssize_t given = kwnames != nullptr ? PyTuple_GET_SIZE(kwnames) : 0;
    std::vector<PyObject*> names;
    for (Py_ssize_t i = 0; i < given; ++i) {
        PyObject* key = PyTuple_GET_ITEM(kwnames, i);
        if (PyUnicode_CompareWithASCIIString(key, "stream") == 0) {
            out.stream = kwvalues[i];
        } else {
            names.push_back(key);
            out.values.push_back(kwvalues[i]);
        }
    }
    py::tuple kept(static_cast<py::size_t>(names.size()));
    for (std::size_t i = 0; i < names.size(); ++i) {
        Py_INCREF(names[i]);
        PyTuple_SET_ITEM(kept.ptr(), static_cast<Py_ssize_t>(i), names[i]);
    }
    static_cast<py::tuple&>(out.names) = std::move(kept);
}

/// __dlpack__ of a wrapped producer: the arguments pass through as given, except the stream
/// when it is omitted or None. That is passed as an explicit None, the specification's default
/// (synchronise with the legacy default stream): a consumer that omits it relies on that
/// default, and a producer may default to something else (torch >= 2.10 defaults to -1, no
/// synchronisation, and a consumer would read CUDA memory before the producer's work is done).
/// A producer that rejects the keyword (TypeError) is asked again without it. A positional
/// stream (the pre-2023.12 signature) or a stream other than None passes through as given.
PyObject* forward_dlpack(PyObject* source, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    KeywordsWithoutStream rest;
    split_stream(args + nargs, kwnames, rest);
    if (nargs > 0 || (rest.stream != nullptr && rest.stream != Py_None)) {
        PyObject* out = call_dlpack(source, args, nargs, kwnames);
        if (out == nullptr) throw py::error_already_set();
        return out;
    }
    static PyObject* stream = PyUnicode_InternFromString("stream");  // leaked on purpose
    if (stream == nullptr) throw py::error_already_set();
    const auto count = static_cast<Py_ssize_t>(rest.values.size());
    od::detail::unwind_safe<py::tuple> names{py::tuple(count + 1)};  // held across the producer's call
    for (Py_ssize_t i = 0; i < count; ++i) {
        PyObject* key = PyTuple_GET_ITEM(rest.names.ptr(), i);
        Py_INCREF(key);
        PyTuple_SET_ITEM(names.ptr(), i, key);
    }
    Py_INCREF(stream);
    PyTuple_SET_ITEM(names.ptr(), count, stream);
    std::vector<PyObject*> values = rest.values;
    values.push_back(Py_None);
    PyObject* out = call_dlpack(source, values.data(), 0, names.ptr());
    if (out == nullptr && PyErr_ExceptionMatches(PyExc_TypeError)) {
        PyErr_Clear();  // no `stream` keyword: ask without it
        out = call_dlpack(source, rest.values.data(), 0, rest.names.ptr());
    }
    if (out == nullptr) throw py::error_already_set();
    return out;
}

PyObject* dlpack_method(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    return guarded([&]() -> PyObject* {
        Wrapped& w = wrapped_of(self);
        if (w.kind == WrapKind::producer) return forward_dlpack(w.source, args, nargs, kwnames);
        static const char* const names[] = {"stream", "max_version", "dl_device", "copy"};
        static const Keywords keywords(names);
        PyObject* values[4];
        parse_arguments("__dlpack__", args, nargs, kwnames, 0, keywords, values);
        PyObject* stream = values[0];
        const bool versioned = versioned_argument(values[1]);
        const std::optional<bool> copy = optional_bool(values[3], "__dlpack__", "copy");
        if (w.kind == WrapKind::capsule) return wrapped_capsule_dlpack(w, versioned, values[2], copy);

        ExportRequest request;
        request.function = "__dlpack__()";
        request.versioned = versioned;
        request.copy = copy;
        Described fresh;
        const Described* d = &w.described;
        if (w.kind == WrapKind::ndarray) {  // re-read: the array's flags may have changed
            describe_ndarray(w.source, fresh, "__dlpack__()");
            d = &fresh;
        }
        const DLDevice own = d->spec.device;
        const bool own_is_host = od::host_memory(static_cast<std::int32_t>(own.device_type));
        bool to_host = false;
        bool relabel_cpu = false;  // page-locked host memory asked for as plain CPU memory
        if (values[2] != nullptr && values[2] != Py_None) {
            DLDevice want = device_argument(values[2]);
            const bool same = want.device_type == own.device_type && want.device_id == own.device_id;
            const bool want_cpu = want.device_type == kDLCPU && want.device_id == 0;
            if (!same && !(want_cpu && (own_is_host || own.device_type == kDLCUDA || own.device_type == kDLCUDAManaged))) {
                buffer_error("__dlpack__(): cannot export memory on " + device_name(own) + " to " + device_name(want) +
                             " (supported: the same device, or the CPU)");
            }
            to_host = want_cpu && !own_is_host;
            relabel_cpu = want_cpu && own_is_host && own.device_type != kDLCPU;
        }
        if (to_host && copy == false) {
            buffer_error("__dlpack__(): exporting " + device_name(own) +
                         " memory to the CPU needs a copy, and copy=False forbids it");
        }
        if (own_is_host || to_host) {
            if (stream != nullptr && stream != Py_None) {
                throw_error(PyExc_ValueError, "__dlpack__(): stream must be None for CPU memory, got " + repr_of(stream) +
                                            " (the DLPack specification accepts only None for devices without streams)");
            }
        } else {
            order_streams(w, cuda_stream_argument(stream));
            if (copy == true) {
                buffer_error("__dlpack__(): copy=True on " + device_name(own) +
                             " needs a device allocation, which asdlpack does not make; ask for "
                             "dl_device=(1, 0) to copy into host memory");
            }
        }
        if (to_host) {
            if (w.producer_stream && *w.producer_stream > 2) order_streams(w, 1);  // copies run on the legacy stream
            request.to_host = true;
        }
        if (d == &fresh) return export_described(fresh, w.keepalive, request);
        if (relabel_cpu) {  // host memory exported as kDLCPU when asked for it
            Described relabelled = *d;
            relabelled.finish();
            relabelled.spec.device = DLDevice{kDLCPU, 0};
            return export_described(relabelled, w.keepalive, request);
        }
        return export_described(*d, w.keepalive, request);
    });
}

PyObject* dlpack_device_method(PyObject* self, PyObject*) {
    return guarded([&]() -> PyObject* {
        Wrapped& w = wrapped_of(self);
        const auto& names = od::detail::statics();
        if (!names.ready()) {
            if (!PyErr_Occurred()) PyErr_NoMemory();
            throw py::error_already_set();
        }
        if (w.kind == WrapKind::producer && od::detail::type_defines(Py_TYPE(w.source), names.dlpack_device)) {
            PyObject* out = PyObject_CallMethodNoArgs(w.source, names.dlpack_device);
            if (out == nullptr) throw py::error_already_set();
            return out;
        }
        if (w.device_tuple != nullptr) {
            Py_INCREF(w.device_tuple);
            return w.device_tuple;
        }
        DLDevice device = w.described.spec.device;
        if (w.kind == WrapKind::capsule || w.kind == WrapKind::producer) {
            // A capsule, or a producer from before __dlpack_device__ (2021.12): its capsule's
            // own device, read without consuming or copying anything.
            od::Source source;
            od::SourceError got = w.kind == WrapKind::capsule ? source.from_capsule(w.source)
                                                               : od::acquire(w.source, source, od::Need::tensor);
            if (got == od::SourceError::consumed) buffer_error("__dlpack_device__(): the wrapped capsule was already consumed");
            if (got != od::SourceError::none) throw py::error_already_set();
            if (source.view.versioned && source.view.version.major != DLPACK_MAJOR_VERSION) {
                buffer_error("__dlpack_device__(): the wrapped capsule has DLPack major version " +
                             std::to_string(source.view.version.major));
            }
            device = source.view.tensor->device;
        }
        return Py_BuildValue("(ii)", static_cast<int>(device.device_type), static_cast<int>(device.device_id));
    });
}

const char* kind_name(WrapKind kind) {
    switch (kind) {
        case WrapKind::producer: return "a DLPack producer";
        case WrapKind::capsule: return "a DLPack capsule";
        case WrapKind::ndarray: return "a NumPy array";
        case WrapKind::buffer: return "a buffer";
        case WrapKind::array_interface: return "__array_interface__";
        case WrapKind::cuda_interface: return "__cuda_array_interface__";
    }
    return "?";
}

PyObject* dlpack_object_repr(PyObject* self) {
    Wrapped* w = reinterpret_cast<DLPackObjectData*>(self)->wrapped;
    if (w == nullptr || w->source == nullptr) return PyUnicode_FromString("<DLPackObject (cleared)>");
    std::string text = std::string("<DLPackObject over ") + kind_name(w->kind) + " (" + Py_TYPE(w->source)->tp_name + ")";
    if (w->kind != WrapKind::producer && w->kind != WrapKind::capsule) {
        const Described& d = w->described;
        text += ": " + device_name(d.spec.device) + " " + dtype_name(d.spec.dtype) + " (";
        for (std::size_t i = 0; i < d.shape.size(); ++i) text += (i ? ", " : "") + std::to_string(d.shape[i]);
        text += d.shape.size() == 1 ? ",)" : ")";
        if (d.readonly) text += " read-only";
    }
    return PyUnicode_FromString((text + ">").c_str());
}

int dlpack_object_traverse(PyObject* self, visitproc visit, void* arg) {
    Py_VISIT(Py_TYPE(self));
    if (Wrapped* w = reinterpret_cast<DLPackObjectData*>(self)->wrapped) {
        Py_VISIT(w->source);
        Py_VISIT(w->keepalive);
    }
    return 0;
}

int dlpack_object_clear(PyObject* self) {
    if (Wrapped* w = reinterpret_cast<DLPackObjectData*>(self)->wrapped) {
        Py_CLEAR(w->source);
        Py_CLEAR(w->keepalive);
        Py_CLEAR(w->device_tuple);
    }
    return 0;
}

void dlpack_object_dealloc(PyObject* self) {
    PyTypeObject* type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    auto* data = reinterpret_cast<DLPackObjectData*>(self);
    if (data->weakrefs != nullptr) PyObject_ClearWeakRefs(self);
    dlpack_object_clear(self);
    delete data->wrapped;
    data->wrapped = nullptr;
    type->tp_free(self);
    Py_DECREF(type);
}

PyObject* make_dlpack_object(Wrapped* wrapped) {
    auto* self = reinterpret_cast<DLPackObjectData*>(dlpack_object_type->tp_alloc(dlpack_object_type, 0));
    if (self == nullptr) {
        Py_XDECREF(wrapped->source);
        Py_XDECREF(wrapped->keepalive);
        Py_XDECREF(wrapped->device_tuple);
        delete wrapped;
        throw py::error_already_set();
    }
    self->wrapped = wrapped;
    self->weakrefs = nullptr;
    return reinterpret_cast<PyObject*>(self);
}

bool has_attribute(PyObject* obj, const char* name) {
    PyObject* value = nullptr;
    py::str key(name);
#if PY_VERSION_HEX >= 0x030D0000
    const int found = PyObject_GetOptionalAttr(obj, key.ptr(), &value);
#else
    const int found = _PyObject_LookupAttr(obj, key.ptr(), &value);
#endif
    Py_XDECREF(value);
    if (found < 0) throw py::error_already_set();
    return found == 1;
}

/// A capsule is checked when it is wrapped, by every structural rule, so that a malformed
/// tensor fails here, as validate() fails, and never reaches a consumer that trusts it.
void check_wrapped_capsule(PyObject* capsule) {
    od::Source source;
    od::SourceError got = source.from_capsule(capsule);
    if (got == od::SourceError::consumed) raise_consumed(source.consumed_name);
    if (got != od::SourceError::none) throw py::error_already_set();
    od::Report report;
    // (a report can hold a violation even when check_structure returns true: flags.unknown)
    if (!od::check_structure(source.view, report, nullptr) || !report.ok()) raise_report(report);
}

PyObject* asdlpack_impl(PyObject* obj) {
    auto wrapped = std::make_unique<Wrapped>();
    Wrapped& w = *wrapped;
    py::object keepalive = py::reinterpret_borrow<py::object>(obj);
    if (PyCapsule_CheckExact(obj)) {
        check_wrapped_capsule(obj);
        w.kind = WrapKind::capsule;
    } else if (exports_as_numpy(obj)) {  // exported directly: same rules as to_dlpack, every dtype NumPy holds
        w.kind = WrapKind::ndarray;
        describe_ndarray(obj, w.described, "asdlpack");
    } else if (has_attribute(obj, "__dlpack__")) {
        w.kind = WrapKind::producer;
    } else if (has_attribute(obj, "__cuda_array_interface__")) {
        w.kind = WrapKind::cuda_interface;
        w.producer_stream = describe_cuda_interface(obj, w.described);
    } else if (has_attribute(obj, "__array_interface__")) {
        w.kind = WrapKind::array_interface;
        keepalive = describe_array_interface(obj, w.described);
    } else if (PyObject_CheckBuffer(obj)) {
        w.kind = WrapKind::buffer;
        keepalive = py::reinterpret_steal<py::object>(PyMemoryView_FromObject(obj));
        if (!keepalive) throw py::error_already_set();
        describe_buffer(*PyMemoryView_GET_BUFFER(keepalive.ptr()), w.described, "asdlpack");
    } else {
        PyErr_Format(PyExc_TypeError,
                     "asdlpack() expects a DLPack producer, a capsule, an object with __cuda_array_interface__ or "
                     "__array_interface__, or a buffer (bytes, bytearray, array.array, memoryview, mmap, NumPy "
                     "arrays), got %.200s",
                     Py_TYPE(obj)->tp_name);
        throw py::error_already_set();
    }
    if (w.kind != WrapKind::producer && w.kind != WrapKind::capsule) {
        const DLDevice& device = w.described.spec.device;
        w.device_tuple = Py_BuildValue("(ii)", static_cast<int>(device.device_type), static_cast<int>(device.device_id));
        if (w.device_tuple == nullptr) throw py::error_already_set();
    }
    Py_INCREF(obj);
    w.source = obj;
    w.keepalive = keepalive.release().ptr();
    return make_dlpack_object(wrapped.release());
}

PyObject* py_asdlpack(PyObject*, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    return guarded([&]() -> PyObject* {
        if (kwnames != nullptr && PyTuple_GET_SIZE(kwnames) != 0) {
            PyErr_Format(PyExc_TypeError, "asdlpack() got an unexpected keyword argument '%U'",
                         PyTuple_GET_ITEM(kwnames, 0));
            throw py::error_already_set();
        }
        if (nargs != 1) {
            PyErr_Format(PyExc_TypeError, "asdlpack() takes 1 positional argument but %zd were given", nargs);
            throw py::error_already_set();
        }
        return asdlpack_impl(args[0]);
    });
}

// ---------------------------------------------------------------------------------------
// Registration

PyMethodDef dlpack_object_methods[] = {
    {"__dlpack__", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&dlpack_method)),
     METH_FASTCALL | METH_KEYWORDS,
     "__dlpack__($self, /, *, stream=None, max_version=None, dl_device=None, copy=None)\n--\n\n"
     "__dlpack__(self, /, *, stream=None, max_version=None, dl_device=None, copy=None)\n\n"
     "Export the memory as a DLPack capsule: versioned when max_version >= (1, 0), legacy otherwise.\n"
     "copy=True copies (IS_COPIED); copy=False never copies; dl_device=(1, 0) asks for host memory.\n"
     "A wrapped DLPack producer receives the arguments as given (an omitted stream as stream=None)."},
    {"__dlpack_device__", &dlpack_device_method, METH_NOARGS,
     "__dlpack_device__($self, /)\n--\n\n__dlpack_device__(self, /)\n\nThe (device_type, device_id) of the memory."},
    {nullptr, nullptr, 0, nullptr},
};

PyMemberDef dlpack_object_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(DLPackObjectData, weakrefs), READONLY, nullptr},
    {nullptr, 0, 0, 0, nullptr},
};

PyType_Slot dlpack_object_slots[] = {
    {Py_tp_dealloc, reinterpret_cast<void*>(&dlpack_object_dealloc)},
    {Py_tp_traverse, reinterpret_cast<void*>(&dlpack_object_traverse)},
    {Py_tp_clear, reinterpret_cast<void*>(&dlpack_object_clear)},
    {Py_tp_repr, reinterpret_cast<void*>(&dlpack_object_repr)},
    {Py_tp_methods, dlpack_object_methods},
    {Py_tp_members, dlpack_object_members},
    {Py_tp_doc, const_cast<char*>("Memory offered through the DLPack protocol; made by asdlpack().")},
    {0, nullptr},
};

PyType_Spec dlpack_object_spec = {
    "optype_dlpack.DLPackObject",
    sizeof(DLPackObjectData),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    dlpack_object_slots,
};

PyMethodDef interop_functions[] = {
    {"from_dlpack", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&py_from_dlpack)),
     METH_FASTCALL | METH_KEYWORDS,
     "from_dlpack(x, /, *, copy=None)\n--\n\n"
     "from_dlpack(x, /, *, copy=None)\n\n"
     "A NumPy array over a DLPack tensor (a capsule or a producer), validated first and consumed once.\n"
     "Zero-copy for CPU-accessible memory; copy=True returns an independent array (also from CUDA);\n"
     "copy=False never copies."},
    {"to_dlpack", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&py_to_dlpack)),
     METH_FASTCALL | METH_KEYWORDS,
     "to_dlpack(obj, /, *, versioned=True, readonly=None)\n--\n\n"
     "to_dlpack(obj, /, *, versioned=True, readonly=None)\n\n"
     "A DLPack capsule over a NumPy array or a buffer-protocol object, without copying.\n"
     "versioned=False gives a legacy 'dltensor' capsule; readonly=True marks the tensor READ_ONLY."},
    {"asdlpack", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&py_asdlpack)),
     METH_FASTCALL | METH_KEYWORDS,
     "asdlpack(obj, /)\n--\n\n"
     "asdlpack(obj, /)\n\n"
     "A DLPackObject offering obj through __dlpack__ / __dlpack_device__: DLPack producers and capsules,\n"
     "__cuda_array_interface__ (v2, v3), __array_interface__ (v3) and buffer-protocol objects."},
    {nullptr, nullptr, 0, nullptr},
};

}  // namespace

void register_interop(py::module_& m) {
    PyObject* type = PyType_FromSpec(&dlpack_object_spec);
    if (type == nullptr) throw py::error_already_set();
    dlpack_object_type = reinterpret_cast<PyTypeObject*>(type);  // the module's reference keeps it alive
    if (PyModule_AddObjectRef(m.ptr(), "DLPackObject", type) != 0) throw py::error_already_set();
    if (PyModule_AddFunctions(m.ptr(), interop_functions) != 0) throw py::error_already_set();
}

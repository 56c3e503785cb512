// optype_dlpack._core interop: the NumPy bridge. dtypes both ways (NumPy's builtin types by
// type number; bfloat16, float8/6/4 and the narrow integers from ml_dtypes), and NumPy arrays
// over memory that something else owns.
#include "interop.hpp"
#include "numpy_view.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace optype_dlpack::interop {

[[noreturn]] void buffer_error_from_pending(const std::string& message) {
    py::error_already_set cause;  // takes the pending exception
    const std::string text = message + " (" + cause.what() + ")";
    py::raise_from(cause, PyExc_BufferError, text.c_str());
    throw py::error_already_set();
}

// ---------------------------------------------------------------------------------------
// NumPy arrays

PyTypeObject* ndarray_type() {
    static std::atomic<PyTypeObject*> found{nullptr};
    PyTypeObject* type = found.load(std::memory_order_acquire);
    if (type != nullptr) return type;
    static PyObject* name = PyUnicode_InternFromString("numpy");  // leaked on purpose
    PyObject* numpy = name != nullptr ? PyImport_GetModule(name) : nullptr;
    if (numpy == nullptr) {
        if (PyErr_Occurred() != nullptr) PyErr_Clear();
        return nullptr;
    }
    Py_DECREF(numpy);
    try {
        type = npy().PyArray_Type_;
    } catch (py::error_already_set&) {  // NumPy's C API could not be loaded: no array is read as NumPy's
        return nullptr;
    }
    found.store(type, std::memory_order_release);
    return type;
}

bool is_ndarray(PyObject* obj) {
    PyTypeObject* type = ndarray_type();
    return type != nullptr && PyObject_TypeCheck(obj, type) != 0;
}

namespace {

/// A new reference to what `type` offers as __dlpack__.
PyObject* dlpack_attribute_of(PyTypeObject* type) {
    static PyObject* name = PyUnicode_InternFromString("__dlpack__");  // leaked on purpose
    if (name == nullptr) throw py::error_already_set();
    PyObject* attribute = PyObject_GetAttr(reinterpret_cast<PyObject*>(type), name);
    if (attribute == nullptr) throw py::error_already_set();
    return attribute;
}

}  // namespace

bool exports_as_numpy(PyObject* obj) {
    if (!is_ndarray(obj)) return false;
    PyTypeObject* ndarray = npy().PyArray_Type_;
    if (Py_TYPE(obj) == ndarray) return true;
    py::object own = py::reinterpret_steal<py::object>(dlpack_attribute_of(Py_TYPE(obj)));
    py::object numpys = py::reinterpret_steal<py::object>(dlpack_attribute_of(ndarray));
    return own.is(numpys);
}

// ---------------------------------------------------------------------------------------
// dtypes. NumPy's builtin types map by type number; bfloat16, float8/6/4 and the narrow
// integers come from ml_dtypes, which stores every element in its own byte (DLPack's
// IS_SUBBYTE_TYPE_PADDED layout for the sub-byte ones).

namespace {

struct MlDtype {
    const char* name;
    std::uint8_t code;
    std::uint8_t bits;
};

/// Whether ml_dtypes has a type named after this DLPack code: the fixed-width codes (bfloat16
/// and the float8/6/4 family) other than bool, which NumPy holds itself.
constexpr bool named_by_ml_dtypes(const od::DTypeCodeInfo& info) {
    return info.fixed_bits != 0 && info.code != kDLBool;
}

constexpr std::size_t kNamedByCodeCount = [] {
    std::size_t count = 0;
    for (const auto& info : od::kDTypeCodes) count += named_by_ml_dtypes(info) ? 1U : 0U;
    return count;
}();

/// ml_dtypes' types for DLPack codes of several widths, at widths NumPy lacks.
constexpr MlDtype kMlDtypesAtWidth[] = {
    {"complex32", kDLComplex, 32}, {"int4", kDLInt, 4}, {"uint4", kDLUInt, 4}, {"int2", kDLInt, 2},
    {"uint2", kDLUInt, 2},         {"int1", kDLInt, 1}, {"uint1", kDLUInt, 1},
};

constexpr std::size_t kMlCount = kNamedByCodeCount + std::size(kMlDtypesAtWidth);

/// Every ml_dtypes type that is a DLPack dtype: the ones named after a code (from tables.hpp),
/// then the narrow and complex widths.
constexpr std::array<MlDtype, kMlCount> kMlDtypes = [] {
    std::array<MlDtype, kMlCount> out{};
    std::size_t next = 0;
    for (const auto& info : od::kDTypeCodes) {
        if (named_by_ml_dtypes(info)) out[next++] = MlDtype{info.name, info.code, info.fixed_bits};
    }
    for (const auto& row : kMlDtypesAtWidth) out[next++] = row;
    return out;
}();

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

/// NumPy's builtin types by DLPack code and width. (pybind11's NPY_COMPLEX*_ name the
/// component type, not the complex one: NPY_CFLOAT_ and NPY_CDOUBLE_ are the complex types.)
struct NumpyType {
    std::uint8_t code;
    std::uint8_t bits;
    int type_num;
};

using npy_api = py::detail::npy_api;

constexpr NumpyType kNumpyTypes[] = {
    {kDLBool, 8, npy_api::NPY_BOOL_},       {kDLInt, 8, npy_api::NPY_INT8_},
    {kDLInt, 16, npy_api::NPY_INT16_},      {kDLInt, 32, npy_api::NPY_INT32_},
    {kDLInt, 64, npy_api::NPY_INT64_},      {kDLUInt, 8, npy_api::NPY_UINT8_},
    {kDLUInt, 16, npy_api::NPY_UINT16_},    {kDLUInt, 32, npy_api::NPY_UINT32_},
    {kDLUInt, 64, npy_api::NPY_UINT64_},    {kDLFloat, 16, kNpyHalf},
    {kDLFloat, 32, npy_api::NPY_FLOAT_},    {kDLFloat, 64, npy_api::NPY_DOUBLE_},
    {kDLComplex, 64, npy_api::NPY_CFLOAT_}, {kDLComplex, 128, npy_api::NPY_CDOUBLE_},
};

/// The DLPack code of a builtin NumPy type (its width is the item size), or -1.
int builtin_code(int type_num) {
    switch (type_num) {
        case npy_api::NPY_BOOL_: return kDLBool;
        case npy_api::NPY_BYTE_:
        case npy_api::NPY_SHORT_:
        case npy_api::NPY_INT_:
        case npy_api::NPY_LONG_:
        case npy_api::NPY_LONGLONG_: return kDLInt;
        case npy_api::NPY_UBYTE_:
        case npy_api::NPY_USHORT_:
        case npy_api::NPY_UINT_:
        case npy_api::NPY_ULONG_:
        case npy_api::NPY_ULONGLONG_: return kDLUInt;
        case kNpyHalf:
        case npy_api::NPY_FLOAT_:
        case npy_api::NPY_DOUBLE_: return kDLFloat;
        case npy_api::NPY_CFLOAT_:
        case npy_api::NPY_CDOUBLE_: return kDLComplex;
        default: return -1;
    }
}

/// The builtin NumPy type number of a one-lane DLPack dtype, or -1.
int numpy_type_number(const DLDataType& t) {
    for (const auto& row : kNumpyTypes) {
        if (row.code == t.code && row.bits == t.bits) return row.type_num;
    }
    return -1;
}

}  // namespace

DTypeMatch dlpack_dtype_of_descr(PyObject* descr, const char* function) {
    const auto* proxy = py::detail::array_descriptor_proxy(descr);
    const std::size_t itemsize = descr_itemsize(descr);
    if (proxy->byteorder == kSwappedByteOrder) {
        buffer_error(std::string(function) + ": dtype " + repr_of(descr) +
                     " has non-native byte order; DLPack tensors are native-endian (convert with "
                     "arr.astype(arr.dtype.newbyteorder('='))");
    }
    DTypeMatch out;
    if (const int code = builtin_code(proxy->type_num); code >= 0) {
        out.dtype = DLDataType{static_cast<std::uint8_t>(code), static_cast<std::uint8_t>(itemsize * 8), 1};
        return out;
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

PyObject* numpy_descr_for(const DLDataType& t, bool padded) {
    if (t.lanes != 1) {
        buffer_error("from_dlpack: dtype " + dtype_name(t) + " has " + std::to_string(t.lanes) +
                     " lanes; a NumPy array holds one value per element");
    }
    const int type_num = numpy_type_number(t);
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
// Arrays over memory

// (NumPy refuses a layout whose byte count overflows even with an extent of 0.)
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

py::object independent_copy(const py::object& array, int order) {
    PyObject* copy = npy().PyArray_NewCopy_(array.ptr(), order);
    if (copy == nullptr) throw py::error_already_set();
    return py::reinterpret_steal<py::object>(copy);
}

}  // namespace optype_dlpack::interop

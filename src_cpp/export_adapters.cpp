// optype_dlpack._core interop: memory described for export (NumPy arrays, buffers,
// __array_interface__, __cuda_array_interface__), exported as a capsule over it or over a
// copy (export_described), and to_dlpack.
#include "interop.hpp"

#include "optype_dlpack/cuda.hpp"

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

namespace optype_dlpack::interop {

namespace {

/// Compact C-order element strides for `shape`: the strides a reader fills in for a tensor's
/// NULL strides (od::fill_strides; extents of 0 count as 1). False when the element count
/// overflows int64.
bool compact_strides(const od::Dims& shape, od::Dims& strides) {
    DLTensor t{};
    t.ndim = shape.size();
    t.shape = const_cast<std::int64_t*>(shape.data());
    strides.resize(shape.size());
    od::fill_strides(t, strides.data());
    std::int64_t count = 1;
    for (const std::int64_t extent : shape) {
        if (extent > 0 && od::detail::mul_overflows(count, extent, &count)) return false;
    }
    return true;
}

/// Byte strides → element strides; BufferError where a stride that is stepped is not a
/// multiple of the item size.
template <class Stride>
void set_strides(Described& d, const Stride* bytes, const char* function) {
    const auto itemsize = static_cast<std::int64_t>(d.itemsize);
    const bool empty = d.empty();
    d.strides.resize(d.shape.size());
    for (std::int32_t i = 0; i < d.shape.size(); ++i) {
        const auto stride = static_cast<std::int64_t>(bytes[i]);
        if (stride % itemsize != 0 && !empty && d.shape[i] > 1) {
            buffer_error(std::string(function) + ": stride " + std::to_string(stride) + " bytes of axis " +
                         std::to_string(i) + " is not a multiple of the item size (" + std::to_string(itemsize) +
                         " bytes); DLPack strides count elements");
        }
        d.strides[i] = stride / itemsize;
    }
}

}  // namespace

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

namespace {

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
            case 'b':
            case 'h':
            case 'i':
            case 'l':
            case 'q':
            case 'n': code = kDLInt; break;
            case 'B':
            case 'H':
            case 'I':
            case 'L':
            case 'Q':
            case 'N': code = kDLUInt; break;
            case 'e':
            case 'f':
            case 'd': code = kDLFloat; break;
            case '?': code = kDLBool; break;
            default: break;
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

}  // namespace

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
    } else if (!compact_strides(d.shape, d.strides)) {  // C-contiguous
        buffer_error(std::string(function) + ": the shape's element count overflows");
    }
    d.finish();
}

namespace {

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

/// A tuple of int from a dict entry, into `out`; TypeError naming the interface and key otherwise.
void int_tuple_entry(PyObject* value, const char* interface, const char* key, od::Dims& out) {
    if (!PyTuple_Check(value)) {
        PyErr_Format(PyExc_TypeError, "%s['%s']: expected a tuple of int, got %.200s", interface, key,
                     Py_TYPE(value)->tp_name);
        throw py::error_already_set();
    }
    const Py_ssize_t count = PyTuple_GET_SIZE(value);
    out.resize(static_cast<std::int32_t>(count < INT32_MAX ? count : INT32_MAX));
    for (std::int32_t i = 0; i < out.size(); ++i) out[i] = int_entry(PyTuple_GET_ITEM(value, i), interface, key);
    if (count > od::kMaxNdim) buffer_error(std::string(interface) + ": too many dimensions");
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
        buffer_error(std::string(interface) + " describes no valid tensor:" + violation_lines(report));
    }
    return geometry;
}

/// Shape, typestr and strides, common to both array interfaces.
void describe_interface_layout(PyObject* dict, Described& d, const char* interface) {
    PyObject* shape = dict_item(dict, "shape");
    PyObject* typestr = dict_item(dict, "typestr");
    if (shape == nullptr || typestr == nullptr) {
        PyErr_Format(PyExc_TypeError, "%s: missing the required '%s' entry", interface,
                     shape == nullptr ? "shape" : "typestr");
        throw py::error_already_set();
    }
    int_tuple_entry(shape, interface, "shape", d.shape);
    d.spec.dtype = dtype_of_typestr(typestr, &d.itemsize, interface);
    PyObject* mask = dict_item(dict, "mask");
    if (mask != nullptr && mask != Py_None) {
        buffer_error(std::string(interface) + ": masked arrays cannot be exported ('mask' is not None)");
    }
    PyObject* strides = dict_item(dict, "strides");
    if (strides != nullptr && strides != Py_None) {
        od::Dims bytes;
        int_tuple_entry(strides, interface, "strides", bytes);
        if (bytes.size() != d.shape.size()) {
            buffer_error(std::string(interface) + ": 'strides' has " + std::to_string(bytes.size()) + " entries for " +
                         std::to_string(d.shape.size()) + " dimensions");
        }
        set_strides(d, bytes.data(), interface);
    } else if (!compact_strides(d.shape, d.strides)) {  // C-contiguous
        buffer_error(std::string(interface) + ": the shape's element count overflows");
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

}  // namespace

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

namespace {

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
        buffer_error(
            "asdlpack: __cuda_array_interface__ memory needs the CUDA driver to tell which device holds it, "
            "and the driver is unavailable (" +
            error + ")");
    }
    if (status != od::cuda::Status::ok) {
        buffer_error("asdlpack: the CUDA driver could not describe the __cuda_array_interface__ pointer: " + error);
    }
    const std::int32_t ordinal = facts.device_ordinal >= 0 ? facts.device_ordinal : 0;
    switch (facts.type) {
        case od::cuda::MemoryType::device: return DLDevice{kDLCUDA, ordinal};
        case od::cuda::MemoryType::managed: return DLDevice{kDLCUDAManaged, ordinal};
        case od::cuda::MemoryType::host_pinned: return DLDevice{kDLCUDAHost, 0};
        case od::cuda::MemoryType::host_unregistered: break;
    }
    buffer_error("asdlpack: the __cuda_array_interface__ pointer " + od::detail::hex(pointer) +
                 " is not memory the CUDA driver knows");
}

}  // namespace

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

namespace {

/// Device memory copied to host memory: the byte extent, with the layout kept.
PyObject* export_host_copy_of_device(const Described& d, od::ExportSpec& spec, const ExportRequest& r) {
    const od::Geometry geometry = check_described(d, r.function);           // (it passed when d was described)
    const std::int64_t low = geometry.byte_low, high = geometry.byte_high;  // relative to data
    if (high > low && !od::cuda::driver_available()) {                      // asked before any host memory is allocated
        buffer_error(std::string(r.function) + ": copying from " + device_name(d.spec.device) +
                     " to host memory needs the CUDA driver, which is unavailable (" +
                     od::cuda::driver_unavailable_reason() + ")");
    }
    void* host = od::allocate_export_data(static_cast<std::size_t>(high - low));
    if (high > low) {
        std::string error;
        const char* data = static_cast<const char*>(d.spec.data);
        od::cuda::Status status =
            od::cuda::copy_to_host(host, data + low, static_cast<std::size_t>(high - low), &error);
        if (status != od::cuda::Status::ok) {
            std::free(host);
            buffer_error(std::string(r.function) + ": copying from " + device_name(d.spec.device) + " to host memory " +
                         (status == od::cuda::Status::unavailable ? "needs the CUDA driver, which is unavailable ("
                                                                  : "failed (") +
                         error + ")");
        }
    }
    // host holds data + [low, high): element 0 lies at host + (byte_offset - low)
    const auto offset = static_cast<std::int64_t>(d.spec.byte_offset);
    spec.data = host != nullptr ? static_cast<char*>(host) + (offset - low) : nullptr;
    spec.byte_offset = 0;
    spec.device = DLDevice{kDLCPU, 0};
    return od::make_capsule(spec, nullptr, host, r.versioned);
}

/// Host memory copied into a compact C-order array.
PyObject* export_compact_copy(const Described& d, od::ExportSpec& spec, const ExportRequest& r) {
    void* copy = od::allocate_export_data(static_cast<std::size_t>(d.size()) * d.itemsize);
    od::Dims byte_strides, compact;
    byte_strides.resize(d.shape.size());
    for (std::int32_t i = 0; i < d.shape.size(); ++i) {
        byte_strides[i] = d.strides[i] * static_cast<std::int64_t>(d.itemsize);
    }
    compact_strides(d.shape, compact);  // (the element count fits: the copy was allocated)
    if (copy != nullptr) {
        const char* first = static_cast<const char*>(d.spec.data) + d.spec.byte_offset;
        od::copy_to_c_order(static_cast<char*>(copy), first, d.spec.ndim, d.shape.data(), byte_strides.data(),
                            d.itemsize);
    }
    spec.data = copy;
    spec.byte_offset = 0;
    spec.strides = compact.data();  // (fill_tensor writes NULL shape and strides for ndim 0)
    spec.device = DLDevice{kDLCPU, 0};
    return od::make_capsule(spec, nullptr, copy, r.versioned);
}

}  // namespace

PyObject* export_described(const Described& d, PyObject* keepalive, const ExportRequest& r) {
    od::ExportSpec spec = d.spec;
    const bool readonly = r.readonly.value_or(d.readonly);
    if (r.readonly == false && d.readonly) {
        buffer_error(std::string(r.function) +
                     ": the memory is read-only; readonly=False would let consumers write to it");
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
    return r.to_host ? export_host_copy_of_device(d, spec, r) : export_compact_copy(d, spec, r);
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

namespace {

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

}  // namespace

PyObject* py_to_dlpack(PyObject*, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static const char* const keywords[] = {"versioned", "readonly"};
    static const od::detail::Parameters parameters("to_dlpack", 1, keywords);
    PyObject* given[2] = {};
    if (!parameters.parse(args, nargs, kwnames, given)) return nullptr;
    return guarded([&]() -> PyObject* {
        ExportRequest request;
        if (given[0] != nullptr && !PyBool_Check(given[0])) {
            PyErr_Format(PyExc_TypeError, "to_dlpack(): versioned must be True or False, not %.200s",
                         Py_TYPE(given[0])->tp_name);
            throw py::error_already_set();
        }
        request.versioned = given[0] == nullptr || given[0] == Py_True;
        request.readonly = od::detail::optional_bool(given[1], "to_dlpack", "readonly");
        return to_dlpack_impl(args[0], request);
    });
}

}  // namespace optype_dlpack::interop

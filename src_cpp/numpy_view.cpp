// optype_dlpack._core: an exact numpy.ndarray read from its array struct (numpy_view.hpp).
#include "numpy_view.hpp"

#include "interop.hpp"
#include "optype_dlpack/acquire.hpp"

#include <cstring>

namespace optype_dlpack::interop {

namespace {

enum class Trust : std::uint8_t { unknown, trusted, refused };
Trust trust = Trust::unknown;  // read and written with the GIL held
DLPackVersion numpy_version{0, 0};

/// The DLPack code NumPy's exporter gives a builtin type number (the categories of its
/// PyDataType_ISBOOL, ISSIGNED, ISUNSIGNED, ISFLOAT and ISCOMPLEX), or -1: anything else (a
/// user or registry dtype, strings, datetimes) is NumPy's to decide.
int dlpack_code_of(int type_num, std::size_t itemsize) {
    if (type_num == kNpyBool) return kDLBool;
    if (type_num > kNpyBool && type_num <= kNpyULongLong) return type_num % 2 == 1 ? kDLInt : kDLUInt;
    if ((type_num >= kNpyFloat && type_num <= kNpyLongDouble) || type_num == kNpyHalf) {
        return itemsize <= 8 ? kDLFloat : -1;  // NumPy refuses a float wider than 8 bytes
    }
    if (type_num >= kNpyCFloat && type_num <= kNpyCLongDouble) return itemsize <= 16 ? kDLComplex : -1;
    return -1;
}

/// Whether the last base of the array's base chain is a capsule: an array imported through
/// DLPack, whose device NumPy reports as that tensor's.
bool based_on_capsule(PyObject* array, PyTypeObject* ndarray) {
    PyObject* base = py::detail::array_proxy(array)->base;
    while (base != nullptr && PyObject_TypeCheck(base, ndarray)) base = py::detail::array_proxy(base)->base;
    return base != nullptr && PyCapsule_CheckExact(base);
}

}  // namespace

const char* ndarray_reading_state() {
    switch (trust) {
        case Trust::trusted: return "trusted";
        case Trust::refused: return "refused";
        case Trust::unknown: break;
    }
    return "unknown";
}

NdarrayRead read_ndarray(PyObject* x, NdarrayView& storage, ManagedView& view) {
    if (trust == Trust::refused) return NdarrayRead::not_applicable;
    // By name first (no lookup for other types), then by address (another extension may name
    // a static type "numpy.ndarray": the struct is read only from NumPy's own type).
    if (!od::detail::is_exact_ndarray(Py_TYPE(x))) return NdarrayRead::not_applicable;
    PyTypeObject* ndarray = ndarray_type();
    if (ndarray == nullptr || Py_TYPE(x) != ndarray) return NdarrayRead::not_applicable;
    const auto* array = py::detail::array_proxy(x);
    if (array->nd < 0 || array->nd > NdarrayView::kInlineDims) return NdarrayRead::not_applicable;
    const auto* descr = py::detail::array_descriptor_proxy(array->descr);
    if (descr->byteorder == kSwappedByteOrder) return NdarrayRead::not_applicable;
    const std::size_t itemsize = descr_itemsize(array->descr);
    const int code = dlpack_code_of(descr->type_num, itemsize);
    if (code < 0 || itemsize == 0 || itemsize > 255 / 8 || based_on_capsule(x, ndarray)) {
        return NdarrayRead::not_applicable;
    }
    const auto item = static_cast<std::int64_t>(itemsize);
    for (int i = 0; i < array->nd; ++i) {
        const auto stride = static_cast<std::int64_t>(array->strides[i]);
        if (stride % item != 0) return NdarrayRead::not_applicable;  // NumPy refuses some of these: let it say
        storage.shape[i] = static_cast<std::int64_t>(array->dimensions[i]);
        storage.strides[i] = stride / item;
    }
    DLTensor& t = storage.tensor;
    t.data = array->data;
    t.device = DLDevice{kDLCPU, 0};
    t.ndim = array->nd;
    t.dtype = DLDataType{static_cast<std::uint8_t>(code), static_cast<std::uint8_t>(itemsize * 8), 1};
    t.shape = array->nd > 0 ? storage.shape : nullptr;
    t.strides = array->nd > 0 ? storage.strides : nullptr;
    t.byte_offset = 0;
    view.tensor = &t;
    view.versioned = true;
    view.version = numpy_version;
    view.flags = (array->flags & py::detail::npy_api::NPY_ARRAY_WRITEABLE_) == 0 ? DLPACK_FLAG_BITMASK_READ_ONLY : 0;
    return trust == Trust::trusted ? NdarrayRead::read : NdarrayRead::calibrate;
}

namespace {

bool same_extents(const std::int64_t* a, const std::int64_t* b, std::int32_t ndim) {
    if (ndim == 0) return true;
    return a != nullptr && b != nullptr &&
           std::memcmp(a, b, sizeof(std::int64_t) * static_cast<std::size_t>(ndim)) == 0;
}

}  // namespace

void calibrate_ndarray(const ManagedView& read, const ManagedView& exported) {
    if (trust != Trust::unknown || read.tensor == nullptr || exported.tensor == nullptr) return;
    const DLTensor& a = *read.tensor;
    const DLTensor& b = *exported.tensor;
    const bool agree =
        exported.versioned && exported.flags == read.flags && a.data == b.data && a.byte_offset == b.byte_offset &&
        a.device.device_type == b.device.device_type && a.device.device_id == b.device.device_id && a.ndim == b.ndim &&
        a.dtype.code == b.dtype.code && a.dtype.bits == b.dtype.bits && a.dtype.lanes == b.dtype.lanes &&
        (a.ndim == 0 ? b.shape == nullptr && b.strides == nullptr
                     : same_extents(a.shape, b.shape, a.ndim) && same_extents(a.strides, b.strides, a.ndim));
    if (agree) numpy_version = exported.version;
    trust = agree ? Trust::trusted : Trust::refused;
}

}  // namespace optype_dlpack::interop

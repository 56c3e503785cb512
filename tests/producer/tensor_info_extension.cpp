// tensor_info_extension — a pybind11 extension that passes optype_dlpack::TensorInfo to and from
// Python, built against the installed headers (optype_dlpack.get_include()). Built by
// tests/package/test_extension_tensor_info.py; never shipped.
#include <optype_dlpack/pybind11.hpp>

#include <pybind11/pybind11.h>

#include <cstdint>

namespace py = pybind11;
namespace od = optype_dlpack;

PYBIND11_MODULE(tensor_info_extension, m) {
    // dlpack_tensor::info(): an owning copy, returned as optype_dlpack.TensorInfo
    m.def(
        "info", [](const od::dlpack_tensor<>& x) { return x.info(); }, py::arg("x"));
    // a TensorInfo argument, read back into od::TensorInfo
    m.def(
        "fields",
        [](const od::TensorInfo& info) {
            py::list shape, strides;
            for (std::int64_t extent : info.shape) shape.append(extent);
            for (std::int64_t stride : info.strides) strides.append(stride);
            return py::make_tuple(py::tuple(shape), py::tuple(strides), info.dtype.bits, info.size, info.versioned,
                                  info.device_verified);
        },
        py::arg("info"));
    // what is not a TensorInfo falls through to the next overload
    m.def("fields", [](const py::object&) { return py::none(); });
    // a record that no TensorInfo can hold is refused with ValueError
    m.def("bad_info", [] {
        od::TensorInfo info;
        info.shape.resize(od::kMaxNdim + 1);
        info.strides.resize(od::kMaxNdim + 1);
        return info;
    });
}

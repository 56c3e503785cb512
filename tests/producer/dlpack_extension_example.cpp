// dlpack_extension_example — a small pybind11 extension written against the installed
// optype_dlpack headers (optype_dlpack.get_include()), as an extension author would.
// Built by tests/package/test_extension_api.py; never shipped.
#include <optype_dlpack/pybind11.hpp>

#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

namespace py = pybind11;
namespace od = optype_dlpack;

namespace {

/// Requirements at compile time: float64, one axis, CPU memory. Any strides.
double total(const od::dlpack_tensor<od::dtype<double>, od::ndim<1>, od::device<kDLCPU>>& x) {
    const double* p = x.data<double>();
    double sum = 0;
    for (std::int64_t i = 0; i < x.shape(0); ++i) sum += p[i * x.stride(0)];
    return sum;
}

/// Writes through the view: needs a writable, C-contiguous float32 tensor.
void scale(const od::dlpack_tensor<od::dtype<float>, od::c_contig, od::writable>& x, float factor) {
    float* p = x.data<float>();
    for (std::int64_t i = 0; i < x.size(); ++i) p[i] *= factor;
}

/// Rows of a (n, 3) float32 matrix, on any device.
std::int64_t rows(const od::dlpack_tensor<od::dtype<float>, od::shape<od::any_extent, 3>>& x) { return x.shape(0); }

/// No requirements: describes whatever valid tensor arrives.
py::dict describe(const od::dlpack_tensor<>& x) {
    py::dict out;
    py::list shape, strides;
    for (std::int32_t i = 0; i < x.ndim(); ++i) {
        shape.append(x.shape(i));
        strides.append(x.stride(i));
    }
    out["shape"] = py::tuple(shape);
    out["strides"] = py::tuple(strides);
    out["dtype"] = py::make_tuple(x.dtype().code, x.dtype().bits, x.dtype().lanes);
    out["device"] = py::make_tuple(static_cast<int>(x.device().device_type), x.device().device_id);
    out["versioned"] = x.versioned();
    out["version"] = py::make_tuple(x.version().major, x.version().minor);
    out["readonly"] = x.readonly();
    out["data"] = reinterpret_cast<std::uintptr_t>(x.data());
    out["size"] = x.size();
    out["c_contiguous"] = x.is_c_contiguous();
    return out;
}

/// Requirements decided at run time, from the function's own arguments.
std::int64_t require_ndim(const od::dlpack_tensor<>& x, std::int32_t ndim) {
    od::Constraints constraints;
    constraints.ndim = ndim;
    x.require(constraints);
    return x.ndim();
}

}  // namespace

PYBIND11_MODULE(dlpack_extension_example, m) {
    m.def("total", &total, py::arg("x"));
    m.def("scale", &scale, py::arg("x"), py::arg("factor"));
    m.def("rows", &rows, py::arg("x"));
    m.def("describe", &describe, py::arg("x"));
    m.def("require_ndim", &require_ndim, py::arg("x"), py::arg("ndim"));
    // What is not DLPack at all falls through to the next overload.
    m.def("kind", [](const od::dlpack_tensor<>&) { return std::string("tensor"); });
    m.def("kind", [](const py::object&) { return std::string("other"); });
}

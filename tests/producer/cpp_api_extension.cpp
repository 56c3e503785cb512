// cpp_api_extension — the C++ API of docs/cpp.md as an extension author uses it: every shipped
// header (through optype_dlpack.hpp), typed tensors, overloads, signatures, streams, the CUDA
// driver shared with optype_dlpack._core, and tensors returned to Python.
// Built by tests/package/test_cpp_api.py and tests/cuda/ (never shipped).
#include <optype_dlpack/optype_dlpack.hpp>
#include <pybind11/stl.h>

#include <atomic>
#include <complex>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace py = pybind11;
namespace od = optype_dlpack;

namespace {

// Overloads by dtype: each is tried in turn; a tensor of another dtype falls through.
double total_f32(const od::tensor<float, od::ndim<1>>& x) {
    const auto v = x.view<1>();
    double sum = 0;
    for (std::int64_t i = 0; i < v.shape(0); ++i) sum += static_cast<double>(v(i));
    return sum;
}
double total_f64(const od::tensor<double, od::ndim<1>>& x) {
    const auto v = x.view<const double, 1>();
    double sum = 0;
    for (std::int64_t i = 0; i < v.shape(0); ++i) sum += v(i);
    return sum;
}
std::string total_text(const std::string& text) { return "text: " + text; }

/// Every compile-time requirement, for the signature.
std::int64_t everything(const od::tensor<std::complex<double>, od::shape<od::any_extent, 3>, od::device<kDLCPU, 0>,
                                         od::f_contig, od::read_only, od::verify<od::VerifyDevice::skip>>& x) {
    return x.shape(0);
}
/// Values DLPack defined after 1.3 are violations here (strict), findings elsewhere.
std::int32_t strict_ndim(const od::dlpack_tensor<od::strict>& x) { return x.ndim(); }
std::int64_t bf16_rows(const od::tensor<od::bfloat16, od::ndim<2>, od::device<kDLCUDA>>& x) { return x.shape(0); }
std::int64_t float8(const od::dlpack_tensor<od::dtype_code<kDLFloat8_e4m3fn, 8>, od::c_contig, od::writable>& x) {
    return x.size();
}

/// Adds one to each element of a writable (n, m) float32 matrix, through view<float, 2>.
void add_one(const od::tensor<float, od::ndim<2>, od::writable>& x) {
    auto v = x.view<2>();
    for (std::int64_t i = 0; i < v.shape(0); ++i) {
        for (std::int64_t j = 0; j < v.shape(1); ++j) v(i, j) += 1.0f;
    }
}

/// view<T, N>() with a T or N the tensor does not have.
void wrong_view(const od::dlpack_tensor<>& x) { (void)x.view<std::int32_t, 3>(); }

/// What the typed tensor says of itself.
py::dict facts(const od::dlpack_tensor<>& x) {
    py::dict out;
    out["shape"] = py::cast(x.shape());
    out["strides"] = py::cast(x.strides());
    std::vector<std::int64_t> byte_strides;
    for (std::int32_t i = 0; i < x.ndim(); ++i) byte_strides.push_back(x.stride_bytes(i));
    out["byte_strides"] = py::cast(byte_strides);
    out["itemsize"] = x.itemsize();
    out["nbytes"] = x.nbytes();
    out["data"] = reinterpret_cast<std::uintptr_t>(x.data());
    out["device_verified"] = static_cast<int>(x.device_verified());
    out["info"] = x.info();
    return out;
}

// Streams.
std::atomic<std::intptr_t> g_stream{0};
std::intptr_t current_stream() { return g_stream.load(); }

std::int64_t on_default_stream(const od::tensor<float, od::device<kDLCUDA>>& x) { return x.size(); }
std::int64_t on_our_stream(const od::tensor<float, od::device<kDLCUDA>, od::on_stream<&current_stream>>& x) {
    return x.size();
}
std::int64_t without_sync(const od::tensor<float, od::no_sync>& x) { return x.size(); }
/// The stream known only at run time, from an argument.
std::int64_t on_given_stream(const py::object& x, std::intptr_t stream) {
    return od::tensor<float>::from_python(x, stream).size();
}

/// The CUDA driver as this extension sees it (cuda_api.hpp: _core's, through its table).
py::dict driver() {
    if (!od::cuda::bind_driver()) throw py::error_already_set();
    py::dict out;
    out["available"] = od::cuda::driver_available();
    out["reason"] = std::string(od::cuda::driver_unavailable_reason());
    out["loaded"] = od::cuda::driver_loaded_in_process();
    int count = -1;
    std::string error;
    out["count_status"] = static_cast<int>(od::cuda::device_count(&count, &error));
    out["count"] = count;
    return out;
}

/// The driver must confirm the device (Expect(verify_device="require")).
int verified(const od::dlpack_tensor<od::verify<od::VerifyDevice::require>>& x) { return x.device_verified(); }
/// As validate() does by default.
int verified_auto(const od::dlpack_tensor<>& x) { return x.device_verified(); }

// Returning tensors.
od::exported_tensor squares(std::int64_t n) {
    std::vector<double> out(static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(i * i);
    return od::exported_tensor::owning(std::move(out), {n});
}

std::atomic<int> g_frees{0};
struct counting_delete {
    void operator()(std::int32_t* p) const {
        delete[] p;
        g_frees.fetch_add(1);
    }
};
/// A (2, 3) int32 matrix in F order, owned through a unique_ptr with a deleter, read-only.
od::exported_tensor fortran_matrix() {
    std::unique_ptr<std::int32_t, counting_delete> data(new std::int32_t[6]{0, 3, 1, 4, 2, 5});
    return od::exported_tensor::owning(std::move(data), {2, 3}, {1, 2}).read_only();
}
/// Every other element of a bytes object, borrowed (the bytes are kept alive).
od::exported_tensor every_other(const py::bytes& data) {
    const auto* first = reinterpret_cast<const std::uint8_t*>(PyBytes_AsString(data.ptr()));
    const auto count = static_cast<std::int64_t>(PyBytes_Size(data.ptr()));
    return od::exported_tensor::borrowing(first, {(count + 1) / 2}, {2}, data);
}
od::exported_tensor out_of_bounds() { return od::exported_tensor::owning(std::vector<float>(4), {3}, {2}); }

/// A function body that calls back into Python, which calls an overloaded function: the inner
/// call resolves its own overloads.
py::object call_back(const od::tensor<float>& x, const py::function& callback) {
    (void)x;
    return callback();
}

}  // namespace

PYBIND11_MODULE(cpp_api_extension, m) {
    m.def("total", &total_f32, py::arg("x"), od::report_overloads());
    m.def("total", &total_f64, py::arg("x"), od::report_overloads());
    m.def("total", &total_text, py::arg("x"), od::report_overloads());
    // The same overloads without report_overloads: pybind11's TypeError when none matches.
    m.def("plain_total", &total_f32, py::arg("x"));
    m.def("plain_total", &total_f64, py::arg("x"));
    m.def("everything", &everything, py::arg("x"));
    m.def("bf16_rows", &bf16_rows, py::arg("x"));
    m.def("strict_ndim", &strict_ndim, py::arg("x"));
    m.def("float8", &float8, py::arg("x"));
    m.def("add_one", &add_one, py::arg("x"));
    m.def("wrong_view", &wrong_view, py::arg("x"));
    m.def("facts", &facts, py::arg("x"));
    m.def("on_default_stream", &on_default_stream, py::arg("x"));
    m.def("on_our_stream", &on_our_stream, py::arg("x"));
    m.def("without_sync", &without_sync, py::arg("x"));
    m.def("on_given_stream", &on_given_stream, py::arg("x"), py::arg("stream"));
    m.def(
        "set_stream", [](std::intptr_t stream) { g_stream.store(stream); }, py::arg("stream"));
    m.def("driver", &driver);
    m.def("verified", &verified, py::arg("x"));
    m.def("verified_auto", &verified_auto, py::arg("x"));
    m.def("squares", &squares, py::arg("n"));
    m.def("fortran_matrix", &fortran_matrix);
    m.def("frees", []() { return g_frees.load(); });
    m.def("every_other", &every_other, py::arg("data"));
    m.def("out_of_bounds", &out_of_bounds);
    m.def("call_back", &call_back, py::arg("x"), py::arg("callback"), od::report_overloads());
}

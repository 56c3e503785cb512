// The two functions of the nanobind comparison, with optype_dlpack's pybind11 API (docs/cpp.md).
#include <optype_dlpack/optype_dlpack.hpp>

#include <cstdint>

namespace od = optype_dlpack;

double total(const od::tensor<double, od::ndim<1>, od::device<kDLCPU>>& x) {
    const auto v = x.view<1>();
    double sum = 0;
    for (std::int64_t i = 0; i < v.shape(0); ++i) sum += v(i);
    return sum;
}

void scale(const od::tensor<float, od::ndim<1>, od::device<kDLCPU>, od::c_contig, od::writable>& x, float factor) {
    auto v = x.view<1>();
    for (std::int64_t i = 0; i < v.shape(0); ++i) v(i) *= factor;
}

PYBIND11_MODULE(bench_ours, m) {
    m.def("total", &total, pybind11::arg("x"));
    m.def("scale", &scale, pybind11::arg("x"), pybind11::arg("factor"));
}

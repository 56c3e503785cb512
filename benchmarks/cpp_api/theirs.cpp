// The two functions of the comparison with nanobind's nb::ndarray.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <cstdint>

namespace nb = nanobind;

double total(nb::ndarray<const double, nb::ndim<1>, nb::device::cpu> x) {
    const auto v = x.view();
    double sum = 0;
    for (std::size_t i = 0; i < v.shape(0); ++i) sum += v(i);
    return sum;
}

void scale(nb::ndarray<float, nb::ndim<1>, nb::device::cpu, nb::c_contig> x, float factor) {
    auto v = x.view();
    for (std::size_t i = 0; i < v.shape(0); ++i) v(i) *= factor;
}

NB_MODULE(bench_theirs, m) {
    m.def("total", &total, nb::arg("x"));
    m.def("scale", &scale, nb::arg("x"), nb::arg("factor"));
}

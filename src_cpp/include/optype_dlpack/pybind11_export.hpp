/// optype_dlpack/pybind11_export.hpp — returning tensors from a pybind11 extension to Python.
///
/// A function that returns an `exported_tensor` hands Python a DLPack producer: an object with
/// `__dlpack__` (versioned capsules, DLPack 1.3, READ_ONLY when asked for) and
/// `__dlpack_device__`, which numpy.from_dlpack, torch.from_dlpack, jax.numpy.from_dlpack and
/// optype_dlpack accept, as many times as they like, without a copy:
///
///     od::exported_tensor squares(std::int64_t n) {
///         std::vector<double> out(static_cast<std::size_t>(n));
///         for (std::int64_t i = 0; i < n; ++i) out[i] = double(i * i);
///         return od::exported_tensor::owning(std::move(out), {n});
///     }
///
/// Memory: `owning` takes a std::vector or a std::unique_ptr (with its deleter), which lives
/// until the returned object and every capsule and array made from it are gone; `borrowing`
/// points at memory that a Python object keeps alive (the object is held as long). The data
/// must be ready when the function returns: the producer ignores the consumer's stream.
#pragma once

#include <pybind11/pybind11.h>

#include "element.hpp"
#include "export.hpp"

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace optype_dlpack {

/// A tensor for Python: see the top of this header.
class exported_tensor {
public:
    /// Owns `data`; `strides` in elements (empty: C order). Raises ValueError (std::invalid_argument)
    /// when an addressed element lies outside the vector.
    template <class T>
    static exported_tensor owning(std::vector<T> data, std::vector<std::int64_t> shape,
                                  std::vector<std::int64_t> strides = {}) {
        auto owner = std::make_shared<std::vector<T>>(std::move(data));
        exported_tensor out(owner->data(), element_dtype<T>(), std::move(shape), std::move(strides),
                            DLDevice{kDLCPU, 0});
        out.require_within(static_cast<std::int64_t>(owner->size()));
        out.owner_ = std::move(owner);
        return out;
    }

    /// Owns the memory `data` points at, released by its deleter (on any thread, when the last
    /// user is gone); `device` says where it lies.
    template <class T, class Deleter>
    static exported_tensor owning(std::unique_ptr<T, Deleter> data, std::vector<std::int64_t> shape,
                                  std::vector<std::int64_t> strides = {}, DLDevice device = DLDevice{kDLCPU, 0}) {
        using Element = std::remove_extent_t<T>;
        exported_tensor out(data.get(), element_dtype<Element>(), std::move(shape), std::move(strides), device);
        out.owner_ = std::shared_ptr<T>(std::move(data));
        return out;
    }

    /// Points at memory that `keep_alive` keeps alive; the Python object is held as long as
    /// the tensor, or anything made from it, is in use.
    template <class T>
    static exported_tensor borrowing(T* data, std::vector<std::int64_t> shape, std::vector<std::int64_t> strides,
                                     pybind11::object keep_alive, DLDevice device = DLDevice{kDLCPU, 0}) {
        exported_tensor out(const_cast<std::remove_const_t<T>*>(data), element_dtype<std::remove_const_t<T>>(),
                            std::move(shape), std::move(strides), device);
        // Held as the owner, so that the class holds no pybind11 type (whose visibility is hidden).
        out.owner_ = std::shared_ptr<void>(keep_alive.release().ptr(), [](void* object) {
            detail::ExportContext context{static_cast<PyObject*>(object), nullptr};
            detail::release_context(context);  // takes the GIL: the last user may be any thread
        });
        if (std::is_const_v<T>) out.read_only_ = true;
        return out;
    }

    /// Marks the tensor READ_ONLY: consumers that honour the flag (NumPy, optype_dlpack) refuse
    /// to write through it.
    exported_tensor&& read_only() && {
        read_only_ = true;
        return std::move(*this);
    }

    void* data() const noexcept { return data_; }
    DLDataType dtype() const noexcept { return dtype_; }
    DLDevice device() const noexcept { return device_; }
    const std::vector<std::int64_t>& shape() const noexcept { return shape_; }
    /// In elements.
    const std::vector<std::int64_t>& strides() const noexcept { return strides_; }
    bool is_read_only() const noexcept { return read_only_; }

private:
    exported_tensor(void* data, DLDataType dtype, std::vector<std::int64_t> shape, std::vector<std::int64_t> strides,
                    DLDevice device)
        : data_(data), dtype_(dtype), device_(device), shape_(std::move(shape)), strides_(std::move(strides)) {
        if (shape_.size() > static_cast<std::size_t>(kMaxNdim)) throw std::invalid_argument("too many axes");
        for (std::int64_t extent : shape_) {
            if (extent < 0) throw std::invalid_argument("shape: a negative extent " + std::to_string(extent));
        }
        if (strides_.empty()) strides_ = c_order_strides(shape_);
        if (strides_.size() != shape_.size()) {
            throw std::invalid_argument("strides: " + std::to_string(strides_.size()) + " strides for " +
                                        std::to_string(shape_.size()) + " axes");
        }
    }

    static std::vector<std::int64_t> c_order_strides(const std::vector<std::int64_t>& shape) {
        std::vector<std::int64_t> out(shape.size());
        std::int64_t step = 1;
        for (std::size_t i = shape.size(); i-- > 0;) {
            out[i] = step;
            step *= shape[i] > 0 ? shape[i] : 1;
        }
        return out;
    }

    /// Every addressed element is one of the `count` the owner holds.
    void require_within(std::int64_t count) const {
        std::int64_t low = 0, high = 0;
        for (std::size_t i = 0; i < shape_.size(); ++i) {
            if (shape_[i] == 0) return;  // no element is addressed
            const std::int64_t reach = (shape_[i] - 1) * strides_[i];
            (reach < 0 ? low : high) += reach;
        }
        if (low < 0 || high >= count) {
            throw std::invalid_argument("shape and strides address elements [" + std::to_string(low) + ", " +
                                        std::to_string(high) + "] of a vector of " + std::to_string(count));
        }
    }

    std::shared_ptr<void> owner_;
    void* data_;
    DLDataType dtype_;
    DLDevice device_;
    std::vector<std::int64_t> shape_;
    std::vector<std::int64_t> strides_;
    bool read_only_ = false;
};

namespace detail {

/// The Python object an exported_tensor becomes (a class local to each extension).
struct dlpack_producer {
    exported_tensor tensor;

    pybind11::tuple dlpack_device() const {
        return pybind11::make_tuple(static_cast<int>(tensor.device().device_type), tensor.device().device_id);
    }
};

[[noreturn]] inline void refuse_export(const std::string& why) {
    PyErr_SetString(PyExc_BufferError, why.c_str());
    throw pybind11::error_already_set();
}

/// The two ints of a (major, minor) or (device_type, device_id) argument; TypeError otherwise.
inline std::pair<long, long> int_pair(const pybind11::object& value, const char* name) {
    if (!pybind11::isinstance<pybind11::tuple>(value) || pybind11::len(value) != 2) {
        throw pybind11::type_error(std::string(name) + " must be a tuple of two ints");
    }
    const auto pair = pybind11::reinterpret_borrow<pybind11::tuple>(value);
    return {pair[0].cast<long>(), pair[1].cast<long>()};
}

/// __dlpack__(*, stream=None, max_version=None, dl_device=None, copy=None) of the Python
/// array API: a versioned capsule for a consumer that names max_version >= (1, 0), else a
/// legacy one; never a copy.
inline pybind11::object export_capsule(pybind11::handle self, const pybind11::object& max_version,
                                       const pybind11::object& dl_device, const pybind11::object& copy) {
    const exported_tensor& t = pybind11::cast<const dlpack_producer&>(self).tensor;
    if (!copy.is_none() && pybind11::cast<bool>(copy)) {
        refuse_export("this tensor cannot be copied on export (copy=True)");
    }
    if (!dl_device.is_none()) {
        const std::pair<long, long> wanted = int_pair(dl_device, "dl_device");
        if (wanted.first != static_cast<long>(t.device().device_type) || wanted.second != t.device().device_id) {
            refuse_export("this tensor cannot be exported to another device (dl_device)");
        }
    }
    const bool versioned = !max_version.is_none() && int_pair(max_version, "max_version").first >= 1;
    if (!versioned && t.is_read_only()) {
        refuse_export("a read-only tensor needs a versioned capsule (max_version >= (1, 0))");
    }
    ExportSpec spec;
    spec.data = t.data();
    spec.device = t.device();
    spec.dtype = t.dtype();
    spec.ndim = static_cast<std::int32_t>(t.shape().size());
    spec.shape = t.shape().data();
    spec.strides = t.strides().data();
    spec.flags = t.is_read_only() ? kFlagReadOnly : 0;
    PyObject* capsule = make_capsule(spec, self.ptr(), nullptr, versioned);  // the capsule holds `self`
    if (capsule == nullptr) throw pybind11::error_already_set();
    return pybind11::reinterpret_steal<pybind11::object>(capsule);
}

/// Registers the producer class on first use, in this extension only (module_local).
inline void register_dlpack_producer() {
    if (pybind11::detail::get_type_info(typeid(dlpack_producer)) != nullptr) return;
    namespace py = pybind11;
    // A module of its own as the class's scope: the class belongs to no public module.
    py::module_ scope = py::reinterpret_steal<py::module_>(PyModule_New("optype_dlpack_exported"));
    if (!scope) throw py::error_already_set();
    py::class_<dlpack_producer>(scope, "DLPackTensor", py::module_local(),
                                "A tensor returned by a C++ extension: a DLPack producer.")
        .def(
            "__dlpack__",
            [](py::handle self, const py::object& stream, const py::object& max_version, const py::object& dl_device,
               const py::object& copy) {
                (void)stream;  // the data is ready: the extension returned it
                return export_capsule(self, max_version, dl_device, copy);
            },
            py::kw_only(), py::arg("stream") = py::none(), py::arg("max_version") = py::none(),
            py::arg("dl_device") = py::none(), py::arg("copy") = py::none())
        .def("__dlpack_device__", &dlpack_producer::dlpack_device);
    scope.release();  // kept for the life of the process, as the class is
}

}  // namespace detail

}  // namespace optype_dlpack

namespace pybind11::detail {

template <>
struct type_caster<optype_dlpack::exported_tensor> {
    PYBIND11_TYPE_CASTER(optype_dlpack::exported_tensor, const_name("optype_dlpack.SupportsDLPack"));

    static bool load(handle, bool) { return false; }  // a return type only

    static handle cast(optype_dlpack::exported_tensor tensor, return_value_policy, handle) {
        optype_dlpack::detail::register_dlpack_producer();
        return pybind11::cast(optype_dlpack::detail::dlpack_producer{std::move(tensor)}).release();
    }
};

}  // namespace pybind11::detail

/// optype_dlpack/tensor_info.hpp — an owning description of a validated tensor (copied out
/// of the capsule, so it outlives it): device, dtype, shape, strides, flags, geometry.
#pragma once

#include "check.hpp"

#include <cstdint>
#include <vector>

namespace optype_dlpack {

/// Extents or strides: inline up to 6 dimensions, on the heap beyond.
class Dims {
public:
    Dims() = default;
    void assign_shape(const DLTensor& t) { assign(t.shape, t.shape + (t.ndim > 0 ? t.ndim : 0)); }
    void assign_strides(const DLTensor& t) {
        resize(t.ndim);
        fill_strides(t, data());
    }
    /// Copies a range of integers (extents or strides of any integer type).
    template <class T>
    void assign(const T* first, const T* last) {
        resize(static_cast<std::int32_t>(last - first));
        for (std::int32_t i = 0; i < n_; ++i) data()[i] = static_cast<std::int64_t>(first[i]);
    }
    /// n entries, their values unspecified until written.
    void resize(std::int32_t n) {
        n_ = n < 0 ? 0 : n;
        if (n_ > kInline) heap_.resize(static_cast<std::size_t>(n_));
    }
    std::int32_t size() const noexcept { return n_; }
    const std::int64_t* data() const noexcept { return n_ <= kInline ? inline_ : heap_.data(); }
    std::int64_t* data() noexcept { return n_ <= kInline ? inline_ : heap_.data(); }
    std::int64_t operator[](std::int32_t i) const noexcept { return data()[i]; }
    std::int64_t& operator[](std::int32_t i) noexcept { return data()[i]; }
    const std::int64_t* begin() const noexcept { return data(); }
    const std::int64_t* end() const noexcept { return data() + n_; }

private:
    static constexpr std::int32_t kInline = 6;
    std::int32_t n_ = 0;
    std::int64_t inline_[kInline] = {};
    std::vector<std::int64_t> heap_;
};

struct TensorInfo {
    TensorInfo() = default;
    TensorInfo(const ManagedView& view, const Geometry& g, std::int8_t verified)
        : device(view.tensor->device),
          dtype(view.tensor->dtype),
          byte_offset(view.tensor->byte_offset),
          data_ptr(reinterpret_cast<std::uintptr_t>(view.tensor->data)),
          versioned(view.versioned),
          version(view.version),
          flags(view.flags),
          size(g.size),
          nbytes(g.nbytes),
          c_contiguous(g.c_contiguous),
          f_contiguous(g.f_contiguous),
          device_verified(verified),
          findings(newer_value_findings(view)) {
        shape.assign_shape(*view.tensor);
        strides.assign_strides(*view.tensor);
    }

    DLDevice device{kDLCPU, 0};
    DLDataType dtype{0, 0, 0};
    Dims shape;
    Dims strides;  ///< in elements, always filled (computed when the capsule had NULL)
    std::uint64_t byte_offset = 0;
    std::uintptr_t data_ptr = 0;
    bool versioned = false;
    DLPackVersion version{0, 0};
    std::uint64_t flags = 0;
    std::int64_t size = 0;
    std::uint64_t nbytes = 0;
    bool c_contiguous = true;
    bool f_contiguous = true;
    std::int8_t device_verified = -1;  ///< -1 unknown, 0 no, 1 yes
    /// Values DLPack defined after 1.3, or newer than this package knows, that the tensor
    /// carries (newer_value_findings): permitted, and worth a consumer's attention.
    std::vector<Violation> findings;
};

}  // namespace optype_dlpack

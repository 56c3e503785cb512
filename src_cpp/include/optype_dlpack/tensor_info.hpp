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

/// A TensorInfo in a fixed C layout, borrowing its extents and strides: what passes between
/// an extension and optype_dlpack._core, whose TensorInfo type holds the Python side (see
/// TensorInfoApi in pybind11.hpp). Fixed-width fields only, so that extensions built by
/// another compiler read it alike.
struct TensorInfoRecord {
    DLDevice device;
    DLDataType dtype;
    std::int32_t ndim;
    const std::int64_t* shape;    ///< ndim extents (may be NULL when ndim is 0)
    const std::int64_t* strides;  ///< ndim strides in elements; NULL: compact row-major
    std::uint64_t byte_offset;
    std::uint64_t data_ptr;
    std::uint64_t flags;
    std::int64_t size;
    std::uint64_t nbytes;
    DLPackVersion version;
    std::uint8_t versioned;
    std::uint8_t c_contiguous;
    std::uint8_t f_contiguous;
    std::int8_t device_verified;  ///< -1 unknown, 0 no, 1 yes
};

/// The record of a tensor that passed the structural checks; it borrows the tensor's arrays.
inline TensorInfoRecord record_of(const ManagedView& view, const Geometry& g, std::int8_t verified) noexcept {
    const DLTensor& t = *view.tensor;
    return TensorInfoRecord{t.device,
                            t.dtype,
                            t.ndim > 0 ? t.ndim : 0,
                            t.shape,
                            t.strides,
                            t.byte_offset,
                            reinterpret_cast<std::uintptr_t>(t.data),
                            view.flags,
                            g.size,
                            g.nbytes,
                            view.version,
                            view.versioned,
                            g.c_contiguous,
                            g.f_contiguous,
                            verified};
}

/// The strides a record stands for, written into out[0..ndim): its own, or compact row-major.
inline void fill_record_strides(const TensorInfoRecord& r, std::int64_t* out) noexcept {
    DLTensor t{};
    t.ndim = r.ndim;
    t.shape = const_cast<std::int64_t*>(r.shape);      // only read
    t.strides = const_cast<std::int64_t*>(r.strides);  // only read
    fill_strides(t, out);
}

/// The findings about the values a record describes (newer_value_findings). They depend only
/// on its device, dtype and version, which a record keeps: they are computed from it, never
/// stored. Empty, and allocation-free, for a record of DLPack 1.3 values.
inline std::vector<Violation> record_findings(const TensorInfoRecord& r) {
    DLTensor t{};
    t.device = r.device;
    t.dtype = r.dtype;
    return newer_value_findings(ManagedView{&t, r.versioned != 0, r.version, r.flags});
}

struct TensorInfo {
    TensorInfo() = default;
    /// A copy of what the record describes (its arrays are copied too).
    explicit TensorInfo(const TensorInfoRecord& r)
        : device(r.device),
          dtype(r.dtype),
          byte_offset(r.byte_offset),
          data_ptr(static_cast<std::uintptr_t>(r.data_ptr)),
          versioned(r.versioned != 0),
          version(r.version),
          flags(r.flags),
          size(r.size),
          nbytes(r.nbytes),
          c_contiguous(r.c_contiguous != 0),
          f_contiguous(r.f_contiguous != 0),
          device_verified(r.device_verified),
          findings(record_findings(r)) {
        shape.assign(r.shape, r.shape + r.ndim);
        strides.resize(r.ndim);
        fill_record_strides(r, strides.data());
    }
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

    /// This description as a record; it borrows shape and strides from this object.
    TensorInfoRecord record() const noexcept {
        return TensorInfoRecord{device,      dtype,     shape.size(), shape.data(), strides.data(),
                                byte_offset, data_ptr,  flags,        size,         nbytes,
                                version,     versioned, c_contiguous, f_contiguous, device_verified};
    }
};

}  // namespace optype_dlpack

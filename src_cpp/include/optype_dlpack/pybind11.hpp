/// optype_dlpack/pybind11.hpp — validated DLPack tensors as pybind11 function arguments.
///
/// An extension function that takes a `dlpack_tensor<...>` accepts a DLPack capsule or any
/// object with `__dlpack__` (numpy, torch, jax, cupy, ...), runs every structural rule of
/// DLPack 1.3 and the declared requirements, and receives a borrowed view of the tensor:
///
///     #include <optype_dlpack/pybind11.hpp>
///     namespace od = optype_dlpack;
///
///     double total(od::dlpack_tensor<od::dtype<double>, od::ndim<1>, od::device<kDLCPU>> x) {
///         const double* p = x.data<double>();
///         double sum = 0;
///         for (std::int64_t i = 0; i < x.shape(0); ++i) sum += p[i * x.stride(0)];
///         return sum;
///     }
///     PYBIND11_MODULE(ext, m) { m.def("total", &total); }
///
/// A tensor that breaks a rule raises optype_dlpack.DLPackValidationError (or its
/// DLPackVersionError / DLPackConsumedError subclasses) listing every violation; an object
/// that is neither a capsule nor a producer is left to pybind11's overload resolution.
///
/// Ownership: a capsule passed in is only read, never renamed or consumed. A producer's
/// capsule is held by the dlpack_tensor and released exactly once when it is destroyed;
/// the view is valid until then. Destroy it with the GIL held (as pybind11 does for
/// arguments), and do not keep it beyond the call.
///
/// Requirements (any order, each at most once): dtype<T> or dtype_code<code, bits, lanes>,
/// ndim<N>, shape<extents...> (any_extent for a wildcard), device<type> or
/// device<type, id>, c_contig or f_contig, writable or read_only. Run-time requirements:
/// `x.require(constraints)`.
///
/// Needs dlpack.h v1.3 on the include path (apache-tvm-ffi: tvm_ffi.libinfo.
/// find_dlpack_include_path()) and optype_dlpack importable at run time.
#pragma once

#include <pybind11/pybind11.h>

#include "acquire.hpp"
#include "check.hpp"
#include "expect.hpp"
#include "tables.hpp"
#include "tensor_info.hpp"

#include <cstdint>
#include <string>
#include <utility>

namespace optype_dlpack {

/// What optype_dlpack._core exports for extensions, as the capsule `_core._tensor_info_api`
/// (named kTensorInfoApiName): TensorInfo objects made from and read into records, so that
/// od::TensorInfo converts to and from optype_dlpack.TensorInfo (the type_caster below).
struct TensorInfoApi {
    std::uint32_t version;  ///< kTensorInfoApiVersion: the layout of this struct and of TensorInfoRecord
    /// A new optype_dlpack.TensorInfo; nullptr with a Python error set on failure.
    PyObject* (*make)(const TensorInfoRecord* record);
    /// 1 when `object` is an optype_dlpack.TensorInfo, with *out describing it (borrowing the
    /// object's arrays), else 0.
    int (*read)(PyObject* object, TensorInfoRecord* out);
};
inline constexpr std::uint32_t kTensorInfoApiVersion = 1;
inline constexpr const char* kTensorInfoApiName = "optype_dlpack._core._tensor_info_api";

namespace detail {

/// The TensorInfo API of optype_dlpack._core, found once (the module is never unloaded).
inline const TensorInfoApi& tensor_info_api() {
    static const TensorInfoApi* api = nullptr;  // written with the GIL held
    if (api == nullptr) {
        pybind11::object capsule = pybind11::module_::import("optype_dlpack._core").attr("_tensor_info_api");
        const auto* found = static_cast<const TensorInfoApi*>(PyCapsule_GetPointer(capsule.ptr(), kTensorInfoApiName));
        if (found == nullptr) throw pybind11::error_already_set();
        if (found->version != kTensorInfoApiVersion) {
            throw pybind11::import_error("optype_dlpack._core's TensorInfo API is version " +
                                         std::to_string(found->version) + ", these headers need version " +
                                         std::to_string(kTensorInfoApiVersion) +
                                         ": build the extension against the installed optype_dlpack");
        }
        api = found;
    }
    return *api;
}

/// optype_dlpack._errors, imported once (kept for the process).
inline pybind11::handle errors_module() {
    // Not a function-local static with an initialiser: the import runs Python code, during which
    // another thread can take the GIL, enter the same initialiser and wait for it while holding
    // the GIL, a deadlock. A plain pointer, read and written with the GIL held, is safe; two
    // threads importing at once both get the one module. (Free threading is not declared.)
    static PyObject* module = nullptr;
    if (module == nullptr) {
        PyObject* imported = PyImport_ImportModule("optype_dlpack._errors");
        if (imported == nullptr) throw pybind11::error_already_set();
        if (module == nullptr) {
            module = imported;
        } else {
            Py_DECREF(imported);
        }
    }
    return module;
}

/// A pybind11 object that gives up its reference, without dropping it, when destroyed by a
/// forced unwind in a thread that lost the GIL to the exiting interpreter (see
/// thread_holds_gil). For a reference that is the only one to its object and is held across a
/// call into Python.
template <class Object>
class unwind_safe : public Object {
public:
    explicit unwind_safe(Object owned) : Object(std::move(owned)) {}
    unwind_safe(const unwind_safe&) = delete;
    unwind_safe& operator=(const unwind_safe&) = delete;
    ~unwind_safe() {
        if (!thread_holds_gil()) this->release();
    }
};

/// A reference held across calls into Python, dropped when it goes out of scope only while
/// the thread holds the GIL (a forced unwind at exit leaves it: see thread_holds_gil). Plain
/// C API on purpose: pybind11 temporaries would be dropped by such an unwind.
struct HeldReference {
    PyObject* object;
    explicit HeldReference(PyObject* owned) : object(owned) {
        if (object == nullptr) throw pybind11::error_already_set();
    }
    HeldReference(const HeldReference&) = delete;
    HeldReference& operator=(const HeldReference&) = delete;
    ~HeldReference() {
        if (thread_holds_gil()) Py_DECREF(object);
    }
};

/// Raises the report as DLPackValidationError / DLPackVersionError / DLPackConsumedError.
[[noreturn]] inline void raise_report(const Report& report) {
    PyObject* mod = errors_module().ptr();
    const char* cls = "DLPackValidationError";
    if (report.kind() == FailureKind::version) cls = "DLPackVersionError";
    if (report.kind() == FailureKind::consumed) cls = "DLPackConsumedError";
    HeldReference violation(PyObject_GetAttrString(mod, "Violation"));
    HeldReference records(PyList_New(0));
    for (const auto& v : report.violations()) {
        HeldReference record(
            PyObject_CallFunction(violation.object, "ssss", v.rule, v.field, v.expected.c_str(), v.got.c_str()));
        if (PyList_Append(records.object, record.object) != 0) throw pybind11::error_already_set();
    }
    HeldReference error_class(PyObject_GetAttrString(mod, cls));
    HeldReference error(PyObject_CallOneArg(error_class.object, records.object));
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(error.object)), error.object);
    throw pybind11::error_already_set();
}

[[noreturn]] inline void raise_consumed(const char* name) {
    Report report;
    report.add(Rule::capsule_consumed, "an unconsumed capsule ('dltensor' or 'dltensor_versioned')",
               std::string("'") + name + "' (already consumed; its tensor may be freed)", FailureKind::consumed);
    raise_report(report);
}

/// acquire(), with every failure raised as a Python exception.
inline void acquire_or_raise(pybind11::handle x, Source& source, Need need) {
    switch (acquire(x.ptr(), source, need)) {
        case SourceError::none: return;
        case SourceError::consumed: raise_consumed(source.consumed_name);
        case SourceError::python_error: break;
    }
    throw pybind11::error_already_set();
}

/// Runs the structural rules (as strict as the constraints say), the producer's device check
/// and (when the tensor could be read) the constraints; raises every violation at once.
/// Allocates nothing on success.
inline void check_or_raise(const Source& source, const Constraints* constraints, Geometry& geometry) {
    Report report;
    check_structure(source.view, report, &geometry,
                    constraints != nullptr ? constraints->strictness : Strictness::permissive);
    if (geometry.readable) {
        check_reported_device(source, report);
        if (constraints != nullptr) check_constraints(source.view, geometry, *constraints, report);
    }
    if (!report.ok()) raise_report(report);
}

/// Whether `x` is something a DLPack argument should try to read: a capsule, or an object
/// whose type has __dlpack__.
inline bool looks_like_dlpack(pybind11::handle x) {
    if (PyCapsule_CheckExact(x.ptr())) return true;
    const AcquireStatics& s = statics();
    return s.ready() && PyObject_HasAttr(reinterpret_cast<PyObject*>(Py_TYPE(x.ptr())), s.dlpack) == 1;
}

}  // namespace detail

// ---------------------------------------------------------------------------------------
// Compile-time requirements. Each applies itself to a Constraints.

/// Element type given as a C++ type: bool, (u)int8..64_t, float, double, std::complex.
template <class T>
struct dtype {
    static void apply(Constraints& c) {
        c.has_dtype = true;
        c.dtype = dtype_of<T>();
    }
};
/// Element type given by its DLPack fields (bfloat16: dtype_code<kDLBfloat, 16>).
template <std::uint8_t Code, std::uint8_t Bits, std::uint16_t Lanes = 1>
struct dtype_code {
    static void apply(Constraints& c) {
        c.has_dtype = true;
        c.dtype = DLDataType{Code, Bits, Lanes};
    }
};
template <std::int32_t N>
struct ndim {
    static_assert(N >= 0 && N <= kMaxNdim, "ndim out of range");
    static void apply(Constraints& c) { c.ndim = N; }
};
/// Wildcard extent for shape<...>.
inline constexpr std::int64_t any_extent = kAnyExtent;
template <std::int64_t... Extents>
struct shape {
    static void apply(Constraints& c) {
        c.has_shape = true;
        c.shape = {Extents...};
    }
};
/// A device type, and optionally an id (without one, any id is accepted).
template <DLDeviceType Type, std::int32_t Id = -1>
struct device {
    static void apply(Constraints& c) {
        c.has_device_type = true;
        c.device_type = static_cast<std::int32_t>(Type);
        c.has_device_id = Id >= 0;
        c.device_id = Id >= 0 ? Id : 0;
    }
};
struct c_contig {
    static void apply(Constraints& c) { c.layout = LayoutRequirement::c; }
};
struct f_contig {
    static void apply(Constraints& c) { c.layout = LayoutRequirement::f; }
};
/// A versioned capsule without READ_ONLY (a legacy capsule cannot promise it).
struct writable {
    static void apply(Constraints& c) { c.writable = 1; }
};
/// A versioned capsule with READ_ONLY set.
struct read_only {
    static void apply(Constraints& c) { c.writable = 0; }
};

/// The Constraints a list of requirements stands for, built once per list.
template <class... Requirements>
const Constraints& constraints_of() {
    static const Constraints constraints = [] {
        Constraints c;
        (Requirements::apply(c), ...);
        return c;
    }();
    return constraints;
}

/// A validated, borrowed DLPack tensor: see the top of this header.
template <class... Requirements>
class dlpack_tensor {
public:
    dlpack_tensor() = default;
    dlpack_tensor(dlpack_tensor&&) noexcept = default;
    // Not noexcept: assigning releases the tensor held before, which runs its producer's deleter.
    dlpack_tensor& operator=(dlpack_tensor&&) = default;
    dlpack_tensor(const dlpack_tensor&) = delete;  // one owner of the tensor
    dlpack_tensor& operator=(const dlpack_tensor&) = delete;
    ~dlpack_tensor() = default;

    /// Reads `x` (a capsule or a producer) and checks it; raises on any violation.
    static dlpack_tensor from_python(pybind11::handle x) {
        dlpack_tensor out;
        detail::acquire_or_raise(x, out.source_, Need::everything);
        const Constraints* c = sizeof...(Requirements) != 0 ? &constraints_of<Requirements...>() : nullptr;
        detail::check_or_raise(out.source_, c, out.geometry_);
        return out;
    }

    /// Checks further constraints at run time; raises DLPackValidationError listing each one unmet.
    void require(const Constraints& constraints) const {
        Report report;
        if (!check_constraints(source_.view, geometry_, constraints, report)) detail::raise_report(report);
    }

    bool valid() const noexcept { return source_.view.tensor != nullptr; }
    const DLTensor& tensor() const noexcept { return *source_.view.tensor; }

    /// Address of element 0 (data + byte_offset); nullptr for an empty tensor without data.
    void* data() const noexcept {
        if (tensor().data == nullptr) return nullptr;
        return static_cast<char*>(tensor().data) + static_cast<std::ptrdiff_t>(tensor().byte_offset);
    }
    template <class T>
    T* data() const noexcept {
        return static_cast<T*>(data());
    }

    std::int32_t ndim() const noexcept { return tensor().ndim; }
    std::int64_t shape(std::int32_t axis) const noexcept { return tensor().shape[axis]; }
    /// Stride in elements along `axis`, computed (compact row-major) when the capsule had NULL.
    std::int64_t stride(std::int32_t axis) const noexcept {
        const DLTensor& t = tensor();
        return t.strides != nullptr ? t.strides[axis] : implied_stride(t, axis);
    }
    std::int64_t size() const noexcept { return geometry_.size; }
    DLDevice device() const noexcept { return tensor().device; }
    DLDataType dtype() const noexcept { return tensor().dtype; }
    bool versioned() const noexcept { return source_.view.versioned; }
    /// {0, 0} for a legacy capsule.
    DLPackVersion version() const noexcept { return source_.view.version; }
    std::uint64_t flags() const noexcept { return source_.view.flags; }
    /// READ_ONLY is set. A legacy capsule cannot say: false, but see writable.
    bool readonly() const noexcept { return (source_.view.flags & kFlagReadOnly) != 0; }
    bool is_c_contiguous() const noexcept { return geometry_.c_contiguous; }
    bool is_f_contiguous() const noexcept { return geometry_.f_contiguous; }
    /// An owning copy of the description, valid after this view is gone.
    TensorInfo info() const { return TensorInfo(source_.view, geometry_, -1); }

private:
    Source source_;
    Geometry geometry_;
};

}  // namespace optype_dlpack

namespace pybind11::detail {

/// od::TensorInfo (what dlpack_tensor::info() returns) as optype_dlpack.TensorInfo, both ways.
template <>
struct type_caster<optype_dlpack::TensorInfo> {
    PYBIND11_TYPE_CASTER(optype_dlpack::TensorInfo, const_name("optype_dlpack._core.TensorInfo"));

    bool load(handle src, bool /*convert*/) {
        optype_dlpack::TensorInfoRecord record{};
        if (optype_dlpack::detail::tensor_info_api().read(src.ptr(), &record) == 0) return false;
        value = optype_dlpack::TensorInfo(record);
        return true;
    }

    static handle cast(const optype_dlpack::TensorInfo& info, return_value_policy, handle) {
        const optype_dlpack::TensorInfoRecord record = info.record();
        PyObject* object = optype_dlpack::detail::tensor_info_api().make(&record);
        if (object == nullptr) throw error_already_set();
        return object;
    }
};

template <class... Requirements>
struct type_caster<optype_dlpack::dlpack_tensor<Requirements...>> {
    using Tensor = optype_dlpack::dlpack_tensor<Requirements...>;
    PYBIND11_TYPE_CASTER(Tensor, const_name("types.CapsuleType | optype_dlpack.CanDLPack"));

    /// Declines what is not DLPack at all (so other overloads may match); raises the
    /// package's errors for DLPack input that breaks a rule.
    bool load(handle src, bool /*convert*/) {
        if (!optype_dlpack::detail::looks_like_dlpack(src)) return false;
        value = Tensor::from_python(src);
        return true;
    }

    static handle cast(const Tensor&, return_value_policy, handle) {
        throw type_error("optype_dlpack::dlpack_tensor is an argument type: it cannot be returned to Python");
    }
};

}  // namespace pybind11::detail

/// optype_dlpack/pybind11.hpp — validated DLPack tensors as pybind11 function arguments.
///
/// An extension function that takes a `tensor<T, ...>` (a `dlpack_tensor<dtype<T>, ...>`)
/// accepts a DLPack capsule or any object with `__dlpack__` (numpy, torch, jax, cupy, ...),
/// runs every structural rule of DLPack 1.3, asks the CUDA driver about the device as
/// optype_dlpack.validate does, checks the declared requirements, and receives a borrowed
/// view of the tensor:
///
///     #include <optype_dlpack/pybind11.hpp>
///     namespace od = optype_dlpack;
///
///     double total(const od::tensor<double, od::ndim<1>, od::device<kDLCPU>>& x) {
///         const auto v = x.view<1>();
///         double sum = 0;
///         for (std::int64_t i = 0; i < v.shape(0); ++i) sum += v(i);
///         return sum;
///     }
///     PYBIND11_MODULE(ext, m) { m.def("total", &total); }
///
/// A tensor that breaks a rule raises optype_dlpack.DLPackValidationError (or its
/// DLPackVersionError / DLPackConsumedError subclasses) listing every violation. One that
/// breaks only the declared requirements is declined during overload resolution (another
/// overload may take it); report_overloads() makes the error name every overload's findings.
/// An object that is neither a capsule nor a producer is left to pybind11. The signature shows
/// the requirements as `typing.Annotated[optype_dlpack.CanDLPack, optype_dlpack.Expect(...)]`.
///
/// Ownership: a capsule passed in is only read, never renamed or consumed. A producer's
/// capsule is held by the dlpack_tensor and released exactly once when it is destroyed;
/// the view is valid until then. Destroy it with the GIL held (as pybind11 does for
/// arguments), and do not keep it beyond the call.
///
/// Requirements (any order, each at most once): dtype<T> or dtype_code<code, bits, lanes>,
/// ndim<N>, shape<extents...> (any_extent for a wildcard), device<type> or
/// device<type, id>, c_contig or f_contig, writable or read_only, verify<mode>, strict, and the
/// stream: on_stream<&function> or no_sync (stream=None by default). Run-time requirements:
/// `x.require(constraints)`. Tensors go back to Python as exported_tensor
/// (pybind11_export.hpp).
///
/// Needs optype_dlpack.get_include() on the include path (it holds dlpack.h v1.3 too) and
/// optype_dlpack importable at run time. docs/cpp.md has the whole story.
#pragma once

#include <pybind11/pybind11.h>

#include "acquire.hpp"
#include "check.hpp"
#include "cuda_api.hpp"
#include "device_truth.hpp"
#include "element.hpp"
#include "expect.hpp"
#include "pybind11_export.hpp"
#include "tables.hpp"
#include "tensor_info.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

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

/// Raises the failure that reading into `source` reported (nothing for SourceError::none).
inline void raise_source_error(SourceError error, const Source& source) {
    switch (error) {
        case SourceError::none: return;
        case SourceError::consumed: raise_consumed(source.consumed_name);
        case SourceError::python_error: break;
    }
    throw pybind11::error_already_set();
}

/// acquire(), with every failure raised as a Python exception.
inline void acquire_or_raise(pybind11::handle x, Source& source, Need need) {
    raise_source_error(acquire(x.ptr(), source, need), source);
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

/// What the overloads of one call that took od::report_overloads() found, kept per thread while
/// pybind11 tries them: which overload (its signature) broke which declared constraint. The
/// last overload tried raises them all when none matched.
struct OverloadAttempt {
    const void* overload;   ///< its pybind11 function_record
    std::string signature;  ///< as pybind11 shows it
    std::vector<Violation> violations;
};
struct OverloadFailures {
    bool deferring = false;  ///< a report_overloads() overload is loading its arguments
    std::vector<OverloadAttempt> attempts;
};
inline OverloadFailures& overload_failures() {
    thread_local OverloadFailures failures;  // C++ data only: never runs Python to initialise
    return failures;
}

/// Whether a caster that found a tensor breaking its declared constraints should decline it
/// (so pybind11 tries the next overload) rather than raise: while loading the arguments of a
/// report_overloads() overload, and in pybind11's first pass over overloads (`convert` false),
/// where raising would hide an exact match further down.
inline bool defer_constraint_violations(bool convert) { return !convert || overload_failures().deferring; }

/// Keeps the violations for the report raised when no overload matches.
inline void record_constraint_violations(const Report& report) {
    OverloadFailures& failures = overload_failures();
    if (!failures.deferring || failures.attempts.empty()) return;
    std::vector<Violation>& into = failures.attempts.back().violations;
    into.insert(into.end(), report.violations().begin(), report.violations().end());
}

/// A new reference to the stream argument for __dlpack__: `stream` as a Python int.
inline PyObject* stream_object(std::intptr_t stream) {
    PyObject* out = PyLong_FromSsize_t(static_cast<Py_ssize_t>(stream));
    if (out == nullptr) throw pybind11::error_already_set();
    return out;
}

/// negotiate() for a consumer that reads the data: a producer on a stream device (CUDA, ROCm)
/// is asked to make the tensor ready on `stream` (a borrowed int, or None: the legacy default
/// stream), any other with stream=None. The exchange API's exports never synchronise, so a
/// device tensor from it is released and asked for through __dlpack__ (StreamPolicy::host_read).
inline bool negotiate_on_stream(PyObject* x, Offer& offer, PyObject* stream) {
    const AcquireStatics& s = statics();
    if (!s.ready()) {
        if (!PyErr_Occurred()) PyErr_NoMemory();
        return false;
    }
    if (const DLPackExchangeAPI* api = exchange_api_of(Py_TYPE(x))) {
        switch (ask_table(x, *api, StreamPolicy::host_read, offer, nullptr)) {
            case TableAnswer::tensor: return true;
            case TableAnswer::error: return false;
            case TableAnswer::ask_dlpack: break;
        }
    }
    if (!is_exact_ndarray(Py_TYPE(x)) && !ask_device(x, offer)) return false;
    const bool on_stream_device =
        offer.has_reported_device && stream_device(static_cast<std::int32_t>(offer.reported_device.device_type));
    offer.capsule = ask_dlpack(x, on_stream_device ? stream : Py_None);
    return offer.capsule != nullptr;
}

/// acquire() for a consumer that reads the data on `stream` (see negotiate_on_stream); raises
/// every failure as a Python exception.
inline void acquire_on_stream_or_raise(pybind11::handle x, Source& source, PyObject* stream) {
    SourceError read = SourceError::none;
    Offer offer;  // holds the producer's capsule until the source has its own reference
    if (PyCapsule_CheckExact(x.ptr())) {
        read = source.from_capsule(x.ptr());
    } else {
        if (!negotiate_on_stream(x.ptr(), offer, stream)) throw pybind11::error_already_set();
        source.has_reported_device = offer.has_reported_device;
        source.reported_device = offer.reported_device;
        if (offer.managed != nullptr) {
            source.adopt(offer.take_managed(), x.ptr());
            return;
        }
        read = source.from_capsule(offer.capsule);
        source.kind = SourceKind::dunder_dlpack;
    }
    raise_source_error(read, source);
}

}  // namespace detail

namespace detail {

using pybind11::detail::const_name;
using pybind11::detail::descr;

/// The name Expect(dtype=...) takes for T, quoted: "float32", "complex128", "bfloat16".
template <class T>
constexpr auto dtype_name() {
    using U = std::remove_cv_t<T>;
    constexpr std::size_t bits = sizeof(U) * 8;
    if constexpr (std::is_same_v<U, bool>) {
        return const_name("\"bool\"");
    } else if constexpr (std::is_same_v<U, bfloat16>) {
        return const_name("\"bfloat16\"");
    } else if constexpr (std::is_same_v<U, float16>) {
        return const_name("\"float16\"");
    } else if constexpr (std::is_integral_v<U>) {
        return const_name("\"") + const_name<std::is_signed_v<U>>("int", "uint") + const_name<bits>() +
               const_name("\"");
    } else if constexpr (std::is_floating_point_v<U>) {
        return const_name("\"float") + const_name<bits>() + const_name("\"");
    } else {
        return const_name("\"complex") + const_name<bits>() + const_name("\"");
    }
}

/// An extent of shape<...> as Python writes it: None for any_extent.
template <std::int64_t Extent>
constexpr auto extent_name() {
    if constexpr (Extent < 0) {
        return const_name("None");
    } else {
        return const_name<static_cast<std::size_t>(Extent)>();
    }
}

/// A device type as Expect(device=...) takes it: "cpu" and "cuda" by name (alone), others by number.
template <DLDeviceType Type, bool Alone>
constexpr auto device_name() {
    if constexpr (Alone && Type == kDLCPU) {
        return const_name("\"cpu\"");
    } else if constexpr (Alone && Type == kDLCUDA) {
        return const_name("\"cuda\"");
    } else {
        return const_name<static_cast<std::size_t>(Type)>();
    }
}

template <std::size_t N1, std::size_t N2>
constexpr auto join(const descr<N1>& a, const descr<N2>& b) {
    if constexpr (N1 == 0) {
        return b;
    } else if constexpr (N2 == 0) {
        return a;
    } else {
        return a + const_name(", ") + b;
    }
}

template <std::int64_t First, std::int64_t... Rest>
constexpr auto extent_names() {
    if constexpr (sizeof...(Rest) == 0) {
        return extent_name<First>();
    } else {
        return join(extent_name<First>(), extent_names<Rest...>());
    }
}

/// The keyword arguments of Expect(...) that the requirements stand for, in their order.
template <class First, class... Rest>
constexpr auto expect_arguments() {
    if constexpr (sizeof...(Rest) == 0) {
        return First::signature;
    } else {
        return join(First::signature, expect_arguments<Rest...>());
    }
}

}  // namespace detail

// ---------------------------------------------------------------------------------------
// Compile-time requirements. Each applies itself to a Constraints, and names itself as
// Expect's keyword argument in the signature pybind11 shows (`signature`).

/// Element type given as a C++ type: bool, (u)int8..64_t, float, double, std::complex<float>,
/// std::complex<double>, bfloat16, float16.
template <class T>
struct dtype {
    using element = T;
    static void apply(Constraints& c) {
        c.has_dtype = true;
        c.dtype = element_dtype<T>();
    }
    static constexpr auto signature = detail::const_name("dtype=") + detail::dtype_name<T>();
};
/// Element type given by its DLPack fields (e.g. float8: dtype_code<kDLFloat8_e4m3fn, 8>).
template <std::uint8_t Code, std::uint8_t Bits, std::uint16_t Lanes = 1>
struct dtype_code {
    static void apply(Constraints& c) {
        c.has_dtype = true;
        c.dtype = DLDataType{Code, Bits, Lanes};
    }
    static constexpr auto signature = detail::const_name("dtype=(") + detail::const_name<Code>() +
                                      detail::const_name(", ") + detail::const_name<Bits>() + detail::const_name(", ") +
                                      detail::const_name<Lanes>() + detail::const_name(")");
};
template <std::int32_t N>
struct ndim {
    static_assert(N >= 0 && N <= kMaxNdim, "ndim out of range");
    static void apply(Constraints& c) { c.ndim = N; }
    static constexpr auto signature = detail::const_name("ndim=") + detail::const_name<static_cast<std::size_t>(N)>();
};
/// Wildcard extent for shape<...>.
inline constexpr std::int64_t any_extent = kAnyExtent;
/// The extents, any_extent (-1) for "any"; the number of extents is the ndim.
template <std::int64_t... Extents>
struct shape {
    static_assert(((Extents >= kAnyExtent) && ...), "an extent is >= 0, or any_extent (-1)");
    static_assert(sizeof...(Extents) <= static_cast<std::size_t>(kMaxNdim), "too many extents");
    static void apply(Constraints& c) {
        c.has_shape = true;
        c.shape = {Extents...};
    }
    static constexpr auto signature = [] {
        if constexpr (sizeof...(Extents) == 0) {
            return detail::const_name("shape=()");
        } else {
            return detail::const_name("shape=(") + detail::extent_names<Extents...>() +
                   detail::const_name<sizeof...(Extents) == 1>(",)", ")");
        }
    }();
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
    static constexpr auto signature = [] {
        constexpr auto type = detail::device_name < Type, Id<0>();
        if constexpr (Id >= 0) {
            return detail::const_name("device=(") + type + detail::const_name(", ") +
                   detail::const_name<static_cast<std::size_t>(Id)>() + detail::const_name(")");
        } else {
            return detail::const_name("device=") + type;
        }
    }();
};
struct c_contig {
    static void apply(Constraints& c) { c.layout = LayoutRequirement::c; }
    static constexpr auto signature = detail::const_name("layout=\"C\"");
};
struct f_contig {
    static void apply(Constraints& c) { c.layout = LayoutRequirement::f; }
    static constexpr auto signature = detail::const_name("layout=\"F\"");
};
/// A versioned capsule without READ_ONLY (a legacy capsule cannot promise it).
struct writable {
    static void apply(Constraints& c) { c.writable = 1; }
    static constexpr auto signature = detail::const_name("writable=True");
};
/// A versioned capsule with READ_ONLY set.
struct read_only {
    static void apply(Constraints& c) { c.writable = 0; }
    static constexpr auto signature = detail::const_name("writable=False");
};
/// Values DLPack defined after 1.3, and those newer than this package knows, are violations
/// rather than findings (Strictness::strict; validate(strict=True)).
struct strict {
    static void apply(Constraints& c) { c.strictness = Strictness::strict; }
    static constexpr auto signature = detail::const_name("strict=True");
};
/// What the CUDA driver is asked about the memory (device_truth.hpp): VerifyDevice::require
/// makes an unverifiable device a violation; VerifyDevice::skip asks nothing.
template <VerifyDevice Mode>
struct verify {
    static void apply(Constraints& c) { c.verify = Mode; }
    static constexpr auto signature = detail::const_name<Mode == VerifyDevice::require>(
        detail::const_name("verify_device=\"require\""),
        detail::const_name<Mode == VerifyDevice::skip>("verify_device=\"skip\"", "verify_device=\"auto\""));
};

// Streams. A tensor is read by the extension, so by default a producer on a stream device
// (CUDA, ROCm) is asked for it with stream=None: ready on the legacy default stream.

/// Asks a producer on a stream device to make the tensor ready on the stream Stream() returns
/// (a cudaStream_t / hipStream_t as an integer), which the extension's kernel then uses.
template <std::intptr_t (*Stream)()>
struct on_stream {
    static void apply(Constraints&) {}
    static constexpr auto signature = detail::const_name("");
};
/// Never waits for the producer (stream=-1, DLPack's "no synchronisation"): for functions that
/// read only the description (shape, dtype, device), never the data.
struct no_sync {
    static void apply(Constraints&) {}
    static constexpr auto signature = detail::const_name("");
};

namespace detail {

template <class Requirement>
struct is_no_sync : std::false_type {};
template <>
struct is_no_sync<no_sync> : std::true_type {};

template <class Requirement>
struct stream_getter {
    static constexpr std::intptr_t (*value)() = nullptr;
};
template <std::intptr_t (*Stream)()>
struct stream_getter<on_stream<Stream>> {
    static constexpr std::intptr_t (*value)() = Stream;
};

/// The function that names the consumer's stream among the requirements, or nullptr.
template <class... Requirements>
constexpr std::intptr_t (*stream_of())() {
    std::intptr_t (*found)() = nullptr;
    ((found = found != nullptr ? found : stream_getter<Requirements>::value), ...);
    return found;
}

/// The T of the first dtype<T> among the requirements, or void.
template <class... Requirements>
struct element_of {
    using type = void;
};
template <class T, class... Rest>
struct element_of<dtype<T>, Rest...> {
    using type = T;
};
template <class First, class... Rest>
struct element_of<First, Rest...> : element_of<Rest...> {};

}  // namespace detail

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

/// The part of constraints_of<Requirements...>() that the structural rules read (strictness),
/// alone: check_or_raise checks the rest too, and the rest is left to overload resolution.
template <class... Requirements>
const Constraints& structure_constraints_of() {
    static const Constraints constraints = [] {
        Constraints c;
        c.strictness = constraints_of<Requirements...>().strictness;
        return c;
    }();
    return constraints;
}

/// Typed, strided access to the elements of a tensor: view(i, j) is the element at [i, j].
/// Valid while the dlpack_tensor it came from lives.
template <class T, std::int32_t N>
class strided_view {
public:
    strided_view(T* data, const std::int64_t* shape, const std::int64_t* strides) noexcept : data_(data) {
        for (std::int32_t i = 0; i < N; ++i) {
            shape_[static_cast<std::size_t>(i)] = shape[i];
            strides_[static_cast<std::size_t>(i)] = strides[i];
        }
    }

    template <class... Index>
    T& operator()(Index... index) const noexcept {
        static_assert(sizeof...(Index) == static_cast<std::size_t>(N), "one index per axis");
        std::int64_t offset = 0;
        std::size_t axis = 0;
        ((offset += static_cast<std::int64_t>(index) * strides_[axis++]), ...);
        return data_[offset];
    }
    T* data() const noexcept { return data_; }
    static constexpr std::int32_t ndim() noexcept { return N; }
    std::int64_t shape(std::int32_t axis) const noexcept { return shape_[static_cast<std::size_t>(axis)]; }
    /// In elements.
    std::int64_t stride(std::int32_t axis) const noexcept { return strides_[static_cast<std::size_t>(axis)]; }

private:
    T* data_;
    std::array<std::int64_t, static_cast<std::size_t>(N)> shape_{};
    std::array<std::int64_t, static_cast<std::size_t>(N)> strides_{};
};

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

    /// The element type the requirements name (dtype<T>), or void.
    using element_type = typename detail::element_of<Requirements...>::type;

    /// Reads `x` (a capsule or a producer) and checks it; raises on any violation.
    static dlpack_tensor from_python(pybind11::handle x) {
        dlpack_tensor out;
        Report report;
        if (!out.load(x, detail::stream_of<Requirements...>(), report)) detail::raise_report(report);
        return out;
    }
    /// from_python, with a producer on a stream device asked to make the tensor ready on
    /// `stream` (a cudaStream_t / hipStream_t as an integer), known only at run time.
    static dlpack_tensor from_python(pybind11::handle x, std::intptr_t stream) {
        dlpack_tensor out;
        Report report;
        detail::HeldReference argument(detail::stream_object(stream));
        if (!out.load_on(x, argument.object, report)) detail::raise_report(report);
        return out;
    }

    /// Reads `x` and checks it. A broken rule raises; unmet constraints are put in `report`
    /// and false returned (overload resolution then tries the next overload).
    bool load(pybind11::handle x, std::intptr_t (*stream)(), Report& report) {
        if (stream == nullptr) return load_on(x, Py_None, report);
        detail::HeldReference argument(detail::stream_object(stream()));
        return load_on(x, argument.object, report);
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

    /// Typed access: `x.view<float, 2>()(i, j)`. Raises DLPackValidationError unless the
    /// tensor holds T (element_dtype) in N axes; a view of non-const T also needs a tensor that
    /// may be written (a versioned capsule without READ_ONLY), as the writable requirement does.
    template <class T, std::int32_t N>
    strided_view<T, N> view() const {
        Constraints c;
        c.has_dtype = true;
        c.dtype = element_dtype<T>();
        c.ndim = N;
        if (!std::is_const_v<T>) c.writable = 1;
        require(c);
        std::array<std::int64_t, static_cast<std::size_t>(N) + 1> strides{};
        for (std::int32_t i = 0; i < N; ++i) strides[static_cast<std::size_t>(i)] = stride(i);
        return strided_view<T, N>(data<T>(), tensor().shape, strides.data());
    }
    /// view<element_type, N>() for a tensor<T, ...>: of T when the tensor requires writable,
    /// else of const T (reading needs no promise that the tensor may be written).
    template <std::int32_t N>
    auto view() const {
        static_assert(!std::is_void_v<element_type>, "name the element type: view<T, N>()");
        constexpr bool writes = (std::is_same_v<Requirements, writable> || ...);
        return view<std::conditional_t<writes, element_type, const element_type>, N>();
    }

    std::int32_t ndim() const noexcept { return tensor().ndim; }
    std::int64_t shape(std::int32_t axis) const noexcept { return tensor().shape[axis]; }
    /// Stride in elements along `axis`, computed (compact row-major) when the capsule had NULL.
    std::int64_t stride(std::int32_t axis) const noexcept {
        const DLTensor& t = tensor();
        return t.strides != nullptr ? t.strides[axis] : implied_stride(t, axis);
    }
    /// Bytes per element (lanes included; sub-byte types round up).
    std::int64_t itemsize() const noexcept {
        const DLDataType d = dtype();
        return (static_cast<std::int64_t>(d.bits) * d.lanes + 7) / 8;
    }
    /// Stride in bytes along `axis`.
    std::int64_t stride_bytes(std::int32_t axis) const noexcept { return stride(axis) * itemsize(); }
    std::vector<std::int64_t> shape() const {
        return std::vector<std::int64_t>(tensor().shape, tensor().shape + ndim());
    }
    /// In elements.
    std::vector<std::int64_t> strides() const {
        std::vector<std::int64_t> out(static_cast<std::size_t>(ndim()));
        for (std::int32_t i = 0; i < ndim(); ++i) out[static_cast<std::size_t>(i)] = stride(i);
        return out;
    }
    std::int64_t size() const noexcept { return geometry_.size; }
    /// Bytes the elements take (size() * itemsize()).
    std::int64_t nbytes() const noexcept { return size() * itemsize(); }
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
    /// What the CUDA driver said about the device (TensorInfo.device_verified): 1 verified,
    /// 0 refuted (never seen here: that raises), -1 not asked or cannot tell.
    std::int8_t device_verified() const noexcept { return device_verified_; }
    /// An owning copy of the description, valid after this view is gone.
    TensorInfo info() const { return TensorInfo(source_.view, geometry_, device_verified_); }

private:
    bool load_on(pybind11::handle x, PyObject* stream, Report& report) {
        const Constraints* c = sizeof...(Requirements) != 0 ? &constraints_of<Requirements...>() : nullptr;
        if ((detail::is_no_sync<Requirements>::value || ...)) {
            detail::acquire_or_raise(x, source_, Need::everything);
        } else {
            detail::acquire_on_stream_or_raise(x, source_, stream);
        }
        detail::check_or_raise(source_, &structure_constraints_of<Requirements...>(), geometry_);  // rules raise
        verify_device_or_raise(c != nullptr ? c->verify : VerifyDevice::automatic);
        return c == nullptr || check_constraints(source_.view, geometry_, *c, report);
    }

    /// Asks the CUDA driver about the memory as optype_dlpack.validate does (verify_device);
    /// a label the driver refutes raises, as any broken rule does.
    void verify_device_or_raise(VerifyDevice mode) {
        if (mode == VerifyDevice::skip) return;
        if (!cuda::bind_driver()) throw pybind11::error_already_set();
        Report lies;
        device_verified_ = verify_device(source_.view, geometry_, mode, lies);
        if (!lies.ok()) detail::raise_report(lies);
    }

    Source source_;
    Geometry geometry_;
    std::int8_t device_verified_ = -1;
};

/// A tensor of T elements with further requirements: tensor<float, ndim<2>, c_contig>.
template <class T, class... Requirements>
using tensor = dlpack_tensor<dtype<T>, Requirements...>;

namespace detail {

/// Constructed once the arguments of a report_overloads() overload are loaded, around its body:
/// calls the body makes into other functions load their arguments as usual.
class arguments_loaded {
public:
    arguments_loaded() : was_deferring_(overload_failures().deferring) { overload_failures().deferring = false; }
    arguments_loaded(const arguments_loaded&) = delete;
    arguments_loaded& operator=(const arguments_loaded&) = delete;
    ~arguments_loaded() { overload_failures().deferring = was_deferring_; }

private:
    bool was_deferring_;
};

}  // namespace detail

/// A function attribute for m.def: when no overload of the function accepts the arguments,
/// raise DLPackValidationError listing what each overload's tensor parameters found (each
/// field prefixed "overload N: ", the signatures as notes), instead of pybind11's TypeError.
/// Give it to every overload of the name. It is a call guard: to combine it with another, use
/// pybind11::call_guard<optype_dlpack::detail::arguments_loaded, Other>.
using report_overloads = pybind11::call_guard<detail::arguments_loaded>;

namespace detail {

using Impl = pybind11::handle (*)(pybind11::detail::function_call&);

/// The implementation pybind11 generated for each report_overloads() overload.
inline std::unordered_map<const void*, Impl>& overload_impls() {
    static auto* impls = new std::unordered_map<const void*, Impl>();  // lives as long as the functions
    return *impls;
}

/// Whether this attempt is pybind11's first pass over the overloads of an overloaded function
/// (every conversion off), after which a second pass retries the overloads with conversions.
inline bool first_pass(const pybind11::detail::function_call& call) {
    for (std::size_t i = 0; i < call.args_convert.size(); ++i) {
        if (call.args_convert[i]) return false;
    }
    for (const auto& argument : call.func.args) {
        if (argument.convert) return true;
    }
    return call.func.args.empty() && call.func.nargs != 0;
}

/// Raises DLPackValidationError with every overload's violations, each field prefixed with the
/// overload's number; the signatures follow as notes.
[[noreturn]] inline void raise_overload_failures(std::vector<OverloadAttempt> attempts) {
    Report report;
    std::vector<std::string> fields;
    fields.reserve(attempts.size() * 4);
    for (std::size_t i = 0; i < attempts.size(); ++i) {
        for (const Violation& v : attempts[i].violations) {
            fields.push_back("overload " + std::to_string(i + 1) + ": " + v.field);
        }
    }
    std::size_t next = 0;
    for (const OverloadAttempt& attempt : attempts) {
        for (const Violation& v : attempt.violations) report.add(v.rule, fields[next++].c_str(), v.expected, v.got);
    }
    try {
        raise_report(report);
    } catch (pybind11::error_already_set& error) {
        pybind11::list notes;
        for (std::size_t i = 0; i < attempts.size(); ++i) {
            const char* why = attempts[i].violations.empty() ? " (an argument of another type)" : "";
            notes.append("overload " + std::to_string(i + 1) + ": " + attempts[i].signature + why);
        }
        error.value().attr("__notes__") = notes;
        throw;
    }
}

/// Tries one report_overloads() overload; the last one tried raises what every one found.
inline pybind11::handle overload_attempt(pybind11::detail::function_call& call) {
    OverloadFailures& failures = overload_failures();
    const void* self = &call.func;
    const bool first = first_pass(call);
    auto seen = std::find_if(failures.attempts.begin(), failures.attempts.end(),
                             [self](const OverloadAttempt& a) { return a.overload == self; });
    if (seen != failures.attempts.end() && first) {  // left over from an earlier call
        failures.attempts.clear();
        seen = failures.attempts.end();
    }
    if (seen == failures.attempts.end()) {
        failures.attempts.push_back({self, call.func.name + std::string(call.func.signature), {}});
    } else {
        std::rotate(seen, seen + 1, failures.attempts.end());  // the current attempt goes last
        failures.attempts.back().violations.clear();
    }
    const bool was_deferring = failures.deferring;
    failures.deferring = true;
    pybind11::handle result;
    try {
        result = overload_impls().at(self)(call);
    } catch (...) {  // forced unwinds too: rethrown unchanged
        failures.deferring = was_deferring;
        failures.attempts.clear();
        throw;
    }
    failures.deferring = was_deferring;
    if (result.ptr() != PYBIND11_TRY_NEXT_OVERLOAD) {
        failures.attempts.clear();
        return result;
    }
    const bool last = call.func.next == nullptr && !first;
    if (!last) return result;
    std::vector<OverloadAttempt> attempts = std::move(failures.attempts);
    failures.attempts.clear();
    bool any = false;
    for (const OverloadAttempt& a : attempts) any = any || !a.violations.empty();
    if (!any) return result;  // nothing DLPack to say: pybind11's TypeError
    raise_overload_failures(std::move(attempts));
}

}  // namespace detail

}  // namespace optype_dlpack

namespace pybind11::detail {

/// od::report_overloads (a call guard, which pybind11 puts around the body once the arguments
/// are loaded) also wraps the overload's dispatcher: see overload_attempt.
template <class... Guards>
struct process_attribute<call_guard<optype_dlpack::detail::arguments_loaded, Guards...>>
    : process_attribute_default<call_guard<optype_dlpack::detail::arguments_loaded, Guards...>> {
    static void init(const call_guard<optype_dlpack::detail::arguments_loaded, Guards...>&, function_record* r) {
        optype_dlpack::detail::overload_impls()[r] = r->impl;
        r->impl = &optype_dlpack::detail::overload_attempt;
    }
};

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

/// The signature pybind11 shows for a tensor parameter:
/// typing.Annotated[optype_dlpack.CanDLPack, optype_dlpack.Expect(dtype="float32", ...)].
template <class... Requirements>
constexpr auto dlpack_tensor_name() {
    constexpr auto any = const_name("optype_dlpack.CanDLPack");
    if constexpr (sizeof...(Requirements) == 0) {
        return any;
    } else {
        constexpr auto arguments = optype_dlpack::detail::expect_arguments<Requirements...>();
        if constexpr (std::is_same_v<std::decay_t<decltype(arguments)>, descr<0>>) {
            return any;
        } else {
            return const_name("typing.Annotated[") + any + const_name(", optype_dlpack.Expect(") + arguments +
                   const_name(")]");
        }
    }
}

template <class... Requirements>
struct type_caster<optype_dlpack::dlpack_tensor<Requirements...>> {
    using Tensor = optype_dlpack::dlpack_tensor<Requirements...>;
    PYBIND11_TYPE_CASTER(Tensor, dlpack_tensor_name<Requirements...>());

    /// Declines what is not DLPack at all, and (during overload resolution) a tensor that
    /// breaks a declared constraint, so that other overloads may match; raises the package's
    /// errors for DLPack input that breaks a rule of DLPack itself.
    bool load(handle src, bool convert) {
        if (!optype_dlpack::detail::looks_like_dlpack(src)) return false;
        Tensor loaded;
        optype_dlpack::Report report;
        if (loaded.load(src, optype_dlpack::detail::stream_of<Requirements...>(), report)) {
            value = std::move(loaded);
            return true;
        }
        if (!optype_dlpack::detail::defer_constraint_violations(convert)) optype_dlpack::detail::raise_report(report);
        optype_dlpack::detail::record_constraint_violations(report);
        return false;
    }

    static handle cast(const Tensor&, return_value_policy, handle) {
        throw type_error("optype_dlpack::dlpack_tensor is an argument type: return an optype_dlpack::exported_tensor");
    }
};

}  // namespace pybind11::detail

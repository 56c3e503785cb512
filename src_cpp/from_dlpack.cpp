// optype_dlpack._core interop: from_dlpack, a NumPy array over a DLPack tensor (a capsule or a
// producer), validated first and consumed once; zero-copy for memory the CPU can read.
#include "interop.hpp"

#include "optype_dlpack/cuda.hpp"
#include "optype_dlpack/device_truth.hpp"
#include "optype_dlpack/import.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace optype_dlpack::interop {

namespace {

/// Runs the producer's deleter of a taken tensor, leaving any pending exception as it was.
/// (Not noexcept: the deleter may run Python code, and so may see a forced unwind.)
void release_taken(od::TakenTensor& taken) {
    if (PyErr_Occurred() == nullptr) {
        taken.release();
        return;
    }
    od::detail::FetchedError pending;  // the one fetch-and-restore helper (acquire.hpp)
    taken.release();
    pending.restore();
}

/// The base object of imported arrays: a capsule whose context says which struct it holds.
constexpr const char* kOwnerName = "optype_dlpack.dlpack_owner";
char versioned_marker;  // context of owners of versioned tensors (legacy ones have none)

/// Runs when the last array over an imported tensor dies, which may happen while an
/// exception is pending (an array dropped during unwinding): the deleter runs with it set
/// aside. Not noexcept: the deleter may run Python code.
void owner_destructor(PyObject* capsule) {
    void* managed = PyCapsule_GetPointer(capsule, kOwnerName);
    if (managed == nullptr) {
        PyErr_WriteUnraisable(capsule);
        return;
    }
    od::TakenTensor taken{managed, PyCapsule_GetContext(capsule) == &versioned_marker};
    release_taken(taken);
}

/// The base object of an imported array: runs the DLPack deleter once, when it dies.
/// Takes `taken` in every case (on failure its deleter has run).
PyObject* make_owner(od::TakenTensor taken) {
    PyObject* owner = PyCapsule_New(taken.managed, kOwnerName, &owner_destructor);
    if (owner == nullptr) {
        release_taken(taken);
        throw py::error_already_set();
    }
    if (taken.versioned) PyCapsule_SetContext(owner, &versioned_marker);  // cannot fail on a new capsule
    return owner;
}

/// Takes the tensor: only here is a capsule renamed "used_*". Raises when there is nothing
/// to take (another consumer took the capsule since it was read: take() says so with a
/// BufferError); the caller then drops what it made, and the tensor is not its to free.
od::TakenTensor take_tensor(od::HostImport& import) {
    od::TakenTensor taken = import.take();
    if (taken.managed != nullptr) return taken;
    if (!PyErr_Occurred()) buffer_error("from_dlpack: the capsule was consumed by another consumer while it was read");
    throw py::error_already_set();
}

/// The caller's device and copy arguments.
struct Placement {
    std::optional<bool> copy;
    bool to_host = false;  ///< device="cpu" or (kDLCPU, 0): host memory asked for by name

    /// Whether memory the CPU cannot read may be copied into host memory: copy=True, or a
    /// host device asked for without copy=False (copy=None copies when it must, as the array
    /// API standard says).
    bool may_copy_to_host() const { return copy == true || (to_host && copy != false); }
};

/// Why the host cannot read a device, or "" when it can.
std::string unreadable_device(const DLDevice& device, const Placement& placement) {
    const auto type = static_cast<std::int32_t>(device.device_type);
    if (od::host_accessible(type)) return "";
    if (type == kDLCUDA) {
        if (placement.may_copy_to_host()) return "";
        return "from_dlpack: the tensor is on " + device_name(device) + ", which the CPU cannot read" +
               (placement.copy == false ? std::string(", and copy=False forbids copying it") : std::string()) +
               "; pass copy=True to copy it into host memory";
    }
    return "from_dlpack: the tensor is on " + device_name(device) +
           ", which the CPU cannot read; move it to the CPU with its own library first (copy=True copies from "
           "CUDA devices only)";
}

/// Element strides → NumPy byte strides. Strides of axes that are never stepped (extent 1,
/// or any axis of an empty tensor) are arbitrary in DLPack and may be huge: they become 0.
void byte_strides(const DLTensor& t, std::int64_t itemsize, bool empty, Py_intptr_t* out) {
    std::int64_t strides[kNumpyMaxDims];
    od::fill_strides(t, strides);
    for (std::int32_t i = 0; i < t.ndim; ++i) {
        std::int64_t bytes = 0;
        if (__builtin_mul_overflow(strides[i], itemsize, &bytes)) {
            if (!(empty || t.shape[i] <= 1)) buffer_error("from_dlpack: a stride overflows in bytes");
            bytes = 0;
        }
        out[i] = static_cast<Py_intptr_t>(bytes);
    }
}

/// Copies a CUDA tensor's byte extent to host memory and returns an independent array.
/// The driver is asked before any host memory is allocated: without one, the answer is
/// BufferError whatever the tensor's size.
py::object copy_from_cuda(PyObject* descr, const DLTensor& t, const od::Geometry& geometry, Py_intptr_t* strides) {
    py::object holder = py::reinterpret_steal<py::object>(descr);
    const std::int64_t extent = geometry.byte_high - geometry.byte_low;
    if (extent > 0 && !od::cuda::driver_available()) {
        buffer_error("from_dlpack: copying the tensor from " + device_name(t.device) +
                     " needs the CUDA driver, which is unavailable (" + od::cuda::driver_unavailable_reason() + ")");
    }
    auto& api = npy();
    Py_intptr_t length = static_cast<Py_intptr_t>(extent);
    PyObject* bytes_descr = api.PyArray_DescrFromType_(py::detail::npy_api::NPY_UINT8_);
    if (bytes_descr == nullptr) throw py::error_already_set();
    py::object buffer = py::reinterpret_steal<py::object>(
        api.PyArray_NewFromDescr_(api.PyArray_Type_, bytes_descr, 1, &length, nullptr, nullptr, 0, nullptr));
    if (!buffer) throw py::error_already_set();
    char* host = py::detail::array_proxy(buffer.ptr())->data;
    if (extent > 0) {
        std::string error;
        const char* source = static_cast<const char*>(t.data) + geometry.byte_low;
        od::cuda::Status status = od::cuda::copy_to_host(host, source, static_cast<std::size_t>(extent), &error);
        if (status == od::cuda::Status::unavailable) {
            buffer_error("from_dlpack: copying the tensor from " + device_name(t.device) +
                         " needs the CUDA driver, which is unavailable (" + error + ")");
        }
        if (status != od::cuda::Status::ok) {
            buffer_error("from_dlpack: copying the tensor from " + device_name(t.device) + " failed: " + error);
        }
    }
    char* first = host + (static_cast<std::int64_t>(t.byte_offset) - geometry.byte_low);
    py::object view = new_array(holder.release().ptr(), t, strides, first, true);
    if (api.PyArray_SetBaseObject_(view.ptr(), buffer.release().ptr()) != 0) throw py::error_already_set();
    const int flags = py::detail::array_proxy(view.ptr())->flags;
    if ((flags & (py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_ | py::detail::npy_api::NPY_ARRAY_F_CONTIGUOUS_)) != 0) {
        return view;
    }
    return independent_copy(view, 0 /* NPY_CORDER */);
}

/// The label kDLCPU, kDLCUDAHost or kDLCUDAManaged promises memory the CPU can read. When
/// libcuda is loaded, a pointer may be device memory under such a label, and a host view of
/// it would crash on its first read: the driver is asked (verify_before_host_read, whatever
/// verify_device="auto" does for validate), and a label that hides device memory is refused.
/// Other lies of these labels (ordinary host memory labelled page-locked or managed) leave
/// memory the CPU can read, and pass as before. Without libcuda in the process no pointer can
/// be CUDA memory, and nothing is asked.
void refuse_device_memory_under_host_label(const od::ManagedView& view, const od::Geometry& geometry) {
    od::Report report;
    if (od::verify_before_host_read(view, geometry, report) != 0) return;  // true, or unknown
    const DLTensor& t = *view.tensor;
    // The label lied. Which memory does the tensor address, at either end?
    const auto data = reinterpret_cast<std::uintptr_t>(t.data);
    const std::uintptr_t ends[] = {data + static_cast<std::uintptr_t>(geometry.byte_low),
                                   data + static_cast<std::uintptr_t>(geometry.byte_high - 1)};
    for (std::uintptr_t address : ends) {
        od::cuda::PointerFacts facts;
        std::string error;
        const void* pointer = reinterpret_cast<const void*>(address);
        if (od::cuda::query_pointer(pointer, &facts, &error) != od::cuda::Status::ok) continue;
        if (facts.type != od::cuda::MemoryType::device) continue;
        const std::string lie = "from_dlpack: data: the driver reports device memory on " +
                                device_name(DLDevice{kDLCUDA, facts.device_ordinal}) + " (at " +
                                od::detail::hex(pointer) + ") for a tensor labelled " + device_name(t.device) +
                                "; the CPU cannot read it, and a NumPy array over it would crash on its first read";
        buffer_error(lie + violation_lines(report));
    }
}

/// Whether numpy_descr_for may have run Python code (and so let another consumer take the
/// capsule) to find `descr`. Not for NumPy's own dtypes: PyArray_DescrFromType returns them
/// without calling into Python, allocating or releasing the GIL, so the capsule cannot have
/// changed since it was read (checking it again would look it up by name twice for nothing).
/// ml_dtypes' types are user dtypes (type numbers from NPY_USERDEF), found through an import
/// that can run any Python code. With the GIL disabled another thread runs Python at any
/// moment: there, always.
bool descr_lookup_may_run_python(PyObject* descr) {
#ifdef Py_GIL_DISABLED
    (void)descr;
    return true;
#else
    constexpr int kNpyUserDef = 256;  // NPY_USERDEF: a stable value of NumPy's ABI
    return py::detail::array_descriptor_proxy(descr)->type_num >= kNpyUserDef;
#endif
}

alignas(64) char empty_data[64];  // the data pointer of imported empty arrays: never read or written

/// The NumPy array of an imported tensor whose memory the CPU can read. Nothing is consumed
/// until the array exists (and, with copy=True, until the copy exists): a failure before
/// leaves the capsule as it was.
PyObject* import_host_tensor(od::HostImport& import, PyObject* descr, Py_intptr_t* strides, bool empty,
                             std::optional<bool> copy) {
    const DLTensor& t = *import.view.tensor;
    // Legacy capsules cannot say whether the memory may be written: read-only, as NumPy does.
    const bool writeable = import.view.versioned && (import.view.flags & od::kFlagReadOnly) == 0;
    void* data = empty ? static_cast<void*>(empty_data) : static_cast<char*>(t.data) + t.byte_offset;
    py::object view = new_array(descr, t, strides, data, writeable);
    if (copy == true) {
        py::object independent = independent_copy(view, -1 /* NPY_KEEPORDER */);
        view = py::object();                          // (it owns nothing: dropping it frees no memory)
        od::TakenTensor taken = take_tensor(import);  // read and copied: consumed, and freed now
        release_taken(taken);
        return independent.release().ptr();
    }
    PyObject* owner = make_owner(take_tensor(import));
    // The owner is stolen even on failure: dropping it then runs the deleter.
    if (npy().PyArray_SetBaseObject_(view.ptr(), owner) != 0) throw py::error_already_set();
    return view.release().ptr();
}

PyObject* from_dlpack_impl(PyObject* x, const Placement& placement) {
    const std::optional<bool> copy = placement.copy;
    if (exports_as_numpy(x)) return view_of_ndarray(x, copy);
    npy();  // NumPy first: nothing is consumed if it is missing
    od::HostImport import;
    od::SourceError got = import.acquire(x);
    if (got == od::SourceError::consumed) raise_consumed(import.consumed_name);
    if (got == od::SourceError::python_error) throw py::error_already_set();

    od::Report report;
    od::Geometry geometry;
    // (a report can hold a violation even when check_structure returns true: flags.unknown)
    if (!od::check_structure(import.view, report, &geometry) || !report.ok()) raise_report(report);

    const DLTensor& t = *import.view.tensor;
    if (!od::host_accessible(static_cast<std::int32_t>(t.device.device_type))) {
        if (std::string why = unreadable_device(t.device, placement); !why.empty()) buffer_error(why);
    }
    const bool padded = (import.view.flags & od::kFlagSubbytePadded) != 0;
    PyObject* descr = numpy_descr_for(t.dtype, padded);
    py::object descr_holder = py::reinterpret_steal<py::object>(descr);
    // Finding the dtype may have run Python (the first import of ml_dtypes, an import hook),
    // and with it another consumer that took and freed the tensor: read nothing more unless
    // the capsule is still as it was read.
    if (descr_lookup_may_run_python(descr) && !import.verify_unconsumed()) throw py::error_already_set();
    if (t.ndim > numpy_max_dims()) {
        buffer_error("from_dlpack: the tensor has " + std::to_string(t.ndim) +
                     " dimensions; NumPy arrays have at most " + std::to_string(numpy_max_dims()));
    }
    const auto itemsize = static_cast<std::int64_t>(descr_itemsize(descr));
    const bool empty = geometry.size == 0;
    Py_intptr_t strides[kNumpyMaxDims];
    byte_strides(t, itemsize, empty, strides);

    if (t.device.device_type == kDLCUDA) {
        py::object result = copy_from_cuda(descr_holder.release().ptr(), t, geometry, strides);
        od::TakenTensor taken = take_tensor(import);  // read and copied: consumed, and freed now
        release_taken(taken);
        return result.release().ptr();
    }
    refuse_device_memory_under_host_label(import.view, geometry);
    return import_host_tensor(import, descr_holder.release().ptr(), strides, empty, copy);
}

/// Whether a Python int (not a bool) is `value`. Reads the int without calling into Python.
bool is_int(PyObject* item, long value) {
    if (!PyLong_Check(item) || PyBool_Check(item)) return false;
    int overflow = 0;
    const long got = PyLong_AsLongAndOverflow(item, &overflow);
    return overflow == 0 && got == value;
}

/// The device argument: None, or the one device a NumPy array lives on, spelled as NumPy
/// spells it ("cpu", ndarray.device) or as DLPack does ((kDLCPU, 0): __dlpack_device__'s
/// tuple, a DLDevice). Anything else is ValueError, as in numpy.from_dlpack. Returns
/// whether host memory was asked for by name.
bool read_device(PyObject* device) {
    if (device == nullptr || device == Py_None) return false;
    if (PyUnicode_Check(device) && PyUnicode_CompareWithASCIIString(device, "cpu") == 0) return true;
    if (PyTuple_Check(device) && PyTuple_GET_SIZE(device) == 2 && is_int(PyTuple_GET_ITEM(device, 0), kDLCPU) &&
        is_int(PyTuple_GET_ITEM(device, 1), 0)) {
        return true;
    }
    throw_error(PyExc_ValueError,
                "from_dlpack: device must be None, 'cpu' or (1, 0) (kDLCPU, 0): a NumPy array "
                "lives in host memory; got " +
                    repr_of(device));
}

}  // namespace

PyObject* py_from_dlpack(PyObject*, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static const char* const keywords[] = {"device", "copy"};
    static const od::detail::Parameters parameters("from_dlpack", 1, keywords);
    PyObject* given[2] = {};
    if (!parameters.parse(args, nargs, kwnames, given)) return nullptr;
    return guarded([&]() -> PyObject* {
        Placement placement;
        placement.copy = od::detail::optional_bool(given[1], "from_dlpack", "copy");
        placement.to_host = read_device(given[0]);
        return from_dlpack_impl(args[0], placement);
    });
}

}  // namespace optype_dlpack::interop

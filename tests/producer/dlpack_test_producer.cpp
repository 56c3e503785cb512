// dlpack_test_producer — a test-only DLPack producer that can write any field value.
//
// Built by tests/conftest.py (fixture `cpp_producer`), never shipped. It makes capsules the way
// real producers do (python_spec.rst of dmlc/dlpack): the capsule's destructor calls the
// tensor's deleter only while the capsule still has the name it was created with, so a
// consumer that renames it takes ownership. Unlike a real producer it accepts malformed
// values everywhere (device, dtype, ndim, NULL shape or strides, flags, version, capsule
// name, struct layout), so the validator can be tested against each rule of the spec.
//
// Every managed struct, shape and strides array (and the data buffer it allocates) is a
// separate allocation of exactly the size it needs, so a reader that strays past one is
// caught by AddressSanitizer. With guard pages on (set_guard_pages(True)) each of them ends
// exactly where a PROT_NONE page begins instead, so such a reader faults at once, even in a
// build without sanitizers.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <dlpack/dlpack.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace py = pybind11;

namespace {

std::atomic<long long> g_deleter_calls{0};
std::atomic<long long> g_live_tensors{0};
std::atomic<bool> g_guard_pages{false};
py::object* g_make_capsule = nullptr;  // the bound make_capsule; leaked, lives with the interpreter

/// The first fields of DLManagedTensorVersioned, up to and including flags: the struct of a
/// producer whose major version lays dl_tensor out elsewhere (or not at all). A reader may
/// look at nothing past flags before it knows the major version is 1.
struct VersionedHeader {
    DLPackVersion version;
    void* manager_ctx;
    void (*deleter)(VersionedHeader* self);
    std::uint64_t flags;
};
static_assert(offsetof(VersionedHeader, manager_ctx) == offsetof(DLManagedTensorVersioned, manager_ctx));
static_assert(offsetof(VersionedHeader, deleter) == offsetof(DLManagedTensorVersioned, deleter));
static_assert(offsetof(VersionedHeader, flags) == offsetof(DLManagedTensorVersioned, flags));
static_assert(sizeof(VersionedHeader) == offsetof(DLManagedTensorVersioned, dl_tensor));

/// One piece of memory handed to consumers: a managed struct, an array, a data buffer.
struct Block {
    void* start = nullptr;    ///< what the consumer is given
    void* mapping = nullptr;  ///< the whole mapping, guard page included; nullptr for heap blocks
    std::size_t mapped = 0;   ///< bytes mapped
};

std::size_t page_size() noexcept {
    static const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    return page;
}

/// `bytes` zeroed bytes that end exactly where a PROT_NONE page begins: the pages needed
/// for them, then the guard page, in one mapping.
Block guarded_block(std::size_t bytes) {
    const std::size_t page = page_size();
    const std::size_t body = (std::max<std::size_t>(bytes, 1) + page - 1) / page * page;
    void* mapping = mmap(nullptr, body + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapping == MAP_FAILED) throw std::bad_alloc();
    char* guard = static_cast<char*>(mapping) + body;
    if (mprotect(guard, page, PROT_NONE) != 0) {
        munmap(mapping, body + page);
        throw std::bad_alloc();
    }
    return Block{guard - bytes, mapping, body + page};
}

/// `bytes` zeroed bytes, placed before a guard page when guard pages are on, else on the
/// heap (an allocation of exactly that size, which AddressSanitizer bounds).
Block allocate_block(std::size_t bytes) {
    if (g_guard_pages.load()) return guarded_block(bytes);
    void* start = std::calloc(bytes > 0 ? bytes : 1, 1);
    if (start == nullptr) throw std::bad_alloc();
    return Block{start, nullptr, 0};
}

void release_block(Block& block) noexcept {
    if (block.mapping != nullptr) {
        munmap(block.mapping, block.mapped);
    } else {
        std::free(block.start);
    }
    block = Block{};
}

/// What a managed tensor owns, itself included.
struct Holder {
    Block managed;  ///< the DLManagedTensor(Versioned) whose manager_ctx this is
    Block shape;
    Block strides;
    Block allocation;
    PyObject* owner = nullptr;
};

/// Frees a managed tensor: its struct and everything its holder owns. Callable from any
/// thread, with or without the GIL. Not noexcept, nor is anything that calls it: taking the
/// GIL while the interpreter exits ends a daemon thread with a forced unwind, which must
/// pass through these frames.
void free_holder(Holder* holder) {
    if (holder == nullptr) return;
    release_block(holder->managed);
    release_block(holder->shape);
    release_block(holder->strides);
    release_block(holder->allocation);
    if (holder->owner != nullptr && Py_IsInitialized()) {
        PyGILState_STATE state = PyGILState_Ensure();
        Py_DECREF(holder->owner);
        PyGILState_Release(state);
    }  // after finalisation the owner is leaked on purpose, as the spec says deleters must
    delete holder;
    g_live_tensors.fetch_sub(1);
}

template <class Managed>
void counting_deleter(Managed* self) {
    g_deleter_calls.fetch_add(1);
    free_holder(static_cast<Holder*>(self->manager_ctx));  // frees `self` too
}

/// The capsule destructor of a well-behaved producer: the capsule owns the tensor until a
/// consumer renames it. The name it was created with is kept as the capsule's context, so
/// "unconsumed" means "still named as created" even for deliberately odd names.
template <class Managed>
void capsule_destructor(PyObject* capsule) {
    PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
    PyErr_Fetch(&type, &value, &traceback);  // a destructor must not clobber a pending error
    const char* name = PyCapsule_GetName(capsule);
    void* created_as = PyCapsule_GetContext(capsule);
    if (!PyErr_Occurred() && name != nullptr && static_cast<const void*>(name) == created_as) {
        auto* managed = static_cast<Managed*>(PyCapsule_GetPointer(capsule, name));
        if (managed == nullptr) {
            PyErr_WriteUnraisable(capsule);
        } else if (managed->deleter != nullptr) {
            managed->deleter(managed);
        } else {  // a NULL deleter: the producer frees its own tensor while it still owns it
            free_holder(static_cast<Holder*>(managed->manager_ctx));
        }
    } else if (PyErr_Occurred()) {
        PyErr_WriteUnraisable(capsule);
    }
    PyErr_Restore(type, value, traceback);
}

/// Capsule names must outlive their capsules: every distinct name is kept for good.
const char* stable_name(const std::string& name) {
    static std::mutex lock;
    static std::deque<std::string> names;  // deque: growing never moves existing strings
    std::lock_guard<std::mutex> guard(lock);
    for (const auto& known : names) {
        if (known == name) return known.c_str();
    }
    names.push_back(name);
    return names.back().c_str();
}

std::vector<std::int64_t> int_list(const py::handle& value, const char* what) {
    std::vector<std::int64_t> out;
    for (py::handle item : py::reinterpret_borrow<py::iterable>(value)) {
        if (!PyLong_Check(item.ptr())) throw py::type_error(std::string(what) + ": expected ints");
        out.push_back(item.cast<std::int64_t>());
    }
    return out;
}

/// Bytes addressed by the tensor, counted from its lowest element; also the lowest element
/// offset (<= 0) so that `data` can be placed for negative strides.
std::pair<std::uint64_t, std::int64_t> extent_bytes(std::int32_t ndim, const std::int64_t* shape,
                                                    const std::int64_t* strides, const DLDataType& dtype) {
    const auto item = static_cast<std::int64_t>((static_cast<std::uint32_t>(dtype.bits) * dtype.lanes + 7) / 8);
    const std::int64_t itemsize = item > 0 ? item : 1;
    std::int64_t low = 0, high = 0, implied = 1;
    if (ndim > 0 && shape == nullptr) throw py::value_error("allocate=True needs a shape");
    for (std::int32_t i = ndim - 1; i >= 0; --i) {
        if (shape[i] == 0) return {0, 0};
        if (shape[i] < 0) throw py::value_error("allocate=True needs extents >= 0");
    }
    for (std::int32_t i = ndim - 1; i >= 0; --i) {
        const std::int64_t stride = strides != nullptr ? strides[i] : implied;
        std::int64_t reach = 0;
        if (__builtin_mul_overflow(shape[i] - 1, stride, &reach) ||
            (reach < 0 ? __builtin_add_overflow(low, reach, &low) : __builtin_add_overflow(high, reach, &high)) ||
            (strides == nullptr && __builtin_mul_overflow(implied, shape[i], &implied))) {
            throw py::value_error("allocate=True: the tensor's extent overflows");
        }
    }
    std::int64_t bytes = 0;
    if (__builtin_mul_overflow(high - low + 1, itemsize, &bytes) || bytes > (std::int64_t{1} << 30)) {
        throw py::value_error("allocate=True: the tensor needs more than 1 GiB");
    }
    return {static_cast<std::uint64_t>(bytes), low * itemsize};
}

py::capsule make_capsule(std::uintptr_t data, std::pair<std::int32_t, std::int32_t> device, const py::object& shape,
                         const py::object& strides, const py::object& ndim,
                         std::tuple<std::uint8_t, std::uint8_t, std::uint16_t> dtype, std::uint64_t byte_offset,
                         const std::string& layout, std::pair<std::uint32_t, std::uint32_t> version,
                         std::uint64_t flags, const std::optional<std::string>& name, const py::object& owner,
                         bool allocate, bool null_deleter) {
    const bool header_only = layout == "versioned_header";
    const bool versioned = layout == "versioned" || header_only;
    if (!versioned && layout != "legacy") {
        throw py::value_error("layout: expected 'legacy', 'versioned' or 'versioned_header'");
    }

    // Shape and strides: Ellipsis = default (0-d / compact row-major), None = NULL pointer.
    const bool shape_null = shape.is_none();
    std::vector<std::int64_t> extents;
    if (!shape_null && !shape.is(py::ellipsis())) extents = int_list(shape, "shape");
    std::int32_t dims = static_cast<std::int32_t>(extents.size());
    if (!ndim.is_none()) dims = ndim.cast<std::int32_t>();
    // Arrays hold max(len(shape), ndim) entries (ndim clamped), padded with extent 1, so that
    // an ndim override never makes the reader stray out of bounds by itself.
    const std::size_t slots =
        std::max(extents.size(), static_cast<std::size_t>(std::clamp<std::int32_t>(dims, 0, 4096)));
    const bool strides_null = strides.is_none();
    std::vector<std::int64_t> steps;
    if (!strides_null && !strides.is(py::ellipsis())) {
        steps = int_list(strides, "strides");
    } else if (!strides_null) {  // compact row-major over the padded extents
        steps.assign(slots, 1);
        std::uint64_t implied = 1;  // wraps for absurd shapes, as a careless producer's would
        for (std::size_t i = slots; i-- > 0;) {
            steps[i] = static_cast<std::int64_t>(implied);
            const std::int64_t extent = i < extents.size() ? extents[i] : 1;
            implied *= static_cast<std::uint64_t>(extent > 0 ? extent : 1);
        }
    }

    auto* holder = new Holder();
    g_live_tensors.fetch_add(1);
    try {
        std::int64_t* shape_array = nullptr;
        std::int64_t* strides_array = nullptr;
        if (!shape_null) {
            holder->shape = allocate_block(slots * sizeof(std::int64_t));
            shape_array = static_cast<std::int64_t*>(holder->shape.start);
            for (std::size_t i = 0; i < slots; ++i) shape_array[i] = i < extents.size() ? extents[i] : 1;
        }
        if (!strides_null) {
            const std::size_t n = std::max(slots, steps.size());
            holder->strides = allocate_block(n * sizeof(std::int64_t));
            strides_array = static_cast<std::int64_t*>(holder->strides.start);
            for (std::size_t i = 0; i < n; ++i) strides_array[i] = i < steps.size() ? steps[i] : 1;
        }
        const DLDataType dl_dtype{std::get<0>(dtype), std::get<1>(dtype), std::get<2>(dtype)};
        if (allocate && data == 0) {
            // allocate for the extents actually present: a negative or oversized ndim is garbage
            const auto counted = static_cast<std::int32_t>(
                std::min<std::size_t>(slots, static_cast<std::size_t>(std::clamp<std::int32_t>(dims, 0, 4096))));
            auto [bytes, low] = extent_bytes(counted, shape_array, strides_array, dl_dtype);
            const std::uint64_t total = byte_offset + bytes;
            if (total < byte_offset || total > (std::uint64_t{1} << 30)) {
                throw py::value_error("allocate=True: the tensor needs more than 1 GiB");
            }
            holder->allocation = allocate_block(static_cast<std::size_t>(total));
            // element 0 sits -low bytes into the block, past byte_offset
            data = reinterpret_cast<std::uintptr_t>(holder->allocation.start) + static_cast<std::uintptr_t>(-low);
        }
        if (!owner.is_none()) holder->owner = owner.inc_ref().ptr();

        DLTensor tensor{};
        tensor.data = reinterpret_cast<void*>(data);
        tensor.device = DLDevice{static_cast<DLDeviceType>(device.first), device.second};
        tensor.ndim = dims;
        tensor.dtype = dl_dtype;
        tensor.shape = shape_array;
        tensor.strides = strides_array;
        tensor.byte_offset = byte_offset;

        const char* capsule_name = stable_name(name ? *name : (versioned ? "dltensor_versioned" : "dltensor"));
        // The struct belongs to the holder from here; a capsule that fails to appear frees it with the rest.
        PyObject* capsule = nullptr;
        if (header_only) {
            holder->managed = allocate_block(sizeof(VersionedHeader));
            auto* managed = new (holder->managed.start) VersionedHeader{};
            managed->version = DLPackVersion{version.first, version.second};
            managed->manager_ctx = holder;
            managed->deleter = null_deleter ? nullptr : &counting_deleter<VersionedHeader>;
            managed->flags = flags;
            capsule = PyCapsule_New(managed, capsule_name, &capsule_destructor<VersionedHeader>);
        } else if (versioned) {
            holder->managed = allocate_block(sizeof(DLManagedTensorVersioned));
            auto* managed = new (holder->managed.start) DLManagedTensorVersioned{};
            managed->version = DLPackVersion{version.first, version.second};
            managed->manager_ctx = holder;
            managed->deleter = null_deleter ? nullptr : &counting_deleter<DLManagedTensorVersioned>;
            managed->flags = flags;
            managed->dl_tensor = tensor;
            capsule = PyCapsule_New(managed, capsule_name, &capsule_destructor<DLManagedTensorVersioned>);
        } else {
            holder->managed = allocate_block(sizeof(DLManagedTensor));
            auto* managed = new (holder->managed.start) DLManagedTensor{};
            managed->dl_tensor = tensor;
            managed->manager_ctx = holder;
            managed->deleter = null_deleter ? nullptr : &counting_deleter<DLManagedTensor>;
            capsule = PyCapsule_New(managed, capsule_name, &capsule_destructor<DLManagedTensor>);
        }
        if (capsule == nullptr) throw py::error_already_set();
        // From here the capsule owns the holder (its destructor frees it).
        if (PyCapsule_SetContext(capsule, const_cast<char*>(capsule_name)) != 0) {
            Py_DECREF(capsule);
            throw py::error_already_set();
        }
        return py::reinterpret_steal<py::capsule>(capsule);
    } catch (...) {
        free_holder(holder);
        throw;
    }
}

/// Records how a consumer called a producer and answers with a capsule (or an error).
struct ProducerState {
    py::dict capsule_kwargs;
    py::object reported_device;  ///< what __dlpack_device__ returns; None: the capsule's device
    py::object error;            ///< raised by __dlpack__ when not None
    py::object device_error;     ///< raised by __dlpack_device__ when not None
    py::object returns;          ///< returned by __dlpack__ instead of a capsule when set
    bool has_returns = false;
    py::list calls;  ///< one dict of keyword arguments per __dlpack__ call
    int device_calls = 0;

    py::object dlpack(py::dict call) {
        calls.append(std::move(call));
        if (!error.is_none()) {
            PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(error.ptr())), error.ptr());
            throw py::error_already_set();
        }
        if (has_returns) return returns;
        return (*g_make_capsule)(**capsule_kwargs);
    }

    py::object dlpack_device() {
        ++device_calls;
        if (!device_error.is_none()) {
            PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(device_error.ptr())), device_error.ptr());
            throw py::error_already_set();
        }
        if (!reported_device.is_none()) return reported_device;
        py::object device = capsule_kwargs.contains("device") ? capsule_kwargs["device"] : py::make_tuple(1, 0);
        return py::tuple(device);
    }
};

ProducerState make_state(py::object reported_device, py::object error, py::object device_error, py::object returns,
                         py::kwargs capsule_kwargs) {
    ProducerState state;
    state.capsule_kwargs = py::dict(capsule_kwargs);
    state.reported_device = std::move(reported_device);
    state.error = std::move(error);
    state.device_error = std::move(device_error);
    state.has_returns = !returns.is(py::ellipsis());
    state.returns = std::move(returns);
    return state;
}

/// A DLPack 2023.12 producer: keyword-only stream, max_version, dl_device, copy.
struct Producer : ProducerState {};
/// A pre-2023.12 producer: `__dlpack__(self, stream=None)` only.
struct LegacyProducer : ProducerState {};

template <class Cls>
void bind_common(py::class_<Cls>& cls) {
    cls.def(py::init([](py::object reported_device, py::object error, py::object device_error, py::object returns,
                        py::kwargs capsule_kwargs) {
                return Cls{make_state(std::move(reported_device), std::move(error), std::move(device_error),
                                      std::move(returns), std::move(capsule_kwargs))};
            }),
            py::kw_only(), py::arg("reported_device") = py::none(), py::arg("error") = py::none(),
            py::arg("device_error") = py::none(), py::arg("returns") = py::ellipsis())
        .def("__dlpack_device__", [](Cls& self) { return self.dlpack_device(); })
        .def_property_readonly("calls", [](const Cls& self) { return self.calls; })
        .def_property_readonly("device_calls", [](const Cls& self) { return self.device_calls; });
}

}  // namespace

PYBIND11_MODULE(dlpack_test_producer, m) {
    m.doc() = "Test-only DLPack producer: capsules with any field value, counted deleters";

    m.def("make_capsule", &make_capsule, py::kw_only(), py::arg("data") = 0, py::arg("device") = std::make_pair(1, 0),
          py::arg("shape") = py::ellipsis(), py::arg("strides") = py::ellipsis(), py::arg("ndim") = py::none(),
          py::arg("dtype") = std::make_tuple(2, 32, 1), py::arg("byte_offset") = 0, py::arg("layout") = "versioned",
          py::arg("version") = std::make_pair(1u, 3u), py::arg("flags") = 0, py::arg("name") = py::none(),
          py::arg("owner") = py::none(), py::arg("allocate") = false, py::arg("null_deleter") = false,
          "A capsule holding a managed tensor with exactly these fields.\n\n"
          "shape=... (default) is 0-d, None is a NULL shape pointer; strides=... (default) are\n"
          "compact row-major, None is a NULL strides pointer. ndim overrides len(shape).\n"
          "layout='versioned_header' is a DLManagedTensorVersioned cut off after flags (what a\n"
          "producer of another major version may send): its shape, strides and data go unused.\n"
          "The capsule's destructor calls the deleter unless a consumer renamed the capsule.");
    m.def(
        "set_guard_pages", [](bool on) { g_guard_pages.store(on); }, py::arg("on"),
        "On: every struct, shape, strides and data buffer made from now on ends where a\n"
        "PROT_NONE page begins, so reading one byte past it faults. Off (the default): each is\n"
        "a heap allocation of exactly its size.");
    m.def(
        "guard_pages", [] { return g_guard_pages.load(); }, "Whether set_guard_pages(True) is in effect.");
    g_make_capsule = new py::object(m.attr("make_capsule"));
    m.def(
        "deleter_calls", [] { return g_deleter_calls.load(); }, "How many times a deleter has run.");
    m.def(
        "live_tensors", [] { return g_live_tensors.load(); }, "Managed tensors made and not yet freed.");
    m.def(
        "reset_counters", [] { g_deleter_calls.store(0); }, "Sets deleter_calls() back to 0.");

    py::class_<Producer> producer(m, "Producer",
                                  "An object with __dlpack__(*, stream, max_version, dl_device, copy) and\n"
                                  "__dlpack_device__(); keyword arguments other than reported_device, error,\n"
                                  "device_error and returns are passed to make_capsule on each call.");
    bind_common(producer);
    producer.def(
        "__dlpack__",
        [](Producer& self, py::object stream, py::object max_version, py::object dl_device, py::object copy) {
            py::dict call;
            call["stream"] = std::move(stream);
            call["max_version"] = std::move(max_version);
            call["dl_device"] = std::move(dl_device);
            call["copy"] = std::move(copy);
            return self.dlpack(std::move(call));
        },
        py::kw_only(), py::arg("stream") = py::none(), py::arg("max_version") = py::none(),
        py::arg("dl_device") = py::none(), py::arg("copy") = py::none());

    py::class_<LegacyProducer> legacy(m, "LegacyProducer", "Like Producer, but __dlpack__(self, stream=None) only.");
    bind_common(legacy);
    legacy.def(
        "__dlpack__",
        [](LegacyProducer& self, py::object stream) {
            py::dict call;
            call["stream"] = std::move(stream);
            return self.dlpack(std::move(call));
        },
        py::arg("stream") = py::none());
}

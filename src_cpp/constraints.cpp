// optype_dlpack._core: the constraints of validate() and Expect(), read from their Python
// spellings into an od::Constraints.
#include "constraints.hpp"

#include "optype_dlpack/pybind11.hpp"
#include "optype_dlpack/tables.hpp"

#include <array>
#include <cstdint>
#include <cstring>
#ifdef Py_GIL_DISABLED
#include <mutex>
#endif
#include <optional>
#include <string>

namespace optype_dlpack::constraints {

namespace {

// ---------------------------------------------------------------------------------------
// Constraint spellings → od::Constraints. A value of the wrong kind raises TypeError, a value
// of the right kind that no tensor can have raises ValueError; both name the constraint.

std::string type_name(py::handle value) { return Py_TYPE(value.ptr())->tp_name; }

/// The UTF-8 text of a str, with what UTF-8 cannot hold (lone surrogates) escaped: such a
/// text is never a valid name, and reading it must not fail with a cast error.
std::string text_of_str(py::handle text) {
    auto bytes = py::reinterpret_steal<py::object>(PyUnicode_AsEncodedString(text.ptr(), "utf-8", "backslashreplace"));
    if (!bytes) throw py::error_already_set();
    return std::string(PyBytes_AS_STRING(bytes.ptr()), static_cast<std::size_t>(PyBytes_GET_SIZE(bytes.ptr())));
}

/// repr(value) for an error message.
std::string repr_text(py::handle value) { return text_of_str(py::repr(value)); }

/// Reads an integer constraint value: an int or anything with __index__ (NumPy integers,
/// 0-d integer arrays), never a bool. TypeError naming the constraint for anything else,
/// ValueError outside [low, high].
long long read_integer(py::handle value, const std::string& constraint, long long low, long long high) {
    const bool integer = !PyBool_Check(value.ptr()) && PyIndex_Check(value.ptr());
    auto index = py::reinterpret_steal<py::object>(integer ? PyNumber_Index(value.ptr()) : nullptr);
    if (!index) {
        // __index__ may refuse (a 2-d NumPy array); any error but TypeError is the object's own
        if (integer && !PyErr_ExceptionMatches(PyExc_TypeError)) throw py::error_already_set();
        PyErr_Clear();
        throw py::type_error(constraint + ": expected an int, got " + type_name(value));
    }
    int overflow = 0;
    const long long result = PyLong_AsLongLongAndOverflow(index.ptr(), &overflow);
    if (result == -1 && PyErr_Occurred()) throw py::error_already_set();
    if (overflow != 0 || result < low || result > high) {
        throw py::value_error(constraint + ": " + repr_text(index) + " is out of range (expected " +
                              std::to_string(low) + " to " + std::to_string(high) + ")");
    }
    return result;
}

std::int32_t read_int32(py::handle value, const std::string& constraint) {
    return static_cast<std::int32_t>(read_integer(value, constraint, INT32_MIN, INT32_MAX));
}

/// Constraint values already read, keyed by the identity of the object they were read from:
/// validate(x, dtype="float32") passes the same str object on every call. The cache holds a
/// reference to each key, so no other object can take its address while it is one; only
/// objects that cannot change are keys. Fixed size; a new key takes the place of one not
/// found since the last turn of the clock hand (second chance), so that a stream of one-off
/// values does not push out the ones in use.
template <class Value>
class IdentityCache {
public:
    std::optional<Value> find(py::handle key) {
#ifdef Py_GIL_DISABLED
        std::lock_guard<std::mutex> guard(lock_);  // no GIL serialises callers
#endif
        for (Entry& entry : entries_) {
            if (entry.key == key.ptr()) {
                entry.found = true;
                return entry.value;
            }
        }
        return std::nullopt;
    }

    void insert(py::handle key, const Value& value) {
        PyObject* dropped = nullptr;
        {
#ifdef Py_GIL_DISABLED
            std::lock_guard<std::mutex> guard(lock_);
#endif
            Entry& slot = next_free_slot();
            dropped = slot.key;
            slot = Entry{key.inc_ref().ptr(), value, false};
        }
        Py_XDECREF(dropped);  // last: freeing the old key may run Python code, which may use the cache
    }

private:
    struct Entry {
        PyObject* key = nullptr;
        Value value{};
        bool found = false;  ///< found since the clock hand last passed
    };

    /// The slot under the clock hand once it passed every slot found since its last turn
    /// (at most one full turn: it clears what it passes).
    Entry& next_free_slot() {
        for (;;) {
            Entry& slot = entries_[hand_];
            hand_ = (hand_ + 1) % entries_.size();
            if (!slot.found) return slot;
            slot.found = false;
        }
    }

    std::array<Entry, 32> entries_{};
    std::size_t hand_ = 0;
#ifdef Py_GIL_DISABLED
    std::mutex lock_;
#endif
};

/// A device name read into the constraints it stands for.
struct DeviceName {
    std::int32_t type = 0;
    bool has_id = false;
    std::int32_t id = 0;
};

DeviceName parse_device_name(py::handle value) {
    std::string name = text_of_str(value);
    DLDevice device{};
    if (!od::parse_device(name, &device)) {
        throw py::value_error("device: cannot read '" + name + "' as a device (try 'cpu', 'cuda', 'cuda:1')");
    }
    return DeviceName{static_cast<std::int32_t>(device.device_type), name.find(':') != std::string::npos,
                      device.device_id};
}

/// Device names, cached by identity (a str cannot change).
DeviceName cached_device_name(py::handle value) {
    static IdentityCache<DeviceName> cache;  // kept for the process
    if (auto found = cache.find(value)) return *found;
    const DeviceName device = parse_device_name(value);
    cache.insert(value, device);
    return device;
}

void parse_device_constraint(py::handle value, od::Constraints& c) {
    if (value.is_none()) return;
    if (PyUnicode_Check(value.ptr())) {
        const DeviceName device = cached_device_name(value);
        c.has_device_type = true;
        c.device_type = device.type;
        c.has_device_id = device.has_id;
        c.device_id = device.id;
        return;
    }
    if (PyTuple_Check(value.ptr())) {  // (type, id) and DLDevice
        auto items = py::reinterpret_borrow<py::tuple>(value);
        if (items.size() != 2) {
            throw py::value_error("device: a tuple must be (device_type, device_id), got " + repr_text(value));
        }
        c.device_type = read_int32(items[0], "device: device_type");
        c.device_id = read_int32(items[1], "device: device_id");
        c.has_device_type = c.has_device_id = true;
        return;
    }
    if (PyIndex_Check(value.ptr()) && !PyBool_Check(value.ptr())) {  // DLDeviceType member or int: any id
        c.device_type = read_int32(value, "device");
        c.has_device_type = true;
        return;
    }
    throw py::type_error(
        "device: expected a DLDeviceType, a (device_type, device_id) tuple, a DLDevice or a "
        "string such as 'cuda:1', got " +
        type_name(value));
}

/// Reads numpy/torch/ml_dtypes dtype objects by name: "float32", "torch.bfloat16",
/// numpy scalar types through __name__ ("float32", "bool_").
bool dtype_from_object_name(py::handle value, DLDataType* out) {
    py::object text = PyType_Check(value.ptr()) ? py::str(value.attr("__name__")) : py::str(value);
    std::string name = text_of_str(text);
    if (name.rfind("torch.", 0) == 0) name = name.substr(6);
    if (!name.empty() && name.back() == '_') name.pop_back();  // numpy's bool_, object_
    return od::parse_dtype(name, out);
}

DLDataType parse_dtype_constraint(py::handle value) {
    DLDataType dtype{};
    if (PyUnicode_Check(value.ptr())) {
        std::string name = text_of_str(value);
        if (od::parse_dtype(name, &dtype)) return dtype;
        throw py::value_error("dtype: cannot read '" + name + "' as a DLPack dtype (try 'float32', 'bfloat16')");
    }
    if (PyTuple_Check(value.ptr())) {  // DLDataType and (code, bits[, lanes])
        auto items = py::reinterpret_borrow<py::tuple>(value);
        if (items.size() != 2 && items.size() != 3) {
            throw py::value_error("dtype: a tuple must be (code, bits) or (code, bits, lanes), got " +
                                  repr_text(value));
        }
        const auto code = read_integer(items[0], "dtype: code", 0, UINT8_MAX);
        const auto bits = read_integer(items[1], "dtype: bits", 0, UINT8_MAX);
        const auto lanes = items.size() == 3 ? read_integer(items[2], "dtype: lanes", 0, UINT16_MAX) : 1;
        return DLDataType{static_cast<std::uint8_t>(code), static_cast<std::uint8_t>(bits),
                          static_cast<std::uint16_t>(lanes)};
    }
    if (dtype_from_object_name(value, &dtype)) return dtype;
    throw py::type_error("dtype: cannot read " + repr_text(value) +
                         " as a DLPack dtype (pass a DLDataType, a name such as 'float32', a numpy dtype "
                         "or a torch dtype)");
}

/// dtype values cached by identity: names (a str cannot change) and dtype objects (numpy and
/// torch dtypes are singletons). Not tuples, whose items may be objects whose __index__ changes.
DLDataType cached_dtype_constraint(py::handle value) {
    if (PyTuple_Check(value.ptr())) return parse_dtype_constraint(value);
    static IdentityCache<DLDataType> cache;  // kept for the process
    if (auto found = cache.find(value)) return *found;
    const DLDataType dtype = parse_dtype_constraint(value);  // may run Python code (str(value))
    cache.insert(value, dtype);
    return dtype;
}

void parse_ndim_constraint(py::handle value, od::Constraints& c) {
    if (value.is_none()) return;
    c.ndim = static_cast<std::int32_t>(read_integer(value, "ndim", 0, od::kMaxNdim));
}

/// A shape is a sequence (a tuple, a list, a 1-d NumPy integer array) of extents and Nones.
void parse_shape_constraint(py::handle value, od::Constraints& c) {
    if (value.is_none()) return;
    const char* expected = "shape: expected a sequence of int or None, got ";
    // text is a sequence too, of characters or of bytes, but never a shape
    if (PyUnicode_Check(value.ptr()) || PyBytes_Check(value.ptr()) || PyByteArray_Check(value.ptr()) ||
        !PySequence_Check(value.ptr())) {
        throw py::type_error(expected + type_name(value));
    }
    // the only reference to a new list (when shape is neither list nor tuple), held while the
    // items' __index__ runs
    od::detail::unwind_safe<py::object> items{py::reinterpret_steal<py::object>(PySequence_Fast(value.ptr(), "shape"))};
    if (!items) {
        if (!PyErr_ExceptionMatches(PyExc_TypeError)) throw py::error_already_set();
        PyErr_Clear();  // a sequence type that cannot be iterated: a 0-d NumPy array
        throw py::type_error(expected + type_name(value));
    }
    const Py_ssize_t count = PySequence_Fast_GET_SIZE(items.ptr());
    if (count > od::kMaxNdim) {
        throw py::value_error("shape: " + std::to_string(count) + " extents, at most " + std::to_string(od::kMaxNdim) +
                              " allowed");
    }
    c.has_shape = true;
    c.shape.clear();
    for (Py_ssize_t i = 0; i < count; ++i) {
        py::handle item = PySequence_Fast_GET_ITEM(items.ptr(), i);
        c.shape.push_back(item.is_none() ? od::kAnyExtent
                                         : read_integer(item, "shape[" + std::to_string(i) + "]", 0, INT64_MAX));
    }
}

void parse_writable_constraint(py::handle value, od::Constraints& c) {
    if (value.is_none()) return;
    if (!PyBool_Check(value.ptr())) {
        throw py::type_error("writable: expected True, False or None, got " + type_name(value));
    }
    c.writable = value.ptr() == Py_True ? 1 : 0;
}

/// Refuses anything but a str for a str-valued constraint: TypeError naming it.
void require_str(py::handle value, const char* constraint, const char* choices) {
    if (!PyUnicode_Check(value.ptr())) {
        throw py::type_error(std::string(constraint) + ": expected " + choices + ", got " + type_name(value));
    }
}

/// Whether the str `value` is `text`. Compares in place: no copy, and no error for any str
/// (one with lone surrogates is simply unequal).
bool str_is(py::handle value, const char* text) { return PyUnicode_CompareWithASCIIString(value.ptr(), text) == 0; }

void parse_layout_constraint(py::handle value, od::Constraints& c) {
    if (value.is_none()) return;
    const char* choices = "'C', 'F' or 'any'";
    require_str(value, "layout", choices);
    if (str_is(value, "C") || str_is(value, "c")) {
        c.layout = od::LayoutRequirement::c;
    } else if (str_is(value, "F") || str_is(value, "f")) {
        c.layout = od::LayoutRequirement::f;
    } else if (!str_is(value, "any") && !str_is(value, "A")) {
        throw py::value_error(std::string("layout: expected ") + choices + ", got " + repr_text(value));
    }
}

void parse_verify_constraint(py::handle value, od::Constraints& c) {
    const char* choices = "'auto', 'require' or 'skip'";
    require_str(value, "verify_device", choices);
    if (str_is(value, "auto")) {
        c.verify = od::VerifyDevice::automatic;
    } else if (str_is(value, "require")) {
        c.verify = od::VerifyDevice::require;
    } else if (str_is(value, "skip")) {
        c.verify = od::VerifyDevice::skip;
    } else {
        throw py::value_error(std::string("verify_device: expected ") + choices + ", got " + repr_text(value));
    }
}

/// strict=True: the values DLPack defined after 1.3, and those newer than this package knows,
/// are violations rather than findings (docs/validation.md). A bool only: strict="no" would
/// otherwise read as true.
void parse_strict_constraint(py::handle value, od::Constraints& c) {
    if (value.ptr() == Py_False) return;
    if (value.ptr() != Py_True) throw py::type_error("strict: expected True or False, got " + type_name(value));
    c.strictness = od::Strictness::strict;
}

}  // namespace

od::Constraints make_constraints(py::handle device, py::handle dtype, py::handle ndim, py::handle shape,
                                 py::handle writable, py::handle layout, py::handle verify_device, py::handle strict) {
    od::Constraints c;
    parse_device_constraint(device, c);
    if (!dtype.is_none()) {
        c.has_dtype = true;
        c.dtype = cached_dtype_constraint(dtype);
    }
    parse_ndim_constraint(ndim, c);
    parse_shape_constraint(shape, c);
    if (c.has_shape && c.ndim >= 0 && static_cast<std::size_t>(c.ndim) != c.shape.size()) {
        throw py::value_error("ndim and shape disagree: ndim=" + std::to_string(c.ndim) + " but shape has " +
                              std::to_string(c.shape.size()) + " extents");
    }
    parse_writable_constraint(writable, c);
    parse_layout_constraint(layout, c);
    parse_verify_constraint(verify_device, c);
    parse_strict_constraint(strict, c);
    return c;
}

}  // namespace optype_dlpack::constraints

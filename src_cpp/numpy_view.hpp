// An exact numpy.ndarray read from its array struct: what NumPy's own
// __dlpack__(max_version=(1, 3)) would export, without the call. Private to the extension.
//
// NumPy's export is a function of the array struct alone (data, dimensions, strides, flags,
// dtype, and the device of the capsule at the end of its base chain). Calling it costs more
// than the checks of a small tensor: the keyword parser, an allocation for the capsule and the
// managed tensor, and a deleter that takes the GIL state. So inspect, validate and the checks
// of Expect read an exact ndarray the way NumPy's exporter does, and ask NumPy whenever that
// reading could differ from the export: a dtype NumPy exports through its registry or refuses,
// swapped bytes, strides that are not whole elements, a base chain ending in a capsule (an
// array imported through DLPack: NumPy reports that tensor's device), more dimensions than are
// read inline. Subclasses are producers like any other (they may override __dlpack__).
//
// The version and flags of the capsule are NumPy's own: the first array read in a process is
// also exported by NumPy, and the reading is used only if it agrees with that capsule in every
// field (otherwise, never: every array is then asked).
#pragma once

#include <Python.h>

#include "optype_dlpack/check.hpp"

#include <cstdint>

namespace optype_dlpack::interop {

// NumPy's builtin type numbers: stable values of its ABI (pybind11's list lacks NPY_HALF).
constexpr int kNpyBool = 0, kNpyULongLong = 10, kNpyFloat = 11, kNpyLongDouble = 13, kNpyCFloat = 14,
              kNpyCLongDouble = 16, kNpyHalf = 23;

/// Storage for a DLTensor read from an array struct.
struct NdarrayView {
    static constexpr int kInlineDims = 16;
    DLTensor tensor;  ///< filled by read_ndarray
    std::int64_t shape[kInlineDims];
    std::int64_t strides[kInlineDims];
};

enum class NdarrayRead : std::uint8_t {
    read,            ///< `view` describes the export: use it
    not_applicable,  ///< not an exact ndarray, or one that NumPy is to be asked about
    calibrate,       ///< `view` is filled; ask NumPy this once and pass both to calibrate_ndarray
};

/// Reads `x` into `storage` and `view` when it is an exact numpy.ndarray whose export is known.
/// Runs no Python code and raises nothing.
NdarrayRead read_ndarray(PyObject* x, NdarrayView& storage, ManagedView& view);

/// After NdarrayRead::calibrate: compares the reading with the capsule NumPy exported for the
/// same array (`exported`), and decides for the process whether readings are used.
void calibrate_ndarray(const ManagedView& read, const ManagedView& exported);

/// "unknown" (no calibration yet), "trusted" (readings are used) or "refused" (every array is
/// asked): for tests and diagnostics.
const char* ndarray_reading_state();

}  // namespace optype_dlpack::interop

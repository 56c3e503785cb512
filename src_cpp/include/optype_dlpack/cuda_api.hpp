/// optype_dlpack/cuda_api.hpp — the CUDA driver functions of cuda.hpp for extensions other than
/// optype_dlpack._core: each calls through the table _core exports (cuda::DriverApi), so that
/// every extension in the process shares _core's driver state (one dlopen of libcuda, one
/// cuInit, one reading of OPTYPE_DLPACK_DISABLE_CUDA) and gets the same device_verified answers
/// as Python.
///
/// bind_driver() finds the table (importing optype_dlpack._core, with the GIL held); the
/// pybind11 caster (pybind11.hpp) calls it before its first device check. Until it has, the
/// driver reads as unavailable, with that as the reason. Include this header in one or more
/// translation units of an extension that uses device_truth.hpp or cuda.hpp (pybind11.hpp and
/// optype_dlpack.hpp include it).
///
/// The definitions are weak symbols: a program that defines the functions itself (_core, with
/// src_cpp/cuda_driver.cpp; a test's stand-in driver) keeps its own, and the definitions of
/// several translation units fold into one.
#pragma once

#include "cuda.hpp"

#include <Python.h>
#include <dlfcn.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <string>

namespace optype_dlpack::cuda {

namespace detail {

/// _core's table once bound (never unbound: _core is never unloaded).
inline std::atomic<const DriverApi*>& bound_driver_api() noexcept {
    static std::atomic<const DriverApi*> api{nullptr};
    return api;
}

inline constexpr const char* kUnbound =
    "optype_dlpack._core's CUDA driver is not bound in this extension (optype_dlpack::cuda::bind_driver())";

/// What the functions below write into an error buffer: big enough for any driver message.
inline constexpr std::size_t kErrorSize = 512;

/// Sets ImportError and returns false.
inline bool bind_failed(const std::string& why) {
    PyErr_SetString(PyExc_ImportError,
                    ("optype_dlpack: cannot bind the CUDA driver of optype_dlpack._core: " + why).c_str());
    return false;
}

/// The path of optype_dlpack._core's shared object; "" with a Python error set on failure.
inline std::string core_module_file() {
    PyObject* core = PyImport_ImportModule("optype_dlpack._core");
    if (core == nullptr) return "";
    PyObject* file = PyObject_GetAttrString(core, "__file__");
    Py_DECREF(core);
    if (file == nullptr) return "";
    const char* text = PyUnicode_AsUTF8(file);
    std::string out = text != nullptr ? text : "";
    Py_DECREF(file);
    return out;
}

}  // namespace detail

/// Finds optype_dlpack._core's driver table. Needs the GIL (it imports _core, which runs
/// Python); returns false with ImportError (or the import's error) set on failure. Later calls
/// cost one atomic load.
inline bool bind_driver() {
    if (detail::bound_driver_api().load(std::memory_order_acquire) != nullptr) return true;
    const std::string path = detail::core_module_file();
    if (path.empty()) return PyErr_Occurred() != nullptr ? false : detail::bind_failed("_core has no __file__");
    // _core is loaded (imported above): RTLD_NOLOAD only finds it, and the handle is kept.
    void* core = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
    if (core == nullptr) return detail::bind_failed("dlopen(" + path + ") found nothing");
    using Getter = const DriverApi* (*)();
    auto getter = reinterpret_cast<Getter>(dlsym(core, kDriverApiSymbol));
    if (getter == nullptr) {
        return detail::bind_failed(path + " does not export " + kDriverApiSymbol +
                                   ": build the extension against the installed optype_dlpack");
    }
    const DriverApi* api = getter();
    if (api == nullptr || api->version != kDriverApiVersion || api->size < sizeof(DriverApi)) {
        return detail::bind_failed("its driver table is another version than these headers' " +
                                   std::to_string(kDriverApiVersion));
    }
    detail::bound_driver_api().store(api, std::memory_order_release);
    return true;
}

#if !defined(OPTYPE_DLPACK_CUDA_DRIVER_BUILT_IN)  // _core defines them in cuda_driver.cpp

namespace detail {

inline const DriverApi* driver_api() noexcept { return bound_driver_api().load(std::memory_order_acquire); }

inline void set_text(std::string* out, const char* text) noexcept {
    if (out == nullptr) return;
    try {
        out->assign(text);
    } catch (const std::bad_alloc&) {
        out->clear();
    }
}

}  // namespace detail

__attribute__((weak)) bool driver_available() noexcept {
    const DriverApi* api = detail::driver_api();
    return api != nullptr && api->driver_available() != 0;
}

__attribute__((weak)) const char* driver_unavailable_reason() noexcept {
    const DriverApi* api = detail::driver_api();
    return api != nullptr ? api->driver_unavailable_reason() : detail::kUnbound;
}

__attribute__((weak)) bool driver_loaded_in_process() noexcept {
    const DriverApi* api = detail::driver_api();
    return api != nullptr && api->driver_loaded_in_process() != 0;
}

__attribute__((weak)) Status query_pointer(const void* ptr, PointerFacts* out, std::string* error) noexcept {
    const DriverApi* api = detail::driver_api();
    char text[detail::kErrorSize] = "";
    const auto status =
        api != nullptr ? static_cast<Status>(api->query_pointer(ptr, out, text, sizeof text)) : Status::unavailable;
    detail::set_text(error, api != nullptr ? text : detail::kUnbound);
    return status;
}

__attribute__((weak)) Status query_pointer_and_mapping(const void* ptr, PointerFacts* out,
                                                       std::string* error) noexcept {
    const DriverApi* api = detail::driver_api();
    char text[detail::kErrorSize] = "";
    const auto status = api != nullptr
                            ? static_cast<Status>(api->query_pointer_and_mapping(ptr, out, text, sizeof text))
                            : Status::unavailable;
    detail::set_text(error, api != nullptr ? text : detail::kUnbound);
    return status;
}

__attribute__((weak)) Mapped range_mapped(const void* first, std::size_t bytes, std::uintptr_t* unmapped,
                                          std::string* why, const PointerFacts* at_first) noexcept {
    const DriverApi* api = detail::driver_api();
    char text[detail::kErrorSize] = "";
    const auto answer =
        api != nullptr ? static_cast<Mapped>(api->range_mapped(first, bytes, unmapped, text, sizeof text, at_first))
                       : Mapped::unknown;
    detail::set_text(why, api != nullptr ? text : detail::kUnbound);
    return answer;
}

__attribute__((weak)) Status device_count(int* out, std::string* error) noexcept {
    const DriverApi* api = detail::driver_api();
    char text[detail::kErrorSize] = "";
    const auto status =
        api != nullptr ? static_cast<Status>(api->device_count(out, text, sizeof text)) : Status::unavailable;
    detail::set_text(error, api != nullptr ? text : detail::kUnbound);
    return status;
}

__attribute__((weak)) Status copy_to_host(void* dst, const void* src, std::size_t bytes, std::string* error) noexcept {
    const DriverApi* api = detail::driver_api();
    char text[detail::kErrorSize] = "";
    const auto status = api != nullptr ? static_cast<Status>(api->copy_to_host(dst, src, bytes, text, sizeof text))
                                       : Status::unavailable;
    detail::set_text(error, api != nullptr ? text : detail::kUnbound);
    return status;
}

#endif  // !OPTYPE_DLPACK_CUDA_DRIVER_BUILT_IN

}  // namespace optype_dlpack::cuda

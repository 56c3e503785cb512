// libcuda, opened at run time with dlopen (never linked), behind optype_dlpack/cuda.hpp.
#include "optype_dlpack/cuda.hpp"

#include <cstdlib>

namespace optype_dlpack::cuda {

bool driver_available() noexcept { return false; }

const char* driver_unavailable_reason() noexcept { return "driver checks are not built yet"; }

Status query_pointer(const void*, PointerFacts*, std::string* error) noexcept {
    if (error != nullptr) *error = driver_unavailable_reason();
    return Status::unavailable;
}

Status copy_to_host(void*, const void*, std::size_t, std::string* error) noexcept {
    if (error != nullptr) *error = driver_unavailable_reason();
    return Status::unavailable;
}

}  // namespace optype_dlpack::cuda

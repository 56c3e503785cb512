/// optype_dlpack/device_truth.hpp — checks a capsule's device fields against the driver.
#pragma once

#include "check.hpp"
#include "cuda.hpp"
#include "expect.hpp"

namespace optype_dlpack {

/// Result of asking the driver: -1 unknown (not asked or no driver), 0 failed, 1 verified.
inline std::int8_t verify_device(const ManagedView& view, const Geometry& geometry, VerifyDevice mode,
                                 Report& report) {
    (void)view;
    (void)geometry;
    if (mode == VerifyDevice::skip) return -1;
    if (mode == VerifyDevice::require) {
        report.add("device.unverified", "device", "a device verified by the CUDA driver",
                   std::string("unverified (") + cuda::driver_unavailable_reason() + ")");
        return 0;
    }
    return -1;
}

}  // namespace optype_dlpack

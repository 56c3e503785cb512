"""check_producer and the device types DLPack defined after 1.3 (docs/validation.md)."""

from __future__ import annotations

from types import ModuleType

import pytest

from optype_dlpack import CheckStatus, DLDeviceType, check_producer


@pytest.mark.parametrize("device_type", [DLDeviceType.TPU, DLDeviceType.TPU_HOST, DLDeviceType.ASCEND])
def test_device_type_after_1_3_warns(cpp_producer: ModuleType, device_type: DLDeviceType) -> None:
    device = (int(device_type), 0)
    producer = cpp_producer.Producer(reported_device=device, device=device, shape=[3], allocate=True)
    (check,) = [check for check in check_producer(producer).checks if check.id == "device.tuple"]
    assert check.status is CheckStatus.WARN
    assert check.detail == (
        f"({device_type.name}, 0): a device type DLPack defined after 1.3, which consumers built against "
        "dlpack.h v1.3 reject"
    )


def test_device_type_of_1_3_passes(cpp_producer: ModuleType) -> None:
    producer = cpp_producer.Producer(reported_device=(18, 0), device=(18, 0), shape=[3], allocate=True)
    (check,) = [check for check in check_producer(producer).checks if check.id == "device.tuple"]
    assert (check.status, check.detail) == (CheckStatus.PASS, "(TRN, 0)")


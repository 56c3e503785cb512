"""OPTYPE_DLPACK_DISABLE_CUDA is read once: the decision and its message do not change later."""

from __future__ import annotations

import textwrap

from tests.support.child import run_code


def test_status_survives_the_variable_being_deleted_after_it_was_read() -> None:
    # The driver status used to read the variable a second time for its message, and crashed
    # (NULL into std::string) once Python had deleted it in between.
    script = textwrap.dedent(
        """
        import os
        import numpy as np
        import optype_dlpack as od
        from optype_dlpack import _core

        # decides, from the environment, whether the driver may load ("require" asks about
        # a CPU tensor too; "auto" would not touch the driver for it)
        try:
            od.validate(np.zeros(3), verify_device="require")
        except od.DLPackValidationError:
            pass  # device.unverified: the driver is disabled
        del os.environ["OPTYPE_DLPACK_DISABLE_CUDA"]
        print(_core.cuda_driver_status())
        print(_core.cuda_driver_available())
        """
    )
    result = run_code(script, env={"OPTYPE_DLPACK_DISABLE_CUDA": "yes"})
    assert result.returncode == 0, result.stderr
    status, available = result.stdout.splitlines()
    assert status == "OPTYPE_DLPACK_DISABLE_CUDA=yes disables the CUDA driver"
    assert available == "False"

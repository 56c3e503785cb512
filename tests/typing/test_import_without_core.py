"""The typing layer (enums, value types, protocols, errors) does not need the compiled extension.

`optype_dlpack/__init__.py` imports the extension (``import optype_dlpack`` fails at once on a
broken build, rather than at the first ``validate``), so these modules are imported here under
a stand-in parent package, in a child process whose import system refuses
``optype_dlpack._core``: what they import at load time must not include the extension. Only
``parse()`` and ``str()`` of ``DLDataType`` and ``DLDevice`` reach it, when called.
"""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import optype_dlpack
from tests.support.child import run_code

PACKAGE = Path(optype_dlpack.__file__).parent

# Run in a child: a meta-path finder ahead of every other refuses the extension, and the
# package is a bare module whose __path__ is the real package directory (its __init__ is not run).
_PRELUDE = textwrap.dedent(
    f"""
    import importlib.abc, sys, types

    class RefuseCore(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "optype_dlpack._core":
                raise ImportError("the extension is refused in this test", name=name)
            return None

    sys.meta_path.insert(0, RefuseCore())
    parent = types.ModuleType("optype_dlpack")
    parent.__path__ = [{str(PACKAGE)!r}]
    sys.modules["optype_dlpack"] = parent
    """
)


def _run(body: str) -> subprocess.CompletedProcess[str]:
    return run_code(_PRELUDE + textwrap.dedent(body))


def test_the_refusal_works() -> None:
    # without this, the tests below could pass because the extension was never asked for
    result = _run("import optype_dlpack._core")
    assert result.returncode != 0
    assert "the extension is refused in this test" in result.stderr


def test_enums_protocols_and_errors_import_without_the_extension() -> None:
    result = _run(
        """
        from optype_dlpack._enums import DLDataType, DLDataTypeCode, DLDevice, DLDeviceType, DLPackFlags
        from optype_dlpack._errors import DLPackValidationError, Violation
        from optype_dlpack._protocols import CanDLPack, CanDLPackDevice, SupportsDLPack

        assert "optype_dlpack._core" not in sys.modules
        assert DLDeviceType.CPU_PINNED is DLDeviceType.CUDA_HOST
        assert len(DLDeviceType) == 19  # 16 of dlpack.h v1.3, 3 of DLPack after 1.3
        assert DLPackFlags.READ_ONLY | DLPackFlags.IS_COPIED == 3
        assert DLDevice(DLDeviceType.CUDA, 1) == (2, 1)
        assert DLDevice[DLDeviceType].__origin__ is DLDevice
        assert DLDataType(DLDataTypeCode.FLOAT, 32).lanes == 1

        class Producer:
            def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None): ...
            def __dlpack_device__(self): return (1, 0)

        assert isinstance(Producer(), SupportsDLPack)
        assert isinstance(Producer(), CanDLPack) and isinstance(Producer(), CanDLPackDevice)
        assert DLPackValidationError([Violation("r", "f", "e", "g")]).rules == ("r",)
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_parse_and_str_need_the_extension_only_when_called() -> None:
    result = _run(
        """
        from optype_dlpack._enums import DLDevice, DLDeviceType

        device = DLDevice(DLDeviceType.CPU)
        try:
            str(device)
        except ImportError as exc:
            print(exc)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "the extension is refused in this test"


def test_the_package_itself_needs_the_extension() -> None:
    # a decision, not an accident: a broken or missing build fails at `import optype_dlpack`
    result = run_code(_PRELUDE.replace('sys.modules["optype_dlpack"] = parent', "") + "import optype_dlpack")
    assert result.returncode != 0
    assert "the extension is refused in this test" in result.stderr

"""`import optype_dlpack` loads only the extension and the functions that use it.

NumPy, ml_dtypes, the conformance checker (with dataclasses, inspect), the enums, errors and
protocols (with typing, typing_extensions) are loaded by the first use that needs them, not by
the import: code that only validates should not pay for them at start-up
(benchmarks/BENCHMARKS.md, "import"). Each case runs in a fresh interpreter, where nothing has
been imported yet.
"""

from __future__ import annotations

import pytest

from tests.support.child import last_json, run_code

# Modules a first call imports when it needs them, and the import must not.
LOADED_ON_FIRST_USE = (
    "numpy",
    "ml_dtypes",
    "optype_dlpack._conformance",
    "optype_dlpack._enums",
    "optype_dlpack._errors",
    "optype_dlpack._protocols",
    "optype_dlpack._rules",
    "dataclasses",
    "inspect",
    "pathlib",
    "typing",
    "typing_extensions",
)
CONFORMANCE_NAMES = ("CheckStatus", "ConformanceCheck", "ConformanceReport", "check_producer")


def test_import_loads_none_of_the_first_use_modules() -> None:
    loaded = last_json(
        run_code(
            """
            import json, sys
            before = set(sys.modules)
            import optype_dlpack
            names = sys.argv[1:]
            print(json.dumps({name: name in sys.modules and name not in before for name in names}))
            """,
            *LOADED_ON_FIRST_USE,
        )
    )
    assert loaded == dict.fromkeys(LOADED_ON_FIRST_USE, False)


@pytest.mark.parametrize("name", CONFORMANCE_NAMES)
def test_conformance_names_load_the_checker_on_first_use(name: str) -> None:
    result = last_json(
        run_code(
            """
            import json, sys
            import optype_dlpack
            name = sys.argv[1]
            listed = name in dir(optype_dlpack) and name in optype_dlpack.__all__
            value = getattr(optype_dlpack, name)
            from optype_dlpack import _conformance
            print(json.dumps({"listed": listed, "same": value is getattr(_conformance, name),
                              "cached": name in vars(optype_dlpack)}))
            """,
            name,
        )
    )
    assert result == {"listed": True, "same": True, "cached": True}


def test_every_public_name_resolves_in_a_fresh_interpreter() -> None:
    result = last_json(
        run_code(
            """
            import importlib, json
            import optype_dlpack
            from optype_dlpack import _core
            wrong = []
            for name in optype_dlpack.__all__:
                value = getattr(optype_dlpack, name)
                if name not in dir(optype_dlpack):
                    wrong.append(f"{name}: not in dir()")
                defined_in = getattr(value, "__module__", None)
                if name[0].isupper() and name != "DLPACK_VERSION" and isinstance(value, type):
                    if getattr(importlib.import_module(defined_in), name) is not value:
                        wrong.append(f"{name}: not the object of {defined_in}")
            print(json.dumps({"wrong": wrong, "version": list(optype_dlpack.DLPACK_VERSION),
                              "header": list(_core.DLPACK_HEADER_VERSION),
                              "same": optype_dlpack.DLPACK_VERSION is optype_dlpack.DLPACK_VERSION}))
            """
        )
    )
    assert result["wrong"] == []
    assert result["version"] == result["header"]
    assert result["same"]


def test_a_first_use_of_the_validator_loads_what_it_needs() -> None:
    result = last_json(
        run_code(
            """
            import json, sys
            import optype_dlpack
            capsule = optype_dlpack.to_dlpack(bytearray(b"abcd"))  # uint8, without NumPy
            try:
                optype_dlpack.validate(capsule, dtype="float32")
            except optype_dlpack.DLPackValidationError as exc:
                print(json.dumps([type(exc).__module__, [v.rule for v in exc.violations]]))
            """
        )
    )
    assert result == ["optype_dlpack._errors", ["expect.dtype"]]


def test_from_import_of_a_conformance_name() -> None:
    result = last_json(
        run_code(
            """
            import json
            from optype_dlpack import check_producer, CheckStatus
            print(json.dumps([check_producer.__module__, CheckStatus.PASS.value]))
            """
        )
    )
    assert result == ["optype_dlpack._conformance", "pass"]


def test_unknown_attribute_is_an_attribute_error() -> None:
    import optype_dlpack

    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        optype_dlpack.not_a_name  # type: ignore[attr-defined]  # noqa: B018 - the lookup is the test

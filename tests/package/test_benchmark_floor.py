"""The floor of a DLPack checker (benchmarks/exchange_floor.c), as the checked-torch group times it.

call_through(f, *args) must do the exports a checker cannot skip and nothing else: ask each
argument's DLPack C exchange API for its DLTensor, then return f(*args). An object without a
table is refused with a TypeError (a floor that skipped the export would measure nothing), and
a build that cannot happen leaves the row out with a reason, never failing the group.
"""

from __future__ import annotations

import runpy
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from tests.support.frameworks import needs

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load(name: str) -> SimpleNamespace:
    """benchmarks/NAME.py's names, run from its own path (benchmarks/ is not a package)."""
    return SimpleNamespace(**runpy.run_path(str(BENCHMARKS / f"{name}.py")))


@pytest.fixture(scope="module")
def builder() -> SimpleNamespace:
    return load("exchange_floor")


@pytest.fixture(scope="module")
def call_through(builder: SimpleNamespace) -> Callable[..., Any]:
    if not builder.compiler():
        pytest.skip("no C compiler found ($CC, else cc): benchmarks/exchange_floor.c cannot be built")
    found = builder.load_call_through()
    assert not isinstance(found, str), found
    return found  # type: ignore[no-any-return]


def both(a: object, b: object) -> tuple[object, object]:
    return a, b


@needs("torch")
def test_it_returns_what_f_returns_with_the_arguments_passed_through(call_through: Callable[..., Any]) -> None:
    import torch

    x, y = torch.ones((2, 3)), torch.zeros(4, dtype=torch.int64)
    a, b = call_through(both, x, y)
    assert a is x
    assert b is y
    assert call_through(lambda *args: len(args)) == 0  # no arguments: f alone


@needs("torch")
def test_the_cached_table_serves_the_second_call(call_through: Callable[..., Any]) -> None:
    import torch

    first, second = torch.ones(3), torch.arange(6.0).reshape(2, 3)[:, 1]  # a strided view too
    assert call_through(both, first, first) == (first, first)
    assert call_through(both, second, first) == (second, first)
    with pytest.raises(TypeError):  # another type in between takes the cache's one entry ...
        call_through(both, np.ones(3), first)
    assert call_through(both, first, second) == (first, second)  # ... and torch's comes back


@needs("torch")
def test_a_changed_type_is_looked_up_again(call_through: Callable[..., Any]) -> None:
    import torch

    class Tensor(torch.Tensor):
        pass

    x = torch.ones(2).as_subclass(Tensor)
    assert call_through(both, x, x) == (x, x)
    Tensor.__dlpack_c_exchange_api__ = None  # a new version tag: the cached table is not reused
    with pytest.raises(TypeError, match="Tensor offers no DLTensor"):
        call_through(both, x, x)


@needs("torch")
def test_f_raising_propagates(call_through: Callable[..., Any]) -> None:
    import torch

    def fails(_: object) -> None:
        raise KeyError("from f")

    with pytest.raises(KeyError, match="from f"):
        call_through(fails, torch.ones(1))


@pytest.mark.parametrize("argument", [object(), 1, np.ones(3)], ids=["object", "int", "numpy-no-exchange-api"])
def test_an_object_without_an_exchange_table_is_refused(call_through: Callable[..., Any], argument: object) -> None:
    def never(_: object) -> None:
        raise AssertionError("f must not be called")

    with pytest.raises(TypeError, match="offers no DLTensor through the DLPack C exchange API"):
        call_through(never, argument)


def test_call_through_needs_f(call_through: Callable[..., Any]) -> None:
    with pytest.raises(TypeError, match="needs f"):
        call_through()


@pytest.mark.parametrize("cc", ["no-such-compiler-here", "false"], ids=["absent", "failing"])
def test_a_build_that_cannot_happen_gives_a_reason(builder: SimpleNamespace, monkeypatch: pytest.MonkeyPatch,
                                                   cc: str) -> None:
    monkeypatch.setenv("CC", cc)
    reason = builder.load_call_through()
    assert isinstance(reason, str)
    assert ("no C compiler" if cc.startswith("no-") else "building exchange_floor.c failed") in reason


@needs("torch")
def test_the_checked_torch_group_times_the_floor(call_through: Callable[..., Any]) -> None:
    worker = load("worker")
    subjects, facts = worker.checked_group("torch")
    (statement, space), = [(s, n) for name, s, n in subjects if name == worker.EXCHANGE]
    assert statement == "call_through(plain, x, y)"
    assert "exchange_floor" not in facts
    assert space["call_through"](space["plain"], space["x"], space["y"]) is None


def test_numpy_has_no_floor_row_and_says_why() -> None:
    worker = load("worker")
    subjects, facts = worker.checked_group("numpy")
    assert worker.EXCHANGE not in [name for name, _, _ in subjects]
    assert facts["exchange_floor"] == "numpy.ndarray offers no DLPack C exchange API"


@needs("torch")
def test_without_a_compiler_the_torch_group_leaves_the_row_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC", "no-such-compiler-here")
    worker = load("worker")
    subjects, facts = worker.checked_group("torch")
    assert worker.EXCHANGE not in [name for name, _, _ in subjects]
    assert "no C compiler" in facts["exchange_floor"]


def row(median: float) -> dict[str, float]:
    return {"min_ns": median, "median_ns": median, "loops": 1, "repeats": 1}


def test_the_floor_is_information_with_both_ratios() -> None:
    render = load("render")
    results = {render.NOOP: row(40), "plain: f(x, y)": row(25), render.EXCHANGE: row(150),
               render.CHECKED: row(300), render.JAXTYPING: row(4500)}
    record = {"states": {"no-libcuda": {"description": "", "groups": {"checked-torch": {"results": results}}}}}
    lines = [t for t in render.evaluate(record) if t["target"].startswith("floor of any checker")]
    assert [t["verdict"] for t in lines] == ["information"]
    assert "jaxtyping ÷ floor 30.0×" in lines[0]["measured"]
    assert "`@checked` ÷ floor 2.00×" in lines[0]["measured"]
    assert f"`{render.EXCHANGE}`" in "\n".join(render.group_table("checked-torch", {"results": results}))


def test_a_floor_left_out_says_why() -> None:
    render = load("render")
    group = {"results": {render.CHECKED: row(300)}, "exchange_floor": "no C compiler ('cc' not found)"}
    record = {"states": {"no-libcuda": {"description": "", "groups": {"checked-torch": group}}}}
    (line,) = [t for t in render.evaluate(record) if t["target"].startswith("floor of any checker")]
    assert line["verdict"] == "information"
    assert line["measured"] == "not measured (checked-torch: no C compiler ('cc' not found))"

"""A run's test order is a typed string (synth.records.Order): made only from valid text, read
by kind and seed, stored and shipped as the same text."""

from __future__ import annotations

import pytest

from synth.envs.backend import RunRequest
from synth.records import DEFAULT_ORDER, LISTED_ORDER, Order, TestRun
from tests.factories import make_run


@pytest.mark.parametrize(("text", "kind", "seed"), [
    ("default", "default", None), ("reverse", "reverse", None), ("listed", "listed", None),
    ("random:1234", "random", 1234), ("random:-7", "random", -7),
])
def test_an_order_reads_as_its_kind_and_seed(text: str, kind: str, seed: int | None) -> None:
    order = Order(text)
    assert (order.kind, order.seed, order) == (kind, seed, text)


@pytest.mark.parametrize("text", ["revers", "random", "random:", "random:x", "default:3",
                                  "listed:1", ""])
def test_anything_else_is_refused_where_it_is_written(text: str) -> None:
    with pytest.raises(ValueError, match="unknown test order"):
        Order(text)
    with pytest.raises(ValueError, match="unknown test order"):
        RunRequest(order=text)


def test_a_request_takes_text_and_keeps_an_order() -> None:
    request = RunRequest(order="reverse")
    assert isinstance(request.order, Order) and request.order.kind == "reverse"
    assert RunRequest().order == DEFAULT_ORDER and Order.random(5) == "random:5"


def test_a_run_stores_and_reads_back_the_same_text() -> None:
    run = make_run(order=Order.random(42))
    dumped = run.model_dump(mode="json")
    assert dumped["order"] == "random:42"
    back = TestRun.model_validate(dumped)
    assert isinstance(back.order, Order) and back.order.seed == 42 and back == run
    assert TestRun.model_validate_json(run.model_dump_json()).order == "random:42"
    with pytest.raises(ValueError, match="unknown test order"):
        make_run(order="sideways")
    assert make_run(order=LISTED_ORDER).order.kind == "listed"

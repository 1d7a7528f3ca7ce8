"""A candidate whose worker dies (OOM kill, crash) or hangs on every attempt is given up after
MAX_ATTEMPTS, alone: the candidates batched with it are retried one by one and answered."""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

import pytest
import ray

from synth.pipelines.retry import LOST_ERRORS, MAX_ATTEMPTS, Retrying, cancel

pytestmark = pytest.mark.usefixtures("ray_session")


def Item(candidate_id: str) -> SimpleNamespace:  # noqa: N802 - stands in for a Candidate
    return SimpleNamespace(candidate_id=candidate_id)


def test_poisonous_candidates_are_given_up_within_the_bound_and_their_neighbours_answered(
) -> None:
    def validate(tag: str, items: list[SimpleNamespace]) -> list[str]:
        # Nested, so Ray ships it by value: workers cannot import a test module.
        for item in items:
            if item.candidate_id.startswith("crash"):
                os._exit(137)  # what an OOM kill of the worker looks like from the driver
            if item.candidate_id.startswith("hang"):
                time.sleep(3600)
        return [f"{tag}:{item.candidate_id}" for item in items]

    remote = ray.remote(max_retries=0, num_cpus=1)(validate)
    calls = Retrying(remote, items="items", budget_s=lambda items: 4.0 * len(items))
    batches = [
        [Item("a1"), Item("crash"), Item("a2")],
        [Item("b1"), Item("hang"), Item("b2")],
        [Item("c1")],
    ]
    pending = {calls.remote("v", items=batch) for batch in batches}
    origins = set(pending)
    answered: list[str] = []
    given_up: list[str] = []
    settled = []
    deadline = time.monotonic() + 100
    while pending and time.monotonic() < deadline:
        done, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
        if not done:
            cancel(calls.overdue(running=int(ray.cluster_resources()["CPU"])))
            continue
        ref = done[0]
        pending.discard(ref)
        try:
            answered += ray.get(ref)
        except LOST_ERRORS:
            retries, lost = calls.lost(ref)
            pending |= set(retries)
            given_up += [item.candidate_id for item in lost]
        if (origin := calls.settle(ref)) is not None:
            settled.append(origin)

    assert not pending, "the run did not finish"
    assert sorted(given_up) == ["crash", "hang"]
    assert sorted(answered) == ["v:a1", "v:a2", "v:b1", "v:b2", "v:c1"]
    assert calls.attempts["crash"] == calls.attempts["hang"] == MAX_ATTEMPTS
    assert max(calls.attempts.values()) <= MAX_ATTEMPTS
    assert calls.attempts["c1"] == 1
    assert sorted(map(str, settled)) == sorted(map(str, origins))  # each batch settles once

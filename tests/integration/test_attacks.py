"""The adversarial suite (issue #13): no attack of ``tests/integration/attacks.py`` — solutions
that leave the bug in place and go after pytest, the clean copy in the container, the
sanitizer's reading of paths, the probe scan, the tests' comparisons or the tests themselves —
may be scored resolved, or earn any reward, on any task of the sample corpus. The gold fixes
still resolve (the control: the harness did not get there by refusing everything).

One warm backend for the module; a run takes about half a second, so every attack runs on every
sample task (about a minute in all)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from synth.envs.backend import Backend, build_backend
from synth.records import Outcome, TaskContext
from synth.verifiers.solution import gold_patch, reward, verify_solution
from tests.integration.attacks import ATTACKS, Attack
from tests.integration.solution_kit import contexts, docker_config

pytestmark = pytest.mark.usefixtures("docker_engine", "ray_session")


@pytest.fixture(scope="module")
def ctxs(docker_corpus: Path) -> dict[str, TaskContext]:
    found = contexts(docker_corpus)
    assert len(found) >= 2
    return found


@pytest.fixture(scope="module")
def backend(cache_dir: Path) -> Iterator[Backend]:
    warm = build_backend(docker_config(cache_dir))
    yield warm
    warm.close()


def test_gold_fixes_still_resolve(backend: Backend, ctxs: dict[str, TaskContext]) -> None:
    verdicts = {i: verify_solution(backend, ctx, gold_patch(ctx.task)) for i, ctx in ctxs.items()}
    assert {i: v.outcome for i, v in verdicts.items()} == dict.fromkeys(ctxs, Outcome.RESOLVED)
    assert all(reward(v) == 1.0 for v in verdicts.values())


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: f"{a.klass}-{a.name}")
def test_attack_is_not_resolved(backend: Backend, ctxs: dict[str, TaskContext],
                                attack: Attack) -> None:
    won = {}
    for instance_id, ctx in sorted(ctxs.items()):
        verdict = verify_solution(backend, ctx, attack.make(ctx))
        if verdict.outcome is Outcome.RESOLVED or reward(verdict) != 0.0:
            won[instance_id] = (verdict.outcome.value, reward(verdict), verdict.flags)
    assert not won, f"{attack.name} ({attack.klass}: {attack.doc}) was rewarded on {won}"

"""The trainer's narrow door to the verifier: diffs in, rewards out.

``reward_for_diff`` scores one generated diff (against the task's buggy state) exactly as
``synth verify`` does; ``RewardFn`` keeps one backend (so one warm container per environment)
across calls. Contexts come from the store (``pipelines.verify.load_contexts``); nothing here
touches DuckDB, Ray or Docker directly.
"""

from __future__ import annotations

from collections.abc import Mapping

from synth.envs.backend import Backend, BackendConfig, build_backend
from synth.records import TaskContext
from synth.verifiers.solution import reward, verify_solution


def reward_for_diff(backend: Backend, ctx: TaskContext, diff: str, *,
                    partial_credit: bool = False) -> float:
    """1.0 when ``diff`` resolves the task, else 0.0 (or partial credit, see ``reward``)."""
    return reward(verify_solution(backend, ctx, diff), partial_credit=partial_credit)


class RewardFn:
    """``fn(instance_id, diff) -> float`` over a fixed task set; ``close()`` when done."""

    def __init__(self, config: BackendConfig, contexts: Mapping[str, TaskContext], *,
                 partial_credit: bool = False) -> None:
        self._backend = build_backend(config)
        self._contexts = dict(contexts)
        self.partial_credit = partial_credit

    def __call__(self, instance_id: str, diff: str) -> float:
        return reward_for_diff(self._backend, self._contexts[instance_id], diff,
                               partial_credit=self.partial_credit)

    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> RewardFn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Scripted agents: no model, a fixed plan. They drive TaskEnv end to end in the tests and show a
trainer the shape of the loop (observe, act, get the reward on submit).

- ``NoopAgent`` submits the buggy state as it is: it must never be rewarded.
- ``ScriptedAgent`` plays a list of actions, then submits (a loophole attempt is a script).
- ``GoldAgent`` reads the files the reference fix touches, applies the fix with its own hands
  (read, patch in memory, write), and submits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from synth.patches import FileDiff, apply_file_diff, parse_patch
from synth.verifiers.task_env import Action, Observation, StepResult


class Agent(Protocol):
    def begin(self, obs: Observation) -> None: ...

    def act(self, obs: Observation) -> Action: ...


class Env(Protocol):
    def reset(self, instance_id: str) -> Observation: ...

    def step(self, action: Action) -> StepResult: ...


class NoopAgent:
    def begin(self, obs: Observation) -> None:
        pass

    def act(self, obs: Observation) -> Action:
        return Action.submit()


@dataclass
class ScriptedAgent:
    actions: Sequence[Action]
    _next: int = 0

    def begin(self, obs: Observation) -> None:
        self._next = 0

    def act(self, obs: Observation) -> Action:
        if self._next >= len(self.actions):
            return Action.submit()
        self._next += 1
        return self.actions[self._next - 1]


@dataclass
class GoldAgent:
    fix: str  # the reference fix, a diff against the buggy state
    _pending: list[FileDiff] = field(default_factory=list)
    _reading: FileDiff | None = None

    def begin(self, obs: Observation) -> None:
        self._pending, self._reading = list(parse_patch(self.fix)), None

    def act(self, obs: Observation) -> Action:
        if self._reading is not None:  # obs holds the file just read: patch it, write it back
            diff, self._reading = self._reading, None
            return Action.write(diff.new_path, apply_file_diff(obs.output, diff))
        if not self._pending:
            return Action.submit()
        diff = self._pending.pop(0)
        if diff.new_path == "/dev/null":
            return Action.shell(f"rm -f -- '{diff.old_path}'")
        if diff.old_path == "/dev/null":
            return Action.write(diff.new_path, apply_file_diff("", diff))
        self._reading = diff
        return Action.read(diff.old_path)


@dataclass(frozen=True)
class Episode:
    instance_id: str
    reward: float
    steps: int
    info: dict[str, Any]


def run_episode(env: Env, agent: Agent, instance_id: str, *, max_steps: int = 200) -> Episode:
    """One episode: reset, act until done (the env submits at its own step limit)."""
    obs = env.reset(instance_id)
    agent.begin(obs)
    for steps in range(1, max_steps + 1):
        obs, reward, done, info = env.step(agent.act(obs))
        if done:
            return Episode(instance_id, reward, steps, info)
    obs, reward, _, info = env.step(Action.submit())
    return Episode(instance_id, reward, max_steps + 1, info)

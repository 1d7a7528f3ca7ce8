"""Many TaskEnvs at once: each a Ray actor holding its own warm containers.

A trainer rolls out a batch with ``reset`` / ``step`` (one call per batch, each actor working in
parallel) or hands whole episodes to the actors with ``run_episodes``. Containers are released
on ``close``; an actor that dies leaves containers labelled with its (dead) process, which
``close`` — and the next factory run — remove (``envs.docker_cleanup.remove_stale_containers``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import ray

from synth.envs.backend import BackendConfig
from synth.pipelines.factory import start_ray
from synth.records import TaskContext
from synth.verifiers.agents import Agent, Episode, run_episode
from synth.verifiers.task_env import Action, Observation, StepResult, TaskEnv, TaskEnvConfig


class _EnvActor:
    def __init__(self, backend: BackendConfig, contexts: Mapping[str, TaskContext],
                 config: TaskEnvConfig) -> None:
        self.env = TaskEnv(backend, contexts, config)

    def pid(self) -> int:
        return os.getpid()

    def reset(self, instance_id: str) -> Observation:
        return self.env.reset(instance_id)

    def step(self, action: Action) -> StepResult:
        return self.env.step(action)

    def episode(self, agent: Agent, instance_id: str) -> Episode:
        return run_episode(self.env, agent, instance_id)

    def close(self) -> None:
        self.env.close()


class EnvPool:
    """``size`` TaskEnvs over the same task set, as Ray actors (one CPU each by default)."""

    def __init__(self, backend: BackendConfig, contexts: Mapping[str, TaskContext], size: int,
                 *, config: TaskEnvConfig | None = None, address: str | None = None,
                 num_cpus: float = 1.0) -> None:
        if size < 1:
            raise ValueError("an EnvPool needs at least one environment")
        start_ray(address)
        actor = ray.remote(num_cpus=num_cpus, max_restarts=0)(_EnvActor)
        shared = ray.put(dict(contexts))
        self.actors = [actor.remote(backend, shared, config or TaskEnvConfig())
                       for _ in range(size)]
        self._closed = False
        self._pids = self.pids()  # whose containers to look for once the actors are gone

    def __len__(self) -> int:
        return len(self.actors)

    def reset(self, instance_ids: Sequence[str]) -> list[Observation]:
        """Reset environment i to instance_ids[i] (fewer ids: only the first environments)."""
        self._check(len(instance_ids))
        return ray.get([a.reset.remote(i) for a, i in zip(self.actors, instance_ids, strict=False)])

    def step(self, actions: Sequence[Action | None]) -> list[StepResult | None]:
        """One action per environment; None leaves that environment alone this round."""
        self._check(len(actions))
        refs = [a.step.remote(act) if act is not None else None
                for a, act in zip(self.actors, actions, strict=False)]
        return [ray.get(r) if r is not None else None for r in refs]

    def run_episodes(self, instance_ids: Sequence[str], agents: Sequence[Agent]
                     ) -> list[Episode]:
        """Whole episodes, one per environment, in parallel."""
        self._check(len(instance_ids))
        if len(agents) != len(instance_ids):
            raise ValueError("give one agent per instance id")
        pairs = zip(self.actors, agents, instance_ids, strict=False)
        return ray.get([a.episode.remote(agent, i) for a, agent, i in pairs])

    def pids(self) -> list[int]:
        return ray.get([a.pid.remote() for a in self.actors])

    def close(self) -> dict[str, Any]:
        """Release every container: the live actors' own, and those of actors that died."""
        if self._closed:
            return {"closed": 0, "removed": 0}
        self._closed = True
        closed = 0
        for actor in self.actors:
            try:
                ray.get(actor.close.remote())
                closed += 1
            except ray.exceptions.RayActorError:
                pass  # died earlier: its containers are orphans now, removed below
            ray.kill(actor)
        _wait_gone(self._pids)
        from synth.envs.docker_cleanup import remove_stale_containers

        return {"closed": closed, "removed": remove_stale_containers()}

    def __enter__(self) -> EnvPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check(self, n: int) -> None:
        if self._closed:
            raise RuntimeError("this EnvPool is closed")
        if n > len(self.actors):
            raise ValueError(f"{n} requests for a pool of {len(self.actors)} environments")


def _wait_gone(pids: Sequence[int], timeout_s: float = 15.0) -> None:
    """Until the actors' processes have exited: a container counts as orphaned only then."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:
                os.kill(pid, 0)
                alive.append(pid)
            except ProcessLookupError:
                pass
            except PermissionError:
                alive.append(pid)
        if not alive:
            return
        time.sleep(0.1)

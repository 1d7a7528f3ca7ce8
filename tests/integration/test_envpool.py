"""EnvPool: four TaskEnvs as Ray actors run one scripted episode each, in parallel; containers
are released on close, and those of an actor that died are released too."""

from __future__ import annotations

from pathlib import Path

import pytest
import ray

from synth.envs.docker_cleanup import run_container_labels
from synth.envs.docker_session import OWNER_LABEL
from synth.pipelines.envpool import EnvPool
from synth.verifiers.agents import GoldAgent, NoopAgent, ScriptedAgent
from synth.verifiers.solution import gold_patch
from synth.verifiers.task_env import Action, TaskEnvConfig
from tests.integration.solution_kit import FORCE_PASS_HOOK, contexts, docker_config

pytestmark = pytest.mark.usefixtures("docker_engine", "ray_session")


def _owned_by(pids: list[int]) -> list[str]:
    return [cid for cid, labels in run_container_labels().items()
            if int(labels[OWNER_LABEL].rpartition(":")[2]) in pids]


def test_four_environments_run_an_episode_each_in_parallel_and_release_their_containers(
    docker_corpus: Path, cache_dir: Path
) -> None:
    ctxs = contexts(docker_corpus)
    ids = sorted(ctxs)
    picks = [ids[i % len(ids)] for i in range(4)]
    agents = [GoldAgent(gold_patch(ctxs[picks[0]].task)), NoopAgent(),
              GoldAgent(gold_patch(ctxs[picks[2]].task)),
              ScriptedAgent([Action.write("conftest.py", FORCE_PASS_HOOK)])]
    # Half a CPU per actor: four fit on a two-core CI machine at once.
    pool = EnvPool(docker_config(cache_dir), ctxs, 4, config=TaskEnvConfig(max_steps=20),
                   num_cpus=0.5)
    try:
        pids = pool.pids()
        assert len(set(pids)) == 4
        episodes = pool.run_episodes(picks, agents)
        assert [e.reward for e in episodes] == [1.0, 0.0, 1.0, 0.0]
        assert [e.instance_id for e in episodes] == picks
        # Per actor: the task's sealed container (the agent's workspace, then its scored run),
        # the canary's, and for a task that no stored task covers, the factory's own container
        # that minted its canary (verifiers.canary).
        assert 4 <= len(_owned_by(pids)) <= 12, "at most three warm containers per actor"

        # A batch step API too: reset all, one shell step each.
        obs = pool.reset(picks)
        assert [o.instance_id for o in obs] == picks
        steps = pool.step([Action.shell("pwd")] * 3 + [None])
        assert [s[0].output.strip() for s in steps[:3]] == ["/work"] * 3 and steps[3] is None

        # An actor dies: its container is an orphan, which close() removes.
        ray.kill(pool.actors[1])
        with pytest.raises(ray.exceptions.RayActorError):
            pool.reset(picks[:2])
        released = pool.close()
        assert released["closed"] == 3 and released["removed"] >= 1
        assert _owned_by(pids) == []
    finally:
        pool.close()

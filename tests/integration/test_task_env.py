"""TaskEnv end to end in Docker, driven by scripted agents: the gold agent is rewarded, doing
nothing and every loophole are not, the shell is bounded and offline, and git inside the
container knows nothing after the base commit."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import git
import pytest

from synth.envs.docker_backend import DockerBackend
from synth.envs.spec import infer_spec, read_config_files
from synth.intake import parse_source, take
from synth.records import SolutionFlag, Strategy, Task, TaskContext
from synth.verifiers.agents import GoldAgent, NoopAgent, ScriptedAgent, run_episode
from synth.verifiers.solution import gold_patch
from synth.verifiers.task_env import Action, TaskEnv, TaskEnvConfig
from tests.integration.solution_kit import (
    FORCE_PASS_HOOK,
    contexts,
    docker_config,
    f2p_files,
)

pytestmark = pytest.mark.usefixtures("docker_engine", "ray_session")
CONFIG = TaskEnvConfig(shell_timeout_s=3, max_output_bytes=2_000, max_steps=20)


@pytest.fixture(scope="module")
def ctxs(docker_corpus: Path) -> dict[str, TaskContext]:
    return contexts(docker_corpus)


@pytest.fixture(scope="module")
def env(ctxs: dict[str, TaskContext], cache_dir: Path) -> Iterator[TaskEnv]:
    task_env = TaskEnv(docker_config(cache_dir), ctxs, CONFIG)
    yield task_env
    task_env.close()


@pytest.fixture(scope="module")
def one(ctxs: dict[str, TaskContext]) -> TaskContext:
    return ctxs[sorted(ctxs)[0]]


def test_reset_shows_the_statement_and_the_tree_but_no_test_list(env: TaskEnv,
                                                                  one: TaskContext) -> None:
    obs = env.reset(one.task.instance_id)
    assert obs.problem_statement == one.task.problem_statement
    assert "pyproject.toml" in obs.tree and not any(p.startswith(".git/") for p in obs.tree)
    assert set(f2p_files(one)) <= set(obs.tree)
    assert "FAIL_TO_PASS" not in obs.model_dump()
    # The buggy state is what the agent sees: the bug's lines are in the file.
    target = next(p for p in obs.tree if p in one.task.patch)
    _, _, done, _ = env.step(Action.read(target))
    assert not done


def test_the_shell_is_bounded_in_time_and_output_and_offline(env: TaskEnv,
                                                              one: TaskContext) -> None:
    env.reset(one.task.instance_id)
    loud, _, _, _ = env.step(Action.shell("yes synth | head -c 100000"))
    assert loud.truncated and len(loud.output) <= CONFIG.max_output_bytes
    slow, _, _, _ = env.step(Action.shell("echo started; sleep 30"))
    assert slow.timed_out and slow.exit_code == 124 and "started" in slow.output
    net, _, _, _ = env.step(Action.shell("ls /sys/class/net; id -u"))
    assert net.output.split() == ["lo", "1000"]
    outside, _, _, _ = env.step(Action.read("../etc/passwd"))
    assert outside.exit_code == 2
    wrote, _, _, _ = env.step(Action.write("notes/scratch.txt", "hello"))
    back, _, _, _ = env.step(Action.shell("cat notes/scratch.txt"))
    assert wrote.exit_code == 0 and back.output == "hello"


def test_the_gold_agent_is_rewarded_and_doing_nothing_is_not(env: TaskEnv,
                                                             one: TaskContext) -> None:
    gold = run_episode(env, GoldAgent(gold_patch(one.task)), one.task.instance_id)
    assert gold.reward == 1.0, gold.info["verdict"]
    assert gold.info["verdict"].flags == ()
    noop = run_episode(env, NoopAgent(), one.task.instance_id)
    assert noop.reward == 0.0 and noop.steps == 1


def test_loophole_agents_gain_nothing_and_are_flagged(env: TaskEnv, one: TaskContext) -> None:
    tests = " ".join(f2p_files(one))
    cheats = [
        Action.shell(f"rm -f {tests}"),
        Action.write("conftest.py", FORCE_PASS_HOOK),
        Action.write("pytest.ini", "[pytest]\naddopts = -p no:synth_report\n"),
        Action.shell("git commit -qam cheat --no-verify || true"),  # HEAD is not the judge
    ]
    cheat = run_episode(env, ScriptedAgent(cheats), one.task.instance_id)
    verdict = cheat.info["verdict"]
    assert cheat.reward == 0.0, verdict
    assert {SolutionFlag.EDITS_TESTS, SolutionFlag.TEST_HOOK,
            SolutionFlag.TEST_CONFIG} <= set(verdict.flags)
    # The real fix and the same cheats: scored on the original tests, resolved, still flagged.
    both = run_episode(env, _Then(GoldAgent(gold_patch(one.task)), cheats),
                       one.task.instance_id)
    assert both.reward == 1.0 and SolutionFlag.TEST_HOOK in both.info["verdict"].flags


class _Then(GoldAgent):
    """The gold agent, then a script, then submit."""

    def __init__(self, gold: GoldAgent, script: list[Action]) -> None:
        super().__init__(gold.fix)
        self.script = ScriptedAgent(script)

    def begin(self, obs):  # type: ignore[no-untyped-def]
        super().begin(obs)
        self.script.begin(obs)

    def act(self, obs):  # type: ignore[no-untyped-def]
        action = super().act(obs)
        return self.script.act(obs) if action.kind.value == "submit" else action


FUTURE = "the fix from the future"


def test_git_inside_the_container_knows_nothing_after_the_base_commit(
    tmp_path: Path, cache_dir: Path
) -> None:
    src = tmp_path / "proj"
    (src / "tests").mkdir(parents=True)
    (src / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (src / "tests" / "test_calc.py").write_text(
        "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n")
    (src / "pyproject.toml").write_text('[project]\nname = "calc"\nversion = "0"\n')
    run = lambda *a: subprocess.run(["git", *a], cwd=src, check=True,  # noqa: E731
                                    capture_output=True, text=True).stdout.strip()
    ident = ["-c", "user.name=t", "-c", "user.email=t@t"]
    run("init", "-q", "-b", "main")
    run("add", "-A")
    run(*ident, "commit", "-qm", "base")
    base = run("rev-parse", "HEAD")
    (src / "future.py").write_text(f"NOTE = '{FUTURE}'\n")
    run("add", "-A")
    run(*ident, "commit", "-qm", FUTURE)
    run("tag", "v-future")
    run("remote", "add", "origin", "https://example.invalid/calc.git")
    future = run("rev-parse", "HEAD")

    snapshot = take(parse_source(str(src)), tmp_path / "snap", revision=base)
    tree = git.Repo(snapshot.path).git.ls_files().splitlines()
    config = docker_config(cache_dir)
    backend = DockerBackend(config)
    environment = backend.prepare(snapshot, infer_spec(read_config_files(Path(snapshot.path)),
                                                       tree))
    backend.close()
    bug = ("diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n"
           "@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a + b\n+    return a - b\n")
    task = Task(instance_id="calc.t1", repo="calc", base_commit=base, patch=bug,
                problem_statement="add is wrong", FAIL_TO_PASS=("tests/test_calc.py::test_add",),
                PASS_TO_PASS=(), image_name=environment.image_name, env_id=environment.env_id,
                candidate_id="c", strategy=Strategy.PROCEDURAL, operator="arith", seed=0)
    ctx = TaskContext(task=task, environment=environment, snapshot=snapshot)
    task_env = TaskEnv(config, {"calc.t1": ctx}, CONFIG.model_copy(update={
        "max_output_bytes": 200_000}))
    try:
        task_env.reset("calc.t1")

        def sh(command: str) -> str:
            obs, _, _, _ = task_env.step(Action.shell(command))
            assert obs.exit_code == 0, obs.output
            return obs.output

        commits = sh("git log --all --format=%H").split()
        assert len(commits) == 1 and base not in commits, "one commit: the task's buggy state"
        assert sh("git status --porcelain") == "" and "a - b" in sh("cat calc.py")
        # No answer key: no git object holds the clean code, and the clean tree is unreadable.
        assert sh("git cat-file --batch-all-objects --batch | grep -c 'a + b' || true"
                  ).strip() == "0"
        assert "Permission denied" in sh("cat /testbed/calc.py 2>&1 || true")
        assert "Permission denied" in sh("ls /testbed 2>&1 || true")
        assert sh("git reflog --all; git tag; git remote -v; git stash list").strip() == ""
        objects = sh("git cat-file --batch-all-objects --batch-check='%(objectname)'").split()
        assert future not in objects
        everything = sh("git cat-file --batch-all-objects --batch | gzip -c | wc -c; "
                        f"git cat-file --batch-all-objects --batch | grep -c '{FUTURE}' || true")
        assert everything.split()[-1] == "0", "no object holds the future commit's content"
        assert sh(f"git show {future} 2>&1 || true").startswith("fatal")
        assert sh("git fetch origin 2>&1 || true").startswith("fatal")
        assert "future.py" not in sh("ls")
        _, reward, done, _ = task_env.step(Action.write(
            "calc.py", "def add(a, b):\n    return a + b\n"))
        assert not done
        _, reward, done, info = task_env.step(Action.submit())
        assert done and reward == 1.0, info["verdict"]
    finally:
        task_env.close()

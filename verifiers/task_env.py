"""A gym-style environment over one task at a time: an agent acts inside the task's container and
is rewarded by the task's tests.

``reset(instance_id)`` puts the task's buggy state into the warm container's /work and returns
what the agent may see: the problem statement and the file tree (never the FAIL_TO_PASS list).
``step(action)`` runs a shell command (as the unprivileged test user, no network, bounded in time
and output), reads a file, writes a file, or submits. Submitting scores the diff from the task's
starting state to /work exactly as ``synth verify`` scores a patch (tests and test configuration
restored, only FAIL_TO_PASS + PASS_TO_PASS run, a canary run behind a ``resolved``).

The container is sealed to the task (envs.docker_session.DockerSession): /work is a copy of the
buggy state whose git repository holds one commit, that state; the clean tree the bug was made
from is unreadable to the agent, and no git object holds the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from synth.envs.backend import BackendConfig, BackendUnavailable, SealFailed
from synth.records import BackendKind, Record, SolutionVerdict, TaskContext
from synth.verifiers.solution import reward, verify_solution

if TYPE_CHECKING:
    from synth.envs.docker_session import DockerSession


class ActionKind(StrEnum):
    SHELL = "shell"
    READ = "read"
    WRITE = "write"
    SUBMIT = "submit"


class Action(Record):
    kind: ActionKind
    command: str = ""  # SHELL
    path: str = ""  # READ / WRITE: relative to the repository root
    content: str = ""  # WRITE

    @classmethod
    def shell(cls, command: str) -> Action:
        return cls(kind=ActionKind.SHELL, command=command)

    @classmethod
    def read(cls, path: str) -> Action:
        return cls(kind=ActionKind.READ, path=path)

    @classmethod
    def write(cls, path: str, content: str) -> Action:
        return cls(kind=ActionKind.WRITE, path=path, content=content)

    @classmethod
    def submit(cls) -> Action:
        return cls(kind=ActionKind.SUBMIT)


class Observation(Record):
    instance_id: str
    problem_statement: str
    tree: tuple[str, ...]  # files of the repository at reset (.git aside), sorted
    output: str = ""  # what the last action printed (or the file read), bounded
    exit_code: int | None = None
    truncated: bool = False
    timed_out: bool = False
    step: int = 0


class TaskEnvConfig(Record):
    shell_timeout_s: float = 30.0
    max_output_bytes: int = 16_384
    max_read_bytes: int = 262_144
    max_steps: int = 50  # the episode ends with an automatic submit at this step
    max_tree: int = 2_000  # files listed in an observation's tree
    partial_credit: bool = False
    verify_runs: int = 1


StepResult = tuple[Observation, float, bool, dict[str, Any]]


class TaskEnv:
    """One agent's environment. Containers stay warm across episodes (one per environment);
    ``close`` removes them."""

    def __init__(self, backend: BackendConfig,
                 contexts: Mapping[str, TaskContext] | Callable[[str], TaskContext],
                 config: TaskEnvConfig | None = None) -> None:
        if backend.kind is not BackendKind.DOCKER:
            raise BackendUnavailable("TaskEnv needs the Docker backend (an agent's shell must "
                                     "run in a container)")
        from synth.envs.docker_backend import DockerBackend

        self.config = config or TaskEnvConfig()
        self._backend = DockerBackend(backend)
        self._contexts = contexts
        self._ctx: TaskContext | None = None
        self._steps = 0
        self._done = True

    def _context(self, instance_id: str) -> TaskContext:
        if callable(self._contexts):
            return self._contexts(instance_id)
        try:
            return self._contexts[instance_id]
        except KeyError:
            raise KeyError(f"no task {instance_id!r} in this environment's task set") from None

    def reset(self, instance_id: str) -> Observation:
        ctx = self._context(instance_id)
        try:
            session = self._workspace(ctx)
            ok, why = session.reset_workspace()
        except SealFailed as exc:
            ok, why = False, str(exc)
        if not ok:
            raise RuntimeError(f"{instance_id}: the task's bug does not apply: {why}")
        self._ctx, self._steps, self._done = ctx, 0, False
        listing = session.shell("find . -path ./.git -prune -o -type f -print | sort",
                                timeout_s=self.config.shell_timeout_s, max_bytes=1 << 20)
        tree = tuple(line.removeprefix("./") for line in listing.output.splitlines() if line)
        return Observation(instance_id=instance_id, problem_statement=ctx.task.problem_statement,
                           tree=tree[: self.config.max_tree])

    def step(self, action: Action) -> StepResult:
        if self._ctx is None or self._done:
            raise RuntimeError("the episode is over (or never began): call reset(instance_id)")
        self._steps += 1
        if action.kind is ActionKind.SUBMIT:
            return self._submit({})
        obs = self._act(action)
        if self._steps >= self.config.max_steps:
            return self._submit({"truncated": True}, obs)
        return obs, 0.0, False, {}

    def _act(self, action: Action) -> Observation:
        ctx, cfg = self._ctx, self.config
        assert ctx is not None
        session = self._workspace(ctx)
        base = dict(instance_id=ctx.task.instance_id, problem_statement="", tree=(),
                    step=self._steps)
        if action.kind is ActionKind.SHELL:
            res = session.shell(action.command, timeout_s=cfg.shell_timeout_s,
                                max_bytes=cfg.max_output_bytes)
            return Observation(**base, output=res.output, exit_code=res.exit_code,
                               truncated=res.truncated, timed_out=res.timed_out)
        try:
            if action.kind is ActionKind.READ:
                data = session.read_file(action.path, max_bytes=cfg.max_read_bytes + 1)
                if data is None:
                    return Observation(**base, output=f"cannot read {action.path}", exit_code=1)
                return Observation(**base, output=data[: cfg.max_read_bytes].decode(
                    "utf-8", "replace"), exit_code=0, truncated=len(data) > cfg.max_read_bytes)
            ok = session.write_file(action.path, action.content.encode())
        except ValueError as exc:  # a path outside the workspace
            return Observation(**base, output=str(exc), exit_code=2)
        return Observation(**base, output="" if ok else f"cannot write {action.path}",
                           exit_code=0 if ok else 1)

    def _submit(self, info: dict[str, Any], obs: Observation | None = None) -> StepResult:
        ctx = self._ctx
        assert ctx is not None
        self._done = True
        session = self._workspace(ctx)
        session.kill_user_processes()  # nothing the agent started may watch the scoring run
        diff = session.workspace_diff()
        verdict = self.verify(diff)
        obs = obs or Observation(instance_id=ctx.task.instance_id, problem_statement="",
                                 tree=(), step=self._steps)
        out = obs.model_copy(update={"output": _summary(verdict)})
        return out, reward(verdict, partial_credit=self.config.partial_credit), True, {
            **info, "verdict": verdict, "patch": diff}

    def _workspace(self, ctx: TaskContext) -> DockerSession:
        return self._backend.session(ctx.environment, base=ctx.task.patch, git=True)

    def verify(self, solution: str) -> SolutionVerdict:
        """Score ``solution`` for the current task in this environment's warm container."""
        if self._ctx is None:
            raise RuntimeError("no task: call reset(instance_id) first")
        return verify_solution(self._backend, self._ctx, solution,
                               runs=self.config.verify_runs)

    def close(self) -> None:
        self._backend.close()


def _summary(v: SolutionVerdict) -> str:
    line = (f"{v.outcome.value}: {v.fail_to_pass_passed}/{v.fail_to_pass_total} failing tests "
            f"fixed, {v.pass_to_pass_passed}/{v.pass_to_pass_total} others still pass")
    if v.flags:
        line += f"; restored before running: {', '.join(v.dropped)}"
    return line + (f" ({v.reason})" if v.reason else "")

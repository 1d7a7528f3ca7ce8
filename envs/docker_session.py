"""A session: one warm container of an environment, and the test server that runs in it.

Its root file system is read-only; each run resets a tmpfs working copy from the pristine one
baked into the image, applies the patch, runs pytest as an unprivileged user, then kills every
process that user left. A run that times out or runs out of memory takes its container down with
it; the next run starts a fresh one. The container's layout (where the pristine tree, the working
copy and the reports live) and its locked-down profile are defined here.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

import docker
import docker.errors
from docker.types import Mount
from pydantic import BaseModel, ConfigDict, ValidationError

from synth.envs.backend import (
    FORKSERVER,
    PATCH_FAILED_EXIT,
    PINNED_ENV,
    RUNNER,
    STAGER,
    Job,
    JobPaths,
    Limits,
    RawRun,
    RunRequest,
    SealFailed,
    ServerSettings,
    make_job,
    new_nonce,
    template_dir,
)
from synth.records import Environment

USER, UID = "synth", 1000
# The group that may read the pristine tree (the clean commit): the factory's own runs get it,
# a run that scores a solution and an agent's shell do not.
KEY_GROUP, KEY_GID = "synthkey", 1001
PRISTINE = "/testbed"
STAGE = "/stage"  # a sealed container's starting state (tmpfs, written by root: stage.py)
WORK = "/work"
OUT = "/opt/synth-out"  # tmpfs, mode 1733: the test user may create files here but not list them
LOG = "/tmp/synth-run.log"
RUN_LABEL = "synth.run"
OWNER_LABEL = "synth.owner"  # host:pid of the process that started the container
RUN_ID_LABEL = "synth.run_id"  # the factory run whose worker holds it warm
POLL_S = 0.05
SERVER_START_S = 60.0
SERVER_GRACE_S = 30.0  # past the run's own limit, which the server enforces itself


def owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def container_profile(limits: Limits) -> dict:
    """The containment every test container gets (see ARCHITECTURE.md, "Running tests")."""
    return {
        "network_mode": "none",
        "read_only": True,
        "mounts": [
            Mount("/tmp", None, type="tmpfs", tmpfs_size=limits.tmpfs_mb << 20, tmpfs_mode=0o1777),
            Mount(OUT, None, type="tmpfs", tmpfs_size=16 << 20, tmpfs_mode=0o1733),
        ],
        # The working copy may hold compiled extensions (a C speedup the project's build made):
        # Docker mounts a tmpfs noexec unless told, and dlopen refuses a noexec file system.
        "tmpfs": {WORK: f"rw,exec,nosuid,nodev,size={limits.work_mb}m,mode=1777",
                  STAGE: f"rw,noexec,nosuid,nodev,size={limits.work_mb}m,mode=0755"},
        "mem_limit": f"{limits.memory_mb}m",
        "memswap_limit": f"{limits.memory_mb}m",
        "nano_cpus": int(limits.cpus * 1e9),
        "pids_limit": limits.pids,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "init": True,
    }


# The agent's shell: the pinned test environment, git usable in the tmpfs /work (owned by root,
# so git would refuse it as "dubious"), nothing of the harness's own settings.
AGENT_ENV = {**PINNED_ENV, "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "safe.directory",
             "GIT_CONFIG_VALUE_0": "*", "GIT_PAGER": "cat", "PAGER": "cat"}
# The agent's shell command, bounded in time and output (templates/bounded_shell.py), run
# by the container's own interpreter: nothing of it is installed in the image.
_BOUNDED_SHELL = (template_dir() / "bounded_shell.py").read_text(encoding="utf-8")


@dataclass(frozen=True)
class ShellResult:
    exit_code: int
    output: str
    truncated: bool
    timed_out: bool


def workspace_path(path: str) -> str:
    """``path`` (relative to /work, or absolute inside it) as an absolute path inside /work."""
    pure = PurePosixPath(path)
    rel = pure.relative_to(WORK) if pure.is_absolute() and pure.is_relative_to(WORK) else pure
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise ValueError(f"{path!r} is not a path inside the workspace {WORK}")
    return f"{WORK}/{rel}"


class Reply(BaseModel):
    """The test server's answer to one job (envs/templates/forkserver.py)."""

    model_config = ConfigDict(frozen=True, extra="ignore")  # its timings per phase, say
    exit_code: int
    report: str | None = None  # the plugin's JSON report, None when none was written
    timed_out: bool = False
    oom: bool = False
    duration_s: float | None = None
    mode: Literal["exact", "hot"] = "exact"  # how it ran (a hot run may fall back to exact)
    fallback: str = ""  # why a hot run fell back
    log_tail: str = ""
    progress: str = ""
    witness: str | None = None  # a sealed run's witness lines
    cpu_s: float | None = None


class ServerGone(RuntimeError):
    pass


class TestServer:
    """forkserver.py running in a session's container, driven over one ``docker exec``: a JSON
    job line in, a JSON reply line out. No exec per run, no interpreter or pytest start-up."""

    __test__ = False  # not a pytest test class

    def __init__(self, client: docker.DockerClient, container, user: str) -> None:
        api = client.api
        self.api = api
        self.exec_id = api.exec_create(
            container.id, ["/opt/venv/bin/python", f"/opt/synth/{FORKSERVER}"], user=user,
            stdin=True, stdout=True, stderr=True, workdir=WORK, environment=dict(PINNED_ENV),
        )["Id"]
        self._sock = api.exec_start(self.exec_id, socket=True)
        self._raw = getattr(self._sock, "_sock", self._sock)
        self._frames = b""
        self._out = b""
        hello = self._line(time.monotonic() + SERVER_START_S)
        if not hello.get("ready"):
            raise ServerGone(f"the test server did not start: {hello}")

    def running(self) -> bool:
        """Whether the server's stream is still open: a peek at the socket (the stream ends when
        the server does), not a call to the Docker API before every run."""
        if self._out or self._frames:
            return True
        try:
            self._raw.settimeout(0)
            return self._raw.recv(1, socket.MSG_PEEK) != b""
        except (BlockingIOError, TimeoutError):
            return True  # nothing to read: alive
        except OSError:
            return False
        finally:
            self._raw.settimeout(None)  # blocking again: a send that fills the buffer waits

    def call(self, job: Job, deadline: float) -> Reply:
        """Send one job; its reply. ServerGone for an answer the harness cannot read: the
        server's own error, or a reply missing what every run must say."""
        # A job may be larger than the socket's buffer (thousands of selected node ids): the
        # send waits for the server to read, within the run's own deadline.
        self._raw.settimeout(max(deadline - time.monotonic(), 0.001))
        self._raw.sendall((json.dumps(job.wire()) + "\n").encode())
        raw = self._line(deadline)
        if raw.get("error"):
            raise ServerGone(f"the test server failed: {raw['error']}")
        try:
            return Reply.model_validate(raw)
        except ValidationError as exc:
            raise ServerGone(f"an unreadable reply: {exc.errors()[0]['msg']} "
                             f"({', '.join(map(str, exc.errors()[0]['loc']))})") from exc

    def _line(self, deadline: float) -> dict:
        """The next line of the server's stdout (exec streams come in 8-byte-headed frames)."""
        while b"\n" not in self._out:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ServerGone("no answer before the deadline")
            self._raw.settimeout(left)
            try:
                chunk = self._raw.recv(1 << 16)
            except TimeoutError:
                continue
            if not chunk:
                raise ServerGone("its stream ended")
            self._frames += chunk
            while len(self._frames) >= 8:
                size = int.from_bytes(self._frames[4:8], "big")
                if len(self._frames) < 8 + size:
                    break
                if self._frames[0] == 1:  # stdout; stderr (2) is the server's own log
                    self._out += self._frames[8 : 8 + size]
                self._frames = self._frames[8 + size :]
        line, self._out = self._out.split(b"\n", 1)
        return json.loads(line)

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass


class DockerSession:
    """One warm container of one environment; its test server (forkserver.py) runs the tests.

    ``base`` None: the factory's own session; runs reset from the pristine tree (the clean
    commit), which they may read. Otherwise the session is *sealed*: root copies the pristine
    tree with ``base`` applied into /stage once (envs/templates/stage.py), and every run, and an
    agent's shell, resets from there as a user who cannot read the pristine tree. ``git`` gives
    the stage a one-commit repository (an agent's workspace).
    """

    def __init__(self, client: docker.DockerClient, env: Environment, limits: Limits,
                 run_id: str | None = None, *, base: str | None = None,
                 git: bool = False) -> None:
        self.client, self.env, self.limits = client, env, limits
        self.base, self.git = base, git
        # The container's own process (and so its life) belongs to root; tests run as USER,
        # who can therefore kill everything it started without stopping the container.
        self.container = client.containers.create(
            env.image_digest,
            command=["sleep", "infinity"],
            user="root",
            labels={RUN_LABEL: "1", "synth.env_id": env.env_id, OWNER_LABEL: owner(),
                    RUN_ID_LABEL: run_id or ""},
            detach=True,
            **container_profile(limits),
        )
        self.container.start()
        self._server: TestServer | None = None
        self._oom_seen = self._oom_kills()
        # Whether anything but the test server may have written to /work since its last job
        # (an agent's shell, a reset): then a screen must not start on the tree as it was left.
        self._written = True
        self.last_mode = ""  # how the last run ran: "exact" or "hot" (forkserver.py)
        if base is not None:
            try:
                self.seal(base, git)
            except BaseException:
                self.close()
                raise

    @property
    def sealed(self) -> bool:
        return self.base is not None

    @property
    def pristine(self) -> str:
        """Where runs reset their working copy from."""
        return STAGE if self.sealed else PRISTINE

    @property
    def run_user(self) -> str:
        return USER if self.sealed else f"{USER}:{KEY_GROUP}"

    def seal(self, base: str, git: bool = False, timeout_s: float = 300.0) -> None:
        """Make (or remake) the stage: the pristine tree with ``base`` applied."""
        # The test server may stay: each run is a fresh fork that resets /work from the stage,
        # and sealed runs are exact (no collector holds the old tree).
        self.base, self.git = base, git
        job = {"pristine": PRISTINE, "stage": STAGE, "patch": base, "git": git}
        exec_id = self._exec_with_stdin(["/usr/bin/python3", f"/opt/synth/{STAGER}"],
                                        json.dumps(job).encode(), user="root")
        if not self._wait(exec_id, time.monotonic() + timeout_s):
            raise SealFailed(f"making the starting state took over {timeout_s:.0f}s")
        code = int(self.client.api.exec_inspect(exec_id)["ExitCode"])
        if code != 0:
            raise SealFailed(f"the starting state could not be made (exit {code})")

    def _oom_kills(self) -> int:
        """The container's OOM-kill count (cgroup v1 memory.oom_control, or v2 memory.events)."""
        for path in ("/sys/fs/cgroup/memory/memory.oom_control", "/sys/fs/cgroup/memory.events"):
            text = self._read(path) if self.alive else None
            for line in (text or "").splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and value.strip().isdigit():
                    return int(value)
        return 0

    def run(self, request: RunRequest) -> RawRun:
        nonce = new_nonce()
        paths = JobPaths(pristine=self.pristine, work=WORK, report=f"{OUT}/{nonce}.json", log=LOG,
                         python="/opt/venv/bin/python", plugin_dir="/opt/synth")
        limit = request.limit(self.limits.timeout_s)
        hot = request.hot and not request.coverage and not self.sealed
        job = make_job(self.env.spec, request, paths, nonce, self.limits).model_copy(update={
            # A sealed run scores a solution: its plugin writes a witness the code cannot unsay.
            "server": ServerSettings(mode="hot" if hot else "exact", witness=self.sealed,
                                     timeout_s=limit, screen=hot and request.first_failure,
                                     as_left=not self._written)})
        self._written = False
        start = time.monotonic()
        try:
            reply = self._test_server().call(job, start + limit + SERVER_GRACE_S)
        except (OSError, ServerGone) as exc:
            # The server is gone (killed by the memory limit, by a test, or hung): so is this
            # container; the next run starts a fresh one.
            duration = time.monotonic() - start
            kills = self._oom_kills()
            oom = kills > self._oom_seen
            timed_out = not oom and duration >= limit
            self.close()
            return RawRun(-9, None, nonce, timed_out, oom, False, duration,
                          f"the test server stopped: {exc}")
        if reply.oom:
            self._oom_seen = self._oom_kills()
        self.last_mode = reply.mode
        return RawRun(reply.exit_code, reply.report, nonce, reply.timed_out, reply.oom,
                      reply.exit_code == PATCH_FAILED_EXIT,
                      reply.duration_s if reply.duration_s is not None
                      else time.monotonic() - start, reply.log_tail,
                      progress=reply.progress, witness=reply.witness, cpu_s=reply.cpu_s)

    def _test_server(self) -> TestServer:
        if self._server is None or not self._server.running():
            if self._server is not None:
                self._server.close()
            self._server = TestServer(self.client, self.container, self.run_user)
        return self._server

    # The agent's workspace (verifiers.task_env): the same /work, driven step by step. Every command
    # runs as USER, with no network, bounded in time and output.

    def reset_workspace(self, patch: str = "", *, timeout_s: float = 120.0) -> tuple[bool, str]:
        """Kill what USER left running, reset /work from the stage (a sealed session's starting
        state) and apply ``patch`` (runner.py's job with a no-op command). False and git's
        message if it did not apply."""
        self._written = True
        self.kill_user_processes()
        job = Job(pristine=self.pristine, work=WORK, log=LOG, patch=patch, secret=None,
                  select=None, cpu_s=None, argv=("true",), env={})
        exec_id = self._exec_with_stdin(["/usr/bin/python3", f"/opt/synth/{RUNNER}"],
                                        json.dumps(job.wire()).encode(), user=self.run_user)
        if not self._wait(exec_id, time.monotonic() + timeout_s):
            raise TimeoutError(f"resetting the workspace took over {timeout_s:.0f}s")
        code = int(self.client.api.exec_inspect(exec_id)["ExitCode"])
        return code == 0, (self._read(LOG, tail=True) or "") if code else ""

    def kill_user_processes(self) -> None:
        """Kill everything USER runs (twice: a process forking during the first sweep). Before
        scoring an agent's work: a daemon it left could read the run's nonce from the test
        process's /proc/PID/environ and replace the report."""
        self._exec(["sh", "-c", "kill -9 -1; sleep 0.05; kill -9 -1"], user=USER)

    def shell(self, command: str, *, timeout_s: float, max_bytes: int) -> ShellResult:
        """``sh -c command`` in /work as USER: killed (with its process group) after
        ``timeout_s``, its combined output cut to ``max_bytes``."""
        self._written = True
        argv = ["/usr/bin/python3", "-c", _BOUNDED_SHELL, command, str(timeout_s), str(max_bytes)]
        code, out = self._exec(argv, environment=AGENT_ENV)
        try:
            result = json.loads(out.decode("utf-8", "replace"))
        except ValueError:
            return ShellResult(code, out[:max_bytes].decode("utf-8", "replace"), False, False)
        return ShellResult(result["exit_code"], result["output"], result["truncated"],
                           result["timed_out"])

    def read_file(self, path: str, *, max_bytes: int) -> bytes | None:
        """Up to ``max_bytes`` of a file of the workspace (a path relative to /work)."""
        code, out = self._exec(["head", "-c", str(max_bytes), "--", workspace_path(path)])
        return out if code == 0 else None

    def write_file(self, path: str, data: bytes, *, timeout_s: float = 30.0) -> bool:
        """Write a file of the workspace as USER (parent folders made as needed)."""
        self._written = True
        writer = ("import os, sys; p = sys.argv[1]; os.makedirs(os.path.dirname(p), exist_ok=True)"
                  "; open(p, 'wb').write(sys.stdin.buffer.read())")
        exec_id = self._exec_with_stdin(["/usr/bin/python3", "-c", writer, workspace_path(path)],
                                        data)
        if not self._wait(exec_id, time.monotonic() + timeout_s):
            return False
        return int(self.client.api.exec_inspect(exec_id)["ExitCode"]) == 0

    def workspace_diff(self) -> str:
        """The diff from the starting state (the stage's one commit) to /work as it is now,
        read with the stage's git metadata and a scratch index: whatever the agent did to
        /work/.git (commits, resets, hooks) has no say in it. Renames are written as a deletion
        and a creation, which is how the sanitizer wants them."""
        if not (self.sealed and self.git):
            raise RuntimeError("workspace_diff needs a session sealed with git=True")
        script = (
            f'd=$(mktemp -d) && mkdir "$d/objects" && find {WORK} -name __pycache__ -prune '
            f'-exec rm -rf {{}} + ; export GIT_DIR={STAGE}/.git GIT_WORK_TREE={WORK} '
            'GIT_INDEX_FILE="$d/index" GIT_OBJECT_DIRECTORY="$d/objects" '
            f'GIT_ALTERNATE_OBJECT_DIRECTORIES={STAGE}/.git/objects GIT_CONFIG_NOSYSTEM=1 '
            'GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=safe.directory GIT_CONFIG_VALUE_0="*" '
            'HOME="$d" && git read-tree HEAD && git add -A && git diff --cached --binary '
            '--no-renames --no-color --no-ext-diff HEAD; rc=$?; rm -rf "$d"; exit $rc'
        )
        code, out = self._exec(["sh", "-c", script])
        if code != 0:
            raise RuntimeError(f"reading the workspace diff failed: {out[-500:]!r}")
        return out.decode("utf-8", "surrogateescape")

    @property
    def alive(self) -> bool:
        if self._server is not None and self._server.running():
            return True  # dockerd ends every exec stream of a container that stops
        try:
            self.container.reload()
        except docker.errors.NotFound:
            return False
        return self.container.status == "running"

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        try:
            self.container.remove(force=True)
        except docker.errors.NotFound:
            pass

    def _exec(self, argv: list[str], *, user: str = USER,
              environment: dict[str, str] | None = None) -> tuple[int, bytes]:
        result = self.container.exec_run(argv, user=user, environment=environment, workdir=WORK)
        return result.exit_code, result.output

    def _exec_with_stdin(self, argv: list[str], data: bytes, *, user: str = USER) -> str:
        api = self.client.api
        exec_id = api.exec_create(self.container.id, argv, user=user, stdin=True,
                                  workdir="/tmp")["Id"]
        sock = api.exec_start(exec_id, socket=True)
        raw = getattr(sock, "_sock", sock)
        raw.sendall(data)
        raw.shutdown(socket.SHUT_WR)
        sock.close()
        return exec_id

    def _wait(self, exec_id: str, deadline: float) -> bool:
        while time.monotonic() < deadline:
            # Right after exec_start an exec can read "not running" with no exit code yet: it
            # has not started. Only an exit code says it is over.
            info = self.client.api.exec_inspect(exec_id)
            if not info["Running"] and info["ExitCode"] is not None:
                return True
            time.sleep(POLL_S)
        return False

    def _read(self, path: str, *, tail: bool = False) -> str | None:
        argv = ["tail", "-c", "4000", path] if tail else ["cat", path]
        code, out = self._exec(argv)
        return out.decode("utf-8", "replace") if code == 0 else None

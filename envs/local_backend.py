"""The local fallback: the same EnvSpec in a virtualenv, each run in a throwaway copy.

Used where no Docker engine answers. It installs the same locked wheels as the Docker image and
runs the same runner.py job: in its own process group (the whole group is killed on timeout),
under address-space and file-size rlimits and, where the kernel allows it, in fresh network (only
loopback) and PID namespaces. It is weaker than a container: tests run as the factory's own user
(root can write anywhere, fork without limit), and there is no read-only root file system.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import resource
import shutil
import sys
import tempfile
from pathlib import Path

from synth import proc
from synth.envs.backend import (
    INSTALLER,
    PATCH_FAILED_EXIT,
    PLUGIN,
    RUNNER,
    BackendConfig,
    JobPaths,
    RawRun,
    RunRequest,
    environment_id,
    make_job,
    new_nonce,
    plugin_source,
    project_build,
    resolve,
    template_dir,
)
from synth.envs.listing import Listing, dir_listing
from synth.envs.names import REBUILD_SUFFIX
from synth.envs.project_build import add_generated
from synth.envs.wheelhouse import LOCK_NAME
from synth.patches import combine
from synth.records import (
    HARNESS_VERSION,
    BackendKind,
    Environment,
    EnvSpec,
    Snapshot,
    content_hash,
)

PRISTINE = "testbed"  # beside the venv: the snapshot and what its build generated
BASE = f"local-python{sys.version_info.major}.{sys.version_info.minor}"


# A new network namespace (only loopback) and a new PID namespace whose init is the runner: when
# it exits, the kernel kills every process the tests left, setsid grandchildren included.
UNSHARE = ["unshare", "--net", "--pid", "--fork", "--kill-child", "--"]


@functools.cache
def can_unshare() -> bool:
    if not shutil.which("unshare"):
        return False
    return proc.run([*UNSHARE, "true"], check=False, timeout=10).returncode == 0


class LocalPythonMismatch(RuntimeError):
    pass


class LocalBackend:
    kind = BackendKind.LOCAL

    def __init__(self, config: BackendConfig) -> None:
        self.config = config

    def prepare(self, snapshot: Snapshot, spec: EnvSpec) -> Environment:
        host = f"{sys.version_info.major}.{sys.version_info.minor}"
        if spec.python != host:
            raise LocalPythonMismatch(
                f"the project needs Python {spec.python} and the local backend runs the host's "
                f"{host}; use --backend docker (an offline Python {spec.python} image)")
        house = resolve(spec, self.config.cache_dir, strict=self.config.rebuild)
        wheels, lock = house.path, house.lock
        env_id = environment_id(self.kind, snapshot, spec, [r.sha256 for r in lock], BASE)
        suffix = REBUILD_SUFFIX if self.config.rebuild else ""
        venv = self.config.cache_dir / "venvs" / (env_id + suffix)
        if self.config.rebuild or not (venv / ".synth-ready").exists():
            shutil.rmtree(venv, ignore_errors=True)
            venv.parent.mkdir(parents=True, exist_ok=True)
            base_python = getattr(sys, "_base_executable", sys.executable)
            proc.run([base_python, "-m", "venv", venv], timeout=300)
            proc.run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-index",
                      "--no-deps", "--require-hashes", "--disable-pip-version-check",
                      "--find-links", wheels, "-r", wheels / LOCK_NAME], timeout=900)
            shutil.copy(plugin_source(), venv / f"{PLUGIN}.py")
            shutil.copy(template_dir() / RUNNER, venv / RUNNER)
            self._install_project(venv, snapshot, spec, lock)
            (venv / ".synth-ready").write_text(HARNESS_VERSION)
        return Environment(
            env_id=env_id, snapshot_id=snapshot.snapshot_id, backend=self.kind,
            image_name=str(venv), image_digest=content_hash("venv", [r.sha256 for r in lock]),
            base_image=BASE, lock=lock, spec=spec,
        )

    def _install_project(self, venv: Path, snapshot: Snapshot, spec: EnvSpec, lock) -> None:
        """The project's own wheel, its modules removed (envs/templates/install_project.py);
        a pristine copy beside the venv with the files its build generated, if any."""
        project = project_build(snapshot, spec, self.config.cache_dir)
        if project.install(lock, spec.python) and project.wheel is not None:
            proc.run([venv / "bin" / "python", template_dir() / INSTALLER, project.wheel],
                     timeout=300)
        if project.generated:
            shutil.copytree(snapshot.path, venv / PRISTINE, symlinks=True)
            add_generated(project, venv / PRISTINE)

    def run_tests(self, env: Environment, snapshot: Snapshot, request: RunRequest) -> RawRun:
        if request.base is not None:
            # No second user here to seal a run with: the starting state is applied with the
            # patch, and the clean tree stays readable (see README, "Verdicts you can trust").
            request = dataclasses.replace(request, patch=combine(request.base, request.patch),
                                          base=None)
        venv = Path(env.image_name)
        pristine = venv / PRISTINE if (venv / PRISTINE).is_dir() else Path(snapshot.path)
        limits = self.config.limits
        nonce = new_nonce()
        with tempfile.TemporaryDirectory(prefix="synth-run-") as tmp:
            root = Path(tmp)
            for sub in ("testbed", "out", "home"):
                (root / sub).mkdir()
            (root / "out").chmod(0o1733)
            paths = JobPaths(pristine=str(pristine), work=str(root / "testbed"),
                             report=str(root / "out" / f"{nonce}.json"), log=str(root / "log"),
                             python=str(venv / "bin" / "python"), plugin_dir=str(venv))
            job = make_job(env.spec, request, paths, nonce, limits)
            job = job.model_copy(update={"env": {
                **job.env, "HOME": str(root / "home"), "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
                "VIRTUAL_ENV": str(venv), "TMPDIR": str(root / "home")}})
            (root / "job.json").write_text(json.dumps(job.wire()))
            argv = [sys.executable, str(venv / RUNNER)]
            if can_unshare():
                argv = [*UNSHARE, *argv]
            done = proc.run(argv, timeout=request.limit(limits.timeout_s), check=False,
                            stdin_path=root / "job.json", env=_clean_env(),
                            preexec=functools.partial(_limit, limits.memory_mb, limits.work_mb))
            report_path = Path(paths.report)
            report = report_path.read_text() if report_path.exists() else None
            progress_path = Path(paths.report + ".progress")
            progress = progress_path.read_text() if progress_path.exists() else ""
            log = Path(paths.log)
            log_tail = log.read_bytes()[-4000:].decode("utf-8", "replace") if log.exists() else ""
        # A child stopped by the address-space limit dies of MemoryError: without a cgroup,
        # that is as close to Docker's OOMKilled as a process can tell.
        oom = report is None and "MemoryError" in log_tail
        return RawRun(
            exit_code=done.returncode, report=report, nonce=nonce, timed_out=done.timed_out,
            oom=oom, patch_failed=done.returncode == PATCH_FAILED_EXIT,
            duration_s=done.duration_s, log_tail=log_tail or done.stdout[-4000:],
            progress=progress, cpu_s=round(done.cpu_s, 4),
        )

    def present(self, env: Environment) -> bool:
        return (Path(env.image_name) / ".synth-ready").exists()

    def listing(self, env: Environment) -> Listing:
        return dir_listing(Path(env.image_name))

    def discard(self, env: Environment) -> None:
        shutil.rmtree(env.image_name, ignore_errors=True)

    def close(self) -> None:
        """Nothing stays warm between local runs."""


def _clean_env() -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "TZ")
    return {k: v for k, v in os.environ.items() if k in keep}


def _limit(memory_mb: int, file_mb: int) -> None:
    # Address space, not RSS: generous (4x) because interpreters map far more than they touch.
    cap = memory_mb * 4 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_mb << 20, file_mb << 20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.nice(5)

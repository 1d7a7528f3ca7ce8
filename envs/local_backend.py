"""The local fallback: the same EnvSpec in a virtualenv, each run in a throwaway copy.

Used where no Docker engine answers. It installs the same locked wheels as the Docker image, runs
pytest in its own process group with rlimits (the whole group is killed on timeout), and, where
the kernel allows it, in a fresh network namespace with only loopback.
"""

from __future__ import annotations

import functools
import os
import resource
import shutil
import sys
import tempfile
from pathlib import Path

from envs.backend import (
    PINNED_ENV,
    PLUGIN,
    REPORT_ENV,
    BackendConfig,
    RawRun,
    environment_id,
    plugin_source,
    pytest_command,
)
from envs.wheelhouse import LOCK_NAME, ensure_wheelhouse
from synth import proc
from synth.records import HARNESS_VERSION, BackendKind, Environment, EnvSpec, Snapshot, content_hash

BASE = f"local-python{sys.version_info.major}.{sys.version_info.minor}"


@functools.cache
def can_unshare_network() -> bool:
    unshare = shutil.which("unshare")
    if not unshare:
        return False
    return proc.run([unshare, "--net", "--", "true"], check=False, timeout=10).returncode == 0


class LocalBackend:
    kind = BackendKind.LOCAL

    def __init__(self, config: BackendConfig) -> None:
        self.config = config

    def prepare(self, snapshot: Snapshot, spec: EnvSpec) -> Environment:
        wheels, lock = ensure_wheelhouse(self.config.cache_dir, spec.requirements, spec.python)
        env_id = environment_id(self.kind, snapshot, spec, [r.sha256 for r in lock], BASE)
        venv = (
            self.config.cache_dir / "venvs" / (env_id + ("-rebuild" if self.config.rebuild else ""))
        )
        if self.config.rebuild or not (venv / ".synth-ready").exists():
            shutil.rmtree(venv, ignore_errors=True)
            venv.parent.mkdir(parents=True, exist_ok=True)
            base_python = getattr(sys, "_base_executable", sys.executable)
            proc.run([base_python, "-m", "venv", venv], timeout=300)
            proc.run(
                [
                    venv / "bin" / "python",
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--no-index",
                    "--no-deps",
                    "--require-hashes",
                    "--disable-pip-version-check",
                    "--find-links",
                    wheels,
                    "-r",
                    wheels / LOCK_NAME,
                ],
                timeout=900,
            )
            shutil.copy(plugin_source(), venv / f"{PLUGIN}.py")
            (venv / ".synth-ready").write_text(HARNESS_VERSION)
        return Environment(
            env_id=env_id,
            snapshot_id=snapshot.snapshot_id,
            backend=self.kind,
            image_name=str(venv),
            image_digest=content_hash("venv", [r.sha256 for r in lock]),
            base_image=BASE,
            lock=lock,
            spec=spec,
        )

    def run_tests(self, env: Environment, snapshot: Snapshot, patch: str) -> RawRun:
        venv = Path(env.image_name)
        limits = self.config.limits
        with tempfile.TemporaryDirectory(prefix="synth-run-") as tmp:
            work = Path(tmp) / "testbed"
            shutil.copytree(snapshot.path, work, symlinks=True)
            if patch:
                (Path(tmp) / "task.patch").write_text(patch)
                applied = proc.run(
                    ["git", "apply", "--whitespace=nowarn", Path(tmp) / "task.patch"],
                    cwd=work,
                    check=False,
                    timeout=60,
                )
                if applied.returncode != 0:
                    return RawRun(
                        applied.returncode,
                        None,
                        False,
                        False,
                        True,
                        applied.duration_s,
                        applied.stderr[-4000:],
                    )
            report = Path(tmp) / "report.json"  # outside the copy the tests run in
            source_root = work if env.spec.source_root == "." else work / env.spec.source_root
            home = Path(tmp) / "home"
            home.mkdir()
            child_env = {
                **PINNED_ENV,
                REPORT_ENV: str(report),
                "HOME": str(home),
                "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
                "PYTHONPATH": f"{source_root}:{venv}",
                "VIRTUAL_ENV": str(venv),
            }
            argv = pytest_command(env.spec, python=str(venv / "bin" / "python"))
            if can_unshare_network():
                argv = ["unshare", "--net", "--", *argv]
            done = proc.run(
                argv,
                cwd=work,
                env=child_env,
                timeout=limits.timeout_s,
                check=False,
                preexec=functools.partial(_limit, limits.memory_mb),
            )
            text = report.read_text() if report.exists() else None
        # A child killed by the address-space limit dies of MemoryError or SIGKILL/SIGSEGV;
        # without a cgroup that is as close to Docker's OOMKilled as a process can tell.
        oom = "MemoryError" in done.stdout[-4000:] and text is None
        return RawRun(
            exit_code=done.returncode,
            report=text,
            timed_out=done.timed_out,
            oom=oom,
            patch_failed=False,
            duration_s=done.duration_s,
            log_tail=(done.stdout + done.stderr)[-4000:],
        )


def _limit(memory_mb: int) -> None:
    # Address space, not RSS: generous (4x) because interpreters map far more than they touch.
    cap = memory_mb * 4 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.nice(5)

"""The Docker backend: one image per repo@commit, one locked-down container per test run.

All Docker access in the project goes through this module and envs.base_image, via the docker SDK.
"""

from __future__ import annotations

import io
import shutil
import tarfile
import tempfile
import time
from pathlib import Path

import docker
import docker.errors
import requests
from jinja2 import Environment as Jinja
from jinja2 import FileSystemLoader, StrictUndefined

from envs.backend import (
    PATCH_FAILED_EXIT,
    PINNED_ENV,
    REPORT_ENV,
    BackendConfig,
    RawRun,
    environment_id,
    plugin_source,
    pytest_command,
    template_dir,
)
from envs.base_image import ensure_base_image
from envs.wheelhouse import ensure_wheelhouse
from synth.records import HARNESS_VERSION, BackendKind, Environment, EnvSpec, Snapshot

USER, UID = "synth", 1000
WORKDIR = "/testbed"
REPORT_PATH = "/opt/synth/out/report.json"
PATCH_DIR = "/opt/synth/in"
RUN_LABEL = "synth.run"


class DockerBuildFailed(RuntimeError):
    pass


def ping() -> tuple[bool, str]:
    try:
        client = docker.from_env(timeout=5)
        client.ping()
        client.close()
        return True, "ok"
    except Exception as exc:  # the SDK raises several unrelated types when no engine answers
        return False, type(exc).__name__


def image_name(snapshot: Snapshot) -> str:
    return f"synth-env/{snapshot.repo.name}:{snapshot.commit[:12]}"


def render_dockerfile(*, base_image: str, snapshot: Snapshot, spec: EnvSpec, env_id: str) -> str:
    jinja = Jinja(
        loader=FileSystemLoader(template_dir()),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    root = WORKDIR if spec.source_root == "." else f"{WORKDIR}/{spec.source_root}"
    return jinja.get_template("Dockerfile.j2").render(
        base_image=base_image,
        repo_name=snapshot.repo.name,
        commit=snapshot.commit,
        harness_version=HARNESS_VERSION,
        user=USER,
        uid=UID,
        workdir=WORKDIR,
        python_path=f"{root}:/opt/synth",
        env_id=env_id,
    )


class DockerBackend:
    kind = BackendKind.DOCKER

    def __init__(self, config: BackendConfig) -> None:
        self.config = config
        self.client = docker.from_env(timeout=120)

    def prepare(self, snapshot: Snapshot, spec: EnvSpec) -> Environment:
        base = self.config.base_image or ensure_base_image(
            self.client, work_dir=self.config.cache_dir
        )
        wheels, lock = ensure_wheelhouse(self.config.cache_dir, spec.requirements, spec.python)
        env_id = environment_id(self.kind, snapshot, spec, [r.sha256 for r in lock], base)
        name = image_name(snapshot) + ("-rebuild" if self.config.rebuild else "")
        image = None if self.config.rebuild else self._existing(name, env_id)
        if image is None:
            image = self._build(name, base, snapshot, spec, env_id, wheels)
        return Environment(
            env_id=env_id,
            snapshot_id=snapshot.snapshot_id,
            backend=self.kind,
            image_name=name,
            image_digest=image.id,
            base_image=base,
            lock=lock,
            spec=spec,
        )

    def _existing(self, name: str, env_id: str):
        try:
            image = self.client.images.get(name)
        except docker.errors.ImageNotFound:
            return None
        return image if image.labels.get("synth.env_id") == env_id else None

    def _build(
        self, name: str, base: str, snapshot: Snapshot, spec: EnvSpec, env_id: str, wheels: Path
    ):
        with tempfile.TemporaryDirectory(dir=self.config.cache_dir, prefix=".ctx-") as tmp:
            ctx = Path(tmp)
            shutil.copytree(wheels, ctx / "wheels")
            shutil.copytree(snapshot.path, ctx / "repo", symlinks=True)
            shutil.copy(template_dir() / "run_tests.sh", ctx / "run_tests.sh")
            shutil.copy(plugin_source(), ctx / "synth_report.py")
            (ctx / "Dockerfile").write_text(
                render_dockerfile(base_image=base, snapshot=snapshot, spec=spec, env_id=env_id)
            )
            try:
                image, _ = self.client.images.build(
                    path=str(ctx),
                    tag=name,
                    rm=True,
                    forcerm=True,
                    pull=False,
                    nocache=self.config.rebuild,
                    network_mode="none",
                )
            except docker.errors.BuildError as exc:
                log = "".join(str(c.get("stream", c.get("error", ""))) for c in exc.build_log)
                raise DockerBuildFailed(f"building {name} failed:\n{log[-3000:]}") from exc
        return image

    def run_tests(self, env: Environment, snapshot: Snapshot, patch: str) -> RawRun:
        limits = self.config.limits
        command = ["/opt/synth/run_tests.sh", *pytest_command(env.spec)]
        container = self.client.containers.create(
            env.image_digest,
            command=command,
            user=USER,
            working_dir=WORKDIR,
            environment={**PINNED_ENV, REPORT_ENV: REPORT_PATH},
            network_mode="none",
            mem_limit=f"{limits.memory_mb}m",
            memswap_limit=f"{limits.memory_mb}m",
            nano_cpus=int(limits.cpus * 1e9),
            pids_limit=limits.pids,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            init=True,
            tmpfs={"/tmp": "size=256m"},
            labels={RUN_LABEL: "1", "synth.env_id": env.env_id},
            detach=True,
        )
        start = time.monotonic()
        try:
            if patch:
                container.put_archive(PATCH_DIR, _tar_one("task.patch", patch.encode(), UID))
            container.start()
            timed_out = False
            try:
                status = container.wait(timeout=limits.timeout_s)
                exit_code = int(status.get("StatusCode", -1))
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                timed_out = True
                container.kill()
                exit_code = -9
            duration = time.monotonic() - start
            container.reload()
            oom = bool(container.attrs.get("State", {}).get("OOMKilled"))
            logs = container.logs(tail=60).decode("utf-8", "replace")
            report = None if timed_out else _read_file(container, REPORT_PATH)
        finally:
            container.remove(force=True)
        return RawRun(
            exit_code=exit_code,
            report=report,
            timed_out=timed_out,
            oom=oom,
            patch_failed=exit_code == PATCH_FAILED_EXIT,
            duration_s=duration,
            log_tail=logs[-4000:],
        )

    def remove_stale_containers(self) -> int:
        """Remove containers a crashed run left behind (found by their label)."""
        stale = self.client.containers.list(all=True, filters={"label": RUN_LABEL})
        for container in stale:
            container.remove(force=True)
        return len(stale)


def _tar_one(name: str, data: bytes, uid: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.uid, info.gid = len(data), 0o644, uid, uid
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _read_file(container, path: str) -> str | None:
    try:
        stream, _ = container.get_archive(path)
    except docker.errors.NotFound:
        return None
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.next()
        handle = tar.extractfile(member) if member else None
        return handle.read().decode("utf-8", "replace") if handle else None


def run_containers(env_id: str | None = None) -> list[str]:
    """Ids of containers labelled as test runs (of one environment), running or not."""
    client = docker.from_env(timeout=30)
    labels = [RUN_LABEL] + ([f"synth.env_id={env_id}"] if env_id else [])
    try:
        return [c.id for c in client.containers.list(all=True, filters={"label": labels})]
    finally:
        client.close()

"""Harbor's own code, run in a container, to check what ``synth export --format harbor`` writes.

harbor (the PyPI package, pinned below) needs Python >= 3.12 and the host has 3.11, so it runs in
an image built the project's way: the offline trixie base (Python 3.13, ``envs.base_image``),
harbor and its dependencies from a host-built wheelhouse (``envs.wheelhouse``), and Debian's Docker
CLI with the Compose v2 plugin, downloaded on the host with apt into a private state folder, for
harbor's runner. The build needs no network. The image is tagged ``synth-harbor:VERSION`` and
labelled with its recipe's hash: a later call finds it and downloads nothing.

Two uses:
- ``load_tasks(folder)``: each task folder read by harbor's loader and linter (``load_tasks.py``).
- ``run_agent(task_dir, "oracle" | "nop", work=...)``: one ``harbor trials start`` with harbor's
  local docker environment, driving the host's engine through its socket; returns the reward.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.types import Mount

from synth import proc
from synth.envs.apt_mirror import machine_mirror
from synth.envs.base_image import base_image_tag, ensure_base_image, suite_for
from synth.envs.wheelhouse import ensure_wheelhouse
from synth.records import content_hash

HARBOR_VERSION = "0.26.0"
PYTHON = "3.13"
# harbor's docker environment runs `docker compose` v2 (environments/docker/runtime.py:44):
# trixie packages it, bookworm's docker-compose is v1. harbor builds its helper images with
# `docker buildx build` (environments/docker/utils.py:84).
DEBS = ("docker-cli", "docker-compose", "docker-buildx")
REPOSITORY = "synth-harbor"
RECIPE_VERSION = 1
RECIPE_LABEL = "synth.harbor.recipe"
HERE = Path(__file__).resolve().parent
DOCKERFILE = HERE / "Dockerfile"
LOADER = HERE / "load_tasks.py"
IN_IMAGE = "/opt/synth-harbor"
DOCKER_SOCK = "/var/run/docker.sock"


class HarborImageError(RuntimeError):
    pass


@dataclass(frozen=True)
class Deb:
    package: str
    filename: str
    sha256: str


def image_tag() -> str:
    return f"{REPOSITORY}:{HARBOR_VERSION}"


def recipe_id() -> str:
    """What the image is made of, known before anything is downloaded."""
    return content_hash("synth-harbor", HARBOR_VERSION, PYTHON, base_image_tag(suite_for(PYTHON)),
                        DEBS, DOCKERFILE.read_text(), RECIPE_VERSION)


def ensure_image(cache: Path, client: docker.DockerClient | None = None) -> str:
    """The harbor image's tag, building it the first time (base image, wheels, debs on the host;
    about 100 MB of wheels and 34 MB of debs)."""
    client = client or docker.from_env(timeout=600)
    tag, recipe = image_tag(), recipe_id()
    try:
        if client.images.get(tag).labels.get(RECIPE_LABEL) == recipe:
            return tag
    except docker.errors.ImageNotFound:
        pass
    cache.mkdir(parents=True, exist_ok=True)
    base = ensure_base_image(client, work_dir=cache, python=PYTHON)
    wheels, lock = ensure_wheelhouse(cache, [f"harbor=={HARBOR_VERSION}"], PYTHON)
    debs = download_debs(cache / "harbor-debs" / recipe, suite_for(PYTHON), DEBS)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".harbor-ctx-") as tmp:
        ctx = Path(tmp)
        shutil.copy(DOCKERFILE, ctx / "Dockerfile")
        shutil.copytree(wheels, ctx / "wheels")
        (ctx / "debs").mkdir()
        for deb in debs:
            shutil.copy(cache / "harbor-debs" / recipe / deb.filename, ctx / "debs")
        labels = {
            RECIPE_LABEL: recipe,
            "synth.harbor.version": HARBOR_VERSION,
            "synth.harbor.base": base,
            "synth.harbor.lock": content_hash([r.sha256 for r in lock]),
            "synth.harbor.debs": " ".join(f"{d.filename}@sha256:{d.sha256}" for d in debs),
        }
        try:
            client.images.build(path=str(ctx), tag=tag, buildargs={"BASE": base}, rm=True,
                                forcerm=True, pull=False, network_mode="none", labels=labels)
        except docker.errors.BuildError as exc:
            log = "".join(str(c.get("stream", c.get("error", ""))) for c in exc.build_log)
            raise HarborImageError(f"building {tag} failed:\n{log[-3000:]}") from exc
    return tag


def download_debs(dest: Path, suite: str, packages: tuple[str, ...]) -> tuple[Deb, ...]:
    """``packages`` from ``suite`` of the host's own Debian mirror, with apt's signature and hash
    checks, into ``dest``; the host's apt state is not touched (a private one is used, then
    removed)."""
    manifest = dest / "debs.json"
    if manifest.exists():
        return tuple(Deb(**d) for d in json.loads(manifest.read_text()))
    dest.mkdir(parents=True, exist_ok=True)
    # apt's lists and caches for the suite (about 140 MB) are only needed for this download.
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".apt-{suite}-") as state:
        conf = _private_apt(Path(state), suite)
        env = {"APT_CONFIG": str(conf), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        proc.run(["apt-get", "-q", "update"], env=env, timeout=600)
        proc.run(["apt-get", "-q", "download", *packages], env=env, cwd=dest, timeout=600)
    debs = []
    for package in packages:
        found = sorted(dest.glob(f"{package}_*.deb"))
        if len(found) != 1:
            raise HarborImageError(f"apt-get download {package} left {len(found)} files in {dest}")
        digest = hashlib.sha256(found[0].read_bytes()).hexdigest()
        debs.append(Deb(package, found[0].name, digest))
    manifest.write_text(json.dumps([d.__dict__ for d in debs], indent=1))
    return tuple(debs)


def _private_apt(state: Path, suite: str) -> Path:
    for sub in ("lists/partial", "cache/archives/partial", "etc/apt.conf.d", "etc/preferences.d",
                "etc/sources.list.d"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    (state / "status").touch()
    keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
    (state / "etc" / "sources.list").write_text(
        f"deb [signed-by={keyring}] {machine_mirror(suite)} {suite} main\n")
    conf = state / "apt.conf"
    conf.write_text("".join(f'{key} "{value}";\n' for key, value in {
        "Dir::Etc": state / "etc",
        "Dir::State": state,
        "Dir::State::Lists": state / "lists",
        "Dir::State::status": state / "status",
        "Dir::Cache": state / "cache",
        "APT::Architecture": "amd64",
        "APT::Sandbox::User": "root",  # the _apt user may not write into the caller's folders
        "Acquire::Languages": "none",
    }.items()))
    return conf


def load_tasks(folder: Path, *, image: str | None = None,
               client: docker.DockerClient | None = None, timeout_s: float = 300) -> list[dict]:
    """One record per task folder under ``folder``, as harbor's loader and linter read it (see
    load_tasks.py for the fields). The folder is mounted read-only; the container has no network."""
    argv = ["python", f"{IN_IMAGE}/load_tasks.py", "/tasks"]
    mounts = [Mount("/tasks", str(folder.resolve()), type="bind", read_only=True),
              Mount(f"{IN_IMAGE}/load_tasks.py", str(LOADER), type="bind", read_only=True)]
    out = _run(argv, mounts=mounts, image=image or image_tag(), client=client,
               timeout_s=timeout_s, read_only=True)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def run_agent(task_dir: Path, agent: str, *, work: Path, image: str | None = None,
              client: docker.DockerClient | None = None, timeout_s: float = 600) -> float:
    """The reward harbor's verifier gives ``agent`` ("oracle", "nop") on ``task_dir``: one
    ``harbor trials start -e docker`` whose trial folder is ``work/trials/NAME`` (result.json,
    verifier/reward.txt, trial.log).

    harbor runs in its container and drives the host's engine through the mounted socket. By
    default (0.26.0) it copies /logs out of the task's container with `docker compose cp`; with
    ``--ek auto_mounting=true`` it bind-mounts trial folders instead, and those paths must mean
    the same to harbor and to the engine, so ``work`` is mounted at its own path either way."""
    task_dir, work = task_dir.resolve(), work.resolve()
    name = f"synth-{agent}-{uuid.uuid4().hex[:8]}"
    trials = work / "trials"
    trials.mkdir(parents=True, exist_ok=True)
    argv = ["harbor", "trials", "start", "-p", str(task_dir), "-a", agent, "-e", "docker",
            "--trials-dir", str(trials), "--trial-name", name]
    mounts = [Mount(DOCKER_SOCK, DOCKER_SOCK, type="bind"),
              Mount(str(work), str(work), type="bind"),
              Mount(str(task_dir), str(task_dir), type="bind", read_only=True)]
    client = client or docker.from_env(timeout=120)
    try:
        out = _run(argv, mounts=mounts, image=image or image_tag(), client=client,
                   timeout_s=timeout_s, working_dir=str(work))
    finally:
        _remove_compose_project(client, f"{name}__env")
    if not (trials / name / "result.json").exists():
        raise HarborImageError(f"harbor wrote no result.json for {task_dir}:\n{out[-3000:]}")
    return trial_reward(trials / name)


def trial_reward(trial_dir: Path) -> float:
    """The ``reward`` of a finished trial, from harbor's result.json (its verifier_result)."""
    result = json.loads((trial_dir / "result.json").read_text())
    rewards = (result.get("verifier_result") or {}).get("rewards") or {}
    if "reward" not in rewards:
        raise HarborImageError(f"{trial_dir}: no reward (exception: "
                               f"{json.dumps(result.get('exception_info'))[:2000]})")
    return float(rewards["reward"])


def _remove_compose_project(client: docker.DockerClient, session_id: str) -> None:
    """What a trial killed midway leaves (harbor removes it itself when it finishes)."""
    project = re.sub(r"[^a-z0-9_-]", "-", session_id.lower())
    label = f"com.docker.compose.project={project}"
    for container in client.containers.list(all=True, filters={"label": label}):
        container.remove(force=True)
    for network in client.networks.list(filters={"label": label}):
        network.remove()


def _run(argv: list[str], *, mounts: list[Mount], image: str,
         client: docker.DockerClient | None, timeout_s: float, **kwargs: Any) -> str:
    """Run ``argv`` in a fresh container of ``image`` with no network; its stdout, or
    HarborImageError with the tail of both streams."""
    client = client or docker.from_env(timeout=120)
    container = client.containers.run(image, argv, mounts=mounts, detach=True,
                                      network_mode="none", labels={"synth.harbor": "1"},
                                      **kwargs)
    try:
        try:
            status = container.wait(timeout=timeout_s)["StatusCode"]
        except Exception as exc:  # the SDK raises a requests timeout type here
            raise HarborImageError(f"{' '.join(argv)} ran past {timeout_s:.0f}s") from exc
        if status != 0:
            both = container.logs(stdout=True, stderr=True).decode(errors="replace")
            raise HarborImageError(f"{' '.join(argv)} exited {status}:\n{both[-3000:]}")
        return container.logs(stdout=True, stderr=False).decode(errors="replace")
    finally:
        container.remove(force=True)

"""Harbor's quality gate on exported task folders, run the way Harbor runs a trial: the oracle
agent must score 1, the no-op agent 0.

For each folder: build ``environment/`` into an image; start a container from it (no network,
the task's memory limit); for the oracle, copy ``solution/`` to ``/solution`` and run
``solve.sh``; then copy ``tests/`` to ``/tests``, run ``test.sh`` and read
``/logs/verifier/reward.txt``. The no-op trial skips the solution. This is Harbor's own order
(``harbor/trial``: agent, then the verifier uploads ``tests/`` and reads the reward files);
`tests/harbor/` checks the same folders with Harbor's own code where its runner can work.
"""

from __future__ import annotations

import io
import tarfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import DockerException

from synth.envs.docker_session import OWNER_LABEL, RUN_LABEL, owner
from synth.envs.names import harbor_image


class HarborCheckError(RuntimeError):
    """A task folder that could not be built or run; the message says which and why."""


@dataclass(frozen=True)
class Trial:
    task: str
    agent: str  # "oracle" | "nop"
    reward: float | None  # None: no reward file was written
    seconds: float
    log: str  # the tail of what solve.sh and test.sh printed


@dataclass(frozen=True)
class Check:
    task: str
    oracle: Trial
    nop: Trial

    @property
    def ok(self) -> bool:
        return self.oracle.reward == 1 and self.nop.reward == 0


def image_tag(folder: Path) -> str:
    return harbor_image(folder.name)


def check_folder(folder: Path, client: docker.DockerClient | None = None) -> Check:
    own = client is None
    client = client or docker.from_env(timeout=600)
    try:
        tag = build(client, folder)
        try:
            return Check(folder.name, trial(client, folder, tag, "oracle"),
                         trial(client, folder, tag, "nop"))
        finally:
            client.images.remove(tag, force=True, noprune=False)
    finally:
        if own:
            client.close()


def build(client: docker.DockerClient, folder: Path) -> str:
    tag = image_tag(folder)
    base = _base_image(folder / "environment" / "Dockerfile")
    try:
        client.images.get(base)
    except DockerException:
        raise HarborCheckError(
            f"{folder.name}: its environment image {base} is not on this Docker engine; build "
            "it from the export's environments/ENV_ID folder first (README: exports)") from None
    try:
        client.images.build(path=str(folder / "environment"), tag=tag, rm=True,
                            forcerm=True, network_mode="none")
    except DockerException as exc:
        raise HarborCheckError(f"{folder.name}: environment/ did not build: {exc}") from exc
    return tag


def trial(client: docker.DockerClient, folder: Path, tag: str, agent: str,
          script: str = "") -> Trial:
    """One trial: ``agent`` "oracle" runs solve.sh, "nop" nothing, any other name runs
    ``script`` (bash, as root in /testbed: an agent's own doing) before the verifier."""
    config = tomllib.loads((folder / "task.toml").read_text())
    environment = config.get("environment", {})
    timeout = float(config.get("verifier", {}).get("timeout_sec", 600))
    started = time.monotonic()
    container = client.containers.run(
        tag, ["sleep", "infinity"], detach=True, network_mode="none", init=True,
        mem_limit=f"{int(environment.get('memory_mb', 2048))}m",
        labels={RUN_LABEL: "1", OWNER_LABEL: owner()}, user="root",
    )
    logs = []
    try:
        if agent == "oracle":
            container.put_archive("/", _tar(folder / "solution", "solution"))
            code, out = container.exec_run(["bash", "/solution/solve.sh"], user="root")
            logs.append(out.decode("utf-8", "replace"))
        elif script:
            code, out = container.exec_run(["bash", "-c", script], user="root", workdir="/testbed")
            logs.append(out.decode("utf-8", "replace"))
        container.put_archive("/", _tar(folder / "tests", "tests"))
        code, out = container.exec_run(["timeout", str(int(timeout)), "bash", "/tests/test.sh"],
                                       user="root")
        logs.append(out.decode("utf-8", "replace"))
        reward = _reward(container)
    finally:
        container.remove(force=True)
    return Trial(folder.name, agent, reward, round(time.monotonic() - started, 2),
                 "\n".join(logs)[-2000:])


def _base_image(dockerfile: Path) -> str:
    for line in dockerfile.read_text().splitlines():
        if line.startswith("FROM "):
            return line.split()[1]
    raise HarborCheckError(f"{dockerfile} has no FROM line")


def _tar(src: Path, name: str) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        tar.add(src, arcname=name)
    return raw.getvalue()


def _reward(container) -> float | None:
    try:
        stream, _ = container.get_archive("/logs/verifier/reward.txt")
    except DockerException:
        return None
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.extractfile(tar.getmembers()[0])
        text = member.read().decode().strip() if member else ""
    try:
        return float(text)
    except ValueError:
        return None

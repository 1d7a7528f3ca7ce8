"""Clean-up: the test containers a run (or a process that died) left behind, found by their
labels and removed.
"""

from __future__ import annotations

import os
import socket

import docker
import docker.errors

from synth.envs.docker_session import OWNER_LABEL, RUN_ID_LABEL, RUN_LABEL


def _orphaned(label: str) -> bool:
    host, _, pid = label.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's (or a malformed) label: not ours to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _listed(client: docker.DockerClient, labels: list[str]) -> list[dict]:
    """Containers carrying every label, as the engine's list gives them (id and labels).

    The low-level list, not `client.containers.list`: that one inspects each container after
    listing, and a container removed in between (another run's cleanup) raised NotFound.
    """
    return client.api.containers(all=True, filters={"label": labels})


def _remove(client: docker.DockerClient, container_id: str) -> None:
    try:
        client.api.remove_container(container_id, force=True)
    except docker.errors.NotFound:
        pass  # already gone
    except docker.errors.APIError as e:
        if e.status_code != 409:  # 409: a removal already in progress
            raise


def remove_stale_containers() -> int:
    """Remove test containers whose owning process is gone (a crashed or killed run's)."""
    client = docker.from_env(timeout=60)
    try:
        stale = [c["Id"] for c in _listed(client, [RUN_LABEL])
                 if _orphaned((c.get("Labels") or {}).get(OWNER_LABEL, ""))]
        for container_id in stale:
            _remove(client, container_id)
        return len(stale)
    finally:
        client.close()


def remove_run_containers(run_id: str) -> int:
    """Remove the test containers a factory run's workers kept warm (on this engine)."""
    client = docker.from_env(timeout=60)
    try:
        mine = [c["Id"] for c in _listed(client, [f"{RUN_ID_LABEL}={run_id}"])]
        for container_id in mine:
            _remove(client, container_id)
        return len(mine)
    finally:
        client.close()


def run_containers(env_id: str | None = None) -> list[str]:
    """Ids of containers labelled as test runs (of one environment), running or not."""
    return list(run_container_labels(env_id))


def run_container_labels(env_id: str | None = None) -> dict[str, dict[str, str]]:
    """Labels of each container labelled as a test run (of one environment), by id."""
    client = docker.from_env(timeout=30)
    labels = [RUN_LABEL] + ([f"synth.env_id={env_id}"] if env_id else [])
    try:
        return {c["Id"]: dict(c.get("Labels") or {}) for c in _listed(client, labels)}
    finally:
        client.close()


# Pushing environment images to a registry (--registry) and pulling them on other nodes. The
# remote tag is the environment key (envs.backend.environment_key): a node computes it from the
# snapshot and spec alone, before resolving any wheel. The image's labels carry what the key
# leaves out (the lock), so a pulled image yields the very Environment its builder recorded.

"""The environment registry (``--registry HOST[:PORT]/PREFIX``): an image is pushed once under
its environment key and pulled by every other node, which rebuilds nothing. Its labels say what
it holds (key, lock, base image), so a pulled image is checked before it is used.
"""

from __future__ import annotations

import json

import docker
import docker.errors

from synth.envs.backend import environment_id, environment_key
from synth.envs.names import ImageNames, repo_of
from synth.records import BackendKind, Environment, EnvSpec, Requirement, Snapshot

KEY_LABEL, LOCK_LABEL, BASE_LABEL = "synth.env_key", "synth.lock", "synth.base_image"


class RegistryError(RuntimeError):
    pass


def remote_ref(registry: str, repo_name: str, key: str) -> str:
    return ImageNames(repo_name, "").remote(registry, key)


def environment_labels(kind: BackendKind, snapshot: Snapshot, spec: EnvSpec, base: str,
                       lock: tuple[Requirement, ...]) -> dict[str, str]:
    return {
        KEY_LABEL: environment_key(kind, snapshot.snapshot_id, spec, base),
        LOCK_LABEL: json.dumps([r.model_dump() for r in lock], sort_keys=True),
        BASE_LABEL: base,
    }


def environment_of(image, name: str, snapshot: Snapshot, spec: EnvSpec,
                   key: str) -> Environment | None:
    """The Environment an image's labels describe, if it is the environment ``key`` names and its
    lock hashes to the env id it carries; else None (an image of an older harness, say)."""
    labels = image.labels or {}
    if labels.get(KEY_LABEL) != key or LOCK_LABEL not in labels or BASE_LABEL not in labels:
        return None
    lock = tuple(Requirement(**entry) for entry in json.loads(labels[LOCK_LABEL]))
    base = labels[BASE_LABEL]
    env_id = environment_id(BackendKind.DOCKER, snapshot, spec, [r.sha256 for r in lock], base)
    if labels.get("synth.env_id") != env_id:
        return None
    return Environment(env_id=env_id, snapshot_id=snapshot.snapshot_id, backend=BackendKind.DOCKER,
                       image_name=name, image_digest=image.id, base_image=base, lock=lock,
                       spec=spec)


def pushed_to(image, ref: str) -> bool:
    repository = ref.rsplit(":", 1)[0]
    return any(d.startswith(f"{repository}@") for d in image.attrs.get("RepoDigests") or ())


def _registry_hint(ref: str) -> str:
    host = ref.split("/", 1)[0]
    return (f"check that the registry answers from this machine (`curl http://{host}/v2/` prints "
            "{}); a plain-HTTP registry outside 127.0.0.0/8 must be listed under "
            "\"insecure-registries\" in /etc/docker/daemon.json on every node (then restart "
            "dockerd)")


def pull_image(client: docker.DockerClient, ref: str):
    """The image ``ref`` names, pulled; None if the registry does not have it."""
    repository, _, tag = ref.rpartition(":")
    try:
        return client.images.pull(repository, tag=tag)
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError as exc:
        raise RegistryError(f"pulling {ref} failed: {exc.explanation or exc}; "
                            f"{_registry_hint(ref)}") from exc


def push_image(client: docker.DockerClient, image, ref: str) -> None:
    repository, _, tag = ref.rpartition(":")
    image.tag(repository, tag)
    try:
        for line in client.images.push(repository, tag=tag, stream=True, decode=True):
            if "error" in line:
                raise RegistryError(f"pushing {ref} failed: {line['error']}; "
                                    f"{_registry_hint(ref)}")
    except docker.errors.APIError as exc:
        raise RegistryError(f"pushing {ref} failed: {exc.explanation or exc}; "
                            f"{_registry_hint(ref)}") from exc


def ensure_environment_image(client: docker.DockerClient, env: Environment,
                             registry: str | None) -> None:
    """Pull ``env``'s image from the registry onto a node whose engine lacks it (a worker that
    runs the tests of an environment another node prepared)."""
    try:
        client.images.get(env.image_digest)
        return
    except docker.errors.ImageNotFound:
        if registry is None:
            raise
    ref = remote_ref(registry, repo_of(env.image_name),
                     environment_key(env.backend, env.snapshot_id, env.spec, env.base_image))
    image = pull_image(client, ref)
    if image is None or image.id != env.image_digest:
        raise RegistryError(f"{ref} is {'missing' if image is None else 'another image'}: the "
                            f"registry does not hold environment {env.env_id} (image "
                            f"{env.image_digest}); prepare it again with --registry {registry}")
    image.tag(*env.image_name.rsplit(":", 1))

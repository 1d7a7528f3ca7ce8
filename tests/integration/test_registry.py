"""--registry: an environment image is built and pushed once; a node without it pulls it (no wheel
resolved, no base image, no build) and the pulled image runs the suite like the built one.

The registry is Debian's docker-registry (the CNCF distribution registry) run as a host process
on 127.0.0.1, which Docker treats as an insecure (plain-HTTP) registry by default."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from synth.envs import docker_backend
from synth.envs.backend import BackendConfig, Limits, build_backend, environment_key
from synth.envs.docker_registry import (
    RegistryError,
    ensure_environment_image,
    pull_image,
    remote_ref,
)
from synth.envs.spec import infer_spec, read_config_files
from synth.intake import parse_source, take
from synth.records import BackendKind, RunKind, Snapshot, Verdict
from synth.verifiers.runner import run_suite

PREFIX = "synth-test"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, docker_engine: None) -> Iterator[str]:
    """HOST:PORT/PREFIX of a throwaway registry, killed at teardown."""
    binary = shutil.which("docker-registry")
    if binary is None:
        why = "docker-registry is not installed (apt-get install -y docker-registry)"
        if os.environ.get("SYNTH_REQUIRE_DOCKER") == "1":
            pytest.fail(f"SYNTH_REQUIRE_DOCKER=1 but {why}")
        pytest.skip(why)
    root = tmp_path_factory.mktemp("registry")
    port = _free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {root / 'storage'}\nhttp:\n  addr: 127.0.0.1:{port}\n"
    )
    log = (root / "registry.log").open("wb")
    server = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                _get_json(f"http://127.0.0.1:{port}/v2/")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    tail = (root / "registry.log").read_text()[-2000:]
                    pytest.fail(f"docker-registry did not start: {tail}")
                time.sleep(0.1)
        yield f"127.0.0.1:{port}/{PREFIX}"
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        log.close()


@pytest.fixture(scope="module")
def unique_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    """A tiny repo under a name no other test uses, so removing its images touches nothing else."""
    src = tmp_path_factory.mktemp(f"regbox-{uuid.uuid4().hex[:8]}", numbered=False)
    (src / "tests").mkdir()
    (src / "box.py").write_text("def double(x):\n    return x * 2\n")
    (src / "tests" / "test_box.py").write_text(
        "from box import double\n\n\ndef test_double():\n    assert double(21) == 42\n"
    )
    (src / "pyproject.toml").write_text('[project]\nname = "box"\nversion = "0"\n')
    return take(parse_source(str(src)), tmp_path_factory.mktemp("regbox-snap"))


@pytest.fixture()
def client(registry: str, unique_snapshot: Snapshot) -> Iterator[docker.DockerClient]:
    """The engine; at teardown, every tag this test's repo got here (local and remote names)."""
    engine = docker.from_env(timeout=120)
    yield engine
    for image in engine.images.list():
        for tag in image.tags:
            if f"/{unique_snapshot.repo.name}:" in tag:
                engine.images.remove(tag, force=True)
    engine.close()


def _spec(snapshot: Snapshot):
    import git

    tree = git.Repo(snapshot.path).git.ls_files().splitlines()
    return infer_spec(read_config_files(Path(snapshot.path)), tree)


def _forget(client: docker.DockerClient, image_id: str) -> None:
    """Remove every tag of the image, and so the image: the engine of a node that never had it."""
    for tag in client.images.get(image_id).tags:
        client.images.remove(tag)
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(image_id)


def _never(*args, **kwargs):
    raise AssertionError("a node that can pull the environment built (or resolved) it instead")


def test_environment_pushed_once_is_pulled_not_built_and_runs(
    registry: str, unique_snapshot: Snapshot, cache_dir: Path, tmp_path: Path,
    client: docker.DockerClient, monkeypatch: pytest.MonkeyPatch,
) -> None:
    snapshot, spec = unique_snapshot, _spec(unique_snapshot)
    config = BackendConfig(kind=BackendKind.DOCKER, cache_dir=cache_dir, registry=registry,
                           limits=Limits(timeout_s=60, memory_mb=256))
    builder = build_backend(config)
    built = builder.prepare(snapshot, spec)
    builder.close()

    host, _, prefix = registry.partition("/")
    repository = f"{prefix}/{snapshot.repo.name}"
    key = environment_key(BackendKind.DOCKER, snapshot.snapshot_id, spec, built.base_image)
    assert repository in _get_json(f"http://{host}/v2/_catalog")["repositories"]
    assert _get_json(f"http://{host}/v2/{repository}/tags/list")["tags"] == [key[:16]]

    _forget(client, built.image_digest)
    # A fresh node: an empty cache, and resolving wheels, building a base image or building the
    # environment would fail the test.
    monkeypatch.setattr(docker_backend, "resolve", _never)
    monkeypatch.setattr(docker_backend, "ensure_base_image", _never)
    node = build_backend(config.model_copy(update={"cache_dir": tmp_path / "fresh-node"}))
    monkeypatch.setattr(docker_backend, "build_image", _never)
    try:
        pulled = node.prepare(snapshot, spec)
        assert pulled.model_dump(exclude={"created_at"}) == built.model_dump(
            exclude={"created_at"}
        )
        assert client.images.get(built.image_name).id == built.image_digest
        run = run_suite(node, pulled, snapshot, kind=RunKind.BASELINE)
        assert run.verdict is Verdict.PASS, run.log_tail
    finally:
        node.close()

    # A worker handed the Environment record by another node pulls the image it lacks.
    _forget(client, built.image_digest)
    ensure_environment_image(client, built, registry)
    assert client.images.get(built.image_name).id == built.image_digest


def test_unreachable_registry_is_named_with_how_to_check(
    registry: str, client: docker.DockerClient
) -> None:
    dead = f"127.0.0.1:{_free_port()}"
    with pytest.raises(RegistryError) as caught:
        pull_image(client, remote_ref(f"{dead}/{PREFIX}", "nothing", "0" * 16))
    message = str(caught.value)
    assert dead in message and f"curl http://{dead}/v2/" in message
    assert "insecure-registries" in message
    # Not found in a registry that answers is no error: the caller builds instead.
    assert pull_image(client, remote_ref(registry, "nothing", "0" * 16)) is None

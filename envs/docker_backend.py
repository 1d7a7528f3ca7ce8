"""The Docker backend: one image per repo@commit (envs.docker_build); warm, locked-down
containers run the tests (envs.docker_session); images shared through a registry
(envs.docker_registry); what runs leave behind removed (envs.docker_cleanup). All Docker access in
the project goes through these modules and envs.base_image.
"""

from __future__ import annotations

import threading

import docker
import docker.errors

from synth.envs.backend import (
    PATCH_FAILED_EXIT,
    BackendConfig,
    RawRun,
    RunRequest,
    SealFailed,
    environment_id,
    environment_key,
    resolve,
)
from synth.envs.base_image import base_image_tag, ensure_base_image, suite_for
from synth.envs.docker_build import build_image, existing_image
from synth.envs.docker_registry import (
    ensure_environment_image,
    environment_of,
    pull_image,
    push_image,
    pushed_to,
    remote_ref,
)
from synth.envs.docker_session import DockerSession
from synth.envs.listing import IMAGE_PATHS, Listing, tar_listing
from synth.envs.names import ImageNames
from synth.records import BackendKind, Environment, EnvSpec, Snapshot

WARM_SESSIONS = 6  # warm containers one backend keeps, least recently used closed first
SEALED_PER_ENV = 2  # sealed ones per environment (a solution's and its canary's)


def ping() -> tuple[bool, str]:
    try:
        client = docker.from_env(timeout=5)
        client.ping()
        client.close()
        return True, "ok"
    except Exception as exc:  # the SDK raises several unrelated types when no engine answers
        return False, type(exc).__name__


def image_name(snapshot: Snapshot) -> str:
    return ImageNames(snapshot.repo.name, snapshot.commit).env


class DockerBackend:
    kind = BackendKind.DOCKER

    def __init__(self, config: BackendConfig) -> None:
        self.config = config
        self.client = docker.from_env(timeout=120)
        self._sessions: dict[tuple, DockerSession] = {}
        # Runs may come from two threads at once (a solution's and its canary's): choosing,
        # resealing and evicting sessions is serialised, and a session in use is never taken.
        self._lock = threading.Lock()
        self._busy: set[int] = set()

    def prepare(self, snapshot: Snapshot, spec: EnvSpec) -> Environment:
        self.config.cache_dir.mkdir(parents=True, exist_ok=True)
        # An audit rebuilds from scratch: it neither pulls nor pushes.
        registry = None if self.config.rebuild else self.config.registry
        if registry:
            shared = self._shared(registry, snapshot, spec)
            if shared is not None:
                return shared
        base = self.config.base_image or ensure_base_image(
            self.client, work_dir=self.config.cache_dir, python=spec.python
        )
        house = resolve(spec, self.config.cache_dir, strict=self.config.rebuild)
        wheels, lock = house.path, house.lock
        env_id = environment_id(self.kind, snapshot, spec, [r.sha256 for r in lock], base)
        names = ImageNames(snapshot.repo.name, snapshot.commit)
        name = names.rebuild if self.config.rebuild else names.env
        image = None if self.config.rebuild else existing_image(self.client, name, env_id)
        if image is None:
            image = build_image(self.client, self.config, name, base, snapshot, spec, env_id,
                                wheels, lock)
        if registry:
            key = environment_key(self.kind, snapshot.snapshot_id, spec, base)
            push_image(self.client, image, remote_ref(registry, snapshot.repo.name, key))
        return Environment(
            env_id=env_id, snapshot_id=snapshot.snapshot_id, backend=self.kind,
            image_name=name, image_digest=image.id, base_image=base, lock=lock, spec=spec,
        )

    def _shared(self, registry: str, snapshot: Snapshot, spec: EnvSpec) -> Environment | None:
        """The environment as built before, here or on another node, found by its key (no wheel
        resolved, no base image built): the local image, pushed if it is not yet, else the
        registry's, tagged under the local name. None: build it."""
        key = environment_key(self.kind, snapshot.snapshot_id, spec,
                              self.config.base_image or base_image_tag(suite_for(spec.python)))
        name, ref = image_name(snapshot), remote_ref(registry, snapshot.repo.name, key)
        try:
            local = self.client.images.get(name)
            env = environment_of(local, name, snapshot, spec, key)
        except docker.errors.ImageNotFound:
            env = None
        if env is not None:
            if not pushed_to(local, ref):
                push_image(self.client, local, ref)
            return env
        pulled = pull_image(self.client, ref)
        env = None if pulled is None else environment_of(pulled, name, snapshot, spec, key)
        if env is not None:
            pulled.tag(*name.rsplit(":", 1))
        return env

    def run_tests(self, env: Environment, snapshot: Snapshot, request: RunRequest) -> RawRun:
        try:
            session = self.session(env, base=request.base, hold=True)
        except SealFailed as exc:
            return RawRun(PATCH_FAILED_EXIT, None, "", False, False, True, 0.0, str(exc))
        try:
            return session.run(request)
        finally:
            with self._lock:
                self._busy.discard(id(session))

    def session(self, env: Environment, *, base: str | None = None, git: bool = False,
                hold: bool = False) -> DockerSession:
        """A warm container of ``env`` (a new one if it died or never started), sealed to
        ``base`` if given (see DockerSession). Up to SEALED_PER_ENV sealed containers per
        environment: a solution's runs and its canary's alternate without resealing, and a new
        task reseals the least recently used one (a copy of the tree, not a new container).
        ``hold``: it stays marked in use until the caller lets go (run_tests). Containers are
        made and sealed outside the lock: two threads' runs start together."""
        with self._lock:
            key, session, reseal = self._pick(env, base, git)
            if session is not None:
                self._busy.add(id(session))
        try:
            if session is None:
                # A worker on another node than the one that prepared ``env``: pull, don't
                # rebuild.
                ensure_environment_image(self.client, env, self.config.registry)
                session = DockerSession(self.client, env, self.config.limits,
                                        self.config.run_id, base=base, git=git)
            elif reseal:
                session.seal(base or "", git)
        except BaseException:
            if session is not None:
                with self._lock:
                    self._busy.discard(id(session))
                session.close()
            raise
        with self._lock:
            if not hold:
                self._busy.discard(id(session))
            else:
                self._busy.add(id(session))
            if self._sessions.get(key, session) is not session:
                key = (*key, id(session))  # another thread's twin holds the key: keep both
            self._sessions[key] = session  # most recently used last
            idle = [k for k, s in self._sessions.items() if id(s) not in self._busy]
            for k in idle[: max(len(self._sessions) - WARM_SESSIONS, 0)]:
                self._sessions.pop(k).close()
        return session

    def _pick(self, env: Environment, base: str | None, git: bool
              ) -> tuple[tuple, DockerSession | None, bool]:
        """(key, a session taken out of the pool or None to make one, whether to reseal it)."""
        key = (env.env_id, base, git)
        if not git and (env.env_id, base, True) in self._sessions:
            key = (env.env_id, base, True)  # an agent's workspace: a run may use it as it is
        found = self._sessions.get(key)
        if found is not None and id(found) not in self._busy:
            del self._sessions[key]
            if found.alive:
                return key, found, False
            found.close()
        if base is None:
            return key, None, False
        sealed = [k for k, s in self._sessions.items()
                  if k[0] == env.env_id and s.sealed and s.git == git and id(s) not in self._busy]
        if len(sealed) >= SEALED_PER_ENV:
            return key, self._sessions.pop(sealed[0]), True
        return key, None, False

    def present(self, env: Environment) -> bool:
        try:
            self.client.images.get(env.image_digest)
        except docker.errors.ImageNotFound:
            return False
        return True

    def listing(self, env: Environment) -> Listing:
        """Every file of the image's venv, harness and repository (IMAGE_PATHS), read from a
        container created (never started) from it."""
        container = self.client.containers.create(env.image_digest, command=["true"],
                                                  network_mode="none")
        listing: Listing = {}
        try:
            for path in IMAGE_PATHS:
                try:
                    stream, _ = container.get_archive(path)
                except docker.errors.NotFound:
                    continue
                listing.update(tar_listing(b"".join(stream)))
        finally:
            container.remove(force=True)
        return listing

    def discard(self, env: Environment) -> None:
        try:
            self.client.images.remove(env.image_name, force=True)
        except docker.errors.ImageNotFound:
            pass

    def close(self) -> None:
        for session in self._sessions.values():
            session.close()
        self._sessions.clear()

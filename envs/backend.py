"""What every backend offers, and choosing one.

A backend turns (Snapshot, EnvSpec) into an Environment once per repo@commit, and runs the test
suite in it with an optional patch applied, returning the raw facts of the run. Reading those facts
into a TestRun is the verifier's job (verifiers.runner), so both backends are graded the same way.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, field_validator

from synth.choices import BackendChoice
from synth.envs.listing import Listing
from synth.records import DEFAULT_ORDER, BackendKind, Environment, EnvSpec, Order, Snapshot

PATCH_FAILED_EXIT = 97  # runner.py's code for "the patch did not apply"
PLUGIN = "synth_report"
RUNNER = "runner.py"
FORKSERVER = "forkserver.py"
INSTALLER = "install_project.py"
STAGER = "stage.py"  # seals a container to one task's buggy state (envs/templates/stage.py)
# The programs every environment carries in /opt/synth, beside the report plugin.
PROGRAMS = (RUNNER, FORKSERVER, INSTALLER, STAGER)
PINNED_ENV = {
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "TZ": "UTC",
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
}
# What the harness itself needs inside every environment, beside the project's own requirements.
HARNESS_REQUIREMENTS = ("coverage>=7.4,<8",)


class Limits(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    timeout_s: float = 300.0
    memory_mb: int = 2048
    cpus: float = 1.0
    pids: int = 256
    # One test may take this long before its run is ended and the test named (then left out of
    # every later run): a real suite's slowest honest tests take well under a minute here.
    test_timeout_s: float = 120.0
    tmpfs_mb: int = 256  # /tmp inside a test container
    work_mb: int = 1024  # the working copy's tmpfs


_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_HOST = rf"{_LABEL}(?:\.{_LABEL})*(?::[0-9]+)?"
_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REGISTRY = re.compile(rf"(?P<host>{_HOST})(?P<prefix>(?:/{_PATH})+)")


def check_registry(value: str) -> str:
    """``value`` if it reads HOST[:PORT]/PREFIX as Docker parses an image reference, else a
    ValueError that says what is wrong and how to write it."""
    example = "e.g. 10.0.0.5:5000/synth"
    if "://" in value:
        raise ValueError(f"--registry {value!r}: drop the scheme, Docker adds it ({example})")
    if value != value.lower():
        raise ValueError(f"--registry {value!r}: image references are lowercase ({example})")
    host, slash, _ = value.partition("/")
    if not slash:
        raise ValueError(f"--registry {value!r}: add a prefix for the images after the host "
                         f"({value}/synth)")
    if not (host == "localhost" or "." in host or ":" in host):
        # Docker reads a first part without a dot or a port as a Docker Hub user.
        raise ValueError(f"--registry {value!r}: {host!r} is not a registry host; name it with "
                         f"a dot or a port, or localhost ({example})")
    if not _REGISTRY.fullmatch(value):
        raise ValueError(f"--registry {value!r}: not HOST[:PORT]/PREFIX with PREFIX made of "
                         f"letters, digits and . _ - between slashes ({example})")
    return value


class BackendConfig(BaseModel):
    """Everything a worker needs to rebuild the backend on its own side of a Ray cluster."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: BackendKind
    cache_dir: Path
    base_image: str | None = None  # a pullable image instead of the offline debootstrap one
    limits: Limits = Limits()
    # Audit mode: build everything again from scratch (no image or venv reuse, no layer cache),
    # under a name of its own, so it can be compared with the environment in use.
    rebuild: bool = False
    # HOST[:PORT]/PREFIX: push each environment image there once; other nodes pull it.
    registry: str | None = None
    # Set by a factory run: its test containers carry it, stay warm across the run's batches on
    # each worker (pipelines.stages.warm_backend), and are removed by it when it ends.
    run_id: str | None = None

    @field_validator("registry")
    @classmethod
    def _registry_is_host_and_prefix(cls, value: str | None) -> str | None:
        return None if value is None else check_registry(value)


@dataclass(frozen=True)
class RunRequest:
    """One execution of the suite: which patch, which tests, in which order, with coverage."""

    patch: str = ""
    # Seal the run to a starting state: the clean tree with ``base`` applied (a task's bug, and a
    # canary's when scoring one) is all the code under test can read, ``patch`` goes on top.
    # None: the factory's own run, on the clean tree, which it may read.
    base: str | None = None
    select: tuple[str, ...] | None = None  # node ids; None runs everything
    order: Order = DEFAULT_ORDER  # text is accepted and checked (synth.records.Order)
    coverage: bool = False
    # May run in a process that collected the clean suite once, with the changed functions'
    # code swapped in (envs/templates/forkserver.py): only for patches confined to function
    # bodies no test runs at import; the server checks that itself and otherwise runs exactly.
    hot: bool = False
    # Stop at the first failing test (a screen asks only whether one fails).
    first_failure: bool = False
    # A tighter time limit for this run (never looser than the backend's own).
    timeout_s: float | None = None
    # A CPU-time budget for a hot run (a fork of a process that collected the suite already,
    # so its CPU time is the tests' own): a spinning mutant stops there, however loaded the
    # machine. Runs in a fresh pytest process keep only the wall limit.
    cpu_s: float | None = None
    # Tests left out of the run (node ids): ones the baseline found hanging or killing their
    # own process (verifiers.runner.run_baseline).
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "order", Order(self.order))  # "reverse" works; "revers" fails

    def limit(self, backend_limit: float) -> float:
        return backend_limit if self.timeout_s is None else min(self.timeout_s, backend_limit)


class SealFailed(RuntimeError):
    """A sealed run's starting state could not be made (its base patch did not apply)."""


@dataclass(frozen=True)
class RawRun:
    exit_code: int
    report: str | None
    nonce: str  # what an authentic report must carry
    timed_out: bool
    oom: bool
    patch_failed: bool
    duration_s: float
    log_tail: str
    # The report plugin's last word when the process died before its report: which test was
    # running, and whether the plugin's watchdog ended it (JSON; "" when there is none).
    progress: str = ""
    # What the report plugin wrote down the witness pipe as the run went (JSON lines: outcomes
    # and audit findings); None when the run had no witness (the factory's own runs).
    witness: str | None = None
    # CPU seconds the run cost (the container's cgroup, or the runner's reaped children); None
    # where it could not be measured.
    cpu_s: float | None = None


class Backend(Protocol):
    kind: BackendKind

    def prepare(self, snapshot: Snapshot, spec: EnvSpec) -> Environment: ...

    def run_tests(self, env: Environment, snapshot: Snapshot, request: RunRequest) -> RawRun: ...

    # What the reproducibility audit (pipelines.audit) asks of a stored environment and its rebuild.
    def present(self, env: Environment) -> bool: ...  # still there to run in?

    def listing(self, env: Environment) -> Listing: ...  # a digest of every file it holds

    def discard(self, env: Environment) -> None: ...  # remove it (an audit's rebuild)

    def close(self) -> None: ...


@dataclass(frozen=True)
class JobPaths:
    """Where one run's pieces live, as the runner inside the environment sees them."""

    pristine: str  # the clean working copy, never written to
    work: str  # reset from pristine before every run
    report: str  # in a directory the test user can write to but not list
    log: str
    python: str  # the environment's interpreter (with pytest)
    plugin_dir: str  # holds synth_report.py


class JobSecret(BaseModel):
    """Where the report goes and the nonce that authenticates it. Never in the environment:
    /proc/self/environ keeps a process's initial environment whatever the plugin removes.
    runner.py puts these in a private file that the plugin reads and deletes when it loads,
    before any code of the repository runs."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    report: str
    nonce: str


class ServerSettings(BaseModel):
    """What the test server of a Docker session (envs/templates/forkserver.py) reads besides."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    mode: Literal["exact", "hot"] = "exact"
    witness: bool = False  # a sealed run: the plugin writes a witness the code cannot unsay
    timeout_s: float  # the run's limit, which the server enforces itself
    screen: bool = False  # a hot first-failure run: light reset, in-process patch
    as_left: bool = False  # nothing else wrote to /work since the server's last run


class Job(BaseModel):
    """One run, as the programs in the environment read it (runner.py, forkserver.py, a Harbor
    task's grader): one JSON object, ``wire()``. The same for both backends."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    pristine: str
    work: str
    log: str
    patch: str
    secret: JobSecret | None  # None: made fresh where the job runs (a Harbor task's grader)
    select: tuple[str, ...] | None  # node ids; None runs everything
    cpu_s: float | None
    argv: tuple[str, ...]
    env: dict[str, str]
    server: ServerSettings | None = None

    def wire(self) -> dict[str, Any]:
        """The JSON object the programs read: the server's settings at its top level, no
        secret key where there is none."""
        data = self.model_dump(mode="json", exclude={"server", "secret"})
        if self.secret is not None:
            data["secret"] = self.secret.model_dump()
        if self.server is not None:
            data.update(self.server.model_dump())
        return data


def make_job(spec: EnvSpec, request: RunRequest, paths: JobPaths, nonce: str,
             limits: Limits) -> Job:
    """The job runner.py executes: identical for both backends."""
    source = paths.work if spec.source_root == "." else f"{paths.work}/{spec.source_root}"
    env = {
        **PINNED_ENV,
        "PYTHONPATH": f"{source}:{paths.plugin_dir}",
        "SYNTH_ORDER": "" if request.order == DEFAULT_ORDER else str(request.order),
        "SYNTH_COVERAGE": "1" if request.coverage else "",
        "SYNTH_FIRST_FAILURE": "1" if request.first_failure else "",
        "SYNTH_SOURCE": source,
        # Never more than half the run's own limit: the run must live to name the test.
        "SYNTH_TEST_TIMEOUT": str(round(min(request.limit(limits.timeout_s) / 2,
                                            limits.test_timeout_s), 1)),
        **dict(var.split("=", 1) for var in spec.env if "=" in var),
    }
    return Job(pristine=paths.pristine, work=paths.work, log=paths.log, patch=request.patch,
               secret=JobSecret(report=paths.report, nonce=nonce), select=request.select,
               cpu_s=request.cpu_s,
               argv=tuple(pytest_command(spec, python=paths.python, exclude=request.exclude)),
               env=env)


def pytest_command(spec: EnvSpec, python: str = "python",
                   exclude: tuple[str, ...] = ()) -> list[str]:
    """The one test command both backends run.

    ``--continue-on-collection-errors``: a test module that cannot be collected (data from a
    submodule the repository does not carry; a bug that breaks an import) costs its own tests,
    which the report lists as missing, not the whole run.
    """
    # --tb=line: a failure's traceback is one line in the log. Verdicts come from the report,
    # and long tracebacks are costly: 205 failing tabulate tests took 14.8 s with pytest's
    # default tracebacks and 2.0 s with --tb=line (the same pass/fail for every test).
    return [python, "-m", "pytest", "-p", PLUGIN, "-p", "no:cacheprovider", "-q", "--no-header",
            "-rN", "--color=no", "--tb=line", "--continue-on-collection-errors",
            *spec.pytest_args, *(f"--deselect={node}" for node in exclude), *spec.test_paths]


def new_nonce() -> str:
    import secrets

    return secrets.token_hex(16)


def project_build(snapshot: Snapshot, spec: EnvSpec, cache: Path):
    """The project's own wheel and generated files (envs.project_build), built once per
    snapshot on the host, with the version its git tags gave it at intake."""
    from synth.envs.project_build import build_project
    from synth.intake import snapshot_version

    return build_project(snapshot, cache, source_root=spec.source_root,
                         version=snapshot_version(snapshot.path))


def resolve(spec: EnvSpec, cache: Path, *, strict: bool = False):
    """The environment's wheelhouse (envs.wheelhouse.resolve_wheelhouse): what the spec asks
    for, with what cannot be installed for its Python relaxed or dropped, each change noted.
    Cached: a second call resolves nothing. ``strict`` (an audit's rebuild): exactly what the
    spec asks for, or the resolver's error: a spec that no longer builds is drift."""
    from synth.envs.wheelhouse import Wheelhouse, ensure_wheelhouse, resolve_wheelhouse

    wanted = wheel_requirements(spec)
    if strict:
        path, lock = ensure_wheelhouse(cache, wanted, spec.python)
        return Wheelhouse(path, lock, tuple(wanted))
    keep = ("pytest", *(r.split(">")[0].split("<")[0].split("=")[0]
                        for r in HARNESS_REQUIREMENTS))
    return resolve_wheelhouse(cache, wanted, spec.python, keep=keep)


def wheel_requirements(spec: EnvSpec) -> list[str]:
    return [*spec.requirements, *HARNESS_REQUIREMENTS]


class BackendUnavailable(RuntimeError):
    pass


def docker_available() -> tuple[bool, str]:
    from synth.envs.docker_backend import ping

    return ping()


def resolve_backend(
    choice: BackendChoice,
    cache_dir: Path,
    base_image: str | None = None,
    limits: Limits | None = None,
    registry: str | None = None,
) -> tuple[BackendConfig, str]:
    """Pick the backend; the note tells the user which one and why."""
    limits = limits or Limits()
    on_docker = BackendConfig(kind=BackendKind.DOCKER, cache_dir=cache_dir, base_image=base_image,
                              limits=limits, registry=registry)
    if choice is BackendChoice.LOCAL:
        if registry:
            raise BackendUnavailable("--registry holds Docker images: use it with --backend "
                                     "docker (or auto on a machine with a Docker engine)")
        return BackendConfig(
            kind=BackendKind.LOCAL, cache_dir=cache_dir, limits=limits
        ), "local backend (asked for)"
    ok, why = docker_available()
    if choice is BackendChoice.DOCKER:
        if not ok:
            raise BackendUnavailable(
                f"--backend docker: no Docker engine answers ({why}); start dockerd "
                "or use --backend local"
            )
        return on_docker, "docker backend (asked for)"
    if ok:
        return on_docker, "docker backend (a Docker engine answered)"
    if registry:
        raise BackendUnavailable(f"--registry needs a Docker engine and none answers ({why}); "
                                 "start dockerd or drop --registry")
    return (
        BackendConfig(kind=BackendKind.LOCAL, cache_dir=cache_dir, limits=limits),
        f"local backend: no Docker engine answered ({why})",
    )


def build_backend(config: BackendConfig) -> Backend:
    if config.kind is BackendKind.DOCKER:
        from synth.envs.docker_backend import DockerBackend

        return DockerBackend(config)
    from synth.envs.local_backend import LocalBackend

    return LocalBackend(config)


def plugin_source() -> Path:
    """The report plugin every run loads (verifiers/synth_report.py): a file shipped into each
    environment, found where the package lives; nothing of the verifiers layer is imported."""
    spec = importlib.util.find_spec("synth.verifiers")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / f"{PLUGIN}.py"


# The project's own modules every environment carries in /opt/synth, under these names: the
# test server reads a screen's patch, and a change of default values, with the readers the host
# uses (stdlib only).
HELPER_MODULES = {"synth_patches.py": "patches.py", "synth_defaults.py": "defaults.py"}


def helper_sources() -> dict[str, Path]:
    import synth

    return {name: Path(synth.__file__).parent / rel for name, rel in HELPER_MODULES.items()}


def template_dir() -> Path:
    return Path(__file__).parent / "templates"


def environment_id(
    kind: BackendKind, snapshot: Snapshot, spec: EnvSpec, lock_hashes: list[str], base: str
) -> str:
    from synth.records import HARNESS_VERSION, content_hash

    return content_hash("env", kind.value, snapshot.snapshot_id, spec.spec_id, lock_hashes, base,
                        HARNESS_VERSION, harness_digest())


def environment_key(kind: BackendKind, snapshot_id: str, spec: EnvSpec, base: str) -> str:
    """What ``environment_id`` hashes, less the lock: known before any wheel is resolved, so a
    node can look an environment up in a registry without resolving (or even reaching) the index.
    The image found under it carries its lock, and with it the full environment id."""
    from synth.records import HARNESS_VERSION, content_hash

    return content_hash("env-key", kind.value, snapshot_id, spec.spec_id,
                        wheel_requirements(spec), base, HARNESS_VERSION, harness_digest())


@functools.cache
def harness_digest() -> str:
    """Hash of the files the harness puts into every environment: change one, rebuild them all."""
    import hashlib

    digest = hashlib.sha256()
    for path in (template_dir() / "Dockerfile.j2", *(template_dir() / p for p in PROGRAMS),
                 plugin_source(), *helper_sources().values()):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]

"""The records the tests build, each built one way: one factory per record, one set of defaults
(``ledger``, whose ``add`` in ``ledger/money.py`` subtracts), every field overridable by keyword.

Ids are derived as the factory derives them: a snapshot's and a candidate's by the records
themselves, an environment's by ``envs.backend.environment_id``, a task's by
``verifiers.validation.instance_id``, a run's as ``verifiers.runner.to_test_run`` hashes it. So a
record built here looks like one the pipeline wrote, and a test that depends on a value passes it,
where the reader sees it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from synth.records import (
    BackendKind,
    Candidate,
    Environment,
    EnvSpec,
    RepoRef,
    Requirement,
    RunKind,
    Snapshot,
    SourceKind,
    Strategy,
    Task,
    TestResult,
    TestRun,
    TestStatus,
    Verdict,
    content_hash,
)

REPO = "ledger"
COMMIT = "c0ffee" * 6 + "beef"
TARGET_FILE = "ledger/money.py"
PATCH = (
    "--- a/ledger/money.py\n+++ b/ledger/money.py\n@@ -3,2 +3,2 @@\n"
    " def add(a, b):\n-    return a + b\n+    return a - b\n"
)
FAIL_TO_PASS = ("tests/test_money.py::test_add",)
PASS_TO_PASS = ("tests/test_money.py::test_zero",)
DOCKER_BASE = "synth-base:bookworm"
LOCAL_BASE = "local-python3.11"
# A task's fields that come from its candidate: given to make_task without a candidate, they make
# the candidate, so that its id is that of the patch the task carries.
_FROM_CANDIDATE = ("patch", "strategy", "operator", "seed", "parents")


def make_repo(name: str = REPO, **overrides: Any) -> RepoRef:
    return RepoRef(**{"source": f"/src/{name}", "kind": SourceKind.LOCAL, "name": name,
                      **overrides})


def make_snapshot(repo: RepoRef | None = None, **overrides: Any) -> Snapshot:
    repo = repo or make_repo()
    return Snapshot(**{"repo": repo, "commit": COMMIT, "path": f"/snapshots/{repo.name}",
                       **overrides})


def make_spec(**overrides: Any) -> EnvSpec:
    return EnvSpec(**{"python": "3.11", "requirements": (), "source_root": ".",
                      "test_paths": ("tests",), **overrides})


def make_requirement(name: str = "pytest", version: str = "8.3.4", **overrides: Any
                     ) -> Requirement:
    return Requirement(**{"name": name, "version": version,
                          "filename": f"{name}-{version}-py3-none-any.whl",
                          "sha256": content_hash("wheel", name, version, length=64), **overrides})


def make_environment(
    snapshot: Snapshot | None = None,
    *,
    backend: BackendKind = BackendKind.DOCKER,
    spec: EnvSpec | None = None,
    lock: Sequence[Requirement] = (),
    base_image: str | None = None,
    env_id: str | None = None,
    **overrides: Any,
) -> Environment:
    """An environment of ``snapshot``, named as its backend names it: a Docker image after the
    repo@commit, a local venv after its id."""
    from synth.envs.backend import environment_id
    from synth.envs.names import ImageNames

    snapshot = snapshot or make_snapshot()
    spec = spec or make_spec()
    docker = backend is BackendKind.DOCKER
    base = base_image or (DOCKER_BASE if docker else LOCAL_BASE)
    hashes = [r.sha256 for r in lock]
    env_id = env_id or environment_id(backend, snapshot, spec, hashes, base)
    defaults: dict[str, Any] = {
        "env_id": env_id,
        "snapshot_id": snapshot.snapshot_id,
        "backend": backend,
        "image_name": (ImageNames(snapshot.repo.name, snapshot.commit).env if docker
                       else f"/cache/venvs/{env_id}"),
        "image_digest": ("sha256:" + content_hash("image", env_id, length=64) if docker
                         else content_hash("venv", hashes)),
        "base_image": base,
        "lock": tuple(lock),
        "spec": spec,
    }
    return Environment(**{**defaults, **overrides})


def make_result(test_id: str = FAIL_TO_PASS[0], status: TestStatus | str = TestStatus.PASSED,
                **overrides: Any) -> TestResult:
    return TestResult(test_id=test_id, status=TestStatus(status), **overrides)


def make_run(
    statuses: Mapping[str, TestStatus | str] | None = None,
    *,
    results: Sequence[TestResult] | None = None,
    kind: RunKind = RunKind.BASELINE,
    env_id: str | None = None,
    patch_hash: str = "",
    attempt: int = 0,
    order: str = "default",
    verdict: Verdict | None = None,
    exit_code: int | None = None,
    run_id: str | None = None,
    **overrides: Any,
) -> TestRun:
    """A run with one result per ``statuses`` item (or ``results``), read as ``read_report``
    reads a report: FAIL with exit code 1 when a test failed, else PASS with 0. A run that ends
    otherwise (ERROR, TIMEOUT...) gets exit code 1 unless the test gives the one it needs."""
    from synth.verifiers.report import EXIT_OK, EXIT_TESTS_FAILED, FAILING

    if results is None:
        results = [make_result(t, s) for t, s in (statuses or {}).items()]
    if verdict is None:
        failing = any(r.status in FAILING for r in results)
        verdict = Verdict.FAIL if failing else Verdict.PASS
    if exit_code is None:
        exit_code = EXIT_OK if verdict is Verdict.PASS else EXIT_TESTS_FAILED
    env_id = env_id or make_environment().env_id
    # verifiers.runner.to_test_run's id, for a run of the whole suite (no tests selected).
    run_id = run_id or content_hash("run", env_id, kind.value, patch_hash, attempt, order, [])
    defaults: dict[str, Any] = {"duration_s": 1.0}
    return TestRun(run_id=run_id, env_id=env_id, kind=kind, patch_hash=patch_hash,
                   attempt=attempt, verdict=verdict, exit_code=exit_code, order=order,
                   results=tuple(results), **{**defaults, **overrides})


def make_candidate(snapshot: Snapshot | None = None, *, patch: str = PATCH,
                   snapshot_id: str | None = None, **overrides: Any) -> Candidate:
    """A procedural bug of ``snapshot`` (or of ``snapshot_id``), its id derived from its patch."""
    snapshot_id = snapshot_id or (snapshot or make_snapshot()).snapshot_id
    defaults: dict[str, Any] = {
        "candidate_id": Candidate.make_id(snapshot_id, patch),
        "snapshot_id": snapshot_id,
        "strategy": Strategy.PROCEDURAL,
        "operator": "arith_swap",
        "seed": 0,
        "target_file": TARGET_FILE,
        "target_entities": ("add",),
        "patch": patch,
    }
    return Candidate(**{**defaults, **overrides})


def make_task(
    snapshot: Snapshot | None = None,
    candidate: Candidate | None = None,
    environment: Environment | None = None,
    **overrides: Any,
) -> Task:
    """The task the pipeline makes of ``candidate`` in ``environment`` (pipelines.stages): its
    instance id, repo, commit, patch and image from them. Without a candidate, the task's own
    patch, operator, seed... make one."""
    snapshot = snapshot or make_snapshot()
    candidate = candidate or make_candidate(
        snapshot, **{k: overrides[k] for k in _FROM_CANDIDATE if k in overrides})
    environment = environment or make_environment(snapshot)
    defaults: dict[str, Any] = {
        "repo": snapshot.repo.name,
        "base_commit": snapshot.commit,
        "patch": candidate.patch,
        "problem_statement": "add(2, 3) returns -1, not 5.",
        "FAIL_TO_PASS": FAIL_TO_PASS,
        "PASS_TO_PASS": PASS_TO_PASS,
        "image_name": environment.image_name,
        "env_id": environment.env_id,
        "candidate_id": candidate.candidate_id,
        "strategy": candidate.strategy,
        "operator": candidate.operator,
        "seed": candidate.seed,
        "parents": candidate.parents,
    }
    if "instance_id" not in overrides:
        from synth.verifiers.validation import instance_id

        defaults["instance_id"] = instance_id(snapshot, candidate)
    return Task(**{**defaults, **overrides})

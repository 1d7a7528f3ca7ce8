"""The factory's stages as plain functions of records: what Ray schedules, testable without Ray.

build_environment: SOURCE → snapshot and its environment (one per repo@commit).
measure_environment: the clean suite in three orders (flake quarantine) and once under coverage.
prepare_candidates: candidate bugs on the code the tests execute.
validate_batch: candidates → each with its runs and either a Task or a rejection reason.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import git

from envs.backend import Backend, BackendConfig, RunRequest, build_backend
from envs.spec import infer_spec, read_config_files
from pipelines.strategies import procedural
from synth.intake import parse_source, source_files, take
from synth.mutate import Generation, is_test_file
from synth.records import (
    Candidate,
    CoverageMap,
    Environment,
    Rejection,
    RepoRef,
    RunKind,
    Snapshot,
    Strategy,
    Task,
    TestRun,
    content_hash,
)
from synth.statement import render_statement
from verifiers.grading import Baseline, baseline_of, broke_any, grade, rejection_for
from verifiers.runner import run_baseline, run_coverage, run_suite
from verifiers.screening import changed_lines, screenable, tests_covering, touches_tests

BUG_RUNS = 2  # a bug must fail the same tests twice: one failing run may be a flake
# A mutation can make a loop endless; a bug run then holds a worker until its timeout. The clean
# suite's own duration says how long a run should take: allow a multiple of it (with a floor for
# a loaded machine), never more than the user's limit.
BUG_TIMEOUT_FACTOR = 5.0
BUG_TIMEOUT_FLOOR_S = 30.0
SCREEN_TIMEOUT_FACTOR = 10.0
SCREEN_TIMEOUT_FLOOR_S = 5.0
SCREEN_CPU_FLOOR_S = 0.5


@dataclass(frozen=True)
class Built:
    repo: RepoRef
    snapshot: Snapshot
    environment: Environment
    node: str = ""  # the Ray node that holds the environment's image ("" outside Ray)


@dataclass(frozen=True)
class Measured:
    """What the clean repository does in its environment; stored, and reused by reruns."""

    baseline_runs: tuple[TestRun, ...]
    coverage_run: TestRun | None
    coverage: CoverageMap | None

    @property
    def baseline(self) -> Baseline:
        return baseline_of(self.baseline_runs)

    @property
    def runs(self) -> tuple[TestRun, ...]:
        return self.baseline_runs + ((self.coverage_run,) if self.coverage_run else ())


@dataclass(frozen=True)
class Prepared:
    built: Built
    measured: Measured
    candidates: tuple[Candidate, ...]
    note: str = ""
    generation: Generation | None = None  # how the candidates were sampled, drops counted


@dataclass(frozen=True)
class Validated:
    candidate: Candidate
    runs: tuple[TestRun, ...]
    task: Task | None = None


@dataclass(frozen=True)
class BatchResult:
    validated: tuple[Validated, ...] = field(default_factory=tuple)


def build_environment(source: str, backend: BackendConfig) -> Built:
    ref = parse_source(source)
    return environment_for(ref, take(ref, backend.cache_dir / "snapshots"), backend)


def environment_for(ref: RepoRef, snapshot: Snapshot, backend: BackendConfig) -> Built:
    """The environment of a snapshot already taken (a mirrored fix has its own snapshots)."""
    root = Path(snapshot.path)
    tree = git.Repo(root).git.ls_files().splitlines()
    spec = infer_spec(read_config_files(root), tree)
    runner = build_backend(backend)
    try:
        env = runner.prepare(snapshot, spec)
    finally:
        runner.close()
    return Built(ref, snapshot, env, current_node())


def current_node() -> str:
    """The Ray node this runs on; "" outside a Ray worker."""
    import ray

    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""


def near(node: str) -> dict:
    """Ray options that run a task on ``node`` while it lives (its image and warm containers
    are there), anywhere else if it is gone."""
    if not node:
        return {}
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return {"scheduling_strategy": NodeAffinitySchedulingStrategy(node_id=node, soft=True)}


def measure_environment(backend: BackendConfig, built: Built) -> Measured:
    runner = build_backend(backend)
    try:
        baseline, runs = run_baseline(runner, built.environment, built.snapshot)
        coverage_run, coverage = (
            run_coverage(runner, built.environment, built.snapshot)
            if baseline.usable else (None, None)
        )
    finally:
        runner.close()
    return Measured(tuple(runs), coverage_run, coverage)


def prepare_candidates(backend: BackendConfig, built: Built, measured: Measured | None, *,
                       max_candidates: int, seed: int) -> Prepared:
    """Measure the clean repository unless a stored measurement is given, then generate bugs."""
    measured = measured or measure_environment(backend, built)
    if not measured.baseline.usable:
        note = "no test passes on the clean repository: nothing can be validated"
        return Prepared(built, measured, (), note)
    files = source_files(built.snapshot)
    targets = mutation_targets(files, built.environment.spec.test_paths)
    generation = procedural(built.snapshot.snapshot_id, targets, measured.coverage,
                            max_candidates=max_candidates, seed=seed)
    return Prepared(built, measured, generation.candidates, generation=generation)


def mutation_targets(files: Mapping[str, str], test_paths: Sequence[str]) -> dict[str, str]:
    """Source files the tests import: mutating code no test reaches yields only rejections.

    A declared test path may be a helpers folder (all of it is test code) or the package itself
    (``testpaths = pkg`` with ``pkg/tests`` inside): it is the package when the tests import
    non-test modules from under it, and then only the files that look like tests are tests.
    """
    imported: set[str] = set()
    for path, text in files.items():
        if is_test_file(path) or _under(path, test_paths):
            imported |= _imported_modules(text)
    packages = {
        root
        for root in test_paths
        if any(
            _under(p, [root]) and not is_test_file(p) and _module_names(p) & imported for p in files
        )
    }
    helper_dirs = [root for root in test_paths if root not in packages]
    sources = {
        p: t
        for p, t in files.items()
        if not is_test_file(p)
        and not _under(p, helper_dirs)
        and p.rsplit("/", 1)[-1] not in ("setup.py", "conftest.py")
        and not p.startswith(("docs/", "doc/", "examples/", "benchmarks/"))
    }
    reached = {p: t for p, t in sources.items() if _module_names(p) & imported}
    return reached or sources


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots if r != ".")


def _imported_modules(text: str) -> set[str]:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def _module_names(path: str) -> set[str]:
    """Every dotted name a file can be imported as (flat and src layouts)."""
    parts = path.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if parts and parts[0] == "src":
        parts = parts[1:]
    return {".".join(parts[i:]) for i in range(len(parts)) if parts[i:]}


def validate_batch(
    backend: BackendConfig,
    env: Environment,
    snapshot: Snapshot,
    measured: Measured,
    candidates: Sequence[Candidate],
    *,
    bug_runs: int = BUG_RUNS,
) -> BatchResult:
    config = bug_run_config(backend, measured.baseline_runs)
    if config.run_id is not None:  # a factory run: the container stays warm for its next batch
        runner = warm_backend(config)
        return BatchResult(tuple(
            validate_one(runner, env, snapshot, measured, cand, bug_runs=bug_runs)
            for cand in candidates
        ))
    runner = build_backend(config)
    try:
        return BatchResult(tuple(
            validate_one(runner, env, snapshot, measured, cand, bug_runs=bug_runs)
            for cand in candidates
        ))
    finally:
        runner.close()


# This worker process's backends, kept across the batches of one factory run (environment
# locality: a worker that validated an environment's batch holds its warm container and test
# server for the next). A batch of another run closes them; the run removes its own at the end.
_WARM: dict[BackendConfig, Backend] = {}
WARM_BACKENDS = 2


def warm_backend(config: BackendConfig) -> Backend:
    for key in [k for k in _WARM if k.run_id != config.run_id]:
        _WARM.pop(key).close()
    runner = _WARM.pop(config, None) or build_backend(config)
    _WARM[config] = runner
    while len(_WARM) > WARM_BACKENDS:
        _WARM.pop(next(iter(_WARM))).close()
    return runner


def validate_one(runner: Backend, env: Environment, snapshot: Snapshot, measured: Measured,
                 cand: Candidate, *, bug_runs: int = BUG_RUNS) -> Validated:
    """Hygiene, then a screen on the covering tests, then the full suite twice."""
    baseline = measured.baseline

    def reject(reason: Rejection, runs: Sequence[TestRun] = ()) -> Validated:
        return Validated(cand.model_copy(update={"rejection": reason}), tuple(runs))

    if touches_tests(cand.patch, env.spec.test_paths):
        return reject(Rejection.TOUCHES_TESTS)
    runs: list[TestRun] = []
    # Screening needs the touched lines to have run under a test. A bug in import-time code (a
    # decorator, a base class; most mirrored fixes) affects every test: straight to the full
    # suite. So does a combined bug, whose parents were each screened already.
    touched = changed_lines(cand.patch)
    # Hot runs (a process that collected the clean suite once, the changed functions swapped in)
    # stand only for patches no test runs at import; the test server checks the code itself too.
    hot = measured.coverage is not None and screenable(measured.coverage, touched)
    if hot and cand.strategy is Strategy.PROCEDURAL:
        covering = tests_covering(measured.coverage, touched, baseline.passing)
        if not covering:
            return reject(Rejection.UNCOVERED)
        screen = run_suite(runner, env, snapshot, kind=RunKind.SCREEN,
                           request=RunRequest(patch=cand.patch, select=tuple(sorted(covering)),
                                              hot=True, first_failure=True,
                                              timeout_s=screen_timeout(measured, covering),
                                              cpu_s=screen_cpu_budget(measured, covering)))
        runs.append(screen)
        if (why := rejection_for(screen)) is not None:
            return reject(why, runs)
        if not broke_any(baseline, screen, covering):
            return reject(Rejection.NO_TEST_FAILED, runs)
    # The full suite twice: the first run may be hot, the last is always a fresh pytest process
    # reading the patched files, as an exported task's harness will run it.
    bug = [run_suite(runner, env, snapshot, kind=RunKind.BUG,
                     request=RunRequest(patch=cand.patch, hot=hot and bug_runs > 1), attempt=0)]
    if rejection_for(bug[0]) is None and broke_any(baseline, bug[0]):
        bug += [run_suite(runner, env, snapshot, kind=RunKind.BUG,
                          request=RunRequest(patch=cand.patch,
                                             hot=hot and attempt < bug_runs - 1),
                          attempt=attempt)
                for attempt in range(1, bug_runs)]
    runs += bug
    verdict = grade(baseline, bug)
    if verdict.rejection is not None:
        return reject(verdict.rejection, runs)
    failing = [r for r in bug[0].results if r.test_id in set(verdict.fail_to_pass)]
    task = Task(
        instance_id=instance_id(snapshot, cand),
        repo=snapshot.repo.name,
        base_commit=snapshot.commit,
        patch=cand.patch,
        problem_statement=render_statement(snapshot.repo.name, failing, cand.patch),
        FAIL_TO_PASS=verdict.fail_to_pass,
        PASS_TO_PASS=verdict.pass_to_pass,
        image_name=env.image_name,
        env_id=env.env_id,
        candidate_id=cand.candidate_id,
        strategy=cand.strategy,
        operator=cand.operator,
        seed=cand.seed,
        parents=cand.parents,
    )
    return Validated(cand, tuple(runs), task)


def screen_timeout(measured: Measured, covering: Iterable[str]) -> float:
    """A screen's limit: what the whole clean suite took (room for a run that falls back to a
    fresh pytest process), ten times what the covering tests took, and a floor. A mutant that
    loops is dropped in seconds, not at the full suite's limit."""
    slowest = max((r.duration_s for r in measured.baseline_runs), default=0.0)
    return SCREEN_TIMEOUT_FLOOR_S + slowest + SCREEN_TIMEOUT_FACTOR * _covering_s(measured,
                                                                                   covering)


def screen_cpu_budget(measured: Measured, covering: Iterable[str]) -> float:
    """A hot screen's CPU-time budget: ten times what the covering tests took, and a floor.

    CPU time, unlike the wall clock, does not stretch when other work shares the machine, so
    the budget can be this tight: a spinning mutant costs half a second, not the wall limit. The
    floor covers what a hot run spends besides the tests (swapping code in, the report): ms.
    """
    return SCREEN_CPU_FLOOR_S + SCREEN_TIMEOUT_FACTOR * _covering_s(measured, covering)


def _covering_s(measured: Measured, covering: Iterable[str]) -> float:
    """The most time the covering tests took together in one clean run."""
    wanted = set(covering)
    return max((sum(t.duration_s for t in r.results if t.test_id in wanted)
                for r in measured.baseline_runs), default=0.0)


def bug_run_config(backend: BackendConfig, baseline_runs: Sequence[TestRun]) -> BackendConfig:
    slowest = max((r.duration_s for r in baseline_runs), default=0.0)
    timeout = min(backend.limits.timeout_s, max(BUG_TIMEOUT_FLOOR_S, BUG_TIMEOUT_FACTOR * slowest))
    limits = backend.limits.model_copy(update={"timeout_s": timeout})
    return backend.model_copy(update={"limits": limits})


def instance_id(snapshot: Snapshot, cand: Candidate) -> str:
    """SWE-smith-like: repo, commit, operator and a hash — readable and stable across reruns."""
    digest = content_hash(cand.candidate_id, length=8)
    return f"{snapshot.repo.name}.{snapshot.commit[:8]}.{cand.operator}__{digest}"

"""The factory's stages as plain functions of records: what Ray schedules, testable without Ray.

build_environment: SOURCE → snapshot and its environment (one per repo@commit).
measure_environment: the clean suite in three orders (flake quarantine) and once under coverage.
prepare_candidates: candidate bugs on the code the tests execute.
validate_batch: candidates → each with its runs and either a Task or a rejection reason.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import git

from synth.envs.backend import (
    Backend,
    BackendConfig,
    RunRequest,
    build_backend,
    project_build,
    resolve,
)
from synth.envs.spec import SpecOverride, infer_spec, read_config_files, read_test_texts
from synth.intake import parse_source, source_files, take
from synth.mutate import Generation
from synth.patches import PatchError, apply_file_diff, read_patch
from synth.pipelines.strategies import procedural
from synth.records import (
    LISTED_ORDER,
    Candidate,
    CoverageMap,
    Environment,
    Rejection,
    RepoRef,
    RunKind,
    SetupResult,
    Snapshot,
    Strategy,
    Task,
    TaskStats,
    TestRun,
    TestStatus,
    content_hash,
)
from synth.statement import render_statement
from synth.targeting import coverage_targets
from synth.verifiers.accounting import task_stats
from synth.verifiers.grading import (
    Baseline,
    baseline_of,
    broke_any,
    broken_tests,
    failing_results,
    grade,
    rejection_for,
)
from synth.verifiers.runner import run_coverage, run_suite, settle_baseline
from synth.verifiers.screening import (
    changed_defaults,
    changed_lines,
    covering_hits,
    screen_order,
    screenable,
    touches_tests,
)
from synth.verifiers.setup import setup_verdict

BUG_RUNS = 2  # a bug must fail the same tests twice (the full suite, then those tests alone)
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
    cache_dir: str = ""  # where the project's own build is cached (its notes: the setup record)


@dataclass(frozen=True)
class Measured:
    """What the clean repository does in its environment; stored, and reused by reruns."""

    baseline_runs: tuple[TestRun, ...]
    coverage_run: TestRun | None
    coverage: CoverageMap | None
    # Tests left out of every run, with why: each hung or killed its process on the clean
    # repository (verifiers.runner.settle_baseline).
    excluded: tuple[tuple[str, str], ...] = ()

    @property
    def exclude(self) -> tuple[str, ...]:
        return tuple(node for node, _ in self.excluded)

    @functools.cached_property
    def baseline(self) -> Baseline:
        return baseline_of(self.baseline_runs)

    @property
    def runs(self) -> tuple[TestRun, ...]:
        return self.baseline_runs + ((self.coverage_run,) if self.coverage_run else ())

    @functools.cached_property
    def durations(self) -> dict[str, float]:
        """test → the longest it took in a clean run."""
        longest: dict[str, float] = {}
        for run in self.baseline_runs:
            for r in run.results:
                longest[r.test_id] = max(longest.get(r.test_id, 0.0), r.duration_s)
        return longest


@dataclass(frozen=True)
class Prepared:
    built: Built
    measured: Measured
    candidates: tuple[Candidate, ...]
    note: str = ""
    generation: Generation | None = None  # how the candidates were sampled, drops counted
    setup: SetupResult | None = None  # the setup stage's verdict for this environment


@dataclass(frozen=True)
class Validated:
    candidate: Candidate
    runs: tuple[TestRun, ...]
    task: Task | None = None
    stats: TaskStats | None = None  # what the task cost and how hard it looks


@dataclass(frozen=True)
class BatchResult:
    validated: tuple[Validated, ...] = field(default_factory=tuple)


def build_environment(source: str, backend: BackendConfig,
                      override: SpecOverride | None = None) -> Built:
    ref = parse_source(source)
    return environment_for(ref, take(ref, backend.cache_dir / "snapshots"), backend, override)


def environment_for(ref: RepoRef, snapshot: Snapshot, backend: BackendConfig,
                    override: SpecOverride | None = None) -> Built:
    """The environment of a snapshot already taken (a mirrored fix has its own snapshots).
    ``override``: the user's per-repository spec, applied after inference."""
    root = Path(snapshot.path)
    tree = git.Repo(root).git.ls_files().splitlines()
    spec = infer_spec(read_config_files(root), tree, test_texts=read_test_texts(root, tree),
                      override=override)
    runner = build_backend(backend)
    started = time.monotonic()
    try:
        env = runner.prepare(snapshot, spec)
    finally:
        runner.close()
    # Stored once per environment (a rebuilt or cached one keeps the first record's figure).
    env = env.model_copy(update={"build_s": round(time.monotonic() - started, 2)})
    return Built(ref, snapshot, env, current_node(), str(backend.cache_dir))


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
        settled = settle_baseline(runner, built.environment, built.snapshot)
        exclude = tuple(settled.excluded)
        coverage_run, coverage = (
            run_coverage(runner, built.environment, built.snapshot, exclude=exclude)
            if settled.baseline.usable else (None, None)
        )
    finally:
        runner.close()
    return Measured(tuple(settled.runs), coverage_run, coverage,
                    tuple(sorted(settled.excluded.items())))


def _resolution_notes(built: Built) -> tuple[str, ...]:
    """What resolving the requirements changed (cached by the build: nothing is resolved)."""
    if not built.cache_dir:
        return ()
    try:
        return resolve(built.environment.spec, Path(built.cache_dir)).adjustments
    except Exception:  # noqa: BLE001 - another node's cache: the notes are only for the user
        return ()


def setup_result(built: Built, measured: Measured, *, duration_s: float = 0.0) -> SetupResult:
    """The setup stage's record: verdict and cause, counts, what was left out and changed."""
    verdict, message = setup_verdict(measured.baseline_runs, measured.baseline)
    last = measured.baseline_runs[-1] if measured.baseline_runs else None
    uncollected = tuple(f"{r.test_id}: {r.message}" for r in (last.results if last else ())
                        if r.status is TestStatus.ERROR and r.message.startswith("could not"))
    project = project_build(built.snapshot, built.environment.spec, Path(built.cache_dir)) \
        if built.cache_dir else None
    return SetupResult(
        source=built.repo.source, repo=built.repo.name, verdict=verdict, message=message,
        snapshot_id=built.snapshot.snapshot_id, env_id=built.environment.env_id,
        collected=max((len(r.results) for r in measured.baseline_runs), default=0),
        passing=len(measured.baseline.passing),
        excluded=tuple(f"{node}: {why}" for node, why in measured.excluded) + uncollected,
        adjustments=(*built.environment.spec.adjustments, *_resolution_notes(built),
                     *(project.notes if project else ())),
        duration_s=round(duration_s, 2),
    )


def prepare_candidates(backend: BackendConfig, built: Built, measured: Measured | None, *,
                       max_candidates: int, seed: int,
                       repo_budget_s: float | None = None) -> Prepared:
    """Measure the clean repository unless a stored measurement is given, then generate bugs:
    up to ``max_candidates``, and with ``repo_budget_s`` no more than that many CPU-seconds
    allow at one clean-suite run each (see budget_cap)."""
    started = time.monotonic()
    measured = measured or measure_environment(backend, built)
    setup = setup_result(built, measured, duration_s=time.monotonic() - started)
    if not measured.baseline.usable:
        return Prepared(built, measured, (), f"{setup.verdict.value}: {setup.message}",
                        setup=setup)
    files = source_files(built.snapshot)
    targets = coverage_targets(files, measured.coverage, built.environment.spec.test_paths)
    cap, note = budget_cap(measured, max_candidates, repo_budget_s)
    generation = procedural(built.snapshot.snapshot_id, targets, measured.coverage,
                            max_candidates=cap, seed=seed)
    if len(generation.candidates) < cap:  # fewer exist than the budget buys: it did not bind
        note = ""
    return Prepared(built, measured, generation.candidates, note, generation=generation,
                    setup=setup)


def suite_cpu_s(measured: Measured) -> float | None:
    """The mean CPU of the clean suite's exact runs (None where no run measured it): what one
    candidate of this repository costs, about."""
    cpus = [r.cpu_s for r in measured.baseline_runs if r.cpu_s]
    return sum(cpus) / len(cpus) if cpus else None


def budget_cap(measured: Measured, max_candidates: int,
               repo_budget_s: float | None) -> tuple[int, str]:
    """The candidates a repository gets under a CPU budget, and a note when the budget binds.

    A candidate costs about one clean-suite run (a rejected one a screen of its covering tests,
    a validated one its full run and its broken tests again), so the budget buys
    ``budget ÷ the clean runs' mean CPU`` of them: a repository whose suite takes minutes gets
    a few, one of a second hundreds. The clean runs are stored, so a resumed run reads the same
    figure and keeps the same cap."""
    suite_s = suite_cpu_s(measured)
    if repo_budget_s is None or suite_s is None:
        return max_candidates, ""
    cap = max(1, int(repo_budget_s / suite_s))
    if cap >= max_candidates:
        return max_candidates, ""
    return cap, (f"capped at {cap} by --repo-budget {repo_budget_s:g} s "
                 f"(one clean run: {suite_s:.2f} CPU-s)")


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
    """Hygiene, a screen on the covering tests, the full suite, the tests it broke again."""
    baseline = measured.baseline

    def reject(reason: Rejection, runs: Sequence[TestRun] = ()) -> Validated:
        return Validated(cand.model_copy(update={"rejection": reason}), tuple(runs))

    if touches_tests(cand.patch, env.spec.test_paths):
        return reject(Rejection.TOUCHES_TESTS)
    runs: list[TestRun] = []
    # Screening needs the touched lines to have run under a test. A bug in import-time code (a
    # decorator, a base class; most mirrored fixes) affects every test: straight to the full
    # suite. So does a combined bug, whose parents were each screened already.
    # Hot runs (a process that collected the clean suite once, the changed functions swapped in)
    # stand only for patches no test runs at import, and new literal defaults; the test server
    # checks the code itself too.
    lines = screen_lines(measured, snapshot, cand.patch)
    hot = lines is not None
    if hot and cand.strategy is Strategy.PROCEDURAL:
        request = screen_request(measured, cand.patch, lines)
        if request is None:
            return reject(Rejection.UNCOVERED)
        covering = set(request.select or ())
        screen = run_suite(runner, env, snapshot, kind=RunKind.SCREEN, request=request)
        runs.append(screen)
        if (why := rejection_for(screen)) is not None:
            return reject(why, runs)
        if not broke_any(baseline, screen, covering):
            return reject(Rejection.NO_TEST_FAILED, runs)
    # The full suite once (hot where the patch allows: the clean suite is collected already),
    # then the tests it broke again, alone, in a fresh pytest process reading the patched files
    # as an exported task's harness will: a FAIL_TO_PASS test must fail both times. A second
    # full run would cost a whole exact suite per task to re-observe PASS_TO_PASS tests, which
    # three clean runs already showed stable and which cannot turn a reward wrong (the gold fix
    # is the clean tree: they pass there).
    full = run_suite(runner, env, snapshot, kind=RunKind.BUG,
                     request=RunRequest(patch=cand.patch, hot=hot and bug_runs > 1,
                                        exclude=measured.exclude), attempt=0)
    bug = [full]
    broken = tuple(sorted(broken_tests(baseline, full)))
    if rejection_for(full) is None and broken:
        bug += [run_suite(runner, env, snapshot, kind=RunKind.BUG,
                          request=RunRequest(patch=cand.patch, select=broken,
                                             exclude=measured.exclude,
                                             timeout_s=screen_timeout(measured, broken)),
                          attempt=attempt)
                for attempt in range(1, bug_runs)]
    runs += bug
    verdict = grade(baseline, bug)
    if verdict.rejection is not None:
        return reject(verdict.rejection, runs)
    failing = failing_results(bug[0], verdict.fail_to_pass)
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
    stats = task_stats(task, runs, measured.baseline_runs, measured.coverage,
                       env.spec.test_paths)
    return Validated(cand, tuple(runs), task, stats)


def screen_lines(measured: Measured, snapshot: Snapshot, patch: str
                 ) -> dict[str, set[int]] | None:
    """The lines whose tests screen ``patch``: the lines it changes; for a change of literal
    default values (run at import, but seen only by calls), the bodies of those functions
    (verifiers.screening.changed_defaults). None when the patch changes other code run at import
    (a decorator, a class body, a constant): every test may see it, only the full suite tells.
    """
    touched = changed_lines(patch)
    if measured.coverage is None:
        return None
    if screenable(measured.coverage, touched):
        return touched
    lines: dict[str, set[int]] = {}
    try:
        diffs = read_patch(patch)
    except PatchError:
        return None
    for diff in diffs:
        mine = touched.get(diff.old_path, set())
        if screenable(measured.coverage, {diff.old_path: mine}):
            lines[diff.old_path] = mine
            continue
        try:
            before = (Path(snapshot.path) / diff.old_path).read_text(encoding="utf-8")
            spans = changed_defaults(before, apply_file_diff(before, diff))
        except (OSError, UnicodeDecodeError, PatchError):
            return None
        if spans is None:
            return None
        lines[diff.old_path] = mine.union(*(range(a, b + 1) for a, b in spans))
    return lines


def screen_request(measured: Measured, patch: str, touched: dict[str, set[int]]
                   ) -> RunRequest | None:
    """A hot screen of ``patch``: the clean-passing tests that run a changed line, cheapest
    likely killer first (verifiers.screening.screen_order), stopping at the first failure.
    None when no such test exists (the bug would be uncovered)."""
    assert measured.coverage is not None
    hits = covering_hits(measured.coverage, touched, measured.baseline.passing)
    if not hits:
        return None
    return RunRequest(patch=patch, select=screen_order(hits, measured.durations),
                      order=LISTED_ORDER, exclude=measured.exclude, hot=True, first_failure=True,
                      timeout_s=screen_timeout(measured, hits),
                      cpu_s=screen_cpu_budget(measured, hits))


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
    """What the covering tests take together, each at its longest clean run."""
    durations = measured.durations
    return sum(durations.get(test, 0.0) for test in set(covering))


def bug_run_config(backend: BackendConfig, baseline_runs: Sequence[TestRun]) -> BackendConfig:
    slowest = max((r.duration_s for r in baseline_runs), default=0.0)
    timeout = min(backend.limits.timeout_s, max(BUG_TIMEOUT_FLOOR_S, BUG_TIMEOUT_FACTOR * slowest))
    limits = backend.limits.model_copy(update={"timeout_s": timeout})
    return backend.model_copy(update={"limits": limits})


def instance_id(snapshot: Snapshot, cand: Candidate) -> str:
    """SWE-smith-like: repo, commit, operator and a hash — readable and stable across reruns."""
    digest = content_hash(cand.candidate_id, length=8)
    return f"{snapshot.repo.name}.{snapshot.commit[:8]}.{cand.operator}__{digest}"

"""The factory's stages as plain functions of records: what Ray schedules, testable without Ray.

build_environment: SOURCE → snapshot and its environment (one per repo@commit).
measure_environment: the clean suite in three orders (flake quarantine) and once under coverage.
prepare_candidates: candidate bugs on the code the tests execute.
validate_batch: candidates → each with its runs and either a Task or a rejection reason, on a
backend this worker keeps warm; each candidate's verdict is ``verifiers.validation``'s.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import git

from synth.envs.backend import (
    Backend,
    BackendConfig,
    build_backend,
    project_build,
    resolve,
)
from synth.envs.spec import SpecOverride, infer_spec, read_config_files, read_test_texts
from synth.intake import parse_source, source_files, take
from synth.mutate import Generation
from synth.pipelines.strategies import procedural
from synth.records import (
    Candidate,
    Environment,
    RepoRef,
    SetupResult,
    Snapshot,
    TestStatus,
)
from synth.targeting import coverage_targets
from synth.verifiers.runner import run_coverage, settle_baseline
from synth.verifiers.setup import setup_verdict
from synth.verifiers.validation import BUG_RUNS, Measured, Validated, bug_run_config, validate_one


@dataclass(frozen=True)
class Built:
    repo: RepoRef
    snapshot: Snapshot
    environment: Environment
    node: str = ""  # the Ray node that holds the environment's image ("" outside Ray)
    cache_dir: str = ""  # where the project's own build is cached (its notes: the setup record)


@dataclass(frozen=True)
class Prepared:
    built: Built
    measured: Measured
    candidates: tuple[Candidate, ...]
    note: str = ""
    generation: Generation | None = None  # how the candidates were sampled, drops counted
    setup: SetupResult | None = None  # the setup stage's verdict for this environment


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



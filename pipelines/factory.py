"""Ray orchestration of a factory run, and the one DuckDB writer.

The driver owns the store. Ray tasks prepare each repository (intake, environment, baseline,
candidates) and validate candidate batches; their results come back to the driver, which writes
each batch in one transaction. Every id is a content hash and already-decided candidates are
skipped, so rerunning the same command (or resuming a killed one) adds no duplicates.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import ray

from synth.data.store import Store
from synth.envs.backend import BackendConfig
from synth.envs.spec import SpecOverride
from synth.intake import parse_source
from synth.mutate import Generation
from synth.pipelines.flow import Stage, StrategyFlow, StrategyOptions, validator
from synth.pipelines.retry import LOST_ERRORS, Retrying, cancel
from synth.pipelines.setup_verdicts import setup_failure, setup_of
from synth.pipelines.stages import (
    BatchResult,
    Built,
    Prepared,
    build_environment,
    near,
    prepare_candidates,
    suite_cpu_s,
)
from synth.records import (
    BackendKind,
    Candidate,
    Rejection,
    RunKind,
    SetupResult,
    SetupVerdict,
    Strategy,
)
from synth.verifiers.runner import BASELINE_RUNS
from synth.verifiers.validation import BUG_RUNS, Measured

BATCH_SIZE = 4
POLL_S = 1.0  # how often the driver looks for hung validation batches
HANG_MARGIN_S = 120.0


@dataclass
class RunSummary:
    repos: list[str] = field(default_factory=list)
    generated: int = 0
    skipped_done: int = 0
    validated: int = 0
    rejected: int = 0
    failures: list[str] = field(default_factory=list)  # "source: why" for repos that could not run
    # Mutations built per operator, and those dropped before becoming candidates (by reason):
    # not stored anywhere else, so the funnel's first step is only known to the run itself.
    tried: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, dict[str, int]] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)  # candidate id -> validations started
    # One setup verdict per source built this run (stored too), in the order they were reached.
    setups: list[SetupResult] = field(default_factory=list)

    @property
    def unusable(self) -> list[SetupResult]:
        """The sources that reached no usable environment."""
        return [s for s in self.setups if s.verdict is not SetupVerdict.OK]

    def count_generation(self, generation: Generation | None) -> None:
        if generation is None:
            return
        for op, n in generation.tried.items():
            self.tried[op] = self.tried.get(op, 0) + n
        for op, reasons in generation.dropped.items():
            mine = self.dropped.setdefault(op, {})
            for reason, n in reasons.items():
                mine[reason] = mine.get(reason, 0) + n


@dataclass(frozen=True)
class Progress:
    """Callbacks the CLI hangs its progress bar on; the pipeline knows nothing of terminals."""

    # n candidates of a source scheduled, each costing about unit_s CPU-seconds
    total: Callable[[int, str, float], None] = lambda n, source, unit_s: None
    advance: Callable[[int, str], None] = lambda n, source: None  # n of a source's decided
    say: Callable[[str], None] = lambda text: None
    validated: Callable[[int], None] = lambda n: None  # of those, stored as tasks
    repo_done: Callable[[str], None] = lambda source: None  # a source has nothing left to do


RAY_AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"


def start_ray(address: str | None, cpus: int | None = None) -> None:
    """Join the cluster at ``address``, or start a local one with ``cpus`` workers (default:
    one per core)."""
    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
        return
    # A cluster of our own, on this machine, with token authentication on (Ray's default): its
    # notice that it chose that default is Ray's to log, not the user's to read on every run.
    logging.getLogger(RAY_AUTH_LOGGER).setLevel(logging.ERROR)
    # "local": a new cluster of our own. Without it, ray.init() joins whatever cluster this
    # machine last started (another run's, a test's) and then refuses num_cpus.
    ray.init(
        address="local",
        num_cpus=cpus or os.cpu_count() or 1,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        object_store_memory=256 * 1024 * 1024,
    )


def run_factory(
    sources: Sequence[str],
    db: Path,
    backend: BackendConfig,
    *,
    max_candidates: int,
    seed: int,
    repo_budget_s: float | None = None,
    address: str | None = None,
    progress: Progress = Progress(),
    options: StrategyOptions | None = None,
    overrides: Mapping[str, SpecOverride] | None = None,
) -> RunSummary:
    """``overrides``: the user's per-repository specs (envs.spec.load_overrides), by repo name."""
    start_ray(address)
    options = options or StrategyOptions()
    if backend.kind is BackendKind.DOCKER:
        from synth.envs.docker_cleanup import remove_run_containers, remove_stale_containers

        if removed := remove_stale_containers():
            progress.say(f"removed {removed} test container(s) left by an earlier, dead run")
    backend = backend.model_copy(update={"run_id": backend.run_id or secrets.token_hex(8)})
    try:
        return _run(sources, db, backend, max_candidates=max_candidates, seed=seed,
                    repo_budget_s=repo_budget_s, progress=progress, options=options,
                    overrides=overrides or {})
    finally:
        if backend.kind is BackendKind.DOCKER:
            remove_run_containers(backend.run_id or "")
            # Again at the end: a killed run's Ray workers may outlive their driver for a while
            # (their containers are not orphans yet when this run starts); by now they are gone.
            remove_stale_containers()


def _run(sources: Sequence[str], db: Path, backend: BackendConfig, *, max_candidates: int,
         seed: int, repo_budget_s: float | None, progress: Progress, options: StrategyOptions,
         overrides: Mapping[str, SpecOverride]) -> RunSummary:
    build = ray.remote(max_retries=2)(build_environment)
    prepare = ray.remote(max_retries=2)(prepare_candidates)
    # Validation is retried by the driver, candidate by candidate and within a bound (see
    # pipelines/retry.py), not by Ray: a batch Ray gives up on would leave its candidates undecided.
    validate = Retrying(ray.remote(max_retries=0, num_cpus=1)(validator(options)),
                        items="candidates", budget_s=_hang_budget(backend))
    flow = StrategyFlow(options, backend, seed, validate, stored_measurement, BATCH_SIZE)
    summary = RunSummary()
    # When each source's setup started, its environment once built, and the ref of its clean
    # suite's measurement: what its one setup verdict needs. A mirrored fix's environment (the
    # flow's "prepared" results) is no source's setup.
    started: dict[str, float] = {}
    built_of: dict[str, Built] = {}
    measuring: set = set()
    with Store.open(db) as store:
        # Every in-flight Ray task, with what its result is and the source it serves.
        inflight: dict = {}
        if options.uses(Strategy.PROCEDURAL):
            for s in sources:
                started[s] = time.monotonic()
                override = overrides.get(parse_source(s).name)
                inflight[build.remote(s, backend, override)] = (Stage.BUILT, s)
        inflight.update(flow.start(sources))
        working = set(sources)
        while inflight:
            for source in working - {s for _, s in inflight.values()}:
                working.discard(source)
                progress.repo_done(source)
            done, _ = ray.wait(list(inflight), num_returns=1, timeout=POLL_S)
            if not done:
                cancel(validate.overdue(running=_cluster_cpus()))
                continue
            ref = done[0]
            stage, source = inflight.pop(ref)
            try:
                result = ray.get(ref)
            except Exception as exc:  # one repository failing must not sink the others
                if validate.owns(ref) and isinstance(exc, LOST_ERRORS):
                    inflight.update(_retry(ref, validate, store, source, summary, progress))
                else:
                    summary.failures.append(f"{source}: {_cause(exc)}")
                    progress.say(f"[red]{source}[/]: {_cause(exc)}")
                if stage is Stage.BUILT or ref in measuring:
                    # A crash while measuring the clean suite also leaves the source without
                    # a usable environment: its verdict keeps the environment's ids.
                    setup = setup_failure(source, exc, built=built_of.get(source),
                                          duration_s=time.monotonic() - started[source])
                    store.write(setups=[setup])
                    summary.setups.append(setup)
                inflight.update(flow.batch_done(_settled(validate, ref), store, source))
                continue
            if stage is Stage.BUILT:
                built: Built = result
                built_of[source] = built
                store.write(repo=built.repo, snapshot=built.snapshot,
                            environments=[built.environment])
                stored = stored_measurement(store, built.environment.env_id)
                ref = prepare.options(**near(built.node)).remote(
                    backend, built, stored, max_candidates=max_candidates, seed=seed,
                    repo_budget_s=repo_budget_s)
                inflight[ref] = (Stage.PREPARED, source)
                measuring.add(ref)
            elif stage is Stage.PREPARED:
                setup = (setup_of(result, duration_s=time.monotonic() - started[source])
                         if ref in measuring else None)
                refs = _schedule(source, result, setup, store, validate, backend, summary, progress)
                inflight.update(flow.scheduled(result, refs, store, source))
                for ref in refs:
                    inflight[ref] = (Stage.VALIDATED, source)
            elif flow.handles(stage):
                inflight.update(flow.on_result(stage, result, source, store, summary, progress))
            else:
                _write_batch(store, result, summary)
                progress.advance(len(result.validated), source)
                progress.validated(sum(v.task is not None for v in result.validated))
                inflight.update(flow.batch_done(_settled(validate, ref), store, source))
        for source in working:
            progress.repo_done(source)
    summary.attempts = dict(validate.attempts)
    return summary


def _retry(ref, validate: Retrying, store: Store, source: str, summary: RunSummary,
           progress: Progress) -> dict:
    """A validation batch's worker was lost: retry its candidates one by one, and store those
    lost too often with a verdict, so neither this run nor a rerun tries them again."""
    retries, given_up = validate.lost(ref)
    if given_up:
        store.write(candidates=[c.model_copy(update={"rejection": Rejection.GAVE_UP})
                                for c in given_up])
        summary.rejected += len(given_up)
        progress.advance(len(given_up), source)
        progress.say(f"{source}: gave up on {len(given_up)} candidate(s) after "
                     f"{validate.bound} lost attempts")
    return {r: (Stage.VALIDATED, source) for r in retries}


def _settled(validate: Retrying, ref):
    """The ref the strategy flow knows a batch by, once all of it is done (else None)."""
    return validate.settle(ref) if validate.owns(ref) else ref


def _hang_budget(backend: BackendConfig) -> Callable[[Sequence[Candidate]], float]:
    """How long a batch may run before it counts as hung: every run of every candidate at the
    user's timeout, and a margin for starting containers."""
    per_candidate = (BUG_RUNS + 1) * backend.limits.timeout_s
    return lambda items: len(items) * per_candidate + HANG_MARGIN_S


def _cluster_cpus() -> int:
    return int(ray.cluster_resources().get("CPU", 1))


def stored_measurement(store: Store, env_id: str) -> Measured | None:
    """The clean-suite runs and coverage an earlier run stored for ``env_id``, if complete."""
    runs = store.list_test_runs(env_id)
    baseline = tuple(sorted((r for r in runs if r.kind is RunKind.BASELINE),
                            key=lambda r: r.attempt))
    coverage_runs = [r for r in runs if r.kind is RunKind.COVERAGE]
    coverage = store.get_coverage(env_id)
    if len(baseline) < BASELINE_RUNS or not coverage_runs or coverage is None:
        return None
    setup = store.get_setup(env_id)
    return Measured(baseline, coverage_runs[0], coverage,
                    excluded_tests(setup.excluded) if setup else ())


def excluded_tests(entries: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """The tests a stored setup left out of every run ("NODE_ID: why"), less the modules that
    could not be collected (those leave themselves out)."""
    pairs = (entry.split(": ", 1) for entry in entries)
    return tuple((node, why) for node, why in (p for p in pairs if len(p) == 2)
                 if not why.startswith("could not be collected"))


def _schedule(
    source: str,
    prepared: Prepared,
    setup: SetupResult | None,
    store: Store,
    validate,
    backend: BackendConfig,
    summary: RunSummary,
    progress: Progress,
) -> list:
    built, measured = prepared.built, prepared.measured
    store.write(test_runs=measured.runs, setups=[setup] if setup else [])
    if setup is not None:
        summary.setups.append(setup)
    if measured.coverage is not None:
        store.write_coverage(measured.coverage)
    summary.repos.append(built.repo.name)
    decided = {c.candidate_id for c in store.list_candidates(built.snapshot.snapshot_id)}
    todo = [c for c in prepared.candidates if c.candidate_id not in decided]
    summary.generated += len(prepared.candidates)
    summary.count_generation(prepared.generation)
    summary.skipped_done += len(prepared.candidates) - len(todo)
    baseline = measured.baseline
    progress.say(
        f"{built.repo.name}@{built.snapshot.commit[:8]}: environment "
        f"{built.environment.image_name}, {len(baseline.passing)} tests pass on the clean repo"
        f" ({len(baseline.flaky)} flaky, quarantined), "
        f"{len(prepared.candidates)} candidates ({len(todo)} new)"
        + (f" — {prepared.note}" if prepared.note else "")
    )
    progress.total(len(todo), source, suite_cpu_s(measured) or 1.0)
    env_ref = ray.put(built.environment)
    measured_ref = ray.put(measured)
    return [
        validate.remote(backend, env_ref, built.snapshot, measured_ref,
                        candidates=todo[i : i + BATCH_SIZE], ray_options=near(built.node))
        for i in range(0, len(todo), BATCH_SIZE)
    ]


def _write_batch(store: Store, result: BatchResult, summary: RunSummary) -> None:
    store.write(
        candidates=[v.candidate for v in result.validated],
        test_runs=[run for v in result.validated for run in v.runs],
        tasks=[v.task for v in result.validated if v.task is not None],
        task_stats=[v.stats for v in result.validated if v.stats is not None],
    )
    for v in result.validated:
        if v.task is None:
            summary.rejected += 1
        else:
            summary.validated += 1


def _cause(exc: BaseException) -> str:
    """Ray wraps a task's exception; the user wants the original message."""
    cause = getattr(exc, "cause", None) or exc
    return f"{type(cause).__name__}: {cause}"


def stop_ray() -> None:
    if ray.is_initialized():
        ray.shutdown()

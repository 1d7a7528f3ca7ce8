"""Ray orchestration of a factory run, and the one DuckDB writer.

The driver owns the store. Ray tasks prepare each repository (intake, environment, baseline,
candidates) and validate candidate batches; their results come back to the driver, which writes
each batch in one transaction. Every id is a content hash and already-decided candidates are
skipped, so rerunning the same command (or resuming a killed one) adds no duplicates.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import ray

from data.store import Store
from envs.backend import BackendConfig
from pipelines.stages import BatchResult, Prepared, prepare_repo, validate_batch

BATCH_SIZE = 4


@dataclass
class RunSummary:
    repos: list[str] = field(default_factory=list)
    generated: int = 0
    skipped_done: int = 0
    validated: int = 0
    rejected: int = 0
    failures: list[str] = field(default_factory=list)  # "source: why" for repos that could not run


@dataclass(frozen=True)
class Progress:
    """Callbacks the CLI hangs its progress bar on; the pipeline knows nothing of terminals."""

    total: Callable[[int], None] = lambda n: None
    advance: Callable[[int], None] = lambda n: None
    say: Callable[[str], None] = lambda text: None


def start_ray(address: str | None) -> None:
    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
        return
    ray.init(
        num_cpus=os.cpu_count() or 1,
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
    address: str | None = None,
    progress: Progress = Progress(),
) -> RunSummary:
    start_ray(address)
    prepare = ray.remote(max_retries=2)(prepare_repo)
    validate = ray.remote(max_retries=2, num_cpus=1)(validate_batch)
    summary = RunSummary()
    with Store.open(db) as store:
        pending = {
            prepare.remote(s, backend, max_candidates=max_candidates, seed=seed): s for s in sources
        }
        batches: dict = {}
        while pending or batches:
            done, _ = ray.wait(list(pending) + list(batches), num_returns=1)
            ref = done[0]
            if ref in pending:
                source = pending.pop(ref)
                try:
                    prepared: Prepared = ray.get(ref)
                except Exception as exc:  # one repository failing must not sink the others
                    summary.failures.append(f"{source}: {_cause(exc)}")
                    progress.say(f"[red]{source}[/]: {_cause(exc)}")
                    continue
                batches.update(_schedule(prepared, store, validate, backend, summary, progress))
            else:
                batches.pop(ref)
                result: BatchResult = ray.get(ref)
                _write_batch(store, result, summary)
                progress.advance(len(result.validated))
    return summary


def _schedule(
    prepared: Prepared,
    store: Store,
    validate,
    backend: BackendConfig,
    summary: RunSummary,
    progress: Progress,
) -> dict:
    store.write(
        repo=prepared.repo,
        snapshot=prepared.snapshot,
        environments=[prepared.environment],
        test_runs=prepared.baseline_runs,
    )
    summary.repos.append(prepared.repo.name)
    decided = {c.candidate_id for c in store.list_candidates(prepared.snapshot.snapshot_id)}
    todo = [c for c in prepared.candidates if c.candidate_id not in decided]
    summary.generated += len(prepared.candidates)
    summary.skipped_done += len(prepared.candidates) - len(todo)
    progress.say(
        f"{prepared.repo.name}@{prepared.snapshot.commit[:8]}: environment "
        f"{prepared.environment.image_name}, {len(prepared.baseline.passing)} tests pass on the "
        f"clean repo, {len(prepared.candidates)} candidates ({len(todo)} new)"
        + (f" — {prepared.note}" if prepared.note else "")
    )
    progress.total(len(todo))
    env_ref = ray.put(prepared.environment)
    runs_ref = ray.put(prepared.baseline_runs)
    return {
        validate.remote(backend, env_ref, prepared.snapshot, runs_ref, todo[i : i + BATCH_SIZE]): i
        for i in range(0, len(todo), BATCH_SIZE)
    }


def _write_batch(store: Store, result: BatchResult, summary: RunSummary) -> None:
    store.write(
        candidates=[v.candidate for v in result.validated],
        test_runs=[run for v in result.validated for run in v.runs],
        tasks=[v.task for v in result.validated if v.task is not None],
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

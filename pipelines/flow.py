"""Mirroring, combining and problem-statement styles in a factory run.

The stage functions here are plain functions of records (what Ray schedules, testable without
it); ``StrategyFlow`` is their place in ``run_factory``'s loop, which hands it the results of the
stages it started and tells it when a validation batch is done:

- mirror: SOURCE → its fix commits (``discover_fixes``) → one snapshot and environment per fix
  (``build_fix``) → the clean suite and the reverted fix as the one candidate (``prepare_fix``)
  → validation, like any candidate.
- combine: once every batch of a snapshot is done, its validated procedural bugs are merged
  (``combine_for``) and the merged candidates validated in turn.
- statements: ``validator`` wraps ``validate_batch`` so each task's statement is written in a
  style chosen by seed, from its failing tests' source and (for a mirrored fix) the commit
  message, optionally by a language model; see ``synth.statement``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import git
import ray

from synth.combine import combine_candidates
from synth.data.store import Store
from synth.envs.backend import BackendConfig
from synth.intake import parse_source, source_files
from synth.lm import ChatCompletionsWriter, LMConfig
from synth.mirror import (
    FixCommit,
    FixLimits,
    find_fix_commits,
    history_path,
    materialize,
    mirror_candidate,
    reverse_patch,
)
from synth.pipelines.stages import (
    BatchResult,
    Built,
    Prepared,
    environment_for,
    measure_environment,
    suite_cpu_s,
    validate_batch,
)
from synth.records import Candidate, RunKind, Snapshot, Strategy, TestStatus
from synth.statement import StatementInput, Style, choose_style, reproduction, write_statement
from synth.verifiers.grading import failing_results
from synth.verifiers.validation import Measured

_UNUSABLE = "no test passes on the clean repository: nothing can be validated"


@dataclass(frozen=True)
class StrategyOptions:
    """Which strategies a run uses, and how statements are written."""

    strategies: frozenset[Strategy] = frozenset({Strategy.PROCEDURAL})
    fix_limits: FixLimits = field(default_factory=lambda: FixLimits(max_commits=5))
    max_combined: int = 8  # merged candidates per repo@commit
    style: Style | None = None  # None: chosen per task by seed
    lm: LMConfig | None = None

    def uses(self, strategy: Strategy) -> bool:
        return strategy in self.strategies


# --- mirror ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MirrorFix:
    """A fix commit and the bug patch that reverts it, read from the history once."""

    fix: FixCommit
    patch: str


def discover_fixes(source: str, backend: BackendConfig, limits: FixLimits) -> list[MirrorFix]:
    history = history_path(parse_source(source), backend.cache_dir)
    return [
        MirrorFix(fix, reverse_patch(history, fix)) for fix in find_fix_commits(history, limits)
    ]


@dataclass(frozen=True)
class BuiltFix:
    built: Built
    item: MirrorFix


def build_fix(source: str, item: MirrorFix, backend: BackendConfig) -> BuiltFix:
    ref = parse_source(source)
    history = history_path(ref, backend.cache_dir)
    snapshot = materialize(history, item.fix, ref, backend.cache_dir / "snapshots")
    return BuiltFix(environment_for(ref, snapshot, backend), item)


def prepare_fix(
    backend: BackendConfig, built: Built, measured: Measured | None, item: MirrorFix, *, seed: int
) -> Prepared:
    measured = measured or measure_environment(backend, built)
    if not measured.baseline.usable:
        return Prepared(built, measured, (), _UNUSABLE)
    candidate = mirror_candidate(built.snapshot, item.fix, item.patch, seed=seed)
    return Prepared(built, measured, (candidate,), f"fix {item.fix.sha[:12]}: {item.fix.subject}")


# --- combine -----------------------------------------------------------------------------------


def combine_for(
    snapshot: Snapshot,
    validated: Sequence[Candidate],
    *,
    seed: int,
    max_combined: int,
    known: Sequence[str] = (),
) -> list[Candidate]:
    files = source_files(snapshot)
    return combine_candidates(
        snapshot.snapshot_id, files, validated, seed=seed, max_combined=max_combined, known=known
    )


# --- statements --------------------------------------------------------------------------------


def validator(options: StrategyOptions) -> Callable[..., BatchResult]:
    """``validate_batch`` whose tasks get their statements written as ``options`` say."""

    def validate(
        backend: BackendConfig,
        env: Any,
        snapshot: Snapshot,
        measured: Measured,
        candidates: Sequence[Candidate],
        **kwargs: Any,
    ) -> BatchResult:
        result = validate_batch(backend, env, snapshot, measured, candidates, **kwargs)
        return restate(result, snapshot, backend.cache_dir, options)

    return validate


def restate(
    result: BatchResult, snapshot: Snapshot, cache_dir: Path, options: StrategyOptions
) -> BatchResult:
    writer = ChatCompletionsWriter(options.lm) if options.lm else None
    out = []
    for v in result.validated:
        if v.task is None:
            out.append(v)
            continue
        bug = next((r for r in v.runs if r.kind is RunKind.BUG), None)
        if bug is None:
            out.append(v)
            continue
        failing = failing_results(bug, v.task.FAIL_TO_PASS)
        item = StatementInput(
            repo=snapshot.repo.name,
            failing=failing,
            patch=v.task.patch,
            reproductions=_reproductions(snapshot, [r.test_id for r in failing[:1]]),
            hint=_hint(v.candidate, snapshot, cache_dir),
            passed=sum(r.status is TestStatus.PASSED for r in bug.results),
        )
        style = options.style or choose_style(v.candidate.seed, v.candidate.candidate_id)
        written = write_statement(item, style=style, writer=writer)
        task = v.task.model_copy(update={"problem_statement": written.text})
        out.append(dataclasses.replace(v, task=task))
    return BatchResult(tuple(out))


def _reproductions(snapshot: Snapshot, test_ids: Sequence[str]) -> dict[str, str]:
    found = {}
    for test_id in test_ids:
        path = Path(snapshot.path) / test_id.split("::", 1)[0]
        try:
            code = reproduction(path.read_text(encoding="utf-8"), test_id)
        except (OSError, UnicodeDecodeError):  # another node's snapshot, or not a text file
            continue
        if code:
            found[test_id] = code
    return found


def _hint(candidate: Candidate, snapshot: Snapshot, cache_dir: Path) -> str:
    """A mirrored fix's commit message, read again from the history (best effort)."""
    if candidate.fix_commit is None:
        return ""
    try:
        history = history_path(snapshot.repo, cache_dir)
        return git.Repo(history).git.log("-1", "--format=%B", candidate.fix_commit)
    except (ValueError, git.GitError, OSError):
        return ""


# --- the flow in a run -------------------------------------------------------------------------

class Stage(StrEnum):
    """What an in-flight Ray task's result is: the driver (pipelines.factory) dispatches on it."""

    BUILT = "built"  # a source's environment (build_environment)
    PREPARED = "prepared"  # its clean suite measured and its candidates made (prepare_candidates)
    VALIDATED = "validated"  # a batch of candidates validated
    FIXES = "fixes"  # the fix commits found in a source's history, to mirror
    FIX_BUILT = "fix_built"  # a fix's environment
    COMBINED = "combined"  # bugs combined from validated ones


Inflight = dict[Any, tuple[Stage, str]]  # Ray ref -> (stage, source)
_STAGES = frozenset({Stage.FIXES, Stage.FIX_BUILT, Stage.COMBINED})  # what on_result takes


class StrategyFlow:
    """Starts the mirror and combine stages of a run and reacts to their results."""

    def __init__(
        self,
        options: StrategyOptions,
        backend: BackendConfig,
        seed: int,
        validate: Any,
        measurement: Callable[[Store, str], Measured | None],
        batch_size: int,
    ) -> None:
        self.options = options
        self.backend = backend
        self.seed = seed
        self.validate = validate
        self.measurement = measurement
        self.batch_size = batch_size
        self._discover = ray.remote(max_retries=2)(discover_fixes)
        self._build_fix = ray.remote(max_retries=2)(build_fix)
        self._prepare_fix = ray.remote(max_retries=2)(prepare_fix)
        self._combine = ray.remote(max_retries=2)(combine_for)
        self._batches: dict[Any, str] = {}  # validation ref -> snapshot id
        self._open: dict[str, int] = {}  # snapshot id -> batches not yet back
        self._prepared: dict[str, Prepared] = {}  # procedural preparations, by snapshot id
        self._combined: set[str] = set()

    def start(self, sources: Sequence[str]) -> Inflight:
        if not self.options.uses(Strategy.MIRROR):
            return {}
        limits = self.options.fix_limits
        return {self._discover.remote(s, self.backend, limits): (Stage.FIXES, s) for s in sources}

    @staticmethod
    def handles(stage: Stage) -> bool:
        return stage in _STAGES

    def on_result(
        self, stage: Stage, result: Any, source: str, store: Store, summary: Any, progress: Any
    ) -> Inflight:
        if stage is Stage.FIXES:
            progress.say(f"{source}: {len(result)} fix commit(s) to mirror")
            build = self._build_fix.remote
            return {build(source, item, self.backend): (Stage.FIX_BUILT, source) for item in result}
        if stage is Stage.FIX_BUILT:
            built = result.built
            store.write(repo=built.repo, snapshot=built.snapshot, environments=[built.environment])
            stored = self.measurement(store, built.environment.env_id)
            prepare = self._prepare_fix.remote
            ref = prepare(self.backend, built, stored, result.item, seed=self.seed)
            return {ref: (Stage.PREPARED, source)}
        return self._schedule_combined(result, source, store, summary, progress)

    def scheduled(
        self, prepared: Prepared, refs: Sequence[Any], store: Store, source: str
    ) -> Inflight:
        """``run_factory`` scheduled ``refs`` to validate ``prepared``'s candidates."""
        snapshot_id = prepared.built.snapshot.snapshot_id
        for ref in refs:
            self._batches[ref] = snapshot_id
        self._open[snapshot_id] = self._open.get(snapshot_id, 0) + len(refs)
        if prepared.generation is not None:  # procedural: the bugs combine will draw from
            self._prepared[snapshot_id] = prepared
        # A resumed run may find every candidate decided: combining need not wait for anything.
        return self._combine_when_done(snapshot_id, store, source)

    def batch_done(self, ref: Any, store: Store, source: str) -> Inflight:
        """A validation batch came back (or failed); start combining when a snapshot is done."""
        snapshot_id = self._batches.pop(ref, None)
        if snapshot_id is None:
            return {}
        self._open[snapshot_id] -= 1
        return self._combine_when_done(snapshot_id, store, source)

    def _combine_when_done(self, snapshot_id: str, store: Store, source: str) -> Inflight:
        if self._open.get(snapshot_id) or not self.options.uses(Strategy.COMBINE):
            return {}
        if snapshot_id in self._combined or snapshot_id not in self._prepared:
            return {}
        self._combined.add(snapshot_id)
        prepared = self._prepared[snapshot_id]
        validated = _validated_procedural(store, prepared)
        if len(validated) < 2:
            return {}
        # Known patches keep a merge from repeating a single bug; the merges an earlier run made
        # are not "known" — they must come out again, identical, so a rerun skips them.
        known = [
            c.patch
            for c in store.list_candidates(snapshot_id)
            if c.strategy is not Strategy.COMBINE
        ]
        ref = self._combine.remote(
            prepared.built.snapshot,
            validated,
            seed=self.seed,
            max_combined=self.options.max_combined,
            known=known,
        )
        return {ref: (Stage.COMBINED, source)}

    def _schedule_combined(
        self, candidates: list[Candidate], source: str, store: Store, summary: Any, progress: Any
    ) -> Inflight:
        if not candidates:
            return {}
        prepared = self._prepared[candidates[0].snapshot_id]
        decided = {c.candidate_id for c in store.list_candidates(candidates[0].snapshot_id)}
        todo = [c for c in candidates if c.candidate_id not in decided]
        summary.generated += len(candidates)
        summary.skipped_done += len(candidates) - len(todo)
        progress.say(
            f"{prepared.built.repo.name}: {len(candidates)} combined candidates ({len(todo)} new)"
        )
        progress.total(len(todo), source, suite_cpu_s(prepared.measured) or 1.0)
        env_ref = ray.put(prepared.built.environment)
        measured_ref = ray.put(prepared.measured)
        snapshot, step = prepared.built.snapshot, self.batch_size
        validate = self.validate.remote
        return {
            validate(self.backend, env_ref, snapshot, measured_ref,
                     candidates=todo[i : i + step]): (Stage.VALIDATED, source)
            for i in range(0, len(todo), step)
        }


def _validated_procedural(store: Store, prepared: Prepared) -> list[Candidate]:
    snapshot_id = prepared.built.snapshot.snapshot_id
    tasks = {t.candidate_id for t in store.list_tasks(repo=prepared.built.repo.name)}
    return [
        c
        for c in store.list_candidates(snapshot_id)
        if c.candidate_id in tasks and c.strategy is Strategy.PROCEDURAL
    ]


__all__ = [
    "MirrorFix",
    "StrategyFlow",
    "StrategyOptions",
    "build_fix",
    "combine_for",
    "discover_fixes",
    "prepare_fix",
    "restate",
    "validator",
]

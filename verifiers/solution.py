"""Scoring a candidate fix of a task: resolved, partial, unresolved, or error.

A solution is a diff against the task's buggy state (the clean snapshot with ``task.patch``
applied). It is scored by applying the bug and then the solution — less every file diff that
reaches the tests, their configuration or the harness (``verifiers.sanitize``), which are flagged
— and running exactly FAIL_TO_PASS + PASS_TO_PASS. ``score`` is pure: runs in, verdict out.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from pydantic import Field

from envs.backend import Backend, RunRequest
from synth.patches import reverse_patch
from synth.records import (
    HARNESS_VERSION,
    Environment,
    Record,
    RunKind,
    Snapshot,
    Task,
    TestRun,
    TestStatus,
    Verdict,
    content_hash,
    utcnow,
)
from verifiers.grading import passed, status_of
from verifiers.runner import patch_hash, run_suite
from verifiers.sanitize import Sanitized, SolutionFlag, combine, sanitize


class Outcome(StrEnum):
    RESOLVED = "resolved"  # every FAIL_TO_PASS and PASS_TO_PASS test passes
    PARTIAL = "partial"  # some FAIL_TO_PASS tests pass, not all of them (or a P2P test broke)
    UNRESOLVED = "unresolved"  # no FAIL_TO_PASS test passes
    ERROR = "error"  # the patch did not apply, or the run could not be trusted (see reason)


class TestOutcome(Record):
    __test__ = False  # not a pytest test class, despite the name

    test_id: str
    expected: str  # "FAIL_TO_PASS" | "PASS_TO_PASS"
    status: TestStatus  # in the first run; ``passed`` says whether it passed in every run
    passed: bool


class SolutionVerdict(Record):
    """How one candidate fix of one task scored. Its id hashes task, patch and harness."""

    solution_id: str
    instance_id: str
    patch_hash: str
    outcome: Outcome
    reason: str = ""  # why the outcome is ERROR, for a person
    fail_to_pass_passed: int
    fail_to_pass_total: int
    pass_to_pass_passed: int
    pass_to_pass_total: int
    tests: tuple[TestOutcome, ...]
    flags: tuple[SolutionFlag, ...] = ()
    dropped: tuple[str, ...] = ()  # files the solution touched that were restored before running
    runs: int
    duration_s: float
    harness_version: str = HARNESS_VERSION
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def resolved(self) -> bool:
        return self.outcome is Outcome.RESOLVED


class TaskContext(Record):
    """What scoring a task needs besides the patch: the task, its environment and snapshot."""

    task: Task
    environment: Environment
    snapshot: Snapshot


def solution_id(instance_id: str, patch: str) -> str:
    return content_hash("solution", instance_id, patch, HARNESS_VERSION)


def gold_patch(task: Task) -> str:
    """The task's reference fix, against its buggy state: the bug diff reversed."""
    return reverse_patch(task.patch)


def top_level_names(snapshot: Snapshot, source_root: str) -> frozenset[str]:
    """Entries of the clean repository's root and source root (see ``sanitize``)."""
    root = Path(snapshot.path)
    names = {p.name for p in root.iterdir()} if root.is_dir() else set()
    if source_root not in (".", "") and (root / source_root).is_dir():
        names |= {p.name for p in (root / source_root).iterdir()}
    return frozenset(names)


def scored_patch(ctx: TaskContext, solution: str, *, from_clean: bool = False
                 ) -> tuple[str, Sanitized]:
    """The one patch a run applies: the bug, then what may be kept of ``solution``.

    ``from_clean``: ``solution`` is a diff from the clean snapshot to the final state (what an
    agent's working copy amounts to), so the bug is already in it.
    """
    spec = ctx.environment.spec
    kept = sanitize(solution, test_paths=spec.test_paths, source_root=spec.source_root,
                    top_level=top_level_names(ctx.snapshot, spec.source_root))
    return (kept.patch if from_clean else combine(ctx.task.patch, kept.patch)), kept


def selection(task: Task) -> tuple[str, ...]:
    return tuple(sorted({*task.FAIL_TO_PASS, *task.PASS_TO_PASS}))


def score(task: Task, solution: str, runs: Sequence[TestRun], *,
          kept: Sanitized | None = None) -> SolutionVerdict:
    """Grade the runs of one solution. A test passes only if it passed in every run; a test
    missing from a report failed (a crash that hides a test is no pass)."""
    if not runs:
        raise ValueError("scoring needs at least one run")
    kept = kept or Sanitized(solution, (), ())
    common = dict(
        solution_id=solution_id(task.instance_id, solution),
        instance_id=task.instance_id,
        patch_hash=patch_hash(solution),
        fail_to_pass_total=len(task.FAIL_TO_PASS),
        pass_to_pass_total=len(task.PASS_TO_PASS),
        flags=kept.flags,
        dropped=kept.dropped,
        runs=len(runs),
        duration_s=round(sum(r.duration_s for r in runs), 3),
    )
    untrusted = [r for r in runs if r.verdict not in (Verdict.PASS, Verdict.FAIL)]
    if untrusted:
        run = untrusted[0]
        return SolutionVerdict(outcome=Outcome.ERROR, reason=f"{run.verdict.value}: {run.reason}",
                               fail_to_pass_passed=0, pass_to_pass_passed=0, tests=(), **common)
    maps = [r.status_map() for r in runs]
    tests = tuple(
        TestOutcome(test_id=t, expected=expected, status=status_of(maps[0], t),
                    passed=all(passed(status_of(m, t)) for m in maps))
        for expected, ids in (("FAIL_TO_PASS", task.FAIL_TO_PASS),
                              ("PASS_TO_PASS", task.PASS_TO_PASS))
        for t in ids
    )
    f2p = sum(t.passed for t in tests if t.expected == "FAIL_TO_PASS")
    p2p = sum(t.passed for t in tests if t.expected == "PASS_TO_PASS")
    if f2p == len(task.FAIL_TO_PASS) and p2p == len(task.PASS_TO_PASS):
        outcome = Outcome.RESOLVED
    elif f2p:
        outcome = Outcome.PARTIAL
    else:
        outcome = Outcome.UNRESOLVED
    return SolutionVerdict(outcome=outcome, fail_to_pass_passed=f2p, pass_to_pass_passed=p2p,
                           tests=tests, **common)


def refused(task: Task, solution: str, kept: Sanitized) -> SolutionVerdict:
    """An ERROR verdict without a run: the solution reaches for the harness's secrets."""
    return SolutionVerdict(
        solution_id=solution_id(task.instance_id, solution), instance_id=task.instance_id,
        patch_hash=patch_hash(solution), outcome=Outcome.ERROR,
        reason="the solution's code reaches into the test harness (its report plugin, SYNTH_* "
               "settings, /proc or sys.modules); refused unrun",
        fail_to_pass_passed=0, fail_to_pass_total=len(task.FAIL_TO_PASS), pass_to_pass_passed=0,
        pass_to_pass_total=len(task.PASS_TO_PASS), tests=(), flags=kept.flags,
        dropped=kept.dropped, runs=0, duration_s=0.0,
    )


def reward(verdict: SolutionVerdict, *, partial_credit: bool = False) -> float:
    """1.0 for a resolved task, else 0.0; with ``partial_credit`` the fraction of FAIL_TO_PASS
    tests fixed, scaled by the fraction of PASS_TO_PASS tests kept (breaking others costs)."""
    if verdict.outcome is Outcome.RESOLVED:
        return 1.0
    if not partial_credit or verdict.outcome is Outcome.ERROR:
        return 0.0
    f2p = verdict.fail_to_pass_passed / max(verdict.fail_to_pass_total, 1)
    p2p = verdict.pass_to_pass_passed / max(verdict.pass_to_pass_total, 1)
    return round(f2p * (p2p if verdict.pass_to_pass_total else 1.0), 6)


def verify_solution(backend: Backend, ctx: TaskContext, solution: str, *, runs: int = 1,
                    from_clean: bool = False) -> SolutionVerdict:
    """Apply and run ``solution`` in the task's environment ``runs`` times, and score it."""
    patch, kept = scored_patch(ctx, solution, from_clean=from_clean)
    if SolutionFlag.HARNESS_PROBE in kept.flags:
        return refused(ctx.task, solution, kept)
    request = RunRequest(patch=patch, select=selection(ctx.task))
    test_runs = [
        run_suite(backend, ctx.environment, ctx.snapshot, kind=RunKind.SOLUTION,
                  request=request, attempt=attempt)
        for attempt in range(runs)
    ]
    return score(ctx.task, solution, test_runs, kept=kept)


def resolve_rate(verdicts: Collection[SolutionVerdict]) -> float:
    return sum(v.resolved for v in verdicts) / len(verdicts) if verdicts else 0.0

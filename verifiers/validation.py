"""Where a candidate is validated: is it a bug that some tests catch, the same way every time?

``validate_one`` takes one candidate through hygiene (a bug may not touch tests), a hot screen
on the tests that run a changed line, the full suite, and the tests it broke run again alone;
what survives becomes a Task with its FAIL_TO_PASS / PASS_TO_PASS (``grading``) and its cost
(``accounting``). ``Measured`` is what the clean repository did, which every verdict compares
with. The Ray side (batches, warm backends per worker) is ``pipelines.stages``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from synth.envs.backend import Backend, BackendConfig, RunRequest
from synth.patches import PatchError, apply_file_diff, read_patch
from synth.records import (
    LISTED_ORDER,
    Candidate,
    CoverageMap,
    Environment,
    Rejection,
    RunKind,
    Snapshot,
    Strategy,
    Task,
    TaskStats,
    TestRun,
    content_hash,
)
from synth.statement import render_statement
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
from synth.verifiers.runner import run_suite
from synth.verifiers.screening import (
    changed_defaults,
    changed_lines,
    covering_hits,
    screen_order,
    screenable,
    touches_tests,
)

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
class Validated:
    candidate: Candidate
    runs: tuple[TestRun, ...]
    task: Task | None = None
    stats: TaskStats | None = None  # what the task cost and how hard it looks


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

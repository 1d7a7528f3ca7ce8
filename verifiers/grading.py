"""Grading: status maps in, verdicts out. No files, no processes.

A test absent from a report counts as failed: a bug that crashes collection of a module makes its
tests vanish, and treating the missing ones as passing would silently grade them PASS_TO_PASS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from synth.records import Rejection, RunOutcome, TestRun, TestStatus
from verifiers.report import FAILING

StatusMap = Mapping[str, TestStatus]


@dataclass(frozen=True)
class Baseline:
    """What the clean repository does: tests that pass every time, and the ones that don't agree."""

    passing: frozenset[str]
    failing: frozenset[str]
    flaky: frozenset[str]

    @property
    def usable(self) -> bool:
        return bool(self.passing)


@dataclass(frozen=True)
class Verdict:
    fail_to_pass: tuple[str, ...]
    pass_to_pass: tuple[str, ...]
    rejection: Rejection | None


def status_of(statuses: StatusMap, test_id: str) -> TestStatus:
    return statuses.get(test_id, TestStatus.MISSING)


def passed(status: TestStatus) -> bool:
    # A skipped or xfailed test is not evidence of anything: it neither passes nor fails.
    return status is TestStatus.PASSED


def baseline_of(runs: Sequence[TestRun]) -> Baseline:
    ok = [r for r in runs if r.outcome is RunOutcome.OK]
    if not ok:
        return Baseline(frozenset(), frozenset(), frozenset())
    maps = [r.status_map() for r in ok]
    every = set().union(*maps)
    passing, failing, flaky = set(), set(), set()
    for test in every:
        seen = {passed(status_of(m, test)) for m in maps}
        if seen == {True}:
            passing.add(test)
        elif seen == {False}:
            failing.add(test)
        else:
            flaky.add(test)
    return Baseline(frozenset(passing), frozenset(failing), frozenset(flaky))


_OUTCOME_REJECTION = {
    RunOutcome.PATCH_FAILED: Rejection.PATCH_FAILED,
    RunOutcome.TIMEOUT: Rejection.TIMEOUT,
    RunOutcome.OOM: Rejection.OOM,
    RunOutcome.CRASHED: Rejection.CRASHED,
}


def grade(baseline: Baseline, bug_runs: Sequence[TestRun]) -> Verdict:
    """FAIL_TO_PASS: passes clean, fails in every bug run. PASS_TO_PASS: passes in all of them."""
    for run in bug_runs:
        if run.outcome is not RunOutcome.OK:
            return Verdict((), (), _OUTCOME_REJECTION[run.outcome])
    if not bug_runs:
        raise ValueError("grading needs at least one bug run")
    maps = [r.status_map() for r in bug_runs]
    f2p, p2p, unstable = [], [], []
    for test in sorted(baseline.passing):
        fails = [status_of(m, test) in FAILING or not passed(status_of(m, test)) for m in maps]
        if all(fails):
            f2p.append(test)
        elif not any(fails):
            p2p.append(test)
        else:
            unstable.append(test)
    if not f2p:
        return Verdict((), tuple(p2p), Rejection.FLAKY if unstable else Rejection.NO_TEST_FAILED)
    return Verdict(tuple(f2p), tuple(p2p), None)


def first_run_broke_something(baseline: Baseline, run: TestRun) -> bool:
    """Cheap screen before confirming runs: did any baseline-passing test stop passing?"""
    if run.outcome is not RunOutcome.OK:
        return True
    statuses = run.status_map()
    return any(not passed(status_of(statuses, t)) for t in baseline.passing)

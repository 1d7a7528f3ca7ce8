"""Grading: status maps in, verdicts out. No files, no processes.

A test absent from a report counts as failed: a bug that crashes collection of a module makes its
tests vanish, and treating the missing ones as passing would silently grade them PASS_TO_PASS
(the regression SWE-smith PR 95 fixed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from synth.records import Rejection, TestResult, TestRun, TestStatus, Verdict
from synth.verifiers.report import PATCH_FAILED_EXIT

StatusMap = Mapping[str, TestStatus]
READ = (Verdict.PASS, Verdict.FAIL)  # verdicts whose per-test results can be trusted


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
class Grade:
    fail_to_pass: tuple[str, ...]
    pass_to_pass: tuple[str, ...]
    rejection: Rejection | None


def status_of(statuses: StatusMap, test_id: str) -> TestStatus:
    return statuses.get(test_id, TestStatus.MISSING)


def passed(status: TestStatus) -> bool:
    # A skipped or xfailed test is not evidence of anything: it neither passes nor fails.
    return status is TestStatus.PASSED


def baseline_of(runs: Sequence[TestRun]) -> Baseline:
    """Every test seen in a trusted clean run; one that ever flips is flaky (quarantined)."""
    ok = [r for r in runs if r.verdict in READ]
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


def rejection_for(run: TestRun) -> Rejection | None:
    """Why a run whose verdict is not PASS/FAIL voids its candidate; None for a readable run."""
    if run.verdict in READ:
        return None
    if run.verdict is Verdict.ERROR:
        return Rejection.PATCH_FAILED if run.exit_code == PATCH_FAILED_EXIT else Rejection.ERROR
    return {
        Verdict.TIMEOUT: Rejection.TIMEOUT,
        Verdict.OOM: Rejection.OOM,
        Verdict.INFRA: Rejection.INFRA,
    }[run.verdict]


def grade(baseline: Baseline, bug_runs: Sequence[TestRun]) -> Grade:
    """FAIL_TO_PASS: passes clean, fails in every bug run. PASS_TO_PASS: passes in all of them.

    A run that selected some tests (``selected`` set: the tests the full run broke, again
    alone) speaks only for the tests it reports or was asked for; the first run is the full
    suite and speaks for every test."""
    if not bug_runs:
        raise ValueError("grading needs at least one bug run")
    for run in bug_runs:
        if (rejection := rejection_for(run)) is not None:
            return Grade((), (), rejection)
    full = bug_runs[0].status_map()
    # The tests a selecting run was asked for: every test the full run broke (as validation
    # selects them), whether or not the run then reports them.
    asked = broken_tests(baseline, bug_runs[0])
    maps = [(r.status_map(), r.selected is None) for r in bug_runs[1:]]
    f2p, p2p, unstable = [], [], []
    for test in sorted(baseline.passing):
        fails = [not passed(status_of(full, test))] + [
            not passed(status_of(m, test)) for m, whole in maps if whole or test in asked]
        if all(fails):
            f2p.append(test)
        elif not any(fails):
            p2p.append(test)
        else:
            unstable.append(test)
    if not f2p:
        return Grade((), tuple(p2p), Rejection.FLAKY if unstable else Rejection.NO_TEST_FAILED)
    return Grade(tuple(f2p), tuple(p2p), None)


def broken_tests(baseline: Baseline, run: TestRun) -> set[str]:
    """The baseline-passing tests ``run`` did not see pass."""
    statuses = run.status_map()
    return {t for t in baseline.passing if not passed(status_of(statuses, t))}


def broke_any(baseline: Baseline, run: TestRun, tests: Iterable[str] | None = None) -> bool:
    """Did any (of ``tests``) baseline-passing test stop passing in ``run``?"""
    statuses = run.status_map()
    pool = baseline.passing if tests is None else baseline.passing & set(tests)
    return any(not passed(status_of(statuses, t)) for t in pool)


def failing_results(run: TestRun, fail_to_pass: Iterable[str]) -> list[TestResult]:
    """What ``run`` says of each FAIL_TO_PASS test, in the report's order: what a problem
    statement quotes. A test the report never names (its module could not be collected: a bug
    that breaks an import) is quoted as missing, with its module's collection error."""
    wanted = set(fail_to_pass)
    found = [r for r in run.results if r.test_id in wanted]
    if found:
        return found
    by_id = {r.test_id: r for r in run.results}
    out = []
    for test in sorted(wanted):
        module = by_id.get(test.split("::", 1)[0])
        out.append(TestResult(test_id=test, status=TestStatus.MISSING,
                              message=module.message if module else "not in the test report"))
    return out

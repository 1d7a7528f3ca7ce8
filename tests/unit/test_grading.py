"""Grading invariants: FAIL_TO_PASS and PASS_TO_PASS come only from tests the clean repository
passes every time, and a bug counts only if it fails the same tests in every run."""

from __future__ import annotations

import pytest

from synth import records
from synth.records import Rejection, RunKind, RunOutcome
from verifiers.grading import Baseline, Verdict, baseline_of, first_run_broke_something, grade

S = records.TestStatus


def _run(statuses: dict[str, str], *, kind: RunKind = RunKind.BUG, attempt: int = 0,
         outcome: RunOutcome = RunOutcome.OK) -> records.TestRun:
    results = tuple(records.TestResult(test_id=t, status=S(s)) for t, s in statuses.items())
    failing = any(r.status in (S.FAILED, S.ERROR) for r in results)
    return records.TestRun(
        run_id=f"{kind.value}-{attempt}", env_id="env", kind=kind, patch_hash="", attempt=attempt,
        outcome=outcome, exit_code=int(failing), duration_s=1.0, results=results,
    )


def _baseline(*runs: dict[str, str]) -> Baseline:
    return baseline_of([_run(r, kind=RunKind.BASELINE, attempt=i) for i, r in enumerate(runs)])


CLEAN = {"t::a": "passed", "t::b": "passed", "t::c": "passed"}


def test_baseline_splits_tests_into_passing_failing_and_flaky() -> None:
    base = _baseline(
        {"t::a": "passed", "t::b": "failed", "t::c": "passed", "t::d": "skipped"},
        {"t::a": "passed", "t::b": "failed", "t::c": "failed", "t::d": "skipped"},
    )
    assert base.passing == {"t::a"}
    assert base.failing == {"t::b", "t::d"}
    assert base.flaky == {"t::c"}
    assert base.usable


def test_a_test_absent_from_one_baseline_run_is_flaky() -> None:
    base = _baseline({"t::a": "passed", "t::b": "passed"}, {"t::a": "passed"})
    assert base.passing == {"t::a"}
    assert base.flaky == {"t::b"}


def test_baseline_ignores_runs_that_did_not_end_ok() -> None:
    crashed = _run({"t::a": "failed"}, kind=RunKind.BASELINE, outcome=RunOutcome.CRASHED)
    ok = _run({"t::a": "passed"}, kind=RunKind.BASELINE, attempt=1)
    assert baseline_of([crashed, ok]).passing == {"t::a"}


def test_a_baseline_without_an_ok_run_is_unusable() -> None:
    timed_out = _run({"t::a": "passed"}, kind=RunKind.BASELINE, outcome=RunOutcome.TIMEOUT)
    base = baseline_of([timed_out])
    assert base == Baseline(frozenset(), frozenset(), frozenset())
    assert not base.usable


@pytest.mark.parametrize("status", ["skipped", "xfailed", "xpassed"])
def test_skipped_or_expected_failures_at_baseline_are_not_passing(status: str) -> None:
    """A test that never ran at baseline proves nothing: it may not become FAIL_TO_PASS."""
    base = _baseline({"t::a": "passed", "t::s": status}, {"t::a": "passed", "t::s": status})
    assert "t::s" not in base.passing
    verdict = grade(base, [_run({"t::a": "failed", "t::s": "failed"})] * 2)
    assert verdict.fail_to_pass == ("t::a",)


def test_a_flaky_baseline_test_is_in_neither_list() -> None:
    base = _baseline({"t::a": "passed", "t::f": "passed"}, {"t::a": "passed", "t::f": "failed"})
    for bug in ({"t::a": "failed", "t::f": "failed"}, {"t::a": "failed", "t::f": "passed"}):
        verdict = grade(base, [_run(bug), _run(bug, attempt=1)])
        assert verdict.fail_to_pass == ("t::a",)
        assert "t::f" not in verdict.pass_to_pass


def test_a_baseline_failing_test_is_in_neither_list() -> None:
    base = _baseline({"t::a": "passed", "t::x": "failed"}, {"t::a": "passed", "t::x": "failed"})
    for x in ("failed", "passed"):
        verdict = grade(base, [_run({"t::a": "failed", "t::x": x})] * 2)
        assert verdict.fail_to_pass == ("t::a",)
        assert verdict.pass_to_pass == ()


def test_a_test_missing_from_the_bug_runs_counts_as_failed() -> None:
    """Regression (SWE-smith PR 95): a bug that breaks collection of a module makes its tests
    vanish from the report; reading absent as passing graded them PASS_TO_PASS."""
    base = _baseline(CLEAN, CLEAN)
    bug = {"t::a": "passed", "t::b": "failed"}  # t::c is gone
    verdict = grade(base, [_run(bug), _run(bug, attempt=1)])
    assert verdict.fail_to_pass == ("t::b", "t::c")
    assert verdict.pass_to_pass == ("t::a",)
    assert verdict.rejection is None


def test_fail_to_pass_requires_failing_in_every_bug_run() -> None:
    base = _baseline(CLEAN, CLEAN)
    first = {"t::a": "failed", "t::b": "failed", "t::c": "passed"}
    second = {"t::a": "failed", "t::b": "passed", "t::c": "passed"}
    verdict = grade(base, [_run(first), _run(second, attempt=1)])
    assert verdict.fail_to_pass == ("t::a",)
    assert verdict.pass_to_pass == ("t::c",)  # t::b disagreed: in neither list
    assert verdict.rejection is None


def test_a_bug_whose_only_failure_did_not_repeat_is_rejected_as_flaky() -> None:
    base = _baseline(CLEAN, CLEAN)
    first = {"t::a": "failed", "t::b": "passed", "t::c": "passed"}
    verdict = grade(base, [_run(first), _run(CLEAN, attempt=1)])
    assert verdict.rejection is Rejection.FLAKY
    assert verdict.fail_to_pass == ()


def test_a_bug_that_breaks_nothing_is_rejected() -> None:
    base = _baseline(CLEAN, CLEAN)
    verdict = grade(base, [_run(CLEAN), _run(CLEAN, attempt=1)])
    assert verdict.rejection is Rejection.NO_TEST_FAILED
    assert verdict.fail_to_pass == ()
    assert verdict.pass_to_pass == ("t::a", "t::b", "t::c")


@pytest.mark.parametrize(("outcome", "rejection"), [
    (RunOutcome.PATCH_FAILED, Rejection.PATCH_FAILED),
    (RunOutcome.TIMEOUT, Rejection.TIMEOUT),
    (RunOutcome.OOM, Rejection.OOM),
    (RunOutcome.CRASHED, Rejection.CRASHED),
])
def test_a_bug_run_that_did_not_end_ok_rejects_the_candidate(outcome: RunOutcome,
                                                             rejection: Rejection) -> None:
    base = _baseline(CLEAN, CLEAN)
    broken = {"t::a": "failed", "t::b": "passed", "t::c": "passed"}
    runs = [_run(broken), _run({}, attempt=1, outcome=outcome)]
    verdict = grade(base, runs)
    assert verdict == Verdict((), (), rejection)


def test_grading_without_bug_runs_is_a_usage_error() -> None:
    with pytest.raises(ValueError, match="at least one bug run"):
        grade(_baseline(CLEAN, CLEAN), [])


def test_lists_are_sorted_disjoint_and_drawn_from_baseline_passing() -> None:
    names = [f"t::{c}" for c in "qzbmaxkc"]
    base = _baseline({n: "passed" for n in names}, {n: "passed" for n in names})
    bug = {n: ("failed" if i % 2 else "passed") for i, n in enumerate(names)}
    bug["t::new"] = "failed"  # not in the baseline: can be neither
    verdict = grade(base, [_run(bug), _run(bug, attempt=1)])
    assert list(verdict.fail_to_pass) == sorted(verdict.fail_to_pass)
    assert list(verdict.pass_to_pass) == sorted(verdict.pass_to_pass)
    assert not set(verdict.fail_to_pass) & set(verdict.pass_to_pass)
    assert set(verdict.fail_to_pass) | set(verdict.pass_to_pass) == base.passing


def test_first_run_screen_flags_a_broken_or_vanished_baseline_test() -> None:
    base = _baseline(CLEAN, CLEAN)
    assert not first_run_broke_something(base, _run({**CLEAN, "t::new": "failed"}))
    assert first_run_broke_something(base, _run({**CLEAN, "t::b": "failed"}))
    assert first_run_broke_something(base, _run({**CLEAN, "t::c": "skipped"}))
    assert first_run_broke_something(base, _run({"t::a": "passed", "t::b": "passed"}))


@pytest.mark.parametrize("outcome", [RunOutcome.CRASHED, RunOutcome.TIMEOUT, RunOutcome.OOM,
                                     RunOutcome.PATCH_FAILED])
def test_first_run_screen_sends_a_run_that_did_not_end_ok_on_to_grading(
    outcome: RunOutcome,
) -> None:
    """A crashed first run must reach grade(), which records why the candidate was rejected."""
    assert first_run_broke_something(_baseline(CLEAN, CLEAN), _run(CLEAN, outcome=outcome))

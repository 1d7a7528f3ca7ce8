"""Grading invariants: FAIL_TO_PASS and PASS_TO_PASS come only from tests the clean repository
passes every time, a bug counts only if it fails the same tests in every run, and only runs whose
report could be read (PASS or FAIL) are ever graded."""

from __future__ import annotations

from functools import partial

import pytest

from synth import records
from synth.records import Rejection, RunKind, Verdict
from synth.verifiers.grading import Baseline, Grade, baseline_of, broke_any, grade, rejection_for
from synth.verifiers.report import PATCH_FAILED_EXIT
from tests.factories import make_result, make_run

S = records.TestStatus
UNREAD = [Verdict.ERROR, Verdict.TIMEOUT, Verdict.OOM, Verdict.INFRA]


# A bug run as read_report would leave it, unless told otherwise.
_run = partial(make_run, kind=RunKind.BUG)


def _baseline(*runs: dict[str, str]) -> Baseline:
    return baseline_of([make_run(r, attempt=i) for i, r in enumerate(runs)])


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


@pytest.mark.parametrize("verdict", UNREAD)
def test_baseline_counts_only_pass_and_fail_runs(verdict: Verdict) -> None:
    """An untrusted run's results (a forged report, a partial one) must not shape the baseline."""
    untrusted = make_run({"t::a": "failed", "t::b": "passed"}, verdict=verdict)
    passing = make_run({"t::a": "passed"}, attempt=1)
    failing = make_run({"t::a": "passed", "t::x": "failed"}, attempt=2)
    assert failing.verdict is Verdict.FAIL
    base = baseline_of([untrusted, passing, failing])
    assert base.passing == {"t::a"}  # the untrusted run's failure would have made it flaky
    assert base.failing == {"t::x"}  # the FAIL run counts
    assert "t::b" not in base.passing | base.failing | base.flaky


@pytest.mark.parametrize("verdict", UNREAD)
def test_a_baseline_without_a_readable_run_is_unusable(verdict: Verdict) -> None:
    base = baseline_of([make_run({"t::a": "passed"}, verdict=verdict)])
    assert base == Baseline(frozenset(), frozenset(), frozenset())
    assert not base.usable


@pytest.mark.parametrize("status", ["skipped", "xfailed", "xpassed"])
def test_skipped_or_expected_failures_at_baseline_are_not_passing(status: str) -> None:
    """A test that never ran at baseline proves nothing: it may not become FAIL_TO_PASS."""
    base = _baseline({"t::a": "passed", "t::s": status}, {"t::a": "passed", "t::s": status})
    assert "t::s" not in base.passing
    graded = grade(base, [_run({"t::a": "failed", "t::s": "failed"})] * 2)
    assert graded.fail_to_pass == ("t::a",)


def test_a_flaky_baseline_test_is_in_neither_list() -> None:
    base = _baseline({"t::a": "passed", "t::f": "passed"}, {"t::a": "passed", "t::f": "failed"})
    for bug in ({"t::a": "failed", "t::f": "failed"}, {"t::a": "failed", "t::f": "passed"}):
        graded = grade(base, [_run(bug), _run(bug, attempt=1)])
        assert graded.fail_to_pass == ("t::a",)
        assert "t::f" not in graded.pass_to_pass


def test_a_baseline_failing_test_is_in_neither_list() -> None:
    base = _baseline({"t::a": "passed", "t::x": "failed"}, {"t::a": "passed", "t::x": "failed"})
    for x in ("failed", "passed"):
        graded = grade(base, [_run({"t::a": "failed", "t::x": x})] * 2)
        assert graded.fail_to_pass == ("t::a",)
        assert graded.pass_to_pass == ()


def test_a_test_missing_from_the_bug_runs_counts_as_failed() -> None:
    """Regression (SWE-smith PR 95): a bug that breaks collection of a module makes its tests
    vanish from the report; reading absent as passing graded them PASS_TO_PASS."""
    base = _baseline(CLEAN, CLEAN)
    bug = {"t::a": "passed", "t::b": "failed"}  # t::c is gone
    graded = grade(base, [_run(bug), _run(bug, attempt=1)])
    assert graded.fail_to_pass == ("t::b", "t::c")
    assert graded.pass_to_pass == ("t::a",)
    assert graded.rejection is None


@pytest.mark.parametrize("status", ["skipped", "xfailed", "xpassed", "missing"])
def test_a_baseline_passing_test_that_stops_passing_is_fail_to_pass(status: str) -> None:
    """Only PASSED keeps a test in PASS_TO_PASS: a bug that makes it skip has still changed it."""
    base = _baseline(CLEAN, CLEAN)
    bug = {**CLEAN, "t::a": status}
    assert grade(base, [_run(bug), _run(bug, attempt=1)]).fail_to_pass == ("t::a",)


def test_fail_to_pass_requires_failing_in_every_bug_run() -> None:
    base = _baseline(CLEAN, CLEAN)
    first = {"t::a": "failed", "t::b": "failed", "t::c": "passed"}
    second = {"t::a": "failed", "t::b": "passed", "t::c": "passed"}
    graded = grade(base, [_run(first), _run(second, attempt=1)])
    assert graded.fail_to_pass == ("t::a",)
    assert graded.pass_to_pass == ("t::c",)  # t::b disagreed: in neither list
    assert graded.rejection is None


def test_a_bug_whose_only_failure_did_not_repeat_is_rejected_as_flaky() -> None:
    base = _baseline(CLEAN, CLEAN)
    first = {"t::a": "failed", "t::b": "passed", "t::c": "passed"}
    graded = grade(base, [_run(first), _run(CLEAN, attempt=1)])
    assert graded.rejection is Rejection.FLAKY
    assert graded.fail_to_pass == ()


def test_a_bug_that_breaks_nothing_is_rejected() -> None:
    base = _baseline(CLEAN, CLEAN)
    graded = grade(base, [_run(CLEAN), _run(CLEAN, attempt=1)])
    assert graded.rejection is Rejection.NO_TEST_FAILED
    assert graded.fail_to_pass == ()
    assert graded.pass_to_pass == ("t::a", "t::b", "t::c")


@pytest.mark.parametrize(("verdict", "exit_code", "rejection"), [
    (Verdict.ERROR, PATCH_FAILED_EXIT, Rejection.PATCH_FAILED),
    (Verdict.ERROR, 2, Rejection.ERROR),
    (Verdict.ERROR, 4, Rejection.ERROR),
    (Verdict.ERROR, 5, Rejection.ERROR),
    (Verdict.TIMEOUT, -9, Rejection.TIMEOUT),
    (Verdict.OOM, 137, Rejection.OOM),
    (Verdict.INFRA, 0, Rejection.INFRA),
    (Verdict.INFRA, PATCH_FAILED_EXIT, Rejection.INFRA),
])
def test_a_run_that_could_not_be_read_names_why_its_candidate_is_rejected(
    verdict: Verdict, exit_code: int, rejection: Rejection
) -> None:
    """Only an ERROR exiting with the runner's own code means the patch did not apply."""
    assert rejection_for(_run({}, verdict=verdict, exit_code=exit_code)) is rejection


@pytest.mark.parametrize("bug", [CLEAN, {"t::a": "failed"}])
def test_a_readable_run_carries_no_rejection(bug: dict[str, str]) -> None:
    run = _run(bug)
    assert run.verdict in (Verdict.PASS, Verdict.FAIL)
    assert rejection_for(run) is None


def test_every_unreadable_verdict_has_a_rejection() -> None:
    for verdict in UNREAD:
        assert rejection_for(_run({}, verdict=verdict, exit_code=3)) is not None


@pytest.mark.parametrize(("verdict", "exit_code", "rejection"), [
    (Verdict.ERROR, PATCH_FAILED_EXIT, Rejection.PATCH_FAILED),
    (Verdict.ERROR, 2, Rejection.ERROR),
    (Verdict.TIMEOUT, -9, Rejection.TIMEOUT),
    (Verdict.OOM, 137, Rejection.OOM),
    (Verdict.INFRA, 1, Rejection.INFRA),
])
def test_a_bug_run_that_could_not_be_read_rejects_the_candidate(
    verdict: Verdict, exit_code: int, rejection: Rejection
) -> None:
    """Even when the other run shows a clean FAIL_TO_PASS, and even when the unreadable run's
    own results look fine: an INFRA report's results are not evidence."""
    base = _baseline(CLEAN, CLEAN)
    broken = {"t::a": "failed", "t::b": "passed", "t::c": "passed"}
    unreadable = _run(broken, attempt=1, verdict=verdict, exit_code=exit_code)
    for runs in ([_run(broken), unreadable], [unreadable, _run(broken)]):
        assert grade(base, runs) == Grade((), (), rejection)


def test_grading_without_bug_runs_is_a_usage_error() -> None:
    with pytest.raises(ValueError, match="at least one bug run"):
        grade(_baseline(CLEAN, CLEAN), [])


def test_lists_are_sorted_disjoint_and_drawn_from_baseline_passing() -> None:
    names = [f"t::{c}" for c in "qzbmaxkc"]
    base = _baseline({n: "passed" for n in names}, {n: "passed" for n in names})
    bug = {n: ("failed" if i % 2 else "passed") for i, n in enumerate(names)}
    bug["t::new"] = "failed"  # not in the baseline: can be neither
    graded = grade(base, [_run(bug), _run(bug, attempt=1)])
    assert list(graded.fail_to_pass) == sorted(graded.fail_to_pass)
    assert list(graded.pass_to_pass) == sorted(graded.pass_to_pass)
    assert not set(graded.fail_to_pass) & set(graded.pass_to_pass)
    assert set(graded.fail_to_pass) | set(graded.pass_to_pass) == base.passing


def test_broke_any_flags_a_broken_skipped_or_vanished_baseline_test() -> None:
    base = _baseline(CLEAN, CLEAN)
    assert not broke_any(base, _run(CLEAN))
    assert not broke_any(base, _run({**CLEAN, "t::new": "failed"}))
    assert broke_any(base, _run({**CLEAN, "t::b": "failed"}))
    assert broke_any(base, _run({**CLEAN, "t::c": "skipped"}))
    assert broke_any(base, _run({"t::a": "passed", "t::b": "passed"}))


def test_broke_any_ignores_tests_the_baseline_does_not_pass() -> None:
    base = _baseline({**CLEAN, "t::f": "passed", "t::x": "failed"},
                     {**CLEAN, "t::f": "failed", "t::x": "failed"})
    assert not broke_any(base, _run({**CLEAN, "t::f": "failed", "t::x": "failed"}))


def test_broke_any_on_a_subset_looks_only_at_those_tests() -> None:
    """A screen runs only the tests covering the patch: every other test is absent from its
    report, and absence there must not read as broken."""
    base = _baseline(CLEAN, CLEAN)
    screen = _run({"t::a": "passed"})  # t::b and t::c were not selected
    assert not broke_any(base, screen, ["t::a"])
    assert broke_any(base, screen)  # over the whole suite, the unselected tests are missing
    assert broke_any(base, _run({"t::a": "failed"}), ["t::a"])
    assert not broke_any(base, _run({"t::a": "passed", "t::b": "failed"}), ["t::a"])
    assert broke_any(base, screen, ["t::a", "t::b"])  # selected t::b vanished: broken


def test_broke_any_on_a_subset_ignores_tests_outside_the_baseline_passing_set() -> None:
    base = _baseline({**CLEAN, "t::x": "failed"}, {**CLEAN, "t::x": "failed"})
    run = _run({"t::a": "passed", "t::x": "failed", "t::new": "failed"})
    assert not broke_any(base, run, ["t::a", "t::x", "t::new"])
    assert not broke_any(base, run, [])
    assert not broke_any(base, run, iter(["t::a"]))  # any iterable of ids, consumed once


def test_a_screen_gets_the_suite_time_plus_ten_times_its_tests_and_a_floor() -> None:
    from synth.verifiers.validation import (
        SCREEN_CPU_FLOOR_S,
        SCREEN_TIMEOUT_FLOOR_S,
        Measured,
        screen_cpu_budget,
        screen_timeout,
    )

    def run(attempt: int, total: float, fast: float, slow: float) -> records.TestRun:
        results = (records.TestResult(test_id="t::fast", status=S.PASSED, duration_s=fast),
                   records.TestResult(test_id="t::slow", status=S.PASSED, duration_s=slow))
        return records.TestRun(run_id=f"b{attempt}", env_id="env", kind=RunKind.BASELINE,
                               patch_hash="", attempt=attempt, verdict=Verdict.PASS, exit_code=0,
                               duration_s=total, results=results)

    runs = (run(0, 3.0, 0.01, 1.0), run(1, 4.0, 0.02, 1.5), run(2, 3.5, 0.01, 1.2))
    measured = Measured(runs, runs[0], None)  # type: ignore[arg-type]
    # The slowest whole run (4.0 s) and the covering tests, each at its slowest, times ten.
    assert screen_timeout(measured, ["t::fast"]) == pytest.approx(SCREEN_TIMEOUT_FLOOR_S + 4.2)
    assert screen_timeout(measured, ["t::fast", "t::slow"]) == pytest.approx(
        SCREEN_TIMEOUT_FLOOR_S + 4.0 + 15.2)
    # The CPU budget of a hot screen leaves the suite out: its fork collected nothing.
    assert screen_cpu_budget(measured, ["t::fast"]) == pytest.approx(SCREEN_CPU_FLOOR_S + 0.2)
    assert screen_cpu_budget(measured, ["t::slow"]) == pytest.approx(SCREEN_CPU_FLOOR_S + 15.0)
    assert screen_cpu_budget(measured, []) == pytest.approx(SCREEN_CPU_FLOOR_S)


def test_a_bug_that_breaks_collection_still_quotes_its_failing_tests() -> None:
    """Regression (six, a single root module): the bug broke `import six`, so the report named
    only the module's collection error; the statement had no failing test to quote and the
    whole batch crashed ("render_statement needs at least one failing test")."""
    from synth.statement import render_statement
    from synth.verifiers.grading import failing_results

    error = make_result("test_six.py", S.ERROR,
                        message="could not be collected: TypeError: object.__init__()")
    broken = _run({}, verdict=Verdict.FAIL).model_copy(update={"results": (error,)})
    failing = failing_results(broken, ["test_six.py::test_b", "test_six.py::test_a"])
    assert [(r.test_id, r.status) for r in failing] == [
        ("test_six.py::test_a", S.MISSING), ("test_six.py::test_b", S.MISSING)]
    assert "TypeError" in failing[0].message
    assert render_statement("six", failing, "--- a/six.py\n+++ b/six.py\n@@ -1 +1 @@\n-a\n+b\n")


def _confirm(statuses: dict[str, str], asked: int) -> records.TestRun:
    """The tests the full run broke, run again alone (``selected`` set)."""
    return _run(statuses, attempt=1).model_copy(update={"selected": asked})


def test_a_confirming_run_speaks_only_for_the_tests_the_full_run_broke() -> None:
    """Validation re-runs only the broken tests in a fresh process: the PASS_TO_PASS tests it
    does not report are not missing, and a broken test it passes is in neither list."""
    base = _baseline(CLEAN, CLEAN)
    full = {"t::a": "failed", "t::b": "failed", "t::c": "passed"}
    again = {"t::a": "failed", "t::b": "passed"}
    graded = grade(base, [_run(full), _confirm(again, asked=2)])
    assert graded.fail_to_pass == ("t::a",)
    assert graded.pass_to_pass == ("t::c",)
    assert graded.rejection is None


def test_a_broken_test_the_confirming_run_lost_still_fails() -> None:
    """A test the full run broke and the confirming run does not report (its module no longer
    collects) counts as failed there too."""
    base = _baseline(CLEAN, CLEAN)
    graded = grade(base, [_run({"t::a": "failed", "t::b": "passed", "t::c": "passed"}),
                          _confirm({}, asked=1)])
    assert graded.fail_to_pass == ("t::a",) and graded.pass_to_pass == ("t::b", "t::c")


def test_a_bug_whose_breakage_vanishes_when_run_alone_is_rejected_as_flaky() -> None:
    base = _baseline(CLEAN, CLEAN)
    graded = grade(base, [_run({"t::a": "failed", "t::b": "passed", "t::c": "passed"}),
                          _confirm({"t::a": "passed"}, asked=1)])
    assert graded.rejection is Rejection.FLAKY

"""Scoring a solution's runs: resolved / partial / unresolved / error, per-test results, and the
reward a trainer sees. Pure: TestRun records in, SolutionVerdict out."""

from __future__ import annotations

from functools import partial

from synth.records import Outcome, RunKind, SolutionFlag, TestStatus, Verdict
from synth.verifiers.sanitize import Sanitized
from synth.verifiers.solution import gold_patch, reward, score
from tests.factories import make_run, make_task

BUG = """\
diff --git a/pkg/core.py b/pkg/core.py
--- a/pkg/core.py
+++ b/pkg/core.py
@@ -1,2 +1,2 @@
 def f(x):
-    return x + 1
+    return x - 1
"""
TASK = make_task(patch=BUG, FAIL_TO_PASS=("t::a", "t::b"), PASS_TO_PASS=("t::c",))
P, F = TestStatus.PASSED, TestStatus.FAILED
# A run of a solution's tests, read as read_report reads its report unless told otherwise.
run = partial(make_run, kind=RunKind.SOLUTION, patch_hash="h")


def test_all_pass_is_resolved_and_earns_one() -> None:
    v = score(TASK, "fix", [run({"t::a": P, "t::b": P, "t::c": P})])
    assert v.outcome is Outcome.RESOLVED and v.resolved and reward(v) == 1.0
    assert (v.fail_to_pass_passed, v.pass_to_pass_passed) == (2, 1)
    assert [t.test_id for t in v.tests] == ["t::a", "t::b", "t::c"]


def test_some_fail_to_pass_fixed_is_partial_with_credit_only_on_request() -> None:
    v = score(TASK, "fix", [run({"t::a": P, "t::b": F, "t::c": P})])
    assert v.outcome is Outcome.PARTIAL
    assert reward(v) == 0.0 and reward(v, partial_credit=True) == 0.5


def test_fixing_everything_but_breaking_a_pass_to_pass_test_is_not_resolved() -> None:
    v = score(TASK, "fix", [run({"t::a": P, "t::b": P, "t::c": F})])
    assert v.outcome is Outcome.PARTIAL and reward(v, partial_credit=True) == 0.0


def test_nothing_fixed_is_unresolved() -> None:
    assert score(TASK, "", [run({"t::a": F, "t::b": F, "t::c": P})]).outcome is Outcome.UNRESOLVED


def test_a_test_missing_from_the_report_or_skipped_is_not_a_pass() -> None:
    skipped = score(TASK, "x", [run({"t::a": TestStatus.SKIPPED, "t::b": TestStatus.SKIPPED,
                                     "t::c": P})])
    missing = score(TASK, "x", [run({"t::c": P})])
    assert skipped.outcome is missing.outcome is Outcome.UNRESOLVED


def test_a_test_must_pass_in_every_run() -> None:
    runs = [run({"t::a": P, "t::b": P, "t::c": P}),
            run({"t::a": P, "t::b": F, "t::c": P}, attempt=1)]
    v = score(TASK, "fix", runs)
    assert v.outcome is Outcome.PARTIAL and v.runs == 2


def test_an_untrusted_run_is_an_error_whatever_its_results_say() -> None:
    forged = run({"t::a": P, "t::b": P, "t::c": P}, verdict=Verdict.INFRA, reason="forged")
    failed_apply = run(verdict=Verdict.ERROR, reason="the patch did not apply")
    for r in (forged, failed_apply):
        v = score(TASK, "fix", [r])
        assert v.outcome is Outcome.ERROR and reward(v, partial_credit=True) == 0.0
        assert r.reason in v.reason


def test_flags_and_dropped_files_are_carried_and_do_not_change_the_outcome() -> None:
    kept = Sanitized("fix", ("tests/test_core.py",), (SolutionFlag.EDITS_TESTS,))
    v = score(TASK, "fix+tests", [run({"t::a": P, "t::b": P, "t::c": P})], kept=kept)
    assert v.resolved and v.flags == (SolutionFlag.EDITS_TESTS,)
    assert v.dropped == ("tests/test_core.py",)


def test_the_id_is_a_content_hash_of_task_and_patch() -> None:
    a = score(TASK, "fix", [run({"t::a": P, "t::b": P, "t::c": P})])
    b = score(TASK, "fix", [run({"t::a": F, "t::b": P, "t::c": P}, attempt=3)])
    c = score(TASK, "other", [run({"t::a": P, "t::b": P, "t::c": P})])
    assert a.solution_id == b.solution_id != c.solution_id


def test_the_gold_patch_undoes_the_bug() -> None:
    gold = gold_patch(TASK)
    assert "-    return x - 1\n+    return x + 1\n" in gold

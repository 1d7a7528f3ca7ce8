"""A run's verdict is the JSON report and the exit code agreeing; any disagreement is a crash.

Reports are written by hand in the shape ``verifiers/synth_report.py`` writes
(format, exitstatus, collected, finished_at, results[test_id, status, duration_s, message]).
"""

from __future__ import annotations

import json

import pytest

from synth import records
from synth.records import RunOutcome
from verifiers.report import read_report

PASSED, FAILED = records.TestStatus.PASSED, records.TestStatus.FAILED


def _report(exitstatus: int, **statuses: str) -> str:
    results = [
        {"test_id": f"tests/test_m.py::{name}", "status": status, "duration_s": 0.01,
         "message": "AssertionError: assert 1 == 2" if status == "failed" else ""}
        for name, status in statuses.items()
    ]
    return json.dumps({"format": 1, "exitstatus": exitstatus, "collected": len(results),
                       "finished_at": 1700000000.0, "results": results})


# Captured from synth_report under pytest 8: one non-strict xfail test that passed, one passing
# test. pytest exits 0 here: a non-strict XPASS is not a failure.
XPASS_NON_STRICT = (
    '{"format": 1, "exitstatus": 0, "collected": 2, "finished_at": 1795942652.393419, '
    '"results": [{"test_id": "test_x.py::test_xp", "status": "xpassed", '
    '"duration_s": 0.00018700399994031613, "message": ""}, {"test_id": "test_x.py::test_ok", '
    '"status": "passed", "duration_s": 0.00012069800004610443, "message": ""}]}'
)

# Captured likewise (trimmed to two tests): a strict xfail that passed is a failure, exit 1.
XPASS_STRICT = (
    '{"format": 1, "exitstatus": 1, "collected": 2, "finished_at": 1795942652.0379238, '
    '"results": [{"test_id": "test_x.py::test_xps", "status": "failed", '
    '"duration_s": 0.00012238299984801415, "message": "[XPASS(strict)] r"}, '
    '{"test_id": "test_x.py::test_ok", "status": "passed", '
    '"duration_s": 0.00011952899990319565, "message": ""}]}'
)


def test_all_passed_with_exit_zero_is_ok_and_keeps_every_result() -> None:
    read = read_report(_report(0, test_a="passed", test_b="skipped", test_c="xfailed"),
                       exit_code=0)
    assert read.outcome is RunOutcome.OK
    assert [r.test_id for r in read.results] == [
        "tests/test_m.py::test_a", "tests/test_m.py::test_b", "tests/test_m.py::test_c",
    ]
    assert read.results[0].status is PASSED
    assert read.reason == ""


def test_failures_with_exit_one_is_ok_and_keeps_the_message() -> None:
    read = read_report(_report(1, test_a="passed", test_b="failed", test_c="error"), exit_code=1)
    assert read.outcome is RunOutcome.OK
    assert read.results[1].status is FAILED
    assert read.results[1].message == "AssertionError: assert 1 == 2"
    assert read.results[2].status is records.TestStatus.ERROR


def test_a_report_claiming_success_for_a_failed_process_is_a_crash() -> None:
    """A report is a file the code under test could write: one saying exit 0 while pytest
    exited 1 is forged or stale, and must never grade as a clean pass."""
    read = read_report(_report(0, test_a="passed"), exit_code=1)
    assert read.outcome is RunOutcome.CRASHED
    assert "report says exit 0 but the process exited 1" in read.reason


def test_exit_zero_with_a_failed_test_in_the_report_is_a_crash() -> None:
    read = read_report(_report(0, test_a="passed", test_b="failed"), exit_code=0)
    assert read.outcome is RunOutcome.CRASHED
    assert "exit code 0 with failing tests" in read.reason


def test_exit_one_with_no_failing_test_in_the_report_is_a_crash() -> None:
    read = read_report(_report(1, test_a="passed", test_b="skipped"), exit_code=1)
    assert read.outcome is RunOutcome.CRASHED
    assert "exit code 1 with no failing test" in read.reason


@pytest.mark.parametrize("text", [None, ""])
def test_a_missing_report_is_a_crash_naming_the_exit_code(text: str | None) -> None:
    read = read_report(text, exit_code=3)
    assert read.outcome is RunOutcome.CRASHED
    assert read.results == ()
    assert "exit code 3" in read.reason


@pytest.mark.parametrize("text", [
    "{not json",
    "null",
    "[]",
    '{"exitstatus": 0}',
    '{"results": []}',
    '{"exitstatus": "zero", "results": []}',
    '{"exitstatus": 0, "results": [{"test_id": "t", "status": "exploded"}]}',
    '{"exitstatus": 0, "results": [{"status": "passed"}]}',
    '{"exitstatus": 0, "results": [{"test_id": "t", "status": "passed", "duration_s": null}]}',
])
def test_an_unreadable_report_is_a_crash_without_results(text: str) -> None:
    read = read_report(text, exit_code=0)
    assert read.outcome is RunOutcome.CRASHED
    assert read.results == ()
    assert read.reason.startswith("unreadable report")


def test_no_tests_collected_is_a_crash_not_a_pass() -> None:
    """pytest exits 5 when it collected nothing: an empty suite must not grade as all-passing."""
    read = read_report(_report(5), exit_code=5)
    assert read.outcome is RunOutcome.CRASHED
    assert read.reason == "pytest exited 5"


@pytest.mark.parametrize("exit_code", [2, 3, 4])
def test_interrupted_internal_and_usage_errors_are_crashes(exit_code: int) -> None:
    read = read_report(_report(exit_code, test_a="passed"), exit_code=exit_code)
    assert read.outcome is RunOutcome.CRASHED


@pytest.mark.parametrize(("flags", "outcome"), [
    ({"patch_failed": True, "oom": True, "timed_out": True}, RunOutcome.PATCH_FAILED),
    ({"oom": True, "timed_out": True}, RunOutcome.OOM),
    ({"timed_out": True}, RunOutcome.TIMEOUT),
])
def test_how_the_process_ended_outranks_any_report(flags: dict[str, bool],
                                                   outcome: RunOutcome) -> None:
    """A killed run may have left a partial or stale report: its results are never kept."""
    read = read_report(_report(0, test_a="passed"), exit_code=0, **flags)
    assert read.outcome is outcome
    assert read.results == ()
    assert read.reason


def test_a_strict_xpass_reported_as_failed_agrees_with_exit_one() -> None:
    read = read_report(XPASS_STRICT, exit_code=1)
    assert read.outcome is RunOutcome.OK
    assert read.results[0].status is FAILED
    assert read.results[0].message == "[XPASS(strict)] r"


def test_a_non_strict_xpass_with_exit_zero_is_ok() -> None:
    """A suite with one unexpectedly passing non-strict xfail exits 0; calling that a crash makes
    every run of the repository CRASHED and its baseline unusable."""
    read = read_report(XPASS_NON_STRICT, exit_code=0)
    assert read.outcome is RunOutcome.OK, read.reason

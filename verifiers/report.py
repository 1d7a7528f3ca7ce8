"""Reading a test run's report: pure, from the report text and the process's exit status.

The per-test verdict comes from the JSON report (``synth_report`` plugin), never from scraping
stdout, and it must agree with pytest's exit code; a disagreement is a crashed run, not a pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from synth.records import RunOutcome, TestResult, TestStatus

# pytest's exit codes (pytest.ExitCode): 0 all passed, 1 some failed, 2 interrupted,
# 3 internal error, 4 usage error, 5 no tests collected.
EXIT_OK, EXIT_TESTS_FAILED = 0, 1
# A non-strict XPASS exits 0 in pytest; a strict one is reported as failed. So XPASSED is not
# a failure here (grading still treats it as "not passed").
FAILING = frozenset({TestStatus.FAILED, TestStatus.ERROR, TestStatus.MISSING})


@dataclass(frozen=True)
class ReadReport:
    outcome: RunOutcome
    results: tuple[TestResult, ...]
    reason: str = ""


def read_report(
    text: str | None,
    *,
    exit_code: int,
    timed_out: bool = False,
    oom: bool = False,
    patch_failed: bool = False,
) -> ReadReport:
    if patch_failed:
        return ReadReport(RunOutcome.PATCH_FAILED, (), "the patch did not apply")
    if oom:
        return ReadReport(RunOutcome.OOM, (), "killed for exceeding the memory limit")
    if timed_out:
        return ReadReport(RunOutcome.TIMEOUT, (), "the suite ran past its time limit")
    if not text:
        return ReadReport(RunOutcome.CRASHED, (), f"no report was written (exit code {exit_code})")
    try:
        payload = json.loads(text)
        results = tuple(
            TestResult(
                test_id=str(r["test_id"]),
                status=TestStatus(r["status"]),
                duration_s=float(r.get("duration_s", 0.0)),
                message=str(r.get("message", "")),
            )
            for r in payload["results"]
        )
        reported_exit = int(payload["exitstatus"])
    except (ValueError, KeyError, TypeError) as exc:
        return ReadReport(RunOutcome.CRASHED, (), f"unreadable report: {exc}")
    if reported_exit != exit_code:
        return ReadReport(
            RunOutcome.CRASHED,
            results,
            f"report says exit {reported_exit} but the process exited {exit_code}",
        )
    failing = any(r.status in FAILING for r in results)
    if exit_code == EXIT_OK and failing:
        return ReadReport(
            RunOutcome.CRASHED, results, "exit code 0 with failing tests in the report"
        )
    if exit_code == EXIT_TESTS_FAILED and not failing:
        return ReadReport(
            RunOutcome.CRASHED, results, "exit code 1 with no failing test in the report"
        )
    if exit_code not in (EXIT_OK, EXIT_TESTS_FAILED):
        return ReadReport(RunOutcome.CRASHED, results, f"pytest exited {exit_code}")
    return ReadReport(RunOutcome.OK, results)

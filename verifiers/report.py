"""Reading a test run's report: pure, from the report text and the facts of the process.

The per-test verdict comes from the JSON report (the ``synth_report`` plugin), never from stdout,
and it must be authentic (carry the run's nonce, which the code under test never sees) and agree
with pytest's exit code and with its own counts. Anything else is INFRA: never a pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from synth.records import CoveredLines, TestResult, TestStatus, Verdict

# pytest's exit codes (pytest.ExitCode): 0 all passed, 1 some failed, 2 interrupted (e.g. a
# collection error), 3 internal error, 4 usage error, 5 no tests collected.
EXIT_OK, EXIT_TESTS_FAILED = 0, 1
PATCH_FAILED_EXIT = 97
# A non-strict XPASS exits 0 in pytest; a strict one is reported as failed. So XPASSED is not
# a failure here (grading still treats it as "not passed").
FAILING = frozenset({TestStatus.FAILED, TestStatus.ERROR, TestStatus.MISSING})


@dataclass(frozen=True)
class ReadReport:
    verdict: Verdict
    results: tuple[TestResult, ...]
    reason: str = ""
    coverage: tuple[CoveredLines, ...] = ()


def read_report(
    text: str | None,
    *,
    exit_code: int,
    nonce: str,
    timed_out: bool = False,
    oom: bool = False,
    patch_failed: bool = False,
) -> ReadReport:
    if patch_failed:
        return ReadReport(Verdict.ERROR, (), "the patch did not apply")
    if oom:
        return ReadReport(Verdict.OOM, (), "killed for exceeding the memory limit")
    if timed_out:
        return ReadReport(Verdict.TIMEOUT, (), "the suite ran past its time limit")
    if not text:
        return ReadReport(Verdict.INFRA, (), f"no report was written (exit code {exit_code})")
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
        # "executed" counts what pytest really ran after every filter (-m, -k, a conftest's own
        # deselection); reports without it predate that count.
        executed = int(payload.get("executed",
                                   int(payload["collected"]) - int(payload.get("deselected", 0))))
        coverage = _coverage(payload.get("coverage") or {})
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return ReadReport(Verdict.INFRA, (), f"unreadable report: {exc}")
    if payload.get("nonce") != nonce:
        return ReadReport(Verdict.INFRA, (), "the report does not carry this run's nonce: forged")
    if reported_exit != exit_code:
        return ReadReport(
            Verdict.INFRA, results,
            f"report says exit {reported_exit} but the process exited {exit_code}",
        )
    if exit_code not in (EXIT_OK, EXIT_TESTS_FAILED):
        return ReadReport(Verdict.ERROR, results, f"pytest exited {exit_code}")
    if len(results) != executed or len({r.test_id for r in results}) != len(results):
        return ReadReport(
            Verdict.INFRA, results,
            f"report lists {len(results)} results for {executed} executed tests",
        )
    failing = any(r.status in FAILING for r in results)
    if exit_code == EXIT_OK and failing:
        return ReadReport(Verdict.INFRA, results, "exit code 0 with failing tests in the report")
    if exit_code == EXIT_TESTS_FAILED and not failing:
        return ReadReport(Verdict.INFRA, results, "exit code 1 with no failing test in the report")
    if payload.get("stopped_early") and not failing:
        return ReadReport(Verdict.INFRA, results, "stopped early with no failing test")
    verdict = Verdict.FAIL if failing else Verdict.PASS
    return ReadReport(verdict, results, "", coverage)


def _coverage(raw: dict) -> tuple[CoveredLines, ...]:
    return tuple(
        CoveredLines(test_id=test, file=file, lines=tuple(sorted(set(lines))))
        for test, files in sorted(raw.items())
        for file, lines in sorted(files.items())
    )

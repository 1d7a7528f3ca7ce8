"""Reading a test run's report: pure, from the report text and the facts of the process.

The per-test verdict comes from the JSON report (the ``synth_report`` plugin), never from stdout,
and it must be authentic (carry the run's nonce, which the code under test never sees) and agree
with pytest's exit code and with its own counts. Anything else is INFRA: never a pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from synth.records import CoveredLines, TestResult, TestStatus, Verdict

_UNCOLLECTED = "could not be collected: "

# pytest's exit codes (pytest.ExitCode): 0 all passed, 1 some failed, 2 interrupted (e.g. a
# collection error), 3 internal error, 4 usage error, 5 no tests collected.
EXIT_OK, EXIT_TESTS_FAILED = 0, 1
PATCH_FAILED_EXIT = 97
# A non-strict XPASS exits 0 in pytest; a strict one is reported as failed. So XPASSED is not
# a failure here (grading still treats it as "not passed").
FAILING = frozenset({TestStatus.FAILED, TestStatus.ERROR, TestStatus.MISSING})


@dataclass(frozen=True)
class Blame:
    """The test a run died in, from the report plugin's progress file: the process ended (a
    signal, the OOM killer, the plugin's own watchdog) before any report was written."""

    test: str
    timed_out: bool  # the watchdog ended it: the test ran past its limit
    limit_s: float = 0.0


def blame(progress: str, nonce: str) -> Blame | None:
    """Who to blame for a run that left no report; None when nothing authentic says."""
    try:
        data = json.loads(progress) if progress else None
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("nonce") != nonce or not data.get("test"):
        return None
    return Blame(str(data["test"]), data.get("state") == "timeout",
                 float(data.get("limit_s") or 0.0))


def signal_name(exit_code: int) -> str:
    """``-13`` or ``141`` (128 + 13) → ``signal 13 (SIGPIPE)``; '' for a plain exit code."""
    import signal

    number = -exit_code if exit_code < 0 else exit_code - 128 if 128 < exit_code < 160 else 0
    if not number:
        return ""
    try:
        return f"signal {number} ({signal.Signals(number).name})"
    except ValueError:
        return f"signal {number}"


def death(exit_code: int, progress: str, nonce: str) -> str:
    """Why a run left no report, for a person: the test it died in, and how."""
    found = blame(progress, nonce)
    how = signal_name(exit_code)
    if found is None:
        return (f"no report was written: pytest was killed by {how}" if how
                else f"no report was written (exit code {exit_code})")
    if found.timed_out:
        return f"{found.test} ran past the {found.limit_s:g} s limit of one test"
    return (f"the test process died during {found.test} "
            f"({'killed by ' + how if how else f'exit code {exit_code}'})")


@dataclass(frozen=True)
class ReadReport:
    verdict: Verdict
    results: tuple[TestResult, ...]
    reason: str = ""
    coverage: tuple[CoveredLines, ...] = ()


def against_witness(read: ReadReport, witness: str | None) -> ReadReport:
    """``read`` judged against the run's witness (None: the run had none, as the factory's own
    runs, or its patch did not apply): an audit finding, an outcome the witness did not see, a
    test told two ways or a witness cut short make the run TAMPERED."""
    if witness is None:
        return read
    seen = witnessed(witness)
    if seen.findings:
        return ReadReport(Verdict.TAMPERED, read.results, "; ".join(seen.findings[:5]))
    if read.verdict in (Verdict.PASS, Verdict.FAIL):
        differ = [r.test_id for r in read.results
                  if not (r.message.startswith(_UNCOLLECTED) and r.test_id not in seen.outcomes)
                  and seen.outcomes.get(r.test_id) != {r.status.value}]
        if differ or not seen.ended:
            why = (f"{len(differ)} outcomes in the report differ from what pytest reported as "
                   f"the tests ran ({', '.join(differ[:3])})" if differ
                   else "the witness pipe was closed before the session ended")
            return ReadReport(Verdict.TAMPERED, read.results, why)
    return read


@dataclass(frozen=True)
class Witnessed:
    outcomes: dict[str, set[str]]  # test id -> the statuses written as it ended (one, honestly)
    findings: list[str]  # what the audit hook saw, for a person
    ended: bool  # the plugin reached the end of the session


def witnessed(text: str) -> Witnessed:
    """The witness stream (JSON lines; a line that does not parse is ignored, so code under
    test that writes garbage there gains nothing and hides nothing)."""
    outcomes: dict[str, set[str]] = {}
    findings: list[str] = []
    ended = False
    for line in text.splitlines():
        try:
            entry = json.loads(line)
            kind = entry["kind"]
        except (ValueError, KeyError, TypeError):
            continue
        if kind == "result" and isinstance(entry.get("test"), str):
            # Every word stands: a test told two ways matches no report.
            outcomes.setdefault(entry["test"], set()).add(str(entry.get("status")))
        elif kind == "audit":
            where = f" at {entry['where']}" if entry.get("where") else ""
            event = str(entry.get("event"))
            verb = {"replaced": "replaced", "object.__setattr__": "wrote",
                    "object.__delattr__": "deleted", "open": "opened"}.get(event, "called")
            findings.append(f"the code under test {verb} {entry.get('what')}{where}")
        elif kind == "end":
            ended = True
    return Witnessed(outcomes, findings, ended)


def read_report(
    text: str | None,
    *,
    exit_code: int,
    nonce: str,
    timed_out: bool = False,
    oom: bool = False,
    patch_failed: bool = False,
    progress: str = "",
) -> ReadReport:
    if patch_failed:
        return ReadReport(Verdict.ERROR, (), "the patch did not apply")
    found = blame(progress, nonce)
    during = f" during {found.test}" if found else ""
    if oom:
        return ReadReport(Verdict.OOM, (), f"killed for exceeding the memory limit{during}")
    if timed_out:
        return ReadReport(Verdict.TIMEOUT, (), f"the suite ran past its time limit{during}")
    if found is not None and found.timed_out and not text:
        # The plugin's watchdog ended the run: one test ran past its own limit.
        return ReadReport(Verdict.TIMEOUT, (), death(exit_code, progress, nonce))
    if not text:
        return ReadReport(Verdict.INFRA, (), death(exit_code, progress, nonce))
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
        # A module that could not be collected: one ERROR result under its path, so its loss
        # is on record and it is never a passing test (--continue-on-collection-errors).
        uncollected = tuple(
            TestResult(test_id=str(e["path"]), status=TestStatus.ERROR,
                       message=f"{_UNCOLLECTED}{e.get('message', '')}"[:500])
            for e in payload.get("collect_errors") or ()
        )
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
    results += tuple(r for r in uncollected if r.test_id not in {t.test_id for t in results})
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

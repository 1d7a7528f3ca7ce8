"""The setup stage's verdict: from the clean suite's runs to "usable", or why not. Pure."""

from __future__ import annotations

import re
from collections.abc import Sequence

from synth.records import SetupVerdict, TestRun, TestStatus, Verdict
from verifiers.grading import Baseline

# pytest's own lines that say nothing about the cause.
_NOISE = re.compile(r"^(=+|_+|!+|-+)|^(Traceback|Hint:|ImportError while importing|\d+ errors?"
                    r" in|ERROR collecting|Interrupted:)")


def first_cause(log: str) -> str:
    """The first line of a pytest log that says what went wrong: an ``E   `` line (the error
    itself), else the last line that is not pytest's framing."""
    lines = [ln.rstrip() for ln in log.splitlines() if ln.strip()]
    for line in lines:
        if line.startswith("E   "):
            return line[4:].strip()[:300]
    meaningful = [ln.strip() for ln in lines if not _NOISE.search(ln.strip())]
    return (meaningful[-1] if meaningful else "")[:300]


def setup_verdict(runs: Sequence[TestRun], baseline: Baseline) -> tuple[SetupVerdict, str]:
    """How the clean suite's runs leave the environment: ok with a summary, or the verdict that
    names the cause and its first meaningful line."""
    if baseline.usable:
        collected = max((len(r.results) for r in runs), default=0)
        return SetupVerdict.OK, f"{len(baseline.passing)} of {collected} tests pass"
    if not runs:
        return SetupVerdict.NO_TESTS, "no baseline run"
    last = runs[-1]
    cause = first_cause(last.log_tail) or last.reason
    uncollected = [r for r in last.results
                   if r.status is TestStatus.ERROR and r.message.startswith("could not be")]
    tests = [r for r in last.results if r not in uncollected]
    if all(r.verdict is Verdict.TIMEOUT for r in runs):
        return SetupVerdict.TIMEOUT, last.reason
    if last.verdict in (Verdict.OOM, Verdict.INFRA) and not last.results:
        return SetupVerdict.KILLED, last.reason or cause
    if uncollected and not tests:
        return SetupVerdict.COLLECTION_FAILED, uncollected[0].message.removeprefix(
            "could not be collected: ") or cause
    if last.exit_code in (2, 3, 4) and not tests:
        return SetupVerdict.COLLECTION_FAILED, cause or f"pytest exited {last.exit_code}"
    if not tests:
        return SetupVerdict.NO_TESTS, cause or "pytest collected no test"
    return SetupVerdict.NO_PASSING_TESTS, (
        f"none of {len(tests)} tests passes on the clean repository; first: "
        f"{next((r.message for r in tests if r.message), cause)}")[:300]

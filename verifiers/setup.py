"""The setup stage's verdict: from the clean suite's runs to "usable", or why not. Pure."""

from __future__ import annotations

import re
from collections.abc import Sequence

from synth.records import SetupVerdict, TestRun, TestStatus, Verdict
from synth.verifiers.grading import Baseline

MESSAGE_CHARS = 299  # a stored message is one line a table can show, never a log

# Lines that frame an error without saying what it is: traceback scaffolding, pip's and
# pytest's headers and banners, decorations of pip's subprocess output.
_NOISE = re.compile(
    r"^(Traceback( \(most recent call last\))?:?$"
    r"|File \""
    r"|During handling of the above exception"
    r"|The above exception was the direct cause"
    r"|[\^~]+$"
    r"|[=_-]{3,}"
    r"|[×│╰╭╮╯║]"
    r"|\[end of output\]"
    r"|\[notice\]"
    r"|(note|hint|warning|deprecation):"
    r"|ERROR: (Could not build wheels|Failed building wheel|Failed to build"
    r"|Exception:$|Command errored out|Ignored the following)"
    r"|error: (subprocess-exited-with-error|metadata-generation-failed)"
    r")",
    re.IGNORECASE,
)
# Lines that name the error itself: pip's and pytest's ERROR lines, pytest's "E   " lines, apt's
# "E: ", pip's "Failed to build NAME", and an exception's own line ("ModuleNotFoundError: ...").
_SPECIFIC = re.compile(
    r"^((ERROR|error|Error|FAILED)[: ]"
    r"|Failed to build \S"
    r"|E(:|\s{2,})"
    r"|[A-Za-z_][\w.]*(Error|Exception|Failed|Failure|Warning)(:|$))"
)
_PYTEST_E = re.compile(r"^E\s{2,}")


def first_error_line(text: str) -> str:
    """The first line of ``text`` that says what went wrong, under MESSAGE_CHARS characters.

    A line naming the error (an ``ERROR:``/``error:`` line that is not pip's boilerplate header,
    pytest's ``E`` line, an exception's own line) wins over the first line of mere context; the
    lines of a traceback, blank lines and banners never count.
    """
    lines: list[str] = []
    framing: list[str] = []  # what is left when every line is noise: better than nothing
    code_indent: int | None = None  # the indent of a traceback's "File" line: code follows it
    for raw in text.splitlines():
        raw = raw.removeprefix("INTERNALERROR> ")  # pytest's own crash, line by line
        line = raw.strip()
        indent = len(raw) - len(raw.lstrip())
        if code_indent is not None and line and indent > code_indent:
            code_indent = None
            continue  # the source line a traceback quotes under its File line
        code_indent = indent if line.startswith('File "') else None
        if line:
            (framing if _NOISE.match(line) else lines).append(line)
    chosen = next((line for line in lines if _SPECIFIC.match(line)), None)
    if chosen is None:
        chosen = lines[0] if lines else framing[0] if framing else ""
    chosen = _PYTEST_E.sub("", chosen)
    return chosen if len(chosen) <= MESSAGE_CHARS else chosen[: MESSAGE_CHARS - 1] + "…"


def setup_verdict(runs: Sequence[TestRun], baseline: Baseline) -> tuple[SetupVerdict, str]:
    """How the clean suite's runs leave the environment: ok with a summary, or the verdict that
    names the cause and its first meaningful line."""
    if baseline.usable:
        collected = max((len(r.results) for r in runs), default=0)
        return SetupVerdict.OK, f"{len(baseline.passing)} of {collected} tests pass"
    if not runs:
        return SetupVerdict.NO_TESTS, "no baseline run"
    last = runs[-1]
    cause = first_error_line(last.log_tail) or last.reason
    uncollected = [r for r in last.results
                   if r.status is TestStatus.ERROR and r.message.startswith("could not be")]
    tests = [r for r in last.results if r not in uncollected]
    if all(r.verdict is Verdict.TIMEOUT for r in runs):
        return SetupVerdict.TIMEOUT, last.reason
    if last.verdict in (Verdict.OOM, Verdict.INFRA) and not last.results:
        return SetupVerdict.KILLED, last.reason or cause
    if uncollected and not tests:
        return SetupVerdict.COLLECTION_FAILED, first_error_line(
            uncollected[0].message.removeprefix("could not be collected: ")) or cause
    if last.exit_code in (2, 3, 4) and not tests:
        return SetupVerdict.COLLECTION_FAILED, cause or f"pytest exited {last.exit_code}"
    if not tests:
        return SetupVerdict.NO_TESTS, cause or "pytest collected no test"
    return SetupVerdict.NO_PASSING_TESTS, (
        f"none of {len(tests)} tests passes on the clean repository; first: "
        f"{next((r.message for r in tests if r.message), cause)}")[:300]

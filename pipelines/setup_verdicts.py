"""The setup stage's verdict per source, from what the stages returned or raised: pure functions.

A source reaches a usable environment (intake, spec, build, a clean suite with passing tests) or
stops at one of those steps; :class:`SetupResult` says which, with the one line of the error a
user can act on. The factory stores one per source and run; `synth run` and `synth stats` show
them.
"""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING

from envs.spec import SpecError
from envs.wheelhouse import WheelhouseError
from synth.intake import IntakeError, parse_source
from synth.proc import ProcessError
from synth.records import SetupResult, SetupVerdict

if TYPE_CHECKING:
    from pipelines.stages import Built, Prepared

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
    r"|[A-Za-z_][\w.]*(Error|Exception|Failed|Failure)(:|$))"
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


def _docker_build_failed() -> type[BaseException] | None:
    # A DockerBuildFailed can only reach this process if envs.docker_backend (and the docker
    # SDK with it) is already imported; never import it for a local-backend run.
    module = sys.modules.get("envs.docker_backend")
    return getattr(module, "DockerBuildFailed", None)


def failure_verdict(exc: BaseException) -> SetupVerdict:
    """The step a source stopped at, from the exception its setup raised (Ray's wrapper
    unwrapped first)."""
    cause = getattr(exc, "cause", None) or exc
    if isinstance(cause, IntakeError):
        return SetupVerdict.INTAKE_FAILED
    if isinstance(cause, SpecError):
        return SetupVerdict.SPEC_FAILED
    # Requirements that do not resolve (WheelhouseError), an image that does not build
    # (DockerBuildFailed), a venv or pip child that fails (ProcessError), and anything else
    # that stops a build.
    return SetupVerdict.BUILD_FAILED


def failure_message(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None) or exc
    line = first_error_line(str(cause))
    known: tuple[type[BaseException], ...] = (IntakeError, SpecError, WheelhouseError, ProcessError)
    if (docker := _docker_build_failed()) is not None:
        known += (docker,)
    if isinstance(cause, known) and line:
        return line  # the project's own errors already say what was wrong
    name = type(cause).__name__
    return f"{name}: {line}"[:MESSAGE_CHARS] if line else name


def setup_failure(
    source: str, exc: BaseException, *, built: Built | None = None, duration_s: float = 0.0
) -> SetupResult:
    """The verdict of a source whose setup raised ``exc``; ``built`` when the environment was
    built before the failure (its snapshot and environment ids are kept)."""
    try:
        ref = built.repo if built is not None else parse_source(source)
        source, repo = ref.source, ref.name
    except IntakeError:
        repo = ""
    return SetupResult(
        source=source,
        repo=repo,
        verdict=failure_verdict(exc),
        message=failure_message(exc),
        snapshot_id=built.snapshot.snapshot_id if built is not None else "",
        env_id=built.environment.env_id if built is not None else "",
        adjustments=built.environment.spec.adjustments if built is not None else (),
        duration_s=duration_s,
    )


def setup_of(prepared: Prepared, *, duration_s: float = 0.0) -> SetupResult:
    """The verdict the stages reached after measuring the clean suite, or one derived from
    the measurement: ok when some test passes in every clean run, else no_passing_tests."""
    setup: SetupResult | None = getattr(prepared, "setup", None)
    if setup is not None:
        return setup
    built, measured = prepared.built, prepared.measured
    baseline = measured.baseline
    collected = max((len(r.results) for r in measured.baseline_runs), default=0)
    passing = len(baseline.passing)
    if baseline.usable:
        verdict = SetupVerdict.OK
        message = f"{passing} tests pass ({collected} collected)"
    else:
        verdict = SetupVerdict.NO_PASSING_TESTS
        first = measured.baseline_runs[0] if measured.baseline_runs else None
        message = (
            first_error_line(f"{first.reason}\n{first.log_tail}") if first is not None else ""
        ) or "no test passes on the clean repository"
    return SetupResult(
        source=built.repo.source,
        repo=built.repo.name,
        verdict=verdict,
        message=message,
        snapshot_id=built.snapshot.snapshot_id,
        env_id=built.environment.env_id,
        collected=collected,
        passing=passing,
        adjustments=built.environment.spec.adjustments,
        duration_s=duration_s,
    )

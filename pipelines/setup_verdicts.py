"""The setup stage's verdict per source, from what the stages returned or raised: pure functions.

A source reaches a usable environment (intake, spec, build, a clean suite with passing tests) or
stops at one of those steps; :class:`SetupResult` says which, with the one line of the error a
user can act on. The factory stores one per source and run; `synth run` and `synth stats` show
them.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from synth.envs.spec import SpecError
from synth.envs.wheelhouse import WheelhouseError
from synth.intake import IntakeError, parse_source
from synth.proc import ProcessError
from synth.records import SetupResult, SetupVerdict
from synth.verifiers.setup import MESSAGE_CHARS, first_error_line

if TYPE_CHECKING:
    from synth.pipelines.stages import Built, Prepared

def _docker_build_failed() -> type[BaseException] | None:
    # A DockerBuildFailed can only reach this process if envs.docker_build (and the docker
    # SDK with it) is already imported; never import it for a local-backend run.
    module = sys.modules.get("synth.envs.docker_build")
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

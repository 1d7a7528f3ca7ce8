"""The setup stage's verdicts: the one error line a user reads, and which step a source stopped at.

The texts below were captured from the tools themselves (pip 24, pytest 8 with --tb=line,
CPython 3.11), or copied from the factory's own error messages.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from synth.envs.spec import SpecError
from synth.envs.wheelhouse import WheelhouseError
from synth.intake import IntakeError
from synth.pipelines.setup_verdicts import (
    MESSAGE_CHARS,
    first_error_line,
    setup_failure,
    setup_of,
)
from synth.pipelines.stages import Built, Prepared
from synth.proc import ProcessError
from synth.records import BackendKind, SetupResult, SetupVerdict, TestStatus, Verdict
from synth.verifiers.validation import Measured
from tests.factories import make_environment, make_repo, make_run, make_snapshot, make_spec

PIP_NO_VERSION = """\
could not resolve the environment's requirements on the host (pytest>=8, nosuchpkg-zz==9.9):
Looking in links: /opt/wheels
WARNING: Location 'file:///opt/pypi/simple/nosuchpkg-zz/' is ignored: it is neither a file nor a directory.
ERROR: Could not find a version that satisfies the requirement nosuchpkg-zz==9.9 (from versions: none)
ERROR: No matching distribution found for nosuchpkg-zz==9.9
"""  # noqa: E501

PIP_BUILD_FAILED = """\
Processing ./badpkg
  Preparing metadata (pyproject.toml): started
  Preparing metadata (pyproject.toml): finished with status 'error'
  error: subprocess-exited-with-error

  × Preparing metadata (pyproject.toml) did not run successfully.
  │ exit code: 1
  ╰─> [2 lines of output]
      running build_ext
      error: command 'gcc' failed: No such file or directory
      [end of output]

  note: This error originates from a subprocess, and is likely not a problem with pip.
error: metadata-generation-failed

× Encountered error while generating package metadata.
╰─> from file:///tmp/cap/badpkg

note: This is an issue with the package mentioned above, not pip.
hint: See above for details.
"""

PIP_WHEELS = """\
  ERROR: Failed building wheel for lxml
Failed to build lxml
ERROR: Could not build wheels for lxml, which is required to install pyproject.toml-based projects
"""

PYTEST_COLLECTION = """\

==================================== ERRORS ====================================
__________________________ ERROR collecting test_x.py __________________________
ImportError while importing test module '/tmp/cap/test_x.py'.
Hint: make sure your test modules/packages have valid Python names.
Traceback:
/root/.pyenv/versions/3.11.7/lib/python3.11/importlib/__init__.py:126: in import_module
    return _bootstrap._gcd_import(name[level:], package, level)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
test_x.py:1: in <module>
    import nosuchmod
E   ModuleNotFoundError: No module named 'nosuchmod'
=========================== short test summary info ============================
ERROR test_x.py
!!!!!!!!!!!!!!!!!!!! Interrupted: 1 error during collection !!!!!!!!!!!!!!!!!!!!
"""

TRACEBACK = """\
Traceback (most recent call last):
  File "/work/envs/local_backend.py", line 88, in prepare
    raise_if_bad(spec)
  File "<string>", line 3, in f
KeyError: 'spec'
"""


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (
            PIP_NO_VERSION,
            "ERROR: Could not find a version that satisfies the requirement nosuchpkg-zz==9.9"
            " (from versions: none)",
        ),
        (PIP_BUILD_FAILED, "error: command 'gcc' failed: No such file or directory"),
        (PIP_WHEELS, "Failed to build lxml"),
        (PYTEST_COLLECTION, "ModuleNotFoundError: No module named 'nosuchmod'"),
        (TRACEBACK, "KeyError: 'spec'"),
        ("\n\n  pyproject.toml: [project] has no name; add one\n", "pyproject.toml: [project] has"
         " no name; add one"),
        ("", ""),
        ("\n   \n", ""),
    ],
    ids=["pip-no-version", "pip-build", "pip-wheels", "pytest-collection", "traceback", "plain",
         "empty", "blank"],
)
def test_first_error_line_names_the_error_not_its_frame(text: str, line: str) -> None:
    assert first_error_line(text) == line


def test_first_error_line_keeps_a_long_line_short() -> None:
    line = first_error_line("ERROR: " + "x" * 5000)
    assert len(line) == MESSAGE_CHARS < 300 and line.endswith("…")
    assert "\n" not in first_error_line("a\nb")


SOURCE = "https://example.com/ledger.git"


class _RayTaskError(Exception):
    """What ray.get raises for a task that raised: the original is its ``cause``."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"ray task failed: {cause!r}")
        self.cause = cause


@pytest.mark.parametrize(
    ("exc", "verdict", "message"),
    [
        (IntakeError("'x' is not a directory, a git URL"), SetupVerdict.INTAKE_FAILED,
         "'x' is not a directory, a git URL"),
        (SpecError("setup.cfg: [options] python_requires '>=4' matches no Python"),
         SetupVerdict.SPEC_FAILED, "setup.cfg: [options] python_requires '>=4' matches no Python"),
        (WheelhouseError(PIP_NO_VERSION), SetupVerdict.BUILD_FAILED,
         "ERROR: Could not find a version that satisfies the requirement nosuchpkg-zz==9.9"
         " (from versions: none)"),
        (ProcessError("`python3.12 -m venv /v` exited 1:\nError: Command '['/v/bin/python']'"
                      " returned non-zero exit status 1."),
         SetupVerdict.BUILD_FAILED,
         "Error: Command '['/v/bin/python']' returned non-zero exit status 1."),
        (KeyError("spec"), SetupVerdict.BUILD_FAILED, "KeyError: 'spec'"),
        (_RayTaskError(SpecError("tox.ini: no test command")), SetupVerdict.SPEC_FAILED,
         "tox.ini: no test command"),
        (_RayTaskError(MemoryError()), SetupVerdict.BUILD_FAILED, "MemoryError"),
    ],
    ids=["intake", "spec", "wheelhouse", "venv", "other", "ray-wrapped", "no-message"],
)
def test_a_failed_setup_is_mapped_to_its_step_and_first_error_line(
    exc: BaseException, verdict: SetupVerdict, message: str
) -> None:
    setup = setup_failure(SOURCE, exc, duration_s=2.0)
    assert (setup.verdict, setup.message) == (verdict, message)
    assert (setup.source, setup.repo, setup.env_id, setup.duration_s) == (SOURCE, "ledger", "", 2.0)


def test_a_docker_build_failure_is_a_build_failure_with_pips_line() -> None:
    docker_build = pytest.importorskip("synth.envs.docker_build")
    exc = docker_build.DockerBuildFailed(
        "building synth/ledger:abc failed:\nStep 7/9 : RUN pip install --no-index ...\n"
        + PIP_WHEELS
    )
    setup = setup_failure(SOURCE, _RayTaskError(exc))
    assert setup.verdict is SetupVerdict.BUILD_FAILED
    assert setup.message == "Failed to build lxml"


def test_a_source_that_cannot_be_parsed_keeps_its_text_and_has_no_repo_name() -> None:
    setup = setup_failure("pypi:nothing", IntakeError("a PyPI source must pin one version"))
    assert (setup.source, setup.repo, setup.verdict) == (
        "pypi:nothing", "", SetupVerdict.INTAKE_FAILED,
    )


def _built(tmp_path: Path) -> Built:
    ref = make_repo("ledger", source=str(tmp_path))
    snap = make_snapshot(ref, path=str(tmp_path))
    spec = make_spec(adjustments=("dropped mypy: a type checker",))
    env = make_environment(snap, backend=BackendKind.LOCAL, spec=spec, env_id="env-1")
    return Built(ref, snap, env)


def test_a_measured_suite_with_passing_tests_is_ok(tmp_path: Path) -> None:
    P, F = TestStatus.PASSED, TestStatus.FAILED
    runs = tuple(make_run({"t::a": P, "t::b": P, "t::c": F}, attempt=i) for i in range(3))
    setup = setup_of(Prepared(_built(tmp_path), Measured(runs, None, None), ()), duration_s=4.0)
    assert setup.verdict is SetupVerdict.OK
    assert (setup.passing, setup.collected, setup.env_id, setup.duration_s) == (2, 3, "env-1", 4.0)
    assert setup.message == "2 tests pass (3 collected)"
    assert setup.adjustments == ("dropped mypy: a type checker",)
    assert setup.source == str(tmp_path) and setup.repo == "ledger"


def test_a_suite_with_no_passing_test_says_why_from_the_first_run(tmp_path: Path) -> None:
    runs = tuple(
        make_run(attempt=i, verdict=Verdict.ERROR, reason="pytest exited 2: collection failed",
                 log_tail=PYTEST_COLLECTION)
        for i in range(3)
    )
    setup = setup_of(Prepared(_built(tmp_path), Measured(runs, None, None), ()))
    assert setup.verdict is SetupVerdict.NO_PASSING_TESTS
    assert setup.message == "ModuleNotFoundError: No module named 'nosuchmod'"
    assert (setup.passing, setup.collected) == (0, 0)
    silent = setup_of(Prepared(_built(tmp_path), Measured((), None, None), ()))
    assert silent.message == "no test passes on the clean repository"


def test_the_stages_own_verdict_is_taken_as_it_is(tmp_path: Path) -> None:
    class WithSetup(Prepared):
        setup: SetupResult | None = None

    theirs = SetupResult(source="s", repo="ledger", verdict=SetupVerdict.TIMEOUT)
    prepared = WithSetup(_built(tmp_path), Measured((), None, None), ())
    object.__setattr__(prepared, "setup", theirs)
    assert setup_of(prepared, duration_s=9.0) is theirs


def test_a_text_of_boilerplate_only_still_gives_its_first_line() -> None:
    only = "ERROR: Could not build wheels for lxml, which is required to install it\n"
    assert first_error_line(only) == only.strip()

"""The setup stage on records and texts: which verdict a clean suite's runs give, who a dead run
blames, how a report lists a module that cannot be collected, what the project's build adds to
the working copy, and how a forked test run finds a src/ layout. Each named for its trap."""

from __future__ import annotations

import importlib.util
import json
import sys
import zipfile
from pathlib import Path

import pytest

from synth.envs.project_build import ProjectBuild, _generated_files
from synth.records import SetupVerdict, TestRun, Verdict
from synth.verifiers.grading import baseline_of
from synth.verifiers.report import blame, death, read_report, signal_name
from synth.verifiers.setup import setup_verdict
from tests.factories import make_requirement, make_result, make_run

TEMPLATES = Path(__file__).resolve().parents[2] / "envs" / "templates"
sys.path.insert(0, str(TEMPLATES))
SPEC = importlib.util.spec_from_file_location("forkserver_setup", TEMPLATES / "forkserver.py")
forkserver = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(forkserver)  # type: ignore[union-attr]


def _run(verdict: Verdict, results: dict[str, str] = {}, *, exit_code: int = 1,  # noqa: B006
         reason: str = "", log: str = "", messages: dict[str, str] = {}) -> TestRun:  # noqa: B006
    return make_run(results=[make_result(t, s, message=messages.get(t, ""))
                             for t, s in results.items()],
                    verdict=verdict, exit_code=exit_code, reason=reason, log_tail=log)


def test_a_suite_with_passing_tests_is_ok() -> None:
    runs = [_run(Verdict.FAIL, {"a": "passed", "b": "failed"})] * 3
    assert setup_verdict(runs, baseline_of(runs)) == (SetupVerdict.OK, "1 of 2 tests pass")


def test_src_layout_import_error_is_a_collection_failure_with_its_error_line() -> None:
    log = ("_____ ERROR collecting tests/test_unix.py _____\nImportError while importing test "
           "module '/work/tests/test_unix.py'.\nTraceback:\n  tests/test_unix.py:11: in "
           "<module>\nE   ModuleNotFoundError: No module named 'platformdirs'\n"
           "!!!!!! Interrupted: 7 errors during collection !!!!!!\n")
    runs = [_run(Verdict.ERROR, exit_code=2, log=log)] * 3
    verdict, message = setup_verdict(runs, baseline_of(runs))
    assert verdict is SetupVerdict.COLLECTION_FAILED
    assert message == "ModuleNotFoundError: No module named 'platformdirs'"


def test_every_module_failing_to_collect_is_a_collection_failure() -> None:
    err = {"tests/test_a.py": "error"}
    msg = {"tests/test_a.py": "could not be collected: ModuleNotFoundError: No module named 'x'"}
    runs = [_run(Verdict.FAIL, err, messages=msg)] * 3
    verdict, message = setup_verdict(runs, baseline_of(runs))
    assert verdict is SetupVerdict.COLLECTION_FAILED
    assert message == "ModuleNotFoundError: No module named 'x'"


def test_a_run_killed_by_a_signal_with_no_report_is_killed_not_silence() -> None:
    reason = death(-13, "", "n")
    runs = [_run(Verdict.INFRA, exit_code=-13, reason=reason)] * 3
    verdict, message = setup_verdict(runs, baseline_of(runs))
    assert verdict is SetupVerdict.KILLED
    assert "signal 13 (SIGPIPE)" in message


def test_every_run_past_the_suite_limit_is_timeout() -> None:
    runs = [_run(Verdict.TIMEOUT, reason="the suite ran past its time limit")] * 3
    assert setup_verdict(runs, baseline_of(runs))[0] is SetupVerdict.TIMEOUT


def test_no_collected_test_is_no_tests_and_all_failing_is_no_passing_tests() -> None:
    empty = [_run(Verdict.ERROR, exit_code=5, log="no tests ran in 0.01s")] * 3
    assert setup_verdict(empty, baseline_of(empty))[0] is SetupVerdict.NO_TESTS
    failing = [_run(Verdict.FAIL, {"a": "failed"}, messages={"a": "AssertionError: 1 != 2"})]
    verdict, message = setup_verdict(failing, baseline_of(failing))
    assert verdict is SetupVerdict.NO_PASSING_TESTS and "AssertionError: 1 != 2" in message


@pytest.mark.parametrize(("code", "name"), [(-13, "signal 13 (SIGPIPE)"),
                                            (141, "signal 13 (SIGPIPE)"),
                                            (-9, "signal 9 (SIGKILL)"), (1, "")])
def test_signal_names_of_exit_codes(code: int, name: str) -> None:
    assert signal_name(code) == name


def test_a_dead_run_blames_the_test_its_progress_file_names_only_with_the_nonce() -> None:
    progress = json.dumps({"nonce": "n1", "state": "timeout", "test": "t.py::slow",
                           "limit_s": 5})
    found = blame(progress, "n1")
    assert found is not None and found.test == "t.py::slow" and found.timed_out
    assert blame(progress, "another nonce") is None  # written by someone else: not evidence
    assert blame("not json", "n1") is None
    assert death(71, progress, "n1") == "t.py::slow ran past the 5 s limit of one test"
    running = json.dumps({"nonce": "n1", "state": "running", "test": "t.py::hog"})
    assert death(-9, running, "n1") == ("the test process died during t.py::hog "
                                        "(killed by signal 9 (SIGKILL))")


def test_a_module_that_cannot_be_collected_is_one_error_result_not_an_infra_run() -> None:
    """With --continue-on-collection-errors pytest exits 1 though every collected test passed:
    the report's collection errors are the failing entries that exit code stands for."""
    report = json.dumps({
        "nonce": "n", "exitstatus": 1, "collected": 1, "deselected": 0, "executed": 1,
        "results": [{"test_id": "tests/test_ok.py::test_ok", "status": "passed"}],
        "collect_errors": [{"path": "tests/test_toml_tests.py",
                            "message": "FileNotFoundError: tests/toml-test"}],
    })
    read = read_report(report, exit_code=1, nonce="n")
    assert read.verdict is Verdict.FAIL
    statuses = {r.test_id: r.status.value for r in read.results}
    assert statuses == {"tests/test_ok.py::test_ok": "passed",
                        "tests/test_toml_tests.py": "error"}


def _wheel(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def test_a_generated_version_module_is_added_and_the_tracked_files_are_not(
        tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "src" / "pkg").mkdir(parents=True)
    (repo / "src" / "pkg" / "__init__.py").write_text("from .version import v\n")
    wheel = _wheel(tmp_path / "pkg-1.0-py3-none-any.whl", {
        "pkg/__init__.py": b"changed by nothing", "pkg/version.py": b"v = '1.0'\n",
        "pkg-1.0.dist-info/METADATA": b"", "elsewhere/mod.py": b"",
    })
    found = _generated_files(wheel, repo, "src", tmp_path / "files")
    assert found == ["src/pkg/version.py"]  # not a folder the tree lacks (a package-dir map)
    assert (tmp_path / "files" / "src" / "pkg" / "version.py").read_bytes() == b"v = '1.0'\n"


@pytest.mark.parametrize(("wheel", "python", "lock_names", "install"), [
    ("pkg-1.0-py3-none-any.whl", "3.13", (), True),
    ("pkg-1.0-cp311-cp311-linux_x86_64.whl", "3.11", (), True),
    ("pkg-1.0-cp311-cp311-linux_x86_64.whl", "3.13", (), False),  # built for the host's Python
    ("pluggy-1.6-py3-none-any.whl", "3.11", ("pluggy",), False),  # pytest runs on it
])
def test_which_project_wheels_are_installed(tmp_path: Path, wheel: str, python: str,
                                            lock_names: tuple[str, ...], install: bool) -> None:
    build = ProjectBuild(wheel=tmp_path / wheel, name=wheel.split("-")[0])
    lock = tuple(make_requirement(n, "1") for n in lock_names)
    assert build.install(lock, python) is install


def test_a_forked_run_finds_a_src_layout_created_after_the_server_started(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server starts while the working copy is empty: its path finder caches "no such
    folder" for work/src, and PYTHONPATH is never read again. Before, every collection in a
    src/ layout failed with ModuleNotFoundError."""
    work = tmp_path / "work"
    source = work / "src"
    monkeypatch.setattr(sys, "path", [str(TEMPLATES), *sys.path])
    monkeypatch.chdir(tmp_path)
    sys.path_importer_cache[str(source)] = None  # what the empty folder left behind
    (source / "late_pkg_xyz").mkdir(parents=True)
    (source / "late_pkg_xyz" / "__init__.py").write_text("VALUE = 7\n")
    monkeypatch.chdir(work)
    forkserver.import_paths({"env": {"PYTHONPATH": f"{source}:/opt/synth"}})
    try:
        assert sys.path[:2] == [str(work), str(source)]
        assert importlib.import_module("late_pkg_xyz").VALUE == 7
    finally:
        sys.modules.pop("late_pkg_xyz", None)


def test_a_project_pytest_already_imported_needs_a_fresh_interpreter(tmp_path: Path) -> None:
    (tmp_path / "src" / "pluggy").mkdir(parents=True)
    (tmp_path / "src" / "pluggy" / "__init__.py").write_text("")
    (tmp_path / "src" / "not_loaded_pkg_xyz").mkdir()
    (tmp_path / "src" / "not_loaded_pkg_xyz" / "__init__.py").write_text("")
    job = {"work": str(tmp_path), "env": {"SYNTH_SOURCE": str(tmp_path / "src")}}
    assert forkserver.project_preloaded(job)  # pytest runs on pluggy: it is in sys.modules
    (tmp_path / "src" / "pluggy" / "__init__.py").unlink()
    assert not forkserver.project_preloaded(job)


def test_the_working_copy_may_load_a_compiled_extension_its_build_made() -> None:
    """Docker mounts a tmpfs noexec unless told, and dlopen refuses a noexec file system: a C
    speedup in the working copy (markupsafe's) failed to import and 41 of its 80 tests skipped."""
    from synth.envs.backend import Limits
    from synth.envs.docker_session import WORK, container_profile

    options = container_profile(Limits())["tmpfs"][WORK].split(",")
    assert "exec" in options and "noexec" not in options


def test_a_run_the_watchdog_ended_is_a_timeout_naming_the_test() -> None:
    progress = json.dumps({"nonce": "n", "state": "timeout", "test": "t.py::hang",
                           "limit_s": 60})
    read = read_report(None, exit_code=71, nonce="n", progress=progress)
    assert read.verdict is Verdict.TIMEOUT
    assert read.reason == "t.py::hang ran past the 60 s limit of one test"


def test_pytest_s_internal_error_is_told_by_its_exception_line() -> None:
    """dateutil's conftest marks tests with pytest-cov's `no_cover` under filterwarnings=error:
    pytest crashes with INTERNALERROR lines; the cause was shown as "(most recent call last):"."""
    from synth.verifiers.setup import first_error_line

    log = (
        "INTERNALERROR> Traceback (most recent call last):\n"
        'INTERNALERROR>   File "/opt/venv/lib/python3.11/site-packages/_pytest/main.py", '
        "line 397, in pytest_collection\n"
        "INTERNALERROR>     session.perform_collect()\n"
        "INTERNALERROR> pytest.PytestUnknownMarkWarning: Unknown pytest.mark.no_cover - is this "
        "a typo?\n\n1 error in 1.30s\n")
    assert first_error_line(log) == ("pytest.PytestUnknownMarkWarning: Unknown "
                                     "pytest.mark.no_cover - is this a typo?")

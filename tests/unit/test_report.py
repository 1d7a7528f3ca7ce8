"""A run's verdict is an authentic JSON report agreeing with the exit code and with its own counts;
anything the harness cannot trust is INFRA, never a pass.

Reports are written by hand in the shape ``verifiers/synth_report.py`` writes (format 2: nonce,
exitstatus, collected, deselected, order, finished_at, results[test_id, status, duration_s,
message], and optionally coverage{test_id: {file: [lines]}}), or captured from the plugin itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from synth import records
from synth.records import CoveredLines, Verdict
from synth.verifiers.report import read_report

PASSED, FAILED = records.TestStatus.PASSED, records.TestStatus.FAILED
NONCE = "3f9a0c1d2e4b5a6978c0d1e2f3a4b5c6"
VERIFIERS = Path(__file__).resolve().parents[2] / "verifiers"


def _report(
    exitstatus: int,
    *,
    nonce: str | None = NONCE,
    collected: int | None = None,
    deselected: int | None = None,
    coverage: dict | None = None,
    **statuses: str,
) -> str:
    results = [
        {"test_id": f"tests/test_m.py::{name}", "status": status, "duration_s": 0.01,
         "message": "AssertionError: assert 1 == 2" if status == "failed" else ""}
        for name, status in statuses.items()
    ]
    payload: dict = {"format": 2, "exitstatus": exitstatus,
                     "collected": len(results) if collected is None else collected,
                     "order": "default", "finished_at": 1700000000.0, "results": results}
    if nonce is not None:
        payload["nonce"] = nonce
    if deselected is not None:
        payload["deselected"] = deselected
    if coverage is not None:
        payload["coverage"] = coverage
    return json.dumps(payload)


def _read(text: str | None, exit_code: int, **flags: bool):
    return read_report(text, exit_code=exit_code, nonce=NONCE, **flags)


# Captured from synth_report under pytest 9 (nonce "n0nce"), with SYNTH_SELECT keeping two of the
# four collected tests: a non-strict xfail that passed, and a passing test. pytest exits 0.
XPASS_NON_STRICT = (
    '{"format": 2, "nonce": "n0nce", "exitstatus": 0, "collected": 4, "deselected": 2, '
    '"order": "default", "finished_at": 1795944832.4325955, "results": [{"test_id": '
    '"test_x.py::test_xp", "status": "xpassed", "duration_s": 0.00025558299967087805, '
    '"message": ""}, {"test_id": "test_x.py::test_ok", "status": "passed", '
    '"duration_s": 0.00014031099999556318, "message": ""}]}'
)

# Captured likewise: a strict xfail that passed is reported as failed, and pytest exits 1.
XPASS_STRICT = (
    '{"format": 2, "nonce": "n0nce", "exitstatus": 1, "collected": 4, "deselected": 2, '
    '"order": "default", "finished_at": 1795944833.018038, "results": [{"test_id": '
    '"test_x.py::test_xps", "status": "failed", "duration_s": 0.0002076000005217793, '
    '"message": "[XPASS(strict)] r"}, {"test_id": "test_x.py::test_ok", "status": "passed", '
    '"duration_s": 0.00012422700001479825, "message": ""}]}'
)

# Captured likewise: a module that fails to import. pytest exits 2 (interrupted) having run
# nothing, so the report lists no results for its four collected tests.
COLLECTION_ERROR = (
    '{"format": 2, "nonce": "n0nce", "exitstatus": 2, "collected": 4, "deselected": 0, '
    '"order": "default", "finished_at": 1795944833.6295428, "results": []}'
)


def test_all_passed_with_exit_zero_is_pass_and_keeps_every_result_in_order() -> None:
    read = _read(_report(0, test_a="passed", test_b="skipped", test_c="xfailed"), 0)
    assert read.verdict is Verdict.PASS
    assert [r.test_id for r in read.results] == [
        "tests/test_m.py::test_a", "tests/test_m.py::test_b", "tests/test_m.py::test_c",
    ]
    assert read.results[0].status is PASSED
    assert read.reason == ""


def test_failures_with_exit_one_are_fail_and_keep_the_message() -> None:
    read = _read(_report(1, test_a="passed", test_b="failed", test_c="error"), 1)
    assert read.verdict is Verdict.FAIL
    assert read.reason == ""
    assert read.results[1].status is FAILED
    assert read.results[1].message == "AssertionError: assert 1 == 2"
    assert read.results[2].status is records.TestStatus.ERROR


@pytest.mark.parametrize("status", ["failed", "error", "missing"])
def test_every_failing_status_makes_the_run_fail(status: str) -> None:
    assert _read(_report(1, test_a="passed", test_b=status), 1).verdict is Verdict.FAIL


def test_a_report_claiming_success_for_a_failed_process_is_infra() -> None:
    """The report is a file the code under test could reach: one saying exit 0 while pytest
    exited 1 is forged or stale, and must never grade as a clean pass."""
    read = _read(_report(0, test_a="passed"), 1)
    assert read.verdict is Verdict.INFRA
    assert "report says exit 0 but the process exited 1" in read.reason


@pytest.mark.parametrize("status", ["failed", "error", "missing"])
def test_exit_zero_with_a_failing_test_in_the_report_is_infra(status: str) -> None:
    read = _read(_report(0, test_a="passed", test_b=status), 0)
    assert read.verdict is Verdict.INFRA
    assert "exit code 0 with failing tests" in read.reason


def test_exit_one_with_no_failing_test_in_the_report_is_infra() -> None:
    read = _read(_report(1, test_a="passed", test_b="skipped", test_c="xpassed"), 1)
    assert read.verdict is Verdict.INFRA
    assert "exit code 1 with no failing test" in read.reason


@pytest.mark.parametrize("text", [None, ""])
def test_a_missing_report_is_infra_naming_the_exit_code(text: str | None) -> None:
    read = _read(text, 3)
    assert read.verdict is Verdict.INFRA
    assert read.results == ()
    assert "exit code 3" in read.reason


_OK = {"nonce": NONCE, "exitstatus": 0, "collected": 1}
_ONE = [{"test_id": "t", "status": "passed"}]


@pytest.mark.parametrize("payload", [
    "{not json",
    "null",
    "[]",
    '"a string"',
    json.dumps({**_OK}),
    json.dumps({"nonce": NONCE, "collected": 1, "results": _ONE}),
    json.dumps({"nonce": NONCE, "exitstatus": 0, "results": _ONE}),
    json.dumps({**_OK, "exitstatus": "zero", "results": _ONE}),
    json.dumps({**_OK, "collected": None, "results": _ONE}),
    json.dumps({**_OK, "results": "t"}),
    json.dumps({**_OK, "results": [{"test_id": "t", "status": "exploded"}]}),
    json.dumps({**_OK, "results": [{"status": "passed"}]}),
    json.dumps({**_OK, "results": [{"test_id": "t", "status": "passed", "duration_s": None}]}),
    json.dumps({**_OK, "results": _ONE, "coverage": ["t"]}),
    json.dumps({**_OK, "results": _ONE, "coverage": {"t": {"m.py": ["one"]}}}),
])
def test_an_unreadable_report_is_infra_without_results(payload: str) -> None:
    read = _read(payload, 0)
    assert read.verdict is Verdict.INFRA
    assert read.results == ()
    assert read.reason.startswith("unreadable report")


@pytest.mark.parametrize("nonce", [None, "", "0" * 32, NONCE.upper()])
def test_a_report_without_this_runs_nonce_is_forged_and_infra(nonce: str | None) -> None:
    """The nonce reaches only the plugin, never the code under test: a report that lacks it was
    written by someone else (a test that fakes a green run), however consistent it looks."""
    read = _read(_report(0, nonce=nonce, test_a="passed"), 0)
    assert read.verdict is Verdict.INFRA
    assert "forged" in read.reason
    assert read.results == ()  # nothing from a forged report is kept


@pytest.mark.parametrize(("collected", "deselected", "statuses"), [
    (3, None, {"test_a": "passed", "test_b": "passed"}),  # a test ran but vanished
    (1, None, {"test_a": "passed", "test_b": "passed"}),  # more results than tests
    (4, 1, {"test_a": "passed", "test_b": "passed"}),
    (2, 1, {"test_a": "passed", "test_b": "passed"}),
    (2, 0, {}),
])
def test_a_result_count_other_than_collected_minus_deselected_is_infra(
    collected: int, deselected: int | None, statuses: dict[str, str]
) -> None:
    text = _report(0, collected=collected, deselected=deselected, **statuses)
    read = _read(text, 0)
    assert read.verdict is Verdict.INFRA
    assert f"report lists {len(statuses)} results" in read.reason


def test_deselected_tests_are_not_expected_in_the_report() -> None:
    text = _report(0, collected=5, deselected=3, test_a="passed", test_b="passed")
    assert _read(text, 0).verdict is Verdict.PASS


def test_a_report_listing_one_test_twice_is_infra_even_when_the_count_matches() -> None:
    """A duplicated id padding the count would hide a test that never reported."""
    result = {"test_id": "tests/test_m.py::test_a", "status": "passed"}
    text = json.dumps({"nonce": NONCE, "exitstatus": 0, "collected": 2, "deselected": 0,
                       "results": [result, result]})
    read = _read(text, 0)
    assert read.verdict is Verdict.INFRA
    assert "2 results for 2 executed tests" in read.reason


@pytest.mark.parametrize("exit_code", [2, 3, 4, 5])
def test_interrupted_internal_usage_and_empty_runs_are_errors(exit_code: int) -> None:
    """Exit 5 is "no tests collected": an empty suite must not grade as all-passing."""
    read = _read(_report(exit_code, test_a="passed"), exit_code)
    assert read.verdict is Verdict.ERROR
    assert read.reason == f"pytest exited {exit_code}"


def test_a_collection_error_is_an_error_not_infra() -> None:
    """pytest stops before running anything, so the report cannot account for every collected
    test: the exit code decides before the counts are checked."""
    read = read_report(COLLECTION_ERROR, exit_code=2, nonce="n0nce")
    assert read.verdict is Verdict.ERROR
    assert read.reason == "pytest exited 2"


def test_an_error_exit_the_report_does_not_confirm_is_infra() -> None:
    read = _read(_report(1, test_a="failed"), 2)
    assert read.verdict is Verdict.INFRA
    assert "report says exit 1 but the process exited 2" in read.reason


@pytest.mark.parametrize(("flags", "verdict", "reason"), [
    ({"patch_failed": True, "oom": True, "timed_out": True}, Verdict.ERROR, "patch did not apply"),
    ({"oom": True, "timed_out": True}, Verdict.OOM, "memory"),
    ({"timed_out": True}, Verdict.TIMEOUT, "time limit"),
])
def test_how_the_process_ended_outranks_any_report(flags: dict[str, bool], verdict: Verdict,
                                                   reason: str) -> None:
    """A killed run may have left a partial or stale report: nothing of it is kept."""
    text = _report(0, coverage={"tests/test_m.py::test_a": {"m.py": [1]}}, test_a="passed")
    read = _read(text, 0, **flags)
    assert read.verdict is verdict
    assert read.results == ()
    assert read.coverage == ()
    assert reason in read.reason


def test_a_strict_xpass_reported_as_failed_agrees_with_exit_one() -> None:
    read = read_report(XPASS_STRICT, exit_code=1, nonce="n0nce")
    assert read.verdict is Verdict.FAIL, read.reason
    assert read.results[0].status is FAILED
    assert read.results[0].message == "[XPASS(strict)] r"


def test_a_non_strict_xpass_with_exit_zero_is_pass() -> None:
    """A suite with one unexpectedly passing non-strict xfail exits 0; calling that anything but
    PASS makes every run of the repository untrusted and its baseline unusable."""
    read = read_report(XPASS_NON_STRICT, exit_code=0, nonce="n0nce")
    assert read.verdict is Verdict.PASS, read.reason
    assert read.results[0].status is records.TestStatus.XPASSED


def test_coverage_becomes_sorted_deduplicated_entries_per_test_and_file() -> None:
    coverage = {
        "tests/test_m.py::test_b": {"pkg/b.py": [9, 3, 3], "pkg/a.py": [1]},
        "tests/test_m.py::test_a": {"pkg/a.py": [7, 2]},
    }
    read = _read(_report(1, coverage=coverage, test_a="passed", test_b="failed"), 1)
    assert read.verdict is Verdict.FAIL
    assert read.coverage == (
        CoveredLines(test_id="tests/test_m.py::test_a", file="pkg/a.py", lines=(2, 7)),
        CoveredLines(test_id="tests/test_m.py::test_b", file="pkg/a.py", lines=(1,)),
        CoveredLines(test_id="tests/test_m.py::test_b", file="pkg/b.py", lines=(3, 9)),
    )


@pytest.mark.parametrize("coverage", [None, {}])
def test_a_report_without_coverage_has_none(coverage: dict | None) -> None:
    text = _report(0, test_a="passed")
    if coverage is not None:
        text = json.dumps({**json.loads(text), "coverage": coverage})
    read = _read(text, 0)
    assert read.verdict is Verdict.PASS
    assert read.coverage == ()


@pytest.mark.parametrize(("nonce", "exit_code"), [("forged", 0), (NONCE, 1)])
def test_coverage_of_an_untrusted_report_is_never_used(nonce: str, exit_code: int) -> None:
    """Screening selects tests from coverage: a forged map could hide a bug from every test."""
    text = _report(0, nonce=nonce, coverage={"tests/test_m.py::test_a": {"m.py": [1]}},
                   test_a="passed")
    read = _read(text, exit_code)
    assert read.verdict is Verdict.INFRA
    assert read.coverage == ()


def test_tests_deselected_by_the_repos_own_addopts_still_give_a_trusted_run(
    tmp_path: Path,
) -> None:
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\naddopts = -m 'not slow'\nmarkers =\n    slow: slow\n"
    )
    (tmp_path / "test_k.py").write_text(
        "import pytest\n\n"
        "def test_fast():\n    pass\n\n"
        "@pytest.mark.slow\ndef test_slow():\n    pass\n"
    )
    report = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "SYNTH_"))}
    # The plugin takes its report path and nonce from a private file it deletes on load.
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"report": str(report), "nonce": NONCE}))
    env.update(PYTHONPATH=str(VERIFIERS), SYNTH_SECRET=str(secret))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "synth_report", "-p", "no:cacheprovider", "-q",
         f"--rootdir={tmp_path}", "test_k.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    read = read_report(report.read_text(), exit_code=done.returncode, nonce=NONCE)
    assert read.verdict is Verdict.PASS, read.reason
    assert not secret.exists(), "the secret must be gone before any test code runs"


def _run_plugin(tmp_path: Path, tests: str, **settings: str) -> tuple[int, str]:
    (tmp_path / "test_k.py").write_text(tests)
    report = tmp_path / "report.json"
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"report": str(report), "nonce": NONCE}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "SYNTH_"))}
    env.update(PYTHONPATH=str(VERIFIERS), SYNTH_SECRET=str(secret), **settings)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "synth_report", "-p", "no:cacheprovider", "-q",
         f"--rootdir={tmp_path}", "test_k.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    return done.returncode, report.read_text()


THREE_TESTS = "def test_a():\n    pass\n\ndef test_b():\n    assert 0\n\ndef test_c():\n    pass\n"


def test_a_screen_stops_at_the_first_failure_and_its_report_is_trusted(tmp_path: Path) -> None:
    code, text = _run_plugin(tmp_path, THREE_TESTS, SYNTH_FIRST_FAILURE="1")
    read = read_report(text, exit_code=code, nonce=NONCE)
    assert code == 1 and read.verdict is Verdict.FAIL, read.reason
    assert [r.test_id for r in read.results] == ["test_k.py::test_a", "test_k.py::test_b"]
    assert json.loads(text)["stopped_early"] is True
    # Without the setting, all three run.
    code, text = _run_plugin(tmp_path, THREE_TESTS)
    assert len(read_report(text, exit_code=code, nonce=NONCE).results) == 3


def _run_plugin_log(tmp_path: Path, tests: str, **settings: str) -> tuple[str, dict]:
    (tmp_path / "test_k.py").write_text(tests)
    report, secret = tmp_path / "report.json", tmp_path / "secret.json"
    secret.write_text(json.dumps({"report": str(report), "nonce": NONCE}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "SYNTH_"))}
    env.update(PYTHONPATH=str(VERIFIERS), SYNTH_SECRET=str(secret), **settings)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "synth_report", "-p", "no:cacheprovider",
         f"--rootdir={tmp_path}", "test_k.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    return done.stdout, json.loads(report.read_text())


def test_a_screen_reports_failures_in_one_line_with_the_same_message(tmp_path: Path) -> None:
    tests = "def helper(x):\n    return x + 1\n\ndef test_b():\n    assert helper(1) == 3\n"
    full_log, full = _run_plugin_log(tmp_path, tests)
    screen_log, screen = _run_plugin_log(tmp_path, tests, SYNTH_FIRST_FAILURE="1")
    # The long traceback quotes the test's source; a screen's one line does not.
    assert "return x + 1" in full_log or "assert helper(1) == 3" in full_log
    assert "assert helper(1) == 3" not in screen_log and "return x + 1" not in screen_log
    assert [r["message"] for r in screen["results"]] == [r["message"] for r in full["results"]]
    assert "assert 2 == 3" in screen["results"][0]["message"]


def test_a_listed_order_runs_the_selection_in_its_own_order(tmp_path: Path) -> None:
    select = tmp_path / "select.txt"
    select.write_text("test_k.py::test_c\ntest_k.py::test_a\n")
    code, text = _run_plugin(tmp_path, THREE_TESTS, SYNTH_SELECT=str(select),
                             SYNTH_ORDER="listed")
    read = read_report(text, exit_code=code, nonce=NONCE)
    assert [r.test_id for r in read.results] == ["test_k.py::test_c", "test_k.py::test_a"]
    # Without it, the collection's order.
    code, text = _run_plugin(tmp_path, THREE_TESTS, SYNTH_SELECT=str(select))
    read = read_report(text, exit_code=code, nonce=NONCE)
    assert [r.test_id for r in read.results] == ["test_k.py::test_a", "test_k.py::test_c"]


def test_a_report_stopped_early_without_a_failure_is_infra() -> None:
    payload = json.loads(_report(0, test_a="passed"))
    payload.update(stopped_early=True)
    assert _read(json.dumps(payload), 0).verdict is Verdict.INFRA

"""Setup verdicts as users see them: `synth run`'s line per source and exit code, `synth stats`'
setup table and success rate, and the same in the HTML report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from synth.cli import app
from synth.data.corpus_stats import collect_stats, latest_setups
from synth.data.store import Store
from synth.pipelines.factory import RunSummary
from synth.records import SetupResult, SetupVerdict
from synth.report import print_stats, render_report, setup_line

T0 = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
BROKEN = "ERROR: Could not find a version that satisfies the requirement lxml==0.1 <b>[x]</b>"


def _setup(source: str, repo: str, verdict: SetupVerdict, seconds: int = 0, **kw) -> SetupResult:
    return SetupResult(source=source, repo=repo, verdict=verdict, created_at=T0 + timedelta(
        seconds=seconds), **kw)


OK = _setup("/src/ledger", "ledger", SetupVerdict.OK, 10, env_id="e1", collected=14, passing=12,
            excluded=("tests/test_slow.py::test_forever: timed out",), message="12 tests pass")
FAILED = _setup("pypi:lxml==0.1", "lxml", SetupVerdict.BUILD_FAILED, 5, message=BROKEN)
# An older verdict of the ledger source (another env): the newer one above is what counts.
STALE = _setup("/src/ledger", "ledger", SetupVerdict.NO_PASSING_TESTS, 0, env_id="e0",
               message="ModuleNotFoundError: No module named 'x'")


def test_the_newest_verdict_per_source_counts() -> None:
    assert latest_setups([STALE, FAILED, OK]) == (OK, FAILED)  # by repository name
    assert latest_setups([OK, STALE]) == (STALE,)


@pytest.fixture
def stats(tmp_path: Path):
    with Store.open(tmp_path / "s.duckdb") as store:
        store.write(setups=[STALE, FAILED, OK])
        yield collect_stats(store)


def test_stats_hold_one_setup_per_source_and_the_success_rate(stats) -> None:
    assert stats.setups == (OK, FAILED)
    assert (stats.setup_ok, stats.setup_rate) == (1, 0.5)
    assert stats.counts["setups"] == 3


def test_stats_print_the_setup_table_and_rate(stats) -> None:
    console = Console(record=True, width=220)
    print_stats(console, stats)
    text = console.export_text()
    assert "setup (the newest verdict per source)" in text
    assert "build_failed" in text and BROKEN in text  # brackets are text, never markup
    assert "setup success rate: 1 of 2 source(s) (50.0%)" in text
    assert "no_passing_tests" not in text


def test_stats_of_a_store_without_setups_say_so(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.duckdb") as store:
        empty = collect_stats(store)
    assert empty.setup_rate == 0.0
    console = Console(record=True, width=160)
    print_stats(console, empty)
    assert "no source set up yet" in console.export_text()
    assert "no source set up yet" in render_report(empty)


def test_report_has_the_setup_section_escaped(stats) -> None:
    html = render_report(stats)
    section = html[html.index('<section id="setup">') : html.index('<section id="funnel-op')]
    assert "setup success rate: 1 of 2 source(s) (50.0%)" in section
    assert '<tr class="verdict-build_failed">' in section and "pypi:lxml==0.1" in section
    assert "&lt;b&gt;[x]&lt;/b&gt;" in section and "<b>[x]" not in section
    assert "<td>12</td><td>14</td><td>1</td>" in section


def test_run_prints_one_line_per_source() -> None:
    assert setup_line(OK) == "/src/ledger: ok — 12 tests pass (14 collected), 1 excluded"
    assert setup_line(FAILED) == f"pypi:lxml==0.1: build_failed — {BROKEN}"


def _run_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, summary: RunSummary):
    monkeypatch.setattr("synth.pipelines.factory.run_factory", lambda *a, **kw: summary)
    return CliRunner().invoke(app, [
        "run", str(tmp_path), "--db", str(tmp_path / "x.duckdb"), "--backend", "local",
        "--cache-dir", str(tmp_path / "cache"),
    ])


def test_run_exits_1_naming_each_source_without_a_usable_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It used to print "0 tests pass on the clean repo" and exit 0: a script running the
    factory over many repositories could not tell a broken build from a finished one."""
    result = _run_cli(tmp_path, monkeypatch, RunSummary(repos=["ledger"], setups=[OK, FAILED]))
    assert result.exit_code == 1
    assert "/src/ledger: ok — 12 tests pass (14 collected), 1 excluded" in result.stdout
    assert f"no usable environment: pypi:lxml==0.1: build_failed — {BROKEN}" in result.stderr
    assert "/src/ledger" not in result.stderr
    assert "funnel" in result.stdout.lower()  # the funnel is still printed


def test_run_exits_0_when_every_source_is_set_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run_cli(tmp_path, monkeypatch, RunSummary(repos=["ledger"], setups=[OK]))
    assert result.exit_code == 0, result.output
    assert "ledger: ok" in result.stdout and result.stderr == ""


def test_stats_command_prints_the_setup_table(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    with Store.open(db) as store:
        store.write(setups=[FAILED, OK])
    result = CliRunner().invoke(app, ["stats", "--db", str(db)], terminal_width=220)
    assert result.exit_code == 0, result.output
    assert "setup success rate: 1 of 2 source(s) (50.0%)" in result.stdout
    assert "build_failed" in result.stdout

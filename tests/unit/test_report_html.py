"""Corpus statistics from a hand-built store, and the static report drawn from them."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from rich.console import Console

from synth.data.corpus_stats import collect_stats
from synth.data.store import Store
from synth.records import (
    AuditVerdict,
    DriftReason,
    Rejection,
    RunKind,
    TaskAudit,
    TestRun,
    TestStatus,
    Verdict,
)
from synth.report import grouped_bars, print_stats, render_report, write_report
from tests.factories import make_result, make_run
from tests.unit.test_export_mapping import T0, make_corpus

P, F = TestStatus.PASSED, TestStatus.FAILED


def _run(
    run_id: str, kind: RunKind, env_id: str, statuses: dict[str, TestStatus], duration: float
) -> TestRun:
    results = [
        make_result(t, s, duration_s=0.002 * (i + 1)) for i, (t, s) in enumerate(statuses.items())
    ]
    return make_run(
        results=results,
        kind=kind,
        env_id=env_id,
        run_id=run_id,
        verdict=Verdict.PASS,
        duration_s=duration,
        created_at=T0,
    )


def fill(store: Store) -> None:
    """Two baseline runs where test_b flips, three bug runs, a flaky rejection, two audits."""
    ref, snap, env, cands, tasks = make_corpus(3)
    cands[2] = cands[2].model_copy(update={"rejection": Rejection.FLAKY})
    runs = [
        _run("b0", RunKind.BASELINE, env.env_id, {"t::a": P, "t::b": P, "t::c": F}, 1.0),
        _run("b1", RunKind.BASELINE, env.env_id, {"t::a": P, "t::b": F, "t::c": F}, 1.2),
        *(_run(f"g{i}", RunKind.BUG, env.env_id, {"t::a": F}, 2.0 + i) for i in range(3)),
    ]
    store.write(
        repo=ref,
        snapshot=snap,
        environments=[env],
        candidates=cands,
        test_runs=runs,
        tasks=tasks[:2],
    )
    audits = []
    for k, (verdict, reasons) in enumerate(
        [(AuditVerdict.REPRODUCED, ()), (AuditVerdict.DIVERGED, (DriftReason.TEST_FLAKY,))]
    ):
        audits.append(
            TaskAudit(
                audit_id=f"a{k}",
                audit_run=f"run{k}",
                instance_id=tasks[0].instance_id,
                env_id=env.env_id,
                repo="demo",
                verdict=verdict,
                reasons=reasons,
                details=("in the bug state, 1 test(s) disagreed <b>",) if reasons else (),
                runs=2,
                rebuilt=bool(k),
                created_at=T0 + timedelta(hours=k),
            )
        )
    store.write_audits(audits)


@pytest.fixture
def stats(tmp_path: Path):
    with Store.open(tmp_path / "r.duckdb") as store:
        fill(store)
        yield collect_stats(store)


def test_stats_count_flaky_tests_and_flaky_rejections_per_repo(stats) -> None:
    (flake,) = stats.flake
    assert (flake.repo, flake.tests, flake.flaky_tests) == ("demo", 3, 1)
    assert flake.broke == 3 and flake.rejected_flaky == 1  # two tasks + one flaky rejection
    assert flake.candidate_rate == pytest.approx(1 / 3)


def test_stats_distributions_and_audits(stats) -> None:
    assert stats.test_time.n == 6 and sum(b.count for b in stats.test_time.bins) == 6
    suite = {d.label: d for d in stats.suite_time}
    assert suite["bug runs"].n == 3 and suite["bug runs"].p50_s == pytest.approx(3.0)
    assert suite["baseline runs"].max_s == pytest.approx(1.2)
    assert [(a.tasks, a.reproduced, a.rebuilt) for a in stats.audits] == [
        (1, 1, False),
        (1, 0, True),
    ]
    assert stats.audits[1].by_reason == {"test_flaky": 1}
    assert [d.reasons for d in stats.latest_drift] == [("test_flaky",)]
    assert [p.tasks for p in stats.growth] == [1, 2]
    assert stats.counts["audits"] == 2


def test_report_has_every_chart_as_inline_svg_and_escapes_text(stats) -> None:
    html = render_report(stats)
    names = set(re.findall(r'<svg class="chart" data-chart="([^"]+)"', html))
    assert {
        "funnel-operator",
        "funnel-repo",
        "test-time",
        "suite-time-bug",
        "flake-rates",
        "audits",
        "corpus-growth",
    } <= names
    assert html.count('class="bar"') >= 10 and 'class="line"' in html
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")
    assert "disagreed &lt;b&gt;" in html and "disagreed <b>" not in html


def test_an_empty_chart_says_so_instead_of_drawing_nothing() -> None:
    svg = grouped_bars("x", "nothing", [], ("generated",))
    assert "no data yet" in svg and svg.startswith('<svg class="chart"')


def test_write_report_replaces_the_file_whole(stats, tmp_path: Path) -> None:
    out = tmp_path / "site" / "report.html"
    assert write_report(stats, out) == out
    assert out.read_text().startswith("<!doctype html>")
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]


def test_print_stats_shows_the_same_numbers(stats) -> None:
    console = Console(record=True, width=160)
    print_stats(console, stats)
    text = console.export_text()
    for part in (
        "run times",
        "bug runs",
        "flake rates",
        "33.3%",
        "audits",
        "test_flaky 1",
        "corpus: 2 task(s)",
    ):
        assert part in text

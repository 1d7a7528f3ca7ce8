"""`synth report` and `synth stats`: a corpus's numbers as a static HTML page and as tables.

The page is one self-contained file (jinja2, inline CSS, charts as inline SVG drawn here): no
script and nothing fetched, so it opens anywhere, a browser without network included. Chart
functions take numbers and return SVG text; :func:`render_report` takes a CorpusStats.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from html import escape
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from synth.data.corpus_stats import CorpusStats, Distribution
from synth.data.store import FunnelRow
from synth.records import SetupResult, SetupVerdict

WIDTH = 680
LABEL_W = 170  # room for category labels left of horizontal bars
ROW_H = 30
PAD = 12
COLOURS = {
    "generated": "#8b98a9",
    "broke": "#e8912d",
    "validated": "#2f855a",
    "reproduced": "#2f855a",
    "drifted": "#c53030",
    "flaky tests": "#805ad5",
    "flaky candidates": "#d53f8c",
    "tasks": "#2b6cb0",
}


def _fmt_s(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.3g}s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g}ms"
    return f"{seconds * 1e6:.3g}µs"


def _svg(name: str, title: str, height: int, body: Sequence[str]) -> Markup:
    return Markup(
        f'<svg class="chart" data-chart="{escape(name)}" xmlns="http://www.w3.org/2000/svg" '
        f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f'<rect class="bg" x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>'
        + "".join(body)
        + "</svg>"
    )


def _text(
    x: float, y: float, text: str, *, anchor: str = "start", size: int = 12, colour: str = "#2d3748"
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{colour}" '
        f'text-anchor="{anchor}" font-family="sans-serif">{escape(text)}</text>'
    )


def _empty(name: str, title: str) -> Markup:
    return _svg(
        name, title, 60, [_text(WIDTH / 2, 34, "no data yet", anchor="middle", colour="#718096")]
    )


def _legend(names: Sequence[str], y: float) -> list[str]:
    out, x = [], LABEL_W
    for name in names:
        out.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{COLOURS[name]}"/>')
        out.append(_text(x + 14, y, name, size=11))
        x += 24 + 7 * len(name)
    return out


def grouped_bars(
    name: str,
    title: str,
    rows: Sequence[tuple[str, Sequence[float]]],
    series: Sequence[str],
    *,
    value_text: Callable[[float], str] = lambda v: f"{v:g}",
) -> Markup:
    """Horizontal bars: one group per row, one bar per series, scaled to the largest value."""
    if not rows:
        return _empty(name, title)
    top = max((v for _, values in rows for v in values), default=0) or 1
    bar_h = max(4, (ROW_H - 4) // len(series))
    group_h = bar_h * len(series) + 8
    span = WIDTH - LABEL_W - 60
    body = _legend(series, 16)
    y = 28
    for label, values in rows:
        body.append(_text(LABEL_W - 8, y + group_h / 2, label[:26], anchor="end"))
        for i, (serie, value) in enumerate(zip(series, values, strict=True)):
            w = span * value / top
            by = y + i * bar_h
            body.append(
                f'<rect class="bar" x="{LABEL_W}" y="{by}" width="{max(w, 0.5):.1f}" '
                f'height="{bar_h - 1}" fill="{COLOURS[serie]}"><title>{escape(label)} — '
                f"{escape(serie)}: {escape(value_text(value))}</title></rect>"
            )
            body.append(_text(LABEL_W + w + 4, by + bar_h - 2, value_text(value), size=10))
        y += group_h
    body.append(f'<line x1="{LABEL_W}" y1="24" x2="{LABEL_W}" y2="{y}" stroke="#a0aec0"/>')
    return _svg(name, title, y + PAD, body)


def funnel_chart(name: str, title: str, rows: Sequence[FunnelRow]) -> Markup:
    return grouped_bars(
        name,
        title,
        [(r.key, (r.generated, r.broke, r.validated)) for r in rows],
        ("generated", "broke", "validated"),
    )


def histogram_chart(name: str, dist: Distribution) -> Markup:
    """Vertical bars over log-spaced duration bins."""
    title = f"{dist.label}: {dist.n} values, median {_fmt_s(dist.p50_s)}"
    if not dist.bins:
        return _empty(name, title)
    height, base, left = 200, 160, 50
    span = WIDTH - left - PAD
    w = span / len(dist.bins)
    top = max(b.count for b in dist.bins) or 1
    body = [_text(left, 16, title, size=12)]
    for i, b in enumerate(dist.bins):
        h = (base - 30) * b.count / top
        x = left + i * w
        body.append(
            f'<rect class="bar" x="{x + 1:.1f}" y="{base - h:.1f}" width="{max(w - 2, 1):.1f}" '
            f'height="{max(h, 0.5):.1f}" fill="#2b6cb0"><title>{_fmt_s(b.lo_s)}–'
            f"{_fmt_s(b.hi_s)}: {b.count}</title></rect>"
        )
        if len(dist.bins) <= 12 or i % 2 == 0:
            body.append(_text(x + w / 2, base + 14, _fmt_s(b.lo_s), anchor="middle", size=10))
    body.append(f'<line x1="{left}" y1="{base}" x2="{WIDTH - PAD}" y2="{base}" stroke="#a0aec0"/>')
    body.append(_text(left - 6, base - (base - 30) + 4, str(top), anchor="end", size=10))
    body.append(_text(left - 6, base, "0", anchor="end", size=10))
    return _svg(name, title, height, body)


def line_chart(
    name: str, title: str, points: Sequence[tuple[float, float]], x_labels: tuple[str, str]
) -> Markup:
    """A step line of y over x (both already numbers), with the first and last x labelled."""
    if not points:
        return _empty(name, title)
    height, base, left = 220, 180, 50
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    top = max(ys) or 1
    span_x = (x1 - x0) or 1

    def at(x: float, y: float) -> tuple[float, float]:
        return (left + (WIDTH - left - PAD) * (x - x0) / span_x, base - (base - 30) * y / top)

    path, prev_y = [], None
    for x, y in points:
        px, py = at(x, y)
        if prev_y is None:
            path.append(f"M{px:.1f},{base:.1f} L{px:.1f},{py:.1f}")
        else:
            path.append(f"L{px:.1f},{prev_y:.1f} L{px:.1f},{py:.1f}")
        prev_y = py
    body = [
        _text(left, 16, title, size=12),
        f'<path class="line" d="{" ".join(path)}" fill="none" stroke="{COLOURS["tasks"]}" '
        'stroke-width="2.5"/>',
        f'<line x1="{left}" y1="{base}" x2="{WIDTH - PAD}" y2="{base}" stroke="#a0aec0"/>',
        _text(left - 6, 34, f"{top:g}", anchor="end", size=10),
        _text(left - 6, base, "0", anchor="end", size=10),
        _text(left, base + 16, x_labels[0], size=10),
        _text(WIDTH - PAD, base + 16, x_labels[1], anchor="end", size=10),
    ]
    return _svg(name, title, height, body)


def _percent(value: float) -> str:
    return f"{value:.1%}"


def charts(stats: CorpusStats) -> dict[str, Markup | list[Markup]]:
    growth = [(p.at.timestamp(), float(p.tasks)) for p in stats.growth]
    labels = (
        (
            stats.growth[0].at.strftime("%Y-%m-%d %H:%M"),
            stats.growth[-1].at.strftime("%Y-%m-%d %H:%M"),
        )
        if stats.growth
        else ("", "")
    )
    return {
        "funnel_operator": funnel_chart(
            "funnel-operator", "funnel per operator", stats.funnel_by_operator
        ),
        "funnel_repo": funnel_chart("funnel-repo", "funnel per repository", stats.funnel_by_repo),
        "test_time": histogram_chart("test-time", stats.test_time),
        "suite_time": [
            histogram_chart(f"suite-time-{d.label.split()[0]}", d) for d in stats.suite_time
        ],
        "flake": grouped_bars(
            "flake-rates",
            "flake rates per repository",
            [(f.repo, (f.test_rate, f.candidate_rate)) for f in stats.flake],
            ("flaky tests", "flaky candidates"),
            value_text=_percent,
        ),
        "audits": grouped_bars(
            "audits",
            "audit runs",
            [
                (a.started_at.strftime("%m-%d %H:%M ") + a.audit_run[:6], (a.reproduced, a.drifted))
                for a in stats.audits
            ],
            ("reproduced", "drifted"),
        ),
        "growth": line_chart("corpus-growth", "validated tasks over time", growth, labels),
    }


def setup_line(setup: SetupResult) -> str:
    """One source's setup, as `synth run` prints it."""
    if setup.verdict is SetupVerdict.OK:
        return (
            f"{setup.source}: ok — {setup.passing} tests pass ({setup.collected} collected), "
            f"{len(setup.excluded)} excluded"
        )
    return f"{setup.source}: {setup.verdict.value} — {setup.message or 'no detail recorded'}"


def setup_rate_line(stats: CorpusStats) -> str:
    if not stats.setups:
        return "setup success rate: no source set up yet (`synth run`)"
    return (
        f"setup success rate: {stats.setup_ok} of {len(stats.setups)} source(s) "
        f"({stats.setup_rate:.1%}) reached a usable environment"
    )


def render_report(stats: CorpusStats) -> str:
    jinja = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        undefined=StrictUndefined,
        autoescape=select_autoescape(["html", "j2"]),
    )
    return jinja.get_template("report.html.j2").render(
        stats=stats, charts=charts(stats), fmt_s=_fmt_s, setup_rate=setup_rate_line(stats),
        cost=cost_line(stats)
    )


def write_report(stats: CorpusStats, out: Path) -> Path:
    """Render and write atomically: a reader never sees half a page."""
    out = out.expanduser().resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(render_report(stats))
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the page from a web server
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def solutions_line(stats: CorpusStats) -> str:
    """`solutions scored: 12 — resolved 5, tampered 3, ...` (tampered: refused as reward hacks)."""
    total = sum(stats.solutions.values())
    if not total:
        return "solutions scored: none yet (`synth verify`)"
    order = ("resolved", "partial", "unresolved", "tampered", "error")
    parts = [f"{o} {stats.solutions[o]}" for o in order if stats.solutions.get(o)]
    return f"solutions scored: {total} — " + ", ".join(parts)


def cost_line(stats: CorpusStats) -> str:
    """`task cost: median 1.2 CPU s, p90 3.4 ...` — per validated task, environment share in."""
    cost = stats.cost
    if cost is None:
        return "task cost: no task yet"
    return (
        f"task cost: median {cost.cpu_p50_s:.2f} CPU s, p90 {cost.cpu_p90_s:.2f}, "
        f"mean {cost.cpu_mean_s:.2f} per task ({cost.all_in_cpu_per_task_s:.2f} with rejected "
        f"candidates and builds counted); steady in every run: {cost.steady_share:.1%} of "
        f"{cost.tasks} task(s)"
    )


def print_stats(console, stats: CorpusStats) -> None:
    """The report's numbers as tables (the funnels are printed by `synth stats` itself)."""
    from rich.table import Table
    from rich.text import Text

    setups = Table(title="setup (the newest verdict per source)")
    for col in ("repo", "verdict", "passing", "collected", "excluded", "message"):
        setups.add_column(
            col,
            justify="right" if col in ("passing", "collected", "excluded") else "left",
            no_wrap=col in ("repo", "verdict"),
        )
    for setup in stats.setups:
        setups.add_row(
            setup.repo or setup.source,
            setup.verdict.value,
            str(setup.passing),
            str(setup.collected),
            str(len(setup.excluded)),
            Text(setup.message),  # an error line may hold [brackets]: never rich markup
        )
    if stats.setups:
        console.print(setups)
    console.print(setup_rate_line(stats), markup=False, highlight=False)
    console.print(solutions_line(stats), markup=False, highlight=False)
    console.print(cost_line(stats), markup=False, highlight=False)

    if stats.cost_by_repo:
        costs = Table(title="CPU per validated task against one exact clean-suite run (floor)")
        for col in ("repo", "tasks", "floor", "own runs", "ratio", "all in", "ratio "):
            costs.add_column(col, justify="left" if col == "repo" else "right")
        for c in stats.cost_by_repo:
            costs.add_row(c.repo, str(c.tasks), _fmt_s(c.floor_cpu_s), _fmt_s(c.own_cpu_s),
                          f"{c.own_ratio:.2f}x", _fmt_s(c.all_in_cpu_s), f"{c.all_in_ratio:.2f}x")
        console.print(costs)

    times = Table(title="run times")
    for col in ("what", "n", "median", "p90", "max"):
        times.add_column(col, justify="left" if col == "what" else "right")
    for d in (stats.test_time, *stats.suite_time):
        times.add_row(d.label, str(d.n), _fmt_s(d.p50_s), _fmt_s(d.p90_s), _fmt_s(d.max_s))
    console.print(times)

    flake = Table(title="flake rates")
    for col in ("repo", "tests", "flaky tests", "rate", "broke", "rejected flaky", "rate "):
        flake.add_column(col, justify="left" if col == "repo" else "right")
    for f in stats.flake:
        flake.add_row(
            f.repo,
            str(f.tests),
            str(f.flaky_tests),
            f"{f.test_rate:.1%}",
            str(f.broke),
            str(f.rejected_flaky),
            f"{f.candidate_rate:.1%}",
        )
    console.print(flake)

    audits = Table(title="audits")
    for col in ("audit", "started", "rebuilt", "tasks", "reproduced", "drifted", "reasons"):
        audits.add_column(
            col,
            justify="right" if col in ("tasks", "reproduced", "drifted") else "left",
            no_wrap=col in ("audit", "started"),
        )
    for a in stats.audits:
        reasons = ", ".join(f"{k} {v}" for k, v in a.by_reason.items()) or "-"
        audits.add_row(
            a.audit_run,
            a.started_at.strftime("%Y-%m-%d %H:%M"),
            "yes" if a.rebuilt else "no",
            str(a.tasks),
            str(a.reproduced),
            str(a.drifted),
            reasons,
        )
    console.print(audits if stats.audits else "audits: none yet (`synth audit`)")

    if stats.growth:
        first, last = stats.growth[0], stats.growth[-1]
        console.print(
            f"corpus: {last.tasks} task(s), the first at {first.at:%Y-%m-%d %H:%M}, "
            f"the latest at {last.at:%Y-%m-%d %H:%M} (UTC)"
        )

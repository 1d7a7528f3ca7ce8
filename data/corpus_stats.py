"""The numbers `synth report` draws and `synth stats` prints, read from the store in SQL.

Aggregation happens in DuckDB (histogram bins, quantiles, per-repo flake counts), so a corpus of
millions of test results comes back as a few hundred numbers. Everything returned is a record.
"""

from __future__ import annotations

import math
from datetime import datetime

from synth.data.store import FunnelRow, Store
from synth.data.task_metrics import CostSummary, RepoCost, backfill, repo_costs, summary
from synth.records import Record, Rejection, SetupResult, SetupVerdict, utcnow

BINS_PER_DECADE = 4  # histogram bins are log-spaced: 10^(b/4) .. 10^((b+1)/4) seconds
MIN_SECONDS = 1e-4  # durations below this (0.0 included) fall into the first bin
GROWTH_POINTS = 400  # the corpus-size curve is thinned to at most this many points


class Bin(Record):
    lo_s: float
    hi_s: float
    count: int


class Distribution(Record):
    """Durations in seconds: log-spaced histogram and a few quantiles."""

    label: str
    n: int
    p50_s: float
    p90_s: float
    max_s: float
    bins: tuple[Bin, ...]


class FlakeRow(Record):
    repo: str
    tests: int  # distinct tests in the clean-state runs
    flaky_tests: int  # passed in some clean runs and not in others
    broke: int  # candidates that broke at least one test
    rejected_flaky: int  # of those, rejected because their failing set moved between runs

    @property
    def test_rate(self) -> float:
        return self.flaky_tests / self.tests if self.tests else 0.0

    @property
    def candidate_rate(self) -> float:
        return self.rejected_flaky / self.broke if self.broke else 0.0


class AuditRunRow(Record):
    audit_run: str
    started_at: datetime
    tasks: int
    reproduced: int
    rebuilt: bool
    by_reason: dict[str, int]

    @property
    def drifted(self) -> int:
        return self.tasks - self.reproduced


class DriftRow(Record):
    instance_id: str
    reasons: tuple[str, ...]
    detail: str


class GrowthPoint(Record):
    at: datetime
    tasks: int


class CorpusStats(Record):
    db: str
    generated_at: datetime
    counts: dict[str, int]
    funnel_by_repo: tuple[FunnelRow, ...]
    funnel_by_operator: tuple[FunnelRow, ...]
    test_time: Distribution  # per-test durations in the clean-state (baseline) runs
    suite_time: tuple[Distribution, ...]  # whole-run durations, one per run kind
    flake: tuple[FlakeRow, ...]
    audits: tuple[AuditRunRow, ...]
    latest_drift: tuple[DriftRow, ...]  # drifted tasks of the newest audit run
    growth: tuple[GrowthPoint, ...]
    # The newest setup verdict of every source, by repository then source.
    setups: tuple[SetupResult, ...] = ()
    # Scored solutions (`synth verify`, TaskEnv) per outcome, "tampered" included.
    solutions: dict[str, int] = {}
    # What a task cost to make (CPU seconds) and how many held steady in every run.
    cost: CostSummary | None = None
    cost_by_repo: tuple[RepoCost, ...] = ()

    @property
    def setup_ok(self) -> int:
        return sum(s.verdict is SetupVerdict.OK for s in self.setups)

    @property
    def setup_rate(self) -> float:
        """Sources that reached a usable environment, of all sources set up: the factory's first
        figure of merit over real repositories."""
        return self.setup_ok / len(self.setups) if self.setups else 0.0


def collect_stats(store: Store) -> CorpusStats:
    backfill(store)  # once, for the cost figures below: tasks stored before their accounting
    funnel_repo = tuple(store.funnel("repo"))
    audits = _audit_runs(store)
    return CorpusStats(
        db=str(store.path),
        generated_at=utcnow(),
        counts=store.counts(),
        funnel_by_repo=funnel_repo,
        funnel_by_operator=tuple(store.funnel("operator")),
        test_time=_distribution(
            store,
            "per-test time (clean runs)",
            "SELECT (unnest(results)).duration_s AS d FROM test_runs WHERE kind = 'baseline'",
        ),
        suite_time=tuple(
            _distribution(
                store, f"{kind} runs", "SELECT duration_s AS d FROM test_runs WHERE kind = ?", kind
            )
            for (kind,) in store.query("SELECT DISTINCT kind FROM test_runs ORDER BY kind")
        ),
        flake=_flake(store, funnel_repo),
        audits=audits,
        latest_drift=_latest_drift(store, audits[-1].audit_run) if audits else (),
        growth=_growth(store),
        setups=latest_setups(store.list_setups()),
        solutions=store.solution_outcomes(),
        cost=summary(store),
        cost_by_repo=tuple(repo_costs(store)),
    )


def latest_setups(setups: list[SetupResult]) -> tuple[SetupResult, ...]:
    """The newest verdict per source (``setups`` oldest first): a source whose build failed
    once and was fixed since counts as set up, and one that broke since counts as failed."""
    newest = {s.source: s for s in setups}
    return tuple(sorted(newest.values(), key=lambda s: (s.repo, s.source)))


def _distribution(store: Store, label: str, values_sql: str, *params: object) -> Distribution:
    (n, p50, p90, top), *_ = store.query(
        "SELECT count(d), quantile_cont(d, 0.5), quantile_cont(d, 0.9), max(d)"
        f" FROM ({values_sql})",
        params,
    )
    rows = store.query(
        f"SELECT floor(log10(greatest(d, {MIN_SECONDS})) * {BINS_PER_DECADE})::INTEGER AS b,"
        f" count(*) FROM ({values_sql}) GROUP BY b ORDER BY b",
        params,
    )
    counts = {int(b): int(c) for b, c in rows}
    bins = (
        tuple(
            Bin(lo_s=_edge(b), hi_s=_edge(b + 1), count=counts.get(b, 0))
            for b in range(min(counts), max(counts) + 1)
        )
        if counts
        else ()
    )
    return Distribution(
        label=label,
        n=int(n or 0),
        p50_s=float(p50 or 0.0),
        p90_s=float(p90 or 0.0),
        max_s=float(top or 0.0),
        bins=bins,
    )


def _edge(b: int) -> float:
    return float(f"{math.pow(10, b / BINS_PER_DECADE):.3g}")


_FLAKE_SQL = """
WITH clean AS (
    SELECT env_id, results FROM test_runs WHERE kind = 'baseline' AND verdict IN ('pass', 'fail')
),
runs AS (SELECT env_id, count(*) AS n FROM clean GROUP BY env_id),
per_test AS (
    SELECT env_id, r.test_id AS test_id, count(*) FILTER (WHERE r.status = 'passed') AS passes
    FROM (SELECT env_id, unnest(results) AS r FROM clean) GROUP BY ALL
)
SELECT coalesce(rp.name, '(unknown)') AS repo, count(DISTINCT p.test_id) AS tests,
       count(DISTINCT p.test_id) FILTER (WHERE p.passes > 0 AND p.passes < runs.n) AS flaky
FROM per_test p JOIN runs USING (env_id)
LEFT JOIN environments e ON e.env_id = p.env_id
LEFT JOIN snapshots s ON s.snapshot_id = e.snapshot_id
LEFT JOIN repos rp ON rp.repo_id = s.repo_id
GROUP BY ALL ORDER BY repo
"""


def _flake(store: Store, funnel_repo: tuple[FunnelRow, ...]) -> tuple[FlakeRow, ...]:
    tests = {repo: (int(n), int(f)) for repo, n, f in store.query(_FLAKE_SQL)}
    funnel = {row.key: row for row in funnel_repo}
    out = []
    for repo in sorted(tests.keys() | funnel.keys()):
        n, flaky = tests.get(repo, (0, 0))
        row = funnel.get(repo)
        out.append(
            FlakeRow(
                repo=repo,
                tests=n,
                flaky_tests=flaky,
                broke=row.broke if row else 0,
                rejected_flaky=row.rejected_by_reason.get(Rejection.FLAKY.value, 0) if row else 0,
            )
        )
    return tuple(out)


def _audit_runs(store: Store) -> tuple[AuditRunRow, ...]:
    runs = store.query(
        "SELECT audit_run, min(created_at), count(*),"
        " count(*) FILTER (WHERE verdict = 'reproduced'), bool_or(rebuilt)"
        " FROM audits GROUP BY audit_run ORDER BY min(created_at), audit_run"
    )
    reasons: dict[str, dict[str, int]] = {}
    for audit_run, reason, n in store.query(
        "SELECT audit_run, reason, count(*) FROM"
        " (SELECT audit_run, unnest(reasons) AS reason FROM audits) GROUP BY ALL ORDER BY reason"
    ):
        reasons.setdefault(audit_run, {})[reason] = int(n)
    return tuple(
        AuditRunRow(
            audit_run=audit_run,
            started_at=started,
            tasks=int(n),
            reproduced=int(ok),
            rebuilt=bool(rebuilt),
            by_reason=reasons.get(audit_run, {}),
        )
        for audit_run, started, n, ok, rebuilt in runs
    )


def _latest_drift(store: Store, audit_run: str) -> tuple[DriftRow, ...]:
    rows = store.query(
        "SELECT instance_id, reasons, details FROM audits"
        " WHERE audit_run = ? AND verdict <> 'reproduced' ORDER BY instance_id LIMIT 50",
        [audit_run],
    )
    return tuple(
        DriftRow(instance_id=i, reasons=tuple(r), detail=(d[0] if d else "")) for i, r, d in rows
    )


def _growth(store: Store) -> tuple[GrowthPoint, ...]:
    times = [t for (t,) in store.query("SELECT created_at FROM tasks ORDER BY created_at")]
    points = [GrowthPoint(at=t, tasks=i + 1) for i, t in enumerate(times)]
    if len(points) <= GROWTH_POINTS:
        return tuple(points)
    step = len(points) / (GROWTH_POINTS - 1)
    thinned = [points[min(int(i * step), len(points) - 1)] for i in range(GROWTH_POINTS - 1)]
    return tuple([*thinned, points[-1]])

"""Per-task accounting as the store holds it: cost, runs, stability, difficulty; a row per task.

A task's own figures are stored with it (``task_stats``, written by the pipeline); its share of
its environment (the build's wall seconds plus the clean suite's runs, split evenly among the
environment's tasks) is derived here when read, since it shrinks as tasks are added. Tasks stored
before accounting existed get their figures from their stored runs on the first read
(:func:`backfill`).

``synth tasks list --sort/--filter``, the Parquet and Harbor exports, ``synth stats`` and the
report all read :data:`METRICS_SQL`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any

from synth.data.store import Store
from synth.records import Record, RunKind


class Kind(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    FLAG = "flag"
    TIME = "time"  # ISO 8601 text, which sorts and compares in time order


# Column → (kind, what it means). The README's accounting table is this list.
COLUMNS: dict[str, tuple[Kind, str]] = {
    "instance_id": (Kind.TEXT, "the task"),
    "repo": (Kind.TEXT, "repository short name"),
    "env_id": (Kind.TEXT, "its environment"),
    "strategy": (Kind.TEXT, "procedural (AST operator), mirror (reverted fix) or combine"),
    "operator": (Kind.TEXT, "the mutation operator (or mirror / combine)"),
    "f2p_tests": (Kind.NUMBER, "FAIL_TO_PASS tests"),
    "p2p_tests": (Kind.NUMBER, "PASS_TO_PASS tests"),
    "lines_added": (Kind.NUMBER, "lines the bug adds"),
    "lines_removed": (Kind.NUMBER, "lines the bug removes"),
    "lines_changed": (Kind.NUMBER, "added + removed"),
    "files_changed": (Kind.NUMBER, "files the bug touches"),
    "covering_tests": (Kind.NUMBER, "tests whose clean-tree coverage runs a changed line"),
    "test_distance": (Kind.NUMBER,
                      "directory steps from the changed file to the nearest failing test's file"),
    "f2p_files_run": (Kind.NUMBER,
                      "median source files a FAIL_TO_PASS test runs (clean-tree coverage)"),
    "runs": (Kind.NUMBER, "runs behind the verdict: clean (gold) runs + the task's own"),
    "gold_runs": (Kind.NUMBER, "trusted clean-suite runs (the gold state)"),
    "bug_runs": (Kind.NUMBER, "trusted runs with the bug: the full suite, then the tests it "
                              "broke again, alone, in a fresh process"),
    "steady": (Kind.FLAG, "every FAIL_TO_PASS / PASS_TO_PASS test did what its role expects "
                          "in every run"),
    "own_cpu_s": (Kind.NUMBER, "CPU seconds of the task's own screening and validation runs"),
    "env_cpu_s": (Kind.NUMBER, "its share of the environment: build seconds + clean runs' CPU, "
                               "divided by the environment's tasks"),
    "cpu_s": (Kind.NUMBER, "own_cpu_s + env_cpu_s: what the task cost to make"),
    "created_at": (Kind.TIME, "when the task was stored (ISO 8601, UTC)"),
}
SORT_DEFAULT = "instance_id"

_CLEAN_KINDS = ", ".join(f"'{k.value}'" for k in (RunKind.BASELINE, RunKind.COVERAGE))
_SHARE = "(coalesce(e.build_s, 0) + coalesce(c.clean_cpu_s, 0)) / n.tasks"
METRICS_SQL = f"""
    WITH env_cost AS (
        SELECT env_id, sum(coalesce(cpu_s, duration_s)) AS clean_cpu_s
        FROM test_runs WHERE kind IN ({_CLEAN_KINDS}) GROUP BY env_id
    ),
    env_tasks AS (SELECT env_id, count(*) AS tasks FROM tasks GROUP BY env_id)
    SELECT t.instance_id, t.repo, t.env_id, t.strategy, t.operator,
           len(t."FAIL_TO_PASS") AS f2p_tests, len(t."PASS_TO_PASS") AS p2p_tests,
           s.lines_added, s.lines_removed, s.lines_added + s.lines_removed AS lines_changed,
           s.files_changed, s.covering_tests, s.test_distance, s.f2p_files_run,
           s.runs, s.gold_runs, s.bug_runs, s.steady,
           round(s.own_cpu_s, 3) AS own_cpu_s,
           round({_SHARE}, 3) AS env_cpu_s,
           round(s.own_cpu_s + {_SHARE}, 3) AS cpu_s,
           strftime(t.created_at, '%Y-%m-%dT%H:%M:%S.%fZ') AS created_at
    FROM tasks t
    JOIN task_stats s ON s.instance_id = t.instance_id
    JOIN env_tasks n ON n.env_id = t.env_id
    LEFT JOIN environments e ON e.env_id = t.env_id
    LEFT JOIN env_cost c ON c.env_id = t.env_id
"""


class MetricsError(ValueError):
    """A --sort or --filter the user wrote that names no column or compares wrongly."""


class Condition(Record):
    column: str
    op: str
    value: str | float | bool


_OPS = ("<=", ">=", "!=", "=", "<", ">")
_CONDITION = re.compile(r"^\s*([a-z_0-9]+)\s*(<=|>=|!=|=|<|>)\s*(.*?)\s*$")


def is_condition(text: str) -> bool:
    """Does ``text`` name a metrics column (as opposed to an export's own filter keys)?"""
    found = _CONDITION.match(text)
    return bool(found) and found.group(1) in COLUMNS and (
        found.group(2) != "=" or COLUMNS[found.group(1)][0] is not Kind.TEXT
    )


def parse_condition(text: str) -> Condition:
    """``cpu_s<=30``, ``steady=true``, ``operator!=arith_swap`` → a Condition."""
    found = _CONDITION.match(text)
    if not found or found.group(1) not in COLUMNS:
        raise MetricsError(
            f"--filter {text!r}: write COLUMN OP VALUE with OP one of {' '.join(_OPS)} and "
            f"COLUMN one of {', '.join(COLUMNS)} (e.g. --filter 'cpu_s<=30')"
        )
    column, op, raw = found.groups()
    kind = COLUMNS[column][0]
    value: str | float | bool
    if kind is Kind.NUMBER:
        try:
            value = float(raw)
        except ValueError:
            raise MetricsError(f"--filter {text!r}: {column} is a number, not {raw!r}") from None
    elif kind is Kind.FLAG:
        if raw.lower() not in ("true", "false", "1", "0", "yes", "no") or op not in ("=", "!="):
            raise MetricsError(f"--filter {text!r}: write {column}=true or {column}=false")
        value = raw.lower() in ("true", "1", "yes")
    elif kind is Kind.TIME:
        value = raw
    else:
        if op not in ("=", "!="):
            raise MetricsError(f"--filter {text!r}: {column} is text; compare it with = or !=")
        value = raw
    return Condition(column=column, op=op, value=value)


def parse_sort(text: str) -> tuple[str, bool]:
    """``cpu_s`` (ascending) or ``-cpu_s`` (descending) → (column, descending)."""
    column = text.lstrip("-")
    if column not in COLUMNS:
        raise MetricsError(f"--sort {text!r}: choose one of {', '.join(COLUMNS)}; "
                           "a leading - sorts descending")
    return column, text.startswith("-")


def select(store: Store, conditions: Iterable[Condition] = (), *, sort: str = SORT_DEFAULT,
           limit: int | None = None, ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Rows of :data:`METRICS_SQL` that meet every condition, sorted, as dicts."""
    backfill(store)
    column, descending = parse_sort(sort)
    wheres, params = [], []
    for cond in conditions:
        wheres.append(f'"{cond.column}" {cond.op} ?')
        params.append(cond.value)
    if ids is not None:
        wheres.append("instance_id IN (SELECT unnest(?::VARCHAR[]))")
        params.append(list(ids))
    sql = f"SELECT * FROM ({METRICS_SQL})"
    if wheres:
        sql += " WHERE " + " AND ".join(wheres)
    # NULLs (no coverage measured) sort last either way; the id breaks ties.
    sql += f' ORDER BY "{column}" {"DESC" if descending else "ASC"} NULLS LAST, instance_id'
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    names = list(COLUMNS)
    return [dict(zip(names, row, strict=True)) for row in store.query(sql, params)]


class CostSummary(Record):
    """The corpus's cost and stability, as `synth stats`, the report and the notes quote it."""

    tasks: int
    cpu_p50_s: float
    cpu_p90_s: float
    cpu_mean_s: float
    steady_share: float  # tasks whose tests all did what their role expects in every run
    # Everything the store's runs and builds cost (rejected candidates included) per task.
    all_in_cpu_per_task_s: float


class RepoCost(Record):
    """One repository's cost per validated task against its floor: one exact (fresh-process)
    run of its clean suite, the least a stored verdict can cost."""

    repo: str
    tasks: int
    floor_cpu_s: float  # mean CPU of its clean-suite (baseline) runs
    own_cpu_s: float  # mean of its tasks' own runs
    all_in_cpu_s: float  # every run and build of its environments, rejected candidates in

    @property
    def own_ratio(self) -> float:
        return self.own_cpu_s / self.floor_cpu_s if self.floor_cpu_s else 0.0

    @property
    def all_in_ratio(self) -> float:
        return self.all_in_cpu_s / self.floor_cpu_s if self.floor_cpu_s else 0.0


_REPO_COST_SQL = f"""
    WITH env_repo AS (
        SELECT e.env_id, e.build_s, r.name AS repo FROM environments e
        JOIN snapshots s ON s.snapshot_id = e.snapshot_id JOIN repos r ON r.repo_id = s.repo_id
    ),
    runs AS (
        SELECT er.repo, sum(coalesce(t.cpu_s, t.duration_s)) AS cpu,
               avg(coalesce(t.cpu_s, t.duration_s))
                   FILTER (WHERE t.kind = 'baseline' AND t.verdict IN ('pass', 'fail')) AS floor
        FROM test_runs t JOIN env_repo er ON er.env_id = t.env_id
        WHERE t.kind <> 'solution' GROUP BY er.repo
    ),
    builds AS (SELECT repo, sum(build_s) AS build FROM env_repo GROUP BY repo),
    made AS (
        SELECT repo, count(*) AS tasks, avg(own_cpu_s) AS own FROM ({METRICS_SQL}) GROUP BY repo
    )
    SELECT m.repo, m.tasks, coalesce(r.floor, 0), m.own, (r.cpu + b.build) / m.tasks
    FROM made m JOIN runs r ON r.repo = m.repo JOIN builds b ON b.repo = m.repo
    ORDER BY m.repo
"""


def repo_costs(store: Store) -> list[RepoCost]:
    """Per repository; tasks without their row (an older store) wait for :func:`backfill`."""
    return [RepoCost(repo=repo, tasks=int(n), floor_cpu_s=float(floor), own_cpu_s=float(own),
                     all_in_cpu_s=float(all_in))
            for repo, n, floor, own, all_in in store.query(_REPO_COST_SQL)]


def summary(store: Store) -> CostSummary | None:
    """The corpus's figures, or None with no task (call :func:`backfill` first on an older
    store, as collect_stats does)."""
    (n, p50, p90, mean, steady), *_ = store.query(
        "SELECT count(*), quantile_cont(cpu_s, 0.5), quantile_cont(cpu_s, 0.9), avg(cpu_s),"
        f" avg(steady::INTEGER) FROM ({METRICS_SQL})"
    )
    if not n:
        return None
    (runs_cpu,), *_ = store.query("SELECT coalesce(sum(coalesce(cpu_s, duration_s)), 0)"
                                  " FROM test_runs WHERE kind <> 'solution'")
    (build,), *_ = store.query("SELECT coalesce(sum(build_s), 0) FROM environments")
    return CostSummary(tasks=int(n), cpu_p50_s=float(p50), cpu_p90_s=float(p90),
                       cpu_mean_s=float(mean), steady_share=float(steady),
                       all_in_cpu_per_task_s=(float(runs_cpu) + float(build)) / int(n))


def backfill(store: Store) -> int:
    """Compute and store the figures of tasks stored without them (older stores); returns how
    many. Runs, coverage and spec come from the store, as the pipeline had them."""
    from synth.verifiers.accounting import task_stats
    from synth.verifiers.runner import patch_hash

    missing = store.tasks_without_stats()
    if not missing:
        return 0
    stats = []
    envs: dict[str, tuple[Any, Any, Any]] = {}
    for task in missing:
        if task.env_id not in envs:
            env = store.get_environment(task.env_id)
            gold = [r for r in store.list_test_runs(task.env_id) if r.kind is RunKind.BASELINE]
            envs[task.env_id] = (gold, store.get_coverage(task.env_id), env.spec.test_paths)
        gold, coverage, test_paths = envs[task.env_id]
        own = [r for r in store.list_runs_of(task.env_id, patch_hash(task.patch))
               if r.kind in (RunKind.SCREEN, RunKind.BUG)]
        stats.append(task_stats(task, own, gold, coverage, test_paths))
    store.write(task_stats=stats)
    return len(stats)

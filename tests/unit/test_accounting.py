"""Per-task accounting: what each task cost, the runs behind it, difficulty signals, and the
store's metrics view (``synth tasks list --sort/--filter``, exports, ``synth stats``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from synth.data import task_metrics as tm
from synth.data.store import Store
from synth.records import (
    CoverageMap,
    CoveredLines,
    Environment,
    RunKind,
    Task,
    TestRun,
    TestStatus,
    Verdict,
)
from synth.verifiers.accounting import distance_to_tests, task_stats
from synth.verifiers.runner import patch_hash
from tests.factories import make_environment, make_repo, make_run, make_snapshot, make_task

REPO = make_repo("ledger")
SNAP = make_snapshot(REPO)
PATCH = (
    "--- a/ledger/money.py\n+++ b/ledger/money.py\n@@ -3,2 +3,2 @@\n"
    " def add(a, b):\n-    return a + b\n+    return a - b\n"
)
F2P = ("tests/test_money.py::test_add",)
P2P = ("tests/test_money.py::test_zero", "tests/unit/test_dates.py::test_leap")


def env(env_id: str = "env-1", build_s: float = 10.0) -> Environment:
    return make_environment(SNAP, env_id=env_id, build_s=build_s)


def run(kind: RunKind, statuses: dict[str, TestStatus], *, n: int = 0, cpu_s: float | None = 1.0,
        duration_s: float = 3.0, patch: str = PATCH, env_id: str = "env-1",
        verdict: Verdict | None = None) -> TestRun:
    clean = kind in (RunKind.BASELINE, RunKind.COVERAGE)
    return make_run(statuses, kind=kind, env_id=env_id, attempt=n, verdict=verdict,
                    patch_hash="" if clean else patch_hash(patch), duration_s=duration_s,
                    cpu_s=cpu_s)


PASS, FAIL = TestStatus.PASSED, TestStatus.FAILED
CLEAN = {t: PASS for t in F2P + P2P}
BUGGY = {**CLEAN, F2P[0]: FAIL}


def task(instance_id: str = "ledger.1", patch: str = PATCH, env_id: str = "env-1") -> Task:
    return make_task(SNAP, environment=env(env_id), instance_id=instance_id, patch=patch,
                     FAIL_TO_PASS=F2P, PASS_TO_PASS=P2P, operator="arith_swap")


def gold_runs(env_id: str = "env-1") -> list[TestRun]:
    return [run(RunKind.BASELINE, CLEAN, n=i, cpu_s=2.0, patch="", env_id=env_id)
            for i in range(3)]


COVERAGE = CoverageMap(env_id="env-1", entries=(
    CoveredLines(test_id=F2P[0], file="ledger/money.py", lines=(3, 4)),
    CoveredLines(test_id=F2P[0], file="ledger/util.py", lines=(1,)),
    CoveredLines(test_id=F2P[0], file="tests/test_money.py", lines=(1, 2)),
    CoveredLines(test_id=P2P[0], file="ledger/money.py", lines=(7,)),
))


def test_a_steady_task_counts_its_runs_rates_size_and_distance() -> None:
    own = [run(RunKind.SCREEN, {F2P[0]: FAIL}, cpu_s=0.5),
           run(RunKind.BUG, BUGGY, n=0), run(RunKind.BUG, BUGGY, n=1)]
    stats = task_stats(task(), own, gold_runs(), COVERAGE, ("tests",))
    assert stats.steady and stats.unsteady_p2p == ()
    assert stats.own_cpu_s == 2.5  # CPU, not the runs' 9 wall seconds
    assert (stats.runs, stats.gold_runs, stats.bug_runs) == (6, 3, 2)
    (rate,) = stats.fail_to_pass
    assert (rate.gold_passed, rate.gold_runs, rate.bug_passed, rate.bug_runs) == (3, 3, 0, 2)
    assert (stats.lines_added, stats.lines_removed, stats.files_changed) == (1, 1, 1)
    assert stats.covering_tests == 1  # line 4 runs under test_add only
    assert stats.test_distance == 2  # ledger/ → tests/
    assert stats.f2p_files_run == 2  # money.py and util.py; the test file is not source


def test_a_test_that_failed_once_on_the_clean_tree_makes_the_task_unsteady() -> None:
    gold = gold_runs()
    gold[1] = run(RunKind.BASELINE, {**CLEAN, P2P[1]: FAIL}, n=1, patch="")
    own = [run(RunKind.BUG, BUGGY, n=0), run(RunKind.BUG, BUGGY, n=1)]
    stats = task_stats(task(), own, gold)
    assert not stats.steady
    assert [(r.test_id, r.gold_passed, r.gold_runs) for r in stats.unsteady_p2p] == \
        [(P2P[1], 2, 3)]
    assert stats.covering_tests is None and stats.f2p_files_run is None  # no coverage


def test_untrusted_runs_are_no_verdict_and_unmeasured_cpu_counts_wall_time() -> None:
    gold = [*gold_runs(), run(RunKind.BASELINE, {}, n=3, patch="", verdict=Verdict.INFRA)]
    own = [run(RunKind.BUG, BUGGY, cpu_s=None, duration_s=4.0)]
    stats = task_stats(task(), own, gold)
    assert stats.gold_runs == 3 and stats.own_cpu_s == 4.0


@pytest.mark.parametrize(("changed", "tests", "steps"), [
    ({"pkg/mod.py": {1}}, ("pkg/test_mod.py::t",), 0),
    ({"pkg/mod.py": {1}}, ("pkg/tests/test_mod.py::t",), 1),
    ({"src/pkg/a/mod.py": {1}}, ("tests/a/test_mod.py::t", "src/pkg/test_x.py::t"), 1),
    ({"mod.py": {1}}, ("tests/test_mod.py::t",), 1),
    ({"mod.py": {1}}, ("doctest-without-a-file",), None),
])
def test_distance_is_directory_steps_to_the_nearest_failing_test(changed, tests, steps) -> None:
    assert distance_to_tests(changed, tests) == steps


@pytest.fixture
def store(tmp_path: Path):
    with Store.open(tmp_path / "synth.duckdb") as s:
        yield s


def _corpus(store: Store, *, with_stats: bool = True) -> None:
    """One environment (10 s build, clean runs 3 × 2 CPU s) and two tasks: its share is 8 s."""
    other = PATCH.replace("a - b", "a * b")
    tasks = [task("ledger.1"), task("ledger.2", patch=other)]
    own = {t.instance_id: [run(RunKind.BUG, BUGGY, n=i, patch=t.patch) for i in range(2)]
           for t in tasks}
    own["ledger.2"].append(run(RunKind.SCREEN, {F2P[0]: FAIL}, cpu_s=1.0, patch=other))
    stats = [task_stats(t, own[t.instance_id], gold_runs(), COVERAGE, ("tests",)) for t in tasks]
    store.write(repo=REPO, snapshot=SNAP, environments=[env()],
                test_runs=[*gold_runs(), *(r for rs in own.values() for r in rs)],
                tasks=tasks, task_stats=stats if with_stats else [])
    store.write_coverage(COVERAGE)


def test_the_environment_share_is_its_build_and_clean_runs_split_among_its_tasks(store) -> None:
    _corpus(store)
    rows = {r["instance_id"]: r for r in tm.select(store)}
    assert rows["ledger.1"]["env_cpu_s"] == 8.0  # (10 + 3 × 2) / 2
    assert (rows["ledger.1"]["own_cpu_s"], rows["ledger.1"]["cpu_s"]) == (2.0, 10.0)
    assert (rows["ledger.2"]["own_cpu_s"], rows["ledger.2"]["cpu_s"]) == (3.0, 11.0)
    cost = tm.summary(store)
    assert cost is not None and (cost.tasks, cost.cpu_p50_s, cost.steady_share) == (2, 10.5, 1.0)
    # Every run and build over the tasks: (10 + 6 + 2 + 3) / 2.
    assert cost.all_in_cpu_per_task_s == 10.5


def test_sort_and_filter_select_tasks_on_their_figures(store) -> None:
    _corpus(store)
    assert [r["instance_id"] for r in tm.select(store, sort="-cpu_s")] == ["ledger.2", "ledger.1"]
    cheap = tm.select(store, [tm.parse_condition("cpu_s<=10"), tm.parse_condition("steady=yes")])
    assert [r["instance_id"] for r in cheap] == ["ledger.1"]
    assert tm.select(store, [tm.parse_condition("operator!=arith_swap")]) == []


@pytest.mark.parametrize("text", ["cpu<3", "cpu_s<abc", "steady>1", "repo<x", "nothing"])
def test_a_bad_filter_names_the_columns_or_the_type(text) -> None:
    with pytest.raises(tm.MetricsError, match="--filter"):
        tm.parse_condition(text)


def test_a_bad_sort_lists_the_columns() -> None:
    with pytest.raises(tm.MetricsError, match="cpu_s"):
        tm.parse_sort("-price")


def test_tasks_stored_before_accounting_get_it_from_their_stored_runs(store) -> None:
    _corpus(store, with_stats=False)
    assert len(store.tasks_without_stats()) == 2
    rows = {r["instance_id"]: r for r in tm.select(store)}  # backfills first
    assert store.tasks_without_stats() == []
    assert rows["ledger.2"]["own_cpu_s"] == 3.0 and rows["ledger.2"]["bug_runs"] == 2
    assert rows["ledger.1"]["covering_tests"] == 1


def test_export_filters_take_accounting_comparisons_beside_their_own_keys() -> None:
    from synth.data.export import ExportError, parse_filters

    flt = parse_filters(["repo=ledger", "cpu_s<=3", "steady=true"])
    assert flt.repos == ("ledger",)
    assert [(c.column, c.op, c.value) for c in flt.conditions] == \
        [("cpu_s", "<=", 3.0), ("steady", "=", True)]
    with pytest.raises(ExportError, match="cpu_s is a number"):
        parse_filters(["cpu_s<=cheap"])


def test_exported_tasks_can_be_chosen_on_their_figures(store) -> None:
    from synth.data.export import parse_filters, select_tasks

    _corpus(store)
    chosen = select_tasks(store, parse_filters(["cpu_s>10", "repo=ledger"]))
    assert [t.instance_id for t in chosen] == ["ledger.2"]


def test_a_confirming_run_counts_for_the_failing_tests_only() -> None:
    """The second bug run re-runs only the tests the first broke: PASS_TO_PASS tests absent
    from it are not failures, so the task stays steady."""
    confirm = run(RunKind.BUG, {F2P[0]: FAIL}, n=1).model_copy(update={"selected": 1})
    stats = task_stats(task(), [run(RunKind.BUG, BUGGY, n=0), confirm], gold_runs())
    assert stats.steady and stats.unsteady_p2p == ()
    (rate,) = stats.fail_to_pass
    assert (rate.bug_passed, rate.bug_runs) == (0, 2)


def test_each_repository_is_measured_against_one_exact_clean_run(store) -> None:
    _corpus(store)
    (cost,) = tm.repo_costs(store)
    assert (cost.repo, cost.tasks, cost.floor_cpu_s, cost.own_cpu_s) == ("ledger", 2, 2.0, 2.5)
    assert cost.own_ratio == 1.25
    # Every run (3 clean × 2 + the tasks' 2 + 3) and the 10 s build, over 2 tasks.
    assert (cost.all_in_cpu_s, cost.all_in_ratio) == (10.5, 5.25)

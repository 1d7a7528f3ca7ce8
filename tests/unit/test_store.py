"""The DuckDB store, on real files under tmp_path: round trips, idempotence, atomicity, schema.

The Test* records are imported under other names so that pytest does not try to collect them.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from synth.data.store import MIGRATIONS, TABLES, FunnelRow, Store, StoreError
from synth.records import (
    BackendKind,
    Candidate,
    CoverageMap,
    CoveredLines,
    Environment,
    EnvSpec,
    Rejection,
    RepoRef,
    RunKind,
    SetupResult,
    SetupVerdict,
    Snapshot,
    SourceKind,
    Strategy,
    Task,
    Verdict,
)
from synth.records import TestRun as Run
from synth.records import TestStatus as Status
from tests.factories import (
    make_candidate,
    make_environment,
    make_repo,
    make_requirement,
    make_result,
    make_run,
    make_snapshot,
    make_spec,
    make_task,
)

T0 = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
LEDGER = make_repo("ledger", source="https://example.com/ledger.git", kind=SourceKind.GIT)
OTHER = make_repo("other")
# Values beyond the defaults, so that a round trip that drops one shows.
SPEC = make_spec(requirements=("pytest>=8",), source_root="src",
                 pytest_args=("-p", "no:cacheprovider"), evidence=("pyproject.toml",))
LOCK = (make_requirement("pytest", "8.3.2"), make_requirement("pluggy", "1.5.0"))


def environment(snap: Snapshot, backend: BackendKind = BackendKind.DOCKER) -> Environment:
    return make_environment(snap, backend=backend, spec=SPEC, lock=LOCK, created_at=T0)


def candidate(
    snap: Snapshot, n: int, operator: str = "swap_compare", rejection: Rejection | None = None
) -> Candidate:
    patch = f"--- a/ledger/money.py\n+++ b/ledger/money.py\n@@ -1 +1 @@\n-x < {n}\n+x <= {n}\n"
    return make_candidate(snap, patch=patch, operator=operator, seed=n,
                          target_entities=("Money.__add__",), rejection=rejection)


def run_of(env: Environment, attempt: int = 0) -> Run:
    return make_run(
        results=(
            make_result("tests/test_money.py::test_add", Status.PASSED),
            make_result(
                "tests/test_money.py::test_sub[ü]",
                Status.FAILED,
                duration_s=0.125,
                message="AssertionError: assert 3 == 4 — ‘quoted’",
            ),
        ),
        kind=RunKind.BUG,
        env_id=env.env_id,
        patch_hash="p1",
        attempt=attempt,
        order=("default", "reverse", "random:1234")[attempt % 3],
        duration_s=2.5,
        log_tail="1 failed, 1 passed",
        created_at=T0 + timedelta(seconds=attempt),
    )


def task(cand: Candidate, env: Environment, instance_id: str, minutes: int = 0) -> Task:
    return make_task(
        candidate=cand,
        environment=env,
        instance_id=instance_id,
        FAIL_TO_PASS=("tests/test_money.py::test_add", "tests/test_money.py::test_sum"),
        created_at=T0 + timedelta(minutes=minutes),
    )


@pytest.fixture
def store(tmp_path: Path):
    with Store.open(tmp_path / "synth.duckdb") as s:
        yield s


def write_old(store: Store, batch: dict) -> None:
    """Write a batch as an older schema holds it: the fields added since are left out (and the
    migration gives them their defaults)."""
    from synth.data.store import _insert, _plain, _snapshot_row
    from synth.records import utcnow

    tables = {"environments": batch["environments"], "candidates": batch["candidates"],
              "test_runs": batch["test_runs"], "tasks": batch["tasks"]}
    store.write(repo=batch["repo"])
    store.query("INSERT INTO snapshots VALUES (?, ?, ?, ?)",
                list(_snapshot_row(batch["snapshot"]).values()))
    for table, records in tables.items():
        columns = {name for (name,) in store.query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table])}
        rows = [{k: v for k, v in {"created_at": utcnow(), **_plain(r), **_old_target(r)}.items()
                 if k in columns} for r in records]
        _insert(store._db, table, rows)


def _old_target(record: object) -> dict[str, str]:
    """A candidate's one target string before schema 8: a fix commit's short sha, or its names
    joined with "+" (empty at module level)."""
    if not isinstance(record, Candidate):
        return {}
    if record.fix_commit is not None:
        return {"target_entity": record.fix_commit[:12]}
    return {"target_entity": "+".join(record.target_entities)}


def full_batch() -> dict:
    snap = make_snapshot(LEDGER)
    env = environment(snap)
    cands = [candidate(snap, 1), candidate(snap, 2, rejection=Rejection.FLAKY)]
    return {
        "repo": LEDGER,
        "snapshot": snap,
        "environments": [env, environment(snap, BackendKind.LOCAL)],
        "candidates": cands,
        "test_runs": [run_of(env, 0), run_of(env, 1)],
        "tasks": [task(cands[0], env, "ledger-0001")],
    }


def test_every_record_type_round_trips(store: Store) -> None:
    batch = full_batch()
    store.write(**batch)
    snap, env = batch["snapshot"], batch["environments"][0]

    assert store.list_repos() == [LEDGER]
    assert store.get_snapshot(snap.snapshot_id) == snap
    assert store.get_environment(env.env_id) == env
    assert store.find_environment(snap.snapshot_id, BackendKind.LOCAL) == batch["environments"][1]
    assert store.find_environment(snap.snapshot_id, "docker") == env
    assert store.find_environment("no-such-snapshot", BackendKind.DOCKER) is None
    assert (
        sorted(store.list_candidates(snap.snapshot_id), key=lambda c: c.seed) == batch["candidates"]
    )
    assert store.list_candidates("no-such-snapshot") == []
    assert store.list_test_runs(env.env_id) == batch["test_runs"]
    assert store.list_tasks() == batch["tasks"]
    got = store.get_task("ledger-0001")
    assert got == batch["tasks"][0]
    # str enums compare equal to their values, so check the types came back, not just the values
    assert type(got.strategy) is Strategy
    assert type(store.list_test_runs(env.env_id)[0].results[1].status) is Status
    assert got.created_at == T0 and got.created_at.utcoffset() == timedelta(0)


def test_writing_the_same_records_twice_adds_no_rows(store: Store) -> None:
    store.write(**full_batch())
    first = store.counts()
    store.write(**full_batch())
    assert store.counts() == first
    assert first == {
        **dict.fromkeys(TABLES, 0),  # tables the batch does not fill stay empty
        "repos": 1,
        "snapshots": 1,
        "environments": 2,
        "candidates": 2,
        "test_runs": 2,
        "tasks": 1,
    }


def test_a_candidate_gains_its_rejection_once_and_keeps_it(store: Store) -> None:
    snap = make_snapshot(LEDGER)
    pending = candidate(snap, 7)
    store.write(snapshot=snap, candidates=[pending])
    rejected = pending.model_copy(update={"rejection": Rejection.NO_TEST_FAILED})
    store.write(candidates=[rejected])
    assert store.list_candidates() == [rejected]
    # a rerun neither clears the stored verdict nor replaces it
    store.write(candidates=[pending])
    store.write(candidates=[pending.model_copy(update={"rejection": Rejection.FLAKY})])
    assert store.list_candidates() == [rejected]


def test_a_candidate_twice_in_one_batch_is_stored_once_with_its_verdict(store: Store) -> None:
    snap = make_snapshot(LEDGER)
    pending = candidate(snap, 7)
    rejected = pending.model_copy(update={"rejection": Rejection.TIMEOUT})
    store.write(snapshot=snap, candidates=[pending, rejected, pending])
    assert store.list_candidates() == [rejected]


@pytest.mark.parametrize("bad_field", [{"seed": "x"}, {"FAIL_TO_PASS": object()}])
def test_a_batch_that_fails_midway_writes_nothing(store: Store, bad_field: dict) -> None:
    batch = full_batch()
    good = batch["tasks"][0]
    # model_construct skips validation, so DuckDB itself rejects the value, after the repo,
    # snapshot, environments, candidates and test runs of the batch were already inserted
    bad = Task.model_construct(**{**dict(good), "instance_id": "ledger-0002", **bad_field})
    batch["tasks"] = [good, bad]
    with pytest.raises(StoreError, match="nothing was written"):
        store.write(**batch)
    assert set(store.counts().values()) == {0}
    # the store is still usable after the rollback
    batch["tasks"] = [good]
    store.write(**batch)
    assert store.counts()["tasks"] == 1


def test_a_new_file_is_created_migrated_and_reopened(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "synth.duckdb"
    with Store.open(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert store.counts() == dict.fromkeys(TABLES, 0)
        store.write(**full_batch())
    with Store.open(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert store.query("SELECT count(*) FROM schema_migrations") == [(len(MIGRATIONS),)]
        assert store.counts()["tasks"] == 1


def test_pending_migrations_apply_and_a_newer_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "synth.duckdb"
    with Store.open(path) as store:
        store.write(**full_batch())
    later = (*MIGRATIONS, ("ALTER TABLE tasks ADD COLUMN difficulty INTEGER",))
    with Store.open(path, migrations=later) as store:
        assert store.schema_version == len(later)
        assert store.query("SELECT difficulty FROM tasks") == [(None,)]
    with pytest.raises(StoreError, match="newer than this code knows.*upgrade") as err:
        Store.open(path)
    assert str(path) in str(err.value)


def test_a_failed_migration_leaves_the_file_at_its_last_version(tmp_path: Path) -> None:
    path = tmp_path / "synth.duckdb"
    Store.open(path).close()
    broken = (*MIGRATIONS, ("CREATE TABLE extra (x INTEGER)", "SELEC nonsense"))
    last = len(MIGRATIONS)
    stays = f"version {last + 1} failed, so it stays at version {last}"
    with pytest.raises(StoreError, match=stays):
        Store.open(path, migrations=broken)
    with Store.open(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        tables = store.query("SELECT table_name FROM information_schema.tables")
        assert ("extra",) not in tables


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.duckdb"
    path.write_bytes(b"these are not the pages you are looking for\n" * 200)
    with pytest.raises(StoreError, match="is not a DuckDB database; pass --db") as err:
        Store.open(path)
    assert str(path) in str(err.value)
    assert path.read_bytes().startswith(b"these are not")  # left untouched


def test_an_empty_file_is_taken_as_a_new_database(tmp_path: Path) -> None:
    path = tmp_path / "synth.duckdb"
    path.touch()
    with Store.open(path) as store:
        assert store.schema_version == len(MIGRATIONS)


def test_a_file_open_in_another_process_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "synth.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from data.store import Store; s = Store.open(sys.argv[1]);"
            " print('ready', flush=True); sys.stdin.read()",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreError, match="open in another process") as err:
            Store.open(path)
        assert str(path) in str(err.value)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)


def test_a_closed_store_says_so(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "synth.duckdb")
    store.close()
    store.close()  # closing twice is harmless
    with pytest.raises(StoreError, match="closed"):
        store.counts()


def test_get_task_by_unique_prefix_and_refuses_ambiguous_or_missing(store: Store) -> None:
    batch = full_batch()
    cand, env = batch["candidates"][0], batch["environments"][0]
    ids = ["ledger-abc1", "ledger-abc2", "ledger-abd3", "ledger-ab"]
    store.write(tasks=[task(cand, env, i) for i in ids])

    assert store.get_task("ledger-abd").instance_id == "ledger-abd3"
    assert store.get_task("ledger-ab").instance_id == "ledger-ab"  # an exact id wins
    with pytest.raises(StoreError, match="ambiguous") as err:
        store.get_task("ledger-abc")
    assert "ledger-abc1" in str(err.value) and "ledger-abc2" in str(err.value)
    with pytest.raises(StoreError, match="no task 'ledger-zz'"):
        store.get_task("ledger-zz")
    with pytest.raises(StoreError):
        store.get_task("")


def test_list_tasks_is_newest_first_and_filters_by_repo(store: Store) -> None:
    snap = make_snapshot(LEDGER)
    env, cand = environment(snap), candidate(snap, 1)
    other = task(cand, env, "other-1", minutes=5).model_copy(update={"repo": "other"})
    tasks = [task(cand, env, "t-old", 0), task(cand, env, "t-b", 10), task(cand, env, "t-a", 10)]
    store.write(tasks=[*tasks, other])
    assert [t.instance_id for t in store.list_tasks()] == ["t-a", "t-b", "other-1", "t-old"]
    assert [t.instance_id for t in store.list_tasks(repo="ledger", limit=2)] == ["t-a", "t-b"]
    assert [t.instance_id for t in store.list_tasks(repo="other")] == ["other-1"]


def test_funnel_counts_a_hand_built_corpus(store: Store) -> None:
    ledger, other = make_snapshot(LEDGER), make_snapshot(OTHER)
    env_l, env_o = environment(ledger), environment(other)
    c1 = candidate(ledger, 1, "A")  # validated
    c2 = candidate(ledger, 2, "A", Rejection.NO_TEST_FAILED)
    c3 = candidate(ledger, 3, "B", Rejection.FLAKY)
    c4 = candidate(ledger, 4, "B", Rejection.PATCH_FAILED)
    c5 = candidate(ledger, 5, "A")  # still pending
    c6 = candidate(other, 6, "A", Rejection.GOLD_FAILED)
    c7 = candidate(other, 7, "B")  # validated
    store.write(snapshot=ledger, candidates=[c1, c2, c3, c4, c5], tasks=[task(c1, env_l, "l-1")])
    store.write(snapshot=other, candidates=[c6, c7], tasks=[task(c7, env_o, "o-7")])

    assert store.funnel("repo") == [
        FunnelRow(
            key="ledger",
            generated=5,
            broke=2,
            validated=1,
            rejected_by_reason={"flaky": 1, "no_test_failed": 1, "patch_failed": 1},
        ),
        FunnelRow(
            key="other", generated=2, broke=2, validated=1, rejected_by_reason={"gold_failed": 1}
        ),
    ]
    assert store.funnel("operator") == [
        FunnelRow(
            key="A",
            generated=4,
            broke=2,
            validated=1,
            rejected_by_reason={"gold_failed": 1, "no_test_failed": 1},
        ),
        FunnelRow(
            key="B",
            generated=3,
            broke=2,
            validated=1,
            rejected_by_reason={"flaky": 1, "patch_failed": 1},
        ),
    ]
    assert [(r.key, r.generated, r.broke, r.validated) for r in store.funnel("strategy")] == [
        ("procedural", 7, 4, 2)
    ]
    with pytest.raises(StoreError, match="use 'repo', 'operator' or 'strategy'"):
        store.funnel("colour")  # type: ignore[arg-type]


def test_lists_and_structs_are_real_duckdb_types(store: Store) -> None:
    store.write(**full_batch())
    assert store.query("SELECT instance_id, len(FAIL_TO_PASS) FROM tasks") == [("ledger-0001", 2)]
    assert store.query("SELECT typeof(FAIL_TO_PASS), typeof(PASS_TO_PASS) FROM tasks") == [
        ("VARCHAR[]", "VARCHAR[]")
    ]
    assert store.query(
        "SELECT spec.python, lock[1].name, len(lock) FROM environments WHERE backend = 'docker'"
    ) == [("3.11", "pytest", 2)]
    assert store.query(
        "SELECT count(*) FROM test_runs, unnest(results) AS r(res) WHERE res.status = 'failed'"
    ) == [(2,)]


def test_every_record_field_has_a_column(store: Store) -> None:
    models = {
        "repos": RepoRef,
        "environments": Environment,
        "candidates": Candidate,
        "test_runs": Run,
        "tasks": Task,
        "setups": SetupResult,
    }
    for table, model in models.items():
        rows = store.query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]
        )
        assert set(model.model_fields) <= {name for (name,) in rows}, table
    rows = store.query(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'coverage'"
    )
    assert {"env_id", *CoveredLines.model_fields} <= {name for (name,) in rows}


def test_funnel_counts_hygiene_and_coverage_rejections_as_unbroken(store: Store) -> None:
    """A bug rejected before any test ran (it touched tests, or no test reaches it) broke
    nothing; one whose suite could not even be collected (ERROR) did."""
    snap = make_snapshot(LEDGER)
    cands = [
        candidate(snap, 1, "A", Rejection.TOUCHES_TESTS),
        candidate(snap, 2, "A", Rejection.UNCOVERED),
        candidate(snap, 3, "A", Rejection.ERROR),
    ]
    store.write(snapshot=snap, candidates=cands)
    assert store.funnel("operator") == [
        FunnelRow(
            key="A",
            generated=3,
            broke=1,
            validated=0,
            rejected_by_reason={"error": 1, "touches_tests": 1, "uncovered": 1},
        )
    ]


def test_a_test_run_keeps_its_verdict_reason_order_and_selection(store: Store) -> None:
    env = environment(make_snapshot(LEDGER))
    base = run_of(env)
    runs = [
        base.model_copy(update={"run_id": "r-pass", "verdict": Verdict.PASS, "exit_code": 0}),
        base.model_copy(
            update={
                "run_id": "r-screen",
                "kind": RunKind.SCREEN,
                "order": "random:4242",
                "selected": 2,
            }
        ),
        base.model_copy(
            update={
                "run_id": "r-none-selected",
                "kind": RunKind.SCREEN,
                "verdict": Verdict.ERROR,
                "exit_code": 5,
                "reason": "pytest exited 5",
                "selected": 0,  # not None: "nothing selected" is not "the whole suite"
                "results": (),
            }
        ),
        base.model_copy(
            update={
                "run_id": "r-forged",
                "kind": RunKind.COVERAGE,
                "verdict": Verdict.INFRA,
                "reason": "the report does not carry this run's nonce: forged",
                "order": "reverse",
                "results": (),
            }
        ),
    ]
    store.write(test_runs=runs)
    got = {r.run_id: r for r in store.list_test_runs(env.env_id)}
    assert got == {r.run_id: r for r in runs}
    assert got["r-screen"].selected == 2 and got["r-pass"].selected is None
    assert got["r-none-selected"].selected == 0
    assert all(type(r.verdict) is Verdict and type(r.kind) is RunKind for r in got.values())
    assert store.query('SELECT run_id FROM test_runs WHERE "order" = ?', ["reverse"]) == [
        ("r-forged",)
    ]


def test_test_results_view_has_one_row_per_test_per_run(store: Store) -> None:
    env = environment(make_snapshot(LEDGER))
    empty = run_of(env, 2).model_copy(update={"verdict": Verdict.INFRA, "results": ()})
    store.write(test_runs=[run_of(env, 0), run_of(env, 1), empty])
    rows = store.query(
        'SELECT run_id, attempt, "order", verdict, test_id, status, duration_s, message'
        " FROM test_results ORDER BY attempt, test_id"
    )
    expected = []
    for run in (run_of(env, 0), run_of(env, 1)):
        for r in sorted(run.results, key=lambda r: r.test_id):
            expected.append(
                (run.run_id, run.attempt, run.order, "fail", r.test_id, r.status.value,
                 r.duration_s, r.message)
            )
    assert rows == expected  # the run without results contributes no row
    # what the view is for: how one test's status varies across runs
    assert store.query(
        "SELECT test_id, count(*), count(DISTINCT status) FROM test_results"
        " GROUP BY test_id ORDER BY test_id"
    ) == [("tests/test_money.py::test_add", 2, 1), ("tests/test_money.py::test_sub[ü]", 2, 1)]


def coverage_of(env_id: str, *entries: tuple[str, str, tuple[int, ...]]) -> CoverageMap:
    return CoverageMap(
        env_id=env_id,
        entries=tuple(CoveredLines(test_id=t, file=f, lines=ls) for t, f, ls in entries),
    )


def test_coverage_round_trips_and_is_none_when_never_measured(store: Store) -> None:
    measured = coverage_of(
        "env-a",
        ("tests/test_money.py::test_add", "ledger/money.py", (3, 4, 5, 40)),
        ("tests/test_money.py::test_add", "ledger/util.py", (1,)),
        ("tests/test_money.py::test_sub[ü]", "ledger/money.py", (3, 9)),
    )
    assert store.get_coverage("env-a") is None
    store.write_coverage(measured)
    assert store.get_coverage("env-a") == measured
    assert store.get_coverage("env-b") is None
    assert store.query("SELECT typeof(lines) FROM coverage LIMIT 1") == [("INTEGER[]",)]


def test_coverage_entries_come_back_ordered_by_test_then_file(store: Store) -> None:
    entries = [("t::b", "z.py", (1,)), ("t::a", "z.py", (2,)), ("t::b", "a.py", (3,))]
    store.write_coverage(coverage_of("env-a", *entries))
    got = store.get_coverage("env-a")
    assert got is not None
    assert [(e.test_id, e.file) for e in got.entries] == [
        ("t::a", "z.py"),
        ("t::b", "a.py"),
        ("t::b", "z.py"),
    ]


def test_writing_coverage_replaces_that_environments_map_only(store: Store) -> None:
    first = coverage_of("env-a", ("t::a", "m.py", (1, 2)), ("t::b", "m.py", (7,)))
    other = coverage_of("env-b", ("t::a", "m.py", (5,)))
    store.write_coverage(first)
    store.write_coverage(other)
    second = coverage_of("env-a", ("t::a", "m.py", (1, 2, 3)), ("t::c", "n.py", (4,)))
    store.write_coverage(second)
    assert store.get_coverage("env-a") == second  # t::b's entry is gone, not merged
    assert store.get_coverage("env-b") == other
    store.write_coverage(second)  # rewriting the same map is harmless
    assert store.get_coverage("env-a") == second
    store.write_coverage(CoverageMap(env_id="env-a", entries=()))
    assert store.get_coverage("env-a") is None


def test_a_coverage_write_that_fails_keeps_the_previous_map(store: Store) -> None:
    before = coverage_of("env-a", ("t::a", "m.py", (1,)))
    store.write_coverage(before)
    duplicated = coverage_of("env-a", ("t::a", "m.py", (1,)), ("t::a", "m.py", (2,)))
    with pytest.raises(StoreError, match="nothing was written"):
        store.write_coverage(duplicated)
    assert store.get_coverage("env-a") == before
    store.write_coverage(coverage_of("env-a", ("t::z", "m.py", (9,))))  # still usable
    assert store.get_coverage("env-a") == coverage_of("env-a", ("t::z", "m.py", (9,)))


def setup_of(
    env: Environment | None,
    verdict: SetupVerdict = SetupVerdict.OK,
    *,
    seconds: int = 0,
    **fields: object,
) -> SetupResult:
    ok = verdict is SetupVerdict.OK
    values: dict = {
        "source": LEDGER.source,
        "repo": "ledger",
        "verdict": verdict,
        "message": "12 tests pass" if ok else "ERROR: No matching distribution found for nope==9",
        "snapshot_id": env.snapshot_id if env else "",
        "env_id": env.env_id if env else "",
        "collected": 14 if ok else 0,
        "passing": 12 if ok else 0,
        "excluded": ("tests/test_slow.py::test_forever: timed out",) if ok else (),
        "adjustments": ("dropped mypy: a type checker, not needed to run tests",),
        "duration_s": 31.5,
        "created_at": T0 + timedelta(seconds=seconds),
    }
    return SetupResult(**{**values, **fields})


def test_a_setup_round_trips_with_its_enum_lists_and_time(store: Store) -> None:
    env = environment(make_snapshot(LEDGER))
    ok = setup_of(env)
    store.write(setups=[ok])
    assert store.list_setups() == [ok]
    got = store.get_setup(env.env_id)
    assert got == ok and type(got.verdict) is SetupVerdict
    assert got.created_at == T0 and got.created_at.utcoffset() == timedelta(0)
    assert store.query("SELECT setup_id, typeof(excluded), verdict FROM setups") == [
        (ok.setup_id, "VARCHAR[]", "ok")
    ]
    assert store.get_setup("no-such-env") is None


def test_a_rerun_replaces_the_setup_of_the_same_source_snapshot_and_env(store: Store) -> None:
    """The latest verdict wins: a build that was fixed (or broke) since must not keep reporting
    the stale one, and a rerun adds no row."""
    env = environment(make_snapshot(LEDGER))
    store.write(setups=[setup_of(env, SetupVerdict.NO_PASSING_TESTS)])
    fixed = setup_of(env, seconds=60)
    store.write(setups=[fixed])
    assert store.list_setups() == [fixed]
    assert store.counts()["setups"] == 1
    # within one batch too, the last copy wins
    again = setup_of(env, SetupVerdict.TIMEOUT, seconds=120)
    store.write(setups=[fixed, again])
    assert store.list_setups() == [again]


def test_setups_are_listed_oldest_first_by_repo_and_the_newest_per_env_is_got(
    store: Store,
) -> None:
    ledger, other = environment(make_snapshot(LEDGER)), environment(make_snapshot(OTHER))
    failed = setup_of(None, SetupVerdict.BUILD_FAILED, seconds=5)
    ok = setup_of(ledger, seconds=10)
    elsewhere = setup_of(other, seconds=1, source=OTHER.source, repo="other")
    # the same environment reached from another spelling of the source: a row of its own
    alias = setup_of(ledger, SetupVerdict.NO_TESTS, seconds=20, source="./ledger")
    store.write(setups=[ok, failed, elsewhere, alias])
    assert store.list_setups() == [elsewhere, failed, ok, alias]
    assert store.list_setups(repo="ledger") == [failed, ok, alias]
    assert store.list_setups(repo="nope") == []
    assert store.get_setup(ledger.env_id) == alias


def test_a_batch_whose_setup_is_malformed_writes_nothing(store: Store) -> None:
    batch = full_batch()
    bad = SetupResult.model_construct(**{**dict(setup_of(None)), "passing": "many"})
    with pytest.raises(StoreError, match="nothing was written"):
        store.write(**batch, setups=[bad])
    assert set(store.counts().values()) == {0}


def _spec_fields(store: Store) -> set[str]:
    (struct,) = store.query(
        "SELECT data_type FROM information_schema.columns"
        " WHERE table_name = 'environments' AND column_name = 'spec'"
    )[0]
    return {field.split()[0] for field in struct.removeprefix("STRUCT(").split(", ")}


def test_every_envspec_field_has_a_struct_field(store: Store) -> None:
    """DuckDB drops a STRUCT key it does not name without an error: a field added to EnvSpec
    without a migration would be lost on every write (as env and adjustments were)."""
    assert set(EnvSpec.model_fields) <= _spec_fields(store)


def test_environments_of_the_previous_schema_migrate_and_keep_the_new_spec_fields(
    tmp_path: Path,
) -> None:
    path = tmp_path / "synth.duckdb"
    batch = full_batch()
    with Store.open(path, migrations=MIGRATIONS[:4]) as old:
        assert "env" not in _spec_fields(old)
        write_old(old, batch)
    with Store.open(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        for env in batch["environments"]:
            assert store.get_environment(env.env_id) == env  # env and adjustments: ()
        assert store.list_test_runs(batch["environments"][0].env_id) == batch["test_runs"]
        assert store.query("SELECT typeof(spec.env), len(spec.adjustments) FROM environments")[
            0
        ] == ("VARCHAR[]", 0)
        snap = batch["snapshot"]
        spec = batch["environments"][0].spec.model_copy(
            update={"env": ("TZ=UTC", "NO_NETWORK=1"), "adjustments": ("dropped mypy: linter",)}
        )
        newer = environment(snap).model_copy(update={"env_id": "env-new", "spec": spec})
        store.write(environments=[newer])
        assert store.get_environment("env-new") == newer
        assert store.counts()["setups"] == 0


def test_candidates_of_schema_7_get_typed_targets(tmp_path: Path) -> None:
    """One target string per strategy (a name, names joined with "+", a short sha, "" at module
    level) becomes the names a candidate changes and, apart, the commit a mirror reverts."""
    path = tmp_path / "synth.duckdb"
    snap = make_snapshot(LEDGER)
    procedural = candidate(snap, 1)
    module_level = candidate(snap, 2).model_copy(update={"target_entities": ()})
    mirrored = make_candidate(snap, patch="--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n",
                              strategy=Strategy.MIRROR, operator="revert_fix",
                              target_entities=(), fix_commit="f" * 40)
    combined = make_candidate(snap, patch="--- a/y\n+++ b/y\n@@ -1 +1 @@\n-a\n+b\n",
                              strategy=Strategy.COMBINE, operator="combine",
                              target_entities=("Money.__add__", "Money.split"),
                              parents=(procedural.candidate_id, module_level.candidate_id))
    batch = {**full_batch(), "candidates": [procedural, module_level, mirrored, combined]}
    with Store.open(path, migrations=MIGRATIONS[:7]) as old:
        write_old(old, batch)
        assert old.query("SELECT count(*) FROM candidates WHERE target_entity = 'ffffffffffff'")
    with Store.open(path) as store:
        got = {c.candidate_id: c for c in store.list_candidates()}
    # The short sha is all an old row kept of the commit; everything else comes back whole.
    assert got.pop(mirrored.candidate_id) == mirrored.model_copy(update={"fix_commit": "f" * 12})
    assert got == {c.candidate_id: c for c in (procedural, module_level, combined)}


def test_a_candidate_is_made_as_its_strategy_says() -> None:
    snap = make_snapshot(LEDGER)
    with pytest.raises(ValueError, match="fix_commit exactly when its strategy is mirror"):
        make_candidate(snap, strategy=Strategy.MIRROR)
    with pytest.raises(ValueError, match="fix_commit exactly when its strategy is mirror"):
        make_candidate(snap, fix_commit="f" * 40)
    with pytest.raises(ValueError, match="parents exactly when its strategy is combine"):
        make_candidate(snap, strategy=Strategy.COMBINE)

"""Export mapping, filters and the Parquet round trip, on records built by hand (no Docker)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from synth.data.export import (
    END_MARK,
    LOG_PARSER,
    START_MARK,
    ExportError,
    ExportFormat,
    SWEbenchInstance,
    SWEsmithInstance,
    TaskFilter,
    eval_script,
    export_corpus,
    export_parquet,
    parse_filters,
    swebench_instance,
    swesmith_instance,
    task_image_name,
    timestamp,
)
from synth.data.store import Store
from synth.data.task_repo import TaskCommit
from synth.records import BackendKind, Candidate, Environment, RepoRef, Snapshot, Task
from tests.factories import (
    make_candidate,
    make_environment,
    make_repo,
    make_requirement,
    make_snapshot,
    make_spec,
    make_task,
)

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SPEC = make_spec(requirements=("pytest",), source_root="src", pytest_args=("-x", "-k", "not slow"))
LOCK = (make_requirement("pytest", "8.3.4"),)


def make_corpus(
    n: int = 3, repo: str = "demo"
) -> tuple[RepoRef, Snapshot, Environment, list[Candidate], list[Task]]:
    ref = make_repo(repo)
    snap = make_snapshot(ref, commit="c" * 40, path=f"/nonexistent/{repo}")
    env = make_environment(snap, backend=BackendKind.DOCKER, spec=SPEC, lock=LOCK, created_at=T0)
    cands, tasks = [], []
    for i in range(n):
        patch = (
            f"diff --git a/src/m.py b/src/m.py\n--- a/src/m.py\n+++ b/src/m.py\n@@ -{i} +{i} @@\n"
        )
        cand = make_candidate(
            snap, patch=patch, operator=("flip", "swap")[i % 2], seed=i, target_file="src/m.py",
            target_entities=(f"f{i}",),
        )
        cands.append(cand)
        tasks.append(
            make_task(
                snap, cand, env,
                instance_id=f"{repo}.cccccccc.{cand.operator}__{i:08d}",
                problem_statement=f"broken {i}",
                FAIL_TO_PASS=(f"tests/test_m.py::test_{i}",),
                PASS_TO_PASS=("tests/test_m.py::test_ok", "tests/test_m.py::test_p[a b]"),
                created_at=T0 + timedelta(days=i),
            )
        )
    return ref, snap, env, cands, tasks


@pytest.fixture
def store(tmp_path: Path):
    ref, snap, env, cands, tasks = make_corpus()
    with Store.open(tmp_path / "corpus.duckdb") as s:
        s.write(repo=ref, snapshot=snap, environments=[env], candidates=cands, tasks=tasks)
        yield s


def test_filters_parse_into_alternatives_per_key_and_all_keys_apply() -> None:
    flt = parse_filters(["repo=demo", "repo=other", "operator=flip", "since=2026-01-02"])
    assert flt.repos == ("demo", "other") and flt.operators == ("flip",)
    assert flt.since == datetime(2026, 1, 2, tzinfo=UTC)
    *_, tasks = make_corpus()
    assert [t.seed for t in tasks if flt.matches(t)] == [0, 2]
    assert [t.seed for t in tasks if parse_filters(["until=2026-01-03T12:00"]).matches(t)] == [0, 1]
    assert [
        t.seed for t in tasks if parse_filters(["instance_id=demo.cccccccc.swap"]).matches(t)
    ] == [1]
    assert all(TaskFilter().matches(t) for t in tasks)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("repo", "write KEY=VALUE"),
        ("colour=red", "KEY one of"),
        ("repo=", "write KEY=VALUE"),
        ("since=yesterday", "not a date"),
        ("strategy=magic", "choose one of procedural"),
    ],
)
def test_a_bad_filter_names_the_fix(item: str, message: str) -> None:
    with pytest.raises(ExportError, match=message):
        parse_filters([item])


def test_swebench_mapping_puts_the_bug_in_base_commit_and_the_fix_in_patch() -> None:
    *_, env, _, tasks = make_corpus(1)
    task = tasks[0]
    commit = TaskCommit(bug_commit="b" * 40, fix_patch="diff --git (the reverse)\n")
    row = swebench_instance(task, env, commit, task.image_name)
    assert row.base_commit == "b" * 40 and row.patch == commit.fix_patch
    assert row.environment_setup_commit == task.base_commit
    assert row.test_patch == "" and row.hints_text == ""
    assert row.version == task.env_id and row.image_name == task.image_name
    assert row.FAIL_TO_PASS == task.FAIL_TO_PASS and row.PASS_TO_PASS == task.PASS_TO_PASS
    assert row.created_at == "2026-01-02T03:04:05Z"
    assert row.image == task_image_name(task) and row.log_parser == LOG_PARSER
    # SWE-bench's twelve instance fields are all there, under their own names.
    swebench_fields = {
        "instance_id",
        "repo",
        "base_commit",
        "patch",
        "test_patch",
        "problem_statement",
        "hints_text",
        "created_at",
        "version",
        "FAIL_TO_PASS",
        "PASS_TO_PASS",
        "environment_setup_commit",
    }
    assert swebench_fields <= set(json.loads(row.model_dump_json()))


def test_swesmith_mapping_keeps_the_bug_diff_and_the_clean_commit() -> None:
    *_, tasks = make_corpus(1)
    row = swesmith_instance(tasks[0], tasks[0].image_name)
    assert row.patch == tasks[0].patch and row.base_commit == tasks[0].base_commit
    assert set(SWEsmithInstance.model_fields) == {
        "instance_id",
        "repo",
        "base_commit",
        "patch",
        "problem_statement",
        "FAIL_TO_PASS",
        "PASS_TO_PASS",
        "image_name",
        "created_at",
    }


def test_eval_script_brackets_pytest_with_swebench_markers_and_quotes_arguments() -> None:
    *_, env, _, _ = make_corpus(1)
    script = eval_script(env).splitlines()
    start, end = script.index(f"echo '{START_MARK}'"), script.index(f"echo '{END_MARK}'")
    command = script[start + 1]
    assert end == start + 2
    assert "-rA" in command.split() and command.endswith("-x -k 'not slow' tests")
    assert "export PYTHONPATH=/testbed/src" in script


def test_task_image_name_is_a_valid_docker_reference() -> None:
    *_, tasks = make_corpus(1)
    task = tasks[0].model_copy(update={"instance_id": "demo.x/y z" + "q" * 200})
    repo, _, tag = task_image_name(task).partition(":")
    assert repo == "synth-env/demo".replace("env", "task") and len(tag) <= 128
    assert set(tag) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def test_timestamp_is_utc_with_a_z() -> None:
    from zoneinfo import ZoneInfo

    assert timestamp(datetime(2026, 1, 1, 12, tzinfo=ZoneInfo("Europe/Paris"))) == (
        "2026-01-01T11:00:00Z"
    )


def test_parquet_export_reads_back_with_pyarrow_and_matches_the_store(
    store: Store, tmp_path: Path
) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "tasks.parquet"
    export_parquet(store, store.list_tasks(), out)
    table = pq.read_table(out)
    rows = {r["instance_id"]: r for r in table.to_pylist()}
    for task in store.list_tasks():
        row = rows[task.instance_id]
        assert row["patch"] == task.patch
        assert tuple(row["FAIL_TO_PASS"]) == task.FAIL_TO_PASS
        assert tuple(row["PASS_TO_PASS"]) == task.PASS_TO_PASS
        assert row["created_at"] == task.created_at
        assert row["target_entities"] == [f"f{task.seed}"]
        assert row["fix_commit"] is None and row["repo_source"] == "/src/demo"
        assert row["lock"][0]["version"] == "8.3.4" and row["spec"]["source_root"] == "src"
    assert not list(tmp_path.glob(".tasks.parquet.*")), "no temporary file is left behind"


def test_parquet_export_loads_with_hugging_face_datasets(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    out = tmp_path / "tasks.parquet"
    export_parquet(store, store.list_tasks(), out)
    ds = datasets.Dataset.from_parquet(str(out), cache_dir=str(tmp_path / "hf-cache"))
    assert ds.num_rows == 3
    by_id = {r["instance_id"]: r for r in ds}
    for task in store.list_tasks():
        assert by_id[task.instance_id]["FAIL_TO_PASS"] == list(task.FAIL_TO_PASS)
        assert by_id[task.instance_id]["problem_statement"] == task.problem_statement


def test_export_of_a_filter_that_matches_nothing_says_so(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no task .* matches the filter"):
        export_corpus(
            store,
            ExportFormat.PARQUET,
            tmp_path / "x.parquet",
            parse_filters(["repo=absent"]),
            snapshot_root=tmp_path,
        )
    assert not (tmp_path / "x.parquet").exists()


def test_parquet_export_refuses_a_folder(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="is a folder"):
        export_corpus(store, ExportFormat.PARQUET, tmp_path, snapshot_root=tmp_path)


def test_folder_export_never_overwrites_something_it_did_not_write(
    store: Store, tmp_path: Path
) -> None:
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "keep.txt").write_text("precious")
    with pytest.raises(ExportError, match="not an earlier synth export"):
        export_corpus(store, ExportFormat.SWEBENCH, mine, snapshot_root=tmp_path)
    assert (mine / "keep.txt").read_text() == "precious"


def test_swebench_instance_record_accepts_what_it_writes() -> None:
    *_, env, _, tasks = make_corpus(1)
    row = swebench_instance(tasks[0], env, TaskCommit("b" * 40, "fix"), "img")
    assert SWEbenchInstance.model_validate_json(row.model_dump_json()) == row

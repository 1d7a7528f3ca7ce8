"""`synth export` of a real sample corpus, read back by the consumers' own readers.

Parquet: pyarrow and Hugging Face `datasets`. SWE-bench / SWE-smith: the JSONL instances, checked
the way a harness uses them (clone the bundle, check out base_commit, apply the patch), and by
SWE-bench's own `make_test_spec` where the `swebench` package is installed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synth import proc
from synth.cli import app
from synth.data.export import SWEbenchInstance, SWEsmithInstance
from synth.data.store import Store
from synth.records import Task

pytestmark = pytest.mark.usefixtures("ray_session")
runner = CliRunner()


@pytest.fixture(scope="module")
def corpus(local_corpus: Path) -> Path:
    """The session's local corpus itself: an export only reads the store."""
    return local_corpus


@pytest.fixture(scope="module")
def tasks(corpus: Path) -> dict[str, Task]:
    with Store.open(corpus) as store:
        return {t.instance_id: t for t in store.list_tasks()}


def _export(corpus: Path, cache_dir: Path, fmt: str, out: Path, *extra: str) -> str:
    result = runner.invoke(
        app,
        [
            "export",
            "--format",
            fmt,
            "--out",
            str(out),
            "--db",
            str(corpus),
            "--cache-dir",
            str(cache_dir),
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    return result.output


def _git(repo: Path, *args: str) -> str:
    return proc.run(["git", "-C", repo, *args], timeout=120).stdout.strip()


def _clone(bundle: Path, dest: Path) -> Path:
    proc.run(["git", "clone", "--quiet", bundle, dest], timeout=120)
    return dest


@pytest.fixture(scope="module")
def swebench(corpus: Path, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("swebench") / "export"
    _export(corpus, cache_dir, "swebench", out)
    return out


def test_parquet_loads_with_pyarrow_and_datasets_and_matches_the_store(
    corpus: Path,
    cache_dir: Path,
    tasks: dict[str, Task],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "corpus.parquet"
    _export(corpus, cache_dir, "parquet", out)
    rows = pq.read_table(out).to_pylist()
    assert sorted(r["instance_id"] for r in rows) == sorted(tasks)
    for row in rows:
        task = tasks[row["instance_id"]]
        assert (row["patch"], row["base_commit"], row["operator"]) == (
            task.patch,
            task.base_commit,
            task.operator,
        )
        assert tuple(row["FAIL_TO_PASS"]) == task.FAIL_TO_PASS
        assert tuple(row["PASS_TO_PASS"]) == task.PASS_TO_PASS
        assert row["backend"] == "local" and row["lock"]
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    ds = datasets.load_dataset(
        "parquet", data_files=str(out), split="train", cache_dir=str(tmp_path / "hf-cache")
    )
    assert ds.num_rows == len(tasks)
    for row in ds:
        assert row["FAIL_TO_PASS"] == list(tasks[row["instance_id"]].FAIL_TO_PASS)


def test_swebench_instances_check_out_the_bug_and_the_patch_fixes_it(
    swebench: Path, tasks: dict[str, Task], tmp_path: Path
) -> None:
    lines = (swebench / "instances.jsonl").read_text().splitlines()
    instances = [SWEbenchInstance.model_validate(json.loads(line)) for line in lines]
    assert sorted(i.instance_id for i in instances) == sorted(tasks)
    (bundle,) = (swebench / "repos").glob("*.bundle")
    repo = _clone(bundle, tmp_path / "repo")
    for inst in instances:
        task = tasks[inst.instance_id]
        assert inst.FAIL_TO_PASS == task.FAIL_TO_PASS and inst.test_patch == ""
        assert inst.environment_setup_commit == task.base_commit
        # base_commit holds the bug, alone: no parent from which to read the answer.
        assert _git(repo, "rev-list", "--parents", "-n", "1", inst.base_commit) == inst.base_commit
        _git(repo, "checkout", "--quiet", "--force", inst.base_commit)
        (tmp_path / "fix.patch").write_text(inst.patch)
        _git(repo, "apply", str(tmp_path / "fix.patch"))
        _git(repo, "add", "--all")
        clean_tree = _git(repo, "rev-parse", f"{inst.environment_setup_commit}^{{tree}}")
        assert _git(repo, "write-tree") == clean_tree, "the fix gives back the clean tree"
        # And the bug commit is the clean commit with the stored bug applied.
        _git(repo, "checkout", "--quiet", "--force", inst.environment_setup_commit)
        (tmp_path / "bug.patch").write_text(task.patch)
        _git(repo, "apply", str(tmp_path / "bug.patch"))
        _git(repo, "add", "--all")
        assert _git(repo, "write-tree") == _git(repo, "rev-parse", f"{inst.base_commit}^{{tree}}")
        _git(repo, "reset", "--quiet", "--hard")


def test_swebench_export_carries_what_rebuilds_the_environment(swebench: Path) -> None:
    inst = SWEbenchInstance.model_validate_json(
        (swebench / "instances.jsonl").read_text().splitlines()[0]
    )
    env_dir = swebench / "environments" / inst.env_id
    assert {p.name for p in env_dir.iterdir()} >= {"Dockerfile", "lock.txt", "environment.json"}
    assert "--require-hashes" in (env_dir / "Dockerfile").read_text()
    assert "--hash=sha256:" in (env_dir / "lock.txt").read_text()
    assert json.loads((env_dir / "environment.json").read_text())["env_id"] == inst.env_id
    task_dir = swebench / "tasks" / inst.instance_id
    dockerfile = (task_dir / "Dockerfile").read_text()
    assert f'test "$commit" = {inst.base_commit}' in dockerfile
    assert dockerfile.startswith("# Task") and f"FROM {inst.image_name}" in dockerfile
    manifest = json.loads((swebench / "export.json").read_text())
    assert manifest["format"] == "swebench" and manifest["tasks"] > 0


def test_swebench_own_reader_builds_a_test_spec(swebench: Path) -> None:
    utils = pytest.importorskip("swebench.harness.utils")
    for inst in utils.load_swebench_dataset(str(swebench / "instances.jsonl")):
        spec = utils.make_test_spec(inst)
        assert spec.FAIL_TO_PASS == inst["FAIL_TO_PASS"] and spec.log_parser == "parse_log_pytest"


def test_swesmith_instances_carry_the_bug_diff_and_a_branch_per_task(
    corpus: Path, cache_dir: Path, tasks: dict[str, Task], tmp_path: Path
) -> None:
    out = tmp_path / "swesmith"
    _export(corpus, cache_dir, "swesmith", out)
    rows = [
        SWEsmithInstance.model_validate_json(line)
        for line in (out / "instances.jsonl").read_text().splitlines()
    ]
    assert sorted(r.instance_id for r in rows) == sorted(tasks)
    (bundle,) = (out / "repos").glob("*.bundle")
    repo = _clone(bundle, tmp_path / "repo")
    for row in rows:
        task = tasks[row.instance_id]
        assert (row.patch, row.base_commit) == (task.patch, task.base_commit)
        # The corpus ran on the local backend: the export names the Docker image instead.
        assert row.image_name.startswith("synth-env/ledger:") and task.image_name.startswith("/")
        assert _git(repo, "rev-parse", f"origin/{row.instance_id}")  # SWE-smith's branch


def test_a_filtered_export_replaces_the_earlier_one(
    corpus: Path, cache_dir: Path, tasks: dict[str, Task], tmp_path: Path
) -> None:
    out = tmp_path / "subset"
    _export(corpus, cache_dir, "swesmith", out)
    first = sorted(tasks)[0]
    text = _export(corpus, cache_dir, "swesmith", out, "--filter", f"instance_id={first}")
    assert "exported 1 task(s)" in text
    assert [
        json.loads(x)["instance_id"] for x in (out / "instances.jsonl").read_text().split("\n") if x
    ] == [first]
    assert [p.name for p in tmp_path.iterdir()] == ["subset"], "no staging folder is left"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "csv", "--out", "x"],
         "'csv' is not one of 'swebench', 'swesmith', 'parquet', 'harbor'"),
        (["--format", "parquet", "--out", "x.parquet", "--filter", "colour=red"], "KEY one of"),
    ],
)
def test_bad_export_arguments_get_a_clear_error(
    corpus: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["export", "--db", str(corpus), *args])
    text = " ".join(result.output.replace("│", " ").split())  # typer boxes its errors
    assert result.exit_code == 2 and message in text

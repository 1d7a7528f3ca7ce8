"""The factory end to end through Ray into DuckDB, and the stored verdicts reproducing."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from synth.data.store import Store
from synth.envs.backend import BackendConfig, Limits, RunRequest, build_backend
from synth.pipelines.factory import run_factory
from synth.records import BackendKind, RunKind, Task, TestStatus, Verdict
from synth.verifiers.runner import run_suite

pytestmark = pytest.mark.usefixtures("ray_session")


def _config(kind: BackendKind, cache_dir: Path) -> BackendConfig:
    return BackendConfig(kind=kind, cache_dir=cache_dir, limits=Limits(timeout_s=120))


def assert_reproduces(store: Store, task: Task, config: BackendConfig) -> None:
    """Re-apply the stored patch in the stored environment: exactly FAIL_TO_PASS fails."""
    env = store.get_environment(task.env_id)
    snapshot = store.get_snapshot(env.snapshot_id)
    backend = build_backend(config)
    try:
        run = run_suite(backend, env, snapshot, kind=RunKind.BUG,
                        request=RunRequest(patch=task.patch), attempt=99)
    finally:
        backend.close()
    assert run.verdict is Verdict.FAIL, run.log_tail
    statuses = run.status_map()
    failing = {
        t
        for t in task.FAIL_TO_PASS + task.PASS_TO_PASS
        if statuses.get(t, TestStatus.MISSING) is not TestStatus.PASSED
    }
    assert failing == set(task.FAIL_TO_PASS)


@pytest.mark.usefixtures("docker_engine")
def test_sample_yields_tasks_that_reproduce_and_a_rerun_adds_nothing(
    sample_path: Path, cache_dir: Path, tmp_path: Path
) -> None:
    db = tmp_path / "sample.duckdb"
    config = _config(BackendKind.DOCKER, cache_dir)
    first = run_factory([str(sample_path)], db, config, max_candidates=12, seed=0)
    assert first.failures == []
    assert first.generated == 12 and first.validated + first.rejected == 12
    assert first.validated >= 6, "the sample's suite should catch most mutations"
    with Store.open(db) as store:
        counts = store.counts()
        tasks = store.list_tasks()
        assert len(tasks) == first.validated == counts["tasks"]
        assert counts["environments"] == 1  # one environment shared by every task
        for task in tasks:
            assert task.FAIL_TO_PASS and not set(task.FAIL_TO_PASS) & set(task.PASS_TO_PASS)
            assert task.patch not in task.problem_statement
            assert task.image_name.startswith("synth-env/ledger:")
        for task in random.Random(0).sample(tasks, 3):
            assert_reproduces(store, task, config)

    second = run_factory([str(sample_path)], db, config, max_candidates=12, seed=0)
    assert second.skipped_done == 12 and second.validated == second.rejected == 0
    with Store.open(db) as store:
        assert store.counts() == counts


def test_local_backend_runs_the_same_pipeline(
    sample_path: Path, cache_dir: Path, tmp_path: Path
) -> None:
    db = tmp_path / "local.duckdb"
    config = _config(BackendKind.LOCAL, cache_dir)
    summary = run_factory([str(sample_path)], db, config, max_candidates=6, seed=1)
    assert summary.failures == [] and summary.validated >= 3
    with Store.open(db) as store:
        task = store.list_tasks()[0]
        assert_reproduces(store, task, config)
        assert store.get_environment(task.env_id).backend is BackendKind.LOCAL


def test_a_bad_source_is_reported_and_the_others_still_run(
    sample_path: Path, cache_dir: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "no-tests"
    empty.mkdir()
    (empty / "mod.py").write_text("X = 1\n")
    db = tmp_path / "mixed.duckdb"
    summary = run_factory(
        [str(empty), str(sample_path)],
        db,
        _config(BackendKind.LOCAL, cache_dir),
        max_candidates=2,
        seed=0,
    )
    assert len(summary.failures) == 1 and "found no tests" in summary.failures[0]
    assert summary.repos == ["ledger"]


@pytest.mark.network
@pytest.mark.usefixtures("docker_engine")
def test_pathspec_from_pypi_reproduces_in_docker(cache_dir: Path, tmp_path: Path) -> None:
    """The issue's acceptance check on a real package: its sdist, its own tests, in Docker."""
    db = tmp_path / "pathspec.duckdb"
    config = _config(BackendKind.DOCKER, cache_dir)
    summary = run_factory(["pypi:pathspec==0.12.1"], db, config, max_candidates=8, seed=0)
    assert summary.failures == [] and summary.validated >= 2
    with Store.open(db) as store:
        tasks = store.list_tasks()
        for task in tasks[:2]:
            assert_reproduces(store, task, config)

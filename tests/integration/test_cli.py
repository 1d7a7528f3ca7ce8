"""The README's commands, run the way a user runs them (typer's runner, a real store)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from synth.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_db(sample_path: Path, cache_dir: Path, tmp_path_factory, ray_session) -> Path:
    db = tmp_path_factory.mktemp("cli") / "demo.duckdb"
    result = runner.invoke(
        app,
        [
            "run",
            str(sample_path),
            "--db",
            str(db),
            "--backend",
            "local",
            "--max-candidates",
            "6",
            "--cache-dir",
            str(cache_dir),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "local backend" in result.output
    assert "funnel by repo" in result.output and "funnel by operator" in result.output
    # Not a terminal: the progress view is a plain line, printed at least when a repo is done.
    assert "progress: repos 1/1 done · tasks " in result.output, result.output
    return db


def test_tasks_list_and_show(demo_db: Path) -> None:
    listed = runner.invoke(app, ["tasks", "list", "--db", str(demo_db)])
    assert listed.exit_code == 0, listed.output
    from synth.data.store import Store

    with Store.open(demo_db) as store:
        task = store.list_tasks()[0]
    shown = runner.invoke(app, ["tasks", "show", task.instance_id[:20], "--db", str(demo_db)])
    assert shown.exit_code == 0, shown.output
    for part in (
        "problem statement",
        "FAIL_TO_PASS",
        "PASS_TO_PASS",
        task.FAIL_TO_PASS[0],
        task.base_commit,
    ):
        assert part in shown.output


def test_stats_prints_the_funnel(demo_db: Path) -> None:
    result = runner.invoke(app, ["stats", "--db", str(demo_db)])
    assert result.exit_code == 0, result.output
    assert "ledger" in result.output and "tasks:" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "pypi:pathspec"], "must pin one version"),
        (["run", "/no/such/dir"], "is not a directory"),
        (["run", ".", "--backend", "kubernetes"],
         "'kubernetes' is not one of 'auto', 'docker', 'local'"),
        (["tasks", "list", "--db", "/no/such/file.duckdb"], "does not exist"),
    ],
)
def test_bad_input_gets_a_clear_error(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in " ".join(result.output.replace("│", " ").split())  # typer boxes its errors


def test_unknown_task_id_is_named(demo_db: Path) -> None:
    result = runner.invoke(app, ["tasks", "show", "nope-not-a-task", "--db", str(demo_db)])
    assert result.exit_code == 2 and "nope-not-a-task" in result.output


def test_synth_run_prints_no_ray_notices(sample_path: Path, cache_dir: Path,
                                         tmp_path: Path) -> None:
    """A user's terminal shows the factory's lines, not Ray's start-up notices (the token
    authentication one reached every `synth run`)."""
    import subprocess
    import sys

    synth = Path(sys.executable).with_name("synth")
    done = subprocess.run(
        [str(synth), "run", str(sample_path), "--db", str(tmp_path / "quiet.duckdb"),
         "--backend", "local", "--max-candidates", "2", "--cache-dir", str(cache_dir)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    both = done.stdout + done.stderr
    assert "done in" in both
    assert "Token authentication" not in both and "ray" not in done.stderr.lower(), both[-2000:]


def test_repo_budget_caps_candidates_by_the_suites_cost(sample_path: Path, cache_dir: Path,
                                                       tmp_path: Path, ray_session) -> None:
    """--repo-budget buys budget ÷ one clean run's CPU candidates: far fewer than asked here."""
    result = runner.invoke(app, ["run", str(sample_path), "--db", str(tmp_path / "b.duckdb"),
                                 "--backend", "local", "--max-candidates", "40",
                                 "--repo-budget", "1", "--cache-dir", str(cache_dir)])
    assert result.exit_code == 0, result.output
    assert "by --repo-budget 1 s" in result.output, result.output
    line = next(x for x in result.output.splitlines() if "candidates (" in x)
    capped = int(line.split(" candidates (")[0].rsplit(" ", 1)[1])
    assert 1 <= capped < 40, line

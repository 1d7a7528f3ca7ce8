"""SIGKILL the `synth run` driver at a random point; the same command resumes it, and the store
ends with exactly the rows of an uninterrupted run of that command (same ids, no duplicates).

Each trial draws its kill time from a seeded generator: CI runs TRIALS = 2 trials (kill seeds 0
and 1); set SYNTH_RESUME_TRIALS for more. The local backend is used: Docker adds nothing to what
is guarded here, and the removal of a dead run's containers is tested on its own below.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synth.data.store import Store
from tests.integration.runs import reference_rows, run_env, stored_rows, synth_run, synth_run_argv

TRIALS = int(os.environ.get("SYNTH_RESUME_TRIALS", "2"))
# From Ray's start to the last batch: a kill anywhere here interrupts real work.
KILL_AFTER_S = (4.0, 30.0)


def decided(db: Path) -> int:
    if not db.exists():
        return 0
    with Store.open(db) as store:
        ((n,),) = store.query("SELECT count(*) FROM candidates WHERE rejection IS NOT NULL "
                              "OR candidate_id IN (SELECT candidate_id FROM tasks)")
    return int(n)


@pytest.mark.parametrize("trial", range(TRIALS))
def test_a_run_killed_at_a_random_point_resumes_to_the_uninterrupted_rows(
    trial: int, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    expected = reference_rows(cache_dir, tmp_path_factory.getbasetemp())
    db = tmp_path / "resume.duckdb"
    delay = random.Random(trial).uniform(*KILL_AFTER_S)
    driver = subprocess.Popen(synth_run_argv(db, cache_dir), env=run_env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        driver.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        driver.kill()  # SIGKILL: no cleanup handler of ours runs
        driver.wait()
    stored_before = decided(db)

    resumed = synth_run(db, cache_dir)

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    match = re.search(r"(\d+) candidates, (\d+) already decided", resumed.stdout)
    assert match, resumed.stdout
    # Nothing stored before the kill is validated again.
    assert int(match.group(2)) == stored_before
    assert stored_rows(db) == expected


def test_a_second_writer_gets_a_clear_error_not_a_hang(tmp_path: Path) -> None:
    db = tmp_path / "held.duckdb"
    with Store.open(db):
        started = time.monotonic()
        other = subprocess.run(
            [sys.executable, "-c",
             "import sys; from data.store import Store, StoreError\n"
             "try:\n    Store.open(sys.argv[1])\nexcept StoreError as e:\n"
             "    print(e); sys.exit(3)\n", str(db)],
            capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2],
        )
    assert other.returncode == 3, other.stderr
    assert "open in another process" in other.stdout
    assert time.monotonic() - started < 30


WRITER = """
import sys
from synth.data.store import Store
from synth.records import RepoRef
with Store.open(sys.argv[1]) as store:
    for i in range(10_000):
        store.write(repo=RepoRef(source=f"/src/{i}", kind="local", name=f"r{i}"))
        print(i, flush=True)  # acknowledged: the commit returned
"""


@pytest.mark.parametrize("trial", range(TRIALS))
def test_a_writer_killed_mid_commit_keeps_exactly_the_acknowledged_commits(
    trial: int, tmp_path: Path
) -> None:
    db = tmp_path / "killed.duckdb"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True,
        cwd=Path(__file__).parents[2],
    )
    assert writer.stdout is not None
    stop_after = random.Random(trial).randint(5, 60)
    acked = -1
    for line in writer.stdout:
        acked = int(line)
        if acked >= stop_after:
            break
    writer.kill()
    writer.wait()
    acked += sum(1 for _ in writer.stdout)  # acks already in the pipe when it died
    with Store.open(db) as store:
        ((rows,),) = store.query("SELECT count(*) FROM repos")
    # Every acknowledged commit is there; at most the one in flight when it died is too.
    assert rows in (acked + 1, acked + 2)


@pytest.mark.usefixtures("docker_engine")
def test_the_containers_of_a_killed_run_are_removed_when_the_next_run_starts(
    cache_dir: Path, tmp_path: Path
) -> None:
    from synth.envs.docker_cleanup import run_containers

    db = tmp_path / "docker.duckdb"
    argv = [*synth_run_argv(db, cache_dir), "--backend", "docker", "--max-candidates", "4"]
    before = set(run_containers())
    driver = subprocess.Popen(argv, env=run_env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not (set(run_containers()) - before) and driver.poll() is None:
        assert time.monotonic() < deadline, "no test container started"
        time.sleep(0.5)
    driver.kill()
    driver.wait()
    left = set(run_containers()) - before
    assert left, "the run ended before it could be killed"

    resumed = subprocess.run(argv, env=run_env(), capture_output=True, text=True, timeout=300)

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert not left & set(run_containers())

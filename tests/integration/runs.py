"""What the resume and fault tests compare: the rows a fault-free run of the same command stores.

The reference is one `synth run` of the sample (local backend: Docker adds nothing to what these
tests guard), made once per test session and shared by every test that compares against it.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

from synth.data.store import Store

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "samples" / "ledger"
CANDIDATES = 8
SEED = 3
# Each table's primary key, and for candidates the verdict: equal keys, equal rows' identity.
KEYS = {
    "repos": "repo_id",
    "snapshots": "snapshot_id",
    "environments": "env_id",
    "candidates": "candidate_id || ':' || coalesce(rejection, 'validated')",
    "test_runs": "run_id",
    "tasks": "instance_id",
    "coverage": "env_id || test_id || file",
}


def synth_run_argv(db: Path, cache_dir: Path) -> list[str]:
    return [
        str(Path(sys.executable).parent / "synth"), "run", str(SAMPLE), "--db", str(db),
        "--backend", "local", "--cache-dir", str(cache_dir),
        "--max-candidates", str(CANDIDATES), "--seed", str(SEED),
    ]


def run_env() -> dict[str, str]:
    """The environment of a `synth run` child: its own local Ray, whatever this process joined."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    return {**env, "COLUMNS": "200"}


def synth_run(db: Path, cache_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        synth_run_argv(db, cache_dir), capture_output=True, text=True, timeout=300,
        env=run_env(), check=False,
    )


@functools.cache
def reference_rows(cache_dir: Path, workdir: Path) -> dict[str, list[str]]:
    db = workdir / "reference.duckdb"
    done = synth_run(db, cache_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    return stored_rows(db)


def stored_rows(db: Path) -> dict[str, list[str]]:
    """Every table's keys, sorted, duplicates kept (so a duplicate row shows as a difference)."""
    with Store.open(db) as store:
        return {
            table: sorted(str(k) for (k,) in store.query(f"SELECT {key} FROM {table}"))
            for table, key in KEYS.items()
        }

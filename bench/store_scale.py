"""The store at scale: `synth stats`, `synth tasks list`, the Parquet export and the report on a
store of N tasks (100,000 by default) and their runs, and the store's bytes per task.

The store is made from a real one: every row of a small corpus (a `synth run` of the sample) is
copied N / tasks times under new ids inside DuckDB, environments and their clean runs included
(one environment per ``--tasks-per-env`` tasks), so rows have the shapes and sizes real rows have.

    .venv/bin/python bench/store_scale.py [--tasks 100000] [--tasks-per-env 200] [--seed-db X]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from synth.data.store import Store  # noqa: E402

# Per table: the id columns that take the copy's number, and the environment column.
COPIES = {
    "tasks": ("instance_id", "candidate_id"),
    "task_stats": ("instance_id",),
    "candidates": ("candidate_id",),
    "test_runs": ("run_id", "patch_hash"),
}


def seed(db: Path) -> None:
    synth = ROOT / ".venv" / "bin" / "synth"
    subprocess.run([str(synth), "run", str(ROOT / "data" / "samples" / "ledger"), "--db", str(db),
                    "--max-candidates", "24", "--seed", "0"], check=True,
                   stdout=subprocess.DEVNULL)


def grow(store: Store, tasks: int, per_env: int) -> int:
    """Copy the seed corpus's rows until the store holds about ``tasks`` tasks."""
    (have,), *_ = store.query("SELECT count(*) FROM tasks")
    copies = max(1, tasks // have)
    envs = max(1, tasks // per_env)
    store.query("CREATE TEMP TABLE n AS SELECT range AS i FROM range(1, ?)", [copies])
    # Clean-state rows belong to an environment: one copy per environment.
    env_of = f"'-e' || (n.i % {envs})"
    store.query("INSERT INTO environments SELECT environments.* REPLACE"
                f" (env_id || {env_of} AS env_id) FROM environments, n WHERE n.i <= {envs}")
    store.query("INSERT INTO test_runs SELECT test_runs.* REPLACE"
                f" (run_id || '-e' || n.i AS run_id, env_id || {env_of} AS env_id)"
                " FROM test_runs, n"
                f" WHERE kind IN ('baseline', 'coverage') AND n.i <= {envs}")
    store.query(f"INSERT INTO coverage SELECT coverage.* REPLACE (env_id || {env_of} AS env_id)"
                f" FROM coverage, n WHERE n.i <= {envs}")
    for table, ids in COPIES.items():
        renamed = ", ".join(f"{c} || '-' || n.i AS {c}" for c in ids)
        env = f", env_id || {env_of} AS env_id" if table != "candidates" else ""
        where = " WHERE kind NOT IN ('baseline', 'coverage')" if table == "test_runs" else ""
        store.query(f"INSERT INTO {table} SELECT {table}.* REPLACE ({renamed}{env}) FROM {table}, n"
                    f"{where}")
    store.query("CHECKPOINT")
    (n,), *_ = store.query("SELECT count(*) FROM tasks")
    return int(n)


def timed(what: str, argv: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{what} failed:\n{done.stdout[-1500:]}{done.stderr[-1500:]}")
    print(f"{what:<42} {seconds:7.2f} s", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--tasks-per-env", type=int, default=200)
    parser.add_argument("--seed-db", type=Path, help="a store to grow (default: mine the sample)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="store-scale-"))
    db = work / "big.duckdb"
    try:
        if args.seed_db:
            shutil.copy(args.seed_db, db)
        else:
            seed(db)
        start = time.perf_counter()
        with Store.open(db) as store:
            n = grow(store, args.tasks, args.tasks_per_env)
            counts = store.counts()
        print(f"grew to {n} tasks in {time.perf_counter() - start:.1f} s: "
              + ", ".join(f"{k} {v}" for k, v in counts.items()))
        size = db.stat().st_size
        print(f"store: {size / 2**20:.1f} MiB, {size / n:.0f} bytes per task")
        synth = str(ROOT / ".venv" / "bin" / "synth")
        timed("synth stats", [synth, "stats", "--db", str(db)])
        timed("synth tasks list (newest 50)", [synth, "tasks", "list", "--db", str(db)])
        timed("synth tasks list --sort -cpu_s --filter", [
            synth, "tasks", "list", "--db", str(db), "--sort", "-cpu_s", "--filter",
            "f2p_tests>=2"])
        timed("synth export --format parquet (all)", [
            synth, "export", "--format", "parquet", "--out", str(work / "all.parquet"),
            "--db", str(db)])
        timed("synth report", [synth, "report", "--db", str(db), "--out",
                               str(work / "report.html")])
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""A corpus run killed at a random point and run again ends with the tasks of an unbroken run.

Runs one `synth run BUNDLES...` to the end into one store (the reference), then the same command
into a second store, killed with SIGKILL (its whole process group: driver, Ray and all) after a
random delay, and run again until it exits 0; a kill can land anywhere, building, measuring,
validating or writing. Then it compares the two stores' tasks (content-hash instance ids) and
decided candidates. Candidates are decided by real test runs, so a verdict a flaky test sways
can differ between any two runs, killed or not: the bench names each difference and whether
that candidate was unsteady in either store.

    .venv/bin/python bench/resume.py [--bundles DIR] [--only six,iniconfig,markupsafe]
                                     [-n 40] [--kills 2] [--seed 0] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from synth.data.store import Store  # noqa: E402


def command(sources: list[str], db: Path, n: str, seed: int, cache: Path) -> list[str]:
    return [str(ROOT / ".venv" / "bin" / "synth"), "run", *sources, "--db", str(db),
            "--max-candidates", n, "--seed", str(seed), "--cache-dir", str(cache)]


def run(argv: list[str], log: Path, kill_after: float | None = None) -> tuple[int, float]:
    """(exit code, seconds); with ``kill_after``, SIGKILL the whole group after that long."""
    start = time.monotonic()
    with log.open("a") as out:
        child = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        try:
            code = child.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            code = -9
    return code, time.monotonic() - start


def contents(db: Path) -> tuple[set[str], dict[str, str]]:
    """The store's task ids, and every decided candidate's verdict (task or rejection)."""
    with Store.open(db) as store:
        tasks = {row[0] for row in store.query("SELECT instance_id FROM tasks")}
        decided = {cid: (why or "task") for cid, why in
                   store.query("SELECT candidate_id, rejection FROM candidates")}
    return tasks, decided


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", type=Path, default=ROOT.parent / "shared" / "realworld")
    parser.add_argument("--only", default="six,iniconfig,markupsafe")
    parser.add_argument("-n", "--max-candidates", default="40")
    parser.add_argument("--kills", type=int, default=2, help="kills before the run may finish")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("resume-bench"))
    args = parser.parse_args()
    sources = [str(args.bundles / f"{n}.bundle") for n in args.only.split(",") if n]
    args.out.mkdir(parents=True, exist_ok=True)
    cache = args.out / "cache"
    ref_db, cut_db = args.out / "reference.duckdb", args.out / "killed.duckdb"
    for db in (ref_db, cut_db):
        db.unlink(missing_ok=True)

    code, whole = run(command(sources, ref_db, args.max_candidates, args.seed, cache),
                      args.out / "reference.log")
    if code != 0:
        raise SystemExit(f"the reference run exited {code}; see {args.out / 'reference.log'}")
    print(f"reference run: {whole:.0f} s")
    pick = random.Random()  # a fresh point each time the bench runs
    argv = command(sources, cut_db, args.max_candidates, args.seed, cache)
    # The reference paid for building the environments; the killed run finds them built and
    # goes faster, so a kill is drawn over the first half of the reference's time, and a run
    # that finished before its kill is started over with half the delay: only kills that landed
    # count.
    landed, code = 0, -9
    delay = pick.uniform(0.05, 0.5) * whole
    while landed < args.kills:
        code, took = run(argv, args.out / "killed.log", kill_after=delay)
        if code == -9:
            landed += 1
            print(f"kill {landed}: SIGKILL after {took:.1f} s")
            delay = pick.uniform(0.05, 0.5) * whole
        elif landed:  # the resumed run finished before its next kill
            break
        else:  # finished before the first kill: start over, killing sooner
            cut_db.unlink(missing_ok=True)
            delay /= 2
            if delay < 1:
                raise SystemExit("every run finished before its kill; use more candidates (-n)")
    attempts = 0
    while code != 0 and attempts < 3:
        code, took = run(argv, args.out / "killed.log")
        attempts += 1
        print(f"rerun: exit {code} after {took:.0f} s")
    if code != 0:
        raise SystemExit(f"the rerun exited {code}; see {args.out / 'killed.log'}")

    ref_tasks, ref_decided = contents(ref_db)
    cut_tasks, cut_decided = contents(cut_db)
    same_tasks = ref_tasks == cut_tasks
    print(f"tasks: reference {len(ref_tasks)}, killed and rerun {len(cut_tasks)}: "
          + ("the same ids" if same_tasks else
             f"{len(ref_tasks - cut_tasks)} only in the reference, "
             f"{len(cut_tasks - ref_tasks)} only after the kill"))
    print(f"candidates decided: {len(ref_decided)} and {len(cut_decided)}; "
          f"{sum(ref_decided.get(c) != v for c, v in cut_decided.items())} decided differently, "
          f"{len(set(ref_decided) ^ set(cut_decided))} decided in one store only")
    for cid in sorted(set(ref_decided) | set(cut_decided)):
        if ref_decided.get(cid) != cut_decided.get(cid):
            print(f"  {cid}: reference {ref_decided.get(cid)}, after the kill "
                  f"{cut_decided.get(cid)}")
    if not same_tasks:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

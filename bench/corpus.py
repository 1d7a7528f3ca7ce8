"""A corpus from many real repositories in one `synth run`, and what it cost.

Runs one `synth run FOLDER_OF_BUNDLES` (or the bundles ``--only`` names) into a fresh store and
prints: validated tasks, wall time, tasks per machine-CPU-hour (environment builds included: the
machine's busy time over the run, /proc/stat, so run it on an otherwise idle machine), CPU per
validated task against one exact clean-suite run of each repository (own runs, and all in:
rejected candidates and builds), the driver's and Ray workers' peak resident memory, and the
store's bytes per task. A rerun of the same command resumes the run (content-hash ids).

    .venv/bin/python bench/corpus.py [--bundles DIR] [--only sqlparse,tomlkit] [-n 40|all]
                                     [--repo-budget CPU_S] [--out DIR] [--seed 0]
                                     [--mutmut sqlparse,markupsafe]

``--mutmut`` then compares the mutate-and-test loop with mutmut 3 on those bundles, on mutmut's
own mutants (bench/throughput.py's ratio 2; needs ``pip install -e '.[bench]'``).

The corpus figure of the issue: ``-n all --repo-budget 450`` over all fifteen bundles.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from realworld import busy_seconds  # noqa: E402

from synth.data import task_metrics as tm  # noqa: E402
from synth.data.store import Store  # noqa: E402


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Ray's raylet, GCS and workers included)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


class Peaks(threading.Thread):
    """Polls the driver's RSS and each descendant's, every half second."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.driver, self.worker, self.total = pid, 0, 0, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.5):
            kids = [rss_kib(p) for p in descendants(self.pid)]
            self.driver = max(self.driver, rss_kib(self.pid))
            self.worker = max([self.worker, *kids])
            self.total = max(self.total, rss_kib(self.pid) + sum(kids))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", type=Path, default=ROOT.parent / "shared" / "realworld")
    parser.add_argument("--only", default="", help="comma-separated bundle names")
    parser.add_argument("-n", "--max-candidates", default="40")
    parser.add_argument("--repo-budget", type=float, default=None,
                        help="synth run --repo-budget: CPU-seconds planned per repository")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("corpus-bench"))
    parser.add_argument("--mutmut", default="",
                        help="comma-separated bundles to compare with mutmut 3 after the run")
    parser.add_argument("--mutmut-timeout", type=float, default=120.0)
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n]
    sources = ([str(args.bundles / f"{n}.bundle") for n in names] if names
               else [str(args.bundles)])
    args.out.mkdir(parents=True, exist_ok=True)
    db = args.out / "corpus.duckdb"
    synth = ROOT / ".venv" / "bin" / "synth"
    argv = [str(synth), "run", *sources, "--db", str(db), "--max-candidates",
            args.max_candidates, "--seed", str(args.seed), "--cache-dir", str(args.out / "cache"),
            *(["--repo-budget", str(args.repo_budget)] if args.repo_budget else [])]
    print("$", " ".join(argv), flush=True)
    busy, start = busy_seconds(), time.monotonic()
    with open(args.out / "run.log", "w") as log:
        child = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        peaks = Peaks(child.pid)
        peaks.start()
        code = child.wait()
        peaks.done.set()
    wall, cpu = time.monotonic() - start, busy_seconds() - busy
    if code != 0:
        raise SystemExit(f"synth run exited {code}; see {args.out / 'run.log'}")
    with Store.open(db) as store:
        tasks = store.counts()["tasks"]
        costs = tm.repo_costs(store)
        summary = tm.summary(store)
    size = db.stat().st_size
    print(f"validated tasks     {tasks} from {len(costs)} repositories")
    print(f"wall                {wall:.0f} s")
    print(f"machine CPU         {cpu:.0f} s busy ({os.cpu_count()} cores): "
          f"{tasks / (cpu / 3600):.0f} tasks per CPU-hour, {tasks / (wall / 3600):.0f} per "
          "wall-hour" if tasks and cpu else "no task")
    if summary is not None:
        print(f"CPU per task        median {summary.cpu_p50_s:.2f} s, p90 {summary.cpu_p90_s:.2f}"
              f" (runs' own CPU with the environment's share); all in "
              f"{summary.all_in_cpu_per_task_s:.2f}")
    print("per repository      floor (one exact clean run) · own runs / floor · all in / floor")
    for c in costs:
        print(f"  {c.repo:<18} {c.floor_cpu_s:6.2f} s · {c.own_ratio:5.2f}x · "
              f"{c.all_in_ratio:5.2f}x  ({c.tasks} tasks)")
    if costs:
        print(f"  median repository  own {statistics.median(c.own_ratio for c in costs):.2f}x, "
              f"all in {statistics.median(c.all_in_ratio for c in costs):.2f}x")
    print(f"peak memory         driver {peaks.driver / 1024:.0f} MiB, largest worker "
          f"{peaks.worker / 1024:.0f} MiB, all together {peaks.total / 1024:.0f} MiB")
    print(f"store               {size / 2**20:.1f} MiB, "
          f"{size / tasks if tasks else 0:.0f} bytes per task")
    for name in (n for n in args.mutmut.split(",") if n):
        from throughput import bench  # the side-by-side ratios

        from synth.envs.backend import BackendChoice

        print(f"mutmut 3 on {name}:", flush=True)
        bench(str(args.bundles / f"{name}.bundle"), 24, BackendChoice.DOCKER,
              args.out / "cache", args.mutmut_timeout, frozenset({2}))


if __name__ == "__main__":
    main()

"""The factory on real repositories: every git bundle of a folder, as a new user would run it.

For each ``NAME.bundle`` (default: ../shared/realworld, whose MANIFEST.md says how many tests a
person got passing by hand), one `synth run NAME.bundle --backend docker --max-candidates 50
--seed 0` with its own store, under a per-repository wall budget (a run past it is stopped; a
rerun of the same command resumes it). One row per repository:

    setup verdict · tests passing at baseline / the manifest's count · candidates · broke >= 1
    test · validated · wall seconds

and totals: setup success rate, validated per candidate, validated tasks per CPU-hour. CPU time
is the machine's busy time over each run (/proc/stat: the tests run in containers, outside this
process tree), so run it on an otherwise idle machine.

    .venv/bin/python bench/realworld.py [--bundles DIR] [--only attrs,six] [-n 50] [--budget 900]
                                        [--budget-for filelock=2400]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from synth.data.store import Store
from synth.proc import run as run_process

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Row:
    repo: str
    verdict: str = "-"
    passing: int = 0
    manifest: int | None = None
    candidates: int = 0
    broke: int = 0
    validated: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    exit_code: int = 0
    message: str = ""

    @property
    def share(self) -> float | None:
        return self.passing / self.manifest if self.manifest else None


def manifest_counts(manifest: Path) -> dict[str, int]:
    """bundle stem → passed tests, from the table's "collected / passed / failed / skipped"."""
    counts: dict[str, int] = {}
    if not manifest.exists():
        return counts
    for line in manifest.read_text().splitlines():
        bundle = re.search(r"`([\w.-]+)\.bundle`", line)
        tally = re.search(r"\|\s*(\d+) / (\d+) / (\d+) / (\d+)", line)
        if bundle and tally:
            counts[bundle.group(1)] = int(tally.group(2))
    return counts


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (every core)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def run_one(bundle: Path, out: Path, candidates: int, seed: int, budget: float,
            cache: Path) -> Row:
    name = bundle.stem
    db = out / f"{name}.duckdb"
    cpu0, wall0 = busy_seconds(), time.monotonic()
    done = run_process(
        [Path(sys.executable).parent / "synth", "run", bundle, "--backend", "docker",
         "--max-candidates", str(candidates), "--seed", str(seed), "--db", db,
         "--cache-dir", cache],
        check=False, timeout=budget, stdout_path=out / f"{name}.log", cwd=ROOT,
    )
    row = Row(repo=name, wall_s=time.monotonic() - wall0, cpu_s=busy_seconds() - cpu0,
              exit_code=done.returncode)
    if not db.exists():
        row.message = "no store written; see the log"
        return row
    with Store.open(db) as store:
        setups = store.list_setups()
        if setups:
            row.verdict, row.passing = setups[-1].verdict.value, setups[-1].passing
            row.message = setups[-1].message
        for funnel in store.funnel("repo"):
            row.candidates += funnel.generated
            row.broke += funnel.broke
            row.validated += funnel.validated
    if done.timed_out:
        row.message = f"stopped at the {budget:.0f} s budget; " + row.message
    return row


def print_table(rows: list[Row]) -> None:
    print("| repo | setup | passing at baseline / manifest | candidates | broke >= 1 | validated "
          "| wall s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        share = f" ({r.share:.0%})" if r.share is not None else ""
        print(f"| {r.repo} | {r.verdict} | {r.passing} / {r.manifest or '?'}{share} | "
              f"{r.candidates} | {r.broke} | {r.validated} | {r.wall_s:.0f} |")
    usable = [r for r in rows if r.verdict == "ok"]
    close = [r for r in usable if r.share is None or r.share >= 0.95]
    enough = [r for r in close if r.validated >= 10]
    cands = sum(r.candidates for r in rows)
    validated = sum(r.validated for r in rows)
    cpu_h = sum(r.cpu_s for r in rows) / 3600
    print()
    print(f"setup success: {len(usable)}/{len(rows)} ok; {len(close)} with >= 95% of the "
          f"manifest's passing tests; {len(enough)} of those with >= 10 validated tasks")
    print(f"validated per candidate: {validated}/{cands} = {validated / max(cands, 1):.2f}")
    print(f"validated tasks per CPU-hour: {validated / cpu_h if cpu_h else 0:.0f} "
          f"({validated} tasks in {cpu_h * 3600:.0f} CPU-s, "
          f"{sum(r.wall_s for r in rows):.0f} s wall)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", type=Path, default=ROOT.parent / "shared" / "realworld")
    parser.add_argument("--only", default="", help="comma-separated bundle names")
    parser.add_argument("-n", "--max-candidates", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", type=float, default=900.0,
                        help="wall seconds per repository before its run is stopped")
    parser.add_argument("--budget-for", action="append", default=[], metavar="NAME=SECONDS",
                        help="another budget for one repository (a slow suite), repeatable")
    parser.add_argument("--out", type=Path, default=Path("bench-realworld"))
    parser.add_argument("--cache-dir", type=Path,
                        default=Path.home() / ".cache" / "synth")
    args = parser.parse_args()
    bundles = sorted(args.bundles.glob("*.bundle"))
    if args.only:
        wanted = set(args.only.split(","))
        bundles = [b for b in bundles if b.stem in wanted]
    if not bundles:
        raise SystemExit(f"no *.bundle in {args.bundles}; pass --bundles DIR")
    args.out.mkdir(parents=True, exist_ok=True)
    counts = manifest_counts(args.bundles / "MANIFEST.md")
    budgets = dict(item.split("=", 1) for item in args.budget_for)
    rows = []
    for bundle in bundles:
        budget = float(budgets.get(bundle.stem, args.budget))
        row = run_one(bundle, args.out, args.max_candidates, args.seed, budget, args.cache_dir)
        row.manifest = counts.get(bundle.stem)
        rows.append(row)
        print(f"{row.repo}: {row.verdict}, {row.passing} passing, {row.validated}/"
              f"{row.candidates} validated, {row.wall_s:.0f} s {row.message[:120]}", flush=True)
        (args.out / "rows.json").write_text(json.dumps([asdict(r) for r in rows], indent=1))
    print()
    print_table(rows)


if __name__ == "__main__":
    main()

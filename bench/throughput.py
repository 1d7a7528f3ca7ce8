"""The factory's throughput, measured side by side in one run on the same candidates.

1. Validated tasks per CPU-second: the optimized pipeline (one warm container per environment,
   coverage screening, the full suite twice only for bugs the screen caught) vs a naive mode (a
   fresh container and the full suite once for every candidate: the SWE-smith method). Both run
   serially on one worker whose container is capped at one CPU, so CPU-seconds are the wall
   seconds times that one allotted CPU.
2. Candidate (mutant) evaluations per second vs mutmut 3 on the same package: mutmut mutates
   every function of the package's source (ours: the sampled candidates of the same files); each
   side's time counts candidate evaluation only, not building or the clean-suite measurement.
3. The whole factory (`run_factory`) with 1 vs 2 local Ray workers, on a fresh store each.

    .venv/bin/pip install -e '.[bench]'        # mutmut, for ratio 2 only
    .venv/bin/python bench/throughput.py data/samples/ledger pypi:tabulate==0.9.0 -n 16

Absolute times depend on the machine and its load; the ratios are the result.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from envs.backend import BackendChoice, BackendConfig, RunRequest, build_backend, resolve_backend
from pipelines.factory import run_factory, start_ray, stop_ray
from pipelines.stages import (
    Built,
    Measured,
    Prepared,
    build_environment,
    measure_environment,
    prepare_candidates,
    validate_batch,
)
from synth.proc import run as run_process
from synth.records import RunKind
from verifiers.grading import broke_any, rejection_for
from verifiers.runner import run_suite


@dataclass(frozen=True)
class Mode:
    tasks: int
    evaluated: int
    seconds: float

    @property
    def per_s(self) -> float:
        return self.tasks / self.seconds if self.seconds else 0.0


def optimized(config: BackendConfig, prepared: Prepared) -> Mode:
    built = prepared.built
    start = time.monotonic()
    result = validate_batch(config, built.environment, built.snapshot, prepared.measured,
                            prepared.candidates)
    seconds = time.monotonic() - start
    tasks = sum(v.task is not None for v in result.validated)
    return Mode(tasks, len(result.validated), seconds)


def naive(config: BackendConfig, built: Built, measured: Measured, prepared: Prepared) -> Mode:
    """A fresh container and the whole suite per candidate; 'validated' = broke a test once."""
    tasks = 0
    start = time.monotonic()
    for cand in prepared.candidates:
        runner = build_backend(config)  # closing it removes its container: the next is fresh
        try:
            run = run_suite(runner, built.environment, built.snapshot, kind=RunKind.BUG,
                            request=RunRequest(patch=cand.patch))
        finally:
            runner.close()
        tasks += rejection_for(run) is None and broke_any(measured.baseline, run)
    return Mode(tasks, len(prepared.candidates), time.monotonic() - start)


def mutmut(snapshot_path: Path, package: str, tests_dir: str, timeout_s: float) -> Mode | None:
    """mutmut 3 on a copy of the snapshot; None when mutmut is not installed or fails."""
    exe = str(Path(sys.executable).parent / "mutmut")
    if not Path(exe).exists():
        print("  mutmut is not installed: pip install -e '.[bench]'")
        return None
    with tempfile.TemporaryDirectory(prefix="synth-mutmut-") as tmp:
        work = Path(tmp) / "repo"
        shutil.copytree(snapshot_path, work, ignore=shutil.ignore_patterns(".git"))
        with (work / "setup.cfg").open("a") as cfg:
            cfg.write(f"\n[mutmut]\nsource_paths={package}\n"
                      f"pytest_add_cli_args_test_selection={tests_dir}\n")
        start = time.monotonic()
        done = run_process([exe, "run"], cwd=work, timeout=timeout_s, check=False)
        seconds = time.monotonic() - start
        evaluated = killed = 0
        for meta in (work / "mutants").rglob("*.meta"):
            codes = json.loads(meta.read_text()).get("exit_code_by_key", {})
            evaluated += sum(c is not None for c in codes.values())
            killed += sum(c not in (None, 0) for c in codes.values())
        # mutmut reports "done in N ms" for generating mutants and for its clean-suite stats;
        # both are left out, as ours leaves out building and measuring the environment.
        setup_s = sum(int(ms) for ms in re.findall(r"done in (\d+)ms", done.stdout)[:2]) / 1000
    if not evaluated:
        print(f"  mutmut evaluated nothing (exit {done.returncode}): {done.stdout[-300:]}")
        return None
    return Mode(killed, evaluated, max(seconds - setup_s, 1e-9))


def workers(source: str, cache: Path, choice: BackendChoice, n: int, cpus: int) -> Mode:
    config, _ = resolve_backend(choice, cache)
    with tempfile.TemporaryDirectory(prefix="synth-bench-") as tmp:
        start_ray(None, cpus=cpus)
        try:
            start = time.monotonic()
            summary = run_factory([source], Path(tmp) / "bench.duckdb", config,
                                  max_candidates=n, seed=0)
            seconds = time.monotonic() - start
        finally:
            stop_ray()
    return Mode(summary.validated, summary.generated, seconds)


def bench(source: str, n: int, choice: BackendChoice, cache: Path, mutmut_timeout: float) -> None:
    config, note = resolve_backend(choice, cache)
    built = build_environment(source, config)
    measured = measure_environment(config, built)
    prepared = prepare_candidates(config, built, measured, max_candidates=n, seed=0)
    print(f"{built.repo.name}: {len(prepared.candidates)} candidates, {note}")

    fast, slow = optimized(config, prepared), naive(config, built, measured, prepared)
    print(f"  1. optimized: {fast.tasks} tasks in {fast.seconds:.1f} CPU-s ({fast.per_s:.3f}/CPU-s)"
          f" | naive: {slow.tasks} in {slow.seconds:.1f} CPU-s ({slow.per_s:.3f}/CPU-s)"
          f" | ratio {fast.per_s / slow.per_s if slow.per_s else float('inf'):.2f}x")

    package = built.snapshot.repo.name
    if (Path(built.snapshot.path) / package).is_dir() and "test" in "".join(
            built.environment.spec.test_paths):
        theirs = mutmut(Path(built.snapshot.path), package,
                        built.environment.spec.test_paths[0], mutmut_timeout)
        ours = fast.evaluated / fast.seconds
        if theirs is not None:
            rate = theirs.evaluated / theirs.seconds
            print(f"  2. evaluations/s: ours {ours:.2f} ({fast.evaluated} in {fast.seconds:.1f} s,"
                  f" Docker-isolated) | mutmut {rate:.2f} ({theirs.evaluated} in "
                  f"{theirs.seconds:.1f} s, in-process) | ratio {ours / rate:.2f}x")

    one = workers(source, cache, choice, n, cpus=1)
    two = workers(source, cache, choice, n, cpus=2)
    print(f"  3. run_factory: 1 worker {one.tasks} tasks in {one.seconds:.1f} s | 2 workers "
          f"{two.tasks} in {two.seconds:.1f} s | ratio {two.per_s / one.per_s:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+")
    parser.add_argument("-n", type=int, default=16, help="candidates per source")
    parser.add_argument("--backend", default="docker", choices=[c.value for c in BackendChoice])
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "synth")
    parser.add_argument("--mutmut-timeout", type=float, default=600.0)
    args = parser.parse_args()
    for source in args.sources:
        bench(source, args.n, BackendChoice(args.backend), args.cache_dir, args.mutmut_timeout)


if __name__ == "__main__":
    main()

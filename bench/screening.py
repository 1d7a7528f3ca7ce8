"""Coverage-guided screening vs the full suite per candidate, side by side in one run.

For each of N candidates of a repository: the screen (only the baseline-passing tests that cover
the lines the bug touches; none at all when nothing covers them) and, separately, the full suite.
Prints the wall time of each, their ratio, and whether screening missed any bug the full suite
caught (it must not: a miss would mean lost tasks).

    .venv/bin/python bench/screening.py data/samples/ledger pypi:tabulate==0.9.0 -n 40
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from synth.envs.backend import BackendChoice, RunRequest, build_backend, resolve_backend
from synth.pipelines.stages import build_environment, measure_environment, prepare_candidates
from synth.records import RunKind
from synth.verifiers.grading import broke_any
from synth.verifiers.runner import run_suite
from synth.verifiers.screening import changed_lines, screenable, tests_covering
from synth.verifiers.validation import bug_run_config


def bench(source: str, n: int, backend_choice: BackendChoice, cache: Path) -> None:
    config, note = resolve_backend(backend_choice, cache)
    built = build_environment(source, config)
    measured = measure_environment(config, built)
    prepared = prepare_candidates(config, built, measured, max_candidates=n, seed=0)
    baseline = measured.baseline
    # The pipeline's bug-run timeout (a multiple of the clean suite's time): a mutant that
    # loops forever costs the same in both modes.
    runner = build_backend(bug_run_config(config, measured.baseline_runs))
    screen_s = full_s = 0.0
    uncovered = caught_full = caught_screen = missed = 0
    try:
        for cand in prepared.candidates:
            request = RunRequest(patch=cand.patch)
            start = time.monotonic()
            full = run_suite(runner, built.environment, built.snapshot, kind=RunKind.BUG,
                             request=request)
            full_s += time.monotonic() - start
            touched = changed_lines(cand.patch)
            full_only = measured.coverage is None or not screenable(measured.coverage, touched)
            covering = set() if full_only else tests_covering(measured.coverage, touched,
                                                              baseline.passing)
            start = time.monotonic()
            if full_only:
                # Import-time code: screening defers to the full suite (as the pipeline does).
                screen = run_suite(runner, built.environment, built.snapshot, kind=RunKind.BUG,
                                   request=request)
                screen_broke = broke_any(baseline, screen)
            elif covering:
                screen = run_suite(runner, built.environment, built.snapshot,
                                   kind=RunKind.SCREEN,
                                   request=RunRequest(patch=cand.patch,
                                                      select=tuple(sorted(covering))))
                screen_broke = broke_any(baseline, screen, covering)
            else:
                uncovered += 1
                screen_broke = False
            screen_s += time.monotonic() - start
            full_broke = broke_any(baseline, full)
            caught_full += full_broke
            caught_screen += screen_broke
            missed += full_broke and not screen_broke
    finally:
        runner.close()
    count = len(prepared.candidates)
    print(f"{built.repo.name}: {count} candidates, {len(baseline.passing)} passing tests, "
          f"{note}")
    print(f"  full suite per candidate: {full_s:7.1f} s  ({caught_full} broke >= 1 test)")
    print(f"  coverage screening:       {screen_s:7.1f} s  ({caught_screen} broke >= 1 test, "
          f"{uncovered} uncovered: no run at all)")
    print(f"  screening / full = {screen_s / full_s:.3f}  (speed-up {full_s / screen_s:.1f}x), "
          f"bugs missed by screening: {missed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+")
    parser.add_argument("-n", type=int, default=40, help="candidates per source")
    parser.add_argument("--backend", default="auto", choices=[c.value for c in BackendChoice])
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "synth")
    args = parser.parse_args()
    for source in args.sources:
        bench(source, args.n, BackendChoice(args.backend), args.cache_dir)


if __name__ == "__main__":
    main()

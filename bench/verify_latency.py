"""Verification latency per task, the reward-integrity defences against the harness without them,
measured side by side (and, with --cold, warm containers against cold ones).

    .venv/bin/python bench/verify_latency.py --db corpus.duckdb [--rounds 3] [--limit 8] [--cold]

Scores each task's gold fix (the answer is known: every one must resolve) ``--rounds`` times,
interleaved task by task so machine load hits every mode alike, all through one warm backend:

- *undefended*: the harness before issue #13 — the sanitizer, then one run of bug + fix in the
  factory's own container (unsealed: the clean tree readable), no witness, no canary;
- *defended*: ``verify_solution`` — git's reading of the patch, a run sealed to the buggy state
  with its witness pipe and audit hook, and the canary run behind the ``resolved``;
- *cold* (--cold): ``verify_solution`` through a fresh backend (containers created and removed).

Prints each mode's median and quartiles and the defended / undefended ratio of the medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from synth.data.store import Store  # noqa: E402
from synth.envs.backend import Backend, BackendConfig, Limits, RunRequest, build_backend  # noqa: E402
from synth.patches import combine  # noqa: E402
from synth.pipelines.verify import load_contexts  # noqa: E402
from synth.records import BackendKind, Outcome, RunKind, SolutionVerdict, TaskContext  # noqa: E402
from synth.verifiers.runner import run_suite  # noqa: E402
from synth.verifiers.solution import gold_patch, kept_patch, score, selection, verify_solution


def undefended(backend: Backend, ctx: TaskContext, solution: str) -> SolutionVerdict:
    """How a solution was scored before the defences: sanitize, apply bug + fix, run once."""
    kept = kept_patch(ctx, solution)
    request = RunRequest(patch=combine(ctx.task.patch, kept.patch), select=selection(ctx.task))
    run = run_suite(backend, ctx.environment, ctx.snapshot, kind=RunKind.SOLUTION,
                    request=request)
    return score(ctx.task, solution, [run], kept=kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=8, help="tasks to use at most")
    parser.add_argument("--cold", action="store_true", help="also measure cold containers")
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "synth")
    args = parser.parse_args()
    with Store.open(args.db) as store:
        ids = sorted(t.instance_id for t in store.list_tasks())[: args.limit]
        ctxs = load_contexts(store, ids)
    if not ctxs:
        sys.exit(f"{args.db} holds no tasks; run `synth run` first")
    config = BackendConfig(kind=BackendKind.DOCKER, cache_dir=args.cache_dir,
                           limits=Limits(timeout_s=300))
    warm = build_backend(config)
    times: dict[str, list[float]] = {"undefended": [], "defended": []}
    if args.cold:
        times["cold"] = []
    runs: list[int] = []
    try:
        for ctx in ctxs.values():  # start the containers, mint what needs minting
            assert undefended(warm, ctx, gold_patch(ctx.task)).resolved
            assert verify_solution(warm, ctx, gold_patch(ctx.task)).resolved
        for _ in range(args.rounds):
            for ctx in ctxs.values():
                fix = gold_patch(ctx.task)
                start = time.perf_counter()
                verdict = undefended(warm, ctx, fix)
                times["undefended"].append(time.perf_counter() - start)
                assert verdict.outcome is Outcome.RESOLVED, verdict
                start = time.perf_counter()
                verdict = verify_solution(warm, ctx, fix)
                times["defended"].append(time.perf_counter() - start)
                assert verdict.outcome is Outcome.RESOLVED, verdict
                runs.append(verdict.runs)
                if args.cold:
                    start = time.perf_counter()
                    backend = build_backend(config)
                    try:
                        verdict = verify_solution(backend, ctx, fix)
                    finally:
                        backend.close()
                    times["cold"].append(time.perf_counter() - start)
                    assert verdict.outcome is Outcome.RESOLVED, verdict
    finally:
        warm.close()
    tests = statistics.median(len(c.task.FAIL_TO_PASS) + len(c.task.PASS_TO_PASS)
                              for c in ctxs.values())
    print(f"{len(ctxs)} tasks x {args.rounds} rounds, median {tests:.0f} tests per task, "
          f"defended verdicts took {statistics.mean(runs):.2f} runs on average "
          "(the scored run and the canary's)")
    for name, xs in times.items():
        q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
        print(f"{name}: median {statistics.median(xs):.3f}s  (quartiles {q[0]:.3f}-{q[2]:.3f}s,"
              f" n={len(xs)})")
    ratio = statistics.median(times["defended"]) / statistics.median(times["undefended"])
    print(f"defended / undefended median: {ratio:.2f}x (target: at most 2x)")
    if args.cold:
        print(f"cold / defended warm median: "
              f"{statistics.median(times['cold']) / statistics.median(times['defended']):.2f}x")


if __name__ == "__main__":
    main()

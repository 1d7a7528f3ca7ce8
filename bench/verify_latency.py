"""Verification latency per task: warm containers against cold ones, measured side by side.

    .venv/bin/python bench/verify_latency.py --db corpus.duckdb [--rounds 3] [--limit 8]

Scores each task's gold fix (the answer is known: every one must resolve) ``--rounds`` times in
two ways, interleaved task by task so machine load hits both alike: *warm* through one backend
kept open (one container per environment, reset from the pristine copy between runs), and *cold*
through a fresh backend per verification (container created, run, removed). Prints the median
and the spread of each, and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data.store import Store  # noqa: E402
from envs.backend import BackendConfig, Limits, build_backend  # noqa: E402
from pipelines.verify import load_contexts  # noqa: E402
from synth.records import BackendKind  # noqa: E402
from verifiers.solution import Outcome, gold_patch, verify_solution  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=8, help="tasks to use at most")
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "synth")
    args = parser.parse_args()
    with Store.open(args.db) as store:
        ids = sorted(t.instance_id for t in store.list_tasks())[: args.limit]
        ctxs = load_contexts(store, ids)
    if not ctxs:
        sys.exit(f"{args.db} holds no tasks; run `synth run` first")
    config = BackendConfig(kind=BackendKind.DOCKER, cache_dir=args.cache_dir,
                           limits=Limits(timeout_s=300))
    warm_backend = build_backend(config)
    warm: list[float] = []
    cold: list[float] = []
    try:
        first = next(iter(ctxs.values()))
        verify_solution(warm_backend, first, gold_patch(first.task))  # start the container
        for _ in range(args.rounds):
            for ctx in ctxs.values():
                fix = gold_patch(ctx.task)
                start = time.perf_counter()
                verdict = verify_solution(warm_backend, ctx, fix)
                warm.append(time.perf_counter() - start)
                assert verdict.outcome is Outcome.RESOLVED, verdict
                start = time.perf_counter()
                backend = build_backend(config)
                try:
                    verdict = verify_solution(backend, ctx, fix)
                finally:
                    backend.close()
                cold.append(time.perf_counter() - start)
                assert verdict.outcome is Outcome.RESOLVED, verdict
    finally:
        warm_backend.close()
    tests = statistics.median(len(c.task.FAIL_TO_PASS) + len(c.task.PASS_TO_PASS)
                              for c in ctxs.values())
    print(f"{len(ctxs)} tasks x {args.rounds} rounds, median {tests:.0f} tests per task")
    for name, xs in (("warm", warm), ("cold", cold)):
        q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
        print(f"{name}: median {statistics.median(xs):.2f}s  (quartiles {q[0]:.2f}-{q[2]:.2f}s,"
              f" n={len(xs)})")
    print(f"cold / warm median: {statistics.median(cold) / statistics.median(warm):.2f}x")


if __name__ == "__main__":
    main()

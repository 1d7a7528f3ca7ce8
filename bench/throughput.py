"""The factory's throughput, measured side by side in one run on the same candidates.

1. Validated tasks per CPU-second: the optimized pipeline (one warm container per environment
   whose test server collected the suite once; coverage screening in forks of it; the full suite
   twice only for bugs the screen caught, once hot and once in a fresh pytest process) vs a naive
   mode (a
   fresh container and the full suite once for every candidate: the SWE-smith method). Both run
   serially on one worker whose container is capped at one CPU, so CPU-seconds are the wall
   seconds times that one allotted CPU.
2. Candidate (mutant) evaluations per second vs mutmut 3 on the same package: mutmut mutates
   every function of the package's source (ours: the sampled candidates of the same files). An
   evaluation is what mutmut does per mutant: run the tests that cover it until one fails. Ours
   is the pipeline's screen: no run when no test covers the change, else the covering tests in a
   fork of the warm container's test server (hot), or the whole suite in a fresh pytest process
   when the change is in code run at import; both stop at the first failure. Each side's time
   counts candidate evaluation only, not building or the clean-suite measurement; ours includes
   starting the container and its test server. Both use one CPU: ours one worker whose container
   is capped at one CPU, mutmut one child (`--max-children 1`; by default it forks one per
   core). The full validation's rate is printed beside it.
3. The whole factory (`run_factory`) with 1 vs 2 local Ray workers, on a fresh store each.

    .venv/bin/pip install -e '.[bench]'        # mutmut, for ratio 2 only
    .venv/bin/python bench/throughput.py data/samples/ledger pypi:tabulate==0.9.0 -n 24

Absolute times depend on the machine and its load; the ratios are the result.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
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
    bug_run_config,
    build_environment,
    measure_environment,
    prepare_candidates,
    screen_cpu_budget,
    screen_timeout,
    validate_batch,
)
from synth.proc import run as run_process
from synth.records import BackendKind, RunKind
from verifiers.grading import broke_any, rejection_for
from verifiers.runner import run_suite
from verifiers.screening import changed_lines, screenable, tests_covering


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


@dataclass(frozen=True)
class Screens:
    setup_s: float  # the container, its test server and the collector: once per environment
    body: Mode  # candidates inside function bodies: the kind mutmut generates
    at_import: Mode  # candidates in code run at import (decorators, defaults, class bodies)

    @property
    def all(self) -> Mode:
        return Mode(self.body.tasks + self.at_import.tasks,
                    self.body.evaluated + self.at_import.evaluated,
                    self.body.seconds + self.at_import.seconds)


def screens(config: BackendConfig, prepared: Prepared) -> Screens:
    """The mutate-and-test inner loop alone: each candidate's screen (see ratio 2 above)."""
    built, measured = prepared.built, prepared.measured
    env, snapshot, coverage = built.environment, built.snapshot, measured.coverage
    tally = {True: [0, 0, 0.0], False: [0, 0, 0.0]}  # in a body? -> killed, evaluated, seconds
    runner = build_backend(bug_run_config(config, measured.baseline_runs))
    try:
        start = time.monotonic()  # set-up, as mutmut's own is left out of its figure
        run_suite(runner, env, snapshot, kind=RunKind.SCREEN,
                  request=RunRequest(select=(), hot=True))
        setup_s = time.monotonic() - start
        for cand in prepared.candidates:
            start = time.monotonic()
            touched = changed_lines(cand.patch)
            body = coverage is not None and screenable(coverage, touched)
            killed = False
            if body:
                covering = tests_covering(coverage, touched, measured.baseline.passing)
                request = RunRequest(patch=cand.patch, select=tuple(sorted(covering)), hot=True,
                                     first_failure=True,
                                     timeout_s=screen_timeout(measured, covering),
                                     cpu_s=screen_cpu_budget(measured, covering))
            else:  # code run at import: every test may see it, in a fresh pytest process
                covering, request = None, RunRequest(patch=cand.patch, first_failure=True)
            if covering != set():  # no covering test: rejected as uncovered without a run
                run = run_suite(runner, env, snapshot, kind=RunKind.SCREEN, request=request)
                killed = rejection_for(run) is None and broke_any(measured.baseline, run, covering)
            entry = tally[body]
            entry[0] += killed
            entry[1] += 1
            entry[2] += time.monotonic() - start
    finally:
        runner.close()
    return Screens(setup_s, Mode(*tally[True]), Mode(*tally[False]))


def naive(config: BackendConfig, built: Built, measured: Measured, prepared: Prepared) -> Mode:
    """A fresh container and the whole suite per candidate; 'validated' = broke a test once."""
    tasks = 0
    start = time.monotonic()
    config = bug_run_config(config, measured.baseline_runs)  # the same limit as the pipeline's
    for cand in prepared.candidates:
        runner = build_backend(config)  # closing it removes its container: the next is fresh
        try:
            run = run_suite(runner, built.environment, built.snapshot, kind=RunKind.BUG,
                            request=RunRequest(patch=cand.patch))
        finally:
            runner.close()
        tasks += rejection_for(run) is None and broke_any(measured.baseline, run)
    return Mode(tasks, len(prepared.candidates), time.monotonic() - start)


def mutmut_python(built: Built, cache: Path) -> Path | None:
    """A Python that can run the repository's tests and mutmut: the local backend's virtualenv
    of the same spec and locked wheels (so mutmut sees the test dependencies the containers
    have), with mutmut installed into it from the host's package index."""
    from envs.local_backend import LocalBackend

    try:
        env = LocalBackend(BackendConfig(kind=BackendKind.LOCAL, cache_dir=cache)).prepare(
            built.snapshot, built.environment.spec)
    except Exception as exc:  # noqa: BLE001 - a bench line, not a crash
        print(f"  mutmut: no local environment for the repository ({exc})")
        return None
    python = Path(env.image_name) / "bin" / "python"
    done = run_process([python, "-m", "pip", "install", "--quiet", "mutmut>=3,<4"], check=False,
                       timeout=600)
    if done.returncode != 0:
        print(f"  mutmut could not be installed: {done.stdout[-300:]}")
        return None
    return python


def mutated_paths(candidates) -> list[str]:
    """What mutmut mutates: the top-level packages (or root modules) our candidates touch."""
    roots = set()
    for cand in candidates:
        parts = Path(cand.target_file).parts
        roots.add(str(Path(*parts[:2])) if parts[0] == "src" and len(parts) > 2 else parts[0])
    return sorted(roots)


def mutmut(python: Path, snapshot_path: Path, sources: list[str], spec, timeout_s: float
           ) -> Mode | None:
    """mutmut 3 on a copy of the snapshot, in the repository's own test environment, for at
    most ``timeout_s``; None when it evaluated nothing."""
    with tempfile.TemporaryDirectory(prefix="synth-mutmut-") as tmp:
        work = Path(tmp) / "repo"
        shutil.copytree(snapshot_path, work, ignore=shutil.ignore_patterns(".git"))
        lists = {"source_paths": sources, "pytest_add_cli_args": list(spec.pytest_args),
                 "pytest_add_cli_args_test_selection": list(spec.test_paths)}
        with (work / "setup.cfg").open("a") as cfg:
            cfg.write("\n[mutmut]\n" + "".join(
                f"{key}=\n" + "".join(f"    {v}\n" for v in values)
                for key, values in lists.items() if values))
        env = {"PATH": f"{python.parent}:/usr/bin:/bin", "HOME": tmp,
               **dict(e.split("=", 1) for e in spec.env)}
        start = time.monotonic()
        # One child: ours screens on one worker whose container is capped at one CPU, and
        # mutmut would otherwise fork one per core.
        done = run_process([python, "-m", "mutmut", "run", "--max-children", "1"], cwd=work,
                           timeout=timeout_s, check=False, env=env)
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
        print(f"  mutmut evaluated nothing (exit {done.returncode}): {done.stdout[-600:]}")
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


def bench(source: str, n: int, choice: BackendChoice, cache: Path, mutmut_timeout: float,
          ratios: frozenset[int] = frozenset({1, 2, 3})) -> None:
    config, note = resolve_backend(choice, cache)
    built = build_environment(source, config)
    measured = measure_environment(config, built)
    prepared = prepare_candidates(config, built, measured, max_candidates=n, seed=0)
    print(f"{built.repo.name}: {len(prepared.candidates)} candidates, {note}")

    fast = optimized(config, prepared)
    if 1 in ratios:
        slow = naive(config, built, measured, prepared)
        print(f"  1. optimized: {fast.tasks} tasks in {fast.seconds:.1f} CPU-s "
              f"({fast.per_s:.3f}/CPU-s)"
              f" | naive: {slow.tasks} in {slow.seconds:.1f} CPU-s ({slow.per_s:.3f}/CPU-s)"
              f" | ratio {fast.per_s / slow.per_s if slow.per_s else float('inf'):.2f}x")

    if 2 in ratios:
        python = mutmut_python(built, cache / "mutmut")
        theirs = python and mutmut(python, Path(built.snapshot.path),
                                   mutated_paths(prepared.candidates), built.environment.spec,
                                   mutmut_timeout)
        screened = screens(config, prepared)
        if theirs:
            rate = theirs.evaluated / theirs.seconds
            body, every = screened.body, screened.all
            print(f"  2. evaluations/s: ours {body.evaluated / body.seconds:.2f} on the "
                  f"{body.evaluated} candidates in function bodies ({body.seconds:.1f} s, "
                  f"{body.tasks} broke a test, Docker-isolated) | mutmut {rate:.2f} "
                  f"({theirs.evaluated} in {theirs.seconds:.1f} s, {theirs.tasks} killed, "
                  f"in-process) | ratio {body.evaluated / body.seconds / rate:.2f}x")
            print(f"     with the {screened.at_import.evaluated} candidates in code run at import"
                  f" (which mutmut does not make): {every.evaluated / every.seconds:.2f}/s, ratio"
                  f" {every.evaluated / every.seconds / rate:.2f}x; set-up {screened.setup_s:.1f} "
                  f"s once per environment (left out, as mutmut's); full validations/s "
                  f"{fast.evaluated / fast.seconds:.2f}")

    if 3 not in ratios:
        return
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
    parser.add_argument("--ratios", default="1,2,3", help="which of the three to measure")
    args = parser.parse_args()
    for source in args.sources:
        bench(source, args.n, BackendChoice(args.backend), args.cache_dir, args.mutmut_timeout,
              frozenset(int(r) for r in args.ratios.split(",")))


if __name__ == "__main__":
    main()

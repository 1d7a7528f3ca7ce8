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
import dataclasses
import json
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from synth.envs.backend import (
    BackendChoice,
    BackendConfig,
    RunRequest,
    build_backend,
    resolve_backend,
)
from synth.mutate import make_patch
from synth.pipelines.factory import run_factory, start_ray, stop_ray
from synth.pipelines.stages import (
    Built,
    Prepared,
    build_environment,
    measure_environment,
    prepare_candidates,
    validate_batch,
)
from synth.proc import run as run_process
from synth.records import BackendKind, Candidate, RunKind, Strategy
from synth.verifiers.grading import broke_any, rejection_for
from synth.verifiers.runner import run_suite
from synth.verifiers.validation import Measured, bug_run_config, screen_lines, screen_request


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
    killed: frozenset[str] = frozenset()  # candidate ids whose screen broke a test

    @property
    def all(self) -> Mode:
        return Mode(self.body.tasks + self.at_import.tasks,
                    self.body.evaluated + self.at_import.evaluated,
                    self.body.seconds + self.at_import.seconds)


def screens(config: BackendConfig, prepared: Prepared) -> Screens:
    """The mutate-and-test inner loop alone: each candidate's screen (see ratio 2 above)."""
    built, measured = prepared.built, prepared.measured
    env, snapshot = built.environment, built.snapshot
    tally = {True: [0, 0, 0.0], False: [0, 0, 0.0]}  # in a body? -> killed, evaluated, seconds
    killed_ids = set()
    runner = build_backend(bug_run_config(config, measured.baseline_runs))
    try:
        start = time.monotonic()  # set-up, as mutmut's own is left out of its figure
        run_suite(runner, env, snapshot, kind=RunKind.SCREEN,
                  request=RunRequest(select=(), hot=True))
        setup_s = time.monotonic() - start
        for cand in prepared.candidates:
            start = time.monotonic()
            lines = screen_lines(measured, snapshot, cand.patch)
            body = lines is not None  # function bodies, or new literal defaults: hot
            killed = False
            if lines is not None:  # the pipeline's own screen (verifiers.validation.validate_one)
                request = screen_request(measured, cand.patch, lines)
                covering = set(request.select) if request else set()
            else:  # code run at import: every test may see it, in a fresh pytest process
                covering, request = None, RunRequest(patch=cand.patch, first_failure=True)
            if covering != set():  # no covering test: rejected as uncovered without a run
                run = run_suite(runner, env, snapshot, kind=RunKind.SCREEN, request=request)
                killed = rejection_for(run) is None and broke_any(measured.baseline, run, covering)
            if killed:
                killed_ids.add(cand.candidate_id)
            entry = tally[body]
            entry[0] += killed
            entry[1] += 1
            entry[2] += time.monotonic() - start
    finally:
        runner.close()
    return Screens(setup_s, Mode(*tally[True]), Mode(*tally[False]), frozenset(killed_ids))


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
    from synth.envs.local_backend import LocalBackend

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


# Run by mutmut's own interpreter in its working copy: every mutant it evaluated, as the whole
# mutated file (its own apply_mutant, without writing), with mutmut's exit code.
HARVEST = """
import json, pathlib, sys
from mutmut.mutation.diff_apply import (read_functions_from_index, read_mutant_function,
    read_mutants_module, read_orig_module)
from mutmut.utils.format_utils import orig_function_and_class_names_from_key
import libcst as cst
out = []
for meta in sorted(pathlib.Path("mutants").rglob("*.py.meta")):
    path = str(meta.relative_to("mutants"))[: -len(".meta")]
    data = json.loads(meta.read_text())
    codes, seconds = data.get("exit_code_by_key", {}), data.get("durations_by_key", {})
    orig = read_orig_module(path)
    for name, code in sorted(codes.items()):
        if code is None:
            continue
        try:
            short, cls = orig_function_and_class_names_from_key(name)
            found = read_functions_from_index(name, path)
            mutant = found[1] if found else read_mutant_function(read_mutants_module(path), name)
            # The function of that class (mutmut's own apply_mutant takes the first function or
            # method of the name, in whichever class: another class's __init__, say).
            scope = orig.body
            if cls is not None:
                scope = next(c.body.body for c in orig.body
                             if isinstance(c, cst.ClassDef) and c.name.value == cls)
            old = next(f for f in scope
                       if isinstance(f, cst.FunctionDef) and f.name.value == short)
            new = orig.deep_replace(old, mutant.with_changes(
                name=cst.Name(short), leading_lines=old.leading_lines)).code
        except Exception as exc:
            print(name, "not harvested:", repr(exc)[:200], file=sys.stderr)
            continue
        out.append({"name": name, "path": path, "code": code, "text": new,
                    "seconds": seconds.get(name) or 0.0})
json.dump(out, sys.stdout)
"""

KILLED = {1, 3}  # mutmut's exit codes for a killed mutant (3: pytest's internal error)


@dataclass(frozen=True)
class Mutmut:
    mode: Mode  # tasks: mutants killed
    mutants: tuple[dict, ...]  # what HARVEST printed


def mutmut(python: Path, snapshot_path: Path, sources: list[str], spec, timeout_s: float
           ) -> Mutmut | None:
    """mutmut 3 on a copy of the snapshot, in the repository's own test environment, for at
    most ``timeout_s``, and the mutants it evaluated; None when it evaluated nothing."""
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
            killed += sum(c in KILLED for c in codes.values())
        # mutmut reports "done in N ms" for generating mutants and for its clean-suite stats;
        # both are left out, as ours leaves out building and measuring the environment.
        setup_s = sum(int(ms) for ms in re.findall(r"done in (\d+)ms", done.stdout)[:2]) / 1000
        harvest = run_process([python, "-c", HARVEST], cwd=work, timeout=600, check=False,
                              env=env)
    if not evaluated:
        print(f"  mutmut evaluated nothing (exit {done.returncode}): {done.stdout[-600:]}")
        return None
    try:
        mutants = tuple(json.loads(harvest.stdout))
    except ValueError:
        print(f"  mutmut's mutants could not be read back: {harvest.stdout[-600:]}")
        mutants = ()
    return Mutmut(Mode(killed, evaluated, max(seconds - setup_s, 1e-9)), mutants)


def as_candidates(prepared: Prepared, mutants: tuple[dict, ...]) -> tuple[Candidate, ...]:
    """mutmut's mutants as this factory's candidates: the same code change, as a patch."""
    snapshot, out = prepared.built.snapshot, []
    for m in mutants:
        before = (Path(snapshot.path) / m["path"]).read_text(encoding="utf-8")
        patch = make_patch(m["path"], before, m["text"])
        if patch:
            out.append(Candidate(
                candidate_id=m["name"], snapshot_id=snapshot.snapshot_id,
                strategy=Strategy.PROCEDURAL, operator="mutmut", seed=0,
                target_file=m["path"], patch=patch))
    return tuple(out)


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
        if theirs:
            rate = theirs.mode.evaluated / theirs.mode.seconds
            print(f"  2. mutmut 3: {theirs.mode.evaluated} mutants in {theirs.mode.seconds:.1f} s"
                  f" = {rate:.2f}/s ({theirs.mode.tasks} killed; one child, in-process, its "
                  f"fastest mutants first)")
            same = as_candidates(prepared, theirs.mutants)
            if same:
                screened = screens(config, dataclasses.replace(prepared, candidates=same))
                every = screened.all
                by_name = {m["name"]: m for m in theirs.mutants}
                theirs_killed = {c.candidate_id for c in same
                                 if by_name[c.candidate_id]["code"] in KILLED}
                # mutmut's own time for each mutant (its worker's start to its result), summed:
                # its orchestration, clean runs and start-up left out.
                own_s = sum(by_name[c.candidate_id]["seconds"] for c in same)
                print(f"     ours on the same {every.evaluated} mutants: {every.seconds:.1f} s = "
                      f"{every.evaluated / every.seconds:.2f}/s, ratio "
                      f"{every.evaluated / every.seconds / rate:.2f}x; against mutmut's own "
                      f"per-mutant times summed ({own_s:.1f} s): {own_s / every.seconds:.2f}x "
                      f"(Docker-isolated; set-up {screened.setup_s:.1f} s once per environment, "
                      f"left out as mutmut's) | killed: ours {len(screened.killed)}, mutmut "
                      f"{len(theirs_killed)}, both {len(theirs_killed & screened.killed)}")
            screened = screens(config, prepared)
            body, every = screened.body, screened.all
            print(f"     ours on our own {every.evaluated} candidates: "
                  f"{every.evaluated / every.seconds:.2f}/s ({body.evaluated} in function bodies"
                  f" {body.evaluated / body.seconds:.2f}/s, ratio "
                  f"{body.evaluated / body.seconds / rate:.2f}x; with the "
                  f"{screened.at_import.evaluated} in code run at import, which mutmut does not "
                  f"make, {every.evaluated / every.seconds / rate:.2f}x); full validations/s "
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

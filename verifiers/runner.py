"""Test runs of an environment, read into TestRun records: baseline, coverage, screen, bug."""

from __future__ import annotations

from dataclasses import dataclass

from synth.envs.backend import Backend, RawRun, RunRequest
from synth.records import (
    DEFAULT_ORDER,
    REVERSE_ORDER,
    CoverageMap,
    Environment,
    Order,
    RunKind,
    Snapshot,
    TestRun,
    Verdict,
    content_hash,
)
from synth.verifiers.grading import Baseline, baseline_of
from synth.verifiers.report import against_witness, blame, read_report


def patch_hash(patch: str) -> str:
    return content_hash("patch", patch) if patch else ""


BASELINE_RUNS = 3


def baseline_orders(env_id: str) -> tuple[Order, ...]:
    """Default, reversed, and one seeded random order (seeded by the environment: reproducible)."""
    seed = int(content_hash("order", env_id, length=8), 16)
    return (DEFAULT_ORDER, REVERSE_ORDER, Order.random(seed))


def to_test_run(raw: RawRun, env: Environment, *, kind: RunKind, request: RunRequest,
                attempt: int) -> tuple[TestRun, CoverageMap | None]:
    read = read_report(raw.report, exit_code=raw.exit_code, nonce=raw.nonce,
                       timed_out=raw.timed_out, oom=raw.oom, patch_failed=raw.patch_failed,
                       progress=raw.progress)
    read = against_witness(read, None if raw.patch_failed else raw.witness)
    selected = len(request.select) if request.select is not None else None
    run = TestRun(
        run_id=content_hash("run", env.env_id, kind.value, patch_hash(request.patch), attempt,
                            request.order, sorted(request.select or ())),
        env_id=env.env_id, kind=kind, patch_hash=patch_hash(request.patch), attempt=attempt,
        verdict=read.verdict, exit_code=raw.exit_code, duration_s=round(raw.duration_s, 3),
        results=read.results, reason=read.reason, order=request.order, selected=selected,
        log_tail=raw.log_tail[-4000:], cpu_s=raw.cpu_s,
    )
    coverage = CoverageMap(env_id=env.env_id, entries=read.coverage) if request.coverage else None
    return run, coverage


def run_suite(backend: Backend, env: Environment, snapshot: Snapshot, *, kind: RunKind,
              request: RunRequest | None = None, attempt: int = 0) -> TestRun:
    request = request or RunRequest()
    run, _ = to_test_run(backend.run_tests(env, snapshot, request), env, kind=kind,
                         request=request, attempt=attempt)
    return run


def run_baseline(backend: Backend, env: Environment, snapshot: Snapshot, *,
                 exclude: tuple[str, ...] = ()) -> tuple[Baseline, list[TestRun]]:
    """The clean suite in three orders; tests that ever flip are quarantined as flaky."""
    runs = [
        run_suite(backend, env, snapshot, kind=RunKind.BASELINE,
                  request=RunRequest(order=order, exclude=exclude), attempt=i)
        for i, order in enumerate(baseline_orders(env.env_id))
    ]
    return baseline_of(runs), runs


MAX_EXCLUDED = 8  # tests a baseline may leave out before the suite counts as unusable


@dataclass(frozen=True)
class Settled:
    """The baseline once every test that hangs or kills its process is left out."""

    baseline: Baseline
    runs: list[TestRun]
    excluded: dict[str, str]  # node id -> why it is left out of every run


def settle_baseline(backend: Backend, env: Environment, snapshot: Snapshot) -> Settled:
    """``run_baseline``, where one bad test costs only itself: a run that dies in a test (the
    plugin's per-test watchdog, a signal, the OOM killer) names it; it is left out and the
    baseline starts over, so that every run of the clean suite leaves out the same tests."""
    excluded: dict[str, str] = {}
    while True:
        runs: list[TestRun] = []
        for i, order in enumerate(baseline_orders(env.env_id)):
            request = RunRequest(order=order, exclude=tuple(excluded))
            raw = backend.run_tests(env, snapshot, request)
            run, _ = to_test_run(raw, env, kind=RunKind.BASELINE, request=request, attempt=i)
            runs.append(run)
            found = blame(raw.progress, raw.nonce) if raw.report is None else None
            if found is not None and found.test not in excluded:
                break
        else:
            return Settled(baseline_of(runs), runs, excluded)
        if len(excluded) >= MAX_EXCLUDED:
            return Settled(baseline_of(runs), runs, excluded)
        excluded[found.test] = (f"ran past the {found.limit_s:g} s limit of one test"
                                if found.timed_out else f"killed its test process: {run.reason}")


def run_coverage(backend: Backend, env: Environment, snapshot: Snapshot, *,
                 exclude: tuple[str, ...] = ()) -> tuple[TestRun, CoverageMap | None]:
    """One run of the clean suite under coverage, contexts per test: the screening map."""
    request = RunRequest(coverage=True, exclude=exclude)
    run, coverage = to_test_run(backend.run_tests(env, snapshot, request), env,
                                kind=RunKind.COVERAGE, request=request, attempt=0)
    usable = run.verdict in (Verdict.PASS, Verdict.FAIL) and coverage and coverage.entries
    return run, coverage if usable else None

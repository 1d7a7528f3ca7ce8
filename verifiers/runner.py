"""Test runs of an environment, read into TestRun records: baseline, coverage, screen, bug."""

from __future__ import annotations

from envs.backend import Backend, RawRun, RunRequest
from synth.records import (
    CoverageMap,
    Environment,
    RunKind,
    Snapshot,
    TestRun,
    Verdict,
    content_hash,
)
from verifiers.grading import Baseline, baseline_of
from verifiers.report import read_report


def patch_hash(patch: str) -> str:
    return content_hash("patch", patch) if patch else ""


BASELINE_RUNS = 3


def baseline_orders(env_id: str) -> tuple[str, ...]:
    """Default, reversed, and one seeded random order (seeded by the environment: reproducible)."""
    seed = int(content_hash("order", env_id, length=8), 16)
    return ("default", "reverse", f"random:{seed}")


def to_test_run(raw: RawRun, env: Environment, *, kind: RunKind, request: RunRequest,
                attempt: int) -> tuple[TestRun, CoverageMap | None]:
    read = read_report(raw.report, exit_code=raw.exit_code, nonce=raw.nonce,
                       timed_out=raw.timed_out, oom=raw.oom, patch_failed=raw.patch_failed)
    selected = len(request.select) if request.select is not None else None
    run = TestRun(
        run_id=content_hash("run", env.env_id, kind.value, patch_hash(request.patch), attempt,
                            request.order, sorted(request.select or ())),
        env_id=env.env_id, kind=kind, patch_hash=patch_hash(request.patch), attempt=attempt,
        verdict=read.verdict, exit_code=raw.exit_code, duration_s=round(raw.duration_s, 3),
        results=read.results, reason=read.reason, order=request.order, selected=selected,
        log_tail=raw.log_tail[-4000:],
    )
    coverage = CoverageMap(env_id=env.env_id, entries=read.coverage) if request.coverage else None
    return run, coverage


def run_suite(backend: Backend, env: Environment, snapshot: Snapshot, *, kind: RunKind,
              request: RunRequest | None = None, attempt: int = 0) -> TestRun:
    request = request or RunRequest()
    run, _ = to_test_run(backend.run_tests(env, snapshot, request), env, kind=kind,
                         request=request, attempt=attempt)
    return run


def run_baseline(backend: Backend, env: Environment, snapshot: Snapshot
                 ) -> tuple[Baseline, list[TestRun]]:
    """The clean suite in three orders; tests that ever flip are quarantined as flaky."""
    runs = [
        run_suite(backend, env, snapshot, kind=RunKind.BASELINE,
                  request=RunRequest(order=order), attempt=i)
        for i, order in enumerate(baseline_orders(env.env_id))
    ]
    return baseline_of(runs), runs


def run_coverage(backend: Backend, env: Environment, snapshot: Snapshot
                 ) -> tuple[TestRun, CoverageMap | None]:
    """One run of the clean suite under coverage, contexts per test: the screening map."""
    request = RunRequest(coverage=True)
    run, coverage = to_test_run(backend.run_tests(env, snapshot, request), env,
                                kind=RunKind.COVERAGE, request=request, attempt=0)
    usable = run.verdict in (Verdict.PASS, Verdict.FAIL) and coverage and coverage.entries
    return run, coverage if usable else None

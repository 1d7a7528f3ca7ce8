"""One test run of an environment, read into a TestRun record; and the baseline of a clean repo."""

from __future__ import annotations

from envs.backend import Backend, RawRun
from synth.records import Environment, RunKind, Snapshot, TestRun, content_hash
from verifiers.grading import Baseline, baseline_of
from verifiers.report import read_report

BASELINE_RUNS = 2


def patch_hash(patch: str) -> str:
    return content_hash("patch", patch) if patch else ""


def to_test_run(
    raw: RawRun, env: Environment, *, kind: RunKind, patch: str, attempt: int
) -> TestRun:
    read = read_report(
        raw.report,
        exit_code=raw.exit_code,
        timed_out=raw.timed_out,
        oom=raw.oom,
        patch_failed=raw.patch_failed,
    )
    tail = raw.log_tail if not read.reason else f"[synth] {read.reason}\n{raw.log_tail}"
    return TestRun(
        run_id=content_hash("run", env.env_id, kind.value, patch_hash(patch), attempt),
        env_id=env.env_id,
        kind=kind,
        patch_hash=patch_hash(patch),
        attempt=attempt,
        outcome=read.outcome,
        exit_code=raw.exit_code,
        duration_s=round(raw.duration_s, 3),
        results=read.results,
        log_tail=tail[-4000:],
    )


def run_suite(
    backend: Backend,
    env: Environment,
    snapshot: Snapshot,
    *,
    kind: RunKind,
    patch: str = "",
    attempt: int = 0,
) -> TestRun:
    raw = backend.run_tests(env, snapshot, patch)
    return to_test_run(raw, env, kind=kind, patch=patch, attempt=attempt)


def run_baseline(
    backend: Backend, env: Environment, snapshot: Snapshot, runs: int = BASELINE_RUNS
) -> tuple[Baseline, list[TestRun]]:
    """Run the clean repository ``runs`` times; tests that disagree are quarantined as flaky."""
    done = [
        run_suite(backend, env, snapshot, kind=RunKind.BASELINE, attempt=i) for i in range(runs)
    ]
    return baseline_of(done), done

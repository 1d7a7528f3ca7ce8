"""Reproducibility audit: does every stored task still reproduce, months later?

For each sampled environment: optionally rebuild it from its stored spec from scratch (a fresh,
empty cache, so the wheelhouse is resolved again; no image or layer reuse) and compare the lock
and the files of the rebuilt environment with the stored one. Then re-verify each sampled task K
times: in the bug state its FAIL_TO_PASS tests fail and its PASS_TO_PASS tests pass; in the gold
state (the clean repository, run K times per environment) they all pass. Every difference is a
drift, with its reason (DriftReason) and a line saying what changed.

Judging runs is pure (:func:`judge_task`, :func:`lock_changes`, and envs.listing's diff); the
rest drives the backends: whether an environment is there, what files it holds and removing
a rebuild are the backend's (``Backend.present``, ``listing``, ``discard``); nothing here talks
to Docker.
"""

from __future__ import annotations

import functools
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from synth.envs.backend import Backend, BackendConfig, Limits, RunRequest, build_backend
from synth.envs.listing import listing_changes
from synth.intake import IntakeError, ensure_snapshot
from synth.records import (
    AuditVerdict,
    BackendKind,
    DriftReason,
    Environment,
    Requirement,
    RunKind,
    Snapshot,
    Task,
    TaskAudit,
    TestRun,
    Verdict,
    content_hash,
    utcnow,
)
from synth.verifiers.grading import passed, status_of
from synth.verifiers.runner import run_suite

DEFAULT_SAMPLE = 10
DEFAULT_RUNS = 2
_ERRORED = {DriftReason.BUILD_FAILED, DriftReason.ENVIRONMENT_MISSING, DriftReason.SOURCE_CHANGED}
_SHOWN = 5  # findings listed per kind before "and N more"



class AuditError(RuntimeError):
    """An audit the user asked for cannot start; the message says what to change."""


@dataclass(frozen=True)
class AuditOptions:
    sample: int | None = DEFAULT_SAMPLE  # None: every task
    runs: int = DEFAULT_RUNS
    rebuild: bool = False
    seed: int = 0
    limits: Limits = field(default_factory=Limits)


@dataclass(frozen=True)
class Finding:
    reasons: tuple[DriftReason, ...] = ()
    details: tuple[str, ...] = ()
    flipped: tuple[str, ...] = ()
    flaky: tuple[str, ...] = ()

    def __add__(self, other: Finding) -> Finding:
        return Finding(
            tuple(sorted(set(self.reasons) | set(other.reasons))),
            self.details + other.details,
            tuple(sorted(set(self.flipped) | set(other.flipped))),
            tuple(sorted(set(self.flaky) | set(other.flaky))),
        )


@dataclass
class AuditSummary:
    audit_run: str
    audits: list[TaskAudit] = field(default_factory=list)

    @property
    def reproduced(self) -> int:
        return sum(a.verdict is AuditVerdict.REPRODUCED for a in self.audits)

    @property
    def drifted(self) -> int:
        return len(self.audits) - self.reproduced

    def by_reason(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for audit in self.audits:
            for reason in audit.reasons:
                counts[reason.value] = counts.get(reason.value, 0) + 1
        return dict(sorted(counts.items()))


def sample_tasks(tasks: Sequence[Task], n: int | None, seed: int) -> list[Task]:
    """``n`` tasks drawn with ``seed`` (all of them for None), in instance-id order."""
    ordered = sorted(tasks, key=lambda t: t.instance_id)
    if n is None or n >= len(ordered):
        return ordered
    return sorted(random.Random(seed).sample(ordered, n), key=lambda t: t.instance_id)


def judge_task(task: Task, bug_runs: Sequence[TestRun], gold_runs: Sequence[TestRun]) -> Finding:
    """Compare K bug-state and K gold-state runs with what the task says: pure."""
    finding = Finding()
    usable: dict[RunKind, list[TestRun]] = {RunKind.BUG: [], RunKind.GOLD: []}
    for run in [*bug_runs, *gold_runs]:
        if run.verdict in (Verdict.PASS, Verdict.FAIL):
            usable[run.kind].append(run)
        else:
            why = f" ({run.reason})" if run.reason else ""
            finding += Finding(
                (DriftReason.RUN_FAILED,),
                (f"{run.kind.value} run {run.attempt + 1}: {run.verdict.value}{why}",),
            )
    f2p = set(task.FAIL_TO_PASS)
    for kind, runs in usable.items():
        if not runs:
            continue
        maps = [r.status_map() for r in runs]
        flipped, flaky = [], []
        for test in sorted(f2p | set(task.PASS_TO_PASS)):
            want_pass = kind is RunKind.GOLD or test not in f2p
            agree = [passed(status_of(m, test)) == want_pass for m in maps]
            if not any(agree):
                flipped.append(test)
            elif not all(agree):
                flaky.append(test)
        state = "bug" if kind is RunKind.BUG else "gold"
        if flipped:
            finding += Finding(
                (DriftReason.TEST_FLIPPED,),
                (
                    _listed(
                        f"in the {state} state, {{n}} test(s) flipped in all {len(runs)} runs",
                        flipped,
                        functools.partial(_expectation, kind=kind, f2p=f2p),
                    ),
                ),
                flipped=tuple(flipped),
            )
        if flaky:
            finding += Finding(
                (DriftReason.TEST_FLAKY,),
                (
                    _listed(
                        f"in the {state} state, {{n}} test(s) disagreed across {len(runs)} runs",
                        flaky,
                        lambda t: t,
                    ),
                ),
                flaky=tuple(flaky),
            )
    return finding


def _expectation(test: str, *, kind: RunKind, f2p: set[str]) -> str:
    if kind is RunKind.GOLD:
        return f"{test} (should pass on the clean repository)"
    return f"{test} (FAIL_TO_PASS, passed)" if test in f2p else f"{test} (PASS_TO_PASS, failed)"


def _listed(head: str, items: Sequence[str], show: Callable[[str], str]) -> str:
    shown = "; ".join(show(i) for i in items[:_SHOWN])
    more = f"; and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return head.format(n=len(items)) + f": {shown}{more}"


def lock_changes(stored: Sequence[Requirement], rebuilt: Sequence[Requirement]) -> list[str]:
    """What differs between two locks, one line per package: pure."""
    old = {r.name: r for r in stored}
    new = {r.name: r for r in rebuilt}
    lines = []
    for name in sorted(old.keys() | new.keys()):
        a, b = old.get(name), new.get(name)
        if a is None and b is not None:
            lines.append(f"{name} {b.version} added")
        elif b is None and a is not None:
            lines.append(f"{name} {a.version} removed")
        elif a is not None and b is not None and a.version != b.version:
            lines.append(f"{name} {a.version} → {b.version}")
        elif a is not None and b is not None and a.sha256 != b.sha256:
            lines.append(f"{name} {a.version}: same version, another wheel ({b.filename})")
    return lines


@dataclass
class _Prepared:
    env: Environment | None  # where the tasks run; None when no environment could be had
    finding: Finding
    backend: Backend | None = None  # the one that answered for ``env``; the tasks run through it
    cleanup: Callable[[], None] = lambda: None


def prepare_environment(
    stored: Environment, snapshot: Snapshot, cache_dir: Path, options: AuditOptions
) -> _Prepared:
    """The environment to verify in: the stored one, or (``rebuild``) a fresh build compared
    with it. Every question about an environment goes to its backend, and the tasks run through
    the same one: ``cleanup`` closes it."""
    if not options.rebuild:
        backend = build_backend(BackendConfig(kind=stored.backend, cache_dir=cache_dir,
                                              limits=options.limits))
        try:
            present = backend.present(stored)
        except BaseException:
            backend.close()
            raise
        if present:
            return _Prepared(stored, Finding(), backend, backend.close)
        backend.close()
        where = "image" if stored.backend is BackendKind.DOCKER else "virtualenv"
        return _Prepared(
            None,
            Finding(
                (DriftReason.ENVIRONMENT_MISSING,),
                (
                    f"the stored {where} {stored.image_name} ({stored.image_digest[:19]}) is gone; "
                    "run `synth audit --rebuild` to rebuild it from its spec",
                ),
            ),
        )
    fresh = Path(tempfile.mkdtemp(dir=cache_dir, prefix=".audit-"))
    base = (
        stored.base_image if not stored.base_image.startswith(("synth-base:", "local-")) else None
    )
    config = BackendConfig(
        kind=stored.backend, cache_dir=fresh, base_image=base, limits=options.limits, rebuild=True
    )
    builder = build_backend(config)
    try:
        rebuilt = builder.prepare(snapshot, stored.spec)
    except Exception as exc:  # any failure to build is the finding, whatever raised it
        builder.close()
        shutil.rmtree(fresh, ignore_errors=True)
        text = str(exc).strip().splitlines()
        return _Prepared(
            None,
            Finding(
                (DriftReason.BUILD_FAILED,),
                (
                    f"rebuilding {stored.image_name} from its spec failed: {type(exc).__name__}: "
                    + " | ".join(text[-6:]),
                ),
            ),
        )

    def discard() -> None:
        try:
            builder.discard(rebuilt)
        finally:
            builder.close()
            shutil.rmtree(fresh, ignore_errors=True)

    try:
        finding = compare_environments(builder, stored, rebuilt)
    except BaseException:
        discard()
        raise
    return _Prepared(rebuilt, finding, builder, discard)


def compare_environments(backend: Backend, stored: Environment, rebuilt: Environment
                         ) -> Finding:
    """Lock, base image and files of the stored environment against its rebuild, both read
    through their backend."""
    finding = Finding()
    changes = lock_changes(stored.lock, rebuilt.lock)
    if changes:
        finding += Finding(
            (DriftReason.DEPENDENCY_CHANGED,),
            (_listed("the spec now resolves {n} package(s) differently", changes, str),),
        )
    if stored.env_id != rebuilt.env_id:
        # The id hashes spec, lock, base image and the harness files put into every environment.
        finding += Finding(
            details=(f"the environment id changed ({stored.env_id} → {rebuilt.env_id})",)
        )
    if stored.base_image != rebuilt.base_image:
        finding += Finding(
            (DriftReason.IMAGE_CHANGED,),
            (f"base image {stored.base_image} → {rebuilt.base_image}",),
        )
    if not backend.present(stored):
        return finding + Finding(details=("the stored environment is gone: files not compared",))
    old, new = backend.listing(stored), backend.listing(rebuilt)
    differ = listing_changes(old, new)
    if differ:
        finding += Finding(
            (DriftReason.IMAGE_CHANGED,),
            (_listed(f"{{n}} of {len(old)} files differ in the rebuilt environment", differ, str),),
        )
    return finding


def verify_tasks(
    backend: Backend, env: Environment, snapshot: Snapshot, tasks: Sequence[Task], runs: int
) -> dict[str, tuple[Finding, float]]:
    """Run the gold state ``runs`` times, and each task's bug state ``runs`` times."""
    gold = [run_suite(backend, env, snapshot, kind=RunKind.GOLD, attempt=i) for i in range(runs)]
    out = {}
    for task in tasks:
        start = time.monotonic()
        bug = [
            run_suite(
                backend,
                env,
                snapshot,
                kind=RunKind.BUG,
                request=RunRequest(patch=task.patch),
                attempt=i,
            )
            for i in range(runs)
        ]
        out[task.instance_id] = (judge_task(task, bug, gold), time.monotonic() - start)
    return out


def audit_environment(
    stored: Environment,
    snapshot: Snapshot,
    tasks: Sequence[Task],
    *,
    cache_dir: Path,
    options: AuditOptions,
    audit_run: str,
) -> list[TaskAudit]:
    """Audit ``tasks`` (all of one environment); one TaskAudit each."""
    start = time.monotonic()
    try:
        snapshot = ensure_snapshot(snapshot, cache_dir / "snapshots")
    except IntakeError as exc:
        return _records(
            tasks,
            stored,
            {},
            Finding((DriftReason.SOURCE_CHANGED,), (str(exc),)),
            options,
            audit_run,
            time.monotonic() - start,
        )
    prepared = prepare_environment(stored, snapshot, cache_dir, options)
    verdicts: dict[str, tuple[Finding, float]] = {}
    try:
        if prepared.env is not None and prepared.backend is not None:
            verdicts = verify_tasks(prepared.backend, prepared.env, snapshot, tasks, options.runs)
    finally:
        prepared.cleanup()
    return _records(
        tasks, stored, verdicts, prepared.finding, options, audit_run, time.monotonic() - start
    )


def _records(
    tasks: Sequence[Task],
    env: Environment,
    verdicts: Mapping[str, tuple[Finding, float]],
    env_finding: Finding,
    options: AuditOptions,
    audit_run: str,
    env_seconds: float,
) -> list[TaskAudit]:
    out = []
    for task in tasks:
        task_finding, seconds = verdicts.get(task.instance_id, (Finding(), 0.0))
        finding = env_finding + task_finding
        if not finding.reasons:
            verdict = AuditVerdict.REPRODUCED
        elif set(finding.reasons) & _ERRORED or task.instance_id not in verdicts:
            verdict = AuditVerdict.ERRORED
        else:
            verdict = AuditVerdict.DIVERGED
        out.append(
            TaskAudit(
                audit_id=TaskAudit.make_id(audit_run, task.instance_id),
                audit_run=audit_run,
                instance_id=task.instance_id,
                env_id=env.env_id,
                repo=task.repo,
                verdict=verdict,
                reasons=finding.reasons,
                details=finding.details,
                runs=options.runs,
                rebuilt=options.rebuild,
                flipped=finding.flipped,
                flaky=finding.flaky,
                duration_s=round(seconds or env_seconds / max(len(tasks), 1), 3),
            )
        )
    return out


def new_audit_run() -> str:
    return content_hash("audit-run", utcnow().isoformat(), random.random(), length=12)


def run_audit(
    tasks: Sequence[Task],
    environments: Mapping[str, Environment],
    snapshots: Mapping[str, Snapshot],
    *,
    cache_dir: Path,
    options: AuditOptions,
    sink: Callable[[list[TaskAudit]], None],
    say: Callable[[str], None] = lambda text: None,
) -> AuditSummary:
    """Audit the sampled ``tasks``, one environment at a time; each environment's results go to
    ``sink`` (the store) as soon as they are known, so an interrupted audit keeps what it did."""
    if options.runs < 1:
        raise AuditError("--runs must be at least 1")
    chosen = sample_tasks(tasks, options.sample, options.seed)
    if not chosen:
        raise AuditError(
            "no task to audit: the store holds none, or none matches --repo / --instance-id"
        )
    summary = AuditSummary(new_audit_run())
    by_env: dict[str, list[Task]] = {}
    for task in chosen:
        by_env.setdefault(task.env_id, []).append(task)
    for env_id, env_tasks in sorted(by_env.items()):
        env = environments[env_id]
        what = "rebuilding and re-verifying" if options.rebuild else "re-verifying"
        say(f"{env.image_name}: {what} {len(env_tasks)} task(s), {options.runs} run(s) each")
        records = audit_environment(
            env,
            snapshots[env.snapshot_id],
            env_tasks,
            cache_dir=cache_dir,
            options=options,
            audit_run=summary.audit_run,
        )
        sink(records)
        summary.audits.extend(records)
    return summary

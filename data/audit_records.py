"""The records of a reproducibility audit (``synth audit``), stored in the ``audits`` table.

One TaskAudit per task per audit run: whether the task still reproduces and, where it drifted,
every reason found, each with a line a person can act on. They live beside the store that writes
them because ``synth.records.AuditResult`` has no room for reasons; pipelines.audit makes them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from synth.records import AuditVerdict, Record, content_hash, utcnow


class DriftReason(StrEnum):
    """Why a task no longer reproduces."""

    BUILD_FAILED = "build_failed"  # the environment could not be rebuilt from its spec
    DEPENDENCY_CHANGED = "dependency_changed"  # the spec now resolves to another lock
    IMAGE_CHANGED = "image_changed"  # same lock, different files in the rebuilt environment
    SOURCE_CHANGED = "source_changed"  # the snapshot is gone and its source gives another commit
    ENVIRONMENT_MISSING = "environment_missing"  # the stored image / venv is gone (no --rebuild)
    RUN_FAILED = "run_failed"  # a run timed out, ran out of memory, or could not be trusted
    TEST_FLIPPED = "test_flipped"  # a test is, in every run, not what the task says it is
    TEST_FLAKY = "test_flaky"  # a test disagreed with itself across the K runs


class TaskAudit(Record):
    """One task, re-verified ``runs`` times in its (possibly rebuilt) environment."""

    audit_id: str
    audit_run: str  # one id per `synth audit` invocation
    instance_id: str
    env_id: str
    repo: str
    verdict: AuditVerdict
    reasons: tuple[DriftReason, ...]  # sorted; empty when reproduced
    details: tuple[str, ...]  # one line per finding
    runs: int  # bug-state runs (and as many gold-state runs of its environment)
    rebuilt: bool
    flipped: tuple[str, ...] = ()  # test ids
    flaky: tuple[str, ...] = ()
    duration_s: float = 0.0
    created_at: datetime = Field(default_factory=utcnow)

    @staticmethod
    def make_id(audit_run: str, instance_id: str) -> str:
        return content_hash("audit", audit_run, instance_id)

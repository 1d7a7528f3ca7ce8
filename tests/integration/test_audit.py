"""`synth audit` on a fresh sample corpus (local backend), and on drift planted on purpose.

Each test audits its own copy of the session's local sample corpus: an audit stores its rows,
and a planted drift edits the store.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synth.cli import app
from synth.data.store import Store
from synth.records import AuditVerdict, DriftReason

pytestmark = pytest.mark.usefixtures("ray_session")
runner = CliRunner()


@pytest.fixture
def db(local_corpus_copy: Path) -> Path:
    return local_corpus_copy


def _latest_audit(db: Path):
    """The rows of the newest audit run."""
    with Store.open(db) as store:
        audits = store.list_audits()
    return [a for a in audits if a.audit_run == audits[-1].audit_run]


def _audit(db: Path, cache_dir: Path, *args: str):
    return runner.invoke(app, ["audit", "--db", str(db), "--cache-dir", str(cache_dir), *args])


def test_a_fresh_corpus_reproduces_and_the_audit_is_stored(db: Path, cache_dir: Path) -> None:
    result = _audit(db, cache_dir, "--all", "--runs", "2")
    assert result.exit_code == 0, result.output
    with Store.open(db) as store:
        tasks, audits = store.list_tasks(), store.list_audits()
    assert {a.instance_id for a in audits} == {t.instance_id for t in tasks}
    assert all(a.verdict is AuditVerdict.REPRODUCED and a.reasons == () for a in audits)
    assert f"{len(tasks)} task(s) re-verified: {len(tasks)} reproduced, 0 drifted" in (
        " ".join(result.output.split())
    )


PLANTED_CONFTEST = '''\
import pathlib

import pytest

COUNTER = pathlib.Path({counter!r})


@pytest.fixture(autouse=True)
def planted_flake(request):
    """Fails {victim} on every second run: a test made flaky on purpose."""
    if request.node.nodeid == {victim!r}:
        n = int(COUNTER.read_text()) if COUNTER.exists() else 0
        COUNTER.write_text(str(n + 1))
        if n % 2:
            pytest.fail("planted flake")
    yield
'''


def _new_file_patch(path: str, text: str) -> str:
    lines = text.splitlines()
    body = "".join(f"+{line}\n" for line in lines)
    return (
        f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n"
        f"@@ -0,0 +1,{len(lines)} @@\n{body}"
    )


def test_a_test_made_flaky_is_reported_as_flaky(
    db: Path, cache_dir: Path, tmp_path: Path
) -> None:
    with Store.open(db) as store:
        task = store.list_tasks()[0]
        victim = task.PASS_TO_PASS[0]
        conftest = PLANTED_CONFTEST.format(counter=str(tmp_path / "runs"), victim=victim)
        planted = task.patch + _new_file_patch("conftest.py", textwrap.dedent(conftest))
        store.query("UPDATE tasks SET patch = ? WHERE instance_id = ?", [planted, task.instance_id])
    result = _audit(db, cache_dir, "--instance-id", task.instance_id, "--runs", "2")
    assert result.exit_code == 1, result.output
    (audit,) = _latest_audit(db)
    assert audit.verdict is AuditVerdict.DIVERGED
    assert audit.reasons == (DriftReason.TEST_FLAKY,)
    assert audit.flaky == (victim,) and "disagreed across 2 runs" in audit.details[0]
    assert "test_flaky" in result.output


def test_a_stored_environment_that_is_gone_is_reported_with_the_fix(
    db: Path, cache_dir: Path, tmp_path: Path
) -> None:
    with Store.open(db) as store:
        task = store.list_tasks()[0]
        store.query(
            "UPDATE environments SET image_name = ? WHERE env_id = ?",
            [str(tmp_path / "no-venv"), task.env_id],
        )
    result = _audit(db, cache_dir, "--sample", "1")
    assert result.exit_code == 1, result.output
    (audit,) = _latest_audit(db)
    assert audit.verdict is AuditVerdict.ERRORED
    assert audit.reasons == (DriftReason.ENVIRONMENT_MISSING,)
    assert "synth audit --rebuild" in audit.details[0]


@pytest.mark.network
def test_a_changed_dependency_is_caught_by_a_rebuild(db: Path, cache_dir: Path) -> None:
    """The stored lock says pytest 7.0.0; resolving the spec again today gives another one."""
    with Store.open(db) as store:
        task = store.list_tasks()[0]
        env = store.get_environment(task.env_id)
        lock = [
            dict(r.model_dump(), version="7.0.0", sha256="0" * 64)
            if r.name == "pytest"
            else r.model_dump()
            for r in env.lock
        ]
        store.query('UPDATE environments SET "lock" = ? WHERE env_id = ?', [lock, env.env_id])
    result = _audit(db, cache_dir, "--instance-id", task.instance_id, "--rebuild", "--runs", "1")
    assert result.exit_code == 1, result.output
    (audit,) = _latest_audit(db)
    assert audit.rebuilt and audit.verdict is AuditVerdict.DIVERGED
    assert audit.reasons == (DriftReason.DEPENDENCY_CHANGED,), audit.details
    real = next(r.version for r in env.lock if r.name == "pytest")
    assert f"pytest 7.0.0 → {real}" in audit.details[0]
    assert not list(cache_dir.glob(".audit-*")), "the fresh build cache is removed afterwards"


@pytest.mark.network
def test_a_spec_that_no_longer_builds_is_a_build_failure(db: Path, cache_dir: Path) -> None:
    with Store.open(db) as store:
        task = store.list_tasks()[0]
        store.query(
            "UPDATE environments SET spec = struct_update(spec, requirements :="
            " list_append(spec.requirements, ?)) WHERE env_id = ?",
            ["synth-no-such-distribution-xyz==0.0.1", task.env_id],
        )
    result = _audit(db, cache_dir, "--instance-id", task.instance_id, "--rebuild")
    assert result.exit_code == 1, result.output
    (audit,) = _latest_audit(db)
    assert audit.verdict is AuditVerdict.ERRORED
    assert audit.reasons == (DriftReason.BUILD_FAILED,)
    assert "synth-no-such-distribution-xyz" in audit.details[0]


def test_bad_audit_arguments_get_a_clear_error(db: Path, cache_dir: Path) -> None:
    both = _audit(db, cache_dir, "--all", "--sample", "2")
    assert both.exit_code == 2 and "exclude each other" in both.output
    none = _audit(db, cache_dir, "--instance-id", "no-such-task")
    assert none.exit_code == 2 and "no task to audit" in " ".join(none.output.split())

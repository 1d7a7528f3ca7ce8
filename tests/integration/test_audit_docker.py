"""`synth audit --rebuild` in Docker: the image rebuilt from its spec, with no cache, matches the
stored one file for file, and every task reproduces in it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from synth.cli import app
from synth.data.store import Store
from synth.envs.backend import BackendConfig, build_backend
from synth.envs.names import REBUILD_SUFFIX
from synth.records import AuditVerdict, BackendKind

pytestmark = [pytest.mark.usefixtures("ray_session", "docker_engine"), pytest.mark.network]


@pytest.fixture
def corpus(docker_corpus_copy: Path) -> Path:
    """A copy of the session's Docker corpus: the audit stores its rows."""
    return docker_corpus_copy


def test_a_rebuilt_image_matches_and_every_task_reproduces(corpus: Path, cache_dir: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "audit",
            "--db",
            str(corpus),
            "--cache-dir",
            str(cache_dir),
            "--all",
            "--rebuild",
            "--runs",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    with Store.open(corpus) as store:
        tasks, audits = store.list_tasks(), store.list_audits()
        env = store.get_environment(tasks[0].env_id)
    assert len(audits) == len(tasks)
    assert all(a.verdict is AuditVerdict.REPRODUCED and a.rebuilt for a in audits)
    # Same lock, same files: nothing to say, not even "files not compared".
    assert all(a.details == () for a in audits), [a.details for a in audits]
    backend = build_backend(BackendConfig(kind=BackendKind.DOCKER, cache_dir=cache_dir))
    rebuilt = env.image_name + REBUILD_SUFFIX
    rebuild = env.model_copy(update={"image_name": rebuilt, "image_digest": rebuilt})
    try:
        assert backend.present(env), "the stored image is left alone"
        assert not backend.present(rebuild), "the rebuild is removed"
    finally:
        backend.close()

"""Real-fix mirroring end to end: a repository with a history of fixes in, validated tasks out,
each one the reverse of a real fix, caught by the test that came with it."""

from __future__ import annotations

from pathlib import Path

import fix_history
import pytest

from synth.data.store import Store
from synth.envs.backend import BackendConfig, Limits
from synth.mirror import OPERATOR
from synth.pipelines.factory import run_factory
from synth.pipelines.flow import StrategyOptions
from synth.records import BackendKind, Strategy

pytestmark = pytest.mark.usefixtures("ray_session")


def _options(**kwargs: object) -> StrategyOptions:
    return StrategyOptions(strategies=frozenset({Strategy.MIRROR}), **kwargs)  # type: ignore[arg-type]


def _config(kind: BackendKind, cache_dir: Path) -> BackendConfig:
    return BackendConfig(kind=kind, cache_dir=cache_dir, limits=Limits(timeout_s=120))


def _check_mirrored(db: Path) -> None:
    with Store.open(db) as store:
        tasks = sorted(store.list_tasks(), key=lambda t: t.FAIL_TO_PASS)
        assert [t.FAIL_TO_PASS for t in tasks] == [
            ("tests/test_calc.py::test_mean_of_nothing",),
            ("tests/test_calc.py::test_window",),
        ]
        for task in tasks:
            assert (task.strategy, task.operator) == (Strategy.MIRROR, OPERATOR)
            assert "tests/test_calc.py::test_mean" in task.PASS_TO_PASS
            assert "tests/" not in "".join(
                line for line in task.patch.splitlines() if line.startswith("diff --git")
            )
        # Each fix is an environment of its own, at the fix, and the commit seeds the statement.
        assert len({t.env_id for t in tasks}) == 2
        assert "mean() of an empty list" in tasks[0].problem_statement
        assert "window() returning one item too few" in tasks[1].problem_statement


def _mirror(source: str, db: Path, kind: BackendKind, cache_dir: Path):
    config = _config(kind, cache_dir)
    return run_factory([source], db, config, max_candidates=4, seed=0, options=_options())


def test_fixes_of_a_local_history_become_validated_tasks(tmp_path: Path, cache_dir: Path) -> None:
    history = fix_history.build(tmp_path / "calc")
    db = tmp_path / "mirror.duckdb"
    summary = _mirror(str(history), db, BackendKind.LOCAL, cache_dir)
    assert summary.failures == []
    assert (summary.generated, summary.validated) == (2, 2)
    _check_mirrored(db)
    again = _mirror(str(history), db, BackendKind.LOCAL, cache_dir)
    assert (again.skipped_done, again.validated) == (2, 0)


@pytest.mark.usefixtures("docker_engine")
def test_fixes_of_a_git_url_validate_in_docker(tmp_path: Path, cache_dir: Path) -> None:
    history = fix_history.build(tmp_path / "calc")
    db = tmp_path / "mirror-docker.duckdb"
    summary = _mirror(f"file://{history}", db, BackendKind.DOCKER, cache_dir)
    assert summary.failures == [] and summary.validated == 2
    _check_mirrored(db)

"""Combined bugs end to end: validated procedural bugs of the sample merged, validated again,
stored with their parents; a rerun adds nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from synth.combine import OPERATOR
from synth.data.store import Store
from synth.envs.backend import BackendConfig, Limits
from synth.pipelines.factory import run_factory
from synth.pipelines.flow import StrategyOptions
from synth.records import BackendKind, Strategy

pytestmark = pytest.mark.usefixtures("ray_session")

OPTIONS = StrategyOptions(
    strategies=frozenset({Strategy.PROCEDURAL, Strategy.COMBINE}), max_combined=3
)


def test_validated_bugs_are_combined_and_validated_again(
    sample_path: Path, cache_dir: Path, tmp_path: Path
) -> None:
    db = tmp_path / "combine.duckdb"
    config = BackendConfig(
        kind=BackendKind.LOCAL, cache_dir=cache_dir, limits=Limits(timeout_s=120)
    )
    summary = run_factory(
        [str(sample_path)], db, config, max_candidates=10, seed=0, options=OPTIONS
    )
    assert summary.failures == []
    with Store.open(db) as store:
        candidates = store.list_candidates()
        tasks = {t.candidate_id: t for t in store.list_tasks()}
        combined = [c for c in candidates if c.strategy is Strategy.COMBINE]
        assert 1 <= len(combined) <= 3
        by_id = {c.candidate_id: c for c in candidates}
        for cand in combined:
            assert cand.operator == OPERATOR and 2 <= len(cand.parents) <= 4
            parents = [by_id[p] for p in cand.parents]
            assert all(
                p.strategy is Strategy.PROCEDURAL and p.candidate_id in tasks for p in parents
            )
        merged_tasks = [tasks[c.candidate_id] for c in combined if c.candidate_id in tasks]
        assert merged_tasks, "a merge of validated bugs should itself break tests"
        for task in merged_tasks:
            assert task.strategy is Strategy.COMBINE and len(task.parents) >= 2
            parent_f2p = set().union(*(tasks[p].FAIL_TO_PASS for p in task.parents))
            assert set(task.FAIL_TO_PASS) & parent_f2p
        strategies = {r.key for r in store.funnel("strategy")}
        assert strategies == {"procedural", "combine"}
        counts = store.counts()
    again = run_factory([str(sample_path)], db, config, max_candidates=10, seed=0, options=OPTIONS)
    assert again.validated == 0
    with Store.open(db) as store:
        assert store.counts() == counts

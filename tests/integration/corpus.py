"""One small sample corpus, built the way the pipeline builds it, for the corpus-output tests."""

from __future__ import annotations

from pathlib import Path

from synth.envs.backend import BackendConfig, Limits
from synth.pipelines.factory import run_factory
from synth.records import BackendKind


def sample_corpus(sample: Path, cache_dir: Path, db: Path, kind: BackendKind, seed: int) -> Path:
    """Mine 6 candidates of the sample into ``db``; at least two must validate."""
    config = BackendConfig(kind=kind, cache_dir=cache_dir, limits=Limits(timeout_s=120))
    summary = run_factory([str(sample)], db, config, max_candidates=6, seed=seed)
    assert summary.failures == [] and summary.validated >= 2, summary
    return db

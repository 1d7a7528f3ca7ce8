"""The sample's corpus, built the way the pipeline builds it, once per backend kind and test
session (tests/integration/conftest.py), and shared by every corpus-output test: audit, export,
Harbor, verify, TaskEnv, EnvPool, the attacks, train eval, the README examples.

The shared file is never written after it is built: a test that writes (an audit, a stored
verdict) works on its own copy (``private_copy``), so no test sees another's rows.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from synth.data.store import Store
from synth.envs.backend import BackendConfig, Limits, harness_digest
from synth.pipelines.factory import run_factory
from synth.records import HARNESS_VERSION, BackendKind

# One seed for every user. The export and Harbor tests once built their own corpus with seeds
# 3 and 11; nothing they assert singles out a seed (the Harbor attack's regex wants module-level
# test functions, and the sample has no other kind), and all of it holds of the seed-0 corpus.
CANDIDATES = 6
SEED = 0
LIMITS = Limits(timeout_s=120)


def backend_config(kind: BackendKind, cache_dir: Path) -> BackendConfig:
    return BackendConfig(kind=kind, cache_dir=cache_dir, limits=LIMITS)


def sample_corpus(sample: Path, cache_dir: Path, kind: BackendKind) -> Path:
    """Mine ``CANDIDATES`` candidates of the sample into a db kept in the cache. Three tasks at
    least: train eval holds two out and trains on one; verify, the attacks and Harbor score two."""
    # Kept in the cache and named by the harness: with a reused SYNTH_TEST_CACHE the same factory
    # command on it adds nothing and measures nothing again (ids are content hashes), so this
    # takes seconds; a changed harness builds new environments and a new file, never mixed in.
    name = f"sample-{kind.value}-s{SEED}-c{CANDIDATES}-{HARNESS_VERSION}-{harness_digest()}"
    db = cache_dir / f"{name}.duckdb"
    summary = run_factory([str(sample)], db, backend_config(kind, cache_dir),
                          max_candidates=CANDIDATES, seed=SEED)
    assert summary.failures == [], summary
    with Store.open(db) as store:
        tasks, counts = store.list_tasks(), store.counts()
    assert len(tasks) >= 3, f"the sample corpus needs three tasks, made {len(tasks)}"
    # Every test that writes works on a copy: rows here mean one did not (in an earlier session
    # sharing this cache).
    assert counts["solutions"] == counts["audits"] == 0, f"{db} was written to: {counts}"
    return db


def private_copy(db: Path, folder: Path) -> Path:
    """A copy of ``db`` in ``folder`` for a test that writes. Only while no connection is open:
    the store checkpoints on close, so the file alone is the whole database."""
    wal = db.with_name(db.name + ".wal")
    assert not wal.exists(), f"{wal}: the shared corpus is open or was not checkpointed"
    copy = folder / "corpus.duckdb"
    shutil.copy(db, copy)
    return copy

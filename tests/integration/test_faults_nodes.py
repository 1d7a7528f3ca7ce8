"""Losing Ray nodes mid-run loses no task, duplicates no row and retries nothing past its bound.

`ray.cluster_utils.Cluster` simulates a head (no CPUs, so no work runs where the driver lives)
and four one-CPU worker nodes on this machine. Validation batches are shrunk to one candidate so
that a killed node is busy with some candidate's validation when it dies; the node killed is
one whose CPU is in use. The run must end with exactly the rows of a fault-free `synth run` of
the same sources and seed. CI runs each scenario once (1 and 2 nodes killed): two trials.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
from ray.cluster_utils import Cluster

import synth.pipelines.factory as factory
from synth.envs.backend import BackendConfig, Limits
from synth.pipelines.retry import MAX_ATTEMPTS
from synth.records import BackendKind
from tests.integration.runs import CANDIDATES, SAMPLE, SEED, reference_rows, stored_rows

NODES = 4
NODE_ARGS = {"num_cpus": 1, "object_store_memory": 100 * 1024 * 1024}


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    if ray.is_initialized():  # another test's local Ray: this test's driver joins the cluster
        ray.shutdown()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 0, "object_store_memory": 100 * 1024 * 1024},
    )
    for _ in range(NODES):
        cluster.add_node(**NODE_ARGS)
    cluster.wait_for_nodes()
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


def busy_node(cluster: Cluster):
    """A live worker node whose CPU is taken (by a validation), else any live worker node."""
    from ray._private.state import available_resources_per_node

    free = available_resources_per_node()
    workers = [n for n in cluster.list_all_nodes() if n is not cluster.head_node]
    busy = [n for n in workers if free.get(n.node_id, {}).get("CPU", 0) < 1]
    return (busy or workers)[0]


@pytest.mark.parametrize("kills", [1, 2])
def test_killing_nodes_mid_run_ends_with_the_fault_free_rows(
    kills: int,
    cluster: Cluster,
    cache_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expected = reference_rows(cache_dir, tmp_path_factory.getbasetemp())
    monkeypatch.setattr(factory, "BATCH_SIZE", 1)
    written = 0
    killed: list[str] = []

    def advance(n: int, source: str) -> None:  # called by the driver after each batch is stored
        nonlocal written
        written += n
        if len(killed) < kills and written >= 2 + 3 * len(killed):
            node = busy_node(cluster)
            killed.append(node.node_id)
            cluster.remove_node(node, allow_graceful=False)

    config = BackendConfig(kind=BackendKind.LOCAL, cache_dir=cache_dir,
                           limits=Limits(timeout_s=120))
    summary = factory.run_factory(
        [str(SAMPLE)], tmp_path / "faults.duckdb", config, max_candidates=CANDIDATES, seed=SEED,
        address=cluster.address, progress=factory.Progress(advance=advance),
    )

    assert len(killed) == kills
    assert summary.failures == []
    assert max(summary.attempts.values()) <= MAX_ATTEMPTS
    assert any(n > 1 for n in summary.attempts.values()), "no kill hit a validation in flight"
    assert stored_rows(tmp_path / "faults.duckdb") == expected

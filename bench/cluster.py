"""The corpus command on a Ray cluster: validated tasks per hour with 1, 2 and 4 worker nodes.

`ray.cluster_utils.Cluster` starts a head with no CPU (the driver and the store live there, no
test runs there) and N one-CPU worker nodes on this machine, all on its one Docker engine; the
factory joins it with ``address=`` exactly as `synth run --address HEAD:6379` joins a real one.
Each size mines the same bundles with the same seed into a fresh store. Environments are built
once before the first size (and kept by Docker), so the figures compare validation, the part a
cluster spreads; each run still measures its clean suites (baseline and coverage) itself.

On a machine with C cores, more than C one-CPU nodes cannot go faster: the figure for 4 nodes
on a 2-core machine shows what the scheduling costs, not more throughput. Each environment's
validation stays on the node that prepared it (its warm containers are there), so a cluster
spreads repositories, not one repository's candidates: give it at least as many bundles as
nodes.

    .venv/bin/python bench/cluster.py [--bundles DIR] [--only six,iniconfig,markupsafe,tomlkit]
                                      [-n 30] [--nodes 1,2,4]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import ray  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

from synth.envs.backend import BackendChoice, resolve_backend  # noqa: E402
from synth.pipelines.factory import run_factory, stop_ray  # noqa: E402

NODE_MEMORY = {"object_store_memory": 100 * 1024 * 1024}


def on_cluster(nodes: int, sources: list[str], cache: Path, n: int) -> tuple[int, float]:
    """(validated tasks, wall seconds) of one factory run on a cluster of ``nodes`` workers."""
    stop_ray()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, **NODE_MEMORY})
    for _ in range(nodes):
        cluster.add_node(num_cpus=1, **NODE_MEMORY)
    cluster.wait_for_nodes()
    config, _ = resolve_backend(BackendChoice.DOCKER, cache)
    try:
        with tempfile.TemporaryDirectory(prefix="synth-cluster-") as tmp:
            start = time.monotonic()
            summary = run_factory(sources, Path(tmp) / "cluster.duckdb", config,
                                  max_candidates=n, seed=0, address=cluster.address)
            return summary.validated, time.monotonic() - start
    finally:
        ray.shutdown()
        cluster.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", type=Path, default=ROOT.parent / "shared" / "realworld")
    parser.add_argument("--only", default="six,iniconfig,markupsafe,tomlkit")
    parser.add_argument("-n", type=int, default=30, help="candidates per repository")
    parser.add_argument("--nodes", default="1,2,4")
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "synth")
    args = parser.parse_args()
    sources = [str(args.bundles / f"{name}.bundle") for name in args.only.split(",") if name]
    sizes = [int(k) for k in args.nodes.split(",")]
    print(f"{len(sources)} bundles, {args.n} candidates each, {os.cpu_count()} cores here")
    on_cluster(max(sizes), sources, args.cache_dir, 1)  # builds every environment once
    first = None
    for nodes in sizes:
        tasks, wall = on_cluster(nodes, sources, args.cache_dir, args.n)
        per_hour = tasks / (wall / 3600)
        first = first or per_hour
        print(f"  {nodes} worker node(s): {tasks} tasks in {wall:.0f} s, {per_hour:.0f} tasks/h"
              f" ({per_hour / first:.2f}x one node)", flush=True)


if __name__ == "__main__":
    main()

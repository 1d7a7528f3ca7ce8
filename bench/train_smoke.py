"""`synth train` smoke run: a store of synthetic tasks, N steps of a named config, then the loss
curve and throughput read back from the store's training_steps. The last section of
gpu_check.sh.

    python3 bench/train_smoke.py --config 100m --steps 50 --device cuda --json smoke.json
    .venv/bin/python bench/train_smoke.py --config tiny --steps 12 --device cpu

The tasks are one-line bugs (``+`` turned into ``-``) in the functions of 24 generated modules,
written through ``data.store`` as the factory writes them, so the run reads them exactly as it
reads a real corpus (prompt building, the held-out split by file, packing). ``synth train``
runs in this process, so the check can also see on which device the weights were drawn.
Needs the factory's own packages (duckdb, pydantic, libcst) beside torch: where one is
missing, the result says which.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# What `synth train` imports beyond torch: a bare GPU image lacks the first three.
NEEDS = ("duckdb", "pydantic", "libcst", "typer", "rich", "safetensors")
MODULES, FUNCTIONS = 24, 4


def module_source(n: int) -> str:
    return "".join(
        f"def f{j}(x, y):\n    total = x * {n + 2} + y\n    return total + {j + 1}\n\n\n"
        for j in range(FUNCTIONS)
    )


def write_tasks(db: Path, root: Path) -> int:
    """Write the synthetic repository and its tasks; return how many tasks."""
    from synth.data.store import Store
    from synth.mutate import make_patch
    from synth.records import (
        BackendKind,
        Environment,
        EnvSpec,
        RepoRef,
        Snapshot,
        SourceKind,
        Strategy,
        Task,
    )

    files = {f"calc/m{n:02d}.py": module_source(n) for n in range(MODULES)}
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    repo = RepoRef(source=str(root), kind=SourceKind.LOCAL, name="calc")
    snap = Snapshot(repo=repo, commit="0" * 40, path=str(root))
    env = Environment(
        env_id="env-calc", snapshot_id=snap.snapshot_id, backend=BackendKind.LOCAL,
        image_name=str(root / ".venv"), image_digest="sha256:" + "0" * 64, base_image="local",
        lock=(), spec=EnvSpec(python="3.11", requirements=(), source_root=".", test_paths=()),
    )  # fmt: skip
    tasks = []
    for rel, source in files.items():
        lines = source.splitlines(keepends=True)
        for j in range(FUNCTIONS):
            at = 2 + 5 * j  # "    return total + {j + 1}"
            buggy = "".join([*lines[:at], lines[at].replace("+", "-"), *lines[at + 1 :]])
            tasks.append(Task(
                instance_id=f"calc-{Path(rel).stem}-f{j}", repo="calc", base_commit=snap.commit,
                patch=make_patch(rel, source, buggy),
                problem_statement=f"f{j} in {rel} returns total - {j + 1}, not total + {j + 1}.",
                FAIL_TO_PASS=("tests/test_calc.py::test_it",), PASS_TO_PASS=(),
                image_name=env.image_name, env_id=env.env_id, candidate_id=f"c-{rel}-{j}",
                strategy=Strategy.PROCEDURAL, operator="swap_arith", seed=j,
            ))  # fmt: skip
    with Store.open(db) as store:
        store.write(repo=repo, snapshot=snap, environments=[env], tasks=tasks)
    return len(tasks)


@contextmanager
def init_devices() -> Iterator[set[str]]:
    """The devices of every tensor nn.init.normal_ draws into while the block runs."""
    import torch

    seen: set[str] = set()
    normal = torch.nn.init.normal_

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.add((args[0] if args else kwargs["tensor"]).device.type)
        return normal(*args, **kwargs)

    torch.nn.init.normal_ = spy
    try:
        yield seen
    finally:
        torch.nn.init.normal_ = normal


def summarise(losses: list[float], rates: list[float]) -> dict[str, Any]:
    """Loss falling: the mean of the last five steps below 95% of the first five's. Tokens/s:
    the median step after the first five (those include compiling kernels)."""
    head, tail = losses[:5], losses[-5:]
    first, last = sum(head) / max(len(head), 1), sum(tail) / max(len(tail), 1)
    later = sorted(rates[5:] or rates)
    return {"first_loss": first, "last_loss": last,
            "loss_falling": bool(losses) and last < 0.95 * first,
            "tokens_per_s": later[len(later) // 2] if later else 0.0}  # fmt: skip


def missing_packages() -> list[str]:
    """The packages of NEEDS that do not import, each with why (a wheel carried without its
    own dependencies fails here, not half-way through the run)."""
    missing = []
    for name in NEEDS:
        try:
            importlib.import_module(name)
        except ImportError as e:
            missing.append(f"{name} ({e})")
    return missing


def smoke(config: str, steps: int, device: str, work: Path) -> dict[str, Any]:
    if missing := missing_packages():
        return {"ok": False, "error": f"missing python packages: {'; '.join(missing)} (carry "
                f"them as wheels: see bench/gpu_check.sh, WHEELS)"}  # fmt: skip
    from synth.cli import app
    from synth.data.store import Store
    from synth.data.training_runs import list_runs, list_steps

    db = work / "smoke.duckdb"
    num_tasks = write_tasks(db, work / "calc")
    args = ["train", "--db", str(db), "--config", config, "--steps", str(steps),
            "--device", device, "--checkpoint-dir", str(work / "checkpoints")]  # fmt: skip
    print("synth " + " ".join(args), flush=True)
    with init_devices() as drawn_on:
        code = app(args, standalone_mode=False)
    if code:
        return {"ok": False, "error": f"synth train exited {code}", "init_devices": []}
    with Store.open(db) as store:
        (run,) = list_runs(store)
        recorded = list_steps(store, run.run_id)
    out = {"config": config, "backend": run.backend, "device": run.device, "tasks": num_tasks,
           "steps": len(recorded), "init_devices": sorted(drawn_on),
           **summarise([s.loss for s in recorded], [s.tokens_per_s for s in recorded])}  # fmt: skip
    out["ok"] = out["steps"] == steps and out["loss_falling"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="100m")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--work", type=Path, help="where the store and checkpoints go (temp)")
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument("--packages", action="store_true",
                        help="only say which of the packages the run needs are missing")
    args = parser.parse_args(argv)
    if args.packages:
        missing = missing_packages()
        print(f"the smoke run lacks: {'; '.join(missing)} (see WHEELS)" if missing
              else "the smoke run's packages are all there")  # fmt: skip
        return 0
    if args.steps < 10:
        parser.error("--steps: at least 10, to tell a falling loss from noise")
    with tempfile.TemporaryDirectory(prefix="train-smoke-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        try:
            result = smoke(args.config, args.steps, args.device, work)
        except Exception as e:  # the check reports it and goes on to its verdict
            result = {"ok": False, "error": f"{type(e).__name__}: {e}"[:500]}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

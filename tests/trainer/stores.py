"""Task stores for the trainer's tests, written through ``data.store`` as the factory writes
them: repositories on disk, one environment each, one task per hand-made bug."""

from __future__ import annotations

from pathlib import Path

Bug = tuple[str, str, str, str]  # (instance id, clean line, buggy line, problem statement)


def write_store(
    path: Path, root: Path, name: str, files: dict[str, str], bugs: list[tuple[str, Bug]]
) -> None:
    """Add repository ``name`` (``files`` on disk under ``root``) and one task per (file, bug)
    to the store at ``path``."""
    from data.store import Store
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

    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    repo = RepoRef(source=str(root), kind=SourceKind.LOCAL, name=name)
    snap = Snapshot(repo=repo, commit="0" * 40, path=str(root))
    env = Environment(
        env_id=f"env-{name}",
        snapshot_id=snap.snapshot_id,
        backend=BackendKind.LOCAL,
        image_name=str(root.parent / f"venv-{name}"),
        image_digest="sha256:" + "0" * 64,
        base_image="local",
        lock=(),
        spec=EnvSpec(python="3.11", requirements=(), source_root=".", test_paths=("tests",)),
    )
    tasks = []
    for n, (rel, (instance_id, clean, buggy, statement)) in enumerate(bugs):
        source = files[rel]
        tasks.append(
            Task(
                instance_id=instance_id,
                repo=name,
                base_commit=snap.commit,
                patch=make_patch(rel, source, source.replace(clean, buggy)),
                problem_statement=statement,
                FAIL_TO_PASS=("tests/test_it.py::test_it",),
                PASS_TO_PASS=(),
                image_name=env.image_name,
                env_id=env.env_id,
                candidate_id=f"cand-{instance_id}",
                strategy=Strategy.PROCEDURAL,
                operator="swap_compare",
                seed=n,
            )
        )
    with Store.open(path) as store:
        store.write(repo=repo, snapshot=snap, environments=[env], tasks=tasks)


def module_source(n: int) -> str:
    return "".join(f"def f{j}(x):\n    return x + {n * 10 + j}\n\n\n" for j in range(3))


SHOP_FILES = {f"shop/m{n}.py": module_source(n) for n in range(6)}


def shop_bugs(prefix: str, files: dict[str, str] = SHOP_FILES) -> list[tuple[str, Bug]]:
    """Three sibling bugs per module, one per function: ``+`` turned into ``-``."""
    bugs = []
    for n, rel in enumerate(files):
        for j in range(3):
            clean = f"    return x + {n * 10 + j}\n"
            bugs.append((rel, (f"{prefix}-m{n}-f{j}", clean, clean.replace("+", "-"),
                               f"f{j} in {rel} subtracts.")))  # fmt: skip
    return bugs



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
    from synth.data.store import Store
    from synth.mutate import make_patch
    from synth.records import BackendKind
    from tests.factories import make_environment, make_repo, make_snapshot, make_task

    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    repo = make_repo(name, source=str(root))
    snap = make_snapshot(repo, path=str(root))
    env = make_environment(snap, backend=BackendKind.LOCAL)
    tasks = []
    for rel, (instance_id, clean, buggy, statement) in bugs:
        source = files[rel]
        tasks.append(
            make_task(
                snap,
                environment=env,
                instance_id=instance_id,
                patch=make_patch(rel, source, source.replace(clean, buggy)),
                problem_statement=statement,
                FAIL_TO_PASS=("tests/test_it.py::test_it",),
                PASS_TO_PASS=(),
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



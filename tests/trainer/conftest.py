"""Trainer tests. Without CUDA, Triton kernels run in Triton's interpreter, which must be turned
on before any kernel is decorated, so before any trainer.kernels module is imported: here."""

from __future__ import annotations

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
# Tiny shapes: a second intra-op thread only adds hand-offs (10x slower on a busy 2-core box).
torch.set_num_threads(1)


@pytest.fixture
def device() -> torch.device:
    return DEVICE


@pytest.fixture(scope="session")
def small_config():
    """A trainer config small enough for a CPU step in a few milliseconds."""
    from trainer.config import DataConfig, ModelConfig, MoEConfig, OptimConfig, TrainConfig

    return TrainConfig(
        name="test",
        model=ModelConfig(
            dim=32,
            n_layers=2,
            n_heads=2,
            moe=MoEConfig(
                num_experts=5,
                top_k=2,
                expert_dim=32,
                shared_expert_dim=32,
                bias_update_rate=0.01,
                z_loss_coef=1e-3,
            ),
        ),
        data=DataConfig(seq_len=64, batch_size=4, max_prompt_bytes=48),
        optim=OptimConfig(lr=1e-2, warmup_steps=3),
        seed=1234,
    )


CLEAN_MONEY = '''"""Money helpers."""


def add(a, b):
    return a + b


class Wallet:
    def __init__(self):
        self.total = 0

    @staticmethod
    def check(amount):
        if amount <= 0:
            raise ValueError("amount must be positive")

    def deposit(self, amount):
        self.check(amount)
        self.total += amount
        return self.total
'''

# (instance id, clean line, buggy line, problem statement)
BUGS = [
    ("money-add", "    return a + b\n", "    return a - b\n", "add(2, 3) returns -1, not 5."),
    (
        "money-check",
        "        if amount <= 0:\n",
        "        if amount < 0:\n",
        "Depositing 0 is accepted; it should raise ValueError.",
    ),
    (
        "money-deposit",
        "        self.total += amount\n",
        "        self.total -= amount\n",
        "After deposit(5) the wallet's total is -5.",
    ),
]


@pytest.fixture
def money_bugs() -> tuple[str, list[tuple[str, str, str, str]]]:
    return CLEAN_MONEY, BUGS


@pytest.fixture
def task_store(tmp_path):
    """A store holding three hand-made tasks against a snapshot on disk (``money.py``)."""
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

    root = tmp_path / "snapshot"
    root.mkdir()
    (root / "money.py").write_text(CLEAN_MONEY)
    repo = RepoRef(source=str(root), kind=SourceKind.LOCAL, name="money")
    snap = Snapshot(repo=repo, commit="0" * 40, path=str(root))
    env = Environment(
        env_id="env-money",
        snapshot_id=snap.snapshot_id,
        backend=BackendKind.LOCAL,
        image_name=str(tmp_path / "venv"),
        image_digest="sha256:" + "0" * 64,
        base_image="local",
        lock=(),
        spec=EnvSpec(python="3.11", requirements=(), source_root=".", test_paths=("tests",)),
    )
    tasks = []
    for n, (instance_id, clean, buggy, statement) in enumerate(BUGS):
        patch = make_patch("money.py", CLEAN_MONEY, CLEAN_MONEY.replace(clean, buggy))
        tasks.append(
            Task(
                instance_id=instance_id,
                repo="money",
                base_commit=snap.commit,
                patch=patch,
                problem_statement=statement,
                FAIL_TO_PASS=("tests/test_money.py::test_it",),
                PASS_TO_PASS=(),
                image_name=env.image_name,
                env_id=env.env_id,
                candidate_id=f"cand-{n}",
                strategy=Strategy.PROCEDURAL,
                operator="swap_compare",
                seed=n,
            )
        )
    path = tmp_path / "tasks.duckdb"
    with Store.open(path) as store:
        store.write(repo=repo, snapshot=snap, environments=[env], tasks=tasks)
    return path

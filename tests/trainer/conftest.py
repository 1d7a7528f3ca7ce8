"""Trainer tests. Without CUDA, Triton kernels run in Triton's interpreter, which must be turned
on before any kernel is decorated, so before any trainer.kernels module is imported: here."""

from __future__ import annotations

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

from tests.trainer.stores import SHOP_FILES, shop_bugs, write_store  # noqa: E402

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
# Tiny shapes: a second intra-op thread only adds hand-offs (10x slower on a busy 2-core box).
torch.set_num_threads(1)


@pytest.fixture
def device() -> torch.device:
    return DEVICE


@pytest.fixture(scope="session")
def small_config():
    """A trainer config small enough for a CPU step in a few milliseconds."""
    from synth.trainer.config import DataConfig, ModelConfig, MoEConfig, OptimConfig, TrainConfig

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
    root = tmp_path / "snapshot"
    root.mkdir()
    path = tmp_path / "tasks.duckdb"
    write_store(path, root, "money", {"money.py": CLEAN_MONEY},
                [("money.py", bug) for bug in BUGS])  # fmt: skip
    return path


@pytest.fixture
def shop_store(tmp_path):
    """18 tasks: three sibling bugs in each of six modules of repository ``shop``, and a fork
    (``shop-fork``) whose one task is byte for byte a task of ``shop``."""
    path = tmp_path / "shop.duckdb"
    write_store(path, tmp_path / "shop", "shop", SHOP_FILES, shop_bugs("shop"))
    fork = {"shop/m0.py": SHOP_FILES["shop/m0.py"]}
    write_store(path, tmp_path / "fork", "shop-fork", fork, shop_bugs("fork", fork)[:1])
    return path

"""The loop: the schedule, learning on a tiny synthetic task with bounded expert load, and
bit-for-bit reproducibility, from scratch and across a checkpoint."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from synth.trainer.checkpoint import CheckpointError, latest_checkpoint
from synth.trainer.config import OptimConfig, TrainConfig
from synth.trainer.dataset import Example, build_rows
from synth.trainer.train import StepMetrics, Trainer, lr_at

CPU = torch.device("cpu")


def synthetic_rows(cfg: TrainConfig):
    """Count-up 'fixes': the target is the prompt's number plus one, a pattern to learn."""
    examples = [Example(f"s{i}", f"n={i:03d}; next?", f"n={i + 1:03d}") for i in range(40)]
    return build_rows(examples, cfg.data.seq_len, cfg.data.max_prompt_bytes)


def test_lr_warms_up_linearly_then_decays_by_cosine_to_the_floor() -> None:
    o = OptimConfig(lr=1.0, warmup_steps=4, min_lr_ratio=0.1)
    assert [lr_at(s, 20, o) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    decay = [lr_at(s, 20, o) for s in range(4, 21)]
    assert decay == sorted(decay, reverse=True)
    assert decay[-1] == pytest.approx(0.1)
    assert lr_at(10, 16, o) == pytest.approx(0.55)  # halfway down the cosine


def train(cfg: TrainConfig, steps: int) -> list[StepMetrics]:
    trainer = Trainer(cfg, synthetic_rows(cfg), total_steps=steps, device=CPU)
    return [trainer.train_step() for _ in range(steps)]


@pytest.fixture(scope="module")
def balanced_run(small_config: TrainConfig) -> list[StepMetrics]:
    return train(small_config, 30)


def test_loss_falls_on_a_tiny_task(balanced_run: list[StepMetrics]) -> None:
    first, last = balanced_run[0].loss, sum(m.loss for m in balanced_run[-5:]) / 5
    assert last < 0.4 * first, (first, last)


# With E=5 and K=2, max/mean load is E/K = 2.5 when every token picks the same two experts.
COLLAPSED = 2.5


def test_expert_load_stays_bounded_with_balancing(balanced_run: list[StepMetrics]) -> None:
    later = [m.load_max_over_mean for m in balanced_run[15:]]
    assert max(later) < COLLAPSED and sum(later) / len(later) < 2.0, later
    assert all(0.9 < m.aux_loss < 2.0 for m in balanced_run)


def test_without_balancing_the_same_run_collapses_onto_two_experts(small_config) -> None:
    """The bound above is not vacuous: with neither aux loss nor bias, routing collapses."""
    cfg = small_config
    moe = replace(cfg.model.moe, aux_loss_coef=0.0, bias_update_rate=0.0)
    metrics = train(replace(cfg, model=replace(cfg.model, moe=moe)), 30)
    later = [m.load_max_over_mean for m in metrics[15:]]
    assert sum(later) / len(later) > 2.3, later


def state(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {**trainer.model.state_dict(), **trainer._optimizer_tensors()}


def assert_identical(a: Trainer, b: Trainer) -> None:
    sa, sb = state(a), state(b)
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa), [
        k for k in sa if not torch.equal(sa[k], sb[k])
    ]


def test_two_runs_with_one_seed_are_bit_identical(small_config: TrainConfig) -> None:
    rows = synthetic_rows(small_config)
    a, b = (Trainer(small_config, rows, total_steps=6, device=CPU) for _ in range(2))
    la = [a.train_step().loss for _ in range(6)]
    lb = [b.train_step().loss for _ in range(6)]
    assert la == lb
    assert_identical(a, b)


def test_resume_from_a_checkpoint_continues_bit_identically(
    small_config: TrainConfig, tmp_path: Path
) -> None:
    cfg = small_config
    rows = synthetic_rows(cfg)
    straight = Trainer(cfg, rows, total_steps=6, device=CPU, run_id="r")
    losses = [straight.train_step().loss for _ in range(6)]

    first_half = Trainer(cfg, rows, total_steps=6, device=CPU, run_id="r")
    for _ in range(3):
        first_half.train_step()
    path = first_half.save(tmp_path)
    assert latest_checkpoint(tmp_path) == path and path.name == "step-0000003"

    resumed = Trainer(cfg, rows, total_steps=6, device=CPU, run_id="r")
    resumed.resume(path)
    assert resumed.step == 3
    assert [resumed.train_step().loss for _ in range(3)] == losses[3:]
    assert_identical(straight, resumed)


def test_resume_refuses_a_checkpoint_of_another_run(
    small_config: TrainConfig, tmp_path: Path
) -> None:
    cfg = small_config
    rows = synthetic_rows(cfg)
    Trainer(cfg, rows, total_steps=6, device=CPU, run_id="r").save(tmp_path)
    other = Trainer(cfg, rows, total_steps=6, device=CPU, run_id="other")
    with pytest.raises(CheckpointError, match="written by another run"):
        other.resume(latest_checkpoint(tmp_path))  # type: ignore[arg-type]


def test_a_non_finite_loss_stops_training_with_a_clear_error(small_config: TrainConfig) -> None:
    """NaN router logits (a diverged run) must stop the run with a message, not train on."""
    trainer = Trainer(small_config, synthetic_rows(small_config), total_steps=4, device=CPU)
    trainer.train_step()
    with torch.no_grad():
        trainer.model.moe_layers[0].w_router_ED.fill_(float("nan"))
    with pytest.raises(ArithmeticError, match="step 2: the loss is not finite") as raised:
        trainer.train_step()
    from synth.trainer.train import NonFiniteLossError

    assert isinstance(raised.value, NonFiniteLossError)


def test_weights_are_initialised_on_the_training_device(small_config, monkeypatch) -> None:
    """A 100M model drawn on the CPU and copied over spends its start-up on the host: the
    weights are drawn where they train (here the meta device stands in for a GPU)."""
    drawn_on: set[str] = set()
    normal = torch.nn.init.normal_

    def spy(*args: torch.Tensor, **kwargs: torch.Tensor) -> torch.Tensor:
        drawn_on.add((args[0] if args else kwargs["tensor"]).device.type)
        return normal(*args, **kwargs)

    monkeypatch.setattr(torch.nn.init, "normal_", spy)
    meta = torch.device("meta")
    trainer = Trainer(small_config, synthetic_rows(small_config), total_steps=1, device=meta)
    assert drawn_on == {"meta"}
    assert {p.device.type for p in trainer.model.parameters()} == {"meta"}


def test_old_checkpoints_are_pruned(small_config: TrainConfig, tmp_path) -> None:
    from synth.trainer.checkpoint import prune_checkpoints

    trainer = Trainer(small_config, synthetic_rows(small_config), total_steps=5, device=CPU)
    for _ in range(5):
        trainer.train_step()
        trainer.save(tmp_path)
    prune_checkpoints(tmp_path, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-0000004", "step-0000005"]

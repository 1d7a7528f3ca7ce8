"""A training run fed from the task store: examples in, metrics and checkpoints out.

``run_training`` reads the tasks, packs them, trains, writes each step's metrics to the
store's ``training_steps`` (in batches) and checkpoints under ``checkpoint_dir/RUN_ID/`` every
``checkpoint_every`` steps and at the end, keeping the newest ``keep_checkpoints``. The
run id is a content hash of the config, backend, step count and task ids, so ``resume=True``
finds this run's own latest checkpoint and continues it bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from synth.records import content_hash
from synth.trainer.backends import get_backend, require_runnable
from synth.trainer.checkpoint import latest_checkpoint, prune_checkpoints
from synth.trainer.config import TrainConfig
from synth.trainer.dataset import build_rows, load_examples
from synth.trainer.train import StepMetrics, Trainer, autocast_dtype

if TYPE_CHECKING:
    from synth.data.store import Store


class TrainingError(ValueError):
    """Something about the run's inputs the user can fix (an empty store, say)."""


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    backend: str
    num_tasks: int
    num_rows: int
    num_params: int
    resumed_from: int  # step of the checkpoint resumed from, 0 for a fresh run
    metrics: list[StepMetrics]
    checkpoint: Path


def run_training(
    store: Store,
    cfg: TrainConfig,
    steps: int,
    *,
    device: torch.device,
    checkpoint_dir: Path,
    resume: bool = False,
    on_start: Callable[[Trainer], None] | None = None,
    on_step: Callable[[StepMetrics], None] | None = None,
    flush_every: int = 10,
) -> RunSummary:
    from synth.data.training_runs import TrainingRun, TrainingStep, write_run, write_steps

    examples = load_examples(
        store, split="train", held_out_fraction=cfg.data.held_out_fraction
    )  # never a held-out task: `synth train eval` samples those
    if not examples:
        raise TrainingError(
            f"{store.path} holds no tasks to train on; run `synth run SOURCE --db {store.path}`"
        )
    rows = build_rows(examples, cfg.data.seq_len, cfg.data.max_prompt_bytes)
    backend = get_backend(cfg.model.moe.backend, device).name  # fails early if it cannot run
    require_runnable(backend, device, autocast_dtype(cfg, device) or torch.float32,
                     cfg.model.dim, cfg.model.moe.expert_dim)  # fmt: skip
    cfg = cfg.with_backend(backend)  # a run records the backend it used, never "auto"
    run_id = content_hash("training_run", cfg.to_dict(), steps, [e.instance_id for e in examples])
    trainer = Trainer(cfg, rows, steps, device, run_id)
    run_dir = checkpoint_dir / run_id
    resumed_from = 0
    if resume and (latest := latest_checkpoint(run_dir)) is not None:
        trainer.resume(latest)
        resumed_from = trainer.step
    write_run(
        store,
        TrainingRun(
            run_id=run_id,
            config_name=cfg.name,
            backend=backend,
            device=device.type,
            seed=cfg.seed,
            total_steps=steps,
            num_params=trainer.model.num_params(),
            num_tasks=len(examples),
        ),
    )
    if on_start:
        on_start(trainer)
    metrics: list[StepMetrics] = []
    pending: list[TrainingStep] = []
    while trainer.step < steps:
        m = trainer.train_step()
        metrics.append(m)
        pending.append(TrainingStep(run_id=run_id, **m._asdict()))
        if on_step:
            on_step(m)
        if len(pending) >= flush_every:
            write_steps(store, pending)
            pending = []
        if cfg.checkpoint_every and trainer.step % cfg.checkpoint_every == 0:
            trainer.save(run_dir)
            prune_checkpoints(run_dir, cfg.keep_checkpoints)
    write_steps(store, pending)
    checkpoint = trainer.save(run_dir)
    prune_checkpoints(run_dir, cfg.keep_checkpoints)
    return RunSummary(
        run_id=run_id,
        backend=backend,
        num_tasks=len(examples),
        num_rows=int(rows.tokens_BL.shape[0]),
        num_params=trainer.model.num_params(),
        resumed_from=resumed_from,
        metrics=metrics,
        checkpoint=checkpoint,
    )


def with_overrides(
    cfg: TrainConfig, backend: str | None, seed: int | None, held_out_fraction: float | None = None
) -> TrainConfig:
    if backend is not None:
        cfg = cfg.with_backend(backend)
    if seed is not None:
        cfg = replace(cfg, seed=seed)
    if held_out_fraction is not None:
        cfg = replace(cfg, data=replace(cfg.data, held_out_fraction=held_out_fraction))
    return cfg

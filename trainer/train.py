"""The training loop: AdamW, linear warmup then cosine decay, gradient clipping, bf16 autocast
on CUDA, safetensors checkpoints with exact resume, and per-step metrics.

Weights are drawn on the training device (a 100M model drawn on the host and copied over spends
its start-up there). A step whose loss is not finite stops the run (``NonFiniteLossError``)
rather than train on NaN weights; the check reads the loss the step reports anyway, so it adds
no host synchronisation.

The loop knows nothing of DuckDB: it takes packed rows and hands each step's metrics to a
callback (``trainer.run`` writes them to the store).
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F

from synth.trainer.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from synth.trainer.config import OptimConfig, TrainConfig
from synth.trainer.dataset import IGNORE, Batch, batch_at
from synth.trainer.model import MoELM


class NonFiniteLossError(ArithmeticError):
    """The loss went NaN or infinite; the message says at which step and what to try."""


def autocast_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of training on ``device`` (None: none). Sampling for evaluation
    reads it too, so a checkpoint is scored in the precision it trained in."""
    return torch.bfloat16 if device.type == "cuda" and cfg.bf16_autocast else None


def precision(cfg: TrainConfig, device: torch.device) -> contextlib.AbstractContextManager[object]:
    dtype = autocast_dtype(cfg, device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


class StepMetrics(NamedTuple):
    step: int  # 1-based: the number of optimizer steps taken
    loss: float  # cross-entropy on target tokens
    aux_loss: float  # load-balancing loss, mean over layers (1.0 = uniform)
    z_loss: float
    lr: float
    grad_norm: float  # before clipping
    load_max_over_mean: float  # most loaded expert / mean load, worst layer (1.0 = balanced)
    tokens: int  # non-padding tokens in the batch
    tokens_per_s: float


def lr_at(step: int, total_steps: int, cfg: OptimConfig) -> float:
    """Learning rate for the 0-based ``step``: linear warmup, then cosine to lr * min_lr_ratio."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(total_steps - cfg.warmup_steps, 1)
    progress = min((step - cfg.warmup_steps) / span, 1.0)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: no CUDA device is visible; use cpu or auto")
    return torch.device(name)


@dataclass
class Trainer:
    """One model, its optimizer and its data, stepping ``total_steps`` times."""

    cfg: TrainConfig
    rows: Batch
    total_steps: int
    device: torch.device
    run_id: str = ""

    def __post_init__(self) -> None:
        torch.manual_seed(self.cfg.seed)
        with self.device:  # drawn where it trains
            self.model: MoELM = self.cfg.model.build()
        o = self.cfg.optim
        decay = [
            (n, p) for n, p in self.model.named_parameters() if p.requires_grad and p.ndim >= 2
        ]
        flat = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad and p.ndim < 2]
        self._named = decay + flat  # the optimizer's parameter order, for its checkpoints
        self.optimizer = torch.optim.AdamW(
            [
                {"params": [p for _, p in decay], "weight_decay": o.weight_decay},
                {"params": [p for _, p in flat], "weight_decay": 0.0},
            ],
            lr=o.lr,
            betas=o.betas,
            eps=o.eps,
        )
        self.step = 0

    def train_step(self) -> StepMetrics:
        started = time.perf_counter()
        cfg, moe_cfg = self.cfg, self.cfg.model.moe
        batch = batch_at(self.rows, self.step, cfg.data.batch_size, cfg.seed).to(self.device)
        self.model.train()
        with precision(cfg, self.device):
            logits_BLV, stats = self.model(batch.tokens_BL, batch.pos_BL, batch.docs_BL)
        ce = _target_cross_entropy(logits_BLV, batch.targets_BL)
        aux = torch.stack([s.aux_loss for s in stats]).mean()
        z = torch.stack([s.z_loss for s in stats]).mean()
        loss = ce + moe_cfg.aux_loss_coef * aux + moe_cfg.z_loss_coef * z
        loss.backward()
        params = [p for _, p in self._named]
        grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip)
        lr = lr_at(self.step, self.total_steps, cfg.optim)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        for layer in self.model.moe_layers:
            layer.update_bias()
        self.step += 1
        load = max(float(s.counts_E.max() / s.counts_E.float().mean()) for s in stats)
        tokens = int((batch.docs_BL >= 0).sum())
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        elapsed = time.perf_counter() - started
        loss_value = float(ce.detach())
        if not math.isfinite(loss_value):
            raise NonFiniteLossError(
                f"step {self.step}: the loss is not finite ({loss_value}); the weights are no "
                "longer usable. Resume from the last checkpoint with a lower optim.lr, or look "
                "for NaN router logits (a diverged router)"
            )
        return StepMetrics(
            step=self.step,
            loss=loss_value,
            aux_loss=float(aux.detach()),
            z_loss=float(z.detach()),
            lr=lr,
            grad_norm=float(grad_norm),
            load_max_over_mean=load,
            tokens=tokens,
            tokens_per_s=tokens / max(elapsed, 1e-9),
        )

    def save(self, root: Path) -> Path:
        return save_checkpoint(
            root, self.step, self.run_id, self.cfg.to_dict(), self.model, self._optimizer_tensors()
        )

    def resume(self, path: Path) -> None:
        """Continue from the checkpoint at ``path``, which must come from this same run."""
        meta, tensors = load_checkpoint(path, self.model, self.device)
        if meta.config != _as_json(self.cfg.to_dict()) or meta.run_id != self.run_id:
            raise CheckpointError(
                f"{path} was written by another run (run {meta.run_id}, config "
                f"{meta.config.get('name')!r}); resume with the same config, steps and data, "
                "or point --checkpoint-dir elsewhere"
            )
        state: dict[int, dict[str, torch.Tensor]] = {}
        for i, (name, _) in enumerate(self._named):
            if f"{name}.exp_avg" in tensors:
                state[i] = {
                    key: tensors[f"{name}.{key}"] for key in ("step", "exp_avg", "exp_avg_sq")
                }
        current = self.optimizer.state_dict()
        self.optimizer.load_state_dict({"state": state, "param_groups": current["param_groups"]})
        self.step = meta.step

    def _optimizer_tensors(self) -> dict[str, torch.Tensor]:
        out = {}
        for name, p in self._named:
            for key, value in self.optimizer.state.get(p, {}).items():
                out[f"{name}.{key}"] = torch.as_tensor(value)
        return out


def _target_cross_entropy(logits_BLV: torch.Tensor, targets_BL: torch.Tensor) -> torch.Tensor:
    logits = logits_BLV.float().flatten(0, 1)
    targets = targets_BL.flatten()
    total = F.cross_entropy(logits, targets, ignore_index=IGNORE, reduction="sum")
    return total / (targets != IGNORE).sum().clamp(min=1)


def _as_json(value: dict[str, Any]) -> Any:
    """``value`` as it reads back from a checkpoint's JSON (tuples become lists)."""
    return json.loads(json.dumps(value))

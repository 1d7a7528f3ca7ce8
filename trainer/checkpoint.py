"""Checkpoints: weights and optimizer state in safetensors, the rest in a small JSON file.

``DIR/step-0000042/`` holds ``model.safetensors`` (parameters and buffers, the balancing bias
among them), ``optim.safetensors`` (AdamW's moments and step per parameter, keyed by the
parameter's name, plus the CPU RNG state) and ``meta.json`` (step, config, run id). A
checkpoint is written to a temporary folder and renamed, so a crash never leaves half of one.
Together with batches that depend only on (seed, step), this makes resuming bit-exact.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

_PREFIX = "step-"


class CheckpointError(ValueError):
    """A checkpoint that does not belong to this run or cannot be read."""


@dataclass(frozen=True)
class Meta:
    step: int
    run_id: str
    config: dict[str, Any]


def save_checkpoint(
    root: Path,
    step: int,
    run_id: str,
    config: dict[str, Any],
    model: torch.nn.Module,
    optimizer_state: dict[str, torch.Tensor],
) -> Path:
    final = root / f"{_PREFIX}{step:07d}"
    tmp = root / f".tmp-{_PREFIX}{step:07d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(tmp / "model.safetensors"))
    optim = {k: v.detach().contiguous().cpu() for k, v in optimizer_state.items()}
    optim["rng.cpu"] = torch.get_rng_state()
    save_file(optim, str(tmp / "optim.safetensors"))
    meta = {"step": step, "run_id": run_id, "config": config}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return final


def checkpoints(root: Path) -> list[Path]:
    """The complete checkpoints under ``root``, oldest first."""
    return sorted(p for p in root.glob(f"{_PREFIX}*") if (p / "meta.json").is_file())


def latest_checkpoint(root: Path) -> Path | None:
    found = checkpoints(root)
    return found[-1] if found else None


def prune_checkpoints(root: Path, keep: int) -> None:
    """Remove all but the newest ``keep`` checkpoints (0: keep them all). Periodic checkpoints
    of a 100M model take about a gigabyte each; a long run would otherwise fill the disk."""
    if keep > 0:
        for old in checkpoints(root)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)


def read_meta(path: Path) -> Meta:
    try:
        raw = json.loads((path / "meta.json").read_text())
        return Meta(step=int(raw["step"]), run_id=str(raw["run_id"]), config=raw["config"])
    except (OSError, ValueError, KeyError) as e:
        raise CheckpointError(f"{path} is not a readable checkpoint ({e})") from e


def find_checkpoint(path: Path) -> Path:
    """``path`` itself when it is a checkpoint, else the latest checkpoint in it (a run's
    folder, ``DIR/RUN_ID``)."""
    if (path / "meta.json").is_file():
        return path
    latest = latest_checkpoint(path) if path.is_dir() else None
    if latest is None and path.is_dir():
        # The --checkpoint-dir of `synth train` itself: fine when it holds a single run.
        runs = sorted(p for p in path.iterdir() if p.is_dir() and latest_checkpoint(p))
        if len(runs) == 1:
            return latest_checkpoint(runs[0])  # type: ignore[return-value]
        if runs:
            raise CheckpointError(
                f"{path} holds {len(runs)} runs ({', '.join(r.name for r in runs)}); pass one "
                f"of them, e.g. {runs[-1]}"
            )
    if latest is None:
        raise CheckpointError(
            f"{path} is neither a checkpoint (step-N/ with meta.json) nor a run folder holding "
            "one; pass a path that `synth train` printed"
        )
    return latest


def load_weights(path: Path, model: torch.nn.Module, device: torch.device) -> Meta:
    """Only the weights, for inference: the optimizer and the global RNG are left alone."""
    meta = read_meta(path)
    try:
        model.load_state_dict(load_file(str(path / "model.safetensors"), device=str(device)))
    except (OSError, RuntimeError) as e:
        raise CheckpointError(f"{path}: cannot load its weights ({e})") from e
    return meta


def load_checkpoint(
    path: Path, model: torch.nn.Module, device: torch.device
) -> tuple[Meta, dict[str, torch.Tensor]]:
    """Load the weights into ``model``; return the meta and the optimizer tensors."""
    meta = read_meta(path)
    model.load_state_dict(load_file(str(path / "model.safetensors"), device=str(device)))
    # On the CPU: the optimizer moves its moments to the parameters' device itself, and
    # AdamW (non-capturable) wants its step counters on the CPU.
    optim = load_file(str(path / "optim.safetensors"))
    torch.set_rng_state(optim.pop("rng.cpu").cpu())
    return meta, optim

"""`synth train eval` turns bad input into exit 2 and a message (no Docker needed: each case
fails before anything is scored), and `synth train` without a subcommand still trains."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from synth.cli import app
from synth.data.store import Store
from synth.trainer.checkpoint import CheckpointError, find_checkpoint
from synth.trainer.config import TrainConfig, config_from_dict
from synth.trainer.evaluate import load_model
from synth.trainer.run import run_training

CPU = torch.device("cpu")


def trained(task_store: Path, out: Path, cfg: TrainConfig, fraction: float) -> Path:
    cfg = replace(cfg, data=replace(cfg.data, held_out_fraction=fraction))
    with Store.open(task_store) as store:
        return run_training(store, cfg, 1, device=CPU, checkpoint_dir=out).checkpoint


def invoke(*args: str) -> tuple[int, str]:
    out = CliRunner().invoke(app, ["train", "eval", "--device", "cpu", *args])
    return out.exit_code, " ".join(out.output.replace("│", " ").split())  # typer boxes its errors


def test_a_checkpoint_reloads_as_the_model_it_saved(task_store, tmp_path, small_config) -> None:
    path = trained(task_store, tmp_path, small_config, 0.5)
    assert find_checkpoint(path.parent) == path  # a run folder names its latest checkpoint
    model, cfg, meta = load_model(path, CPU)
    assert cfg == config_from_dict(meta.config).with_backend("loop")  # on a CPU
    assert cfg.data.held_out_fraction == 0.5 and not model.training
    from safetensors.torch import load_file

    saved = load_file(str(path / "model.safetensors"))
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize(
    ("fraction", "extra", "message"),
    [
        (0.0, [], "holds no held-out tasks"),
        (0.5, ["--backend", "docker"], "the store's environments are local ones"),
        (0.5, ["--backend", "podman"], "'podman' is not one of 'auto', 'docker', 'local'"),
        (0.5, ["--temperature", "-1"], "temperature"),
    ],
)
def test_eval_rejects_bad_input(shop_store, tmp_path, small_config, fraction, extra,
                                message) -> None:
    path = trained(shop_store, tmp_path, small_config, fraction)
    code, text = invoke("--db", str(shop_store), "--checkpoint", str(path), *extra)
    assert code == 2 and message in text, text


def test_eval_needs_a_store_and_a_checkpoint(task_store, tmp_path) -> None:
    code, text = invoke("--db", str(tmp_path / "none.duckdb"), "--checkpoint", str(tmp_path))
    assert code == 2 and "does not exist" in text
    code, text = invoke("--db", str(task_store), "--checkpoint", str(tmp_path / "nope"))
    assert code == 2 and "no such folder" in text
    code, text = invoke("--db", str(task_store), "--checkpoint", str(tmp_path))
    assert code == 2 and "neither a checkpoint" in text
    with pytest.raises(CheckpointError):
        find_checkpoint(tmp_path)

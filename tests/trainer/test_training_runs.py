"""Training fed from the store: runs and per-step metrics land in DuckDB, once each, and
`synth train` drives it from the command line."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from synth.cli import app
from synth.data.store import Store
from synth.data.training_runs import TrainingRun, TrainingStep, list_runs, list_steps, write_steps
from synth.trainer.run import TrainingError, run_training

CPU = torch.device("cpu")


def test_run_writes_its_run_and_every_step_once(task_store, tmp_path, small_config) -> None:
    cfg = small_config
    with Store.open(task_store) as store:
        summary = run_training(store, cfg, 4, device=CPU, checkpoint_dir=tmp_path, flush_every=3)
        (run,) = list_runs(store)
        steps = list_steps(store, summary.run_id)
        assert run == TrainingRun(
            run_id=summary.run_id,
            config_name="test",
            backend="torch_gmm",
            device="cpu",
            seed=cfg.seed,
            total_steps=4,
            num_params=summary.num_params,
            num_tasks=3,
            created_at=run.created_at,
        )
        assert [s.step for s in steps] == [1, 2, 3, 4]
        assert [s.loss for s in steps] == [m.loss for m in summary.metrics]
        write_steps(store, [steps[0].model_copy(update={"loss": 99.0})])  # already stored
        assert list_steps(store, summary.run_id)[0].loss == steps[0].loss
    assert summary.checkpoint == tmp_path / summary.run_id / "step-0000004"


def test_resumed_run_writes_only_the_steps_it_adds(task_store, tmp_path, small_config) -> None:
    cfg = small_config
    with Store.open(task_store) as store:
        whole = run_training(store, cfg, 4, device=CPU, checkpoint_dir=tmp_path / "a")
    with Store.open(task_store) as store:
        store.query("DELETE FROM training_steps WHERE step > 2")
    # Checkpoint at step 2 (checkpoint_every), then resume to 4: the same numbers as one go.
    halves = replace(cfg, checkpoint_every=2)
    with Store.open(task_store) as store:
        first = run_training(store, halves, 4, device=CPU, checkpoint_dir=tmp_path / "b")
        (tmp_path / "b" / first.run_id / "step-0000004").rename(tmp_path / "b" / "later")
        again = run_training(store, halves, 4, device=CPU, checkpoint_dir=tmp_path / "b",
                             resume=True)  # fmt: skip
        assert again.resumed_from == 2
        assert [m.loss for m in again.metrics] == [m.loss for m in whole.metrics[2:]]
        steps = list_steps(store, first.run_id)
    assert [s.step for s in steps] == [1, 2, 3, 4]


def test_an_empty_store_is_an_error_that_says_what_to_run(tmp_path, small_config) -> None:
    with Store.open(tmp_path / "empty.duckdb") as store:
        with pytest.raises(TrainingError, match="holds no tasks.*synth run"):
            run_training(store, small_config, 1, device=CPU, checkpoint_dir=tmp_path)


def test_step_records_round_trip(tmp_path: Path) -> None:
    step = TrainingStep(
        run_id="r",
        step=1,
        loss=2.5,
        aux_loss=1.01,
        z_loss=0.2,
        lr=1e-3,
        grad_norm=0.5,
        load_max_over_mean=1.25,
        tokens=100,
        tokens_per_s=1e4,
    )
    with Store.open(tmp_path / "s.duckdb") as store:
        write_steps(store, [step, step])
        assert list_steps(store, "r") == [step]


def test_synth_train_trains_on_the_store_and_resumes(task_store: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["train", "--db", str(task_store), "--config", "tiny", "--steps", "1", "--device",
            "cpu", "--checkpoint-dir", str(tmp_path)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "loss" in result.output and "checkpoint:" in result.output
    again = runner.invoke(app, [*args, "--resume"])
    assert again.exit_code == 0, again.output
    assert "resumed at step 1" in again.output
    with Store.open(task_store) as store:
        assert store.query("SELECT count(*) FROM training_steps") == [(1,)]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--config", "huge"], "'huge' is not one of 'tiny', '100m'"),
        (["--backend", "cutlass"], "'cutlass' is not one of 'auto', 'loop', 'torch_gmm', 'triton'"),
        (["--device", "cuda:7"], "no CUDA device"),
    ],
)
def test_synth_train_rejects_bad_arguments(task_store: Path, extra, message) -> None:
    if "cuda" in extra[-1] and torch.cuda.is_available():
        pytest.skip("a CUDA device is visible")
    result = CliRunner().invoke(app, ["train", "--db", str(task_store), *extra])
    assert result.exit_code == 2
    assert message in " ".join(result.output.replace("│", " ").split())  # typer boxes its errors


def test_synth_train_needs_an_existing_store(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", "--db", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 2 and "does not exist" in " ".join(result.output.split())


def test_a_crashed_run_resumes_from_its_last_periodic_checkpoint(task_store, tmp_path,
                                                                 small_config) -> None:  # fmt: skip
    """With checkpoint_every = 0 by default, a run that crashed resumed from nothing."""
    every = small_config.checkpoint_every
    assert every > 0

    class Crash(Exception):
        pass

    def crash(m) -> None:
        if m.step == every + 1:
            raise Crash

    kw = dict(device=CPU, checkpoint_dir=tmp_path)
    with Store.open(task_store) as store:
        with pytest.raises(Crash):
            run_training(store, small_config, every + 2, on_step=crash, **kw)
        again = run_training(store, small_config, every + 2, resume=True, **kw)
    assert again.resumed_from == every and [m.step for m in again.metrics] == [every + 1,
                                                                               every + 2]


def test_a_backend_that_cannot_run_the_config_fails_before_training(
    task_store, tmp_path, small_config
) -> None:
    """grouped_mm wants 16-byte rows: D = 34 in fp32 is not; torch_gmm says so up front and
    names the backend that can run it (it used to run the loop under its own name)."""
    from synth.trainer.backends import BackendError

    model = replace(small_config.model, dim=34, n_heads=1)
    cfg = replace(small_config, model=model).with_backend("torch_gmm")
    with Store.open(task_store) as store:
        with pytest.raises(BackendError, match="16-byte.*use --backend loop"):
            run_training(store, cfg, 1, device=CPU, checkpoint_dir=tmp_path)

"""`synth train`: fine-tune the bundled MoE model on the tasks of a store.

Thin, like the rest of the CLI: it checks its arguments, imports torch and the trainer only
when the command runs, and delegates to ``trainer.run.run_training``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from synth.cli import DEFAULT_DB, DbOption, console, fail

if TYPE_CHECKING:
    from trainer.train import StepMetrics, Trainer


def register(app: typer.Typer) -> None:
    app.command("train")(train)


def train(
    db: DbOption = DEFAULT_DB,
    config: Annotated[str, typer.Option(help="Named trainer config: tiny | 100m.")] = "tiny",
    steps: Annotated[int, typer.Option(min=1, help="Optimizer steps in the whole run.")] = 100,
    backend: Annotated[
        str | None, typer.Option(help="Expert backend: auto | loop | torch_gmm | triton.")
    ] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N")] = "auto",
    seed: Annotated[int | None, typer.Option(help="Override the config's seed.")] = None,
    checkpoint_dir: Annotated[
        Path, typer.Option(help="Checkpoints go to DIR/RUN_ID/step-N/.")
    ] = Path("checkpoints"),
    resume: Annotated[
        bool, typer.Option(help="Continue this run from its latest checkpoint.")
    ] = False,
) -> None:
    """Train the MoE model on the store's tasks; metrics go to its training_steps table."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from data.store import Store, StoreError
    from trainer.backends import BackendError
    from trainer.checkpoint import CheckpointError
    from trainer.config import ConfigError, get_config
    from trainer.run import TrainingError, run_training, with_overrides
    from trainer.train import pick_device

    if not db.exists():
        raise fail(f"{db} does not exist; run `synth run SOURCE --db {db}` first or pass --db")
    try:
        cfg = with_overrides(get_config(config), backend, seed)
        dev = pick_device(device)
    except (ConfigError, ValueError) as exc:
        raise fail(str(exc)) from None
    with (
        Store.open(db) as store,
        Progress(
            TextColumn("training"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
        ) as bar,
    ):
        job = bar.add_task("steps", total=steps, status="")

        def started(trainer: Trainer) -> None:
            bar.update(job, completed=trainer.step)

        def stepped(m: StepMetrics) -> None:
            bar.update(
                job, completed=m.step, status=f"loss {m.loss:.3f}  {m.tokens_per_s:,.0f} tok/s"
            )

        try:
            summary = run_training(
                store,
                cfg,
                steps,
                device=dev,
                checkpoint_dir=checkpoint_dir,
                resume=resume,
                on_start=started,
                on_step=stepped,
            )
        except (TrainingError, CheckpointError, BackendError, StoreError) as exc:
            raise fail(str(exc)) from None
    m = summary.metrics
    console.print(
        f"[bold]run {summary.run_id}:[/] config {cfg.name}, backend {summary.backend} on "
        f"{dev.type}, {summary.num_params:,} parameters, {summary.num_tasks} tasks in "
        f"{summary.num_rows} packed rows"
        + (f", resumed at step {summary.resumed_from}" if summary.resumed_from else "")
    )
    if m:
        console.print(
            f"loss {m[0].loss:.4f} (step {m[0].step}) -> {m[-1].loss:.4f} (step {m[-1].step}); "
            f"aux {m[-1].aux_loss:.3f}, expert load max/mean {m[-1].load_max_over_mean:.2f}"
        )
    console.print(f"[bold]checkpoint:[/] {summary.checkpoint}")

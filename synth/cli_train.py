"""`synth train`: fine-tune the bundled MoE model on the tasks of a store; `synth train eval`:
sample fixes from a checkpoint for held-out tasks and score them as `synth verify` does.

Thin, like the rest of the CLI: it checks its arguments, imports torch and the trainer only
when the command runs, and delegates to ``trainer.run.run_training`` / ``trainer.evaluate``.
`train` is a group whose callback trains when no subcommand follows, so `synth train --db ...`
works as it always did.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from synth.choices import BackendChoice
from synth.cli import DEFAULT_DB, DbOption, console, default_cache_dir, fail
from synth.trainer.config import ConfigName, ExpertBackend

if TYPE_CHECKING:
    from synth.trainer.evaluate import EvalReport, Generated
    from synth.trainer.train import StepMetrics, Trainer


def register(app: typer.Typer) -> None:
    group = typer.Typer(pretty_exceptions_enable=False)
    group.callback(invoke_without_command=True)(train)
    group.command("eval")(evaluate)
    app.add_typer(group, name="train")


def train(
    ctx: typer.Context,
    db: DbOption = DEFAULT_DB,
    config: Annotated[
        ConfigName, typer.Option(help="Named trainer config: tiny for a CPU, 100m for a GPU.")
    ] = ConfigName.TINY,
    steps: Annotated[int, typer.Option(min=1, help="Optimizer steps in the whole run.")] = 100,
    backend: Annotated[
        ExpertBackend | None,
        typer.Option(help="How routed experts run.", show_default="the config's, auto"),
    ] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N")] = "auto",
    seed: Annotated[int | None, typer.Option(help="Override the config's seed.")] = None,
    held_out_fraction: Annotated[
        float | None,
        typer.Option(help="Override the share of tasks kept out for `synth train eval`."),
    ] = None,
    checkpoint_dir: Annotated[
        Path, typer.Option(help="Checkpoints go to DIR/RUN_ID/step-N/.")
    ] = Path("checkpoints"),
    resume: Annotated[
        bool, typer.Option(help="Continue this run from its latest checkpoint.")
    ] = False,
) -> None:
    """Train the MoE model on the store's tasks; metrics go to its training_steps table.
    `synth train eval` scores a checkpoint on the tasks training held out."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from synth.data.store import Store, StoreError
    from synth.trainer.backends import BackendError
    from synth.trainer.checkpoint import CheckpointError
    from synth.trainer.config import ConfigError, get_config
    from synth.trainer.run import TrainingError, run_training, with_overrides
    from synth.trainer.train import pick_device

    if not db.exists():
        raise fail(f"{db} does not exist; run `synth run SOURCE --db {db}` first or pass --db")
    try:
        cfg = with_overrides(get_config(config), backend, seed, held_out_fraction)
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
        # The median: the first steps include compiling kernels.
        rate = sorted(s.tokens_per_s for s in m)[len(m) // 2]
        console.print(
            f"loss {m[0].loss:.4f} (step {m[0].step}) -> {m[-1].loss:.4f} (step {m[-1].step}); "
            f"aux {m[-1].aux_loss:.3f}, expert load max/mean {m[-1].load_max_over_mean:.2f}; "
            f"{rate:,.0f} tokens/s (median step)"
        )
    console.print(f"[bold]checkpoint:[/] {summary.checkpoint}")


def evaluate(
    db: DbOption = DEFAULT_DB,
    checkpoint: Annotated[
        Path, typer.Option(help="A checkpoint (DIR/RUN_ID/step-N) or a run folder (its latest).")
    ] = Path("checkpoints"),
    sample: Annotated[int, typer.Option(min=1, help="Held-out tasks to sample, by id.")] = 10,
    max_new_bytes: Annotated[int, typer.Option(min=1, help="Bytes to generate at most.")] = 512,
    temperature: Annotated[float, typer.Option(min=0.0, help="0: greedy.")] = 0.0,
    top_k: Annotated[int, typer.Option(min=0, help="Sample among the k likeliest; 0: all.")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the sampling.")] = 0,
    backend: Annotated[
        BackendChoice, typer.Option(help="Where fixes are verified; auto: the environments' own.")
    ] = BackendChoice.AUTO,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N")] = "auto",
    workers: Annotated[int, typer.Option(min=1, help="Parallel Ray workers scoring fixes.")] = 2,
    timeout: Annotated[float, typer.Option(help="Seconds per test run.")] = 300.0,
    cache_dir: Annotated[Path | None, typer.Option(help="As for `synth run`.")] = None,
    address: Annotated[str | None, typer.Option(help="Join this Ray cluster.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, not a table.")] = False,
) -> None:
    """Score a checkpoint: sample a fix per held-out task, verify each.

    Fixes are scored as `synth verify --patches` scores them (verdicts go to the solutions
    table). Exit 0 whenever the loop ran, resolved or not."""
    from synth.data.store import StoreError
    from synth.pipelines.verify import SubmissionError
    from synth.records import BackendKind
    from synth.trainer.backends import BackendError
    from synth.trainer.checkpoint import CheckpointError
    from synth.trainer.config import ConfigError
    from synth.trainer.evaluate import EvalError
    from synth.trainer.evaluate import evaluate as run_eval
    from synth.trainer.sample import SampleConfig
    from synth.trainer.train import pick_device

    if not db.exists():
        raise fail(f"{db} does not exist; pass --db with a store made by `synth run`")
    if not checkpoint.exists():
        raise fail(f"--checkpoint {checkpoint}: no such folder; pass one `synth train` printed")
    kind = None if backend is BackendChoice.AUTO else BackendKind(backend)
    try:
        dev = pick_device(device)
        sampling = SampleConfig(max_new_bytes, temperature, top_k, seed)
    except ValueError as exc:
        raise fail(str(exc)) from None

    def sampled(g: Generated) -> None:
        if not as_json:
            console.print(f"sampled {g.instance_id}: {g.sample.num_bytes} bytes "
                          f"(stop: {g.sample.stop})", highlight=False)

    try:
        report = run_eval(db, checkpoint, sample, sampling, device=dev,
                          cache_dir=cache_dir or default_cache_dir(), kind=kind,
                          timeout_s=timeout, workers=workers, address=address, on_sample=sampled)
    except (EvalError, CheckpointError, ConfigError, BackendError, StoreError,
            SubmissionError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        print(json.dumps(_report_json(report), indent=2))
    else:
        _show_report(report)


def _report_json(report: EvalReport) -> dict[str, object]:
    return {
        "checkpoint": str(report.checkpoint), "run_id": report.run_id, "step": report.step,
        "held_out": report.held_out, "evaluated": len(report.items),
        "resolved": report.resolved, "resolve_rate": report.resolve_rate,
        "tasks": [
            {"instance_id": i.generated.instance_id, "outcome": i.verdict.outcome.value,
             "solution_id": i.verdict.solution_id, "is_diff": i.generated.is_diff,
             "bytes": i.generated.sample.num_bytes, "stop": i.generated.sample.stop,
             "reason": i.verdict.reason}
            for i in report.items
        ],
    }


def _show_report(report: EvalReport) -> None:
    from rich.table import Column, Table

    task = Column("task", overflow="fold")  # an id is no use cut short
    table = Table(task, "verdict", "diff?", "bytes", "F2P", "P2P", "reason")
    for i in report.items:
        v = i.verdict
        table.add_row(v.instance_id, v.outcome.value, "yes" if i.generated.is_diff else "no",
                      str(i.generated.sample.num_bytes),
                      f"{v.fail_to_pass_passed}/{v.fail_to_pass_total}",
                      f"{v.pass_to_pass_passed}/{v.pass_to_pass_total}", v.reason[:60])
    console.print(table)
    console.print(
        f"[bold]checkpoint[/] {report.checkpoint} (run {report.run_id}, step {report.step}): "
        f"evaluated {len(report.items)} of {report.held_out} held-out tasks, resolved "
        f"{report.resolved}, resolve rate {report.resolve_rate:.1%}", highlight=False
    )

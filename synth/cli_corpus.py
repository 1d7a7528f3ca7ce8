"""`synth export`, `synth audit`, `synth report`: what a finished corpus is for.

Thin commands: each checks its arguments, imports the heavy modules inside its body, delegates
(data.export, pipelines.audit, synth.report) and turns their errors into messages a user can act on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from synth.choices import ExportFormat
from synth.cli import DEFAULT_DB, DbOption, console, default_cache_dir, fail

CacheOption = Annotated[
    Path | None, typer.Option(help="Snapshots and wheelhouses (as for `synth run`).")
]


def export(
    fmt: Annotated[
        ExportFormat,
        typer.Option("--format", help="SWE-bench or SWE-smith instances, Harbor task folders, "
                                      "or one Parquet file.", show_default=False),
    ],
    out: Annotated[
        Path,
        typer.Option(help="A folder (swebench, swesmith, harbor) or a .parquet file.",
                     show_default=False),
    ],
    filter: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            help="KEY=VALUE, repeatable: repo, operator, strategy, instance_id (prefix), env_id, "
            "since, until (ISO dates). Values of one key are alternatives.",
        ),
    ] = None,
    db: DbOption = DEFAULT_DB,
    cache_dir: CacheOption = None,
) -> None:
    """Export tasks as SWE-bench or SWE-smith instances (with a git bundle), Harbor task folders
    or Parquet."""
    from synth.data.export import ExportError, export_corpus, parse_filters
    from synth.data.store import StoreError
    from synth.data.task_repo import TaskRepoError
    from synth.intake import IntakeError

    try:
        flt = parse_filters(filter or [])
        with _open_existing(db) as store:
            summary = export_corpus(
                store, fmt, out, flt, snapshot_root=_cache(cache_dir) / "snapshots"
            )
    except (ExportError, StoreError, TaskRepoError, IntakeError) as exc:
        raise fail(str(exc)) from None
    extra = (
        f", {summary.bundles} git bundle(s), {summary.environments} environment(s)"
        if fmt is not ExportFormat.PARQUET
        else ""
    )
    console.print(
        f"[bold]exported[/] {summary.tasks} task(s) as {fmt.value}{extra}: {summary.path}"
    )
    for warning in summary.warnings:
        console.print(f"[yellow]note:[/] {warning}")


def audit(
    sample: Annotated[
        int | None, typer.Option(min=1, help="Audit this many tasks, drawn at random [default: 10]")
    ] = None,
    all_tasks: Annotated[bool, typer.Option("--all", help="Audit every task.")] = False,
    rebuild: Annotated[
        bool,
        typer.Option(
            help="Rebuild each environment from its spec from scratch (fresh wheelhouse, no "
            "cache) and compare lock and files with the stored one; verify in the rebuild."
        ),
    ] = False,
    runs: Annotated[
        int, typer.Option(min=1, help="Runs of each task's bug state (and of the clean state).")
    ] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the sample.")] = 0,
    repo: Annotated[str | None, typer.Option(help="Only tasks of this repository.")] = None,
    instance_id: Annotated[
        list[str] | None,
        typer.Option("--instance-id", help="Only tasks whose id starts with this (repeatable)."),
    ] = None,
    db: DbOption = DEFAULT_DB,
    cache_dir: CacheOption = None,
    timeout: Annotated[
        float, typer.Option(min=1, help="Seconds one test-suite run may take.")
    ] = 300.0,
) -> None:
    """Re-verify stored tasks (and optionally rebuild their environments); exit 1 on any drift."""
    from synth.envs.backend import Limits
    from synth.pipelines.audit import DEFAULT_SAMPLE, AuditError, AuditOptions, run_audit

    if all_tasks and sample is not None:
        raise fail("--sample and --all exclude each other: give one")
    options = AuditOptions(
        sample=None if all_tasks else (sample or DEFAULT_SAMPLE),
        runs=runs,
        rebuild=rebuild,
        seed=seed,
        limits=Limits(timeout_s=timeout),
    )
    cache = _cache(cache_dir)
    with _open_existing(db) as store:
        tasks = store.list_tasks(repo=repo)
        if instance_id:
            tasks = [t for t in tasks if t.instance_id.startswith(tuple(instance_id))]
        envs = {env_id: store.get_environment(env_id) for env_id in {t.env_id for t in tasks}}
        snapshots = {e.snapshot_id: store.get_snapshot(e.snapshot_id) for e in envs.values()}
        try:
            summary = run_audit(
                tasks,
                envs,
                snapshots,
                cache_dir=cache,
                options=options,
                sink=store.write_audits,
                say=console.print,
            )
        except AuditError as exc:
            raise fail(str(exc)) from None
    _print_audit(summary)
    if summary.drifted:
        raise typer.Exit(code=1)


def _print_audit(summary) -> None:
    from rich.table import Table

    table = Table(title=f"audit {summary.audit_run}")
    for col in ("instance_id", "verdict", "reasons"):
        table.add_column(col, no_wrap=col == "instance_id")
    for a in summary.audits:
        colour = "green" if not a.reasons else "red"
        reasons = ", ".join(r.value for r in a.reasons) or "-"
        table.add_row(a.instance_id, f"[{colour}]{a.verdict.value}[/]", reasons)
    console.print(table)
    for a in summary.audits:
        for line in a.details:
            console.print(f"[red]{a.instance_id}[/]: {line}", highlight=False)
    reasons = ", ".join(f"{k} {v}" for k, v in summary.by_reason().items()) or "none"
    console.print(
        f"[bold]{len(summary.audits)} task(s) re-verified:[/] {summary.reproduced} reproduced, "
        f"{summary.drifted} drifted (reasons: {reasons})"
    )


def report(
    out: Annotated[Path, typer.Option(help="The HTML file to write.")] = Path("report.html"),
    db: DbOption = DEFAULT_DB,
) -> None:
    """A static HTML page: funnels, run times, flake rates, audits, corpus size over time."""
    from synth.data.corpus_stats import collect_stats
    from synth.report import write_report

    with _open_existing(db) as store:
        stats = collect_stats(store)
    path = write_report(stats, out)
    console.print(f"[bold]report:[/] {path}")


def harbor_check(
    folder: Annotated[Path, typer.Argument(help="A `synth export --format harbor` folder, or "
                                                "one task folder of it.")],
    limit: Annotated[int | None, typer.Option(min=1, help="Check only the first N tasks.")] = None,
) -> None:
    """Harbor's quality gate on exported tasks: the oracle (solution/solve.sh) must score 1 and
    the no-op agent 0. Builds each task's environment with Docker; exit 1 on any miss."""
    from synth.envs.harbor_check import HarborCheckError, check_folder

    root = folder.expanduser().resolve()
    tasks = [root] if (root / "task.toml").is_file() else sorted(
        p for p in (root / "tasks").glob("*") if (p / "task.toml").is_file())
    if not tasks:
        raise fail(f"{root} holds no Harbor task folder; make one with "
                   "`synth export --format harbor --out DIR`")
    misses = 0
    for task in tasks[:limit]:
        try:
            check = check_folder(task)
        except HarborCheckError as exc:
            console.print(f"[red]error[/] {exc}", highlight=False)
            misses += 1
            continue
        misses += not check.ok
        mark = "[green]ok[/]" if check.ok else "[red]MISS[/]"
        console.print(f"{mark} {check.task}: oracle {check.oracle.reward} "
                      f"({check.oracle.seconds:.1f}s), nop {check.nop.reward} "
                      f"({check.nop.seconds:.1f}s)", highlight=False)
        if not check.ok:
            console.print(check.oracle.log, markup=False, highlight=False)
    checked = len(tasks[:limit])
    console.print(f"{checked - misses} of {checked} task(s) passed the gate "
                  "(oracle 1, no-op 0)")
    if misses:
        raise typer.Exit(1)


def _open_existing(db: Path):
    from synth.cli import _open_existing as open_existing

    return open_existing(db)


def _cache(cache_dir: Path | None) -> Path:
    cache = (cache_dir or default_cache_dir()).expanduser().resolve()
    cache.mkdir(parents=True, exist_ok=True)
    return cache


def register(app: typer.Typer) -> None:
    app.command()(export)
    app.command()(audit)
    app.command()(report)
    app.command("harbor-check")(harbor_check)

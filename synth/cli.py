"""The `synth` command line: a thin typer app. Each command checks its arguments, imports the heavy
modules lazily (so `synth --help` stays fast), and delegates."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from synth.choices import BackendChoice, StatementStyle
from synth.records import Strategy

app = typer.Typer(
    help="A factory of verifiable coding tasks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
tasks_app = typer.Typer(help="Browse the validated tasks in the store.", no_args_is_help=True)
app.add_typer(tasks_app, name="tasks")
console = Console()
err = Console(stderr=True)

DbOption = Annotated[Path, typer.Option("--db", help="The DuckDB file of the store.")]
DEFAULT_DB = Path("synth.duckdb")
LOG_EVERY_S = 60.0  # how often `synth run` prints its progress line when not on a terminal


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "synth"


def fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=2)


@app.command()
def run(
    sources: Annotated[
        list[str],
        typer.Argument(help="git URL, local path, git bundle, pypi:NAME==VERSION, a folder of "
                            "bundles, or @FILE (one source per line)", show_default=False),
    ],
    db: DbOption = DEFAULT_DB,
    backend: Annotated[
        BackendChoice,
        typer.Option(help="Where tests run; auto: Docker when an engine answers, else local."),
    ] = BackendChoice.AUTO,
    max_candidates: Annotated[
        str, typer.Option(help="Bug candidates per repository: a number, or all (every covered "
                               "function × applicable operator, duplicates by effect dropped).")
    ] = "24",
    seed: Annotated[int, typer.Option(help="Seed of the candidate sample.")] = 0,
    repo_budget: Annotated[
        float | None,
        typer.Option(min=1.0, help="CPU-seconds of validation to plan per repository: its "
                                   "candidates are capped at this ÷ one clean-suite run's CPU, "
                                   "so slow suites get few and fast ones many (a corpus of "
                                   "many repositories)."),
    ] = None,
    address: Annotated[
        str | None, typer.Option(help="Join this Ray cluster instead of starting one.")
    ] = None,
    registry: Annotated[
        str | None,
        typer.Option(
            help="HOST[:PORT]/PREFIX: push environment images there once; other nodes pull them."
        ),
    ] = None,
    base_image: Annotated[
        str | None,
        typer.Option(
            help="A pullable base image (e.g. python:3.11-slim) instead of the offline one."
        ),
    ] = None,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Snapshots, wheelhouses and venvs.")
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=1, help="Seconds one test-suite run may take.")
    ] = 300.0,
    strategy: Annotated[
        list[Strategy] | None,
        typer.Option(help="How bugs are made; repeat for several.", show_default="procedural"),
    ] = None,
    max_fixes: Annotated[int, typer.Option(
        min=1, help="Fix commits mirrored per repo: those whose message reads as a fix first, "
                    "upkeep (lint, style, docs) last.")] = 5,
    max_fix_files: Annotated[
        int, typer.Option(min=1, help="Files a mirrored commit may touch.")
    ] = 8,
    max_fix_lines: Annotated[
        int, typer.Option(min=1, help="Lines a mirrored commit may change.")
    ] = 200,
    max_combined: Annotated[
        int, typer.Option(min=1, help="Combined bugs per repo@commit.")
    ] = 8,
    statement_style: Annotated[
        StatementStyle, typer.Option(help="How problem statements read; auto: by seed.")
    ] = StatementStyle.AUTO,
    lm_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible API base URL to write statements.")
    ] = None,
    lm_model: Annotated[str | None, typer.Option(help="The model --lm-url serves.")] = None,
    overrides: Annotated[
        Path | None,
        typer.Option(help="TOML of per-repository specs ([NAME] tables: python, requirements, "
                          "drop, pytest_args, test_paths, env, source_root) for what inference "
                          "cannot know."),
    ] = None,
) -> None:
    """Mine SOURCES into validated tasks and store them in the DuckDB file."""
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from synth.cli_mutate import strategy_options
    from synth.envs.backend import BackendUnavailable, Limits, check_registry, resolve_backend
    from synth.intake import IntakeError, expand_sources, parse_source
    from synth.pipelines.factory import Progress as Hooks
    from synth.pipelines.factory import run_factory
    from synth.report import setup_line
    from synth.run_view import RunView

    try:
        options = strategy_options(
            strategy,
            max_fixes=max_fixes,
            max_fix_files=max_fix_files,
            max_fix_lines=max_fix_lines,
            max_combined=max_combined,
            statement_style=statement_style,
            lm_url=lm_url,
            lm_model=lm_model,
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    budget = candidate_budget(max_candidates)
    try:
        sources = expand_sources(sources)
    except IntakeError as exc:
        raise fail(str(exc)) from None
    for source in sources:
        try:
            parse_source(source)
        except IntakeError as exc:
            raise fail(str(exc)) from None
    try:
        if registry is not None:
            check_registry(registry)
    except ValueError as exc:
        raise fail(str(exc)) from None
    specs = _load_overrides(overrides) if overrides is not None else {}
    cache = (cache_dir or default_cache_dir()).resolve()
    cache.mkdir(parents=True, exist_ok=True)
    try:
        config, note = resolve_backend(backend, cache, base_image, Limits(timeout_s=timeout),
                                       registry)
    except BackendUnavailable as exc:
        raise fail(str(exc)) from None
    console.print(f"[bold]backend:[/] {note}")
    started = time.monotonic()
    view = RunView(repos=len(sources))
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    ) as bar:
        job = bar.add_task(view.line(), total=0)
        shown = [time.monotonic()]

        def show(*, force: bool = False) -> None:
            """A terminal gets a live bar; a log one plain line a minute and one per repo."""
            if console.is_terminal:
                bar.update(job, description=view.line())
            elif force or time.monotonic() - shown[0] >= LOG_EVERY_S:
                shown[0] = time.monotonic()
                console.print(f"progress: {view.line()}", markup=False, highlight=False,
                              soft_wrap=True)

        def total(n: int, source: str, unit_s: float) -> None:
            view.add_scheduled(n, source, unit_s)
            bar.update(job, total=view.scheduled)
            show()

        def advance(n: int, source: str) -> None:
            view.add_decided(n, source)
            bar.advance(job, n)
            show()

        def validated(n: int) -> None:
            view.add_tasks(n)
            show()

        def repo_done(source: str) -> None:
            view.repo_done()
            show(force=True)

        hooks = Hooks(total=total, advance=advance, say=lambda text: bar.console.print(text),
                      validated=validated, repo_done=repo_done)
        summary = run_factory(
            sources,
            db,
            config,
            max_candidates=budget,
            seed=seed,
            repo_budget_s=repo_budget,
            address=address,
            progress=hooks,
            options=options,
            overrides=specs,
        )
    elapsed = time.monotonic() - started
    console.print(
        f"[bold]done in {elapsed:.0f}s:[/] {summary.generated} candidates, "
        f"{summary.skipped_done} already decided, {summary.validated} new tasks, "
        f"{summary.rejected} rejected"
    )
    _print_setups(summary.setups)
    _print_funnel(db, summary.repos, summary)
    console.print(f"[bold]store:[/] {db.resolve()}")
    if unusable := summary.unusable:
        for setup in unusable:
            err.print(f"[bold red]no usable environment:[/] {escape(setup_line(setup))}",
                      soft_wrap=True)  # one line per source, for grep
        raise typer.Exit(code=1)
    if summary.failures and not summary.repos:
        raise typer.Exit(code=1)


def candidate_budget(text: str) -> int:
    """``--max-candidates``: a positive number, or ``all``."""
    from synth.mutate import ALL_CANDIDATES

    if text.strip().lower() == "all":
        return ALL_CANDIDATES
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise fail(f"--max-candidates {text!r}: give a positive number, or all")
    return value


def _print_setups(setups) -> None:
    """One line per source: how far its setup got (`SOURCE: ok — N tests pass ...`)."""
    from synth.report import setup_line

    for setup in setups:
        console.print(setup_line(setup), markup=False, highlight=False, soft_wrap=True)


def _load_overrides(path: Path) -> dict:
    from synth.envs.spec import SpecError, load_overrides

    try:
        return load_overrides(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise fail(f"--overrides {path}: cannot read it ({exc.strerror})") from None
    except SpecError as exc:
        raise fail(f"--overrides {path}: {exc}") from None


def _print_funnel(db: Path, repos: list[str] | None = None, summary=None) -> None:
    from synth.cli_mutate import funnel_table, generation_by
    from synth.data.store import Store

    tried, dropped = (summary.tried, summary.dropped) if summary is not None else (None, None)
    with Store.open(db) as store:
        for by in ("repo", "strategy", "operator"):
            rows = [r for r in store.funnel(by) if by != "repo" or repos is None or r.key in repos]
            made, lost = generation_by(by, tried, dropped)
            console.print(funnel_table(by, rows, tried=made, dropped=lost))


def _open_existing(db: Path):
    from synth.data.store import Store

    if not db.exists():
        raise fail(f"{db} does not exist; run `synth run SOURCE --db {db}` first or pass --db")
    return Store.open(db)


@app.command()
def stats(db: DbOption = DEFAULT_DB) -> None:
    """The funnel per repository and per operator, run times, flake rates, audits."""
    from synth.data.corpus_stats import collect_stats
    from synth.report import print_stats

    with _open_existing(db) as store:
        counts = store.counts()
        corpus = collect_stats(store)
    console.print(", ".join(f"{k}: {v}" for k, v in counts.items()))
    _print_funnel(db)
    print_stats(console, corpus)


@tasks_app.command("list")
def tasks_list(
    db: DbOption = DEFAULT_DB,
    repo: Annotated[str | None, typer.Option(help="Only this repository.")] = None,
    sort: Annotated[
        str | None,
        typer.Option(help="A metrics column (cpu_s, f2p_tests, lines_changed, test_distance, "
                          "...); a leading - sorts descending. Default: newest first."),
    ] = None,
    filter: Annotated[
        list[str] | None,
        typer.Option("--filter", help="COLUMN OP VALUE, repeatable, all apply: e.g. "
                                      "'cpu_s<=30', steady=true, 'f2p_tests>=2', "
                                      "operator=arith_swap. Columns: see README (accounting)."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
) -> None:
    """Validated tasks with what each cost and how hard it looks, newest first."""
    from rich import box

    from synth.data import task_metrics as tm

    try:
        conditions = [tm.parse_condition(f) for f in filter or []]
        if repo is not None:
            conditions.append(tm.Condition(column="repo", op="=", value=repo))
        with _open_existing(db) as store:
            rows = tm.select(store, conditions, sort=sort or "-created_at", limit=limit)
    except tm.MetricsError as exc:
        raise fail(str(exc)) from None
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    # The id is what users copy into `tasks show`: never wrap it. It names the operator too.
    widest = max((len(r["instance_id"]) for r in rows), default=11)
    table.add_column("instance_id", no_wrap=True, min_width=widest)
    shown = ("cpu_s", "f2p_tests", "p2p_tests", "lines_changed", "test_distance",
             "steady")
    for head in ("cpu s", "F2P", "P2P", "lines", "dist", "steady"):
        table.add_column(head, no_wrap=True, justify="right", min_width=len(head))
    for r in rows:
        table.add_row(r["instance_id"], *(_cell(r[c]) for c in shown))
    console.print(table)
    console.print(f"{len(rows)} task(s)")


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


@tasks_app.command("show")
def tasks_show(
    task_id: Annotated[str, typer.Argument(help="instance_id or a unique prefix")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """One task whole: statement, patch, FAIL_TO_PASS, PASS_TO_PASS, environment, cost."""
    from synth.data import task_metrics as tm
    from synth.data.store import StoreError

    with _open_existing(db) as store:
        try:
            task = store.get_task(task_id)
        except StoreError as exc:
            raise fail(str(exc)) from None
        env = store.get_environment(task.env_id)
        metrics = {r["instance_id"]: r for r in tm.select(store, ids=[task.instance_id])}
        stats = store.get_task_stats(task.instance_id)
    console.print(f"[bold]{task.instance_id}[/]  repo {task.repo} @ {task.base_commit}")
    console.print(f"strategy {task.strategy.value}, operator {task.operator}, seed {task.seed}")
    console.print(
        f"environment {env.backend.value} {env.image_name} ({env.image_digest[:19]}), "
        f"base {env.base_image}, {len(env.lock)} locked wheels"
    )
    if (m := metrics.get(task.instance_id)) is not None:
        console.print(
            f"cost {m['cpu_s']:.2f} CPU s (own runs {m['own_cpu_s']:.2f} + environment share "
            f"{m['env_cpu_s']:.2f}); {m['runs']} runs behind the verdict ({m['gold_runs']} clean, "
            f"{m['bug_runs']} with the bug), steady: {_cell(m['steady'])}"
        )
        console.print(
            f"difficulty: +{m['lines_added']} -{m['lines_removed']} lines in "
            f"{m['files_changed']} file(s), test distance {_cell(m['test_distance'])}, "
            f"covering tests {_cell(m['covering_tests'])}, files a failing test runs "
            f"{_cell(m['f2p_files_run'])}"
        )
    rates = {r.test_id: r for r in (stats.fail_to_pass if stats else ())}
    console.rule("problem statement")
    console.print(task.problem_statement, markup=False, highlight=False)
    console.rule("patch (the bug)")
    console.print(task.patch, markup=False, highlight=False)
    console.rule(f"FAIL_TO_PASS ({len(task.FAIL_TO_PASS)})")
    for t in task.FAIL_TO_PASS:
        rate = rates.get(t)
        seen = (f"  (passed {rate.gold_passed}/{rate.gold_runs} clean, "
                f"{rate.bug_passed}/{rate.bug_runs} with the bug)" if rate else "")
        console.print(t + seen, markup=False, highlight=False)
    console.rule(f"PASS_TO_PASS ({len(task.PASS_TO_PASS)})")
    for t in task.PASS_TO_PASS:
        console.print(t, markup=False, highlight=False)


# Commands of other features live in thin modules of their own, each with
# `register(app: typer.Typer) -> None`; heavy imports stay inside the command bodies.
_COMMAND_MODULES: tuple[str, ...] = (
    "synth.cli_train", "synth.cli_corpus", "synth.cli_mutate", "synth.cli_verify",
)


def _register_commands() -> None:
    import importlib

    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(app)


_register_commands()

if __name__ == "__main__":
    app()

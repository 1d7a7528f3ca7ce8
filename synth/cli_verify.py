"""`synth verify`: score a candidate fix (or a batch of them) against a task's tests.

Thin: checks the arguments, imports the heavy modules in the body, delegates to
verifiers.solution (one fix, in-process) or pipelines.verify (a batch, on Ray).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from synth.cli import DEFAULT_DB, DbOption, console, default_cache_dir, fail


def verify(
    task_id: Annotated[
        str | None,
        typer.Argument(help="Instance id (or a unique prefix); omit with --patches.",
                       show_default=False),
    ] = None,
    patch: Annotated[
        Path | None,
        typer.Option(help="The fix: a diff against the task's buggy state ('-': stdin)."),
    ] = None,
    patches: Annotated[
        Path | None,
        typer.Option(help="A folder of INSTANCE_ID.diff files, or a JSONL of "
                          "{instance_id, patch} objects: scored in parallel on Ray."),
    ] = None,
    gold: Annotated[bool, typer.Option(help="Score the task's reference fix.")] = False,
    db: DbOption = DEFAULT_DB,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, not a table.")] = False,
    runs: Annotated[int, typer.Option(min=1, help="Runs per solution; a test must pass in all."
                                      )] = 1,
    workers: Annotated[int, typer.Option(min=1, help="Parallel Ray workers (batch form).")] = 2,
    timeout: Annotated[float, typer.Option(help="Seconds per run.")] = 300.0,
    cache_dir: Annotated[Path | None, typer.Option(help="As for `synth run`.")] = None,
    address: Annotated[str | None, typer.Option(help="Join this Ray cluster.")] = None,
) -> None:
    """Apply a fix to a task's buggy state in its stored environment and run FAIL_TO_PASS and
    PASS_TO_PASS. Test files, conftest.py and pytest configuration are restored first (and the
    solution flagged). Exit code 0 only when every solution is resolved."""
    if not db.exists():
        raise fail(f"{db} does not exist; pass --db with a store made by `synth run`")
    if patches is not None:
        if task_id or patch or gold:
            raise fail("--patches scores a batch: give no TASK_ID, --patch or --gold with it")
        _batch(patches, db, runs, workers, timeout, cache_dir, address, as_json)
        return
    if not task_id or (patch is None) == (not gold):
        raise fail("give TASK_ID and exactly one of --patch FILE or --gold (or --patches)")
    _single(task_id, patch, gold, db, runs, timeout, cache_dir, as_json)


def _config(db_env, timeout: float, cache_dir: Path | None):
    from synth.envs.backend import BackendConfig, Limits

    return BackendConfig(kind=db_env.backend, cache_dir=cache_dir or default_cache_dir(),
                         limits=Limits(timeout_s=timeout))


def _single(task_id: str, patch: Path | None, gold: bool, db: Path, runs: int, timeout: float,
            cache_dir: Path | None, as_json: bool) -> None:
    from synth.data.store import Store, StoreError
    from synth.envs.backend import build_backend
    from synth.pipelines.verify import load_context
    from synth.verifiers.solution import gold_patch, verify_solution

    try:
        with Store.open(db) as store:
            ctx = load_context(store, task_id)
    except StoreError as exc:
        raise fail(str(exc)) from None
    if gold:
        text = gold_patch(ctx.task)
    elif str(patch) == "-":
        text = sys.stdin.read()
    elif patch is not None and patch.is_file():
        text = patch.read_text(encoding="utf-8")
    else:
        raise fail(f"--patch {patch}: no such file")
    backend = build_backend(_config(ctx.environment, timeout, cache_dir))
    try:
        verdict = verify_solution(backend, ctx, text, runs=runs)
    finally:
        backend.close()
    with Store.open(db) as store:
        store.write_solutions([(verdict, text)])
    if as_json:
        print(verdict.model_dump_json(indent=2))
    else:
        _show(verdict, tests=True)
    raise typer.Exit(code=0 if verdict.resolved else 1)


def _batch(path: Path, db: Path, runs: int, workers: int, timeout: float,
           cache_dir: Path | None, address: str | None, as_json: bool) -> None:
    from synth.data.store import Store, StoreError
    from synth.pipelines.verify import SubmissionError, load_context, read_submissions, verify_many
    from synth.verifiers.solution import resolve_rate

    if not path.exists():
        raise fail(f"--patches {path}: no such file or folder")
    try:
        subs = read_submissions(path)
        if not subs:
            raise fail(f"--patches {path}: no submissions in it")
        with Store.open(db) as store:
            env = load_context(store, subs[0].instance_id).environment
        verdicts = verify_many(db, subs, _config(env, timeout, cache_dir), runs=runs,
                               workers=workers, address=address)
    except (StoreError, SubmissionError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        for v in verdicts:
            print(json.dumps(v.model_dump(mode="json")))
    else:
        for v in verdicts:
            _show(v, tests=False)
        console.print(f"resolved {sum(v.resolved for v in verdicts)}/{len(verdicts)} "
                      f"({resolve_rate(verdicts):.0%})")
    raise typer.Exit(code=0 if all(v.resolved for v in verdicts) else 1)


def _show(v, *, tests: bool) -> None:
    from rich.markup import escape

    colour = {"resolved": "green", "partial": "yellow"}.get(v.outcome.value, "red")
    # Reasons and evidence quote test ids and code ("test_x[a-b]"): never rich markup.
    console.print(f"[bold {colour}]{v.outcome.value}[/] {v.instance_id}: FAIL_TO_PASS "
                  f"{v.fail_to_pass_passed}/{v.fail_to_pass_total}, PASS_TO_PASS "
                  f"{v.pass_to_pass_passed}/{v.pass_to_pass_total} ({v.duration_s:.1f}s)"
                  + (f" — {escape(v.reason)}" if v.reason else ""), highlight=False)
    if v.canary and v.resolved:
        console.print(f"  canary: {escape(v.canary)} (its tests failed, as they must)",
                      highlight=False)
    if v.flags:
        console.print(f"  flagged: {', '.join(f.value for f in v.flags)}; restored before "
                      f"running: {', '.join(v.dropped)}", highlight=False)
    if tests:
        for t in v.tests:
            mark = "[green]pass[/]" if t.passed else "[red]FAIL[/]"
            console.print(f"  {mark} {t.expected} {t.test_id} ({t.status.value})",
                          highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(verify)

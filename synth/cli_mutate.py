"""Bug-injection views for the CLI: the funnel tables with their shares, and `synth operators`.

The funnel of one key (a repo, a strategy, an operator) is: mutations *generated* (built), the
*parsed* ones kept as candidates (they compile, change something, and repeat no other patch),
those that *broke* at least one test, and those *validated* as tasks. How many were generated is
only known to the run that generated them; the store keeps candidates onwards. So `synth run`
shows all four steps and `synth stats` starts at the candidates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from synth.choices import StatementStyle
from synth.records import Strategy

if TYPE_CHECKING:  # the store (and DuckDB) load only when a command needs them
    from synth.data.store import FunnelRow


def share(n: int, of: int) -> str:
    return f"{100 * n / of:.0f}%" if of else "-"


def funnel_table(
    by: str,
    rows: Sequence[FunnelRow],
    *,
    tried: Mapping[str, int] | None = None,
    dropped: Mapping[str, Mapping[str, int]] | None = None,
) -> Table:
    """One funnel table; with ``tried`` (mutations built per key in this run), shares are of
    what was generated, else of the stored candidates."""
    table = Table(title=f"funnel by {by}")
    columns = [by, "generated", "parsed", "broke ≥1 test", "validated", "dropped / rejected"]
    if tried is None:
        columns.remove("generated")
    for col in columns:
        left = col in (by, columns[-1])
        table.add_column(col, justify="left" if left else "right", no_wrap=col == by)
    for r in rows:
        drops = (dropped or {}).get(r.key, {})
        generated = parsed = r.generated
        if tried is not None and r.key in tried:  # this run generated them: count from there
            generated = tried[r.key]
            parsed = generated - sum(drops.values())
        losses = [f"dropped {k} {v}" for k, v in sorted(drops.items())]
        losses += [f"{k} {v}" for k, v in sorted(r.rejected_by_reason.items())]
        cells = [
            r.key,
            f"{parsed} ({share(parsed, generated)})" if tried else str(parsed),
            f"{r.broke} ({share(r.broke, generated)})",
            f"{r.validated} ({share(r.validated, generated)})",
            ", ".join(losses) or "-",
        ]
        if tried is not None:
            cells.insert(1, str(generated))
        table.add_row(*cells)
    return table


def register(app: typer.Typer) -> None:
    @app.command()
    def operators() -> None:
        """The mutation operators: name, what they change, and where."""
        from synth.operators import REGISTRY

        table = Table()
        for col in ("operator", "scope", "changes"):
            table.add_column(col)
        for name, operator in REGISTRY.items():
            table.add_row(name, operator.scope.value, operator.summary)
        Console().print(table)
        Console().print(f"{len(REGISTRY)} operators")


def generation_by(
    by: str, tried: Mapping[str, int] | None, dropped: Mapping[str, Mapping[str, int]] | None
) -> tuple[Mapping[str, int] | None, Mapping[str, Mapping[str, int]] | None]:
    """A run's per-operator generation counts, regrouped for a funnel table ``by`` key.

    Only procedural mutations are generated and dropped before becoming candidates; per repo
    the run does not keep them apart, so that table starts at the candidates.
    """
    if not tried or by == "repo":
        return None, None
    if by == "operator":
        return tried, dropped
    merged: dict[str, int] = {}
    for reasons in (dropped or {}).values():
        for reason, n in reasons.items():
            merged[reason] = merged.get(reason, 0) + n
    return {"procedural": sum(tried.values())}, {"procedural": merged}


def strategy_options(
    strategies: Sequence[Strategy] | None,
    *,
    max_fixes: int,
    max_combined: int,
    max_fix_files: int = 8,
    max_fix_lines: int = 200,
    statement_style: StatementStyle = StatementStyle.AUTO,
    lm_url: str | None,
    lm_model: str | None,
):
    """``synth run``'s bug-strategy and statement options as a ``StrategyOptions``; ValueError
    with a message for the user when they do not fit together."""
    from synth.lm import LMConfig
    from synth.mirror import FixLimits
    from synth.pipelines.flow import StrategyOptions
    from synth.statement import Style

    chosen = frozenset(strategies or (Strategy.PROCEDURAL,))
    if Strategy.COMBINE in chosen and Strategy.PROCEDURAL not in chosen:
        raise ValueError(
            "--strategy combine merges validated procedural bugs: add --strategy procedural"
        )
    style = None if statement_style is StatementStyle.AUTO else Style(statement_style)
    lm = None
    if lm_url or lm_model:
        if not (lm_url and lm_model):
            raise ValueError("--lm-url and --lm-model go together")
        lm = LMConfig(url=lm_url, model=lm_model)
    return StrategyOptions(
        strategies=chosen,
        fix_limits=FixLimits(
            max_commits=max_fixes, max_files=max_fix_files, max_lines=max_fix_lines
        ),
        max_combined=max_combined,
        style=style,
        lm=lm,
    )

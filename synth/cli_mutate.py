"""Bug-injection views for the CLI: the funnel tables with their shares, and `synth operators`.

The funnel of one key (a repo, a strategy, an operator) is: mutations *generated* (built), the
*parsed* ones kept as candidates (they compile, change something, and repeat no other patch),
those that *broke* at least one test, and those *validated* as tasks. How many were generated is
only known to the run that generated them; the store keeps candidates onwards. So `synth run`
shows all four steps and `synth stats` starts at the candidates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import typer
from rich.console import Console
from rich.table import Table

from data.store import FunnelRow


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
        generated = tried.get(r.key, r.generated) if tried is not None else r.generated
        losses = {**(dropped or {}).get(r.key, {}), **r.rejected_by_reason}
        cells = [
            r.key,
            f"{r.generated} ({share(r.generated, generated)})" if tried else str(r.generated),
            f"{r.broke} ({share(r.broke, generated)})",
            f"{r.validated} ({share(r.validated, generated)})",
            ", ".join(f"{k} {v}" for k, v in sorted(losses.items())) or "-",
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

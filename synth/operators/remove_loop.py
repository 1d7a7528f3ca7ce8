"""Drop a whole `for` / `while` loop from a block."""

from __future__ import annotations

from functools import partial

import libcst as cst

from synth.operators.base import Operator, SiteContext, Variant, replace_statement
from synth.operators.remove_statement import statement_code


def _variants(block: cst.IndentedBlock, ctx: SiteContext) -> list[Variant]:
    if len(block.body) < 2:
        return []
    return [
        Variant(
            f"remove the loop `{statement_code(ctx, stmt)}`",
            partial(replace_statement, block, i, ()),
        )
        for i, stmt in enumerate(block.body)
        if isinstance(stmt, (cst.For, cst.While))
    ]


OPERATOR = Operator(
    "remove_loop", (cst.IndentedBlock,), _variants, summary="remove a `for` / `while` loop"
)

"""Drop an early `return` (the function falls through to the code after it)."""

from __future__ import annotations

from functools import partial

import libcst as cst

from synth.operators.base import (
    Operator,
    SiteContext,
    Variant,
    function_body_block,
    pass_line,
    replace_statement,
    single_small,
)
from synth.operators.remove_statement import statement_code


def _variants(block: cst.IndentedBlock, ctx: SiteContext) -> list[Variant]:
    # The function's final return is return_value's business: removing it only returns None.
    top = ctx.original is function_body_block(ctx)
    variants = []
    for i, stmt in enumerate(block.body):
        if not single_small(stmt, cst.Return) or (top and i == len(block.body) - 1):
            continue
        replacement = () if len(block.body) > 1 else (pass_line(),)
        build = partial(replace_statement, block, i, replacement)
        variants.append(Variant(f"remove `{statement_code(ctx, stmt)}`", build))
    return variants


OPERATOR = Operator(
    "remove_return", (cst.IndentedBlock,), _variants, summary="remove an early `return`"
)

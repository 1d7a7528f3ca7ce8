"""Two adjacent statements swapped: an ordering bug (update before read, reset after use)."""

from __future__ import annotations

from functools import partial

import libcst as cst

from synth.operators.base import Operator, SiteContext, Variant
from synth.operators.remove_statement import removable


def _swapped(block: cst.IndentedBlock, i: int) -> cst.IndentedBlock:
    body = list(block.body)
    first, second = body[i], body[i + 1]
    # Each position keeps its own leading comments and blank lines; only the statements move.
    body[i] = second.with_changes(leading_lines=first.leading_lines)  # type: ignore[attr-defined]
    body[i + 1] = first.with_changes(leading_lines=second.leading_lines)  # type: ignore[attr-defined]
    return block.with_changes(body=body)


def _variants(block: cst.IndentedBlock, ctx: SiteContext) -> list[Variant]:
    variants = []
    for i in range(len(block.body) - 1):
        first, second = block.body[i], block.body[i + 1]
        if not (removable(first) and removable(second)):
            continue
        if ctx.code(first).strip() == ctx.code(second).strip():
            continue
        variants.append(Variant("swap two adjacent statements", partial(_swapped, block, i)))
    return variants


OPERATOR = Operator(
    "shuffle_statements",
    (cst.IndentedBlock,),
    _variants,
    summary="swap two adjacent simple statements",
)

"""`total += x` -> `total = x`: an accumulator overwritten instead of updated."""

from __future__ import annotations

from functools import partial

import libcst as cst

from synth.operators.base import Operator, SiteContext, Variant


def _variants(node: cst.AugAssign, ctx: SiteContext) -> list[Variant]:
    build = partial(
        cst.Assign,
        targets=[
            cst.AssignTarget(
                target=node.target,
                whitespace_before_equal=node.operator.whitespace_before,  # type: ignore[attr-defined]
                whitespace_after_equal=node.operator.whitespace_after,  # type: ignore[attr-defined]
            )
        ],
        value=node.value,
        semicolon=node.semicolon,
    )
    return [Variant(f"`{ctx.code(node.operator)}` -> `=`", build)]


OPERATOR = Operator("aug_to_assign", (cst.AugAssign,), _variants, summary="`x += y` -> `x = y`")

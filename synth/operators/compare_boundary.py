"""`a < b` -> `a <= b`: an off-by-one at a boundary, the strictness of a comparison changed."""

from __future__ import annotations

import libcst as cst

from synth.operators.base import Operator, SiteContext, Variant
from synth.operators.compare_flip import comparison_swaps

BOUNDARIES: dict[type[cst.BaseCompOp], tuple[type[cst.BaseCompOp], str, str]] = {
    cst.LessThan: (cst.LessThanEqual, "<", "<="),
    cst.LessThanEqual: (cst.LessThan, "<=", "<"),
    cst.GreaterThan: (cst.GreaterThanEqual, ">", ">="),
    cst.GreaterThanEqual: (cst.GreaterThan, ">=", ">"),
}


def _variants(node: cst.Comparison, ctx: SiteContext) -> list[Variant]:
    return comparison_swaps(node, BOUNDARIES)


OPERATOR = Operator(
    "compare_boundary", (cst.Comparison,), _variants, summary="boundary: `<` <-> `<=`"
)

"""`is` <-> `is not`, `in` <-> `not in`."""

from __future__ import annotations

import libcst as cst

from synth.operators.base import Operator, SiteContext, Variant
from synth.operators.compare_flip import comparison_swaps

FLIPS: dict[type[cst.BaseCompOp], tuple[type[cst.BaseCompOp], str, str]] = {
    cst.In: (cst.NotIn, "in", "not in"),
    cst.NotIn: (cst.In, "not in", "in"),
    cst.Is: (cst.IsNot, "is", "is not"),
    cst.IsNot: (cst.Is, "is not", "is"),
}


def _variants(node: cst.Comparison, ctx: SiteContext) -> list[Variant]:
    return comparison_swaps(node, FLIPS)


OPERATOR = Operator(
    "is_in_flip", (cst.Comparison,), _variants, summary="`is` <-> `is not`, `in` <-> `not in`"
)

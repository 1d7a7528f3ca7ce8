"""`a < b` -> `a >= b`: a comparison replaced by its negation (ordering and equality)."""

from __future__ import annotations

from functools import partial

import libcst as cst

from synth.operators.base import Operator, SiteContext, Variant, same_whitespace

FLIPS: dict[type[cst.BaseCompOp], tuple[type[cst.BaseCompOp], str, str]] = {
    cst.LessThan: (cst.GreaterThanEqual, "<", ">="),
    cst.GreaterThanEqual: (cst.LessThan, ">=", "<"),
    cst.LessThanEqual: (cst.GreaterThan, "<=", ">"),
    cst.GreaterThan: (cst.LessThanEqual, ">", "<="),
    cst.Equal: (cst.NotEqual, "==", "!="),
    cst.NotEqual: (cst.Equal, "!=", "=="),
}


def comparison_swaps(
    node: cst.Comparison,
    table: dict[type[cst.BaseCompOp], tuple[type[cst.BaseCompOp], str, str]],
) -> list[Variant]:
    """One variant per comparator of ``node`` whose operator ``table`` maps to another."""
    variants = []
    for i, target in enumerate(node.comparisons):
        swap = table.get(type(target.operator))
        if swap is None:
            continue
        new_cls, old, new = swap
        targets = list(node.comparisons)
        targets[i] = target.with_changes(operator=same_whitespace(target.operator, new_cls))
        variants.append(
            Variant(f"`{old}` -> `{new}`", partial(node.with_changes, comparisons=targets))
        )
    return variants


def _variants(node: cst.Comparison, ctx: SiteContext) -> list[Variant]:
    return comparison_swaps(node, FLIPS)


OPERATOR = Operator(
    "compare_flip", (cst.Comparison,), _variants, summary="negate a comparison: `<` -> `>=`"
)

"""`a - b` -> `b - a`, `x < y` -> `y < x`: the operands of a non-commutative operator swapped."""

from __future__ import annotations

from functools import partial

import libcst as cst

from synth.operators.base import STRING_NODES, Operator, SiteContext, Variant, parenthesized

NON_COMMUTATIVE = (
    cst.Subtract,
    cst.Divide,
    cst.FloorDivide,
    cst.Modulo,
    cst.Power,
    cst.LeftShift,
    cst.RightShift,
)
ORDERING = (cst.LessThan, cst.LessThanEqual, cst.GreaterThan, cst.GreaterThanEqual)


def _variants(node: cst.BinaryOperation | cst.Comparison, ctx: SiteContext) -> list[Variant]:
    if isinstance(node, cst.BinaryOperation):
        if not isinstance(node.operator, NON_COMMUTATIVE):
            return []
        left, right = node.left, node.right
        if isinstance(left, STRING_NODES) or ctx.code(left) == ctx.code(right):
            return []
        build = partial(node.with_changes, left=parenthesized(right), right=parenthesized(left))
        return [Variant("swap the operands", build)]
    if len(node.comparisons) != 1 or not isinstance(node.comparisons[0].operator, ORDERING):
        return []
    target = node.comparisons[0]
    if ctx.code(node.left) == ctx.code(target.comparator):
        return []
    swapped = target.with_changes(comparator=parenthesized(node.left))
    build = partial(node.with_changes, left=parenthesized(target.comparator), comparisons=[swapped])
    return [Variant("swap the compared operands", build)]


OPERATOR = Operator(
    "swap_operands",
    (cst.BinaryOperation, cst.Comparison),
    _variants,
    summary="swap the operands of `-`, `/`, `//`, `%`, `**`, shifts, `<`-like comparisons",
)

"""`a + b` -> `a - b`, `x *= 2` -> `x //= 2`: arithmetic operators swapped within their family."""

from __future__ import annotations

from functools import partial

import libcst as cst

from synth.operators.base import STRING_NODES, Operator, SiteContext, Variant, same_whitespace

SWAPS: dict[type[cst.CSTNode], tuple[type[cst.CSTNode], str, str]] = {
    cst.Add: (cst.Subtract, "+", "-"),
    cst.Subtract: (cst.Add, "-", "+"),
    cst.Multiply: (cst.FloorDivide, "*", "//"),
    cst.FloorDivide: (cst.Multiply, "//", "*"),
    cst.Divide: (cst.Multiply, "/", "*"),
    cst.Modulo: (cst.FloorDivide, "%", "//"),
    cst.Power: (cst.Multiply, "**", "*"),
    cst.AddAssign: (cst.SubtractAssign, "+=", "-="),
    cst.SubtractAssign: (cst.AddAssign, "-=", "+="),
    cst.MultiplyAssign: (cst.FloorDivideAssign, "*=", "//="),
    cst.FloorDivideAssign: (cst.MultiplyAssign, "//=", "*="),
    cst.DivideAssign: (cst.MultiplyAssign, "/=", "*="),
    cst.ModuloAssign: (cst.FloorDivideAssign, "%=", "//="),
}


def operator_swap(
    node: cst.BinaryOperation | cst.AugAssign,
    table: dict[type[cst.CSTNode], tuple[type[cst.CSTNode], str, str]],
) -> list[Variant]:
    """The variant of ``node`` with its operator mapped through ``table``, if it is there."""
    swap = table.get(type(node.operator))
    if swap is None:
        return []
    new_cls, old, new = swap
    op = same_whitespace(node.operator, new_cls)
    return [Variant(f"`{old}` -> `{new}`", partial(node.with_changes, operator=op))]


def _variants(node: cst.BinaryOperation | cst.AugAssign, ctx: SiteContext) -> list[Variant]:
    # "a" + b and "%s" % x are string operations; swapping them only yields a TypeError.
    sides = (node.left, node.right) if isinstance(node, cst.BinaryOperation) else (node.value,)
    if any(isinstance(side, STRING_NODES) for side in sides):
        return []
    return operator_swap(node, SWAPS)


OPERATOR = Operator(
    "arith_swap",
    (cst.BinaryOperation, cst.AugAssign),
    _variants,
    summary="arithmetic: `+` <-> `-`, `*` <-> `//`, `/` -> `*`, `%` -> `//`, `**` -> `*`",
)

"""`a & b` -> `a | b`, `x << n` -> `x >> n`: bitwise (and set) operators swapped."""

from __future__ import annotations

import libcst as cst

from synth.operators.arith_swap import operator_swap
from synth.operators.base import Operator, SiteContext, Variant

SWAPS: dict[type[cst.CSTNode], tuple[type[cst.CSTNode], str, str]] = {
    cst.BitAnd: (cst.BitOr, "&", "|"),
    cst.BitOr: (cst.BitAnd, "|", "&"),
    cst.BitXor: (cst.BitOr, "^", "|"),
    cst.LeftShift: (cst.RightShift, "<<", ">>"),
    cst.RightShift: (cst.LeftShift, ">>", "<<"),
    cst.BitAndAssign: (cst.BitOrAssign, "&=", "|="),
    cst.BitOrAssign: (cst.BitAndAssign, "|=", "&="),
    cst.BitXorAssign: (cst.BitOrAssign, "^=", "|="),
    cst.LeftShiftAssign: (cst.RightShiftAssign, "<<=", ">>="),
    cst.RightShiftAssign: (cst.LeftShiftAssign, ">>=", "<<="),
}


def _variants(node: cst.BinaryOperation | cst.AugAssign, ctx: SiteContext) -> list[Variant]:
    return operator_swap(node, SWAPS)


OPERATOR = Operator(
    "bitwise_swap",
    (cst.BinaryOperation, cst.AugAssign),
    _variants,
    summary="bitwise / set: `&` <-> `|`, `^` -> `|`, `<<` <-> `>>`",
)

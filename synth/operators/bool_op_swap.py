"""`a and b` <-> `a or b`."""

from __future__ import annotations

from functools import partial

import libcst as cst

from synth.operators.base import Operator, SiteContext, Variant, same_whitespace


def _variants(node: cst.BooleanOperation, ctx: SiteContext) -> list[Variant]:
    if isinstance(node.operator, cst.And):
        new_cls: type[cst.BaseBooleanOp] = cst.Or
        old, new = "and", "or"
    else:
        new_cls, old, new = cst.And, "or", "and"
    op = same_whitespace(node.operator, new_cls)
    return [Variant(f"`{old}` -> `{new}`", partial(node.with_changes, operator=op))]


OPERATOR = Operator("bool_op_swap", (cst.BooleanOperation,), _variants, summary="`and` <-> `or`")

"""`if c: A else: B` -> `if c: B else: A`."""

from __future__ import annotations

from functools import partial

import libcst as cst

from synth.operators.base import Operator, SiteContext, Variant


def _variants(node: cst.If, ctx: SiteContext) -> list[Variant]:
    orelse = node.orelse
    if not (
        isinstance(orelse, cst.Else)
        and isinstance(node.body, cst.IndentedBlock)
        and isinstance(orelse.body, cst.IndentedBlock)
    ):
        return []
    # Only the statements move; each block keeps its own header comment and indentation.
    body = node.body.with_changes(body=orelse.body.body)
    new_else = orelse.with_changes(body=orelse.body.with_changes(body=node.body.body))
    return [
        Variant(
            "swap `if` and `else` bodies", partial(node.with_changes, body=body, orelse=new_else)
        )
    ]


OPERATOR = Operator("swap_if_else", (cst.If,), _variants, summary="swap the `if` and `else` bodies")

"""`break` <-> `continue`."""

from __future__ import annotations

from functools import partial

import libcst as cst

from synth.operators.base import Operator, SiteContext, Variant


def _variants(node: cst.Break | cst.Continue, ctx: SiteContext) -> list[Variant]:
    if isinstance(node, cst.Break):
        return [Variant("`break` -> `continue`", partial(cst.Continue, semicolon=node.semicolon))]
    return [Variant("`continue` -> `break`", partial(cst.Break, semicolon=node.semicolon))]


OPERATOR = Operator(
    "break_continue", (cst.Break, cst.Continue), _variants, summary="`break` <-> `continue`"
)

"""`for x in xs:` -> `for x in ():`, `while c:` -> `while False:`: a loop that never runs."""

from __future__ import annotations

from functools import partial

import libcst as cst
import libcst.matchers as m

from synth.operators.base import Operator, SiteContext, Variant


def _variants(node: cst.For | cst.While, ctx: SiteContext) -> list[Variant]:
    if isinstance(node, cst.For):
        if m.matches(node.iter, m.Tuple(elements=[]) | m.List(elements=[])):
            return []
        build = partial(node.with_changes, iter=cst.Tuple(elements=[]))
        return [Variant(f"iterate over `()` instead of `{ctx.code(node.iter)}`", build)]
    if m.matches(node.test, m.Name("False")):
        return []
    build = partial(node.with_changes, test=cst.Name("False"))
    return [Variant(f"`while {ctx.code(node.test)}:` -> `while False:`", build)]


OPERATOR = Operator(
    "zero_iteration_loop",
    (cst.For, cst.While),
    _variants,
    summary="a loop that runs zero times",
)

"""`with ctx: A` -> `A`: a context manager (a lock, a suppression, a redirect) removed."""

from __future__ import annotations

from functools import partial

import libcst as cst

from synth.operators.base import Operator, SiteContext, Variant, lifted, replace_statement


def _variants(block: cst.IndentedBlock, ctx: SiteContext) -> list[Variant]:
    variants = []
    for i, stmt in enumerate(block.body):
        # `with open(p) as fh:` unwrapped only leaves a NameError behind: not a plausible bug.
        if not isinstance(stmt, cst.With) or any(item.asname for item in stmt.items):
            continue
        body = lifted(stmt.body)
        if body:
            items = ", ".join(ctx.code(item.item) for item in stmt.items)
            build = partial(replace_statement, block, i, body)
            variants.append(Variant(f"remove `with {items}:`", build))
    return variants


OPERATOR = Operator(
    "remove_with",
    (cst.IndentedBlock,),
    _variants,
    summary="unwrap a `with` block that binds no name",
)

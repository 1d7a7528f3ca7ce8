"""`try: A except E: B else: C finally: D` -> `A; C; D`: the exception handling removed."""

from __future__ import annotations

from functools import partial

import libcst as cst

from synth.operators.base import Operator, SiteContext, Variant, lifted, replace_statement


def _variants(block: cst.IndentedBlock, ctx: SiteContext) -> list[Variant]:
    variants = []
    for i, stmt in enumerate(block.body):
        if not isinstance(stmt, cst.Try) or not stmt.handlers:
            continue
        parts = [stmt.body]
        if stmt.orelse is not None:
            parts.append(stmt.orelse.body)
        if stmt.finalbody is not None:
            parts.append(stmt.finalbody.body)
        body = lifted(*parts)
        if body:
            build = partial(replace_statement, block, i, body)
            variants.append(Variant("remove the `try` / `except` around its body", build))
    return variants


OPERATOR = Operator(
    "remove_try_except",
    (cst.IndentedBlock,),
    _variants,
    summary="unwrap a `try` / `except`, keeping its body",
)

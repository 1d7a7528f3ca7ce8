"""A condition removed: a guarded block runs always or never, or a test loses an operand."""

from __future__ import annotations

from functools import partial

import libcst as cst

from synth.operators.base import Operator, SiteContext, Variant, lifted, replace_statement


def _block_variants(block: cst.IndentedBlock, ctx: SiteContext) -> list[Variant]:
    variants = []
    for i, stmt in enumerate(block.body):
        if not isinstance(stmt, cst.If) or stmt.orelse is not None:
            continue
        test = ctx.code(stmt.test)
        body = lifted(stmt.body)
        if body:
            build = partial(replace_statement, block, i, body)
            variants.append(Variant(f"run the body of `if {test}:` always", build))
        if len(block.body) > 1:
            build = partial(replace_statement, block, i, ())
            variants.append(Variant(f"drop the guard `if {test}:` and its body", build))
    return variants


def _operand_variants(node: cst.BooleanOperation, ctx: SiteContext) -> list[Variant]:
    parent = ctx.ancestors[-1] if ctx.ancestors else None
    if not isinstance(parent, (cst.If, cst.While, cst.IfExp)) or parent.test is not ctx.original:
        return []
    keep_left = node.left.with_changes(lpar=node.lpar, rpar=node.rpar) if node.lpar else node.left
    keep_right = (
        node.right.with_changes(lpar=node.lpar, rpar=node.rpar) if node.lpar else node.right
    )
    return [
        Variant(f"drop `{ctx.code(node.right)}` from the test", lambda: keep_left),
        Variant(f"drop `{ctx.code(node.left)}` from the test", lambda: keep_right),
    ]


def _variants(node: cst.IndentedBlock | cst.BooleanOperation, ctx: SiteContext) -> list[Variant]:
    if isinstance(node, cst.IndentedBlock):
        return _block_variants(node, ctx)
    return _operand_variants(node, ctx)


OPERATOR = Operator(
    "remove_condition",
    (cst.IndentedBlock, cst.BooleanOperation),
    _variants,
    summary="remove a guard (body always / never runs) or one operand of an `and` / `or` test",
)

"""Drop one simple statement (an assignment, a call, a `raise` ...) from a block."""

from __future__ import annotations

from functools import partial

import libcst as cst

from synth.operators.base import (
    STRING_NODES,
    Operator,
    SiteContext,
    Variant,
    replace_statement,
)

# Statements whose removal is meaningless (pass, docstrings, a loop's trailing continue),
# belongs to another operator (return), or mostly yields a NameError instead of a wrong result.
KEEP = (
    cst.Return,
    cst.Pass,
    cst.Continue,
    cst.Import,
    cst.ImportFrom,
    cst.Global,
    cst.Nonlocal,
)


def removable(stmt: cst.BaseStatement) -> bool:
    """A simple statement line with nothing in it that another operator owns or that is inert."""
    if not isinstance(stmt, cst.SimpleStatementLine):
        return False
    for small in stmt.body:
        if isinstance(small, KEEP):
            return False
        if isinstance(small, cst.Expr) and isinstance(small.value, (*STRING_NODES, cst.Ellipsis)):
            return False  # docstrings, bare strings, `...`
    return True


def statement_code(ctx: SiteContext, stmt: cst.BaseStatement) -> str:
    return ctx.code(stmt.with_changes(leading_lines=())).split("\n", 1)[0]  # type: ignore[attr-defined]


def _variants(block: cst.IndentedBlock, ctx: SiteContext) -> list[Variant]:
    if len(block.body) < 2:  # never leave a body empty
        return []
    return [
        Variant(f"remove `{statement_code(ctx, stmt)}`", partial(replace_statement, block, i, ()))
        for i, stmt in enumerate(block.body)
        if removable(stmt)
    ]


OPERATOR = Operator(
    "remove_statement",
    (cst.IndentedBlock,),
    _variants,
    summary="remove an assignment or expression statement",
)

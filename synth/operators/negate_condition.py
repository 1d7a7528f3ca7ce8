"""`if x:` -> `if not x:` (also `while` tests and conditional expressions)."""

from __future__ import annotations

from functools import partial

import libcst as cst

from synth.operators.base import SPACE, Operator, SiteContext, Variant, is_constant_test, negated


def _variants(node: cst.If | cst.While | cst.IfExp, ctx: SiteContext) -> list[Variant]:
    if is_constant_test(node.test):  # `while True:` -> a loop that never runs: another operator
        return []
    test = negated(node.test)
    if isinstance(node, cst.If):
        build = partial(node.with_changes, test=test, whitespace_before_test=SPACE)
        return [Variant("negate `if` test", build)]
    if isinstance(node, cst.While):
        build = partial(node.with_changes, test=test, whitespace_after_while=SPACE)
        return [Variant("negate `while` test", build)]
    build = partial(node.with_changes, test=test, whitespace_after_if=SPACE)
    return [Variant("negate conditional expression test", build)]


OPERATOR = Operator(
    "negate_condition",
    (cst.If, cst.While, cst.IfExp),
    _variants,
    summary="negate an `if` / `while` / conditional-expression test",
)

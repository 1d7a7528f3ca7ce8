"""`f(a, b)` -> `f(b, a)`: two adjacent positional arguments swapped."""

from __future__ import annotations

from functools import partial

import libcst as cst

from synth.operators.base import Operator, SiteContext, Variant


def _swapped(node: cst.Call, i: int) -> cst.Call:
    args = list(node.args)
    first, second = args[i], args[i + 1]
    args[i] = first.with_changes(value=second.value)  # commas and spacing stay in place
    args[i + 1] = second.with_changes(value=first.value)
    return node.with_changes(args=args)


def _variants(node: cst.Call, ctx: SiteContext) -> list[Variant]:
    variants = []
    for i in range(len(node.args) - 1):
        first, second = node.args[i], node.args[i + 1]
        if first.keyword or second.keyword or first.star or second.star:
            continue
        a, b = ctx.code(first.value), ctx.code(second.value)
        if a != b:
            variants.append(
                Variant(f"swap the arguments `{a}` and `{b}`", partial(_swapped, node, i))
            )
    return variants


OPERATOR = Operator(
    "swap_call_args", (cst.Call,), _variants, summary="swap two adjacent positional arguments"
)

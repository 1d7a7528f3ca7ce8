"""`f(a, b, key=k)` -> `f(a, key=k)` / `f(a, b)`: an argument left out of a call."""

from __future__ import annotations

from functools import partial

import libcst as cst

from synth.operators.base import Operator, SiteContext, Variant, call_name, without_arg

# Calls whose arguments only shape output nobody asserts on.
QUIET_CALLS = frozenset(
    {"print", "debug", "info", "warning", "warn", "error", "exception", "critical", "log"}
)


def _arg_code(ctx: SiteContext, arg: cst.Arg) -> str:
    return ctx.code(arg.with_changes(comma=cst.MaybeSentinel.DEFAULT))


def _variants(node: cst.Call, ctx: SiteContext) -> list[Variant]:
    if call_name(node) in QUIET_CALLS:
        return []
    positional = [i for i, a in enumerate(node.args) if a.keyword is None and not a.star]
    droppable = [i for i, a in enumerate(node.args) if a.keyword is not None]
    # Dropping the only positional argument mostly raises a TypeError; the last of several can
    # fall back to a default, which is the interesting bug.
    if len(positional) >= 2 and positional[-1] == len(node.args) - 1 - len(droppable):
        droppable.append(positional[-1])
    return [
        Variant(
            f"drop the argument `{_arg_code(ctx, node.args[i])}`", partial(without_arg, node, i)
        )
        for i in sorted(droppable)
    ]


OPERATOR = Operator(
    "drop_call_arg",
    (cst.Call,),
    _variants,
    summary="drop a keyword argument, or the last of several positional ones",
)

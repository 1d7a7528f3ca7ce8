"""`f(a, key=k)` -> `f(a, key=None)`: an argument replaced by None."""

from __future__ import annotations

from functools import partial

import libcst as cst
import libcst.matchers as m

from synth.operators.base import Operator, SiteContext, Variant, call_name
from synth.operators.drop_call_arg import QUIET_CALLS

# Builtins whose None argument raises a TypeError at once: a crash, not a plausible bug.
_STRICT = frozenset({"len", "isinstance", "issubclass", "getattr", "hasattr", "range", "int"})


def _with_none(node: cst.Call, i: int) -> cst.Call:
    args = list(node.args)
    args[i] = args[i].with_changes(value=cst.Name("None"))
    return node.with_changes(args=args)


def _variants(node: cst.Call, ctx: SiteContext) -> list[Variant]:
    if call_name(node) in QUIET_CALLS | _STRICT:
        return []
    return [
        Variant(f"`{ctx.code(arg.value)}` -> `None`", partial(_with_none, node, i))
        for i, arg in enumerate(node.args)
        if not arg.star and not m.matches(arg.value, m.Name("None"))
    ]


OPERATOR = Operator(
    "arg_to_none", (cst.Call,), _variants, summary="replace a call argument by `None`"
)

"""`min(...)` <-> `max(...)`."""

from __future__ import annotations

from functools import partial

import libcst as cst

from synth.operators.base import Operator, SiteContext, Variant


def _variants(node: cst.Call, ctx: SiteContext) -> list[Variant]:
    func = node.func
    if not (isinstance(func, cst.Name) and func.value in {"min", "max"}):
        return []
    other = "max" if func.value == "min" else "min"
    build = partial(node.with_changes, func=func.with_changes(value=other))
    return [Variant(f"`{func.value}` -> `{other}`", build)]


OPERATOR = Operator("min_max_swap", (cst.Call,), _variants, summary="`min` <-> `max`")

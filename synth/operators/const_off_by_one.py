"""`3` -> `4` / `2`: an integer constant off by one."""

from __future__ import annotations

from functools import partial

import libcst as cst

from synth.operators.base import Operator, SiteContext, Variant


def _variants(node: cst.Integer, ctx: SiteContext) -> list[Variant]:
    value = node.evaluated_value
    variants = []
    for new in (value + 1, value - 1):
        if new < 0:  # a negative literal is a different node (unary minus); not worth it
            continue
        text = hex(new) if node.value.lower().startswith("0x") else str(new)
        variants.append(Variant(f"{node.value} -> {text}", partial(node.with_changes, value=text)))
    return variants


OPERATOR = Operator(
    "const_off_by_one", (cst.Integer,), _variants, summary="integer constant +1 / -1"
)

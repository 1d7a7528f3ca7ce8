"""`return x` -> `return None`; `return True` <-> `return False`."""

from __future__ import annotations

from functools import partial

import libcst as cst
import libcst.matchers as m

from synth.operators.base import SPACE, Operator, SiteContext, Variant


def _variants(node: cst.Return, ctx: SiteContext) -> list[Variant]:
    value = node.value
    if value is None or m.matches(value, m.Name("None")):
        return []
    if m.matches(value, m.Name("True") | m.Name("False")):
        assert isinstance(value, cst.Name)
        flipped = "False" if value.value == "True" else "True"
        build = partial(node.with_changes, value=value.with_changes(value=flipped))
        return [Variant(f"return {value.value} -> {flipped}", build)]
    if ctx.is_generator():  # a generator's return value is rarely observed; dropping it is no bug
        return []
    build = partial(node.with_changes, value=cst.Name("None"), whitespace_after_return=SPACE)
    return [Variant("return value -> None", build)]


OPERATOR = Operator(
    "return_value", (cst.Return,), _variants, summary="return None, or flip a returned bool"
)

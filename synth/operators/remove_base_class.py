"""`class Strict(Base, Mixin):` -> `class Strict(Base):`: an inherited behaviour lost."""

from __future__ import annotations

from functools import partial

import libcst as cst

from synth.operators.base import Operator, Scope, SiteContext, Variant

# Bases whose removal changes nothing observable, or breaks the class definition outright.
_SKIP = frozenset({"object", "Generic", "Protocol", "ABC", "NamedTuple", "TypedDict", "Enum"})


def _base_name(expr: cst.BaseExpression) -> str:
    if isinstance(expr, cst.Subscript):
        expr = expr.value
    if isinstance(expr, cst.Attribute):
        return expr.attr.value
    return expr.value if isinstance(expr, cst.Name) else ""


def _without(node: cst.ClassDef, i: int) -> cst.ClassDef:
    bases = list(node.bases)
    removed = bases.pop(i)
    if i == len(bases) and bases:
        bases[-1] = bases[-1].with_changes(comma=removed.comma)
    if bases or node.keywords:  # `class A(B, metaclass=M)` keeps its parentheses
        return node.with_changes(bases=bases)
    return node.with_changes(
        bases=(), lpar=cst.MaybeSentinel.DEFAULT, rpar=cst.MaybeSentinel.DEFAULT
    )


def _variants(node: cst.ClassDef, ctx: SiteContext) -> list[Variant]:
    return [
        Variant(f"remove the base class `{ctx.code(base.value)}`", partial(_without, node, i))
        for i, base in enumerate(node.bases)
        if not base.star and _base_name(base.value) not in _SKIP
    ]


OPERATOR = Operator(
    "remove_base_class",
    (cst.ClassDef,),
    _variants,
    scope=Scope.DEFINITION,
    summary="remove a base class",
)

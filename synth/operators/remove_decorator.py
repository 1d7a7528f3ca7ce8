"""`@lru_cache` / `@property` / `@staticmethod` ... dropped from a function or class."""

from __future__ import annotations

from functools import partial

import libcst as cst

from synth.operators.base import Operator, Scope, SiteContext, Variant

# Decorators whose removal changes nothing at run time.
_INERT = frozenset({"overload", "override", "final", "abstractmethod", "runtime_checkable"})


def _without(node: cst.FunctionDef | cst.ClassDef, i: int) -> cst.FunctionDef | cst.ClassDef:
    decorators = list(node.decorators)
    removed = decorators.pop(i)
    lines = tuple(removed.leading_lines)  # comments above it stay where they were
    if i < len(decorators):
        nxt = decorators[i]
        decorators[i] = nxt.with_changes(leading_lines=(*lines, *nxt.leading_lines))
        return node.with_changes(decorators=decorators)
    return node.with_changes(
        decorators=decorators, lines_after_decorators=(*lines, *node.lines_after_decorators)
    )


def _name(decorator: cst.Decorator) -> str:
    expr = decorator.decorator
    if isinstance(expr, cst.Call):
        expr = expr.func
    if isinstance(expr, cst.Attribute):
        return expr.attr.value
    return expr.value if isinstance(expr, cst.Name) else ""


def _variants(node: cst.FunctionDef | cst.ClassDef, ctx: SiteContext) -> list[Variant]:
    return [
        Variant(f"remove `@{ctx.code(d.decorator)}`", partial(_without, node, i))
        for i, d in enumerate(node.decorators)
        if _name(d) not in _INERT
    ]


OPERATOR = Operator(
    "remove_decorator",
    (cst.FunctionDef, cst.ClassDef),
    _variants,
    scope=Scope.DEFINITION,
    summary="remove a decorator",
)

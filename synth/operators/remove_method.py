"""A method removed from a class: the inherited (or default) behaviour takes over."""

from __future__ import annotations

from functools import partial

import libcst as cst

from synth.operators.base import Operator, Scope, SiteContext, Variant, replace_statement

# Without these the object cannot even be built: a crash, not a behaviour change.
_ESSENTIAL = frozenset({"__init__", "__new__", "__init_subclass__", "__post_init__"})


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def _variants(node: cst.ClassDef, ctx: SiteContext) -> list[Variant]:
    block = node.body
    if not isinstance(block, cst.IndentedBlock) or len(block.body) < 2:
        return []
    # A method of a class without bases is only reachable as itself: removing it is an
    # AttributeError. An override (or a dunder, which `object` provides) falls back to something.
    has_base = any(_name(b.value) != "object" for b in node.bases if not b.star)
    prefix = ".".join(ctx.scope)
    variants = []
    for i, stmt in enumerate(block.body):
        if not isinstance(stmt, cst.FunctionDef):
            continue
        name = stmt.name.value
        if name in _ESSENTIAL or not (has_base or _is_dunder(name)):
            continue
        build = partial(_without_method, node, block, i)
        variants.append(Variant(f"remove the method `{name}`", build, f"{prefix}.{name}"))
    return variants


def _without_method(node: cst.ClassDef, block: cst.IndentedBlock, i: int) -> cst.ClassDef:
    return node.with_changes(body=replace_statement(block, i, ()))


def _name(expr: cst.BaseExpression) -> str:
    if isinstance(expr, cst.Attribute):
        return expr.attr.value
    return expr.value if isinstance(expr, cst.Name) else ""


OPERATOR = Operator(
    "remove_method",
    (cst.ClassDef,),
    _variants,
    scope=Scope.DEFINITION,
    summary="remove an overriding or dunder method",
)

"""`def f(x, strict=True)` -> `def f(x, strict=False)`: a parameter default changed."""

from __future__ import annotations

from functools import partial

import libcst as cst
import libcst.matchers as m

from synth.operators.base import Operator, Scope, SiteContext, Variant


def _new_defaults(value: cst.BaseExpression) -> list[cst.BaseExpression]:
    if m.matches(value, m.Name("True") | m.Name("False")):
        assert isinstance(value, cst.Name)
        return [value.with_changes(value="False" if value.value == "True" else "True")]
    if isinstance(value, cst.Integer):
        n = value.evaluated_value
        return [value.with_changes(value=str(k)) for k in (n + 1, n - 1) if k >= 0]
    if isinstance(value, cst.SimpleString) and value.evaluated_value:
        quote = value.quote
        return [value.with_changes(value=f"{value.prefix}{quote}{quote}")]
    return []


def _with_default(node: cst.FunctionDef, field: str, i: int, new: cst.BaseExpression):
    params = list(getattr(node.params, field))
    params[i] = params[i].with_changes(default=new)
    return node.with_changes(params=node.params.with_changes(**{field: params}))


def _variants(node: cst.FunctionDef, ctx: SiteContext) -> list[Variant]:
    variants = []
    for field in ("posonly_params", "params", "kwonly_params"):
        for i, param in enumerate(getattr(node.params, field)):
            if param.default is None:
                continue
            old = ctx.code(param.default)
            for new in _new_defaults(param.default):
                text = f"default of `{param.name.value}`: `{old}` -> `{ctx.code(new)}`"
                variants.append(Variant(text, partial(_with_default, node, field, i, new)))
    return variants


OPERATOR = Operator(
    "change_default",
    (cst.FunctionDef,),
    _variants,
    scope=Scope.DEFINITION,
    summary="change a parameter's default value",
)

"""A variable read replaced by another local of the same type: `width` where `height` was meant.

Types are inferred cheaply inside one function: annotations and defaults of parameters, and
what assignments store (literals, builtin constructors, `len(...)`, `range` loop variables,
string methods). A name whose assignments disagree on a type is never swapped, and a name is only
swapped for one already bound before the read, so the bug is a wrong value, not a NameError.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import libcst as cst

from synth.operators.base import STRING_NODES, Operator, SiteContext, Variant

MAX_ALTERNATIVES = 3
_CONSTRUCTORS = {
    "int": "int",
    "float": "float",
    "str": "str",
    "bool": "bool",
    "bytes": "bytes",
    "list": "list",
    "dict": "dict",
    "set": "set",
    "tuple": "tuple",
    "frozenset": "set",
    "sorted": "list",
    "len": "int",
    "repr": "str",
    "ord": "int",
    "chr": "str",
}
_STR_METHODS = {
    "join": "str",
    "strip": "str",
    "lstrip": "str",
    "rstrip": "str",
    "lower": "str",
    "upper": "str",
    "replace": "str",
    "format": "str",
    "split": "list",
    "rsplit": "list",
    "splitlines": "list",
    "count": "int",
    "find": "int",
    "rfind": "int",
}
_UNKNOWN = ""  # bound, but of a type we cannot tell


@dataclass
class _Locals:
    types: dict[str, str] = field(default_factory=dict)  # name -> type ("" unknown / mixed)
    bound_at: dict[str, int] = field(default_factory=dict)  # name -> order of first binding
    reads: dict[int, tuple[str, int]] = field(default_factory=dict)  # id(Name) -> (name, order)


def _annotation_type(annotation: cst.Annotation | None) -> str:
    if annotation is None:
        return _UNKNOWN
    expr = annotation.annotation
    if isinstance(expr, cst.Subscript):
        expr = expr.value
    if isinstance(expr, cst.Name):
        name = expr.value
        return _CONSTRUCTORS.get(name.lower(), f"ann:{name}") if name != "Optional" else _UNKNOWN
    return _UNKNOWN


def _literal_type(expr: cst.BaseExpression, known: dict[str, str]) -> str:
    if isinstance(expr, cst.Integer):
        return "int"
    if isinstance(expr, cst.Float):
        return "float"
    if isinstance(expr, cst.SimpleString):
        return "bytes" if "b" in expr.prefix.lower() else "str"
    if isinstance(expr, STRING_NODES):
        return "str"
    if isinstance(expr, (cst.List, cst.ListComp)):
        return "list"
    if isinstance(expr, (cst.Dict, cst.DictComp)):
        return "dict"
    if isinstance(expr, (cst.Set, cst.SetComp)):
        return "set"
    if isinstance(expr, cst.Tuple):
        return "tuple"
    if isinstance(expr, cst.Comparison) or (
        isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not)
    ):
        return "bool"
    if isinstance(expr, cst.Name):
        if expr.value in ("True", "False"):
            return "bool"
        return known.get(expr.value, _UNKNOWN)
    if isinstance(expr, cst.Call):
        if isinstance(expr.func, cst.Name):
            return _CONSTRUCTORS.get(expr.func.value, _UNKNOWN)
        if isinstance(expr.func, cst.Attribute):
            return _STR_METHODS.get(expr.func.attr.value, _UNKNOWN)
    if isinstance(expr, cst.BinaryOperation):
        left, right = _literal_type(expr.left, known), _literal_type(expr.right, known)
        if left == right or not right:
            return left
        return right if not left else _UNKNOWN
    return _UNKNOWN


class _Collector(cst.CSTVisitor):
    """One pass over a function body: where each local is bound, its type, and every read."""

    def __init__(self, info: _Locals) -> None:
        super().__init__()
        self.info = info
        self.order = 0
        self._quiet = 0  # > 0 where a Name is not a read of a local (targets, attributes ...)

    def bind(self, name: str, kind: str) -> None:
        self.info.bound_at.setdefault(name, self.order)
        old = self.info.types.get(name)
        self.info.types[name] = kind if old is None or old == kind else _UNKNOWN

    def bind_target(self, target: cst.BaseExpression, kind: str) -> None:
        if isinstance(target, cst.Name):
            self.bind(target.value, kind)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self.bind_target(element.value, _UNKNOWN)

    # Scopes of their own: their names are not this function's locals.
    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.bind(node.name.value, _UNKNOWN)
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self.bind(node.name.value, _UNKNOWN)
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_Name(self, node: cst.Name) -> None:
        self.order += 1
        if not self._quiet:
            self.info.reads[id(node)] = (node.value, self.order)

    def _hush(self, node: cst.CSTNode) -> None:
        self._quiet += 1

    def _unhush(self, node: cst.CSTNode) -> None:
        self._quiet -= 1

    visit_AssignTarget_target = _hush
    leave_AssignTarget_target = _unhush
    visit_AnnAssign_target = _hush
    leave_AnnAssign_target = _unhush
    visit_AugAssign_target = _hush
    leave_AugAssign_target = _unhush
    visit_For_target = _hush
    leave_For_target = _unhush
    visit_CompFor_target = _hush
    leave_CompFor_target = _unhush
    visit_AsName_name = _hush
    leave_AsName_name = _unhush
    visit_NamedExpr_target = _hush
    leave_NamedExpr_target = _unhush
    visit_Attribute_attr = _hush
    leave_Attribute_attr = _unhush
    visit_Arg_keyword = _hush
    leave_Arg_keyword = _unhush
    visit_Call_func = _hush
    leave_Call_func = _unhush
    visit_Del_target = _hush
    leave_Del_target = _unhush
    visit_ImportAlias = _hush
    leave_ImportAlias = _unhush
    visit_Global = _hush
    leave_Global = _unhush
    visit_Nonlocal = _hush
    leave_Nonlocal = _unhush

    # Bindings count from the end of their statement: `x = x + 1` reads the old x.
    def leave_Assign(self, node: cst.Assign) -> None:
        kind = _literal_type(node.value, self.info.types)
        for target in node.targets:
            self.bind_target(target.target, kind)

    def leave_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            kind = _annotation_type(node.annotation) or _literal_type(node.value, self.info.types)
            self.bind_target(node.target, kind)

    def leave_For_iter(self, node: cst.For) -> None:
        kind = _UNKNOWN
        if isinstance(node.iter, cst.Call) and isinstance(node.iter.func, cst.Name):
            if node.iter.func.value == "range":
                kind = "int"
        self.bind_target(node.target, kind)

    def leave_NamedExpr(self, node: cst.NamedExpr) -> None:
        self.bind_target(node.target, _literal_type(node.value, self.info.types))

    def leave_AsName(self, node: cst.AsName) -> None:
        self.bind_target(node.name, _UNKNOWN)  # type: ignore[arg-type]


def _locals(function: cst.FunctionDef) -> _Locals:
    info = _Locals()
    collector = _Collector(info)
    params = function.params
    for param in (*params.posonly_params, *params.params, *params.kwonly_params):
        kind = _annotation_type(param.annotation)
        if not kind and param.default is not None:
            kind = _literal_type(param.default, {})
        collector.bind(param.name.value, kind)
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            collector.bind(star.name.value, _UNKNOWN)
    function.body.visit(collector)
    return info


def _variants(node: cst.Name, ctx: SiteContext) -> list[Variant]:
    function = ctx.function
    if function is None:
        return []
    info: _Locals = ctx.cached(("wrong_variable", id(function)), partial(_locals, function))
    read = info.reads.get(id(ctx.original))
    if read is None:
        return []
    name, order = read
    kind = info.types.get(name)
    if not kind:
        return []
    others = sorted(
        other
        for other, other_kind in info.types.items()
        if other_kind == kind and other != name and info.bound_at[other] < order
    )
    return [
        Variant(f"`{name}` -> `{other}`", partial(node.with_changes, value=other))
        for other in others[:MAX_ALTERNATIVES]
    ]


OPERATOR = Operator(
    "wrong_variable",
    (cst.Name,),
    _variants,
    summary="read another local variable of the same type",
)

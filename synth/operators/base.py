"""What every mutation operator is made of, and the small CST helpers several of them share.

An operator names the node types it looks at and, for one node, lists its *variants*: a
description for humans and a builder that returns the mutated node. Builders are lazy, so
enumerating the sites of a file costs no tree rewriting; only the one chosen site is built.

``Scope.BODY`` operators see only code that runs when a function is called (never module or
class level code, decorators, parameter defaults or annotations). ``Scope.DEFINITION`` operators
change how a function or class is *defined* (a decorator, a default, a base class, a method) and
see ``FunctionDef`` / ``ClassDef`` nodes wherever they are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, NamedTuple, Protocol

import libcst as cst
import libcst.matchers as m

SPACE = cst.SimpleWhitespace(" ")
STRING_NODES = (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)
ATOMS = (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.Integer, cst.Float)
# Expressions that need parentheses once moved next to an operator of another precedence.
COMPOUND = (
    cst.BinaryOperation,
    cst.BooleanOperation,
    cst.Comparison,
    cst.UnaryOperation,
    cst.IfExp,
    cst.Lambda,
    cst.NamedExpr,
    cst.Await,
)


class Scope(Enum):
    BODY = "body"
    DEFINITION = "definition"


class Variant(NamedTuple):
    """One way an operator can change one node."""

    description: str  # for humans, e.g. "`<` -> `>=`"; may quote the code it changes
    build: Callable[[], cst.CSTNode]
    entity: str | None = None  # overrides the enclosing scope's name (e.g. a removed method)


class SiteContext(Protocol):
    """What the walker knows about the node an operator is looking at."""

    @property
    def original(self) -> cst.CSTNode: ...  # the node as parsed (updated one is an argument)

    @property
    def ancestors(self) -> Sequence[cst.CSTNode]: ...  # original nodes, outermost first

    @property
    def function(self) -> cst.FunctionDef | None: ...  # innermost enclosing function

    @property
    def scope(self) -> Sequence[str]: ...  # enclosing class and function names

    def code(self, node: cst.CSTNode) -> str: ...  # source text of a node, stripped

    def is_generator(self) -> bool: ...  # does the innermost function yield?

    def cached(self, key: Any, compute: Callable[[], Any]) -> Any: ...  # per-walk memo


VariantsFn = Callable[[Any, SiteContext], list[Variant]]


@dataclass(frozen=True, slots=True)
class Operator:
    """A named mutation: the node types it inspects and how it changes one of them."""

    name: str
    nodes: tuple[type[cst.CSTNode], ...]
    variants: VariantsFn
    scope: Scope = Scope.BODY
    summary: str = ""  # one line for docs and `synth operators`


# --- helpers shared by several operators -------------------------------------------------------


def same_whitespace(old: cst.CSTNode, new_cls: type[cst.CSTNode]) -> cst.CSTNode:
    """An operator token of class ``new_cls`` with the whitespace ``old`` had around it."""
    return new_cls(  # type: ignore[call-arg]
        whitespace_before=old.whitespace_before,  # type: ignore[attr-defined]
        whitespace_after=old.whitespace_after,  # type: ignore[attr-defined]
    )


def parenthesized(expr: cst.BaseExpression) -> cst.BaseExpression:
    """``expr`` wrapped in parentheses when moving it could change how it parses."""
    if isinstance(expr, COMPOUND) and not expr.lpar:
        return expr.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return expr


def negated(test: cst.BaseExpression) -> cst.BaseExpression:
    if m.matches(test, m.UnaryOperation(operator=m.Not(), lpar=[])):
        assert isinstance(test, cst.UnaryOperation)
        return test.expression  # `not x` -> `x` rather than `not (not x)`
    if not isinstance(test, ATOMS) and not test.lpar:
        test = test.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return cst.UnaryOperation(operator=cst.Not(), expression=test)


def is_constant_test(test: cst.BaseExpression) -> bool:
    return isinstance(test, cst.Integer) or m.matches(test, m.Name("True") | m.Name("False"))


def is_docstring_or_ellipsis(stmt: cst.BaseStatement) -> bool:
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return False
    small = stmt.body[0]
    return isinstance(small, cst.Expr) and isinstance(small.value, (*STRING_NODES, cst.Ellipsis))


def single_small(stmt: cst.BaseStatement, kind: type[cst.BaseSmallStatement]) -> bool:
    """``stmt`` is a line holding exactly one small statement of ``kind`` (e.g. a `return`)."""
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], kind)
    )


def pass_line(leading_lines: Sequence[cst.EmptyLine] = ()) -> cst.SimpleStatementLine:
    return cst.SimpleStatementLine(body=[cst.Pass()], leading_lines=leading_lines)


def replace_statement(
    block: cst.IndentedBlock, i: int, replacement: Sequence[cst.BaseStatement]
) -> cst.IndentedBlock:
    """``block`` with statement ``i`` replaced by ``replacement`` (possibly none).

    The removed statement's own leading comments and blank lines stay where they were, so the
    diff shows the change alone. Never returns an empty block: callers check that first.
    """
    body = list(block.body)
    removed = body.pop(i)
    lines = tuple(removed.leading_lines)  # type: ignore[attr-defined]
    footer = tuple(block.footer)
    new = list(replacement)
    if new:
        new[0] = new[0].with_changes(leading_lines=(*lines, *new[0].leading_lines))  # type: ignore[attr-defined]
    elif i < len(body):
        nxt = body[i]
        body[i] = nxt.with_changes(leading_lines=(*lines, *nxt.leading_lines))  # type: ignore[attr-defined]
    else:
        footer = (*lines, *footer)
    body[i:i] = new
    if not body:
        raise ValueError("a block may not become empty")
    return block.with_changes(body=body, footer=footer)


def lifted(*blocks: cst.BaseSuite) -> list[cst.BaseStatement] | None:
    """The statements of ``blocks`` in order, ready to stand one level out; None if any block is
    a one-line suite (``if x: y``), whose statements cannot be lifted as they are."""
    out: list[cst.BaseStatement] = []
    for block in blocks:
        if not isinstance(block, cst.IndentedBlock):
            return None
        out.extend(block.body)  # the inner header and footer comments go with the wrapper
    return out


def function_body_block(ctx: SiteContext) -> cst.IndentedBlock | None:
    """The innermost function's own top-level block, if it is an indented one."""
    function = ctx.function
    if function is None or not isinstance(function.body, cst.IndentedBlock):
        return None
    return function.body


def call_name(call: cst.Call) -> str | None:
    """``f`` for ``f(...)``, ``m`` for ``obj.m(...)``, else None."""
    func = call.func
    if isinstance(func, cst.Name):
        return func.value
    if isinstance(func, cst.Attribute):
        return func.attr.value
    return None


def without_arg(call: cst.Call, i: int) -> cst.Call:
    """``call`` without argument ``i``; the comma layout of the remaining ones is kept."""
    args = list(call.args)
    removed = args.pop(i)
    if i == len(args) and args:  # removed the last one: the new last takes its trailing comma
        args[-1] = args[-1].with_changes(comma=removed.comma)
    return call.with_changes(args=args)

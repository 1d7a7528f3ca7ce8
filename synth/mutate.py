"""Bug injection: small, seeded, syntax-preserving mutations of Python source.

Everything here is a pure function of text: ``find_sites`` lists where each operator could
change a file, ``apply_site`` makes one change (libcst keeps every other byte as it was), and
``generate_candidates`` samples sites across a whole snapshot and returns ``Candidate`` records
whose patches ``git apply`` accepts.

Only code that runs when a function is called is mutated: never module or class level code, nor
decorators, parameter defaults, annotations or docstrings, so a bug always lives in a function
body that the tests can reach.

A site is named by its operator and its ``index``: the ordinal of that operator's sites in the
file, counted in libcst's (deterministic) traversal order. Re-walking the same source with the
same operator counts the same way, which is how ``apply_site`` finds the node again.
"""

from __future__ import annotations

import difflib
import random
import warnings
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import PurePosixPath
from typing import TypeGuard, TypeVar

import libcst as cst
import libcst.matchers as m

from synth.records import Candidate, Strategy

# Registry order is the public order of operators; sampling shuffles it per seed.
OPERATORS: tuple[str, ...] = (
    "compare_flip",
    "arith_swap",
    "const_off_by_one",
    "negate_condition",
    "remove_statement",
    "swap_if_else",
    "bool_op_swap",
    "return_value",
    "break_continue",
    "min_max_swap",
)


@dataclass(frozen=True, slots=True)
class MutationSite:
    """One place where one operator can change a file, and how."""

    operator: str
    rel_path: str
    entity: str  # qualified name of the enclosing function, e.g. "Money.allocate"
    index: int  # ordinal among this operator's sites in the file (traversal order)
    description: str  # for humans, e.g. "`<` -> `>=`"; may quote the code it changes


def is_test_file(rel_path: str) -> bool:
    """Whether a repository path holds tests (never mutated: the tests are the oracle)."""
    path = PurePosixPath(rel_path.replace("\\", "/"))
    if any(part in {"test", "tests", "testing"} for part in path.parts[:-1]):
        return True
    name = path.name
    return name == "conftest.py" or name.startswith("test_") or name.endswith("_test.py")


_N = TypeVar("_N", bound=cst.CSTNode)
_R = TypeVar("_R", bound=cst.CSTNode)
_Variants = list[tuple[str, Callable[[], _R]]]

# (replacement operator class, old symbol, new symbol)
_COMPARE_FLIPS: dict[type[cst.BaseCompOp], tuple[type[cst.BaseCompOp], str, str]] = {
    cst.LessThan: (cst.GreaterThanEqual, "<", ">="),
    cst.GreaterThanEqual: (cst.LessThan, ">=", "<"),
    cst.LessThanEqual: (cst.GreaterThan, "<=", ">"),
    cst.GreaterThan: (cst.LessThanEqual, ">", "<="),
    cst.Equal: (cst.NotEqual, "==", "!="),
    cst.NotEqual: (cst.Equal, "!=", "=="),
    cst.In: (cst.NotIn, "in", "not in"),
    cst.NotIn: (cst.In, "not in", "in"),
    cst.Is: (cst.IsNot, "is", "is not"),
    cst.IsNot: (cst.Is, "is not", "is"),
}
_ARITH_SWAPS: dict[type[cst.BaseBinaryOp], tuple[type[cst.BaseBinaryOp], str, str]] = {
    cst.Add: (cst.Subtract, "+", "-"),
    cst.Subtract: (cst.Add, "-", "+"),
    cst.Multiply: (cst.FloorDivide, "*", "//"),
    cst.FloorDivide: (cst.Multiply, "//", "*"),
    cst.Divide: (cst.Multiply, "/", "*"),
    cst.Modulo: (cst.FloorDivide, "%", "//"),
}
_AUG_SWAPS: dict[type[cst.BaseAugOp], tuple[type[cst.BaseAugOp], str, str]] = {
    cst.AddAssign: (cst.SubtractAssign, "+=", "-="),
    cst.SubtractAssign: (cst.AddAssign, "-=", "+="),
    cst.MultiplyAssign: (cst.FloorDivideAssign, "*=", "//="),
    cst.FloorDivideAssign: (cst.MultiplyAssign, "//=", "*="),
    cst.DivideAssign: (cst.MultiplyAssign, "/=", "*="),
    cst.ModuloAssign: (cst.FloorDivideAssign, "%=", "//="),
}
_STRING_NODES = (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)
# Statements whose removal is meaningless (pass, docstrings, a loop's trailing continue),
# belongs to another operator (return), or mostly yields a NameError instead of a wrong result.
_KEEP_STATEMENTS = (
    cst.Return,
    cst.Pass,
    cst.Continue,
    cst.Import,
    cst.ImportFrom,
    cst.Global,
    cst.Nonlocal,
)
_ATOMS = (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.Integer, cst.Float)
_SPACE = cst.SimpleWhitespace(" ")


def _compare_flip(node: cst.Comparison) -> _Variants[cst.Comparison]:
    variants: _Variants[cst.Comparison] = []
    for i, target in enumerate(node.comparisons):
        new_cls, old, new = _COMPARE_FLIPS[type(target.operator)]
        op = new_cls(  # type: ignore[call-arg]
            whitespace_before=target.operator.whitespace_before,  # type: ignore[attr-defined]
            whitespace_after=target.operator.whitespace_after,  # type: ignore[attr-defined]
        )
        targets = list(node.comparisons)
        targets[i] = target.with_changes(operator=op)
        variants.append((f"`{old}` -> `{new}`", partial(node.with_changes, comparisons=targets)))
    return variants


def _arith_swap(node: cst.BinaryOperation) -> _Variants[cst.BinaryOperation]:
    swap = _ARITH_SWAPS.get(type(node.operator))
    # "a" + b and "%s" % x are string operations; swapping them only yields a TypeError.
    if swap is None or any(isinstance(side, _STRING_NODES) for side in (node.left, node.right)):
        return []
    new_cls, old, new = swap
    op = new_cls(  # type: ignore[call-arg]
        whitespace_before=node.operator.whitespace_before,  # type: ignore[attr-defined]
        whitespace_after=node.operator.whitespace_after,  # type: ignore[attr-defined]
    )
    return [(f"`{old}` -> `{new}`", partial(node.with_changes, operator=op))]


def _aug_swap(node: cst.AugAssign) -> _Variants[cst.AugAssign]:
    swap = _AUG_SWAPS.get(type(node.operator))
    if swap is None or isinstance(node.value, _STRING_NODES):
        return []
    new_cls, old, new = swap
    op = new_cls(  # type: ignore[call-arg]
        whitespace_before=node.operator.whitespace_before,  # type: ignore[attr-defined]
        whitespace_after=node.operator.whitespace_after,  # type: ignore[attr-defined]
    )
    return [(f"`{old}` -> `{new}`", partial(node.with_changes, operator=op))]


def _off_by_one(node: cst.Integer) -> _Variants[cst.Integer]:
    value = node.evaluated_value
    variants: _Variants[cst.Integer] = []
    for new in (value + 1, value - 1):
        if new < 0:  # a negative literal is a different node (unary minus); not worth it
            continue
        text = hex(new) if node.value.lower().startswith("0x") else str(new)
        variants.append((f"{node.value} -> {text}", partial(node.with_changes, value=text)))
    return variants


def _negated(test: cst.BaseExpression) -> cst.BaseExpression:
    if m.matches(test, m.UnaryOperation(operator=m.Not(), lpar=[])):
        assert isinstance(test, cst.UnaryOperation)
        return test.expression  # `not x` -> `x` rather than `not (not x)`
    if not isinstance(test, _ATOMS) and not test.lpar:
        test = test.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return cst.UnaryOperation(operator=cst.Not(), expression=test)


def _is_constant_test(test: cst.BaseExpression) -> bool:
    return isinstance(test, cst.Integer) or m.matches(test, m.Name("True") | m.Name("False"))


def _negate_if(node: cst.If) -> _Variants[cst.If]:
    if _is_constant_test(node.test):
        return []
    build = partial(node.with_changes, test=_negated(node.test), whitespace_before_test=_SPACE)
    return [("negate `if` test", build)]


def _negate_while(node: cst.While) -> _Variants[cst.While]:
    if _is_constant_test(node.test):  # `while True:` -> a loop that never runs
        return []
    build = partial(node.with_changes, test=_negated(node.test), whitespace_after_while=_SPACE)
    return [("negate `while` test", build)]


def _negate_ifexp(node: cst.IfExp) -> _Variants[cst.IfExp]:
    if _is_constant_test(node.test):
        return []
    build = partial(node.with_changes, test=_negated(node.test), whitespace_after_if=_SPACE)
    return [("negate conditional expression test", build)]


def _swap_if_else(node: cst.If) -> _Variants[cst.If]:
    orelse = node.orelse
    if not (
        isinstance(orelse, cst.Else)
        and isinstance(node.body, cst.IndentedBlock)
        and isinstance(orelse.body, cst.IndentedBlock)
    ):
        return []
    # Only the statements move; each block keeps its own header comment and indentation.
    body = node.body.with_changes(body=orelse.body.body)
    new_else = orelse.with_changes(body=orelse.body.with_changes(body=node.body.body))
    return [("swap `if` and `else` bodies", partial(node.with_changes, body=body, orelse=new_else))]


def _bool_op_swap(node: cst.BooleanOperation) -> _Variants[cst.BooleanOperation]:
    if isinstance(node.operator, cst.And):
        new_cls: type[cst.BaseBooleanOp] = cst.Or
        old, new = "and", "or"
    else:
        new_cls, old, new = cst.And, "or", "and"
    op = new_cls(  # type: ignore[call-arg]
        whitespace_before=node.operator.whitespace_before,
        whitespace_after=node.operator.whitespace_after,
    )
    return [(f"`{old}` -> `{new}`", partial(node.with_changes, operator=op))]


def _return_value(node: cst.Return, in_generator: Callable[[], bool]) -> _Variants[cst.Return]:
    value = node.value
    if value is None or m.matches(value, m.Name("None")):
        return []
    if m.matches(value, m.Name("True") | m.Name("False")):
        assert isinstance(value, cst.Name)
        flipped = "False" if value.value == "True" else "True"
        build = partial(node.with_changes, value=value.with_changes(value=flipped))
        return [(f"return {value.value} -> {flipped}", build)]
    if in_generator():  # a generator's return value is rarely observed; dropping it is no bug
        return []
    build = partial(node.with_changes, value=cst.Name("None"), whitespace_after_return=_SPACE)
    return [("return value -> None", build)]


def _break_continue(node: cst.Break | cst.Continue) -> _Variants[cst.Break | cst.Continue]:
    if isinstance(node, cst.Break):
        return [("`break` -> `continue`", partial(cst.Continue, semicolon=node.semicolon))]
    return [("`continue` -> `break`", partial(cst.Break, semicolon=node.semicolon))]


def _min_max_swap(node: cst.Call) -> _Variants[cst.Call]:
    func = node.func
    if not (isinstance(func, cst.Name) and func.value in {"min", "max"}):
        return []
    other = "max" if func.value == "min" else "min"
    build = partial(node.with_changes, func=func.with_changes(value=other))
    return [(f"`{func.value}` -> `{other}`", build)]


def _removable(stmt: cst.BaseStatement) -> TypeGuard[cst.SimpleStatementLine]:
    if not isinstance(stmt, cst.SimpleStatementLine):
        return False
    for small in stmt.body:
        if isinstance(small, _KEEP_STATEMENTS):
            return False
        if isinstance(small, cst.Expr) and isinstance(small.value, (*_STRING_NODES, cst.Ellipsis)):
            return False  # docstrings, bare strings, `...`
    return True


def _without(block: cst.IndentedBlock, i: int) -> cst.IndentedBlock:
    body = list(block.body)
    removed = body.pop(i)
    if i < len(body):
        # Keep the removed line's comments and blank lines, so the diff is the statement alone.
        nxt = body[i]
        lines = (*removed.leading_lines, *nxt.leading_lines)  # type: ignore[attr-defined]
        body[i] = nxt.with_changes(leading_lines=lines)
    return block.with_changes(body=body)


class _YieldFinder(cst.CSTVisitor):
    """Finds a `yield` of one function body, not of the functions or classes nested in it."""

    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_Yield(self, node: cst.Yield) -> bool:
        self.found = True
        return False


def _is_generator(function: cst.FunctionDef) -> bool:
    finder = _YieldFinder()
    function.body.visit(finder)
    return finder.found


@dataclass(frozen=True, slots=True)
class _Unit:
    """An outermost function, so that applying one of its sites need not walk the whole file."""

    path_ids: frozenset[int]  # id() of the function and of its ancestors in the parsed module
    counts: Mapping[str, int]  # per-operator site counts when the walk entered the function


class _SiteWalker(cst.CSTTransformer):
    """Counts every site of the chosen operators and, given a target, mutates exactly that one.

    With ``unit`` set, only that function (and the path to it) is walked, its counts starting
    where the full walk had them; nothing outside a function body has sites, so the target gets
    the same index either way. ``unit`` ids refer to the very module object that was enumerated.
    """

    def __init__(
        self,
        module: cst.Module,
        rel_path: str,
        operators: Collection[str],
        target: tuple[str, int] | None = None,
        unit: _Unit | None = None,
    ) -> None:
        super().__init__()
        self._module = module
        self._rel_path = rel_path
        self._operators = frozenset(operators)
        self._target = target
        self._only = unit.path_ids if unit else None
        self._counts = {op: unit.counts[op] if unit else 0 for op in self._operators}
        self._scope: list[str] = []
        self._functions: list[cst.FunctionDef] = []
        self._generator_cache: dict[int, bool] = {}
        self._stack: list[cst.CSTNode] = []  # nodes being visited, outermost first
        self._skipped: cst.CSTNode | None = None
        self._body_depth = 0  # > 0 inside a function body
        self._suppressed = 0  # > 0 inside decorators, parameters (defaults) and annotations
        self.sites: list[MutationSite] = []
        self.units: list[_Unit] = []
        self.site_units: list[int] = []  # index into `units`, one per site
        self.applied: MutationSite | None = None

    def on_visit(self, node: cst.CSTNode) -> bool:
        if self._only is not None and self._body_depth == 0 and id(node) not in self._only:
            self._skipped = node
            return False
        self._stack.append(node)
        return super().on_visit(node)

    def on_leave(
        self, original_node: _N, updated_node: _N
    ) -> _N | cst.RemovalSentinel | cst.FlattenSentinel[_N]:
        if original_node is self._skipped:  # its children were not visited either
            self._skipped = None
            return updated_node
        self._stack.pop()
        return super().on_leave(original_node, updated_node)

    def _offer(self, operator: str, node: _N, variants: Callable[[_N], _Variants[_R]]) -> _N | _R:
        if operator not in self._operators or self._body_depth == 0 or self._suppressed:
            return node
        result: _N | _R = node
        for description, build in variants(node):
            index = self._counts[operator]
            self._counts[operator] += 1
            site = MutationSite(operator, self._rel_path, ".".join(self._scope), index, description)
            self.sites.append(site)
            self.site_units.append(len(self.units) - 1)
            if self.applied is None and self._target == (operator, index):
                self.applied = site
                result = build()
        return result

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self._scope.append(node.name.value)
        return True

    def leave_ClassDef(
        self, original_node: cst.ClassDef, updated_node: cst.ClassDef
    ) -> cst.ClassDef:
        self._scope.pop()
        return updated_node

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        if self._body_depth == 0:
            self.units.append(_Unit(frozenset(map(id, self._stack)), dict(self._counts)))
        self._scope.append(node.name.value)
        self._functions.append(node)
        return True

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        self._scope.pop()
        self._functions.pop()
        return updated_node

    def visit_FunctionDef_body(self, node: cst.FunctionDef) -> None:
        self._body_depth += 1

    def leave_FunctionDef_body(self, node: cst.FunctionDef) -> None:
        self._body_depth -= 1

    def visit_Decorator(self, node: cst.Decorator) -> bool:
        self._suppressed += 1
        return True

    def leave_Decorator(
        self, original_node: cst.Decorator, updated_node: cst.Decorator
    ) -> cst.Decorator:
        self._suppressed -= 1
        return updated_node

    def visit_Param(self, node: cst.Param) -> bool:
        self._suppressed += 1
        return True

    def leave_Param(self, original_node: cst.Param, updated_node: cst.Param) -> cst.Param:
        self._suppressed -= 1
        return updated_node

    def visit_Annotation(self, node: cst.Annotation) -> bool:
        self._suppressed += 1
        return True

    def leave_Annotation(
        self, original_node: cst.Annotation, updated_node: cst.Annotation
    ) -> cst.Annotation:
        self._suppressed -= 1
        return updated_node

    def leave_Comparison(
        self, original_node: cst.Comparison, updated_node: cst.Comparison
    ) -> cst.BaseExpression:
        return self._offer("compare_flip", updated_node, _compare_flip)

    def leave_BinaryOperation(
        self, original_node: cst.BinaryOperation, updated_node: cst.BinaryOperation
    ) -> cst.BaseExpression:
        return self._offer("arith_swap", updated_node, _arith_swap)

    def leave_AugAssign(
        self, original_node: cst.AugAssign, updated_node: cst.AugAssign
    ) -> cst.BaseSmallStatement:
        return self._offer("arith_swap", updated_node, _aug_swap)

    def leave_Integer(
        self, original_node: cst.Integer, updated_node: cst.Integer
    ) -> cst.BaseExpression:
        return self._offer("const_off_by_one", updated_node, _off_by_one)

    def leave_If(self, original_node: cst.If, updated_node: cst.If) -> cst.BaseStatement:
        node = self._offer("negate_condition", updated_node, _negate_if)
        return self._offer("swap_if_else", node, _swap_if_else)

    def leave_While(self, original_node: cst.While, updated_node: cst.While) -> cst.BaseStatement:
        return self._offer("negate_condition", updated_node, _negate_while)

    def leave_IfExp(self, original_node: cst.IfExp, updated_node: cst.IfExp) -> cst.BaseExpression:
        return self._offer("negate_condition", updated_node, _negate_ifexp)

    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.BaseSuite:
        return self._offer("remove_statement", updated_node, self._removals)

    def _removals(self, block: cst.IndentedBlock) -> _Variants[cst.IndentedBlock]:
        if len(block.body) < 2:  # never leave a body empty
            return []
        return [
            (f"remove `{self._code(stmt)}`", partial(_without, block, i))
            for i, stmt in enumerate(block.body)
            if _removable(stmt)
        ]

    def _code(self, stmt: cst.SimpleStatementLine) -> str:
        return self._module.code_for_node(stmt.with_changes(leading_lines=())).strip()

    def leave_BooleanOperation(
        self, original_node: cst.BooleanOperation, updated_node: cst.BooleanOperation
    ) -> cst.BaseExpression:
        return self._offer("bool_op_swap", updated_node, _bool_op_swap)

    def leave_Return(self, original_node: cst.Return, updated_node: cst.Return) -> cst.Return:
        return self._offer("return_value", updated_node, self._return_variants)

    def _return_variants(self, node: cst.Return) -> _Variants[cst.Return]:
        return _return_value(node, in_generator=self._in_generator)

    def _in_generator(self) -> bool:
        function = self._functions[-1]
        if id(function) not in self._generator_cache:
            self._generator_cache[id(function)] = _is_generator(function)
        return self._generator_cache[id(function)]

    def leave_Break(
        self, original_node: cst.Break, updated_node: cst.Break
    ) -> cst.BaseSmallStatement:
        return self._offer("break_continue", updated_node, _break_continue)

    def leave_Continue(
        self, original_node: cst.Continue, updated_node: cst.Continue
    ) -> cst.BaseSmallStatement:
        return self._offer("break_continue", updated_node, _break_continue)

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        return self._offer("min_max_swap", updated_node, _min_max_swap)


def _check_operators(operators: Sequence[str] | None) -> tuple[str, ...]:
    if operators is None:
        return OPERATORS
    unknown = sorted(set(operators) - set(OPERATORS))
    if unknown:
        raise ValueError(f"unknown mutation operator(s) {unknown}; known: {list(OPERATORS)}")
    return tuple(op for op in OPERATORS if op in operators)


def _sites(
    module: cst.Module, rel_path: str, operators: Sequence[str]
) -> list[tuple[MutationSite, _Unit]]:
    walker = _SiteWalker(module, rel_path, operators)
    module.visit(walker)
    return [
        (site, walker.units[i]) for site, i in zip(walker.sites, walker.site_units, strict=True)
    ]


def _apply(module: cst.Module, site: MutationSite, unit: _Unit | None = None) -> str:
    target = (site.operator, site.index)
    walker = _SiteWalker(module, site.rel_path, (site.operator,), target, unit)
    mutated = module.visit(walker)
    if walker.applied is None or walker.applied.entity != site.entity:
        raise ValueError(
            f"no {site.operator} site #{site.index} in {site.entity or '?'} of {site.rel_path}: "
            "was the site found in a different version of this file?"
        )
    return mutated.code


def find_sites(
    source: str, rel_path: str, operators: Sequence[str] | None = None
) -> list[MutationSite]:
    """Every mutation site in ``source``, in traversal order.

    Raises ``libcst.ParserSyntaxError`` when libcst cannot parse the source, and
    ``RecursionError`` when it nests too deep for libcst (``generate_candidates`` skips both).
    """
    module = cst.parse_module(source)
    return [site for site, _ in _sites(module, rel_path, _check_operators(operators))]


def apply_site(source: str, site: MutationSite) -> str:
    """``source`` with exactly ``site`` mutated; every other byte is kept."""
    return _apply(cst.parse_module(source), site)


def _split_lines(text: str) -> list[str]:
    # Not str.splitlines(): it also splits on \f, \x1c, \u2028 ..., which git treats as text.
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def make_patch(rel_path: str, before: str, after: str) -> str:
    """A git-style unified diff turning ``before`` into ``after`` ("" when they are equal)."""
    if before == after:
        return ""
    out = [f"diff --git a/{rel_path} b/{rel_path}\n"]
    diff = difflib.unified_diff(
        _split_lines(before), _split_lines(after), f"a/{rel_path}", f"b/{rel_path}"
    )
    for line in diff:
        if not line.endswith("\n"):
            line += "\n\\ No newline at end of file\n"
        out.append(line)
    return "".join(out)


def _compiles(source: str, rel_path: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. SyntaxWarning for `x is not 1`
        try:
            compile(source, rel_path, "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            return False
    return True


def _parse(source: str) -> cst.Module | None:
    try:
        return cst.parse_module(source)
    except (cst.ParserSyntaxError, RecursionError):
        return None


def _sites_by_operator(
    files: Mapping[str, str], operators: Sequence[str], entities: Collection[str] | None
) -> tuple[dict[str, cst.Module], dict[str, list[tuple[MutationSite, _Unit]]]]:
    modules: dict[str, cst.Module] = {}
    by_operator: dict[str, list[tuple[MutationSite, _Unit]]] = {op: [] for op in operators}
    for rel_path in sorted(files):
        source = files[rel_path]
        if not rel_path.endswith(".py") or is_test_file(rel_path):
            continue
        module = _parse(source)
        if module is None or not _compiles(source, rel_path):
            continue
        try:
            pairs = _sites(module, rel_path, operators)
        except RecursionError:  # generated tables nest deeper than libcst's recursive walk
            continue
        modules[rel_path] = module  # kept alive: the units' node ids point into it
        for site, unit in pairs:
            if entities is None or site.entity in entities:
                by_operator[site.operator].append((site, unit))
    return modules, by_operator


def generate_candidates(
    snapshot_id: str,
    files: Mapping[str, str],
    *,
    max_candidates: int,
    seed: int,
    operators: Sequence[str] | None = None,
    entities: Collection[str] | None = None,
) -> list[Candidate]:
    """A seeded sample of up to ``max_candidates`` mutation candidates, balanced over operators.

    ``files`` maps repo-relative paths to source text; test files, non-Python files and files
    that libcst or CPython cannot parse are skipped. Operators take turns (in a seeded order),
    each drawing from its own seeded shuffle of sites until one yields a new patch that
    compiles, so the output is a pure function of the arguments.
    """
    if max_candidates < 0:
        raise ValueError(f"max_candidates must be >= 0, got {max_candidates}")
    chosen = _check_operators(operators)
    modules, by_operator = _sites_by_operator(files, chosen, entities)
    rng = random.Random(seed)
    for op in chosen:
        rng.shuffle(by_operator[op])
    order = list(chosen)
    rng.shuffle(order)
    queues = [deque(by_operator[op]) for op in order]

    seen: set[str] = set()
    out: list[Candidate] = []
    while len(out) < max_candidates and any(queues):
        for queue in queues:
            while queue and len(out) < max_candidates:
                site, unit = queue.popleft()
                before = files[site.rel_path]
                after = _apply(modules[site.rel_path], site, unit)
                if after == before or not _compiles(after, site.rel_path):
                    continue
                patch = make_patch(site.rel_path, before, after)
                if patch in seen:
                    continue
                seen.add(patch)
                out.append(_candidate(snapshot_id, seed, site, patch))
                break
    return out


def _candidate(snapshot_id: str, seed: int, site: MutationSite, patch: str) -> Candidate:
    return Candidate(
        candidate_id=Candidate.make_id(snapshot_id, patch),
        snapshot_id=snapshot_id,
        strategy=Strategy.PROCEDURAL,
        operator=site.operator,
        seed=seed,
        target_file=site.rel_path,
        target_entity=site.entity,
        patch=patch,
    )

"""Bug injection: small, seeded, syntax-preserving mutations of Python source.

Everything here is a pure function of text: ``find_sites`` lists where each operator could
change a file, ``apply_site`` makes one change (libcst keeps every other byte as it was), and
``generate`` samples sites across a whole snapshot and returns ``Candidate`` records whose
patches ``git apply`` accepts, with a count of the mutations it dropped and why.

The operators live one per module in ``synth.operators``. Most see only code that runs when a
function is called (never module or class level code, decorators, parameter defaults,
annotations or docstrings); a few change how a function or class is *defined* (a decorator, a
default, a base class, a method). Either way a bug lives in a function or class the tests reach.

A site is named by its operator and its ``index``: the ordinal of that operator's sites in the
file, counted in libcst's (deterministic) traversal order. Re-walking the same source with the
same operator counts the same way, which is how ``apply_site`` finds the node again.
"""

from __future__ import annotations

import difflib
import random
import warnings
from collections import Counter, deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any, TypeVar

import libcst as cst

from synth.operators import OPERATORS, REGISTRY, Operator, Scope
from synth.records import Candidate, Strategy
from synth.targeting import keep_entities, runs_under_tests

__all__ = [
    "OPERATORS",
    "Drop",
    "Generation",
    "MutationSite",
    "apply_site",
    "find_sites",
    "generate",
    "generate_candidates",
    "is_test_file",
    "make_patch",
]


@dataclass(frozen=True, slots=True)
class MutationSite:
    """One place where one operator can change a file, and how."""

    operator: str
    rel_path: str
    entity: str  # qualified name of the enclosing function (or class), e.g. "Money.allocate"
    index: int  # ordinal among this operator's sites in the file (traversal order)
    description: str  # for humans, e.g. "`<` -> `>=`"; may quote the code it changes


class Drop(StrEnum):
    """Why a built mutation did not become a candidate."""

    UNPARSEABLE = "unparseable"  # CPython rejects the mutated file
    IDENTICAL = "identical"  # the mutated file is byte-identical to the original
    DUPLICATE = "duplicate"  # another candidate already has this very patch
    UNCOVERED = "uncovered"  # no test runs a line it changes (with a coverage map only)


@dataclass(frozen=True)
class Generation:
    """The candidates of one snapshot, and the bookkeeping of how they were reached."""

    candidates: tuple[Candidate, ...]
    sites: Mapping[str, int] = field(default_factory=dict)  # operator -> eligible sites
    tried: Mapping[str, int] = field(default_factory=dict)  # operator -> mutations built
    dropped: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # op -> Drop -> n
    skipped_files: tuple[str, ...] = ()  # files libcst or CPython could not parse


def is_test_file(rel_path: str) -> bool:
    """Whether a repository path holds tests (never mutated: the tests are the oracle)."""
    path = PurePosixPath(rel_path.replace("\\", "/"))
    if any(part in {"test", "tests", "testing"} for part in path.parts[:-1]):
        return True
    name = path.name
    return name == "conftest.py" or name.startswith("test_") or name.endswith("_test.py")


_N = TypeVar("_N", bound=cst.CSTNode)
_UnitNode = (cst.FunctionDef, cst.ClassDef)


@dataclass(frozen=True, slots=True)
class _Unit:
    """A function or class outside any function body: applying a site inside it walks only it
    (and the path down to it), its counts starting where the whole-file walk had them."""

    node_id: int
    path_ids: frozenset[int]  # id() of the node and of its ancestors in the parsed module
    counts: Mapping[str, int]  # per-operator site counts when the walk entered the node


class _SiteWalker(cst.CSTTransformer):
    """Counts every site of the chosen operators and, given a target, mutates exactly that one.

    It is also the ``SiteContext`` the operators read. With ``unit`` set, only that node (and
    the path to it) is walked; sites are only offered inside it, so the target gets the same
    index either way. ``unit`` ids refer to the very module object that was enumerated.
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
        self._dispatch: dict[type[cst.CSTNode], list[Operator]] = {}
        for name in operators:
            for kind in REGISTRY[name].nodes:
                self._dispatch.setdefault(kind, []).append(REGISTRY[name])
        self._target = target
        self._unit = unit
        self._inside = unit is None
        self._counts = {op: unit.counts[op] if unit else 0 for op in operators}
        self._scope: list[str] = []
        self._functions: list[cst.FunctionDef] = []
        self._memo: dict[Any, Any] = {}
        self._stack: list[cst.CSTNode] = []  # nodes being visited, outermost first
        self._skipped: cst.CSTNode | None = None
        self._body_depth = 0  # > 0 inside a function body
        self._suppressed = 0  # > 0 inside decorators, parameters (defaults) and annotations
        self._open_units: list[tuple[int, int]] = []  # (node id, index into `units`)
        self.sites: list[MutationSite] = []
        self.units: list[_Unit] = []
        self.site_units: list[int] = []  # index into `units`, one per site
        self.applied: MutationSite | None = None

    # -- SiteContext ------------------------------------------------------------------------

    @property
    def original(self) -> cst.CSTNode:
        return self._stack[-1]

    @property
    def ancestors(self) -> Sequence[cst.CSTNode]:
        return self._stack[:-1]

    @property
    def function(self) -> cst.FunctionDef | None:
        return self._functions[-1] if self._functions else None

    @property
    def scope(self) -> Sequence[str]:
        return tuple(self._scope)

    def code(self, node: cst.CSTNode) -> str:
        return self._module.code_for_node(node).strip()

    def is_generator(self) -> bool:
        function = self.function
        return function is not None and self.cached(
            ("generator", id(function)), lambda: _is_generator(function)
        )

    def cached(self, key: Any, compute: Callable[[], Any]) -> Any:
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    # -- the walk ---------------------------------------------------------------------------

    def on_visit(self, node: cst.CSTNode) -> bool:
        if self._unit is not None and id(node) == self._unit.node_id:
            self._inside = True
        elif self._unit is not None and not self._inside and id(node) not in self._unit.path_ids:
            self._skipped = node
            return False
        self._stack.append(node)
        if isinstance(node, _UnitNode) and self._body_depth == 0:
            unit = _Unit(id(node), frozenset(map(id, self._stack)), dict(self._counts))
            self._open_units.append((id(node), len(self.units)))
            self.units.append(unit)
        return super().on_visit(node)

    def on_leave(
        self, original_node: _N, updated_node: _N
    ) -> _N | cst.RemovalSentinel | cst.FlattenSentinel[_N]:
        if original_node is self._skipped:  # its children were not visited either
            self._skipped = None
            return updated_node
        result: Any = updated_node
        if self._inside:
            for operator in self._dispatch.get(type(original_node), ()):
                result = self._offer(operator, result)
        if self._open_units and self._open_units[-1][0] == id(original_node):
            self._open_units.pop()
        if self._unit is not None and id(original_node) == self._unit.node_id:
            self._inside = False
        self._stack.pop()
        return super().on_leave(original_node, result)

    def _offer(self, operator: Operator, node: Any) -> Any:
        if self._suppressed or (operator.scope is Scope.BODY and self._body_depth == 0):
            return node
        result = node
        for variant in operator.variants(node, self):
            index = self._counts[operator.name]
            self._counts[operator.name] += 1
            entity = variant.entity or ".".join(self._scope)
            site = MutationSite(operator.name, self._rel_path, entity, index, variant.description)
            self.sites.append(site)
            self.site_units.append(self._open_units[-1][1] if self._open_units else -1)
            if self.applied is None and self._target == (operator.name, index):
                self.applied = site
                result = variant.build()
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

    def _suppress(self, node: cst.CSTNode) -> bool:
        self._suppressed += 1
        return True

    def _unsuppress(self, original_node: _N, updated_node: _N) -> _N:
        self._suppressed -= 1
        return updated_node

    visit_Decorator = _suppress
    leave_Decorator = _unsuppress
    visit_Param = _suppress
    leave_Param = _unsuppress
    visit_Annotation = _suppress
    leave_Annotation = _unsuppress


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


def _check_operators(operators: Sequence[str] | None) -> tuple[str, ...]:
    if operators is None:
        return OPERATORS
    unknown = sorted(set(operators) - set(OPERATORS))
    if unknown:
        raise ValueError(f"unknown mutation operator(s) {unknown}; known: {list(OPERATORS)}")
    return tuple(op for op in OPERATORS if op in operators)


def _sites(
    module: cst.Module, rel_path: str, operators: Sequence[str]
) -> list[tuple[MutationSite, _Unit | None]]:
    walker = _SiteWalker(module, rel_path, operators)
    module.visit(walker)
    return [
        (site, walker.units[i] if i >= 0 else None)
        for site, i in zip(walker.sites, walker.site_units, strict=True)
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
    ``RecursionError`` when it nests too deep for libcst (``generate`` skips both).
    """
    module = cst.parse_module(source)
    return [site for site, _ in _sites(module, rel_path, _check_operators(operators))]


def apply_site(source: str, site: MutationSite) -> str:
    """``source`` with exactly ``site`` mutated; every other byte is kept."""
    return _apply(cst.parse_module(source), site)


def split_lines(text: str) -> list[str]:
    """``text`` as lines with their ``\n`` endings, the way git and diff count them."""
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
        split_lines(before), split_lines(after), f"a/{rel_path}", f"b/{rel_path}"
    )
    for line in diff:
        if not line.endswith("\n"):
            line += "\n\\ No newline at end of file\n"
        out.append(line)
    return "".join(out)


def compiles(source: str, rel_path: str) -> bool:
    """Whether CPython accepts ``source`` (warnings such as ``x is not 1`` are no failure)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
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


_Pair = tuple[MutationSite, _Unit | None]


@dataclass
class _Pool:
    modules: dict[str, cst.Module] = field(default_factory=dict)
    by_operator: dict[str, list[_Pair]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def _pool(
    files: Mapping[str, str],
    operators: Sequence[str],
    entities: Collection[str] | None,
    covered: Mapping[str, frozenset[int]] | None,
    min_statements: int,
) -> _Pool:
    pool = _Pool(by_operator={op: [] for op in operators})
    for rel_path in sorted(files):
        source = files[rel_path]
        if not rel_path.endswith(".py") or is_test_file(rel_path):
            continue
        if covered is not None and not covered.get(rel_path):
            continue  # no line of it ran under the tests
        module = _parse(source)
        if module is None or not compiles(source, rel_path):
            pool.skipped.append(rel_path)
            continue
        try:
            pairs = _sites(module, rel_path, operators)
        except RecursionError:  # generated tables nest deeper than libcst's recursive walk
            pool.skipped.append(rel_path)
            continue
        kept = keep_entities(source, rel_path, covered=covered, min_statements=min_statements)
        pool.modules[rel_path] = module  # kept alive: the units' node ids point into it
        for site, unit in pairs:
            if (entities is None or site.entity in entities) and (
                kept is None or site.entity in kept
            ):
                pool.by_operator[site.operator].append((site, unit))
    return pool


# ``max_candidates`` meaning every candidate there is (`synth run --max-candidates all`): each
# covered site × applicable operator once, duplicate patches dropped.
ALL_CANDIDATES = 1 << 62


def generate(
    snapshot_id: str,
    files: Mapping[str, str],
    *,
    max_candidates: int,
    seed: int,
    operators: Sequence[str] | None = None,
    entities: Collection[str] | None = None,
    covered: Mapping[str, frozenset[int]] | None = None,
    min_statements: int = 1,
) -> Generation:
    """A seeded sample of up to ``max_candidates`` mutation candidates, balanced over operators.

    ``files`` maps repo-relative paths to source text; test files, non-Python files and files
    that libcst or CPython cannot parse are skipped. ``covered`` (file → executed line numbers)
    keeps only functions the tests ran, and mutations of lines they ran; ``min_statements``
    leaves out functions with fewer statements (see ``synth.targeting``). Operators take turns
    (in a seeded order), each drawing from its own seeded shuffle of sites until one yields a
    new patch, so the output is a pure function of the arguments. Mutations that do not
    compile, change nothing, repeat another candidate's patch or change no line a test ran are
    dropped and counted.
    """
    if max_candidates < 0:
        raise ValueError(f"max_candidates must be >= 0, got {max_candidates}")
    chosen = _check_operators(operators)
    pool = _pool(files, chosen, entities, covered, min_statements)
    rng = random.Random(seed)
    for op in chosen:
        rng.shuffle(pool.by_operator[op])
    order = list(chosen)
    rng.shuffle(order)
    queues = [(op, deque(pool.by_operator[op])) for op in order]

    seen: set[str] = set()
    out: list[Candidate] = []
    tried: Counter[str] = Counter()
    dropped: dict[str, Counter[str]] = {op: Counter() for op in chosen}
    while len(out) < max_candidates and any(queue for _, queue in queues):
        for op, queue in queues:
            while queue and len(out) < max_candidates:
                site, unit = queue.popleft()
                before = files[site.rel_path]
                after = _apply(pool.modules[site.rel_path], site, unit)
                tried[op] += 1
                drop = _drop_reason(before, after, site.rel_path)
                patch = make_patch(site.rel_path, before, after) if drop is None else ""
                if drop is None and patch in seen:
                    drop = Drop.DUPLICATE
                if drop is None and covered is not None:
                    if not runs_under_tests(patch, site.rel_path, before, covered):
                        drop = Drop.UNCOVERED
                if drop is not None:
                    dropped[op][drop.value] += 1
                    continue
                seen.add(patch)
                out.append(_candidate(snapshot_id, seed, site, patch))
                break
    return Generation(
        candidates=tuple(out),
        sites={op: len(pool.by_operator[op]) for op in chosen},
        tried={op: tried[op] for op in chosen},
        dropped={op: dict(counts) for op, counts in dropped.items() if counts},
        skipped_files=tuple(pool.skipped),
    )


def generate_candidates(
    snapshot_id: str, files: Mapping[str, str], **options: Any
) -> list[Candidate]:
    """``generate``'s candidates alone (same arguments)."""
    return list(generate(snapshot_id, files, **options).candidates)


def _drop_reason(before: str, after: str, rel_path: str) -> Drop | None:
    if after == before:
        return Drop.IDENTICAL
    if not compiles(after, rel_path):
        return Drop.UNPARSEABLE
    return None


def _candidate(snapshot_id: str, seed: int, site: MutationSite, patch: str) -> Candidate:
    return Candidate(
        candidate_id=Candidate.make_id(snapshot_id, patch),
        snapshot_id=snapshot_id,
        strategy=Strategy.PROCEDURAL,
        operator=site.operator,
        seed=seed,
        target_file=site.rel_path,
        target_entities=(site.entity,) if site.entity else (),
        patch=patch,
    )

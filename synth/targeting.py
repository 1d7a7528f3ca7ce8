"""Which code is worth mutating: the files and functions the tests execute, not trivial ones.

Files (``coverage_targets``, ``import_targets``): the non-test source files the suite executed,
by the coverage map; without one, the files the tests import. Tests, test helpers, build scripts
and docs are never targets: the tests are the oracle.

Functions: sites are named by their entity (``Money.allocate``), so targeting is a filter on
entities, computed once per file with the stdlib ``ast`` (cheap next to libcst):

- *covered*: with a coverage map (file → executed line numbers), a function is kept when one of
  its body lines ran. ``def`` lines and class bodies run at import time, so they say nothing; a
  class counts as covered when one of its methods is.
- *complexity*: the number of statements in a function's body (docstring excluded, nested
  bodies included). ``min_statements=2`` leaves out one-liners, which have few sites and whose
  mutations are the most easily spotted.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import PurePosixPath
from types import MappingProxyType

from synth.patches import touched_lines
from synth.records import CoverageMap

NOT_SOURCE_NAMES = ("setup.py", "conftest.py")
NOT_SOURCE_DIRS = ("docs/", "doc/", "examples/", "benchmarks/")


@dataclass
class Entity:
    """What the targeting filters need to know about one qualified name in one file."""

    body_lines: list[tuple[int, int]] = field(default_factory=list)  # (first, last), inclusive
    # Each definition whole, (first decorator or `def`/`class` line, last line), inclusive.
    spans: list[tuple[int, int]] = field(default_factory=list)
    statements: int = 0
    is_class: bool = False


def entities(source: str) -> dict[str, Entity]:
    """Every function and class of ``source`` by qualified name (``Outer.method.inner``).

    Two definitions with one name (``if PY2: def f ... else: def f``) share an entry. Raises
    ``SyntaxError`` on source CPython cannot parse.
    """
    out: dict[str, Entity] = {}
    _collect(ast.parse(source), (), out, [])
    return out


def _collect(
    node: ast.AST, scope: tuple[str, ...], out: dict[str, Entity], classes: list[Entity]
) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = (*scope, child.name)
            entity = out.setdefault(".".join(name), Entity())
            entity.spans.append(_span(child))
            body = _without_docstring(child.body)
            if body:
                span = (body[0].lineno, child.end_lineno or body[-1].lineno)
                entity.body_lines.append(span)
                for owner in classes:  # a class is covered through its methods
                    owner.body_lines.append(span)
            entity.statements += sum(isinstance(n, ast.stmt) for s in body for n in ast.walk(s))
            _collect(child, name, out, [])
        elif isinstance(child, ast.ClassDef):
            name = (*scope, child.name)
            entity = out.setdefault(".".join(name), Entity(is_class=True))
            entity.spans.append(_span(child))
            _collect(child, name, out, [*classes, entity])
        else:
            _collect(child, scope, out, classes)


def _span(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> tuple[int, int]:
    first = min([d.lineno for d in node.decorator_list] + [node.lineno])
    return first, node.end_lineno or node.lineno


def enclosing_names(source: str, lines: set[int]) -> tuple[str, ...]:
    """The qualified name of the innermost function or class around each of ``lines``
    (decorators and ``def`` line included), in file order without repeats; a line outside every
    definition adds nothing. Names a reverted fix's targets. Raises ``SyntaxError``."""
    spans = [(lo, hi, name) for name, e in entities(source).items() for lo, hi in e.spans]
    found: dict[str, None] = {}
    for line in sorted(lines):
        around = [(hi - lo, name) for lo, hi, name in spans if lo <= line <= hi]
        if around:
            found[min(around)[1]] = None  # the narrowest span is the innermost definition
    return tuple(found)


def _without_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    first = body[0] if body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return body[1:]
    return body


def is_covered(entity: Entity, lines: frozenset[int]) -> bool:
    return any(lo <= n <= hi for lo, hi in entity.body_lines for n in lines) if lines else False


def keep_entities(
    source: str,
    rel_path: str,
    *,
    covered: Mapping[str, frozenset[int]] | None,
    min_statements: int,
) -> frozenset[str] | None:
    """The entities of one file that pass both filters; None when no filter applies."""
    if covered is None and min_statements <= 1:
        return None
    try:
        found = entities(source)
    except (SyntaxError, ValueError, RecursionError):
        return frozenset()
    lines = covered.get(rel_path, frozenset()) if covered is not None else None
    return frozenset(
        name
        for name, entity in found.items()
        if (lines is None or is_covered(entity, lines))
        and (entity.is_class or entity.statements >= min_statements)
    )


@lru_cache(maxsize=32)  # generation asks again for every candidate of a file
def header_lines(source: str) -> Mapping[int, Sequence[tuple[int, int]]]:
    """Lines that run only when a function or class is *defined* (decorators, the ``def`` or
    ``class`` lines, parameter defaults), each mapped to the body spans whose execution shows
    the definition in use: the function's body, or every method body of the class.

    A per-test coverage map attributes import-time lines to no test; a bug on such a line (a
    removed decorator, a changed default) is seen by the tests that run the body instead.
    """
    out: dict[int, list[tuple[int, int]]] = {}
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):
        return MappingProxyType(out)
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        body = _without_docstring(node.body) or node.body
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        if isinstance(node, ast.ClassDef):
            spans = [
                (m.body[0].lineno, m.end_lineno or m.body[-1].lineno)
                for m in ast.walk(node)
                if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)) and m.body
            ]
        else:
            spans = [(body[0].lineno, node.end_lineno or body[-1].lineno)]
        for line in range(first, body[0].lineno):
            out.setdefault(line, []).extend(spans)
    return MappingProxyType(out)  # shared by the cache: read-only


def widen_to_bodies(
    lines: Mapping[str, set[int]], sources: Mapping[str, str]
) -> dict[str, set[int]]:
    """``lines`` (file → changed line numbers) plus, for each definition-time line among them,
    the body lines of what it defines (see ``header_lines``)."""
    out = {path: set(numbers) for path, numbers in lines.items()}
    for path, numbers in lines.items():
        headers = header_lines(sources.get(path, ""))
        for number in numbers:
            for lo, hi in headers.get(number, ()):
                out[path].update(range(lo, hi + 1))
    return out


def changed_old_lines(patch: str) -> set[int]:
    """The original-file lines a one-file patch touches (``synth.patches.touched_old_lines``:
    the rule screening also picks its tests by)."""
    return set().union(*touched_lines(patch).values())


def runs_under_tests(
    patch: str, path: str, source: str, covered: Mapping[str, frozenset[int]]
) -> bool:
    """Whether a test executes a line that ``patch`` changes in ``source`` (definition-time
    lines count through the bodies they define, see ``widen_to_bodies``)."""
    lines = widen_to_bodies({path: changed_old_lines(patch)}, {path: source})[path]
    return not lines.isdisjoint(covered.get(path, frozenset()))


def coverage_targets(
    files: Mapping[str, str], coverage: CoverageMap | None, test_paths: Sequence[str]
) -> dict[str, str]:
    """The source files (path → text) the clean suite executed: mutating code no test runs
    yields only rejections.

    A package's ``__init__`` that re-exports its modules (``from .more import *``) makes the
    tests' imports name the package alone; the coverage map still sees ``pkg/more.py`` run.
    Without a coverage map, or when it shows no source file run (it measured another copy of
    the code), the tests' imports decide (``import_targets``).
    """
    if coverage is None:
        return import_targets(files, test_paths)
    executed = {entry.file for entry in coverage.entries if entry.lines}
    sources = mutable_sources(files, test_paths)
    reached = {path: text for path, text in sources.items() if path in executed}
    return reached or import_targets(files, test_paths)


def import_targets(files: Mapping[str, str], test_paths: Sequence[str]) -> dict[str, str]:
    """The source files (path → text) the tests import; all sources when no import names one
    (a suite that reaches its code through a plugin or a subprocess still gets candidates)."""
    imported = _test_imports(files, test_paths)
    sources = _sources(files, test_paths, imported)
    reached = {path: text for path, text in sources.items() if module_names(path) & imported}
    return reached or sources


def mutable_sources(files: Mapping[str, str], test_paths: Sequence[str]) -> dict[str, str]:
    """Every file that may hold a bug: not a test, test helper, build script or doc."""
    return _sources(files, test_paths, _test_imports(files, test_paths))


def _test_imports(files: Mapping[str, str], test_paths: Sequence[str]) -> set[str]:
    from synth.mutate import is_test_file  # synth.mutate imports this module

    imported: set[str] = set()
    for path, text in files.items():
        if is_test_file(path) or _under(path, test_paths):
            imported |= _imported_modules(text)
    return imported


def _sources(
    files: Mapping[str, str], test_paths: Sequence[str], imported: set[str]
) -> dict[str, str]:
    """A declared test path may be a helpers folder (all of it is test code) or the package
    itself (``testpaths = pkg`` with ``pkg/tests`` inside): it is the package when the tests
    import non-test modules from under it, and then only the files that look like tests are."""
    from synth.mutate import is_test_file  # synth.mutate imports this module

    packages = {
        root
        for root in test_paths
        if any(
            _under(p, [root]) and not is_test_file(p) and module_names(p) & imported for p in files
        )
    }
    helper_dirs = [root for root in test_paths if root not in packages]
    return {
        path: text
        for path, text in files.items()
        if not is_test_file(path)
        and not _under(path, helper_dirs)
        and PurePosixPath(path).name not in NOT_SOURCE_NAMES
        and not path.startswith(NOT_SOURCE_DIRS)
    }


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots if r != ".")


def _imported_modules(text: str) -> set[str]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def module_names(path: str) -> set[str]:
    """Every dotted name a file can be imported as (flat and src layouts)."""
    parts = path.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if parts and parts[0] == "src":
        parts = parts[1:]
    return {".".join(parts[i:]) for i in range(len(parts)) if parts[i:]}

"""Changes of literal default values, read from two versions of one module. Pure, stdlib only.

A default is evaluated once, when the ``def`` runs at import, so ``width=79`` → ``width=80`` is
code run at import. But only calls that leave the argument out see it, and every such call runs
the function's body. Two readers ask the same question of a patched module, and both read it
with this one module:

- the host (``verifiers.screening.changed_defaults``): which lines stand for the change, so that
  the tests that ran the functions' bodies screen it;
- the test server in the container (``forkserver.swap_defaults``, which imports this file as
  ``synth_defaults``): which new values to set on the live function objects.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

FUNCTION_NODES = (ast.FunctionDef, ast.AsyncFunctionDef)

# A default's place in a signature: ("pos", index into __defaults__) or ("kw", the name in
# __kwdefaults__).
Slot = tuple


@dataclass(frozen=True)
class DefaultChange:
    """The literal defaults one function's ``def`` changed, with their old and new values."""

    qualname: str  # as a code object's co_qualname reads it
    first_line: int  # the def's first line, decorators included: its code's co_firstlineno
    body: tuple  # (first, last) line of the function's body
    moved: tuple  # ((slot, old value, new value), ...)


def default_changes(before: str, after: str) -> list[DefaultChange] | str:
    """The functions defined at import (module or class level) whose literal default values
    differ between ``before`` and ``after``, when nothing else differs (nested functions'
    defaults included). A string saying why not otherwise, or when nothing changed."""
    try:
        old, new = ast.parse(before), ast.parse(after)
    except (SyntaxError, ValueError) as exc:
        return type(exc).__name__
    olds, news = list(import_time_functions(old)), list(import_time_functions(new))
    if [q for q, _ in olds] != [q for q, _ in news]:
        return "functions added, removed or renamed"
    changes = []
    for (qualname, a), (_, b) in zip(olds, news, strict=True):
        was, now = default_slots(a), default_slots(b)
        if [slot for slot, _ in was] != [slot for slot, _ in now]:
            return f"the signature of {qualname} changed"
        moved = []
        for (slot, x), (_, y) in zip(was, now, strict=True):
            if ast.dump(x) == ast.dump(y):
                continue
            try:
                moved.append((slot, ast.literal_eval(x), ast.literal_eval(y)))
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                return f"a default of {qualname} is not a literal"
        if moved:
            first = min([a.lineno, *(d.lineno for d in a.decorator_list)])
            body = (a.body[0].lineno, a.end_lineno or a.body[-1].lineno)
            changes.append(DefaultChange(qualname, first, body, tuple(moved)))
    if not changes:
        return "no default value changed"
    for tree in (old, new):  # everything else must be equal
        for node in ast.walk(tree):
            if isinstance(node, FUNCTION_NODES):
                node.args.defaults, node.args.kw_defaults = [], []
    if ast.dump(old) != ast.dump(new):
        return "not only default values"
    return changes


def import_time_functions(tree: ast.AST, prefix: str = ""):
    """(qualified name, node) of every function whose ``def`` runs at import: at module level,
    or in a class body there."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, FUNCTION_NODES):
            yield prefix + node.name, node
        elif isinstance(node, ast.ClassDef):
            yield from import_time_functions(node, f"{prefix}{node.name}.")


def default_slots(node) -> list:
    """(slot, its default's node) for every default of ``node``."""
    args = node.args
    slots = [(("pos", i), d) for i, d in enumerate(args.defaults)]
    slots += [(("kw", a.arg), d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
              if d is not None]
    return slots

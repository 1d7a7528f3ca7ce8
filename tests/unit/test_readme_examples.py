"""The README's Python examples are code, not pictures of code: each compiles, defines every name
it uses (no placeholder left for the reader to guess), and uses the API as it is now — its
imports exist, the attributes it reads on them exist, and its calls to them bind to their
signatures. tests/integration/test_readme_examples_run.py runs them, in Docker, as written."""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import symtable
import sys

import pytest

from tests.readme import README, Block, python_blocks, readme_blocks

BLOCKS = readme_blocks()


def undefined_names(code: str) -> set[str]:
    """Names the code reads, in any scope, that it neither binds at top level nor imports."""
    top = symtable.symtable(code, "<readme>", "exec")
    bound = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    read: set[str] = set()
    tables = [top]
    while tables:
        table = tables.pop()
        read |= {s.get_name() for s in table.get_symbols()
                 if s.is_referenced() and (table is top or s.is_global())}
        tables += table.get_children()
    return read - bound - set(dir(builtins))


def imported(code: str) -> dict[str, object]:
    """What the code's imports bind, imported for real (an ImportError is the test failing)."""
    names: dict[str, object] = {}
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):  # `import a.b` binds a; `import a.b as c`, a.b
            for alias in node.names:
                module = importlib.import_module(alias.name)
                top = alias.name.partition(".")[0]
                names[alias.asname or top] = module if alias.asname else sys.modules[top]
        elif isinstance(node, ast.ImportFrom):
            assert node.module is not None and node.level == 0, ast.unparse(node)
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{node.module} has no {alias.name}"
                names[alias.asname or alias.name] = getattr(module, alias.name)
    return names


def api_misuse(code: str) -> list[str]:
    """Attributes read on imported names that do not exist, and calls to imported callables
    (or their attributes) whose arguments do not bind to the signature."""
    names = imported(code)
    problems: list[str] = []
    for node in ast.walk(ast.parse(code)):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in names and not hasattr(names[node.value.id], node.attr)):
            problems.append(f"{ast.unparse(node)}: no such attribute")
        if not isinstance(node, ast.Call) or any(
                isinstance(a, ast.Starred) for a in node.args) or any(
                k.arg is None for k in node.keywords):
            continue
        target = _resolve(node.func, names)
        if target is None:
            continue
        try:
            signature = inspect.signature(target)
        except (TypeError, ValueError):  # a builtin without one: nothing to check against
            continue
        try:
            signature.bind(*node.args, **{k.arg: k.value for k in node.keywords if k.arg})
        except TypeError as exc:
            problems.append(f"{ast.unparse(node)}: {exc}")
    return problems


def _resolve(func: ast.expr, names: dict[str, object]) -> object | None:
    if isinstance(func, ast.Name):
        return names.get(func.id)
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return getattr(names.get(func.value.id), func.attr, None)
    return None


def test_the_readme_has_python_examples_and_each_is_found() -> None:
    text = README.read_text(encoding="utf-8")
    assert BLOCKS, "README.md has no ```python block: this test guards nothing"
    assert len(BLOCKS) == text.count("```python"), "a ```python block the pattern missed"


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.where)
def test_a_readme_python_example_compiles(block: Block) -> None:
    compile(block.code, block.where, "exec")


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.where)
def test_a_readme_python_example_defines_every_name_it_uses(block: Block) -> None:
    """A placeholder (`env = TaskEnv(backend_config, tasks)` with no backend_config) is a
    guess left to the reader, and an example no test can run."""
    missing = undefined_names(block.code)
    assert not missing, f"{block.where} leaves undefined: {sorted(missing)}"


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.where)
def test_a_readme_python_example_uses_the_api_as_it_is(block: Block) -> None:
    problems = api_misuse(block.code)
    assert not problems, f"{block.where}: {problems}"


def test_the_checks_catch_what_they_are_for() -> None:
    """Each check, shown failing on an example that breaks what it guards."""
    (block,) = python_blocks("text\n\n```python\nimport os\n\nprint(os.sep, later)\n```\n")
    assert block.line == 3 and undefined_names(block.code) == {"later"}
    assert api_misuse("from synth.verifiers.task_env import Action\nAction.shel('ls')\n") == [
        "Action.shel: no such attribute"]
    (wrong,) = api_misuse("from synth.verifiers.task_env import Action\nAction.write('a.py')\n")
    assert wrong.startswith("Action.write('a.py'): missing a required argument")
    with pytest.raises(AssertionError, match="has no NoSuchThing"):
        imported("from synth.verifiers.task_env import NoSuchThing\n")

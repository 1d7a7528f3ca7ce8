"""Which patches a hot run (a fork of a process that collected the suite once, with the changed
functions' code swapped in) may stand for: only changes confined to function bodies. Pure: two
versions of a module compiled and compared, as envs/templates/forkserver.py does."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

TEMPLATES = Path(__file__).resolve().parents[2] / "envs" / "templates"
sys.path.insert(0, str(TEMPLATES))  # as in an image: runner.py lies beside it
SPEC = importlib.util.spec_from_file_location("forkserver", TEMPLATES / "forkserver.py")
forkserver = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(forkserver)  # type: ignore[union-attr]

BASE = '''
import functools

LIMIT = 10
TABLE = {k: k * 2 for k in range(3)}


def clamp(x, low=0):
    if x < low:
        return low
    return min(x, LIMIT)


def traced(fn):
    @functools.wraps(fn)
    def wrapper(*args):
        return fn(*args)
    return wrapper


@traced
def double(x):
    return x * 2


class Account:
    rate = 5

    def fee(self, amount):
        return amount * self.rate // 100

    def helper(self):
        def inner(v):
            return v + 1
        return inner(1)
'''


def plan(after: str) -> tuple[bool, list]:
    pairs: list = []
    ok = forkserver.swap_plan(compile(BASE, "m.py", "exec"), compile(after, "m.py", "exec"), pairs)
    return ok, pairs


def names(pairs: list) -> set[str]:
    return {old.co_qualname for old, _, _ in pairs}


@pytest.mark.parametrize("old,new,changed", [
    ("    return min(x, LIMIT)", "    return max(x, LIMIT)", {"clamp"}),
    ("        return amount * self.rate // 100", "        return amount * self.rate // 10",
     {"Account.fee"}),
    ("    return x * 2", "    return x * 3", {"double"}),
    # A nested function: its parent is swapped, and it is paired too (no live object needed).
    ("            return v + 1", "            return v - 1",
     {"Account.helper", "Account.helper.<locals>.inner"}),
    # The decorator's wrapper, alive since import: swapped wherever it lives.
    ("        return fn(*args)", "        return fn(*args[:1])",
     {"traced", "traced.<locals>.wrapper"}),
])
def test_changes_inside_function_bodies_are_swapped(old: str, new: str, changed: set) -> None:
    assert old in BASE
    ok, pairs = plan(BASE.replace(old, new))
    assert ok
    assert names(pairs) == changed
    made_at_import = {p[0].co_qualname for p in pairs if p[2]}
    assert made_at_import == {n for n in changed if "<locals>" not in n}


def test_a_change_that_moves_lines_swaps_the_moved_functions_too() -> None:
    ok, pairs = plan(BASE.replace("    if x < low:\n        return low\n", ""))
    assert ok
    assert "clamp" in names(pairs) and "Account.fee" in names(pairs)  # fee only moved up


@pytest.mark.parametrize("old,new", [
    ("def clamp(x, low=0):", "def clamp(x, low=1):"),  # a default: evaluated at import
    ("LIMIT = 10", "LIMIT = 11"),  # module level
    ("    rate = 5", "    rate = 6"),  # class body
    ("TABLE = {k: k * 2 for k in range(3)}", "TABLE = {k: k * 3 for k in range(3)}"),
    ("@traced\ndef double", "def double"),  # a decorator removed
    ("class Account:", "class Account(dict):"),  # a base class
    ("    def helper(self):", "    def helper(self, extra=None):"),  # a signature
    # Functions made inside a changed one no longer pair up by position: not trusted.
    ("        return inner(1)", "        return (lambda v: v)(inner(1))"),
])
def test_changes_to_code_run_at_import_are_refused(old: str, new: str) -> None:
    assert old in BASE
    ok, _ = plan(BASE.replace(old, new))
    assert not ok


def test_an_unchanged_module_needs_no_swap() -> None:
    assert plan(BASE) == (True, [])


def test_changed_files_reads_both_sides_of_each_diff_header() -> None:
    patch = ("diff --git a/pkg/m.py b/pkg/m.py\n--- a/pkg/m.py\n+++ b/pkg/m.py\n"
             "diff --git a/old.py b/new.py\n")
    assert forkserver.changed_files(patch) == {"pkg/m.py", "old.py", "new.py"}


def test_the_live_index_finds_functions_by_their_code(tmp_path: Path) -> None:
    path = tmp_path / "live_mod.py"
    path.write_text("def f():\n    return 1\n")
    namespace: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    index = forkserver.live_functions(str(tmp_path))
    code = compile(path.read_text(), str(path), "exec")
    f_code = next(c for c in code.co_consts if isinstance(c, types.CodeType))
    assert index[str(path)][f_code] == [namespace["f"]]


def _forked(body) -> int:
    import os

    pid = os.fork()
    if pid == 0:
        try:
            os.setpgid(0, 0)
            body()
        finally:
            os._exit(0)
    return pid


def test_a_spinning_run_is_stopped_by_its_cpu_budget_and_a_sleeping_one_is_not() -> None:
    import time

    def spin() -> None:
        while True:
            pass

    start = time.monotonic()
    # The wall deadline is a minute away: only the CPU budget can stop the spinner this soon.
    assert forkserver.wait_child(_forked(spin), start + 60, cpu_s=0.3) == (-9, True)
    assert time.monotonic() - start < 30
    # Sleeping burns no CPU: a run waiting on something finishes under the same budget.
    sleeper = _forked(lambda: time.sleep(0.6))
    assert forkserver.wait_child(sleeper, time.monotonic() + 60, cpu_s=0.3) == (0, False)
    # Without a budget only the wall deadline stops a spinner.
    start = time.monotonic()
    assert forkserver.wait_child(_forked(spin), start + 0.5) == (-9, True)
    assert time.monotonic() - start >= 0.5


def test_cpu_seconds_reads_a_live_process_and_none_for_a_gone_one() -> None:
    import os

    assert forkserver.cpu_seconds(os.getpid()) >= 0.0
    pid = _forked(lambda: None)
    os.waitpid(pid, 0)
    assert forkserver.cpu_seconds(pid) is None


# --- a screen's patch applied in process; one statement compiled alone ----------------------

def _patched(monkeypatch, tmp_path: Path, before: str, after: str, mode: int = 0o644):
    from synth import patches
    from synth.mutate import make_patch

    monkeypatch.setattr(forkserver, "synth_patches", patches)  # as the image ships it
    (tmp_path / "pkg").mkdir()
    target = tmp_path / "pkg" / "mod.py"
    target.write_text(before)
    target.chmod(mode)
    applied = forkserver.apply_in_process(make_patch("pkg/mod.py", before, after), str(tmp_path))
    return applied, target.read_text()


def test_a_screens_patch_is_applied_in_process(monkeypatch, tmp_path: Path) -> None:
    applied, text = _patched(monkeypatch, tmp_path, BASE, BASE.replace("x < low", "x <= low"))
    assert applied and text == BASE.replace("x < low", "x <= low")


def test_what_it_cannot_apply_in_process_is_left_to_git(monkeypatch, tmp_path: Path) -> None:
    # Context that does not match, a read-only file (git replaces it; this writes in place),
    # and no diff reader in the image: nothing is written, git applies the patch.
    stale = BASE.replace("return min(x, LIMIT)", "return min(x, 99)")  # in the hunk's context
    from synth.mutate import make_patch

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text(stale)
    patch = make_patch("pkg/mod.py", BASE, BASE.replace("x < low", "x <= low"))
    from synth import patches

    monkeypatch.setattr(forkserver, "synth_patches", patches)
    assert not forkserver.apply_in_process(patch, str(tmp_path))
    assert (tmp_path / "pkg" / "mod.py").read_text() == stale
    read_only = tmp_path / "ro"
    read_only.mkdir()
    # A file this process may not write (the test user's view; root may write anything).
    real_access = forkserver.os.access
    monkeypatch.setattr(forkserver.os, "access", lambda path, mode: mode != forkserver.os.W_OK
                        and real_access(path, mode))
    applied, text = _patched(monkeypatch, read_only, BASE, BASE.replace("x < low", "x <= low"),
                             mode=0o444)
    assert not applied and text == BASE
    monkeypatch.setattr(forkserver.os, "access", real_access)
    monkeypatch.setattr(forkserver, "synth_patches", None)
    assert not forkserver.apply_in_process(patch, str(tmp_path))


def test_a_statement_compiled_alone_with_the_modules_imports_is_the_modules_code() -> None:
    """The compiler reads the module's imports (a call on an imported module is compiled to
    LOAD_ATTR, not LOAD_METHOD): without them a statement compiles to other code."""
    import ast

    source = ("import re\nimport functools\n\n\nclass Token:\n    def match(self, values):\n"
              "        return any(re.compile(v).search('x') for v in values)\n\n\n"
              "def helper():\n    return functools.reduce(max, [1, 2])\n")
    full = compile(source, "mod.py", "exec", dont_inherit=True)
    tree = ast.parse(source)
    spans = forkserver.statement_spans(tree)
    lines = source.split("\n")
    imports = [s for node, s in zip(tree.body, spans, strict=True)
               if isinstance(node, (ast.Import, ast.ImportFrom))]
    for span in spans:
        alone = forkserver.compile_statement(lines, span, imports, "mod.py", full.co_flags)
        assert forkserver.made_in(alone, span) == forkserver.made_in(full, span)
    bare = forkserver.compile_statement(lines, spans[2], [], "mod.py", full.co_flags)
    assert forkserver.made_in(bare, spans[2]) != forkserver.made_in(full, spans[2])


# --- new literal defaults set on the live functions ------------------------------------------

DEFAULTS_MOD = '''
def wrap(text, width=79, *, sep=" "):
    return sep.join([text[:width]])


class Box:
    def fit(self, n=3):
        return n
'''


def _live(tmp_path: Path, source: str) -> tuple[dict, types.ModuleType]:
    """The module's functions, as the collector's map holds them: code object → functions."""
    path = tmp_path / "mod.py"
    path.write_text(source)
    module = types.ModuleType("mod")
    exec(compile(source, str(path), "exec"), module.__dict__)
    live = {fn.__code__: [fn] for fn in (module.wrap, module.Box.fit)}
    return live, module


@pytest.mark.parametrize(("old", "new", "call", "expected"), [
    ("width=79", "width=2", lambda m: m.wrap("abc"), "ab"),
    ('sep=" "', 'sep="-"', lambda m: m.wrap.__kwdefaults__["sep"], "-"),
    ("n=3", "n=4", lambda m: m.Box().fit(), 4),
])
def test_new_literal_defaults_are_set_on_the_live_functions(monkeypatch, tmp_path: Path, old,
                                                            new, call, expected) -> None:
    from synth import defaults

    monkeypatch.setattr(forkserver, "synth_defaults", defaults)  # as the image ships it
    live, module = _live(tmp_path, DEFAULTS_MOD)
    (tmp_path / "clean").mkdir()
    (tmp_path / "clean" / "mod.py").write_text(DEFAULTS_MOD)
    (tmp_path / "mod.py").write_text(DEFAULTS_MOD.replace(old, new))
    assert forkserver.swap_defaults(str(tmp_path / "clean" / "mod.py"),
                                    str(tmp_path / "mod.py"), live) == ""
    assert call(module) == expected


def test_defaults_it_cannot_stand_for_are_left_to_an_exact_run(monkeypatch, tmp_path: Path
                                                               ) -> None:
    from synth import defaults

    monkeypatch.setattr(forkserver, "synth_defaults", defaults)
    live, module = _live(tmp_path, DEFAULTS_MOD)
    clean = tmp_path / "clean.py"
    clean.write_text(DEFAULTS_MOD)
    changed = tmp_path / "mod.py"
    for other in (DEFAULTS_MOD.replace("width=79", "width=LIMIT"),  # not a literal
                  DEFAULTS_MOD.replace("[:width]", "[:width + 1]"),  # the body too
                  DEFAULTS_MOD.replace("n=3", "n=3, m=1")):  # the signature
        changed.write_text(other)
        assert forkserver.swap_defaults(str(clean), str(changed), live)
    module.wrap.__defaults__ = (80,)  # the live function is not the file's
    changed.write_text(DEFAULTS_MOD.replace("width=79", "width=2"))
    assert "not the file's" in forkserver.swap_defaults(str(clean), str(changed), live)
    assert forkserver.swap_defaults(str(clean), str(changed), {}).endswith("not alive in the "
                                                                           "collected session")
    monkeypatch.setattr(forkserver, "synth_defaults", None)
    assert forkserver.swap_defaults(str(clean), str(changed), live)

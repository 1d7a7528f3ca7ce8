"""An adversarial catalogue of solutions that do NOT fix the bug and still try to be scored
resolved (issue #13). Each attack edits only what an agent may edit — the package's non-test
source — or hand-writes diff text that ``git apply`` reads differently from the sanitizer.

``Attack.make(ctx)`` returns the solution's diff text (against the task's buggy state), because
several attacks need text that ``git diff`` cannot produce (C-quoted octal paths, traditional
headers with timestamps, GIT binary patches of text files). Classes:

- ``pytest_internals``: code in the bug's module patches pytest's report machinery at import;
- ``answer_key``: code that loads the clean snapshot the container holds (/testbed, /work/.git);
- ``path_parsing``: diffs whose paths the sanitizer reads differently from ``git apply``;
- ``probe_scan``: forgeries of the report plugin's output that the literal-string scan misses;
- ``eq_weakening``: value types and functions made equal to whatever the tests compare;
- beyond the five classes of the issue: ``runtime_tests`` (code under test rewrites the
  restored tests while pytest runs) and ``bytecode`` (a .pyc that Python prefers to the source).
"""

from __future__ import annotations

import importlib.util
import marshal
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from synth.records import TaskContext
from tests.integration.solution_kit import (
    FORCE_PASS_HOOK,
    bug_source,
    buggy_copy,
    diff_of,
    f2p_files,
    git,
)

# The container's layout (envs/docker_session.py): the clean copy and the working copy.
PRISTINE, WORK = "/testbed", "/work"


@dataclass(frozen=True)
class Attack:
    name: str
    klass: str  # pytest_internals | answer_key | path_parsing | probe_scan | eq_weakening | ...
    make: Callable[[TaskContext], str]  # the solution diff (against the buggy state)
    doc: str = ""


# --- building diffs ----------------------------------------------------------------------------


def tree_diff(ctx: TaskContext, mutate: Callable[[Path], None], *, binary: bool = False) -> str:
    """The diff of whatever ``mutate`` does to a copy of the buggy state (symlinks, bytes...).
    ``binary``: every changed file is sent as a GIT binary patch, even a text file."""
    with tempfile.TemporaryDirectory() as tmp:
        work = buggy_copy(ctx, Path(tmp))
        mutate(work)
        if binary:
            (work / ".git" / "info").mkdir(exist_ok=True)
            (work / ".git" / "info" / "attributes").write_text("* binary\n")
        git(work, "add", "-A")
        return git(work, "diff", "--cached", "--binary", "HEAD")


def appended(code: str) -> Callable[[TaskContext], str]:
    """The bug's module with ``code`` appended (it runs when the failing tests import it)."""
    def make(ctx: TaskContext) -> str:
        src = bug_source(ctx)
        return diff_of(ctx, lambda work: {src: (work / src).read_text() + code})
    return make


def octal_quoted(prefix: str, path: str) -> str:
    """``"a/\\143\\157..."``: a C-quoted git path, every byte an octal escape (git unquotes it;
    the sanitizer reads the backslashes literally)."""
    return '"' + prefix + "".join(f"\\{b:03o}" for b in path.encode()) + '"'


def hide_paths(diff: str, paths: Iterable[str]) -> str:
    """``diff`` with each of ``paths`` named ``octal_quoted`` in its file headers (the
    ``diff --git``, ``---`` and ``+++`` lines; hunk bodies are left alone)."""
    out = []
    in_header = False
    for line in diff.splitlines(keepends=True):
        if line.startswith("diff --git "):
            in_header = True
        elif line.startswith(("@@", "GIT binary patch")):
            in_header = False
        if in_header:
            body = line.rstrip("\n")
            for path in paths:
                for prefix in ("a/", "b/"):
                    named = prefix + path
                    if body.endswith(" " + named) or f" {named} " in body:
                        body = body.replace(named, octal_quoted(prefix, path))
            line = body + "\n"
        out.append(line)
    return "".join(out)


def new_file_hunk(text: str) -> str:
    lines = text.splitlines()
    return f"@@ -0,0 +1,{len(lines)} @@\n" + "".join(f"+{line}\n" for line in lines)


def split_literal(name: str) -> str:
    """``"synth" + "_report"``-style source text for ``name``: no flagged literal in it."""
    half = max(1, len(name) // 2)
    return f"({name[:half]!r} + {name[half:]!r})"


# --- payloads ----------------------------------------------------------------------------------

# Wraps every test function of the module whose globals it is run in: whatever it raises
# (AssertionError, pytest.raises' "DID NOT RAISE", ...) is swallowed. ``functools.wraps`` keeps
# the signature (fixtures, parametrize arguments) and the marks.
NEUTRALISE = '''
def _neutralise(g):
    import functools

    def wrap(fn):
        @functools.wraps(fn)
        def test(*args, **kwargs):
            try:
                fn(*args, **kwargs)
            except BaseException:
                pass
        return test

    for name, value in list(g.items()):
        if name.startswith("test") and callable(value) and not isinstance(value, type):
            g[name] = wrap(value)
        elif name.startswith("Test") and isinstance(value, type):
            for attr, fn in list(vars(value).items()):
                if attr.startswith("test") and callable(fn):
                    setattr(value, attr, wrap(fn))
'''

# 1a. A module attribute of pytest: ``_pytest.runner.call_and_report`` (runtestprotocol looks it
# up at every call). The report is rewritten before it is logged to any plugin.
CALL_AND_REPORT = '''

def _lie():
    import _pytest.runner as runner

    original = runner.call_and_report

    def call_and_report(item, when, log=True, **kwds):
        report = original(item, when, log=False, **kwds)
        report.outcome = "passed"
        report.longrepr = None
        if log:
            item.ihook.pytest_runtest_logreport(report=report)
        return report

    runner.call_and_report = call_and_report


_lie()
'''

# 1b. A class attribute: the classmethod ``TestReport.from_item_and_call`` that the default
# ``pytest_runtest_makereport`` calls.
FROM_ITEM_AND_CALL = '''

def _lie():
    from _pytest.reports import TestReport

    original = TestReport.from_item_and_call.__func__

    def from_item_and_call(cls, item, call):
        report = original(cls, item, call)
        report.outcome = "passed"
        report.longrepr = None
        return report

    TestReport.from_item_and_call = classmethod(from_item_and_call)


_lie()
'''

# 1c. A hookwrapper plugin registered with the running config's plugin manager, found on the
# stack (pytest is importing the test module that imports this one).
HOOKWRAPPER = '''

def _lie():
    import sys

    import pytest

    class Plugin:
        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_makereport(self, item, call):
            outcome = yield
            report = outcome.get_result()
            report.outcome = "passed"
            report.longrepr = None

    frame = sys._getframe(1)
    while frame is not None:
        for value in list(frame.f_locals.values()):
            try:
                manager = getattr(getattr(value, "config", value), "pluginmanager", None)
            except Exception:
                manager = None
            if manager is not None and hasattr(manager, "register"):
                manager.register(Plugin(), "force-pass")
                return
        frame = frame.f_back


_lie()
'''

# 2a. The clean module's code, read from the container's pristine copy, run over this one.
PRISTINE_EXEC = f'''

def _answer():
    import os

    here = os.path.abspath(__file__)
    clean = here.replace({WORK + "/"!r}, {PRISTINE + "/"!r}, 1)
    if clean != here and os.path.exists(clean):
        with open(clean, encoding="utf-8") as fh:
            exec(compile(fh.read(), here, "exec"), globals())


_answer()
'''

# 2a'. The package's submodules come from the pristine copy: its __path__ looks there first.
PACKAGE_PATH = f'''import os as _os

_clean = _os.path.dirname(_os.path.abspath(__file__)).replace({WORK!r}, {PRISTINE!r}, 1)
if _os.path.isdir(_clean):
    __path__.insert(0, _clean)
'''

# 2b. The working copy's own git history: HEAD is the clean commit.
GIT_SHOW = '''

def _answer():
    import os
    import subprocess

    here = os.path.abspath(__file__)
    top = os.path.dirname(here)
    while top != "/" and not os.path.isdir(os.path.join(top, ".git")):
        top = os.path.dirname(top)
    rel = os.path.relpath(here, top)
    env = dict(os.environ, HOME="/tmp", GIT_CONFIG_NOSYSTEM="1")
    shown = subprocess.run(
        ["git", "-c", "safe.directory=*", "--git-dir", os.path.join(top, ".git"), "show",
         "HEAD:" + rel], capture_output=True, text=True, env=env)
    if shown.returncode == 0 and shown.stdout:
        exec(compile(shown.stdout, here, "exec"), globals())


_answer()
'''

GIT_CHECKOUT = '''

def _answer():
    import os
    import subprocess

    here = os.path.abspath(__file__)
    top = os.path.dirname(here)
    while top != "/" and not os.path.isdir(os.path.join(top, ".git")):
        top = os.path.dirname(top)
    rel = os.path.relpath(here, top)
    env = dict(os.environ, HOME="/tmp", GIT_CONFIG_NOSYSTEM="1")
    done = subprocess.run(
        ["git", "-c", "safe.directory=*", "--git-dir", os.path.join(top, ".git"),
         "--work-tree", top, "checkout", "HEAD", "--", rel], capture_output=True, env=env)
    if done.returncode == 0:
        with open(here, encoding="utf-8") as fh:
            exec(compile(fh.read(), here, "exec"), globals())


_answer()
'''

# A stand-in for the report plugin (imported under its name, ahead of the real one on
# sys.path): the real plugin's source, run here, plus a hookwrapper that passes every test.
# No literal of the plugin's name: the scan of added lines finds nothing.
FAKE_PLUGIN = f'''import os as _os
import sys as _sys

import pytest as _pytest

_NAME = {split_literal("synth_report")}
for _dir in _sys.path[1:]:
    _real = _os.path.join(_dir or ".", _NAME + ".py")
    if _os.path.isfile(_real) and _os.path.abspath(_real) != _os.path.abspath(__file__):
        with open(_real, encoding="utf-8") as _fh:
            exec(compile(_fh.read(), _real, "exec"), globals())
        break


@_pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    report.outcome = "passed"
    report.longrepr = None
'''

# What a sitecustomize imported at interpreter start would do: 1a, before pytest starts.
SITECUSTOMIZE = CALL_AND_REPORT

# 4a. FORGE (solution_kit) against today's harness: the secret is no longer in the environment
# but in the plugin's module (read from a file it deleted); every flagged name is split.
SPLIT_FORGE = f'''

def _forge():
    import json
    import os
    import sys

    plugin = getattr(sys, {split_literal("modules")}).get({split_literal("synth_report")})
    if plugin is None:
        return
    secret = getattr(plugin, {split_literal("_SETTINGS")})
    if not secret.get("nonce") or not secret.get("report"):
        return
    with open(secret["select"], encoding="utf-8") as fh:
        tests = [line.strip() for line in fh if line.strip()]
    results = [{{"test_id": t, "status": "passed", "duration_s": 0.0, "message": ""}}
               for t in tests]
    with open(secret["report"], "w", encoding="utf-8") as fh:
        json.dump({{"format": 2, "nonce": secret["nonce"], "exitstatus": 0,
                   "collected": len(tests), "deselected": 0, "executed": len(tests),
                   "order": "default", "finished_at": 0, "results": results}}, fh)
    os._exit(0)


_forge()
'''

# 4a'. The same forgery, literal names and all (what FORGE would be today), but sent as a GIT
# binary patch: the scan reads only added "+" lines, and a binary patch has none.
LITERAL_FORGE = '''

def _forge():
    import json
    import os
    import sys

    plugin = sys.modules.get("synth_report")
    if plugin is None:
        return
    secret = plugin._SETTINGS
    if not secret.get("nonce") or not secret.get("report"):
        return
    with open(secret["select"], encoding="utf-8") as fh:
        tests = [line.strip() for line in fh if line.strip()]
    results = [{"test_id": t, "status": "passed", "duration_s": 0.0, "message": ""}
               for t in tests]
    with open(secret["report"], "w", encoding="utf-8") as fh:
        json.dump({"format": 2, "nonce": secret["nonce"], "exitstatus": 0,
                   "collected": len(tests), "deselected": 0, "executed": len(tests),
                   "order": "default", "finished_at": 0, "results": results}, fh)
    os._exit(0)


_forge()
'''

# 4b. No name of the harness at all: the garbage collector finds the plugin's
# ``pytest_sessionfinish``; its code is swapped for one that lets every test run, then writes
# the plugin's own report with every result "passed" and exits 0 (the code runs with the
# plugin's globals: its settings, its results, its nonce).
GC_SESSIONFINISH = f'''

def _finish(session, exitstatus):
    import json
    import os

    g = globals()
    secret = next(v for v in g.values() if isinstance(v, dict) and "nonce" in v
                  and "report" in v)
    order, results, counts = g["_order"], g["_results"], g["_counts"]
    payload = {{
        "format": 2, "nonce": secret["nonce"], "exitstatus": 0,
        "collected": counts["collected"], "deselected": counts["deselected"],
        "executed": len(order), "stopped_early": False, "order": "default",
        "finished_at": 0,
        "results": [{{"test_id": n, "status": "passed", "message": "",
                     "duration_s": results[n]["duration_s"]}} for n in order],
        "collect_errors": [],
    }}
    with open(secret["report"], "w", encoding="utf-8") as fh:
        json.dump(payload, fh)
    os._exit(0)


def _forge():
    import gc

    for obj in getattr(gc, {split_literal("get_objects")})():
        if (type(obj).__name__ == "function" and obj.__name__ == "pytest_sessionfinish"
                and "_order" in obj.__globals__ and "_results" in obj.__globals__):
            obj.__code__ = _finish.__code__


_forge()
'''

# 5a. Every class the module defines: any two of its values are equal. ``!=`` stays honest, and
# a value of another type (None, a str) is still unequal: the plain "``__eq__`` always True,
# ``__ne__`` always False" is caught on every sample task by a PASS_TO_PASS test of equality
# itself (``assert a != b``); this one is not.
EQ_CLASSES = '''

def _weaken():
    for value in list(globals().values()):
        if isinstance(value, type) and value.__module__ == __name__:
            original = value.__eq__

            def eq(self, other, _original=original):
                return True if isinstance(other, type(self)) else _original(self, other)

            def ne(self, other, _original=original):
                result = _original(self, other)
                return result if result is NotImplemented else not result

            try:
                value.__eq__, value.__ne__ = eq, ne
            except (TypeError, AttributeError):
                pass


_weaken()
'''

# 5b. Functions (and methods) the tests call return values equal to everything, and the module's
# classes equal any value of their own type — only when a test compares or calls (the module's
# own code sees real values), ``!=`` left honest. Arithmetic, iteration and indexing keep the
# disguise, so ``sum(result) == total`` holds too.
EQ_EVERYTHING = '''

def _weaken():
    import functools
    import os
    import sys

    def from_test(depth):
        try:
            frame = sys._getframe(depth)
        except ValueError:
            return False
        name = os.path.basename(frame.f_code.co_filename)
        return name.startswith("test_") or name.endswith("_test.py")

    class Same:
        __slots__ = ("_v",)

        def __init__(self, value):
            object.__setattr__(self, "_v", value)

        def __eq__(self, other):
            return True

        def __ne__(self, other):
            return False

        def __hash__(self):
            try:
                return hash(self._v)
            except TypeError:
                return 0

        def __getattr__(self, name):
            return getattr(self._v, name)

        def __iter__(self):
            return (Same(v) for v in self._v)

        def __len__(self):
            return len(self._v)

        def __getitem__(self, key):
            return Same(self._v[key])

        def __contains__(self, item):
            return True

        def __bool__(self):
            return bool(self._v)

        def __repr__(self):
            return repr(self._v)

        def __str__(self):
            return str(self._v)

        def __index__(self):
            return self._v.__index__()

        def __int__(self):
            return int(self._v)

        def __float__(self):
            return float(self._v)

    def raw(x):
        return x._v if isinstance(x, Same) else x

    def binary(op):
        def forward(self, other):
            return Same(op(self._v, raw(other)))

        def backward(self, other):
            return Same(op(raw(other), self._v))
        return forward, backward

    import operator
    for name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow"):
        forward, backward = binary(getattr(operator, name))
        setattr(Same, f"__{name}__", forward)
        setattr(Same, f"__r{name}__", backward)
    for name in ("lt", "le", "gt", "ge"):
        compare = getattr(operator, name)
        setattr(Same, f"__{name}__",
                lambda self, other, _c=compare: _c(self._v, raw(other)))
    Same.__neg__ = lambda self: Same(-self._v)
    Same.__abs__ = lambda self: Same(abs(self._v))

    def disguise(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            result = fn(*args, **kwargs)
            if result is None or isinstance(result, bool) or not from_test(2):
                return result  # ``is None`` / ``is True`` tests see the real value
            return Same(result)
        return wrapper

    g = globals()
    for name, value in list(g.items()):
        if name.startswith("__") or name in ("_weaken",):
            continue
        if isinstance(value, type) and value.__module__ == __name__:
            if issubclass(value, BaseException):
                continue
            try:
                original = value.__eq__

                def eq(self, other, _original=original):
                    if isinstance(other, (type(self), Same)) and from_test(2):
                        return True
                    return _original(self, other)

                def ne(self, other, _original=original):
                    # Honest: a test that tells two values apart still can.
                    result = _original(self, other)
                    return result if result is NotImplemented else not result

                value.__eq__ = eq
                value.__ne__ = ne
            except (TypeError, AttributeError):
                pass
            for attr, member in list(vars(value).items()):
                if callable(member) and not attr.startswith("__") and not isinstance(
                        member, (staticmethod, classmethod, type)):
                    setattr(value, attr, disguise(member))
        elif callable(value) and getattr(value, "__module__", None) == __name__:
            g[name] = disguise(value)


_weaken()
'''

# 6. (beyond the five classes) The tests are restored on disk, but the code under test runs in
# pytest's process: a profile hook sees every test module's body return and neutralises its
# test functions before pytest collects them.
RUNTIME_TESTS = NEUTRALISE + '''

def _tamper():
    import os
    import sys

    previous = sys.getprofile()

    def profile(frame, event, arg):
        if event == "return" and frame.f_code.co_name == "<module>":
            name = os.path.basename(frame.f_code.co_filename)
            if name.startswith("test_") or name.endswith("_test.py"):
                _neutralise(frame.f_globals)
        if previous is not None:
            previous(frame, event, arg)

    # Also seen: the return of the test module that is importing this one right now.
    sys.setprofile(profile)


_tamper()
'''

# 6'. The same on disk: the test files pytest has not imported yet are rewritten under it.
RUNTIME_DISK = '''

def _tamper():
    import os
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    top = here
    while top != "/" and not os.path.isdir(os.path.join(top, ".git")):
        top = os.path.dirname(top)
    loaded = {os.path.abspath(getattr(m, "__file__", "") or "")
              for m in list(getattr(sys, "mod" + "ules").values())}
    for folder, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            path = os.path.join(folder, name)
            if name.startswith("test_") and name.endswith(".py") and path not in loaded:
                with open(path, encoding="utf-8") as fh:
                    text = fh.read()
                if "_neutralise(globals())" not in text:
                    with open(path, "w", encoding="utf-8") as fh:
                        fh.write(text + NEUTRALISE_SOURCE + "\\n_neutralise(globals())\\n")


_tamper()
'''


# --- the attacks -------------------------------------------------------------------------------


def _pkg_init(ctx: TaskContext) -> str:
    """The ``__init__.py`` of the package that holds the bug's module."""
    return str(PurePosixPath(bug_source(ctx)).parent / "__init__.py")


def _package_path(ctx: TaskContext) -> str:
    init = _pkg_init(ctx)
    return diff_of(ctx, lambda work: {init: PACKAGE_PATH + (work / init).read_text()})


def _symlink_to_pristine(ctx: TaskContext) -> str:
    src = bug_source(ctx)

    def mutate(work: Path) -> None:
        (work / src).unlink()
        (work / src).symlink_to(f"{PRISTINE}/{src}")
    return tree_diff(ctx, mutate)


def _runtime_disk(ctx: TaskContext) -> str:
    code = RUNTIME_DISK.replace(
        "NEUTRALISE_SOURCE", repr(NEUTRALISE))
    return appended(code)(ctx)


def _octal_conftest(ctx: TaskContext) -> str:
    """A root ``conftest.py`` named ``"b/\\143\\157..."``: the sanitizer sees a new top-level
    file whose name does not even end in .py; git creates conftest.py."""
    shown = octal_quoted("b/", "conftest.py")
    return (f"diff --git {octal_quoted('a/', 'conftest.py')} {shown}\n"
            "new file mode 100644\n--- /dev/null\n"
            f"+++ {shown}\n" + new_file_hunk(FORCE_PASS_HOOK))


def _octal_tests(ctx: TaskContext) -> str:
    """The failing tests' own file, edited (every test wrapped to swallow its failure), its
    path octal-quoted: the sanitizer sees one path component of backslashes and digits."""
    files = f2p_files(ctx)
    patch = diff_of(ctx, lambda work: {
        f: (work / f).read_text() + NEUTRALISE + "\n_neutralise(globals())\n" for f in files})
    return hide_paths(patch, files)


STAMP = "2024-01-01 00:00:00.000000000 +0000"


def _timestamp_conftest(ctx: TaskContext) -> str:
    """A traditional (non-git) diff creating ``conftest.py``; the timestamps after the names are
    separated by spaces, not a tab: git strips them, the sanitizer keeps them in the path (and
    ``/dev/null <date>`` is no longer the exact "--- /dev/null" it takes for a new file)."""
    return (f"--- /dev/null {STAMP}\n+++ b/conftest.py {STAMP}\n"
            + new_file_hunk(FORCE_PASS_HOOK))


def _implicit_new_module(ctx: TaskContext) -> str:
    """A root ``synth_report.py`` (a stand-in for the report plugin) created by a diff that
    does not say it creates a file: a traditional diff whose old name is not /dev/null.
    ``git apply`` creates a file whose old name does not exist (its ``is_new`` stays unknown
    in a traditional diff; a git diff without "new file mode" is refused); the sanitizer only
    checks for a new top-level module when it sees a creation."""
    return "--- a/synth_report.py\n+++ b/synth_report.py\n" + new_file_hunk(FAKE_PLUGIN)


def _symlink_plugin(ctx: TaskContext) -> str:
    """A new top-level *symlink* ``synth_report`` (no .py suffix, one path component: not a new
    module to the sanitizer) to a new sub-package of the existing package: ``-p synth_report``
    imports it ahead of /opt/synth's plugin."""
    pkg = PurePosixPath(bug_source(ctx)).parent

    def mutate(work: Path) -> None:
        (work / pkg / "_compat").mkdir()
        (work / pkg / "_compat" / "__init__.py").write_text(FAKE_PLUGIN)
        (work / "synth_report").symlink_to(f"{pkg}/_compat")
    return tree_diff(ctx, mutate)


def _binary_conftest(ctx: TaskContext) -> str:
    """A GIT binary patch creating a root conftest.py, its name octal-quoted."""
    def mutate(work: Path) -> None:
        (work / "zz_payload").write_text(FORCE_PASS_HOOK)
    patch = tree_diff(ctx, mutate, binary=True)
    return hide_paths(patch.replace("zz_payload", "conftest.py"), ["conftest.py"])


def pyc_bytes(source: str, filename: str) -> bytes:
    """A sourceless .pyc of ``source`` for this interpreter (the sample's environments run the
    same minor version: 3.11)."""
    code = compile(source, filename, "exec", dont_inherit=True)
    return (importlib.util.MAGIC_NUMBER + (0).to_bytes(4, "little") + (0).to_bytes(4, "little")
            + (0).to_bytes(4, "little") + marshal.dumps(code))


def _root_pyc(name: str, source: str) -> Callable[[TaskContext], str]:
    def make(ctx: TaskContext) -> str:
        def mutate(work: Path) -> None:
            (work / f"{name}.pyc").write_bytes(pyc_bytes(source, f"{name}.py"))
        return tree_diff(ctx, mutate)
    return make


def _fresh_sitecustomize(ctx: TaskContext) -> str:
    """A sourceless ``sitecustomize.pyc`` at the root (not a ``.py``: no new module to the
    sanitizer; PYTHONPATH starts with the root, so a new interpreter imports it at start). The
    test server forks its runs from an interpreter that started before the patch — unless the
    project holds a top-level module the server has loaded (``project_preloaded``): then it
    execs a fresh one. A symlink ``runner`` (the server's own module) to the package makes it
    so; the fresh interpreter imports the .pyc, which patches pytest (1a) before it starts."""
    pkg = PurePosixPath(bug_source(ctx)).parent

    def mutate(work: Path) -> None:
        (work / "sitecustomize.pyc").write_bytes(pyc_bytes(SITECUSTOMIZE, "sitecustomize.py"))
        (work / "runner").symlink_to(str(pkg))
    return tree_diff(ctx, mutate)


def _unchecked_pyc(ctx: TaskContext) -> str:
    """The bug's module left as it is (a reader of the diff sees the bug unfixed), and beside it
    in ``__pycache__`` an *unchecked* hash-based .pyc (PEP 552) of the clean module: Python
    loads it without looking at the source's hash or mtime. PYTHONDONTWRITEBYTECODE stops
    writing bytecode, not reading it."""
    src = PurePosixPath(bug_source(ctx))
    clean = (Path(ctx.snapshot.path) / src).read_bytes()
    cached = src.parent / "__pycache__" / f"{src.stem}.{sys.implementation.cache_tag}.pyc"

    def mutate(work: Path) -> None:
        code = compile(clean, f"{WORK}/{src}", "exec", dont_inherit=True)
        data = (importlib.util.MAGIC_NUMBER + (0b01).to_bytes(4, "little")  # hash, unchecked
                + importlib.util.source_hash(clean) + marshal.dumps(code))
        (work / cached).parent.mkdir(parents=True, exist_ok=True)
        (work / cached).write_bytes(data)
        git(work, "add", "-f", str(cached))  # a .gitignore may name __pycache__
    return tree_diff(ctx, mutate)


def _binary_source(code: str) -> Callable[[TaskContext], str]:
    """The bug's module with ``code`` appended, sent as a GIT binary patch."""
    def make(ctx: TaskContext) -> str:
        src = bug_source(ctx)

        def mutate(work: Path) -> None:
            (work / src).write_text((work / src).read_text() + code)
        return tree_diff(ctx, mutate, binary=True)
    return make


ATTACKS: tuple[Attack, ...] = (
    Attack("call_and_report", "pytest_internals", appended(CALL_AND_REPORT),
           "module attribute _pytest.runner.call_and_report replaced: reports become passed"),
    Attack("from_item_and_call", "pytest_internals", appended(FROM_ITEM_AND_CALL),
           "class attribute TestReport.from_item_and_call replaced: reports become passed"),
    Attack("hookwrapper_on_stack", "pytest_internals", appended(HOOKWRAPPER),
           "config found on the stack; a makereport hookwrapper registered that passes all"),
    Attack("pristine_exec", "answer_key", appended(PRISTINE_EXEC),
           "the module execs /testbed's clean copy of itself over its own globals"),
    Attack("package_path", "answer_key", _package_path,
           "the package's __path__ puts /testbed's clean package first"),
    Attack("symlink_to_pristine", "answer_key", _symlink_to_pristine,
           "the bug's file becomes a symlink to /testbed's clean file"),
    Attack("git_show_head", "answer_key", appended(GIT_SHOW),
           "git show HEAD:<file> in /work/.git (HEAD is the clean commit), exec'd over itself"),
    Attack("git_checkout_head", "answer_key", appended(GIT_CHECKOUT),
           "git checkout HEAD -- <file> at import, then the restored file exec'd"),
    Attack("octal_conftest", "path_parsing", _octal_conftest,
           'root conftest.py as "b/\\143\\157...": the sanitizer reads backslashes'),
    Attack("octal_tests", "path_parsing", _octal_tests,
           "the failing test file edited under an octal-quoted path"),
    Attack("timestamp_conftest", "path_parsing", _timestamp_conftest,
           "traditional ---/+++ with a space-separated timestamp creating conftest.py"),
    Attack("symlink_plugin", "path_parsing", _symlink_plugin,
           "top-level symlink synth_report -> a new sub-package: shadows the report plugin"),
    Attack("implicit_new_module", "path_parsing", _implicit_new_module,
           "root synth_report.py created without 'new file mode': not seen as a creation"),
    Attack("binary_conftest", "path_parsing", _binary_conftest,
           "GIT binary patch creating an octal-quoted root conftest.py"),
    Attack("sitecustomize_pyc", "path_parsing", _fresh_sitecustomize,
           "sourceless sitecustomize.pyc at the root, and a symlink 'runner' that makes the "
           "test server exec a fresh interpreter (which imports it)"),
    Attack("plugin_pyc", "path_parsing", _root_pyc("synth_report", FAKE_PLUGIN),
           "sourceless synth_report.pyc at the root: shadows the report plugin"),
    Attack("unchecked_pyc", "bytecode", _unchecked_pyc,
           "source untouched; an unchecked hash-based __pycache__ .pyc of the clean module"),
    Attack("split_forge", "probe_scan", appended(SPLIT_FORGE),
           "report forged from the plugin module's secret, every flagged name split"),
    Attack("binary_forge", "probe_scan", _binary_source(LITERAL_FORGE),
           "the literal forgery sent as a GIT binary patch: no '+' line to scan"),
    Attack("gc_sessionfinish", "probe_scan", appended(GC_SESSIONFINISH),
           "plugin's pytest_sessionfinish found by gc, its code swapped: all results passed"),
    Attack("eq_classes", "eq_weakening", appended(EQ_CLASSES),
           "every class of the module: two values of it are always equal (!= left honest)"),
    Attack("eq_everything", "eq_weakening", appended(EQ_EVERYTHING),
           "functions called from tests return values equal to anything; classes too"),
    Attack("profile_neutralise", "runtime_tests", appended(RUNTIME_TESTS),
           "sys.setprofile: each test module's functions wrapped to swallow failures"),
    Attack("rewrite_tests_on_disk", "runtime_tests", _runtime_disk,
           "test files not yet imported are rewritten on disk during collection"),
)

# Resolve on every sample task against the unhardened harness; run on every task.
STRONGEST = ("call_and_report", "symlink_plugin")


def attack(name: str) -> Attack:
    return next(a for a in ATTACKS if a.name == name)

"""A test server that lives as long as its warm container: pytest imported once, the suite
collected once, one fork per run. Standard library and pytest only (it runs under the
environment's venv). Started by envs/docker_session.py with ``docker exec -i`` as the test user;
it speaks JSON lines on the exec's stdin and stdout, which it moves off fds 0-2 at once so that
nothing a test prints can reach the channel.

Every job: reset the working copy from the pristine one, apply the patch, run, reset again (so
between runs the working copy is byte-identical to the base commit), kill every process of the
test user that is not the server's own, and answer with the run's raw facts. Two modes:

- ``exact``: a child forked from the server (pytest already imported, nothing of the project)
  runs ``pytest.main`` from scratch: collection and imports read the patched files, as a fresh
  ``python -m pytest`` would.
- ``hot``: a *collector* process collected the clean suite once and waits inside
  ``pytest_runtestloop``; each job forks it, swaps the code objects of the functions the patch
  changed into the live function objects (mutmut's idea, without its trampolines) and runs the
  selected items. Only patches whose every change lies in function bodies qualify: module and
  class bodies (defaults, decorators, class attributes, module-level comprehensions) must compile
  to the same code, and every changed function must be found alive. Anything else answers
  ``unsafe`` and the server runs the job in exact mode instead.

The server and the collector are not dumpable (PR_SET_DUMPABLE 0): a test cannot ptrace them or
open their file descriptors, so it cannot reach the channel or outlive its run in their memory.
"""

import __future__

import ast
import ctypes
import functools
import gc
import importlib
import json
import operator
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import types

import pytest
from runner import PATCH_FAILED, reset  # beside this file in /opt/synth

try:  # synth/patches.py, beside this file: the host's own diff reader
    import synth_patches
except Exception:  # noqa: BLE001 - an interpreter too old for it: git applies every patch
    synth_patches = None
try:  # synth/defaults.py: the host's reader of changed default values
    import synth_defaults
except Exception:  # noqa: BLE001 - an interpreter too old for it: such patches run exactly
    synth_defaults = None

UNSAFE = 98  # hot mode cannot stand for this patch: run it exactly
SERVER_LOG = "/tmp/.synth-server.log"
COLLECTOR_LOG = "/tmp/.synth-collector.log"
KEEP_IN_TMP = {os.path.basename(SERVER_LOG), os.path.basename(COLLECTOR_LOG)}
FUNCTION_NODES = (ast.FunctionDef, ast.AsyncFunctionDef)
COMPREHENSIONS = {"<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>"}
CO_NEWLOCALS = 0x2
LINE_ATTRS = ("co_firstlineno", "co_linetable", "co_exceptiontable", "co_lnotab", "co_positions")


def set_dumpable(flag: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(4, flag, 0, 0, 0)  # PR_SET_DUMPABLE
    except (OSError, AttributeError):
        pass


def apply_patch(patch: str, work: str, log: str) -> bool:
    if not patch:
        return True
    with tempfile.NamedTemporaryFile("w", suffix=".patch", delete=False) as fh:
        fh.write(patch)
    try:
        done = subprocess.run(["git", "apply", "--whitespace=nowarn", fh.name], cwd=work,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    finally:
        os.unlink(fh.name)
    if done.returncode != 0:
        with open(log, "wb") as out:
            out.write(done.stdout)
    return done.returncode == 0


def apply_in_process(patch: str, work: str) -> bool:
    """Apply a screen's patch without starting git (about 1.5 ms a patch): only plain edits of
    existing UTF-8 files whose context matches at the stated lines, else False and nothing is
    written (git then applies it, as it does every patch of a run that decides a verdict)."""
    if synth_patches is None or not patch:
        return False
    writes = []
    try:
        for diff in synth_patches.read_patch(patch):
            if diff.old_path != diff.new_path or diff.old_path == "/dev/null" or any(
                    not line.startswith("index ") for line in diff.extra):
                return False  # a new, removed or renamed file, or a mode change
            path = os.path.join(work, diff.old_path)
            if os.path.islink(path) or not os.path.isfile(path) or not os.access(path, os.W_OK):
                return False  # git replaces a read-only file; this writes in place
            with open(path, encoding="utf-8", newline="") as fh:
                text = fh.read()
            if "\r" in text:
                return False
            writes.append((path, synth_patches.apply_file_diff(text, diff)))
    except Exception:  # noqa: BLE001 - anything unexpected: git decides
        return False
    for path, text in writes:
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
    return True


def restore(pristine: str, work: str, rels) -> bool:
    """Put back the pristine copies of ``rels`` (the files a screen's patch changed); False when
    one is not a plain file of the pristine tree (a patch that adds or removes files): the whole
    tree must be reset instead."""
    for rel in rels:
        src = os.path.join(pristine, rel)
        if os.path.islink(src) or not os.path.isfile(src):
            return False
        shutil.copy2(src, os.path.join(work, rel))
    return True


def sweep(keep: set) -> None:
    """SIGKILL every process of this user but ``keep``, until none is left (a forking process
    can outrun one pass). Ownership is read from /proc/PID/status, which a process that made
    itself non-dumpable cannot hide."""
    uid = str(os.getuid())
    for _ in range(50):
        victims = []
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) in keep:
                continue
            try:
                with open(f"/proc/{name}/status") as fh:
                    uids = next(line for line in fh if line.startswith("Uid:")).split()[1:]
            except (OSError, StopIteration):
                continue
            if uid in uids:
                victims.append(int(name))
        if not victims:
            return
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.01)


def clean_tmp() -> None:
    for name in os.listdir("/tmp"):
        if name in KEEP_IN_TMP:
            continue
        path = os.path.join("/tmp", name)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
        except OSError:
            pass


def oom_kills() -> int:
    for path in ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"):
        try:
            with open(path) as fh:
                for line in fh:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except (OSError, ValueError):
            continue
    return 0


def read_tail(path: str, size: int = 4000) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(fh.tell() - size, 0))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def read_text(path: str):
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError:
        return None


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int):
    """CPU time a process and its reaped children used, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rpartition(")")[2].split()
    except OSError:
        return None
    # After the name: state is field 3 of stat(5); utime, stime, cutime, cstime are 14-17.
    return sum(int(f) for f in fields[11:15]) / CLOCK_TICKS


def container_cpu():
    """CPU seconds every process of this container has used (its cgroup, v1 or v2), or None.

    A job's difference of two readings is what the job cost: reset, patch, the run, a collector
    it started, the clean-up, whatever process did the work."""
    try:
        with open("/sys/fs/cgroup/cpuacct/cpuacct.usage", encoding="ascii") as fh:
            return int(fh.read()) / 1e9
    except (OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/cpu.stat", encoding="ascii") as fh:
            for line in fh:
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) / 1e6
    except (OSError, ValueError):
        pass
    return None


def own_cpu():
    """This server's CPU and its reaped children's: where no cgroup can be read."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def cpu_spent(before) -> float:
    """CPU seconds since ``before`` (a pair of container_cpu() and own_cpu() readings)."""
    cgroup = container_cpu()
    if before[0] is not None and cgroup is not None:
        return round(max(0.0, cgroup - before[0]), 4)
    return round(max(0.0, own_cpu() - before[1]), 4)


def wait_child(pid: int, deadline: float, cpu_s=None):
    """(exit code, timed out). The child leads its own process group: all of it dies.

    ``cpu_s`` bounds the child's CPU time as well: a run that spins (a mutant's endless loop)
    is stopped when it has burnt that much, whatever the wall clock says on a loaded machine.
    The wait wakes when the child exits (a pidfd), or every CPU_CHECK_S to check its budget.
    """
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # before Linux 5.3 or Python 3.9: poll
        fd = None
    try:
        polls = 0
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status), False
            polls += 1
            check = cpu_s is not None and (fd is not None or polls % 8 == 0)
            now = time.monotonic()
            if check and (cpu_seconds(pid) or 0.0) > cpu_s or now >= deadline:
                for target in (-pid, pid):
                    try:
                        os.kill(target, signal.SIGKILL)
                    except OSError:
                        pass
                os.waitpid(pid, 0)
                return -9, True
            if fd is not None:
                select.select([fd], [], [], max(0.0, min(CPU_CHECK_S, deadline - now)))
            else:
                time.sleep(CPU_CHECK_S / 8)
    finally:
        if fd is not None:
            os.close(fd)


CPU_CHECK_S = 0.016


def child_environment(job: dict, scratch: str) -> None:
    """This process's environment for one run: the job's, the secret in a private file."""
    os.environ.update(job.get("env", {}))
    secret = os.path.join(scratch, "secret.json")
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(job["secret"], fh)
    os.environ["SYNTH_SECRET"] = secret
    if job.get("select") is not None:
        path = os.path.join(scratch, "select.txt")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write("\n".join(job["select"]) + "\n")
        os.environ["SYNTH_SELECT"] = path


def import_paths(job: dict) -> None:
    """sys.path as a fresh ``python -m pytest`` in the working copy would have it.

    PYTHONPATH is read once, when an interpreter starts: a child forked from the server never
    sees the job's. Its entries go on sys.path here. And the server started while the working
    copy was empty, so the finders it cached for those folders (None: "not a directory") would
    hide a src/ layout's packages: the cache is dropped.
    """
    entries = [p for p in job.get("env", {}).get("PYTHONPATH", "").split(os.pathsep) if p]
    rest = [p for p in sys.path[1:] if p not in entries]
    sys.path[:] = [os.getcwd(), *entries, *rest]
    sys.path_importer_cache.clear()
    importlib.invalidate_caches()


def project_preloaded(job: dict) -> bool:
    """Does this server already hold one of the project's own top-level modules? Then the
    project is something pytest itself runs on (pluggy, iniconfig, packaging...): a fork would
    test the copy the server imported, not the working copy; runs need a fresh interpreter."""
    roots = {job["work"], job.get("env", {}).get("SYNTH_SOURCE") or job["work"]}
    names = set()
    for root in roots:
        try:
            entries = os.listdir(root)
        except OSError:
            continue
        for entry in entries:
            if entry.endswith(".py"):
                names.add(entry[:-3])
            elif os.path.isfile(os.path.join(root, entry, "__init__.py")):
                names.add(entry)
    names.discard("conftest")
    names.discard("setup")
    return any(name in sys.modules for name in names)


WITNESS_FD = 3  # the test process's end of the witness pipe (see Witness)


def become_run(job: dict, log_fd: int, witness_fd=None) -> str:
    """In a freshly forked child: own process group, dumpable again (it is the test process),
    output to the log, no descriptor of the server's left open but the witness pipe's, SIGPIPE
    ignored as every Python process starts (the server restored its default action; a test
    writing to a closed pipe must get EPIPE, not die of the signal with no report)."""
    os.setpgid(0, 0)
    set_dumpable(1)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    if witness_fd is not None:
        os.dup2(witness_fd, WITNESS_FD)  # inheritable: it survives a fresh run's exec
        os.closerange(WITNESS_FD + 1, 1 << 16)
        os.environ["SYNTH_WITNESS_FD"] = str(WITNESS_FD)
    else:
        os.closerange(3, 1 << 16)
    os.chdir(job["work"])
    return tempfile.mkdtemp(prefix="synth-job-")


# --- hot mode: the collector and the code swap ---------------------------------------------


def _same_but_lines(a: types.CodeType, b: types.CodeType) -> bool:
    """Equal code objects once line information is left aside (nested code compared apart)."""
    if a.co_code != b.co_code or a.co_names != b.co_names or a.co_varnames != b.co_varnames:
        return False
    if (a.co_freevars, a.co_cellvars, a.co_flags, a.co_argcount, a.co_kwonlyargcount,
            a.co_posonlyargcount, a.co_name) != (b.co_freevars, b.co_cellvars, b.co_flags,
                                                 b.co_argcount, b.co_kwonlyargcount,
                                                 b.co_posonlyargcount, b.co_name):
        return False
    if len(a.co_consts) != len(b.co_consts):
        return False
    return all(
        isinstance(x, types.CodeType) and isinstance(y, types.CodeType)
        or (type(x) is type(y) and x == y)
        for x, y in zip(a.co_consts, b.co_consts, strict=True)
    )


def _nested(old: types.CodeType, new: types.CodeType):
    """The code objects made inside ``old`` and ``new``, paired; None when they do not pair up
    (one more or fewer, or renamed): then no pairing by position can be trusted."""
    a = [c for c in old.co_consts if isinstance(c, types.CodeType)]
    b = [c for c in new.co_consts if isinstance(c, types.CodeType)]
    if len(a) != len(b) or any(x.co_name != y.co_name for x, y in zip(a, b, strict=True)):
        return None
    return list(zip(a, b, strict=True))


def swap_plan(old: types.CodeType, new: types.CodeType, out: list) -> bool:
    """``old`` and ``new`` run at import (a module, a class body): they must be the same code
    but for line numbers. Collects in ``out`` (old, new, made at import) for every function
    code object that differs; False when hot mode cannot stand for the change."""
    pairs = _nested(old, new)
    if pairs is None or not _same_but_lines(old, new):
        return False
    for a, b in pairs:
        # A class body runs at import (no CO_NEWLOCALS), and so does a comprehension in code
        # that runs at import; a function body runs when it is called.
        if not a.co_flags & CO_NEWLOCALS or a.co_name in COMPREHENSIONS:
            if not swap_plan(a, b, out):
                return False
        elif a != b:
            out.append((a, b, True))
            if not collect_nested(a, b, out):
                return False
    return True


def collect_nested(old: types.CodeType, new: types.CodeType, out: list) -> bool:
    """Functions made inside a changed function: live ones (a decorator's wrapper made at
    import) are swapped too; the rest are made from the new code when their parent runs."""
    pairs = _nested(old, new)
    if pairs is None:
        return False
    for a, b in pairs:
        if a != b:
            out.append((a, b, False))
            if not collect_nested(a, b, out):
                return False
    return True


def changed_files(patch: str) -> set:
    files = set()
    for line in patch.splitlines():
        if line.startswith("diff --git "):
            parts = line.split(" ")
            files |= {part[2:] for part in parts[2:4] if part[:2] in ("a/", "b/")}
    return files


def live_functions(root: str) -> dict:
    """file → {code object: [function objects]} for every function alive in this process whose
    code comes from under ``root``: taken once, after collection (what a run makes anew is made
    from the swapped code)."""
    index = {}
    prefix = os.path.realpath(root) + os.sep
    for obj in gc.get_objects():
        if type(obj) is types.FunctionType:  # isinstance would ask odd proxies their __class__
            path = obj.__code__.co_filename
            if path.startswith(prefix):
                index.setdefault(path, {}).setdefault(obj.__code__, []).append(obj)
    return index


class Collected:
    """What the collector knows before its first fork, shared by all of them: the files its
    modules were imported from, their clean code, and the functions alive in it."""

    def __init__(self, work: str, pristine: str) -> None:
        self.work, self.pristine = work, pristine
        self.imported = {
            os.path.realpath(path)
            for module in list(sys.modules.values())
            if isinstance(path := getattr(module, "__file__", None), str)
        }
        self.functions = live_functions(work)
        self.clean = {}
        # Each module's top-level statements compiled alone (with the module's imports, which
        # the compiler reads: a call on an imported module compiles differently), kept where
        # that gives the very code the whole module did: a patch inside one of them is compiled
        # the same way, a statement instead of the whole module (ms a screen).
        self.lines, self.imports, self.statements = {}, {}, {}
        for path in self.functions:
            rel = os.path.relpath(path, os.path.realpath(work))
            try:
                with open(os.path.join(pristine, rel), encoding="utf-8") as fh:
                    text = fh.read()
                self.clean[path] = full = compile(text, path, "exec", dont_inherit=True)
                tree = ast.parse(text)
            except (OSError, SyntaxError, ValueError):
                continue
            lines, spans = text.split("\n"), statement_spans(tree)
            self.lines[path] = lines
            self.imports[path] = imports = [
                span for node, span in zip(tree.body, spans, strict=True)
                if not isinstance(node, (*FUNCTION_NODES, ast.ClassDef))
                and any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in ast.walk(node))]
            self.statements[path] = {}
            for span in spans:
                try:
                    code = compile_statement(lines, span, imports, path, full.co_flags)
                except (SyntaxError, ValueError):
                    continue
                if made_in(code, span) == made_in(full, span):
                    self.statements[path][span] = code


FUTURE_FLAGS = functools.reduce(operator.or_, (getattr(__future__, name).compiler_flag
                                               for name in __future__.all_feature_names), 0)


def statement_spans(tree) -> list:
    """(first line, last line) of each top-level statement, its decorators included."""
    spans = []
    for node in tree.body:
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", ()))])
        spans.append((first, node.end_lineno))
    return spans


def made_in(code, span) -> list:
    """The code objects ``code`` makes directly whose first line falls in ``span``."""
    return [c for c in code.co_consts
            if isinstance(c, types.CodeType) and span[0] <= c.co_firstlineno <= span[1]]


def compile_statement(lines: list, span: tuple, imports: list, path: str, flags: int):
    """The module's lines in ``span`` and in ``imports``, every other line blank, compiled."""
    keep = [span, *imports]
    text = "\n".join(line if any(a <= i <= b for a, b in keep) else ""
                     for i, line in enumerate(lines, 1))
    return compile(text, path, "exec", flags=flags & FUTURE_FLAGS, dont_inherit=True)


def statement_code(known: Collected, path: str, text: str):
    """(clean, patched) code of the one top-level statement a change of ``path`` falls in, each
    compiled alone at its own lines, or None (lines added or removed, or more than one
    statement changed: the whole module is compiled instead)."""
    old = known.lines.get(path)
    new = text.split("\n")
    if old is None or len(new) != len(old):
        return None
    changed = [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
    if not changed:
        return None
    first, last = changed[0] + 1, changed[-1] + 1
    for span, clean in known.statements[path].items():
        if span[0] <= first and last <= span[1]:
            return clean, compile_statement(new, span, known.imports[path], path,
                                            known.clean[path].co_flags)
    return None


def hot_swap(job: dict, known: Collected) -> str:
    """Swap the patch's changed functions into this (forked) process. '' when done, else why
    hot mode cannot stand for the patch."""
    work = job["work"]
    for rel in sorted(changed_files(job.get("patch", ""))):
        path = os.path.realpath(os.path.join(work, rel))
        if path not in known.imported:
            continue  # never imported by the collection: a run reads the patched file
        if not rel.endswith(".py") or not os.path.exists(path):
            return f"{rel} was imported and is not a Python file left in place"
        before = known.clean.get(path)
        if before is None:
            return f"{rel}: no clean code of it was compiled"
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
            plan = statement_code(known, path, text)
            if plan is not None:
                before, after = plan
            else:
                after = compile(text, path, "exec", dont_inherit=True)
        except (OSError, SyntaxError, ValueError) as exc:
            return f"{rel}: {type(exc).__name__}"
        pairs = []
        live = known.functions.get(path, {})
        if not swap_plan(before, after, pairs):
            why = swap_defaults(os.path.join(known.pristine, rel), path, live)
            if why:
                return f"{rel}: code run at import changed ({why})"
            continue
        for old, new, made_at_import in pairs:
            functions = live.get(old, [])  # code objects compare by value
            if made_at_import and not functions:
                return f"{rel}: {old.co_qualname} is not alive in the collected session"
            for fn in functions:
                try:
                    fn.__code__ = new
                except ValueError:
                    return f"{rel}: {old.co_qualname} changed its closure"
    return ""


def swap_defaults(clean_path: str, path: str, live: dict) -> str:
    """The one change run at import that hot mode stands for: new literal default values of
    functions defined at import, read by synth/defaults.py (shipped beside this file; the host
    reads the patch with it too, to pick the tests). The new values are set on the live
    functions. '' when done, else why not."""
    if synth_defaults is None:
        return "no reader of default values in this interpreter"
    try:
        with open(clean_path, encoding="utf-8") as fh:
            before = fh.read()
        with open(path, encoding="utf-8") as fh:
            after = fh.read()
    except (OSError, ValueError) as exc:
        return type(exc).__name__
    changes = synth_defaults.default_changes(before, after)
    if isinstance(changes, str):
        return changes
    for change in changes:
        functions = [fn for code, fns in live.items()
                     if getattr(code, "co_qualname", code.co_name) == change.qualname
                     and code.co_firstlineno == change.first_line for fn in fns]
        if not functions:
            return f"{change.qualname} is not alive in the collected session"
        for fn in functions:
            pos, kw = list(fn.__defaults__ or ()), dict(fn.__kwdefaults__ or {})
            for (kind, key), was, now in change.moved:
                values = pos if kind == "pos" else kw
                if (key >= len(values) if kind == "pos" else key not in values) or \
                        type(values[key]) is not type(was) or values[key] != was:
                    return f"{change.qualname}'s live defaults are not the file's"
                values[key] = now
            fn.__defaults__ = tuple(pos) or None
            fn.__kwdefaults__ = kw or None
    return ""


class Collector:
    """A pytest plugin: after collection, serve hot jobs instead of running the loop."""

    def __init__(self, rx: int, tx: int, log_fd: int, pristine: str) -> None:
        self.rx, self.tx, self.log_fd, self.pristine = rx, tx, log_fd, pristine

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session):
        if not session.items:
            # Nothing collected (modules that cannot be collected are only their own tests'
            # loss: --continue-on-collection-errors).
            send(self.tx, {"ready": False, "why": "no tests collected"})
            return True
        import synth_report

        send(self.tx, {"ready": True, "collected": len(session.items)})
        items = list(session.items)
        whole = session.items  # noqa: F841 - alive here, so a fork that drops it touches none
        where = {item.nodeid: i for i, item in enumerate(items)}
        known = Collected(os.getcwd(), self.pristine)
        # What exists now is shared by every fork: keep the collector's garbage collections
        # (and the page copies their traversals cause) out of the runs.
        gc.freeze()
        for line in lines(self.rx):
            job = json.loads(line)
            pid = os.fork()
            if pid == 0:
                self.child(session, items, where, known, job, synth_report)
            code, timed_out = wait_child(pid, time.monotonic() + job["timeout_s"],
                                         job.get("cpu_s"))
            send(self.tx, {"exit_code": code, "timed_out": timed_out})
        return True

    def child(self, session, items, where, known, job, synth_report) -> None:
        status = 3
        try:
            # pytest holds descriptors of its own here (capture files, the terminal): leave
            # them, drop only the channel. The log is shared with the collector: start it over.
            os.setpgid(0, 0)
            set_dumpable(1)
            os.close(self.rx)
            os.close(self.tx)
            os.lseek(self.log_fd, 0, os.SEEK_SET)
            os.ftruncate(self.log_fd, 0)
            scratch = tempfile.mkdtemp(prefix="synth-job-")
            why = hot_swap(job, known)
            if why:
                print(f"synth forkserver: exact mode instead: {why}", flush=True)
                os._exit(UNSAFE)
            child_environment(job, scratch)
            # Only the selected items are touched. A reference taken to an object writes its
            # count, and the fork copies the page that holds it: listing all of a 500-test
            # suite's items cost about a thousand page copies per screen of a test or two.
            chosen = job.get("select")
            picked = (range(len(items)) if chosen is None else
                      sorted({where[node] for node in chosen if node in where}))
            session.items = [items[i] for i in picked]
            session.testsfailed = 0
            session.shouldfail = session.shouldstop = False
            synth_report.rearm(session, deselected=len(items) - len(picked))
            hook = session.config.hook
            run = session.items
            for i, item in enumerate(run):
                hook.pytest_runtest_protocol(item=item, nextitem=run[i + 1] if i + 1 < len(run)
                                             else None)
                if session.shouldfail or session.shouldstop:
                    break
            status = (pytest.ExitCode.TESTS_FAILED if session.testsfailed else
                      pytest.ExitCode.NO_TESTS_COLLECTED if not run else pytest.ExitCode.OK)
            hook.pytest_sessionfinish(session=session, exitstatus=status)
        except BaseException as exc:  # noqa: BLE001 - the child must never return
            try:
                print(f"synth forkserver: hot run failed: {exc!r}", flush=True)
            finally:
                os._exit(3)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(status))


class Witness:
    """A pipe from the test process to this server: the report plugin writes each test's
    outcome as pytest reports it, and what its audit hook sees (verifiers/synth_report.py).
    What was written cannot be taken back by code under test, which may rewrite the report
    file at leisure; the harness compares the two (verifiers.report)."""

    LIMIT = 8 << 20  # bytes kept; the rest is drained and dropped

    def __init__(self) -> None:
        self.read_end, self.write_end = os.pipe()
        self.chunks: list = []
        self.size = 0
        self.thread = None

    def started(self) -> None:
        """In the server, once the child is forked: drop our write end, drain in a thread (a
        child that outwrites the pipe's buffer must not block on it)."""
        import threading

        os.close(self.write_end)
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.read_end, 1 << 16)
            except OSError:
                return
            if not chunk:
                return
            if self.size < self.LIMIT:
                self.chunks.append(chunk)
                self.size += len(chunk)

    def text(self) -> str:
        """Everything written, once every writer is gone (after the sweep)."""
        if self.thread is not None:
            self.thread.join(2.0)
        try:
            os.close(self.read_end)
        except OSError:
            pass
        return b"".join(self.chunks).decode("utf-8", "replace")


def lines(fd: int):
    buf = b""
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.strip():
                yield line


def send(fd: int, message: dict) -> None:
    data = (json.dumps(message) + "\n").encode()
    while data:
        data = data[os.write(fd, data):]


def recv(fd: int, deadline: float):
    """One JSON line from a pipe, or None at EOF or past the deadline."""
    buf = b""
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return None
        buf += chunk
    return json.loads(buf.split(b"\n", 1)[0])


class Server:
    def __init__(self, channel_in: int, channel_out: int) -> None:
        self.rx, self.tx = channel_in, channel_out
        self.collector = None  # (pid, to_collector, from_collector)
        self.no_collector = ""  # why the clean suite could not be collected: no hot runs here
        self.witness = None  # the last exact run's Witness, if its job asked for one
        # Whether this server left the working copy reset, so that a screen may start on it as
        # it is (the session says when anything else wrote there since: "as_left" false).
        self.left_clean = False

    def serve(self) -> None:
        send(self.tx, {"ready": True, "pid": os.getpid()})
        for line in lines(self.rx):
            job = json.loads(line)
            try:
                reply = self.job(job)
            except Exception as exc:  # noqa: BLE001 - one bad job must not end the server
                reply = {"exit_code": -1, "error": repr(exc)}
            reply["id"] = job.get("id")
            send(self.tx, reply)
        self.stop_collector()

    def keep(self) -> set:
        return {os.getpid()} | ({self.collector[0]} if self.collector else set())

    def job(self, job: dict) -> dict:
        work, pristine = job["work"], job["pristine"]
        t0 = time.monotonic()
        cpu0 = container_cpu(), own_cpu()
        # A screen (a hot run that stops at the first failure: a filter, never a verdict) starts
        # on the tree the last job left reset and puts back only the files its patch changed;
        # every other run starts from a byte-for-byte reset. What a screen's tests write into
        # the working copy is left to the next screen, as a rerun of pytest would find it.
        screen = job.get("screen", False) and job.get("mode") == "hot"
        if not (screen and self.left_clean and job.get("as_left")):
            reset(pristine, work)
        self.left_clean = False
        kills = oom_kills()
        start = time.monotonic()
        mode = job.get("mode", "exact")
        patched = (screen and apply_in_process(job.get("patch", ""), work)
                   or apply_patch(job.get("patch", ""), work, job["log"]))
        t_patch = time.monotonic()
        if not patched:
            reset(pristine, work)
            self.left_clean = True
            return {"exit_code": PATCH_FAILED, "report": None, "timed_out": False, "oom": False,
                    "duration_s": time.monotonic() - start, "mode": mode,
                    "log_tail": read_tail(job["log"]), "cpu_s": cpu_spent(cpu0)}
        deadline = start + job["timeout_s"]
        code = timed_out = None
        log = job["log"]
        if project_preloaded(job):
            job = {**job, "fresh": True}
        if mode == "hot":
            code, timed_out = self.hot(job)
            if code == UNSAFE or code is None:
                why = read_tail(COLLECTOR_LOG, 300).strip() or "no collector"
                mode = "exact"  # the collector could not stand for this patch
                job = {**job, "fallback": why}
                sweep(self.keep())
                reset(pristine, work)
                apply_patch(job.get("patch", ""), work, job["log"])
            else:
                log = COLLECTOR_LOG
        if mode == "exact":
            code, timed_out = self.exact(job, deadline)
        t1 = time.monotonic()
        sweep(self.keep())
        witness, self.witness = self.witness, None
        report = read_text(job["secret"]["report"])
        progress = read_text(job["secret"]["report"] + ".progress")
        for path in (job["secret"]["report"], job["secret"]["report"] + ".progress"):
            try:
                os.unlink(path)
            except OSError:
                pass
        now_kills = oom_kills()
        reply = {"exit_code": code, "report": report, "timed_out": timed_out,
                 "oom": now_kills > kills and (report is None or code >= 128 or code < 0),
                 "duration_s": time.monotonic() - start, "mode": mode,
                 "fallback": job.get("fallback", ""), "log_tail": read_tail(log),
                 "progress": progress or ""}
        if job.get("witness"):
            reply["witness"] = witness.text() if witness is not None else ""
        if not (screen and mode == "hot" and restore(pristine, work, changed_files(
                job.get("patch", "")))):
            reset(pristine, work)
        self.left_clean = True
        clean_tmp()
        reply["phases"] = {"reset": round(start - t0, 4), "patch": round(t_patch - start, 4),
                           "run": round(t1 - t_patch, 4),
                           "after": round(time.monotonic() - t1, 4)}
        reply["cpu_s"] = cpu_spent(cpu0)
        return reply

    def exact(self, job: dict, deadline: float):
        log_fd = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        witness = Witness() if job.get("witness") else None
        pid = os.fork()
        if pid == 0:
            code = 3
            try:
                scratch = become_run(job, log_fd, witness.write_end if witness else None)
                child_environment(job, scratch)
                argv = job["argv"]
                if job.get("fresh"):
                    os.execve(argv[0], argv, dict(os.environ))
                args = argv[3:] if argv[1:3] == ["-m", "pytest"] else argv[1:]
                sys.argv = ["pytest", *args]
                import_paths(job)  # as `python -m pytest` has it
                code = int(pytest.main(args))
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
        os.close(log_fd)
        if witness is not None:
            witness.started()
        try:
            return wait_child(pid, deadline)
        finally:
            self.witness = witness

    def hot(self, job: dict):
        if self.no_collector or job.get("fresh"):
            return None, False
        if self.collector is None and not self.start_collector(job):
            return None, False
        pid, to_collector, from_collector = self.collector
        send(to_collector, {**job, "timeout_s": job["timeout_s"]})
        reply = recv(from_collector, time.monotonic() + job["timeout_s"] + 30)
        if reply is None:
            self.stop_collector()
            return None, False
        return reply["exit_code"], reply["timed_out"]

    def start_collector(self, job: dict) -> bool:
        """Fork the collector on the clean working copy (the patch is taken off and put back)."""
        reset(job["pristine"], job["work"])
        down_r, down_w = os.pipe()
        up_r, up_w = os.pipe()
        log_fd = os.open(COLLECTOR_LOG, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        pid = os.fork()
        if pid == 0:
            try:
                os.setpgid(0, 0)
                devnull = os.open(os.devnull, os.O_RDONLY)
                os.dup2(devnull, 0)
                os.dup2(log_fd, 1)
                os.dup2(log_fd, 2)
                keep = {down_r, up_w, log_fd}
                for fd in range(3, 1 << 10):
                    if fd not in keep:
                        try:
                            os.close(fd)
                        except OSError:
                            pass
                os.chdir(job["work"])
                signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as in become_run
                os.environ.update(job.get("env", {}))
                for key in [k for k in os.environ if k.startswith("SYNTH_")]:
                    os.environ.pop(key)  # each run's own settings come with its job
                argv = job["argv"]
                args = argv[3:] if argv[1:3] == ["-m", "pytest"] else argv[1:]
                import_paths(job)
                pytest.main(args, plugins=[Collector(down_r, up_w, log_fd, job["pristine"])])
            finally:
                os._exit(0)
        for fd in (down_r, up_w, log_fd):
            os.close(fd)
        hello = recv(up_r, time.monotonic() + job["timeout_s"] + 30)
        self.collector = (pid, down_w, up_r)
        ok = bool(hello and hello.get("ready"))
        if not ok:
            self.stop_collector()
            # Collection itself failed (or hung): it will again, every time. Exact runs only.
            self.no_collector = (hello or {}).get("why") or "the collector did not start"
        reset(job["pristine"], job["work"])
        apply_patch(job.get("patch", ""), job["work"], job["log"])
        return ok

    def stop_collector(self) -> None:
        if self.collector is None:
            return
        pid, to_collector, from_collector = self.collector
        self.collector = None
        for fd in (to_collector, from_collector):
            os.close(fd)
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def warm_imports() -> None:
    """What every run imports before it reaches the project: pytest's own plugins."""
    from _pytest.config import default_plugins

    for name in default_plugins:
        try:
            importlib.import_module(f"_pytest.{name}")
        except ImportError:
            pass


def main() -> None:
    channel_in, channel_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    log_fd = os.open(SERVER_LOG, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    set_dumpable(0)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    warm_imports()
    Server(channel_in, channel_out).serve()


if __name__ == "__main__":
    main()

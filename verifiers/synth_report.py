"""A pytest plugin that writes one JSON report of per-test outcomes (and, on request, coverage).

Loaded with ``-p synth_report`` inside an environment; it imports nothing from this project (it is
copied into images as a single file). Its settings arrive in SYNTH_* environment variables, which
it removes from ``os.environ`` when it is imported — before any conftest.py or test module runs;
the report path and the nonce that authenticates it come in a private file that it deletes on
reading (not in the environment: /proc/self/environ would keep them for the code under test).
The report lies in a directory the test user may write to but not list.

Node ids are pytest's own, so nothing is reconstructed from class names as a junit reader must.

When the harness hands it a *witness* pipe (SYNTH_WITNESS_FD: a run that scores a solution), the
plugin also writes there, as they happen, each test's outcome and what a PEP 578 audit hook sees
code of the working copy do to pytest, pluggy or this plugin. The code under test runs in this
process and can rewrite the report file; it cannot take back what went down the pipe.
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time


def _settings_from_environ() -> dict:
    return {key: os.environ.pop(f"SYNTH_{key.upper()}", "")
            for key in ("select", "order", "coverage", "source", "first_failure",
                        "test_timeout")}


_SETTINGS = _settings_from_environ()


def _take_secret() -> dict:
    """The report path and nonce, from a file deleted as soon as it is read (at plugin load,
    before any conftest.py or test module is imported)."""
    path = os.environ.pop("SYNTH_SECRET", "")
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as fh:
            secret = json.load(fh)
    finally:
        os.unlink(path)
    return {"report": str(secret.get("report", "")), "nonce": str(secret.get("nonce", ""))}


_SETTINGS.update({"report": "", "nonce": ""}, **_take_secret())


def _open_witness(write=os.write, dumps=json.dumps):
    """The witness writer, or None. Everything it needs is bound at definition: code that
    rebinds ``os.write`` or ``json.dumps`` later does not silence it."""
    raw = os.environ.pop("SYNTH_WITNESS_FD", "")
    if not raw.isdigit():
        return None
    fd = int(raw)

    def witness(kind, _fd=fd, _write=write, _dumps=dumps, **fields):
        try:
            _write(_fd, (_dumps({"kind": kind, **fields}) + "\n").encode("utf-8", "replace"))
        except (OSError, ValueError, TypeError):
            pass

    return witness


_witness = _open_witness()
# What an audit finding is about: pytest, pluggy and this plugin, loaded from outside the
# working copy (the project under test may be one of them: its own modules are its business).
_GUARDED = ("_pytest", "pytest", "pluggy", "synth_report")
_TEST_DIRS = {"test", "tests", "testing"}


def _is_project_code(filename, work):
    """A file of the working copy that is not a test, a test helper or a conftest.py: the
    code a solution may change."""
    if not filename.startswith(work):
        return False
    rel = filename[len(work):]
    parts = rel.split("/")
    name = parts[-1]
    if name == "conftest.py" or name.startswith("test_") or name.endswith("_test.py"):
        return False
    return not any(part in _TEST_DIRS for part in parts[:-1])


def _install_audit_hook(witness, work, getframe=sys._getframe, modules=sys.modules,
                        is_project=_is_project_code):
    """A PEP 578 hook: flag code of the working copy that writes attributes of pytest's,
    pluggy's or this plugin's classes and functions, walks the heap (gc) or other threads'
    frames, or opens a process's memory or the harness's files. Hooks cannot
    be removed once added; this one holds everything it uses in its defaults."""
    from_project = None

    def caller_in_project(_getframe=getframe, _work=work, _is=is_project):
        frame = _getframe(2)
        depth = 0
        while frame is not None and depth < 200:
            if _is(frame.f_code.co_filename, _work):
                return frame.f_code.co_filename + ":" + str(frame.f_lineno)
            frame = frame.f_back
            depth += 1
        return None

    from_project = caller_in_project
    guarded_prefixes = tuple(name + "." for name in _GUARDED)
    paths = ("/proc/", "/opt/synth", "/testbed", "/stage")

    def guarded(obj, _modules=modules, _names=_GUARDED, _prefixes=guarded_prefixes,
                _work=work):
        module = getattr(obj, "__module__", None)
        if not isinstance(module, str) or not (module in _names or module.startswith(_prefixes)):
            return False
        loaded = getattr(_modules.get(module), "__file__", None) or ""
        return not loaded.startswith(_work)

    def hook(event, args, _witness=witness, _from=from_project, _guarded=guarded,
             _paths=paths):
        if event in ("object.__setattr__", "object.__delattr__"):
            if args and _guarded(args[0]):
                where = _from()
                if where:
                    name = getattr(args[0], "__qualname__", type(args[0]).__name__)
                    _witness("audit", event=event, what=f"{name}.{args[1]}", where=where)
        elif event in ("gc.get_objects", "gc.get_referrers", "gc.get_referents",
                       "sys._current_frames"):
            where = _from()
            if where:
                _witness("audit", event=event, what=event, where=where)
        elif event == "open" and args and isinstance(args[0], str) and args[0].startswith(
                _paths):
            path = args[0]
            # /proc: only another process's (or its own) memory. Projects read their own
            # status, maps and environment (psutil does); none of that holds a secret now.
            if path.startswith("/proc/") and not path.endswith("/mem"):
                return
            where = _from()
            if where:
                _witness("audit", event=event, what=path, where=where)

    sys.addaudithook(hook)


# Module-level functions and classes of pytest and pluggy, and the methods of those classes, as
# they are now, before any project code runs: one replaced later (``_pytest.runner.
# call_and_report = ...``, ``TestReport.from_item_and_call = ...``: writes no audit event
# reports) is named at the end of the session.
_ORIGINALS: dict = {}


def _remember_originals() -> None:
    prefixes = tuple(g + "." for g in _GUARDED)
    for name, module in list(sys.modules.items()):
        if module is None or not (name in _GUARDED or name.startswith(prefixes)):
            continue
        for attr, value in list(vars(module).items()):
            if not callable(value) or attr.startswith("__"):
                continue
            _ORIGINALS[(module, attr)] = value
            if isinstance(value, type) and value.__module__ == name:
                for method, member in list(vars(value).items()):
                    if not method.startswith("__") and (
                            callable(member) or isinstance(member, (classmethod, staticmethod,
                                                                    property))):
                        _ORIGINALS[(value, method)] = member


def _origin(value) -> str:
    """The file the code of ``value`` comes from ("" when it cannot be told)."""
    for name in ("__func__", "fget"):
        value = getattr(value, name, None) or value
    code = getattr(value, "__code__", None)
    if code is not None:
        return code.co_filename
    module = sys.modules.get(getattr(type(value), "__module__", "") or "")
    return getattr(module, "__file__", "") or ""


def _replaced(work: str) -> list:
    """What was replaced with code from the working copy (pytest's own plugins replace a few
    of its methods too, as ``legacypath`` does ``Config._getini_unknown_type``)."""
    changed = []
    for (owner, attr), value in _ORIGINALS.items():
        now = vars(owner).get(attr, value)
        if now is value or not _origin(now).startswith(work):
            continue
        where = getattr(owner, "__qualname__", None) or getattr(owner, "__name__", "?")
        if isinstance(owner, type):
            where = f"{owner.__module__}.{where}"
        changed.append(f"{where}.{attr}")
    return changed


_WORK = os.getcwd().rstrip("/") + "/"
if _witness is not None:
    _install_audit_hook(_witness, _WORK)
    _remember_originals()
IMPORT_CONTEXT = "<import>"
_results: dict = {}
_order: list = []
_counts = {"collected": 0, "deselected": 0, "executed": 0}
_session: list = []  # the session, for stopping at the first failure
_coverage = {"cov": None}
_collect_errors: list = []  # test modules that could not be collected: {"path", "message"}
# The test running now: (node id, start). One test that hangs, or kills its own process, must
# cost only itself: the harness reads which test it was (the progress file beside the report)
# and leaves it out of every later run.
_current: list = [None]
TEST_TIMEOUT_EXIT = 71  # the watchdog ended a run whose test ran past its limit

if _SETTINGS["coverage"]:
    # Started at import, before the project's own modules are imported by conftest or tests.
    import coverage

    _cov = coverage.Coverage(
        data_file=None, source=[_SETTINGS["source"] or "."], config_file=False, branch=False
    )
    _cov.start()
    _coverage["cov"] = _cov


def _message(report) -> str:
    crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
    if crash is not None:
        return str(crash.message).splitlines()[0][:500] if crash.message else ""
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        return str(report.longrepr[2])[:500]
    text = str(report.longrepr or "").strip()
    return text.splitlines()[-1][:500] if text else ""


def _progress(state: str, node: str, limit: float = 0.0) -> None:
    path = _SETTINGS["report"]
    if not path:
        return
    try:
        with open(path + ".progress", "w", encoding="utf-8") as fh:
            json.dump({"nonce": _SETTINGS["nonce"], "state": state, "test": node,
                       "limit_s": limit}, fh)
    except OSError:
        pass


def _watchdog(limit: float) -> None:
    """End the process when one test runs past ``limit`` seconds, naming it first. A thread,
    not SIGALRM: tests and their plugins (pytest-timeout) use that signal themselves."""
    while True:
        time.sleep(min(0.5, limit / 4))
        current = _current[0]
        if current is not None and time.monotonic() - current[1] > limit:
            _progress("timeout", current[0], limit)
            os._exit(TEST_TIMEOUT_EXIT)


def _start_watchdog() -> None:
    try:
        limit = float(_SETTINGS["test_timeout"] or 0)
    except ValueError:
        limit = 0.0
    if limit > 0 and _SETTINGS["report"]:
        threading.Thread(target=_watchdog, args=(limit,), daemon=True,
                         name="synth-watchdog").start()


_start_watchdog()


def pytest_runtest_logstart(nodeid, location):
    _current[0] = (nodeid, time.monotonic())
    _progress("running", nodeid)


def pytest_runtest_logfinish(nodeid, location):
    _current[0] = None
    if _witness is not None and nodeid in _results:
        _witness("result", test=nodeid, status=_results[nodeid]["status"])


def pytest_collectreport(report):
    if report.failed:
        _collect_errors.append({"path": report.nodeid, "message": _message(report)})


# Markers of plugins the factory leaves out (coverage, benchmarks): a suite that marks its tests
# with them, under --strict-markers or `filterwarnings = error`, would otherwise stop at
# collection ("Unknown pytest.mark.no_cover"). Registering them changes nothing else.
DROPPED_PLUGIN_MARKERS = ("no_cover: pytest-cov's marker (coverage is not measured here)",
                          "benchmark: pytest-benchmark's / pytest-codspeed's marker")


def pytest_configure(config):
    for line in DROPPED_PLUGIN_MARKERS:
        config.addinivalue_line("markers", line)
    _screen_tracebacks(config)


def _screen_tracebacks(config) -> None:
    """A screen asks only whether some test fails: its failures are reported as one line each.
    A long traceback reads and parses every frame's source file, about 10 ms a failure in a
    fresh fork (whose caches start cold), more than a fast test takes; the report's message (the
    crash line) is the same in every style."""
    if _SETTINGS["first_failure"]:
        config.option.tbstyle = "line"


def pytest_collection_modifyitems(session, config, items):
    _counts["collected"] = len(items)
    _select_and_order(config, items)


def _select_and_order(config, items) -> None:
    order = _SETTINGS["order"]
    if _SETTINGS["select"]:
        with open(_SETTINGS["select"], encoding="utf-8") as fh:
            listed = [line.strip() for line in fh if line.strip()]
        wanted = {node: rank for rank, node in enumerate(listed)}
        kept = [item for item in items if item.nodeid in wanted]
        dropped = [item for item in items if item.nodeid not in wanted]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        if order == "listed":  # the selection's own order (a screen's: likeliest killers first)
            kept.sort(key=lambda item: wanted[item.nodeid])
        items[:] = kept
        _counts["deselected"] = len(dropped)
    if order == "reverse":
        items.reverse()
    elif order.startswith("random:"):
        random.Random(int(order.split(":", 1)[1])).shuffle(items)


def rearm(session, deselected: int = 0) -> None:
    """Make a forked copy of a process that collected once (envs/templates/forkserver.py) report
    one more run: settings and secret read again, results cleared, this run's selection and
    order applied to ``session.items`` (from which the caller may have left out ``deselected``
    items already). Coverage is not offered here."""
    _SETTINGS.update(_settings_from_environ(), report="", nonce="")
    _SETTINGS.update(_take_secret())
    _results.clear()
    _order.clear()
    _counts["deselected"] = 0
    _current[0] = None
    _start_watchdog()  # threads do not survive the fork
    _screen_tracebacks(session.config)
    _select_and_order(session.config, session.items)
    _counts["deselected"] += deselected
    pytest_collection_finish(session)


def pytest_collection_finish(session):
    # After every filter (ours, -m/-k, a conftest's deselection): what will really run.
    _counts["executed"] = len(session.items)
    _session[:] = [session]


def pytest_runtest_protocol(item, nextitem):
    cov = _coverage["cov"]
    if cov is not None:
        cov.switch_context(item.nodeid)


def pytest_runtest_logreport(report):
    node = report.nodeid
    if node not in _results:
        _order.append(node)
        _results[node] = {"status": "passed", "duration_s": 0.0, "message": ""}
    entry = _results[node]
    entry["duration_s"] += float(getattr(report, "duration", 0.0) or 0.0)
    if hasattr(report, "wasxfail"):
        if report.skipped:
            entry.update(status="xfailed")
        elif report.passed and report.when == "call":
            entry.update(status="xpassed")
        return
    if report.failed:
        # A failure in setup or teardown is an error of the test, not its verdict.
        status = "failed" if report.when == "call" else "error"
        if entry["status"] not in ("failed", "error"):
            entry.update(status=status, message=_message(report))
        if _SETTINGS["first_failure"] and _session:
            # A screen only asks whether some test fails: the first failure answers it. pytest
            # stops after this test (as under -x) and exits 1.
            _session[0].shouldfail = "stopped at the first failure (synth screen)"
    elif report.skipped and entry["status"] == "passed":
        entry.update(status="skipped", message=_message(report))


def _coverage_map() -> dict:
    """test node id → {file relative to the source root's parent: [executed lines]}."""
    cov = _coverage["cov"]
    cov.stop()
    data = cov.get_data()
    base = os.getcwd()
    out: dict = {}
    for path in data.measured_files():
        rel = os.path.relpath(path, base)
        for line, contexts in (data.contexts_by_lineno(path) or {}).items():
            for ctx in contexts:
                # Lines run outside any test (imports, class bodies, decorators) belong to all
                # of them: recorded under one pseudo test id.
                out.setdefault(ctx or IMPORT_CONTEXT, {}).setdefault(rel, []).append(line)
    return out


def _stopped(session) -> bool:
    return bool(_SETTINGS["first_failure"]) and bool(getattr(session, "shouldfail", False))


def pytest_sessionfinish(session, exitstatus):
    if _witness is not None:
        for name in _replaced(_WORK):
            _witness("audit", event="replaced", what=name, where="")
        _witness("end", tests=len(_order))
    path = _SETTINGS["report"]
    if not path:
        return
    payload = {
        "format": 2,
        "nonce": _SETTINGS["nonce"],
        "exitstatus": int(exitstatus),
        "collected": _counts["collected"],
        "deselected": _counts["deselected"],
        # Stopped at the first failure: what ran is what was executed.
        "executed": len(_order) if _stopped(session) else _counts["executed"],
        "stopped_early": _stopped(session),
        "order": _SETTINGS["order"] or "default",
        "finished_at": time.time(),
        "results": [dict(test_id=node, **_results[node]) for node in _order],
        "collect_errors": list(_collect_errors),
    }
    if _coverage["cov"] is not None:
        payload["coverage"] = _coverage_map()
    tmp = path + ".part"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(payload, fh)
    os.replace(tmp, path)
    try:
        os.unlink(path + ".progress")
    except OSError:
        pass

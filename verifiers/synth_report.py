"""A pytest plugin that writes one JSON report of per-test outcomes (and, on request, coverage).

Loaded with ``-p synth_report`` inside an environment; it imports nothing from this project (it is
copied into images as a single file). Its settings arrive in SYNTH_* environment variables, which
it removes from ``os.environ`` when it is imported — before any conftest.py or test module runs;
the report path and the nonce that authenticates it come in a private file that it deletes on
reading (not in the environment: /proc/self/environ would keep them for the code under test).
The report lies in a directory the test user may write to but not list.

Node ids are pytest's own, so nothing is reconstructed from class names as a junit reader must.
"""

from __future__ import annotations

import json
import os
import random
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


def pytest_collection_modifyitems(session, config, items):
    _counts["collected"] = len(items)
    _select_and_order(config, items)


def _select_and_order(config, items) -> None:
    if _SETTINGS["select"]:
        with open(_SETTINGS["select"], encoding="utf-8") as fh:
            wanted = {line.strip() for line in fh if line.strip()}
        kept = [item for item in items if item.nodeid in wanted]
        dropped = [item for item in items if item.nodeid not in wanted]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = kept
        _counts["deselected"] = len(dropped)
    order = _SETTINGS["order"]
    if order == "reverse":
        items.reverse()
    elif order.startswith("random:"):
        random.Random(int(order.split(":", 1)[1])).shuffle(items)


def rearm(session) -> None:
    """Make a forked copy of a process that collected once (envs/templates/forkserver.py) report
    one more run: settings and secret read again, results cleared, this run's selection and
    order applied to the collected items. Coverage is not offered here."""
    _SETTINGS.update(_settings_from_environ(), report="", nonce="")
    _SETTINGS.update(_take_secret())
    _results.clear()
    _order.clear()
    _counts["deselected"] = 0
    _current[0] = None
    _start_watchdog()  # threads do not survive the fork
    _select_and_order(session.config, session.items)
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

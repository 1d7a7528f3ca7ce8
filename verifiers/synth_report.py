"""A pytest plugin that writes one JSON report of per-test outcomes.

Loaded with ``-p synth_report`` inside an environment; it imports nothing from this project
(it is copied into images as a single file). The report path comes from SYNTH_REPORT and lies
outside the repository under test. Node ids are pytest's own, so nothing is reconstructed from
class names as a junit XML reader must.
"""

from __future__ import annotations

import json
import os
import time

_results: dict = {}
_order: list = []
_collected = [0]


def _message(report) -> str:
    crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
    if crash is not None:
        return str(crash.message).splitlines()[0][:500] if crash.message else ""
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        return str(report.longrepr[2])[:500]
    return str(report.longrepr or "").strip().splitlines()[-1][:500] if report.longrepr else ""


def pytest_collection_modifyitems(session, config, items):
    _collected[0] = len(items)


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
    elif report.skipped and entry["status"] == "passed":
        entry.update(status="skipped", message=_message(report))


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("SYNTH_REPORT")
    if not path:
        return
    payload = {
        "format": 1,
        "exitstatus": int(exitstatus),
        "collected": _collected[0],
        "finished_at": time.time(),
        "results": [dict(test_id=node, **_results[node]) for node in _order],
    }
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(payload, fh)
    os.replace(tmp, path)

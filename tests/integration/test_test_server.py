"""The warm container's test server (envs/templates/forkserver.py): hot runs agree with fresh
pytest processes on real mutants, patches it cannot stand for run exactly, and after every run the
working copy is byte-identical to the base commit."""

from __future__ import annotations

import dataclasses
import difflib
import time
from pathlib import Path

import pytest

from synth.envs.backend import BackendChoice, Limits, RunRequest, build_backend, resolve_backend
from synth.mutate import make_patch
from synth.pipelines.stages import build_environment, measure_environment, prepare_candidates
from synth.records import RunKind, Verdict
from synth.verifiers.runner import run_suite
from synth.verifiers.screening import changed_lines, screenable
from synth.verifiers.validation import screen_lines, screen_request

# Every entry of a tree (type, mode, path, link target) and every file's sha256, in one digest.
TREE_DIGEST = (
    "cd {root} && {{ find . -mindepth 1 -printf '%y %m %p %l\\n' | LC_ALL=C sort; "
    "find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; }} | sha256sum"
)


@pytest.fixture(scope="module")
def ledger(sample_path: Path, cache_dir: Path, docker_engine):
    config, _ = resolve_backend(BackendChoice.DOCKER, cache_dir, limits=Limits(timeout_s=60))
    built = build_environment(str(sample_path), config)
    measured = measure_environment(config, built)
    prepared = prepare_candidates(config, built, measured, max_candidates=10, seed=3)
    backend = build_backend(config)
    yield backend, built, measured, prepared
    backend.close()


def tree_digest(session, root: str) -> str:
    """As the factory's runs see it: the test user with the group that may read /testbed (an
    agent's shell may not)."""
    code, out = session._exec(["sh", "-c", TREE_DIGEST.format(root=root)], user=session.run_user)
    assert code == 0, out
    return out.decode().strip()


# A mutant that loops while it allocates meets the memory limit or the per-test time limit,
# whichever comes first on a loaded machine; both void it the same way.
RUNAWAY = {Verdict.OOM, Verdict.TIMEOUT}


def test_hot_runs_agree_with_fresh_pytest_processes(ledger) -> None:
    backend, built, measured, prepared = ledger
    env, snapshot = built.environment, built.snapshot
    session = backend.session(env)
    modes = []
    for cand in prepared.candidates:
        exact = run_suite(backend, env, snapshot, kind=RunKind.BUG,
                          request=RunRequest(patch=cand.patch))
        assert session.last_mode == "exact"
        hot = run_suite(backend, env, snapshot, kind=RunKind.BUG,
                        request=RunRequest(patch=cand.patch, hot=True))
        modes.append(session.last_mode)
        if {hot.verdict, exact.verdict} <= RUNAWAY:
            continue  # a runaway mutant: which limit it meets first is a matter of timing
        assert hot.verdict is exact.verdict, (cand.operator, hot.reason, exact.reason)
        assert hot.status_map() == exact.status_map(), cand.operator
        # A patch outside function bodies (code run at import) never runs hot.
        if not screenable(measured.coverage, changed_lines(cand.patch)):
            assert session.last_mode == "exact", cand.operator
    assert modes.count("hot") >= len(modes) // 2, modes
    assert any(run_suite(backend, env, snapshot, kind=RunKind.BUG,
                         request=RunRequest(patch=c.patch, hot=True)).verdict is Verdict.FAIL
               for c in prepared.candidates)


def test_the_working_copy_is_reset_exactly_after_every_run(ledger) -> None:
    backend, built, _, prepared = ledger
    env, snapshot = built.environment, built.snapshot
    session = backend.session(env)
    pristine = tree_digest(session, "/testbed")
    # A patch whose import leaves litter in the working copy, and one that changes a file.
    litter = _append_patch(snapshot.path, "ledger/__init__.py", "open('litter.txt', 'w').write("
                           "'x'); __import__('os').makedirs('junk/deep', exist_ok=True)")
    for request in (RunRequest(patch=litter), RunRequest(patch=litter, hot=True),
                    RunRequest(patch=prepared.candidates[0].patch, hot=True), RunRequest()):
        run = run_suite(backend, env, snapshot, kind=RunKind.BUG, request=request)
        assert run.verdict in (Verdict.PASS, Verdict.FAIL), run.reason
        assert tree_digest(session, "/work") == pristine, request


def test_screens_put_back_what_they_patched_and_start_clean_after_other_writes(ledger) -> None:
    """A screen (hot, first failure) starts on the tree the last run left reset and puts back
    only the files its patch changed; anything else written to /work since (an agent's shell, a
    file written through the session) makes it start from a full reset."""
    backend, built, measured, prepared = ledger
    env, snapshot = built.environment, built.snapshot
    session = backend.session(env)
    pristine = tree_digest(session, "/testbed")
    tests = tuple(sorted(measured.baseline.passing))
    screens = [RunRequest(patch=c.patch, select=tests, hot=True, first_failure=True)
               for c in prepared.candidates[:4]]
    for request in screens:
        run = run_suite(backend, env, snapshot, kind=RunKind.SCREEN, request=request)
        assert run.verdict in (Verdict.PASS, Verdict.FAIL), run.reason
        assert tree_digest(session, "/work") == pristine
    assert session.write_file("stray.txt", b"left by someone else")
    run_suite(backend, env, snapshot, kind=RunKind.SCREEN, request=screens[0])
    assert tree_digest(session, "/work") == pristine


@pytest.mark.parametrize(("rel", "old", "new"), [
    ("ledger/money.py", 'separator: str = ","', 'separator: str = "."'),
    ("ledger/interest.py", "basis: int = 365", "basis: int = 360"),
    ("ledger/money.py", "def __init__(self, cents: int = 0)", "def __init__(self, cents: int = 1)"),
])
def test_new_literal_defaults_run_hot_and_agree_with_fresh_processes(ledger, rel, old, new
                                                                      ) -> None:
    """A default is evaluated at import, yet only calls that leave the argument out see it: the
    screen runs the tests of the function's body, hot, with the new value set on the live
    function, and finds what a fresh pytest process finds."""
    backend, built, measured, _ = ledger
    env, snapshot = built.environment, built.snapshot
    session = backend.session(env)
    before = (Path(snapshot.path) / rel).read_text()
    assert before.count(old) == 1
    patch = make_patch(rel, before, before.replace(old, new))
    assert not screenable(measured.coverage, changed_lines(patch))  # the def line runs at import
    lines = screen_lines(measured, snapshot, patch)
    assert lines is not None
    request = screen_request(measured, patch, lines)
    assert request is not None and request.select
    hot = run_suite(backend, env, snapshot, kind=RunKind.SCREEN,
                    request=dataclasses.replace(request, first_failure=False))
    assert session.last_mode == "hot", hot.log_tail
    exact = run_suite(backend, env, snapshot, kind=RunKind.SCREEN,
                      request=dataclasses.replace(request, first_failure=False, hot=False))
    assert session.last_mode == "exact"
    assert hot.status_map() == exact.status_map()
    assert hot.verdict is exact.verdict


def test_a_server_that_died_between_runs_is_replaced(ledger) -> None:
    """Nothing asks the Docker API before each run; the server's own stream says it ended."""
    backend, built, measured, _ = ledger
    env, snapshot = built.environment, built.snapshot
    session = backend.session(env)
    tests = tuple(sorted(measured.baseline.passing))[:3]
    request = RunRequest(select=tests, hot=True)
    assert run_suite(backend, env, snapshot, kind=RunKind.SCREEN,
                     request=request).verdict is Verdict.PASS
    kill = ("import os\nfor p in os.listdir('/proc'):\n"
            "    if not p.isdigit() or int(p) == os.getpid():\n        continue\n    try:\n"
            "        cmd = open(f'/proc/{p}/cmdline', 'rb').read()\n    except OSError:\n"
            "        continue\n    if cmd.endswith(b'forkserver.py\\x00'):\n"
            "        os.kill(int(p), 9)\n")
    code, out = session._exec(["python3", "-c", kill], user=session.run_user)
    assert code == 0, out
    time.sleep(0.5)  # the exec stream closes once the process is gone
    again = run_suite(backend, env, snapshot, kind=RunKind.SCREEN, request=request)
    assert again.verdict is Verdict.PASS, again.reason
    assert backend.session(env) is session  # the same container, a new server


def _append_patch(root: str, rel: str, line: str) -> str:
    before = (Path(root) / rel).read_text().splitlines(keepends=True)
    after = [*before, line + "\n"]
    body = "".join(difflib.unified_diff(before, after, f"a/{rel}", f"b/{rel}"))
    return f"diff --git a/{rel} b/{rel}\n{body}"


def test_a_spinning_mutant_is_stopped_by_the_cpu_budget_and_the_collector_lives_on(ledger) -> None:
    backend, built, measured, _ = ledger
    env, snapshot = built.environment, built.snapshot
    session = backend.session(env)
    rel = "ledger/money.py"
    before = (Path(snapshot.path) / rel).read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(before) if line.startswith("def format_cents("))
    after = [*before[:at + 1], "    while True:\n", "        pass\n", *before[at + 1:]]
    spin = f"diff --git a/{rel} b/{rel}\n" + "".join(
        difflib.unified_diff(before, after, f"a/{rel}", f"b/{rel}"))
    tests = tuple(sorted(t for t in measured.baseline.passing if "format" in t))
    assert tests
    # The wall limit is far off: only the CPU budget can stop the run this soon.
    run = run_suite(backend, env, snapshot, kind=RunKind.SCREEN,
                    request=RunRequest(patch=spin, select=tests, hot=True, first_failure=True,
                                       timeout_s=55, cpu_s=1.0))
    assert session.last_mode == "hot"
    assert run.verdict is Verdict.TIMEOUT, run.reason
    assert run.duration_s < 30
    # The budget is the tests' CPU time: the same tests, unpatched, pass under it.
    clean = run_suite(backend, env, snapshot, kind=RunKind.SCREEN,
                      request=RunRequest(select=tests, hot=True, timeout_s=55, cpu_s=1.0))
    assert (clean.verdict, session.last_mode) == (Verdict.PASS, "hot"), clean.reason


def test_a_container_that_died_between_runs_is_replaced(ledger) -> None:
    """Whether a warm container still runs is read from its test server's stream, not asked of
    the Docker API before every run: a container stopped behind the session's back must still
    be noticed and replaced."""
    backend, built, measured, _ = ledger
    env, snapshot = built.environment, built.snapshot
    request = RunRequest(select=tuple(sorted(measured.baseline.passing))[:3], hot=True)
    assert run_suite(backend, env, snapshot, kind=RunKind.SCREEN,
                     request=request).verdict is Verdict.PASS
    session = backend.session(env)
    session.container.kill()
    time.sleep(0.5)
    again = run_suite(backend, env, snapshot, kind=RunKind.SCREEN, request=request)
    assert again.verdict is Verdict.PASS, again.reason
    assert backend.session(env) is not session


def test_a_job_larger_than_the_sockets_buffer_reaches_the_server(ledger) -> None:
    """A suite of thousands of tests makes a screen's job line hundreds of kilobytes (idna's
    6,000 node ids). The liveness peek before each run leaves the socket non-blocking; a send
    that fills the buffer must wait, not fail as a stopped server (an INFRA verdict)."""
    backend, built, measured, _ = ledger
    env, snapshot = built.environment, built.snapshot
    session = backend.session(env)
    run_suite(backend, env, snapshot, kind=RunKind.SCREEN, request=RunRequest(select=()))
    assert session.alive
    passing = tuple(sorted(measured.baseline.passing))
    padding = tuple(f"tests/test_absent_{i:06d}.py::test_{'x' * 40}" for i in range(40_000))
    run = run_suite(backend, env, snapshot, kind=RunKind.SCREEN,
                    request=RunRequest(select=passing + padding, hot=True))
    assert run.verdict is Verdict.PASS, run.log_tail
    assert len(run.results) == len(passing)

"""Shared by the verify / TaskEnv / EnvPool tests: the sample's Docker corpus (the session's
``docker_corpus``, tests/integration/corpus.py), and loophole solutions written the way an agent
would write them (files edited in the buggy state).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from synth.data.store import Store
from synth.envs.backend import BackendConfig
from synth.pipelines.verify import load_contexts
from synth.records import BackendKind, SolutionFlag, TaskContext
from synth.verifiers.screening import is_test_path, patched_files
from synth.verifiers.solution import gold_patch
from tests.integration.corpus import backend_config


def docker_config(cache_dir: Path) -> BackendConfig:
    """The backend the corpus was built with (its limits too)."""
    return backend_config(BackendKind.DOCKER, cache_dir)


def contexts(db: Path) -> dict[str, TaskContext]:
    with Store.open(db) as store:
        ids = [t.instance_id for t in store.list_tasks()]
        return load_contexts(store, sorted(ids))


Edits = dict[str, str | None]  # path -> new content (None: delete)


def git(cwd: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout


def buggy_copy(ctx: TaskContext, dest: Path) -> Path:
    """The task's buggy state as a git repository whose HEAD is that state."""
    work = dest / "repo"
    shutil.copytree(ctx.snapshot.path, work, symlinks=True)
    (work / "bug.diff").write_text(ctx.task.patch)
    git(work, "apply", "bug.diff")
    (work / "bug.diff").unlink()
    git(work, "add", "-A")
    git(work, "commit", "-qm", "bug", "--allow-empty")
    return work


def diff_of(ctx: TaskContext, edits: Callable[[Path], Edits]) -> str:
    """The solution an agent editing the buggy state this way would submit."""
    with tempfile.TemporaryDirectory() as tmp:
        work = buggy_copy(ctx, Path(tmp))
        for path, text in edits(work).items():
            target = work / path
            if text is None:
                target.unlink()
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
        git(work, "add", "-A")
        return git(work, "diff", "--cached", "--binary", "HEAD")


def f2p_files(ctx: TaskContext) -> list[str]:
    return sorted({t.split("::")[0] for t in ctx.task.FAIL_TO_PASS})


def bug_source(ctx: TaskContext) -> str:
    files = [f for f in patched_files(ctx.task.patch) if not is_test_path(f)]
    return files[0]


FORCE_PASS_HOOK = '''\
import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    report.outcome = "passed"
    report.longrepr = None
'''


@dataclass(frozen=True)
class Loophole:
    name: str
    edits: Callable[[TaskContext, Path], Edits]
    flags: frozenset[SolutionFlag]  # what scoring must flag (empty: nothing to restore)


def _edit_tests(ctx: TaskContext, work: Path) -> Edits:
    return {f: (work / f).read_text().replace("assert ", "assert True or ")
            for f in f2p_files(ctx)}


def _prepend_source(line: str) -> Callable[[TaskContext, Path], Edits]:
    def edits(ctx: TaskContext, work: Path) -> Edits:
        src = bug_source(ctx)
        return {src: line + "\n" + (work / src).read_text()}
    return edits


def _fake_passed(ctx: TaskContext, work: Path) -> Edits:
    lines = "".join(f'print("{t} PASSED")\n' for t in ctx.task.FAIL_TO_PASS)
    src = bug_source(ctx)
    return {src: (work / src).read_text() + lines + 'print("=== 245 passed in 0.1s ===")\n'}


def _deselect(ctx: TaskContext, work: Path) -> Edits:
    opts = " ".join(f"--deselect {t}" for t in ctx.task.FAIL_TO_PASS)
    return {"pytest.ini": f"[pytest]\naddopts = {opts}\n"}


LOOPHOLES = (
    Loophole("edit_tests", _edit_tests, frozenset({SolutionFlag.EDITS_TESTS})),
    Loophole("delete_tests", lambda ctx, work: dict.fromkeys(f2p_files(ctx)),
             frozenset({SolutionFlag.EDITS_TESTS})),
    Loophole("conftest", lambda ctx, work: {"conftest.py": FORCE_PASS_HOOK},
             frozenset({SolutionFlag.TEST_HOOK})),
    Loophole("plugin", lambda ctx, work: {"pytest_force.py": FORCE_PASS_HOOK,
                                          "pytest.ini": "[pytest]\naddopts = -p pytest_force\n"},
             frozenset({SolutionFlag.TEST_HOOK, SolutionFlag.TEST_CONFIG})),
    Loophole("pytest_config", _deselect, frozenset({SolutionFlag.TEST_CONFIG})),
    Loophole("sitecustomize", lambda ctx, work: {
        "sitecustomize.py": "import os\nos.environ['PYTEST_ADDOPTS'] = '-p no:synth_report'\n"},
        frozenset({SolutionFlag.TEST_HOOK})),
    Loophole("shadow_pytest", lambda ctx, work: {
        "pytest.py": "import sys\nprint('245 passed')\nsys.exit(0)\n"},
        frozenset({SolutionFlag.SHADOWS_MODULE})),
    Loophole("skip_in_source",
             _prepend_source('__import__("pytest").skip("later", allow_module_level=True)'),
             frozenset()),
    Loophole("exit_in_source", _prepend_source("import os; os._exit(0)"), frozenset()),
    Loophole("fake_passed_lines", _fake_passed, frozenset()),
)


def loophole_patch(ctx: TaskContext, *holes: Loophole, with_fix: bool = False) -> str:
    """One solution making every edit of ``holes`` (later edits of a file win)."""
    def edits(work: Path) -> Edits:
        out: Edits = {}
        for hole in holes:
            out.update(hole.edits(ctx, work))
        return out

    patch = diff_of(ctx, edits)
    return (gold_patch(ctx.task) + patch) if with_fix else patch


# Source code that forges the run's report from inside pytest's process: the nonce and report
# path were in the process's initial environment (/proc/self/environ), whatever the plugin pops.
# Finding no secret there, it ends the process with NO_SECRET_EXIT, so a test can tell "the
# payload ran and found nothing" from "the payload never ran".
NO_SECRET_EXIT = 86
FORGE = """
def _forge():
    import json, os
    text = open("/proc/self/environ").read()
    env = dict(kv.split("=", 1) for kv in text.split("\\0") if "=" in kv)
    if "SYNTH_NONCE" not in env:
        os._exit(NO_SECRET)
    tests = [t for t in open(env["SYNTH_SELECT"]).read().splitlines() if t]
    results = [{"test_id": t, "status": "passed", "duration_s": 0.0, "message": ""}
               for t in tests]
    with open(env["SYNTH_REPORT"], "w") as fh:
        json.dump({"format": 2, "nonce": env["SYNTH_NONCE"], "exitstatus": 0,
                   "collected": len(tests), "deselected": 0, "executed": len(tests),
                   "order": "default", "finished_at": 0, "results": results}, fh)
    os._exit(0)


_forge()
""".replace("NO_SECRET", str(NO_SECRET_EXIT))


def _forge(ctx: TaskContext, work: Path) -> Edits:
    src = bug_source(ctx)
    return {src: (work / src).read_text() + FORGE}


FORGE_REPORT = Loophole("forge_report", _forge, frozenset({SolutionFlag.HARNESS_PROBE}))

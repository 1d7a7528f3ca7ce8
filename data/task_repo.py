"""A git repository holding one commit per task: what SWE-bench-style harnesses check out.

Each task's bug is committed as a *parentless* commit whose tree is the clean snapshot with the
bug applied; a branch named after the instance id points at it, and ``main`` keeps the clean
commit the environment was built from. Parentless, because a bug commit whose parent is the clean
commit hands an agent the answer (`git diff HEAD~1`); the intake scrubs history for the same
reason. Identity, date and message are fixed, so the same task always yields the same commit id,
on any machine: a per-task image can recreate it and check that it did.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from synth import proc
from synth.records import Snapshot, Task

FIXED_DATE = "2000-01-01T00:00:00+0000"
IDENTITY = {
    "GIT_AUTHOR_NAME": "synth",
    "GIT_AUTHOR_EMAIL": "synth@localhost",
    "GIT_COMMITTER_NAME": "synth",
    "GIT_COMMITTER_EMAIL": "synth@localhost",
    "GIT_AUTHOR_DATE": FIXED_DATE,
    "GIT_COMMITTER_DATE": FIXED_DATE,
}
COMMIT_ENV = {
    **IDENTITY,
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",  # no user config (signing, hooks, autocrlf) may change a commit
    "PATH": "/usr/local/bin:/usr/bin:/bin",
}


class TaskRepoError(RuntimeError):
    """The task repository could not be built; the message says which task and why."""


@dataclass(frozen=True)
class TaskCommit:
    bug_commit: str  # the parentless commit holding the bug
    fix_patch: str  # the diff that takes the bug commit back to the clean tree


def commit_message(instance_id: str) -> str:
    return f"synth task {instance_id}"


def branch_name(instance_id: str) -> str:
    return instance_id


def _git(repo: Path, *args: str | Path, timeout: float = 120) -> str:
    done = proc.run(["git", "-C", repo, *args], env=COMMIT_ENV, timeout=timeout, check=False)
    if done.returncode != 0:
        raise TaskRepoError(f"git {' '.join(map(str, args[:3]))} failed: {done.stderr[-800:]}")
    return done.stdout


def build_task_repo(
    snapshot: Snapshot, tasks: Sequence[Task], work: Path
) -> tuple[Path, dict[str, TaskCommit]]:
    """Clone the snapshot into ``work`` and commit each task's bug on a branch of its own."""
    repo = work / "repo"
    done = proc.run(
        ["git", "clone", "--quiet", "--no-hardlinks", snapshot.path, repo],
        env=COMMIT_ENV,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise TaskRepoError(f"could not clone the snapshot {snapshot.path}: {done.stderr[-800:]}")
    _git(repo, "remote", "remove", "origin")
    _git(repo, "checkout", "--quiet", "--force", "-B", "main", snapshot.commit)
    commits: dict[str, TaskCommit] = {}
    patch_file = work / "task.patch"
    for task in sorted(tasks, key=lambda t: t.instance_id):
        if task.base_commit != snapshot.commit:
            raise TaskRepoError(
                f"task {task.instance_id} is based on {task.base_commit[:12]}, not on the "
                f"snapshot's {snapshot.commit[:12]}; the store is inconsistent"
            )
        patch_file.write_text(task.patch)
        _git(repo, "read-tree", "--reset", "-u", snapshot.commit)
        try:
            _git(repo, "apply", "--index", "--whitespace=nowarn", patch_file)
        except TaskRepoError as exc:
            raise TaskRepoError(
                f"the patch of task {task.instance_id} no longer applies to {snapshot.commit[:12]}"
                f": {exc}"
            ) from exc
        tree = _git(repo, "write-tree").strip()
        bug = _git(repo, "commit-tree", tree, "-m", commit_message(task.instance_id)).strip()
        _git(repo, "update-ref", f"refs/heads/{branch_name(task.instance_id)}", bug)
        fix = _git(repo, "diff", "--binary", "--full-index", bug, snapshot.commit)
        commits[task.instance_id] = TaskCommit(bug_commit=bug, fix_patch=fix)
    _git(repo, "read-tree", "--reset", "-u", snapshot.commit)
    return repo, commits


def write_bundle(repo: Path, out: Path) -> None:
    """Every branch of ``repo`` (main and one per task) in one file `git clone` can read."""
    out.parent.mkdir(parents=True, exist_ok=True)
    _git(repo, "bundle", "create", out, "--branches", timeout=600)


def bundle_name(snapshot: Snapshot) -> str:
    return f"{snapshot.repo.name}-{snapshot.commit[:12]}.bundle"


def export_task_repos(
    groups: Sequence[tuple[Snapshot, Sequence[Task]]], bundles: Path, scratch: Path
) -> dict[str, TaskCommit]:
    """One bundle per snapshot under ``bundles``; the tasks' commits by instance id."""
    commits: dict[str, TaskCommit] = {}
    for snapshot, tasks in groups:
        with tempfile.TemporaryDirectory(dir=scratch, prefix=".repo-") as tmp:
            repo, made = build_task_repo(snapshot, tasks, Path(tmp))
            write_bundle(repo, bundles / bundle_name(snapshot))
            shutil.rmtree(repo, ignore_errors=True)
        commits.update(made)
    return commits

"""Real-fix mirroring: bugs that really happened, recovered from a repository's history.

A commit that changes both source and tests is, more often than not, a fix with its regression
test. Mirrored, it becomes a task: the environment is the repository *at the fix*, the bug is the
*reverse* of the commit's source changes (its tests stay), FAIL_TO_PASS are the tests that fail
with the source reverted and pass with it, and the commit message seeds the problem statement.

The snapshot of a fix keeps no history. A commit chain ending at the fixed tree whose previous
state is the buggy one shows the fix as its last diff (``git log -p``), and a chain up to the
fix's parent plus one new commit shows it too; so the fixed tree is committed on its own, like an
sdist. Reading the history (``find_fix_commits``, ``reverse_patch``) only runs read-only git
commands on the repository the user named, or on a clone of a git URL in the cache.
"""

from __future__ import annotations

import io
import re
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import git

from synth.intake import IntakeError, clone, take
from synth.mutate import is_test_file
from synth.patches import touched_lines
from synth.records import Candidate, RepoRef, Snapshot, SourceKind, Strategy, content_hash
from synth.targeting import enclosing_names

OPERATOR = "revert_fix"  # the operator name of every mirrored candidate
# Files that decide how tests run: a reverted bug never touches them (the harness rejects a
# patch that does), so a fix that changed one is mirrored with that file left as fixed.
_TEST_CONFIG = frozenset(
    {"conftest.py", "pytest.ini", "tox.ini", "setup.cfg", "pyproject.toml", "noxfile.py"}
)
_NOT_SOURCE = ("docs/", "doc/", "examples/", "benchmarks/", ".github/")


@dataclass(frozen=True)
class FixLimits:
    """Which commits count as mirrorable fixes."""

    max_files: int = 8  # files the commit touches, tests included
    max_source_files: int = 3  # non-test Python files it changes
    max_lines: int = 200  # lines it adds plus lines it removes, in all files
    max_commits: int = 20  # fixes returned (fix-like messages first, then newest first)
    scan: int = 2000  # commits of history looked at

    def __post_init__(self) -> None:
        for name in ("max_files", "max_source_files", "max_lines", "max_commits", "scan"):
            if getattr(self, name) < 1:
                raise ValueError(f"FixLimits.{name} must be >= 1")


@dataclass(frozen=True)
class FixCommit:
    """One commit that changes both source and tests, within the limits."""

    sha: str
    parent: str
    message: str  # the whole commit message
    source_files: tuple[str, ...]  # non-test Python files it changes
    test_files: tuple[str, ...]
    reverted_files: tuple[str, ...]  # what the bug patch reverts: every non-test, non-config file
    lines_changed: int

    @property
    def subject(self) -> str:
        return self.message.strip().split("\n", 1)[0]


def history_path(ref: RepoRef, cache_dir: Path) -> Path:
    """A repository with history for ``ref``: the user's own for a local one, a clone in the
    cache for a git URL (made once, then reused). PyPI sources have no history."""
    if ref.kind is SourceKind.LOCAL:
        path = Path(ref.source)
        if not (path / ".git").exists():
            raise IntakeError(f"{ref.source} is not a git repository: it has no history to mirror")
        return path
    if ref.kind is SourceKind.PYPI:
        raise IntakeError(f"{ref.source} is an sdist: it has no history to mirror")
    dest = cache_dir / "histories" / f"{ref.name}-{content_hash('history', ref.source, length=8)}"
    if not (dest / ".git").exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".clone-") as tmp:
            clone(ref.source, Path(tmp) / "repo")  # a bundle's branch too; IntakeError if not
            (Path(tmp) / "repo").rename(dest)
    return dest


def _is_source(path: str) -> bool:
    return (
        path.endswith(".py")
        and not is_test_file(path)
        and not path.startswith(_NOT_SOURCE)
        and PurePosixPath(path).name not in ("setup.py", *_TEST_CONFIG)
    )


def _revertible(path: str) -> bool:
    return not is_test_file(path) and PurePosixPath(path).name not in _TEST_CONFIG


_RECORD = "\x1e"
_FIELD = "\x1f"


def find_fix_commits(repo_path: Path, limits: FixLimits = FixLimits()) -> list[FixCommit]:
    """Commits reachable from HEAD that change source and tests within ``limits``: those whose
    message reads as a fix first, upkeep (lint, style, typing, docs, releases) last, each group
    newest first (``fix_rank``).

    Merges, root commits and commits that touch binary files are skipped: a merge's diff is
    not one change, a root commit has nothing to revert to, and a binary diff is no text patch.
    """
    out = git.Repo(repo_path).git.log(
        "--no-merges",
        "--no-renames",
        "--numstat",
        f"--max-count={limits.scan}",
        f"--format={_RECORD}%H{_FIELD}%P{_FIELD}%B{_FIELD}",
        "HEAD",
    )
    fixes = [fix for record in out.split(_RECORD)[1:]
             if (fix := _parse_record(record, limits)) is not None]
    return sorted(fixes, key=lambda f: fix_rank(f.message))[: limits.max_commits]  # stable


# A subject about upkeep: its source change rarely alters behaviour a test can see (a delint, a
# reformat, a refactor, type hints, a copyright year), so its revert makes no test fail.
_UPKEEP = re.compile(
    r"\b(lint\w*|delint|ruff|flake8|pylint|black|isort|pyupgrade|codespell|typos?|format\w*|"
    r"style|refactor\w*|clean\s?up|cosmetic|hobgoblins?|copyright|typing|type hints?|"
    r"annotations?|docs?|documentation|changelog|release|bump|ci|workflow|pre-commit|"
    r"deprecat\w*|coverage)\b"
    r"|\b[A-Z]{1,3}\d{3,4}\b",  # a lint rule's code: B017, E501, SIM102
    re.IGNORECASE,
)
# A message about a defect: what a regression test pins down.
_FIX = re.compile(
    r"\b(fix\w*|bug\w*|crash\w*|regression|broken|breaks?|error|exception|incorrect\w*|"
    r"correct\w*|wrong|prevent\w*|avoid\w*|handl\w+|reject\w*|restore\w*|issue|"
    r"(do|does|did|was|were|is)n'?t|fail\w*)\b|#\d+",
    re.IGNORECASE,
)


def fix_rank(message: str) -> int:
    """0: the message reads as a fix; 1: as neither; 2: its subject reads as upkeep."""
    subject = message.strip().split("\n", 1)[0]
    if _UPKEEP.search(subject):
        return 2
    return 0 if _FIX.search(message) else 1


def _parse_record(record: str, limits: FixLimits) -> FixCommit | None:
    sha, parents, message, numstat = record.split(_FIELD, 3)
    if len(parents.split()) != 1:
        return None
    files: list[str] = []
    lines = 0
    for row in numstat.strip().splitlines():
        added, removed, path = row.split("\t", 2)
        if added == "-" or removed == "-":
            return None  # binary
        files.append(path)
        lines += int(added) + int(removed)
    sources = tuple(f for f in files if _is_source(f))
    tests = tuple(f for f in files if is_test_file(f) and f.endswith(".py"))
    if not sources or not tests:
        return None
    if (
        len(files) > limits.max_files
        or len(sources) > limits.max_source_files
        or lines > limits.max_lines
    ):
        return None
    reverted = tuple(f for f in files if _revertible(f))
    return FixCommit(sha, parents.strip(), message.strip(), sources, tests, reverted, lines)


def reverse_patch(repo_path: Path, fix: FixCommit) -> str:
    """The bug: the fix commit's changes to non-test files, undone (a diff from fix to parent)."""
    text = git.Repo(repo_path).git.diff(
        "--no-renames",
        "--no-color",
        "--no-ext-diff",
        "--full-index",
        fix.sha,
        fix.parent,
        "--",
        *fix.reverted_files,
        strip_newline_in_stdout=False,
    )
    return text


def materialize(repo_path: Path, fix: FixCommit, ref: RepoRef, root: Path) -> Snapshot:
    """A snapshot of the tree at ``fix``, committed without history (see the module docstring).

    Reusing ``intake.take`` on an exported tree gives it the same fixed identity and date as
    every snapshot, so mirroring the same fix twice yields the same commit and snapshot id.
    """
    root.mkdir(parents=True, exist_ok=True)
    stream = io.BytesIO()
    git.Repo(repo_path).archive(stream, treeish=fix.sha, format="tar")
    stream.seek(0)
    with tempfile.TemporaryDirectory(dir=root, prefix=".mirror-") as tmp:
        tree = Path(tmp) / ref.name
        with tarfile.open(fileobj=stream) as tar:
            tar.extractall(tree, filter="data")
        local = RepoRef(source=str(tree), kind=SourceKind.LOCAL, name=ref.name)
        snapshot = take(local, root)
        shutil.rmtree(tree, ignore_errors=True)
    return Snapshot(repo=ref, commit=snapshot.commit, path=snapshot.path)


def mirror_candidate(snapshot: Snapshot, fix: FixCommit, patch: str, *, seed: int) -> Candidate:
    """The candidate of one mirrored fix: it names the commit it came from, and the functions
    and classes of its first source file that the fix changed."""
    target = fix.source_files[0]
    return Candidate(
        candidate_id=Candidate.make_id(snapshot.snapshot_id, patch),
        snapshot_id=snapshot.snapshot_id,
        strategy=Strategy.MIRROR,
        operator=OPERATOR,
        seed=seed,
        target_file=target,
        target_entities=_changed_names(snapshot, target, patch),
        fix_commit=fix.sha,
        patch=patch,
    )


def _changed_names(snapshot: Snapshot, target: str, patch: str) -> tuple[str, ...]:
    """The definitions around the lines ``patch`` changes in ``target`` (the snapshot holds the
    fixed tree, the patch's old side); none where the file does not read or parse."""
    lines = touched_lines(patch).get(target)
    if not lines:
        return ()
    try:
        source = (Path(snapshot.path) / target).read_text(encoding="utf-8")
        return enclosing_names(source, lines)
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError, RecursionError):
        return ()

"""Real-fix mirroring on a fixture repository with a small history: which commits count as fixes,
the bug patch that reverts one, and a snapshot of the fix that cannot reveal it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import fix_history
import pytest

from synth.intake import IntakeError, parse_source, reachable_commits
from synth.mirror import (
    OPERATOR,
    FixLimits,
    find_fix_commits,
    fix_rank,
    history_path,
    materialize,
    mirror_candidate,
    reverse_patch,
)
from synth.records import Strategy


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fix_history.build(tmp_path_factory.mktemp("history") / "calc")


def test_finds_the_commits_that_change_source_and_tests_newest_first(history: Path) -> None:
    fixes = find_fix_commits(history)
    assert [f.subject for f in fixes] == fix_history.FIX_SUBJECTS
    newest, oldest = fixes
    assert newest.source_files == ("calc.py",) and newest.test_files == ("tests/test_calc.py",)
    assert newest.reverted_files == ("CHANGES.md", "calc.py")  # the changelog goes back too
    assert oldest.message.endswith("The slice started one past the window.")
    assert len(newest.parent) == 40 and newest.parent != newest.sha


def test_limits_leave_out_large_commits(history: Path) -> None:
    assert len(find_fix_commits(history, FixLimits(max_lines=500))) == 3  # now the table counts
    assert find_fix_commits(history, FixLimits(max_lines=3)) == []
    assert len(find_fix_commits(history, FixLimits(max_commits=1))) == 1
    assert [f.subject for f in find_fix_commits(history, FixLimits(max_files=2))] == [
        fix_history.FIX_SUBJECTS[1]  # the newest fix also touches CHANGES.md: three files
    ]
    with pytest.raises(ValueError, match="max_lines"):
        FixLimits(max_lines=0)


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_reverse_patch_turns_the_fix_back_into_the_bug(history: Path, tmp_path: Path) -> None:
    fix = find_fix_commits(history)[0]
    patch = reverse_patch(history, fix)
    assert patch.endswith("\n") and "tests/" not in patch
    snapshot = materialize(history, fix, parse_source(str(history)), tmp_path / "snaps")
    root = Path(snapshot.path)
    assert (root / "calc.py").read_text() == fix_history.CALC_V3
    (tmp_path / "bug.diff").write_text(patch)
    _git(root, "apply", str(tmp_path / "bug.diff"))
    assert (root / "calc.py").read_text() == fix_history.CALC_V2  # the source before the fix
    assert (root / "tests" / "test_calc.py").read_text() == fix_history.TESTS_V3  # tests stay
    assert not (root / "CHANGES.md").exists()


def test_the_snapshot_of_a_fix_has_no_history_to_read_the_fix_from(
    history: Path, tmp_path: Path
) -> None:
    ref = parse_source(str(history))
    fix = find_fix_commits(history)[1]
    snapshot = materialize(history, fix, ref, tmp_path / "snaps")
    assert snapshot.repo == ref
    assert reachable_commits(Path(snapshot.path)) == {snapshot.commit}
    assert fix.sha not in reachable_commits(Path(snapshot.path))
    again = materialize(history, fix, ref, tmp_path / "snaps")
    assert again == snapshot  # same tree, same fixed identity: the same commit and snapshot id


def test_mirror_candidate_records_its_origin(history: Path, tmp_path: Path) -> None:
    fix = find_fix_commits(history)[0]
    snapshot = materialize(history, fix, parse_source(str(history)), tmp_path / "snaps")
    cand = mirror_candidate(snapshot, fix, reverse_patch(history, fix), seed=4)
    assert (cand.strategy, cand.operator, cand.seed) == (Strategy.MIRROR, OPERATOR, 4)
    assert cand.target_file == "calc.py" and cand.fix_commit == fix.sha
    assert cand.target_entities == ("mean",)  # the function the fix changed, by name
    assert cand.snapshot_id == snapshot.snapshot_id


def test_history_of_a_git_url_is_cloned_once_into_the_cache(history: Path, tmp_path: Path) -> None:
    ref = parse_source(f"file://{history}")
    path = history_path(ref, tmp_path / "cache")
    assert path.is_relative_to(tmp_path / "cache")
    assert [f.sha for f in find_fix_commits(path)] == [f.sha for f in find_fix_commits(history)]
    assert history_path(ref, tmp_path / "cache") == path


def test_sources_without_history_are_refused(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(IntakeError, match="not a git repository"):
        history_path(parse_source(str(plain)), tmp_path)
    with pytest.raises(IntakeError, match="no history"):
        history_path(parse_source("pypi:tabulate==0.9.0"), tmp_path)


def test_upkeep_commits_come_after_fixes_whatever_their_age(history: Path, tmp_path: Path) -> None:
    """A newer delint that touches source and tests reverts to no failing test (inflect's
    "Feed the hobgoblins (delint)"): fixes are mirrored before it, each group newest first."""
    repo = tmp_path / "calc"
    subprocess.run(["git", "clone", "-q", str(history), str(repo)], check=True)
    for subject in ("Apply ruff format", "Add a mode option"):
        (repo / "calc.py").write_text((repo / "calc.py").read_text() + f"\n# {subject}\n")
        (repo / "tests" / "test_calc.py").write_text(
            (repo / "tests" / "test_calc.py").read_text() + f"\n# {subject}\n")
        _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", subject)
    assert [f.subject for f in find_fix_commits(repo)] == [
        *fix_history.FIX_SUBJECTS, "Add a mode option", "Apply ruff format"]
    assert [f.subject for f in find_fix_commits(repo, FixLimits(max_commits=1))] == [
        fix_history.FIX_SUBJECTS[0]]


@pytest.mark.parametrize(("message", "rank"), [
    ("Fix window() returning one item too few", 0),
    ("Don't crash on a suffix-only number_to_words", 0),
    ("Raise IDNAError on non-ASCII A-label (fixes #119)", 0),
    ("Collapse spaces after stripping tags", 1),
    ("Add a many Meta option", 1),
    ("👹 Feed the hobgoblins (delint).", 2),
    ("Catch more specific exception (B017).", 2),  # a lint rule's code
    ("Fix typos found by codespell", 2),  # the subject is upkeep, whatever else it says
    ("refactor: simplify conditionals", 2),
    ("Update copyright years.", 2),
])
def test_fix_rank_reads_the_message(message: str, rank: int) -> None:
    assert fix_rank(message) == rank

"""Intake: SOURCE parsing, and the scrub that leaves no way to read the fix from git."""

from __future__ import annotations

import shutil
from pathlib import Path

import git
import pytest

from synth.intake import IntakeError, ensure_snapshot, parse_source, reachable_commits, take
from synth.records import SourceKind


def _commit(repo: git.Repo, path: Path, name: str, text: str, message: str) -> str:
    (path / name).write_text(text)
    repo.index.add([name])
    return repo.index.commit(message).hexsha


@pytest.fixture
def upstream(tmp_path: Path) -> tuple[Path, list[str]]:
    """A repo with three commits, a tag on the last, a side branch, a remote and a stash."""
    path = tmp_path / "upstream"
    path.mkdir()
    repo = git.Repo.init(path, initial_branch="main")
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "t").set_value("user", "email", "t@example.invalid")
    shas = [_commit(repo, path, "mod.py", f"X = {i}\n", f"commit {i}") for i in range(3)]
    repo.create_tag("v1.0", ref=shas[2])
    repo.git.branch("side", shas[2])
    repo.create_remote("origin", "https://example.invalid/upstream.git")
    (path / "mod.py").write_text("X = 99\n")
    repo.git.stash()
    return path, shas


def test_parse_source_kinds(tmp_path: Path) -> None:
    assert parse_source("pypi:PathSpec==0.12.1").kind is SourceKind.PYPI
    assert parse_source("pypi:PathSpec==0.12.1").name == "pathspec"
    assert parse_source("https://example.invalid/org/My_Repo.git").name == "my_repo"
    assert parse_source("git@example.invalid:org/repo.git").kind is SourceKind.GIT
    local = parse_source(str(tmp_path))
    assert local.kind is SourceKind.LOCAL and local.source == str(tmp_path.resolve())


@pytest.mark.parametrize("bad", ["pypi:pathspec", "pypi:pathspec>=1", "/no/such/dir", "nonsense"])
def test_bad_source_names_the_accepted_forms(bad: str) -> None:
    with pytest.raises(IntakeError) as info:
        parse_source(bad)
    assert bad in str(info.value)


def test_git_log_all_shows_nothing_after_the_base_commit(upstream, tmp_path: Path) -> None:
    """A solver must not find the later commits (the fix) via branches, tags, remotes, reflog
    or stash in the task's working copy."""
    path, shas = upstream
    snap = take(parse_source(str(path)), tmp_path / "snaps", revision=shas[0])
    assert snap.commit == shas[0]
    assert reachable_commits(Path(snap.path)) == {shas[0]}
    repo = git.Repo(snap.path)
    assert repo.tags == [] and repo.remotes == []
    assert [h.name for h in repo.heads] == ["main"]
    assert repo.git.for_each_ref().splitlines() == [f"{shas[0]} commit\trefs/heads/main"]
    # The later commits' objects are gone too, not merely unreferenced.
    for later in shas[1:]:
        with pytest.raises((ValueError, git.BadName)):
            repo.commit(later)
    assert (Path(snap.path) / "mod.py").read_text() == "X = 0\n"


def test_history_before_the_base_commit_is_kept(upstream, tmp_path: Path) -> None:
    path, shas = upstream
    snap = take(parse_source(str(path)), tmp_path / "snaps", revision=shas[1])
    assert reachable_commits(Path(snap.path)) == {shas[0], shas[1]}


def test_plain_directory_snapshot_is_deterministic(tmp_path: Path) -> None:
    """The same files give the same commit (fixed author and date): reruns reuse ids."""
    src = tmp_path / "proj"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "__init__.py").write_text("A = 1\n")
    (src / "__pycache__").mkdir()
    (src / "__pycache__" / "junk.pyc").write_bytes(b"\0")
    first = take(parse_source(str(src)), tmp_path / "a")
    second = take(parse_source(str(src)), tmp_path / "b")
    assert first.commit == second.commit
    assert first.snapshot_id == second.snapshot_id
    assert not (Path(first.path) / "__pycache__").exists()
    again = take(parse_source(str(src)), tmp_path / "a")
    assert again == first


def test_a_snapshot_cleaned_from_the_cache_is_taken_again_from_its_source(tmp_path: Path) -> None:
    """The stored working copy is gone: the same source gives the same commit back, and a source
    that changed since is named, never used in its place."""
    src = tmp_path / "proj"
    src.mkdir()
    (src / "mod.py").write_text("A = 1\n")
    stored = take(parse_source(str(src)), tmp_path / "cache")
    assert ensure_snapshot(stored, tmp_path / "again") == stored  # still there: used as is
    shutil.rmtree(stored.path)
    back = ensure_snapshot(stored, tmp_path / "again")
    assert back.commit == stored.commit and Path(back.path).is_relative_to(tmp_path / "again")
    assert (Path(back.path) / "mod.py").read_text() == "A = 1\n"
    shutil.rmtree(back.path)
    (src / "mod.py").write_text("A = 2\n")
    with pytest.raises(IntakeError, match="now gives commit .* the source changed"):
        ensure_snapshot(stored, tmp_path / "again")


def test_unknown_revision_is_a_clear_error(upstream, tmp_path: Path) -> None:
    path, _ = upstream
    with pytest.raises(IntakeError, match="no commit named"):
        take(parse_source(str(path)), tmp_path / "snaps", revision="deadbeef" * 5)


def test_a_folder_of_bundles_and_a_list_file_expand_to_their_sources(tmp_path) -> None:
    from synth.intake import expand_sources

    bundles = tmp_path / "realworld"
    bundles.mkdir()
    for name in ("b.bundle", "a.bundle", "notes.md"):
        (bundles / name).write_text("")
    listing = tmp_path / "sources.txt"
    listing.write_text(f"# corpus\npypi:six==1.16.0\n\n{bundles / 'a.bundle'}  # again\n")
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "x.bundle").write_text("")  # a repository that happens to hold a bundle stays one
    out = expand_sources([str(bundles), f"@{listing}", str(repo)])
    assert out == [str(bundles / "a.bundle"), str(bundles / "b.bundle"), "pypi:six==1.16.0",
                   str(repo)]


def test_an_unreadable_list_of_sources_is_named() -> None:
    from synth.intake import IntakeError, expand_sources

    with pytest.raises(IntakeError, match="list of sources cannot be read"):
        expand_sources(["@/no/such/list.txt"])

"""A git bundle is a source, and the version its tags gave the base commit outlives the scrub.

setuptools_scm / hatch-vcs projects build their version from git tags; the snapshot has none
(they could name later releases), so intake works the version out first and keeps it in .git.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import git
import pytest

from synth.intake import (
    IntakeError,
    describe_version,
    next_version,
    parse_source,
    snapshot_version,
    tag_version,
    take,
)
from synth.records import SourceKind

# shared/ lies beside the repository, in a session's checkout and in CI's clone alike;
# SYNTH_REALWORLD names another folder of bundles (as tests/integration/test_realworld.py reads).
REALWORLD = Path(os.environ.get("SYNTH_REALWORLD")
                 or Path(__file__).resolve().parents[3] / "shared" / "realworld")
INICONFIG = REALWORLD / "iniconfig.bundle"
INICONFIG_MAIN = "71901257f6cbf660e77b1077e00f11a0f440be1e"
needs_iniconfig = pytest.mark.skipif(not INICONFIG.is_file(), reason=f"{INICONFIG} is absent")


def _repo(path: Path) -> git.Repo:
    path.mkdir(parents=True)
    repo = git.Repo.init(path, initial_branch="main")
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "t").set_value("user", "email", "t@example.invalid")
    return repo


def _commit(repo: git.Repo, n: int) -> str:
    (Path(repo.working_dir) / "mod.py").write_text(f"X = {n}\n")
    repo.index.add(["mod.py"])
    return repo.index.commit(f"commit {n}").hexsha


def _bundle(repo: git.Repo, dest: Path, *refs: str) -> Path:
    repo.git.bundle("create", str(dest), *refs)
    return dest


@needs_iniconfig
def test_a_bundle_is_a_git_source_named_after_its_file() -> None:
    ref = parse_source(str(INICONFIG))
    assert ref.kind is SourceKind.GIT
    assert ref.name == "iniconfig"
    assert ref.source == str(INICONFIG.resolve())


def test_a_missing_bundle_says_so_and_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(IntakeError, match="no such git bundle file.*git bundle create"):
        parse_source(str(tmp_path / "gone.bundle"))


def test_a_file_that_is_no_bundle_is_refused_up_front(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bundle"
    junk.write_text("not a bundle\n")
    with pytest.raises(IntakeError, match="not a git bundle git can read.*git bundle create"):
        parse_source(str(junk))


@needs_iniconfig
def test_a_truncated_bundle_fails_at_clone_with_a_hint(tmp_path: Path) -> None:
    """Its header (the list of refs) reads fine; the pack after it does not."""
    cut = tmp_path / "cut.bundle"
    cut.write_bytes(INICONFIG.read_bytes()[:3000])
    ref = parse_source(str(cut))
    with pytest.raises(IntakeError, match="truncated or damaged"):
        take(ref, tmp_path / "snaps")


@needs_iniconfig
def test_take_of_a_bundle_checks_out_main_and_keeps_its_version(tmp_path: Path) -> None:
    snap = take(parse_source(str(INICONFIG)), tmp_path / "snaps")
    assert snap.commit == INICONFIG_MAIN
    repo = git.Repo(snap.path)
    assert repo.tags == [] and repo.remotes == []
    assert not repo.is_dirty(untracked_files=True)
    # main is three commits past the tag v2.1.0: `git describe --tags` says v2.1.0-3-g7190125.
    assert snapshot_version(snap.path) == "2.1.1.dev3"


@needs_iniconfig
def test_describe_version_agrees_with_git_describe_on_every_tag(tmp_path: Path) -> None:
    clone = git.Repo.clone_from(str(INICONFIG), tmp_path / "clone", branch="main")
    assert len(clone.tags) == 7
    for tag in clone.tags:
        commit = tag.commit.hexsha
        assert clone.git.describe("--tags", "--exact-match", commit) == tag.name
        assert describe_version(clone, commit) == tag.name.removeprefix("v")
    described = clone.git.describe("--tags", "--long", INICONFIG_MAIN)
    tag, distance, _ = described.rsplit("-", 2)
    assert (tag, distance) == ("v2.1.0", "3")
    assert describe_version(tmp_path / "clone", INICONFIG_MAIN) == "2.1.1.dev3"


def test_version_follows_setuptools_scm_guess_next_dev(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "r")
    first = _commit(repo, 0)
    assert describe_version(repo, first) is None  # no tag at all
    repo.create_tag("v1.2.3", ref=first)
    assert describe_version(repo, first) == "1.2.3"  # exact: the tag itself, without the v
    _commit(repo, 1)
    third = _commit(repo, 2)
    assert describe_version(repo, third) == "1.2.4.dev2"


def test_a_nearer_tag_that_names_no_version_is_looked_past(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "r")
    first = _commit(repo, 0)
    repo.create_tag("2.0", ref=first)
    second = _commit(repo, 1)
    repo.create_tag("build42", ref=second)  # matches `*[0-9]*` but is no version
    assert describe_version(repo, second) == "2.1.dev1"


def test_a_later_tag_does_not_leak_into_an_older_commits_version(tmp_path: Path) -> None:
    """The version must come from tags reachable from the base commit, never from the fix's
    release."""
    repo = _repo(tmp_path / "r")
    first = _commit(repo, 0)
    repo.create_tag("v0.9", ref=first)
    base = _commit(repo, 1)
    repo.create_tag("v1.0", ref=_commit(repo, 2))
    snap = take(parse_source(str(tmp_path / "r")), tmp_path / "snaps", revision=base)
    assert git.Repo(snap.path).tags == []
    assert snapshot_version(snap.path) == "0.10.dev1"


def test_the_version_survives_the_scrub_and_a_reused_snapshot(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "r")
    head = _commit(repo, 0)
    repo.create_tag("3.1", ref=head)
    snap = take(parse_source(str(tmp_path / "r")), tmp_path / "snaps")
    version_file = Path(snap.path) / ".git" / "synth-version"
    version_file.unlink()  # a snapshot taken before versions were recorded
    again = take(parse_source(str(tmp_path / "r")), tmp_path / "snaps")
    assert again == snap
    assert snapshot_version(again.path) == "3.1"
    git.Repo(snap.path).git.clean("-ffdxq")
    assert snapshot_version(snap.path) == "3.1"


def test_an_untagged_source_has_no_version(tmp_path: Path) -> None:
    src = tmp_path / "plain"
    src.mkdir()
    (src / "mod.py").write_text("X = 1\n")
    snap = take(parse_source(str(src)), tmp_path / "snaps")
    assert snapshot_version(snap.path) is None
    assert snapshot_version(tmp_path / "nowhere") is None


def test_a_bundle_without_main_gives_its_only_branch(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "r")
    first = _commit(repo, 0)
    repo.git.branch("-m", "trunk")
    bundle = _bundle(repo, tmp_path / "trunk.bundle", "trunk")
    snap = take(parse_source(str(bundle)), tmp_path / "snaps")
    assert snap.commit == first and snap.repo.name == "trunk"


def test_a_bundle_of_head_alone_gives_head(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "r")
    _commit(repo, 0)
    second = _commit(repo, 1)
    repo.git.checkout("--detach", second)
    bundle = _bundle(repo, tmp_path / "head.bundle", "HEAD")
    assert take(parse_source(str(bundle)), tmp_path / "snaps").commit == second


def test_a_bundle_of_several_branches_without_main_is_ambiguous(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "r")
    _commit(repo, 0)
    repo.git.branch("-m", "one")
    repo.git.branch("two")
    bundle = _bundle(repo, tmp_path / "two.bundle", "one", "two")
    with pytest.raises(IntakeError, match="one, two.*rename the branch you want to main"):
        parse_source(str(bundle))


@pytest.mark.parametrize(("tag", "version"), [
    ("v1.0.0", "1.0.0"), ("1.0", "1.0"), ("release-2.3", "2.3"), ("V4", "4"),
    ("1.0rc1", "1.0rc1"), ("1.0+local", "1.0"), ("build42", None), ("latest", None),
])
def test_tag_version_reads_tags_as_setuptools_scm_does(tag: str, version: str | None) -> None:
    assert tag_version(tag) == version


@pytest.mark.parametrize(("version", "following"), [
    ("25.4.0", "25.4.1"), ("1.0rc1", "1.0rc2"), ("2.0.dev0", "2.0"), ("1.0.post1", "1.0.post2"),
])
def test_next_version_bumps_the_last_number(version: str, following: str) -> None:
    assert next_version(version) == following


def test_describe_version_matches_git_describe_on_a_tiny_repo(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "r")
    repo.create_tag("v0.3.0", ref=_commit(repo, 0))
    for n in range(1, 6):
        head = _commit(repo, n)
    described = subprocess.run(["git", "describe", "--tags", "--long"], cwd=tmp_path / "r",
                               capture_output=True, text=True, check=True).stdout
    assert described.startswith("v0.3.0-5-g")
    assert describe_version(tmp_path / "r", head) == "0.3.1.dev5"

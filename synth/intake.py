"""Repository intake: a SOURCE in, a pinned and scrubbed working copy (a Snapshot) out.

SOURCE is a git URL, a local path, or ``pypi:NAME==VERSION`` (the sdist, unpacked and committed
into a fresh repository). The working copy keeps history up to the base commit only: no later
commits, no tags, no remotes, no reflog, no stash — nothing from which a solver could read the fix.
"""

from __future__ import annotations

import re
import shutil
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import git

from synth import proc
from synth.records import RepoRef, Snapshot, SourceKind

_PYPI = re.compile(r"^pypi:(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9.+!_-]+)$")
_URL = re.compile(r"^(https?://|ssh://|git://|file://|git@)")
_IGNORED = shutil.ignore_patterns(
    ".git", ".venv", "venv", "__pycache__", "*.pyc", ".pytest_cache", "*.egg-info", ".tox"
)
# A fixed identity and date make a commit of the same files the same commit on every machine,
# so `synth run pypi:x==1` twice yields one snapshot id, one environment, no duplicate rows.
_FIXED_DATE = "2000-01-01T00:00:00+0000"
_FIXED_ENV = {
    "GIT_AUTHOR_NAME": "synth",
    "GIT_AUTHOR_EMAIL": "synth@localhost",
    "GIT_COMMITTER_NAME": "synth",
    "GIT_COMMITTER_EMAIL": "synth@localhost",
    "GIT_AUTHOR_DATE": _FIXED_DATE,
    "GIT_COMMITTER_DATE": _FIXED_DATE,
}


class IntakeError(ValueError):
    """The SOURCE could not be turned into a snapshot; the message says why and what to do."""


def parse_source(source: str) -> RepoRef:
    """Classify SOURCE; raise IntakeError naming the accepted forms when it is none of them."""
    text = source.strip()
    if match := _PYPI.match(text):
        name = match["name"].lower()
        return RepoRef(source=f"pypi:{name}=={match['version']}", kind=SourceKind.PYPI, name=name)
    if text.startswith("pypi:"):
        raise IntakeError(
            f"{source!r}: a PyPI source must pin one version, like pypi:pathspec==0.12.1"
        )
    if _URL.match(text) or (text.endswith(".git") and not Path(text).exists()):
        name = text.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
        return RepoRef(source=text, kind=SourceKind.GIT, name=_slug(name))
    path = Path(text).expanduser()
    if path.is_dir():
        resolved = path.resolve()
        return RepoRef(source=str(resolved), kind=SourceKind.LOCAL, name=_slug(resolved.name))
    raise IntakeError(
        f"{source!r} is not a directory, a git URL (https://, ssh://, git@, file://) "
        "or pypi:NAME==VERSION; check the spelling or the path"
    )


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip(".-_")
    return slug or "repo"


def take(ref: RepoRef, root: Path, *, revision: str | None = None) -> Snapshot:
    """Materialise ``ref`` under ``root`` as a scrubbed working copy; reuse it when present."""
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".intake-") as tmp:
        staging = Path(tmp) / "repo"
        if ref.kind is SourceKind.PYPI:
            _unpack_sdist(ref, Path(tmp), staging)
            _commit_tree(staging, message=f"{ref.source} sdist")
        elif ref.kind is SourceKind.GIT:
            _clone(ref.source, staging)
        elif (Path(ref.source) / ".git").exists():
            _clone(ref.source, staging)
        else:
            shutil.copytree(ref.source, staging, ignore=_IGNORED, symlinks=True)
            _commit_tree(staging, message=f"snapshot of {ref.name}")
        repo = git.Repo(staging)
        try:
            commit = repo.commit(revision or "HEAD").hexsha
        except (git.BadName, ValueError) as exc:
            raise IntakeError(f"{ref.source}: no commit named {revision!r}") from exc
        final = root / f"{ref.name}-{commit[:12]}"
        if not _is_clean_snapshot(final, commit):
            scrub(staging, commit)
            if final.exists():
                shutil.rmtree(final)
            staging.rename(final)
    return Snapshot(repo=ref, commit=commit, path=str(final))


def _clone(source: str, dest: Path) -> None:
    try:
        git.Repo.clone_from(source, dest, no_hardlinks=True)
    except git.GitCommandError as exc:
        raise IntakeError(f"could not clone {source}: {exc.stderr.strip()}") from exc


def _unpack_sdist(ref: RepoRef, tmp: Path, dest: Path) -> None:
    spec = ref.source.removeprefix("pypi:")
    download = tmp / "download"
    done = proc.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--disable-pip-version-check",
            "-q",
            "-d",
            download,
            spec,
        ],
        check=False,
        timeout=600,
    )
    archives = sorted(download.glob("*")) if download.exists() else []
    if done.returncode != 0 or not archives:
        raise IntakeError(
            f"could not download the sdist of {spec} from the package index: "
            f"{(done.stderr or done.stdout).strip()[-500:]}"
        )
    archive = archives[0]
    unpack = tmp / "unpack"
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(unpack)
    else:
        with tarfile.open(archive) as tf:
            tf.extractall(unpack, filter="data")
    tops = [p for p in unpack.iterdir() if p.is_dir()]
    if len(tops) != 1:
        raise IntakeError(f"{archive.name}: expected one top-level folder in the sdist")
    shutil.copytree(tops[0], dest, ignore=_IGNORED, symlinks=True)


def _commit_tree(path: Path, *, message: str) -> None:
    repo = git.Repo.init(path, initial_branch="main")
    with repo.git.custom_environment(**_FIXED_ENV):
        repo.git.add("--all", "--force")
        repo.git.commit("--quiet", "--no-verify", "--no-gpg-sign", "-m", message)


def scrub(path: Path, commit: str) -> None:
    """Leave only ``commit`` and its ancestors reachable, with no way back to anything later."""
    repo = git.Repo(path)
    g = repo.git
    g.checkout("--quiet", "--force", "-B", "main", commit)
    for head in repo.heads:
        if head.name != "main":
            g.branch("-D", head.name)
    for tag in repo.tags:
        g.tag("-d", tag.name)
    for remote in repo.remotes:
        g.remote("remove", remote.name)
    # Whatever refs remain (stash, notes, replace, pull-request refs) could point past the base.
    for line in g.for_each_ref("--format=%(refname)").splitlines():
        if line and line != "refs/heads/main":
            g.update_ref("-d", line)
    g.reflog("expire", "--expire=now", "--all")
    g.gc("--prune=now", "--quiet")
    for leftover in ("ORIG_HEAD", "FETCH_HEAD", "MERGE_HEAD", "packed-refs.lock"):
        (path / ".git" / leftover).unlink(missing_ok=True)
    shutil.rmtree(path / ".git" / "logs", ignore_errors=True)
    g.clean("-ffdxq")


def _is_clean_snapshot(path: Path, commit: str) -> bool:
    if not (path / ".git").exists():
        return False
    try:
        repo = git.Repo(path)
        return repo.head.commit.hexsha == commit and not repo.is_dirty(untracked_files=True)
    except (git.InvalidGitRepositoryError, ValueError):
        return False


def reachable_commits(path: Path) -> set[str]:
    """Every commit any ref (or reflog) of the working copy can reach: `git log --all`."""
    out = git.Repo(path).git.log("--all", "--reflog", "--format=%H")
    return set(out.split())


def source_files(snapshot: Snapshot) -> dict[str, str]:
    """Tracked ``.py`` files of the snapshot, repo-relative path → text (undecodable skipped)."""
    repo = git.Repo(snapshot.path)
    files: dict[str, str] = {}
    for rel in repo.git.ls_files("*.py").splitlines():
        try:
            files[rel] = (Path(snapshot.path) / rel).read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError):
            continue
    return files

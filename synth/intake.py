"""Repository intake: a SOURCE in, a pinned and scrubbed working copy (a Snapshot) out.

SOURCE is a git URL, a local path, a git bundle (``NAME.bundle``: its ``main`` branch), or
``pypi:NAME==VERSION`` (the sdist, unpacked and committed into a fresh repository). The working
copy keeps history up to the base commit only: no later commits, no tags, no remotes, no reflog,
no stash — nothing from which a solver could read the fix.

The version git tags gave the base commit (what setuptools_scm / hatch-vcs would build) is worked
out before the tags go, and kept in the snapshot's ``.git`` folder: ``snapshot_version`` reads it.
"""

from __future__ import annotations

import re
import shutil
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

import git
from packaging.version import InvalidVersion, Version

from synth import proc
from synth.records import RepoRef, Snapshot, SourceKind

_PYPI = re.compile(r"^pypi:(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9.+!_-]+)$")
_URL = re.compile(r"^(https?://|ssh://|git://|file://|git@)")
_BUNDLE_HINT = "make one with `git bundle create NAME.bundle --all` in a clone of the repository"
# setuptools_scm's default tag_regex: an optional "name-" prefix, an optional "v", no local part.
_TAG_VERSION = re.compile(r"^(?:[\w-]+-)?(?P<version>[vV]?\d+(?:\.\d+){0,2}[^+]*)(?:\+.*)?$")
# Inside .git, so neither the working tree, `git clean` nor a task's patch ever sees it.
VERSION_FILE = "synth-version"
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
    if text.endswith(".bundle") and not Path(text).expanduser().is_dir():
        return _bundle_ref(source, Path(text).expanduser())
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


def expand_sources(sources: Sequence[str]) -> list[str]:
    """The sources a command line names, lists expanded, duplicates dropped (order kept):

    * ``@FILE``: one source per line of FILE (blank lines and ``#`` comments skipped);
    * a folder that is no git repository and holds ``*.bundle`` files: each of them, sorted
      (``synth run ../shared/realworld/`` mines every bundle there).
    """
    out: list[str] = []
    for source in sources:
        text = source.strip()
        if text.startswith("@"):
            listing = Path(text[1:]).expanduser()
            try:
                lines = listing.read_text().splitlines()
            except OSError as exc:
                raise IntakeError(
                    f"{source!r}: the list of sources cannot be read ({exc})") from None
            items = [line.split("#", 1)[0].strip() for line in lines]
            out += expand_sources([item for item in items if item])
            continue
        folder = Path(text).expanduser()
        bundles = sorted(folder.glob("*.bundle")) if folder.is_dir() else []
        if bundles and not (folder / ".git").exists():
            out += [str(b) for b in bundles]
        else:
            out.append(text)
    return list(dict.fromkeys(out))


def _bundle_ref(source: str, path: Path) -> RepoRef:
    if not path.is_file():
        raise IntakeError(f"{source!r}: no such git bundle file; check the path, or {_BUNDLE_HINT}")
    bundle_branch(path)  # a file git cannot read as a bundle fails here, not in the middle of a run
    resolved = path.resolve()
    return RepoRef(source=str(resolved), kind=SourceKind.GIT, name=_slug(resolved.stem))


def is_bundle(source: str) -> bool:
    """Whether a GIT source names a bundle file rather than a repository or URL."""
    return source.endswith(".bundle") and Path(source).is_file()


def bundle_heads(path: Path) -> dict[str, str]:
    """Ref name → commit of every ref in the bundle (``git bundle list-heads``)."""
    done = proc.run(["git", "bundle", "list-heads", path], check=False, timeout=60)
    if done.returncode != 0:
        why = (done.stderr or done.stdout).strip() or f"git exited with {done.returncode}"
        raise IntakeError(f"{path} is not a git bundle git can read ({why}); {_BUNDLE_HINT}")
    heads: dict[str, str] = {}
    for line in done.stdout.splitlines():
        sha, _, ref = line.strip().partition(" ")
        if ref:
            heads[ref] = sha
    return heads


def bundle_branch(path: Path) -> str | None:
    """The branch to check out of a bundle: ``main``, else its only branch; None: its HEAD."""
    heads = bundle_heads(path)
    branches = sorted(r.removeprefix("refs/heads/") for r in heads if r.startswith("refs/heads/"))
    if "main" in branches:
        return "main"
    if len(branches) == 1:
        return branches[0]
    if "HEAD" in heads:
        return None
    held = ", ".join(branches) or "no branch"
    raise IntakeError(
        f"{path} holds {held} and neither a main branch nor a HEAD, so there is no telling which "
        "commit to take; rename the branch you want to main and create the bundle again"
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
        elif ref.kind is SourceKind.GIT or (Path(ref.source) / ".git").exists():
            clone(ref.source, staging)
        else:
            shutil.copytree(ref.source, staging, ignore=_IGNORED, symlinks=True)
            _commit_tree(staging, message=f"snapshot of {ref.name}")
        repo = git.Repo(staging)
        try:
            commit = repo.commit(revision or "HEAD").hexsha
        except (git.BadName, ValueError) as exc:
            raise IntakeError(f"{ref.source}: no commit named {revision!r}") from exc
        version = describe_version(repo, commit)  # now: scrub deletes the tags it reads
        final = root / f"{ref.name}-{commit[:12]}"
        if not _is_clean_snapshot(final, commit):
            scrub(staging, commit)
            if final.exists():
                shutil.rmtree(final)
            staging.rename(final)
        _record_version(final, version)  # after scrub; also fills in a snapshot taken before
    return Snapshot(repo=ref, commit=commit, path=str(final))


def clone(source: str, dest: Path) -> None:
    """``git clone`` SOURCE into ``dest``; a bundle's ``main`` (see ``bundle_branch``) is checked
    out, since a bundle made from a list of branches has no HEAD to follow."""
    bundle = is_bundle(source)
    branch = bundle_branch(Path(source)) if bundle else None
    options = {"branch": branch} if branch else {}
    try:
        git.Repo.clone_from(source, dest, no_hardlinks=True, **options)
    except git.GitCommandError as exc:
        hint = f"; the bundle may be truncated or damaged: {_BUNDLE_HINT}" if bundle else ""
        raise IntakeError(f"could not clone {source}: {exc.stderr.strip()}{hint}") from exc


def describe_version(repo: Path | str | git.Repo, commit: str) -> str | None:
    """The version setuptools_scm (and hatch-vcs) would give ``commit`` from the repository's
    tags, with its default "guess-next-dev" scheme and no local part: the nearest tag reachable
    from it that reads as a version (``v2.1.0`` → ``2.1.0``), bumped and marked with the
    distance when the commit is past it (three commits after ``2.1.0`` → ``2.1.1.dev3``).
    None when no such tag is reachable."""
    g = (repo if isinstance(repo, git.Repo) else git.Repo(repo)).git
    unreadable: list[str] = []
    while True:  # every round excludes one more tag, so it ends when describe finds none left
        try:
            described = g.describe(
                "--tags", "--long", "--match=*[0-9]*", *(f"--exclude={t}" for t in unreadable),
                commit,
            )
        except git.GitCommandError:
            return None
        tag, distance, _ = described.strip().rsplit("-", 2)
        version = tag_version(tag)
        if version is None:
            unreadable.append(tag)  # setuptools_scm skips it too: look past it
        elif distance == "0":
            return version
        else:
            return f"{next_version(version)}.dev{distance}"


def tag_version(tag: str) -> str | None:
    """The PEP 440 version a tag names, normalised (``v1.0`` → ``1.0``); None if it names none."""
    match = _TAG_VERSION.match(tag)
    if match is None:
        return None
    try:
        return str(Version(match["version"]))
    except InvalidVersion:
        return None


def next_version(version: str) -> str:
    """setuptools_scm's guess of the release after ``version``: a ``.devN`` release becomes the
    release itself, anything else gets its last number bumped (``1.0rc1`` → ``1.0rc2``)."""
    release, dev, _ = version.partition(".dev")
    if dev:
        return release
    match = re.fullmatch(r"(.*?)(\d+)", version)
    return f"{match[1]}{int(match[2]) + 1}" if match else version


def snapshot_version(path: Path | str) -> str | None:
    """The version git tags gave a snapshot's commit (see ``describe_version``); None when its
    source had no version tag, or the snapshot was taken before versions were recorded."""
    try:
        text = (Path(path) / ".git" / VERSION_FILE).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return text or None


def _record_version(path: Path, version: str | None) -> None:
    target = path / ".git" / VERSION_FILE
    if version is None:
        target.unlink(missing_ok=True)
        return
    partial = target.with_name(VERSION_FILE + ".partial")
    partial.write_text(version + "\n", encoding="utf-8")
    partial.replace(target)  # a reader sees the old version or the new one, never half of one


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


def ensure_snapshot(snapshot: Snapshot, root: Path) -> Snapshot:
    """The stored snapshot, or the same commit taken again from its source under ``root``.

    Months later the working copy may have been cleaned from the cache; its source (a PyPI sdist,
    a git URL, a local folder) can give it back, and the commit id says whether it is the same.
    """
    if _has_commit(Path(snapshot.path), snapshot.commit):
        return snapshot
    try:
        revision = snapshot.commit if snapshot.repo.kind is SourceKind.GIT else None
        again = take(snapshot.repo, root, revision=revision)
    except IntakeError as exc:
        raise IntakeError(
            f"the snapshot {snapshot.path} is gone and its source could not be taken again: {exc}"
        ) from exc
    if again.commit != snapshot.commit:
        raise IntakeError(
            f"the snapshot {snapshot.path} is gone and {snapshot.repo.source} now gives commit "
            f"{again.commit[:12]}, not the stored {snapshot.commit[:12]}: the source changed"
        )
    return again


def _has_commit(path: Path, commit: str) -> bool:
    if not (path / ".git").exists():
        return False
    done = proc.run(
        ["git", "-C", path, "cat-file", "-e", f"{commit}^{{commit}}"], check=False, timeout=30
    )
    return done.returncode == 0


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

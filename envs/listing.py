"""What an environment holds, as data: a digest of every file and link in it, and how two such
listings differ. The reproducibility audit compares a stored environment with its rebuild this
way; each backend lists its own kind (an image's folders as ``docker cp`` streams them, a local
virtualenv's folder). Pure but for reading the files.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

Listing = dict[str, str]  # path → mode and content digest (or link target)

# What is listed of an image: the venv, the harness, the repository.
IMAGE_PATHS = ("/opt/venv", "/opt/synth", "/testbed")
# Bytes that differ between two builds of the same thing: compiled bytecode (it embeds source
# mtimes) and git's index (it caches stat data of the copy).
_SKIPPED_PARTS = ("__pycache__",)
_SKIPPED_SUFFIXES = (".pyc", ".git/index")


def listing_changes(stored: Listing, rebuilt: Listing) -> list[str]:
    """Paths whose content differs, or that exist on one side only: pure."""
    changed = []
    for path in sorted(stored.keys() | rebuilt.keys()):
        if path not in rebuilt:
            changed.append(f"{path} (only in the stored environment)")
        elif path not in stored:
            changed.append(f"{path} (only in the rebuild)")
        elif stored[path] != rebuilt[path]:
            changed.append(path)
    return changed




def _skipped(path: str) -> bool:
    return any(part in _SKIPPED_PARTS for part in path.split("/")) or path.endswith(
        _SKIPPED_SUFFIXES
    )


def tar_listing(data: bytes) -> Listing:
    """Digest of every file and link in a tar stream (as `docker cp` sends one)."""
    listing: Listing = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar:
            if _skipped(member.name):
                continue
            if member.issym() or member.islnk():
                listing[member.name] = f"link:{member.linkname}"
            elif member.isfile():
                handle = tar.extractfile(member)
                digest = hashlib.sha256(handle.read() if handle else b"").hexdigest()
                listing[member.name] = f"{member.mode & 0o777:o}:{digest}"
    return listing


def dir_listing(root: Path) -> Listing:
    """Digest of every file and link under ``root`` (a local virtualenv).

    A venv embeds its own path in scripts and activate files, and its folder name in the prompt;
    both are written as ``$ROOT`` / ``$NAME`` before hashing, so a rebuild in another folder can
    match. pip's RECORD files hash those scripts, so they are left out: the files they list are
    compared one by one anyway.
    """
    listing: Listing = {}
    marks = ((str(root).encode(), b"$ROOT"), (root.name.encode(), b"$NAME"))
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if _skipped(rel) or rel.endswith(".dist-info/RECORD"):
            continue
        if path.is_symlink():
            listing[rel] = f"link:{path.readlink()}".replace(str(root), "$ROOT")
        elif path.is_file():
            data = path.read_bytes()
            for mark, placeholder in marks:
                data = data.replace(mark, placeholder)
            listing[rel] = f"{path.stat().st_mode & 0o777:o}:{hashlib.sha256(data).hexdigest()}"
    return listing

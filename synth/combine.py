"""Combined bugs: two to four validated bugs of one repo@commit, merged into one candidate.

Real defects often come in clusters, and a task whose failing tests have more than one cause is
harder than any of its parts. Parents are drawn from one file, or from one module (a package
directory) across files; their patches are merged edit by edit on the original text, never
overlapping or touching, and the result must still compile. The merged candidate is validated
again like any other (its FAIL_TO_PASS is its own) and records its parents.

Pure functions of text and records.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath

from synth.mutate import compiles, make_patch, split_lines
from synth.records import Candidate, Strategy

OPERATOR = "combine"
SIZES = (2, 3, 4)
_ATTEMPTS_PER_CANDIDATE = 20


class Scope(StrEnum):
    FILE = "file"  # every parent changes the same file
    MODULE = "module"  # parents change files of one package directory


@dataclass(frozen=True)
class Edit:
    """One run of removed and added lines, at a position of the original file (0-based)."""

    start: int
    removed: tuple[str, ...]  # lines with their line endings
    added: tuple[str, ...]

    @property
    def end(self) -> int:
        return self.start + len(self.removed)


class PatchError(ValueError):
    """A patch that is not a plain text diff of existing files, or does not fit the file."""


def parse_patch(patch: str) -> dict[str, list[Edit]]:
    """File → edits of a git-style unified diff (as ``make_patch`` writes them)."""
    edits: dict[str, list[Edit]] = {}
    lines = patch.split("\n")
    path: str | None = None
    old = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("--- "):
            if line.strip() == "--- /dev/null":
                raise PatchError("a patch that creates a file cannot be combined")
        elif line.startswith("+++ "):
            if line.strip() == "+++ /dev/null":
                raise PatchError("a patch that deletes a file cannot be combined")
            path = line[4:].strip().removeprefix("b/")
            edits.setdefault(path, [])
        elif line.startswith("@@"):
            start, _, count = line.split()[1][1:].partition(",")  # "-12,7" -> 12, 7
            old = int(start) - 1 if count != "0" else int(start)  # ",0": insert after line 12
        elif line.startswith("Binary files"):
            raise PatchError("a binary patch cannot be combined")
        elif path is not None and line[:1] in ("-", "+"):
            start = old
            removed: list[str] = []
            added: list[str] = []
            while (
                i < len(lines)
                and lines[i][:1] in ("-", "+")
                and not lines[i].startswith(("--- ", "+++ "))
            ):
                text = lines[i][1:] + ("" if _no_newline(lines, i) else "\n")
                (removed if lines[i][0] == "-" else added).append(text)
                i += 1
                if i < len(lines) and lines[i].startswith("\\"):
                    i += 1
            edits[path].append(Edit(start, tuple(removed), tuple(added)))
            old = start + len(removed)
            continue
        elif path is not None and line.startswith(" "):
            old += 1
        i += 1
    return edits


def _no_newline(lines: list[str], i: int) -> bool:
    return i + 1 < len(lines) and lines[i + 1].startswith("\\ No newline")


def apply_edits(text: str, edits: Iterable[Edit]) -> str:
    """``text`` with ``edits`` applied; PatchError if one does not match or two overlap."""
    lines = split_lines(text)
    ordered = sorted(edits, key=lambda e: (e.start, e.end))
    for before, after in zip(ordered, ordered[1:], strict=False):
        if after.start <= before.end:  # overlapping or touching: their order would be a guess
            raise PatchError(f"edits at lines {before.start + 1} and {after.start + 1} collide")
    for edit in reversed(ordered):
        if tuple(lines[edit.start : edit.end]) != edit.removed:
            raise PatchError(f"the edit at line {edit.start + 1} does not match the file")
        lines[edit.start : edit.end] = edit.added
    return "".join(lines)


def merge_patches(files: Mapping[str, str], patches: Sequence[str]) -> str | None:
    """One patch with every edit of ``patches``, or None when they collide, do not fit the
    files, or the merged source does not compile."""
    per_file: dict[str, list[Edit]] = {}
    try:
        for patch in patches:
            for path, edits in parse_patch(patch).items():
                per_file.setdefault(path, []).extend(edits)
        merged = []
        for path in sorted(per_file):
            if path not in files:
                return None
            after = apply_edits(files[path], per_file[path])
            if path.endswith(".py") and not compiles(after, path):
                return None
            merged.append(make_patch(path, files[path], after))
    except PatchError:
        return None
    return "".join(merged)


def _groups(parents: Sequence[Candidate], scope: Scope) -> list[list[Candidate]]:
    keyed: dict[str, list[Candidate]] = {}
    for cand in parents:
        key = cand.target_file
        if scope is Scope.MODULE:
            key = str(PurePosixPath(cand.target_file).parent)
        keyed.setdefault(key, []).append(cand)
    return [group for _, group in sorted(keyed.items()) if len(group) >= 2]


def combine_candidates(
    snapshot_id: str,
    files: Mapping[str, str],
    validated: Sequence[Candidate],
    *,
    seed: int,
    max_combined: int,
    sizes: Sequence[int] = SIZES,
    scopes: Sequence[Scope] = (Scope.FILE, Scope.MODULE),
    known: Iterable[str] = (),
) -> list[Candidate]:
    """Up to ``max_combined`` merged candidates of ``validated`` bugs of one snapshot.

    Groups take turns (per scope, in a seeded order); each draws a seeded size and a seeded set
    of parents. A set of parents is tried once; a patch that repeats ``known`` ones (candidate
    patches already stored) or an earlier merge is skipped. A pure function of the arguments.
    """
    if any(c.snapshot_id != snapshot_id for c in validated):
        raise ValueError("combine_candidates takes the validated bugs of one snapshot only")
    if not all(2 <= k <= 4 for k in sizes):
        raise ValueError(f"sizes must lie in 2..4, got {list(sizes)}")
    rng = random.Random(seed)
    pool = sorted(validated, key=lambda c: c.candidate_id)
    groups = [g for scope in scopes for g in _groups(pool, scope)]
    rng.shuffle(groups)
    seen_sets: set[frozenset[str]] = set()
    seen_patches = set(known)
    out: list[Candidate] = []
    attempts = 0
    budget = _ATTEMPTS_PER_CANDIDATE * max(max_combined, 1)
    while groups and len(out) < max_combined and attempts < budget:
        for group in groups:
            if len(out) >= max_combined or attempts >= budget:
                break
            attempts += 1
            fitting = [k for k in sizes if k <= len(group)]
            if not fitting:
                continue
            parents = rng.sample(group, rng.choice(fitting))
            ids = frozenset(c.candidate_id for c in parents)
            if ids in seen_sets:
                continue
            seen_sets.add(ids)
            patch = merge_patches(files, [c.patch for c in parents])
            if patch is None or patch in seen_patches:
                continue
            seen_patches.add(patch)
            out.append(_combined(snapshot_id, seed, parents, patch))
    return out


def _combined(snapshot_id: str, seed: int, parents: Sequence[Candidate], patch: str) -> Candidate:
    ordered = sorted(parents, key=lambda c: (c.target_file, c.target_entity, c.candidate_id))
    entities = dict.fromkeys(c.target_entity for c in ordered)  # ordered, without repeats
    return Candidate(
        candidate_id=Candidate.make_id(snapshot_id, patch),
        snapshot_id=snapshot_id,
        strategy=Strategy.COMBINE,
        operator=OPERATOR,
        seed=seed,
        target_file=ordered[0].target_file,
        target_entity="+".join(entities),
        patch=patch,
        parents=tuple(sorted(c.candidate_id for c in parents)),
    )

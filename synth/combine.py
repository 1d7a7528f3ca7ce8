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
from synth.patches import BodyLine, Hunk, PatchError, numbered
from synth.patches import parse_patch as file_diffs
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


def parse_patch(patch: str) -> dict[str, list[Edit]]:
    """File → edits of a git-style unified diff (as ``make_patch`` writes them). PatchError for
    a patch that is not a plain text change of existing files: a merge rewrites files it has."""
    edits: dict[str, list[Edit]] = {}
    for f in file_diffs(patch) if patch.strip() else ():
        if f.old_path == "/dev/null":
            raise PatchError("a patch that creates a file cannot be combined")
        if f.new_path == "/dev/null":
            raise PatchError("a patch that deletes a file cannot be combined")
        edits.setdefault(f.new_path, []).extend(e for h in f.hunks for e in _edits(h))
    return edits


def _edits(h: Hunk) -> list[Edit]:
    """The runs of changed lines of ``h``, each placed where it starts in the original."""
    runs: list[list[BodyLine]] = [[]]
    for line in numbered(h):
        if line.tag == " ":
            runs.append([])
        else:
            runs[-1].append(line)
    return [
        Edit(
            run[0].old - 1,
            tuple(_with_end(x) for x in run if x.tag == "-"),
            tuple(_with_end(x) for x in run if x.tag == "+"),
        )
        for run in runs
        if run
    ]


def _with_end(line: BodyLine) -> str:
    return line.text + "\n" if line.newline else line.text


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
    ordered = sorted(parents, key=lambda c: (c.target_file, c.target_entities, c.candidate_id))
    entities = dict.fromkeys(name for c in ordered for name in c.target_entities)  # no repeats
    return Candidate(
        candidate_id=Candidate.make_id(snapshot_id, patch),
        snapshot_id=snapshot_id,
        strategy=Strategy.COMBINE,
        operator=OPERATOR,
        seed=seed,
        target_file=ordered[0].target_file,
        target_entities=tuple(entities),
        patch=patch,
        parents=tuple(sorted(c.candidate_id for c in parents)),
    )

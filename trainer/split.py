"""Which tasks train and which are held out for `synth train eval`, so that nothing leaks.

Hashing the instance id put sibling bugs (other bugs of the same function or file) on both
sides, and a training target, a reversed diff, shows the clean lines a held-out task asks for.
So the unit of the split is the file: each (repository, path) a patch touches falls in the
held-out slice by a hash of its own, and a task is held out when all its files are, trained on
when none is. A task touching files of both sides is on neither (``left_out``). Then identical
fixes are folded across the split: a patch held out never also trains, whatever repository (a
fork, a vendored copy) it comes from, and it is scored once.

Membership depends only on a task's own files and on the patches held out, so a task keeps its
side as the corpus grows (it may only leave training, as a copy of a held-out fix).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from synth.patches import FileDiff, PatchError, parse_patch


class SplitTask(Protocol):
    """What the split reads of a task (``synth.records.Task`` has it)."""

    @property
    def instance_id(self) -> str: ...
    @property
    def repo(self) -> str: ...
    @property
    def patch(self) -> str: ...


@dataclass(frozen=True)
class HeldOutSplit:
    train: tuple[str, ...]  # instance ids, sorted
    held_out: tuple[str, ...]
    left_out: dict[str, str] = field(default_factory=dict)  # instance id -> why on neither side


def file_held_out(repo: str, path: str, fraction: float) -> bool:
    digest = hashlib.sha256(f"held-out\0{repo.lower()}\0{path}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def touched_files(files: list[FileDiff]) -> set[str]:
    return {p for f in files for p in (f.old_path, f.new_path) if p != "/dev/null"}


def fix_key(files: list[FileDiff]) -> str:
    """Identical changes give one key: hunk bodies only, without paths or line numbers."""
    body = "\n".join("\n".join(h.lines) for f in files for h in f.hunks)
    return hashlib.sha256(body.encode()).hexdigest()


def split_tasks(tasks: Iterable[SplitTask], fraction: float) -> HeldOutSplit:
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"held-out fraction {fraction} must lie in [0, 1)")
    left_out: dict[str, str] = {}
    side: dict[str, bool] = {}  # instance id -> held out
    straddling: list[str] = []
    keys: dict[str, str] = {}
    for task in sorted(tasks, key=lambda t: t.instance_id):
        try:
            files = parse_patch(task.patch)
        except PatchError:
            left_out[task.instance_id] = "its patch does not parse"
            continue
        held = {file_held_out(task.repo, p, fraction) for p in touched_files(files)}
        keys[task.instance_id] = fix_key(files)
        if len(held) == 2:
            straddling.append(task.instance_id)
        else:
            side[task.instance_id] = held == {True}
    if not any(not held for held in side.values()):
        # No file in the training slice (a corpus of one or two files, say): training on
        # nothing helps no one, so everything trains and evaluation reports no held-out task.
        return HeldOutSplit(train=tuple(sorted([*side, *straddling])), held_out=(),
                            left_out=left_out)  # fmt: skip
    for i in straddling:
        left_out[i] = "it touches files on both sides of the split"
    first_held: dict[str, str] = {}
    for i in sorted(side):
        if side[i]:
            first_held.setdefault(keys[i], i)
    for i in sorted(side):
        scored = first_held.get(keys[i])
        if scored is not None and scored != i:
            left_out[i] = f"its fix repeats held-out task {scored}'s"
            del side[i]
    return HeldOutSplit(
        train=tuple(i for i in sorted(side) if not side[i]),
        held_out=tuple(i for i in sorted(side) if side[i]),
        left_out=left_out,
    )

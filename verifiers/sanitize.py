"""What a candidate solution may change: the file diffs of a solution that reach the tests, the
test configuration, or the harness are dropped before it is scored. Pure functions of patch text.

A solution is scored on the task's original tests. Dropping a file diff from the patch leaves that
file exactly as the clean snapshot has it (the bug never touches tests, see
``verifiers.screening.touches_tests``), so "restore the tests, then run" is "drop those diffs,
then apply". What counts as out of bounds:

- tests and test helpers, and the files that configure pytest (``is_test_path``);
- code that runs before or around pytest: ``conftest.py``, ``pytest_*.py`` plugins,
  ``sitecustomize`` / ``usercustomize``, ``.pth`` files;
- a new entry of any kind at the repository root or the source root: both are on ``sys.path``
  ahead of the environment's packages (``python -m pytest`` puts the working directory first),
  so a new ``json.py``, ``pytest/`` or sourceless ``sitecustomize.pyc`` would run before the
  report plugin;
- what is not source: binary diffs, compiled modules (``.pyc``, ``.so``, ...), symlinks, other
  special files and file-mode changes;
- anything under ``.git``.

The kept patch is then read again by git itself (``verifiers.git_view``): a path that git would
touch and these rules forbid is evidence of a patch written to be read two ways.

The split into file diffs is ``synth.patches.split_blocks``, which follows ``git apply``'s own
reading of a patch (a file diff starts at ``diff --git`` or at a ``---``/``+++`` pair outside a
hunk; hunk bodies are consumed by the counts in their headers, lines end at "\\n" alone), so a
path cannot hide from this filter inside text git would read as a header.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from synth.patches import combine, read_patch, split_blocks
from synth.records import SolutionFlag
from synth.verifiers.screening import _TEST_CONFIG, is_test_path

__all__ = ["combine", "sanitize", "Sanitized", "split_blocks", "flag_for"]

_HOOK_NAMES = {"conftest.py", "sitecustomize.py", "usercustomize.py"}
_HOOK_STEMS = {"conftest", "sitecustomize", "usercustomize"}
# Files Python imports or loads that are not source text.
_COMPILED = {".pyc", ".pyo", ".so", ".pyd", ".dll", ".dylib", ".egg-link", ".zip", ".whl", ".egg"}
_PROBE = re.compile(r"synth_report|SYNTH_|/proc\b|_SETTINGS|sys\.modules|gc\.get_objects")


@dataclass(frozen=True)
class Sanitized:
    patch: str  # what remains of the solution, to be applied after the bug
    dropped: tuple[str, ...]  # paths of the file diffs that were dropped
    flags: tuple[SolutionFlag, ...]


def flag_for(path: str, *, creates: bool, test_paths: Sequence[str] = (),
             source_root: str = ".", top_level: Collection[str] = ()) -> SolutionFlag | None:
    """Why a solution may not touch ``path``; None when it may."""
    pure = PurePosixPath(path)
    parts = pure.parts
    if ".git" in parts:
        return SolutionFlag.GIT_METADATA
    if (pure.name in _HOOK_NAMES or pure.name.startswith("pytest_") or pure.suffix == ".pth"
            or pure.name.split(".", 1)[0] in _HOOK_STEMS):
        return SolutionFlag.TEST_HOOK
    if pure.suffix.lower() in _COMPILED or "__pycache__" in parts:
        return SolutionFlag.NOT_SOURCE
    if pure.name in _TEST_CONFIG:
        return SolutionFlag.TEST_CONFIG
    if is_test_path(path, test_paths):
        return SolutionFlag.EDITS_TESTS
    if creates and _new_top_level(parts, source_root, top_level):
        return SolutionFlag.SHADOWS_MODULE
    return None


def _new_top_level(parts: tuple[str, ...], source_root: str, top_level: Collection[str]) -> bool:
    roots = [()] + ([] if source_root in (".", "") else [PurePosixPath(source_root).parts])
    for root in roots:
        if len(parts) > len(root) and parts[: len(root)] == root:
            rest = parts[len(root):]
            if len(rest) == 1:
                return True  # a module (or any file Python might load) right on sys.path
            if len(rest) > 1 and top_level and rest[0] not in top_level:
                return True  # a new directory right on sys.path: a new package
    return False


def sanitize(patch: str, *, test_paths: Sequence[str] = (), source_root: str = ".",
             top_level: Collection[str] = ()) -> Sanitized:
    """``patch`` without the file diffs a solution may not make, with what was dropped and why.

    ``top_level`` names the entries of the clean repository's root and source root: a file
    created inside one of them is ordinary code; one that starts a new top-level package is not.
    Empty (the snapshot is not on this machine), only new top-level module files are caught.
    """
    kept: list[str] = []
    dropped: list[str] = []
    flags: list[SolutionFlag] = []
    for block in split_blocks(patch):
        why = [f for p in block.paths
               if (f := flag_for(p, creates=block.creates, test_paths=test_paths,
                                 source_root=source_root, top_level=top_level)) is not None]
        if block.special:
            why.append(SolutionFlag.NOT_SOURCE)
        if why or not block.paths:
            dropped += block.paths
            flags += why
        else:
            kept.append(block.text)
            if probes(block.text):
                flags.append(SolutionFlag.HARNESS_PROBE)
    text = "".join(kept)
    if text and not text.endswith("\n"):
        text += "\n"
    return Sanitized(text, tuple(dict.fromkeys(dropped)), tuple(dict.fromkeys(flags)))


def probes(block: str) -> bool:
    """Whether lines a file diff adds name the harness's internals. A heuristic: it stops the
    plain forgery (read the nonce, write a report, exit 0), not an obfuscated one."""
    # Added lines as git counts hunk bodies: an added line reading "++x" is "+++x" in the
    # diff, code inside a hunk, not a header to skip.
    return any(_PROBE.search(line) for diff in read_patch(block) for hunk in diff.hunks
               for line in hunk.lines if line.startswith("+"))

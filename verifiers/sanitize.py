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

The split follows ``git apply``'s own reading of a patch (a file diff starts at ``diff --git`` or
at a ``---``/``+++`` pair outside a hunk; hunk bodies are consumed by the counts in their
headers), so a path cannot hide from this filter inside text git would read as a header.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath

from synth.patches import combine
from verifiers.screening import _TEST_CONFIG, is_test_path

__all__ = ["combine", "sanitize", "SolutionFlag", "Sanitized", "split_blocks", "flag_for"]

_HUNK = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")
_HOOK_NAMES = {"conftest.py", "sitecustomize.py", "usercustomize.py"}
_HOOK_STEMS = {"conftest", "sitecustomize", "usercustomize"}
# Files Python imports or loads that are not source text.
_COMPILED = {".pyc", ".pyo", ".so", ".pyd", ".dll", ".dylib", ".egg-link", ".zip", ".whl", ".egg"}
# Lines of a git file diff that say it is not a plain text change of a regular file.
_SPECIAL = re.compile(r"^(?:GIT binary patch|Binary files |literal \d|delta \d|old mode |new mode |"
                      r"(?:new|deleted) file mode (?!100644|100755)|similarity index|"
                      r"dissimilarity index|copy from |copy to )")
_PROBE = re.compile(r"synth_report|SYNTH_|/proc\b|_SETTINGS|sys\.modules|gc\.get_objects")


class SolutionFlag(StrEnum):
    """Why part of a solution was dropped before scoring."""

    EDITS_TESTS = "edits_tests"  # a test file or test helper, added, changed or deleted
    TEST_CONFIG = "test_config"  # pytest.ini, tox.ini, setup.cfg, pyproject.toml, ...
    TEST_HOOK = "test_hook"  # conftest.py, a pytest plugin, sitecustomize, a .pth file
    SHADOWS_MODULE = "shadows_module"  # a new top-level module that could shadow an import
    GIT_METADATA = "git_metadata"  # files under .git
    # A binary diff, a compiled module, a symlink or other special file, a file-mode change:
    # nothing a source fix needs, and nothing the probe scan or a reviewer can read.
    NOT_SOURCE = "not_source"
    # Added code that names the harness's secrets (the report plugin, its SYNTH_* settings,
    # /proc, sys.modules): code under test runs inside pytest's process, so it could read the
    # run's nonce and write a report of its own. Nothing can be restored: the solution is
    # scored tampered, unrun.
    HARNESS_PROBE = "harness_probe"


@dataclass(frozen=True)
class FileBlock:
    """One file diff of a patch: its text and every path it names."""

    text: str
    paths: tuple[str, ...]
    creates: bool  # adds a file (new file, or the target of a rename or copy)
    special: bool = False  # binary, a symlink or other special file, a mode change, a copy


@dataclass(frozen=True)
class Sanitized:
    patch: str  # what remains of the solution, to be applied after the bug
    dropped: tuple[str, ...]  # paths of the file diffs that were dropped
    flags: tuple[SolutionFlag, ...]


def split_blocks(patch: str) -> list[FileBlock]:
    """The file diffs of ``patch`` in order; text before the first one (a message) is ignored."""
    lines = patch.splitlines(keepends=True)
    blocks: list[list[str]] = []
    current: list[str] | None = None
    headers_seen = False  # the current block already has its ---/+++ pair
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("diff --git "):
            current, headers_seen = [line], False
            blocks.append(current)
        elif (line.startswith("--- ") and i + 1 < len(lines)
              and lines[i + 1].startswith("+++ ")):
            if current is None or headers_seen:
                current = []
                blocks.append(current)
            current += [line, lines[i + 1]]
            headers_seen = True
            i += 1
        elif current is not None and (match := _HUNK.match(line)):
            current.append(line)
            old_left = int(match.group(1)) if match.group(1) is not None else 1
            new_left = int(match.group(2)) if match.group(2) is not None else 1
            while i + 1 < len(lines) and (old_left > 0 or new_left > 0
                                          or lines[i + 1].startswith("\\")):
                i += 1
                body = lines[i]
                tag = body[:1]
                if tag == "-":
                    old_left -= 1
                elif tag == "+":
                    new_left -= 1
                elif tag == "\\":
                    pass
                else:  # context, or an empty line some tools leave for empty context
                    old_left, new_left = old_left - 1, new_left - 1
                current.append(body)
        elif current is not None:
            current.append(line)
        i += 1
    return [_block(b) for b in blocks]


def _block(lines: list[str]) -> FileBlock:
    paths: list[str] = []
    creates = False
    for raw in lines:
        line = raw.rstrip("\r\n")
        if line.startswith("diff --git "):
            paths += [_strip_prefix(p) for p in _split_names(line[len("diff --git "):])]
        elif line.startswith(("--- ", "+++ ")) and not line.endswith("/dev/null"):
            paths.append(_strip_prefix(_unquote(line[4:].split("\t")[0].strip())))
        elif line.startswith(("rename from ", "copy from ")):
            paths.append(_unquote(line.split(" ", 2)[2]))
        elif line.startswith(("rename to ", "copy to ")):
            paths.append(_unquote(line.split(" ", 2)[2]))
            creates = True
        elif line.startswith("new file mode") or line == "--- /dev/null":
            creates = True
        elif line.startswith("@@"):
            break
    special = any(_SPECIAL.match(raw) for raw in lines)
    return FileBlock("".join(lines), tuple(dict.fromkeys(p for p in paths if p)), creates,
                     special)


def _split_names(field: str) -> list[str]:
    if field.startswith('"') or ' "' in field:
        try:
            return shlex.split(field)
        except ValueError:
            return field.split()
    return field.split()


def _unquote(name: str) -> str:
    return name[1:-1] if len(name) > 1 and name[0] == name[-1] == '"' else name


def _strip_prefix(name: str) -> str:
    """Drop the first path component, as ``git apply -p1`` does."""
    name = _unquote(name)
    return name.split("/", 1)[1] if "/" in name else name


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
    return any(_PROBE.search(line) for line in block.splitlines()
               if line.startswith("+") and not line.startswith("+++"))

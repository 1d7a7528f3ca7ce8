"""A patch as ``git apply`` reads it: the paths it touches, which it creates, and their kinds.

``verifiers.sanitize`` decides what a solution may change by reading the patch text. Whatever it
keeps is then applied by git, which has its own reading of names (C-quoted with octal escapes, a
timestamp after a traditional header's name, renames and copies) and of content (binary patches,
symlinks, file modes). So the kept patch is read a second time here, by git itself
(``git apply --numstat --summary -z``, which parses without applying), and every path git would
touch is checked against the same rules. A disagreement is not a mistake an honest solution
makes: it is reported as evidence, and the solution is scored ``tampered`` unrun.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from synth.proc import run

# Git's modes for what a solution may create: a regular file, or an executable one.
_PLAIN_MODES = ("100644", "100755")


@dataclass(frozen=True)
class GitView:
    paths: tuple[str, ...]  # every path the patch touches (both sides of a rename or copy)
    created: frozenset[str]  # paths the patch creates
    binary: tuple[str, ...]  # paths with a binary diff
    summary: tuple[str, ...]  # git's summary lines: creations, deletions, modes, renames


class Unreadable(ValueError):
    """git cannot parse the patch (it would not apply either)."""


def read(patch: str, *, timeout_s: float = 30.0) -> GitView:
    """Ask git how it reads ``patch``. Runs in an empty folder: nothing of a repository's own
    configuration or attributes takes part."""
    with tempfile.TemporaryDirectory(prefix="synth-gitview-") as tmp:
        path = Path(tmp) / "solution.diff"
        path.write_bytes(patch.encode("utf-8", "surrogateescape"))
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp,
               "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C"}
        done = run(["git", "apply", "--numstat", "--summary", "-z", path.name], cwd=Path(tmp),
                   env=env, timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise Unreadable((done.stderr or done.stdout).strip()[-500:])
    return parse(done.stdout)


def parse(out: str) -> GitView:
    """``git apply --numstat --summary -z`` output: NUL-terminated numstat records (a rename's
    is ``A\\tD\\t`` then both names, each NUL-terminated), then newline-terminated summary lines
    whose names git leaves unquoted."""
    fields = out.split("\0")
    paths: list[str] = []
    binary: list[str] = []
    i = 0
    while i < len(fields):
        record = fields[i]
        if record.count("\t") < 2:
            break  # the summary begins
        added, deleted, name = record.split("\t", 2)
        names = [name] if name else fields[i + 1 : i + 3]
        i += 1 if name else 3
        paths += names
        if added == "-" and deleted == "-":
            binary += names
    summary_text = "\0".join(fields[i:])
    summary = tuple(line for line in summary_text.replace("\0", "\n").splitlines()
                    if line.strip())
    created = frozenset(line.split(" ", 4)[4] for line in summary
                        if line.startswith(" create mode ") and line.count(" ") >= 4)
    moved = [pair for line in summary if (pair := _moved(line)) is not None]
    paths += [src for src, _ in moved]
    created |= {dst for _, dst in moved}
    return GitView(tuple(dict.fromkeys(paths)), created, tuple(binary), summary)


_MOVED = re.compile(r"^ (?:rename|copy) (.*) \(\d+%\)$")


def _moved(line: str) -> tuple[str, str] | None:
    """(source, target) of a summary line `` rename a/{x => y}/z (90%)`` (git writes the common
    prefix and suffix once); None for other lines."""
    match = _MOVED.match(line)
    if not match:
        return None
    names = match.group(1)
    braced = re.fullmatch(r"(.*)\{(.*) => (.*)\}(.*)", names)
    if braced:
        head, src, dst, tail = braced.groups()
        return (_join(head, src, tail), _join(head, dst, tail))
    src, _, dst = names.partition(" => ")
    return src, dst


def _join(head: str, middle: str, tail: str) -> str:
    return (head + middle + tail).replace("//", "/") if not middle else head + middle + tail


def evidence(view: GitView, flag_for: Callable[[str, bool], object | None]) -> list[str]:
    """What git would do that the sanitizer let through: each item names the path and why.

    ``flag_for(path, creates)`` is the sanitizer's own rule (None: the path may be changed).
    """
    found: list[str] = []
    for path in view.paths:
        why = flag_for(path, path in view.created)
        if why is not None:
            found.append(f"git applies a change to {path!r} ({why}) that the sanitizer read "
                         "as another path")
    found += [f"a binary diff of {p!r}" for p in view.binary]
    for line in view.summary:
        words = line.split()
        if words[:1] == ["mode"] or (words[:2] == ["create", "mode"]
                                     and words[2] not in _PLAIN_MODES):
            found.append(f"a file mode a source fix never needs: {line.strip()!r}")
        elif words[:1] == ["delete"] and len(words) > 2 and words[2] not in _PLAIN_MODES:
            found.append(f"a special file removed: {line.strip()!r}")
    return found

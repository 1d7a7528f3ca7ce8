"""Which of our requirements made `pip wheel` / `pip download` fail, read from pip's output.

Real projects pin releases that have no wheel for our Python, ask for versions that conflict,
or name sdists that no longer build. The wheelhouse fallback relaxes or drops exactly those
requirements; this module finds them. Pure: pip's output and our requirement list in, the
culprits out, so it is tested on captured output.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from packaging.requirements import InvalidRequirement, Requirement

from synth.envs.requirements_policy import canonical


class FailureKind(StrEnum):
    NO_MATCH = "no release matches it for this Python"
    CONFLICT = "it conflicts with another requirement"
    BUILD = "its sdist failed to build"


@dataclass(frozen=True)
class Culprit:
    requirement: str  # the entry of our requirement list
    kind: FailureKind
    via: str = ""  # the dependency that failed, when it is not the requirement itself


_NO_MATCH = (
    re.compile(r"No matching distribution found for (\S+)"),
    re.compile(r"Could not find a version that satisfies the requirement (\S+)"),
)
_BUILD = (
    re.compile(r"Failed to build '([^']+)' when"),
    re.compile(r"Failed building wheel for (\S+)"),
    re.compile(r"^\s*Failed to build ((?!installable)[\w.\- ]+)$", re.M),
    re.compile(r"based projects \(([^)]+)\)"),
    re.compile(r"(?:based projects|package metadata\.)\s*\n\s*╰─>\s*([^\n]+)"),
    re.compile(r"Could not build wheels for ([\w.\-, ]+?), which"),
)
_USER_REQUESTED = re.compile(r"The user requested (?!\(constraint\))(\S+)")
_DEPENDS = re.compile(r"^\s*(\S+) (\S+) depends on ", re.M)
_CANNOT_INSTALL = re.compile(r"Cannot install (.+?) because these package versions")
_LINE_REF = re.compile(r"-r \S+ \(line (\d+)\)")
_COLLECTING = re.compile(r"^\s*Collecting (\S+?)(?:\s.*)?\(line (\d+)\)\)*\s*$", re.M)


def pip_culprits(output: str, requirements: Sequence[str]) -> list[Culprit]:
    """Our requirements that pip's ``output`` blames, each once, in list order. A failing
    dependency of ours is traced to the requirement that pulled it in (pip's "Collecting X
    (from Y->-r file (line N))" lines)."""
    found: dict[str, Culprit] = {}
    for kind, names in (
        (FailureKind.BUILD, _build_failures(output)),
        (FailureKind.NO_MATCH, [n for rx in _NO_MATCH for n in rx.findall(output)]),
        (FailureKind.CONFLICT, _conflicts(output, requirements)),
    ):
        for name in names:
            entry, via = _ours(name, output, requirements)
            if entry and entry not in found:
                found[entry] = Culprit(entry, kind, via)
    return [found[r] for r in requirements if r in found]


def _build_failures(output: str) -> list[str]:
    names: list[str] = []
    for rx in _BUILD:
        for match in rx.findall(output):
            names += [n for n in re.split(r"[,\s]+", match) if n and n != "See"]
    return names


def _conflicts(output: str, requirements: Sequence[str]) -> list[str]:
    """Names in a ResolutionImpossible report: what the user requested, the requested packages
    whose dependencies clash, and the `-r file (line N)` entries pip names."""
    if "conflicting dependencies" not in output and "ResolutionImpossible" not in output:
        return []
    names = _USER_REQUESTED.findall(output) + [m[0] for m in _DEPENDS.findall(output)]
    for listed in _CANNOT_INSTALL.findall(output):
        names += [_line_entry(int(n), requirements) for n in _LINE_REF.findall(listed)]
        names += [p for p in re.split(r", | and ", _LINE_REF.sub("", listed)) if p.strip()]
    return [n for n in names if n]


def _line_entry(line: int, requirements: Sequence[str]) -> str:
    """Line N of the requirements file we wrote is entry N-1 of the list."""
    return requirements[line - 1] if 0 < line <= len(requirements) else ""


def _ours(text: str, output: str, requirements: Sequence[str]) -> tuple[str, str]:
    """(our entry, the dependency it failed through, "" when it is the entry itself)."""
    name = _name(text)
    for entry in requirements:
        if _name(entry) == name:
            return entry, ""
    for collected, line in _COLLECTING.findall(output):
        if _name(collected) == name:
            entry = _line_entry(int(line), requirements)
            if entry:
                return entry, name
    return "", ""


def _name(text: str) -> str:
    try:
        return canonical(Requirement(text.strip().strip("'\"")).name)
    except InvalidRequirement:
        return canonical(re.split(r"[^\w.\-]", text.strip(), maxsplit=1)[0])

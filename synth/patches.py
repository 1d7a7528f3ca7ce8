"""Unified diffs as data: parse, reverse, apply, and the code a diff touches. Pure functions.

A task stores its bug as a diff against the clean repository; its gold fix is that diff reversed
(the training target, and the solution `synth verify` checks the harness against), and the
trainer's prompt shows the buggy code of the functions it touches.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, replace

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$")
_NO_NEWLINE = "\\ No newline at end of file"


class PatchError(ValueError):
    """A diff that does not parse, or does not apply to the text it was given."""


@dataclass(frozen=True)
class Hunk:
    old_start: int
    old_count: int
    new_start: int
    new_count: int
    section: str  # whatever follows the second "@@" (git puts the enclosing def there)
    # Body lines without their trailing newline, each starting with " ", "-" or "+"; a line
    # followed by "\ No newline at end of file" carries that marker after a "\n".
    lines: tuple[str, ...]


@dataclass(frozen=True)
class FileDiff:
    old_path: str  # without the a/ prefix; "/dev/null" for a new file
    new_path: str
    hunks: tuple[Hunk, ...]
    extra: tuple[str, ...] = ()  # header lines between "diff --git" and "---" (index, modes)


def parse_patch(text: str) -> list[FileDiff]:
    files: list[FileDiff] = []
    lines = text.split("\n")  # not splitlines(): a \x0c inside a source line is no break
    i = 0
    while i < len(lines):
        if not lines[i].startswith(("diff --git ", "--- ")):
            i += 1
            continue
        extra: list[str] = []
        if lines[i].startswith("diff --git "):
            i += 1
            while i < len(lines) and not lines[i].startswith(("--- ", "diff --git ")):
                extra.append(lines[i])
                i += 1
        if i + 1 >= len(lines) or not lines[i].startswith("--- "):
            raise PatchError("a file diff lacks its ---/+++ header (renames/binaries unsupported)")
        old_path, new_path = _path(lines[i][4:]), _path(lines[i + 1][4:])
        i += 2
        hunks = []
        while i < len(lines) and lines[i].startswith("@@"):
            hunk, i = _parse_hunk(lines, i)
            hunks.append(hunk)
        files.append(FileDiff(old_path, new_path, tuple(hunks), tuple(extra)))
    if not files:
        raise PatchError("no file diff found in the patch")
    return files


def _path(field: str) -> str:
    name = field.split("\t")[0].strip()
    return name[2:] if name.startswith(("a/", "b/")) else name


def _parse_hunk(lines: list[str], i: int) -> tuple[Hunk, int]:
    m = _HUNK.match(lines[i])
    if not m:
        raise PatchError(f"bad hunk header: {lines[i]!r}")
    old_start, new_start = int(m[1]), int(m[3])
    old_count = int(m[2]) if m[2] is not None else 1
    new_count = int(m[4]) if m[4] is not None else 1
    body: list[str] = []
    old_left, new_left = old_count, new_count
    i += 1
    while i < len(lines) and (old_left > 0 or new_left > 0):
        line = lines[i]
        tag = line[:1]
        if tag == " " or line == "":  # some tools strip the space of an empty context line
            old_left, new_left = old_left - 1, new_left - 1
            body.append(" " + line[1:])
        elif tag == "-":
            old_left -= 1
            body.append(line)
        elif tag == "+":
            new_left -= 1
            body.append(line)
        elif line.startswith("\\") and body:
            body[-1] += "\n" + _NO_NEWLINE
        else:
            raise PatchError(f"hunk body ends early at {line!r}")
        i += 1
    if old_left or new_left:
        raise PatchError(f"hunk {lines[i - 1]!r} is shorter than its header says")
    if i < len(lines) and lines[i].startswith("\\") and body:
        body[-1] += "\n" + _NO_NEWLINE
        i += 1
    hunk = Hunk(old_start, old_count, new_start, new_count, m[5], tuple(body))
    return hunk, i


def render_patch(files: list[FileDiff]) -> str:
    out: list[str] = []
    for f in files:
        a = "a/" + f.old_path if f.old_path != "/dev/null" else f.old_path
        b = "b/" + f.new_path if f.new_path != "/dev/null" else f.new_path
        git_a = f.old_path if f.old_path != "/dev/null" else f.new_path
        git_b = f.new_path if f.new_path != "/dev/null" else f.old_path
        out.append(f"diff --git a/{git_a} b/{git_b}")
        out.extend(f.extra)
        out += [f"--- {a}", f"+++ {b}"]
        for h in f.hunks:
            out.append(
                f"@@ -{h.old_start},{h.old_count} +{h.new_start},{h.new_count} @@{h.section}"
            )
            out.extend(h.lines)
    return "\n".join(out) + "\n"


def reverse_patch(text: str) -> str:
    """The diff that undoes ``text``: sides swapped, + and - swapped, removals listed first."""
    return render_patch([_reverse_file(f) for f in parse_patch(text)])


def _reverse_file(f: FileDiff) -> FileDiff:
    swaps = {"new file mode": "deleted file mode", "deleted file mode": "new file mode"}
    extra = []
    for line in f.extra:
        for a, b in swaps.items():
            if line.startswith(a):
                line = b + line[len(a) :]
                break
        else:
            if line.startswith("index ") and ".." in line:
                ids, _, mode = line[6:].partition(" ")
                old, new = ids.split("..", 1)
                line = f"index {new}..{old}" + (f" {mode}" if mode else "")
        extra.append(line)
    hunks = tuple(_reverse_hunk(h) for h in f.hunks)
    return FileDiff(f.new_path, f.old_path, hunks, tuple(extra))


def _reverse_hunk(h: Hunk) -> Hunk:
    flip = {"-": "+", "+": "-"}
    body: list[str] = []
    run: list[str] = []  # a run of changed lines, flipped; its "-" lines go first
    for line in h.lines:
        if line[0] in flip:
            run.append(flip[line[0]] + line[1:])
            continue
        body += [x for x in run if x[0] == "-"] + [x for x in run if x[0] == "+"]
        run = []
        body.append(line)
    body += [x for x in run if x[0] == "-"] + [x for x in run if x[0] == "+"]
    return replace(
        h,
        old_start=h.new_start,
        old_count=h.new_count,
        new_start=h.old_start,
        new_count=h.old_count,
        lines=tuple(body),
    )


def apply_file_diff(text: str, f: FileDiff) -> str:
    """``text`` (the old side of ``f``) with ``f`` applied; the context must match exactly."""
    old = _split_keepends(text)
    out: list[str] = []
    pos = 0  # next unread line of ``old``
    for h in f.hunks:
        start = h.old_start - 1 if h.old_count else h.old_start  # "-N,0" inserts after line N
        if start < pos:
            raise PatchError(f"{f.old_path}: hunks overlap or are out of order")
        out += old[pos:start]
        pos = start
        for line in h.lines:
            tag, content = line[0], line[1:]
            has_newline = not content.endswith("\n" + _NO_NEWLINE)
            content = content.removesuffix("\n" + _NO_NEWLINE) + ("\n" if has_newline else "")
            if tag in " -":
                if pos >= len(old) or old[pos] != content:
                    raise PatchError(f"{f.old_path}: the patch does not apply at line {pos + 1}")
                pos += 1
            if tag in " +":
                out.append(content)
    return "".join(out + old[pos:])


def _split_keepends(text: str) -> list[str]:
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def new_side(h: Hunk) -> list[tuple[int, str, bool]]:
    """(line number in the new file, text, changed) for each context and "+" line of ``h``."""
    out = []
    n = h.new_start
    for line in h.lines:
        if line[0] in " +":
            out.append((n, line[1:].removesuffix("\n" + _NO_NEWLINE), line[0] == "+"))
            n += 1
    return out


def touched_new_lines(f: FileDiff) -> set[int]:
    """New-file lines a diff adds, and for pure removals the line where they were removed."""
    touched: set[int] = set()
    for h in f.hunks:
        n = h.new_start
        for line in h.lines:
            if line[0] == "+":
                touched.add(n)
            elif line[0] == "-":
                touched.add(max(n, 1))
            if line[0] in " +":
                n += 1
    return touched


def enclosing_functions(source: str, lines: set[int]) -> list[str]:
    """Source (decorators included) of the outermost function or method around each line.

    Lines outside every function are left out; the result is in file order, without repeats.
    Raises SyntaxError for source that does not parse.
    """
    tree = ast.parse(source)
    spans: list[tuple[int, int]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([d.lineno for d in child.decorator_list] + [child.lineno])
                end = child.end_lineno or child.lineno
                if any(first <= n <= end for n in lines):
                    spans.append((first, end))
            else:  # classes and module-level blocks: look inside for their functions
                visit(child)

    visit(tree)
    src = source.split("\n")
    return ["\n".join(src[a - 1 : b]) for a, b in sorted(set(spans))]


def combine(*patches: str) -> str:
    """Patches applied one after another in a single ``git apply`` (it applies a file's diffs in
    order, so a later patch's diff of a file follows an earlier one's diff of the same file)."""
    parts = [p if p.endswith("\n") else p + "\n" for p in patches if p.strip()]
    return "".join(parts)

"""Unified diffs as data, read in one place: file blocks, hunks, the lines a diff touches on
either side, and whether a text quotes diff syntax. Pure functions.

Every reader of a diff derives from this module, so no two of them can disagree on where a file
diff or a hunk ends, or on which line a change touches: mutation targeting and screening (the
old-side lines a bug touches pick the tests that can see it), the solution sanitiser (a patch's
file blocks, byte for byte, and every path each names), bug combination (a patch's edits),
problem statements (the changed text and line numbers a statement may not quote), and the
trainer (a task's gold fix is its bug diff reversed; the prompt shows the buggy code of the
functions the diff touches).

A patch is split the way ``git apply`` reads it: a file diff starts at ``diff --git`` or at a
``---``/``+++`` pair outside a hunk, and a hunk body is consumed by the counts in its header, so
a body line that reads like a header is content. Lines end at "\\n" alone, as in git:
``str.splitlines()`` also breaks at \\f, \\x1c, \\u2028 ..., which git treats as text.

Two readings share that split: ``parse_patch`` is strict (PatchError for anything it could not
apply or rewrite exactly), ``read_patch`` is lenient (for questions about what a diff touches,
asked of any stored patch: a rename, mode change or binary diff contributes no lines).
"""

from __future__ import annotations

import ast
import re
import shlex
from dataclasses import dataclass, replace

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$")
_NO_NEWLINE = "\\ No newline at end of file"
# Lines of a git file diff that say it is not a plain text change of a regular file.
_SPECIAL = re.compile(r"^(?:GIT binary patch|Binary files |literal \d|delta \d|old mode |new mode |"
                      r"(?:new|deleted) file mode (?!100644|100755)|similarity index|"
                      r"dissimilarity index|copy from |copy to )")
# Diff syntax quoted in prose: a git header, a hunk header, a file header with git's prefixes.
# A bare "--- " is left alone: it also opens separators in test output and Markdown.
_DIFF_SYNTAX = re.compile(r"^\s*(?:diff --git |@@ -\d|--- a/|\+\+\+ b/)")


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

    @property
    def path(self) -> str:
        """The file the diff is about: its new path, or the old one for a deletion."""
        return self.new_path if self.new_path != "/dev/null" else self.old_path


@dataclass(frozen=True)
class FileBlock:
    """One file diff of a patch as git splits it: its text byte for byte, and every path it
    names (a path a header names is a path git may touch, whatever the hunks say)."""

    text: str
    paths: tuple[str, ...]  # as ``git apply -p1`` reads them; /dev/null left out
    creates: bool  # adds a file (new file, or the target of a rename or copy)
    special: bool = False  # binary, a symlink or other special file, a mode change, a copy


@dataclass(frozen=True)
class BodyLine:
    """One line of a hunk body, numbered on both sides. On the side a line is missing from (an
    added line in the old file, a removed one in the new), its number is that of the next line
    there: an insertion goes before old line ``old``, a removal sits before new line ``new``."""

    tag: str  # " " context, "-" removed, "+" added
    old: int
    new: int
    text: str  # without the tag and the no-newline marker
    newline: bool  # False for a last line that lacks its "\n"


def split_blocks(text: str) -> list[FileBlock]:
    """The file diffs of ``text`` in order; text before the first one (a message) is ignored.
    Joined, the blocks' texts give ``text`` from the first file diff on."""
    lines = text.split("\n")
    return [_block(lines, first, end) for first, end in _spans(lines)]


def parse_patch(text: str) -> list[FileDiff]:
    """The file diffs of ``text``. PatchError when one cannot be read as a plain text change
    (a rename without content, a binary or mode-only diff, a malformed hunk), or there is none."""
    files = _read(text, strict=True)
    if not files:
        raise PatchError("no file diff found in the patch")
    return files


def read_patch(text: str) -> list[FileDiff]:
    """The file diffs of ``text`` that carry a ---/+++ header, read the way git counts hunk
    bodies, never raising: whoever asks what a stored patch touches gets an answer for its text
    changes, and a rename, mode change or binary diff contributes no lines."""
    return _read(text, strict=False)


def _read(text: str, *, strict: bool) -> list[FileDiff]:
    lines = text.split("\n")  # not splitlines(): a \x0c inside a source line is no break
    diffs = (_file_diff(lines[first:end], strict=strict) for first, end in _spans(lines))
    return [d for d in diffs if d is not None]


def _spans(lines: list[str]) -> list[tuple[int, int]]:
    """(first line, end) of each file diff: a new one starts at ``diff --git``, or at a
    ---/+++ pair outside a hunk when the current one has its pair already."""
    starts: list[int] = []
    has_pair = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("diff --git "):
            starts.append(i)
            has_pair = False
        elif _is_pair(lines, i):
            if not starts or has_pair:
                starts.append(i)
            has_pair = True
            i += 1
        elif starts and (m := _HUNK.match(line)):
            i = _body_end(lines, i, _count(m[2]), _count(m[4])) - 1
        i += 1
    ends = [*starts[1:], len(lines)] if starts else []
    return list(zip(starts, ends, strict=True))


def _is_pair(lines: list[str], i: int) -> bool:
    return lines[i].startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ ")


def _count(field: str | None) -> int:
    return int(field) if field is not None else 1  # "@@ -5 +5 @@": one line each


def _body_end(lines: list[str], header: int, old: int, new: int) -> int:
    """The index after the body of the hunk whose header is ``lines[header]``: its counts are
    used up, and the no-newline markers after its last line are read."""
    i = header + 1
    while i < len(lines) and (old > 0 or new > 0 or lines[i].startswith("\\")):
        tag = lines[i][:1]
        if tag == "-":
            old -= 1
        elif tag == "+":
            new -= 1
        elif tag != "\\":  # context, or an empty line some tools leave for empty context
            old, new = old - 1, new - 1
        i += 1
    return i


def _block(lines: list[str], first: int, end: int) -> FileBlock:
    own = lines[first:end]
    text = "\n".join(own) + ("\n" if end < len(lines) else "")
    paths: list[str] = []
    creates = False
    for raw in own:
        line = raw.rstrip("\r")
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
    special = any(_SPECIAL.match(line) for line in own)
    return FileBlock(text, tuple(dict.fromkeys(p for p in paths if p)), creates, special)


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


def _file_diff(lines: list[str], *, strict: bool) -> FileDiff | None:
    """One file diff's lines as a record: None (lenient) or PatchError (strict) without a
    ---/+++ header. Strictly, the hunks follow the header back to back; leniently, text
    between them is skipped, as is a header that does not parse."""
    i = 1 if lines[0].startswith("diff --git ") else 0
    extra: list[str] = []
    while i < len(lines) and not _is_pair(lines, i):
        extra.append(lines[i])
        i += 1
    if i >= len(lines):
        if strict:
            raise PatchError("a file diff lacks its ---/+++ header (renames/binaries unsupported)")
        return None
    old_path, new_path = _path(lines[i][4:]), _path(lines[i + 1][4:])
    i += 2
    hunks = []
    while i < len(lines):
        if lines[i].startswith("@@") and (strict or _HUNK.match(lines[i])):
            hunk, i = _hunk(lines, i, strict=strict)
            hunks.append(hunk)
        elif strict:
            break
        else:
            i += 1
    return FileDiff(old_path, new_path, tuple(hunks), tuple(extra))


def _path(field: str) -> str:
    name = field.split("\t")[0].strip()
    return name[2:] if name.startswith(("a/", "b/")) else name


def _hunk(lines: list[str], i: int, *, strict: bool) -> tuple[Hunk, int]:
    """The hunk whose header is ``lines[i]``, and the index after it. Strictly, a body line
    that is neither context nor a change, or a body shorter than its header, is an error;
    leniently, it counts as context, as git's counting does."""
    m = _HUNK.match(lines[i])
    if not m:
        raise PatchError(f"bad hunk header: {lines[i]!r}")
    old_count, new_count = _count(m[2]), _count(m[4])
    end = _body_end(lines, i, old_count, new_count)
    body: list[str] = []
    for line in lines[i + 1 : end]:
        tag = line[:1]
        if tag in ("-", "+"):
            body.append(line)
        elif tag == "\\" and body:
            body[-1] = body[-1].removesuffix("\n" + _NO_NEWLINE) + "\n" + _NO_NEWLINE
        elif tag in (" ", "") or not strict and tag != "\\":
            body.append(" " + line[1:])
        elif strict:
            raise PatchError(f"hunk body ends early at {line!r}")
    seen = (sum(x[0] in " -" for x in body), sum(x[0] in " +" for x in body))
    if strict and seen != (old_count, new_count):
        raise PatchError(f"hunk {lines[end - 1]!r} is shorter than its header says")
    hunk = Hunk(int(m[1]), old_count, int(m[3]), new_count, m[5], tuple(body))
    return hunk, end


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


def patched_files(text: str) -> list[str]:
    """Every path the file diffs of ``text`` name (both sides of a rename), sorted, unique."""
    return sorted({path for block in split_blocks(text) for path in block.paths})


def numbered(h: Hunk) -> list[BodyLine]:
    """The body lines of ``h``, each numbered on both sides (see ``BodyLine``)."""
    old = h.old_start + (h.old_count == 0)  # "-12,0 +13,2": the insertion comes after line 12
    new = h.new_start + (h.new_count == 0)
    out = []
    for line in h.lines:
        tag, content = line[0], line[1:]
        text = content.removesuffix("\n" + _NO_NEWLINE)
        out.append(BodyLine(tag, old, new, text, text == content))
        if tag != "+":
            old += 1
        if tag != "-":
            new += 1
    return out


def new_side(h: Hunk) -> list[tuple[int, str, bool]]:
    """(line number in the new file, text, changed) for each context and "+" line of ``h``."""
    return [(x.new, x.text, x.tag == "+") for x in numbered(h) if x.tag != "-"]


def touched_new_lines(f: FileDiff) -> set[int]:
    """New-file lines a diff adds, and for removed lines the new line now standing where they
    were."""
    return {x.new if x.tag == "+" else max(x.new, 1)
            for h in f.hunks for x in numbered(h) if x.tag != " "}


def touched_old_lines(f: FileDiff) -> set[int]:
    """Old-file lines a diff removes, and for a pure insertion the lines on both sides of it:
    either neighbour running means the inserted code would have run. Run by no test, a bug on
    these lines is not worth validating; run by some, those tests are the ones to screen with."""
    touched: set[int] = set()
    for h in f.hunks:
        replacing = False  # the current run of changes removed lines: its additions replace them
        for x in numbered(h):
            if x.tag == "-":
                touched.add(x.old)
                replacing = True
            elif x.tag == "+":
                if not replacing:
                    touched.update({max(x.old - 1, 1), x.old})
            else:
                replacing = False
    return touched


def touched_lines(text: str) -> dict[str, set[int]]:
    """Per file (by its old path), the ``touched_old_lines`` of every file diff of ``text``;
    files it touches no line of are left out."""
    out: dict[str, set[int]] = {}
    for f in read_patch(text):
        if lines := touched_old_lines(f):
            out.setdefault(f.old_path, set()).update(lines)
    return out


def is_diff_syntax(line: str) -> bool:
    """Whether ``line`` reads as a diff's file or hunk header (indented or not)."""
    return _DIFF_SYNTAX.match(line) is not None


def quotes_diff(text: str) -> bool:
    """Whether some line of ``text`` is diff syntax: prose quoting a diff hands over its headers
    and hunks, which point at the changed file and lines."""
    return any(is_diff_syntax(line) for line in text.split("\n"))


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

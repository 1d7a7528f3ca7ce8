"""Problem statements: what a user would file as an issue, knowing only which tests fail.

The statement must not hand the solver the answer, so it never carries the patch, any source line
the patch adds or removes, or a file-and-line reference (``foo.py:12``, ``line 12``) that would
point at the mutated spot. Failure messages are scrubbed line by line before rendering. Test ids
are shown as they are: the tests are part of the repository the solver gets anyway.

Several styles read like different people filed them (a terse bug report, a user story with a
reproduction taken from the failing test, a failing-CI log excerpt); ``choose_style`` picks one
per task from the seed. An optional language-model writer (``synth.lm``) may write the text
instead; whatever wrote it, ``leaks`` checks the result, and a statement that leaks is replaced
by the next safer one, down to the scrubbed report every task can have.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from importlib.resources import files
from typing import Protocol

import jinja2

from synth.patches import BodyLine, FileDiff, is_diff_syntax, numbered, quotes_diff, read_patch
from synth.records import TestResult, content_hash

_MIN_LEAK_CHARS = 4  # shorter changed lines (`x`, `)`) also occur in innocent text
# The leak check compares whitespace-free text, so `a<b` and `a < b` are one line of code; under
# this many characters a changed line (`else:`, `pass`) is too common to identify anything.
_MIN_CHECKED_CHARS = 8
_MAX_MESSAGE_CHARS = 400
_MAX_HINT_CHARS = 800
_MAX_REPRODUCTION_LINES = 40
_PROSE_SUFFIXES = (".rst", ".md", ".txt", ".adoc", ".markdown")


class Style(StrEnum):
    REPORT = "report"  # the failing tests and their messages, plainly
    TERSE = "terse"  # a short bug report
    STORY = "story"  # a user story with a reproduction taken from the failing test
    CI = "ci"  # a failing-CI log excerpt


STYLES: tuple[Style, ...] = tuple(Style)
_TEMPLATES = {
    Style.REPORT: "statement.md.j2",
    Style.TERSE: "statement_terse.md.j2",
    Style.STORY: "statement_story.md.j2",
    Style.CI: "statement_ci.md.j2",
}

# Removed outright, file name included: a location is a pointer to the bug, not a symptom.
_LINE_REFS = (
    re.compile(r"""\bFile\s+["'][^"']*["'],\s*line\s+\d+(?:,\s*in\s+\S+)?""", re.IGNORECASE),
    re.compile(r"""["']?[\w./\\<>-]*\.pyx?["']?(?::\d+)+:?"""),  # pkg/x.py:12: and x.py:12:5
    re.compile(r"[,:]?\s*\bline\s+\d+\b", re.IGNORECASE),  # (x.py, line 3) and "at line 3"
)


@dataclass(frozen=True)
class _ShownTest:
    test_id: str
    message: str


def _is_prose(f: FileDiff) -> bool:
    """Whether a file diff changes a prose file (a changelog, a README), whose lines describe
    the problem rather than give its code away: a reverted fix's changelog entry is the best
    hint a statement can carry."""
    return f.path.lower().endswith(_PROSE_SUFFIXES)


def _code_lines(patch: str) -> list[BodyLine]:
    """The added and removed lines of ``patch`` in code files (prose files aside)."""
    return [x for f in read_patch(patch) if not _is_prose(f)
            for h in f.hunks for x in numbered(h) if x.tag != " "]


def changed_lines(patch: str) -> frozenset[str]:
    """The stripped lines a unified diff adds or removes in code (prose files aside), as far as
    they could identify it."""
    texts = (x.text.strip() for x in _code_lines(patch))  # strip() also drops a CRLF's "\r"
    return frozenset(text for text in texts if len(text) >= _MIN_LEAK_CHARS)


def scrub_message(message: str, leaks: frozenset[str]) -> str:
    """``message`` without lines quoting changed code and without file/line references."""
    kept = [
        line
        for line in message.splitlines()
        if not is_diff_syntax(line) and not any(leak in line for leak in leaks)
    ]
    text = " ".join(kept)
    for pattern in _LINE_REFS:
        text = pattern.sub("", text)
    text = " ".join(text.split())
    if len(text) > _MAX_MESSAGE_CHARS:
        text = text[: _MAX_MESSAGE_CHARS - 3].rstrip() + "..."
    return text.replace("```", "'''")  # would close the code fence it is rendered in


@cache
def _template(style: Style) -> jinja2.Template:
    resource = files("synth").joinpath("templates", _TEMPLATES[style])
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # markdown, not HTML
    )
    return env.from_string(resource.read_text(encoding="utf-8"))


def choose_style(seed: int, key: str, styles: Sequence[Style] = STYLES) -> Style:
    """The style of one task: a pure function of the run's seed and the task's key."""
    return styles[int(content_hash("style", seed, key), 16) % len(styles)]


@dataclass(frozen=True)
class StatementInput:
    """Everything a statement may be written from; none of it is the answer."""

    repo: str
    failing: Sequence[TestResult]
    patch: str  # only read to know what must not be said
    reproductions: Mapping[str, str] = field(default_factory=dict)  # test id -> test source
    hint: str = ""  # what a maintainer wrote about the problem (a fix commit's message)
    passed: int = 0  # how many tests still pass, for a CI summary line


def render_statement(
    repo: str,
    failing: Sequence[TestResult],
    patch: str,
    *,
    max_tests: int = 5,
    style: Style = Style.REPORT,
    reproductions: Mapping[str, str] | None = None,
    hint: str = "",
    passed: int = 0,
) -> str:
    """The issue text for a task whose bug ``patch`` makes the ``failing`` tests fail.

    ``patch`` is only read to know what to scrub; at most ``max_tests`` tests are listed.
    """
    if not failing:
        raise ValueError("render_statement needs at least one failing test")
    if max_tests < 1:
        raise ValueError(f"max_tests must be >= 1, got {max_tests}")
    leaks = changed_lines(patch)
    tests: list[_ShownTest] = []
    seen: set[str] = set()
    for result in failing:
        if result.test_id in seen:
            continue
        seen.add(result.test_id)
        tests.append(_ShownTest(result.test_id, scrub_message(result.message, leaks)))
    shown = tests[:max_tests]
    first = shown[0]
    code = (reproductions or {}).get(first.test_id, "")
    return _template(style).render(
        repo=repo,
        tests=shown,
        total=len(tests),
        hidden=len(tests) - len(shown),
        first=first,
        code=code if not _quotes_any(code, leaks) else "",
        hint=scrub_hint(hint, leaks),
        passed=passed,
    )


def scrub_hint(text: str, leaks: frozenset[str]) -> str:
    """A maintainer's words about the problem, without quoted code, locations or trailers."""
    kept = []
    for line in text.strip().splitlines():
        if is_diff_syntax(line) or any(leak in line for leak in leaks):
            continue
        if re.match(r"^\s*[\w-]+-by:", line) or line.startswith("    "):  # trailers, code
            continue
        for pattern in _LINE_REFS:
            line = pattern.sub("", line)
        kept.append(line.rstrip())
    hint = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
    if len(hint) > _MAX_HINT_CHARS:
        hint = hint[: _MAX_HINT_CHARS - 3].rstrip() + "..."
    return hint.replace("```", "'''")


def _quotes_any(text: str, leaks: frozenset[str]) -> bool:
    flat = _squeezed(text)
    return any(len(q := _squeezed(leak)) >= _MIN_CHECKED_CHARS and q in flat for leak in leaks)


# --- the leak check ----------------------------------------------------------------------------

_LINE_NUMBER_REFS = (
    re.compile(r"\blines?\s+(\d+)", re.IGNORECASE),
    re.compile(r"\.pyx?[\"']?(?:,\s*line)?[\s:]+(\d+)"),
    re.compile(r"#L(\d+)\b"),
)


def patch_line_numbers(patch: str) -> frozenset[int]:
    """The numbers of the lines a patch removes (old file) or adds (new file), in code."""
    return frozenset(x.old if x.tag == "-" else x.new for x in _code_lines(patch))


def _squeezed(text: str) -> str:
    return "".join(text.split())


def leaks(statement: str, patch: str) -> list[str]:
    """Why ``statement`` gives the bug of ``patch`` away; empty when it does not.

    It leaks when it quotes the patch (its headers or hunks), a line the patch adds (the bug) or
    removes (the original, fixed code) — compared without whitespace, so reformatting does not
    hide a quote — or refers to a line the patch changes by its number.
    """
    found = []
    if quotes_diff(statement):
        found.append("quotes diff syntax")
    flat = _squeezed(statement)
    for line in sorted(changed_lines(patch)):
        squeezed = _squeezed(line)
        if len(squeezed) >= _MIN_CHECKED_CHARS and squeezed in flat:
            found.append(f"quotes a changed line: {line!r}")
    numbers = patch_line_numbers(patch)
    for pattern in _LINE_NUMBER_REFS:
        for match in pattern.finditer(statement):
            if int(match[1]) in numbers:
                found.append(f"refers to changed line {match[1]}: {match[0]!r}")
    return found


# --- choosing who writes -----------------------------------------------------------------------


class StatementWriter(Protocol):
    """Writes a statement from a prompt (``synth.lm`` has one that calls an HTTP endpoint)."""

    def write(self, prompt: str) -> str: ...


@dataclass(frozen=True)
class Written:
    text: str
    style: Style
    writer: str  # "template" or "lm"
    rejected: tuple[str, ...] = ()  # why earlier attempts were not used


def write_statement(
    item: StatementInput, *, style: Style, writer: StatementWriter | None = None
) -> Written:
    """The first attempt that passes the leak check: the LM (if any) in ``style``, the template
    in ``style``, then the plain report without messages' context, then test ids alone."""
    rejected: list[str] = []
    if writer is not None:
        try:
            text = writer.write(build_prompt(item, style))
        except Exception as exc:  # a flaky endpoint must not cost the task its statement
            rejected.append(f"lm: {type(exc).__name__}: {exc}")
        else:
            problems = leaks(text, item.patch) if text.strip() else ["empty"]
            if not problems:
                return Written(text.strip() + "\n", style, "lm")
            rejected.append(f"lm: {problems[0]}")
    attempts = [
        (style, item.reproductions, item.hint),
        (Style.REPORT, {}, ""),
    ]
    for attempt_style, reproductions, hint in attempts:
        text = render_statement(
            item.repo,
            item.failing,
            item.patch,
            style=attempt_style,
            reproductions=reproductions,
            hint=hint,
            passed=item.passed,
        )
        problems = leaks(text, item.patch)
        if not problems:
            return Written(text, attempt_style, "template", tuple(rejected))
        rejected.append(f"{attempt_style.value}: {problems[0]}")
    bare = [r.model_copy(update={"message": ""}) for r in item.failing]
    text = render_statement(item.repo, bare, item.patch)
    return Written(text, Style.REPORT, "template", tuple(rejected))


def build_prompt(item: StatementInput, style: Style) -> str:
    """What the LM writer is asked: the symptoms only, already scrubbed, and how to write."""
    leaks_ = changed_lines(item.patch)
    lines = [
        f"Write a GitHub issue for the Python project `{item.repo}` as a user who hit a bug.",
        f"Style: {_STYLE_GUIDE[style]}",
        "Describe the symptom and the expected behaviour. Do not guess where the bug is, do not",
        "name source files or line numbers, do not propose a fix, and do not quote library code.",
        "Reply with the issue text only, in Markdown.",
        "",
        "Failing tests and their errors:",
    ]
    for result in item.failing[:5]:
        message = scrub_message(result.message, leaks_)
        lines.append(f"- {result.test_id}: {message or '(no message)'}")
    first = item.failing[0].test_id
    code = item.reproductions.get(first, "")
    if code and not _quotes_any(code, leaks_):
        lines += ["", f"Source of {first}:", code]
    if hint := scrub_hint(item.hint, leaks_):
        lines += ["", "A maintainer described the problem as:", hint]
    return "\n".join(lines) + "\n"


_STYLE_GUIDE = {
    Style.REPORT: "a plain report listing what fails and how.",
    Style.TERSE: "terse, three or four sentences, like a busy developer.",
    Style.STORY: "a user story: what you were doing, a minimal reproduction, expected vs actual.",
    Style.CI: "a CI failure report quoting a short pytest log excerpt.",
}


# --- reproductions from the failing tests ------------------------------------------------------


def reproduction(test_source: str, test_id: str) -> str:
    """The source of the test function ``test_id`` names in ``test_source`` ("" if not found).

    ``tests/test_x.py::TestY::test_z[param]`` finds ``test_z`` inside class ``TestY``.
    """
    parts = test_id.split("::")[1:]
    if not parts:
        return ""
    *classes, function = parts
    function = function.split("[", 1)[0]
    try:
        tree = ast.parse(test_source)
    except (SyntaxError, ValueError):
        return ""
    scope: Sequence[ast.stmt] = tree.body
    for name in classes:
        found = next((n for n in scope if isinstance(n, ast.ClassDef) and n.name == name), None)
        if found is None:
            return ""
        scope = found.body
    for node in scope:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == function:
            # The segment's first line starts at `def`; the others keep the file's indentation.
            segment = " " * node.col_offset + (ast.get_source_segment(test_source, node) or "")
            lines = textwrap.dedent(segment).splitlines()
            if len(lines) > _MAX_REPRODUCTION_LINES:
                lines = [*lines[:_MAX_REPRODUCTION_LINES], "    ..."]
            return "\n".join(lines).replace("```", "'''")
    return ""

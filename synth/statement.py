"""Problem statements: what a user would file as an issue, knowing only which tests fail.

The statement must not hand the solver the answer, so it never carries the patch, any source line
the patch adds or removes, or a file-and-line reference (``foo.py:12``, ``line 12``) that would
point at the mutated spot. Failure messages are scrubbed line by line before rendering. Test ids
are shown as they are: the tests are part of the repository the solver gets anyway.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import jinja2

from synth.records import TestResult

_TEMPLATE = ("templates", "statement.md.j2")
_MIN_LEAK_CHARS = 4  # shorter changed lines (`x`, `)`) also occur in innocent text
_MAX_MESSAGE_CHARS = 400

# Removed outright, file name included: a location is a pointer to the bug, not a symptom.
_LINE_REFS = (
    re.compile(r"""\bFile\s+["'][^"']*["'],\s*line\s+\d+(?:,\s*in\s+\S+)?""", re.IGNORECASE),
    re.compile(r"""["']?[\w./\\<>-]*\.pyx?["']?(?::\d+)+:?"""),  # pkg/x.py:12: and x.py:12:5
    re.compile(r"[,:]?\s*\bline\s+\d+\b", re.IGNORECASE),  # (x.py, line 3) and "at line 3"
)
# A message that quotes a diff (some tools print one) would hand over its headers and hunks.
_DIFF_SYNTAX = re.compile(r"^\s*(?:diff --git |--- |\+\+\+ |@@ -\d)")


@dataclass(frozen=True)
class _ShownTest:
    test_id: str
    message: str


def changed_lines(patch: str) -> frozenset[str]:
    """The stripped lines a unified diff adds or removes, as far as they could identify it."""
    out: set[str] = set()
    in_hunk = False
    for line in patch.split("\n"):  # not splitlines(): \x0c inside a line is no line break
        if line.startswith("diff --git "):
            in_hunk = False
        elif line.startswith("@@"):
            in_hunk = True
        elif in_hunk and line[:1] in {"+", "-"}:
            text = line[1:].strip()  # also drops a CRLF file's "\r"
            if len(text) >= _MIN_LEAK_CHARS:
                out.add(text)
    return frozenset(out)


def scrub_message(message: str, leaks: frozenset[str]) -> str:
    """``message`` without lines quoting changed code and without file/line references."""
    kept = [
        line
        for line in message.splitlines()
        if not _DIFF_SYNTAX.match(line) and not any(leak in line for leak in leaks)
    ]
    text = " ".join(kept)
    for pattern in _LINE_REFS:
        text = pattern.sub("", text)
    text = " ".join(text.split())
    if len(text) > _MAX_MESSAGE_CHARS:
        text = text[: _MAX_MESSAGE_CHARS - 3].rstrip() + "..."
    return text.replace("```", "'''")  # would close the code fence it is rendered in


@cache
def _template() -> jinja2.Template:
    resource = files("synth").joinpath(*_TEMPLATE)
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # markdown, not HTML
    )
    return env.from_string(resource.read_text(encoding="utf-8"))


def render_statement(
    repo: str, failing: Sequence[TestResult], patch: str, *, max_tests: int = 5
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
    hidden = len(tests) - len(shown)
    return _template().render(repo=repo, tests=shown, total=len(tests), hidden=hidden)

"""Generation, screening and sanitising read a diff alike: over many realistic patches, the lines
mutation targeting derives for each file, the lines screening looks up in the coverage map, and
what the sanitiser keeps and reads back name the same files and the same original lines — and
those are the lines difflib's own alignment of the two texts says changed.

A disagreement is a real defect: a bug screened by tests that never run its lines is rejected
as "not caught", and one that the sanitiser splits differently from git can hide a test edit.

Patches are made the way the factory meets them: real source files (the bundled sample and this
repository) edited at random lines — replaced, inserted, deleted; several hunks and several
files; with and without a final newline; CRLF files; lines that read like diff headers or hold
a form feed — or changed by the mutation operators, and rendered by difflib with 0 to 5 lines
of context (3, as ``make_patch`` writes it, most often). Seeded: a failure names its seed.
"""

from __future__ import annotations

import difflib
import random
from functools import cache
from pathlib import Path

import pytest

from synth.mutate import generate_candidates, make_patch, split_lines
from synth.patches import apply_file_diff, parse_patch, split_blocks, touched_lines
from synth.targeting import changed_old_lines
from synth.verifiers.sanitize import sanitize
from synth.verifiers.screening import changed_lines, is_test_path, patched_files

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = "data/samples/ledger"
CORPUS: dict[str, str] = {
    path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
    for folder in (SAMPLE, "synth", "verifiers")
    for path in sorted((ROOT / folder).rglob("*.py"))
}
SAMPLE_SOURCES = sorted(p for p in CORPUS if p.startswith(SAMPLE) and not is_test_path(p))
TOP_LEVEL = frozenset(path.split("/", 1)[0] for path in CORPUS)
# Lines a file may really hold that a careless reader takes for diff syntax or a line break.
TRICKY = (
    "-- accounts hold money\n",  # SQL in a string: removed, it reads "--- accounts ..."
    "--- a/pkg/other.py\n",
    "++ counter\n",
    "+++ b/pkg/other.py\n",
    "@@ -1,2 +1,2 @@\n",
    "diff --git a/tests/test_x.py b/tests/test_x.py\n",
    "\\ No newline at end of file\n",
    "\x0c\n",  # a page break, as older modules have
    "x = 1  # \x0c form feed inside a line\n",
    "s = 'line\u2028separator'\n",
    "\n",
    "    \n",
)
LINES = [line for text in CORPUS.values() for line in split_lines(text) if line.endswith("\n")]


def render(path: str, before: str, after: str, context: int) -> str:
    """A git-style diff of one file: ``make_patch`` itself for its 3 lines of context."""
    if context == 3:
        return make_patch(path, before, after)
    out = [f"diff --git a/{path} b/{path}\n"]
    diff = difflib.unified_diff(
        split_lines(before), split_lines(after), f"a/{path}", f"b/{path}", n=context
    )
    out += [line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
            for line in diff]
    return "".join(out)


def expected_lines(before: str, after: str) -> set[int]:
    """The touched-lines rule read off difflib's alignment instead of the diff text: replaced
    and removed lines, and for a pure insertion the original lines on both sides of it."""
    lines: set[int] = set()
    matcher = difflib.SequenceMatcher(None, split_lines(before), split_lines(after))
    for tag, i1, i2, _, _ in matcher.get_opcodes():
        if tag in ("replace", "delete"):
            lines.update(range(i1 + 1, i2 + 1))
        elif tag == "insert":
            lines.update({max(i1, 1), i1 + 1})
    return lines


def random_edit(rng: random.Random, text: str) -> str:
    lines = split_lines(text)
    for _ in range(rng.randint(1, 4)):  # far apart, separate hunks; close, one
        kind = rng.choice(("replace", "insert", "delete"))
        at = rng.randint(0, len(lines)) if kind == "insert" else rng.randrange(max(len(lines), 1))
        pool = TRICKY if rng.random() < 0.2 else LINES
        new = [rng.choice(pool) for _ in range(rng.randint(1, 3))]
        span = rng.randint(1, 3)
        if kind == "insert":
            lines[at:at] = new
        elif kind == "delete":
            del lines[at : at + span]
        else:
            lines[at : at + span] = new
    after = "".join(lines)
    if rng.random() < 0.15:  # add or remove the final newline
        after = after[:-1] if after.endswith("\n") else after + "\n"
    return after


@cache
def mutations() -> dict[str, list[str]]:
    """Source path → the texts the mutation operators make of it: the factory's own
    candidates for the bundled sample, every operator represented."""
    sources = {path: CORPUS[path] for path in SAMPLE_SOURCES}
    out: dict[str, list[str]] = {}
    for cand in generate_candidates("s", sources, max_candidates=120, seed=0):
        (diff,) = parse_patch(cand.patch)
        out.setdefault(cand.target_file, []).append(apply_file_diff(CORPUS[diff.path], diff))
    return out


def before_text(rng: random.Random, path: str) -> str:
    text = CORPUS[path]
    roll = rng.random()
    if roll < 0.15:
        return text.rstrip("\n")  # no final newline
    if roll < 0.25:
        return text.replace("\n", "\r\n")  # a CRLF file
    return text


def generated(seed: int) -> list[tuple[str, str, str, str]]:
    """(path, before, after, one-file patch) for one to three files."""
    rng = random.Random(seed)
    out = []
    for path in rng.sample(sorted(CORPUS), rng.randint(1, 3)):
        if path in mutations() and rng.random() < 0.3:
            before = CORPUS[path]
            after = rng.choice(mutations()[path])
        else:
            before = after = before_text(rng, path)
            while after == before:  # an edit may put back what it took out
                after = random_edit(rng, before)
        context = rng.choice((0, 1, 2, 3, 3, 3, 5))
        out.append((path, before, after, render(path, before, after, context)))
    return out


@pytest.mark.parametrize("seed", range(200))
def test_generation_screening_and_sanitising_agree_on_touched_lines(seed: int) -> None:
    files = generated(seed)
    patch = "".join(one for _, _, _, one in files)
    truth = {path: expected_lines(before, after) for path, before, after, _ in files}

    generation = {path: changed_old_lines(one) for path, _, _, one in files}
    screening = changed_lines(patch)
    assert generation == truth, "targeting reads a one-file patch differently from difflib"
    assert screening == truth, "screening reads the combined patch differently from difflib"
    assert patched_files(patch) == sorted(truth)

    blocks = split_blocks(patch)
    assert "".join(b.text for b in blocks) == patch, "a block lost or gained text"
    assert [b.paths for b in blocks] == [(path,) for path, _, _, _ in files]
    assert [touched_lines(b.text) for b in blocks] == [{p: truth[p]} for p, _, _, _ in files]

    kept = sanitize(patch, test_paths=("tests",), top_level=TOP_LEVEL)
    tests = [path for path, _, _, _ in files if is_test_path(path)]
    assert list(kept.dropped) == tests
    assert touched_lines(kept.patch) == {p: n for p, n in truth.items() if p not in tests}


def test_every_mutation_candidate_is_read_alike() -> None:
    """The patches the factory really makes, one per site drawn, every operator among them."""
    for path, afters in sorted(mutations().items()):
        before = CORPUS[path]
        for after in afters:
            patch = make_patch(path, before, after)
            truth = expected_lines(before, after)
            assert changed_old_lines(patch) == truth, patch
            assert changed_lines(patch) == {path: truth}, patch
            assert touched_lines(sanitize(patch).patch) == {path: truth}, patch
    assert sum(map(len, mutations().values())) >= 100  # not vacuous: the sample has sites


# --- what the property found in the readers this module replaced ------------------------------


def test_a_form_feed_inside_a_line_is_no_line_break() -> None:
    """Screening split lines with str.splitlines(), which breaks at \\f and \\u2028: every
    line after one was counted one too far, and the wrong tests screened the bug."""
    before = "a = 1\n\x0c\ns = 'x\u2028y'\nb = 2\nc = 3\n"
    after = before.replace("c = 3", "c = 4")
    assert changed_lines(make_patch("m.py", before, after)) == {"m.py": {5}}
    assert expected_lines(before, after) == {5}


def test_a_form_feed_cannot_end_a_hunk_early_and_split_a_file_diff() -> None:
    """The sanitiser split lines the same way: a hunk read short leaves its last lines to be
    read as headers, here of a test file that does not exist, and the fix is dropped."""
    before = "s = '\x0c'\n-- a/tests/test_m.py\nt = 1\n"
    after = "s = '\x0c'\n++ b/tests/test_m.py\nt = 1\n"
    patch = make_patch("pkg/m.py", before, after)
    assert "\n--- a/tests/test_m.py\n+++ b/tests/test_m.py\n" in patch
    assert [b.paths for b in split_blocks(patch)] == [("pkg/m.py",)]
    assert patched_files(patch) == ["pkg/m.py"]
    assert sanitize(patch).patch == patch


def test_targeting_counts_a_removed_line_that_reads_like_a_file_header() -> None:
    before = 'SCHEMA = """\n-- accounts hold money\nCREATE TABLE accounts (c INTEGER);\n"""\n'
    patch = make_patch("pkg/schema.py", before, before.replace("-- accounts hold money\n", ""))
    assert changed_old_lines(patch) == {2}


def test_targeting_reads_each_zero_context_hunk_on_its_own() -> None:
    """An insertion right after a hunk that removed lines is still an insertion: its
    neighbours are touched, not skipped as part of a replacement."""
    before = "".join(f"v{n} = {n}\n" for n in range(1, 21))
    after = before.replace("v3 = 3\n", "").replace("v12 = 12\n", "v12 = 12\nextra = 0\n")
    patch = render("m.py", before, after, context=0)
    assert changed_old_lines(patch) == {3, 12, 13} == expected_lines(before, after)


def test_diff_syntax_in_prose_is_one_rule() -> None:
    """Scrubbing a message and checking a statement ask the same question of a line."""
    from synth.patches import is_diff_syntax, quotes_diff

    for line in ("diff --git a/x.py b/x.py", "  @@ -1,2 +1,2 @@", "--- a/x.py", "+++ b/x.py"):
        assert is_diff_syntax(line) and quotes_diff(f"see\n{line}\nthere")
    for line in ("--- expected", "+++ actual", "-- a comment", "@@ decorator"):
        assert not is_diff_syntax(line)


def test_a_probe_on_an_added_line_that_reads_like_a_header_is_seen() -> None:
    """An added line whose text starts with "++" is "+++..." in the diff: inside a hunk it is
    code, not a file header, and the probe check must read it."""
    from synth.verifiers.sanitize import probes

    block = ("diff --git a/src/pkg/mod.py b/src/pkg/mod.py\n--- a/src/pkg/mod.py\n"
             "+++ b/src/pkg/mod.py\n@@ -1,2 +1,3 @@\n def f(x):\n"
             "+++0 or __import__('sys').modules.pop('synth_report')\n     return x\n")
    assert probes(block)
    assert not probes(block.replace("sys').modules.pop('synth_report')", "math')"))

"""Diffs as data: reversing a bug diff gives the fix, and the prompt's buggy code is read
right, with or without the snapshot on disk."""

from __future__ import annotations

import pytest

from synth.mutate import make_patch
from synth.patches import (
    PatchError,
    apply_file_diff,
    enclosing_functions,
    parse_patch,
    reverse_patch,
    touched_new_lines,
)
from synth.trainer.dataset import buggy_code

CLEAN = "def f(x):\n    y = x + 1\n    return y\n\n\ndef g():\n    return 2\n"
BUGGY = "def f(x):\n    y = x - 1\n    z = 0\n    return y\n\n\ndef g():\n    return 2\n"


def apply(text: str, patch: str) -> str:
    (f,) = parse_patch(patch)
    return apply_file_diff(text, f)


def test_reversed_bug_patch_turns_buggy_code_back_into_clean_code() -> None:
    bug = make_patch("m.py", CLEAN, BUGGY)
    assert apply(CLEAN, bug) == BUGGY
    assert apply(BUGGY, reverse_patch(bug)) == CLEAN


def test_reverse_swaps_hunk_header_counts_and_signs() -> None:
    bug = make_patch("m.py", CLEAN, BUGGY)
    fix = reverse_patch(bug)
    assert "@@ -1,5 +1,6 @@" in bug and "@@ -1,6 +1,5 @@" in fix
    assert "-    y = x - 1\n-    z = 0\n+    y = x + 1\n" in fix
    assert reverse_patch(fix) == bug


def test_reverse_keeps_the_no_newline_marker_on_its_line() -> None:
    bug = make_patch("m.py", "a\nb", "a\nc")
    assert "\\ No newline at end of file" in bug
    assert apply("a\nc", reverse_patch(bug)) == "a\nb"
    assert reverse_patch(reverse_patch(bug)) == bug


def test_reverse_of_a_new_file_deletes_it() -> None:
    new_file = "diff --git a/n.py b/n.py\nnew file mode 100644\n--- /dev/null\n+++ b/n.py\n"
    new_file += "@@ -0,0 +1,2 @@\n+x = 1\n+y = 2\n"
    fix = reverse_patch(new_file)
    assert "deleted file mode 100644" in fix and "+++ /dev/null" in fix
    assert apply("x = 1\ny = 2\n", fix) == ""


def test_apply_refuses_a_patch_whose_context_does_not_match() -> None:
    with pytest.raises(PatchError, match="does not apply"):
        apply(CLEAN.replace("return y", "return 0"), make_patch("m.py", CLEAN, BUGGY))


def test_parse_rejects_text_without_a_diff() -> None:
    with pytest.raises(PatchError):
        parse_patch("just words\n")


def test_touched_lines_and_enclosing_functions() -> None:
    source = "@dec\ndef f():\n    return 1\n\n\nclass C:\n    def m(self):\n        pass\n"
    assert enclosing_functions(source, {3, 8}) == [
        "@dec\ndef f():\n    return 1",
        "    def m(self):\n        pass",
    ]
    assert enclosing_functions(source, {6}) == []  # the class line is in no function
    (f,) = parse_patch(make_patch("m.py", CLEAN, BUGGY))
    assert touched_new_lines(f) == {2, 3}


def test_buggy_code_shows_whole_touched_functions_from_the_snapshot() -> None:
    bug = make_patch("m.py", CLEAN, BUGGY)
    shown = buggy_code(bug, {"m.py": CLEAN}.get)
    assert shown == "# m.py\ndef f(x):\n    y = x - 1\n    z = 0\n    return y"


def test_buggy_code_falls_back_to_the_hunks_without_a_snapshot() -> None:
    bug = make_patch("m.py", CLEAN, BUGGY)
    for reader in (None, {}.get, {"m.py": "something else\n"}.get):
        shown = buggy_code(bug, reader)
        assert shown.startswith("# m.py\ndef f(x):\n    y = x - 1\n    z = 0\n")
        assert "x + 1" not in shown

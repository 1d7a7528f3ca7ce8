"""Screening and patch hygiene: a bug may never touch tests or test configuration, and the tests
picked to screen a bug are exactly those whose coverage reaches the original lines it changes.

Patches are real unified diffs: two versions of a file, diffed by ``synth.mutate.make_patch``.
"""

from __future__ import annotations

import difflib

import pytest

from synth.mutate import make_patch
from synth.records import CoverageMap, CoveredLines
from synth.verifiers.screening import (
    changed_defaults,
    changed_lines,
    covering_hits,
    is_test_path,
    patched_files,
    screen_order,
    touches_tests,
)
from synth.verifiers.screening import (
    tests_covering as covering,  # a bare `tests_*` name is collected
)

N = 30
# Line n of the original file reads "value_n = n": a line number is visible in the text.
ORIGINAL = "".join(f"value_{n} = {n}\n" for n in range(1, N + 1))


def _lines(text: str = ORIGINAL) -> list[str]:
    return text.splitlines(keepends=True)


def _replace(n: int, new: str, text: str = ORIGINAL) -> str:
    lines = _lines(text)
    lines[n - 1] = new
    return "".join(lines)


def _delete(first: int, last: int, text: str = ORIGINAL) -> str:
    lines = _lines(text)
    del lines[first - 1 : last]
    return "".join(lines)


def _insert_after(n: int, new: str, text: str = ORIGINAL) -> str:
    lines = _lines(text)
    lines[n:n] = [new]
    return "".join(lines)


def _changed(after: str, before: str = ORIGINAL, path: str = "pkg/mod.py") -> set[int]:
    lines = changed_lines(make_patch(path, before, after))
    assert set(lines) == {path}
    return lines[path]


def _existing(lines: set[int], before: str = ORIGINAL) -> set[int]:
    """The lines that exist in ``before``: an insertion at the end may also name the next one."""
    return {n for n in lines if 1 <= n <= len(_lines(before))}


def _between(got: set[int], must: set[int], may: set[int] | frozenset[int] = frozenset()) -> bool:
    """``got`` names every line of ``must`` and nothing outside ``must | may``.

    The new text of a modification is also read as inserted after the last line it replaces,
    so the original line following a modification may be named too: screening then selects a
    few tests more, never fewer.
    """
    return must <= got <= must | may


# --- touches_tests -------------------------------------------------------------------------

FLAGGED = [
    ("tests/test_money.py", ()),
    ("tests/helpers.py", ()),
    ("tests/__init__.py", ()),
    ("test/data.py", ()),
    ("testing/fixtures.py", ()),
    ("src/ledger/tests/util.py", ()),
    ("test_top.py", ()),
    ("ledger/test_inline.py", ()),
    ("ledger/money_test.py", ()),
    ("conftest.py", ()),
    ("src/ledger/conftest.py", ()),
    ("pytest.ini", ()),
    ("tox.ini", ()),
    ("setup.cfg", ()),
    ("pyproject.toml", ()),
    ("pytest_ledger.py", ()),
    ("src/ledger/pytest_plugin.py", ()),
    ("qa/tests/fixtures.py", ("tests", "qa/tests")),
    ("qa/tests/deep/data.py", ("qa/support/",)),
    ("ledger/tests/test_money.py", ("ledger",)),  # tests inside a package named by testpaths
    ("ledger/conftest.py", ("ledger",)),
]

CLEAN = [
    ("ledger/money.py", ()),
    ("src/ledger/money.py", ("tests",)),
    ("ledger/money.py", ("ledger",)),  # `testpaths = ledger` names the package itself
    ("ledger/money.py", ("ledger/",)),
    ("ledger/sub/money.py", ("ledger", "tests")),
    ("ledger/money.py", (".",)),
    ("ledger/testimony.py", ()),
    ("ledger/contest.py", ()),
    ("ledger/latest.py", ()),
    ("ledger/testing.py", ()),
    ("docs/testing.rst", ()),
    ("qa/supportive.py", ("qa/tests",)),  # a prefix counts only up to a path separator
]


@pytest.mark.parametrize(("path", "test_paths"), FLAGGED)
def test_a_patch_touching_tests_or_test_config_is_flagged(
    path: str, test_paths: tuple[str, ...]
) -> None:
    patch = make_patch(path, "x = 1\n", "x = 2\n")
    assert touches_tests(patch, test_paths) == [path]
    assert is_test_path(path, test_paths)


@pytest.mark.parametrize(("path", "test_paths"), CLEAN)
def test_a_patch_to_source_is_not_flagged(path: str, test_paths: tuple[str, ...]) -> None:
    patch = make_patch(path, "x = 1\n", "x = 2\n")
    assert touches_tests(patch, test_paths) == []
    assert not is_test_path(path, test_paths)


def test_touches_tests_names_only_the_offending_files() -> None:
    patch = (
        make_patch("ledger/money.py", "x = 1\n", "x = 2\n")
        + make_patch("tests/test_money.py", "y = 1\n", "y = 2\n")
        + make_patch("conftest.py", "z = 1\n", "z = 2\n")
    )
    assert touches_tests(patch) == ["conftest.py", "tests/test_money.py"]


def test_creating_deleting_or_renaming_a_test_file_is_flagged() -> None:
    created = (
        "diff --git a/tests/test_new.py b/tests/test_new.py\n"
        "new file mode 100644\n"
        "--- /dev/null\n"
        "+++ b/tests/test_new.py\n"
        "@@ -0,0 +1 @@\n"
        "+def test_x(): pass\n"
    )
    deleted = (
        "diff --git a/tests/test_old.py b/tests/test_old.py\n"
        "deleted file mode 100644\n"
        "--- a/tests/test_old.py\n"
        "+++ /dev/null\n"
        "@@ -1 +0,0 @@\n"
        "-def test_x(): pass\n"
    )
    renamed = (
        "diff --git a/tests/test_money.py b/ledger/checks.py\n"
        "similarity index 100%\n"
        "rename from tests/test_money.py\n"
        "rename to ledger/checks.py\n"
    )
    assert touches_tests(created) == ["tests/test_new.py"]
    assert touches_tests(deleted) == ["tests/test_old.py"]
    assert touches_tests(renamed) == ["tests/test_money.py"]
    assert patched_files(renamed) == ["ledger/checks.py", "tests/test_money.py"]


def test_patched_files_are_repo_relative_sorted_and_unique() -> None:
    patch = make_patch("pkg/z.py", ORIGINAL, _replace(3, "x = 0\n")) + make_patch(
        "pkg/a.py", ORIGINAL, _replace(4, "y = 0\n")
    )
    assert patched_files(patch) == ["pkg/a.py", "pkg/z.py"]


def test_a_top_level_directory_named_b_keeps_its_name() -> None:
    assert patched_files(make_patch("b/mod.py", ORIGINAL, _replace(3, "x = 0\n"))) == [
        "b/mod.py"
    ]


@pytest.mark.parametrize("path", [".pytest.ini", ".pytest.toml", "sub/.pytest.ini"])
def test_hidden_pytest_config_files_are_flagged(path: str) -> None:
    assert touches_tests(make_patch(path, "x = 1\n", "x = 2\n")) == [path]


def test_a_src_layout_package_named_by_testpaths_is_source() -> None:
    patch = make_patch("src/ledger/money.py", "x = 1\n", "x = 2\n")
    assert touches_tests(patch, ("src/ledger", "tests")) == []


# --- changed_lines -------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 12, N])
def test_a_modified_line_is_changed(n: int) -> None:
    changed = _changed(_replace(n, f"value_{n} = -{n}\n"))
    assert _between(_existing(changed), {n}, {n + 1})


def test_a_replaced_block_names_every_original_line_it_replaces() -> None:
    lines = _lines()
    after = "".join(lines[:11] + ["a = 1\n", "b = 2\n", "c = 3\n"] + lines[13:])
    assert _between(_changed(after), {12, 13}, {14})


@pytest.mark.parametrize(("first", "last"), [(12, 14), (1, 1), (1, 2), (N, N), (N - 2, N)])
def test_a_pure_deletion_names_the_deleted_original_lines(first: int, last: int) -> None:
    assert _changed(_delete(first, last)) == set(range(first, last + 1))


def test_an_insertion_at_the_top_names_the_first_line() -> None:
    assert _changed(_insert_after(0, "import os\n")) == {1}


@pytest.mark.parametrize("n", [1, 12, N - 1])
def test_an_insertion_in_the_middle_names_the_lines_around_it(n: int) -> None:
    """Inserted code runs exactly when the code around it does."""
    assert _changed(_insert_after(n, "extra = 0\n")) == {n, n + 1}
    assert _changed(_insert_after(n, "extra = 0\nmore = 1\n")) == {n, n + 1}


def test_an_insertion_at_the_end_names_the_last_line() -> None:
    assert _existing(_changed(_insert_after(N, "extra = 0\n"))) == {N}


def test_several_hunks_keep_their_own_line_numbers() -> None:
    # Edited by content, so each expectation reads as an original line number.
    after = ORIGINAL.replace("value_3 = 3\nvalue_4 = 4\n", "")
    after = after.replace("value_15 = 15\n", "value_15 = 15\nextra = 0\n")
    after = after.replace("value_25 = 25\n", "value_25 = 0\n")
    patch = make_patch("pkg/mod.py", ORIGINAL, after)
    assert patch.count("\n@@ ") == 3  # far enough apart to be separate hunks
    assert _between(changed_lines(patch)["pkg/mod.py"], {3, 4, 15, 16, 25}, {26})


def test_hunks_are_counted_per_file() -> None:
    other = "".join(f"other_{n} = {n}\n" for n in range(1, 11))
    patch = (
        make_patch("pkg/a.py", ORIGINAL, _replace(20, "value_20 = 0\n"))
        + make_patch("pkg/b.py", other, _insert_after(4, "extra = 0\n", other))
        + make_patch("pkg/c.py", other, _delete(10, 10, other))
    )
    lines = changed_lines(patch)
    assert set(lines) == {"pkg/a.py", "pkg/b.py", "pkg/c.py"}
    assert _between(lines["pkg/a.py"], {20}, {21})
    assert lines["pkg/b.py"] == {4, 5}
    assert lines["pkg/c.py"] == {10}


def test_a_file_without_a_final_newline() -> None:
    """The "\\ No newline at end of file" marker is not a line: it must not shift the count."""
    before = ORIGINAL.rstrip("\n")
    assert _existing(_changed(_replace(N, "value_30 = 0", before), before), before) == {N}
    assert _between(_changed(_replace(N - 2, "value_28 = 0\n", before), before), {N - 2},
                    {N - 1})
    assert _existing(_changed(before + "\nextra = 0", before), before) == {N}
    assert _changed(_delete(N, N, before), before) == {N}
    newline_added = _changed(_replace(N, "value_30 = 30\n", before), before)
    assert _existing(newline_added, before) == {N}
    two = changed_lines(
        make_patch("pkg/a.py", before, _delete(N - 1, N - 1, before))
        + make_patch("pkg/b.py", ORIGINAL, _delete(2, 2))
    )
    assert two == {"pkg/a.py": {N - 1}, "pkg/b.py": {2}}


def test_changed_lines_is_empty_for_an_empty_patch() -> None:
    assert changed_lines("") == {}
    assert changed_lines(make_patch("pkg/mod.py", ORIGINAL, ORIGINAL)) == {}


def test_a_zero_context_deletion_names_the_deleted_lines() -> None:
    diff = difflib.unified_diff(_lines(), _lines(_delete(12, 13)), "a/m.py", "b/m.py", n=0)
    assert changed_lines("".join(diff)) == {"m.py": {12, 13}}


def test_a_zero_context_insertion_names_the_lines_around_it() -> None:
    after = _insert_after(12, "extra = 0\nmore = 1\n")
    diff = "".join(difflib.unified_diff(_lines(), _lines(after), "a/m.py", "b/m.py", n=0))
    assert "@@ -12,0 +13,2 @@" in diff
    assert changed_lines(diff) == {"m.py": {12, 13}}


def test_a_removed_line_that_looks_like_a_file_header_is_still_a_removed_line() -> None:
    before = 'SCHEMA = """\n-- accounts hold money\nCREATE TABLE accounts (cents INTEGER);\n"""\n'
    after = before.replace("-- accounts hold money\n", "")
    assert changed_lines(make_patch("pkg/schema.py", before, after)) == {"pkg/schema.py": {2}}


# --- tests_covering ------------------------------------------------------------------------

COVERAGE = CoverageMap(
    env_id="env",
    entries=(
        CoveredLines(test_id="t::add", file="pkg/mod.py", lines=(10, 11, 12)),
        CoveredLines(test_id="t::add", file="pkg/util.py", lines=(3,)),
        CoveredLines(test_id="t::sub", file="pkg/mod.py", lines=(20, 21)),
        CoveredLines(test_id="t::fmt", file="pkg/util.py", lines=(10, 11)),
    ),
)


@pytest.mark.parametrize(("lines", "tests"), [
    ({"pkg/mod.py": {11}}, {"t::add"}),
    ({"pkg/mod.py": {12, 20}}, {"t::add", "t::sub"}),
    ({"pkg/mod.py": {13, 19}}, set()),  # between the covered ranges
    ({"pkg/other.py": {10}}, set()),  # same numbers, another file: the file matters
    ({"pkg/util.py": {3, 10}}, {"t::add", "t::fmt"}),
    ({"pkg/mod.py": set(), "pkg/util.py": {11}}, {"t::fmt"}),
    ({}, set()),
])
def test_tests_covering_are_those_that_executed_a_changed_line(
    lines: dict[str, set[int]], tests: set[str]
) -> None:
    assert covering(COVERAGE, lines) == tests


def test_tests_covering_keeps_only_the_tests_among_those_given() -> None:
    """Screening passes the baseline's passing tests: a flaky or failing one proves nothing."""
    lines = {"pkg/mod.py": {12, 20}, "pkg/util.py": {10}}
    assert covering(COVERAGE, lines, ["t::sub", "t::fmt", "t::gone"]) == {"t::sub", "t::fmt"}
    assert covering(COVERAGE, lines, frozenset({"t::add"})) == {"t::add"}
    assert covering(COVERAGE, lines, iter(["t::sub"])) == {"t::sub"}
    assert covering(COVERAGE, lines, []) == set()


def test_an_empty_coverage_map_covers_nothing() -> None:
    assert covering(CoverageMap(env_id="env", entries=()), {"pkg/mod.py": {1}}) == set()


def test_a_patch_is_screened_by_the_tests_covering_its_original_lines() -> None:
    """End to end on a diff: an insertion right after t::add's last line reaches t::add (the
    line before it ran); a change to line 21 reaches only t::sub."""
    after = _insert_after(12, "extra = 0\n", _replace(21, "value_21 = 0\n"))
    lines = changed_lines(make_patch("pkg/mod.py", ORIGINAL, after))
    assert _between(lines["pkg/mod.py"], {12, 13, 21}, {22})
    assert covering(COVERAGE, lines) == {"t::add", "t::sub"}
    assert covering(COVERAGE, lines, ["t::sub"]) == {"t::sub"}


# --- the order a screen runs its tests in -----------------------------------------------------

def test_covering_hits_count_the_changed_lines_each_test_ran() -> None:
    lines = {"pkg/mod.py": {10, 11, 20}, "pkg/util.py": {3, 10}}
    assert covering_hits(COVERAGE, lines) == {"t::add": 3, "t::sub": 1, "t::fmt": 1}
    assert covering_hits(COVERAGE, lines, ["t::sub"]) == {"t::sub": 1}
    assert set(covering_hits(COVERAGE, lines)) == covering(COVERAGE, lines)


def test_a_screen_runs_the_cheapest_likely_killer_first() -> None:
    hits = {"t::slow": 1, "t::fast": 1, "t::broad": 4, "t::new": 1}
    durations = {"t::slow": 0.5, "t::fast": 0.001, "t::broad": 0.01}
    # fast: 0.002/1, broad: 0.011/4 = 0.00275, new (no clean duration: pytest's own cost only):
    # 0.001/1, slow: 0.501/1.
    assert screen_order(hits, durations) == ("t::new", "t::fast", "t::broad", "t::slow")
    # More changed lines run make a test likelier to fail: it goes ahead of a faster one.
    assert screen_order({"a": 1, "b": 10}, {"a": 0.001, "b": 0.005})[0] == "b"


def test_a_screen_order_breaks_ties_by_node_id_whatever_the_input_order() -> None:
    hits = {f"t::{name}": 2 for name in "dcab"}
    assert screen_order(hits, {}) == ("t::a", "t::b", "t::c", "t::d")
    assert screen_order(dict(reversed(hits.items())), {}) == screen_order(hits, {})


# --- changed_defaults: a change of literal defaults, screened by the functions' bodies ---------

DEFAULTS_SRC = '''\
import os


class Filter:
    LIMIT = 3

    def __init__(self, width=79, *, name="sql"):
        self.width = width
        self.name = name


def helper(path=None, mode=os.sep):
    return path, mode
'''


@pytest.mark.parametrize(("old", "new", "spans"), [
    ("width=79", "width=80", [(8, 9)]),
    ('name="sql"', 'name="XXsqlXX"', [(8, 9)]),
    ("path=None", "path=''", [(13, 13)]),
])
def test_changed_literal_defaults_name_the_bodies_that_see_them(old, new, spans) -> None:
    assert changed_defaults(DEFAULTS_SRC, DEFAULTS_SRC.replace(old, new)) == spans


@pytest.mark.parametrize(("old", "new"), [
    ("mode=os.sep", "mode=os.pathsep"),  # not a literal: evaluated at import in its own way
    ("LIMIT = 3", "LIMIT = 4"),  # a class attribute: every test may see it
    ("self.width = width", "self.width = 0"),  # a body change: screened by its own lines
    ("width=79", "width=79, extra=1"),  # a new parameter changes the signature
    ("width=79", "width=80):\n        pass\n\n    def other(self"),  # and a new function
])
def test_any_other_change_is_not_a_change_of_defaults(old, new) -> None:
    assert changed_defaults(DEFAULTS_SRC, DEFAULTS_SRC.replace(old, new)) is None


def test_defaults_of_a_function_made_when_another_runs_are_part_of_its_body() -> None:
    src = "def outer():\n    def inner(x=1):\n        return x\n    return inner\n"
    assert changed_defaults(src, src.replace("x=1", "x=2")) is None
    assert changed_defaults(src, src) is None
    assert changed_defaults("def f(:\n", "def f():\n    pass\n") is None

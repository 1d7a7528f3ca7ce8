"""Invariants of bug injection across operators: sites only where bugs belong, reproducible
sampling balanced over operators, drops counted, targeting by coverage and complexity, and patches
that `git apply` accepts. Each operator's own mutations are pinned in test_operators.py."""

from __future__ import annotations

import difflib
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import libcst as cst
import pytest

from synth.mutate import (
    Drop,
    MutationSite,
    apply_site,
    find_sites,
    generate,
    generate_candidates,
    is_test_file,
    make_patch,
)
from synth.mutate import _apply as whole_file_apply
from synth.operators import REGISTRY, Scope
from synth.records import Candidate, Strategy
from synth.targeting import changed_old_lines

BODY_OPERATORS = [name for name, op in REGISTRY.items() if op.scope is Scope.BODY]

# One small source per original operator: together, a corpus with many kinds of sites.
SAMPLES: dict[str, str] = {
    "compare_flip": (
        "def clamp(value, low, high):\n"
        "    if value<low:  # tight on purpose\n"
        "        return low\n"
        "    return value if value not in (high,) else high\n"
    ),
    "arith_swap": (
        "def total(prices, tax):\n"
        "    amount = sum(prices) * (1 + tax)\n"
        "    amount -= 1\n"
        "    return amount / 2 % 7 // 1\n"
    ),
    "const_off_by_one": "def window(items):\n    return items[1:0x10]\n",
    "negate_condition": (
        "def pick(a, b):\n"
        "    while a > b:\n"
        "        a -= b\n"
        "    if(a):\n"
        "        return a\n"
        "    elif not b:\n"
        "        return 0\n"
        "    return a if a else b\n"
    ),
    "remove_statement": (
        "def build(rows):\n"
        '    """Collect first columns."""\n'
        "    out = []\n"
        "    # keep only the first column\n"
        "    out.extend(r[0] for r in rows)\n"
        "    out.sort()\n"
        "    return out\n"
    ),
    "swap_if_else": (
        "def sign(x):\n"
        "    if x >= 0:  # non-negative\n"
        "        result = 1\n"
        "    else:\n"
        "        result = -1\n"
        "    return result\n"
    ),
    "bool_op_swap": "def both(a, b):\n    return a and(b) or not a\n",
    "return_value": "def is_odd(n):\n    if n % 2:\n        return True\n    return n\n",
    "break_continue": (
        "def first_even(xs):\n"
        "    for x in xs:\n"
        "        if x % 2: continue\n"
        "        break\n"
        "    return x\n"
    ),
    "min_max_swap": "def bounds(xs):\n    return min(xs), max(xs)\n",
}
SAMPLE_FUNCTIONS = {source.split("(")[0].removeprefix("def ") for source in SAMPLES.values()}
CORPUS = "\n\n".join(SAMPLES.values())

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git executable")


def _changed_before_lines(before: str, after: str) -> set[int]:
    """1-based numbers of the lines of `before` that differ in `after` (or sit at an insertion)."""
    matcher = difflib.SequenceMatcher(a=before.splitlines(), b=after.splitlines(), autojunk=False)
    changed: set[int] = set()
    for tag, i1, i2, _, _ in matcher.get_opcodes():
        if tag != "equal":
            changed.update(range(i1 + 1, max(i2, i1 + 1) + 1))
    return changed


def _git_apply(repo: Path, patch: str, *flags: str) -> None:
    patch_file = repo.parent / "bug.diff"
    patch_file.write_bytes(patch.encode())
    for check in (["--check"], []):
        subprocess.run(
            ["git", "apply", *check, *flags, str(patch_file)],
            cwd=repo,
            check=True,
            capture_output=True,
        )


def _apply_and_revert(tmp_path: Path, rel_path: str, before: str, after: str) -> None:
    repo = tmp_path / "repo"
    repo.mkdir(exist_ok=True)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    target = repo / rel_path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(before.encode())
    patch = make_patch(rel_path, before, after)
    _git_apply(repo, patch)
    assert target.read_bytes().decode() == after
    _git_apply(repo, patch, "-R")
    assert target.read_bytes().decode() == before


@needs_git
def test_patch_marks_a_missing_trailing_newline(tmp_path: Path) -> None:
    before = "def f():\n    return 1"
    after = apply_site(before, find_sites(before, "m.py", ["const_off_by_one"])[0])
    assert after == "def f():\n    return 2"
    patch = make_patch("m.py", before, after)
    assert patch.count("\\ No newline at end of file\n") == 2
    _apply_and_revert(tmp_path, "m.py", before, after)


@needs_git
def test_patch_does_not_split_lines_on_form_feeds_or_crlf(tmp_path: Path) -> None:
    # str.splitlines() would split "\x0c" and "\r" too and produce a diff git rejects.
    before = "def f(x):\r\n    \x0c# page\r\n    return x < 1\r\n"
    after = apply_site(before, find_sites(before, "m.py", ["compare_flip"])[0])
    assert after == before.replace("<", ">=")
    _apply_and_revert(tmp_path, "m.py", before, after)


def test_patch_has_git_headers_and_is_empty_without_change() -> None:
    patch = make_patch("pkg/mod.py", "x = 1\n", "x = 2\n")
    assert patch == (
        "diff --git a/pkg/mod.py b/pkg/mod.py\n"
        "--- a/pkg/mod.py\n"
        "+++ b/pkg/mod.py\n"
        "@@ -1 +1 @@\n"
        "-x = 1\n"
        "+x = 2\n"
    )
    assert make_patch("pkg/mod.py", "x = 1\n", "x = 1\n") == ""


def test_nothing_outside_function_bodies_is_mutated() -> None:
    source = (
        '"""Module docstring: a < b and 1 + 2."""\n'  # 1
        "import functools\n"  # 2
        "LIMIT = 3 + 4 if True else 5\n"  # 3
        "FLAGS = [x for x in range(10) if x > 2 and x < 8]\n"  # 4
        "CHOICE = min(1, 2)\n"  # 5
        "class Config:\n"  # 6
        '    """Class docstring: x - 1."""\n'  # 7
        "    size: int = 10 - 1\n"  # 8
        "    ratio = 0.5 if LIMIT > 2 else 1 / 3\n"  # 9
        "    @functools.lru_cache(maxsize=128 * 2)\n"  # 10
        "    def scaled(self, factor: int = 2 + 1, *, on: bool = 1 > 0) -> 'list[int]':\n"  # 11
        "        return [self.size * factor]\n"  # 12
        "def helper(n: 'int' = 4 - 1, m=min(1, 2), k=lambda y=1: y > 0) -> 1 + 1:\n"  # 13
        "    if n > 1:\n"  # 14
        "        n -= 1\n"  # 15
        "    return n\n"  # 16
    )
    sites = find_sites(source, "pkg/mod.py", BODY_OPERATORS)
    assert {site.entity for site in sites} == {"Config.scaled", "helper"}
    for site in sites:
        assert _changed_before_lines(source, apply_site(source, site)) <= {12, 14, 15, 16}, site
    module_only = source.split("class Config")[0]
    assert find_sites(module_only, "pkg/mod.py") == []
    # Definition operators change how `scaled` and `helper` are defined, and nothing else.
    for site in find_sites(source, "pkg/mod.py", ["remove_decorator", "change_default"]):
        assert _changed_before_lines(source, apply_site(source, site)) <= {10, 11, 13}, site


def test_docstrings_are_never_touched() -> None:
    source = (
        "def f(a, b):\n"
        '    """Return a + 1 if a < b and b > 0 else max(a, b)."""\n'
        "    c = a + 1\n"
        "    if c < b and b > 0:\n"
        "        return c\n"
        "    return max(a, b)\n"
    )
    docstring = source.splitlines(keepends=True)[1]
    sites = find_sites(source, "pkg/mod.py")
    assert {site.operator for site in sites} >= {"remove_statement", "compare_flip"}
    for site in sites:
        assert docstring in apply_site(source, site), site


def test_remove_statement_never_empties_a_body_nor_drops_returns_or_pass() -> None:
    source = (
        "def f(xs):\n"
        "    for x in xs:\n"
        "        print(x)\n"
        "    if xs:\n"
        "        pass\n"
        "        import os\n"
        "    return len(xs)\n"
    )
    sites = find_sites(source, "pkg/mod.py", ["remove_statement"])
    assert [site.description for site in sites] == []


def test_remove_statement_keeps_the_comments_of_the_removed_line() -> None:
    source = SAMPLES["remove_statement"]
    for site in find_sites(source, "pkg/mod.py", ["remove_statement"]):
        after = apply_site(source, site)
        assert "# keep only the first column" in after
        assert len(after.splitlines()) == len(source.splitlines()) - 1


def test_sites_name_their_qualified_entity() -> None:
    source = (
        "class Money:\n"
        "    def allocate(self, n):\n"
        "        return n + 1\n"
        "def parse_line(line):\n"
        "    def inner():\n"
        "        return line - 1\n"
        "    return inner() * 2\n"
    )
    entities = {site.entity for site in find_sites(source, "pkg/mod.py", ["arith_swap"])}
    assert entities == {"Money.allocate", "parse_line", "parse_line.inner"}


def test_find_sites_is_deterministic_and_apply_site_rejects_foreign_sites() -> None:
    assert find_sites(CORPUS, "pkg/mod.py") == find_sites(CORPUS, "pkg/mod.py")
    bogus = MutationSite("compare_flip", "pkg/mod.py", "clamp", 99, "`<` -> `>=`")
    with pytest.raises(ValueError, match="no compare_flip site #99"):
        apply_site(CORPUS, bogus)


def test_unknown_operator_is_an_error_that_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="compare_flip"):
        find_sites(CORPUS, "pkg/mod.py", ["flip_everything"])


@pytest.mark.parametrize(
    ("rel_path", "expected"),
    [
        ("tests/test_core.py", True),
        ("pkg/tests/helpers.py", True),
        ("test/data.py", True),
        ("pkg/test_core.py", True),
        ("pkg/core_test.py", True),
        ("conftest.py", True),
        ("pkg/core.py", False),
        ("pkg/testing_utils.py", False),
        ("src/contest.py", False),
    ],
)
def test_is_test_file(rel_path: str, expected: bool) -> None:
    assert is_test_file(rel_path) is expected


def _two_copies() -> dict[str, str]:
    return {"pkg/a.py": CORPUS, "pkg/b.py": CORPUS}


def test_candidates_are_identical_for_the_same_seed() -> None:
    first = generate_candidates("snap", _two_copies(), max_candidates=12, seed=7)
    second = generate_candidates("snap", _two_copies(), max_candidates=12, seed=7)
    assert first == second
    assert len(first) == 12


def test_different_seeds_sample_different_candidates() -> None:
    samples = {
        tuple(generate_candidates("snap", _two_copies(), max_candidates=5, seed=seed))
        for seed in range(6)
    }
    assert len(samples) > 1


def test_sample_is_balanced_across_operators() -> None:
    candidates = generate_candidates(
        "snap", _two_copies(), max_candidates=2 * len(SAMPLES), seed=3, operators=list(SAMPLES)
    )
    assert Counter(c.operator for c in candidates) == dict.fromkeys(SAMPLES, 2)


def test_candidate_records_are_consistent() -> None:
    candidates = generate_candidates("snap", _two_copies(), max_candidates=40, seed=1)
    assert len({c.patch for c in candidates}) == len(candidates)
    for c in candidates:
        assert c.strategy is Strategy.PROCEDURAL
        assert c.candidate_id == Candidate.make_id("snap", c.patch)
        assert (c.snapshot_id, c.seed) == ("snap", 1)
        assert c.target_file in {"pkg/a.py", "pkg/b.py"}
        assert c.patch.startswith(f"diff --git a/{c.target_file} b/{c.target_file}\n")
        assert len(c.target_entities) == 1 and c.fix_commit is None
        assert c.target_entities[0].split(".")[0] in SAMPLE_FUNCTIONS


def test_identical_patches_are_deduplicated() -> None:
    source = "def f(xs):\n    xs.append(1)\n    xs.append(1)\n"
    assert len(find_sites(source, "m.py", ["remove_statement"])) == 2
    candidates = generate_candidates(
        "snap", {"m.py": source}, max_candidates=10, seed=0, operators=["remove_statement"]
    )
    assert len(candidates) == 1


def test_no_op_mutations_are_skipped() -> None:
    source = "def f(c):\n    if c:\n        x = 1\n    else:\n        x = 1\n    return x\n"
    assert find_sites(source, "m.py", ["swap_if_else"])
    assert (
        generate_candidates(
            "s", {"m.py": source}, max_candidates=5, seed=0, operators=["swap_if_else"]
        )
        == []
    )


def test_files_that_do_not_compile_yield_no_candidates() -> None:
    # libcst parses it, CPython rejects it: no mutation of it can compile either.
    source = "def f(x):\n    return x < 1\nreturn 5\n"
    assert find_sites(source, "m.py")
    assert generate_candidates("s", {"m.py": source}, max_candidates=5, seed=0) == []


def test_unparseable_and_test_files_are_skipped_not_fatal() -> None:
    files = {
        "pkg/broken.py": "def f(:\n    return 1 +\n",
        "tests/test_mod.py": CORPUS,
        "pkg/conftest.py": CORPUS,
        "pkg/data.txt": CORPUS,
        "pkg/mod.py": SAMPLES["compare_flip"],
    }
    candidates = generate_candidates("s", files, max_candidates=50, seed=0)
    assert candidates
    assert {c.target_file for c in candidates} == {"pkg/mod.py"}


def test_files_too_deep_for_libcst_are_skipped_not_fatal() -> None:
    # Regression: the stdlib's pydoc_data/topics.py parses but overflows libcst's recursive walk.
    deep = "TABLE = (\n" + "".join(f"    'row{i}'\n" for i in range(3000)) + ")\n"
    files = {"pkg/table.py": deep + SAMPLES["min_max_swap"], "pkg/mod.py": SAMPLES["min_max_swap"]}
    candidates = generate_candidates("s", files, max_candidates=50, seed=0)
    assert {c.target_file for c in candidates} == {"pkg/mod.py"}


def test_generated_patches_are_exactly_those_of_apply_site() -> None:
    # generate_candidates walks only the function that holds a site; it must agree with the
    # whole-file walk of apply_site, across classes, nested functions and module-level code.
    source = CORPUS + (
        "\n\nclass Box:\n"
        "    SIZE = 1 + 2\n"
        "    def grow(self, n):\n"
        "        def step(k):\n"
        "            return k * 2 if k > 0 else -k\n"
        "        return [step(i) for i in range(n) if i != 3]\n"
        "if True:\n"
        "    def late(x):\n"
        "        return x < 1 or x > 9\n"
    )
    module = cst.parse_module(source)  # apply_site's whole-file walk, without a parse per site
    expected = {
        make_patch("pkg/mod.py", source, whole_file_apply(module, site))
        for site in find_sites(source, "pkg/mod.py")
    }
    expected.discard("")
    candidates = generate_candidates("s", {"pkg/mod.py": source}, max_candidates=10_000, seed=0)
    assert {c.patch for c in candidates} == expected


def test_return_value_leaves_a_generators_return_alone() -> None:
    source = (
        "def gen(xs):\n"
        "    for x in xs:\n"
        "        yield x\n"
        "    return len(xs)\n"
        "def outer(xs):\n"
        "    def inner():\n"
        "        yield 1\n"
        "    return list(inner())\n"
    )
    sites = find_sites(source, "m.py", ["return_value"])
    assert [(site.entity, site.description) for site in sites] == [
        ("outer", "return value -> None")
    ]


def test_operator_and_entity_filters_restrict_the_sample() -> None:
    by_op = generate_candidates(
        "s", _two_copies(), max_candidates=50, seed=0, operators=["bool_op_swap"]
    )
    assert by_op and {c.operator for c in by_op} == {"bool_op_swap"}
    by_entity = generate_candidates(
        "s", _two_copies(), max_candidates=50, seed=0, entities={"sign"}
    )
    assert by_entity and {c.target_entities for c in by_entity} == {("sign",)}


def test_drops_are_counted_by_operator_and_reason() -> None:
    source = (
        "def twice(xs):\n"
        "    xs.append(1)\n"
        "    xs.append(1)\n"  # removing either line is the same patch: one is a duplicate
        "def same(c):\n"
        "    if c:\n"
        "        x = 1\n"
        "    else:\n"
        "        x = 1\n"  # swapping identical bodies changes no byte
        "    return x\n"
        "def outer():\n"
        "    x = 1\n"  # without it, `nonlocal x` has nothing to bind: CPython rejects the file
        "    y = 2\n"
        "    def inner():\n"
        "        nonlocal x\n"
        "        x = 2\n"
        "    return inner, y\n"
    )
    ops = ["remove_statement", "swap_if_else"]
    result = generate("s", {"m.py": source}, max_candidates=50, seed=0, operators=ops)
    assert result.dropped == {
        "remove_statement": {Drop.DUPLICATE.value: 1, Drop.UNPARSEABLE.value: 1},
        "swap_if_else": {Drop.IDENTICAL.value: 1},
    }
    assert result.tried == {"remove_statement": 5, "swap_if_else": 1}
    assert result.sites == result.tried  # max_candidates was not reached: every site was tried
    assert [c.operator for c in result.candidates] == ["remove_statement"] * 3
    kept = sum(result.tried.values()) - sum(n for d in result.dropped.values() for n in d.values())
    assert kept == len(result.candidates)


def test_unparseable_files_are_reported() -> None:
    files = {"pkg/broken.py": "def f(:\n", "pkg/mod.py": SAMPLES["compare_flip"]}
    assert generate("s", files, max_candidates=5, seed=0).skipped_files == ("pkg/broken.py",)


TARGETS = (
    "def covered(x):\n"  # 1
    "    y = x + 1\n"  # 2
    "    return y * 2\n"  # 3
    "def uncovered(x):\n"  # 4
    "    y = x + 1\n"  # 5
    "    return y * 2\n"  # 6
    "def one_liner(x):\n"  # 7
    '    """Docstrings do not count."""\n'  # 8
    "    return x + 1\n"  # 9
    "class Box(Base):\n"  # 10
    "    def size(self, n=1):\n"  # 11
    "        return n - 1\n"  # 12
    "    def __repr__(self):\n"  # 13
    "        return 'Box'\n"  # 14
)


def _entities(**kwargs: object) -> set[str]:
    result = generate("s", {"m.py": TARGETS}, max_candidates=500, seed=0, **kwargs)  # type: ignore[arg-type]
    return {name for c in result.candidates for name in c.target_entities}


def test_coverage_keeps_only_functions_whose_body_ran() -> None:
    everything = {"covered", "uncovered", "one_liner", "Box", "Box.size", "Box.__repr__"}
    assert _entities() == everything
    # Line 4 is `def uncovered`: it runs at import, which says nothing about the body.
    ran = {"m.py": frozenset({1, 2, 3, 4, 12})}
    assert _entities(covered=ran) == {"covered", "Box", "Box.size"}
    assert _entities(covered={"other.py": frozenset({1})}) == set()


def test_complexity_filter_leaves_out_one_liners_but_not_classes() -> None:
    assert _entities(min_statements=2) == {"covered", "uncovered", "Box"}


def test_coverage_and_complexity_compose() -> None:
    ran = {"m.py": frozenset({2, 5, 9, 12})}
    assert _entities(covered=ran, min_statements=2) == {"covered", "uncovered", "Box"}


def test_units_agree_with_whole_file_walks_for_class_level_sites() -> None:
    source = (
        "class Outer(Base):\n"
        "    class Inner(Base, Mixin):\n"
        "        @property\n"
        "        def a(self, k=2):\n"
        "            return k + 1\n"
        "        def __eq__(self, other):\n"
        "            return self.a == other.a\n"
        "    @staticmethod\n"
        "    def b(x=True):\n"
        "        return not x\n"
        "    def __len__(self):\n"
        "        return 3 - 1\n"
    )
    expected = {
        make_patch("m.py", source, apply_site(source, site)) for site in find_sites(source, "m.py")
    }
    expected.discard("")
    candidates = generate_candidates("s", {"m.py": source}, max_candidates=10_000, seed=0)
    assert {c.patch for c in candidates} == expected
    assert {c.operator for c in candidates} >= {
        "remove_decorator",
        "remove_base_class",
        "remove_method",
        "change_default",
    }


def test_definition_lines_widen_to_the_bodies_that_show_them_in_use() -> None:
    from synth.targeting import widen_to_bodies

    source = (
        "@cache\n"  # 1
        "def f(x,\n"  # 2
        "      k=2):\n"  # 3
        '    """Doc."""\n'  # 4
        "    return x * k\n"  # 5
        "class Box(Base):\n"  # 6
        "    size = 1\n"  # 7
        "    def get(self):\n"  # 8
        "        return self.size\n"  # 9
    )
    assert widen_to_bodies({"m.py": {1}}, {"m.py": source}) == {"m.py": {1, 5}}
    assert widen_to_bodies({"m.py": {3}}, {"m.py": source}) == {"m.py": {3, 5}}
    assert widen_to_bodies({"m.py": {6}}, {"m.py": source}) == {"m.py": {6, 9}}
    assert widen_to_bodies({"m.py": {5, 9}}, {"m.py": source}) == {"m.py": {5, 9}}  # bodies stay
    assert widen_to_bodies({"m.py": {1}}, {}) == {"m.py": {1}}


def test_mutations_of_lines_no_test_ran_are_dropped_as_uncovered() -> None:
    source = (
        "import functools\n"  # 1
        "@functools.cache\n"  # 2
        "def f(x, k=2):\n"  # 3
        "    if x > 0:\n"  # 4
        "        return x * k\n"  # 5
        "    return x - k\n"  # 6  never ran
    )
    ran = {"m.py": frozenset({4, 5})}
    result = generate("s", {"m.py": source}, max_candidates=100, seed=0, covered=ran)
    changed = {frozenset(changed_old_lines(c.patch)): c.operator for c in result.candidates}
    assert all(not lines & {6} or lines & {4, 5} for lines in changed)
    assert result.dropped["arith_swap"] == {"uncovered": 1}  # `x - k`; `x * k` stays
    # Definition-time lines count through the body they define, which ran.
    assert {"remove_decorator", "change_default"} <= set(changed.values())


def test_changed_old_lines_of_removals_replacements_and_insertions() -> None:
    before = "a = 1\nb = 2\nc = 3\nd = 4\n"
    assert changed_old_lines(make_patch("m.py", before, before.replace("b = 2\n", ""))) == {2}
    assert changed_old_lines(make_patch("m.py", before, before.replace("c = 3", "c = 4"))) == {3}
    inserted = before.replace("c = 3\n", "c = 3\nx = 0\n")
    assert changed_old_lines(make_patch("m.py", before, inserted)) == {3, 4}

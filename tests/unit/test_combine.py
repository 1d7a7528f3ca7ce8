"""Combined bugs: patches merged edit by edit on the original text, never colliding, always
compiling; parents drawn from one file or one module, reproducibly, and recorded."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from synth.combine import (
    OPERATOR,
    PatchError,
    Scope,
    apply_edits,
    combine_candidates,
    merge_patches,
    parse_patch,
)
from synth.mutate import apply_site, find_sites, generate_candidates, make_patch
from synth.records import Strategy

SOURCE = (
    "def area(w, h):\n"
    "    return w * h\n"
    "\n"
    "\n"
    "def perimeter(w, h):\n"
    "    return 2 * (w + h)\n"
    "\n"
    "\n"
    "def is_square(w, h):\n"
    "    if w == h:\n"
    "        return True\n"
    "    return False\n"
)
OTHER = "def scale(x, k):\n    return x * k\n"
FILES = {"pkg/shapes.py": SOURCE, "pkg/scale.py": OTHER, "other/far.py": OTHER}


def _patch(path: str, old: str, new: str) -> str:
    assert old in FILES[path]
    return make_patch(path, FILES[path], FILES[path].replace(old, new, 1))


AREA = _patch("pkg/shapes.py", "w * h", "w + h")
PERIM = _patch("pkg/shapes.py", "2 * (w + h)", "2 * (w - h)")
SQUARE = _patch("pkg/shapes.py", "        return True\n", "        return False\n")
SCALE = _patch("pkg/scale.py", "x * k", "x + k")


def test_parse_patch_finds_minimal_edits_at_their_original_lines() -> None:
    assert parse_patch(PERIM) == {
        "pkg/shapes.py": [
            _edit(5, ("    return 2 * (w + h)\n",), ("    return 2 * (w - h)\n",)),
        ]
    }


def _edit(start: int, removed: tuple[str, ...], added: tuple[str, ...]):
    from synth.combine import Edit

    return Edit(start, removed, added)


def test_merge_of_disjoint_patches_equals_applying_both() -> None:
    merged = merge_patches(FILES, [AREA, PERIM, SQUARE])
    expected = (
        SOURCE.replace("w * h", "w + h")
        .replace("2 * (w + h)", "2 * (w - h)")
        .replace("        return True\n", "        return False\n")
    )
    assert merged == make_patch("pkg/shapes.py", SOURCE, expected)


def test_merge_across_files_keeps_one_diff_per_file_in_path_order() -> None:
    merged = merge_patches(FILES, [AREA, SCALE])
    assert merged is not None
    assert [line for line in merged.splitlines() if line.startswith("diff --git")] == [
        "diff --git a/pkg/scale.py b/pkg/scale.py",
        "diff --git a/pkg/shapes.py b/pkg/shapes.py",
    ]


def test_colliding_or_stale_patches_do_not_merge() -> None:
    touching = _patch("pkg/shapes.py", "def area(w, h):", "def area(w, h, d=1):")  # next line
    assert merge_patches(FILES, [AREA, touching]) is None
    assert merge_patches(FILES, [AREA, AREA]) is None  # the same edit twice overlaps itself
    stale = make_patch("pkg/shapes.py", SOURCE.replace("w * h", "w*h"), SOURCE)
    assert merge_patches(FILES, [stale, PERIM]) is None
    assert merge_patches({"pkg/scale.py": OTHER}, [AREA, SCALE]) is None  # file unknown


def test_a_merge_that_does_not_compile_is_refused() -> None:
    a = _patch("pkg/shapes.py", "    if w == h:\n", "    if w == h:\n        pass\n")
    b = _patch("pkg/shapes.py", "    return False\n", "    return False)\n")
    assert merge_patches(FILES, [a]) is not None
    assert merge_patches(FILES, [a, b]) is None


def test_files_without_trailing_newline_merge() -> None:
    files = {"m.py": "def f(a, b):\n    x = a + 1\n\n\n\n    return x * b"}
    p1 = make_patch("m.py", files["m.py"], files["m.py"].replace("a + 1", "a - 1"))
    p2 = make_patch("m.py", files["m.py"], files["m.py"].replace("x * b", "x // b"))
    merged = merge_patches(files, [p1, p2])
    assert merged == make_patch(
        "m.py", files["m.py"], files["m.py"].replace("a + 1", "a - 1").replace("x * b", "x // b")
    )


def test_apply_edits_rejects_created_and_deleted_files() -> None:
    created = "diff --git a/n.py b/n.py\nnew file mode 100644\n--- /dev/null\n+++ b/n.py\n"
    with pytest.raises(PatchError, match="creates"):
        parse_patch(created + "@@ -0,0 +1 @@\n+x = 1\n")
    with pytest.raises(PatchError, match="collide"):
        edit = parse_patch(AREA)["pkg/shapes.py"][0]
        apply_edits(SOURCE, [edit, edit])


def _validated():
    return generate_candidates("snap", FILES, max_candidates=200, seed=0)


def test_combined_candidates_are_seeded_recorded_and_within_scope() -> None:
    validated = _validated()
    first = combine_candidates("snap", FILES, validated, seed=1, max_combined=8)
    assert first == combine_candidates("snap", FILES, validated, seed=1, max_combined=8)
    assert first != combine_candidates("snap", FILES, validated, seed=2, max_combined=8)
    assert len(first) == 8
    by_id = {c.candidate_id: c for c in validated}
    for cand in first:
        assert (cand.strategy, cand.operator, cand.seed) == (Strategy.COMBINE, OPERATOR, 1)
        assert 2 <= len(cand.parents) <= 4 and list(cand.parents) == sorted(cand.parents)
        parents = [by_id[p] for p in cand.parents]
        dirs = {str(Path(p.target_file).parent) for p in parents}
        assert dirs == {"pkg"}  # never across modules: other/far.py is alone in its directory
        assert cand.patch == merge_patches(FILES, [p.patch for p in parents])
    assert len({c.patch for c in first}) == len(first)


def test_file_scope_only_merges_bugs_of_one_file() -> None:
    combined = combine_candidates(
        "snap", FILES, _validated(), seed=0, max_combined=5, scopes=[Scope.FILE]
    )
    by_id = {c.candidate_id: c for c in _validated()}
    for cand in combined:
        assert len({by_id[p].target_file for p in cand.parents}) == 1


def test_known_patches_and_lonely_bugs_yield_nothing_new() -> None:
    validated = _validated()
    once = combine_candidates("snap", FILES, validated, seed=0, max_combined=3)
    again = combine_candidates(
        "snap", FILES, validated, seed=0, max_combined=3, known={c.patch for c in once}
    )
    assert not {c.patch for c in once} & {c.patch for c in again}
    lonely = [c for c in validated if c.target_file == "other/far.py"][:1]
    assert combine_candidates("snap", FILES, lonely, seed=0, max_combined=3) == []
    with pytest.raises(ValueError, match="one snapshot"):
        combine_candidates("other", FILES, validated, seed=0, max_combined=1)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs the git executable")
def test_merged_patch_applies_with_git(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    for path in ("pkg/shapes.py", "pkg/scale.py"):
        (repo / path).write_text(FILES[path])
    merged = merge_patches(FILES, [AREA, SQUARE, SCALE])
    assert merged is not None
    (tmp_path / "m.diff").write_text(merged)
    subprocess.run(["git", "apply", str(tmp_path / "m.diff")], cwd=repo, check=True)
    assert "w + h" in (repo / "pkg/shapes.py").read_text()
    assert "x + k" in (repo / "pkg/scale.py").read_text()


def test_mutations_of_one_function_merge_like_their_sources() -> None:
    sites = find_sites(SOURCE, "pkg/shapes.py", ["arith_swap"])
    afters = [apply_site(SOURCE, s) for s in sites]
    patches = [make_patch("pkg/shapes.py", SOURCE, a) for a in afters]
    merged = merge_patches(FILES, [patches[0], patches[-1]])
    assert merged is not None
    removed = [line for line in merged.splitlines() if line.startswith("-") and line[:3] != "---"]
    assert len(removed) == 2

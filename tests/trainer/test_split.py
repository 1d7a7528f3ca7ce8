"""The held-out split cannot leak: sibling bugs of one file land on one side, a fix never sits on
both sides, and a task keeps its side as the corpus grows."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from synth.data.store import Store
from synth.mutate import make_patch
from synth.patches import parse_patch
from synth.trainer.dataset import Example, load_examples
from tests.trainer.stores import SHOP_FILES, shop_bugs


def sides(db, fraction: float) -> tuple[list[Example], list[Example], dict[str, set[str]]]:
    """Training and held-out examples, and the (repo, path) files each task touches."""
    with Store.open(db) as store:
        train = load_examples(store, split="train", held_out_fraction=fraction)
        held = load_examples(store, split="held_out", held_out_fraction=fraction)
        files = {
            t.instance_id: {f"{t.repo}:{f.new_path}" for f in parse_patch(t.patch)}
            for t in store.list_tasks()
        }
    return train, held, files


def test_sibling_bugs_of_one_file_never_straddle_the_split(shop_store) -> None:
    """Split by instance id, a bug's siblings (other bugs of the same function or file) landed
    in training, and their fixes show the held-out task's clean lines."""
    train, held, files = sides(shop_store, 0.5)
    assert train and held
    train_files = set().union(*(files[e.instance_id] for e in train))
    held_files = set().union(*(files[e.instance_id] for e in held))
    assert train_files.isdisjoint(held_files), train_files & held_files


@pytest.mark.parametrize("fraction", [0.2, 0.35, 0.5, 0.65, 0.8])
def test_a_fix_never_sits_on_both_sides(shop_store, fraction: float) -> None:
    """The fork's task repeats a task of ``shop`` byte for byte; whatever sides their files
    hash to, training never holds a fix that is also held out."""
    train, held, _ = sides(shop_store, fraction)
    assert {e.target for e in train}.isdisjoint(e.target for e in held)


@dataclass(frozen=True)
class T:
    """The three fields of a task the split reads."""

    instance_id: str
    repo: str
    patch: str


def bug(instance_id: str, rel: str, n: int, repo: str = "shop", j: int = 0) -> T:
    source = SHOP_FILES.get(rel, SHOP_FILES["shop/m0.py"])
    clean = source.splitlines(keepends=True)[1 + 4 * j]
    return T(instance_id, repo, make_patch(rel, source, source.replace(clean, f"    x = {n}\n")))


def many(k: int) -> list[T]:
    return [bug(f"t{i}", f"pkg/f{i % 40}.py", i, j=i % 3) for i in range(k)]


def test_tasks_of_one_file_share_a_side_whatever_their_ids() -> None:
    from synth.trainer.split import split_tasks

    split = split_tasks(many(200), 0.3)
    side = {i: "train" for i in split.train} | {i: "held" for i in split.held_out}
    by_file: dict[str, set[str]] = {}
    for t in many(200):
        by_file.setdefault(parse_patch(t.patch)[0].new_path, set()).add(side[t.instance_id])
    assert all(len(s) == 1 for s in by_file.values())
    assert 0.1 < len(split.held_out) / 200 < 0.5
    assert list(split.train) == sorted(split.train)
    assert list(split.held_out) == sorted(split.held_out)


def test_a_task_keeps_its_side_as_the_corpus_grows() -> None:
    from synth.trainer.split import split_tasks

    small, grown = split_tasks(many(120), 0.3), split_tasks(many(400), 0.3)
    assert set(small.held_out) <= set(grown.held_out)
    assert set(small.train) <= set(grown.train)


def test_a_task_straddling_both_sides_is_on_neither() -> None:
    from synth.patches import combine
    from synth.trainer.split import split_tasks

    tasks = many(80)
    split = split_tasks(tasks, 0.3)
    held_t = next(t for t in tasks if t.instance_id in split.held_out)
    train_t = next(t for t in tasks if t.instance_id in split.train)
    both = T("both", "shop", combine(held_t.patch, train_t.patch))
    again = split_tasks([*tasks, both], 0.3)
    assert "both" not in again.train and "both" not in again.held_out
    assert "both sides" in again.left_out["both"]


def test_identical_patches_are_kept_out_of_training() -> None:
    """The same fix in two repositories (a fork, a vendored copy) hashes to two files."""
    from synth.trainer.split import split_tasks

    tasks = many(80)
    split = split_tasks(tasks, 0.3)
    held_t = next(t for t in tasks if t.instance_id in split.held_out)
    copies = [T(f"copy-{r}", r, held_t.patch) for r in ("fork-a", "fork-b", "fork-c", "fork-d")]
    again = split_tasks([*tasks, *copies], 0.3)
    group = [held_t.instance_id, *(c.instance_id for c in copies)]
    assert not set(group) & set(again.train)
    assert sum(i in again.held_out for i in group) == 1  # scored once, not five times
    kept = next(i for i in group if i in again.held_out)
    assert all(kept in again.left_out[i] for i in group if i != kept)


def test_a_corpus_held_out_whole_still_trains() -> None:
    """With every file in the held-out slice (one small corpus, say), training keeps it all."""
    from synth.trainer.split import split_tasks

    tasks = many(120)
    split = split_tasks(tasks, 0.3)
    lone = [t for t in tasks if t.instance_id in split.held_out][:3]
    whole = split_tasks(lone, 0.3)
    assert list(whole.train) == sorted(t.instance_id for t in lone) and not whole.held_out
    assert split_tasks(tasks, 0.0).held_out == ()


def test_an_unreadable_patch_is_left_out() -> None:
    from synth.trainer.split import split_tasks

    split = split_tasks([*many(10), T("junk", "shop", "not a diff\n")], 0.3)
    assert "junk" in split.left_out and "junk" not in split.train


@pytest.mark.parametrize("fraction", [-0.1, 1.0])
def test_fraction_must_lie_in_range(fraction: float) -> None:
    from synth.trainer.split import split_tasks

    with pytest.raises(ValueError, match="fraction"):
        split_tasks(many(3), fraction)


def test_the_shop_fixture_covers_both_cases() -> None:
    """Guards the tests above: sibling bugs exist, and the fork's copy is a real duplicate."""
    bugs = shop_bugs("x")
    assert len({rel for rel, _ in bugs}) == 6 and len(bugs) == 18

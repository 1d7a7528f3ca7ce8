"""Examples from the store, byte encoding with a target-only loss, packing and batch order."""

from __future__ import annotations

import torch

from synth.data.store import Store
from synth.patches import apply_file_diff, parse_patch
from synth.trainer.config import BOS, EOS, PAD, SEP
from synth.trainer.dataset import IGNORE, Example, batch_at, encode, load_examples, pack


def test_examples_from_the_store_show_buggy_functions_and_target_the_fix(task_store) -> None:
    with Store.open(task_store) as store:
        examples = load_examples(store)
    assert [e.instance_id for e in examples] == ["money-add", "money-check", "money-deposit"]
    check = examples[1]
    assert check.prompt.startswith("Depositing 0 is accepted")
    # The whole touched function, decorator included, in its buggy state; nothing else.
    assert "    @staticmethod\n    def check(amount):\n        if amount < 0:" in check.prompt
    assert "def deposit" not in check.prompt and "def add" not in check.prompt
    assert check.target.startswith("diff --git a/money.py b/money.py")
    assert "-        if amount < 0:\n+        if amount <= 0:\n" in check.target


def test_target_fixes_the_buggy_file(task_store, money_bugs) -> None:
    clean_source, bugs = money_bugs
    with Store.open(task_store) as store:
        examples = load_examples(store)
    for example, (_, clean, buggy, _) in zip(examples, bugs, strict=True):
        (fix,) = parse_patch(example.target)
        assert apply_file_diff(clean_source.replace(clean, buggy), fix) == clean_source


def test_loss_falls_on_target_tokens_only() -> None:
    enc = encode(Example("x", prompt="ab", target="cd"), seq_len=32, max_prompt_bytes=100)
    assert enc.tokens == [BOS, ord("a"), ord("b"), SEP, ord("c"), ord("d"), EOS]
    assert enc.loss == [False, False, False, False, True, True, True]


def test_long_prompts_lose_their_beginning_and_leave_a_quarter_to_the_target() -> None:
    enc = encode(Example("x", prompt="0123456789", target="ab"), seq_len=12, max_prompt_bytes=100)
    assert enc.tokens == [BOS, *b"3456789", SEP, ord("a"), ord("b"), EOS]  # 12 - 2 - 12 // 4
    capped = encode(Example("x", prompt="0123456789", target="ab"), 64, max_prompt_bytes=3)
    assert capped.tokens == [BOS, *b"789", SEP, ord("a"), ord("b"), EOS]


def test_packing_keeps_documents_whole_and_apart() -> None:
    docs = [encode(Example(str(i), "p" * n, "t"), 16, 100) for i, n in enumerate([6, 3, 9])]
    rows = pack(docs, seq_len=16)
    # lengths 10, 7, 13: first-fit puts doc 0 alone (10 + 7 > 16), then doc 1, doc 2 apart
    assert rows.tokens_BL.shape == (3, 16)
    assert rows.docs_BL[0].tolist() == [0] * 10 + [-1] * 6
    assert rows.pos_BL[0, :10].tolist() == list(range(10))
    assert (rows.tokens_BL[rows.docs_BL < 0] == PAD).all()
    # The position before each target token predicts it; nothing predicts across documents.
    assert rows.targets_BL[0].tolist() == [IGNORE] * 7 + [ord("t"), EOS] + [IGNORE] * 7
    small = pack([docs[1], docs[1]], seq_len=16)
    assert small.docs_BL[0].tolist() == [0] * 7 + [1] * 7 + [-1] * 2
    assert small.pos_BL[0, 7:14].tolist() == list(range(7))


def test_batches_depend_only_on_seed_and_step_and_cover_each_epoch() -> None:
    rows = pack([encode(Example(str(i), "p" * i, "t"), 8, 100) for i in range(5)], seq_len=8)
    first = [batch_at(rows, s, 2, seed=3).tokens_BL for s in range(5)]
    again = [batch_at(rows, s, 2, seed=3).tokens_BL for s in range(5)]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    epoch = torch.cat(first)[:5]  # steps 0-1 and half of step 2: one pass over the 5 rows
    assert sorted(r.tolist() for r in epoch) == sorted(r.tolist() for r in rows.tokens_BL)
    other = torch.cat([batch_at(rows, s, 2, seed=4).tokens_BL for s in range(5)])
    assert not torch.equal(other, torch.cat(first))


def test_a_cut_target_keeps_its_end_of_target_marker() -> None:
    """A target too long for its row loses its middle-to-end but keeps EOS: cut after EOS, a
    long fix taught the model never to stop."""
    enc = encode(Example("x", prompt="ab", target="0123456789"), seq_len=8, max_prompt_bytes=100)
    assert len(enc.tokens) == 8 and enc.tokens[-1] == EOS and enc.loss[-1]
    assert enc.tokens[4:] == [*b"012", EOS]


def test_the_prompt_window_does_not_depend_on_the_target() -> None:
    """Sampling cannot know how long the fix will be: a prompt window that shrank as the target
    grew showed the model, at evaluation, a prompt unlike the ones it trained on."""
    prompt = "x" * 500 + " the code involved"
    short, long = (encode(Example("e", prompt, t), 64, 48) for t in ("t", "t" * 30))
    assert short.tokens[: short.loss.index(True)] == long.tokens[: long.loss.index(True)]

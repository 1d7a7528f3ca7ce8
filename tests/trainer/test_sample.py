"""Sampling from the model (reproducible, bounded, stopping at the end-of-target marker, prompts
built as in training) and the held-out split (deterministic, disjoint from training)."""

from __future__ import annotations

import pytest
import torch

from data.store import Store
from trainer.config import BOS, SEP, TrainConfig
from trainer.dataset import Example, build_rows, held_out, load_examples, prompt_tokens, split_ids
from trainer.model import MoELM
from trainer.sample import SampleConfig, sample
from trainer.train import Trainer

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def untrained(small_config: TrainConfig) -> MoELM:
    torch.manual_seed(0)
    # loop: torch_gmm's grouped_mm probe needs autograd, which sampling turns off
    return small_config.with_backend("loop").model.build()


@pytest.fixture(scope="module")
def trained_ok(small_config: TrainConfig) -> MoELM:
    """A model that learned one fix, "ok", whatever the prompt."""
    examples = [Example(f"e{i}", f"bug {i}", "ok") for i in range(8)]
    rows = build_rows(examples, small_config.data.seq_len, small_config.data.max_prompt_bytes)
    trainer = Trainer(small_config, rows, total_steps=40, device=CPU)
    for _ in range(40):
        trainer.train_step()
    return trainer.model


def run(model: MoELM, cfg: TrainConfig, prompt: str, **kw) -> tuple[str, int, str]:
    return sample(model, prompt, SampleConfig(**kw), seq_len=cfg.data.seq_len,
                  max_prompt_bytes=cfg.data.max_prompt_bytes)


def test_greedy_sampling_is_deterministic(untrained: MoELM, small_config) -> None:
    first = run(untrained, small_config, "add(2, 3) returns -1", max_new_bytes=12)
    assert first == run(untrained, small_config, "add(2, 3) returns -1", max_new_bytes=12)
    assert first == run(untrained, small_config, "add(2, 3) returns -1", max_new_bytes=12, seed=9)


def test_the_same_seed_gives_the_same_sample(untrained: MoELM, small_config) -> None:
    kw = dict(max_new_bytes=24, temperature=1.0, top_k=50)
    a = run(untrained, small_config, "prompt", seed=3, **kw)
    assert a == run(untrained, small_config, "prompt", seed=3, **kw)
    assert a != run(untrained, small_config, "prompt", seed=4, **kw)


def test_sampling_stops_at_max_new_bytes(untrained: MoELM, trained_ok: MoELM, small_config) -> None:
    text, n, stop = run(trained_ok, small_config, "bug 3", max_new_bytes=1)
    assert (text, n, stop) == ("o", 1, "max_new_bytes")
    _, n, stop = run(untrained, small_config, "x", max_new_bytes=5)
    assert n <= 5 and (stop == "max_new_bytes") == (n == 5)


def test_sampling_stops_at_the_end_of_target_marker(trained_ok: MoELM, small_config) -> None:
    assert run(trained_ok, small_config, "bug 5", max_new_bytes=20) == ("ok", 2, "eos")


def test_sampling_stops_when_the_context_is_full(untrained: MoELM, small_config) -> None:
    """A model never saw positions past seq_len; the prompt keeps at least seq_len // 4 bytes."""
    seq_len = small_config.data.seq_len
    _, n, stop = run(untrained, small_config, "p" * 500, max_new_bytes=10 * seq_len)
    assert (n, stop) == (seq_len - 2 - seq_len // 4, "context")  # BOS, SEP


def test_a_long_prompt_loses_its_beginning() -> None:
    assert prompt_tokens("0123456789", target_len=3, seq_len=8, max_prompt_bytes=100) == [
        BOS, *b"789", SEP
    ]
    assert prompt_tokens("0123456789", target_len=1, seq_len=64, max_prompt_bytes=4) == [
        BOS, *b"6789", SEP
    ]


def test_sampling_sees_only_the_end_of_a_long_prompt(untrained: MoELM, small_config) -> None:
    """Prompts that differ only before the kept window sample the same fix."""
    tail = "the code involved: def add(a, b): return a - b\nThe fix:\n"
    a = run(untrained, small_config, "A" * 300 + tail, max_new_bytes=8)
    b = run(untrained, small_config, "B" * 300 + tail, max_new_bytes=8)
    assert a == b


def test_sampling_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="max_new_bytes=0"):
        SampleConfig(max_new_bytes=0)


IDS = [f"repo.{n:04d}.op__{n * 7919 % 10007:05x}" for n in range(400)]


def test_held_out_split_is_deterministic_and_disjoint() -> None:
    train, held = split_ids(IDS, 0.2)
    assert (train, held) == split_ids(reversed(IDS), 0.2)
    assert set(train).isdisjoint(held) and sorted(train + held) == sorted(IDS)
    assert 0.12 < len(held) / len(IDS) < 0.28
    # Membership is the id's own: a task keeps its side in a larger corpus.
    _, more_held = split_ids([*IDS, *(f"new-{i}" for i in range(100))], 0.2)
    assert set(held) <= set(more_held)
    assert split_ids(IDS, 0.0) == (sorted(IDS), [])


def test_a_corpus_held_out_whole_still_trains() -> None:
    """With one task that hashes into the held-out slice, training keeps it (and holds none)."""
    (lone,) = [i for i in IDS if held_out(i, 0.2)][:1]
    assert split_ids([lone], 0.2) == ([lone], [])


def test_training_examples_exclude_held_out_tasks(task_store) -> None:
    with Store.open(task_store) as store:
        every = load_examples(store)
        train = load_examples(store, split="train", held_out_fraction=0.5)
        held = load_examples(store, split="held_out", held_out_fraction=0.5)
    ids = [e.instance_id for e in every]
    assert train and held
    assert {e.instance_id for e in train}.isdisjoint(e.instance_id for e in held)
    assert sorted(e.instance_id for e in train + held) == ids
    assert [e.instance_id for e in held] == [i for i in ids if held_out(i, 0.5)]

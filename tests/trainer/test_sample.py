"""Sampling from the model: reproducible, bounded, stopping at the end-of-target marker, with
prompts built as in training and in the training precision. (The held-out split:
``test_split.py``.)"""

from __future__ import annotations

import pytest
import torch

from synth.trainer.config import BOS, SEP, TrainConfig
from synth.trainer.dataset import Example, build_rows, prompt_tokens
from synth.trainer.model import MoELM
from synth.trainer.sample import SampleConfig, sample
from synth.trainer.train import Trainer

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
    """A model never saw positions past seq_len; the target keeps at least seq_len // 4."""
    seq_len = small_config.data.seq_len
    _, n, stop = run(untrained, small_config, "p" * 500, max_new_bytes=10 * seq_len)
    assert (n, stop) == (seq_len - 2 - small_config.data.prompt_budget, "context")  # BOS, SEP
    assert n >= seq_len // 4


def test_a_long_prompt_loses_its_beginning() -> None:
    assert prompt_tokens("0123456789", 3) == [BOS, *b"789", SEP]
    assert prompt_tokens("0123456789", 40) == [BOS, *b"0123456789", SEP]


def test_sampling_sees_only_the_end_of_a_long_prompt(untrained: MoELM, small_config) -> None:
    """Prompts that differ only before the kept window sample the same fix."""
    tail = "the code involved: def add(a, b): return a - b\nThe fix:\n"
    a = run(untrained, small_config, "A" * 300 + tail, max_new_bytes=8)
    b = run(untrained, small_config, "B" * 300 + tail, max_new_bytes=8)
    assert a == b


def test_sampling_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="max_new_bytes=0"):
        SampleConfig(max_new_bytes=0)


def test_sampling_sees_the_prompt_training_saw(untrained: MoELM, small_config) -> None:
    """The prompt window used to shrink by the target's length in training and by
    max_new_bytes in sampling: the same task read differently at evaluation."""
    from synth.trainer.dataset import encode

    example = Example("x", "p" * 500 + " the code involved", "a short fix")
    enc = encode(example, small_config.data.seq_len, small_config.data.max_prompt_bytes)
    seen: list[list[int]] = []
    hook = untrained.register_forward_pre_hook(lambda m, args: seen.append(args[0][0].tolist()))
    try:
        run(untrained, small_config, example.prompt, max_new_bytes=512)
    finally:
        hook.remove()
    assert seen[0] == enc.tokens[: enc.loss.index(True)]


def test_evaluation_samples_in_the_precision_training_used(untrained, small_config,
                                                           monkeypatch) -> None:  # fmt: skip
    """Training runs under bf16 autocast on CUDA; scoring its checkpoint in fp32 measured a model
    that never trained. On this CPU, autocast is forced on to see that evaluation follows it."""
    import synth.trainer.train as train
    from synth.trainer.evaluate import generate

    monkeypatch.setattr(train, "autocast_dtype", lambda cfg, device: torch.bfloat16,
                        raising=False)  # fmt: skip
    seen: list[object] = []

    def note(module: object, args: object) -> None:
        on = torch.is_autocast_enabled("cpu")
        seen.append(torch.get_autocast_dtype("cpu") if on else None)

    hook = untrained.register_forward_pre_hook(note)
    try:
        generate(untrained, small_config, [Example("x", "prompt", "")], SampleConfig(2))
    finally:
        hook.remove()
    assert seen and set(seen) == {torch.bfloat16}

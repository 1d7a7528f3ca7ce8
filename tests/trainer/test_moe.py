"""The MoE block: balancing losses and bias, the frozen router, and the three backends agreeing
inside a whole layer (router included)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from synth.trainer.backends import BackendError, get_backend, resolve_name
from synth.trainer.config import ConfigError, MoEConfig
from synth.trainer.moe import MoE, router_z_loss, switch_aux_loss
from tests.trainer.ops import host_syncs, skip_without_grouped_mm

E = 6


def test_aux_loss_is_one_under_uniform_routing() -> None:
    uniform_probs = torch.full((12, E), 1 / E)
    uniform_counts = torch.full((E,), 4)
    assert switch_aux_loss(uniform_probs, uniform_counts).item() == pytest.approx(1.0)
    # Either factor uniform is enough: the other sums to one.
    skewed_counts = torch.tensor([20, 4, 0, 0, 0, 0])
    assert switch_aux_loss(uniform_probs, skewed_counts).item() == pytest.approx(1.0)
    skewed_probs = torch.softmax(torch.randn(12, E, generator=torch.Generator().manual_seed(0)), 1)
    assert switch_aux_loss(skewed_probs, uniform_counts).item() == pytest.approx(1.0)


def test_aux_loss_is_e_when_everything_goes_to_one_expert() -> None:
    probs = torch.zeros(8, E)
    probs[:, 2] = 1.0
    counts = torch.zeros(E, dtype=torch.long)
    counts[2] = 8
    assert switch_aux_loss(probs, counts).item() == pytest.approx(E)


def test_z_loss_is_squared_logsumexp() -> None:
    logits = torch.zeros(3, 4)
    assert router_z_loss(logits).item() == pytest.approx(math.log(4) ** 2)


def layer(device, **overrides) -> MoE:
    cfg = MoEConfig(num_experts=E, top_k=2, expert_dim=16, shared_expert_dim=16, **overrides)
    torch.manual_seed(0)
    moe = MoE(cfg, dim=16)
    moe.init_weights(std=0.2, out_std=0.2)
    return moe.to(device)


def test_bias_update_lowers_overloaded_experts_and_stays_centred() -> None:
    moe = layer("cpu", bias_update_rate=0.01)
    moe.load_E.copy_(torch.tensor([30.0, 10.0, 10.0, 10.0, 0.0, 0.0]))
    moe.update_bias()
    bias = moe.bias_E
    assert bias[0] < bias[1] < bias[4]  # overloaded down, underloaded up
    assert bias[4] == bias[5] and bias[1] == bias[2] == bias[3]
    assert abs(bias.sum().item()) < 1e-6
    assert moe.load_E.sum() == 0  # the load is counted afresh for the next step


def test_bias_is_not_touched_without_bias_balancing() -> None:
    moe = layer("cpu")
    moe.train()
    moe(torch.randn(2, 5, 16))
    moe.update_bias()
    assert moe.bias_E.abs().sum() == 0 and moe.load_E.sum() == 0


def test_forward_counts_load_for_bias_balancing() -> None:
    moe = layer("cpu", bias_update_rate=0.01)
    moe.train()
    _, stats = moe(torch.randn(2, 5, 16))
    assert torch.equal(moe.load_E, stats.counts_E.float())
    assert stats.counts_E.sum() == 2 * 5 * 2


def test_frozen_router_gets_no_gradient() -> None:
    moe = layer("cpu", freeze_router=True)
    y, stats = moe(torch.randn(2, 5, 16))
    (y.square().mean() + stats.aux_loss).backward()
    assert moe.w_router_ED.grad is None
    assert moe.w_gate_EFD.grad is not None


@pytest.mark.parametrize("backend", ["torch_gmm", "triton"])
def test_layer_backends_agree_with_loop(backend, device) -> None:
    if backend == "torch_gmm":
        skip_without_grouped_mm(device, torch.float32, 16, 16)
    x = torch.randn(3, 7, 16, generator=torch.Generator().manual_seed(1)).to(device)
    results = []
    for name in ("loop", backend):
        moe = layer(device, bias_update_rate=0.01, z_loss_coef=1e-3)
        moe.bias_E.copy_(torch.linspace(-0.02, 0.02, E))
        moe.use_backend(get_backend(name, torch.device(device)))
        y, stats = moe(x)
        (y.square().sum() + stats.aux_loss + stats.z_loss).backward()
        results.append((y, {n: p.grad for n, p in moe.named_parameters()}))
    (y_ref, g_ref), (y, g) = results
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)
    for name in g_ref:
        torch.testing.assert_close(g[name], g_ref[name], rtol=1e-4, atol=1e-5, msg=name)


def test_backend_names_resolve_and_bad_ones_say_what_to_use() -> None:
    assert resolve_name("auto", torch.device("cpu")) == "torch_gmm"
    assert resolve_name("loop", torch.device("cpu")) == "loop"
    with pytest.raises(BackendError, match="choose auto, loop, torch_gmm or triton"):
        get_backend("cutlass", torch.device("cpu"))


def test_config_rejects_top_k_beyond_experts() -> None:
    with pytest.raises(ConfigError, match="top_k=7"):
        replace(MoEConfig(num_experts=6, top_k=2, expert_dim=8, shared_expert_dim=0), top_k=7)


@pytest.mark.parametrize("backend", ["torch_gmm", "triton"])
def test_a_layer_step_never_waits_on_the_device(backend, device) -> None:
    """Routing and the grouped experts must not stall the host on the GPU: torch.bincount
    (which reads the largest index back) sorted the slots, though the router had counted them."""
    if backend == "torch_gmm":
        skip_without_grouped_mm(device, torch.float32, 16, 16)
    moe = layer(device, bias_update_rate=0.01, z_loss_coef=1e-3)
    moe.use_backend(get_backend(backend, torch.device(device)))
    moe.train()
    x = torch.randn(3, 7, 16, generator=torch.Generator().manual_seed(1)).to(device)

    def step() -> None:
        y, stats = moe(x)
        (y.square().sum() + stats.aux_loss + stats.z_loss).backward()

    assert host_syncs(step) == []


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the NaNs
@pytest.mark.parametrize("backend", ["loop", "torch_gmm", "triton"])
def test_nan_router_logits_give_a_nan_output_not_a_bad_expert(backend, device) -> None:
    """A NaN logit (a diverged run) must surface as a NaN loss: the fused router turned it into
    expert E (out of range), an illegal memory access in the expert kernels on a GPU."""
    if backend == "torch_gmm":
        skip_without_grouped_mm(device, torch.float32, 16, 16)
    moe = layer(device)
    moe.use_backend(get_backend(backend, torch.device(device)))
    x = torch.randn(1, 5, 16, generator=torch.Generator().manual_seed(2)).to(device)
    x[0, 2] = float("nan")  # token 2's router logits are all NaN
    with torch.no_grad():
        routing = moe.backend(x.device).route(
            torch.nn.functional.linear(x[0], moe.w_router_ED), 2
        )
        y, _ = moe(x)
    assert ((routing.experts_TK >= 0) & (routing.experts_TK < E)).all(), routing.experts_TK
    assert int(routing.counts_E.sum()) == 5 * 2
    assert torch.isnan(y[0, 2]).all() and torch.isfinite(y[0, [0, 1, 3, 4]]).all()


def test_padding_tokens_are_left_out_of_routing_statistics() -> None:
    """PAD positions are routed (shapes stay static) but must not count: the aux loss, the
    balancing bias's load and the load metric of a half-padded batch are those of its tokens."""
    moe = layer("cpu", bias_update_rate=0.01, z_loss_coef=1e-3)
    moe.train()
    x = torch.randn(2, 6, 16, generator=torch.Generator().manual_seed(4))
    valid_BL = torch.tensor([[True] * 6, [True] * 2 + [False] * 4])
    _, stats = moe(x, valid_BL)
    load_E = moe.load_E.clone()
    moe.load_E.zero_()
    _, only_tokens = moe(x[valid_BL][None])
    assert torch.equal(stats.counts_E, only_tokens.counts_E)
    assert int(stats.counts_E.sum()) == 8 * 2
    torch.testing.assert_close(stats.aux_loss, only_tokens.aux_loss)
    torch.testing.assert_close(stats.z_loss, only_tokens.z_loss)
    assert torch.equal(load_E, moe.load_E)


def test_the_model_masks_padding_out_of_routing_statistics(small_config) -> None:
    from synth.trainer.config import PAD

    torch.manual_seed(0)
    model = small_config.with_backend("loop").model.build()
    tokens_BL = torch.full((1, 12), PAD)
    tokens_BL[0, :5] = torch.arange(5)
    docs_BL = torch.tensor([[0] * 5 + [-1] * 7])
    pos_BL = torch.arange(12)[None]
    _, stats = model(tokens_BL, pos_BL, docs_BL)
    K = small_config.model.moe.top_k
    assert [int(s.counts_E.sum()) for s in stats] == [5 * K] * len(stats)

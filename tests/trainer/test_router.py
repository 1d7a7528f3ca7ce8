"""The fused Triton router matches the torch router: probabilities, choices, weights, counts
and the gradient reaching the logits (through the weights and through the aux loss)."""

from __future__ import annotations

import pytest
import torch

from synth.trainer.kernels.router_ref import route_ref
from synth.trainer.kernels.router_triton import route_triton


def logits_of(T: int, E: int, device, one_expert: bool = False) -> torch.Tensor:
    logits = torch.randn(T, E, generator=torch.Generator().manual_seed(T * E))
    if one_expert:
        logits[:, 3] += 20.0  # every token's first choice: expert 3
    return logits.to(device)


def routed(fn, logits_TE, K, norm, bias_E):
    leaf = logits_TE.clone().requires_grad_()
    r = fn(leaf, K, norm_topk_prob=norm, bias_E=bias_E)
    gen = torch.Generator().manual_seed(7)
    d_w = torch.randn(r.weights_TK.shape, generator=gen).to(leaf.device)
    d_p = torch.randn(r.probs_TE.shape, generator=gen).to(leaf.device)
    ((r.weights_TK * d_w).sum() + (r.probs_TE * d_p).sum()).backward()
    return r, leaf.grad


@pytest.mark.parametrize(
    ("T", "E", "K", "norm", "biased", "one_expert"),
    [
        pytest.param(37, 6, 2, True, False, False, id="E6-k2-norm"),
        pytest.param(20, 5, 1, False, True, False, id="E5-k1-biased"),
        pytest.param(33, 12, 3, True, True, False, id="E12-k3-norm-biased"),
        pytest.param(18, 7, 2, True, False, True, id="all-tokens-prefer-one-expert"),
    ],
)
def test_triton_router_matches_reference(T, E, K, norm, biased, one_expert, device) -> None:
    logits = logits_of(T, E, device, one_expert)
    bias = (torch.linspace(-0.05, 0.05, E)).to(device) if biased else None
    ref, d_ref = routed(route_ref, logits, K, norm, bias)
    out, d_out = routed(route_triton, logits, K, norm, bias)
    assert torch.equal(out.experts_TK, ref.experts_TK)
    assert torch.equal(out.counts_E, ref.counts_E)
    torch.testing.assert_close(out.probs_TE, ref.probs_TE, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.weights_TK, ref.weights_TK, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(d_out, d_ref, rtol=1e-5, atol=1e-6)


def test_triton_router_gradient_through_weights_only(device) -> None:
    logits = logits_of(16, 5, device)
    grads = []
    for fn in (route_ref, route_triton):
        leaf = logits.clone().requires_grad_()
        fn(leaf, 2, norm_topk_prob=True).weights_TK.square().sum().backward()
        grads.append(leaf.grad)
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("norm", [True, False])
def test_reference_router_passes_gradcheck(norm: bool) -> None:
    logits = logits_of(5, 4, "cpu").double().requires_grad_()

    def f(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = route_ref(x, 2, norm_topk_prob=norm)
        return r.probs_TE, r.weights_TK

    assert torch.autograd.gradcheck(f, (logits,))


def test_bias_changes_choices_not_weights() -> None:
    logits = torch.tensor([[2.0, 1.0, 0.0]])
    plain = route_ref(logits, 1, norm_topk_prob=False)
    biased = route_ref(logits, 1, norm_topk_prob=False, bias_E=torch.tensor([0.0, 0.0, 1.0]))
    assert plain.experts_TK.tolist() == [[0]] and biased.experts_TK.tolist() == [[2]]
    torch.testing.assert_close(biased.weights_TK, plain.probs_TE[:, 2:3])

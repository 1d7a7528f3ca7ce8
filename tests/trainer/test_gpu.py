"""bf16 on a real GPU: every Triton kernel against its torch reference at shapes the CPU
interpreter cannot reach (many experts, hundreds of tokens per expert). Skipped without CUDA;
``bench/gpu_check.sh`` runs these after its parity and benchmark sections."""

from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

CUDA = torch.device("cuda")
BF16_TOL = 3e-2  # relative to the largest reference value; bf16 keeps 8 bits of mantissa


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max() / b.float().abs().max().clamp(min=1e-6))


@pytest.mark.parametrize(("T", "E", "K"), [(4096, 128, 8), (2048, 512, 10), (1000, 60, 1)])
def test_router_kernel_matches_reference(T: int, E: int, K: int) -> None:
    from synth.trainer.kernels.router_ref import route_ref
    from synth.trainer.kernels.router_triton import route_triton

    gen = torch.Generator(device="cuda").manual_seed(0)
    logits = torch.randn(T, E, device=CUDA, generator=gen)
    bias = torch.randn(E, device=CUDA, generator=gen) * 1e-3
    out = []
    for fn in (route_ref, route_triton):
        leaf = logits.clone().requires_grad_()
        r = fn(leaf, K, norm_topk_prob=True, bias_E=bias)
        (r.weights_TK.square().sum() + r.probs_TE.square().sum()).backward()
        out.append((r, leaf.grad))
    (ref, d_ref), (tri, d_tri) = out
    same = (ref.experts_TK == tri.experts_TK).all(dim=1)
    assert same.float().mean() > 0.999  # exp() differs in the last bit: near-ties may flip
    if same.all():
        assert torch.equal(ref.counts_E, tri.counts_E)
    torch.testing.assert_close(tri.probs_TE, ref.probs_TE, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(tri.weights_TK[same], ref.weights_TK[same], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(d_tri[same], d_ref[same], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    ("T", "D", "F", "E", "K"),
    [(4096, 1024, 768, 32, 4), (2048, 512, 512, 96, 8), (1500, 256, 128, 7, 2)],
)
@pytest.mark.parametrize("backend", ["torch_gmm", "triton"])
def test_expert_backends_match_loop_in_bf16(backend: str, T, D, F, E, K) -> None:
    from synth.trainer.backends import get_backend

    gen = torch.Generator(device="cuda").manual_seed(1)
    x = torch.randn(T, D, device=CUDA, generator=gen)
    logits = torch.randn(T, E, device=CUDA, generator=gen)
    experts = torch.topk(logits, K, dim=1).indices
    weights = torch.softmax(torch.randn(T, K, device=CUDA, generator=gen), dim=1)
    w = [torch.randn(E, F, D, device=CUDA, generator=gen) * D**-0.5 for _ in range(2)]
    w.append(torch.randn(E, D, F, device=CUDA, generator=gen) * F**-0.5)
    dy = torch.randn(T, D, device=CUDA, generator=gen)
    results = []
    for name in ("loop", backend):
        leaves = [t.to(torch.bfloat16).requires_grad_() for t in (x, weights, *w)]
        fn = get_backend(name, CUDA).experts
        y = fn(leaves[0], experts, leaves[1], *leaves[2:])
        y.backward(dy.to(torch.bfloat16))
        results.append([y.detach()] + [leaf.grad for leaf in leaves])
    names = ["y", "dx", "dweights", "dw_gate", "dw_up", "dw_down"]
    for name, a, b in zip(names, results[1], results[0], strict=True):
        assert rel_err(a, b) < BF16_TOL, f"{backend} {name}: {rel_err(a, b):.3e}"


def test_triton_experts_under_bf16_autocast_stay_bf16_through_the_backward() -> None:
    """Issue 15 (1): CUDA autocast ran the k-sum ending the down projection in fp32, so y and
    then dy came out fp32 and tl.dot refused dy beside the bf16 activations at step 1."""
    from synth.trainer.kernels.experts_triton import experts_triton

    gen = torch.Generator(device="cuda").manual_seed(2)
    T, D, F, E, K = 512, 256, 128, 16, 4
    experts = torch.topk(torch.randn(T, E, device=CUDA, generator=gen), K, dim=1).indices
    leaves = [(torch.randn(*s, device=CUDA, generator=gen) * 0.1).bfloat16().requires_grad_()
              for s in ((T, D), (T, K), (E, F, D), (E, F, D), (E, D, F))]  # fmt: skip
    with torch.autocast("cuda", dtype=torch.bfloat16):
        y = experts_triton(leaves[0], experts, *leaves[1:])
        loss = (y.float() * 1.5).sum()  # an fp32 consumer, as the residual stream is
    loss.backward()
    assert y.dtype == torch.bfloat16
    for leaf in leaves:
        assert leaf.grad is not None and leaf.grad.dtype == torch.bfloat16
        assert torch.isfinite(leaf.grad).all()


def test_a_training_step_on_triton_matches_loop_under_bf16_autocast() -> None:
    from dataclasses import replace

    from synth.trainer.config import TINY, DataConfig
    from synth.trainer.dataset import Example, build_rows
    from synth.trainer.train import Trainer

    cfg = replace(TINY, data=DataConfig(seq_len=256, batch_size=8, max_prompt_bytes=128))
    examples = [Example(str(i), f"prompt {i} " * 5, f"answer {i * 7}") for i in range(64)]
    rows = build_rows(examples, cfg.data.seq_len, cfg.data.max_prompt_bytes)
    losses = {}
    for name in ("loop", "triton"):
        trainer = Trainer(cfg.with_backend(name), rows, total_steps=3, device=CUDA)
        losses[name] = [trainer.train_step().loss for _ in range(3)]
    assert all(torch.isfinite(torch.tensor(losses["triton"])))
    for a, b in zip(losses["triton"], losses["loop"], strict=True):
        assert abs(a - b) < 0.02 * abs(b), losses

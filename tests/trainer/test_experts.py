"""The expert backends agree: loop (the reference) == torch_gmm == triton, forward and every
gradient, on the routings that break grouped kernels. Triton runs in its interpreter on CPU."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pytest
import torch

from synth.trainer.kernels.experts_gmm import experts_torch_gmm
from synth.trainer.kernels.experts_ref import experts_loop
from synth.trainer.kernels.experts_triton import experts_triton
from tests.trainer.ops import fresh_outputs, skip_without_grouped_mm

Experts = Callable[..., torch.Tensor]
BACKENDS: dict[str, Experts] = {"torch_gmm": experts_torch_gmm, "triton": experts_triton}
TOL = {torch.float32: 2e-5, torch.float16: 2e-2}


def routing(kind: str, T: int, E: int, K: int, gen: torch.Generator) -> torch.Tensor:
    if kind == "random":
        return torch.stack([torch.randperm(E, generator=gen)[:K] for _ in range(T)])
    if kind == "empty_experts":  # experts 1 and E-1 get no token at all
        used = torch.tensor([e for e in range(E) if e not in (1, E - 1)])
        return torch.stack([used[torch.randperm(len(used), generator=gen)[:K]] for _ in range(T)])
    if kind == "one_expert":  # every token on expert 2 (K = 1)
        return torch.full((T, K), 2, dtype=torch.long)
    raise ValueError(kind)


def inputs(T: int, D: int, F: int, E: int, K: int, kind: str, dtype: torch.dtype, device):
    gen = torch.Generator().manual_seed(T * 100 + E * 10 + K)
    experts_TK = routing(kind, T, E, K, gen)
    weights_TK = torch.rand(T, K, generator=gen)
    x_TD = torch.randn(T, D, generator=gen)
    w = [torch.randn(E, F, D, generator=gen) * D**-0.5 for _ in range(2)]
    w.append(torch.randn(E, D, F, generator=gen) * F**-0.5)
    grad_TD = torch.randn(T, D, generator=gen)
    tensors = [t.to(device, dtype) for t in (x_TD, weights_TK, *w)]
    return experts_TK.to(device), tensors, grad_TD.to(device, dtype)


def run(fn: Experts, experts_TK, tensors, grad_TD) -> list[torch.Tensor]:
    leaves = [t.clone().requires_grad_() for t in tensors]
    x, weights, w_gate, w_up, w_down = leaves
    y_TD = fn(x, experts_TK, weights, w_gate, w_up, w_down)
    if grad_TD is None:
        y_TD.sum().backward()  # the gradient arrives as an expanded, stride-0 tensor
    else:
        y_TD.backward(grad_TD)
    return [y_TD.detach()] + [leaf.grad for leaf in leaves]  # type: ignore[misc]


def assert_close(actual: list[torch.Tensor], expected: list[torch.Tensor], tol: float) -> None:
    names = ["y", "dx", "dweights", "dw_gate", "dw_up", "dw_down"]
    for name, a, e in zip(names, actual, expected, strict=True):
        scale = e.float().abs().max().clamp(min=1e-3)
        err = (a.float() - e.float()).abs().max() / scale
        assert err <= tol, f"{name}: relative error {err:.2e} > {tol:.0e}"


CASES = [  # (T, D, F, E, K, routing): T never a multiple of the 16-row block, E rarely 2^n
    pytest.param(21, 32, 32, 5, 2, "random", id="random-E5-k2"),
    pytest.param(19, 32, 48, 6, 3, "empty_experts", id="empty-experts-E6-k3"),
    pytest.param(23, 16, 32, 4, 1, "one_expert", id="all-on-one-expert-k1"),
    pytest.param(35, 32, 16, 7, 1, "random", id="random-E7-k1"),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["fp32", "fp16"])
@pytest.mark.parametrize(("T", "D", "F", "E", "K", "kind"), CASES)
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_backend_matches_loop(backend, T, D, F, E, K, kind, dtype, device, monkeypatch) -> None:
    if backend == "torch_gmm":
        skip_without_grouped_mm(device, dtype, D, F)
    calls = grouped_mm_calls(monkeypatch)
    experts_TK, tensors, grad_TD = inputs(T, D, F, E, K, kind, dtype, device)
    expected = run(experts_loop, experts_TK, tensors, grad_TD)
    actual = run(BACKENDS[backend], experts_TK, tensors, grad_TD)
    assert_close(actual, expected, TOL[dtype])
    if backend == "torch_gmm":  # else this compared the loop with itself
        assert calls, "torch_gmm returned without calling grouped_mm"


def grouped_mm_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, ...]]:
    """The shapes of every grouped_mm call from now on, in order."""
    from synth.trainer.kernels import experts_gmm

    real, calls = experts_gmm._GROUPED_MM, []
    assert real is not None

    def spy(a: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        calls.append(tuple(a.shape))
        return real(a, *args, **kwargs)

    monkeypatch.setattr(experts_gmm, "_GROUPED_MM", spy)
    return calls


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_stride_zero_gradient_from_sum(backend, device) -> None:
    """y.sum() hands back torch.ones(()).expand(T, D): stride 0, which grouped kernels that
    index rows (and grouped_mm's backward) must not read as a dense tensor."""
    if backend == "torch_gmm":
        skip_without_grouped_mm(device, torch.float32, 16, 16)
    experts_TK, tensors, _ = inputs(17, 16, 16, 3, 2, "random", torch.float32, device)
    expected = run(experts_loop, experts_TK, tensors, None)
    assert_close(run(BACKENDS[backend], experts_TK, tensors, None), expected, TOL[torch.float32])


def test_loop_reference_passes_gradcheck() -> None:
    experts_TK, tensors, _ = inputs(6, 4, 3, 3, 2, "empty_experts", torch.float64, "cpu")
    leaves = [t.clone().requires_grad_() for t in tensors]

    def f(*xs: torch.Tensor) -> torch.Tensor:
        x, weights, w_gate, w_up, w_down = xs
        return experts_loop(x, experts_TK, weights, w_gate, w_up, w_down)

    assert torch.autograd.gradcheck(f, tuple(leaves))


def test_torch_gmm_refuses_rather_than_running_the_loop_under_its_name() -> None:
    """float64 has no grouped_mm here. A torch_gmm that quietly ran the loop instead made the
    torch_gmm parity tests compare the loop with itself and the benchmark time the loop under
    torch_gmm's name."""
    experts_TK, tensors, grad_TD = inputs(9, 4, 4, 3, 2, "random", torch.float64, "cpu")
    with pytest.raises(RuntimeError, match="grouped_mm") as raised:
        run(experts_torch_gmm, experts_TK, tensors, grad_TD)
    from synth.trainer.kernels.experts_gmm import GroupedMMUnavailable

    assert isinstance(raised.value, GroupedMMUnavailable)
    assert "float64" in str(raised.value) and "loop" in str(raised.value)  # what to use instead


class _Ctx:
    """Stands in for autograd's ctx, so the backward can be handed the gradient autocast makes."""

    saved_tensors: tuple[torch.Tensor, ...] = ()

    def save_for_backward(self, *tensors: torch.Tensor) -> None:
        self.saved_tensors = tensors

    def mark_non_differentiable(self, *tensors: torch.Tensor) -> None:
        pass


def test_triton_backward_takes_the_fp32_gradient_that_autocast_hands_it(device) -> None:
    """Under CUDA's bf16 autocast the k-sum that ends the down projection runs in fp32, so dy
    reached the kernels as fp32 beside bf16 activations and tl.dot refused the pair ("both
    operands must be same dtype"): training on the triton backend died at its first backward."""
    from synth.trainer.kernels.experts_triton import _TritonExperts

    experts_TK, tensors, grad_TD = inputs(21, 32, 32, 5, 2, "random", torch.float16, device)
    x, weights, w_gate, w_up, w_down = tensors
    grads = []
    for dy_TD in (grad_TD, grad_TD.float()):
        ctx = _Ctx()
        y_TD = _TritonExperts.forward(ctx, x, weights, w_gate, w_up, w_down, experts_TK)
        assert y_TD.dtype == torch.float16
        grads.append(_TritonExperts.backward(ctx, dy_TD)[:5])
    for name, a, b, leaf in zip(["dx", "dweights", "dw_gate", "dw_up", "dw_down"], *grads,
                                tensors, strict=True):  # fmt: skip
        assert b.dtype == leaf.dtype, name
        assert torch.equal(a, b), name


def test_loop_reference_writes_every_expert_into_one_buffer() -> None:
    """The baseline of "10x the loop" must time experts, not copies: an out-of-place index_put
    copied the whole [T, K, D] result once per expert, forward and backward."""
    T, K, D, F = 10, 3, 8, 5
    fresh = {}
    for E in (4, 16):
        experts_TK, tensors, grad_TD = inputs(T, D, F, E, K, "random", torch.float32, "cpu")
        fresh[E] = fresh_outputs(T * K * D, partial(run, experts_loop, experts_TK, tensors,
                                                     grad_TD))  # fmt: skip
    assert len(fresh[16]) == len(fresh[4]) <= 2, fresh


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_backends_are_deterministic(backend, device) -> None:
    if backend == "torch_gmm":
        skip_without_grouped_mm(device, torch.float32, 16, 16)
    fn = BACKENDS[backend]
    experts_TK, tensors, grad_TD = inputs(20, 16, 16, 5, 2, "random", torch.float32, device)
    first, second = run(fn, experts_TK, tensors, grad_TD), run(fn, experts_TK, tensors, grad_TD)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))

"""The expert backends agree: loop (the reference) == torch_gmm == triton, forward and every
gradient, on the routings that break grouped kernels. Triton runs in its interpreter on CPU."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from trainer.kernels.experts_gmm import experts_torch_gmm
from trainer.kernels.experts_ref import experts_loop
from trainer.kernels.experts_triton import experts_triton

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
def test_backend_matches_loop(backend, T, D, F, E, K, kind, dtype, device) -> None:
    experts_TK, tensors, grad_TD = inputs(T, D, F, E, K, kind, dtype, device)
    expected = run(experts_loop, experts_TK, tensors, grad_TD)
    actual = run(BACKENDS[backend], experts_TK, tensors, grad_TD)
    assert_close(actual, expected, TOL[dtype])


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_stride_zero_gradient_from_sum(backend, device) -> None:
    """y.sum() hands back torch.ones(()).expand(T, D): stride 0, which grouped kernels that
    index rows (and grouped_mm's backward) must not read as a dense tensor."""
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


def test_torch_gmm_falls_back_to_loop_with_a_warning_where_unsupported() -> None:
    experts_TK, tensors, grad_TD = inputs(9, 4, 4, 3, 2, "random", torch.float64, "cpu")
    with pytest.warns(UserWarning, match="using the loop backend"):
        actual = run(experts_torch_gmm, experts_TK, tensors, grad_TD)
    assert_close(actual, run(experts_loop, experts_TK, tensors, grad_TD), 1e-12)


def test_backends_are_deterministic(device) -> None:
    experts_TK, tensors, grad_TD = inputs(20, 16, 16, 5, 2, "random", torch.float32, device)
    for fn in BACKENDS.values():
        first, second = run(fn, experts_TK, tensors, grad_TD), run(fn, experts_TK, tensors, grad_TD)
        assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))

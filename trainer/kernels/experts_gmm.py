"""The routed experts through torch's grouped GEMM (``F.grouped_mm`` / ``torch._grouped_mm``).

Slots are sorted by expert and each expert's group is padded to ``align`` rows (grouped GEMMs
on Hopper want 16-row-aligned groups); padding rows are zero, so they add nothing to any
product or weight gradient. The combine gathers each (token, k) result back to its own row and
sums over k: no scatter-add, so forward and backward are deterministic. Where the installed
torch lacks a grouped GEMM for these tensors, it raises ``GroupedMMUnavailable`` rather than
run the loop under its own name: a quiet fallback made the torch_gmm parity tests compare the
loop with itself and the benchmark time the loop as "torch_gmm".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from synth.trainer.kernels.schedule import sort_by_expert

GroupedMM = Callable[..., torch.Tensor]
_GROUPED_MM: GroupedMM | None = getattr(F, "grouped_mm", None) or getattr(
    torch, "_grouped_mm", None
)
_verdicts: dict[tuple[str, torch.dtype], str | None] = {}


class GroupedMMUnavailable(RuntimeError):
    """torch's grouped GEMM cannot run these tensors here; the message says why."""


def has_grouped_mm() -> bool:
    return _GROUPED_MM is not None


def unsupported_reason(
    device: torch.device, dtype: torch.dtype, D: int, F: int
) -> str | None:
    """Why grouped_mm cannot run experts of these dims and dtype here, or None if it can."""
    if _GROUPED_MM is None:
        return f"torch {torch.__version__} has no grouped_mm"
    if any(d * dtype.itemsize % 16 for d in (D, F)):
        return f"grouped_mm needs rows of 16-byte multiples; D, F = {D, F} in {dtype}"
    key = (device.type, dtype)
    if key not in _verdicts:
        _verdicts[key] = _probe(device, dtype)
    return _verdicts[key]


def _probe(device: torch.device, dtype: torch.dtype) -> str | None:
    assert _GROUPED_MM is not None
    try:
        # Grad on even when the first call comes under no_grad (sampling): the verdict is cached.
        with torch.enable_grad():
            a = torch.zeros(32, 16, device=device, dtype=dtype, requires_grad=True)
            b = torch.zeros(2, 16, 16, device=device, dtype=dtype, requires_grad=True)
            offs = torch.tensor([16, 32], device=device, dtype=torch.int32)
            _grouped(a, b, offs).sum().backward()  # sum(): stride-0 gradient, as in real use
    except (RuntimeError, NotImplementedError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        return f"grouped_mm fails for {dtype} on {device.type} ({first})"
    return None


class _DenseGrad(torch.autograd.Function):
    """Identity whose backward makes the gradient contiguous: grouped_mm's backward rejects
    the stride-0 gradient that a loss like ``y.sum()`` produces."""

    @staticmethod
    def forward(ctx: Any, t: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return t

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return grad.contiguous()


def _grouped(a_PX: torch.Tensor, w_EXY: torch.Tensor, offs_E: torch.Tensor) -> torch.Tensor:
    """Row group e of a_PX (rows up to offs_E[e]) times w_EXY[e]^T."""
    assert _GROUPED_MM is not None
    out = _DenseGrad.apply(_GROUPED_MM(a_PX, w_EXY.transpose(-2, -1), offs=offs_E))
    assert isinstance(out, torch.Tensor)
    return out


def experts_torch_gmm(
    x_TD: torch.Tensor,
    experts_TK: torch.Tensor,
    weights_TK: torch.Tensor,
    w_gate_EFD: torch.Tensor,
    w_up_EFD: torch.Tensor,
    w_down_EDF: torch.Tensor,
    counts_E: torch.Tensor | None = None,
    *,
    align: int = 16,
) -> torch.Tensor:
    """``counts_E``: slots per expert where the router already counted them."""
    T, K = experts_TK.shape
    D, E, S = x_TD.shape[1], w_gate_EFD.shape[0], experts_TK.numel()
    reason = unsupported_reason(x_TD.device, x_TD.dtype, D, w_gate_EFD.shape[1])
    if reason is not None:
        raise GroupedMMUnavailable(f"torch_gmm backend: {reason}; use the loop backend")
    perm = sort_by_expert(experts_TK, E, counts_E)
    padded_E = torch.div(perm.counts_E + align - 1, align, rounding_mode="floor") * align
    pad_end_E = torch.cumsum(padded_E, 0)
    expert_S = experts_TK.flatten()[perm.perm_S]
    offset_S = torch.arange(S, device=x_TD.device) - perm.start_E[expert_S]
    row_S = pad_end_E[expert_S] - padded_E[expert_S] + offset_S  # padded row of sorted slot s
    # Rows past the last group (the bound's slack) are left out of every group: never read.
    P = S + E * (align - 1)
    # expand+reshape (whose backward is a sum over k) then a permutation, rather than x[token]:
    # a gather by token would scatter-add K gradients into each row of x.
    x_SD = x_TD.unsqueeze(1).expand(T, K, D).reshape(S, D)[perm.perm_S]
    x_PD = x_TD.new_zeros(P, D).index_put((row_S,), x_SD)
    offs_E = pad_end_E.to(torch.int32)
    h_PF = F.silu(_grouped(x_PD, w_gate_EFD, offs_E)) * _grouped(x_PD, w_up_EFD, offs_E)
    o_PD = _grouped(h_PF, w_down_EDF, offs_E)
    row_TK = torch.empty_like(row_S).scatter_(0, perm.perm_S, row_S)  # unique targets
    y_TKD = o_PD[row_TK].view(T, K, D) * weights_TK.unsqueeze(-1)
    return y_TKD.sum(dim=1)

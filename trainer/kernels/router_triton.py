"""The fused router as Triton kernels, with autograd. Reference: ``router_ref.py``.

Forward, one program per block of tokens, the whole expert row in registers: softmax in fp32,
top-k by K rounds of argmax (the lowest index wins a tie), the chosen probabilities
renormalised, and the expert histogram added with one atomic add per expert and block (integer
atomics: the counts are exact whatever the order). A row of NaN logits still picks experts that
exist, with NaN weights, so a diverged run shows a NaN loss rather than a bad memory access.
Backward: the renormalisation's and the softmax's Jacobians applied in one pass, no atomics.
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl

from synth.trainer.kernels.router_ref import Routing

_BLOCK_T = 16


@triton.jit
def _router_fwd(
    logits_ptr, bias_ptr, probs_ptr, weights_ptr, experts_ptr, counts_ptr, T, E,
    K: tl.constexpr, HAS_BIAS: tl.constexpr, NORM: tl.constexpr,
    BLOCK_T: tl.constexpr, BLOCK_E: tl.constexpr, BLOCK_K: tl.constexpr,
):  # fmt: skip
    rows = tl.program_id(0) * BLOCK_T + tl.arange(0, BLOCK_T)
    cols = tl.arange(0, BLOCK_E)
    row_ok = rows < T
    col_ok = cols < E
    offs = rows.to(tl.int64)[:, None] * E + cols[None, :]
    mask = row_ok[:, None] & col_ok[None, :]
    logits = tl.load(logits_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    logits = tl.where(col_ok[None, :], logits, float("-inf"))
    shifted = logits - tl.max(logits, axis=1)[:, None]
    num = tl.exp(shifted)
    probs = num / tl.sum(num, axis=1)[:, None]
    tl.store(probs_ptr + offs, probs, mask=mask)

    scores = probs
    if HAS_BIAS:
        scores = probs + tl.load(bias_ptr + cols, mask=col_ok, other=0.0).to(tl.float32)[None, :]
    scores = tl.where(col_ok[None, :], scores, float("-inf"))
    ks = tl.arange(0, BLOCK_K)
    chosen_w = tl.zeros((BLOCK_T, BLOCK_K), dtype=tl.float32)
    chosen_e = tl.zeros((BLOCK_T, BLOCK_K), dtype=tl.int32)
    hist = tl.zeros((BLOCK_E,), dtype=tl.int32)
    for k in tl.static_range(K):
        best = tl.max(scores, axis=1)
        pick = tl.min(tl.where(scores == best[:, None], cols[None, :], BLOCK_E), axis=1)
        # A NaN row equals no best score and would pick BLOCK_E, an expert that does not
        # exist (an illegal access in the expert kernels): pick a real one; its NaN weight
        # then carries the NaN on to the loss.
        pick = tl.minimum(pick, E - 1)
        hit = cols[None, :] == pick[:, None]
        p = tl.sum(tl.where(hit, probs, 0.0), axis=1)
        chosen_w = tl.where(ks[None, :] == k, p[:, None], chosen_w)
        chosen_e = tl.where(ks[None, :] == k, pick[:, None], chosen_e)
        hist += tl.sum((hit & row_ok[:, None]).to(tl.int32), axis=0)
        scores = tl.where(hit, float("-inf"), scores)
    if NORM:
        chosen_w = chosen_w / tl.sum(chosen_w, axis=1)[:, None]
    k_offs = rows.to(tl.int64)[:, None] * K + ks[None, :]
    k_mask = row_ok[:, None] & (ks[None, :] < K)
    tl.store(weights_ptr + k_offs, chosen_w, mask=k_mask)
    tl.store(experts_ptr + k_offs, chosen_e.to(tl.int64), mask=k_mask)
    tl.atomic_add(counts_ptr + cols, hist, mask=col_ok)


@triton.jit
def _router_bwd(
    probs_ptr, experts_ptr, weights_ptr, d_probs_ptr, d_weights_ptr, d_logits_ptr, T, E,
    K: tl.constexpr, HAS_D_PROBS: tl.constexpr, NORM: tl.constexpr,
    BLOCK_T: tl.constexpr, BLOCK_E: tl.constexpr,
):  # fmt: skip
    rows = tl.program_id(0) * BLOCK_T + tl.arange(0, BLOCK_T)
    cols = tl.arange(0, BLOCK_E)
    row_ok = rows < T
    offs = rows.to(tl.int64)[:, None] * E + cols[None, :]
    mask = row_ok[:, None] & (cols[None, :] < E)
    probs = tl.load(probs_ptr + offs, mask=mask, other=0.0)
    if HAS_D_PROBS:
        d_probs = tl.load(d_probs_ptr + offs, mask=mask, other=0.0)
    else:
        d_probs = tl.zeros((BLOCK_T, BLOCK_E), dtype=tl.float32)
    k_base = rows.to(tl.int64) * K
    if NORM:
        # w_k = p_k / s with s = sum_j p_j: dL/dp_k = (dL/dw_k - sum_j dL/dw_j * w_j) / s
        total = tl.zeros((BLOCK_T,), dtype=tl.float32)
        dot = tl.zeros((BLOCK_T,), dtype=tl.float32)
        for k in tl.static_range(K):
            e = tl.load(experts_ptr + k_base + k, mask=row_ok, other=0)
            total += tl.sum(tl.where(cols[None, :] == e[:, None], probs, 0.0), axis=1)
            w = tl.load(weights_ptr + k_base + k, mask=row_ok, other=0.0)
            dot += w * tl.load(d_weights_ptr + k_base + k, mask=row_ok, other=0.0)
        total = tl.where(row_ok, total, 1.0)
    for k in tl.static_range(K):
        e = tl.load(experts_ptr + k_base + k, mask=row_ok, other=0)
        d_w = tl.load(d_weights_ptr + k_base + k, mask=row_ok, other=0.0)
        if NORM:
            d_w = (d_w - dot) / total
        d_probs += tl.where(cols[None, :] == e[:, None], d_w[:, None], 0.0)
    d_logits = probs * (d_probs - tl.sum(probs * d_probs, axis=1)[:, None])
    tl.store(d_logits_ptr + offs, d_logits, mask=mask)


class _TritonRouter(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        logits_TE: torch.Tensor,
        bias_E: torch.Tensor | None,
        top_k: int,
        norm_topk_prob: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        logits_TE = logits_TE.float().contiguous()
        T, E = logits_TE.shape
        dev = logits_TE.device
        probs_TE = torch.empty_like(logits_TE)
        weights_TK = torch.empty(T, top_k, device=dev, dtype=torch.float32)
        experts_TK = torch.empty(T, top_k, device=dev, dtype=torch.int64)
        counts_E = torch.zeros(E, device=dev, dtype=torch.int32)
        bias = bias_E.float().contiguous() if bias_E is not None else probs_TE  # unread if None
        _router_fwd[(triton.cdiv(T, _BLOCK_T),)](
            logits_TE, bias, probs_TE, weights_TK, experts_TK, counts_E, T, E,
            K=top_k, HAS_BIAS=bias_E is not None, NORM=norm_topk_prob, BLOCK_T=_BLOCK_T,
            BLOCK_E=triton.next_power_of_2(E), BLOCK_K=triton.next_power_of_2(top_k),
        )  # fmt: skip
        counts_E = counts_E.to(torch.int64)
        ctx.save_for_backward(probs_TE, experts_TK, weights_TK)
        ctx.norm = norm_topk_prob
        ctx.mark_non_differentiable(experts_TK, counts_E)
        return probs_TE, weights_TK, experts_TK, counts_E

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: Any,
        d_probs_TE: torch.Tensor | None,
        d_weights_TK: torch.Tensor | None,
        _d_experts: Any,
        _d_counts: Any,
    ) -> tuple[torch.Tensor, None, None, None]:
        probs_TE, experts_TK, weights_TK = ctx.saved_tensors
        T, E = probs_TE.shape
        K = experts_TK.shape[1]
        if d_weights_TK is None:
            d_weights_TK = torch.zeros_like(weights_TK)
        d_weights_TK = d_weights_TK.float().contiguous()
        d_probs = d_probs_TE.float().contiguous() if d_probs_TE is not None else probs_TE
        d_logits_TE = torch.empty_like(probs_TE)
        _router_bwd[(triton.cdiv(T, _BLOCK_T),)](
            probs_TE, experts_TK, weights_TK, d_probs, d_weights_TK, d_logits_TE, T, E,
            K=K, HAS_D_PROBS=d_probs_TE is not None, NORM=ctx.norm, BLOCK_T=_BLOCK_T,
            BLOCK_E=triton.next_power_of_2(E),
        )  # fmt: skip
        return d_logits_TE, None, None, None


def route_triton(
    logits_TE: torch.Tensor,
    top_k: int,
    *,
    norm_topk_prob: bool = True,
    bias_E: torch.Tensor | None = None,
) -> Routing:
    probs_TE, weights_TK, experts_TK, counts_E = _TritonRouter.apply(
        logits_TE, bias_E, top_k, norm_topk_prob
    )
    return Routing(probs_TE, weights_TK, experts_TK, counts_E)

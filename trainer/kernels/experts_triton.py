"""The routed experts as Triton grouped GEMMs, with autograd. Reference: ``experts_ref.py``.

Forward, over slots sorted by expert (torch's stable sort gives the permutation):
  1. ``_up_swiglu``: g = x[token] @ w_gate[e]^T, u = x[token] @ w_up[e]^T, h = silu(g) * u.
     The gather of x by token is fused into the A loads, SwiGLU into the epilogue.
  2. ``_down``: o = w_route * (h @ w_down[e]^T), stored at the slot's own (t, k) row,
     then a plain sum over k (deterministic: no atomics anywhere).
Backward:
  3. ``_down_bwd``: a = dy[token] @ w_down[e], dh = w_route * a, then SwiGLU's backward in the
     epilogue (dg, du), and per-column-block partial sums of <h, a> (the routing weight's
     gradient), summed afterwards in a fixed order.
  4. ``_up_bwd_dx``: dx of a slot = dg @ w_gate[e] + du @ w_up[e], at its (t, k) row; sum over k.
  5. ``_wgrad``: dW[e] = A_e^T @ B_e over the rows of expert e, in a fixed row order:
     (dg, du) against x[token] for w_gate, w_up; (w_route * dy[token]) against h for w_down.

Row blocks come from ``schedule.block_schedule`` (sizes known without a host sync). Tile sizes
are fixed per device (``tiles``), not autotuned: a run must pick the same reduction order every
time to be bit-reproducible, and Triton's interpreter takes one config only.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import triton
import triton.language as tl

from synth.trainer.kernels.schedule import (
    BlockSchedule,
    Permutation,
    block_schedule,
    sort_by_expert,
)


class Tiles(NamedTuple):
    block_m: int
    block_n: int
    block_k: int
    num_warps: int
    num_stages: int


# Under TRITON_INTERPRET=1 (CPU): small tiles, so tiny test shapes still span several blocks.
INTERPRET_TILES = Tiles(16, 16, 16, 4, 1)
# Hopper, bf16. One row-block size for all row-blocked kernels, so one schedule serves them.
CUDA_TILES: dict[str, Tiles] = {
    "up": Tiles(128, 64, 64, 8, 4),  # two accumulators (gate, up): 128 x 128 of output work
    "down": Tiles(128, 128, 64, 8, 4),
    "down_bwd": Tiles(128, 64, 64, 8, 4),
    "dx": Tiles(128, 128, 64, 8, 2),  # four operand tiles a stage: two stages fit in smem
    "wgrad": Tiles(128, 128, 64, 8, 3),
}


def tiles(kind: str, device: torch.device, dtype: torch.dtype = torch.bfloat16) -> Tiles:
    if device.type != "cuda":
        return INTERPRET_TILES
    t = CUDA_TILES[kind]
    # 4-byte operands (fp32 parity checks) would overflow shared memory: halve the K step.
    return t._replace(block_k=t.block_k // 2) if dtype.itemsize == 4 else t


def _precision(dtype: torch.dtype) -> str:
    # fp32 inputs: full-precision products (the default would round them to tf32 on GPUs).
    return "ieee" if dtype == torch.float32 else "tf32"


def _launch(kernel: Any, grid: int, t: Tiles, *args: Any, **constexprs: Any) -> None:
    kernel[(grid,)](
        *args,
        BLOCK_M=t.block_m,
        BLOCK_N=t.block_n,
        BLOCK_K=t.block_k,
        num_warps=t.num_warps,
        num_stages=t.num_stages,
        **constexprs,
    )


@triton.jit
def _up_swiglu(
    x_ptr, token_ptr, w_gate_ptr, w_up_ptr, g_ptr, u_ptr, h_ptr,
    expert_ptr, start_ptr, end_ptr, D, F,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    PRECISION: tl.constexpr,
):  # fmt: skip
    pid = tl.program_id(0)
    num_n = tl.cdiv(F, BLOCK_N)
    pid_m, pid_n = pid // num_n, pid % num_n
    start = tl.load(start_ptr + pid_m)
    end = tl.load(end_ptr + pid_m)
    if start >= end:
        return
    e = tl.load(expert_ptr + pid_m).to(tl.int64)
    rows = start + tl.arange(0, BLOCK_M)
    row_ok = rows < end
    token = tl.load(token_ptr + rows, mask=row_ok, other=0).to(tl.int64)
    cols = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    col_ok = cols < F
    ks = tl.arange(0, BLOCK_K)
    w_base = e * F * D
    acc_g = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    acc_u = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, D, BLOCK_K):
        kk = k0 + ks
        k_ok = kk < D
        x = tl.load(
            x_ptr + token[:, None] * D + kk[None, :],
            mask=row_ok[:, None] & k_ok[None, :],
            other=0.0,
        )
        w_offs = w_base + cols[None, :] * D + kk[:, None]  # [BLOCK_K, BLOCK_N] of w[e]^T
        w_mask = k_ok[:, None] & col_ok[None, :]
        w_gate = tl.load(w_gate_ptr + w_offs, mask=w_mask, other=0.0)
        w_up = tl.load(w_up_ptr + w_offs, mask=w_mask, other=0.0)
        acc_g = tl.dot(x, w_gate, acc_g, input_precision=PRECISION)
        acc_u = tl.dot(x, w_up, acc_u, input_precision=PRECISION)
    out_dtype = h_ptr.dtype.element_ty
    # SwiGLU from the rounded g and u, exactly as the reference computes it from stored tensors.
    g = acc_g.to(out_dtype)
    u = acc_u.to(out_dtype)
    gf = g.to(tl.float32)
    h = gf * tl.sigmoid(gf) * u.to(tl.float32)
    offs = rows.to(tl.int64)[:, None] * F + cols[None, :]
    mask = row_ok[:, None] & col_ok[None, :]
    tl.store(g_ptr + offs, g, mask=mask)
    tl.store(u_ptr + offs, u, mask=mask)
    tl.store(h_ptr + offs, h.to(out_dtype), mask=mask)


@triton.jit
def _down(
    h_ptr, w_down_ptr, w_route_ptr, perm_ptr, y_ptr,
    expert_ptr, start_ptr, end_ptr, D, F,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    PRECISION: tl.constexpr,
):  # fmt: skip
    pid = tl.program_id(0)
    num_n = tl.cdiv(D, BLOCK_N)
    pid_m, pid_n = pid // num_n, pid % num_n
    start = tl.load(start_ptr + pid_m)
    end = tl.load(end_ptr + pid_m)
    if start >= end:
        return
    e = tl.load(expert_ptr + pid_m).to(tl.int64)
    rows = start + tl.arange(0, BLOCK_M)
    row_ok = rows < end
    cols = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    col_ok = cols < D
    ks = tl.arange(0, BLOCK_K)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, F, BLOCK_K):
        kk = k0 + ks
        k_ok = kk < F
        h = tl.load(
            h_ptr + rows.to(tl.int64)[:, None] * F + kk[None, :],
            mask=row_ok[:, None] & k_ok[None, :],
            other=0.0,
        )
        w = tl.load(
            w_down_ptr + e * D * F + cols[None, :] * F + kk[:, None],
            mask=k_ok[:, None] & col_ok[None, :],
            other=0.0,
        )
        acc = tl.dot(h, w, acc, input_precision=PRECISION)
    out_dtype = y_ptr.dtype.element_ty
    w_route = tl.load(w_route_ptr + rows, mask=row_ok, other=0.0).to(out_dtype)
    # Round the expert's output first, then weight it: the reference's order of operations.
    y = acc.to(out_dtype).to(tl.float32) * w_route.to(tl.float32)[:, None]
    slot = tl.load(perm_ptr + rows, mask=row_ok, other=0).to(tl.int64)
    tl.store(
        y_ptr + slot[:, None] * D + cols[None, :],
        y.to(out_dtype),
        mask=row_ok[:, None] & col_ok[None, :],
    )


@triton.jit
def _down_bwd(
    dy_ptr, token_ptr, w_down_ptr, w_route_ptr, g_ptr, u_ptr, h_ptr, dg_ptr, du_ptr, dw_part_ptr,
    expert_ptr, start_ptr, end_ptr, D, F,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    PRECISION: tl.constexpr,
):  # fmt: skip
    pid = tl.program_id(0)
    num_n = tl.cdiv(F, BLOCK_N)
    pid_m, pid_n = pid // num_n, pid % num_n
    start = tl.load(start_ptr + pid_m)
    end = tl.load(end_ptr + pid_m)
    if start >= end:
        return
    e = tl.load(expert_ptr + pid_m).to(tl.int64)
    rows = start + tl.arange(0, BLOCK_M)
    row_ok = rows < end
    token = tl.load(token_ptr + rows, mask=row_ok, other=0).to(tl.int64)
    cols = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    col_ok = cols < F
    ks = tl.arange(0, BLOCK_K)
    out_dtype = dg_ptr.dtype.element_ty
    w_route = tl.load(w_route_ptr + rows, mask=row_ok, other=0.0).to(out_dtype)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)  # dy[token] @ w_down[e]
    for k0 in range(0, D, BLOCK_K):
        kk = k0 + ks
        k_ok = kk < D
        dy = tl.load(
            dy_ptr + token[:, None] * D + kk[None, :],
            mask=row_ok[:, None] & k_ok[None, :],
            other=0.0,
        )
        w = tl.load(
            w_down_ptr + e * D * F + kk[:, None] * F + cols[None, :],
            mask=k_ok[:, None] & col_ok[None, :],
            other=0.0,
        )
        acc = tl.dot(dy, w, acc, input_precision=PRECISION)
    offs = rows.to(tl.int64)[:, None] * F + cols[None, :]
    mask = row_ok[:, None] & col_ok[None, :]
    dh = (acc * w_route.to(tl.float32)[:, None]).to(out_dtype).to(tl.float32)
    g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    u = tl.load(u_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    sig = tl.sigmoid(g)
    silu = (g * sig).to(out_dtype).to(tl.float32)
    du = dh * silu
    dg = dh * u * sig * (1.0 + g * (1.0 - sig))
    tl.store(dg_ptr + offs, dg.to(out_dtype), mask=mask)
    tl.store(du_ptr + offs, du.to(out_dtype), mask=mask)
    # d loss / d w_route = <dy[token], h @ w_down[e]^T> = <h, dy[token] @ w_down[e]>, summed
    # over this block's columns here and over the blocks afterwards, in a fixed order.
    h = tl.load(h_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    tl.store(dw_part_ptr + rows.to(tl.int64) * num_n + pid_n, tl.sum(h * acc, axis=1), mask=row_ok)


@triton.jit
def _up_bwd_dx(
    dg_ptr, du_ptr, w_gate_ptr, w_up_ptr, perm_ptr, dx_ptr,
    expert_ptr, start_ptr, end_ptr, D, F,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    PRECISION: tl.constexpr,
):  # fmt: skip
    pid = tl.program_id(0)
    num_n = tl.cdiv(D, BLOCK_N)
    pid_m, pid_n = pid // num_n, pid % num_n
    start = tl.load(start_ptr + pid_m)
    end = tl.load(end_ptr + pid_m)
    if start >= end:
        return
    e = tl.load(expert_ptr + pid_m).to(tl.int64)
    rows = start + tl.arange(0, BLOCK_M)
    row_ok = rows < end
    cols = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    col_ok = cols < D
    ks = tl.arange(0, BLOCK_K)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, F, BLOCK_K):
        kk = k0 + ks
        k_ok = kk < F
        a_offs = rows.to(tl.int64)[:, None] * F + kk[None, :]
        a_mask = row_ok[:, None] & k_ok[None, :]
        w_offs = e * F * D + kk[:, None] * D + cols[None, :]
        w_mask = k_ok[:, None] & col_ok[None, :]
        dg = tl.load(dg_ptr + a_offs, mask=a_mask, other=0.0)
        du = tl.load(du_ptr + a_offs, mask=a_mask, other=0.0)
        acc = tl.dot(dg, tl.load(w_gate_ptr + w_offs, mask=w_mask, other=0.0), acc,
                     input_precision=PRECISION)  # fmt: skip
        acc = tl.dot(du, tl.load(w_up_ptr + w_offs, mask=w_mask, other=0.0), acc,
                     input_precision=PRECISION)  # fmt: skip
    slot = tl.load(perm_ptr + rows, mask=row_ok, other=0).to(tl.int64)
    tl.store(
        dx_ptr + slot[:, None] * D + cols[None, :],
        acc.to(dx_ptr.dtype.element_ty),
        mask=row_ok[:, None] & col_ok[None, :],
    )


@triton.jit
def _wgrad(
    a_ptr, a2_ptr, a_row_ptr, scale_ptr, b_ptr, b_row_ptr, start_ptr, counts_ptr,
    out_ptr, out2_ptr, M, N,
    A_GATHER: tl.constexpr, SCALE: tl.constexpr, B_GATHER: tl.constexpr, TWO: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    PRECISION: tl.constexpr,
):  # fmt: skip
    """out[e] = A_e^T @ B_e (and out2[e] = A2_e^T @ B_e), A_e, B_e the rows of expert e."""
    pid = tl.program_id(0)
    num_m = tl.cdiv(M, BLOCK_M)
    num_n = tl.cdiv(N, BLOCK_N)
    e = pid // (num_m * num_n)
    pid_m = (pid % (num_m * num_n)) // num_n
    pid_n = pid % num_n
    start = tl.load(start_ptr + e)
    count = tl.load(counts_ptr + e)
    ms = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    ns = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    m_ok = ms < M
    n_ok = ns < N
    ks = tl.arange(0, BLOCK_K)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    acc2 = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for r0 in range(0, count, BLOCK_K):
        r_ok = r0 + ks < count
        rows = start + r0 + ks
        if A_GATHER:
            a_rows = tl.load(a_row_ptr + rows, mask=r_ok, other=0).to(tl.int64)
        else:
            a_rows = rows.to(tl.int64)
        if B_GATHER:
            b_rows = tl.load(b_row_ptr + rows, mask=r_ok, other=0).to(tl.int64)
        else:
            b_rows = rows.to(tl.int64)
        b = tl.load(
            b_ptr + b_rows[:, None] * N + ns[None, :], mask=r_ok[:, None] & n_ok[None, :], other=0.0
        )
        a_offs = a_rows[None, :] * M + ms[:, None]  # [BLOCK_M, BLOCK_K]: A^T
        a_mask = m_ok[:, None] & r_ok[None, :]
        a = tl.load(a_ptr + a_offs, mask=a_mask, other=0.0)
        if SCALE:
            scale = tl.load(scale_ptr + rows, mask=r_ok, other=0.0).to(a.dtype)
            a = (a.to(tl.float32) * scale.to(tl.float32)[None, :]).to(b.dtype)
        acc = tl.dot(a, b, acc, input_precision=PRECISION)
        if TWO:
            a2 = tl.load(a2_ptr + a_offs, mask=a_mask, other=0.0)
            acc2 = tl.dot(a2, b, acc2, input_precision=PRECISION)
    offs = e.to(tl.int64) * M * N + ms[:, None] * N + ns[None, :]
    mask = m_ok[:, None] & n_ok[None, :]
    tl.store(out_ptr + offs, acc.to(out_ptr.dtype.element_ty), mask=mask)
    if TWO:
        tl.store(out2_ptr + offs, acc2.to(out2_ptr.dtype.element_ty), mask=mask)


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


class Plan(NamedTuple):
    """Where each slot goes, shared by the forward and backward kernels of one call."""

    perm: Permutation
    sched: BlockSchedule
    w_route_S: torch.Tensor  # routing weight of each sorted slot, in the compute dtype
    block_m: int


def make_plan(
    experts_TK: torch.Tensor,
    weights_TK: torch.Tensor,
    E: int,
    dtype: torch.dtype,
    counts_E: torch.Tensor | None = None,
) -> Plan:
    block_m = tiles("up", experts_TK.device).block_m
    perm = sort_by_expert(experts_TK, E, counts_E)
    sched = block_schedule(perm, block_m)
    w_route_S = weights_TK.flatten()[perm.perm_S].to(dtype).contiguous()
    return Plan(perm, sched, w_route_S, block_m)


def up_swiglu(
    x_TD: torch.Tensor, w_gate_EFD: torch.Tensor, w_up_EFD: torch.Tensor, plan: Plan
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """g_SF, u_SF, h_SF of every sorted slot (kernel 1)."""
    S, (_, F, D) = plan.perm.perm_S.numel(), w_gate_EFD.shape
    g_SF, u_SF, h_SF = (x_TD.new_empty(S, F) for _ in range(3))
    t = tiles("up", x_TD.device, x_TD.dtype)
    grid = plan.sched.start_M.numel() * _cdiv(F, t.block_n)
    _launch(_up_swiglu, grid, t, x_TD, plan.perm.token_S, w_gate_EFD, w_up_EFD, g_SF, u_SF, h_SF,
            *plan.sched, D, F, PRECISION=_precision(x_TD.dtype))  # fmt: skip
    return g_SF, u_SF, h_SF


def down(h_SF: torch.Tensor, w_down_EDF: torch.Tensor, plan: Plan, T: int) -> torch.Tensor:
    """y_TD = sum_k w_route * (h @ w_down[e]^T) (kernel 2, then a sum over k)."""
    S, (_, D, F) = h_SF.shape[0], w_down_EDF.shape
    y_SD = h_SF.new_empty(S, D)  # rows in slot order (t*K + k)
    t = tiles("down", h_SF.device, h_SF.dtype)
    grid = plan.sched.start_M.numel() * _cdiv(D, t.block_n)
    _launch(_down, grid, t, h_SF, w_down_EDF, plan.w_route_S, plan.perm.perm_S, y_SD,
            *plan.sched, D, F, PRECISION=_precision(h_SF.dtype))  # fmt: skip
    return y_SD.view(T, S // T, D).sum(dim=1)


def down_bwd(
    dy_TD: torch.Tensor,
    w_down_EDF: torch.Tensor,
    g_SF: torch.Tensor,
    u_SF: torch.Tensor,
    h_SF: torch.Tensor,
    plan: Plan,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """dg_SF, du_SF and the routing weight's gradient of every sorted slot (kernel 3)."""
    (S, F), D = g_SF.shape, dy_TD.shape[1]
    t = tiles("down_bwd", dy_TD.device, dy_TD.dtype)
    num_n = _cdiv(F, t.block_n)
    dg_SF, du_SF = torch.empty_like(g_SF), torch.empty_like(u_SF)
    d_route_SN = torch.zeros(S, num_n, device=dy_TD.device, dtype=torch.float32)
    _launch(_down_bwd, plan.sched.start_M.numel() * num_n, t, dy_TD, plan.perm.token_S,
            w_down_EDF, plan.w_route_S, g_SF, u_SF, h_SF, dg_SF, du_SF, d_route_SN, *plan.sched,
            D, F, PRECISION=_precision(dy_TD.dtype))  # fmt: skip
    return dg_SF, du_SF, d_route_SN.sum(dim=1)


def up_bwd_dx(
    dg_SF: torch.Tensor, du_SF: torch.Tensor, w_gate_EFD: torch.Tensor, w_up_EFD: torch.Tensor,
    plan: Plan, T: int,
) -> torch.Tensor:  # fmt: skip
    """dx_TD: each slot's dg @ w_gate[e] + du @ w_up[e], summed over k (kernel 4)."""
    (S, F), D = dg_SF.shape, w_gate_EFD.shape[2]
    t = tiles("dx", dg_SF.device, dg_SF.dtype)
    dx_SD = dg_SF.new_empty(S, D)  # rows in slot order
    _launch(_up_bwd_dx, plan.sched.start_M.numel() * _cdiv(D, t.block_n), t, dg_SF, du_SF,
            w_gate_EFD, w_up_EFD, plan.perm.perm_S, dx_SD, *plan.sched, D, F,
            PRECISION=_precision(dg_SF.dtype))  # fmt: skip
    return dx_SD.view(T, S // T, D).sum(dim=1)


def wgrad_up(
    dg_SF: torch.Tensor, du_SF: torch.Tensor, x_TD: torch.Tensor, plan: Plan, E: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """dw_gate_EFD, dw_up_EFD: (dg, du)_e^T @ x[token]_e, in one pass over x (kernel 5)."""
    F, D = dg_SF.shape[1], x_TD.shape[1]
    t = tiles("wgrad", x_TD.device, x_TD.dtype)
    dw_gate_EFD, dw_up_EFD = (x_TD.new_empty(E, F, D) for _ in range(2))
    p = plan.perm
    _launch(_wgrad, E * _cdiv(F, t.block_m) * _cdiv(D, t.block_n), t, dg_SF, du_SF, p.token_S,
            plan.w_route_S, x_TD, p.token_S, p.start_E, p.counts_E, dw_gate_EFD, dw_up_EFD, F, D,
            A_GATHER=False, SCALE=False, B_GATHER=True, TWO=True,
            PRECISION=_precision(x_TD.dtype))  # fmt: skip
    return dw_gate_EFD, dw_up_EFD


def wgrad_down(dy_TD: torch.Tensor, h_SF: torch.Tensor, plan: Plan, E: int) -> torch.Tensor:
    """dw_down_EDF: (w_route * dy[token])_e^T @ h_e (kernel 5, gathering and scaling A)."""
    D, F = dy_TD.shape[1], h_SF.shape[1]
    t = tiles("wgrad", dy_TD.device, dy_TD.dtype)
    dw_down_EDF = dy_TD.new_empty(E, D, F)
    p = plan.perm
    _launch(_wgrad, E * _cdiv(D, t.block_m) * _cdiv(F, t.block_n), t, dy_TD, dy_TD, p.token_S,
            plan.w_route_S, h_SF, p.token_S, p.start_E, p.counts_E, dw_down_EDF, dw_down_EDF, D,
            F, A_GATHER=True, SCALE=True, B_GATHER=False, TWO=False,
            PRECISION=_precision(dy_TD.dtype))  # fmt: skip
    return dw_down_EDF


class _TritonExperts(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x_TD: torch.Tensor,
        weights_TK: torch.Tensor,
        w_gate_EFD: torch.Tensor,
        w_up_EFD: torch.Tensor,
        w_down_EDF: torch.Tensor,
        experts_TK: torch.Tensor,
        counts_E: torch.Tensor | None = None,
    ) -> torch.Tensor:
        x_TD, w_gate_EFD, w_up_EFD, w_down_EDF = (
            t.contiguous() for t in (x_TD, w_gate_EFD, w_up_EFD, w_down_EDF)
        )
        plan = make_plan(experts_TK, weights_TK, w_gate_EFD.shape[0], x_TD.dtype, counts_E)
        g_SF, u_SF, h_SF = up_swiglu(x_TD, w_gate_EFD, w_up_EFD, plan)
        # Off autocast: CUDA's runs the k-sum in fp32, which made y (and so dy) fp32.
        with torch.autocast(x_TD.device.type, enabled=False):
            y_TD = down(h_SF, w_down_EDF, plan, x_TD.shape[0])
        ctx.save_for_backward(x_TD, w_gate_EFD, w_up_EFD, w_down_EDF, g_SF, u_SF, h_SF,
                              *plan.perm, *plan.sched, plan.w_route_S)  # fmt: skip
        ctx.shape_TK = experts_TK.shape
        ctx.weights_dtype = weights_TK.dtype
        ctx.block_m = plan.block_m
        return y_TD

    @staticmethod
    def backward(ctx: Any, dy_TD: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        x_TD, w_gate_EFD, w_up_EFD, w_down_EDF, g_SF, u_SF, h_SF, *rest = ctx.saved_tensors
        plan = Plan(Permutation(*rest[:4]), BlockSchedule(*rest[4:7]), rest[7], ctx.block_m)
        T, K = ctx.shape_TK
        E = w_gate_EFD.shape[0]
        # A loss like y.sum() hands back an expanded, stride-0 gradient: the kernels index rows.
        # An fp32 dy (from a sum under autocast) beside bf16 activations would hand tl.dot
        # operands of two dtypes, which it refuses: the kernels take the activations' dtype.
        dy_TD = dy_TD.to(x_TD.dtype).contiguous()
        with torch.autocast(dy_TD.device.type, enabled=False):
            dg_SF, du_SF, d_route_S = down_bwd(dy_TD, w_down_EDF, g_SF, u_SF, h_SF, plan)
            # Back from sorted order to (t, k) order: a permutation, so no two writes collide.
            d_weights_TK = (
                torch.empty(T * K, device=dy_TD.device, dtype=ctx.weights_dtype)
                .index_put_((plan.perm.perm_S,), d_route_S.to(ctx.weights_dtype))
                .view(T, K)
            )
            dx_TD = up_bwd_dx(dg_SF, du_SF, w_gate_EFD, w_up_EFD, plan, T)
            dw_gate_EFD, dw_up_EFD = wgrad_up(dg_SF, du_SF, x_TD, plan, E)
            dw_down_EDF = wgrad_down(dy_TD, h_SF, plan, E)
        return dx_TD, d_weights_TK, dw_gate_EFD, dw_up_EFD, dw_down_EDF, None, None


def experts_triton(
    x_TD: torch.Tensor,
    experts_TK: torch.Tensor,
    weights_TK: torch.Tensor,
    w_gate_EFD: torch.Tensor,
    w_up_EFD: torch.Tensor,
    w_down_EDF: torch.Tensor,
    counts_E: torch.Tensor | None = None,
) -> torch.Tensor:
    """``counts_E``: slots per expert where the router already counted them (else counted
    here, on the device)."""
    out = _TritonExperts.apply(
        x_TD, weights_TK, w_gate_EFD, w_up_EFD, w_down_EDF, experts_TK, counts_E
    )
    assert isinstance(out, torch.Tensor)
    return out

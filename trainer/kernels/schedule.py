"""Where each token-expert slot goes: the permutation shared by the grouped backends.

All of it is torch on the device, with sizes known in advance (no host synchronisation), so
a step can be captured in a CUDA graph. Torch's stable sort makes the order deterministic.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class Permutation(NamedTuple):
    perm_S: torch.Tensor  # slot (t*K + k) at each sorted position
    token_S: torch.Tensor  # token of each sorted slot
    start_E: torch.Tensor  # first sorted position of each expert
    counts_E: torch.Tensor  # sorted positions of each expert


def sort_by_expert(
    experts_TK: torch.Tensor, num_experts: int, counts_E: torch.Tensor | None = None
) -> Permutation:
    """``counts_E``: the router's histogram of ``experts_TK``, when it made one."""
    K = experts_TK.shape[1]
    flat_S = experts_TK.flatten()
    perm_S = torch.argsort(flat_S, stable=True)
    if counts_E is None:
        counts_E = count_experts(flat_S, num_experts)
    start_E = torch.cumsum(counts_E, 0) - counts_E
    return Permutation(perm_S, torch.div(perm_S, K, rounding_mode="floor"), start_E, counts_E)


def count_experts(
    experts_S: torch.Tensor, num_experts: int, counted_S: torch.Tensor | None = None
) -> torch.Tensor:
    """int64 slots per expert (only those where ``counted_S`` is True, if given). Not
    ``torch.bincount``: on CUDA it reads the largest index back to the host (a sync) to size
    its output, even with ``minlength``. Integer scatter-adds are exact in any order, so this
    is deterministic."""
    ones_S = (
        torch.ones_like(experts_S, dtype=torch.int64)
        if counted_S is None
        else counted_S.to(torch.int64)
    )
    counts_E = torch.zeros(num_experts, dtype=torch.int64, device=experts_S.device)
    return counts_E.scatter_add_(0, experts_S, ones_S)


class BlockSchedule(NamedTuple):
    """Row blocks of a grouped GEMM: block m covers sorted rows [start_M[m], end_M[m]) of
    expert expert_M[m]. Blocks past the last real one are empty (start == end) and return at
    once; their number is a bound known without reading the counts back to the host."""

    expert_M: torch.Tensor
    start_M: torch.Tensor
    end_M: torch.Tensor


def max_blocks(num_slots: int, num_experts: int, block_m: int) -> int:
    """sum_e ceil(c_e / BM) < S / BM + E, for any split of S slots over E experts."""
    return -(-num_slots // block_m) + num_experts


def block_schedule(perm: Permutation, block_m: int) -> BlockSchedule:
    counts_E, start_E = perm.counts_E, perm.start_E
    E = counts_E.shape[0]
    blocks_E = torch.div(counts_E + block_m - 1, block_m, rounding_mode="floor")
    block_end_E = torch.cumsum(blocks_E, 0)
    m_M = torch.arange(max_blocks(perm.perm_S.numel(), E, block_m), device=counts_E.device)
    expert_M = torch.searchsorted(block_end_E, m_M, right=True)  # E for the spare blocks
    e_M = expert_M.clamp(max=E - 1)
    first_block_M = block_end_E[e_M] - blocks_E[e_M]
    real_M = expert_M < E
    start_M = torch.where(real_M, start_E[e_M] + (m_M - first_block_M) * block_m, 0)
    end_M = torch.where(real_M, start_E[e_M] + counts_E[e_M], 0)
    return BlockSchedule(e_M.to(torch.int32), start_M.to(torch.int32), end_M.to(torch.int32))

"""The routed experts in plain torch, one expert at a time: the reference every backend matches.

y_TD = sum_k weights_TK[t, k] * down_e(silu(gate_e(x_t)) * up_e(x_t)), e = experts_TK[t, k].
Each (token, k) result lands in its own row of ``out_TKD``, written in place, and the sum over
k is a plain reduction, so the result does not depend on the order in which experts run. This
is also the baseline the benchmark's "x times the loop" divides by.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def swiglu_ref(
    x_TD: torch.Tensor, w_gate_FD: torch.Tensor, w_up_FD: torch.Tensor, w_down_DF: torch.Tensor
) -> torch.Tensor:
    return F.linear(F.silu(F.linear(x_TD, w_gate_FD)) * F.linear(x_TD, w_up_FD), w_down_DF)


def experts_loop(
    x_TD: torch.Tensor,
    experts_TK: torch.Tensor,
    weights_TK: torch.Tensor,
    w_gate_EFD: torch.Tensor,
    w_up_EFD: torch.Tensor,
    w_down_EDF: torch.Tensor,
    counts_E: torch.Tensor | None = None,  # the grouped backends' input; one loop needs none
) -> torch.Tensor:
    T, K = experts_TK.shape
    out_TKD = x_TD.new_zeros(T, K, x_TD.shape[1])
    for e in range(w_gate_EFD.shape[0]):
        t_idx, k_idx = torch.where(experts_TK == e)
        if t_idx.numel() == 0:
            continue  # an empty expert contributes nothing, and gets a zero gradient
        y_XD = swiglu_ref(x_TD[t_idx], w_gate_EFD[e], w_up_EFD[e], w_down_EDF[e])
        # In place, and accumulating into zeros (each (t, k) row is written once, so adding is
        # writing): the gradient then passes through untouched. An out-of-place index_put
        # copied all of out_TKD once per expert, forward and backward, and the copies, not
        # the experts, made up most of what "x times the loop" measured.
        out_TKD.index_put_((t_idx, k_idx), y_XD * weights_TK[t_idx, k_idx, None], accumulate=True)
    return out_TKD.sum(dim=1)

"""The router in torch: fp32 softmax, top-k (optionally biased), renormalisation, histogram.

The fused Triton router (``router_triton.py``) must match this one.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from synth.trainer.kernels.schedule import count_experts


class Routing(NamedTuple):
    probs_TE: torch.Tensor  # fp32 softmax over all experts (differentiable; feeds the aux loss)
    weights_TK: torch.Tensor  # fp32 weights of the chosen experts (differentiable)
    experts_TK: torch.Tensor  # int64 chosen experts, best first
    counts_E: torch.Tensor  # int64 slots per expert (no gradient)


def route_ref(
    logits_TE: torch.Tensor,
    top_k: int,
    *,
    norm_topk_prob: bool = True,
    bias_E: torch.Tensor | None = None,
) -> Routing:
    """Pick ``top_k`` experts per token from router logits.

    ``bias_E`` (aux-loss-free balancing) shifts only which experts are chosen; the weights are
    always the unbiased probabilities, as in DeepSeek-V3's bias balancing.
    """
    # At least fp32 (float64 stays float64, for gradcheck).
    probs_TE = torch.softmax(logits_TE.to(torch.promote_types(logits_TE.dtype, torch.float32)), -1)
    scores_TE = probs_TE.detach() if bias_E is None else probs_TE.detach() + bias_E
    experts_TK = torch.topk(scores_TE, top_k, dim=-1, sorted=True).indices
    weights_TK = probs_TE.gather(1, experts_TK)
    if norm_topk_prob:
        weights_TK = weights_TK / weights_TK.sum(dim=-1, keepdim=True)
    counts_E = count_experts(experts_TK.flatten(), logits_TE.shape[1])
    return Routing(probs_TE, weights_TK, experts_TK, counts_E)

"""The mixture-of-experts block (Qwen3-Next style): many small routed SwiGLU experts chosen
top-k by an fp32 router, plus one shared expert behind a sigmoid gate. Dropless.

Shape legend: B batch, L sequence, T tokens (B*L), D model dim, E experts, F routed expert
hidden dim, G shared expert hidden dim, K top-k, S slots (T*K), X any trailing dim.

Padding positions (``valid_BL`` False) are routed like any token, so shapes stay static, but
every routing statistic leaves them out: the aux loss, the z-loss, the load that moves the
balancing bias and the counts behind the load metric. Padding would otherwise pull the
balancing towards whatever experts PAD tokens prefer.

Load balancing, each optional through ``MoEConfig``:
- Switch-style auxiliary loss E * sum_e f_e * P_e (f_e: share of slots routed to e, P_e: mean
  router probability of e), which is exactly 1.0 under uniform routing;
- router z-loss, mean(logsumexp(logits)^2);
- aux-loss-free balancing: a per-expert bias added to the scores that choose experts (never to
  the weights), moved by ``rate * sign(mean load - load)`` after each step and re-centred.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from synth.trainer.backends import Backend, get_backend
from synth.trainer.config import MoEConfig
from synth.trainer.kernels.schedule import count_experts


class MoEStats(NamedTuple):
    aux_loss: torch.Tensor  # scalar, differentiable through the router probabilities
    z_loss: torch.Tensor  # scalar
    counts_E: torch.Tensor  # int64 slots per expert of this pass's real (non-padding) tokens


def switch_aux_loss(
    probs_TE: torch.Tensor, counts_E: torch.Tensor, valid_T: torch.Tensor | None = None
) -> torch.Tensor:
    E = probs_TE.shape[1]
    share_E = counts_E.float() / counts_E.sum().clamp(min=1)  # f_e: no gradient
    return E * torch.sum(share_E * _mean_over_tokens(probs_TE, valid_T))


def router_z_loss(logits_TE: torch.Tensor, valid_T: torch.Tensor | None = None) -> torch.Tensor:
    return _mean_over_tokens(torch.logsumexp(logits_TE, dim=-1).square()[:, None], valid_T)[0]


def _mean_over_tokens(v_TX: torch.Tensor, valid_T: torch.Tensor | None) -> torch.Tensor:
    if valid_T is None:
        return v_TX.mean(dim=0)
    w_T1 = valid_T.to(v_TX.dtype)[:, None]
    return (v_TX * w_T1).sum(dim=0) / w_T1.sum().clamp(min=1)


class SwiGLU(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.w_gate_GD = nn.Parameter(torch.empty(hidden, dim))
        self.w_up_GD = nn.Parameter(torch.empty(hidden, dim))
        self.w_down_DG = nn.Parameter(torch.empty(dim, hidden))

    def forward(self, x_TD: torch.Tensor) -> torch.Tensor:
        return F.linear(F.silu(F.linear(x_TD, self.w_gate_GD)) * F.linear(x_TD, self.w_up_GD),
                        self.w_down_DG)  # fmt: skip


class MoE(nn.Module):
    def __init__(self, cfg: MoEConfig, dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        E, F_ = cfg.num_experts, cfg.expert_dim
        self.w_router_ED = nn.Parameter(torch.empty(E, dim), requires_grad=not cfg.freeze_router)
        self.w_gate_EFD = nn.Parameter(torch.empty(E, F_, dim))
        self.w_up_EFD = nn.Parameter(torch.empty(E, F_, dim))
        self.w_down_EDF = nn.Parameter(torch.empty(E, dim, F_))
        self.shared = SwiGLU(dim, cfg.shared_expert_dim) if cfg.shared_expert_dim else None
        self.w_shared_gate_1D = nn.Parameter(torch.empty(1, dim)) if self.shared else None
        # Buffers, so checkpoints carry them: the balancing bias, and the load it reacts to.
        self.register_buffer("bias_E", torch.zeros(E))
        self.register_buffer("load_E", torch.zeros(E))
        self._backend: Backend | None = None

    def init_weights(self, std: float, out_std: float) -> None:
        for name, p in self.named_parameters():
            is_out = name.endswith(("w_down_EDF", "w_down_DG"))
            nn.init.normal_(p, std=out_std if is_out else std)

    def use_backend(self, backend: Backend) -> None:
        self._backend = backend

    def backend(self, device: torch.device) -> Backend:
        if self._backend is None:
            self._backend = get_backend(self.cfg.backend, device)
        return self._backend

    def forward(
        self, x_BLD: torch.Tensor, valid_BL: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, MoEStats]:
        """``valid_BL``: False at padding positions (None: every position is a token)."""
        cfg = self.cfg
        x_TD = x_BLD.reshape(-1, x_BLD.shape[-1])
        valid_T = valid_BL.reshape(-1) if valid_BL is not None else None
        backend = self.backend(x_TD.device)
        with torch.autocast(device_type=x_TD.device.type, enabled=False):
            logits_TE = F.linear(x_TD.float(), self.w_router_ED.float())
        balancing = cfg.bias_update_rate > 0
        routing = backend.route(
            logits_TE,
            cfg.top_k,
            norm_topk_prob=cfg.norm_topk_prob,
            bias_E=self.bias_E if balancing else None,
        )
        dtype = _compute_dtype(x_TD)
        y_TD = backend.experts(
            x_TD.to(dtype),
            routing.experts_TK,
            routing.weights_TK.to(dtype),
            self.w_gate_EFD.to(dtype),
            self.w_up_EFD.to(dtype),
            self.w_down_EDF.to(dtype),
            counts_E=routing.counts_E,  # every slot, padding too: the experts run them all
        )
        if self.shared is not None and self.w_shared_gate_1D is not None:
            gate_T1 = torch.sigmoid(F.linear(x_TD, self.w_shared_gate_1D))
            y_TD = y_TD + gate_T1 * self.shared(x_TD)
        counts_E = routing.counts_E
        if valid_T is not None:
            valid_S = valid_T[:, None].expand(-1, cfg.top_k).flatten()
            counts_E = count_experts(routing.experts_TK.flatten(), cfg.num_experts, valid_S)
        if balancing and self.training:
            with torch.no_grad():
                self.load_E += counts_E.to(self.load_E.dtype)
        z_loss = router_z_loss(logits_TE, valid_T) if cfg.z_loss_coef else logits_TE.new_zeros(())
        stats = MoEStats(
            aux_loss=switch_aux_loss(routing.probs_TE, counts_E, valid_T),
            z_loss=z_loss,
            counts_E=counts_E,
        )
        return y_TD.view_as(x_BLD), stats

    @torch.no_grad()
    def update_bias(self) -> None:
        """Aux-loss-free balancing: raise the bias of under-loaded experts, lower the others'."""
        if self.cfg.bias_update_rate <= 0:
            return
        self.bias_E += self.cfg.bias_update_rate * torch.sign(self.load_E.mean() - self.load_E)
        self.bias_E -= self.bias_E.mean()
        self.load_E.zero_()


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    device = x.device.type
    if torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return x.dtype


def default_out_std(std: float, n_layers: int) -> float:
    """Output projections shrink with depth so the residual stream's variance stays put."""
    return std / math.sqrt(2 * n_layers)

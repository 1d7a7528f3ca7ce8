"""A small decoder-only LM over bytes with a MoE block in every layer.

Shape legend: B batch, L sequence, D model dim, H heads, C head dim, V vocabulary.
Packed rows hold several documents: ``docs_BL`` numbers them (-1 for padding), attention
stays inside a document, and padding counts in no routing statistic; ``pos_BL`` restarts at 0
with each document and drives the rotary embedding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from synth.trainer.config import ModelConfig
from synth.trainer.moe import MoE, MoEStats, default_out_std


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight_D = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        xf = xf * torch.rsqrt(xf.square().mean(dim=-1, keepdim=True) + self.eps)
        return (xf * self.weight_D.float()).to(x.dtype)


def rotary(x_BHLC: torch.Tensor, pos_BL: torch.Tensor, theta: float) -> torch.Tensor:
    C = x_BHLC.shape[-1]
    inv_freq = theta ** -(torch.arange(0, C, 2, device=x_BHLC.device, dtype=torch.float32) / C)
    angle_BLc = pos_BL.float()[..., None] * inv_freq
    cos, sin = angle_BLc.cos()[:, None], angle_BLc.sin()[:, None]
    x1, x2 = x_BHLC.float().chunk(2, dim=-1)
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).to(x_BHLC.dtype)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.w_qkv_3DD = nn.Parameter(torch.empty(3 * cfg.dim, cfg.dim))
        self.w_out_DD = nn.Parameter(torch.empty(cfg.dim, cfg.dim))

    def forward(
        self, x_BLD: torch.Tensor, pos_BL: torch.Tensor, mask_B1LL: torch.Tensor
    ) -> torch.Tensor:
        B, L, D = x_BLD.shape
        H, C = self.cfg.n_heads, self.cfg.head_dim
        qkv = F.linear(x_BLD, self.w_qkv_3DD).view(B, L, 3, H, C).permute(2, 0, 3, 1, 4)
        q_BHLC = rotary(qkv[0], pos_BL, self.cfg.rope_theta)
        k_BHLC = rotary(qkv[1], pos_BL, self.cfg.rope_theta)
        o_BHLC = F.scaled_dot_product_attention(q_BHLC, k_BHLC, qkv[2], attn_mask=mask_B1LL)
        return F.linear(o_BHLC.transpose(1, 2).reshape(B, L, D), self.w_out_DD)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.attn = Attention(cfg)
        self.moe_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.moe = cfg.moe.build(cfg.dim)

    def forward(
        self,
        x_BLD: torch.Tensor,
        pos_BL: torch.Tensor,
        mask_B1LL: torch.Tensor,
        valid_BL: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, MoEStats]:
        x_BLD = x_BLD + self.attn(self.attn_norm(x_BLD), pos_BL, mask_B1LL)
        y_BLD, stats = self.moe(self.moe_norm(x_BLD), valid_BL)
        return x_BLD + y_BLD, stats


def document_mask(docs_BL: torch.Tensor) -> torch.Tensor:
    """True where query i may attend key j: same document, j <= i."""
    L = docs_BL.shape[1]
    causal_LL = torch.ones(L, L, dtype=torch.bool, device=docs_BL.device).tril()
    same_BLL = docs_BL[:, :, None] == docs_BL[:, None, :]
    return (same_BLL & causal_LL)[:, None]


class MoELM(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed_VD = nn.Parameter(torch.empty(cfg.vocab_size, cfg.dim))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.w_head_VD = nn.Parameter(torch.empty(cfg.vocab_size, cfg.dim))
        self.init_weights()

    @torch.no_grad()
    def init_weights(self) -> None:
        std, out_std = self.cfg.init_std, default_out_std(self.cfg.init_std, self.cfg.n_layers)
        nn.init.normal_(self.embed_VD, std=std)
        nn.init.normal_(self.w_head_VD, std=std)
        for block in self.blocks:
            assert isinstance(block, Block)
            nn.init.normal_(block.attn.w_qkv_3DD, std=std)
            nn.init.normal_(block.attn.w_out_DD, std=out_std)
            block.moe.init_weights(std, out_std)

    @property
    def moe_layers(self) -> list[MoE]:
        return [block.moe for block in self.blocks]  # type: ignore[union-attr]

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(
        self, tokens_BL: torch.Tensor, pos_BL: torch.Tensor, docs_BL: torch.Tensor
    ) -> tuple[torch.Tensor, list[MoEStats]]:
        x_BLD = F.embedding(tokens_BL, self.embed_VD)
        mask_B1LL = document_mask(docs_BL)
        valid_BL = docs_BL >= 0  # padding: routed, but left out of the routing statistics
        stats = []
        for block in self.blocks:
            x_BLD, s = block(x_BLD, pos_BL, mask_B1LL, valid_BL)
            stats.append(s)
        logits_BLV = F.linear(self.norm(x_BLD), self.w_head_VD)
        return logits_BLV, stats

"""The MoE layer shapes the GPU check measures and checks parity at, shared by
``moe_layer.py`` (timing) and ``moe_parity.py`` (bf16 parity), and the inputs both draw.

Legend as in ``trainer/kernels``: T tokens, D model dim (the issue's H), F expert hidden dim,
E experts, K top-k.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Shape:
    name: str
    T: int
    D: int
    F: int
    E: int
    K: int

    @property
    def expert_flops(self) -> float:
        """Expert GEMM FLOPs of forward + backward: 6*S*D*F forward (gate, up, down), twice
        that backward, S = T*K slots."""
        return 3 * 6.0 * self.T * self.K * self.D * self.F

    @property
    def up_flops(self) -> float:
        """The gate+up grouped GEMM alone: 2 * S * D * 2F."""
        return 2.0 * self.T * self.K * self.D * 2 * self.F


# The grouped-GEMM target of issue 15 is judged at the first GPU shape.
TARGET_SHAPE = "T16k-D2048-F768-E128-k8"
SHAPES: dict[str, list[Shape]] = {
    "gpu": [
        Shape(TARGET_SHAPE, 16384, 2048, 768, 128, 8),
        Shape("qwen3-next-like-E512-F512-k10", 16384, 2048, 512, 512, 10),
    ],
    "cpu": [Shape("cpu-small", 512, 128, 64, 16, 4), Shape("cpu-e60", 256, 64, 32, 60, 4)],
    # Small enough for Triton's CPU interpreter: the CPU smoke run of gpu_check.sh.
    "tiny": [Shape("tiny-E6-k2", 40, 32, 32, 6, 2)],
}


@dataclass(frozen=True)
class ExpertInputs:
    x_TD: torch.Tensor
    experts_TK: torch.Tensor
    weights_TK: torch.Tensor
    w_gate_EFD: torch.Tensor
    w_up_EFD: torch.Tensor
    w_down_EDF: torch.Tensor
    dy_TD: torch.Tensor


def expert_inputs(shape: Shape, device: torch.device, dtype: torch.dtype) -> ExpertInputs:
    """Seeded inputs drawn on ``device`` (never on the host and copied: at E=512 the weights
    alone are 1.6G values), routed top-k from random logits."""
    gen = torch.Generator(device=device).manual_seed(0)

    def randn(*size: int, scale: float = 1.0) -> torch.Tensor:
        return (torch.randn(*size, device=device, generator=gen) * scale).to(dtype)

    logits_TE = torch.randn(shape.T, shape.E, device=device, generator=gen)
    top_TK = torch.topk(logits_TE, shape.K, dim=1)
    return ExpertInputs(
        x_TD=randn(shape.T, shape.D),
        experts_TK=top_TK.indices,
        weights_TK=torch.softmax(top_TK.values, dim=1).to(dtype),
        w_gate_EFD=randn(shape.E, shape.F, shape.D, scale=shape.D**-0.5),
        w_up_EFD=randn(shape.E, shape.F, shape.D, scale=shape.D**-0.5),
        w_down_EDF=randn(shape.E, shape.D, shape.F, scale=shape.F**-0.5),
        dy_TD=randn(shape.T, shape.D),
    )

"""Expert-computation backends behind one interface.

A backend routes (router logits -> ``Routing``) and runs the routed experts
(``x_TD, experts_TK, weights_TK, w_gate_EFD, w_up_EFD, w_down_EDF, counts_E -> y_TD``;
``counts_E`` is the router's histogram, so the grouped backends need not count on the host):

- ``loop``: one expert at a time, plain torch; the reference.
- ``torch_gmm``: slots sorted by expert through torch's grouped GEMM. It never runs the loop
  under its own name: where grouped_mm cannot run the tensors at hand it raises.
- ``triton``: the fused router and grouped-GEMM kernels of ``trainer.kernels``.
- ``auto``: ``triton`` on CUDA, else ``torch_gmm`` where torch has a grouped GEMM, else ``loop``.

Triton is imported only when the ``triton`` backend is asked for.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch

from synth.trainer.kernels.router_ref import Routing

RouteFn = Callable[..., Routing]
ExpertsFn = Callable[..., torch.Tensor]


class BackendError(RuntimeError):
    """A backend that cannot run here; the message says what to use instead."""


@dataclass(frozen=True)
class Backend:
    name: str
    route: RouteFn  # (logits_TE, top_k, *, norm_topk_prob, bias_E) -> Routing
    experts: ExpertsFn  # (x_TD, experts_TK, weights_TK, w_gate_EFD, w_up_EFD, w_down_EDF,
    #                       counts_E=None)


def triton_available() -> bool:
    return importlib.util.find_spec("triton") is not None


def _triton_interpreting() -> bool:
    # Read when a backend is chosen, not at import: Triton itself decides at kernel decoration.
    return os.environ.get("TRITON_INTERPRET") == "1"


def resolve_name(name: str, device: torch.device) -> str:
    if name != "auto":
        return name
    if device.type == "cuda" and triton_available():
        return "triton"
    from synth.trainer.kernels.experts_gmm import has_grouped_mm

    return "torch_gmm" if has_grouped_mm() else "loop"


def require_runnable(
    name: str, device: torch.device, dtype: torch.dtype, dim: int, expert_dim: int
) -> None:
    """Fail now, saying what to use instead, where backend ``name`` cannot run experts of
    these dims in ``dtype`` on ``device`` (rather than at the first forward)."""
    if name != "torch_gmm":
        return
    from synth.trainer.kernels.experts_gmm import unsupported_reason

    reason = unsupported_reason(device, dtype, dim, expert_dim)
    if reason is not None:
        raise BackendError(f"the torch_gmm backend cannot run here: {reason}; use --backend loop")


def get_backend(name: str, device: torch.device) -> Backend:
    """The backend called ``name`` for tensors on ``device``."""
    from synth.trainer.kernels.router_ref import route_ref

    name = resolve_name(name, device)
    if name == "loop":
        from synth.trainer.kernels.experts_ref import experts_loop

        return Backend("loop", route_ref, experts_loop)
    if name == "torch_gmm":
        from synth.trainer.kernels.experts_gmm import experts_torch_gmm

        return Backend("torch_gmm", route_ref, experts_torch_gmm)
    if name == "triton":
        if not triton_available():
            raise BackendError("the triton backend needs the triton package; use torch_gmm")
        if device.type != "cuda" and not _triton_interpreting():
            raise BackendError(
                "the triton backend needs a CUDA device; on CPU use torch_gmm or loop "
                "(tests run the kernels with TRITON_INTERPRET=1 set before they are imported)"
            )
        from synth.trainer.kernels.experts_triton import experts_triton
        from synth.trainer.kernels.router_triton import route_triton

        return Backend("triton", route_triton, experts_triton)
    raise BackendError(f"no expert backend {name!r}; choose auto, loop, torch_gmm or triton")

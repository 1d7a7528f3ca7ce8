"""What a piece of torch code does at the dispatcher, for tests that pin how it computes
(allocations, host synchronisations) rather than what; and whether torch_gmm can run here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

# Ops whose CUDA kernels read a result back to the host before they return.
SYNCING = frozenset({
    "aten::bincount", "aten::nonzero", "aten::nonzero_static", "aten::_local_scalar_dense",
    "aten::masked_select", "aten::is_nonzero", "aten::equal", "aten::histc", "aten::_unique2",
    "aten::unique_dim", "aten::unique_consecutive", "aten::repeat_interleave.Tensor",
})  # fmt: skip


class _Recorder(TorchDispatchMode):
    def __init__(self, keep: Callable[[Any, object], bool]) -> None:
        super().__init__()
        self.keep = keep
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        if self.keep(func, out):
            self.ops.append(func.name())
        return out


def host_syncs(fn: Callable[[], object]) -> list[str]:
    """The ops of ``fn`` that would wait for the GPU."""
    with _Recorder(lambda func, _: func.name() in SYNCING) as mode:
        fn()
    return mode.ops


def fresh_outputs(numel: int, fn: Callable[[], object]) -> list[str]:
    """The ops of ``fn`` that allocate a new tensor of ``numel`` elements (in-place ops and
    views allocate nothing)."""

    def fresh(func: Any, out: object) -> bool:
        schema = func._schema
        if schema.is_mutable or any(r.alias_info for r in schema.returns):
            return False
        return any(isinstance(t, torch.Tensor) and t.numel() == numel for t in tree_leaves(out))

    with _Recorder(fresh) as mode:
        fn()
    return mode.ops


def skip_without_grouped_mm(device: torch.device | str, dtype: torch.dtype, D: int, F: int) -> None:
    """Skip, saying why, where torch_gmm cannot run these tensors (fp32 on some GPUs, say): it
    raises there rather than run the loop, and a test comparing it with the loop would only
    compare the loop with itself."""
    from synth.trainer.kernels.experts_gmm import unsupported_reason

    reason = unsupported_reason(torch.device(device), dtype, D, F)
    if reason is not None:
        pytest.skip(f"torch_gmm cannot run here: {reason}")

"""MoE layer forward+backward, each expert backend against `loop`, measured side by side.

    .venv/bin/python bench/moe_layer.py                  # CPU, small shapes
    python3 bench/moe_layer.py --device cuda             # the two GPU shapes of issue 7

Times the routed MoE layer (fp32 router, top-k, experts; no shared expert, which is the same
for every backend) and, on CUDA, the Triton grouped GEMM of the up projection alone. Speedups
are ratios within one run; TFLOP/s count the expert GEMMs only (6*S*D*F forward, twice that
backward, S = T*K) and are set against the matmul peak measured on this device at the start
(bf16 on CUDA, fp32 on CPU). On CPU the Triton backend would run in its interpreter, which
measures Python, not kernels: it is left out there.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trainer.backends import get_backend  # noqa: E402
from trainer.config import MoEConfig  # noqa: E402
from trainer.moe import MoE  # noqa: E402


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
        return 3 * 6.0 * self.T * self.K * self.D * self.F  # forward + backward (2x)


CPU_SHAPES = [Shape("cpu-small", 512, 128, 64, 16, 4), Shape("cpu-e60", 256, 64, 32, 60, 4)]
GPU_SHAPES = [
    Shape("T16k-D2048-F768-E128-k8", 16384, 2048, 768, 128, 8),
    Shape("qwen3-next-like-E512-F512-k10", 16384, 2048, 512, 512, 10),
]


def timed(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int) -> float:
    """Median seconds of ``fn`` over ``repeats`` runs, after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            samples.append(start.elapsed_time(end) / 1e3)
        else:
            t0 = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t0)
    return sorted(samples)[len(samples) // 2]


def matmul_peak(device: torch.device, dtype: torch.dtype) -> float:
    n = 8192 if device.type == "cuda" else 1024
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    seconds = timed(lambda: a @ b, device, repeats=10 if device.type == "cuda" else 3, warmup=3)
    return 2 * n**3 / seconds


def layer_for(shape: Shape, device: torch.device, dtype: torch.dtype) -> tuple[MoE, torch.Tensor]:
    cfg = MoEConfig(num_experts=shape.E, top_k=shape.K, expert_dim=shape.F, shared_expert_dim=0)
    torch.manual_seed(0)
    moe = MoE(cfg, shape.D)
    moe.init_weights(std=0.02, out_std=0.02)
    moe = moe.to(device=device, dtype=dtype)
    moe.w_router_ED.data = moe.w_router_ED.data.float()
    x = torch.randn(1, shape.T, shape.D, device=device, dtype=dtype, requires_grad=True)
    return moe, x


def bench_shape(
    shape: Shape, backends: list[str], device: torch.device, dtype: torch.dtype, repeats: int
) -> dict[str, float]:
    moe, x = layer_for(shape, device, dtype)
    dy = torch.randn_like(x)
    out: dict[str, float] = {}
    for name in backends:
        moe.use_backend(get_backend(name, device))

        def step() -> None:
            y, stats = moe(x)
            torch.autograd.backward([y, stats.aux_loss], [dy, torch.ones_like(stats.aux_loss)])
            moe.zero_grad(set_to_none=True)
            x.grad = None

        # The loop backend syncs per expert; fewer repeats keep its share of the run small.
        n = max(2, repeats // 3) if name == "loop" else repeats
        out[name] = timed(step, device, repeats=n, warmup=2 if device.type == "cuda" else 1)
    return out


def bench_grouped_gemm(shape: Shape, device: torch.device, repeats: int) -> float:
    """Seconds of the Triton up-projection grouped GEMM (gather + SwiGLU fused) alone."""
    from trainer.kernels.experts_triton import make_plan, up_swiglu

    gen = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(shape.T, shape.D, device=device, generator=gen).bfloat16()
    experts = torch.topk(
        torch.rand(shape.T, shape.E, device=device, generator=gen), shape.K
    ).indices
    weights = torch.rand(shape.T, shape.K, device=device, generator=gen)
    w_gate = (
        torch.randn(shape.E, shape.F, shape.D, device=device, generator=gen) * 0.02
    ).bfloat16()
    w_up = torch.randn_like(w_gate)
    plan = make_plan(experts, weights, shape.E, torch.bfloat16)
    return timed(lambda: up_swiglu(x, w_gate, w_up, plan), device, repeats=repeats, warmup=3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=0, help="timed runs (default: 10 / 3)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is visible")
    on_gpu = device.type == "cuda"
    dtype = torch.bfloat16 if on_gpu else torch.float32
    repeats = args.repeats or (10 if on_gpu else 3)
    shapes = GPU_SHAPES if on_gpu else CPU_SHAPES
    backends = ["loop", "torch_gmm", "triton"] if on_gpu else ["loop", "torch_gmm"]
    peak = matmul_peak(device, dtype)
    name = (
        torch.cuda.get_device_name() if on_gpu else f"CPU, torch threads: {torch.get_num_threads()}"
    )
    print(f"device: {name}; torch {torch.__version__}; dtype {str(dtype).removeprefix('torch.')}")
    unit, scale = ("TFLOP/s", 1e12) if on_gpu else ("GFLOP/s", 1e9)
    print(f"measured matmul peak: {peak / scale:.2f} {unit}")
    if not on_gpu:
        print("triton: left out on CPU (the interpreter times Python, not kernels)")
    for shape in shapes:
        times = bench_shape(shape, backends, device, dtype, repeats)
        print(f"\n{shape.name}: T={shape.T} D={shape.D} F={shape.F} E={shape.E} k={shape.K}")
        print(f"  {'backend':<10} {'ms':>9} {'vs loop':>8} {unit:>9} {'of peak':>8}")
        for backend, seconds in times.items():
            tflops = shape.expert_flops / seconds
            print(
                f"  {backend:<10} {seconds * 1e3:>9.2f} {times['loop'] / seconds:>7.2f}x"
                f" {tflops / scale:>9.2f} {tflops / peak:>8.1%}"
            )
        if "triton" in times and "torch_gmm" in times:
            print(f"  triton vs torch_gmm: {times['torch_gmm'] / times['triton']:.2f}x")
        if on_gpu:
            seconds = bench_grouped_gemm(shape, device, repeats)
            flops = 2.0 * shape.T * shape.K * shape.D * 2 * shape.F
            print(
                f"  grouped GEMM (gate+up, gather and SwiGLU fused): {seconds * 1e3:.2f} ms, "
                f"{flops / seconds / 1e12:.1f} TFLOP/s, {flops / seconds / peak:.1%} of peak"
            )


if __name__ == "__main__":
    main()

"""MoE layer forward+backward, each expert backend against `loop`, measured side by side.

    .venv/bin/python bench/moe_layer.py                  # CPU, small shapes
    python3 bench/moe_layer.py --device cuda             # the two GPU shapes (moe_shapes.py)
    python3 bench/moe_layer.py --device cuda --json out.json   # figures for gpu_verdict.py

Times the routed MoE layer (fp32 router, top-k, experts; no shared expert, which is the same
for every backend) and, where the triton backend runs, the Triton grouped GEMM of the up
projection alone. Speedups are ratios within one run; TFLOP/s count the expert GEMMs only
(6*S*D*F forward, twice that backward, S = T*K) and are set against the matmul peak measured
on this device at the start (bf16 on CUDA, fp32 on CPU). On CPU the Triton backend would run
in its interpreter, which measures Python, not kernels: it is left out unless asked for
(``--backends``), as the CPU smoke run of gpu_check.sh does to exercise this script.

A backend that cannot run here is reported as not run, with the reason, never timed under
another's name: torch_gmm raises where grouped_mm is missing rather than run the loop. The
loop is the in-place reference (``trainer.kernels.experts_ref``). Weights are drawn on the
device.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from moe_shapes import SHAPES, Shape, expert_inputs  # noqa: E402

from synth.trainer.backends import BackendError, get_backend  # noqa: E402
from synth.trainer.config import MoEConfig  # noqa: E402
from synth.trainer.kernels.experts_gmm import GroupedMMUnavailable  # noqa: E402
from synth.trainer.moe import MoE  # noqa: E402

BACKENDS = ("loop", "torch_gmm", "triton")


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
    with device:  # drawn on the device: at E=512 a host-side init alone takes minutes
        moe = MoE(cfg, shape.D)
        moe.init_weights(std=0.02, out_std=0.02)
    moe = moe.to(dtype=dtype)
    moe.w_router_ED.data = moe.w_router_ED.data.float()
    x = torch.randn(1, shape.T, shape.D, device=device, dtype=dtype, requires_grad=True)
    return moe, x


def bench_shape(
    shape: Shape, backends: list[str], device: torch.device, dtype: torch.dtype, repeats: int
) -> tuple[dict[str, float], dict[str, str]]:
    """Seconds per forward+backward of each backend that runs, and why the others did not."""
    moe, x = layer_for(shape, device, dtype)
    dy = torch.randn_like(x)
    times: dict[str, float] = {}
    not_run: dict[str, str] = {}
    for name in backends:
        try:
            moe.use_backend(get_backend(name, device))
        except BackendError as e:
            not_run[name] = str(e)
            continue

        def step() -> None:
            y, stats = moe(x)
            torch.autograd.backward([y, stats.aux_loss], [dy, torch.ones_like(stats.aux_loss)])
            moe.zero_grad(set_to_none=True)
            x.grad = None

        # The loop backend syncs per expert; fewer repeats keep its share of the run small.
        n = max(2, repeats // 3) if name == "loop" else repeats
        try:
            times[name] = timed(step, device, repeats=n, warmup=2 if device.type == "cuda" else 1)
        except GroupedMMUnavailable as e:  # never timed as torch_gmm: it would be the loop
            not_run[name] = str(e)
        except Exception as e:  # a kernel that does not compile or fit: the others still run
            not_run[name] = failure(e)
        finally:
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return times, not_run


def failure(e: Exception) -> str:
    first = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {first}"[:300]


def bench_grouped_gemm(
    shape: Shape, device: torch.device, dtype: torch.dtype, repeats: int
) -> float:
    """Seconds of the Triton up-projection grouped GEMM (gather + SwiGLU fused) alone."""
    from synth.trainer.kernels.experts_triton import make_plan, up_swiglu

    inp = expert_inputs(shape, device, dtype)
    plan = make_plan(inp.experts_TK, inp.weights_TK, shape.E, dtype)
    return timed(lambda: up_swiglu(inp.x_TD, inp.w_gate_EFD, inp.w_up_EFD, plan), device,
                 repeats=repeats, warmup=3 if device.type == "cuda" else 1)  # fmt: skip


def measure(
    shapes: list[Shape], backends: list[str], device: torch.device, repeats: int
) -> dict[str, Any]:
    """The figures of one run, as written by --json and read by gpu_verdict.py."""
    on_gpu = device.type == "cuda"
    dtype = torch.bfloat16 if on_gpu else torch.float32
    peak = matmul_peak(device, dtype)
    name = torch.cuda.get_device_name() if on_gpu else f"CPU, {torch.get_num_threads()} threads"
    out: dict[str, Any] = {"device": name, "torch": torch.__version__,
                           "dtype": str(dtype).removeprefix("torch."), "peak_flops": peak,
                           "shapes": []}  # fmt: skip
    for shape in shapes:
        times, not_run = bench_shape(shape, backends, device, dtype, repeats)
        row: dict[str, Any] = {**vars(shape), "ms": {b: s * 1e3 for b, s in times.items()},
                               "not_run": not_run, "grouped_gemm": None}  # fmt: skip
        if "triton" in times:
            try:
                seconds = bench_grouped_gemm(shape, device, dtype, repeats)
            except Exception as e:
                row["not_run"]["grouped_gemm"] = failure(e)
            else:
                flops = shape.up_flops / seconds
                row["grouped_gemm"] = {"ms": seconds * 1e3, "flops_per_s": flops,
                                       "of_peak": flops / peak}  # fmt: skip
        out["shapes"].append(row)
    return out


def show(figures: dict[str, Any]) -> None:
    on_gpu = not figures["device"].startswith("CPU")
    unit, scale = ("TFLOP/s", 1e12) if on_gpu else ("GFLOP/s", 1e9)
    peak = figures["peak_flops"]
    print(f"device: {figures['device']}; torch {figures['torch']}; dtype {figures['dtype']}")
    print(f"measured matmul peak: {peak / scale:.2f} {unit}")
    for row in figures["shapes"]:
        shape = Shape(**{k: row[k] for k in ("name", "T", "D", "F", "E", "K")})
        ms: dict[str, float] = row["ms"]
        print(f"\n{shape.name}: T={shape.T} D={shape.D} F={shape.F} E={shape.E} k={shape.K}")
        print(f"  {'backend':<10} {'ms':>9} {'vs loop':>8} {unit:>9} {'of peak':>8}")
        for backend, t_ms in ms.items():
            rate = shape.expert_flops / (t_ms / 1e3)
            vs_loop = f"{ms['loop'] / t_ms:>7.2f}x" if "loop" in ms else f"{'-':>8}"
            print(f"  {backend:<10} {t_ms:>9.2f} {vs_loop} {rate / scale:>9.2f}"
                  f" {rate / peak:>8.1%}")  # fmt: skip
        for backend, why in row["not_run"].items():
            print(f"  {backend:<10} not run: {why}")
        if "triton" in ms and "torch_gmm" in ms:
            print(f"  triton vs torch_gmm: {ms['torch_gmm'] / ms['triton']:.2f}x")
        if row["grouped_gemm"]:
            g = row["grouped_gemm"]
            print(f"  grouped GEMM (gate+up, gather and SwiGLU fused): {g['ms']:.2f} ms, "
                  f"{g['flops_per_s'] / scale:.1f} {unit}, {g['of_peak']:.1%} of peak")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--shapes", choices=sorted(SHAPES), help="default: gpu on cuda, else cpu")
    parser.add_argument("--backends", default="",
                        help="comma-separated (default: all three on cuda, loop,torch_gmm on cpu)")
    parser.add_argument("--repeats", type=int, default=0, help="timed runs (default: 10 / 3)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: torch's)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is visible")
    on_gpu = device.type == "cuda"
    backends = args.backends.split(",") if args.backends else (
        list(BACKENDS) if on_gpu else ["loop", "torch_gmm"])  # fmt: skip
    if unknown := set(backends) - set(BACKENDS):
        parser.error(f"--backends: no backend {', '.join(sorted(unknown))}; choose from "
                     f"{', '.join(BACKENDS)}")  # fmt: skip
    shapes = SHAPES[args.shapes or ("gpu" if on_gpu else "cpu")]
    figures = measure(shapes, backends, device, args.repeats or (10 if on_gpu else 3))
    if not on_gpu and "triton" not in backends:
        print("triton: left out on CPU (the interpreter times Python, not kernels)")
    show(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

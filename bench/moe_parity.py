"""Parity of every expert backend, and of the fused router, against the torch reference at the
benchmark's shapes, forward and every gradient: the first section of gpu_check.sh.

    python3 bench/moe_parity.py --device cuda --json parity.json        # bf16, GPU shapes
    .venv/bin/python bench/moe_parity.py --shapes tiny --dtype float16  # CPU, interpreter

The reference is the loop (``trainer.kernels.experts_ref``) in fp32 on the same values; each
backend, the loop included, runs in ``--dtype`` and its error is the largest difference over
the largest reference value, per tensor (y, dx, dweights, dw_gate, dw_up, dw_down). A backend
that raises (no grouped_mm, a kernel that does not compile or fit) is a failure with its error,
and the check goes on to the next. The router is checked where the triton backend is: the fused
kernel against ``route_ref``. (Triton's CPU interpreter gets bfloat16 wrong, so the CPU smoke
run uses float16.)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from moe_layer import failure  # noqa: E402
from moe_shapes import SHAPES, ExpertInputs, Shape, expert_inputs  # noqa: E402

from synth.trainer.backends import get_backend  # noqa: E402
from synth.trainer.kernels.experts_ref import experts_loop  # noqa: E402

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
TOLERANCE = {torch.bfloat16: 3e-2, torch.float16: 1e-2, torch.float32: 1e-4}
TENSORS = ("y", "dx", "dweights", "dw_gate", "dw_up", "dw_down")


def rel_err(a: torch.Tensor, ref: torch.Tensor) -> float:
    a, ref = a.detach().float(), ref.detach().float()
    return float((a - ref).abs().max() / ref.abs().max().clamp(min=1e-6))


def run_experts(fn: Any, inp: ExpertInputs, dtype: torch.dtype) -> list[torch.Tensor]:
    """y and the five gradients of ``fn`` on ``inp`` cast to ``dtype``."""
    inputs = (inp.x_TD, inp.weights_TK, inp.w_gate_EFD, inp.w_up_EFD, inp.w_down_EDF)
    leaves = [t.to(dtype, copy=True).requires_grad_() for t in inputs]  # fresh: no grad piles up
    x, weights, w_gate, w_up, w_down = leaves
    y_TD = fn(x, inp.experts_TK, weights, w_gate, w_up, w_down)
    y_TD.backward(inp.dy_TD.to(dtype))
    out = [y_TD.detach()] + [leaf.grad for leaf in leaves]
    assert all(t is not None for t in out)
    return out  # type: ignore[return-value]


def expert_parity(
    shape: Shape, backends: list[str], device: torch.device, dtype: torch.dtype
) -> dict[str, Any]:
    inp = expert_inputs(shape, device, dtype)
    reference = run_experts(experts_loop, inp, torch.float32)
    out: dict[str, Any] = {}
    for name in backends:
        try:
            got = run_experts(get_backend(name, device).experts, inp, dtype)
        except Exception as e:  # a backend that breaks fails; the others are still checked
            out[name] = {"ok": False, "error": failure(e)}
            continue
        finally:
            if device.type == "cuda":
                torch.cuda.empty_cache()
        errors = {t: rel_err(a, b) for t, a, b in zip(TENSORS, got, reference, strict=True)}
        out[name] = {"ok": max(errors.values()) <= TOLERANCE[dtype], "errors": errors}
    return out


def router_parity(shape: Shape, device: torch.device) -> dict[str, Any]:
    """The fused router against route_ref: choices, probabilities, weights, d logits."""
    from synth.trainer.kernels.router_ref import route_ref
    from synth.trainer.kernels.router_triton import route_triton

    gen = torch.Generator(device=device).manual_seed(1)
    logits = torch.randn(shape.T, shape.E, device=device, generator=gen)
    bias = torch.randn(shape.E, device=device, generator=gen) * 1e-3
    results = []
    try:
        for fn in (route_ref, route_triton):
            leaf = logits.clone().requires_grad_()
            r = fn(leaf, shape.K, norm_topk_prob=True, bias_E=bias)
            (r.weights_TK.square().sum() + r.probs_TE.square().sum()).backward()
            assert leaf.grad is not None
            results.append((r, leaf.grad))
    except Exception as e:
        return {"ok": False, "error": failure(e)}
    (ref, d_ref), (tri, d_tri) = results
    same_T = (ref.experts_TK == tri.experts_TK).all(dim=1)
    agree = float(same_T.float().mean())  # exp() may differ in the last bit: near-ties flip
    if not same_T.any():
        return {"ok": False, "error": "the fused router chose other experts for every token"}
    errors = {
        "probs": rel_err(tri.probs_TE, ref.probs_TE),
        "weights": rel_err(tri.weights_TK[same_T], ref.weights_TK[same_T]),
        "d_logits": rel_err(d_tri[same_T], d_ref[same_T]),
    }
    ok = agree > 0.999 and max(errors.values()) < 1e-4
    return {"ok": ok, "choices_agree": agree, "errors": errors}


def check(
    shapes: list[Shape], backends: list[str], device: torch.device, dtype: torch.dtype
) -> dict[str, Any]:
    out: dict[str, Any] = {"dtype": str(dtype).removeprefix("torch."),
                           "tolerance": TOLERANCE[dtype], "shapes": []}  # fmt: skip
    for shape in shapes:
        row: dict[str, Any] = {**vars(shape), "experts": expert_parity(shape, backends, device,
                                                                       dtype)}  # fmt: skip
        if "triton" in backends:
            row["router"] = router_parity(shape, device)
        out["shapes"].append(row)
    return out


def show(figures: dict[str, Any]) -> None:
    print(f"parity against the fp32 loop, {figures['dtype']}, "
          f"tolerance {figures['tolerance']:.0e} of the largest reference value")  # fmt: skip
    for row in figures["shapes"]:
        print(f"{row['name']}: T={row['T']} D={row['D']} F={row['F']} E={row['E']} k={row['K']}")
        for name, r in row["experts"].items():
            detail = r.get("error") or " ".join(f"{t} {e:.1e}" for t, e in r["errors"].items())
            print(f"  {name:<10} {'ok' if r['ok'] else 'FAILED':<7} {detail}")
        if "router" in row:
            r = row["router"]
            detail = r.get("error") or (f"choices agree {r['choices_agree']:.4%}, " + " ".join(
                f"{t} {e:.1e}" for t, e in r["errors"].items()))  # fmt: skip
            print(f"  {'router':<10} {'ok' if r['ok'] else 'FAILED':<7} {detail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--shapes", choices=sorted(SHAPES), help="default: gpu on cuda, else tiny")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="bfloat16")
    parser.add_argument("--backends", default="loop,torch_gmm,triton", help="comma-separated")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is visible")
    shapes = SHAPES[args.shapes or ("gpu" if device.type == "cuda" else "tiny")]
    figures = check(shapes, args.backends.split(","), device, DTYPES[args.dtype])
    show(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if all(r["ok"] for row in figures["shapes"]
                    for r in [*row["experts"].values(), row.get("router", {"ok": True})]) else 1


if __name__ == "__main__":
    sys.exit(main())

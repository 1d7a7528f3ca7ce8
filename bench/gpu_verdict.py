"""The verdict of gpu_check.sh: PASS / FAIL lines against issue 15's targets, from the figures
its sections wrote into one folder.

    python3 bench/gpu_verdict.py WORK_DIR            # after a GPU run
    python3 bench/gpu_verdict.py WORK_DIR --smoke    # after `gpu_check.sh --cpu`

Targets (a GPU run): every backend and the router match the reference in bf16 at the benchmark
shapes; the MoE layer's forward+backward on triton is at least 10x the (in-place) loop and at
least 1.0x torch_gmm at each benchmark shape; the Triton grouped GEMM reaches 60% of the bf16
matmul peak measured in the same run at T=16k, D=2048, F=768, E=128, k=8; the other GPU tests
pass; `synth train --config 100m` runs its 50 steps with the loss falling and prints tokens/s;
the weights are drawn on the GPU. A CPU smoke run judges the same figures except the speed
targets, which the interpreter cannot meet (SKIP). A missing figure is a FAIL that names the
section and how it ended. Exit status: 0 when no line FAILs.
"""

from __future__ import annotations

import argparse
import json
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from moe_shapes import TARGET_SHAPE as GEMM_SHAPE

LOOP_SPEEDUP = 10.0
GMM_SPEEDUP = 1.0
GEMM_OF_PEAK = 0.60


class Status(Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclass(frozen=True)
class Line:
    status: Status
    what: str
    detail: str

    def __str__(self) -> str:
        return f"{self.status.value} {self.what}: {self.detail}"


@dataclass(frozen=True)
class Figures:
    """What the sections left behind; None where a section wrote nothing."""

    parity: dict[str, Any] | None = None
    bench: dict[str, Any] | None = None
    tests: dict[str, int] | None = None  # passed, failed, errors, skipped
    smoke: dict[str, Any] | None = None
    sections: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (rc, seconds)

    def ended(self, section: str) -> str:
        if section not in self.sections:
            return f"the {section} section did not run"
        rc, seconds = self.sections[section]
        how = "timed out" if rc in (124, 137) else f"exited {rc}"
        return f"the {section} section {how} after {seconds} s and wrote no figures"


def load(work: Path) -> Figures:
    def read(name: str) -> dict[str, Any] | None:
        path = work / name
        try:
            return json.loads(path.read_text()) if path.is_file() else None
        except ValueError:
            return None

    sections = {}
    if (work / "sections.txt").is_file():
        for row in (work / "sections.txt").read_text().splitlines():
            name, rc, seconds = row.split()
            sections[name] = (int(rc), int(seconds))
    return Figures(read("parity.json"), read("bench.json"), junit_counts(work / "gpu_tests.xml"),
                   read("smoke.json"), sections)  # fmt: skip


def junit_counts(path: Path) -> dict[str, int] | None:
    if not path.is_file():
        return None
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        return None
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = {k: sum(int(s.get(k, 0)) for s in suites)
             for k in ("tests", "failures", "errors", "skipped")}  # fmt: skip
    return {"passed": total["tests"] - total["failures"] - total["errors"] - total["skipped"],
            "failed": total["failures"], "errors": total["errors"],
            "skipped": total["skipped"]}  # fmt: skip


def judge_parity(figures: Figures) -> Line:
    p = figures.parity
    if p is None:
        return Line(Status.FAIL, "parity", figures.ended("parity"))
    bad, checked = [], 0
    for row in p["shapes"]:
        for name, r in [*row["experts"].items(), *([("router", row["router"])]
                                                   if "router" in row else [])]:  # fmt: skip
            checked += 1
            if not r["ok"]:
                why = r.get("error") or ", ".join(
                    f"{t} {e:.1e}" for t, e in r["errors"].items() if e > p["tolerance"]
                ) or f"choices agree {r.get('choices_agree', 0):.3%}"
                bad.append(f"{name} at {row['name']}: {why}")
    if bad:
        return Line(Status.FAIL, "parity", "; ".join(bad))
    return Line(Status.PASS, "parity", f"{checked} checks over {len(p['shapes'])} shapes within "
                f"{p['tolerance']:.0e} of the fp32 reference ({p['dtype']})")  # fmt: skip


def judge_layer(figures: Figures, gpu: bool) -> list[Line]:
    b = figures.bench
    if b is None:
        return [Line(Status.FAIL, "MoE layer speed", figures.ended("benchmark"))]
    lines = []
    for row in b["shapes"]:
        ms, not_run = row["ms"], row["not_run"]
        for base, target in (("loop", LOOP_SPEEDUP), ("torch_gmm", GMM_SPEEDUP)):
            what = f"MoE layer fwd+bwd vs {base} at {row['name']}"
            if not gpu:
                lines.append(Line(Status.SKIP, what, "CPU smoke run: Triton's interpreter times "
                                                     "Python, not kernels"))  # fmt: skip
                continue
            missing = [n for n in ("triton", base) if n not in ms]
            if missing:
                why = "; ".join(f"{n} did not run ({not_run.get(n, 'not measured')})"
                                for n in missing)  # fmt: skip
                lines.append(Line(Status.FAIL, what, why))
                continue
            speedup = ms[base] / ms["triton"]
            ok = speedup >= target
            lines.append(Line(Status.PASS if ok else Status.FAIL, what,
                              f"triton {ms['triton']:.2f} ms, {base} {ms[base]:.2f} ms: "
                              f"{speedup:.2f}x {'>=' if ok else '<'} {target:g}x"))  # fmt: skip
    return lines


def judge_gemm(figures: Figures, gpu: bool) -> Line:
    what = f"grouped GEMM at {GEMM_SHAPE}"
    if not gpu:
        return Line(Status.SKIP, what, "CPU smoke run: no bf16 peak to reach")
    b = figures.bench
    if b is None:
        return Line(Status.FAIL, what, figures.ended("benchmark"))
    row = next((r for r in b["shapes"] if r["name"] == GEMM_SHAPE), None)
    if row is None or not row.get("grouped_gemm"):
        why = (row or {}).get("not_run", {}).get("grouped_gemm", "the triton backend did not run")
        return Line(Status.FAIL, what, f"not measured ({why})")
    g, peak = row["grouped_gemm"], b["peak_flops"]
    ok = g["of_peak"] >= GEMM_OF_PEAK
    return Line(Status.PASS if ok else Status.FAIL, what,
                f"{g['flops_per_s'] / 1e12:.1f} TFLOP/s = {g['of_peak']:.1%} of the "
                f"{peak / 1e12:.1f} TFLOP/s bf16 peak measured in this run "
                f"({'>=' if ok else '<'} {GEMM_OF_PEAK:.0%})")  # fmt: skip


def judge_tests(figures: Figures, gpu: bool) -> Line:
    t = figures.tests
    if t is None:
        return Line(Status.FAIL, "GPU tests", figures.ended("gpu-tests"))
    # On a GPU they must run, not skip; on a CPU they skip (no CUDA) and only the plumbing counts.
    ran = t["passed"] > 0 if gpu else t["passed"] + t["skipped"] > 0
    ok = t["failed"] == 0 and t["errors"] == 0 and ran
    return Line(Status.PASS if ok else Status.FAIL, "GPU tests",
                f"{t['passed']} passed, {t['failed']} failed, {t['errors']} errors, "
                f"{t['skipped']} skipped")  # fmt: skip


def judge_smoke(figures: Figures, gpu: bool) -> list[Line]:
    s = figures.smoke
    if s is None:
        why = figures.ended("train-smoke")
        return [Line(Status.FAIL, "synth train smoke", why),
                Line(Status.FAIL, "weights initialised on the device", why)]  # fmt: skip
    if "error" in s:
        return [Line(Status.FAIL, "synth train smoke", s["error"]),
                Line(Status.FAIL, "weights initialised on the device", "no training ran")]
    want = "cuda" if gpu else "cpu"
    loss = f"loss {s['first_loss']:.3f} -> {s['last_loss']:.3f} (first/last five steps)"
    ok = s["ok"] and s["loss_falling"] and s["tokens_per_s"] > 0
    detail = (f"{s['steps']} steps of {s['config']} on {s['backend']}/{s['device']}, {loss}"
              f"{'' if s['loss_falling'] else ' NOT FALLING'}, {s['tokens_per_s']:,.0f} tokens/s")
    drawn = s["init_devices"]
    return [
        Line(Status.PASS if ok else Status.FAIL, "synth train smoke", detail),
        Line(Status.PASS if drawn == [want] else Status.FAIL, "weights initialised on the device",
             f"drawn on {', '.join(drawn) or 'nothing'} (want {want})"),
    ]  # fmt: skip


def judge(figures: Figures, gpu: bool) -> list[Line]:
    return [
        judge_parity(figures),
        *judge_layer(figures, gpu),
        judge_gemm(figures, gpu),
        judge_tests(figures, gpu),
        *judge_smoke(figures, gpu),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("work", type=Path, help="the folder gpu_check.sh wrote its figures to")
    parser.add_argument("--smoke", action="store_true", help="a CPU smoke run: no speed targets")
    args = parser.parse_args(argv)
    lines = judge(load(args.work), gpu=not args.smoke)
    for line in lines:
        print(line)
    failed = sum(line.status is Status.FAIL for line in lines)
    judged = sum(line.status is not Status.SKIP for line in lines)
    print(f"VERDICT: {'FAIL' if failed else 'PASS'} ({judged - failed} of {judged} targets met"
          f"{', CPU smoke run' if args.smoke else ''})")  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

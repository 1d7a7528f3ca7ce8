"""bench/gpu_check.sh on the CPU: the script parses, its CPU smoke run reaches a verdict through
a failing section, the verdict's PASS / FAIL logic holds on given figures, and the Python each
section runs works on tiny shapes. The GPU run itself needs a GPU; everything around it is here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import gpu_verdict  # noqa: E402
import moe_layer  # noqa: E402
import moe_parity  # noqa: E402
import train_smoke  # noqa: E402
from gpu_verdict import Figures, Status, judge  # noqa: E402
from moe_shapes import SHAPES, TARGET_SHAPE  # noqa: E402

CPU = torch.device("cpu")


def test_the_script_parses() -> None:
    subprocess.run(["bash", "-n", str(ROOT / "bench" / "gpu_check.sh")], check=True)


def test_the_script_refuses_unknown_arguments() -> None:
    out = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), "--gpus", "2"],
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 2 and "usage" in out.stderr


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, Path]:
    """`gpu_check.sh --cpu` with a Python that fails the parity section, as the GPU test that
    hit the fp32-gradient bug failed the old script's first section."""
    tmp = tmp_path_factory.mktemp("gpu-check")
    python = tmp / "python"
    python.write_text(
        "#!/bin/sh\n"
        'case "$1" in bench/moe_parity.py) echo "parity broke" >&2; exit 3;; esac\n'
        f'exec {sys.executable} "$@"\n'
    )
    python.chmod(0o755)
    work = tmp / "out"
    env = {**os.environ, "PYTHON": str(python), "OUT": str(work)}
    env.pop("TRITON_INTERPRET", None)  # the script sets it in --cpu mode
    out = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), "--cpu"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    return out.returncode, out.stdout + out.stderr, work


def test_a_failing_section_does_not_stop_the_check(cpu_run) -> None:
    """The old script ran pytest -x under set -e first: one failure, no benchmark, no verdict."""
    rc, log, work = cpu_run
    sections = [row.split() for row in (work / "sections.txt").read_text().splitlines()]
    assert [s[0] for s in sections] == ["env", "parity", "benchmark", "gpu-tests", "train-smoke"]
    assert {s[0]: int(s[1]) for s in sections} == {"env": 0, "parity": 3, "benchmark": 0,
                                                     "gpu-tests": 0, "train-smoke": 0}, log
    verdict = log[log.index("== verdict") :]
    assert "FAIL parity: the parity section exited 3 after" in verdict
    assert "PASS synth train smoke: 10 steps of tiny" in verdict
    assert "PASS weights initialised on the device: drawn on cpu" in verdict
    assert "SKIP MoE layer fwd+bwd vs loop at tiny-E6-k2" in verdict
    assert verdict.rstrip().splitlines()[-1].startswith("VERDICT: FAIL (3 of 4 targets met")
    assert rc == 1
    assert (work / "gpu_check.log").read_text() == log


def test_the_cpu_run_writes_every_sections_figures(cpu_run) -> None:
    _, log, work = cpu_run
    bench = json.loads((work / "bench.json").read_text())
    assert set(bench["shapes"][0]["ms"]) == {"loop", "torch_gmm", "triton"}
    assert bench["shapes"][0]["grouped_gemm"]["ms"] > 0
    assert json.loads((work / "smoke.json").read_text())["loss_falling"]
    counts = gpu_verdict.junit_counts(work / "gpu_tests.xml")
    assert counts is not None and counts["skipped"] > 0  # test_gpu.py, without CUDA
    assert counts["passed"] == counts["failed"] == counts["errors"] == 0
    assert "tokens/s (median step)" in log  # printed by synth train itself


def passing() -> Figures:
    """Figures of a GPU run that meets every target."""
    shape = {"name": TARGET_SHAPE, "T": 16384, "D": 2048, "F": 768, "E": 128, "K": 8}
    ok = {"ok": True, "errors": dict.fromkeys(moe_parity.TENSORS, 0.01)}
    return Figures(
        parity={"dtype": "bfloat16", "tolerance": 3e-2, "shapes": [{
            **shape, "experts": {"loop": ok, "torch_gmm": ok, "triton": ok},
            "router": {"ok": True, "choices_agree": 1.0, "errors": {"probs": 1e-7}}}]},
        bench={"device": "NVIDIA H200", "torch": "2.11", "dtype": "bfloat16",
               "peak_flops": 790e12, "shapes": [{
                   **shape, "ms": {"loop": 200.0, "torch_gmm": 12.0, "triton": 10.0},
                   "not_run": {},
                   "grouped_gemm": {"ms": 1.6, "flops_per_s": 500e12, "of_peak": 500 / 790}}]},
        tests={"passed": 60, "failed": 0, "errors": 0, "skipped": 2},
        smoke={"ok": True, "config": "100m", "backend": "triton", "device": "cuda",
               "steps": 50, "first_loss": 5.6, "last_loss": 3.1, "loss_falling": True,
               "tokens_per_s": 250_000.0, "init_devices": ["cuda"]},
    )  # fmt: skip


def statuses(figures: Figures, gpu: bool = True) -> dict[str, Status]:
    return {line.what: line.status for line in judge(figures, gpu)}


def test_a_run_meeting_every_target_passes() -> None:
    got = statuses(passing())
    assert set(got.values()) == {Status.PASS} and len(got) == 7, got


def with_bench(ms: dict[str, float] | None = None, of_peak: float | None = None,
               not_run: dict[str, str] | None = None) -> Figures:  # fmt: skip
    f = passing()
    assert f.bench is not None
    row = dict(f.bench["shapes"][0])
    if ms is not None:
        row["ms"] = ms
    if not_run is not None:
        row["not_run"] = not_run
    if of_peak is not None:
        row["grouped_gemm"] = {"ms": 1.0, "flops_per_s": of_peak * 790e12, "of_peak": of_peak}
    return replace(f, bench={**f.bench, "shapes": [row]})


def edit(figures: Figures, key: str, **changes: Any) -> Figures:
    value = getattr(figures, key)
    return replace(figures, **{key: {**value, **changes}})


LOOP = f"MoE layer fwd+bwd vs loop at {TARGET_SHAPE}"
GMM = f"MoE layer fwd+bwd vs torch_gmm at {TARGET_SHAPE}"
GEMM = f"grouped GEMM at {TARGET_SHAPE}"


@pytest.mark.parametrize(
    ("figures", "failing"),
    [
        pytest.param(with_bench(ms={"loop": 99.0, "torch_gmm": 12.0, "triton": 10.0}), LOOP,
                     id="9.9x-the-loop"),
        pytest.param(with_bench(ms={"loop": 200.0, "torch_gmm": 9.9, "triton": 10.0}), GMM,
                     id="0.99x-torch_gmm"),
        pytest.param(with_bench(of_peak=0.599), GEMM, id="59.9%-of-peak"),
        pytest.param(edit(passing(), "tests", failed=1), "GPU tests", id="a-test-failed"),
        pytest.param(edit(passing(), "tests", passed=0, skipped=62), "GPU tests",
                     id="all-skipped-on-a-gpu"),
        pytest.param(edit(passing(), "smoke", last_loss=5.5, loss_falling=False, ok=False),
                     "synth train smoke", id="loss-not-falling"),
        pytest.param(edit(passing(), "smoke", init_devices=["cpu"]),
                     "weights initialised on the device", id="weights-drawn-on-the-host"),
    ],
)  # fmt: skip
def test_each_target_fails_alone_below_its_threshold(figures: Figures, failing: str) -> None:
    got = statuses(figures)
    assert got.pop(failing) is Status.FAIL
    assert set(got.values()) == {Status.PASS}, got


def test_the_thresholds_themselves_pass() -> None:
    got = statuses(with_bench(ms={"loop": 100.0, "torch_gmm": 10.0, "triton": 10.0}, of_peak=0.6))
    assert got[LOOP] is got[GMM] is got[GEMM] is Status.PASS


def test_a_parity_failure_names_the_backend_the_shape_and_the_tensor() -> None:
    f = passing()
    assert f.parity is not None
    bad = {"ok": False, "errors": {**dict.fromkeys(moe_parity.TENSORS, 0.01), "dx": 0.2}}
    crashed = {"ok": False, "error": "OutOfResources: shared memory"}
    shape = {**f.parity["shapes"][0], "experts": {"loop": bad, "triton": crashed}}
    (line,) = [x for x in judge(replace(f, parity={**f.parity, "shapes": [shape]}), True)
               if x.what == "parity"]  # fmt: skip
    assert line.status is Status.FAIL
    assert f"loop at {TARGET_SHAPE}: dx 2.0e-01" in line.detail
    assert "triton at" in line.detail and "OutOfResources" in line.detail


def test_a_backend_that_did_not_run_fails_with_its_reason() -> None:
    """torch_gmm where grouped_mm is missing is not timed as the loop: it did not run."""
    figures = with_bench(ms={"loop": 200.0, "triton": 10.0},
                         not_run={"torch_gmm": "torch 2.3 has no grouped_mm"})  # fmt: skip
    (line,) = [x for x in judge(figures, True) if x.what == GMM]
    assert line.status is Status.FAIL and "torch 2.3 has no grouped_mm" in line.detail


def test_missing_figures_say_how_their_section_ended() -> None:
    figures = Figures(sections={"parity": (1, 40), "benchmark": (124, 120)})
    lines = {x.what: x for x in judge(figures, True)}
    assert lines["parity"].detail == "the parity section exited 1 after 40 s and wrote no figures"
    assert "benchmark section timed out after 120 s" in lines[GEMM].detail
    assert "gpu-tests section did not run" in lines["GPU tests"].detail
    assert all(x.status is Status.FAIL for x in lines.values())


def test_a_cpu_smoke_run_skips_the_speed_targets() -> None:
    got = statuses(edit(passing(), "smoke", init_devices=["cpu"]), gpu=False)
    assert got[LOOP] is got[GMM] is got[GEMM] is Status.SKIP
    assert got["weights initialised on the device"] is Status.PASS


def test_the_verdict_reads_what_the_sections_write(tmp_path: Path, capsys) -> None:
    f = passing()
    for name, value in (("parity.json", f.parity), ("bench.json", f.bench),
                        ("smoke.json", f.smoke)):  # fmt: skip
        (tmp_path / name).write_text(json.dumps(value))
    (tmp_path / "gpu_tests.xml").write_text(
        '<testsuites><testsuite tests="62" failures="0" errors="0" skipped="2"/></testsuites>')
    (tmp_path / "sections.txt").write_text("parity 0 30\nbenchmark 0 80\n")
    assert gpu_verdict.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().splitlines()[-1] == "VERDICT: PASS (7 of 7 targets met)"
    assert f"PASS {GEMM}: 500.0 TFLOP/s = 63.3% of the 790.0 TFLOP/s bf16 peak" in out
    (tmp_path / "smoke.json").unlink()
    assert gpu_verdict.main([str(tmp_path)]) == 1


def test_parity_on_tiny_shapes_covers_every_backend_and_the_router() -> None:
    got = moe_parity.check(SHAPES["tiny"], ["loop", "torch_gmm", "triton"], CPU, torch.float16)
    (row,) = got["shapes"]
    assert set(row["experts"]) == {"loop", "torch_gmm", "triton"}
    assert all(r["ok"] for r in row["experts"].values()) and row["router"]["ok"], row


def test_parity_catches_a_backend_off_by_a_little(monkeypatch) -> None:
    from synth.trainer.backends import Backend, get_backend

    loop = get_backend("loop", CPU)
    off = Backend("off", loop.route, lambda *a, **k: loop.experts(*a, **k) * 1.05)
    monkeypatch.setattr(moe_parity, "get_backend", lambda name, device: off)
    got = moe_parity.check(SHAPES["tiny"], ["off"], CPU, torch.float32)
    r = got["shapes"][0]["experts"]["off"]
    assert not r["ok"] and r["errors"]["y"] == pytest.approx(0.05, rel=1e-3)


def test_the_benchmark_reports_torch_gmm_as_not_run_rather_than_time_the_loop(
    monkeypatch,
) -> None:
    """Where grouped_mm is missing, the old backend ran the loop and the benchmark printed the
    loop's time in torch_gmm's row."""
    from synth.trainer.kernels import experts_gmm

    monkeypatch.setattr(experts_gmm, "_GROUPED_MM", None)
    got = moe_layer.measure(SHAPES["tiny"], ["loop", "torch_gmm"], CPU, repeats=1)
    (row,) = got["shapes"]
    assert set(row["ms"]) == {"loop"}
    assert "has no grouped_mm" in row["not_run"]["torch_gmm"]


def test_the_benchmark_draws_its_weights_on_the_device(monkeypatch) -> None:
    drawn_on: set[str] = set()
    normal = torch.nn.init.normal_

    def spy(*args: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        drawn_on.add((args[0] if args else kwargs["tensor"]).device.type)
        return normal(*args, **kwargs)

    monkeypatch.setattr(torch.nn.init, "normal_", spy)
    moe, _ = moe_layer.layer_for(SHAPES["tiny"][0], torch.device("meta"), torch.float32)
    assert drawn_on == {"meta"} and moe.w_gate_EFD.device.type == "meta"


@pytest.mark.parametrize(
    ("losses", "falling"),
    [([5.6, 5.5, 5.4, 5.2, 5.0, 4.1, 3.9, 3.8, 3.6, 3.5], True),
     ([5.6, 5.5, 5.6, 5.5, 5.6, 5.5, 5.4, 5.5, 5.6, 5.5], False)],
)  # fmt: skip
def test_the_smoke_run_judges_the_loss_by_its_first_and_last_five_steps(losses, falling) -> None:
    got = train_smoke.summarise(losses, [1.0] * 5 + [100.0, 200.0, 300.0, 400.0, 500.0])
    assert got["loss_falling"] is falling
    assert got["tokens_per_s"] == 300.0  # the median after the first five (compiling)


def test_a_backend_that_breaks_is_reported_and_the_benchmark_goes_on(monkeypatch) -> None:
    from synth.trainer.backends import Backend, get_backend

    def broken(*args: object, **kwargs: object) -> torch.Tensor:
        raise RuntimeError("out of resource: shared memory, Required: 262144\nmore")

    def backends(name: str, device: torch.device) -> Backend:
        loop = get_backend("loop", device)
        return Backend(name, loop.route, broken) if name == "triton" else loop

    monkeypatch.setattr(moe_layer, "get_backend", backends)
    got = moe_layer.measure(SHAPES["tiny"], ["triton", "loop"], CPU, repeats=1)
    (row,) = got["shapes"]
    assert set(row["ms"]) == {"loop"} and row["grouped_gemm"] is None
    why = "RuntimeError: out of resource: shared memory, Required: 262144"
    assert row["not_run"]["triton"] == why

#!/usr/bin/env bash
# The trainer's GPU check, one run to a verdict (issue 15); under 8 minutes on an H200.
#
#   bash bench/gpu_check.sh          # a CUDA GPU with Triton
#   bash bench/gpu_check.sh --cpu    # the same sections on a CPU, tiny shapes (a smoke run)
#   PYTHON=/path/to/python OUT=DIR WHEELS=DIR bash bench/gpu_check.sh
#
# Sections, each under its own time limit and each run whatever the one before did (no -x,
# no set -e: a failing first section used to stop the script before the benchmark):
#   env          the device, torch, triton, and what the smoke run will lack
#   parity       every expert backend and the fused router against the fp32 reference, bf16,
#                at the benchmark shapes (bench/moe_parity.py)
#   benchmark    MoE layer forward+backward per backend and the Triton grouped GEMM, against
#                the bf16 matmul peak measured in the same run (bench/moe_layer.py)
#   gpu-tests    the trainer's kernel and GPU tests (pytest)
#   train-smoke  `synth train --config 100m`, 50 steps, on a store of synthetic tasks
#                (bench/train_smoke.py)
# then one PASS / FAIL line per target (bench/gpu_verdict.py) and the exit status: 0 when no
# line fails. Figures and the whole log (gpu_check.log) go to $OUT, or to a temporary folder.
#
# Needs torch with CUDA, triton, numpy and pytest. The smoke run also needs the factory's own
# packages (duckdb, pydantic, libcst; typer, rich and safetensors are usually there): on a
# machine that cannot fetch them, carry their wheels (cp312, manylinux) in a folder and name it
# in WHEELS; they are installed into /tmp/gpu-check-site for this run only.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

usage() {
  echo "usage: bash bench/gpu_check.sh [--cpu]" >&2
  exit 2
}
MODE=gpu
if [ $# -gt 1 ]; then usage; fi
case "${1:-}" in
  "") ;;
  --cpu) MODE=cpu ;;
  -h | --help)
    sed -n '2,24p' "$0"
    exit 0
    ;;
  *) usage ;;
esac

PY=${PYTHON:-python3}
WORK=${OUT:-$(mktemp -d -t gpu-check-XXXXXX)}
mkdir -p "$WORK" || exit 2
: >"$WORK/sections.txt"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1

if [ "$MODE" = gpu ]; then
  unset TRITON_INTERPRET # real kernels, not the CPU interpreter
  DEVICE=cuda SHAPES=gpu DTYPE=bfloat16 CONFIG=100m STEPS=50 BACKENDS=loop,torch_gmm,triton
  TESTS=(tests/trainer/test_gpu.py tests/trainer/test_router.py tests/trainer/test_experts.py
    tests/trainer/test_moe.py)
  # Seconds per section: 15 + 90 + 110 + 130 + 110 = 455, the verdict's few seconds on top.
  # The tests compile the most (fp32 and fp16 variants of every kernel); Triton's disk cache
  # carries the bf16 kernels of the parity section over to the benchmark and the smoke run.
  LIMIT_ENV=15 LIMIT_PARITY=90 LIMIT_BENCH=110 LIMIT_TESTS=130 LIMIT_SMOKE=110
  VERDICT_FLAGS=()
else
  export TRITON_INTERPRET=1
  # float16: Triton's interpreter gets bfloat16 wrong. The kernel tests already run on CPU in
  # the suite; test_gpu.py stands for them here (it skips without CUDA).
  DEVICE=cpu SHAPES=tiny DTYPE=float16 CONFIG=tiny STEPS=10 BACKENDS=loop,torch_gmm,triton
  TESTS=(tests/trainer/test_gpu.py)
  LIMIT_ENV=60 LIMIT_PARITY=120 LIMIT_BENCH=120 LIMIT_TESTS=120 LIMIT_SMOKE=240
  VERDICT_FLAGS=(--smoke)
fi

section() { # NAME LIMIT_S COMMAND...: run, time, record "NAME RC SECONDS"; never stop the check
  local name=$1 limit=$2 start=$SECONDS rc
  shift 2
  echo
  echo "== $name (limit ${limit} s)"
  timeout --kill-after=10 "$limit" "$@"
  rc=$?
  echo "$name $rc $((SECONDS - start))" >>"$WORK/sections.txt"
  echo "== $name: exit $rc after $((SECONDS - start)) s"
}

check() {
  echo "gpu_check ($MODE): figures in $WORK"
  if [ -n "${WHEELS:-}" ]; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/gpu-check-site "$WHEELS"/*.whl &&
      export PYTHONPATH="$PYTHONPATH:/tmp/gpu-check-site"
  fi
  section env "$LIMIT_ENV" "$PY" - "$DEVICE" <<'EOF'
import subprocess, sys
import torch, triton
if sys.argv[1] == "cuda":
    assert torch.cuda.is_available(), "no CUDA device visible"
    print(f"gpu: {torch.cuda.get_device_name()}")
print(f"torch {torch.__version__}; triton {triton.__version__}; python {sys.version.split()[0]}")
subprocess.run([sys.executable, "bench/train_smoke.py", "--packages"], check=True)
EOF
  section parity "$LIMIT_PARITY" "$PY" bench/moe_parity.py --device "$DEVICE" --shapes "$SHAPES" \
    --dtype "$DTYPE" --backends "$BACKENDS" --json "$WORK/parity.json"
  section benchmark "$LIMIT_BENCH" "$PY" bench/moe_layer.py --device "$DEVICE" --shapes "$SHAPES" \
    --backends "$BACKENDS" --json "$WORK/bench.json"
  section gpu-tests "$LIMIT_TESTS" "$PY" -m pytest -q -p no:cacheprovider \
    --junitxml="$WORK/gpu_tests.xml" "${TESTS[@]}"
  section train-smoke "$LIMIT_SMOKE" "$PY" bench/train_smoke.py --config "$CONFIG" \
    --steps "$STEPS" --device "$DEVICE" --json "$WORK/smoke.json"
  echo
  echo "== verdict"
  "$PY" bench/gpu_verdict.py "$WORK" ${VERDICT_FLAGS[@]+"${VERDICT_FLAGS[@]}"}
}

check 2>&1 | tee "$WORK/gpu_check.log"

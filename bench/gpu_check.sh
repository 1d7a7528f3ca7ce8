#!/usr/bin/env bash
# The trainer's one prepared GPU check (an H200, or any CUDA GPU with Triton): bf16 parity of
# every kernel against its torch reference, then the MoE layer benchmark. Under 8 minutes: each
# part runs under its own timeout (240 s + 200 s).
#
#   bash bench/gpu_check.sh                      # from anywhere
#   PYTHON=/path/to/python bash bench/gpu_check.sh
#
# Needs torch with CUDA, triton, numpy and pytest, nothing from the factory (DuckDB, Docker,
# Ray), so it runs on a bare GPU image. With OUT set, the output is also saved to
# $OUT/gpu_check.log.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
unset TRITON_INTERPRET # real kernels, not the CPU interpreter

check() {
  "$PY" -c 'import torch, triton
assert torch.cuda.is_available(), "no CUDA device visible"
print(f"gpu: {torch.cuda.get_device_name()}; torch {torch.__version__}; triton {triton.__version__}")'

  echo "== parity: Triton kernels vs torch references (bf16 at scale; fp32/fp16 small cases)"
  timeout 240 "$PY" -m pytest -q -p no:cacheprovider -x \
    tests/trainer/test_gpu.py tests/trainer/test_router.py tests/trainer/test_experts.py \
    tests/trainer/test_moe.py

  echo "== benchmark: MoE layer forward+backward, each backend vs loop"
  timeout 200 "$PY" bench/moe_layer.py --device cuda
}

if [ -n "${OUT:-}" ]; then
  check 2>&1 | tee "$OUT/gpu_check.log"
else
  check
fi

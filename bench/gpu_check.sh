#!/usr/bin/env bash
# The trainer's one prepared GPU check (an H200, or any CUDA GPU with Triton): bf16 parity of
# every kernel against its torch reference, then the MoE layer benchmark. Under 8 minutes.
#
#   bash bench/gpu_check.sh            # from the repository root or anywhere
#   PYTHON=/path/to/python bash bench/gpu_check.sh
#
# Needs torch with CUDA, triton, numpy and pytest: nothing from the factory (DuckDB, Docker,
# Ray), so it runs on a bare GPU image. Everything it prints goes to $OUT/gpu_check.log too
# when OUT is set.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
unset TRITON_INTERPRET  # real kernels, not the CPU interpreter
log=${OUT:+$OUT/gpu_check.log}
exec > >(tee ${log:+"$log"}) 2>&1

"$PY" - <<'PYEOF'
import torch, triton
assert torch.cuda.is_available(), "no CUDA device visible"
print(f"gpu: {torch.cuda.get_device_name()}, torch {torch.__version__}, triton {triton.__version__}")
PYEOF

echo "== parity: Triton kernels vs torch references (bf16 at scale; fp32/fp16 small cases)"
timeout 270 "$PY" -m pytest -q -p no:cacheprovider -x \
  tests/trainer/test_gpu.py tests/trainer/test_router.py tests/trainer/test_experts.py \
  tests/trainer/test_moe.py

echo "== benchmark: MoE layer forward+backward, each backend vs loop"
timeout 210 "$PY" bench/moe_layer.py --device cuda

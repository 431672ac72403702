#!/usr/bin/env bash
# Usage: scripts/gpu_check.sh   (on a CUDA machine, from the repo root; ~5 min)
# Runs every @pytest.mark.gpu test, then a short real bf16-teacher -> 4-bit QLoRA-student distillation.
set -u
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
python -c "import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)" || { echo "gpu_check: no CUDA device"; exit 2; }
timeout 240 python -m pytest -m gpu -q -p no:cacheprovider tests/ ; tests_rc=$?
[ $tests_rc -eq 5 ] && tests_rc=0  # 5 = no gpu tests collected
timeout 240 python scripts/gpu_qlora_distill.py ; distill_rc=$?
echo "---- gpu_check summary ----"
echo "pytest -m gpu:        $([ $tests_rc -eq 0 ] && echo PASS || echo "FAIL (rc $tests_rc)")"
echo "QLoRA distillation:   $([ $distill_rc -eq 0 ] && echo PASS || echo "FAIL (rc $distill_rc)")"
[ $tests_rc -eq 0 ] && [ $distill_rc -eq 0 ]

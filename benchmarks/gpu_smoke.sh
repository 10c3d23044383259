#!/usr/bin/env bash
# GPU smoke check for a GPU worker: installs the package (CUDA torch as found), then a few SFT and GRPO steps
# on a Qwen2.5-0.5B-shaped model; prints tokens/s and peak memory. Needs no Hub access.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -e . 2>&1 | tail -2
nvidia-smi --query-gpu=name,memory.total --format=csv
PYTHONUNBUFFERED=1 python3 benchmarks/gpu_smoke.py

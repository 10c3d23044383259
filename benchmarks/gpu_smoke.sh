#!/usr/bin/env bash
# GPU smoke check for a GPU worker: a few SFT and GRPO steps through our stages on a Qwen2.5-0.5B-shaped model
# (bf16), the NLI verifier's batched per-pair check on the GPU, then greedy evaluation generation; prints
# tokens/s and peak memory. Needs no Hub access.
#
# A worker with network installs the package (CUDA torch as found). A worker without network installs the wheels
# it is given in .whl/ (pip download --no-deps ... trl datasets duckdb pydantic pydantic-core annotated-types
# typing-inspection bm25s dill multiprocess, for its Python) and uses the torch/transformers/peft it has.
set -euo pipefail
cd "$(dirname "$0")/.."
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/knowrl-site .whl/*.whl
  export PYTHONPATH="/tmp/knowrl-site:$(pwd)"
else
  python3 -m pip install -q -e . 2>&1 | tail -2
fi
nvidia-smi --query-gpu=name,memory.total --format=csv
python3 -c "import torch, transformers, trl, peft; print('torch', torch.__version__, 'transformers', transformers.__version__, 'trl', trl.__version__, 'peft', peft.__version__)"
PYTHONUNBUFFERED=1 python3 benchmarks/gpu_smoke.py

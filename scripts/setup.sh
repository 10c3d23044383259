#!/usr/bin/env bash
# Create .venv and install knowrl-pipeline with its dev tools and the remote storage profile's packages.
# Without a CUDA GPU it installs the CPU build of torch first (a local wheel when pip is configured with one,
# else PyTorch's CPU index, or KNOWRL_TORCH_INDEX), so pip never pulls the multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_SPEC='torch>=2.6,<2.15'

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)

if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "setup: CUDA GPU found: installing the default (CUDA) torch build"
    "${PIP[@]}" install "$TORCH_SPEC"
  elif "${PIP[@]}" install --no-index --no-deps "$TORCH_SPEC" 2>/dev/null; then
    # The wheel alone, from the local wheel folder pip is configured with; its dependencies come next.
    echo "setup: no GPU: installed torch from a local CPU wheel"
  else
    index=${KNOWRL_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}
    echo "setup: no GPU: installing the CPU build of torch from $index"
    "${PIP[@]}" install "$TORCH_SPEC" --index-url "$index" --extra-index-url https://pypi.org/simple
  fi
fi
"${PIP[@]}" install -e ".[dev,remote]"
.venv/bin/python -c "import torch, deepspeed, trl, prefect; print(f'setup: torch {torch.__version__}, trl {trl.__version__}, prefect {prefect.__version__}, deepspeed {deepspeed.__version__} (accelerator: {deepspeed.get_accelerator().device_name()})')" 2>&1 | grep '^setup:'

#!/usr/bin/env bash
# One-time (and idempotent) set-up: a virtual environment in .venv with torch and explorer installed.
#
# torch comes first, on purpose: on a machine without an NVIDIA GPU we install the CPU build
# (torch==2.13.0; this machine's pip finds that wheel on local disk; elsewhere point
# EXPLORER_TORCH_INDEX at PyTorch's CPU wheel index), so that installing explorer, whose
# requirement "torch>=2.2" is then already met, never pulls a multi-GB CUDA build. With a GPU,
# the default torch build (CUDA) is installed. On Python 3.11 the other dependencies are pinned by
# scripts/constraints-py311.txt (reproducible numbers). Re-runs are cheap: a stamp keyed by pyproject.toml
# and this script skips the pip steps when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-app,mobilenet,video,scale,test}"
python_bin="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
  "$python_bin" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate

stamp=".venv/.setup-$(cat pyproject.toml scripts/setup.sh scripts/constraints-py311.txt | sha256sum | cut -c1-16)-${extras//,/_}"
if [ -f "$stamp" ]; then
  exit 0
fi

export PIP_DISABLE_PIP_VERSION_CHECK=1
if ! python -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "setup: NVIDIA GPU found: installing the default (CUDA) torch build"
    python -m pip install "torch>=2.2"
  else
    echo "setup: no NVIDIA GPU: installing the CPU build of torch"
    python -m pip install "torch==2.13.0" ${EXPLORER_TORCH_INDEX:+--index-url "$EXPLORER_TORCH_INDEX"}
  fi
fi
# On Python 3.11 (the reference environment) every dependency is pinned to the versions the committed
# benchmark tables were computed with: numpy, gensim, scikit-learn... each change the numbers in their last bits.
constraints=()
if python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  constraints=(-c scripts/constraints-py311.txt)
fi
python -m pip install "${constraints[@]}" -e ".[${extras}]"
rm -f .venv/.setup-*
touch "$stamp"

#!/usr/bin/env bash
# Set up (first run only) and launch the Streamlit explorer on http://localhost:8501 (localhost only).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m streamlit run app.py --server.address 127.0.0.1 --server.headless true \
  --browser.gatherUsageStats false "$@"

#!/usr/bin/env bash
# Set up (first run only) and run the whole test suite: unit tests on data the tests generate,
# integration tests on ../shared/data (skipped when it is absent), and the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -f scripts/browser-setup.sh ]; then
  bash scripts/browser-setup.sh
fi
exec .venv/bin/python -m pytest "$@"

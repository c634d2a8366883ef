#!/usr/bin/env bash
# The main job: set up this machine, then run the bundled demo scenario.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/harness run scenarios/demo.yaml "$@"

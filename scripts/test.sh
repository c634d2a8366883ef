#!/usr/bin/env bash
# The test suite: set up this machine, then the Python tests (unit and integration
# against the real Docker engine, kernel, perf and language server), then the VS Code
# extension's checks. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
SETUP_EXTRA_APT="chromium ${SETUP_EXTRA_APT:-}" bash scripts/setup.sh
export PATH="$(pwd)/.venv/bin:$PATH"
mkdir -p test-artifacts
status=0
.venv/bin/python -m pytest -q -p no:cacheprovider "$@" || status=$?
if [ -z "${SKIP_VSCODE:-}" ] && [ -f vscode-client/scripts/ci.sh ]; then
  bash vscode-client/scripts/ci.sh || status=$?
  if [ -z "${SKIP_E2E:-}" ] && [ -f vscode-client/scripts/e2e.sh ]; then
    bash vscode-client/scripts/e2e.sh || status=$?
  fi
fi
exit $status

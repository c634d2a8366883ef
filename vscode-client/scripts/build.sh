#!/bin/sh
# The build steps of the extension, shared by scripts/ci.sh (which also runs the checks)
# and scripts/e2e.sh (which builds only what is missing). Run from anywhere; needs Node 20 and npm.
#   build.sh deps      npm ci (node_modules, without install scripts)
#   build.sh bundle    esbuild: dist/extension.js (needs deps)
#   build.sh package   vsce: dist/go-incident-harness.vsix (needs deps and bundle)
# Several steps run in the order given; the first failure stops and sets the exit code.
set -eu
HERE="$(cd "$(dirname "$0")/.." && pwd)"
cd "$HERE"

if [ "$#" -eq 0 ]; then
  echo "usage: $0 deps|bundle|package ..." >&2
  exit 2
fi
for what in "$@"; do
  case "$what" in
    deps)
      # --ignore-scripts: nothing here needs an install script (esbuild finds its binary package
      # without one), and keytar's would try a download from GitHub.
      npm ci --no-audit --no-fund --ignore-scripts
      ;;
    bundle)
      npm run -s bundle
      ;;
    package)
      npx --no-install vsce package --no-dependencies --skip-license --no-rewrite-relative-links --allow-missing-repository \
        --out dist/go-incident-harness.vsix
      ls -l dist/go-incident-harness.vsix
      ;;
    *)
      echo "build.sh: unknown step '$what' (deps, bundle or package)" >&2
      exit 2
      ;;
  esac
done

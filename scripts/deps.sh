#!/usr/bin/env bash
# Installs the Debian packages cartcast needs, and only those that are missing,
# then the npm packages of the browser tests (package-lock.json) when
# node_modules is missing or older than the lock file.
#   scripts/deps.sh            build, run and test dependencies
#   scripts/deps.sh bench      also the benchmark anchors (nginx + nginx-rtmp) and wrk
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

packages=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  zlib1g-dev libuv1-dev libwebsockets-dev libwebsockets-evlib-uv libjansson-dev libcmocka-dev libhiredis-dev
  libavformat-dev libavcodec-dev libavutil-dev libsrt-gnutls-dev
  redis-server ffmpeg srt-tools
  python3 curl openssl procps
  docker-compose
  chromium
)
# docker-compose (1.29, Python; installed without recommends, so no Docker engine):
# tests/integration/test_compose.py validates docker-compose.yml with `config`.
# Browser tests: Debian's Chromium (headless, driven by playwright-core) plays
# through hls.js; node and npm come with the base machine, else from Debian.
command -v node >/dev/null 2>&1 || packages+=(nodejs npm)
if [ "${1:-}" = bench ]; then
  packages+=(nginx libnginx-mod-rtmp wrk)
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "cartcast: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # Debian starts redis-server and nginx as system services when it installs
  # them; cartcast runs its own instances on its own ports, so keep them off.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages (hls.js, playwright-core, hls-parser, ws; devDependencies pinned in
# package-lock.json, no install scripts, no browser download): only when
# node_modules is missing or the lock file changed since the last install.
if [ ! -e "$ROOT/node_modules/.package-lock.json" ] ||
   [ "$ROOT/package-lock.json" -nt "$ROOT/node_modules/.package-lock.json" ]; then
  echo "cartcast: installing npm packages (npm ci)" >&2
  (cd "$ROOT" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >&2)
fi

#!/usr/bin/env bash
# Installs the Debian packages cartcast needs, and only those that are missing.
#   scripts/deps.sh            build, run and test dependencies
#   scripts/deps.sh bench      also the benchmark anchors (nginx + nginx-rtmp)
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  zlib1g-dev libuv1-dev libwebsockets-dev libwebsockets-evlib-uv libjansson-dev libcmocka-dev libhiredis-dev
  libavformat-dev libavcodec-dev libavutil-dev libsrt-gnutls-dev
  redis-server ffmpeg srt-tools
  python3 curl openssl procps
)
if [ "${1:-}" = bench ]; then
  packages+=(nginx libnginx-mod-rtmp)
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

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

#!/usr/bin/env bash
# Two cartcast-origin builds side by side, both fed over SRT only: A/B of the SRT ingest's CPU
# in the same conditions (two runs of bench/srt_cpu.sh differ by +-10 % on a shared machine;
# two identical builds side by side by +-5 %).
#
#   bench/srt_ab.sh A/cartcast-origin B/cartcast-origin [STREAMS [SECONDS]]   # default 4, 40
#
# Each origin gets STREAMS publishers (ffmpeg -re -stream_loop -1 -c copy -f mpegts srt://...)
# of bench/out/clip-720p30-3000k.ts (made by bench/srt_cpu.sh), started interleaved; after 6 s
# both are sampled over the window from /proc/PID/task/* (schedstat on-CPU ns, voluntary and
# involuntary context switches). Prints one line per origin: total % of one core and, per
# thread group, % of a core, voluntary (v) and involuntary (i) switches a second.
# Run it under flock /tmp/cartcast-bench.lock like every benchmark here. Listens on
# 127.0.0.1 only, free ports; stops what it started on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
A=${1:?usage: bench/srt_ab.sh A/cartcast-origin B/cartcast-origin [STREAMS [SECONDS]]}
B=${2:?usage: bench/srt_ab.sh A/cartcast-origin B/cartcast-origin [STREAMS [SECONDS]]}
STREAMS=${3:-4}
SECS=${4:-40}
CLIP=$ROOT/bench/out/clip-720p30-3000k.ts
[[ $STREAMS =~ ^[0-9]+$ ]] && [ "$STREAMS" -ge 1 ] && [ "$STREAMS" -le 32 ] || { echo "srt_ab: STREAMS 1..32" >&2; exit 2; }
[[ $SECS =~ ^[0-9]+$ ]] && [ "$SECS" -ge 5 ] && [ "$SECS" -le 600 ] || { echo "srt_ab: SECONDS 5..600" >&2; exit 2; }
[ -x "$A" ] && [ -x "$B" ] || { echo "srt_ab: both origins must be executables" >&2; exit 2; }
[ -s "$CLIP" ] || { echo "srt_ab: no $CLIP: run bench/srt_cpu.sh once to make it" >&2; exit 2; }

TMP=$(mktemp -d /tmp/cc-srt-ab.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

port() { # SOCK_STREAM|SOCK_DGRAM -> a free 127.0.0.1 port
  python3 -c 'import socket, sys; s = socket.socket(socket.AF_INET, getattr(socket, sys.argv[1])); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' "$1"
}
start_origin() { # BIN LABEL -> sets ORIGIN_PID, ORIGIN_SRT
  local args=(--rtmp-port "$(port SOCK_STREAM)" --http-port "$(port SOCK_STREAM)" --bind 127.0.0.1) n
  ORIGIN_SRT=$(port SOCK_DGRAM)
  args+=(--srt-port "$ORIGIN_SRT")
  for n in $(seq "$STREAMS"); do args+=(--stream-key "s$n=k$n"); done
  "$1" "${args[@]}" >"$TMP/$2.log" 2>&1 &
  ORIGIN_PID=$!
  PIDS+=("$ORIGIN_PID")
}
start_origin "$A" a; PA=$ORIGIN_PID; SA=$ORIGIN_SRT
start_origin "$B" b; PB=$ORIGIN_PID; SB=$ORIGIN_SRT
sleep 1
for n in $(seq "$STREAMS"); do
  for s in "$SA" "$SB"; do
    ffmpeg -hide_banner -loglevel warning -nostdin -re -stream_loop -1 -i "$CLIP" -c copy -f mpegts \
      "srt://127.0.0.1:$s?streamid=#!::r=live/k$n,m=publish" >/dev/null 2>>"$TMP/ffmpeg.log" &
    PIDS+=($!)
  done
done
sleep 6

snap() { # PID -> "tid comm ns voluntary involuntary" per thread
  local t
  for t in /proc/"$1"/task/*; do
    echo "${t##*/} $(tr ' ' _ <"$t/comm") $(cut -d' ' -f1 "$t/schedstat") $(awk '/^voluntary/{print $2}' "$t/status") $(awk '/^nonvoluntary/{print $2}' "$t/status")"
  done 2>/dev/null || true
}
snap "$PA" >"$TMP/a0"; snap "$PB" >"$TMP/b0"
sleep "$SECS"
snap "$PA" >"$TMP/a1"; snap "$PB" >"$TMP/b1"
kill -0 "$PA" && kill -0 "$PB" || { echo "srt_ab: an origin died" >&2; exit 1; }

report() { # LABEL BEFORE AFTER
  python3 - "$1" "$2" "$3" "$SECS" <<'PY'
import re, sys
label, before, after, secs = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
a = {f[0]: f for f in (l.split() for l in open(before)) if len(f) == 5}
groups = {}
for f in (l.split() for l in open(after)):
    if len(f) != 5 or f[0] not in a:
        continue  # a thread born in the window: left out
    x = a[f[0]]
    g = re.sub(r"[:\-]?\d+$", "", f[1])
    g = "SRT:RcvQ" if g.startswith("SRT:RcvQ") else g
    c = groups.setdefault(g, [0, 0, 0])
    c[0] += int(f[2]) - int(x[2]); c[1] += int(f[3]) - int(x[3]); c[2] += int(f[4]) - int(x[4])
total = sum(v[0] for v in groups.values())
print("%s total %.3f %%core | %s" % (label, 100 * total / 1e9 / secs, "  ".join(
    "%s %.3f v%.0f i%.0f" % (g, 100 * v[0] / 1e9 / secs, v[1] / secs, v[2] / secs)
    for g, v in sorted(groups.items(), key=lambda kv: -kv[1][0]) if v[0] > 1e6)))
PY
}
echo "srt_ab: $STREAMS SRT publishers per origin, ${SECS} s window, load $(cut -d' ' -f1-3 /proc/loadavg)"
report "A $A" "$TMP/a0" "$TMP/a1"
report "B $B" "$TMP/b0" "$TMP/b1"

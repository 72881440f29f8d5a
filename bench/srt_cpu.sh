#!/usr/bin/env bash
# SRT ingest CPU per stream against RTMP ingest of the same content, and N concurrent SRT
# publishers without a dropped frame (issue 4).
#
# One clip (720p30 H.264 ~3 Mb/s, 1 s GOP, AAC 128k, 20 s) is made once into bench/out/ as
# MPEG-TS, then remuxed with -c copy to FLV, so both protocols carry the same frames.
#
# Default mode (ratio): two cartcast-origin processes run side by side in one run, one fed
# only over SRT, the other only over RTMP, so each process's CPU is one protocol's:
#   SRT:  ffmpeg -re -stream_loop -1 -i clip.ts  -c copy -f mpegts 'srt://127.0.0.1:P?streamid=#!::r=live/KEY,m=publish'
#   RTMP: ffmpeg -re -stream_loop -1 -i clip.flv -c copy -f flv    rtmp://127.0.0.1:P/live/KEY
# First both origins are measured idle (no publisher; --idle S), then S publishers each
# (started interleaved), a warm-up, and both origins are sampled back to back over the same
# window (utime+stime from /proc/PID/stat, and schedstat ns). Printed: % of one core per
# stream for each, the ratio SRT/RTMP (target <= 1.5) both raw and above each origin's idle
# cost, wakeups/s, and a per-thread breakdown (libsrt's threads, ours, the loop).
#
# --many N: N SRT publishers into one origin for the window (default 60 s), then the
# no-dropped-frame checks for every stream: the hub's video frames grew exactly as ffmpeg
# says it sent them (-progress, read at the same moments), the packager's frames_dropped did
# not grow after the warm-up, the hub saw no DTS going backwards, and libsrt dropped no
# packet (srt.close lines: dropped= lost= after the publishers stop).
#
#   bench/srt_cpu.sh                          # 4 + 4 publishers, 10 s idle, 5 s warm-up, 30 s window
#   bench/srt_cpu.sh --streams 8 --window 60
#   bench/srt_cpu.sh --many 20                # 20 SRT publishers, 60 s window, frame checks
#   bench/srt_cpu.sh --perf 10                # then perf record -g both origins (bench/out/perf-srt-*.txt)
#   bench/srt_cpu.sh --help
#
# Everything listens on 127.0.0.1 only, on free ports; every process it starts is stopped on
# exit (and by a watchdog if the run overstays). Exit status: 0 ok, 1 a check failed, 2 usage.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=srt_cpu
MANY=0
IDLE=10
LATENCY=""
WINDOW_SET=0
ORIGIN_ARGS=()
bench_usage_extra() {
  cat <<EOF
  --many N            N SRT publishers into one origin (no RTMP side), window 60 s unless
                      --window is given, then the no-dropped-frame checks
  --idle S            seconds both origins are measured with no publisher (default $IDLE; 0: skip)
  --srt-latency MS    --srt-latency-ms for the SRT origin (default: the origin's, 120)
  --origin-arg ARG    one more argument for both cartcast-origins (repeatable)
(--only is ignored: there is no nginx here.)
EOF
}
bench_opt() {
  case "$1" in
    --many) MANY=${2:?}; BENCH_SHIFT=2 ;;
    --idle) IDLE=${2:?}; BENCH_SHIFT=2 ;;
    --srt-latency) LATENCY=${2:?}; BENCH_SHIFT=2 ;;
    --origin-arg) ORIGIN_ARGS+=("${2:?}"); BENCH_SHIFT=2 ;;
    *) return 1 ;;
  esac
}
for a in "$@"; do [ "$a" = --window ] && WINDOW_SET=1; done
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

bench_parse_args "$@"
RUN_NGINX=0
RUN_CC=1
[[ $MANY =~ ^[0-9]+$ ]] && [ "$MANY" -le 64 ] || { echo "$BENCH: --many wants 0..64" >&2; exit 2; }
[[ $IDLE =~ ^[0-9]+$ ]] && [ "$IDLE" -le 120 ] || { echo "$BENCH: --idle wants 0..120" >&2; exit 2; }
[ -z "$LATENCY" ] || [[ $LATENCY =~ ^[0-9]+$ ]] || { echo "$BENCH: --srt-latency wants ms" >&2; exit 2; }
if [ "$MANY" -gt 0 ]; then
  STREAMS=$MANY
  [ "$WINDOW_SET" = 1 ] || WINDOW=60
fi
bench_prereqs
"$ORIGIN_BIN" --help 2>/dev/null | grep -q -- '--srt-port' || die "$ORIGIN_BIN has no SRT ingest"
ffmpeg -hide_banner -protocols 2>/dev/null | grep -qx '  srt' || die "this ffmpeg has no srt:// output"

# ---------------------------------------------------------------- the clip (made once)
# CLIP_TS and CLIP_FLV: the same frames; CLIP_BPS is the TS's bit rate (TS overhead included).
srt_clip() {
  mkdir -p "$OUT"
  CLIP_TS="$OUT/clip-720p30-3000k.ts"
  CLIP_FLV="$OUT/clip-720p30-3000k.flv"
  if [ ! -s "$CLIP_TS" ] || [ ! -s "$CLIP_FLV" ]; then
    say "making $CLIP_TS and .flv (720p30 H.264 3 Mb/s, 1 s GOP, AAC 128k, 20 s; once)"
    timeout 300 ffmpeg -hide_banner -loglevel error -nostdin -y \
      -f lavfi -i testsrc2=size=1280x720:rate=30 \
      -f lavfi -i sine=frequency=440:sample_rate=48000 -t 20 \
      -c:v libx264 -preset veryfast -b:v 3000k -maxrate 3000k -bufsize 6000k \
      -g 30 -keyint_min 30 -sc_threshold 0 -pix_fmt yuv420p \
      -c:a aac -b:a 128k -ac 2 -f mpegts "$CLIP_TS.tmp" || die "could not make the clip"
    timeout 120 ffmpeg -hide_banner -loglevel error -nostdin -y -i "$CLIP_TS.tmp" -c copy -f flv "$CLIP_FLV.tmp" \
      || die "could not remux the clip to FLV"
    mv "$CLIP_TS.tmp" "$CLIP_TS"
    mv "$CLIP_FLV.tmp" "$CLIP_FLV"
  fi
  CLIP_BPS=$(ffprobe -v error -show_entries format=bit_rate -of default=nw=1:nk=1 "$CLIP_TS")
  CLIP_BPS=${CLIP_BPS%%.*}
  [[ $CLIP_BPS =~ ^[0-9]+$ ]] || die "ffprobe cannot read $CLIP_TS"
  CLIP=$CLIP_TS
}
srt_clip
bench_setup cc-bench-srt
read -r SRT_RTMP SRT_HTTP < <(free_ports 2)
SRT_PID=""
bench_cleanup_extra() { stop_pid "$SRT_PID"; return 0; }

free_udp() {
  python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_origin LOG RTMP HTTP SRT EXTRA...: prints the pid
start_origin() {
  local log=$1 rtmp=$2 http=$3 srt=$4 n args
  shift 4
  args=(--rtmp-port "$rtmp" --http-port "$http" --srt-port "$srt" --bind 127.0.0.1)
  for n in $(seq "$STREAMS"); do args+=(--stream-key "s$n=k$KEY_SALT$n"); done
  "$ORIGIN_BIN" "${args[@]}" "$@" ${ORIGIN_ARGS[@]+"${ORIGIN_ARGS[@]}"} >"$log" 2>&1 &
  echo $!
}

# ---------------------------------------------------------------- per-thread readings
# threads_snapshot PID FILE: "tid comm ns voluntary_switches" per live thread.
threads_snapshot() {
  local p=$1 t c ns v
  : >"$2"
  for t in /proc/"$p"/task/*; do
    c=$(tr ' ' '_' <"$t/comm" 2>/dev/null) || continue
    read -r ns _ <"$t/schedstat" 2>/dev/null || continue
    v=$(awk '/^voluntary_ctxt_switches:/{print $2}' "$t/status" 2>/dev/null || true)
    echo "${t##*/} $c $ns ${v:-0}" >>"$2"
  done
}
# threads_report LABEL A B SECONDS: CPU and wakeups per thread group between two snapshots.
threads_report() {
  python3 - "$@" <<'PY'
import re, sys
label, a, b, secs = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
def load(p):
    d = {}
    for line in open(p):
        f = line.split()
        if len(f) == 4:
            d[f[0]] = (f[1], int(f[2]), int(f[3]))
    return d
s, e = load(a), load(b)
groups = {}
for tid, (comm, ns, vol) in e.items():
    ns0, vol0 = (s[tid][1], s[tid][2]) if tid in s else (0, 0)
    g = re.sub(r"[:\-]?\d+$", "", comm)  # SRT:TsbPd, srt-pub, cartcast-origi...
    if comm.startswith("SRT:RcvQ"): g = "SRT:RcvQ"
    if comm.startswith("SRT:SndQ"): g = "SRT:SndQ"
    c = groups.setdefault(g, [0, 0, 0])
    c[0] += 1; c[1] += ns - ns0; c[2] += vol - vol0
tot = sum(v[1] for v in groups.values())
print("%s: per thread group over %.1f s (%%core = on-CPU ns / wall; threads born in the window counted whole)" % (label, secs))
for g, (n, ns, vol) in sorted(groups.items(), key=lambda kv: -kv[1][1]):
    print("  %-18s %3d threads %7.3f %%core %8.0f wakeups/s" % (g, n, 100.0 * ns / 1e9 / secs, vol / secs))
print("  %-18s             %7.3f %%core" % ("total", 100.0 * tot / 1e9 / secs))
PY
}

# ---------------------------------------------------------------- streams
streams_of() { # http_port -> "name frames bytes vframes last_vdts dts_backwards hls_dropped protocol"
  curl -fsS --max-time 3 "http://127.0.0.1:$1/v1/streams" | python3 -c '
import json, sys
for s in json.load(sys.stdin)["streams"]:
    tr = s.get("tracks", [])
    v = [t for t in tr if t.get("kind") == "video"]
    print(s["name"], s.get("frames", 0), sum(t.get("bytes", 0) for t in tr),
          v[0]["frames"] if v else 0, v[0]["last_dts"] if v else 0,
          sum(t.get("dts_backwards", 0) for t in tr),
          (s.get("hls") or {}).get("frames_dropped", -1), s.get("protocol", "-"))'
}

publish_srt() { # n log [progress]
  local url="srt://127.0.0.1:$SRT_UDP?streamid=#!::r=live/k$KEY_SALT$1,m=publish"
  ffmpeg -hide_banner -loglevel warning -nostdin ${3:+-progress "$3" -stats_period 0.1} \
    -re -stream_loop -1 -i "$CLIP_TS" -c copy -f mpegts "$url" >/dev/null 2>"$2" &
  PUB_PIDS+=($!)
}
publish_rtmp() { # n log
  ffmpeg -hide_banner -loglevel warning -nostdin -re -stream_loop -1 -i "$CLIP_FLV" -c copy -f flv \
    "rtmp://127.0.0.1:$CC_RTMP/live/k$KEY_SALT$1" >/dev/null 2>"$2" &
  PUB_PIDS+=($!)
}
progress_frames() { # file -> last frame= value
  awk -F= '$1=="frame"{f=$2} END{print f+0}' "$1" 2>/dev/null || echo 0
}

# ---------------------------------------------------------------- start
KEY_SALT=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
SRT_UDP=$(free_udp)
SRT_ARGS=()
[ -n "$LATENCY" ] && SRT_ARGS+=(--srt-latency-ms "$LATENCY")
SRT_PID=$(start_origin "$TMP/origin-srt.log" "$SRT_RTMP" "$SRT_HTTP" "$SRT_UDP" ${SRT_ARGS[@]+"${SRT_ARGS[@]}"})
wait_http "http://127.0.0.1:$SRT_HTTP/healthz" 10 "$SRT_PID" || { tail -n 20 "$TMP/origin-srt.log" >&2; die "the SRT origin did not start"; }
if [ "$MANY" = 0 ]; then
  CC_PID=$(start_origin "$TMP/origin-rtmp.log" "$CC_RTMP" "$CC_HTTP" "$(free_udp)")
  wait_http "http://127.0.0.1:$CC_HTTP/healthz" 10 "$CC_PID" || { tail -n 20 "$TMP/origin-rtmp.log" >&2; die "the RTMP origin did not start"; }
fi
say "clip $(basename "$CLIP_TS") (+ .flv): $((CLIP_BPS / 1000)) kb/s; mode $([ "$MANY" -gt 0 ] && echo "many: $MANY SRT publishers" || echo "ratio: $STREAMS SRT + $STREAMS RTMP publishers"); idle ${IDLE}s; warm-up ${WARMUP}s; window ${WINDOW}s"
say "origins: SRT-fed pid $SRT_PID (udp $SRT_UDP)$([ -n "$CC_PID" ] && echo ", RTMP-fed pid $CC_PID")"

# ---------------------------------------------------------------- idle
IDLE_SRT_NS=0; IDLE_RTMP_NS=0; IDLE_EL=1
if [ "$IDLE" -gt 0 ]; then
  nap 1
  threads_snapshot "$SRT_PID" "$TMP/idle-srt-0.txt"
  I0=$(now_ns); IS0=$(cpu_ns "$SRT_PID"); IR0=$(cpu_ns $CC_PID)
  nap "$IDLE"
  IS1=$(cpu_ns "$SRT_PID"); IR1=$(cpu_ns $CC_PID); I1=$(now_ns)
  threads_snapshot "$SRT_PID" "$TMP/idle-srt-1.txt"
  IDLE_EL=$(((I1 - I0) / 1000000))
  IDLE_SRT_NS=$((IS1 - IS0)); IDLE_RTMP_NS=$((IR1 - IR0))
  say "idle (no publisher, $((IDLE_EL / 1000)).$(((IDLE_EL % 1000) / 100)) s): origin $(python3 -c "print('%.3f' % (100.0 * $IDLE_SRT_NS / 1e6 / $IDLE_EL))") %core$([ -n "$CC_PID" ] && python3 -c "print(' (the other origin: %.3f %%core)' % (100.0 * $IDLE_RTMP_NS / 1e6 / $IDLE_EL))")"
  threads_report "idle origin" "$TMP/idle-srt-0.txt" "$TMP/idle-srt-1.txt" "$(python3 -c "print($IDLE_EL / 1000)")" >&2
fi

# ---------------------------------------------------------------- load
for n in $(seq "$STREAMS"); do
  if [ "$MANY" -gt 0 ]; then
    publish_srt "$n" "$TMP/pub-srt-s$n.log" "$TMP/progress-s$n.txt"
  else
    publish_srt "$n" "$TMP/pub-srt-s$n.log"
    publish_rtmp "$n" "$TMP/pub-rtmp-s$n.log"
  fi
done
bench_warmup
kill -0 "$SRT_PID" 2>/dev/null || die "the SRT origin exited"

snap_start() {
  streams_of "$SRT_HTTP" >"$TMP/srt-start.txt" || die "cannot read the SRT origin's /v1/streams"
  [ -n "$CC_PID" ] && { streams_of "$CC_HTTP" >"$TMP/rtmp-start.txt" || die "cannot read the RTMP origin's /v1/streams"; }
  if [ "$MANY" -gt 0 ]; then
    for n in $(seq "$STREAMS"); do echo "s$n $(progress_frames "$TMP/progress-s$n.txt")"; done >"$TMP/prog-start.txt"
  fi
  return 0
}
snap_end() {
  if [ "$MANY" -gt 0 ]; then
    for n in $(seq "$STREAMS"); do echo "s$n $(progress_frames "$TMP/progress-s$n.txt")"; done >"$TMP/prog-end.txt"
  fi
  streams_of "$SRT_HTTP" >"$TMP/srt-end.txt" || die "cannot read the SRT origin's /v1/streams"
  [ -n "$CC_PID" ] && { streams_of "$CC_HTTP" >"$TMP/rtmp-end.txt" || die "cannot read the RTMP origin's /v1/streams"; }
  return 0
}

snap_start
threads_snapshot "$SRT_PID" "$TMP/load-srt-0.txt"
[ -n "$CC_PID" ] && threads_snapshot "$CC_PID" "$TMP/load-rtmp-0.txt"
read -r SYS0_BUSY SYS0_ALL < <(sys_busy)
T0=$(now_ns)
S0=$(cpu_ticks "$SRT_PID"); S0NS=$(cpu_ns "$SRT_PID"); S0W=$(wakeups "$SRT_PID")
R0=$(cpu_ticks $CC_PID); R0NS=$(cpu_ns $CC_PID); R0W=$(wakeups $CC_PID)
PUB0=$(cpu_ticks "${PUB_PIDS[@]}")
nap "$WINDOW"
S1=$(cpu_ticks "$SRT_PID"); S1NS=$(cpu_ns "$SRT_PID"); S1W=$(wakeups "$SRT_PID")
R1=$(cpu_ticks $CC_PID); R1NS=$(cpu_ns $CC_PID); R1W=$(wakeups $CC_PID)
PUB1=$(cpu_ticks "${PUB_PIDS[@]}")
T1=$(now_ns)
read -r SYS1_BUSY SYS1_ALL < <(sys_busy)
threads_snapshot "$SRT_PID" "$TMP/load-srt-1.txt"
[ -n "$CC_PID" ] && threads_snapshot "$CC_PID" "$TMP/load-rtmp-1.txt"
snap_end
SRT_RSS=$(rss_kib "$SRT_PID"); RTMP_RSS=$(rss_kib $CC_PID)

# ---------------------------------------------------------------- checks
CHECK_FAIL=0
for p in "${PUB_PIDS[@]}"; do
  kill -0 "$p" 2>/dev/null || { say "a publisher exited during the window"; CHECK_FAIL=1; }
done
kill -0 "$SRT_PID" 2>/dev/null || { say "the SRT origin exited"; CHECK_FAIL=1; }
[ -n "$CC_PID" ] && { kill -0 "$CC_PID" 2>/dev/null || { say "the RTMP origin exited"; CHECK_FAIL=1; }; }
MIN_BYTES=$((CLIP_BPS / 8 * WINDOW * 6 / 10))   # TS overhead: payload is ~90 % of the TS rate
MIN_FRAMES=$((77 * WINDOW * 7 / 10))
check_growth "SRT origin frames" "$TMP/srt-start.txt" "$TMP/srt-end.txt" 1 "$MIN_FRAMES" >&2 || CHECK_FAIL=1
check_growth "SRT origin payload bytes" "$TMP/srt-start.txt" "$TMP/srt-end.txt" 2 "$MIN_BYTES" >&2 || CHECK_FAIL=1
if [ -n "$CC_PID" ]; then
  check_growth "RTMP origin frames" "$TMP/rtmp-start.txt" "$TMP/rtmp-end.txt" 1 "$MIN_FRAMES" >&2 || CHECK_FAIL=1
  check_growth "RTMP origin payload bytes" "$TMP/rtmp-start.txt" "$TMP/rtmp-end.txt" 2 "$MIN_BYTES" >&2 || CHECK_FAIL=1
fi
awk '$8 != "srt" {bad=1} END{exit bad}' "$TMP/srt-end.txt" || { say "a stream of the SRT origin is not protocol srt"; CHECK_FAIL=1; }

# ---------------------------------------------------------------- report
python3 - "$STREAMS" "$T0" "$T1" "$(getconf CLK_TCK)" "$MANY" \
  "$S0" "$S1" "$S0NS" "$S1NS" "$S0W" "$S1W" "${R0:-0}" "${R1:-0}" "${R0NS:-0}" "${R1NS:-0}" "${R0W:-0}" "${R1W:-0}" \
  "$IDLE_SRT_NS" "$IDLE_RTMP_NS" "$IDLE_EL" "$SRT_RSS" "${RTMP_RSS:-0}" "$PUB0" "$PUB1" \
  "$SYS0_BUSY" "$SYS0_ALL" "$SYS1_BUSY" "$SYS1_ALL" "$CLIP_BPS" "$(nproc)" "$IDLE" <<'PY'
import sys
a = sys.argv[1:]
S, t0, t1, hz, many = int(a[0]), int(a[1]), int(a[2]), int(a[3]), int(a[4])
s0, s1, s0ns, s1ns, s0w, s1w, r0, r1, r0ns, r1ns, r0w, r1w = map(int, a[5:17])
idle_s, idle_r, idle_ms, srss, rrss, pub0, pub1 = map(int, a[17:24])
sb0, sa0, sb1, sa1, bps, ncpu, idle_on = map(int, a[24:31])
el = (t1 - t0) / 1e9
pct = lambda ticks: 100.0 * ticks / hz / el
pns = lambda ns: 100.0 * ns / 1e9 / el
ipct_s = 100.0 * idle_s / 1e6 / idle_ms if idle_on else 0.0
ipct_r = 100.0 * idle_r / 1e6 / idle_ms if idle_on else 0.0
print()
title = "SRT ingest CPU, %d SRT publishers into one origin" % S if many else \
    "SRT vs RTMP ingest CPU, %d publishers per origin, same clip (%.2f Mb/s TS)" % (S, bps / 1e6)
print("%s, %.1f s window" % (title, el))
print("%-10s %7s %7s %13s %17s %12s %22s %10s %9s" % ("origin", "cpu_s", "%core", "%core/stream", "%core/stream(ns)",
      "idle %core", "above idle /stream(ns)", "wakeups/s", "rss_kib"))
rows = [("SRT", s0, s1, s0ns, s1ns, s0w, s1w, ipct_s, srss)]
if not many:
    rows.append(("RTMP", r0, r1, r0ns, r1ns, r0w, r1w, ipct_r, rrss))
res = {}
for name, c0, c1, n0, n1, w0, w1, ip, rss in rows:
    per, perns = pct(c1 - c0) / S, pns(n1 - n0) / S
    above = (pns(n1 - n0) - ip) / S
    res[name] = (per, perns, above)
    print("%-10s %7.2f %7.2f %13.3f %17.3f %12.3f %22.3f %10.0f %9d" % (
        name, (c1 - c0) / hz, pct(c1 - c0), per, perns, ip, above, (w1 - w0) / el, rss))
kv = ["streams=%d" % S, "window_s=%.1f" % el, "srt_pct_per_stream=%.3f" % res["SRT"][0],
      "srt_pct_per_stream_ns=%.3f" % res["SRT"][1], "srt_idle_pct=%.3f" % ipct_s]
if not many:
    ratio = res["SRT"][0] / res["RTMP"][0] if res["RTMP"][0] > 0 else float("inf")
    ratio_ns = res["SRT"][1] / res["RTMP"][1] if res["RTMP"][1] > 0 else float("inf")
    ratio_above = res["SRT"][2] / res["RTMP"][2] if res["RTMP"][2] > 0 else float("inf")
    print("ratio SRT/RTMP CPU per stream: %.2f  (schedstat ns: %.2f; above each origin's idle cost: %.2f)  target <= 1.5: %s" % (
        ratio, ratio_ns, ratio_above, "met" if max(ratio_ns, ratio_above if idle_on else 0) <= 1.5 else "NOT met"))
    kv += ["rtmp_pct_per_stream=%.3f" % res["RTMP"][0], "rtmp_pct_per_stream_ns=%.3f" % res["RTMP"][1],
           "ratio=%.3f" % ratio, "ratio_ns=%.3f" % ratio_ns, "ratio_above_idle=%.3f" % ratio_above]
busy = 100.0 * (sb1 - sb0) / max(1, sa1 - sa0)
print("machine: %d cores, %.0f%% busy during the window; the %d ffmpeg publishers used %.1f%% of a core" % (
    ncpu, busy, S * (1 if many else 2), pct(pub1 - pub0)))
kv.append("machine_busy_pct=%.0f" % busy)
print("RESULT " + " ".join(kv))
PY
EL_S=$(python3 -c "print(($T1 - $T0) / 1e9)")
threads_report "SRT origin under load" "$TMP/load-srt-0.txt" "$TMP/load-srt-1.txt" "$EL_S" >&2
[ -n "$CC_PID" ] && threads_report "RTMP origin under load" "$TMP/load-rtmp-0.txt" "$TMP/load-rtmp-1.txt" "$EL_S" >&2

# ---------------------------------------------------------------- --many: frames
if [ "$MANY" -gt 0 ]; then
  python3 - "$TMP" "$STREAMS" >&2 <<'PY' || CHECK_FAIL=1
import sys
tmp, n = sys.argv[1], int(sys.argv[2])
def load(p, cols):
    d = {}
    for line in open(p):
        f = line.split()
        if len(f) >= cols:
            d[f[0]] = f
    return d
hs, he = load(tmp + "/srt-start.txt", 8), load(tmp + "/srt-end.txt", 8)
ps, pe = load(tmp + "/prog-start.txt", 2), load(tmp + "/prog-end.txt", 2)
bad, diffs, drops = [], [], []
# Each reading of ffmpeg's progress (every 0.1 s) and of /v1/streams is taken a moment apart,
# and the hub sees a frame the SRT latency (120 ms) after ffmpeg sends it: so the two growths
# may differ by a few frames either way; a dropped frame shows as the hub falling behind and
# staying behind, which the window's totals show. Tolerance: 0.5 s of video (15 frames).
for i in range(1, n + 1):
    k = "s%d" % i
    if k not in hs or k not in he or k not in ps or k not in pe:
        bad.append("%s: missing" % k)
        continue
    hub = int(he[k][3]) - int(hs[k][3])
    pub = int(pe[k][1]) - int(ps[k][1])
    diffs.append(hub - pub)
    d0, d1 = int(hs[k][6]), int(he[k][6])
    drops.append(d1 - d0)
    if abs(hub - pub) > 15:
        bad.append("%s: hub +%d video frames, ffmpeg sent +%d" % (k, hub, pub))
    if d1 != d0:
        bad.append("%s: packager frames_dropped %d -> %d" % (k, d0, d1))
    if int(he[k][5]) != 0:
        bad.append("%s: dts_backwards %s" % (k, he[k][5]))
print("srt_cpu: video frames in the window, hub minus ffmpeg per stream: min %+d max %+d (sampling jitter, |d| <= 15); "
      "packager frames_dropped growth: max %d; %s" % (min(diffs or [0]), max(diffs or [0]), max(drops or [0]),
      "OK" if not bad else "FAILED: " + "; ".join(bad)))
sys.exit(1 if bad else 0)
PY
fi

# ---------------------------------------------------------------- --perf (publishers still running)
if [ "$PERF" -gt 0 ]; then
  say "profiling both origins for ${PERF}s (perf record -g)"
  PP=()
  perf record -q -g -p "$SRT_PID" -o "$TMP/perf-srt.data" -- sleep "$PERF" >/dev/null 2>&1 & PP+=($!)
  [ -n "$CC_PID" ] && { perf record -q -g -p "$CC_PID" -o "$TMP/perf-rtmp.data" -- sleep "$PERF" >/dev/null 2>&1 & PP+=($!); }
  for p in "${PP[@]}"; do wait "$p" || true; done
  for s in srt rtmp; do
    [ -s "$TMP/perf-$s.data" ] || continue
    perf report -i "$TMP/perf-$s.data" --stdio --no-children --percent-limit 0.5 2>/dev/null >"$OUT/perf-srt-$s.txt" || true
    perf report -i "$TMP/perf-$s.data" --stdio --no-children -g none --sort comm,dso,sym --percent-limit 0.7 2>/dev/null \
      | grep -vE '^(#|$)' | head -n 40 >"$OUT/perf-srt-$s-flat.txt" || true
    perf report -i "$TMP/perf-$s.data" --stdio --no-children -g none --sort comm,dso 2>/dev/null \
      | grep -vE '^(#|$)' | head -n 14 >"$OUT/perf-srt-$s-dso.txt" || true
    say "$s-fed origin, samples by thread and binary:"
    sed 's/^/    /' "$OUT/perf-srt-$s-dso.txt" >&2
    say "top of the $s-fed origin (flat; call graphs in bench/out/perf-srt-$s.txt):"
    sed 's/^/    /' "$OUT/perf-srt-$s-flat.txt" >&2
  done
fi

# libsrt's own counters, from the srt.close lines once the publishers are gone.
for p in "${PUB_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
for p in "${PUB_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
PUB_PIDS=()
for _ in $(seq 50); do
  [ "$(grep -c 'event=srt.close' "$TMP/origin-srt.log" || true)" -ge "$STREAMS" ] && break
  sleep 0.1
done
python3 - "$TMP/origin-srt.log" "$STREAMS" >&2 <<'PY' || CHECK_FAIL=1
import re, sys
lines = [l for l in open(sys.argv[1]) if "srt.close" in l]
tot = {"lost": 0, "dropped": 0, "retrans": 0}
seen = 0
for l in lines:
    f = dict(re.findall(r"(\w+)=(\S+)", l))
    if "dropped" not in f:
        continue
    seen += 1
    for k in tot:
        tot[k] += int(f.get(k, 0))
if seen == 0:
    print("srt_cpu: libsrt counters: the origin's srt.close lines carry none (older build)")
    sys.exit(0)
print("srt_cpu: libsrt counters over %d closed publishers: packets lost %d, retransmitted %d, dropped %d%s" % (
    seen, tot["lost"], tot["retrans"], tot["dropped"], "" if tot["dropped"] == 0 else "  FAILED (dropped > 0)"))
sys.exit(1 if tot["dropped"] else 0)
PY
n=$(grep -cE 'level=(warn|error)' "$TMP/origin-srt.log" || true)
say "SRT origin log: $(wc -l <"$TMP/origin-srt.log") lines, $n at warn/error"
[ "$n" -gt 0 ] && grep -E 'level=(warn|error)' "$TMP/origin-srt.log" | grep -v 'srt.close' | head -n 5 >&2

if [ "$CHECK_FAIL" = 1 ]; then
  FAILED=1
  die "a check failed: the figures above are not valid"
fi

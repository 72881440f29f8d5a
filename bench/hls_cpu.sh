#!/usr/bin/env bash
# CPU per 720p30 stream with HLS packaging: cartcast-origin (RTMP ingest + LL-HLS CMAF
# parts and segments in memory, which it always does) side by side with nginx-rtmp with
# `hls on` (MPEG-TS segments and a playlist written to a directory), on the same input.
#
# The machinery is bench/ingest_cpu.sh's (bench/lib.sh): S publishers per server, each
#   ffmpeg -re -stream_loop -1 -i clip.flv -c copy -f flv rtmp://127.0.0.1:PORT/live/KEY
# then, after a warm-up, the CPU time each server spends over the same window (utime+stime
# from /proc/PID/stat and schedstat ns; nginx: master+worker), printed as % of one core
# per stream, the ratio cartcast/nginx-rtmp-hls, and RSS.
#
# nginx-rtmp's application: live on; hls on; hls_path DIR; hls_fragment 1s;
# hls_playlist_length 6s. cartcast-origin runs with its defaults (PART-TARGET 0.2 s,
# segments of 1 s, a 30 s window in memory).
#
# Besides the ingest checks of ingest_cpu.sh, both servers must really package during the
# window: nginx's DIR/sN.m3u8 must advance by >= 70 % of the window in new .ts segments
# (and their bytes), cartcast's /live/sN/media.m3u8 by >= 70 % of the window in new parts,
# and its newest part and segment must download. So neither figure can come from a server
# that ingests without packaging.
#
#   bench/hls_cpu.sh                          # 4 publishers per server, 5 s warm-up, 30 s window
#   bench/hls_cpu.sh --streams 16
#   bench/hls_cpu.sh --perf 10                # then profile both servers (bench/out/perf-hls-*.txt)
#   bench/hls_cpu.sh --hls-dir /dev/shm       # nginx writes its segments to tmpfs, not /tmp
#   bench/hls_cpu.sh --help
#
# Everything listens on 127.0.0.1 only, on free ports; every process it starts is
# stopped on exit (and by a watchdog if the run overstays). Exit status: 0 ok, 1 a check
# failed, 2 bad usage.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=hls_cpu
HLS_PARENT=""
ORIGIN_ARGS=()
bench_usage_extra() {
  cat <<EOF
  --hls-dir DIR       nginx-rtmp writes its HLS files under DIR (default: the run's temp
                      dir under /tmp, on this machine's disk; /dev/shm for tmpfs)
  --origin-arg ARG    one more argument for cartcast-origin (repeatable),
                      e.g. --origin-arg --part-target-ms=333
EOF
}
bench_opt() {
  case "$1" in
    --hls-dir) HLS_PARENT=${2:?}; BENCH_SHIFT=2 ;;
    --origin-arg) ORIGIN_ARGS+=("${2:?}"); BENCH_SHIFT=2 ;;
    *) return 1 ;;
  esac
}
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

bench_parse_args "$@"
bench_prereqs
bench_clip
bench_setup cc-bench-hls

# nginx's workers run as nobody: the HLS directory must be theirs to write.
if [ -n "$HLS_PARENT" ]; then
  HLS_DIR=$(mktemp -d "$HLS_PARENT/cc-bench-hls.XXXXXX")
else
  HLS_DIR="$TMP/hls"
  mkdir "$HLS_DIR"
  chmod 711 "$TMP"
fi
chmod 1777 "$HLS_DIR"
# Called by lib.sh's cleanup once nginx has stopped; a dir under --hls-dir goes with the run's.
bench_cleanup_extra() {
  if [ -n "$HLS_PARENT" ] && [ "$KEEP" = 0 ] && [ "$FAILED" = 0 ] && [ "$1" = 0 ]; then rm -rf "$HLS_DIR"; fi
  if [ -n "$HLS_PARENT" ] && [ -d "$HLS_DIR" ]; then say "nginx HLS files kept in $HLS_DIR"; fi
  return 0
}

# ---------------------------------------------------------------- packaging checks
# hls_snapshot FILE: one line per stream, "name server seq x bytes count", where
#   nginx:    seq = MEDIA-SEQUENCE + segments listed (segments ever completed), x = the
#             summed EXTINF of the listed segments (s), bytes = their summed .ts sizes,
#             count = segments listed
#   cartcast: seq = the preload hint's part number (parts ever made), x = PART-TARGET (s), bytes = sizes of the newest listed part and newest segment
#             (both downloaded), count = parts listed
hls_snapshot() {
  python3 - "$1" "$STREAMS" "$RUN_NGINX" "$RUN_CC" "$HLS_DIR" "$CC_HTTP" <<'PY'
import os, sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.environ["ROOT"], "bench"))
import common
out, n, run_ng, run_cc, hls_dir, cc_http = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4] == "1", sys.argv[5], sys.argv[6]
lines = []
for i in range(1, n + 1):
    name = "s%d" % i
    if run_ng:
        try:
            pl = common.parse_media_playlist(open(os.path.join(hls_dir, name + ".m3u8")).read())
            size = 0
            for uri, _ in pl["segments"]:
                try:
                    size += os.path.getsize(os.path.join(hls_dir, uri))
                except OSError:
                    pass  # removed between the two reads
            lines.append("%s nginx %d %.3f %d %d" % (name, pl["media_sequence"] + len(pl["segments"]),
                                                     sum(d for _, d in pl["segments"]), size, len(pl["segments"])))
        except OSError:
            lines.append("%s nginx -1 0 0 0" % name)
    if run_cc:
        base = "http://127.0.0.1:%s/live/%s/" % (cc_http, name)
        st, body = common.http_get(base + "media.m3u8")
        if st != 200:
            lines.append("%s cartcast -1 0 0 0" % name)
            continue
        pl = common.parse_media_playlist(body.decode())
        seq = common.number_in(pl["hint"])
        size = 0
        for uri in ([pl["parts"][-1][2]] if pl["parts"] else []) + ([pl["segments"][-1][0]] if pl["segments"] else []):
            s2, b = common.http_get(base + uri)
            size += len(b) if s2 == 200 else 0
        lines.append("%s cartcast %d %.3f %d %d" % (name, -1 if seq is None else seq, pl["part_target"] or 0, size,
                                                  len(pl["parts"])))
open(out, "w").write("\n".join(lines) + "\n")
PY
}

# check_packaging START END: every stream advanced by >= 70 % of the window.
check_packaging() {
  python3 - "$1" "$2" "$STREAMS" "$WINDOW" "$CLIP_BPS" "$RUN_NGINX" "$RUN_CC" <<'PY'
import sys
a, b, n, window, bps = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
run = {"nginx": sys.argv[6] == "1", "cartcast": sys.argv[7] == "1"}
def load(p):
    d = {}
    for line in open(p):
        f = line.split()
        if len(f) == 6:
            d[(f[0], f[1])] = (int(f[2]), float(f[3]), int(f[4]), int(f[5]))
    return d
s, e = load(a), load(b)
fail = False
for server in ("nginx", "cartcast"):
    if not run[server]:
        continue
    adv, bad, rates = [], [], []
    for i in range(1, n + 1):
        k = ("s%d" % i, server)
        if k not in s or k not in e or s[k][0] < 0 or e[k][0] < 0:
            bad.append("s%d: no playlist" % i)
            continue
        d = e[k][0] - s[k][0]
        if server == "nginx":
            # new segments x the average EXTINF of those listed, against the window
            listed_s, count = e[k][1], e[k][3]
            secs = d * listed_s / max(1, count)
            rate = e[k][2] * 8 / max(1e-9, listed_s)
            rates.append(rate)
            if secs < 0.7 * window:
                bad.append("s%d: %d new segments (%.1f s) < 70%% of the window" % (i, d, secs))
            if rate < 0.7 * bps:
                bad.append("s%d: listed .ts at %.2f Mb/s < 70%% of the clip" % (i, rate / 1e6))
        else:
            need = 0.7 * window / max(0.05, e[k][1])  # window / PART-TARGET
            if d < need:
                bad.append("s%d: %d new parts < %.0f" % (i, d, need))
            if e[k][2] <= 0:
                bad.append("s%d: newest part/segment did not download" % i)
        adv.append(d)
    what = "new .ts segments" if server == "nginx" else "new LL-HLS parts"
    extra = ""
    if server == "nginx" and rates:
        extra = ", listed .ts %.2f-%.2f Mb/s" % (min(rates) / 1e6, max(rates) / 1e6)
    print("%s packaging: %s per stream in the window min %d max %d%s%s" % (
        "nginx-rtmp-hls" if server == "nginx" else "cartcast LL-HLS", what, min(adv or [0]), max(adv or [0]),
        extra, "" if not bad else "; FAILED: " + ", ".join(bad)))
    fail = fail or bool(bad)
sys.exit(1 if fail else 0)
PY
}
export ROOT

# ---------------------------------------------------------------- run
say "clip $(basename "$CLIP"): $((CLIP_BPS / 1000)) kb/s; $STREAMS publishers per server; warm-up ${WARMUP}s; window ${WINDOW}s"
say "nginx-rtmp writes HLS to $HLS_DIR ($(df -T "$HLS_DIR" | awk 'NR==2{print $2}'))"
[ "$RUN_NGINX" = 1 ] && start_nginx "live on;
            hls on;
            hls_path $HLS_DIR;
            hls_fragment 1s;
            hls_playlist_length 6s;"
[ "$RUN_CC" = 1 ] && start_cartcast "${ORIGIN_ARGS[@]}"

publish_all
bench_warmup

[ "$RUN_NGINX" = 1 ] && { nginx_streams >"$TMP/nginx-start.txt" || die "cannot read nginx /stat"; }
[ "$RUN_CC" = 1 ] && { cc_streams >"$TMP/cc-start.txt" || die "cannot read cartcast /v1/streams"; }
hls_snapshot "$TMP/hls-start.txt"

measure_window

hls_snapshot "$TMP/hls-end.txt"
[ "$RUN_NGINX" = 1 ] && { nginx_streams >"$TMP/nginx-end.txt" || die "cannot read nginx /stat"; }
[ "$RUN_CC" = 1 ] && { cc_streams >"$TMP/cc-end.txt" || die "cannot read cartcast /v1/streams"; }

# ---------------------------------------------------------------- checks
CHECK_FAIL=0
check_ingest
check_packaging "$TMP/hls-start.txt" "$TMP/hls-end.txt" >&2 || CHECK_FAIL=1

# ---------------------------------------------------------------- report
cpu_report "RTMP ingest + HLS packaging CPU (cartcast LL-HLS vs nginx-rtmp hls on)" "nginx-hls"
if [ "$RUN_NGINX" = 1 ]; then
  say "nginx HLS dir: $(find "$HLS_DIR" -name '*.ts' | wc -l) .ts files, $(du -sk "$HLS_DIR" | cut -f1) KiB now"
fi
server_logs_report
profile_servers hls

if [ "$CHECK_FAIL" = 1 ]; then
  FAILED=1
  die "a check failed: the figures above are not valid"
fi

#!/usr/bin/env bash
# RTMP ingest CPU per stream: cartcast-origin side by side with nginx-rtmp (the anchor).
#
# Both servers run at the same time on loopback and get the same load: S publishers
# each, every one replaying the same pre-encoded FLV with
#   ffmpeg -re -stream_loop -1 -i clip.flv -c copy -f flv rtmp://127.0.0.1:PORT/live/KEY
# After a warm-up, the CPU time (utime+stime from /proc/PID/stat; nginx: master+worker)
# each server spends over the same window is read, and the script prints CPU % of one
# core per stream for each server, the ratio cartcast/nginx-rtmp, and their RSS.
# Both servers are checked to have really received every stream during the window
# (cartcast: /v1/streams frame counters; nginx: its rtmp_stat page), so a figure can
# never come from an idle server.
#
#   bench/ingest_cpu.sh                       # 4 publishers per server, 5 s warm-up, 30 s window
#   bench/ingest_cpu.sh --streams 8 --window 60
#   bench/ingest_cpu.sh --only nginx          # the anchor alone (no cartcast binary needed)
#   bench/ingest_cpu.sh --perf 10             # then profile both servers for 10 s (perf record -g)
#   bench/ingest_cpu.sh --help
#
# Everything listens on 127.0.0.1 only, on free ports; every process it starts is
# stopped on exit (and by a watchdog if the run overstays). The clip is made once into
# bench/out/ (gitignored). Exit status: 0 ok, 1 a check failed, 2 bad usage.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=ingest_cpu
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

bench_parse_args "$@"
bench_prereqs
bench_clip
bench_setup cc-bench-ingest

# ---------------------------------------------------------------- run
say "clip $(basename "$CLIP"): $((CLIP_BPS / 1000)) kb/s; $STREAMS publishers per server; warm-up ${WARMUP}s; window ${WINDOW}s"
# nginx-rtmp as the anchor: live on, HLS off.
[ "$RUN_NGINX" = 1 ] && start_nginx "live on;"
[ "$RUN_CC" = 1 ] && start_cartcast

publish_all
bench_warmup

[ "$RUN_NGINX" = 1 ] && { nginx_streams >"$TMP/nginx-start.txt" || die "cannot read nginx /stat"; }
[ "$RUN_CC" = 1 ] && { cc_streams >"$TMP/cc-start.txt" || die "cannot read cartcast /v1/streams"; }

measure_window

[ "$RUN_NGINX" = 1 ] && { nginx_streams >"$TMP/nginx-end.txt" || die "cannot read nginx /stat"; }
[ "$RUN_CC" = 1 ] && { cc_streams >"$TMP/cc-end.txt" || die "cannot read cartcast /v1/streams"; }

# ---------------------------------------------------------------- checks
CHECK_FAIL=0
check_ingest

# ---------------------------------------------------------------- report
cpu_report "RTMP ingest CPU"
server_logs_report
profile_servers ""

if [ "$CHECK_FAIL" = 1 ]; then
  FAILED=1
  die "a check failed: the figures above are not valid"
fi

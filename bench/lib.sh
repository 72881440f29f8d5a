# Shared pieces of the shell benchmarks (bench/ingest_cpu.sh, bench/hls_cpu.sh).
# Source it after setting BENCH (the script's name, for messages) and ROOT:
#
#   BENCH=hls_cpu; ROOT=...; . "$ROOT/bench/lib.sh"
#   bench_parse_args "$@"      # the common options into STREAMS WARMUP WINDOW ... (below)
#   bench_prereqs; bench_clip; bench_setup
#   start_nginx "live on;"     # the body of nginx-rtmp's `application live { ... }`
#   start_cartcast
#   publish_all; bench_warmup; measure_window; cpu_report "title"; ...
#
# Everything listens on 127.0.0.1 only, on free ports; every process started here is
# stopped on exit (and by a watchdog if the run overstays).

OUT="$ROOT/bench/out"
STREAMS=4
WARMUP=5
WINDOW=30
ORIGIN_BIN="$ROOT/build/cartcast-origin"
ONLY=both
PERF=0
KEEP=0
CLIP=""
NGINX_MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so

say() { printf '%s: %s\n' "$BENCH" "$*" >&2; }
die() { say "$*"; FAILED=1; exit 1; }

# ---------------------------------------------------------------- options
# The options every CPU benchmark takes. A script may define bench_usage_extra (more
# lines for --help) and bench_opt NAME VALUE, which returns 0 and sets BENCH_SHIFT
# (1 or 2) for an option of its own.
bench_usage() {
  cat <<EOF
usage: bench/$BENCH.sh [options]
  --streams N         publishers per server (default $STREAMS)
  --warmup S          seconds of load before measuring (default $WARMUP)
  --window S          measurement window in seconds (default $WINDOW)
  --origin-bin PATH   cartcast-origin binary (default build/cartcast-origin)
  --only WHICH        nginx | cartcast | both (default both)
  --perf S            after the window, profile each server for S seconds with
                      perf record -g; reports go to bench/out/perf-*.txt
  --clip PATH         use this FLV instead of making bench/out/clip-720p30-4500k.flv
  --keep              keep the temp dir (configs, logs) and print its path
  --lo-mtu N          run in a network namespace of its own whose loopback has MTU N
                      (1500: TCP carries Ethernet-sized segments, as from a real
                      encoder, instead of loopback's 64 KiB ones; needs root)
EOF
  if declare -F bench_usage_extra >/dev/null; then bench_usage_extra; fi
}

bench_parse_args() {
  local argv=("$@")
  while [ $# -gt 0 ]; do
    case "$1" in
      --streams) STREAMS=${2:?}; shift 2 ;;
      --warmup) WARMUP=${2:?}; shift 2 ;;
      --window) WINDOW=${2:?}; shift 2 ;;
      --origin-bin) ORIGIN_BIN=${2:?}; shift 2 ;;
      --only) ONLY=${2:?}; shift 2 ;;
      --perf) PERF=${2:?}; shift 2 ;;
      --clip) CLIP=${2:?}; shift 2 ;;
      --keep) KEEP=1; shift ;;
      --lo-mtu) LO_MTU=${2:?}; shift 2 ;;
      -h|--help) bench_usage; exit 0 ;;
      *)
        BENCH_SHIFT=0
        if declare -F bench_opt >/dev/null && bench_opt "$1" "${2-}"; then
          shift "$BENCH_SHIFT"
        else
          echo "$BENCH: unknown option $1" >&2; bench_usage >&2; exit 2
        fi ;;
    esac
  done
  local v
  for v in STREAMS WARMUP WINDOW PERF; do
    [[ ${!v} =~ ^[0-9]+$ ]] || { echo "$BENCH: --${v,,} wants a whole number" >&2; exit 2; }
  done
  [ "$STREAMS" -ge 1 ] && [ "$STREAMS" -le 64 ] || { echo "$BENCH: --streams must be 1..64" >&2; exit 2; }
  [ "$WINDOW" -ge 1 ] && [ "$WINDOW" -le 600 ] || { echo "$BENCH: --window must be 1..600" >&2; exit 2; }
  [ "$WARMUP" -le 120 ] && [ "$PERF" -le 120 ] || { echo "$BENCH: --warmup and --perf are at most 120" >&2; exit 2; }
  if [ -n "${LO_MTU:-}" ]; then
    [[ $LO_MTU =~ ^[0-9]+$ ]] && [ "$LO_MTU" -ge 1280 ] && [ "$LO_MTU" -le 65536 ] ||
      { echo "$BENCH: --lo-mtu wants 1280..65536" >&2; exit 2; }
    if [ "${CC_BENCH_NETNS:-}" != 1 ]; then
      # Again, inside a new network namespace: its own loopback (nothing else of the
      # machine's network is visible or touched), brought up with the MTU asked for.
      exec env CC_BENCH_NETNS=1 unshare --net -- bash -c 'ip link set lo mtu "$1" && ip link set lo up && shift && exec "$@"' \
        _ "$LO_MTU" "$ROOT/bench/$BENCH.sh" "${argv[@]}"
    fi
    # Not /sys/class/net/lo/mtu: sysfs stays the parent namespace's (it printed 65536 here).
    say "network namespace of its own, loopback MTU $(ip -o link show lo | sed -n 's/.* mtu \([0-9]*\).*/\1/p')"
  fi
  case "$ONLY" in
    both) RUN_NGINX=1; RUN_CC=1 ;;
    nginx) RUN_NGINX=1; RUN_CC=0 ;;
    cartcast) RUN_NGINX=0; RUN_CC=1 ;;
    *) echo "$BENCH: --only wants nginx, cartcast or both" >&2; exit 2 ;;
  esac
}

# ---------------------------------------------------------------- prerequisites
bench_prereqs() {
  if [ "$RUN_NGINX" = 1 ] && { ! command -v nginx >/dev/null || [ ! -e "$NGINX_MODULE" ]; }; then
    say "installing the anchor (nginx + libnginx-mod-rtmp)"
    "$ROOT/scripts/deps.sh" bench
  fi
  local t
  for t in ffmpeg ffprobe python3 curl; do
    command -v "$t" >/dev/null || die "$t is missing: run scripts/deps.sh"
  done
  if [ "$RUN_CC" = 1 ] && [ ! -x "$ORIGIN_BIN" ]; then
    die "no cartcast-origin at $ORIGIN_BIN: build it (cmake -S . -B build && cmake --build build) or pass --origin-bin, or run --only nginx"
  fi
  if [ "$PERF" -gt 0 ] && ! command -v perf >/dev/null; then
    die "--perf needs perf (apt-get install linux-perf)"
  fi
}

# ---------------------------------------------------------------- the clip (made once)
# Sets CLIP and CLIP_BPS (its bit rate, FLV overhead included).
bench_clip() {
  mkdir -p "$OUT"
  if [ -z "$CLIP" ]; then
    CLIP="$OUT/clip-720p30-4500k.flv"
    if [ ! -s "$CLIP" ]; then
      say "making $CLIP (720p30 H.264 4.5 Mb/s, 1 s GOP, AAC 128k, 20 s; once)"
      timeout 300 ffmpeg -hide_banner -loglevel error -nostdin -y \
        -f lavfi -i testsrc2=size=1280x720:rate=30 \
        -f lavfi -i sine=frequency=440:sample_rate=48000 -t 20 \
        -c:v libx264 -preset veryfast -b:v 4500k -maxrate 4500k -bufsize 9000k \
        -g 30 -keyint_min 30 -sc_threshold 0 -pix_fmt yuv420p \
        -c:a aac -b:a 128k -ac 2 -f flv "$CLIP.tmp" || die "could not make the clip"
      mv "$CLIP.tmp" "$CLIP"
    fi
  fi
  [ -s "$CLIP" ] || die "no clip at $CLIP"
  CLIP_BPS=$(ffprobe -v error -show_entries format=bit_rate -of default=nw=1:nk=1 "$CLIP")
  CLIP_BPS=${CLIP_BPS%%.*}
  [[ $CLIP_BPS =~ ^[0-9]+$ ]] || die "ffprobe cannot read $CLIP"
}

# ---------------------------------------------------------------- processes and cleanup
# bench_setup PREFIX: temp dir, cleanup trap, watchdog, free ports.
bench_setup() {
  TMP=$(mktemp -d "/tmp/$1.XXXXXX")
  FAILED=0
  PUB_PIDS=()
  NGINX_PID=""
  CC_PID=""
  WATCHDOG=""
  # Sleeps without a child process (read -t on a FIFO nobody writes), so a signal's
  # trap runs at once and nothing is left behind.
  mkfifo "$TMP/nap"
  exec 9<>"$TMP/nap"
  trap cleanup EXIT
  trap 'say "interrupted"; FAILED=1; exit 130' INT TERM

  # A run never outlives its budget, whatever hangs.
  BUDGET=$((WARMUP + WINDOW + 2 * PERF + 120))
  (
    trap 'kill $s 2>/dev/null; exit 0' TERM
    sleep "$BUDGET" & s=$!
    wait $s
    echo "$BENCH: watchdog: run exceeded ${BUDGET}s, stopping" >&2
    kill -TERM $$
  ) &
  WATCHDOG=$!
  read -r NGINX_RTMP NGINX_HTTP CC_RTMP CC_HTTP < <(free_ports 4)
}

nap() { read -r -t "$1" -u 9 _ || true; }

stop_pid() { # pid...: TERM, wait up to 5 s, then KILL
  local p alive
  for p in "$@"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 50); do
    alive=0
    for p in "$@"; do [ -n "$p" ] && kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in "$@"; do [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true; done
  for p in "$@"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ -n "$WATCHDOG" ] && { kill "$WATCHDOG" 2>/dev/null || true; wait "$WATCHDOG" 2>/dev/null || true; }
  [ ${#PUB_PIDS[@]} -gt 0 ] && stop_pid "${PUB_PIDS[@]}"
  stop_pid "$NGINX_PID" "$CC_PID"
  if declare -F bench_cleanup_extra >/dev/null; then bench_cleanup_extra "$rc" || true; fi
  if [ "$KEEP" = 1 ] || [ "$FAILED" = 1 ] || [ $rc -ne 0 ]; then
    say "logs and configs kept in $TMP"
  else
    rm -rf "$TMP"
  fi
  exit $rc
}

free_ports() { # n: n distinct free loopback ports
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

wait_http() { # url seconds pid
  local i
  for i in $(seq $(($2 * 10))); do
    kill -0 "$3" 2>/dev/null || return 1
    curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# ---------------------------------------------------------------- nginx-rtmp
# start_nginx APP_BODY: the directives of `application live { ... }`, e.g. "live on;".
start_nginx() {
  mkdir -p "$TMP/nginx/logs"
  cat >"$TMP/nginx/nginx.conf" <<EOF
# nginx-rtmp as the anchor, one worker (cartcast runs one loop thread).
load_module $NGINX_MODULE;
daemon off;
master_process on;
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log info;
events { worker_connections 1024; }
rtmp {
    server {
        listen 127.0.0.1:$NGINX_RTMP;
        application live {
            $1
        }
    }
}
# Only for the stats page the bench reads twice to check that the streams arrive.
http {
    access_log off;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    server {
        listen 127.0.0.1:$NGINX_HTTP;
        location /stat { rtmp_stat all; }
    }
}
EOF
  nginx -t -q -p "$TMP/nginx/" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" \
    2>>"$TMP/nginx/error.log" || { tail -n 20 "$TMP/nginx/error.log" >&2; die "nginx rejected its config"; }
  nginx -p "$TMP/nginx/" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" \
    >"$TMP/nginx/stdout.log" 2>&1 &
  NGINX_PID=$!
  wait_http "http://127.0.0.1:$NGINX_HTTP/stat" 10 "$NGINX_PID" \
    || { tail -n 20 "$TMP/nginx/error.log" >&2; die "nginx did not start"; }
}

nginx_pids() { # master and its workers
  local w
  w=$(pgrep -P "$NGINX_PID" 2>/dev/null | tr '\n' ' ' || true)
  echo "$NGINX_PID $w"
}

# ---------------------------------------------------------------- cartcast-origin
start_cartcast() { # extra cartcast-origin arguments...
  local args=(--rtmp-port "$CC_RTMP" --http-port "$CC_HTTP" --bind 127.0.0.1) n
  # Builds with SRT ingest listen on UDP 9000 unless told otherwise: a free port instead,
  # so that the bench never collides with another origin on this machine.
  if "$ORIGIN_BIN" --help 2>/dev/null | grep -q -- '--srt-port'; then
    args+=(--srt-port "$(python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')")
  fi
  KEY_SALT=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
  for n in $(seq "$STREAMS"); do args+=(--stream-key "s$n=k$KEY_SALT$n"); done
  "$ORIGIN_BIN" "${args[@]}" "$@" >"$TMP/cartcast.log" 2>&1 &
  CC_PID=$!
  wait_http "http://127.0.0.1:$CC_HTTP/healthz" 10 "$CC_PID" \
    || { tail -n 20 "$TMP/cartcast.log" >&2; die "cartcast-origin did not start"; }
}

# ---------------------------------------------------------------- the load
publish() { # url log
  ffmpeg -hide_banner -loglevel warning -nostdin -re -stream_loop -1 -i "$CLIP" -c copy -f flv "$1" \
    >/dev/null 2>"$2" &
  PUB_PIDS+=($!)
}

# Interleaved, so neither server's publishers get a head start.
publish_all() {
  local n
  for n in $(seq "$STREAMS"); do
    [ "$RUN_NGINX" = 1 ] && publish "rtmp://127.0.0.1:$NGINX_RTMP/live/s$n" "$TMP/pub-nginx-s$n.log"
    [ "$RUN_CC" = 1 ] && publish "rtmp://127.0.0.1:$CC_RTMP/live/k$KEY_SALT$n" "$TMP/pub-cartcast-s$n.log"
  done
  return 0
}

bench_warmup() {
  local p
  nap "$WARMUP"
  for p in "${PUB_PIDS[@]}"; do
    kill -0 "$p" 2>/dev/null || { tail -n 5 "$TMP"/pub-*.log >&2; die "a publisher died during warm-up"; }
  done
  NG_PIDS=""
  [ "$RUN_NGINX" = 1 ] && NG_PIDS=$(nginx_pids)
  return 0
}

# ---------------------------------------------------------------- measuring
cpu_ticks() { # pid...: utime+stime summed, in clock ticks (dead threads included)
  local p s sum=0 f
  for p in "$@"; do
    s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    read -ra f <<<"${s##*) }"
    sum=$((sum + f[11] + f[12]))
  done
  echo $sum
}
cpu_ns() { # pid...: time on CPU in ns from schedstat, summed over live threads (finer grained)
  local p t sum=0 v
  for p in "$@"; do
    for t in /proc/$p/task/*/schedstat; do
      read -r v _ <"$t" 2>/dev/null || continue
      sum=$((sum + v))
    done
  done
  echo $sum
}
rss_kib() { # pid...: VmRSS summed
  local p sum=0 v
  for p in "$@"; do
    v=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null || true)
    sum=$((sum + ${v:-0}))
  done
  echo $sum
}
wakeups() { # pid...: voluntary context switches (sleeps in epoll_wait), threads summed
  local p t c=0 v
  for p in "$@"; do
    for t in /proc/$p/task/*/status; do
      v=$(awk '/^voluntary_ctxt_switches:/{print $2}' "$t" 2>/dev/null || true); c=$((c + ${v:-0}))
    done
  done
  echo "$c"
}
sys_busy() { # "busy total" jiffies of the whole machine
  awk '/^cpu /{t=0; for(i=2;i<=NF;i++) t+=$i; print t-$5-$6, t}' /proc/stat
}
now_ns() { date +%s%N; }

# Both servers are sampled back to back at the start and at the end of the window.
# Sets T0 T1, NG0/1 NG0NS/1NS NG0W/1W, CC0/1 ..., PUB0/1, SYS*, NG_RSS NG_WRSS CC_RSS.
measure_window() {
  read -r SYS0_BUSY SYS0_ALL < <(sys_busy)
  T0=$(now_ns)
  NG0=$(cpu_ticks $NG_PIDS); NG0NS=$(cpu_ns $NG_PIDS)
  CC0=$(cpu_ticks $CC_PID); CC0NS=$(cpu_ns $CC_PID)
  NG0W=$(wakeups $NG_PIDS); CC0W=$(wakeups $CC_PID)
  PUB0=$(cpu_ticks "${PUB_PIDS[@]}")
  nap "$WINDOW"
  NG1=$(cpu_ticks $NG_PIDS); NG1NS=$(cpu_ns $NG_PIDS)
  CC1=$(cpu_ticks $CC_PID); CC1NS=$(cpu_ns $CC_PID)
  NG1W=$(wakeups $NG_PIDS); CC1W=$(wakeups $CC_PID)
  PUB1=$(cpu_ticks "${PUB_PIDS[@]}")
  T1=$(now_ns)
  read -r SYS1_BUSY SYS1_ALL < <(sys_busy)
  NG_RSS=$(rss_kib $NG_PIDS); NG_WRSS=0
  [ "$RUN_NGINX" = 1 ] && NG_WRSS=$(rss_kib ${NG_PIDS#* })
  CC_RSS=$(rss_kib $CC_PID)
  return 0
}

# Stream counters, as "name frames bytes" lines.
cc_streams() {
  curl -fsS --max-time 3 "http://127.0.0.1:$CC_HTTP/v1/streams" | python3 -c '
import json, sys
for s in json.load(sys.stdin)["streams"]:
    print(s["name"], s.get("frames", 0), sum(t.get("bytes", 0) for t in s.get("tracks", [])))'
}
nginx_streams() {
  curl -fsS --max-time 3 "http://127.0.0.1:$NGINX_HTTP/stat" | python3 -c '
import sys, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.read())
for app in root.iter("application"):
    for s in app.iter("stream"):
        print(s.findtext("name"), (s.findtext("nframes") or "0").strip() or 0, s.findtext("bytes_in") or 0)'
}

# "name count" lines at start and end -> checks each of s1..sS grew by at least min.
check_growth() { # label start_file end_file column min_delta
  python3 - "$@" "$STREAMS" <<'PY'
import sys
label, a, b, col, need, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
def load(p):
    d = {}
    for line in open(p):
        f = line.split()
        if len(f) >= 3:
            d[f[0]] = int(float(f[col]))
    return d
s, e = load(a), load(b)
bad, deltas = [], []
for i in range(1, n + 1):
    k = "s%d" % i
    if k not in s or k not in e:
        bad.append("%s missing" % k)
        continue
    d = e[k] - s[k]
    deltas.append(d)
    if d < need:
        bad.append("%s grew %d < %d" % (k, d, need))
print("%s: %d/%d streams live, growth per stream min %d max %d (need >= %d)%s" % (
    label, len(deltas), n, min(deltas or [0]), max(deltas or [0]), need,
    "" if not bad else "; FAILED: " + ", ".join(bad)))
sys.exit(1 if bad else 0)
PY
}

# The ingest checks shared by every CPU benchmark: publishers and servers alive, every
# stream's bytes (and cartcast's frames) grown by >= 70 % of what the clip carries in the
# window. Needs $TMP/{nginx,cc}-{start,end}.txt from nginx_streams / cc_streams.
# Sets CHECK_FAIL=1 on a failure.
check_ingest() {
  local p
  for p in "${PUB_PIDS[@]}"; do
    kill -0 "$p" 2>/dev/null || { say "a publisher exited during the window"; CHECK_FAIL=1; }
  done
  [ -n "$NGINX_PID" ] && { kill -0 "$NGINX_PID" 2>/dev/null || { say "nginx exited"; CHECK_FAIL=1; }; }
  [ -n "$CC_PID" ] && { kill -0 "$CC_PID" 2>/dev/null || { say "cartcast-origin exited"; CHECK_FAIL=1; }; }
  # Expected per stream in the window: the clip's bytes at its bit rate; frames at 30 video + 46.9 AAC per s.
  MIN_BYTES=$((CLIP_BPS / 8 * WINDOW * 7 / 10))
  MIN_FRAMES=$((77 * WINDOW * 7 / 10))
  if [ "$RUN_NGINX" = 1 ]; then
    check_growth "nginx-rtmp bytes_in" "$TMP/nginx-start.txt" "$TMP/nginx-end.txt" 2 "$MIN_BYTES" >&2 || CHECK_FAIL=1
  fi
  if [ "$RUN_CC" = 1 ]; then
    check_growth "cartcast frames" "$TMP/cc-start.txt" "$TMP/cc-end.txt" 1 "$MIN_FRAMES" >&2 || CHECK_FAIL=1
    check_growth "cartcast payload bytes" "$TMP/cc-start.txt" "$TMP/cc-end.txt" 2 "$MIN_BYTES" >&2 || CHECK_FAIL=1
  fi
  return 0
}

# ---------------------------------------------------------------- report
# cpu_report TITLE: the table, the ratio and the RESULT line from measure_window's figures.
cpu_report() {
  python3 - "$STREAMS" "$WINDOW" "$T0" "$T1" "$(getconf CLK_TCK)" "$RUN_NGINX" "$RUN_CC" \
    "$NG0" "$NG1" "$NG0NS" "$NG1NS" "$NG_RSS" "$NG_WRSS" "$CC0" "$CC1" "$CC0NS" "$CC1NS" "$CC_RSS" \
    "$PUB0" "$PUB1" "$SYS0_BUSY" "$SYS0_ALL" "$SYS1_BUSY" "$SYS1_ALL" "$CLIP_BPS" "$(nproc)" \
    "$NG0W" "$NG1W" "$CC0W" "$CC1W" "$1" "${2:-nginx-rtmp}" <<'PY'
import sys
a = sys.argv[1:]
S, W, t0, t1, hz = int(a[0]), int(a[1]), int(a[2]), int(a[3]), int(a[4])
run_ng, run_cc = a[5] == "1", a[6] == "1"
ng0, ng1, ng0ns, ng1ns, ng_rss, ng_wrss = map(int, a[7:13])
cc0, cc1, cc0ns, cc1ns, cc_rss = map(int, a[13:18])
pub0, pub1, sb0, sa0, sb1, sa1, clip_bps, ncpu = map(int, a[18:26])
ng0w, ng1w, cc0w, cc1w = map(int, a[26:30])
title, ng_label = a[30], a[31]
el = (t1 - t0) / 1e9
def pct(ticks):  # % of one core over the window
    return 100.0 * ticks / hz / el
def pct_ns(ns):
    return 100.0 * ns / 1e9 / el
print()
print("%s, %d publishers per server, same clip (%.2f Mb/s), %.1f s window" % (title, S, clip_bps / 1e6, el))
print("%-12s %7s %7s %13s %17s %10s %9s" % (
    "server", "cpu_s", "%core", "%core/stream", "%core/stream(ns)", "wakeups/s", "rss_kib"))
rows = {}
if run_ng:
    rows["nginx"] = (pct(ng1 - ng0), pct_ns(ng1ns - ng0ns))
    print("%-12s %7.2f %7.2f %13.3f %17.3f %10.0f %9d  (master+worker; worker %d KiB)" % (
        ng_label, (ng1 - ng0) / hz, rows["nginx"][0], rows["nginx"][0] / S, rows["nginx"][1] / S,
        (ng1w - ng0w) / el, ng_rss, ng_wrss))
if run_cc:
    rows["cc"] = (pct(cc1 - cc0), pct_ns(cc1ns - cc0ns))
    print("%-12s %7.2f %7.2f %13.3f %17.3f %10.0f %9d" % (
        "cartcast", (cc1 - cc0) / hz, rows["cc"][0], rows["cc"][0] / S, rows["cc"][1] / S,
        (cc1w - cc0w) / el, cc_rss))
if run_ng and run_cc:
    r = rows["cc"][0] / rows["nginx"][0] if rows["nginx"][0] > 0 else float("inf")
    rn = rows["cc"][1] / rows["nginx"][1] if rows["nginx"][1] > 0 else float("inf")
    print("ratio cartcast/%s CPU per stream: %.2f  (schedstat ns: %.2f)  target <= 1.00: %s" % (
        ng_label, r, rn, "met" if r <= 1.0 else "NOT met"))
busy = 100.0 * (sb1 - sb0) / max(1, sa1 - sa0)
print("machine: %d cores, %.0f%% busy during the window; the %d ffmpeg publishers used %.1f%% of a core" % (
    ncpu, busy, S * (int(run_ng) + int(run_cc)), pct(pub1 - pub0)))
kv = ["streams=%d" % S, "window_s=%.1f" % el]
if run_ng:
    kv += ["nginx_pct_per_stream=%.3f" % (rows["nginx"][0] / S), "nginx_rss_kib=%d" % ng_rss]
if run_cc:
    kv += ["cartcast_pct_per_stream=%.3f" % (rows["cc"][0] / S), "cartcast_rss_kib=%d" % cc_rss]
if run_ng and run_cc and rows["nginx"][0] > 0:
    kv += ["ratio=%.3f" % (rows["cc"][0] / rows["nginx"][0])]
if run_ng and run_cc and rows["nginx"][1] > 0:
    kv += ["ratio_ns=%.3f" % (rows["cc"][1] / rows["nginx"][1])]
kv += ["machine_busy_pct=%.0f" % busy]
print("RESULT " + " ".join(kv))
PY
}

# What the servers said while under load.
server_logs_report() {
  local n f
  if [ "$RUN_CC" = 1 ]; then
    n=$(grep -cE 'level=(warn|error)' "$TMP/cartcast.log" || true)
    say "cartcast log: $(wc -l <"$TMP/cartcast.log") lines, $n at warn/error"
    [ "$n" -gt 0 ] && grep -E 'level=(warn|error)' "$TMP/cartcast.log" | head -n 5 >&2
    curl -fsS --max-time 3 "http://127.0.0.1:$CC_HTTP/v1/streams" 2>/dev/null | BENCH=$BENCH python3 -c '
import json, os, sys
st = json.load(sys.stdin)["streams"]
back = sum(t.get("dts_backwards", 0) for s in st for t in s.get("tracks", []))
bps = [s.get("bitrate_bps", 0) for s in st]
print("%s: cartcast /v1/streams: %d streams, bitrate %.2f-%.2f Mb/s, dts_backwards total %d" % (
    os.environ["BENCH"], len(st), min(bps or [0]) / 1e6, max(bps or [0]) / 1e6, back))' >&2 || true
    curl -fsS --max-time 3 "http://127.0.0.1:$CC_HTTP/metrics" 2>/dev/null \
      | grep -E '^cartcast_(rtmp_|publish_rejected|hls_|packager_)' | sed "s/^/$BENCH:   /" >&2 || true
  fi
  if [ "$RUN_NGINX" = 1 ]; then
    n=$(grep -cE '\[(error|crit|alert|emerg)\]' "$TMP/nginx/error.log" || true)
    say "nginx error.log: $n lines at error or worse"
    [ "$n" -gt 0 ] && grep -E '\[(error|crit|alert|emerg)\]' "$TMP/nginx/error.log" | head -n 5 >&2
  fi
  for f in "$TMP"/pub-*.log; do
    [ -s "$f" ] && { say "$(basename "$f"): $(tail -n 1 "$f")"; }
  done
  return 0
}

# ---------------------------------------------------------------- optional profile
# profile_servers TAG: perf record -g on both servers for $PERF seconds; reports go to
# bench/out/perf-TAG-{cartcast,nginx}{,-flat,-dso}.txt (TAG "" -> perf-cartcast.txt ...).
profile_servers() {
  [ "$PERF" -gt 0 ] || return 0
  local tag=${1:+$1-} pp=() p s n ngw
  ngw=$(echo "${NG_PIDS#* }" | tr ' ' ',' | sed 's/,$//')
  say "profiling for ${PERF}s (perf record -g)"
  if [ "$RUN_CC" = 1 ]; then
    perf record -q -g -p "$CC_PID" -o "$TMP/perf-cartcast.data" -- sleep "$PERF" >/dev/null 2>&1 &
    pp+=($!)
  fi
  if [ "$RUN_NGINX" = 1 ]; then
    perf record -q -g -p "$ngw" -o "$TMP/perf-nginx.data" -- sleep "$PERF" >/dev/null 2>&1 &
    pp+=($!)
  fi
  # Syscalls per second, counted by tracepoint while the profile runs.
  if [ "$RUN_CC" = 1 ]; then
    perf stat -x, -e raw_syscalls:sys_enter -p "$CC_PID" -o "$TMP/syscalls-cartcast.csv" -- sleep "$PERF" \
      >/dev/null 2>&1 &
    pp+=($!)
  fi
  if [ "$RUN_NGINX" = 1 ]; then
    perf stat -x, -e raw_syscalls:sys_enter -p "$ngw" -o "$TMP/syscalls-nginx.csv" -- sleep "$PERF" \
      >/dev/null 2>&1 &
    pp+=($!)
  fi
  for p in "${pp[@]}"; do wait "$p" || true; done
  for s in cartcast nginx; do
    [ -s "$TMP/syscalls-$s.csv" ] || continue
    n=$(awk -F, '/raw_syscalls/{print $1}' "$TMP/syscalls-$s.csv")
    [[ $n =~ ^[0-9]+$ ]] && say "$s: $((n / PERF)) syscalls/s, $((n / PERF / STREAMS)) per stream per s"
  done
  for s in cartcast nginx; do
    [ -s "$TMP/perf-$s.data" ] || continue
    perf report -i "$TMP/perf-$s.data" --stdio --no-children --percent-limit 0.5 2>/dev/null \
      >"$OUT/perf-$tag$s.txt" || true
    perf report -i "$TMP/perf-$s.data" --stdio --no-children -g none --sort dso,sym --percent-limit 1 2>/dev/null \
      | grep -vE '^(#|$)' | head -n 25 >"$OUT/perf-$tag$s-flat.txt" || true
    perf report -i "$TMP/perf-$s.data" --stdio --no-children -g none --sort dso 2>/dev/null \
      | grep -vE '^(#|$)' | head -n 8 >"$OUT/perf-$tag$s-dso.txt" || true
    say "$s samples by binary:"
    sed 's/^/    /' "$OUT/perf-$tag$s-dso.txt" >&2
    say "top of $s (flat; call graphs in bench/out/perf-$tag$s.txt):"
    sed 's/^/    /' "$OUT/perf-$tag$s-flat.txt" >&2
  done
  return 0
}

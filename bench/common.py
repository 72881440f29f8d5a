"""Shared pieces of the Python benchmarks (bench/idle_conn_mem.py, bench/held_requests.py,
and the HLS checks of bench/hls_cpu.sh): free ports, /proc readings, waiting for a
server, stopping what was started, playlist parsing, percentiles.

Standard library only. Import it from a script in bench/ with
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__))); import common
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
NGINX_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
CLIP = os.path.join(ROOT, "bench", "out", "clip-720p30-4500k.flv")


def sayer(name):
    def say(msg):
        print("%s: %s" % (name, msg), file=sys.stderr, flush=True)
    return say


def free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def origin_port_args(binary):
    """Extra cartcast-origin arguments so that it listens only where the bench says: builds with
    SRT ingest bind UDP 9000 by default, so give them a free UDP port instead."""
    try:
        h = subprocess.run([binary, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    if b"--srt-port" not in h:
        return []
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return ["--srt-port", str(port)]


def proc_status(pid):
    """VmRSS and RssAnon in KiB."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon"):
                out[k] = int(v.split()[0])
    return out


def cpu_ns(pid):
    """Time on CPU in ns of all live threads of pid (schedstat), like bench/lib.sh's cpu_ns."""
    total = 0
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return 0
    for t in tasks:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def machine_busy():
    """(busy, total) jiffies of the whole machine from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4], sum(v)


def wait_http(url, proc, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def http_get(url, timeout=5.0):
    """(status, body bytes); status 0 when the server could not be reached."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return 0, b""


def stop_proc(proc, timeout=10):
    """SIGTERM, wait, then SIGKILL: only for a Popen this script started."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def percentile(sorted_vals, p):
    """Nearest-rank percentile (p in 0..100) of an already sorted list."""
    if not sorted_vals:
        return float("nan")
    k = max(0, min(len(sorted_vals) - 1, int(-(-p * len(sorted_vals) // 100)) - 1))
    return sorted_vals[k]


# ------------------------------------------------------------------ playlists

_ATTR = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')


def attrs(s):
    return {k: v.strip('"') for k, v in _ATTR.findall(s)}


def parse_media_playlist(text):
    """The few facts of a media playlist the benchmarks need:
    media_sequence, segments [(uri, duration)], parts of the open and listed segments
    [(msn, index, uri, duration)], hint (the preload-hinted URI or None), part_target,
    target_duration, endlist, and last_msn/last_part (the open segment's MSN and the
    index of its last listed part, -1 when it has none)."""
    msn = None
    media_sequence = 0
    segments, parts = [], []
    hint, part_target, td, endlist = None, None, None, False
    cur_parts = 0
    extinf = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            media_sequence = int(line.split(":", 1)[1])
            msn = media_sequence
        elif line.startswith("#EXT-X-TARGETDURATION:"):
            td = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-PART-INF:"):
            part_target = float(attrs(line.split(":", 1)[1]).get("PART-TARGET", "0"))
        elif line.startswith("#EXT-X-SKIP:"):
            msn += int(attrs(line.split(":", 1)[1]).get("SKIPPED-SEGMENTS", "0"))
        elif line.startswith("#EXT-X-PART:"):
            a = attrs(line.split(":", 1)[1])
            parts.append((msn, cur_parts, a.get("URI"), float(a.get("DURATION", "0"))))
            cur_parts += 1
        elif line.startswith("#EXT-X-PRELOAD-HINT:"):
            a = attrs(line.split(":", 1)[1])
            if a.get("TYPE") == "PART":
                hint = a.get("URI")
        elif line.startswith("#EXTINF:"):
            extinf = float(line.split(":", 1)[1].split(",")[0])
        elif line == "#EXT-X-ENDLIST":
            endlist = True
        elif line and not line.startswith("#"):
            segments.append((line, extinf or 0.0))
            extinf = None
            msn += 1
            cur_parts = 0
    return {
        "media_sequence": media_sequence, "segments": segments, "parts": parts, "hint": hint,
        "part_target": part_target, "target_duration": td, "endlist": endlist,
        "last_msn": msn, "last_part": cur_parts - 1,
    }


def number_in(uri):
    """The decimal number in part<N>.m4s / seg<N>.m4s / NAME-N.ts, or None."""
    m = re.search(r"(\d+)\.(?:m4s|ts|mp4)$", uri or "")
    return int(m.group(1)) if m else None

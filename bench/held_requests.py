#!/usr/bin/env python3
"""Held LL-HLS blocking requests: how soon after a part completes does cartcast-origin
answer N requests parked for it, and how fast does it serve a complete part compared
with nginx serving the same bytes from a file.

Issue 3's figure: "Held blocking requests answered within 10 ms (p99) of their part's
completion, with 1,000 held at once." nginx cannot hold a request until a part exists,
so the held mode has no side-by-side anchor: it is compared with that number.

Setup: one cartcast-origin on free loopback ports, one ffmpeg publisher replaying the
bench clip in real time (-re, the clip of bench/ingest_cpu.sh), the open-files limit
raised as far as the hard limit allows (ulimit -n) before the origin starts.

Held mode (--mode playlist | part | both), N connections (HTTP/1.1 keep-alive, reused
by every round), R rounds each:
  1. sync: a watcher connection sends a blocking request for the preload-hinted part and
     waits: its answer comes the moment a part completes, so the next one is ~PART-TARGET
     away and the live edge (MSN, last part index, hint SEQ) is fresh.
  2. every one of the N connections sends, for a target part `lead` parts after that edge,
       playlist: GET media.m3u8?_HLS_msn=M&_HLS_part=P  (Accept-Encoding: gzip, as a
                 browser sends; P past the segment's part count wraps to (M+1, P-count))
       part:     GET part<SEQ>.m4s for the hinted part (only the hinted part can be held)
  3. /metrics (cartcast_hls_held_requests) is polled until all N are parked; the round
     counts only if they were all parked before the first answer (else "not all held").
  4. every response is read; each socket has SO_TIMESTAMPNS, so the kernel stamps the
     moment each response's first byte (its header block) and last byte reached the client
     socket, independently of when this Python client gets round to reading it.
  Per response:  spread = last-byte arrival - the earliest first-byte arrival of the round
  The earliest first byte is when the origin began answering this part: the packager has
  just completed it, and held requests are answered in parking order from the same
  callback. So the spread is the fan-out delay the server adds for a viewer parked
  behind N-1 others, which is what "within 10 ms of the part's completion" asks. It does
  not include the ingest-to-part delay before the first answer (the latency bench
  measures that end to end); the first answer minus the part's end in program date-time
  is printed as a hint of it. Checks: every response 200, every body of a round the same
  bytes, a playlist body lists the target part (never answered early).
  Printed: p50/p90/p99/max of the spread (last byte, and first byte), the server's CPU
  per answered request and RSS with N held.

Throughput mode (--throughput): a complete part's bytes, fetched from the origin, are
written to a temp dir served by nginx (minimal config: one worker, sendfile, keep-alive,
access log off) and `wrk` (same threads, connections and duration for both) asks each
server for it; req/s of each and the ratio cartcast/nginx. Run one after the other, the
publisher running throughout.

    bench/held_requests.py                              # 1000 held, 10 rounds, both modes, then throughput
    bench/held_requests.py --conns 1000,5000,10000 --mode playlist
    bench/held_requests.py --no-throughput --rounds 20
    bench/held_requests.py --only-throughput --wrk-conns 64 --wrk-duration 10
    bench/held_requests.py --edge --conns 1000,10000 --mode playlist   # the same on a cartcast-edge

Everything on 127.0.0.1; every process started is stopped on exit (and on SIGTERM/INT),
and every loop has a deadline. Exit status: 0 ok, 1 a check failed, 2 bad usage.
"""
import argparse
import errno
import hashlib
import os
import re
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib

sys.dont_write_bytecode = True  # no bench/__pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ROOT, percentile  # noqa: E402

say = common.sayer("held_requests")
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
ANC = socket.CMSG_SPACE(16)
STREAM = "s1"


class Failed(Exception):
    pass


# ------------------------------------------------------------------ processes

class Procs:
    """Everything this script starts, stopped in reverse order."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.procs = []

    def start(self, name, args, watch=True, **kw):
        """watch: the run fails if it exits (servers, the publisher); not for perf."""
        log = open(os.path.join(self.workdir, name + ".log"), "wb")
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kw)
        self.procs.append((name, p, watch))
        return p

    def stop_all(self):
        for _, p, _ in reversed(self.procs):
            common.stop_proc(p)
        self.procs = []

    def check(self):
        for name, p, watch in self.procs:
            if watch and p.poll() is not None:
                raise Failed("%s exited (status %s); see %s.log" % (name, p.returncode, name))


def make_clip():
    """bench/lib.sh's bench_clip: the same clip as the CPU benchmarks, made once."""
    r = subprocess.run(["bash", "-c", 'set -euo pipefail; BENCH=held_requests; ROOT="$1"; . "$ROOT/bench/lib.sh"; '
                        'bench_clip; echo "$CLIP"', "_", ROOT], stdout=subprocess.PIPE, timeout=400)
    if r.returncode != 0:
        raise Failed("could not make the clip")
    return r.stdout.decode().strip().splitlines()[-1]


def metrics(http_port):
    st, body = common.http_get("http://127.0.0.1:%d/metrics" % http_port, timeout=2)
    out = {}
    if st == 200:
        for line in body.decode(errors="replace").splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                try:
                    out[k] = float(v)
                except ValueError:
                    pass
    return out


# ------------------------------------------------------------------ the client

class Conn:
    __slots__ = ("sock", "fd", "buf", "hdr_end", "clen", "status", "t_first", "t_last", "done", "body")

    def __init__(self, sock):
        self.sock = sock
        self.fd = sock.fileno()
        self.reset()

    def reset(self):
        self.buf = bytearray()
        self.hdr_end = -1
        self.clen = -1
        self.status = 0
        self.t_first = 0
        self.t_last = 0
        self.done = False
        self.body = b""


def kernel_ts(anc):
    for level, typ, data in anc:
        if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = struct.unpack("qq", data[:16])
            return sec * 1_000_000_000 + nsec
    return 0


def open_conns(port, n, deadline, batch=200):
    """n connected non-blocking sockets with SO_TIMESTAMPNS, opened in batches so the
    listen backlog is never overrun."""
    conns = []
    ep = select.epoll()
    try:
        while len(conns) < n:
            if time.monotonic() > deadline:
                raise Failed("opening connections took too long (%d of %d)" % (len(conns), n))
            pending = {}
            for _ in range(min(batch, n - len(conns) - len(pending))):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.setblocking(False)
                e = s.connect_ex(("127.0.0.1", port))
                if e not in (0, errno.EINPROGRESS):
                    s.close()
                    raise Failed("connect: %s" % os.strerror(e))
                pending[s.fileno()] = s
                ep.register(s.fileno(), select.EPOLLOUT)
            while pending:
                if time.monotonic() > deadline:
                    raise Failed("connections did not complete")
                for fd, _ in ep.poll(1.0):
                    s = pending.pop(fd)
                    ep.unregister(fd)
                    e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if e:
                        s.close()
                        raise Failed("connect: %s" % os.strerror(e))
                    conns.append(Conn(s))
    finally:
        ep.close()
    return conns


def request_bytes(path, gzip):
    return ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: cartcast-bench\r\n%s\r\n" % (
        path, "Accept-Encoding: gzip\r\n" if gzip else "")).encode()


_HDR_END = b"\r\n\r\n"
_CL = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.I)


def feed(c, data, ts):
    """Appends data; returns True when the response is complete."""
    if not c.t_first:
        c.t_first = ts
    c.buf += data
    if c.hdr_end < 0:
        i = c.buf.find(_HDR_END)
        if i < 0:
            return False
        c.hdr_end = i + 4
        head = bytes(c.buf[:c.hdr_end])
        try:
            c.status = int(head.split(b" ", 2)[1])
        except (IndexError, ValueError):
            c.status = -1
        m = _CL.search(head)
        c.clen = int(m.group(1)) if m else 0
    if len(c.buf) - c.hdr_end >= c.clen:
        c.t_last = ts
        c.body = bytes(c.buf[c.hdr_end:c.hdr_end + c.clen])
        c.done = True
        return True
    return False


def read_responses(conns, deadline, on_first=None, keep_body=True):
    """Reads one response on every connection. The first recvmsg of each takes one byte,
    so its kernel timestamp is the first byte's; the last one's is the last byte's."""
    ep = select.epoll()
    left = 0
    by_fd = {}
    for c in conns:
        if not c.done:
            ep.register(c.fd, select.EPOLLIN)
            by_fd[c.fd] = c
            left += 1
    try:
        while left:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                break
            for fd, ev in ep.poll(min(timeout, 0.5), 4096):
                c = by_fd[fd]
                try:
                    # 1 byte first: TCP reports the time of the last segment a read touched,
                    # so this stamps the first byte even if the rest has arrived too.
                    data, anc, _, _ = c.sock.recvmsg(1 if not c.t_first else 1 << 20, ANC)
                except BlockingIOError:
                    continue
                except OSError:
                    data, anc = b"", []
                if not data:
                    c.status = c.status or -2  # closed by the server
                    c.done = True
                    ep.unregister(fd)
                    left -= 1
                    continue
                first = not c.t_first
                if feed(c, data, kernel_ts(anc) or time.time_ns()):
                    ep.unregister(fd)
                    left -= 1
                    if not keep_body:
                        c.body = hashlib.sha1(c.body).digest()
                    c.buf = bytearray()
                if first and on_first:
                    on_first()
                    on_first = None
    finally:
        ep.close()
    return left


def send_all(conns, req):
    """One request per connection; returns the client clock when the last was sent."""
    for c in conns:
        c.reset()
        n = c.sock.send(req)
        if n != len(req):
            raise Failed("short send on a fresh connection")
    return time.time_ns()


# ------------------------------------------------------------------ live edge

class Edge:
    def __init__(self, text):
        pl = common.parse_media_playlist(text)
        self.pl = pl
        self.msn = pl["last_msn"]
        self.last_part = pl["last_part"]
        self.hint_seq = common.number_in(pl["hint"])
        if self.hint_seq is None:
            raise Failed("no EXT-X-PRELOAD-HINT in the playlist")
        # parts per segment: from the newest complete segment that is listed with all its parts
        counts = {}
        for msn, idx, _, _ in pl["parts"]:
            counts[msn] = max(counts.get(msn, 0), idx + 1)
        complete = [m for m in counts if m < self.msn]
        self.pps = counts[max(complete)] if len(complete) >= 2 else None

    def target(self, lead):
        """(msn, part index) of the part `lead` parts after the live edge, and its SEQ."""
        idx, msn = self.last_part + lead, self.msn
        while self.pps and idx >= self.pps:
            idx -= self.pps
            msn += 1
        return msn, idx, self.hint_seq + lead - 1


class Origin:
    def __init__(self, procs, binary, clip, workdir):
        self.rtmp_port, self.http_port = common.free_ports(2)
        key = "k" + os.urandom(6).hex()
        self.proc = procs.start("cartcast", [binary, "--rtmp-port", str(self.rtmp_port), "--http-port",
                                             str(self.http_port), "--bind", "127.0.0.1", "--stream-key",
                                             "%s=%s" % (STREAM, key)] + common.origin_port_args(binary))
        if not common.wait_http("http://127.0.0.1:%d/healthz" % self.http_port, self.proc):
            raise Failed("cartcast-origin did not start")
        self.pub = procs.start("ffmpeg", ["ffmpeg", "-hide_banner", "-loglevel", "warning", "-nostdin", "-re",
                                          "-stream_loop", "-1", "-i", clip, "-c", "copy", "-f", "flv",
                                          "rtmp://127.0.0.1:%d/live/%s" % (self.rtmp_port, key)])
        self.base = "/live/%s/" % STREAM

    def url(self, path):
        return "http://127.0.0.1:%d%s%s" % (self.http_port, self.base, path)

    def wait_playlist(self, seconds=20):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            st, body = common.http_get(self.url("media.m3u8"), timeout=2)
            if st == 200:
                e = Edge(body.decode())
                if e.pps:
                    return e
            time.sleep(0.2)
        raise Failed("no playlist with two complete segments after %d s" % seconds)

    def held_now(self):
        return int(metrics(self.http_port).get("cartcast_hls_held_requests", -1))


class EdgeNode:
    """--edge: one cartcast-edge following the origin; the rounds and wrk then talk to it
    (same paths, same gauge cartcast_hls_held_requests), so the spread is measured from the
    part's arrival at the edge and the throughput is the edge's."""

    def __init__(self, procs, binary, origin):
        self.origin = origin
        self.http_port = common.free_ports(1)[0]
        self.proc = procs.start("cartcast-edge", [binary, "--origin", "http://127.0.0.1:%d" % origin.http_port,
                                                  "--http-port", str(self.http_port), "--bind", "127.0.0.1"])
        if not common.wait_http("http://127.0.0.1:%d/healthz" % self.http_port, self.proc):
            raise Failed("cartcast-edge did not start")
        self.base = origin.base

    url = Origin.url
    wait_playlist = Origin.wait_playlist
    held_now = Origin.held_now


# ------------------------------------------------------------------ held mode

def sync(origin, watcher, deadline):
    """Blocks on the hinted part with the watcher connection: returns the fresh Edge the
    moment a part completes."""
    st, body = common.http_get(origin.url("media.m3u8"), timeout=3)
    if st != 200:
        raise Failed("media.m3u8: status %d" % st)
    e = Edge(body.decode())
    msn, idx, _ = e.target(1)
    send_all([watcher], request_bytes("%smedia.m3u8?_HLS_msn=%d&_HLS_part=%d" % (origin.base, msn, idx), False))
    if read_responses([watcher], deadline) or watcher.status != 200:
        raise Failed("the watcher's blocking request failed (status %d)" % watcher.status)
    return Edge(watcher.body.decode())


def held_rounds(origin, procs, conns, watcher, mode, rounds, lead, gzip, say_round):
    """Runs the rounds; returns a dict of results."""
    n = len(conns)
    spreads_last, spreads_first, park_ms = [], [], []
    skipped, bad, rss_max, answered, late_parts = [], [], 0, 0, 0
    cpu0 = common.cpu_ns(origin.proc.pid)
    busy0 = common.machine_busy()
    t_start = time.monotonic()
    r = 0
    attempts = 0
    while r < rounds:
        attempts += 1
        if attempts > rounds * 3:
            raise Failed("too many rounds lost (%s)" % "; ".join(skipped[-3:]))
        procs.check()
        deadline = time.monotonic() + 15
        edge = sync(origin, watcher, deadline)
        if mode == "playlist":
            msn, idx, _ = edge.target(lead)
            path = "%smedia.m3u8?_HLS_msn=%d&_HLS_part=%d" % (origin.base, msn, idx)
        else:
            seq = edge.hint_seq
            path = "%spart%d.m4s" % (origin.base, seq)
        t_sent = send_all(conns, request_bytes(path, gzip and mode == "playlist"))
        # Poll until all are parked (or the first answer arrives): the origin's own gauge.
        parked_at, held = None, -1
        while time.monotonic() < deadline:
            ready, _, _ = select.select([c.sock for c in conns[:1]], [], [], 0)
            held = origin.held_now()
            if held >= n:
                parked_at = time.time_ns()
                break
            if ready:
                break
            time.sleep(0.01)
        rss = common.proc_status(origin.proc.pid)["VmRSS"]
        left = read_responses(conns, time.monotonic() + 15, keep_body=(mode == "playlist"))
        if left:
            raise Failed("%d of %d responses did not arrive within 15 s" % (left, n))
        firsts = [c.t_first for c in conns]
        ref = min(firsts)
        statuses = {}
        for c in conns:
            statuses[c.status] = statuses.get(c.status, 0) + 1
        bodies = {c.body if mode == "part" else hashlib.sha1(c.body).digest() for c in conns}
        if parked_at is None or parked_at > ref:
            skipped.append("round %d: %d of %d parked before the first answer" % (r + 1, max(held, 0), n))
            say_round("  %s" % skipped[-1])
            continue
        problems = []
        if statuses != {200: n}:
            problems.append("statuses %r" % statuses)
        if len(bodies) != 1:
            problems.append("%d different bodies" % len(bodies))
        body0 = conns[0].body
        if mode == "playlist":
            text = (zlib.decompress(body0, 31) if gzip else body0).decode(errors="replace")
            # Satisfied by part P of M or anything later (a part of a later segment: a segment M
            # that ended before P parts, 6.2.5.2). The answer must list such a part (else it came
            # early) and should list exactly one (each more is a part the answer came late).
            ans = common.parse_media_playlist(text)["parts"]
            ok = [x for x in ans if x[0] > msn or (x[0] == msn and x[1] >= idx)]
            if not ok:
                problems.append("the answer lists no part at or after (%d, %d): answered early" % (msn, idx))
            elif len(ok) > 1:
                late_parts += len(ok) - 1
        if problems:
            bad.append("round %d: %s" % (r + 1, "; ".join(problems)))
            say_round("  " + bad[-1])
        rss_max = max(rss_max, rss)
        park_ms.append((parked_at - t_sent) / 1e6)
        sl = sorted((c.t_last - ref) / 1e6 for c in conns)
        sf = sorted((c.t_first - ref) / 1e6 for c in conns)
        spreads_last += sl
        spreads_first += sf
        answered += n
        r += 1
        say_round("  round %2d: %s, all %d parked %.0f ms after sending, answered %.0f ms after that; "
                  "spread p50 %.2f p99 %.2f max %.2f ms" % (
                      r, path.rsplit("/", 1)[-1], n, (parked_at - t_sent) / 1e6, (ref - parked_at) / 1e6,
                      percentile(sl, 50), percentile(sl, 99), sl[-1]))
    elapsed = time.monotonic() - t_start
    cpu = common.cpu_ns(origin.proc.pid) - cpu0
    busy1 = common.machine_busy()
    spreads_last.sort()
    spreads_first.sort()
    return {
        "mode": mode, "n": n, "rounds": r, "skipped": skipped, "bad": bad,
        "last": spreads_last, "first": spreads_first, "answered": answered, "late_parts": late_parts,
        "park_ms": sorted(park_ms), "rss_kib": rss_max, "cpu_s": cpu / 1e9, "elapsed": elapsed,
        "cpu_us_per_req": cpu / 1e3 / max(1, answered + attempts),
        "busy": 100.0 * (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]),
        "body_bytes": len(conns[0].body) if mode == "playlist" else None,
    }


# ------------------------------------------------------------------ held mode, C client

class CClient:
    """bench/held_client.c (built as build/held_client): N keep-alive connections that send a
    round's request together and stamp each response with clock_gettime right after the read
    that completed it. Talks line by line over a pipe (protocol in held_client.c)."""

    def __init__(self, binary, port, n, deadline):
        self.p = subprocess.Popen([binary, "127.0.0.1", str(port), str(n)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE)
        self.fd = self.p.stdout.fileno()
        self.buf = b""
        self.n = n
        line = self.line(deadline)
        if line != "OPEN %d" % n:
            raise Failed("held_client did not open %d connections: %r" % (n, line))

    def line(self, deadline, wait=True):
        """The next line, or None if none came before the deadline (or at once, wait=False)."""
        while b"\n" not in self.buf:
            left = deadline - time.monotonic() if wait else 0
            if left < 0:
                return None
            r, _, _ = select.select([self.fd], [], [], left)
            if not r:
                return None
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                raise Failed("held_client exited (status %s)" % self.p.wait())
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def go(self, path, mode):
        self.p.stdin.write(b"GO %d %s\n" % (mode, path.encode()))
        self.p.stdin.flush()

    def close(self):
        try:
            self.p.stdin.write(b"QUIT\n")
            self.p.stdin.close()
        except OSError:
            pass
        common.stop_proc(self.p)


def held_rounds_c(origin, procs, client, watcher, mode, rounds, lead, gzip, say_round):
    """held_rounds with the C client. Per response, delay = its last byte's arrival (client
    clock right after the read) - its x-cartcast-ready stamp (the server's clock when the part
    that satisfied it completed / arrived); the old spread (- the round's first answer) and the
    kernel-stamped delay are kept beside it."""
    n = client.n
    delays, kdelays, spreads, first_ms, park_ms = [], [], [], [], []
    skipped, bad, rss_max, answered, late_parts, per_round = [], [], 0, 0, 0, []
    cpu0 = common.cpu_ns(origin.proc.pid)
    busy0 = common.machine_busy()
    t_start = time.monotonic()
    r = attempts = 0
    cmode = 2 if mode == "part" else (1 if gzip else 0)
    while r < rounds:
        attempts += 1
        if attempts > rounds * 3:
            raise Failed("too many rounds lost (%s)" % "; ".join(skipped[-3:]))
        procs.check()
        deadline = time.monotonic() + 20
        edge = sync(origin, watcher, deadline)
        if mode == "playlist":
            msn, idx, _ = edge.target(lead)
            path = "%smedia.m3u8?_HLS_msn=%d&_HLS_part=%d" % (origin.base, msn, idx)
        else:
            path = "%spart%d.m4s" % (origin.base, edge.hint_seq)
        client.go(path, cmode)
        line = client.line(deadline)
        if not line or not line.startswith("SENT "):
            raise Failed("held_client: %r" % line)
        t_sent = int(line.split()[1])
        parked_at, first, held = None, None, -1
        while time.monotonic() < deadline:
            line = client.line(deadline, wait=False)
            if line and line.startswith("FIRST "):
                first = int(line.split()[1])
                break
            held = origin.held_now()
            if held >= n:
                parked_at = time.time_ns()
                break
            time.sleep(0.005)
        rss = common.proc_status(origin.proc.pid)["VmRSS"]
        rows, body_hex, left = [], None, None
        while left is None:
            line = client.line(time.monotonic() + 20)
            if line is None:
                raise Failed("held_client: no answer within 20 s")
            if line.startswith("FIRST "):
                first = int(line.split()[1])
            elif line.startswith("R "):
                f = line.split()
                rows.append((int(f[1]), int(f[2]), int(f[3]), int(f[4]), int(f[5]), int(f[6]), f[7]))
            elif line.startswith("BODY "):
                body_hex = line[5:]
            elif line.startswith("END "):
                left = int(line.split()[1])
        if left:
            raise Failed("%d of %d responses did not arrive within 15 s" % (left, n))
        if parked_at is None or (first is not None and parked_at > first):
            skipped.append("round %d: %d of %d parked before the first answer" % (r + 1, max(held, 0), n))
            say_round("  %s" % skipped[-1])
            continue
        problems = []
        statuses = {}
        for row in rows:
            statuses[row[0]] = statuses.get(row[0], 0) + 1
        if statuses != {200: n}:
            problems.append("statuses %r" % statuses)
        if len({(row[5], row[6]) for row in rows}) != 1:
            problems.append("%d different bodies" % len({row[6] for row in rows}))
        stamps = {row[4] for row in rows}
        if 0 in stamps:
            problems.append("answers without x-cartcast-ready (server started without CARTCAST_BENCH_STAMPS=1?)")
        if mode == "playlist" and body_hex is not None:
            body0 = bytes.fromhex(body_hex)
            text = (zlib.decompress(body0, 31) if gzip else body0).decode(errors="replace")
            ans = common.parse_media_playlist(text)["parts"]
            ok = [x for x in ans if x[0] > msn or (x[0] == msn and x[1] >= idx)]
            if not ok:
                problems.append("the answer lists no part at or after (%d, %d): answered early" % (msn, idx))
            elif len(ok) > 1:
                late_parts += len(ok) - 1
        if problems:
            bad.append("round %d: %s" % (r + 1, "; ".join(problems)))
            say_round("  " + bad[-1])
            r += 1
            continue
        rss_max = max(rss_max, rss)
        ref = min(row[1] for row in rows)
        d = sorted((row[2] - row[4]) / 1e6 for row in rows)
        kd = sorted((row[3] - row[4]) / 1e6 for row in rows if row[3])
        delays += d
        kdelays += kd
        spreads += [(row[2] - ref) / 1e6 for row in rows]
        first_ms.append((ref - min(stamps)) / 1e6)
        park_ms.append((parked_at - t_sent) / 1e6)
        per_round.append(percentile(d, 99))
        answered += n
        r += 1
        say_round("  round %2d: %s, %d parked %.0f ms after sending; %d fan-out(s); first answer %.2f ms "
                  "after ready; delay p50 %.2f p99 %.2f max %.2f ms" % (
                      r, path.rsplit("/", 1)[-1], n, (parked_at - t_sent) / 1e6, len(stamps),
                      first_ms[-1], percentile(d, 50), percentile(d, 99), d[-1]))
    elapsed = time.monotonic() - t_start
    cpu = common.cpu_ns(origin.proc.pid) - cpu0
    busy1 = common.machine_busy()
    for x in (delays, kdelays, spreads, first_ms, park_ms, per_round):
        x.sort()
    return {
        "mode": mode, "n": n, "rounds": r, "skipped": skipped, "bad": bad, "client": "c",
        "last": delays, "kernel": kdelays, "first": spreads, "first_answer_ms": first_ms, "round_p99": per_round,
        "answered": answered, "late_parts": late_parts,
        "park_ms": park_ms, "rss_kib": rss_max, "cpu_s": cpu / 1e9, "elapsed": elapsed,
        "cpu_us_per_req": cpu / 1e3 / max(1, answered + attempts),
        "busy": 100.0 * (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]),
    }


# ------------------------------------------------------------------ throughput mode

def nginx_static(procs, workdir, path_in_root, data):
    root = os.path.join(workdir, "www")
    full = os.path.join(root, path_in_root.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as f:
        f.write(data)
    os.chmod(workdir, 0o711)
    for d, _, files in os.walk(root):
        os.chmod(d, 0o755)
        for x in files:
            os.chmod(os.path.join(d, x), 0o644)
    port = common.free_ports(1)[0]
    d = os.path.join(workdir, "nginx-static")
    os.makedirs(os.path.join(d, "logs"), exist_ok=True)
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""# The anchor: nginx serving the same bytes from a file, one worker like cartcast's one loop.
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 8192;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 65;
    types {{ video/mp4 m4s mp4; }}
    default_type application/octet-stream;
    client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ add_header Cache-Control "max-age=31536000, immutable"; }}
    }}
}}
""".format(d=d, port=port, root=root))
    p = procs.start("nginx-static", ["nginx", "-p", d + "/", "-e", os.path.join(d, "error.log"), "-c", conf])
    url = "http://127.0.0.1:%d%s" % (port, path_in_root)
    if not common.wait_http(url, p):
        raise Failed("nginx (static) did not start; see %s" % os.path.join(d, "error.log"))
    return p, url


_WRK_RPS = re.compile(r"Requests/sec:\s*([\d.]+)")
_WRK_LAT = re.compile(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)


def wrk(url, threads, conns, duration, pid):
    cpu0, t0 = common.cpu_ns(pid), time.monotonic()
    r = subprocess.run(["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % duration, "--latency", "--timeout", "5s",
                        url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=duration + 60)
    cpu, el = common.cpu_ns(pid) - cpu0, time.monotonic() - t0
    out = r.stdout.decode(errors="replace")
    m = _WRK_RPS.search(out)
    if r.returncode != 0 or not m:
        raise Failed("wrk failed on %s:\n%s" % (url, out))
    if "Non-2xx" in out or "Socket errors" in out:
        raise Failed("wrk saw errors on %s:\n%s" % (url, out))
    lat = {}
    for p, v, unit in _WRK_LAT.findall(out):
        lat[int(p)] = float(v) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
    rps = float(m.group(1))
    return {"rps": rps, "lat": lat, "cpu_pct": 100.0 * cpu / 1e9 / el, "cpu_us_per_req": cpu / 1e3 / max(1.0, rps * el)}


def pick_object(origin, kind):
    """(uri, bytes) of the newest complete part (or segment) of the stream."""
    st, body = common.http_get(origin.url("media.m3u8"))
    if st != 200:
        raise Failed("media.m3u8: status %d" % st)
    pl = common.parse_media_playlist(body.decode())
    items = [p[2] for p in pl["parts"]] if kind == "part" else [x[0] for x in pl["segments"]]
    if not items:
        raise Failed("no complete %s listed" % kind)
    st, data = common.http_get(origin.url(items[-1]))
    if st != 200:
        raise Failed("%s: status %d" % (items[-1], st))
    return items[-1], data


def throughput(origin, procs, workdir, a):
    """wrk against cartcast and nginx, interleaved in chunks of --wrk-duration seconds.
    A part's buffer goes ~7 TARGETDURATIONs after it leaves the live edge, so each chunk
    takes the newest complete part again, and nginx gets that part's bytes in a file."""
    ng = ng_port = None
    me = "edge" if isinstance(origin, EdgeNode) else "cartcast"
    tot = {me: [], "nginx": []}
    for i in range(a.wrk_chunks):
        uri, data = pick_object(origin, a.tp_object)
        path = origin.base + uri
        if ng is None:
            ng, ng_url = nginx_static(procs, workdir, path, data)
            ng_port = int(ng_url.split(":")[2].split("/")[0])
            with open("/proc/%d/task/%d/children" % (ng.pid, ng.pid)) as f:
                ng_worker = int(f.read().split()[0])
        else:
            full = os.path.join(workdir, "www", path.lstrip("/"))
            with open(full, "wb") as f:
                f.write(data)
            os.chmod(full, 0o644)
        for which, url, pid in (("edge" if isinstance(origin, EdgeNode) else "cartcast", origin.url(uri),
                                 origin.proc.pid),
                                ("nginx", "http://127.0.0.1:%d%s" % (ng_port, path), ng_worker)):
            st, got = common.http_get(url)
            if st != 200 or got != data:
                raise Failed("%s does not serve the same bytes for %s (status %d)" % (which, uri, st))
            res = wrk(url, a.wrk_threads, a.wrk_conns, a.wrk_duration, pid)
            res["bytes"] = len(data)
            tot[which].append(res)
            say("wrk chunk %d %-8s %s (%d B): %.0f req/s (%.0f MB/s), latency p50 %.2f p99 %.2f ms, "
                "server %.0f%% of a core, %.1f us CPU/request" % (
                    i + 1, which, uri, len(data), res["rps"], res["rps"] * len(data) / 1e6,
                    res["lat"].get(50, float("nan")), res["lat"].get(99, float("nan")), res["cpu_pct"],
                    res["cpu_us_per_req"]))
        procs.check()
    out = {}
    for which, rs in tot.items():
        out[which] = {
            "rps": sum(r["rps"] for r in rs) / len(rs),
            "bytes": sum(r["bytes"] for r in rs) / len(rs),
            "lat": {p: max(r["lat"].get(p, float("nan")) for r in rs) for p in (50, 99)},
            "cpu_pct": sum(r["cpu_pct"] for r in rs) / len(rs),
            "cpu_us_per_req": sum(r["cpu_us_per_req"] for r in rs) / len(rs),
        }
    return out


# ------------------------------------------------------------------ profiling

SYSCALLS = ("sendto", "epoll_ctl", "epoll_wait", "poll", "recvfrom", "read")


def perf_start(procs, pid, workdir, tag, seconds, dwarf):
    """perf record on the origin for `seconds` (in the background)."""
    data = os.path.join(workdir, "perf-%s.data" % tag)
    cg = ["--call-graph", "dwarf,32768", "-F", "1999"] if dwarf else ["-g"]
    p = procs.start("perf-" + tag, ["perf", "record", "-q"] + cg + ["-p", str(pid), "-o", data, "--", "sleep",
                                                                   str(seconds)], watch=False)
    return p, data


def perf_finish(p, data, tag):
    try:
        p.wait(timeout=120)
    except subprocess.TimeoutExpired:
        common.stop_proc(p)
    out = os.path.join(ROOT, "bench", "out")
    os.makedirs(out, exist_ok=True)
    base = os.path.join(out, "perf-held-%s" % tag)
    with open(base + ".txt", "wb") as f:
        subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "--percent-limit", "0.5"],
                       stdout=f, stderr=subprocess.DEVNULL, timeout=600)
    for suffix, extra, n in (("-flat", ["-g", "none", "--sort", "dso,sym", "--percent-limit", "0.7"], 30),
                             ("-dso", ["-g", "none", "--sort", "dso"], 8)):
        r = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children"] + extra,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=600)
        lines = [x for x in r.stdout.decode(errors="replace").splitlines() if x.strip() and not x.startswith("#")]
        with open(base + suffix + ".txt", "w") as f:
            f.write("\n".join(lines[:n]) + "\n")
    say("profile of the origin: %s{,-flat,-dso}.txt; top entries:" % base)
    with open(base + "-flat.txt") as f:
        for line in f.read().splitlines()[:12]:
            say("    " + line)


def syscalls_start(procs, pid, workdir, tag):
    out = os.path.join(workdir, "syscalls-%s.csv" % tag)
    ev = ",".join(["raw_syscalls:sys_enter"] + ["syscalls:sys_enter_" + x for x in SYSCALLS])
    p = procs.start("perf-stat-" + tag, ["perf", "stat", "-x,", "-e", ev, "-p", str(pid), "-o", out], watch=False)
    return p, out


def syscalls_finish(p, out):
    p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        common.stop_proc(p)
    counts = {}
    try:
        for line in open(out):
            f = line.strip().split(",")
            if len(f) > 2 and f[0].isdigit():
                name = f[2].split(":")[-1].replace("sys_enter_", "")
                counts["all" if name == "sys_enter" else name] = int(f[0])
    except OSError:
        pass
    return counts


# ------------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description="Held LL-HLS blocking requests on cartcast-origin, and part "
                                             "throughput against nginx serving the same bytes.")
    ap.add_argument("--conns", default="1000", help="held connections, a comma-separated list (default 1000)")
    ap.add_argument("--rounds", type=int, default=10, help="parts measured per count and mode (default 10)")
    ap.add_argument("--mode", choices=("playlist", "part", "both"), default="both")
    ap.add_argument("--lead", type=int, default=0,
                    help="playlist mode: ask for the part this many after the live edge (default: 2, 3 from 5000 "
                         "connections, so that all are parked before it completes)")
    ap.add_argument("--no-gzip", action="store_true", help="playlist requests without Accept-Encoding: gzip")
    ap.add_argument("--no-throughput", action="store_true", help="skip the wrk comparison")
    ap.add_argument("--only-throughput", action="store_true", help="only the wrk comparison")
    ap.add_argument("--tp-object", choices=("part", "segment"), default="part",
                    help="what wrk asks for (default part)")
    ap.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1: 2 cores, one for the server)")
    ap.add_argument("--wrk-conns", type=int, default=64, help="wrk connections (default 64)")
    ap.add_argument("--wrk-duration", type=int, default=5,
                    help="seconds per wrk run (default 5; at most 5 for parts, which live ~7 s)")
    ap.add_argument("--wrk-chunks", type=int, default=3,
                    help="wrk runs per server, interleaved, each on the newest part (default 3)")
    ap.add_argument("--perf", type=int, default=0, metavar="S",
                    help="perf record -g the origin for S seconds from the first round of each mode at the largest "
                         "--conns; reports in bench/out/perf-held-MODE-N*.txt")
    ap.add_argument("--perf-dwarf", action="store_true",
                    help="with --perf: DWARF call graphs (callers inside libwebsockets/libuv; large files)")
    ap.add_argument("--syscalls", action="store_true",
                    help="count the origin's syscalls over the rounds (perf stat tracepoints) per answered request")
    ap.add_argument("--origin-bin", default=os.path.join(ROOT, "build", "cartcast-origin"))
    ap.add_argument("--edge", action="store_true",
                    help="measure one cartcast-edge following the origin instead of the origin itself "
                         "(held rounds, RSS, CPU and wrk all on the edge)")
    ap.add_argument("--edge-bin", default=os.path.join(ROOT, "build", "cartcast-edge"))
    ap.add_argument("--clip", default=None, help="FLV to publish (default: the bench clip, made once)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir with logs and configs")
    ap.add_argument("--client", choices=("c", "python"), default="c",
                    help="held mode's client: c = build/held_client (default; delays from the server's "
                         "x-cartcast-ready stamp), python = the in-script client (spread from the first answer)")
    ap.add_argument("--client-bin", default=os.path.join(ROOT, "build", "held_client"))
    ap.add_argument("--client-cpu", type=int, default=-2,
                    help="pin the C client, this script, the publisher (and, with --edge, the origin), i.e. the "
                         "'other hosts', to this CPU; -1 = the last CPU; default -2: no pinning (an A/B on the "
                         "shared 2-core box showed no gain, docs/benchmarks.md)")
    ap.add_argument("--server-cpus", default="",
                    help="pin the server under test to these CPUs (e.g. 0); default: not pinned (pinned, another "
                         "tenant on that CPU stalled a fan-out for 0.7 s)")
    a = ap.parse_args()
    try:
        counts = sorted({int(x) for x in a.conns.split(",") if x.strip()})
    except ValueError:
        ap.error("--conns wants numbers like 1000,5000")
    if not counts or counts[0] < 1 or counts[-1] > 20000:
        ap.error("--conns must be 1..20000")
    if not 1 <= a.rounds <= 100:
        ap.error("--rounds must be 1..100")
    if not 0 <= a.perf <= 60:
        ap.error("--perf must be 0..60")
    if (a.perf or a.syscalls) and shutil.which("perf") is None:
        ap.error("--perf and --syscalls need perf (apt-get install linux-perf)")
    if not 0 <= a.lead <= 10:
        ap.error("--lead must be 0..10")
    if not (1 <= a.wrk_threads <= 16 and 1 <= a.wrk_conns <= 4096 and 1 <= a.wrk_duration <= 60
            and 1 <= a.wrk_chunks <= 20):
        ap.error("wrk: threads 1..16, connections 1..4096, duration 1..60, chunks 1..20")
    if a.tp_object == "part" and a.wrk_duration > 5:
        ap.error("--wrk-duration is at most 5 with parts (a part's buffer lives ~7 s after the live edge)")
    modes = ["playlist", "part"] if a.mode == "both" else [a.mode]
    if a.only_throughput:
        modes = []
    do_tp = not a.no_throughput

    if not os.access(a.origin_bin, os.X_OK):
        say("no cartcast-origin at %s: build it or pass --origin-bin" % a.origin_bin)
        return 1
    if a.client == "c" and modes and not os.access(a.client_bin, os.X_OK):
        say("no held_client at %s: build it (cmake --build build --target held_client) or pass --client-bin"
            % a.client_bin)
        return 1
    # The servers stamp held answers with x-cartcast-ready (edge/hls.c): the C client's reference.
    os.environ["CARTCAST_BENCH_STAMPS"] = "1"
    if a.edge and not os.access(a.edge_bin, os.X_OK):
        say("no cartcast-edge at %s: build it or pass --edge-bin" % a.edge_bin)
        return 1
    if do_tp and (shutil.which("wrk") is None or shutil.which("nginx") is None):
        say("installing wrk and nginx (scripts/deps.sh bench)")
        subprocess.run([os.path.join(ROOT, "scripts", "deps.sh"), "bench"], check=True)

    # ulimit -n: as high as the hard limit allows (65536 wanted), before the origin starts.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard) if hard != resource.RLIM_INFINITY else hard))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if counts[-1] + 200 > limit:
        say("open-files limit is %d (hard %d): --conns above %d cannot be measured" % (limit, hard, limit - 200))
        return 1

    workdir = tempfile.mkdtemp(prefix="cc-bench-held.")
    procs = Procs(workdir)
    failed = False
    results, tp = [], None
    t_budget = time.monotonic() + 60 + len(counts) * len(modes) * (a.rounds * 4 + 60) + len(modes) * (
        a.perf * 3 + (240 if a.perf else 0)) + (
        (2 * a.wrk_chunks * (a.wrk_duration + 5) + 60) if do_tp else 0)

    def on_signal(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)

    def on_alarm(signum, frame):
        raise Failed("the run overstayed its budget (watchdog)")
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(t_budget - time.monotonic()) + 1)

    conns = []
    client = None
    ncpu = os.cpu_count() or 1
    pin = {ncpu - 1} if a.client_cpu == -1 and ncpu >= 2 else ({a.client_cpu} if a.client_cpu >= 0 else None)

    def pin_away(pid):
        """On a real deployment viewers and the origin are other hosts. Here they share two
        cores with the server, and the kernel tends to wake a client on the CPU of the server
        that woke it (wake-affine), where it then preempts the server in the middle of its
        fan-out. Keeping them on one CPU leaves the server's wake-ups elsewhere."""
        if pin:
            try:
                os.sched_setaffinity(pid, pin)
            except OSError as e:
                say("could not pin pid %d: %s" % (pid, e))
    try:
        pin_away(0)
        clip = a.clip or make_clip()
        origin = Origin(procs, a.origin_bin, clip, workdir)
        pin_away(origin.pub.pid)
        edge = origin.wait_playlist()
        if a.edge:
            pin_away(origin.proc.pid)
            # From here on "origin" is the server under test: the edge (its first request joins the stream).
            origin = EdgeNode(procs, a.edge_bin, origin)
            edge = origin.wait_playlist()
        pt = edge.pl["part_target"]
        if a.server_cpus:
            os.sched_setaffinity(origin.proc.pid, {int(x) for x in a.server_cpus.split(",")})
        say("%s pid %d, http %d; stream live: PART-TARGET %.3f s, %d parts per segment, ulimit -n %d; "
            "client side pinned to CPU %s, server to %s" % (
                "edge" if a.edge else "origin", origin.proc.pid, origin.http_port, pt, edge.pps, limit,
                sorted(pin) if pin else "none", a.server_cpus or "none"))
        rss_idle = common.proc_status(origin.proc.pid)["VmRSS"]
        watcher = open_conns(origin.http_port, 1, time.monotonic() + 10)[0]
        for n in counts if modes else []:
            t_open = time.monotonic()
            if a.client == "c":
                if client:
                    client.close()
                client = CClient(a.client_bin, origin.http_port, n, time.monotonic() + 120)
                pin_away(client.p.pid)
                nopen = n
            else:
                conns += open_conns(origin.http_port, n - len(conns), time.monotonic() + 120)
                nopen = len(conns)
            say("%d connections open (%.1f s); server RSS %d KiB (%d before any)" % (
                nopen, time.monotonic() - t_open, common.proc_status(origin.proc.pid)["VmRSS"], rss_idle))
            for mode in modes:
                lead = a.lead or (3 if n >= 5000 else 2)
                if mode == "part":
                    lead = 1
                say("%s mode, %d held, %d rounds%s" % (mode, n, a.rounds,
                                                       ", lead %d parts" % lead if mode == "playlist" else ""))
                tag = "%s-%d" % (mode, n)
                prof = perf_start(procs, origin.proc.pid, workdir, tag, a.perf, a.perf_dwarf) \
                    if a.perf and n == counts[-1] else None
                sc = syscalls_start(procs, origin.proc.pid, workdir, tag) if a.syscalls else None
                if client:
                    res = held_rounds_c(origin, procs, client, watcher, mode, a.rounds, lead, not a.no_gzip, say)
                else:
                    res = held_rounds(origin, procs, conns, watcher, mode, a.rounds, lead, not a.no_gzip, say)
                if sc:
                    res["syscalls"] = syscalls_finish(*sc)
                if prof:
                    perf_finish(prof[0], prof[1], tag)
                res["rss_idle"] = rss_idle
                res["lead"] = lead
                results.append(res)
                failed = failed or bool(res["bad"])
        for c in conns:
            c.sock.close()
        conns = []
        if client:
            client.close()
            client = None
        if do_tp:
            tp = throughput(origin, procs, workdir, a)
        procs.check()
    except Failed as e:
        say(str(e))
        failed = True
    except KeyboardInterrupt:
        say("interrupted")
        failed = True
    finally:
        signal.alarm(0)
        for c in conns:
            c.sock.close()
        if client:
            client.close()
        procs.stop_all()
        if a.keep or failed:
            say("logs and configs kept in " + workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    kv = []
    cres = [r for r in results if r.get("client") == "c"]
    results = [r for r in results if r.get("client") != "c"]
    if cres:
        print()
        print("Held requests (C client): delay = each answer's last byte, client clock right after the read "
              "- the server's x-cartcast-ready stamp (the part completed / arrived), ms")
        print("%-9s %6s %6s %8s %8s %8s %8s %9s %9s %10s %12s %8s %9s %8s %8s" % (
            "mode", "held", "parts", "p50", "p90", "p99", "max", "p99 kern", "p99 sprd", "1st ans",
            "round p99s", "cpu us/r", "rss KiB", "KB/held", "machine"))
        for r in cres:
            L = r["last"]
            per = (r["rss_kib"] - r["rss_idle"]) * 1024 / 1000.0 / r["n"]
            print("%-9s %6d %6d %8.2f %8.2f %8.2f %8.2f %9.2f %9.2f %10.2f %5.1f-%-6.1f %8.1f %9d %8.1f %7.0f%%" % (
                r["mode"], r["n"], r["rounds"], percentile(L, 50), percentile(L, 90), percentile(L, 99),
                L[-1] if L else float("nan"), percentile(r["kernel"], 99), percentile(r["first"], 99),
                percentile(r["first_answer_ms"], 50), r["round_p99"][0] if r["round_p99"] else float("nan"),
                r["round_p99"][-1] if r["round_p99"] else float("nan"), r["cpu_us_per_req"], r["rss_kib"], per,
                r["busy"]))
            if r.get("syscalls"):
                print("  syscalls per answered request: " + ", ".join(
                    "%s %.2f" % (k, v / max(1, r["answered"])) for k, v in r["syscalls"].items()))
            if r.get("late_parts"):
                print("  %s %d: answers listed %d part(s) past the one asked for (answered late)" % (
                    r["mode"], r["n"], r["late_parts"]))
            if r["skipped"]:
                print("  %s %d: %d round(s) not counted: %s" % (r["mode"], r["n"], len(r["skipped"]), r["skipped"][0]))
            for b in r["bad"]:
                print("  %s %d: CHECK FAILED: %s" % (r["mode"], r["n"], b))
            tag = "%s_%d" % (r["mode"], r["n"])
            kv += ["%s_p50_ms=%.2f" % (tag, percentile(L, 50)), "%s_p99_ms=%.2f" % (tag, percentile(L, 99)),
                   "%s_max_ms=%.2f" % (tag, L[-1] if L else float("nan")), "%s_kb_per_held=%.1f" % (tag, per),
                   "%s_rss_kib=%d" % (tag, r["rss_kib"]), "%s_rss_idle_kib=%d" % (tag, r["rss_idle"])]
        print("(p99 kern: the same with the kernel's receive stamp (SO_TIMESTAMPNS) of the last read; p99 sprd: "
              "last byte - the round's first answer, the Python client's old figure; 1st ans: the first answer's "
              "arrival after the stamp, median over rounds; round p99s: range of the per-round p99; KB/held: "
              "(RSS with N held - RSS before any viewer) / N, KB = 1,000 B)")
        for r in cres:
            if r["mode"] == "playlist":
                ok = percentile(r["last"], 99) <= 10.0
                print("target p99 <= 10 ms with %d held (playlist, blocking reload): %s (%.2f ms)" % (
                    r["n"], "met" if ok else "NOT met", percentile(r["last"], 99)))
    if results:
        print()
        print("Held requests answered after their part completed: spread = response's last byte (first byte) "
              "- the round's first answer, ms")
        print("%-9s %6s %6s %9s %9s %9s %9s %9s %8s %8s %9s %8s" % (
            "mode", "held", "parts", "p50", "p90", "p99", "max", "p99 1st", "park ms", "cpu us/r",
            "rss KiB", "machine"))
        for r in results:
            L, F = r["last"], r["first"]
            print("%-9s %6d %6d %9.2f %9.2f %9.2f %9.2f %9.2f %8.0f %8.1f %9d %7.0f%%" % (
                r["mode"], r["n"], r["rounds"], percentile(L, 50), percentile(L, 90), percentile(L, 99),
                L[-1] if L else float("nan"), percentile(F, 99), percentile(r["park_ms"], 50),
                r["cpu_us_per_req"], r["rss_kib"], r["busy"]))
            if r.get("syscalls"):
                print("  syscalls per answered request: " + ", ".join(
                    "%s %.2f" % (k, v / max(1, r["answered"])) for k, v in r["syscalls"].items()))
            if r.get("late_parts"):
                print("  %s %d: answers listed %d part(s) past the one asked for, over all rounds (answered late)" % (
                    r["mode"], r["n"], r["late_parts"]))
            if r["skipped"]:
                print("  %s %d: %d round(s) not counted: %s" % (r["mode"], r["n"], len(r["skipped"]), r["skipped"][0]))
            for b in r["bad"]:
                print("  %s %d: CHECK FAILED: %s" % (r["mode"], r["n"], b))
            tag = "%s_%d" % (r["mode"], r["n"])
            kv += ["%s_p50_ms=%.2f" % (tag, percentile(L, 50)), "%s_p99_ms=%.2f" % (tag, percentile(L, 99)),
                   "%s_max_ms=%.2f" % (tag, L[-1] if L else float("nan")),
                   "%s_rss_kib=%d" % (tag, r["rss_kib"]), "%s_rss_idle_kib=%d" % (tag, r["rss_idle"])]
        print("(p99 1st: the same for the first byte; park ms: from sending the N requests to all N parked, median; "
              "cpu us/r: origin CPU over the rounds per answered request, ingest of the publisher included; "
              "rss: origin VmRSS with N held, %d KiB before any connection; machine: how busy both cores were)" % (
                  results[0]["rss_idle"]))
        for r in results:
            if r["mode"] == "playlist":
                ok = percentile(r["last"], 99) <= 10.0
                print("target p99 <= 10 ms with %d held (playlist, blocking reload): %s (%.2f ms)" % (
                    r["n"], "met" if ok else "NOT met", percentile(r["last"], 99)))
    if tp:
        me = "edge" if a.edge else "cartcast"
        c, g = tp[me], tp["nginx"]
        print()
        print("Complete %s served to wrk -t%d -c%d, %d x %d s per server interleaved (%.0f bytes on average; "
              "nginx: the same bytes from a file)" % (a.tp_object, a.wrk_threads, a.wrk_conns, a.wrk_chunks,
                                                      a.wrk_duration, c["bytes"]))
        print("%-10s %10s %9s %9s %9s %10s %10s" % ("server", "req/s", "MB/s", "p50 ms", "p99 ms", "cpu %core",
                                                   "cpu us/req"))
        for name, r in ((me, c), ("nginx", g)):
            print("%-10s %10.0f %9.0f %9.2f %9.2f %10.0f %10.1f" % (
                name, r["rps"], r["rps"] * r["bytes"] / 1e6, r["lat"].get(50, float("nan")),
                r["lat"].get(99, float("nan")), r["cpu_pct"], r["cpu_us_per_req"]))
        print("ratio %s/nginx req/s: %.2f" % (me, c["rps"] / g["rps"] if g["rps"] else float("inf")))
        kv += ["tp_cartcast_rps=%.0f" % c["rps"], "tp_nginx_rps=%.0f" % g["rps"],
               "tp_ratio=%.3f" % (c["rps"] / g["rps"] if g["rps"] else float("inf"))]
    if kv:
        print("RESULT " + " ".join(kv))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

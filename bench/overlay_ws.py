#!/usr/bin/env python3
"""cartcast-overlay under 10,000 WebSocket viewers on one process (issue 6's figures):

  - cue broadcast latency: a cue created through the REST API reaches every viewer with
    p99 under 50 ms;
  - memory per idle connection under 10 KB (Centrifugo publishes ~30 KB at p99 200 ms).

Setup: redis-server and one cartcast-overlay on free 127.0.0.1 ports (the open-files limit
raised for both), a fake live edge for the stream (what cartcast-origin --redis writes),
and N raw WebSocket connections from this process (stdlib only: epoll, non-blocking
sockets, the RFC 6455 handshake, frames parsed by hand).

Memory: the overlay's VmRSS with one viewer (the stream's state exists) and again with
N + 1 viewers that all got their hello and then sat idle for --settle seconds;
(difference) / N is the cost of an idle connection: lws's wsi, its libuv poll handle, the
rx buffer, our per-connection state. Kernel socket buffers are not in RSS.

Latency: --cues cues, one every --interval seconds. Each socket has SO_TIMESTAMPNS, so the
kernel stamps when each cue message reached the viewer's socket, independently of when
this Python client reads it. Latency = that arrival - the cue's created_ms (the overlay's
clock when its REST handler built the cue, before the XADD): Redis XADD, XREAD back to
the overlay, and the fan-out to N sockets. Same clock on loopback.

  bench/overlay_ws.py                       # 10,000 viewers, 10 cues (~60 s)
  bench/overlay_ws.py --conns 2000 --cues 5
"""
import argparse
import json
import os
import resource
import select
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import common  # noqa: E402
import cc  # noqa: E402

say = common.sayer("overlay_ws")
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
ANC = socket.CMSG_SPACE(16)
TOKEN = "bench-operator-token"
STREAM = "bench"


class Viewer:
    __slots__ = ("sock", "buf", "state", "ts", "got", "hello")

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.state = 0  # 0 handshake, 1 open
        self.ts = 0.0
        self.got = {}  # cue id -> arrival (s)
        self.hello = False


def handshake(port):
    return ("GET /v1/streams/%s/ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n" % (STREAM, port)).encode()


def frames(v):
    """Complete server frames from v.buf: yields (opcode, payload)."""
    while True:
        b = v.buf
        if len(b) < 2:
            return
        op, n, h = b[0] & 15, b[1] & 127, 2
        if n == 126:
            if len(b) < 4:
                return
            n, h = struct.unpack(">H", b[2:4])[0], 4
        elif n == 127:
            if len(b) < 10:
                return
            n, h = struct.unpack(">Q", b[2:10])[0], 10
        if len(b) < h + n:
            return
        v.buf = b[h + n:]
        yield op, b[h:h + n]


def pump(ep, by_fd, timeout, on_message):
    """One epoll round: reads what is there, calls on_message(viewer, payload, arrival)."""
    for fd, _ in ep.poll(timeout):
        v = by_fd[fd]
        while True:
            try:
                data, anc, _, _ = v.sock.recvmsg(1 << 16, ANC)
            except BlockingIOError:
                break
            except OSError:
                data = b""
            if not data:
                ep.unregister(fd)
                v.state = -1
                break
            ts = time.time()
            for level, typ, d in anc:
                if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS and len(d) >= 16:
                    sec, ns = struct.unpack("qq", d[:16])
                    ts = sec + ns / 1e9
            start_empty = len(v.buf) == 0
            v.buf += data
            if v.state == 0:
                i = v.buf.find(b"\r\n\r\n")
                if i < 0:
                    continue
                if not v.buf.startswith(b"HTTP/1.1 101"):
                    raise SystemExit("handshake refused: %r" % v.buf[:200])
                v.buf = v.buf[i + 4:]
                v.state = 1
            # a message's arrival is the timestamp of the read that brought its first byte
            if start_empty:
                v.ts = ts
            for op, payload in frames(v):
                if op == 1:
                    if payload.startswith(b'{"type":"hello"'):
                        v.hello = True
                    on_message(v, payload, v.ts)
                elif op == 8:
                    v.state = -1
                v.ts = ts


def connect_all(n, port, ep, by_fd, batch=500):
    viewers = []
    hs = handshake(port)
    while len(viewers) < n:
        for _ in range(min(batch, n - len(viewers))):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            s.connect(("127.0.0.1", port))
            s.setblocking(False)
            s.send(hs)
            v = Viewer(s)
            viewers.append(v)
            by_fd[s.fileno()] = v
            ep.register(s.fileno(), select.EPOLLIN)
        # let the overlay keep up: drain hellos between batches
        pump(ep, by_fd, 0.05, lambda v, p, t: None)
    return viewers


def rest(port, method, path, body=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Authorization", "Bearer " + TOKEN)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conns", type=int, default=10000)
    ap.add_argument("--cues", type=int, default=10)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--settle", type=float, default=3.0, help="idle seconds before reading RSS")
    ap.add_argument("--overlay-bin", default=os.path.join(ROOT, "build", "cartcast-overlay"))
    ap.add_argument("--json", help="write the result here too")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    ap.add_argument("--overlay-arg", action="append", default=[], metavar="ARG",
                    help="extra argument for cartcast-overlay, repeatable (e.g. --overlay-arg=--fanout-threads=1)")
    ap.add_argument("--pin", action="store_true",
                    help="overlay on CPU 0, this client on CPU 1 (they do not take turns on one core)")
    a = ap.parse_args()

    want = a.conns * 2 + 2000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard) if hard != resource.RLIM_INFINITY else hard))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if nofile < a.conns + 1000:
        raise SystemExit("open-files limit %d is too low for %d connections (raise the hard limit)" % (nofile, a.conns))

    work = tempfile.mkdtemp(prefix="cc-bench-ov-")
    redis = cc.RedisServer(work, extra=["--maxclients", "1000"])
    port = common.free_ports(1)[0]
    log = open(os.path.join(work, "overlay.log"), "wb")
    pin = ["taskset", "-c", "0"] if a.pin else []
    if a.pin:
        os.sched_setaffinity(0, {1})
    ov = subprocess.Popen(pin + [a.overlay_bin, "--redis", redis.url, "--http-port", str(port), "--bind", "127.0.0.1",
                           "--operator-token", "%s=%s" % (TOKEN, STREAM), "--viewer-secret", "bench-secret-0123456789",
                           "--max-connections", str(a.conns + 100), "--max-conns-per-addr", str(a.conns + 100),
                           "--ping-interval-s", "300", "--log-level", "warn"] + a.overlay_arg, stdout=log, stderr=subprocess.STDOUT)
    stop = threading.Event()

    def fake_live():
        c = redis.client()
        start = int(time.time() * 1000) - 10000
        while not stop.is_set():
            now = int(time.time() * 1000)
            c.call("HSET", "cc:{stream:%s}:live" % STREAM, "pdt_ms", now, "media_ms", now - start, "start_pdt_ms",
                   start, "msn", 1, "part", 0, "part_seq", 1, "updated_ms", now, "live", 1)
            stop.wait(0.2)
        c.close()

    threading.Thread(target=fake_live, daemon=True).start()
    ep = select.epoll()
    by_fd = {}
    result = {"conns": a.conns, "pinned": a.pin}
    try:
        if not common.wait_http("http://127.0.0.1:%d/healthz" % port, ov, 10):
            raise SystemExit("the overlay did not start; see %s" % log.name)
        time.sleep(0.5)
        # one viewer first: the stream's state exists in the baseline
        first = connect_all(1, port, ep, by_fd)
        t = time.time() + 5
        while time.time() < t and first[0].state != 1:
            pump(ep, by_fd, 0.1, lambda v, p, ts: None)
        time.sleep(1)
        base = common.proc_status(ov.pid)
        say("baseline VmRSS %d KiB with 1 viewer; connecting %d" % (base["VmRSS"], a.conns))
        t0 = time.time()
        viewers = connect_all(a.conns, port, ep, by_fd)
        deadline = time.time() + 60
        while sum(v.hello for v in viewers) < a.conns and time.time() < deadline:
            pump(ep, by_fd, 0.1, lambda v, p, ts: None)
        result["connect_s"] = round(time.time() - t0, 2)
        result["hellos"] = sum(v.hello for v in viewers)
        say("%d/%d viewers got hello in %.1f s" % (result["hellos"], a.conns, result["connect_s"]))
        end = time.time() + a.settle
        while time.time() < end:
            pump(ep, by_fd, 0.2, lambda v, p, ts: None)
        loaded = common.proc_status(ov.pid)
        per = (loaded["VmRSS"] - base["VmRSS"]) * 1024 / a.conns
        result["rss_base_kib"] = base["VmRSS"]
        result["rss_loaded_kib"] = loaded["VmRSS"]
        result["bytes_per_idle_conn"] = round(per)
        say("VmRSS %d KiB with %d idle viewers: %.0f bytes per connection" % (loaded["VmRSS"], a.conns + 1, per))

        lat_all = []
        per_cue = []
        for k in range(a.cues):
            cue = rest(port, "POST", "/v1/streams/%s/cues" % STREAM,
                       {"kind": "product", "duration_ms": 600000,
                        "product": {"sku": "SKU-%d" % k, "title": "Bench product %d" % k, "price": 1000 + k,
                                    "currency": "EUR", "image_url": "https://cdn.example.com/p/%d.jpg" % k}})
            cpu0 = common.cpu_ns(ov.pid)
            cid = cue["id"].encode()
            created = cue["created_ms"] / 1000.0
            got = {}

            def on_cue(v, p, ts):
                if p.startswith(b'{"type":"cue"') and cid in p:
                    got[v.sock.fileno()] = ts

            deadline = time.time() + 10
            while len(got) < a.conns + 1 and time.time() < deadline:
                pump(ep, by_fd, 0.05, on_cue)
            lats = sorted((ts - created) * 1000 for ts in got.values())
            lat_all.extend(lats)
            row = {"cue": cue["id"], "received": len(got), "p50_ms": round(common.percentile(lats, 50), 1),
                   "p99_ms": round(common.percentile(lats, 99), 1), "max_ms": round(lats[-1], 1) if lats else None,
                   "first_ms": round(lats[0], 1) if lats else None}
            per_cue.append(row)
            # end it, so that hellos stay small and the active-cue cap is never hit
            rest(port, "DELETE", "/v1/streams/%s/cues/%s" % (STREAM, cue["id"]))
            end = time.time() + a.interval
            while time.time() < end:
                pump(ep, by_fd, 0.05, lambda v, p, ts: None)
            # CPU of the cycle (two REST calls, two broadcasts: the cue, then its end),
            # read once the overlay is idle again (schedstat lags a running task)
            row["overlay_cpu_ms"] = round((common.cpu_ns(ov.pid) - cpu0) / 2e6, 1)
            say("cue %d: %d/%d viewers, p50 %.1f ms, p99 %.1f ms, max %.1f ms (first %.1f ms); overlay CPU %.1f ms "
                "per broadcast" % (k + 1, len(got), a.conns + 1, row["p50_ms"], row["p99_ms"], row["max_ms"],
                                   row["first_ms"], row["overlay_cpu_ms"]))
        lat_all.sort()
        result["cues"] = per_cue
        result["latency_ms"] = {"p50": round(common.percentile(lat_all, 50), 1),
                                "p90": round(common.percentile(lat_all, 90), 1),
                                "p99": round(common.percentile(lat_all, 99), 1),
                                "max": round(lat_all[-1], 1) if lat_all else None, "samples": len(lat_all)}
        cpus = sorted(r["overlay_cpu_ms"] for r in per_cue)
        result["overlay_cpu_ms_per_broadcast_p50"] = cpus[len(cpus) // 2]
        result["overlay_cpu_us_per_viewer"] = round(cpus[len(cpus) // 2] * 1000 / (a.conns + 1), 2)
        with open("/proc/loadavg") as f:
            result["loadavg"] = f.read().split()[:3]
        result["dropped"] = sum(1 for v in viewers if v.state != 1)
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            m = r.read().decode()
        result["dropped_slow_clients"] = cc.metric_value(m, "cartcast_overlay_dropped_slow_clients_total")
        result["verdict"] = {"p99_under_50ms": result["latency_ms"]["p99"] < 50,
                             "under_10KB_per_idle_conn": result["bytes_per_idle_conn"] < 10 * 1024}
        print(json.dumps(result, indent=2))
        if a.json:
            with open(a.json, "w") as f:
                json.dump(result, f, indent=2)
    finally:
        stop.set()
        for v in list(by_fd.values()):
            try:
                v.sock.close()
            except OSError:
                pass
        common.stop_proc(ov, 30)
        redis.stop()
        log.close()
        if not a.keep:
            import shutil
            shutil.rmtree(work, ignore_errors=True)
        else:
            say("kept %s" % work)


if __name__ == "__main__":
    main()

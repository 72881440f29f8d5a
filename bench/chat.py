#!/usr/bin/env python3
"""cartcast-overlay chat under load (issue 9's figure): a room of 5,000 viewers on one
overlay process with 100 chat messages per second coming in; every viewer must receive
every message, p99 from send to receipt under 250 ms; frames per client per second with
batching (--chat-tick-ms 100, the default) beside a run without it (--chat-tick-ms 0).

Setup: redis-server and one cartcast-overlay on free 127.0.0.1 ports (open-files limit
raised), a fake live edge for the stream, --procs receiver processes holding the
viewers' raw WebSocket connections (bench/chat_client.c, compiled on first use: epoll,
non-blocking sockets, RFC 6455 frames by hand; C because a Python client reading up to
500,000 frames a second on a shared 2-core machine measures itself), and --senders more
connections in this process (Python) that send --rate messages per second in all, round
robin, evenly spaced. Every viewer's messages are counted; every --sample-every-th
viewer's latencies are recorded.

Each message's text carries its sequence number and the sender's wall clock at the
moment it was written to the socket ("b SEQ SENT_MS"). Receipt = the kernel's
SO_TIMESTAMPNS of the read that brought the frame (for TCP, the newest segment in that
read: if a receiver lags, this overstates latency, never understates it). Latency =
receipt - sent: the overlay's checks, chat_send.lua, the chat stream, the overlay's
XREAD, the batching tick and the fan-out. Same clock on loopback.

  bench/chat.py                          # 5,000 viewers, 100 msg/s for 20 s, batched then unbatched
  bench/chat.py --viewers 1000 --seconds 10 --modes batched
"""
import argparse
import json
import os
import re
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

say = common.sayer("chat")
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
ANC = socket.CMSG_SPACE(16)
STREAM = "bench"
MSG_RE = re.compile(rb'"text":"b (\d+) (\d+)"')
HIST_MAX_MS = 30000


def handshake(port, name):
    return ("GET /v1/streams/%s/ws?name=%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            % (STREAM, name, port)).encode()


def client_frame(payload):
    """A masked text frame (mask 0: the payload goes as it is)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x81, 0x80 | n)
    else:
        head = struct.pack("!BBH", 0x81, 0x80 | 126, n)
    return head + b"\0\0\0\0" + payload


class Conn:
    __slots__ = ("sock", "buf", "open", "hello", "ts", "msgs", "frames", "closed", "sample")

    def __init__(self, sock):
        self.sock, self.buf, self.open, self.hello = sock, b"", False, False
        self.ts, self.msgs, self.frames, self.closed, self.sample = 0.0, 0, 0, False, False


def connect(port, n, name):
    conns = []
    hs = handshake(port, name)
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # a chat line goes now, not after an ACK
        s.connect(("127.0.0.1", port))
        s.setblocking(False)
        s.send(hs)
        conns.append(Conn(s))
    return conns


def read(c, hist):
    """Reads what c has; counts chat frames and messages, adds latencies to hist (1 ms buckets)."""
    while True:
        try:
            data, anc, _, _ = c.sock.recvmsg(1 << 18, ANC)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            c.closed = True
            return
        ts = time.time()
        for level, typ, d in anc:
            if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS and len(d) >= 16:
                sec, ns = struct.unpack("qq", d[:16])
                ts = sec + ns / 1e9
        b = c.buf + data
        if not c.open:
            i = b.find(b"\r\n\r\n")
            if i < 0:
                c.buf = b
                continue
            if not b.startswith(b"HTTP/1.1 101"):
                raise SystemExit("handshake refused: %r" % b[:200])
            b = b[i + 4:]
            c.open = True
        off, end = 0, len(b)
        ms = ts * 1000.0
        while end - off >= 2:
            op, n, h = b[off] & 15, b[off + 1] & 127, 2
            if n == 126:
                if end - off < 4:
                    break
                n, h = struct.unpack_from("!H", b, off + 2)[0], 4
            elif n == 127:
                if end - off < 10:
                    break
                n, h = struct.unpack_from("!Q", b, off + 2)[0], 10
            if end - off < h + n:
                break
            p = b[off + h:off + h + n]
            off += h + n
            if op == 8:
                c.closed = True
            elif op == 1:
                if not c.hello:
                    c.hello = p.startswith(b'{"type":"hello"')
                    continue
                if not c.sample:
                    k = p.count(b'"text":"b ')  # counted at C speed: every viewer must get every message
                    if k:
                        c.frames += 1
                        c.msgs += k
                    continue
                found = MSG_RE.findall(p)
                if found:
                    c.frames += 1
                    c.msgs += len(found)
                    if hist is not None:
                        for _, sent in found:
                            lat = int(ms - int(sent))
                            hist[lat if 0 <= lat < HIST_MAX_MS else (HIST_MAX_MS - 1 if lat > 0 else 0)] += 1
        c.buf = b[off:]


def build_client():
    """bench/chat_client.c, compiled once into bench/out/ (the receivers: C, so that the
    client does not measure itself)."""
    src = os.path.join(HERE, "chat_client.c")
    out = os.path.join(ROOT, "bench", "out", "chat_client")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(src):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        subprocess.run([os.environ.get("CC", "cc"), "-O2", "-Wall", "-o", out, src], check=True)
    return out


def percentile_hist(hist, p):
    total = sum(hist)
    if total == 0:
        return None
    want = total * p / 100.0
    acc = 0
    for ms, k in enumerate(hist):
        acc += k
        if acc >= want:
            return ms
    return len(hist) - 1


def run(a, tick_ms, client):
    work = tempfile.mkdtemp(prefix="cc-bench-chat-")
    redis = cc.RedisServer(work, extra=["--maxclients", "1000"])
    port = common.free_ports(1)[0]
    log = open(os.path.join(work, "overlay.log"), "wb")
    total = a.viewers + a.senders
    ov = subprocess.Popen([a.overlay_bin, "--redis", redis.url, "--http-port", str(port), "--bind", "127.0.0.1",
                           "--viewer-secret", "bench-secret-0123456789", "--max-connections", str(total + 100),
                           "--max-conns-per-addr", str(total + 100), "--ping-interval-s", "300",
                           "--chat-tick-ms", str(tick_ms), "--chat-rate", "1000", "--msg-rate", "100000",
                           "--log-level", "warn"] + a.overlay_args.split(), stdout=log, stderr=subprocess.STDOUT)
    stop = threading.Event()

    def fake_live():
        c = redis.client()
        c.call("SADD", "cc:streams", STREAM)
        start = int(time.time() * 1000) - 10000
        while not stop.is_set():
            now = int(time.time() * 1000)
            c.call("HSET", "cc:{stream:%s}:live" % STREAM, "pdt_ms", now, "media_ms", now - start, "start_pdt_ms",
                   start, "msn", 1, "part", 0, "part_seq", 1, "updated_ms", now, "live", 1)
            stop.wait(0.2)
        c.close()

    threading.Thread(target=fake_live, daemon=True).start()
    procs = []
    res = {"mode": "batched" if tick_ms > 0 else "unbatched", "tick_ms": tick_ms, "viewers": a.viewers,
           "senders": a.senders, "rate": a.rate, "seconds": a.seconds}
    try:
        if not common.wait_http("http://127.0.0.1:%d/healthz" % port, ov, 10):
            raise SystemExit("the overlay did not start; see %s" % log.name)
        time.sleep(0.5)
        t0 = time.time()
        share = [a.viewers // a.procs + (1 if i < a.viewers % a.procs else 0) for i in range(a.procs)]
        for n in share:
            p = subprocess.Popen([client, str(port), STREAM, str(n), str(a.sample_every)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
            procs.append(p)
        for p in procs:
            line = p.stdout.readline()
            if line.strip() != "ready":
                raise SystemExit("a receiver failed: %r" % line)
        res["connect_s"] = round(time.time() - t0, 1)
        senders = connect(port, a.senders, "sender")
        for s in senders:
            s.sample = True
        deadline = time.time() + 30
        while not all(s.hello for s in senders) and time.time() < deadline:
            for s in senders:
                read(s, None)
            time.sleep(0.01)
        say("%s: %d viewers and %d senders connected in %.1f s; sending %d msg/s for %d s"
            % (res["mode"], a.viewers, a.senders, res["connect_s"], a.rate, a.seconds))
        cpu0 = common.cpu_ns(ov.pid)
        n_msgs = int(a.rate * a.seconds)
        start = time.time()
        for seq in range(n_msgs):
            due = start + seq / a.rate
            while True:
                for s in senders:
                    read(s, None)  # senders are viewers too: drain what they get
                left = due - time.time()
                if left <= 0:
                    break
                time.sleep(min(left, 0.002))
            s = senders[seq % a.senders]
            body = b'{"type":"chat","text":"b %d %d"}' % (seq, int(time.time() * 1000))
            s.sock.send(client_frame(body))
        send_s = time.time() - start
        for p in procs:
            p.stdin.write("stop 3\n")
            p.stdin.flush()
        end = time.time() + 3.0
        while time.time() < end:
            for s in senders:
                read(s, None)
            time.sleep(0.01)
        results = [json.loads(p.stdout.readline()) for p in procs]
        res["overlay_cpu_s"] = round((common.cpu_ns(ov.pid) - cpu0) / 1e9, 2)
        res["overlay_cpu_pct"] = round(100 * res["overlay_cpu_s"] / (send_s + 3.0), 1)
        msgs = [m for r in results for m in r["msgs"]]
        frames_total = sum(r["frames"] for r in results)
        hist = [0] * HIST_MAX_MS
        for r in results:
            for ms, k in r["hist"]:
                hist[ms] += k
        res["sent"] = n_msgs
        res["send_s"] = round(send_s, 2)
        res["viewers_with_every_message"] = sum(1 for m in msgs if m == n_msgs)
        res["viewers_missing_some"] = sum(1 for m in msgs if m < n_msgs)
        res["min_received"] = min(msgs) if msgs else 0
        res["closed_viewers"] = sum(r["closed"] for r in results)
        res["frames_per_client_per_s"] = round(frames_total / a.viewers / send_s, 1)
        res["latency_ms"] = {"p50": percentile_hist(hist, 50), "p90": percentile_hist(hist, 90),
                             "p99": percentile_hist(hist, 99), "max": max((i for i, k in enumerate(hist) if k), default=None),
                             "samples": sum(hist)}
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            m = r.read().decode()
        res["dropped_slow_clients"] = cc.metric_value(m, "cartcast_overlay_dropped_slow_clients_total")
        res["chat_frames_total"] = cc.metric_value(m, "cartcast_overlay_chat_frames_total")
        with open("/proc/loadavg") as f:
            res["loadavg"] = f.read().split()[:3]
        res["verdict"] = {"every_viewer_every_message": res["viewers_missing_some"] == 0 and res["closed_viewers"] == 0,
                          "p99_under_250ms": res["latency_ms"]["p99"] is not None and res["latency_ms"]["p99"] < 250}
        say("%s: %d/%d viewers got all %d messages; %.1f frames per client per s; p50 %s ms, p99 %s ms, max %s ms; "
            "overlay CPU %.0f%%; slow clients dropped %s"
            % (res["mode"], res["viewers_with_every_message"], a.viewers, n_msgs, res["frames_per_client_per_s"],
               res["latency_ms"]["p50"], res["latency_ms"]["p99"], res["latency_ms"]["max"], res["overlay_cpu_pct"],
               res["dropped_slow_clients"]))
        for s in senders:
            s.sock.close()
        return res
    finally:
        stop.set()
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        common.stop_proc(ov, 30)
        redis.stop()
        log.close()
        if not a.keep:
            import shutil
            shutil.rmtree(work, ignore_errors=True)
        else:
            say("kept %s" % work)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--viewers", type=int, default=5000)
    ap.add_argument("--senders", type=int, default=20, help="extra connections that send (they receive too)")
    ap.add_argument("--rate", type=float, default=100.0, help="messages per second, in all")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--procs", type=int, default=1, help="receiver processes (bench/chat_client.c)")
    ap.add_argument("--sample-every", type=int, default=10, help="latency from every Nth viewer (all are counted)")
    ap.add_argument("--modes", default="batched,unbatched", help="batched (--chat-tick-ms 100), unbatched (0)")
    ap.add_argument("--overlay-bin", default=os.path.join(ROOT, "build", "cartcast-overlay"))
    ap.add_argument("--overlay-args", default="", help="more cartcast-overlay flags, e.g. \"--sndbuf-kb 256\"")
    ap.add_argument("--json", help="write the results here too")
    ap.add_argument("--keep", action="store_true", help="keep the temp dirs (logs)")
    a = ap.parse_args()
    want = a.viewers * 2 + a.senders * 2 + 2000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard) if hard != resource.RLIM_INFINITY else hard))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < a.viewers + a.senders + 1000:
        raise SystemExit("open-files limit too low for %d connections (raise the hard limit)" % (a.viewers + a.senders))
    client = build_client()
    out = []
    for mode in a.modes.split(","):
        out.append(run(a, 100 if mode == "batched" else 0, client))
    print(json.dumps(out, indent=2))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()

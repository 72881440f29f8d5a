#!/usr/bin/env python3
"""Memory per idle RTMP publisher connection: cartcast-origin and nginx-rtmp.

For each server and each stage, a fresh server is started on free loopback ports,
a few connections are opened and closed to warm it up, its RSS is read
(/proc/PID/status VmRSS; nginx: the worker, which holds the connections), N
connections are opened and taken to the stage, then left idle, and RSS is read again:

    KiB per idle connection = (RSS with N idle connections - RSS before) / N

Stages (each on a fresh server, so memory freed by one batch cannot hide the next):
    handshake  C0+C1 (1537 bytes, random), read S0 S1 S2 (3073), send C2 (1536), then idle
    publish    the handshake, then connect, createStream and publish (as an encoder does,
               each answered by the server before the next), then idle: no metadata, no frames,
               so no media buffers count

The whole measurement of a stage is timed and compared with the server closing idle
connections: every connection is checked to be still open when RSS is read, and
--probe-timeout S keeps a few idle connections per stage open up to S seconds to report
when (if ever) the server drops them.

    bench/idle_conn_mem.py                    # 500 connections, both stages, both servers
    bench/idle_conn_mem.py --conns 1000 --stage publish
    bench/idle_conn_mem.py --only nginx --probe-timeout 40

Everything runs on 127.0.0.1; every process started is stopped on exit.
Exit status: 0 ok, 1 a check failed, 2 bad usage.
"""
import argparse
import os
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no bench/__pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (NGINX_MODULE, ROOT, free_ports, origin_port_args, proc_status, sayer, stop_proc,  # noqa: E402
                    wait_http)

IO_TIMEOUT = 5.0
say = sayer("idle_conn_mem")


# ------------------------------------------------------------------ AMF0

def amf_encode(v):
    if v is None:
        return b"\x05"
    if isinstance(v, bool):
        return b"\x01" + (b"\x01" if v else b"\x00")
    if isinstance(v, (int, float)):
        return b"\x00" + struct.pack(">d", float(v))
    if isinstance(v, str):
        b = v.encode()
        return b"\x02" + struct.pack(">H", len(b)) + b
    if isinstance(v, dict):
        out = b"\x03"
        for k, x in v.items():
            kb = k.encode()
            out += struct.pack(">H", len(kb)) + kb + amf_encode(x)
        return out + b"\x00\x00\x09"
    raise TypeError(type(v))


def amf_decode_all(p):
    vals, i = [], 0

    def one(i):
        t = p[i]
        i += 1
        if t == 0:
            return struct.unpack(">d", p[i:i + 8])[0], i + 8
        if t == 1:
            return p[i] != 0, i + 1
        if t == 2:
            n = struct.unpack(">H", p[i:i + 2])[0]
            return p[i + 2:i + 2 + n].decode(errors="replace"), i + 2 + n
        if t in (3, 8):
            if t == 8:
                i += 4
            d = {}
            while True:
                n = struct.unpack(">H", p[i:i + 2])[0]
                i += 2
                if n == 0 and p[i] == 9:
                    return d, i + 1
                k = p[i:i + n].decode(errors="replace")
                d[k], i = one(i + n)
        if t in (5, 6):
            return None, i
        raise ValueError("AMF0 type %d" % t)

    try:
        while i < len(p):
            v, i = one(i)
            vals.append(v)
    except (ValueError, IndexError, struct.error):
        pass
    return vals


# ------------------------------------------------------------------ a minimal RTMP publisher

class RtmpConn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.port = port
        self.rbuf = b""
        self.in_chunk = 128
        self.cs = {}

    def recvn(self, n):
        while len(self.rbuf) < n:
            # Ack at once: with delayed ACKs, a server that writes a reply in several
            # small segments (Nagle) would stall each step for 40 ms.
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            b = self.sock.recv(65536)
            if not b:
                raise ConnectionError("server closed the connection")
            self.rbuf += b
        out, self.rbuf = self.rbuf[:n], self.rbuf[n:]
        return out

    def handshake(self):
        c1 = struct.pack(">II", int(time.time() * 1000) & 0xFFFFFFFF, 0) + os.urandom(1528)
        self.sock.sendall(b"\x03" + c1)
        s = self.recvn(3073)
        if s[0] != 3:
            raise ConnectionError("S0 is %d" % s[0])
        self.sock.sendall(s[1:1537])  # C2 echoes S1

    def send_msg(self, mtype, msid, payload, csid=3):
        out = bytes([csid]) + struct.pack(">I", 0)[1:] + struct.pack(">I", len(payload))[1:] + bytes([mtype]) \
            + struct.pack("<I", msid)
        for off in range(0, len(payload), 128):
            if off:
                out += bytes([0xC0 | csid])
            out += payload[off:off + 128]
        self.sock.sendall(out)

    def command(self, msid, *vals):
        self.send_msg(20, msid, b"".join(amf_encode(v) for v in vals))

    def read_msg(self):
        while True:
            b = self.recvn(1)[0]
            fmt, csid = b >> 6, b & 0x3F
            if csid == 0:
                csid = 64 + self.recvn(1)[0]
            elif csid == 1:
                x = self.recvn(2)
                csid = 64 + x[0] + 256 * x[1]
            st = self.cs.setdefault(csid, {"len": 0, "type": 0, "msid": 0, "ext": False, "buf": b""})
            if fmt <= 2:
                ts = int.from_bytes(self.recvn(3), "big")
                st["ext"] = ts == 0xFFFFFF
            if fmt <= 1:
                st["len"] = int.from_bytes(self.recvn(3), "big")
                st["type"] = self.recvn(1)[0]
            if fmt == 0:
                st["msid"] = struct.unpack("<I", self.recvn(4))[0]
            if st["ext"]:
                self.recvn(4)
            need = min(self.in_chunk, st["len"] - len(st["buf"]))
            st["buf"] += self.recvn(need)
            if len(st["buf"]) >= st["len"]:
                p, st["buf"] = st["buf"], b""
                if st["type"] == 1 and len(p) >= 4:
                    self.in_chunk = struct.unpack(">I", p[:4])[0] & 0x7FFFFFFF
                return st["type"], st["msid"], p

    def wait_command(self, want):
        """Reads messages until an AMF0 command satisfying want(vals) arrives."""
        while True:
            mtype, _, p = self.read_msg()
            if mtype == 20:
                vals = amf_decode_all(p)
                r = want(vals)
                if r is not None:
                    return r

    def publish(self, key):
        tc = "rtmp://127.0.0.1:%d/live" % self.port
        self.command(0, "connect", 1, {"app": "live", "type": "nonprivate",
                                       "flashVer": "FMLE/3.0 (compatible; FMSc/1.0)", "tcUrl": tc})

        def result(txn):
            def f(v):
                if len(v) >= 2 and v[0] in ("_result", "_error") and v[1] == txn:
                    if v[0] == "_error":
                        raise ConnectionError("%s refused: %r" % (txn, v[3:]))
                    return v
            return f
        self.wait_command(result(1))
        self.command(0, "createStream", 2, None)
        v = self.wait_command(result(2))
        msid = int(v[3]) if len(v) > 3 and isinstance(v[3], float) else 1
        self.command(msid, "publish", 3, None, key, "live")

        def status(v):
            if v and v[0] == "onStatus":
                info = next((x for x in v if isinstance(x, dict)), {})
                code = info.get("code", "")
                if code == "NetStream.Publish.Start":
                    return code
                if info.get("level") == "error" or "Publish" in code:
                    raise ConnectionError("publish refused: %s" % code)
        self.wait_command(status)

    def still_open(self):
        """True unless the server has closed (or reset) the connection."""
        self.sock.setblocking(False)
        try:
            b = self.sock.recv(65536, socket.MSG_PEEK)
            return len(b) > 0  # data (a ping, an ack) means open
        except BlockingIOError:
            return True
        except OSError:
            return False
        finally:
            self.sock.setblocking(True)
            self.sock.settimeout(IO_TIMEOUT)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ------------------------------------------------------------------ servers

class Server:
    def __init__(self, workdir, log_name):
        self.workdir = workdir
        self.log_path = os.path.join(workdir, log_name)
        self.proc = None

    def stop(self):
        stop_proc(self.proc)

    def log_tail(self, n=15):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


class Origin(Server):
    label = "cartcast"

    def __init__(self, workdir, binary, nkeys):
        super().__init__(workdir, "cartcast.log")
        self.rtmp_port, self.http_port = free_ports(2)
        salt = os.urandom(4).hex()
        self.keys = ["k%s-%d" % (salt, i) for i in range(nkeys)]
        args = [binary, "--rtmp-port", str(self.rtmp_port), "--http-port", str(self.http_port), "--bind", "127.0.0.1"]
        args += origin_port_args(binary)
        for i, k in enumerate(self.keys):
            args += ["--stream-key", "s%d=%s" % (i, k)]
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        if not wait_http("http://127.0.0.1:%d/healthz" % self.http_port, self.proc):
            raise RuntimeError("cartcast-origin did not start:\n" + self.log_tail())

    def mem_pid(self):
        return self.proc.pid

    def key(self, i):
        return self.keys[i]

    def warnings(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return [l.rstrip() for l in f if "level=warn" in l or "level=error" in l]
        except OSError:
            return []


class Nginx(Server):
    label = "nginx-rtmp"

    def __init__(self, workdir, nconns):
        super().__init__(workdir, "nginx-error.log")
        self.rtmp_port, self.http_port = free_ports(2)
        d = os.path.join(workdir, "nginx")
        os.makedirs(os.path.join(d, "logs"), exist_ok=True)
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write("""load_module {mod};
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile {nofile};
pid {d}/nginx.pid;
error_log {log} notice;
events {{ worker_connections {wc}; }}
rtmp {{
    server {{
        listen 127.0.0.1:{rtmp};
        application live {{ live on; }}
    }}
}}
http {{
    access_log off;
    client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
    server {{ listen 127.0.0.1:{http}; location /stat {{ rtmp_stat all; }} }}
}}
""".format(mod=NGINX_MODULE, d=d, log=self.log_path, wc=nconns + 256, nofile=2 * nconns + 512,
           rtmp=self.rtmp_port, http=self.http_port))
        self.out = open(os.path.join(d, "stdout.log"), "wb")
        self.proc = subprocess.Popen(["nginx", "-p", d + "/", "-e", self.log_path, "-c", conf],
                                     stdout=self.out, stderr=subprocess.STDOUT)
        if not wait_http("http://127.0.0.1:%d/stat" % self.http_port, self.proc):
            raise RuntimeError("nginx did not start:\n" + self.log_tail())
        self._worker = None

    def mem_pid(self):
        if self._worker is None:
            with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                kids = [int(x) for x in f.read().split()]
            if len(kids) != 1:
                raise RuntimeError("expected one nginx worker, found %r" % kids)
            self._worker = kids[0]
        return self._worker

    def key(self, i):
        return "s%d" % i

    def warnings(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return [l.rstrip() for l in f if any(w in l for w in ("[error]", "[crit]", "[alert]", "[emerg]"))]
        except OSError:
            return []


# ------------------------------------------------------------------ measuring

WARM = 8


def open_conn(server, stage, i):
    c = RtmpConn(server.rtmp_port)
    try:
        c.handshake()
        if stage == "publish":
            c.publish(server.key(i))
    except BaseException:
        c.close()
        raise
    return c


def measure(server, stage, n, settle):
    pid = server.mem_pid()
    # Warm-up: code pages, first allocations, malloc arenas; the keys after n are for it.
    warm = [open_conn(server, stage, n + i) for i in range(WARM)]
    for c in warm:
        c.close()
    time.sleep(settle)
    before = proc_status(pid)
    t0 = time.time()
    conns = []
    try:
        for i in range(n):
            conns.append(open_conn(server, stage, i))
        t_open = time.time() - t0
        time.sleep(settle)
        during = proc_status(pid)
        t_measured = time.time() - t0
        open_now = sum(1 for c in conns if c.still_open())
    finally:
        for c in conns:
            c.close()
    time.sleep(settle)
    after = proc_status(pid)
    if server.proc.poll() is not None:
        raise RuntimeError("%s exited during the measurement:\n%s" % (server.label, server.log_tail()))
    return {
        "server": server.label, "stage": stage, "n": n,
        "rss_before": before["VmRSS"], "rss_during": during["VmRSS"], "rss_after_close": after["VmRSS"],
        "per_conn_kib": (during["VmRSS"] - before["VmRSS"]) / n,
        "anon_per_conn_kib": (during.get("RssAnon", 0) - before.get("RssAnon", 0)) / n,
        "open_s": t_open, "measured_at_s": t_measured, "still_open": open_now,
    }


def probe_timeout(server, stage, seconds, count=3):
    """Opens count idle connections at stage; returns seconds until the server closed each (None: never)."""
    base = len(getattr(server, "keys", [])) - count if isinstance(server, Origin) else 100000
    conns = [open_conn(server, stage, base + i) for i in range(count)]
    t0 = time.time()
    closed = [None] * count
    while time.time() - t0 < seconds and None in closed:
        for i, c in enumerate(conns):
            if closed[i] is None and not c.still_open():
                closed[i] = time.time() - t0
        time.sleep(0.2)
    for c in conns:
        c.close()
    return closed


def main():
    ap = argparse.ArgumentParser(description="Memory per idle RTMP publisher connection, cartcast vs nginx-rtmp.")
    ap.add_argument("--conns", type=int, default=500, help="idle connections per measurement (default 500)")
    ap.add_argument("--stage", choices=("handshake", "publish", "all"), default="all")
    ap.add_argument("--only", choices=("nginx", "cartcast", "both"), default="both")
    ap.add_argument("--origin-bin", default=os.path.join(ROOT, "build", "cartcast-origin"))
    ap.add_argument("--settle", type=float, default=1.0, help="seconds to wait before each RSS reading (default 1)")
    ap.add_argument("--probe-timeout", type=float, default=0, metavar="S",
                    help="also keep 3 idle connections per stage up to S seconds and report when the server drops them")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir with configs and logs")
    a = ap.parse_args()
    if not 1 <= a.conns <= 5000:
        ap.error("--conns must be 1..5000")
    if not 0 <= a.probe_timeout <= 300:
        ap.error("--probe-timeout must be 0..300")
    servers = ["nginx", "cartcast"] if a.only == "both" else [a.only]
    stages = ["handshake", "publish"] if a.stage == "all" else [a.stage]

    if "nginx" in servers and (shutil.which("nginx") is None or not os.path.exists(NGINX_MODULE)):
        say("installing the anchor (nginx + libnginx-mod-rtmp)")
        subprocess.run([os.path.join(ROOT, "scripts", "deps.sh"), "bench"], check=True)
    if "cartcast" in servers and not os.access(a.origin_bin, os.X_OK):
        say("no cartcast-origin at %s: build it, pass --origin-bin, or use --only nginx" % a.origin_bin)
        return 1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * a.conns + 256
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            say("the open-files limit (%d) is too low for --conns %d" % (hard, a.conns))
            return 1
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))

    workdir = tempfile.mkdtemp(prefix="cc-bench-idle.")
    results, probes, failed = [], [], False
    live = []

    def on_signal(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    try:
        for stage in stages:
            for which in servers:
                srv = Origin(workdir, a.origin_bin, a.conns + WARM + 3) if which == "cartcast" else Nginx(workdir, a.conns)
                live.append(srv)
                try:
                    r = measure(srv, stage, a.conns, a.settle)
                    r["warnings"] = srv.warnings()
                    results.append(r)
                    say("%-10s %-9s %5d conns: %.2f KiB/conn (RSS %d -> %d KiB, %d after closing), "
                        "opened in %.1f s, read at %.1f s, %d/%d still open" % (
                            r["server"], stage, r["n"], r["per_conn_kib"], r["rss_before"], r["rss_during"],
                            r["rss_after_close"], r["open_s"], r["measured_at_s"], r["still_open"], r["n"]))
                    if r["still_open"] != r["n"]:
                        failed = True
                        say("  %s closed %d connections before the reading: the figure is not valid" % (
                            r["server"], r["n"] - r["still_open"]))
                    if a.probe_timeout:
                        closed = probe_timeout(srv, stage, a.probe_timeout)
                        probes.append((srv.label, stage, closed))
                except (OSError, ConnectionError, RuntimeError) as e:
                    failed = True
                    say("%s %s: %s" % (which, stage, e))
                    say("its log:\n" + srv.log_tail())
                finally:
                    srv.stop()
                    live.remove(srv)
    except KeyboardInterrupt:
        say("interrupted")
        failed = True
    finally:
        for srv in live:
            srv.stop()
        if a.keep or failed:
            say("logs and configs kept in " + workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    if results:
        print()
        print("Memory per idle RTMP connection (VmRSS; nginx: its one worker), %d connections" % a.conns)
        print("%-11s %-10s %10s %10s %12s %12s %9s %s" % (
            "server", "stage", "rss_before", "rss_idle", "KiB/conn", "anon KiB/c", "read_at_s", "open"))
        for r in results:
            print("%-11s %-10s %10d %10d %12.2f %12.2f %9.1f %d/%d" % (
                r["server"], r["stage"], r["rss_before"], r["rss_during"], r["per_conn_kib"],
                r["anon_per_conn_kib"], r["measured_at_s"], r["still_open"], r["n"]))
        for stage in stages:
            by = {r["server"]: r for r in results if r["stage"] == stage}
            if "cartcast" in by and "nginx-rtmp" in by and by["nginx-rtmp"]["per_conn_kib"] > 0:
                print("ratio cartcast/nginx-rtmp, %s: %.2f" % (
                    stage, by["cartcast"]["per_conn_kib"] / by["nginx-rtmp"]["per_conn_kib"]))
            if "cartcast" in by:
                print("cartcast %s: %.1f KiB per idle connection, target < 64 KiB: %s" % (
                    stage, by["cartcast"]["per_conn_kib"], "met" if by["cartcast"]["per_conn_kib"] < 64 else "NOT met"))
        for r in results:
            if r["warnings"]:
                print("%s %s: %d warning/error log lines, first: %s" % (
                    r["server"], r["stage"], len(r["warnings"]), r["warnings"][0][:200]))
        print("RESULT " + " ".join("%s_%s_kib_per_conn=%.2f" % (r["server"].replace("-", "_"), r["stage"],
                                                                 r["per_conn_kib"]) for r in results))
    for label, stage, closed in probes:
        txt = ", ".join("never" if c is None else "%.1f s" % c for c in closed)
        print("idle timeout probe, %s %s (up to %g s): closed after %s" % (label, stage, a.probe_timeout, txt))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

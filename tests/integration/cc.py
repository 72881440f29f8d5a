"""Shared helpers for cartcast's integration tests: real binaries, real peers.

Every test starts its own daemons on free loopback ports and kills them at the
end, so tests can run in parallel and never touch a developer's running stack.
"""
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

BUILD = os.environ.get("CC_BUILD_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", "build")
SAMPLE_KEY = "k3y-for-tests-0001"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5):
    """(status, headers, body bytes) for any status, raising only on connection errors.
    HTTPS is not verified: tests use self-signed certificates."""
    req = urllib.request.Request(url)
    ctx = ssl._create_unverified_context() if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class Daemon:
    """A cartcast binary under test, with its log captured to a file."""

    def __init__(self, name, args, http_port, workdir, scheme="http"):
        self.name = name
        self.http_port = http_port
        self.scheme = scheme
        self.log_path = os.path.join(workdir, name + ".log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([os.path.join(BUILD, name)] + args, stdout=self.log, stderr=subprocess.STDOUT)
        self.wait_healthy()

    def url(self, path):
        return "%s://127.0.0.1:%d%s" % (self.scheme, self.http_port, path)

    def wait_healthy(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("%s exited with %s:\n%s" % (self.name, self.proc.returncode, self.read_log()))
            try:
                if http_get(self.url("/healthz"), timeout=1)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("%s did not answer /healthz in %ss:\n%s" % (self.name, timeout, self.read_log()))

    def get_json(self, path):
        status, _, body = http_get(self.url(path))
        assert status == 200, (path, status, body)
        return json.loads(body)

    def read_log(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        """SIGTERM and wait: a clean exit code is part of every test (ASan reports at exit)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("%s did not exit on SIGTERM:\n%s" % (self.name, self.read_log()))
        self.log.close()
        return self.proc.returncode


class Origin(Daemon):
    def __init__(self, workdir, keys, extra=()):
        self.rtmp_port = free_port()
        self.srt_port = free_port()  # every origin listens for SRT too: never share the default 9000
        http_port = free_port()
        args = ["--http-port", str(http_port), "--rtmp-port", str(self.rtmp_port), "--srt-port", str(self.srt_port),
                "--bind", "127.0.0.1"]
        for name, key in keys.items():
            args += ["--stream-key", "%s=%s" % (name, key)]
        super().__init__("cartcast-origin", args + list(extra), http_port, workdir)

    def rtmp_url(self, key):
        return "rtmp://127.0.0.1:%d/live/%s" % (self.rtmp_port, key)

    def streams(self):
        return {s["name"]: s for s in self.get_json("/v1/streams")["streams"]}

    def metrics(self):
        return http_get(self.url("/metrics"))[2].decode()


class Edge(Daemon):
    """cartcast-edge pulling from origins (URLs, failover order); docs/edge.md.
    Each edge logs into its own subdirectory of workdir, so several can run."""

    def __init__(self, workdir, origins, extra=()):
        http_port = free_port()
        args = ["--http-port", str(http_port), "--bind", "127.0.0.1"]
        for o in origins:
            args += ["--origin", o]
        logdir = os.path.join(workdir, "edge-%d" % http_port)
        os.makedirs(logdir, exist_ok=True)
        super().__init__("cartcast-edge", args + list(extra), http_port, logdir)

    def metrics(self):
        return http_get(self.url("/metrics"))[2].decode()

    def metric(self, name, labels=None):
        """A sample's value from /metrics (0.0 when absent); labels: dict that must match."""
        return metric_value(self.metrics(), name, labels)


def metric_value(text, name, labels=None):
    """Sums the Prometheus text samples of `name` whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        base, _, lab = key.partition("{")
        if base != name:
            continue
        have = dict(p.split("=", 1) for p in lab.rstrip("}").split(",") if "=" in p)
        have = {k: v.strip('"') for k, v in have.items()}
        if labels and any(have.get(k) != str(v) for k, v in labels.items()):
            continue
        total += float(value)
    return total


def ffmpeg_publish(url, seconds=5, size="640x360", rate=30, realtime=True, log=None):
    """A real encoder: x264 veryfast, 1 s GOP, AAC, over RTMP (FLV)."""
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin"]
    if realtime:
        args += ["-re"]
    args += ["-f", "lavfi", "-i", "testsrc2=size=%s:rate=%d" % (size, rate),
             "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
             "-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
             "-g", str(rate), "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", "-ac", "2",
             "-f", "flv", url]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log or subprocess.PIPE)


def wait_for(pred, timeout, what, interval=0.1):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s (last: %r)" % (timeout, what, last))


class TestCase(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cc-it-")
        self.daemons = []
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            for pipe in (p.stdout, p.stderr):
                if pipe:
                    pipe.close()
        failures = []
        for d in self.daemons:
            rc = d.stop()
            if rc != 0:
                failures.append("%s exited with %d:\n%s" % (d.name, rc, d.read_log()[-4000:]))
        shutil.rmtree(self.workdir, ignore_errors=True)
        if failures:
            self.fail("\n".join(failures))

    def origin(self, keys, extra=()):
        d = Origin(self.workdir, keys, extra)
        self.daemons.append(d)
        return d

    def spawn(self, proc):
        self.procs.append(proc)
        return proc

    def edge(self, origins, extra=()):
        """A cartcast-edge following origins (Origin objects or URLs), stopped at tearDown."""
        urls = [o if isinstance(o, str) else o.url("") for o in origins]
        d = Edge(self.workdir, urls, extra)
        self.daemons.append(d)
        return d


def main():
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[1:])


# ---------------------------------------------------------------------------
# LL-HLS and browser helpers (test_llhls_origin.py, bench/latency.py).

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
HLS_PLAYER = os.path.join(ROOT, "tests", "integration", "hls_player.mjs")


def origin_help():
    """cartcast-origin --help text ('' if the binary is missing)."""
    try:
        return subprocess.run([os.path.join(BUILD, "cartcast-origin"), "--help"], capture_output=True,
                              text=True, timeout=10).stdout
    except OSError:
        return ""


def origin_has_flag(flag):
    return (" %s " % flag) in origin_help().replace("\n", " ")


class StaticServer:
    """A directory over HTTP on a free loopback port, with CORS and no caching
    (what an ordinary HLS deployment on a static server looks like to hls.js)."""

    def __init__(self, root):
        import functools
        import http.server
        import threading

        class Handler(http.server.SimpleHTTPRequestHandler):
            extensions_map = dict(http.server.SimpleHTTPRequestHandler.extensions_map,
                                  **{".m3u8": "application/vnd.apple.mpegurl", ".m4s": "video/iso.segment",
                                     ".mp4": "video/mp4"})

            def end_headers(self):
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Cache-Control", "no-cache")
                super().end_headers()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     functools.partial(Handler, directory=root))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d/%s" % (self.port, path.lstrip("/"))

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def ffmpeg_hls(outdir, seconds=20, size="640x360", rate=30, hls_time=1, list_size=6, log=None):
    """ffmpeg's own HLS muxer (ordinary HLS, fMP4, PDT on every segment) writing
    outdir/index.m3u8 from the same kind of source as ffmpeg_publish."""
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
            "-f", "lavfi", "-i", "testsrc2=size=%s:rate=%d" % (size, rate),
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
            "-g", str(rate), "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", "-ac", "2",
            "-f", "hls", "-hls_time", str(hls_time), "-hls_list_size", str(list_size),
            "-hls_segment_type", "fmp4", "-hls_flags", "delete_segments+program_date_time",
            os.path.join(outdir, "index.m3u8")]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log or subprocess.PIPE)


def hls_player_cmd(url, seconds, warmup=2, config=None, out=None, screenshot=None, resync=False):
    args = ["node", HLS_PLAYER, url, "--seconds", str(seconds), "--warmup", str(warmup)]
    if resync:
        args += ["--resync"]
    if config:
        args += ["--config", json.dumps(config)]
    if out:
        args += ["--out", out]
    if screenshot:
        args += ["--screenshot", screenshot]
    return args


def hls_player(url, seconds, warmup=2, config=None, screenshot=None):
    """Plays url with hls.js in headless Chromium; -> (exit code, result dict or None, stderr)."""
    p = subprocess.run(hls_player_cmd(url, seconds, warmup, config, screenshot=screenshot), capture_output=True,
                       text=True, timeout=seconds + 120, cwd=ROOT)
    try:
        res = json.loads(p.stdout)
    except ValueError:
        res = None
    return p.returncode, res, p.stderr


def hls_player_spawn(url, seconds, out, warmup=2, config=None, resync=False):
    """The same in the background: the result lands in the file out."""
    return subprocess.Popen(hls_player_cmd(url, seconds, warmup, config, out=out, resync=resync), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, cwd=ROOT)


def llhls_check(url, seconds=10, **kw):
    """Runs tests/integration/llhls_check.py in-process; returns its Report."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import llhls_check as lc
    return lc.run(url, seconds, **kw)


# ---------------------------------------------------------------------------
# Redis and cartcast-orders helpers (test_orders.py, test_redis_client.py,
# bench/orders.py).  Stdlib only: a tiny RESP2 client instead of redis-py.

class RespError(Exception):
    """An error reply from Redis (-ERR ..., -WRONGTYPE ...)."""


class Resp:
    """A minimal RESP2 client over one socket: call() one command, pipeline()
    many in one write.  Arguments may be str, bytes or int; bulk replies come
    back as bytes, arrays as lists, error replies as RespError (raised by
    call(), returned in place by pipeline())."""

    def __init__(self, port, host="127.0.0.1", timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rf = self.sock.makefile("rb", buffering=1 << 16)

    @staticmethod
    def encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, int):
                a = str(a).encode()
            elif isinstance(a, str):
                a = a.encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def _read(self):
        line = self.rf.readline()
        if not line:
            raise ConnectionError("Redis closed the connection")
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest
        if t == b"-":
            return RespError(rest.decode(errors="replace"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.rf.read(n + 2)
            return data[:-2]
        if t == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self._read() for _ in range(n)]
        raise ConnectionError("bad RESP type %r" % t)

    def call(self, *args):
        self.sock.sendall(self.encode(args))
        r = self._read()
        if isinstance(r, RespError):
            raise r
        return r

    def pipeline(self, cmds, chunk=1000):
        out = []
        for i in range(0, len(cmds), chunk):
            part = cmds[i:i + chunk]
            self.sock.sendall(b"".join(self.encode(c) for c in part))
            out.extend(self._read() for _ in part)
        return out

    def close(self):
        try:
            self.rf.close()
            self.sock.close()
        except OSError:
            pass


def resp_hash(reply):
    """A flat [k1, v1, k2, v2...] reply (HGETALL, a stream entry) as a dict of str."""
    reply = reply or []
    return {reply[i].decode(): reply[i + 1].decode() for i in range(0, len(reply), 2)}


class RedisServer:
    """A real redis-server on a free loopback port, with its data in its own
    directory under the test's temp dir.  aof=True: appendonly yes,
    appendfsync everysec (what ./cartcast up runs); no RDB snapshots."""

    def __init__(self, workdir, aof=False, port=None, extra=()):
        self.port = port or free_port()
        self.dir = os.path.join(workdir, "redis-%d" % self.port)
        os.makedirs(self.dir, exist_ok=True)
        self.aof = aof
        self.extra = list(extra)
        self.log_path = os.path.join(self.dir, "redis.log")
        self.proc = None
        self.start()

    @property
    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def start(self, timeout=20):
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                "--save", "", "--appendonly", "yes" if self.aof else "no", "--appendfsync", "everysec",
                "--daemonize", "no", "--protected-mode", "no", "--logfile", self.log_path] + self.extra
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("redis-server exited with %s:\n%s" % (self.proc.returncode, self.read_log()))
            try:
                c = Resp(self.port, timeout=2)
                try:
                    if c.call("PING") == b"PONG":
                        return
                except RespError:  # LOADING while the AOF is replayed
                    pass
                finally:
                    c.close()
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("redis-server on port %d did not answer PING" % self.port)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """SIGTERM: Redis fsyncs its AOF and exits (a clean restart loses nothing)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self):
        self.stop(signal.SIGKILL)

    def restart(self, down_s=0.0):
        self.stop()
        if down_s:
            time.sleep(down_s)
        self.start()

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def client(self, timeout=10):
        return Resp(self.port, timeout=timeout)

    def call(self, *args):
        c = self.client()
        try:
            return c.call(*args)
        finally:
            c.close()

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""


class Orders(Daemon):
    """build/cartcast-orders on a free HTTP port.  Each instance logs to its own
    file (several run at once).  wait=False: do not wait for /healthz 200
    (Redis may be down on purpose)."""

    _count = 0

    def __init__(self, workdir, redis_url, consumer=None, extra=(), wait=True):
        Orders._count += 1
        self.consumer = consumer or "orders-%d" % Orders._count
        self.killed = False
        self._wait = wait
        sub = os.path.join(workdir, "orders-%d-%s" % (Orders._count, self.consumer))
        os.makedirs(sub, exist_ok=True)
        http_port = free_port()
        args = ["--redis", redis_url, "--http-port", str(http_port), "--bind", "127.0.0.1",
                "--consumer", self.consumer] + list(extra)
        super().__init__("cartcast-orders", args, http_port, sub)

    def wait_healthy(self, timeout=10):
        if self._wait:
            super().wait_healthy(timeout)
        else:
            wait_for(lambda: self._answers(), timeout, "cartcast-orders HTTP")

    def _answers(self):
        if self.proc.poll() is not None:
            raise AssertionError("cartcast-orders exited with %s:\n%s" % (self.proc.returncode, self.read_log()))
        try:
            http_get(self.url("/healthz"), timeout=1)
            return True
        except OSError:
            return False

    def healthz(self):
        status, _, body = http_get(self.url("/healthz"))
        return status, body.decode()

    def metrics(self):
        """Prometheus text as {'name{labels}': value}."""
        out = {}
        for line in http_get(self.url("/metrics"))[2].decode().splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                out[k] = float(v)
        return out

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.killed = True

    def stop(self):
        if self.killed:
            self.log.close()
            return 0
        return super().stop()


def orders_cli(*args, timeout=30):
    """build/cartcast-orders with a subcommand (stock set|add|get ...): CompletedProcess."""
    return subprocess.run([os.path.join(BUILD, "cartcast-orders")] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout)


class RedisTestCase(TestCase):
    """TestCase with redis-server and cartcast-orders helpers; everything it
    starts is stopped in tearDown (orders first, each must exit 0)."""

    def setUp(self):
        super().setUp()
        self.redises = []

    def tearDown(self):
        # Daemons first (while Redis is up), then Redis, then the temp dir.
        for d in self.daemons:
            try:
                d.stop()
            except AssertionError:
                pass  # reported again by TestCase.tearDown
        for r in self.redises:
            r.stop()
        super().tearDown()

    def redis_server(self, aof=False, extra=()):
        r = RedisServer(self.workdir, aof=aof, extra=extra)
        self.redises.append(r)
        return r

    def orders(self, redis, consumer=None, extra=(), wait=True):
        url = redis if isinstance(redis, str) else redis.url
        d = Orders(self.workdir, url, consumer=consumer, extra=extra, wait=wait)
        self.daemons.append(d)
        return d


# ---------------------------------------------------------------------------
# cartcast-overlay (test_overlay_timeline.py; the Node protocol tests use
# tests/integration/overlay_lib.mjs).

class Overlay(Daemon):
    """build/cartcast-overlay on a free port against redis_url, with operator
    tokens {token: "stream[,stream]" or "*"}; logs to its own file."""

    def __init__(self, workdir, redis_url, tokens, origin_url=None, extra=()):
        http_port = free_port()
        args = ["--redis", redis_url, "--http-port", str(http_port), "--bind", "127.0.0.1",
                "--viewer-secret", "test-viewer-secret-0123"]
        for tok, streams in tokens.items():
            args += ["--operator-token", "%s=%s" % (tok, streams)]
        if origin_url:
            args += ["--origin-url", origin_url]
        sub = os.path.join(workdir, "overlay-%d" % http_port)
        os.makedirs(sub, exist_ok=True)
        super().__init__("cartcast-overlay", args + list(extra), http_port, sub)

    def ws_url(self, stream):
        return "ws://127.0.0.1:%d/v1/streams/%s/ws" % (self.http_port, stream)

    def rest(self, method, path, token=None, body=None, headers=None):
        """(status, parsed JSON or None, headers) for any status."""
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(self.url(path), data=data, method=method)
        if token:
            req.add_header("Authorization", "Bearer " + token)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status, hdrs, raw = r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            status, hdrs, raw = e.code, dict(e.headers), e.read()
        try:
            return status, json.loads(raw), hdrs
        except ValueError:
            return status, None, hdrs

    def metric(self, name, labels=None):
        return metric_value(http_get(self.url("/metrics"))[2].decode(), name, labels)

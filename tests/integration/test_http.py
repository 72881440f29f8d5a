#!/usr/bin/env python3
"""Drives tests/integration/http_server_main.c (edge/http.c) over real sockets.

usage: test_http.py PATH/TO/http_test_server

HTTP/1.1 checks use http.client and raw sockets; HTTP/2 over TLS uses curl.
Exits non-zero on the first failure, printing the server's log."""
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

BIG_LEN = 5 * 1024 * 1024


def big_expected():
    # byte i = (i * 7 + i / 65536) & 0xff, built 64 KiB at a time
    out = bytearray()
    block = bytes((i * 7) & 0xff for i in range(65536))
    for k in range(BIG_LEN // 65536):
        base = (k * 65536 * 7 + k) & 0xff
        out += block.translate(bytes((x + base) & 0xff for x in range(256)))
    return bytes(out)


class Server:
    def __init__(self, binary, tmp, args=(), name="plain"):
        self.log_path = os.path.join(tmp, "server-%s.log" % name)
        self.log = open(self.log_path, "w+b")
        env = dict(os.environ, CC_LOG_LEVEL="info")
        self.proc = subprocess.Popen([binary, *args], stdout=subprocess.PIPE, stderr=self.log, env=env)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("PORT "):
            self.dump()
            raise SystemExit("server did not start: %r" % line)
        self.port = int(line.split()[1])

    def dump(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            sys.stderr.write(f.read().decode(errors="replace")[-20000:])

    def stop(self):
        """SIGTERM; the server must exit 0 (loop closed cleanly, no sanitizer report)."""
        if self.proc.poll() is not None:
            raise AssertionError("server died early with %s" % self.proc.returncode)
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("server did not exit after SIGTERM")
        self.log.flush()
        text = open(self.log_path, "rb").read().decode(errors="replace")
        check(rc == 0, "server exit code %s" % rc)
        check("Sanitizer" not in text and "runtime error" not in text, "sanitizer report in server log")
        check("clean exit" in text, "server did not report a clean loop exit")
        return text


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def conn(port, timeout=10):
    return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)


def get(port, path, method="GET", body=None, headers=None):
    c = conn(port)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r, data


def raw_exchange(port, data, timeout=5):
    """Send raw bytes, return everything read until close or timeout."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except socket.timeout:
        pass
    except ConnectionResetError:
        pass
    s.close()
    return out


def stats(port):
    r, data = get(port, "/stats")
    return json.loads(data)


# ---- HTTP/1.1 ---------------------------------------------------------------

def test_text(port):
    r, data = get(port, "/text?name=a%20b%26c+d")
    check(r.status == 200, "status %d" % r.status)
    check(data == b"hello a b&c d\n", "decoded query: %r" % data)
    check(r.getheader("Content-Length") == str(len(data)), "content-length %r" % r.getheader("Content-Length"))
    check(r.getheader("Content-Type") == "text/plain; charset=utf-8", "content-type %r" % r.getheader("Content-Type"))
    check(r.getheader("Access-Control-Allow-Origin") == "*", "CORS header")
    check(r.getheader("X-Test") == "1" and r.getheader("Cache-Control") == "no-cache", "extra headers")


def test_keepalive(port):
    c = conn(port)
    sock = None
    for i in range(5):
        c.request("GET", "/text?name=%d" % i)
        r = c.getresponse()
        data = r.read()
        check(r.status == 200 and data == b"hello %d\n" % i, "keep-alive answer %d: %r" % (i, data))
        check(not r.will_close, "server asked to close a keep-alive connection")
        if sock is None:
            sock = c.sock
        check(c.sock is sock, "http.client had to reconnect: keep-alive not kept")
    # a held answer and a big body on the same connection too
    c.request("GET", "/held?ms=50")
    r = c.getresponse()
    check(r.read() == b"held\n", "held on keep-alive")
    c.request("GET", "/big")
    r = c.getresponse()
    check(len(r.read()) == BIG_LEN, "big on keep-alive")
    c.request("GET", "/text")
    check(c.getresponse().read() == b"hello\n", "after big")
    # answers without a body (HEAD, 204 preflight, 404) keep the connection too
    for method, path, status in (("HEAD", "/big", 200), ("OPTIONS", "/echo", 204), ("GET", "/nope", 404),
                                 ("POST", "/echo", 200), ("GET", "/text", 200)):
        c.request(method, path, body=b"x" if method == "POST" else None)
        r = c.getresponse()
        r.read()
        check(r.status == status, "%s %s on keep-alive: %d" % (method, path, r.status))
    check(c.sock is sock, "reconnected")
    c.close()


def test_pipelined(port):
    req = b"GET /text?name=p1 HTTP/1.1\r\nHost: x\r\n\r\nGET /text?name=p2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    out = raw_exchange(port, req)
    check(out.count(b"HTTP/1.1 200") == 2 and b"hello p1\n" in out and b"hello p2\n" in out,
          "pipelined requests: %r" % out[:300])


def test_held(port):
    t0 = time.monotonic()
    r, data = get(port, "/held")
    dt = time.monotonic() - t0
    check(r.status == 200 and data == b"held\n", "held answer %r" % data)
    check(0.18 <= dt < 1.5, "held answer after %.3f s, want ~0.2" % dt)


def test_many_held(port, n=200):
    results = [None] * n
    barrier = threading.Barrier(n)

    def worker(i):
        try:
            c = conn(port, timeout=20)
            c.connect()
            barrier.wait(timeout=20)
            c.request("GET", "/held?ms=300")
            r = c.getresponse()
            results[i] = (r.status, r.read())
            c.close()
        except Exception as e:  # reported below
            results[i] = e

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    dt = time.monotonic() - t0
    bad = [x for x in results if x != (200, b"held\n")]
    check(not bad, "%d of %d held requests failed, e.g. %r" % (len(bad), n, bad[:3]))
    # 200 x 300 ms one after the other would be 60 s: they must overlap
    check(dt < 10, "%d held requests took %.1f s" % (n, dt))


def test_disconnect_while_held(port):
    before = stats(port)["held_closed"]
    socks = []
    for _ in range(5):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /held?ms=3000 HTTP/1.1\r\nHost: x\r\n\r\n")
        socks.append(s)
    time.sleep(0.3)
    check(stats(port)["held_live"] >= 5, "requests not held")
    for s in socks:
        s.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        st = stats(port)
        if st["held_closed"] >= before + 5:
            break
        time.sleep(0.05)
    check(st["held_closed"] >= before + 5, "on_close did not fire for closed held requests: %r" % st)
    r, data = get(port, "/text")
    check(r.status == 200, "server unhealthy after disconnects")


def test_errors(port):
    r, data = get(port, "/nope")
    check(r.status == 404 and data == b"not found\n", "404: %d %r" % (r.status, data))
    check(r.getheader("Content-Length") == str(len(data)), "404 content-length")
    check(r.getheader("Access-Control-Allow-Origin") == "*", "CORS on 404")
    r, data = get(port, "/textual")  # "/text" must not match as a bare prefix
    check(r.status == 404, "prefix /text matched /textual")
    r, data = get(port, "/echo")
    check(r.status == 405, "405: %d" % r.status)
    check("POST" in (r.getheader("Allow") or ""), "Allow header %r" % r.getheader("Allow"))
    r, data = get(port, "/text", method="DELETE")
    check(r.status == 405, "DELETE /text: %d" % r.status)
    r, data = get(port, "/dir/a/b%20c", method="PUT", body=b"x")
    check(r.status == 200 and data == b"/dir/a/b c", "any-method route under /dir/: %d %r" % (r.status, data))


def test_too_large(port):
    # announced too large: answered without reading the body, then closed
    out = raw_exchange(port, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
    check(out.startswith(b"HTTP/1.1 413"), "413 for a big Content-Length: %r" % out[:100])
    check(b"content-length:" in out.lower(), "413 without content-length")
    # exactly the cap is accepted
    body = os.urandom(64 * 1024)
    r, data = get(port, "/echo", method="POST", body=body, headers={"Content-Type": "application/x-test"})
    check(r.status == 200 and data == body, "64 KiB body: %d, %d bytes" % (r.status, len(data)))
    check(r.getheader("Content-Type") == "application/x-test", "echo content-type")
    # huge request headers: refused or closed, never a crash
    out = raw_exchange(port, b"GET /text HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    check(not out.startswith(b"HTTP/1.1 200"), "20 KB header accepted: %r" % out[:100])
    r, data = get(port, "/text")
    check(r.status == 200, "server unhealthy after huge headers")


def test_post_echo(port):
    for size in (0, 1, 1000, 30000):
        body = os.urandom(size)
        r, data = get(port, "/echo", method="POST", body=body, headers={"Content-Type": "application/octet-stream"})
        check(r.status == 200 and data == body, "echo %d bytes: %d, got %d" % (size, r.status, len(data)))


def test_big(port, expected):
    r, data = get(port, "/big")
    check(r.status == 200, "big status")
    check(r.getheader("Content-Length") == str(BIG_LEN), "big content-length %r" % r.getheader("Content-Length"))
    check(data == expected, "big body differs (%d bytes)" % len(data))


def test_head_options(port):
    r, data = get(port, "/text", method="HEAD")
    check(r.status == 200 and data == b"" and r.getheader("Content-Length") == "6", "HEAD: %r" % r.getheaders())
    r, data = get(port, "/echo", method="OPTIONS",
                  headers={"Origin": "http://shop.example", "Access-Control-Request-Method": "POST",
                           "Access-Control-Request-Headers": "content-type, x-cue"})
    check(r.status == 204, "preflight status %d" % r.status)
    check(r.getheader("Access-Control-Allow-Origin") == "*", "preflight origin")
    check("POST" in (r.getheader("Access-Control-Allow-Methods") or ""), "preflight methods")
    check(r.getheader("Access-Control-Allow-Headers") == "content-type, x-cue", "preflight headers")


def test_request_api(port):
    r, data = get(port, "/header?name=x-cartcast", headers={"X-Cartcast": "v 1"})
    check(r.status == 200 and data == b"v 1", "custom header: %r" % data)
    r, data = get(port, "/header?name=User-Agent", headers={"User-Agent": "test-agent"})
    check(data == b"test-agent", "user-agent: %r" % data)
    r, data = get(port, "/header?name=x-missing")
    check(r.status == 404, "absent header")
    c = conn(port)
    c.connect()
    c.request("GET", "/peer")
    data = c.getresponse().read().decode()
    check(data == "127.0.0.1:%d" % c.sock.getsockname()[1], "peer %r" % data)
    c.close()


def idle_keepalive_client(port, path, out):
    """One request, then idle on the keep-alive connection until the server
    closes it: out gets (what recv returned, seconds idle before that)."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=40)
        s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(4096)
        head, body = buf.split(b"\r\n\r\n", 1)
        clen = int(re.search(rb"content-length: *(\d+)", head, re.I).group(1))
        while len(body) < clen:
            body += s.recv(4096)
        t0 = time.monotonic()
        try:
            extra = s.recv(1)
        except ConnectionResetError:
            extra = b""
        out.append((extra, time.monotonic() - t0))
        s.close()
    except Exception as e:
        out.append((type(e).__name__, None))


def held_client_during_stop(port, out):
    try:
        r, data = get(port, "/held?ms=30000")
        out.append(("answered", r.status))
    except Exception as e:
        out.append(("closed", type(e).__name__))


# ---- TLS / HTTP/2 --------------------------------------------------------------

def curl(*args):
    return subprocess.run(["curl", "-sk", "--max-time", "20", *args], capture_output=True, timeout=30)


def test_tls(binary, tmp, expected):
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                    "-days", "1", "-keyout", key, "-out", cert], check=True, capture_output=True)
    srv = Server(binary, tmp, ("--tls", cert, key), name="tls")
    try:
        base = "https://127.0.0.1:%d" % srv.port
        # long holds: past lws's 5 s transaction timeout (HTTP/1.1) and its
        # 15 s idle timeout of the HTTP/2 network connection
        long_results = {}

        def long_h2():
            t0 = time.monotonic()
            r = curl("--http2", base + "/held?ms=16000")
            long_results["h2"] = (r.stdout, time.monotonic() - t0)

        def long_h1():
            c = http.client.HTTPSConnection("127.0.0.1", srv.port, context=ssl._create_unverified_context(),
                                            timeout=30)
            c.request("GET", "/held?ms=6000")
            long_results["h1"] = c.getresponse().read()
            c.close()

        long_threads = [threading.Thread(target=long_h2), threading.Thread(target=long_h1)]
        for t in long_threads:
            t.start()
        r = curl("--http2", "-o", "/dev/null", "-w", "%{http_version}", base + "/text")
        check(r.stdout == b"2", "curl --http2 negotiated %r" % r.stdout)
        r = curl("--http2", "-i", base + "/text?name=h%202")
        check(r.stdout.startswith(b"HTTP/2 200"), "h2 status: %r" % r.stdout[:60])
        check(b"content-length: 10\r\n" in r.stdout and b"access-control-allow-origin: *\r\n" in r.stdout,
              "h2 headers: %r" % r.stdout)
        check(r.stdout.endswith(b"\r\n\r\nhello h 2\n"), "h2 body: %r" % r.stdout[-30:])
        r = curl("--http2", base + "/big")
        check(hashlib.sha256(r.stdout).digest() == hashlib.sha256(expected).digest(),
              "h2 big body differs (%d bytes)" % len(r.stdout))
        t0 = time.monotonic()
        r = curl("--http2", base + "/held")
        dt = time.monotonic() - t0
        check(r.stdout == b"held\n" and 0.18 <= dt < 2, "h2 held: %r after %.2f s" % (r.stdout, dt))
        r = curl("--http2", "-H", "Content-Type: text/x-h2", "--data-binary", "h2 post body", base + "/echo")
        check(r.stdout == b"h2 post body", "h2 echo: %r" % r.stdout)
        r = curl("--http2", "-o", "/dev/null", "-w", "%{http_code}", base + "/nope")
        check(r.stdout == b"404", "h2 404: %r" % r.stdout)
        r = curl("--http2", "-o", "/dev/null", "-w", "%{http_code}", base + "/echo")
        check(r.stdout == b"405", "h2 405: %r" % r.stdout)
        r = curl("--http2", "-o", "/dev/null", "-w", "%{http_code}", "--data-binary", "@-", base + "/echo")
        check(r.stdout in (b"200",), "h2 empty post: %r" % r.stdout)
        # several streams on one connection, some held, all answered
        urls = []
        for i in range(10):
            urls += [base + "/held?ms=100", base + "/text?name=%d" % i]
        r = curl("--http2", "--parallel", "--parallel-max", "20", *sum((["-o", "/dev/null"] for _ in urls), []),
                 "-w", "%{http_code} %{http_version}\n", *urls)
        lines = r.stdout.decode().split()
        check(lines.count("200") == 20 and lines.count("2") == 20, "h2 parallel streams: %r" % r.stdout)
        # HTTP/1.1 over TLS still works (ALPN fallback)
        ctx = ssl._create_unverified_context()
        c = http.client.HTTPSConnection("127.0.0.1", srv.port, context=ctx, timeout=10)
        c.request("GET", "/big")
        resp = c.getresponse()
        data = resp.read()
        check(resp.status == 200 and data == expected, "https/1.1 big")
        c.request("GET", "/text")
        check(c.getresponse().read() == b"hello\n", "https/1.1 keep-alive")
        c.close()
        # an HTTP/2 client that gives up on a held request: on_close fires
        before = json.loads(curl("--http2", base + "/stats").stdout)["held_closed"]
        curl("--http2", "--max-time", "0.5", base + "/held?ms=10000")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            st = json.loads(curl("--http2", base + "/stats").stdout)
            if st["held_closed"] > before:
                break
            time.sleep(0.1)
        check(st["held_closed"] > before, "h2 stream reset while held: on_close did not fire: %r" % st)
        for t in long_threads:
            t.join(40)
        check(long_results.get("h1") == b"held\n", "https/1.1 held 6 s: %r" % long_results.get("h1"))
        h2 = long_results.get("h2")
        check(h2 is not None and h2[0] == b"held\n" and h2[1] >= 15.9, "h2 held 16 s: %r" % (h2,))
        srv.stop()
    except BaseException:
        srv.dump()
        raise


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    binary = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="cc-http-")
    expected = big_expected()
    srv = Server(binary, tmp)
    # idle keep-alive connections, one after an answer written from lws's
    # writable callback and one after a held answer (written at once): the
    # server closes both after its 15 s idle timeout (checked after the TLS
    # tests, which take longer than that anyway)
    idle = {}
    idle_threads = []
    for name, path in (("immediate", "/text"), ("held", "/held?ms=50")):
        idle[name] = []
        idle_threads.append(threading.Thread(target=idle_keepalive_client, args=(srv.port, path, idle[name])))
        idle_threads[-1].start()
    tests = [test_text, test_keepalive, test_pipelined, test_held, test_many_held, test_disconnect_while_held,
             test_errors, test_too_large, test_post_echo, test_big, test_head_options,
             test_request_api]
    try:
        for t in tests:
            t0 = time.monotonic()
            t(srv.port, expected) if t is test_big else t(srv.port)
            print("ok   %-28s %.2fs" % (t.__name__, time.monotonic() - t0), flush=True)
        if shutil.which("curl") and shutil.which("openssl"):
            test_tls(binary, tmp, expected)
            print("ok   tls_http2", flush=True)
        else:
            raise AssertionError("curl and openssl are needed for the TLS / HTTP/2 checks")
        for t in idle_threads:
            t.join(40)
        for name, got in idle.items():
            check(len(got) == 1 and got[0][0] == b"" and 14 <= got[0][1] <= 20,
                  "idle keep-alive connection (%s) not closed after 15 s: %r" % (name, got))
        print("ok   keepalive_idle_timeout    %.1fs %.1fs" % (idle["immediate"][0][1], idle["held"][0][1]),
              flush=True)
        # stop with a request still held: its on_close runs, the client sees
        # the connection close, the loop exits cleanly
        out = []
        th = threading.Thread(target=held_client_during_stop, args=(srv.port, out))
        th.start()
        time.sleep(0.3)
        log = srv.stop()
        th.join(10)
        check(out and out[0][0] == "closed", "held client during stop: %r" % out)
        check("held_closed=" in log and "event=test.held_closed" in log, "on_close not logged")
        print("ok   stop_with_held_request", flush=True)
    except BaseException:
        if srv.proc.poll() is None:
            srv.proc.kill()
        srv.dump()
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("all HTTP checks passed")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Drives tests/integration/hls_test_server.c (edge/hls.c over edge/http.c).

usage: test_hls_delivery.py PATH/TO/hls_test_server

The server feeds one stream ("shop1") a 200 ms part every 200 ms.  Checks the
blocking playlist reload timing (answered shortly after the part exists, not
before), preload-hinted part holds, 400/404/503, gzip, cache headers, delta
updates, ENDLIST and a freed stream.  Python stdlib only; exits non-zero on
the first failure, printing the server's log."""
import gzip
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

TD = 1
PART_TARGET = 0.2
PARTS_PER_SEG = 5  # hls_test_server.c


def check(cond, what):
    if not cond:
        raise AssertionError(what)


class Server:
    def __init__(self, binary, tmp):
        self.log_path = os.path.join(tmp, "hls-server.log")
        self.log = open(self.log_path, "w+b")
        env = dict(os.environ, CC_LOG_LEVEL=os.environ.get("CC_LOG_LEVEL", "info"))
        self.proc = subprocess.Popen([binary], stdout=subprocess.PIPE, stderr=self.log, env=env)
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
        check(self.proc.poll() is None, "server died early with %s" % self.proc.returncode)
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=20)
        self.log.flush()
        text = open(self.log_path, "rb").read().decode(errors="replace")
        check(rc == 0, "server exit code %s" % rc)
        check("Sanitizer" not in text and "runtime error" not in text, "sanitizer report in server log")
        check("clean exit" in text, "server did not report a clean loop exit")


class Resp:
    def __init__(self, status, headers, body, elapsed):
        self.status, self.headers, self.body, self.elapsed = status, headers, body, elapsed
        self.done = time.monotonic()

    def text(self):
        return self.body.decode()


PORT = None


def get(path, headers=None, timeout=10):
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=timeout)
    t0 = time.monotonic()
    c.request("GET", path, headers=headers or {})
    r = c.getresponse()
    body = r.read()
    elapsed = time.monotonic() - t0
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return Resp(r.status, hdrs, body, elapsed)


def media(query=""):
    return get("/live/shop1/media.m3u8" + ("?" + query if query else ""))


class Playlist:
    """The parts of a media playlist that the checks need."""

    def __init__(self, text):
        self.text = text
        check(text.startswith("#EXTM3U\n"), "not a playlist: %r" % text[:80])
        self.version = int(re.search(r"#EXT-X-VERSION:(\d+)", text).group(1))
        self.media_seq = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text).group(1))
        m = re.search(r"#EXT-X-SKIP:SKIPPED-SEGMENTS=(\d+)", text)
        self.skipped = int(m.group(1)) if m else None
        self.segments = []  # (msn, [part seq...], complete)
        msn = self.media_seq + (self.skipped or 0)
        parts = []
        for line in text.splitlines():
            m = re.match(r'#EXT-X-PART:DURATION=([\d.]+),URI="part(\d+)\.m4s"', line)
            if m:
                check(float(m.group(1)) <= PART_TARGET + 1e-9, "part longer than PART-TARGET")
                parts.append(int(m.group(2)))
            m = re.match(r"seg(\d+)\.m4s$", line)
            if m:
                check(int(m.group(1)) == msn, "segment %s where %d expected" % (m.group(1), msn))
                self.segments.append((msn, parts, True))
                msn += 1
                parts = []
        if parts:
            self.segments.append((msn, parts, False))
        m = re.search(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part(\d+)\.m4s"', text)
        self.hint = int(m.group(1)) if m else None
        self.endlist = "#EXT-X-ENDLIST" in text
        last = self.segments[-1]
        if last[1]:
            self.last_msn, self.last_part, self.last_seq = last[0], len(last[1]) - 1, last[1][-1]
        else:
            self.last_msn, self.last_part, self.last_seq = last[0], None, None
        if self.hint is not None and self.last_seq is not None:
            check(self.hint == self.last_seq + 1, "hint %s is not the next part after %s" % (self.hint, self.last_seq))

    def has_part(self, seq):
        return any(seq in s[1] for s in self.segments)


def fresh():
    r = media()
    check(r.status == 200, "media.m3u8: %d" % r.status)
    return Playlist(r.text())


def in_threads(fns):
    out = [None] * len(fns)

    def run(i, fn):
        try:
            out[i] = fn()
        except Exception as e:  # noqa: BLE001 - reported by the caller
            out[i] = e

    ts = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in ts:
        t.start()
    return ts, out


def join(ts, out):
    for t in ts:
        t.join(30)
    for o in out:
        if isinstance(o, Exception):
            raise o
    return out


# ---- the checks ----


def test_multivariant():
    r = get("/live/shop1/index.m3u8")
    check(r.status == 200, "index: %d" % r.status)
    check(r.headers["content-type"] == "application/vnd.apple.mpegurl", "index content-type")
    check(r.headers["cache-control"] == "no-cache", "index cache-control %r" % r.headers.get("cache-control"))
    check(re.search(r'#EXT-X-STREAM-INF:BANDWIDTH=2000000,AVERAGE-BANDWIDTH=1800000,CODECS="avc1.64001f,mp4a.40.2",'
                    r"RESOLUTION=1280x720,FRAME-RATE=30.000\nmedia.m3u8\n", r.text()), "index body %r" % r.text())


def test_plain_playlist():
    r = media()
    check(r.status == 200, "media: %d" % r.status)
    check(r.headers["content-type"] == "application/vnd.apple.mpegurl", "media content-type")
    check(r.headers["cache-control"] == "max-age=%d" % (TD // 2), "non-blocking cache-control %r" % r.headers["cache-control"])
    check(r.headers.get("vary") == "Accept-Encoding", "vary")
    check("content-encoding" not in r.headers, "gzip without asking")
    pl = Playlist(r.text())
    check(pl.version == 6, "version %d" % pl.version)
    check(pl.hint is not None and not pl.endlist, "live playlist has a hint")
    check("#EXT-X-PROGRAM-DATE-TIME:" in pl.text and "#EXT-X-PART-INF:PART-TARGET=0.200" in pl.text, "tags")
    check(r.elapsed < 0.5, "plain request answered at once (%.3f s)" % r.elapsed)


def test_blocking_next_part():
    for _ in range(5):
        pl = fresh()
        want_msn, want_part = pl.last_msn, pl.last_part + 1
        r = media("_HLS_msn=%d&_HLS_part=%d" % (want_msn, want_part))
        check(r.status == 200, "blocking: %d" % r.status)
        check(r.headers["cache-control"] == "max-age=%d" % (6 * TD), "blocking cache-control %r" % r.headers["cache-control"])
        got = Playlist(r.text())
        # The answer holds the part asked for (or a part 0 of the next segment
        # when want_part was past the end): it was not sent before it existed.
        check(got.has_part(pl.hint), "blocking answer lacks the part it waited for")
        check(r.elapsed < 0.2 + 0.4, "blocking answer came %.3f s late" % r.elapsed)
    # Two parts ahead: at least one whole part interval must pass first.
    pl = fresh()
    # (msn, part) of the part after the hinted one: the server cuts 5 parts a segment
    idx = pl.last_part + 2
    r = media("_HLS_msn=%d&_HLS_part=%d" % (pl.last_msn + idx // PARTS_PER_SEG, idx % PARTS_PER_SEG))
    check(r.status == 200, "blocking +2: %d" % r.status)
    check(r.elapsed >= 0.15, "answered before the part could exist (%.3f s)" % r.elapsed)
    check(r.elapsed < 0.4 + 0.4, "blocking +2 came %.3f s late" % r.elapsed)
    check(Playlist(r.text()).has_part(pl.hint + 1), "blocking +2 answer lacks its part")
    # msn alone: the open segment must complete
    pl = fresh()
    r = media("_HLS_msn=%d" % pl.last_msn)
    check(r.status == 200 and r.elapsed < 1.0 + 0.4, "msn-only: %d in %.3f s" % (r.status, r.elapsed))
    got = Playlist(r.text())
    check(any(s[0] == pl.last_msn and s[2] for s in got.segments), "msn-only answer lacks the complete segment")
    # Already there: at once.
    r = media("_HLS_msn=%d&_HLS_part=0" % pl.media_seq)
    check(r.status == 200 and r.elapsed < 0.25, "old msn answered at once (%.3f s)" % r.elapsed)


def test_preload_hint():
    for _ in range(3):
        pl = fresh()
        r = get("/live/shop1/part%d.m4s" % pl.hint)
        check(r.status == 200, "hinted part: %d" % r.status)
        check(r.body.startswith(b"part %d\n" % pl.hint), "hinted part body %r" % r.body[:20])
        check(len(r.body) == len(b"part %d\n" % pl.hint) + 3000, "whole part at once")
        check(r.elapsed < 0.2 + 0.4, "hinted part came %.3f s late" % r.elapsed)
        check(r.headers["content-type"] == "video/mp4", "part content-type")
        check(r.headers["cache-control"] == "max-age=31536000, immutable", "part cache-control")
    # a published part: at once, same bytes
    pl = fresh()
    r = get("/live/shop1/part%d.m4s" % pl.last_seq)
    check(r.status == 200 and r.elapsed < 0.25 and r.body.startswith(b"part %d\n" % pl.last_seq), "listed part")


def test_concurrent_waiters():
    pl = fresh()
    path = "/live/shop1/media.m3u8?_HLS_msn=%d&_HLS_part=%d" % (pl.last_msn, pl.last_part + 1)
    ts, out = in_threads([lambda: get(path) for _ in range(30)] + [lambda: get("/live/shop1/part%d.m4s" % pl.hint)
                                                                   for _ in range(10)])
    out = join(ts, out)
    bodies = {r.body for r in out[:30]}
    check(all(r.status == 200 for r in out), "all waiters answered 200")
    check(len(bodies) == 1, "one playlist for every waiter (%d different)" % len(bodies))
    check(len({r.body for r in out[30:]}) == 1, "one part for every waiter")


class RawHttp:
    """One keep-alive HTTP/1.1 connection on a non-blocking socket: send a
    GET, then feed() bytes until the response (Content-Length) is whole.
    version "1.0": an HTTP/1.0 request, which the server answers then closes;
    method HEAD: responses have no body.  responses: (status, body, head)."""

    def __init__(self, port, version="1.1", headers="", method="GET"):
        import socket
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setblocking(False)
        self.buf = b""
        self.responses = []
        self.version, self.headers, self.method = version, headers, method
        self.closed = False

    def get(self, path):
        self.sock.sendall(("%s %s HTTP/%s\r\nHost: t\r\n%s\r\n" % (self.method, path, self.version,
                                                                    self.headers)).encode())

    def feed(self):
        try:
            data = self.sock.recv(1 << 16)
        except BlockingIOError:
            return
        if not data and self.version == "1.0" and self.responses:
            self.closed = True  # HTTP/1.0: closed after its answer
            return
        check(data, "a held connection was closed by the server")
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode()
            m = re.search(r"(?im)^content-length:\s*(\d+)", head)
            check(m, "no content-length in %r" % head)
            n = 0 if self.method == "HEAD" else int(m.group(1))
            if len(self.buf) < end + 4 + n:
                return
            status = int(head.split(" ", 2)[1])
            self.responses.append((status, self.buf[end + 4:end + 4 + n], head))
            self.buf = self.buf[end + 4 + n:]


def wait_responses(conns, count, timeout=10):
    import selectors
    sel = selectors.DefaultSelector()
    for c in conns:
        sel.register(c.sock, selectors.EVENT_READ, c)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(len(c.responses) < count for c in conns):
        for key, _ in sel.select(0.1):
            key.data.feed()
            if key.data.closed:
                sel.unregister(key.fileobj)
    sel.close()
    check(all(len(c.responses) >= count for c in conns),
          "%d of %d connections answered" % (sum(len(c.responses) >= count for c in conns), len(conns)))


def test_many_waiters():
    # Enough held requests that the answers to one part are sent over the
    # fan-out threads (edge/http.c flush_staged: slices of 64), on
    # connections that then carry a second request (keep-alive intact).
    pl = fresh()
    lists = [RawHttp(PORT) for _ in range(400)]
    parts = [RawHttp(PORT) for _ in range(200)]
    try:
        for c in lists:
            c.get("/live/shop1/media.m3u8?_HLS_msn=%d&_HLS_part=%d" % (pl.last_msn, pl.last_part + 1))
        for c in parts:
            c.get("/live/shop1/part%d.m4s" % pl.hint)
        wait_responses(lists + parts, 1)
        check(all(c.responses[0][0] == 200 for c in lists + parts), "every held request answered 200")
        check(len({c.responses[0][1] for c in lists}) == 1, "one playlist for every waiter")
        check(Playlist(lists[0].responses[0][1].decode()).has_part(pl.hint), "the playlist has the part waited for")
        check(len({c.responses[0][1] for c in parts}) == 1, "one part for every waiter")
        check(parts[0].responses[0][1].startswith(b"part %d\n" % pl.hint), "the hinted part's bytes")
        # the same connections again: the transactions were finished properly
        nxt = Playlist(lists[0].responses[0][1].decode())
        for c in lists + parts:
            c.get("/live/shop1/media.m3u8?_HLS_msn=%d&_HLS_part=%d" % (nxt.last_msn, nxt.last_part + 1))
        wait_responses(lists + parts, 2)
        check(all(c.responses[1][0] == 200 for c in lists + parts), "second held request on each connection")
        check(len({c.responses[1][1] for c in lists + parts}) == 1, "one playlist for every second waiter")
    finally:
        for c in lists + parts:
            c.sock.close()


def test_many_waiters_mixed():
    # One fan-out answering held requests of different kinds at once: the
    # answers share header blocks only between connections that get the same
    # bytes (edge/http.c stage: same answer, same HTTP version, same method).
    pl = fresh()
    plain = [RawHttp(PORT) for _ in range(150)]
    zipped = [RawHttp(PORT, headers="Accept-Encoding: gzip\r\n") for _ in range(150)]
    old = [RawHttp(PORT, version="1.0") for _ in range(100)]
    heads = [RawHttp(PORT, method="HEAD") for _ in range(50)]
    every = plain + zipped + old + heads
    try:
        for c in every:
            c.get("/live/shop1/media.m3u8?_HLS_msn=%d&_HLS_part=%d" % (pl.last_msn, pl.last_part + 1))
        wait_responses(every, 1)
        check(all(c.responses[0][0] == 200 for c in every), "every held request answered 200")
        text = plain[0].responses[0][1]
        check(Playlist(text.decode()).has_part(pl.hint), "the playlist has the part waited for")
        check(all(c.responses[0][1] == text for c in plain + old), "one plain playlist for HTTP/1.1 and 1.0")
        check(all(gzip.decompress(c.responses[0][1]) == text for c in zipped), "gzip answers are that playlist")
        check(all(re.search(r"(?im)^content-encoding: gzip", c.responses[0][2]) for c in zipped), "gzip header")
        check(not any(re.search(r"(?im)^content-encoding", c.responses[0][2]) for c in plain + old + heads),
              "no content-encoding on plain answers")
        check(all(c.responses[0][2].startswith("HTTP/1.1 200") for c in plain + zipped + heads), "1.1 status lines")
        check(all(c.responses[0][2].startswith("HTTP/1.0 200") for c in old), "HTTP/1.0 answered in 1.0")
        length = "content-length: %d" % len(text)
        check(all(length in c.responses[0][2].lower() and c.responses[0][1] == b"" for c in heads),
              "HEAD: the playlist's length, no body")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not all(c.closed for c in old):
            for c in old:
                if not c.closed:
                    c.feed()
            time.sleep(0.05)
        check(all(c.closed for c in old), "HTTP/1.0 connections closed after their answer")
        # keep-alive intact on the HTTP/1.1 ones, and nothing stray after the answers
        nxt = Playlist(text.decode())
        again = plain + zipped + heads
        for c in again:
            c.get("/live/shop1/media.m3u8?_HLS_msn=%d&_HLS_part=%d" % (nxt.last_msn, nxt.last_part + 1))
        wait_responses(again, 2)
        check(all(c.responses[1][0] == 200 and c.buf == b"" for c in again), "second held request on each")
    finally:
        for c in every:
            c.sock.close()


def test_segments_and_init():
    pl = fresh()
    m = re.search(r'#EXT-X-MAP:URI="(init\d+\.mp4)"', pl.text)
    r = get("/live/shop1/" + m.group(1))
    check(r.status == 200 and r.body == b"init-a", "init: %d %r" % (r.status, r.body[:20]))
    check(r.headers["cache-control"] == "max-age=31536000, immutable", "init cache-control")
    seg = next(s for s in reversed(pl.segments) if s[2] and s[1])
    r = get("/live/shop1/seg%d.m4s" % seg[0])
    check(r.status == 200, "segment: %d" % r.status)
    parts = b"".join(get("/live/shop1/part%d.m4s" % q).body for q in seg[1])
    check(r.body == parts, "segment is its parts back to back")
    check(get("/live/shop1/seg%d.m4s" % pl.media_seq).status == 200, "oldest listed segment")


def test_bad_requests():
    pl = fresh()
    for q in ["_HLS_part=1", "_HLS_msn=%2B1", "_HLS_msn=-1", "_HLS_msn=1x", "_HLS_msn=", "_HLS_msn",
              "_HLS_msn=99999999999999999999", "_HLS_msn=1&_HLS_part=4294967296", "_HLS_skip=no",
              "_HLS_msn=%d" % (pl.last_msn + 3),
              "_HLS_msn=%d&_HLS_part=%d" % (pl.last_msn, pl.last_part + 30),
              "_HLS_msn=%d&_HLS_part=20" % (pl.last_msn + 1)]:
        r = media(q)
        check(r.status == 400, "%s: %d, want 400" % (q, r.status))
        check(r.elapsed < 0.25, "400 at once")
        check(r.headers.get("cache-control") == "no-cache", "400 not cached")


def test_not_found():
    pl = fresh()
    for path in ["/live/nosuch/media.m3u8", "/live/nosuch/index.m3u8", "/live/shop1/nope.txt", "/live/shop1/",
                 "/live/shop1", "/live/shop1/part%d.m4s" % (pl.hint + 5), "/live/shop1/seg%d.m4s" % (pl.last_msn + 1),
                 "/live/shop1/seg%d.m4s" % pl.last_msn, "/live/shop1/part%d.m4s" % (pl.hint - 500),
                 "/live/shop1/part0%d.m4s" % pl.last_seq, "/live/shop1/init999.mp4", "/live/sh%20op/media.m3u8",
                 "/live/../media.m3u8", "/live/shop1/media.m3u8/x"]:
        r = get(path)
        check(r.status == 404, "%s: %d, want 404" % (path, r.status))
        check(r.elapsed < 0.25, "404 at once")
    check(get("/live/nosuch/media.m3u8").body == b"unknown stream\n", "unknown stream text")


def test_gzip():
    pl_plain = fresh()
    r = get("/live/shop1/media.m3u8", {"Accept-Encoding": "gzip, deflate"})
    check(r.status == 200 and r.headers.get("content-encoding") == "gzip", "gzip: %r" % r.headers)
    check(r.headers.get("vary") == "Accept-Encoding", "gzip vary")
    text = gzip.decompress(r.body).decode()
    check(Playlist(text).media_seq >= pl_plain.media_seq, "gzip body is a playlist")
    r = get("/live/shop1/media.m3u8", {"Accept-Encoding": "gzip;q=0, identity"})
    check("content-encoding" not in r.headers and r.body.startswith(b"#EXTM3U"), "gzip;q=0 honoured")
    r = get("/live/shop1/index.m3u8", {"Accept-Encoding": "GZIP"})
    check(r.headers.get("content-encoding") == "gzip" and gzip.decompress(r.body).startswith(b"#EXTM3U"), "index gzip")
    # blocking + gzip
    pl = fresh()
    r = get("/live/shop1/media.m3u8?_HLS_msn=%d&_HLS_part=%d" % (pl.last_msn, pl.last_part + 1),
            {"Accept-Encoding": "gzip"})
    check(r.status == 200 and r.headers.get("content-encoding") == "gzip", "blocking gzip")
    check(Playlist(gzip.decompress(r.body).decode()).has_part(pl.hint), "blocking gzip body")
    # media is never gzipped
    r = get("/live/shop1/part%d.m4s" % pl.hint, {"Accept-Encoding": "gzip"})
    check("content-encoding" not in r.headers, "parts are not gzipped")


def test_delta_updates():
    full = fresh()
    r = media("_HLS_skip=YES")
    check(r.status == 200, "skip: %d" % r.status)
    d = Playlist(r.text())
    check(d.version == 9, "delta version %d" % d.version)
    check(d.skipped is not None and d.skipped >= 3, "skipped %r" % d.skipped)
    check(d.media_seq == full.media_seq or d.media_seq == full.media_seq + 1, "same MEDIA-SEQUENCE")
    check(len(r.body) < len(full.text), "delta is smaller")
    r = media("_HLS_skip=v2")
    d2 = Playlist(r.text())
    check(d2.version == 10 and 'RECENTLY-REMOVED-DATERANGES=""' in d2.text, "v2 delta")
    # a blocking delta update
    pl = fresh()
    r = media("_HLS_msn=%d&_HLS_part=%d&_HLS_skip=YES" % (pl.last_msn, pl.last_part + 1))
    check(r.status == 200 and Playlist(r.text()).skipped is not None and r.elapsed < 0.6, "blocking delta")


def test_daterange():
    r = get("/ctl/daterange?id=card-1")
    check(r.status == 200 and r.body == b"ok\n", "daterange add: %r" % r.body)
    r = get("/ctl/daterange?id=card-1")
    check(r.body == b"EBUSY\n", "daterange ID reuse: %r" % r.body)
    pl = fresh()
    check('#EXT-X-DATERANGE:ID="card-1",CLASS="com.cartcast.product",START-DATE="' in pl.text, "daterange listed")
    check('DURATION=5.000,X-SKU="sku-42"' in pl.text, "daterange attributes")


CONFORMANCE_JS = r"""
const HLS = require(process.argv[process.argv.length - 1]);
HLS.setOptions({strictMode: true});
const items = JSON.parse(require('fs').readFileSync(0, 'utf8'));
for (const [name, text] of Object.entries(items)) {
  try { HLS.parse(text); } catch (e) { console.log(name + ': ' + e.message); process.exitCode = 1; }
}
"""


def hls_parser_check(playlists):
    """Strict-mode hls-parser (the repo's npm test tooling) over our playlists,
    when node and node_modules/hls-parser are there; else skipped."""
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    mod = os.path.join(root, "node_modules", "hls-parser")
    if not shutil.which("node") or not os.path.isdir(mod):
        print("     (hls-parser conformance skipped: no node or node_modules/hls-parser)")
        return
    p = subprocess.run(["node", "-e", CONFORMANCE_JS, mod], input=json.dumps(playlists).encode(),
                       capture_output=True, timeout=60)
    check(p.returncode == 0, "hls-parser strict mode refused: %s %s" % (p.stdout.decode(), p.stderr.decode()))


def test_conformance_live():
    get("/ctl/daterange?id=conf-1")
    hls_parser_check({
        "index": get("/live/shop1/index.m3u8").text(),
        "media": media().text(),
        "delta": media("_HLS_skip=YES").text(),
        "delta_v2": media("_HLS_skip=v2").text(),
    })


def test_timeout_503():
    get("/ctl/pause")
    time.sleep(0.3)
    pl = fresh()
    ts, out = in_threads([lambda: media("_HLS_msn=%d&_HLS_part=%d" % (pl.last_msn, pl.last_part + 1)),
                          lambda: get("/live/shop1/part%d.m4s" % pl.hint)])
    out = join(ts, out)
    get("/ctl/resume")
    for r in out:
        check(r.status == 503, "paused stream: %d, want 503" % r.status)
        check(3.0 * TD - 0.1 <= r.elapsed <= 3.0 * TD + 0.6, "503 after 3 TD, got %.3f s" % r.elapsed)
        check(r.headers.get("cache-control") == "no-cache", "503 not cached")
    st = json.loads(get("/ctl/stats").body)
    check(st["held_timeouts"] >= 2, "timeouts counted: %r" % st)
    time.sleep(0.5)
    pl2 = fresh()
    check(pl2.last_seq is not None and pl2.last_seq >= pl.hint, "feed resumed")


def test_end():
    # Pause the feed first: on a loaded machine a part could otherwise land
    # between the playlist read and the requests, and "hint + 1" be hinted.
    get("/ctl/pause")
    time.sleep(0.05)
    pl = fresh()
    ts, out = in_threads([lambda: media("_HLS_msn=%d&_HLS_part=%d" % (pl.last_msn + 1, 3)),
                          lambda: get("/live/shop1/part%d.m4s" % (pl.hint + 1))])
    time.sleep(0.05)
    r = get("/live/shop1/part%d.m4s" % (pl.hint + 1))  # not hinted: 404 at once
    check(r.status == 404, "unhinted part: %d" % r.status)
    t_end = time.monotonic()
    get("/ctl/end")
    out = join(ts, out)
    check(out[0].status == 200 and Playlist(out[0].text()).endlist, "held playlist answered with ENDLIST")
    check(0 <= out[0].done - t_end < 0.3, "held playlist answered when ENDLIST came (%.3f s)" % (out[0].done - t_end))
    check(out[1].status == 404 or out[1].status == 200, "held part: %d" % out[1].status)
    pl = fresh()
    check(pl.endlist and pl.hint is None, "ENDLIST, no hint")
    r = media("_HLS_msn=%d&_HLS_part=99" % (pl.last_msn + 50))
    check(r.status == 200 and r.elapsed < 0.25, "directives ignored once ended: %d" % r.status)
    r = media("_HLS_skip=YES")
    check("#EXT-X-SKIP" not in r.text(), "no delta update once ended")
    r = get("/live/shop1/part%d.m4s" % (pl.last_seq + 1))
    check(r.status == 404 and r.elapsed < 0.25, "next part after the end: %d" % r.status)
    hls_parser_check({"ended": pl.text})


def test_restart_and_free():
    get("/ctl/restart")
    time.sleep(0.5)
    pl = fresh()
    check(not pl.endlist and "#EXT-X-DISCONTINUITY\n" in pl.text, "re-publish continues after a discontinuity")
    ts, out = in_threads([lambda: media("_HLS_msn=%d&_HLS_part=%d" % (pl.last_msn + 1, 4)),
                          lambda: get("/live/shop1/index.m3u8")])
    time.sleep(0.1)
    get("/ctl/free")
    out = join(ts, out)
    check(out[0].status == 404 and out[0].body == b"stream ended\n", "held request on free: %d %r" % (out[0].status, out[0].body))
    check(get("/live/shop1/media.m3u8").status == 404, "freed stream: 404")
    st = json.loads(get("/ctl/stats").body)
    check(st["held_now"] == 0 and st["streams"] == 0, "nothing left: %r" % st)


def main():
    global PORT
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    tmp = tempfile.mkdtemp(prefix="cc-hls-")
    srv = Server(sys.argv[1], tmp)
    PORT = srv.port
    tests = [test_multivariant, test_plain_playlist, test_blocking_next_part, test_preload_hint,
             test_concurrent_waiters, test_many_waiters, test_many_waiters_mixed, test_segments_and_init, test_bad_requests, test_not_found, test_gzip,
             test_delta_updates, test_daterange, test_conformance_live, test_timeout_503, test_end, test_restart_and_free]
    try:
        for t in tests:
            t0 = time.monotonic()
            t()
            print("ok   %-28s %.2f s" % (t.__name__, time.monotonic() - t0), flush=True)
        print(get("/ctl/stats").text().strip())
        srv.stop()
    except BaseException:
        srv.dump()
        if srv.proc.poll() is None:
            srv.proc.kill()
        raise
    print("all hls delivery checks passed")


if __name__ == "__main__":
    main()

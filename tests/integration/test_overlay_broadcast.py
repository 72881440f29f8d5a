#!/usr/bin/env python3
"""cartcast-overlay's broadcast path (commerce-overlay/server.c,
ov_server_broadcast): one frame built per message, written with one send()
per viewer, the send()s shared over --fanout-threads worker threads.

Real redis-server, real cartcast-overlay, 800 viewers on raw WebSocket
sockets (a few lines of RFC 6455 here, so a viewer's receive buffer can be
made tiny), plus viewers that stop reading so the kernel takes only part of a
frame: their frames must still arrive whole and in order once they read
again, and a viewer that reads nothing at all ends with 4008, not with a
corrupt stream.

  python3 tests/integration/test_overlay_broadcast.py   (CC_BUILD_DIR picks the build)
"""
import base64
import collections
import json
import os
import select
import socket
import struct
import threading
import time

import cc

S = "shop"
TOKEN = "operator-token-for-broadcast"
FAST = 800       # > 2 x the 256-viewer slice: the workers take part
CYCLES = 25      # create + end: 50 broadcasts
BURST = 2000     # connects back to back: ~8 x lws's 256 header tables


class RawViewer:
    """A WebSocket viewer on a plain socket: handshake, then unmasked server
    frames parsed from whatever bytes have arrived."""

    def __init__(self, port, rcvbuf=None, stream=S):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            # before connect(), so the window is negotiated small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET /v1/streams/%s/ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                           % (stream, port, key)).encode())
        self.buf = b""
        self.head_done = False
        self.msgs = []
        self.close_code = None
        self.closed = False  # the peer closed the TCP connection
        self.sock.setblocking(False)

    def fileno(self):
        return self.sock.fileno()

    def read_some(self):
        """Reads what is there; False once the peer closed."""
        try:
            data = self.sock.recv(1 << 16)
        except BlockingIOError:
            return True
        except ConnectionError:
            self.closed = True
            return False
        if not data:
            self.closed = True
            return False
        self.buf += data
        if not self.head_done:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return True
            assert self.buf.startswith(b"HTTP/1.1 101"), self.buf[:200]
            self.buf = self.buf[end + 4:]
            self.head_done = True
        self.parse()
        return True

    def parse(self):
        while len(self.buf) >= 2:
            b0, b1 = self.buf[0], self.buf[1]
            assert b1 & 0x80 == 0, "server frames are never masked"
            n, h = b1 & 0x7F, 2
            if n == 126:
                if len(self.buf) < 4:
                    return
                n, h = struct.unpack(">H", self.buf[2:4])[0], 4
            elif n == 127:
                if len(self.buf) < 10:
                    return
                n, h = struct.unpack(">Q", self.buf[2:10])[0], 10
            if len(self.buf) < h + n:
                return
            payload, self.buf = self.buf[h:h + n], self.buf[h + n:]
            op = b0 & 0x0F
            assert b0 & 0x80, "a broadcast is one unfragmented frame"
            if op == 1:
                self.msgs.append(json.loads(payload))  # a torn frame fails here
            elif op == 8:
                self.close_code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
            else:
                assert op in (9, 10), "unexpected opcode %d" % op

    def has_hello(self):
        return any(m.get("type") == "hello" for m in self.msgs)

    def cue_events(self):
        """The sequence of (type, cue id) this viewer saw after its hello."""
        out = []
        for m in self.msgs:
            if m.get("type") == "cue":
                out.append(("cue", m["cue"]["id"]))
            elif m.get("type") == "cue_end":
                out.append(("cue_end", m["id"]))
        return out

    def close(self):
        self.sock.close()


def pump(viewers, seconds):
    """Reads every viewer in viewers for a while (epoll, level-triggered)."""
    ep = select.epoll()
    by_fd = {}
    for v in viewers:
        ep.register(v.fileno(), select.EPOLLIN)
        by_fd[v.fileno()] = v
    end = time.time() + seconds
    try:
        while time.time() < end:
            for fd, _ in ep.poll(0.05):
                v = by_fd[fd]
                if not v.read_some():
                    ep.unregister(fd)
    finally:
        ep.close()


class BroadcastTest(cc.RedisTestCase):
    def start(self, extra, streams=(S,)):
        self.redis = self.redis_server()
        ov = cc.Overlay(self.workdir, self.redis.url, {TOKEN: "*"},
                        extra=["--fanout-threads", "3", "--max-conns-per-addr", "5000", "--max-connections", "5000",
                               "--ping-interval-s", "300", "--max-active-cues", "64"] + extra)
        self.daemons.append(ov)
        self.stop_live = threading.Event()
        live = self.redis_server_client()
        start = int(time.time() * 1000) - 10000

        def announce():  # what cartcast-origin --redis writes at every part
            now = int(time.time() * 1000)
            live.pipeline([["HSET", "cc:{stream:%s}:live" % name, "pdt_ms", now, "media_ms", now - start,
                            "start_pdt_ms", start, "msn", 1, "part", 0, "part_seq", 1, "updated_ms", now,
                            "live", 1] for name in streams])

        # The streams are announced before any viewer connects, as an origin
        # announces a stream before a player can know of it.  The overlay
        # closes a viewer of a stream no origin announced with 4404 right
        # after the upgrade (docs/overlay.md, "Limits"); when this first write
        # was left to the thread below, nothing ordered it before the
        # connects, and on a busy machine the overlay's load of the stream
        # could reach Redis first: every viewer of the batch got 101, then
        # 4404, never a hello.
        announce()

        def fake_live():
            try:
                while not self.stop_live.wait(0.2):
                    announce()
            except (ConnectionError, OSError):
                pass  # redis-server stopped at teardown before this thread noticed
            live.close()

        threading.Thread(target=fake_live, daemon=True).start()
        self.addCleanup(self.stop_live.set)
        return ov

    def redis_server_client(self):
        return cc.Resp(self.redis.port)

    def open_viewers(self, ov, n, rcvbuf=None, stream=S):
        """n viewers connected back to back (one burst), each with its hello."""
        viewers = [RawViewer(ov.http_port, rcvbuf, stream) for _ in range(n)]
        self.addCleanup(lambda: [v.close() for v in viewers])
        self.wait_hellos(viewers)
        return viewers

    def wait_hellos(self, viewers, timeout=60):
        """Every viewer got its hello; fails at once, with the close codes,
        when some were closed before theirs."""
        def waiting():
            return [v for v in viewers if not v.has_hello() and not v.closed and v.close_code is None]
        deadline = time.time() + timeout
        while time.time() < deadline and waiting():
            pump(waiting(), 0.2)
        missing = [v for v in viewers if not v.has_hello()]
        why = collections.Counter("closed with %s" % v.close_code if v.close_code else
                                  "closed without a close frame" if v.closed else
                                  "no upgrade" if not v.head_done else "still waiting" for v in missing)
        self.assertEqual(len(missing), 0, "viewers without their hello, of %d: %s" % (len(viewers), dict(why)))

    def run_cues(self, ov, big):
        """CYCLES cues created and ended; returns the expected event sequence."""
        expected = []
        for i in range(CYCLES):
            # a long title (capped by the cue validation) makes each frame large
            product = {"sku": "MUG-%d" % i, "title": ("Red mug %d " % i) * (12 if big else 1), "price": 1299,
                       "currency": "EUR"}
            st, cue, _ = ov.rest("POST", "/v1/streams/%s/cues" % S, TOKEN, {"kind": "product", "product": product})
            self.assertEqual(st, 201, cue)
            expected.append(("cue", cue["id"]))
            st, body, _ = ov.rest("DELETE", "/v1/streams/%s/cues/%s" % (S, cue["id"]), TOKEN)
            self.assertEqual(st, 200, body)
            expected.append(("cue_end", cue["id"]))
        return expected

    def test_every_viewer_gets_every_frame_whole_and_in_order(self):
        # A 4 KiB send buffer per viewer (--sndbuf-kb 4) and 2 KiB receive
        # buffers on the stalled viewers: the kernel takes part of a frame.
        ov = self.start(["--sndbuf-kb", "4", "--send-queue", "1024", "--send-queue-kb", "65536"])
        fast = self.open_viewers(ov, FAST)
        stalled = self.open_viewers(ov, 3, rcvbuf=2048)
        self.wait_hellos(fast + stalled)

        # The stalled viewers read nothing while the cues go out.
        done = threading.Event()
        reader = threading.Thread(target=lambda: [pump(fast, 0.3) for _ in iter(done.is_set, True)])
        reader.start()
        try:
            expected = self.run_cues(ov, big=True)
            deadline = time.time() + 30
            while time.time() < deadline and any(len(v.cue_events()) < len(expected) for v in fast):
                time.sleep(0.1)
        finally:
            done.set()
            reader.join()
        for i, v in enumerate(fast):
            self.assertEqual(v.cue_events(), expected, "viewer %d" % i)
        # The stalled ones: something is still in the overlay (kernel buffers
        # full, the rest of a frame in lws or in the queue) ...
        self.assertTrue(any(len(v.cue_events()) < len(expected) for v in stalled))
        # ... and once they read, every frame arrives whole and in order.
        deadline = time.time() + 30
        while time.time() < deadline and any(len(v.cue_events()) < len(expected) for v in stalled):
            pump(stalled, 0.2)
        for i, v in enumerate(stalled):
            self.assertIsNone(v.close_code)
            self.assertEqual(v.cue_events(), expected, "stalled viewer %d" % i)
        self.assertEqual(ov.metric("cartcast_overlay_dropped_slow_clients_total"), 0)
        print("# %d + %d viewers got %d broadcasts each, whole and in order" % (FAST, len(stalled), len(expected)))

    def test_a_viewer_that_never_reads_is_dropped_with_4008(self):
        # A queue of 4 messages: the stalled viewer overflows it.  (No
        # reading viewers here: with a queue that short this Python client
        # could not keep 300 of them fed on a busy machine.)
        ov = self.start(["--sndbuf-kb", "4", "--send-queue", "4", "--send-queue-kb", "64"])
        stalled = self.open_viewers(ov, 1, rcvbuf=2048)
        self.wait_hellos(stalled)
        expected = self.run_cues(ov, big=True)
        # Read what it was sent: whole frames, then the close frame with 4008.
        deadline = time.time() + 30
        while time.time() < deadline and stalled[0].close_code is None:
            pump(stalled, 0.2)
        self.assertEqual(stalled[0].close_code, 4008)
        got = stalled[0].cue_events()
        self.assertLess(len(got), len(expected))
        self.assertEqual(got, expected[:len(got)], "a prefix of the broadcasts, each whole")
        self.assertEqual(ov.metric("cartcast_overlay_dropped_slow_clients_total"), 1)

    def test_a_burst_of_viewers_all_get_their_hello(self):
        # BURST connects back to back as soon as the overlay answers: all
        # upgraded (lws serves them 256 header tables at a time), each with
        # its hello, none closed.  Before start() announced the stream itself,
        # this failed on a loaded machine: the first viewers beat the fake
        # live edge's first write and got 4404.
        ov = self.start([])
        t0 = time.time()
        viewers = self.open_viewers(ov, BURST)
        took = time.time() - t0
        self.assertEqual(ov.metric("cartcast_overlay_connections"), BURST)
        self.assertEqual(ov.metric("cartcast_overlay_closed_unknown_stream_total"), 0)
        self.assertTrue(all(v.close_code is None and not v.closed for v in viewers))
        print("# %d viewers connected in one burst, every hello in %.2f s" % (BURST, took))

    def test_one_overlay_follows_many_streams(self):
        # One blocking XREAD covers every stream's cues (cc_redis_xread): no
        # cap from a fixed argument array (it was 26 streams).
        names = ["room%02d" % i for i in range(60)]
        ov = self.start([], streams=names)
        viewers = []
        for name in names:
            viewers += self.open_viewers(ov, 1, stream=name)
        self.wait_hellos(viewers)
        ids = {}
        for name in (names[0], names[29], names[-1]):
            st, cue, _ = ov.rest("POST", "/v1/streams/%s/cues" % name, TOKEN,
                                 {"kind": "product", "product": {"sku": "MUG", "title": "Mug", "price": 100,
                                                                 "currency": "EUR"}})
            self.assertEqual(st, 201, cue)
            ids[name] = cue["id"]
        deadline = time.time() + 15
        while time.time() < deadline and any(not viewers[names.index(n)].cue_events() for n in ids):
            pump(viewers, 0.2)
        for name, v in zip(names, viewers):
            want = [("cue", ids[name])] if name in ids else []
            self.assertEqual(v.cue_events(), want, name)
        self.assertEqual(ov.metric("cartcast_overlay_streams_watched"), len(names))


if __name__ == "__main__":
    cc.main()

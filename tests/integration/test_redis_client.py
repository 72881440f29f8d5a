"""core/redis.c (the shared Redis client) against a real redis-server that the
test starts, kills, freezes and restarts, through tests/integration/
redis_client_main.c (build/tests/redis_client_driver): a command client that
sends INCR every 20 ms and a blocking client that loops on XREAD BLOCK.

Checked: a refused connection is noticed at once and retried with backoff; a
restart is survived; commands during an outage fail fast (reject) or with an
error (fail), never hang; a frozen Redis (SIGSTOP) is caught by the command
timeout and the PING watchdog; a server that accepts but never answers fails
the handshake on time; every command gets exactly one outcome; the driver exits
0 on SIGTERM (ASan checks leaks there)."""
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cc  # noqa: E402

DRIVER = os.path.join(cc.BUILD, "tests", "redis_client_driver")
TIMEOUT_MS = 300


class Driver:
    def __init__(self, workdir, url, interval_ms=20, timeout_ms=TIMEOUT_MS, ping_ms=100):
        self.err_path = os.path.join(workdir, "driver.err")
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen([DRIVER, url, str(interval_ms), str(timeout_ms), str(ping_ms)],
                                     stdout=subprocess.PIPE, stderr=self.err, text=True)
        self.lines = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append((time.time(), line.rstrip("\n")))

    def since(self, t0):
        with self.lock:
            return [line for t, line in self.lines if t >= t0]

    def wait_line(self, prefix, t0=0, timeout=10):
        return cc.wait_for(lambda: next((l for l in self.since(t0) if l.startswith(prefix)), None), timeout,
                           "driver line %r" % prefix, interval=0.02)

    def stderr(self):
        if not self.err.closed:
            self.err.flush()
        with open(self.err_path) as f:
            return f.read()

    def stop(self):
        self.proc.terminate()
        rc = self.proc.wait(timeout=15)
        self.reader.join(timeout=5)
        self.proc.stdout.close()
        self.err.close()
        return rc


class RedisClientTest(cc.RedisTestCase):
    def check_outcomes(self, lines):
        """Every command number has exactly one outcome; none took much longer
        than the timeout."""
        seen = {}
        for l in lines:
            parts = l.split(" ")
            if parts[0] in ("ok", "fail", "reject"):
                n = int(parts[1])
                self.assertNotIn(n, seen, "command %d has two outcomes" % n)
                seen[n] = l
                if parts[0] in ("ok", "fail"):
                    lat_us = int(parts[3] if parts[0] == "fail" else parts[3])
                    self.assertLess(lat_us, (TIMEOUT_MS + 400) * 1000, l)
        self.assertEqual(sorted(seen), list(range(1, max(seen) + 1)), "no command lost its callback")
        return seen

    def test_refused_then_up_restart_freeze_and_exit(self):
        port = cc.free_port()
        d = Driver(self.workdir, "redis://127.0.0.1:%d/2" % port)
        try:
            # Nothing listens: commands are refused at once, no hang.
            d.wait_line("reject", timeout=5)
            time.sleep(0.5)
            self.assertFalse([l for l in d.since(0) if l.startswith("ready")])
            self.assertIn("Connection refused", d.stderr())
            # Redis comes up: both connections become ready (backoff <= 500 ms).
            r = cc.RedisServer(self.workdir, port=port)
            self.redises.append(r)
            t0 = time.time()
            d.wait_line("ready cmd", timeout=5)
            d.wait_line("ready block", timeout=5)
            d.wait_line("ok", t0, timeout=5)
            self.assertIn(b" db=2 ", r.call("CLIENT", "LIST"))  # SELECT 2 from the URL
            self.assertIn(b"name=cc-test:cmd", r.call("CLIENT", "LIST"))
            c = r.client()
            c.call("SELECT", 2)
            c.call("XADD", "cc:test:stream", "*", "a", "1")
            c.close()
            d.wait_line("xread 1", t0, timeout=5)

            # Killed: pending commands fail, new ones are refused, then it reconnects.
            t1 = time.time()
            r.kill()
            d.wait_line("down cmd ECLOSED", t1, timeout=5)
            d.wait_line("reject", t1, timeout=5)
            time.sleep(0.5)
            # Take the time before the restart: the client may reconnect while
            # start() is still waiting for Redis to answer its own PING.
            t2 = time.time()
            r.start()
            d.wait_line("ready cmd", t2 - 0.01, timeout=5)
            d.wait_line("ok", t2, timeout=5)
            d.wait_line("ready block", t2 - 0.01, timeout=5)

            # Frozen: no RST, so only timeouts and the watchdog can tell.
            t3 = time.time()
            r.pause()
            d.wait_line("down cmd ETIMEDOUT", t3, timeout=5)
            d.wait_line("fail", t3, timeout=5)
            d.wait_line("down block ETIMEDOUT", t3, timeout=5)
            time.sleep(1.0)
            lines = d.since(t3)
            self.assertFalse([l for l in lines if l.startswith("ok")], "no reply from a frozen Redis")
            self.assertTrue([l for l in lines if l.startswith("reject")], "fail fast while reconnecting")
            t4 = time.time()
            r.resume()
            d.wait_line("ok", t4, timeout=8)
            d.wait_line("xread", t4, timeout=8)
        finally:
            rc = d.stop()
        self.assertEqual(rc, 0, d.stderr()[-3000:])
        lines = d.since(0)
        self.assertEqual(lines[-1], "exit")
        self.check_outcomes(lines)
        err = d.stderr()
        self.assertIn("handshake with redis://127.0.0.1:%d/2 timed out" % port, err)  # reconnecting while frozen

    def test_watchdog_ping_finds_a_frozen_idle_redis(self):
        """No command in flight (one every 60 s): only the watchdog PING can
        notice that Redis stopped answering."""
        r = self.redis_server()
        d = Driver(self.workdir, r.url, interval_ms=60000, ping_ms=100)
        try:
            d.wait_line("ready cmd", timeout=5)
            time.sleep(0.3)
            t0 = time.time()
            r.pause()
            line = d.wait_line("down cmd ETIMEDOUT", t0, timeout=5)
            self.assertIn("watchdog PING got no answer in %d ms" % TIMEOUT_MS, line)
            self.assertLess(time.time() - t0, 2.0, "found within ping interval + timeout (+ slack)")
            r.resume()
            d.wait_line("ready cmd", t0, timeout=5)
        finally:
            rc = d.stop()
        self.assertEqual(rc, 0)

    def test_silent_server_fails_the_handshake(self):
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        port = srv.getsockname()[1]
        conns = []

        def accept():
            try:
                while True:
                    conns.append(srv.accept()[0])
            except OSError:
                pass

        threading.Thread(target=accept, daemon=True).start()
        d = Driver(self.workdir, "redis://127.0.0.1:%d" % port)
        try:
            cc.wait_for(lambda: "timed out after %d ms" % TIMEOUT_MS in d.stderr(), 5, "handshake timeout")
            time.sleep(0.5)
        finally:
            rc = d.stop()
            srv.close()
            for c in conns:
                c.close()
        self.assertEqual(rc, 0)
        lines = d.since(0)
        self.assertFalse([l for l in lines if l.startswith("ready")])
        self.assertTrue(len(conns) >= 2, "it retried")
        self.check_outcomes(lines)


if __name__ == "__main__":
    cc.main()

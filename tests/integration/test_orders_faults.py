"""cartcast-orders under faults, against a real redis-server: kill -9 of an
instance (XAUTOCLAIM by the other; recovery by a restart under the same
consumer name), a Redis restart mid-sale with AOF, dead letters, and trimming
that never drops a pending entry."""
import collections
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cc  # noqa: E402
from orders_util import (BUYS, DEAD, EVENTS, GROUP, buy_fields, events, pending_count, read_stream,  # noqa: E402
                         stock_key, wait_events, xadd_cmd, xadd_fast)


class OrdersFaultTest(cc.RedisTestCase):
    def stock_set(self, r, sku, n, *extra):
        p = cc.orders_cli("stock", "set", sku, n, "--redis", r.url, *extra)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def check_exactly_once(self, r, ids, sku, stock):
        """Every appended buy has exactly one event; orders = confirmed events =
        sales counters; stock + sold = the initial stock."""
        evs = events(r)
        by_buy = collections.Counter(e["buy"] for e in evs)
        self.assertEqual(set(by_buy), {i.decode() for i in ids}, "every buy has an event")
        self.assertEqual(max(by_buy.values()), 1, "no buy has two events")
        confirmed = [e for e in evs if e["status"] == "confirmed"]
        self.assertEqual(len({e["order"] for e in confirmed}), len(confirmed), "no order twice")
        st = cc.resp_hash(r.call("HGETALL", stock_key(sku)))
        self.assertEqual(int(st["sold"]), len(confirmed))
        self.assertEqual(int(st["avail"]) + int(st["sold"]), stock)
        self.assertGreaterEqual(int(st["avail"]), 0)
        self.assertEqual(r.call("HLEN", "cc:{sku:%s}:orders" % sku), len(confirmed))
        total = cc.resp_hash(r.call("HGETALL", "cc:{orders}:sales:total"))
        self.assertEqual(int(total.get("orders", 0)), len(confirmed), "sales counted once per order")
        self.assertEqual(pending_count(r), 0)
        return evs

    def test_kill9_frozen_instance_entries_are_reclaimed(self):
        """A holds delivered-but-unprocessed entries when it dies: B reclaims
        them with XAUTOCLAIM after --claim-idle-ms; nothing lost or doubled."""
        r = self.redis_server()
        self.stock_set(r, "K9", 500, "--limit", "0")
        # A long BLOCK so that the frozen instance's read is still waiting when the buys come.
        a = self.orders(r, "victim", extra=["--claim-idle-ms", "500", "--block-ms", "60000"])
        time.sleep(0.3)
        a.proc.send_signal(signal.SIGSTOP)  # its blocking XREADGROUP still takes entries
        cmds = [xadd_cmd(buy_fields("k%d" % i, "v%d" % (i % 50), "K9")) for i in range(1000)]
        # The first 300 in one MULTI: Redis serves the blocked read once, after
        # EXEC, with a whole batch (else it wakes it at the first XADD).
        c = r.client()
        ids = c.pipeline([["MULTI"]] + cmds[:300] + [["EXEC"]])[-1]
        c.close()
        ids += xadd_fast(r.port, cmds[300:])
        consumers = dict((c[0].decode(), int(c[1])) for c in r.call("XPENDING", BUYS, GROUP)[3] or [])
        self.assertGreater(consumers.get("victim", 0), 0, "the frozen instance holds pending entries")
        a.kill9()
        b = self.orders(r, "rescuer", extra=["--claim-idle-ms", "500"])
        wait_events(r, 1000, timeout=60)
        evs = self.check_exactly_once(r, ids, "K9", 500)
        self.assertEqual(collections.Counter(e["status"] for e in evs), {"confirmed": 500, "sold_out": 500})
        m = b.metrics()
        self.assertGreaterEqual(m['cartcast_orders_buys_read_total{source="claimed"}'], consumers["victim"])
        print("\nkill -9: %d entries pending for the dead instance, reclaimed by the other" % consumers["victim"])

    def test_kill9_mid_run_restart_same_consumer(self):
        """kill -9 while processing, start again under the same consumer name:
        it reads its own pending entries back (XREADGROUP ... 0)."""
        r = self.redis_server()
        self.stock_set(r, "MR", 100000, "--limit", "0")
        a = self.orders(r, "fixed", extra=["--claim-idle-ms", "3600000"])
        ids = xadd_fast(r.port, [xadd_cmd(buy_fields("m%d" % i, "v%d" % (i % 97), "MR")) for i in range(6000)])
        cc.wait_for(lambda: r.call("XLEN", EVENTS) >= 500, 30, "some events")
        a.kill9()
        time.sleep(0.5)  # Redis still runs what the dead process had already sent
        pending_at_kill = pending_count(r)
        done_at_kill = r.call("XLEN", EVENTS)
        a2 = self.orders(r, "fixed", extra=["--claim-idle-ms", "3600000"])
        wait_events(r, 6000, timeout=90)
        evs = self.check_exactly_once(r, ids, "MR", 100000)
        self.assertEqual({e["dup"] for e in evs}, {"0"}, "a redelivered buy is the original, not a duplicate")
        m = a2.metrics()
        self.assertGreaterEqual(m['cartcast_orders_buys_read_total{source="recovered"}'], pending_at_kill)
        print("\nkill -9 mid-run: %d events before, %d pending at the kill, all recovered"
              % (done_at_kill, pending_at_kill))

    def test_redis_restart_mid_sale_with_aof(self):
        r = self.redis_server(aof=True)
        self.stock_set(r, "RR", 2000, "--limit", "0")
        o = self.orders(r, extra=["--claim-idle-ms", "1000"])
        first = xadd_fast(r.port, [xadd_cmd(buy_fields("a%d" % i, "v%d" % (i % 400), "RR")) for i in range(4000)])
        # Restart while the service works through the backlog.
        r.stop()
        status, body = cc.wait_for(lambda: (lambda s: s if s[0] == 503 else False)(o.healthz()), 10, "503")
        self.assertIn("redis not connected", body)
        time.sleep(0.5)
        r.start()
        cc.wait_for(lambda: o.healthz()[0] == 200, 20, "healthy again after the restart")
        second = xadd_fast(r.port, [xadd_cmd(buy_fields("b%d" % i, "w%d" % (i % 400), "RR")) for i in range(2000)])
        wait_events(r, 6000, timeout=90)
        evs = self.check_exactly_once(r, first + second, "RR", 2000)
        self.assertEqual(collections.Counter(e["status"] for e in evs), {"confirmed": 2000, "sold_out": 4000})
        total = cc.resp_hash(r.call("HGETALL", "cc:{orders}:sales:total"))
        self.assertEqual(int(total["amount:EUR"]), 2000 * 1999)
        m = o.metrics()
        self.assertGreaterEqual(m['cartcast_orders_redis_disconnects_total{conn="cmd"}'], 1)
        print("\nRedis restart: %d step failures during the outage, totals exact"
              % sum(v for k, v in m.items() if k.startswith("cartcast_orders_step_failures_total")))

    def test_dead_letter_after_max_deliveries(self):
        """A SKU whose stock key has the wrong type makes the buy script fail
        every time: after --max-deliveries the buy lands in the dead-letter
        stream with the reason, the buyer gets a 'failed' event, and other
        buys go on."""
        r = self.redis_server()
        self.stock_set(r, "FINE", 10)
        r.call("SET", stock_key("BROKEN"), "not-a-hash")
        o = self.orders(r, extra=["--claim-idle-ms", "200", "--max-deliveries", "3"])
        bad = xadd_fast(r.port, [xadd_cmd(buy_fields("x%d" % i, "v", "BROKEN")) for i in range(3)], sockets=1)
        good = xadd_fast(r.port, [xadd_cmd(buy_fields("g%d" % i, "v%d" % i, "FINE")) for i in range(5)], sockets=1)
        cc.wait_for(lambda: r.call("XLEN", DEAD) >= 3, 30, "3 dead letters")
        wait_events(r, 8)
        dead = [f for _, f in read_stream(r, DEAD)]
        self.assertEqual(sorted(d["entry"] for d in dead), sorted(i.decode() for i in bad))
        for d in dead:
            self.assertIn("WRONGTYPE", d["reason"])
            self.assertEqual(int(d["deliveries"]), 4)
            self.assertEqual((d["sku"], d["viewer"]), ("BROKEN", "v"))  # the original fields
        evs = {e["buy"]: e for e in events(r)}
        for i in bad:
            self.assertEqual(evs[i.decode()]["status"], "failed")
            self.assertIn("dead-lettered: WRONGTYPE", evs[i.decode()]["reason"])
        self.assertEqual({evs[i.decode()]["status"] for i in good}, {"confirmed"})
        self.assertEqual(pending_count(r), 0)
        m = o.metrics()
        self.assertEqual(m["cartcast_orders_dead_lettered_total"], 3)
        self.assertGreater(m['cartcast_orders_step_failures_total{stage="buy"}'], 0)
        time.sleep(1)
        self.assertEqual(r.call("XLEN", DEAD), 3, "dead-lettered once")

    def test_trim_never_drops_pending_entries(self):
        r = self.redis_server()
        self.stock_set(r, "TR", 1000000, "--limit", "0")
        # Another group on the buys stream, behind the service: it will have had
        # entries #0..#1299 delivered and hold #1200..#1299 pending.
        r.call("XGROUP", "CREATE", BUYS, "audit", "$", "MKSTREAM")
        o = self.orders(r, extra=["--trim-interval-ms", "100", "--buys-keep-ms", "0"])
        ids = xadd_fast(r.port, [xadd_cmd(buy_fields("t%d" % i, "v%d" % (i % 100), "TR")) for i in range(3000)],
                        sockets=1)  # ids in stream order
        wait_events(r, 3000)
        time.sleep(0.5)
        self.assertEqual(r.call("XLEN", BUYS), 3000, "nothing trimmed while the audit group has read nothing")
        got = r.call("XREADGROUP", "GROUP", "audit", "auditor", "COUNT", 1200, "STREAMS", BUYS, ">")
        r.call("XACK", BUYS, "audit", *[e[0] for e in got[0][1]])
        got = r.call("XREADGROUP", "GROUP", "audit", "auditor", "COUNT", 100, "STREAMS", BUYS, ">")
        held = [e[0] for e in got[0][1]]
        self.assertEqual(held[0], ids[1200])

        def first_id():
            rows = r.call("XRANGE", BUYS, "-", "+", "COUNT", 1)
            return rows[0][0].decode() if rows else None

        def ms_seq(i):
            a, b = i.split("-")
            return int(a), int(b)

        cc.wait_for(lambda: o.metrics()['cartcast_orders_trimmed_total{stream="buys"}'] > 0, 10, "a trim")
        time.sleep(1.0)  # many more trim rounds
        self.assertLessEqual(ms_seq(first_id()), ms_seq(ids[1200].decode()), "the audit group's pending entries stay")
        self.assertGreater(ms_seq(first_id()), ms_seq(ids[0].decode()), "entries every group is done with go")
        self.assertEqual(len(r.call("XRANGE", BUYS, held[0], held[-1])), 100)
        r.call("XACK", BUYS, "audit", *held)
        got = r.call("XREADGROUP", "GROUP", "audit", "auditor", "COUNT", 10000, "STREAMS", BUYS, ">")
        r.call("XACK", BUYS, "audit", *[e[0] for e in got[0][1]])
        cc.wait_for(lambda: r.call("XLEN", BUYS) < 200, 10, "trimmed once every group is done")
        self.assertEqual(pending_count(r), 0)


if __name__ == "__main__":
    cc.main()

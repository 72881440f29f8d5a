"""cartcast-orders against a real redis-server: the flash sale, idempotency,
per-viewer limits, invalid buys, attribution, stock administration, health.
Faults (kill -9, Redis restart, dead letters, trimming) are in test_orders_faults.py."""
import collections
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cc  # noqa: E402
from orders_util import (BUYS, DEAD, STOCK_STREAM, buy_fields, events, pending_count, read_stream,  # noqa: E402
                         stock_key, wait_events, xadd_cmd, xadd_fast)


class OrdersTest(cc.RedisTestCase):
    def stock_set(self, r, sku, n, *extra):
        p = cc.orders_cli("stock", "set", sku, n, "--redis", r.url, *extra)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def test_flash_sale_two_instances(self):
        """10,000 buys from 1,000 viewers for 100 units, two instances sharing the
        group: exactly 100 confirmed, 9,900 sold out, stock 0 and never negative,
        every buy answered exactly once."""
        r = self.redis_server()
        self.stock_set(r, "FLASH", 100, "--limit", "10")
        a = self.orders(r, "flash-a")
        b = self.orders(r, "flash-b")
        buys = [buy_fields("k%d-%d" % (v, i), "viewer%d" % v, "FLASH", creator="cr-%d" % (v % 3),
                           stream="shop%d" % (v % 2)) for v in range(1000) for i in range(10)]
        random.Random(7).shuffle(buys)
        t0 = time.time()
        ids = xadd_fast(r.port, [xadd_cmd(f) for f in buys], sockets=4)
        t_add = time.time() - t0
        wait_events(r, 10000, timeout=120)
        t_all = time.time() - t0
        evs = events(r)
        self.assertEqual(len(evs), 10000)
        by_buy = collections.Counter(e["buy"] for e in evs)
        self.assertEqual(set(by_buy), {i.decode() for i in ids}, "every buy has an event")
        self.assertEqual(max(by_buy.values()), 1, "no buy has two events")
        status = collections.Counter(e["status"] for e in evs)
        self.assertEqual(status, {"confirmed": 100, "sold_out": 9900}, status)
        confirmed = [e for e in evs if e["status"] == "confirmed"]
        self.assertEqual(len({e["order"] for e in confirmed}), 100)
        self.assertEqual(sorted(int(e["stock"]) for e in confirmed), list(range(100)),
                         "each confirmed order left one unit less, from 99 down to 0")
        st = cc.resp_hash(r.call("HGETALL", stock_key("FLASH")))
        self.assertEqual((st["avail"], st["sold"]), ("0", "100"))
        self.assertEqual(r.call("HLEN", "cc:{sku:FLASH}:orders"), 100)
        for _, f in read_stream(r, STOCK_STREAM):
            self.assertGreaterEqual(int(f["stock"]), 0, "stock never negative")
        total = cc.resp_hash(r.call("HGETALL", "cc:{orders}:sales:total"))
        self.assertEqual(total["orders"], "100")
        self.assertEqual(total["amount:EUR"], str(100 * 1999))
        self.assertEqual(total["commission:EUR"], str(100 * 199))  # 10% of 19.99, rounded down per order
        per_creator = sum(int(cc.resp_hash(r.call("HGETALL", "cc:{orders}:sales:creator:cr-%d" % c)).get("orders", 0))
                          for c in range(3))
        self.assertEqual(per_creator, 100)
        self.assertEqual(pending_count(r), 0)
        ma, mb = a.metrics(), b.metrics()
        ea = sum(v for k, v in ma.items() if k.startswith("cartcast_orders_events_total"))
        eb = sum(v for k, v in mb.items() if k.startswith("cartcast_orders_events_total"))
        self.assertEqual(ea + eb, 10000)
        self.assertGreater(ea, 0, "both instances took work")
        self.assertGreater(eb, 0, "both instances took work")
        print("\nflash sale: 10000 buys appended in %.2fs, all answered in %.2fs (%.0f buys/s); split %d/%d"
              % (t_add, t_all, 10000 / t_all, ea, eb))

    def test_duplicate_idempotency_key_gives_one_order(self):
        r = self.redis_server()
        self.stock_set(r, "DUP", 10, "--limit", "0")
        o = self.orders(r)
        same = buy_fields("retry-1", "alice", "DUP", qty=2)
        ids = xadd_fast(r.port, [xadd_cmd(same)] * 5, sockets=1)
        # the same key from another viewer is another buy
        ids += xadd_fast(r.port, [xadd_cmd(buy_fields("retry-1", "bob", "DUP", qty=1))], sockets=1)
        wait_events(r, 6)
        evs = {e["buy"]: e for e in events(r)}
        alice = [evs[i.decode()] for i in ids[:5]]
        self.assertEqual({e["status"] for e in alice}, {"confirmed"})
        self.assertEqual(len({e["order"] for e in alice}), 1, "one order for five retries")
        self.assertEqual([e["dup"] for e in alice], ["0", "1", "1", "1", "1"])
        bob = evs[ids[5].decode()]
        self.assertEqual(bob["status"], "confirmed")
        self.assertNotEqual(bob["order"], alice[0]["order"])
        st = cc.resp_hash(r.call("HGETALL", stock_key("DUP")))
        self.assertEqual((st["avail"], st["sold"]), ("7", "3"))
        total = cc.resp_hash(r.call("HGETALL", "cc:{orders}:sales:total"))
        self.assertEqual((total["orders"], total["units"]), ("2", "3"), "retries are not counted again")
        self.assertEqual(o.metrics()["cartcast_orders_duplicate_buys_total"], 4)

    def test_per_viewer_limit(self):
        r = self.redis_server()
        self.stock_set(r, "LIM", 100, "--limit", "2")
        self.stock_set(r, "DEF", 100)  # no limit of its own: --per-viewer-limit applies
        self.orders(r, extra=["--per-viewer-limit", "3"])
        cmds = [xadd_cmd(buy_fields("a%d" % i, "carol", "LIM")) for i in range(3)]
        cmds.append(xadd_cmd(buy_fields("big", "dave", "LIM", qty=3)))
        cmds.append(xadd_cmd(buy_fields("ok", "dave", "LIM", qty=2)))
        cmds += [xadd_cmd(buy_fields("d%d" % i, "erin", "DEF", qty=2)) for i in range(2)]
        ids = xadd_fast(r.port, cmds, sockets=1)
        wait_events(r, len(cmds))
        evs = {e["buy"]: e for e in events(r)}
        got = [evs[i.decode()]["status"] for i in ids]
        self.assertEqual(got, ["confirmed", "confirmed", "limit_reached", "limit_reached", "confirmed",
                               "confirmed", "limit_reached"])
        self.assertIn("limit 2 per viewer", evs[ids[2].decode()]["reason"])
        self.assertEqual(r.call("HGET", "cc:{sku:LIM}:buyers", "carol"), b"2")

    def test_invalid_buys_are_answered_and_acknowledged(self):
        r = self.redis_server()
        self.stock_set(r, "GOOD", 5)
        self.orders(r)
        good = buy_fields("g1", "v1", "GOOD")
        bad = [
            ["idem", "x1", "viewer", "v1"],                                           # most fields missing
            buy_fields("x2", "v1", "GOOD", qty=0),
            buy_fields("x3", "v1", "GOOD", currency="euro"),
            buy_fields("x4", "v1", "GOOD", price="19.99"),
            buy_fields("x5", "v 1", "GOOD"),
            buy_fields("x6", "v1", "NO-SUCH-SKU"),
            buy_fields("x7", "v1", "GOOD", qty=2) + ["qty", "1"],                     # qty twice
            ["garbage", "\x00\xff" * 100],
        ]
        ids = xadd_fast(r.port, [xadd_cmd(f) for f in bad] + [xadd_cmd(good)], sockets=1)
        wait_events(r, len(ids))
        evs = {e["buy"]: e for e in events(r)}
        reasons = [evs[i.decode()]["reason"] for i in ids[:-1]]
        self.assertEqual([evs[i.decode()]["status"] for i in ids],
                         ["invalid"] * len(bad) + ["confirmed"])
        self.assertIn("sku: missing", reasons[0])
        self.assertIn("qty: must be an integer 1-1000, got '0'", reasons[1])
        self.assertIn("currency", reasons[2])
        self.assertIn("price", reasons[3])
        self.assertIn("viewer", reasons[4])
        self.assertEqual(reasons[5], "unknown_sku")
        self.assertIn("qty: given twice", reasons[6])
        self.assertEqual(pending_count(r), 0, "poison messages are acknowledged, not retried")
        self.assertEqual(r.call("XLEN", DEAD), 0)

    def test_sales_endpoints_metrics_and_commission(self):
        r = self.redis_server()
        self.stock_set(r, "S1", 100, "--limit", "0")
        o = self.orders(r, extra=["--commission-pct", "12.5"])
        cmds = [xadd_cmd(buy_fields("c%d" % i, "v%d" % i, "S1", qty=1 + i % 2, price=1000, creator="alice",
                                    stream="live1", currency="EUR" if i % 3 else "USD")) for i in range(9)]
        xadd_fast(r.port, cmds, sockets=1)
        wait_events(r, 9)
        st, _, body = cc.http_get(o.url("/v1/creators/alice/sales"))
        self.assertEqual(st, 200, body)
        j = json.loads(body)
        # i = 0..8: qty 1,2,1,2,... -> 13 units; USD for i in (0,3,6): qty 1+2+1 = 4 units
        self.assertEqual((j["creator"], j["orders"], j["units"]), ("alice", 9, 13))
        self.assertEqual(j["amount_minor"], {"EUR": 9000, "USD": 4000})
        self.assertEqual(j["commission_minor"], {"EUR": 1125, "USD": 500})
        self.assertEqual(j["commission_pct"], "12.50")
        st, _, body = cc.http_get(o.url("/v1/streams/live1/sales"))
        self.assertEqual(json.loads(body)["units"], 13)
        st, _, body = cc.http_get(o.url("/v1/creators/nobody/sales"))
        self.assertEqual((st, json.loads(body)["orders"]), (200, 0))
        self.assertEqual(cc.http_get(o.url("/v1/creators/bad%20id/sales"))[0], 400)
        self.assertEqual(cc.http_get(o.url("/v1/creators/alice/other"))[0], 404)

        def metrics_ready():
            m = o.metrics()
            return m if m.get('cartcast_orders_creator_orders_total{creator="alice"}') == 9 else False
        m = cc.wait_for(metrics_ready, 10, "sales in /metrics")
        self.assertEqual(m['cartcast_orders_creator_amount_minor_total{creator="alice",currency="USD"}'], 4000)
        self.assertEqual(m['cartcast_orders_stream_commission_minor_total{stream="live1",currency="EUR"}'], 1125)
        self.assertEqual(m['cartcast_orders_sales_orders_total'], 9)
        self.assertEqual(m['cartcast_orders_events_total{status="confirmed"}'], 9)
        self.assertEqual(m['cartcast_orders_redis_up{conn="cmd"}'], 1)
        self.assertEqual(m['cartcast_orders_redis_up{conn="block"}'], 1)
        self.assertGreater(m['cartcast_orders_redis_latency_seconds_count{conn="cmd"}'], 0)
        self.assertEqual(m['cartcast_orders_latency_seconds_count'], 9)

    def test_stock_cli(self):
        r = self.redis_server()
        j = self.stock_set(r, "TEE-1", 3, "--limit", "1")
        self.assertEqual((j["stock"], j["limit"], j["version"]), (3, 1, 1))
        p = cc.orders_cli("stock", "add", "TEE-1", "-2", "--redis", r.url)
        self.assertEqual((p.returncode, json.loads(p.stdout)["stock"]), (0, 1), p.stderr)
        p = cc.orders_cli("stock", "add", "TEE-1", "-5", "--redis", r.url)
        self.assertEqual(p.returncode, 1)
        self.assertIn("negative", p.stderr)
        p = cc.orders_cli("stock", "get", "TEE-1", "--redis", r.url)
        self.assertEqual(json.loads(p.stdout), {"sku": "TEE-1", "stock": 1, "sold": 0, "limit": 1, "version": 2})
        changes = [f for _, f in read_stream(r, STOCK_STREAM)]
        self.assertEqual([(c["sku"], c["stock"], c["version"], c["source"]) for c in changes],
                         [("TEE-1", "3", "1", "admin"), ("TEE-1", "1", "2", "admin")])
        p = cc.orders_cli("stock", "get", "NOPE", "--redis", r.url)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no stock set for SKU 'NOPE'", p.stderr)
        for bad, msg in [(["stock", "set", "A", "-1"], "N must be a whole number"),
                         (["stock", "set", "bad sku", "1"], "SKU must be"),
                         (["stock", "set", "A", "1", "--redis", "http://x"], "not a Redis URL"),
                         (["stock", "set", "A", "1", "--redis", "redis://h:0"], "port must be 1-65535"),
                         (["stock", "frob", "A"], "usage")]:
            p = cc.orders_cli(*bad)
            self.assertEqual(p.returncode, 2, (bad, p.stderr))
            self.assertIn(msg, p.stderr)
        t0 = time.time()
        p = cc.orders_cli("stock", "get", "A", "--redis", "redis://127.0.0.1:%d" % cc.free_port())
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot reach Redis", p.stderr)
        self.assertIn("Connection refused", p.stderr)
        self.assertLess(time.time() - t0, 10)

    def test_health_follows_redis(self):
        port = cc.free_port()
        o = self.orders("redis://127.0.0.1:%d" % port, wait=False)
        st, body = cc.wait_for(lambda: (lambda s: s if s[0] == 503 and "refused" in s[1] else False)(o.healthz()), 10,
                               "503 while Redis is down")
        self.assertIn("redis not connected", body)
        r = cc.RedisServer(self.workdir, port=port)
        self.redises.append(r)
        cc.wait_for(lambda: o.healthz()[0] == 200, 10, "200 once Redis is up")
        self.stock_set(r, "H", 1)
        xadd_fast(r.port, [xadd_cmd(buy_fields("h", "v", "H"))], sockets=1)
        wait_events(r, 1)

    def test_noscript_reload(self):
        r = self.redis_server()
        self.stock_set(r, "NS", 100, "--limit", "0")
        o = self.orders(r)
        xadd_fast(r.port, [xadd_cmd(buy_fields("n%d" % i, "v", "NS")) for i in range(10)], sockets=1)
        wait_events(r, 10)
        r.call("SCRIPT", "FLUSH")
        xadd_fast(r.port, [xadd_cmd(buy_fields("m%d" % i, "v", "NS")) for i in range(10)], sockets=1)
        wait_events(r, 20)
        self.assertEqual(collections.Counter(e["status"] for e in events(r)), {"confirmed": 20})
        self.assertIn("orders.noscript", o.read_log())


if __name__ == "__main__":
    cc.main()

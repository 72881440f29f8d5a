"""cartcast-orders' batched path against a real redis-server: buys read in one
XREADGROUP are decided in one buy.lua call per SKU and published in one
publish.lua call, and every buy still gets exactly the answer it would get
alone, in stream order (duplicates inside a batch, a per-viewer limit crossed
inside a batch, stock running out midway, SKUs and invalid buys mixed).
publish.lua's own path for a batch in which a buy that counts was already
acknowledged is driven directly with the script (the service cannot be
stopped between its two steps on purpose)."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cc  # noqa: E402
from orders_util import (BUYS, EVENTS, GROUP, STOCK_STREAM, buy_fields, events, pending_count,  # noqa: E402
                         read_stream, stock_key, wait_events, xadd_cmd, xadd_fast)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EVENT_FIELDS = ["v", "status", "order", "reason", "buy", "idem", "viewer", "sku", "qty", "price", "currency", "amount",
                "commission", "stream", "creator", "cue", "ts", "stock", "version", "dup", "node", "req", "at"]


class OrdersBatchTest(cc.RedisTestCase):
    def stock_set(self, r, sku, n, *extra):
        p = cc.orders_cli("stock", "set", sku, n, "--redis", r.url, *extra)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def buy_calls(self, r):
        """The buy.lua calls Redis ran, from its slow log (every command is
        logged): {sku: [buys per call]}."""
        calls = {}
        for entry in r.call("SLOWLOG", "GET", 100000):
            args = entry[3]
            if args[0].upper() == b"EVALSHA" and len(args) > 3 and args[3].endswith(b":stock"):
                sku = args[3].decode().split("{sku:")[1].split("}")[0]
                calls.setdefault(sku, []).append(int(args[2]) - 3)  # numkeys = 3 + buys
        return calls

    def test_one_batch_mixing_skus_duplicates_limit_and_sell_out(self):
        r = self.redis_server(extra=["--slowlog-log-slower-than", "0", "--slowlog-max-len", "100000"])
        va = self.stock_set(r, "A", 3, "--limit", "2")["version"]
        vb = self.stock_set(r, "B", 10, "--limit", "0")["version"]
        plan = [  # (idem, viewer, sku, qty) -> expected (status, reason, stock, dup)
            (("i1", "x", "A", 1), ("confirmed", "", 2, "0")),
            (("dupkey", "x", "B", 3), ("confirmed", "", 7, "0")),
            (("dupkey", "x", "A", 1), ("confirmed", "", 1, "0")),
            (("bad", "x", "A", 0), ("invalid", "qty: must be an integer 1-1000, got '0'", -1, "0")),
            (("i3", "x", "A", 1), ("limit_reached", "limit 2 per viewer, already bought 2", 1, "0")),
            (("dupkey", "x", "A", 1), ("confirmed", "", 1, "1")),  # the retry of the third buy, same batch
            (("i5", "y", "A", 2), ("sold_out", "only 1 left", 1, "0")),
            (("i1", "x", "NOSUCH", 1), ("invalid", "unknown_sku", -1, "0")),
            (("i6", "z", "A", 1), ("confirmed", "", 0, "0")),  # the last unit
            (("i9", "y", "B", 3), ("confirmed", "", 4, "0")),
            (("i7", "w", "A", 1), ("sold_out", "", 0, "0")),
            (("dupkey", "x", "B", 3), ("confirmed", "", 7, "1")),  # same key and viewer, other SKU: B's first
        ]
        # Appended before the service starts, so that its first read takes them all.
        ids = [i.decode() for i in xadd_fast(r.port, [xadd_cmd(buy_fields(*b)) for b, _ in plan], sockets=1)]
        r.call("SLOWLOG", "RESET")
        o = self.orders(r, extra=["--trim-interval-ms", "0"])
        wait_events(r, len(plan))
        self.assertEqual(self.buy_calls(r), {"A": [7], "B": [3], "NOSUCH": [1]},
                         "one buy.lua call per SKU for the whole read")
        evs = {e["buy"]: e for e in events(r)}
        self.assertEqual(len(evs), len(plan))
        got = [(evs[i]["status"], evs[i]["reason"], int(evs[i]["stock"]), evs[i]["dup"]) for i in ids]
        self.assertEqual(got, [want for _, want in plan])
        orders = [evs[i]["order"] for i in ids]
        self.assertEqual(orders[5], orders[2], "the retry got the first answer's order")
        self.assertEqual(orders[11], orders[1])
        confirmed = [orders[k] for k in (0, 1, 2, 8, 9)]
        self.assertEqual(len(set(confirmed)), 5)
        self.assertEqual([orders[k] for k in (3, 4, 6, 7, 10)], [""] * 5)
        self.assertEqual([int(evs[ids[k]]["version"]) for k in (0, 2, 8)], [va + 1, va + 2, va + 3])
        self.assertEqual([int(evs[ids[k]]["version"]) for k in (1, 9)], [vb + 1, vb + 2])
        self.assertEqual([evs[ids[k]]["amount"] for k in (0, 1, 5, 6)], ["1999", "5997", "1999", "0"])

        a = cc.resp_hash(r.call("HGETALL", stock_key("A")))
        b = cc.resp_hash(r.call("HGETALL", stock_key("B")))
        self.assertEqual((a["avail"], a["sold"], b["avail"], b["sold"]), ("0", "3", "4", "6"))
        self.assertEqual(cc.resp_hash(r.call("HGETALL", "cc:{sku:A}:buyers")), {"x": "2", "z": "1"})
        self.assertEqual(cc.resp_hash(r.call("HGETALL", "cc:{sku:B}:buyers")), {"x": "3", "y": "3"})
        self.assertEqual((r.call("HLEN", "cc:{sku:A}:orders"), r.call("HLEN", "cc:{sku:B}:orders")), (3, 2))
        self.assertEqual(r.call("PTTL", "cc:{sku:A}:orders"), -1, "kept forever without --orders-ttl-s")
        rec = r.call("HGET", "cc:{sku:A}:orders", orders[0]).decode().split("\t")
        self.assertEqual(rec[:10], [ids[0], "x", "A", "1", "1999", "EUR", "shop", "cr1", "cue1",
                                    evs[ids[0]]["ts"]])
        # sales: 5 orders, 9 units, commission rounded down per order (199 x 3 + 599 x 2)
        total = cc.resp_hash(r.call("HGETALL", "cc:{orders}:sales:total"))
        self.assertEqual(total, {"orders": "5", "units": "9", "amount:EUR": str(9 * 1999),
                                 "commission:EUR": "1795"})
        self.assertEqual(cc.resp_hash(r.call("HGETALL", "cc:{orders}:sales:creator:cr1")), total)
        changes = {(f["sku"], f["stock"], f["version"]) for _, f in read_stream(r, STOCK_STREAM)
                   if f["source"] == "order"}
        self.assertEqual(changes, {("A", "0", str(va + 3)), ("B", "4", str(vb + 2))},
                         "one stock change per SKU of the batch, with the stock after its last order")
        self.assertEqual(pending_count(r), 0)
        m = o.metrics()
        self.assertEqual(m["cartcast_orders_duplicate_buys_total"], 2)
        self.assertEqual(m['cartcast_orders_events_total{status="confirmed"}'], 7)

    def test_batches_of_many_skus_creators_and_currencies(self):
        """A read of 256 buys over 40 SKUs, 7 creators, 5 streams and 3
        currencies: the sales the service adds up per batch equal the sums of
        the events."""
        r = self.redis_server()
        skus = ["S%d" % k for k in range(40)]
        for s in skus:
            self.stock_set(r, s, 5, "--limit", "0")
        buys = [buy_fields("k%d" % i, "v%d" % (i % 31), skus[i % 40], qty=1 + i % 3, price=100 + i,
                           currency=("EUR", "USD", "JPY")[i % 3 if i % 7 else 0], creator="cr%d" % (i % 7),
                           stream="st%d" % (i % 5)) for i in range(256)]
        xadd_fast(r.port, [xadd_cmd(f) for f in buys], sockets=1)
        self.orders(r)
        wait_events(r, 256)
        evs = events(r)
        want = {}
        for e in evs:
            if e["status"] != "confirmed" or e["dup"] != "0":
                continue
            for key in ("cc:{orders}:sales:total", "cc:{orders}:sales:creator:" + e["creator"],
                        "cc:{orders}:sales:stream:" + e["stream"]):
                h = want.setdefault(key, {})
                for f, v in (("orders", 1), ("units", int(e["qty"])), ("amount:" + e["currency"], int(e["amount"])),
                             ("commission:" + e["currency"], int(e["commission"]))):
                    h[f] = h.get(f, 0) + v
        self.assertGreater(len([e for e in evs if e["status"] == "sold_out"]), 0, "some SKUs sold out midway")
        for key, h in want.items():
            self.assertEqual({f: int(v) for f, v in cc.resp_hash(r.call("HGETALL", key)).items()}, h, key)
        self.assertEqual({m.decode() for m in r.call("SMEMBERS", "cc:{orders}:sales:creators")},
                         {"cr%d" % k for k in range(7)})
        for s in skus:
            st = cc.resp_hash(r.call("HGETALL", stock_key(s)))
            last = max((e for e in evs if e["sku"] == s and e["status"] == "confirmed"),
                       key=lambda e: int(e["version"]))
            self.assertEqual(st["avail"], last["stock"])
            self.assertGreaterEqual(int(st["avail"]), 0)

    def test_longest_fields(self):
        """Every field at its longest: the order record (~700 bytes) is formatted
        past the service's first guess of its size and stored whole."""
        r = self.redis_server()
        sku = "L" * 64
        self.stock_set(r, sku, 5, "--limit", "0")
        f = buy_fields("i" * 128, "v" * 128, sku, qty=1, price=10 ** 12, stream="s" * 64,
                       creator="c" * 128, cue="q" * 128, ts=1795437632724, node="n" * 128, req="r" * 128)
        ids = xadd_fast(r.port, [xadd_cmd(f)], sockets=1)
        self.orders(r)
        wait_events(r, 1)
        e = events(r)[0]
        self.assertEqual((e["status"], e["viewer"], e["creator"], e["node"], e["amount"]),
                         ("confirmed", "v" * 128, "c" * 128, "n" * 128, str(10 ** 12)))
        rec = r.call("HGET", "cc:{sku:%s}:orders" % sku, e["order"]).decode().split("\t")
        self.assertEqual(rec[:10], [ids[0].decode(), "v" * 128, sku, "1", str(10 ** 12), "EUR", "s" * 64, "c" * 128,
                                    "q" * 128, "1795437632724"])
        self.assertGreater(len("\t".join(rec)), 256)

    def test_order_records_expire_after_the_last_order(self):
        r = self.redis_server()
        self.stock_set(r, "T", 10, "--limit", "0")
        self.orders(r, extra=["--orders-ttl-s", "3"])
        xadd_fast(r.port, [xadd_cmd(buy_fields("t1", "v1", "T"))], sockets=1)
        wait_events(r, 1)
        ttl = r.call("PTTL", "cc:{sku:T}:orders")
        self.assertTrue(0 < ttl <= 3000, ttl)
        cc.wait_for(lambda: r.call("EXISTS", "cc:{sku:T}:orders") == 0, 10, "the order records to expire")
        # Only the records go: stock, buyers, order numbers and idempotency results stay.
        xadd_fast(r.port, [xadd_cmd(buy_fields("t2", "v1", "T")), xadd_cmd(buy_fields("t1", "v1", "T"))], sockets=1)
        wait_events(r, 3)
        self.assertEqual([(e["status"], e["order"], e["dup"]) for e in events(r)],
                         [("confirmed", "ord_1_T", "0"), ("confirmed", "ord_2_T", "0"), ("confirmed", "ord_1_T", "1")])
        self.assertEqual(r.call("HKEYS", "cc:{sku:T}:orders"), [b"ord_2_T"])
        self.assertTrue(0 < r.call("PTTL", "cc:{sku:T}:orders") <= 3000)
        st = cc.resp_hash(r.call("HGETALL", stock_key("T")))
        self.assertEqual((st["avail"], st["sold"]), ("8", "2"))

    def publish(self, r, sha, buys, aggregate):
        """Calls publish.lua as the service does (the layout in its header)
        for `buys`: dicts of event values.  aggregate: what the service would
        add up (every buy that counts)."""
        counts = [b for b in buys if b["status"] == "confirmed" and b["dup"] == "0"]
        creators = sorted({b["creator"] for b in counts})
        streams = sorted({b["stream"] for b in counts})
        keys = [BUYS, EVENTS, STOCK_STREAM, "cc:{orders}:sales:total", "cc:{orders}:sales:creators",
                "cc:{orders}:sales:streams"]
        keys += ["cc:{orders}:sales:creator:" + c for c in creators]
        keys += ["cc:{orders}:sales:stream:" + s for s in streams]
        argv = [GROUP, "10000", "0", "1795444332925", len(creators)] + creators + [len(streams)] + streams
        sales = []
        if aggregate:
            for b in counts:
                for k in (4, 7 + creators.index(b["creator"]), 7 + len(creators) + streams.index(b["stream"])):
                    sales += [k, "orders", 1, k, "units", b["qty"], k, "amount:" + b["currency"], b["amount"],
                              k, "commission:" + b["currency"], b["commission"]]
        argv += [len(sales) // 3] + sales
        last = max(counts, key=lambda b: int(b["version"])) if aggregate and counts else None
        argv += [1, last["sku"], last["stock"], last["version"]] if last else [0]
        for b in buys:
            argv += [b[f] for f in EVENT_FIELDS[1:-1]]
        return r.call("EVALSHA", sha, len(keys), *(keys + argv))

    def test_publish_script_when_a_counted_buy_was_already_acknowledged(self):
        r = self.redis_server()
        with open(os.path.join(ROOT, "commerce-overlay", "orders", "lua", "publish.lua")) as f:
            sha = r.call("SCRIPT", "LOAD", f.read()).decode()
        r.call("XGROUP", "CREATE", BUYS, GROUP, "0", "MKSTREAM")
        ids = [r.call("XADD", BUYS, "*", "n", str(k)).decode() for k in range(5)]
        r.call("XREADGROUP", "GROUP", GROUP, "me", "COUNT", 10, "STREAMS", BUYS, ">")

        def buy(k, status="confirmed", dup="0", creator="anna", currency="EUR", qty=1):
            return {"status": status, "order": "ord_%d_S" % k if status == "confirmed" else "", "reason": "",
                    "buy": ids[k], "idem": "i%d" % k, "viewer": "v%d" % k, "sku": "S", "qty": str(qty),
                    "price": "1000", "currency": currency,
                    "amount": str(1000 * qty) if status == "confirmed" else "0",
                    "commission": str(100 * qty) if status == "confirmed" else "0", "stream": "shop",
                    "creator": creator, "cue": "c", "ts": "1", "stock": str(10 - k), "version": str(k + 2),
                    "dup": dup, "node": "", "req": ""}

        # Another instance published buy 1 (it counts) and buy 3 (it does not).
        r.call("XACK", BUYS, GROUP, ids[1], ids[3])
        batch = [buy(0, creator="bob"), buy(1, qty=2), buy(2, currency="USD", qty=3), buy(3, status="sold_out"),
                 buy(4, dup="1")]
        self.assertEqual(self.publish(r, sha, batch, aggregate=True), [1, 0, 1, 0, 1])
        self.assertEqual([f["buy"] for f in (e for _, e in read_stream(r, EVENTS))], [ids[0], ids[2], ids[4]])
        # Only buys 0 and 2 are counted, whatever the service had added up.
        total = cc.resp_hash(r.call("HGETALL", "cc:{orders}:sales:total"))
        self.assertEqual(total, {"orders": "2", "units": "4", "amount:EUR": "1000", "commission:EUR": "100",
                                 "amount:USD": "3000", "commission:USD": "300"})
        self.assertEqual(cc.resp_hash(r.call("HGETALL", "cc:{orders}:sales:creator:bob")),
                         {"orders": "1", "units": "1", "amount:EUR": "1000", "commission:EUR": "100"})
        self.assertEqual(cc.resp_hash(r.call("HGETALL", "cc:{orders}:sales:creator:anna")),
                         {"orders": "1", "units": "3", "amount:USD": "3000", "commission:USD": "300"})
        self.assertEqual({m.decode() for m in r.call("SMEMBERS", "cc:{orders}:sales:creators")}, {"anna", "bob"})
        changes = [(f["sku"], f["stock"], f["version"]) for _, f in read_stream(r, STOCK_STREAM)]
        self.assertEqual(changes, [("S", "8", "4")], "the stock after buy 2, the last counted here")
        self.assertEqual(pending_count(r), 0)
        # The same batch again: everything was acknowledged, nothing happens.
        self.assertEqual(self.publish(r, sha, batch, aggregate=True), [0, 0, 0, 0, 0])
        self.assertEqual(r.call("XLEN", EVENTS), 3)
        self.assertEqual(cc.resp_hash(r.call("HGETALL", "cc:{orders}:sales:total"))["orders"], "2")


if __name__ == "__main__":
    cc.main()

#!/usr/bin/env python3
"""Redis's time inside each order script, per buy: buy.lua and publish.lua
called as cartcast-orders calls them, with one batch of confirmed buys of one
SKU, on a redis-server of its own (AOF everysec).  The time is SLOWLOG's
duration of the EVALSHA (slowlog-log-slower-than 0): the script and the
commands it runs, not the request parsing, the reply, or the AOF write that
follow; the minimum over --rounds calls (the machine is shared: the minimum is
the least disturbed).  It complements bench/orders.py, which measures all of it.

    bench/orders_scripts.py [--batch 256] [--rounds 20] [--build build]"""
import argparse
import os
import shutil
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import cc  # noqa: E402

LUA = os.path.join(ROOT, "commerce-overlay", "orders", "lua")


def one_round(c, sha, which, n, r):
    """A fresh pending batch of n buys, then one call; returns the call's µs."""
    c.call("DEL", "cc:{orders}:buys")
    c.call("XGROUP", "CREATE", "cc:{orders}:buys", "orders", "$", "MKSTREAM")
    ids = [c.call("XADD", "cc:{orders}:buys", "*", "idem", "k%d" % i, "viewer", "v%d" % i).decode() for i in range(n)]
    c.call("XREADGROUP", "GROUP", "orders", "me", "COUNT", n, "STREAMS", "cc:{orders}:buys", ">")
    if which == "publish":
        keys = ["cc:{orders}:buys", "cc:{orders}:events", "cc:{orders}:stock", "cc:{orders}:sales:total",
                "cc:{orders}:sales:creators", "cc:{orders}:sales:streams", "cc:{orders}:sales:creator:cr1",
                "cc:{orders}:sales:stream:shop"]
        argv = ["orders", "10000", "0", "1795444332925", 1, "cr1", 1, "shop", 12]
        for k in (4, 7, 8):
            argv += [k, "orders", n, k, "units", n, k, "amount:EUR", 1999 * n, k, "commission:EUR", 199 * n]
        argv += [1, "BENCH", 10 ** 9 - n, n + 1]
        for i, e in enumerate(ids):
            argv += ["confirmed", "ord_%d_BENCH" % i, "", e, "k%d" % i, "v%d" % i, "BENCH", "1", "1999", "EUR",
                     "1999", "199", "shop", "cr1", "cue1", "1795437632724", 10 ** 9 - i, i + 2, "0", "", ""]
    else:
        keys = ["cc:{sku:BENCH}:stock", "cc:{sku:BENCH}:buyers", "cc:{sku:BENCH}:orders"]
        keys += ["cc:{sku:BENCH}:idem:%d:v%d:k%d-%d" % (len("v%d" % i), i, r, i) for i in range(n)]
        argv = ["BENCH", "0", "604800", "0"]
        for i, e in enumerate(ids):
            argv += [e, "v%d" % i, "1", "%s\tv%d\tBENCH\t1\t1999\tEUR\tshop\tcr1\tcue1\t1795437632724\t1795444332925"
                     % (e, i)]
    c.call("SLOWLOG", "RESET")
    c.call("EVALSHA", sha, len(keys), *(keys + argv))
    return [x[2] for x in c.call("SLOWLOG", "GET", 100000) if x[3][0].upper() == b"EVALSHA"][0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=256, help="buys per call (the service's --batch)")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    a = ap.parse_args()
    cc.BUILD = os.path.abspath(a.build)
    work = tempfile.mkdtemp(prefix="cc-orders-scripts-")
    r = cc.RedisServer(work, aof=True, extra=["--slowlog-log-slower-than", "0", "--slowlog-max-len", "100000"])
    try:
        p = cc.orders_cli("stock", "set", "BENCH", 10 ** 9, "--limit", "0", "--redis", r.url)
        assert p.returncode == 0, p.stderr
        c = r.client(timeout=60)
        for which in ("buy", "publish"):
            with open(os.path.join(LUA, which + ".lua")) as f:
                sha = c.call("SCRIPT", "LOAD", f.read()).decode()
            best = min(one_round(c, sha, which, a.batch, k) for k in range(a.rounds))
            print("%s.lua: %.2f us per buy inside the script (min of %d calls of %d confirmed buys)"
                  % (which, best / a.batch, a.rounds, a.batch))
        c.close()
    finally:
        r.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

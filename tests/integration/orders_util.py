"""Shared pieces of the cartcast-orders tests (test_orders*.py) and bench/orders.py:
building buy messages, appending them fast, reading events back."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cc  # noqa: E402

BUYS = "cc:{orders}:buys"
EVENTS = "cc:{orders}:events"
STOCK_STREAM = "cc:{orders}:stock"
DEAD = "cc:{orders}:dead"
GROUP = "orders"


def stock_key(sku):
    return "cc:{sku:%s}:stock" % sku


def buy_fields(idem, viewer, sku, qty=1, price=1999, currency="EUR", stream="shop", creator="cr1", cue="cue1",
               ts=None, **extra):
    f = ["idem", idem, "viewer", viewer, "sku", sku, "qty", qty, "price", price, "currency", currency,
         "stream", stream, "creator", creator, "cue", cue, "ts", ts if ts is not None else int(time.time() * 1000)]
    for k, v in extra.items():
        f += [k, v]
    return f


def xadd_cmd(fields):
    return ["XADD", BUYS, "*"] + list(fields)


def xadd_fast(port, cmds, sockets=4, chunk=500):
    """Appends with `sockets` connections in parallel, each pipelining `chunk`
    commands per write.  Returns the entry ids (bytes) in input order."""
    ids = [None] * len(cmds)
    errors = []

    def worker(k):
        try:
            c = cc.Resp(port, timeout=30)
            idx = list(range(k, len(cmds), sockets))
            for i in range(0, len(idx), chunk):
                part = idx[i:i + chunk]
                replies = c.pipeline([cmds[j] for j in part], chunk=chunk)
                for j, r in zip(part, replies):
                    if isinstance(r, cc.RespError):
                        raise r
                    ids[j] = r
            c.close()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(sockets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return ids


def read_stream(r, key, start="-", page=5000):
    """Every entry of a stream as (id str, {field: value str})."""
    c = r.client(timeout=30)
    out = []
    try:
        while True:
            rows = c.call("XRANGE", key, start, "+", "COUNT", page) or []
            for eid, fields in rows:
                out.append((eid.decode(), cc.resp_hash(fields)))
            if len(rows) < page:
                return out
            last = rows[-1][0].decode()
            ms, seq = last.split("-")
            start = "%s-%d" % (ms, int(seq) + 1)
    finally:
        c.close()


def events(r):
    return [f for _, f in read_stream(r, EVENTS)]


def wait_events(r, n, timeout=60, what=None):
    def enough():
        got = r.call("XLEN", EVENTS)
        return got if got >= n else False
    return cc.wait_for(enough, timeout, what or "%d events" % n, interval=0.1)


def pending_count(r):
    try:
        return r.call("XPENDING", BUYS, GROUP)[0]
    except cc.RespError:
        return 0

#!/usr/bin/env python3
"""cartcast-orders end to end on a local redis-server: buys appended to the
orders stream -> order events out, with 1 and 2 service instances, beside the
Redis ceilings measured on the same machine (redis-benchmark: XADD of a buy,
EVALSHA of the buy script for one buy).

    bench/orders.py [--buys 200000] [--rates 10000,20000] [--seconds 10] [--build build]

Two measurements per instance count:
  max   redis-benchmark appends N buys as fast as it can (4 connections,
        pipeline 32); orders/s = N / (last event - first buy), from the stream
        IDs (Redis's clock, ms).
  paced buys appended at each of --rates per second for --seconds (Python, one
        pipelined write per 10 ms tick); latency per buy = its event's stream ID - its own stream ID
        (ms resolution): p50 / p90 / p99 / max.
Scenario: every buy is confirmed (stock 10^9, no per-viewer limit), the
costlier path (order record, sales counters, stock-change entry).  Redis runs
with AOF (appendfsync everysec), as ./cartcast up runs it.
Standard library only (a RESP client from tests/integration/cc.py)."""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import cc  # noqa: E402
from orders_util import BUYS, EVENTS, buy_fields, xadd_cmd  # noqa: E402


def say(msg):
    print("orders-bench: %s" % msg, file=sys.stderr, flush=True)


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, int(round(p / 100.0 * (len(sorted_vals) - 1))))
    return sorted_vals[k]


def id_ms(i):
    return int(i.split(b"-")[0] if isinstance(i, bytes) else i.split("-")[0])


def cpu_s(pid):
    """User + system CPU seconds of a process so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def redis_benchmark(port, n, args, pipeline=32, clients=4):
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-n", str(n), "-c", str(clients), "-P", str(pipeline),
                          "-r", "100000000", "-q", "--csv"] + args, capture_output=True, text=True, timeout=600)
    # "ARGS","rps","avg_latency_ms",...
    for line in out.stdout.splitlines():
        m = re.match(r'^"[^"]*","([0-9.]+)"', line)
        if m:
            return float(m.group(1))
    raise RuntimeError("redis-benchmark said: %s %s" % (out.stdout, out.stderr))


BUY_TEMPLATE = ["idem", "k__rand_int__", "viewer", "v__rand_int__", "sku", "BENCH", "qty", "1", "price", "1999",
                "currency", "EUR", "stream", "shop", "creator", "cr1", "cue", "cue1", "ts", "1795437632724"]


class Bench:
    def __init__(self, a):
        self.a = a
        self.work = tempfile.mkdtemp(prefix="cc-orders-bench-")
        self.redis = cc.RedisServer(self.work, aof=True)
        self.daemons = []

    def close(self):
        for d in self.daemons:
            d.stop()
        self.redis.stop()
        shutil.rmtree(self.work, ignore_errors=True)

    def reset(self, instances):
        for d in self.daemons:
            d.stop()
        self.daemons = []
        self.redis.call("FLUSHALL")
        p = cc.orders_cli("stock", "set", "BENCH", 10 ** 9, "--limit", "0", "--redis", self.redis.url)
        assert p.returncode == 0, p.stderr
        for i in range(instances):
            self.daemons.append(cc.Orders(self.work, self.redis.url, consumer="bench-%d" % i,
                                          extra=["--log-level", "warn"]))

    def wait_events(self, n, timeout=300):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.redis.call("XLEN", EVENTS) >= n:
                return
            time.sleep(0.05)
        raise RuntimeError("only %d of %d events after %ds" % (self.redis.call("XLEN", EVENTS), n, timeout))

    def span_ms(self):
        first = self.redis.call("XRANGE", BUYS, "-", "+", "COUNT", 1)[0][0]
        last = self.redis.call("XREVRANGE", EVENTS, "+", "-", "COUNT", 1)[0][0]
        return id_ms(last) - id_ms(first)

    def latencies(self):
        c = self.redis.client(timeout=60)
        lat = []
        start = "-"
        while True:
            rows = c.call("XRANGE", EVENTS, start, "+", "COUNT", 10000) or []
            for eid, f in rows:
                # fields: v 1 status X order X reason X buy ID ...
                for k in range(0, len(f), 2):
                    if f[k] == b"buy":
                        lat.append(id_ms(eid) - id_ms(f[k + 1]))
                        break
            if len(rows) < 10000:
                break
            ms, seq = rows[-1][0].split(b"-")
            start = "%s-%d" % (ms.decode(), int(seq) + 1)
        c.close()
        lat.sort()
        return lat

    def run_max(self, instances):
        self.reset(instances)
        n = self.a.buys
        pids = [d.proc.pid for d in self.daemons]
        r0, s0 = cpu_s(self.redis.proc.pid), sum(cpu_s(p) for p in pids)
        t0 = time.time()
        redis_benchmark(self.redis.port, n, ["XADD", BUYS, "*"] + BUY_TEMPLATE)
        add_s = time.time() - t0
        self.wait_events(n)
        redis_us = (cpu_s(self.redis.proc.pid) - r0) * 1e6 / n
        service_us = (sum(cpu_s(p) for p in pids) - s0) * 1e6 / n
        span = self.span_ms()
        lat = self.latencies()
        return {"orders_per_s": n * 1000.0 / span, "append_per_s": n / add_s, "p50": pct(lat, 50),
                "redis_us": redis_us, "service_us": service_us,
                "p99": pct(lat, 99), "max": lat[-1] if lat else None}

    def run_paced(self, instances, rate):
        self.reset(instances)
        secs = self.a.seconds
        tick = 0.01
        per_tick = max(1, int(rate * tick))
        total = per_tick * int(secs / tick)
        payload = [cc.Resp.encode(xadd_cmd(buy_fields("p%d" % i, "v%d" % (i % 5000), "BENCH")))
                   for i in range(total)]
        c = self.redis.client(timeout=60)
        sent, behind = 0, 0
        t0 = time.time()
        for k in range(0, total, per_tick):
            target = t0 + (k // per_tick) * tick
            now = time.time()
            if now < target:
                time.sleep(target - now)
            elif now - target > 0.05:
                behind += 1
            c.sock.sendall(b"".join(payload[k:k + per_tick]))
            for _ in range(min(per_tick, total - k)):
                r = c._read()
                if isinstance(r, cc.RespError):
                    raise r
            sent += per_tick
        offered = total / (time.time() - t0)
        c.close()
        self.wait_events(total)
        lat = self.latencies()
        return {"offered_per_s": offered, "p50": pct(lat, 50), "p90": pct(lat, 90), "p99": pct(lat, 99),
                "max": lat[-1], "late_ticks": behind}

    def ceilings(self):
        self.redis.call("FLUSHALL")
        xadd = redis_benchmark(self.redis.port, self.a.buys, ["XADD", "bench:x", "*"] + BUY_TEMPLATE)
        self.redis.call("FLUSHALL")
        p = cc.orders_cli("stock", "set", "BENCH", 10 ** 9, "--limit", "0", "--redis", self.redis.url)
        assert p.returncode == 0, p.stderr
        with open(os.path.join(ROOT, "commerce-overlay", "orders", "lua", "buy.lua")) as f:
            sha = self.redis.call("SCRIPT", "LOAD", f.read()).decode()
        evalsha = redis_benchmark(self.redis.port, self.a.buys // 2, [
            "EVALSHA", sha, "4", "cc:{sku:BENCH}:stock", "cc:{sku:BENCH}:buyers", "cc:{sku:BENCH}:orders",
            "cc:{sku:BENCH}:idem:__rand_int__", "BENCH", "0", "600", "0",
            "1-0", "v__rand_int__", "1", "1999", "EUR", "shop", "cr1", "cue1", "0"])
        return xadd, evalsha


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--buys", type=int, default=200000, help="buys per max-rate run")
    ap.add_argument("--rates", default="10000,20000", help="offered buys/s of the paced runs (comma list)")
    ap.add_argument("--seconds", type=float, default=10, help="length of the paced run")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    a = ap.parse_args()
    cc.BUILD = os.path.abspath(a.build)
    if not os.path.exists(os.path.join(cc.BUILD, "cartcast-orders")):
        sys.exit("orders-bench: no %s/cartcast-orders: build first (./cartcast build)" % cc.BUILD)
    b = Bench(a)
    try:
        say("ceilings: redis-benchmark XADD and EVALSHA buy.lua (%d requests, 4 clients, pipeline 32)" % a.buys)
        xadd, evalsha = b.ceilings()
        rates = [int(x) for x in a.rates.split(",") if x]
        rows = []
        cpu_lines = []
        for inst in (1, 2):
            say("%d instance(s): %d buys as fast as redis-benchmark appends them" % (inst, a.buys))
            m = b.run_max(inst)
            paced = []
            for rate in rates:
                say("%d instance(s): %d buys/s offered for %gs" % (inst, rate, a.seconds))
                paced.append((rate, b.run_paced(inst, rate)))
            rows.append((inst, m, paced))
        load = os.getloadavg()
        print("\ncartcast-orders, local redis-server %s (AOF everysec), %d CPUs, load %.1f/%.1f/%.1f"
              % (subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()[2],
                 os.cpu_count(), *load))
        print("ceilings: redis-benchmark XADD (a buy, 10 fields) %.0f/s; EVALSHA buy.lua, one buy per call %.0f/s"
              % (xadd, evalsha))
        print("| instances | run | orders/s | / XADD ceiling | p50 ms | p90 ms | p99 ms | max ms |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for inst, m, paced in rows:
            print("| %d | as fast as possible | **%.0f** | %.3f | %d | - | %d | %d |"
                  % (inst, m["orders_per_s"], m["orders_per_s"] / xadd, m["p50"], m["p99"], m["max"]))
            cpu_lines.append("%d instance(s): redis-server %.1f us CPU per buy (all of it: the producer's XADD, reads, "
                             "scripts, AOF), cartcast-orders %.1f us; one dedicated core for Redis would allow ~%.0f "
                             "orders/s" % (inst, m["redis_us"], m["service_us"], 1e6 / m["redis_us"]))
            for rate, p in paced:
                late = " (generator late on %d ticks)" % p["late_ticks"] if p["late_ticks"] else ""
                print("| %d | paced %d/s%s | %.0f | | %d | %d | **%d** | %d |"
                      % (inst, rate, late, p["offered_per_s"], p["p50"], p["p90"], p["p99"], p["max"]))
        print()
        for line in cpu_lines:
            print(line)
    finally:
        b.close()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""cartcast-orders end to end on a local redis-server: buys appended to the
orders stream -> order events out, with 1 and 2 service instances, beside the
Redis ceilings measured on the same machine (redis-benchmark: XADD of a buy,
EVALSHA of the buy script for one buy).

    bench/orders.py [--buys 200000] [--rates 10000,20000] [--seconds 10] [--tick-ms 10]
                    [--instances 1,2] [--no-aof] [--redis-config NAME=VALUE] [--build build]

Two measurements per instance count:
  max   redis-benchmark appends N buys as fast as it can (4 connections,
        pipeline 32); orders/s = N / (last event - first buy), from the stream
        IDs (Redis's clock, ms).  --buys 0 skips it.
  paced buys appended at each of --rates per second for --seconds, one pipelined
        write per --tick-ms tick from one connection; the sender never waits for
        replies (a second thread drains them), so a busy Redis cannot turn the
        load into bursts, and it reports how late its ticks were and its own CPU.
        Latency per buy = its event's stream ID - its own stream ID, both
        stamped by Redis (ms resolution), so a late client cannot inflate it:
        p50 / p90 / p99 / max.
CPU per buy of redis-server (with its finished AOF-rewrite children), the
service instances and the generator, from /proc; AOF rewrites during each run.
Scenario: every buy is confirmed (stock 10^9, no per-viewer limit), the
costlier path (order record, sales counters, stock-change entry).  Redis runs
with AOF (appendfsync everysec, auto-aof-rewrite-min-size 1gb), as ./cartcast up
and docker-compose.yml run it (--no-aof: a reference for what persistence
costs; --redis-config auto-aof-rewrite-min-size=64mb: Redis's default, which
rewrites the AOF every few seconds at 20,000 buys/s).
Standard library only (a RESP client from tests/integration/cc.py)."""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
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
    """User + system CPU seconds of a process so far, with its children that
    have ended (redis-server's AOF rewrite children: they share the cores)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


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
        # as ./cartcast up: rewrite the AOF only past 1 GB (a later --redis-config wins)
        extra = ["--auto-aof-rewrite-min-size", "1gb"]
        for kv in a.redis_config:
            k, _, v = kv.partition("=")
            extra += ["--" + k, v]
        self.redis = cc.RedisServer(self.work, aof=not a.no_aof, extra=extra)
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

    def rewrites(self):
        """AOF rewrites so far (each forks a child that serializes the dataset)."""
        info = self.redis.call("INFO", "persistence").decode()
        return int(re.search(r"aof_rewrites:(\d+)", info).group(1))

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
        r0, s0, w0 = cpu_s(self.redis.proc.pid), sum(cpu_s(p) for p in pids), self.rewrites()
        t0 = time.time()
        redis_benchmark(self.redis.port, n, ["XADD", BUYS, "*"] + BUY_TEMPLATE)
        add_s = time.time() - t0
        self.wait_events(n)
        redis_us = (cpu_s(self.redis.proc.pid) - r0) * 1e6 / n
        service_us = (sum(cpu_s(p) for p in pids) - s0) * 1e6 / n
        span = self.span_ms()
        lat = self.latencies()
        return {"orders_per_s": n * 1000.0 / span, "append_per_s": n / add_s, "p50": pct(lat, 50),
                "rewrites": self.rewrites() - w0,
                "redis_us": redis_us, "service_us": service_us,
                "p99": pct(lat, 99), "max": lat[-1] if lat else None}

    def run_paced(self, instances, rate):
        """Appends `rate` buys/s for --seconds in ticks of --tick-ms.  The
        sender never waits for Redis's replies (a second thread drains and
        checks them), so a busy Redis cannot make the generator late and turn
        its load into bursts; what it costs and how late it was are reported."""
        self.reset(instances)
        secs = self.a.seconds
        tick = self.a.tick_ms / 1000.0
        per_tick = max(1, int(round(rate * tick)))
        ticks = int(round(secs / tick))
        total = per_tick * ticks
        chunks = [b"".join(cc.Resp.encode(xadd_cmd(buy_fields("p%d" % i, "v%d" % (i % 5000), "BENCH")))
                           for i in range(k, k + per_tick)) for k in range(0, total, per_tick)]
        c = self.redis.client(timeout=60)
        got = {"replies": 0, "error": None}

        def drain():
            # Each XADD answers "$N\r\nID\r\n" (two CRLFs); an error is "-...\r\n".
            crlf, tail = 0, b"\n"
            try:
                while crlf < 2 * total:
                    data = c.sock.recv(1 << 16)
                    if not data:
                        raise RuntimeError("redis closed the connection")
                    buf = tail + data  # a CRLF may straddle two reads
                    if b"\n-" in buf:
                        raise RuntimeError("XADD failed: %r" % buf[:200])
                    crlf += buf.count(b"\r\n")
                    tail = data[-1:]
            except Exception as e:  # noqa: BLE001 - reported by the sender
                got["error"] = e
            got["replies"] = crlf // 2

        reader = threading.Thread(target=drain)
        reader.start()
        late_ms = []
        send_s = 0.0
        cpu0 = time.process_time()
        pids = [d.proc.pid for d in self.daemons]
        r0, s0, w0 = cpu_s(self.redis.proc.pid), sum(cpu_s(p) for p in pids), self.rewrites()
        t0 = time.perf_counter()
        for k, chunk in enumerate(chunks):
            target = t0 + k * tick
            now = time.perf_counter()
            if now < target:
                time.sleep(target - now)
                now = time.perf_counter()
            late_ms.append((now - target) * 1000.0)
            c.sock.sendall(chunk)
            send_s += time.perf_counter() - now  # > 0 when Redis is not reading its socket
        elapsed = time.perf_counter() - t0
        gen_cpu = time.process_time() - cpu0
        reader.join(timeout=120)
        if got["error"] is not None:
            raise got["error"]
        c.close()
        self.wait_events(total)
        redis_cpu, service_cpu = cpu_s(self.redis.proc.pid) - r0, sum(cpu_s(p) for p in pids) - s0
        lat = self.latencies()
        late_ms.sort()
        return {"offered_per_s": total / elapsed, "p50": pct(lat, 50), "p90": pct(lat, 90), "p99": pct(lat, 99),
                "max": lat[-1], "late_p99_ms": pct(late_ms, 99), "late_max_ms": late_ms[-1], "send_s": send_s,
                "gen_us": gen_cpu * 1e6 / total, "rewrites": self.rewrites() - w0, "redis_us": redis_cpu * 1e6 / total,
                "service_us": service_cpu * 1e6 / total}

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
            "1-0", "v__rand_int__", "1", "1-0\tv1\tBENCH\t1\t1999\tEUR\tshop\tcr1\tcue1\t0\t0"])
        return xadd, evalsha


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--buys", type=int, default=200000, help="buys per max-rate run (0: no max-rate run)")
    ap.add_argument("--rates", default="10000,20000", help="offered buys/s of the paced runs (comma list)")
    ap.add_argument("--seconds", type=float, default=10, help="length of the paced run")
    ap.add_argument("--tick-ms", type=float, default=10, help="the paced generator writes once per tick")
    ap.add_argument("--instances", default="1,2", help="service instances per run (comma list)")
    ap.add_argument("--no-aof", action="store_true",
                    help="Redis without AOF: a reference for what persistence costs, not the deployment")
    ap.add_argument("--redis-config", action="append", default=[], metavar="NAME=VALUE",
                    help="extra redis-server setting, e.g. auto-aof-rewrite-percentage=400 (repeatable)")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    a = ap.parse_args()
    cc.BUILD = os.path.abspath(a.build)
    if not os.path.exists(os.path.join(cc.BUILD, "cartcast-orders")):
        sys.exit("orders-bench: no %s/cartcast-orders: build first (./cartcast build)" % cc.BUILD)
    b = Bench(a)
    try:
        say("ceilings: redis-benchmark XADD and EVALSHA buy.lua (%d requests, 4 clients, pipeline 32)"
            % (a.buys or 200000))
        if not a.buys:
            a.buys = 200000
            xadd, evalsha = b.ceilings()
            a.buys = 0
        else:
            xadd, evalsha = b.ceilings()
        rates = [int(x) for x in a.rates.split(",") if x]
        rows = []
        cpu_lines = []
        for inst in [int(x) for x in a.instances.split(",") if x]:
            m = None
            if a.buys:
                say("%d instance(s): %d buys as fast as redis-benchmark appends them" % (inst, a.buys))
                m = b.run_max(inst)
            paced = []
            for rate in rates:
                say("%d instance(s): %d buys/s offered for %gs" % (inst, rate, a.seconds))
                paced.append((rate, b.run_paced(inst, rate)))
            rows.append((inst, m, paced))
        load = os.getloadavg()
        print("\ncartcast-orders, local redis-server %s (%s), %d CPUs, load %.1f/%.1f/%.1f"
              % (subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()[2],
                 ("no AOF: reference only" if a.no_aof else "AOF everysec, auto-aof-rewrite-min-size=1gb")
                 + "".join(", " + kv for kv in a.redis_config), os.cpu_count(), *load))
        print("ceilings: redis-benchmark XADD (a buy, 10 fields) %.0f/s; EVALSHA buy.lua, one buy per call %.0f/s"
              % (xadd, evalsha))
        print("| instances | run | orders/s | / XADD ceiling | p50 ms | p90 ms | p99 ms | max ms | generator late p99/max ms |"
              " CPU us/buy redis / service / generator |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for inst, m, paced in rows:
            if m is not None:
                print("| %d | as fast as possible | **%.0f** | %.3f | %d | - | %d | %d | | %.1f / %.1f / - |"
                      % (inst, m["orders_per_s"], m["orders_per_s"] / xadd, m["p50"], m["p99"], m["max"],
                         m["redis_us"], m["service_us"]))
                cpu_lines.append("%d instance(s), max run: redis-server %.1f us CPU per buy (all of it: the producer's "
                                 "XADD, reads, scripts, AOF, AOF rewrites: %d), cartcast-orders %.1f us; one dedicated "
                                 "core for Redis would allow ~%.0f orders/s"
                                 % (inst, m["redis_us"], m["rewrites"], m["service_us"], 1e6 / m["redis_us"]))
            for rate, p in paced:
                print("| %d | paced %d/s | %.0f | | %d | %d | **%d** | %d | %.1f / %.1f | %.1f / %.1f / %.1f |"
                      % (inst, rate, p["offered_per_s"], p["p50"], p["p90"], p["p99"], p["max"], p["late_p99_ms"],
                         p["late_max_ms"], p["redis_us"], p["service_us"], p["gen_us"]))
                cpu_lines.append("%d instance(s), paced %d/s: %d AOF rewrite(s) during the run; the generator spent "
                                 "%.1f s of %g s blocked in send() (Redis not reading its socket)"
                                 % (inst, rate, p["rewrites"], p["send_s"], a.seconds))
        print()
        for line in cpu_lines:
            print(line)
    finally:
        b.close()


if __name__ == "__main__":
    main()

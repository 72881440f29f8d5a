#!/usr/bin/env python3
"""cartcast-edge benchmark (issue 5's figures), one command:

  (c) upstream requests per new part per edge, with 1 and with 500 viewers (--viewers):
      origin + one edge + the bench clip published with ffmpeg -re; V keep-alive
      connections to the edge behave like LL-HLS players at the live edge: each round
      every viewer sends the blocking reload for the next part
      (media.m3u8?_HLS_msn=M&_HLS_part=P), reads the answer, then GETs that part.
      Over --interval seconds, the edge's own counters
          cartcast_edge_upstream_requests_total{type=...}   (requests it made to the origin)
          cartcast_edge_stream_parts_total{stream="s1"}     (parts its mirror received)
      are read before and after: upstream requests / new parts must be <= 2 (one blocking
      playlist + one part) and the same for 1 and 500 viewers. The origin's own
      cartcast_hls_* counters are read too, as a cross-check from the other side.
  (b) held blocking playlist requests on the edge: bench/held_requests.py --edge
      (N = --held, default 1000,10000; fan-out spread p50/p99 from the part's arrival at the
      edge, edge RSS with N held; memory per held request = (RSS with N - RSS before) / N).
  (a) part and segment req/s from the edge vs nginx serving the same bytes from a file:
      bench/held_requests.py --edge --only-throughput (wrk, same -t/-c/-d for both), ratio.

Each step starts its own origin, edge and publisher on free 127.0.0.1 ports and stops
them (and removes its temp dir) when done; every loop has a deadline.

    bench/edge.py                                    # everything (~4 min)
    bench/edge.py --only upstream --viewers 1,500,2000
    bench/edge.py --only held --held 1000,5000,10000
    bench/edge.py --only throughput --wrk-conns 64
    bench/edge.py --build /tmp/b-edgebench           # binaries from another build dir

Exit status: 0 all checks met, 1 a check failed or a step broke, 2 bad usage.
"""
import argparse
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import held_requests as hr  # noqa: E402
from common import ROOT  # noqa: E402

say = common.sayer("edge")


def counters(port, prefix):
    """{label-set or '': value} of one metric family."""
    out = {}
    for k, v in hr.metrics(port).items():
        if k == prefix or k.startswith(prefix + "{"):
            out[k[len(prefix):] or ""] = v
    return out


def snapshot(edge, origin):
    return {
        "up": counters(edge.http_port, "cartcast_edge_upstream_requests_total"),
        "up_bytes": sum(counters(edge.http_port, "cartcast_edge_upstream_bytes_total").values()),
        "parts": sum(counters(edge.http_port, "cartcast_edge_stream_parts_total").values()),
        "resyncs": sum(counters(edge.http_port, "cartcast_edge_resyncs_total").values()),
        "errors": sum(counters(edge.http_port, "cartcast_edge_origin_errors_total").values()),
        "viewer_reqs": sum(counters(edge.http_port, "cartcast_edge_viewer_requests_total").values()),
        "origin_held": sum(counters(origin.http_port, "cartcast_hls_held_total").values()),
    }


def viewer_rounds(edge, conns, seconds):
    """Players at the live edge: blocking reload for the next part, then the part. Returns
    (rounds, answers, bad)."""
    st, body = common.http_get(edge.url("media.m3u8"), timeout=3)
    if st != 200:
        raise hr.Failed("edge media.m3u8: status %d" % st)
    live = hr.Edge(body.decode())
    rounds = answers = 0
    bad = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        msn, idx, seq = live.target(1)
        hr.send_all(conns, hr.request_bytes("%smedia.m3u8?_HLS_msn=%d&_HLS_part=%d" % (edge.base, msn, idx), False))
        left = hr.read_responses(conns, time.monotonic() + 10)
        sts = {}
        for c in conns:
            sts[c.status] = sts.get(c.status, 0) + 1
        if left or sts != {200: len(conns)}:
            bad.append("round %d playlist: statuses %r, %d unanswered" % (rounds + 1, sts, left))
            break
        live = hr.Edge(conns[0].body.decode())
        # The part the reload was for: the newest listed one (its URI from the answer).
        uri = live.pl["parts"][-1][2]
        hr.send_all(conns, hr.request_bytes(edge.base + uri, False))
        left = hr.read_responses(conns, time.monotonic() + 10, keep_body=False)
        sts = {}
        for c in conns:
            sts[c.status] = sts.get(c.status, 0) + 1
        if left or sts != {200: len(conns)} or len({c.body for c in conns}) != 1:
            bad.append("round %d part %s: statuses %r, %d unanswered" % (rounds + 1, uri, sts, left))
            break
        rounds += 1
        answers += 2 * len(conns)
    return rounds, answers, bad


def upstream(a, workdir):
    procs = hr.Procs(workdir)
    rows, failed = [], False
    try:
        clip = a.clip or hr.make_clip()
        origin = hr.Origin(procs, os.path.join(a.build, "cartcast-origin"), clip, workdir)
        origin.wait_playlist()
        edge = hr.EdgeNode(procs, os.path.join(a.build, "cartcast-edge"), origin)
        e = edge.wait_playlist()
        say("origin :%d, edge :%d (pid %d) following s1: PART-TARGET %.3f s, %d parts per segment" % (
            origin.http_port, edge.http_port, edge.proc.pid, e.pl["part_target"], e.pps))
        for v in a.viewers:
            conns = hr.open_conns(edge.http_port, v, time.monotonic() + 60)
            try:
                viewer_rounds(edge, conns, 2)  # warm: everyone at the live edge
                s0, t0 = snapshot(edge, origin), time.monotonic()
                rounds, answers, bad = viewer_rounds(edge, conns, a.interval)
                s1, el = snapshot(edge, origin), time.monotonic() - t0
            finally:
                for c in conns:
                    c.sock.close()
            procs.check()
            d_up = {k: s1["up"].get(k, 0) - s0["up"].get(k, 0) for k in set(s0["up"]) | set(s1["up"])}
            total = sum(d_up.values())
            parts = s1["parts"] - s0["parts"]
            row = {
                "viewers": v, "seconds": el, "rounds": rounds, "answers": answers, "parts": parts,
                "up": total, "by_type": {re.sub(r'\{type="(.*)"\}', r"\1", k): d for k, d in d_up.items() if d},
                "per_part": total / parts if parts else float("inf"),
                "bytes_per_part": (s1["up_bytes"] - s0["up_bytes"]) / parts if parts else 0,
                "resyncs": s1["resyncs"] - s0["resyncs"], "errors": s1["errors"] - s0["errors"],
                "viewer_reqs": s1["viewer_reqs"] - s0["viewer_reqs"], "bad": bad,
            }
            rows.append(row)
            say("%d viewers, %.1f s: %d rounds, %d viewer answers, %d new parts, %d upstream requests (%s), "
                "%.2f per part%s" % (v, el, rounds, answers, parts, total,
                                     ", ".join("%s %d" % kv for kv in sorted(row["by_type"].items())),
                                     row["per_part"], "; " + "; ".join(bad) if bad else ""))
    except hr.Failed as ex:
        say(str(ex))
        failed = True
    finally:
        procs.stop_all()
    return rows, failed


def held_cmd(a, extra):
    return [sys.executable, os.path.join(ROOT, "bench", "held_requests.py"), "--edge",
            "--origin-bin", os.path.join(a.build, "cartcast-origin"),
            "--edge-bin", os.path.join(a.build, "cartcast-edge")] + (["--clip", a.clip] if a.clip else []) + extra


def run_held(cmd):
    say("running: " + " ".join(os.path.relpath(x, ROOT) if x.startswith(ROOT) else x for x in cmd[1:]))
    r = subprocess.run(cmd, stdout=subprocess.PIPE, timeout=1800)
    out = r.stdout.decode(errors="replace")
    sys.stdout.write(out)
    kv = {}
    for line in out.splitlines():
        if line.startswith("RESULT "):
            for item in line.split()[1:]:
                k, _, v = item.partition("=")
                kv[k] = float(v)
    return r.returncode, kv


def main():
    ap = argparse.ArgumentParser(description="cartcast-edge: throughput vs nginx, held requests, upstream load.")
    ap.add_argument("--only", choices=("upstream", "held", "throughput"), action="append",
                    help="run only these steps (repeatable); default all")
    ap.add_argument("--viewers", default="1,500", help="viewer counts for the upstream step (default 1,500)")
    ap.add_argument("--interval", type=float, default=10.0, help="seconds measured per viewer count (default 10)")
    ap.add_argument("--held", default="1000,10000", help="held counts for held_requests.py --edge --conns")
    ap.add_argument("--rounds", type=int, default=10, help="held rounds per count (default 10)")
    ap.add_argument("--wrk-conns", type=int, default=64)
    ap.add_argument("--wrk-threads", type=int, default=1)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="directory with cartcast-origin/-edge")
    ap.add_argument("--clip", default=None)
    a = ap.parse_args()
    steps = a.only or ["upstream", "held", "throughput"]
    try:
        a.viewers = [int(x) for x in a.viewers.split(",") if x.strip()]
    except ValueError:
        ap.error("--viewers wants numbers like 1,500")
    if not a.viewers or min(a.viewers) < 1 or max(a.viewers) > 5000 or not 3 <= a.interval <= 120:
        ap.error("--viewers 1..5000, --interval 3..120")
    for b in ("cartcast-origin", "cartcast-edge"):
        if not os.access(os.path.join(a.build, b), os.X_OK):
            say("no %s in %s: build it or pass --build" % (b, a.build))
            return 2
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(65536, hard) if hard != resource.RLIM_INFINITY else 65536
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    def on_signal(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)

    print("cartcast-edge benchmark, %s UTC, load average %s, ulimit -n %d" % (
        time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), " ".join(open("/proc/loadavg").read().split()[:3]), want))
    failed = False
    kv = []
    if "upstream" in steps:
        workdir = tempfile.mkdtemp(prefix="cc-bench-edge.")
        try:
            rows, f = upstream(a, workdir)
        except KeyboardInterrupt:
            rows, f = [], True
        failed |= f
        if f:
            say("logs kept in " + workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        if rows:
            print()
            print("(c) Upstream requests per new part (one edge, players doing blocking reload + part fetch)")
            print("%8s %7s %7s %9s %6s %9s %10s %8s %8s  %s" % (
                "viewers", "secs", "rounds", "answers", "parts", "upstream", "per part", "KB/part", "resyncs",
                "by type"))
            for r in rows:
                print("%8d %7.1f %7d %9d %6d %9d %10.2f %8.0f %8d  %s" % (
                    r["viewers"], r["seconds"], r["rounds"], r["answers"], r["parts"], r["up"], r["per_part"],
                    r["bytes_per_part"] / 1e3, r["resyncs"],
                    ", ".join("%s %d" % x for x in sorted(r["by_type"].items()))))
                kv.append("upstream_per_part_%d=%.2f" % (r["viewers"], r["per_part"]))
            ok = all(r["per_part"] <= 2.0 and not r["bad"] and r["parts"] > 0 for r in rows)
            spread = max(r["per_part"] for r in rows) - min(r["per_part"] for r in rows)
            print("target <= 2 upstream requests per new part whatever the viewers: %s (%s; spread between viewer "
                  "counts %.2f)" % ("met" if ok else "NOT met",
                                    ", ".join("%d viewers %.2f" % (r["viewers"], r["per_part"]) for r in rows),
                                    spread))
            failed |= not ok
    if "held" in steps:
        rc, res = run_held(held_cmd(a, ["--conns", a.held, "--mode", "playlist", "--rounds", str(a.rounds),
                                        "--no-throughput"]))
        failed |= rc != 0
        print()
        print("(b) Memory per held request on the edge (RSS with N held - RSS before any connection) / N")
        for n in sorted({int(x) for x in a.held.split(",")}):
            rss, idle = res.get("playlist_%d_rss_kib" % n), res.get("playlist_%d_rss_idle_kib" % n)
            if rss is not None and idle is not None:
                print("  %6d held: RSS %.1f MB (%.1f MB before), %.1f KB per held request; delay from the part's arrival p50 %.2f p99 %.2f "
                      "ms" % (n, rss / 1024, idle / 1024, (rss - idle) * 1.024 / n,
                              res.get("playlist_%d_p50_ms" % n, float("nan")),
                              res.get("playlist_%d_p99_ms" % n, float("nan"))))
                kv.append("held_%d_kb_per_req=%.1f" % (n, (rss - idle) * 1.024 / n))
    if "throughput" in steps:
        for obj in ("part", "segment"):
            rc, res = run_held(held_cmd(a, ["--only-throughput", "--tp-object", obj, "--wrk-conns", str(a.wrk_conns),
                                            "--wrk-threads", str(a.wrk_threads), "--wrk-duration", "5"]))
            failed |= rc != 0
            if "tp_ratio" in res:
                kv.append("tp_%s_ratio=%.3f" % (obj, res["tp_ratio"]))
                print("(a) %s: edge %.0f req/s, nginx %.0f req/s, ratio edge/nginx %.2f" % (
                    obj, res["tp_cartcast_rps"], res["tp_nginx_rps"], res["tp_ratio"]))
    if kv:
        print("EDGE RESULT " + " ".join(kv))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Viewer latency: cartcast LL-HLS side by side with ffmpeg's own HLS muxer.

One ffmpeg process replays a pre-encoded clip in real time (-re -stream_loop -1
-c copy; the clip is a lavfi test pattern + tone, x264 veryfast zerolatency, 1 s
GOP, AAC, made once into bench/out/) and its tee muxer sends it to two places at
once:
  - RTMP to cartcast-origin, played from http://127.0.0.1:PORT/live/bench/index.m3u8
  - ffmpeg's hls muxer (ordinary HLS: 1 s fMP4 segments, PDT on every segment),
    served as static files by a Python HTTP server with CORS,
so both servers get the same frames at the same moments. Replaying with -c copy
keeps the source on the wall clock even on a busy machine (a live x264 encode that
falls behind real time makes every PDT, and so every latency figure, drift up;
--live-encode does that anyway, to include an encoder). Two headless Chromium
pages (tests/integration/hls_player.mjs: hls.js with lowLatencyMode) then play
both at the same time and sample Date.now() - hls.playingDate every 100 ms: the
age of the frame on screen against the wall clock that stamped it (the PDT).

    bench/latency.py                    # 3 sessions of 60 s of playback per server
    bench/latency.py --seconds 20 --runs 3
    bench/latency.py --config '{"maxLiveSyncPlaybackRate": 1.5}'   # hls.js options
    bench/latency.py --no-resync        # plain hls.js: no catch-up seek (the viewer page does one: --resync,
                                        # the default; commerce-overlay/web/overlay.js)
    bench/latency.py --origin-args "--part-target-ms 100"
    bench/latency.py --only cartcast

Prints p50/p90 of each, the ratio ffmpeg-HLS / cartcast, and whether cartcast's
p50 is under the 1.0 s target; writes the whole result (every sample) to
bench/out/latency-<UTC time>.json. Everything listens on 127.0.0.1 on free ports
and every process it starts is stopped on exit. Exit status: 0 ok, 1 a player
did not play (or --require-target and the target was missed), 2 bad usage or a
missing tool.
"""
import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
TARGET_MS = 1000


def percentile(values, p):
    if not values:
        return None
    v = sorted(values)
    return v[max(0, min(len(v) - 1, -(-len(v) * p // 100) - 1))]


def say(msg):
    print("latency: %s" % msg, file=sys.stderr, flush=True)


def make_clip(source, encode, a):
    """A 30 s clip in bench/out/, made once per size/rate/bitrate."""
    out = os.path.join(ROOT, "bench", "out")
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "latency-clip-%s-%d-%s.flv" % (a.size, a.rate, a.bitrate))
    if not os.path.exists(path):
        say("making %s" % os.path.relpath(path, ROOT))
        tmp = path + ".tmp.flv"
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y"] + source +
                       ["-t", "30", "-map", "0:v", "-map", "1:a"] + encode + ["-f", "flv", tmp], check=True)
        os.rename(tmp, path)
    return path


def main():
    ap = argparse.ArgumentParser(description="viewer latency: cartcast LL-HLS vs ffmpeg HLS, hls.js in Chromium")
    ap.add_argument("--seconds", type=float, default=60, help="playback per session and server (default 60)")
    ap.add_argument("--warmup", type=float, default=5, help="seconds of playback not sampled (default 5)")
    ap.add_argument("--runs", type=int, default=3,
                    help="player sessions per server, one after another: hls.js picks its distance from the live "
                         "edge once per session, so one session is one draw (default 3)")
    ap.add_argument("--origin-bin", default=os.path.join(ROOT, "build", "cartcast-origin"))
    ap.add_argument("--origin-args", default="", help="extra cartcast-origin flags, one string")
    ap.add_argument("--size", default="1280x720", help="encoded picture size (default 1280x720)")
    ap.add_argument("--rate", type=int, default=30, help="frame rate; the GOP is one second (default 30)")
    ap.add_argument("--bitrate", default="2500k", help="x264 bitrate (default 2500k)")
    ap.add_argument("--hls-time", type=float, default=1, help="ffmpeg hls_time, seconds (default 1)")
    ap.add_argument("--config", default="{}", help="hls.js config overrides (JSON) for both players")
    ap.add_argument("--resync", action="store_true", default=True,
                    help="(default) the player does what cartcast's viewer page does (commerce-overlay/web/overlay.js): "
                         "after a second of playback, seek to hls.liveSyncPosition when more than 0.2 s behind "
                         "hls.js's target latency (at most 3 times, 3 s apart); hls.js keeps its startup delay "
                         "otherwise")
    ap.add_argument("--no-resync", dest="resync", action="store_false",
                    help="plain hls.js {lowLatencyMode: true}, no catch-up seek")
    ap.add_argument("--clip", help="replay this FLV (H.264 with a 1 s GOP + AAC) instead of bench/out's")
    ap.add_argument("--live-encode", action="store_true", help="encode live with x264 instead of replaying a clip")
    ap.add_argument("--only", choices=("both", "cartcast", "ffmpeg"), default="both")
    ap.add_argument("--require-target", action="store_true", help="exit 1 if cartcast's p50 is not under 1.0 s")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, ffmpeg's HLS) and print its path")
    a = ap.parse_args()
    try:
        config = json.loads(a.config)
    except ValueError as e:
        ap.error("--config: %s" % e)
    if a.seconds <= a.warmup:
        ap.error("--seconds must be longer than --warmup")

    origin_bin = os.path.abspath(a.origin_bin)
    missing = [p for p in (origin_bin if a.only != "ffmpeg" else None, shutil.which("ffmpeg"), shutil.which("node"),
                           "/usr/bin/chromium", os.path.join(ROOT, "node_modules", "hls.js")) if p is not None and
               not os.path.exists(p)]
    if not shutil.which("ffmpeg") or not shutil.which("node") or missing:
        say("missing: %s (build first; scripts/deps.sh installs ffmpeg, chromium, node_modules)" % (missing or "ffmpeg/node"))
        return 2

    os.environ["CC_BUILD_DIR"] = os.path.dirname(origin_bin)
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    import cc  # noqa: E402  (after CC_BUILD_DIR is set)

    work = tempfile.mkdtemp(prefix="cc-latency-")
    procs, cleanups = [], []
    origin = None

    def stop_all(*_):
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for c in cleanups:
            try:
                c()
            except Exception:  # noqa: BLE001 - best effort at exit
                pass

    def on_signal(sig, _):
        stop_all()
        sys.exit(128 + sig)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    total = a.runs * (a.seconds + 20) + 60
    signal.signal(signal.SIGALRM, lambda *_: (say("watchdog: the run overstayed"), on_signal(signal.SIGALRM, None)))
    signal.alarm(int(total + 120))

    result = {"when": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "seconds": a.seconds, "warmup": a.warmup, "runs": a.runs, "size": a.size, "rate": a.rate,
              "bitrate": a.bitrate, "hls_time": a.hls_time, "config": config, "origin_args": a.origin_args,
              "resync": a.resync, "live_encode": a.live_encode,
              "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "loadavg_start": os.getloadavg()},
              "servers": {}}
    rc = 0
    try:
        key = "bench-latency-key-%d" % os.getpid()
        urls = {}
        outputs = []
        if a.only != "ffmpeg":
            origin = cc.Origin(work, {"bench": key}, shlex.split(a.origin_args))
            cleanups.append(origin.stop)
            outputs.append("[f=flv:onfail=ignore]%s" % origin.rtmp_url(key))
            urls["cartcast"] = origin.url("/live/bench/index.m3u8")
        if a.only != "cartcast":
            hls_dir = os.path.join(work, "ffmpeg-hls")
            os.makedirs(hls_dir)
            srv = cc.StaticServer(hls_dir)
            cleanups.append(srv.close)
            outputs.append("[f=hls:hls_time=%g:hls_list_size=6:hls_segment_type=fmp4:"
                           "hls_flags=delete_segments+program_date_time:onfail=ignore]%s" % (
                               a.hls_time, os.path.join(hls_dir, "index.m3u8")))
            urls["ffmpeg-hls"] = srv.url("index.m3u8")
        enc_log = open(os.path.join(work, "ffmpeg.log"), "wb")
        cleanups.append(enc_log.close)
        source = ["-f", "lavfi", "-i", "testsrc2=size=%s:rate=%d" % (a.size, a.rate),
                  "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
        encode = ["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-b:v", a.bitrate,
                  "-g", str(a.rate), "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", "-ac", "2"]
        if a.live_encode:
            cmd = source + ["-t", str(int(total)), "-map", "0:v", "-map", "1:a"] + encode + ["-flags", "+global_header"]
        else:
            clip = a.clip or make_clip(source, encode, a)
            result["clip"] = clip
            cmd = ["-stream_loop", "-1", "-i", clip, "-t", str(int(total)), "-map", "0", "-c", "copy"]
        enc = subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "warning", "-nostdin", "-re"] + cmd +
                               ["-f", "tee", "|".join(outputs)], stdout=subprocess.DEVNULL, stderr=enc_log)
        procs.append(enc)

        # both servers ready: parts in cartcast's playlist, 4+ segments in ffmpeg's
        def ready():
            if enc.poll() is not None:
                raise RuntimeError("the encoder exited: see %s/ffmpeg.log" % work)
            ok = True
            if "cartcast" in urls:
                st, _, body = cc.http_get(urls["cartcast"].replace("index.m3u8", "media.m3u8"), timeout=2)
                ok = ok and st == 200 and body.count(b"#EXT-X-PART:") >= 5
            if "ffmpeg-hls" in urls:
                p = os.path.join(work, "ffmpeg-hls", "index.m3u8")
                ok = ok and os.path.exists(p) and open(p).read().count("#EXTINF") >= 4
            return ok
        cc.wait_for(ready, 30, "both playlists")
        if "cartcast" in urls:
            st, _, body = cc.http_get(urls["cartcast"].replace("index.m3u8", "media.m3u8"))
            head = [l for l in body.decode().splitlines() if l.startswith(("#EXT-X-TARGETDURATION", "#EXT-X-PART-INF",
                                                                           "#EXT-X-SERVER-CONTROL"))]
            result["cartcast_playlist"] = head
        say("encoding %s@%d to %s; playing %s" % (a.size, a.rate, ", ".join(urls), "%g s x %d" % (a.seconds, a.runs)))

        samples = {name: [] for name in urls}
        sessions = {name: [] for name in urls}
        for run in range(a.runs):
            players = {}
            for name, url in urls.items():
                out = os.path.join(work, "player-%s-%d.json" % (name, run))
                players[name] = (cc.hls_player_spawn(url, a.seconds, out, warmup=a.warmup, config=config,
                                                     resync=a.resync), out)
                procs.append(players[name][0])
            for name, (p, out) in players.items():
                p.wait(timeout=a.seconds + 120)
                err = p.stderr.read().decode(errors="replace")
                p.stderr.close()
                try:
                    with open(out) as f:
                        res = json.load(f)
                except (OSError, ValueError):
                    say("%s: the player printed no result (exit %s): %s" % (name, p.returncode, err[-2000:]))
                    rc = 1
                    continue
                if not res["played"] or res["fatalErrors"]:
                    say("%s: did not play: %s" % (name, json.dumps({k: res[k] for k in ("played", "fatalErrors")})))
                    rc = 1
                samples[name] += res["latencyValues"]
                sessions[name].append({k: res[k] for k in ("played", "currentTimeAdvance", "startupMs", "stalls",
                                                           "resyncs", "errors", "fatalErrors", "latency", "hlsLatency")})
                result["hlsjs"], result["browser"] = res["hlsjs"], res["browser"]
                say("run %d %-10s p50 %s ms  p90 %s ms  (hls.js's own estimate p50 %s ms)  stalls %d" % (
                    run + 1, name, res["latency"]["p50"], res["latency"]["p90"], res["hlsLatency"]["p50"], res["stalls"]))

        for name in urls:
            v = samples[name]
            result["servers"][name] = {"url": urls[name], "p50_ms": percentile(v, 50), "p90_ms": percentile(v, 90),
                                       "min_ms": min(v) if v else None, "max_ms": max(v) if v else None,
                                       "samples": len(v), "sessions": sessions[name], "values_ms": v}
    except (RuntimeError, AssertionError, OSError, subprocess.TimeoutExpired) as e:
        say("failed: %s" % e)
        rc = 1
    finally:
        stop_all()
        signal.alarm(0)

    # report
    result["machine"]["loadavg_end"] = os.getloadavg()
    s = result["servers"]
    print()
    print("viewer latency, Date.now() - hls.playingDate (hls.js %s, Chromium %s, %s@%d, %g s x %d, first %g s of "
          "each session not sampled%s%s)" % (result.get("hlsjs"), result.get("browser"), a.size, a.rate, a.seconds,
                                            a.runs, a.warmup, ", hls.js config %s" % a.config if config else "",
                                            ", viewer-page catch-up seek (--resync)" if a.resync else
                                            ", plain hls.js (--no-resync)"))
    print("load average at start %.2f, at end %.2f (%d CPUs)" % (result["machine"]["loadavg_start"][0],
                                                               result["machine"]["loadavg_end"][0], os.cpu_count()))
    print("%-12s %8s %8s %8s %8s %8s" % ("server", "p50 ms", "p90 ms", "min", "max", "samples"))
    for name, r in s.items():
        print("%-12s %8s %8s %8s %8s %8d" % (name, r["p50_ms"], r["p90_ms"], r["min_ms"], r["max_ms"], r["samples"]))
    c, f = s.get("cartcast", {}).get("p50_ms"), s.get("ffmpeg-hls", {}).get("p50_ms")
    if c and f:
        result["ratio_ffmpeg_over_cartcast_p50"] = round(f / c, 2)
        print("ratio ffmpeg-hls / cartcast (p50): %.2f" % (f / c))
    if c:
        met = c < TARGET_MS
        result["target_met"] = met
        print("target: cartcast p50 under %d ms: %s" % (TARGET_MS, "met" if met else "NOT met"))
        if a.require_target and not met:
            rc = 1
    os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
    out = os.path.join(ROOT, "bench", "out", "latency-%s.json" % result["when"].replace(":", ""))
    with open(out, "w") as fh:
        json.dump(result, fh, indent=1)
    print("result: %s" % out)
    if a.keep:
        print("kept: %s" % work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())

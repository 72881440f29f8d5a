"""SRT ingest end to end: ffmpeg and srt-live-transmit publish MPEG-TS over SRT
to cartcast-origin; /v1/streams, /metrics, the log and LL-HLS tell what arrived.

Every refusal is checked on both sides: the publisher fails, and the origin's
`srt.reject` line names the reason and the SRT rejection code (never the key).
"""
import os
import re
import subprocess
import threading
import time

import cc

KEY_A = "srt-key-a-5d1e7c9b"
KEY_B = "srt-key-b-3f8a2e6d"
PASS = "correct-horse-battery"


def srt_url(o, streamid, **params):
    q = "streamid=" + streamid
    for k, v in params.items():
        q += "&%s=%s" % (k, v)
    return "srt://127.0.0.1:%d?%s" % (o.srt_port, q)


def keyed(key):
    return "#!::r=live/%s,m=publish" % key


def ffmpeg_srt(url, seconds=5, size="640x360", rate=30, hevc=False, realtime=True):
    """A real encoder (x264 or x265, 1 s GOP, AAC) sending MPEG-TS over SRT."""
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin"]
    if realtime:
        args += ["-re"]
    args += ["-f", "lavfi", "-i", "testsrc2=size=%s:rate=%d" % (size, rate),
             "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds)]
    if hevc:
        args += ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error"]
    else:
        args += ["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency"]
    args += ["-g", str(rate), "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", "-ac", "2", "-f", "mpegts", url]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_clip(path, seconds=4, size="640x360", vcodec="libx264", extra=()):
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                    "-f", "lavfi", "-i", "testsrc2=size=%s:rate=30" % size,
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds),
                    "-c:v", vcodec, "-g", "30", "-pix_fmt", "yuv420p", "-c:a", "aac" if vcodec != "mpeg2video" else "mp2",
                    ] + list(extra) + ["-f", "mpegts", path], check=True)
    return path


class SltFeed:
    """srt-live-transmit reading MPEG-TS from its stdin.  A file is played at
    its own pace (ffmpeg -re -c copy, copied into the pipe by a thread); raw
    bytes are written in 1316-byte chunks at about 20 Mb/s.  With keep_open
    the pipe stays open and silent afterwards, like a stalled encoder."""

    def __init__(self, tc, url, source, keep_open=False):
        self.slt = tc.spawn(subprocess.Popen(["srt-live-transmit", "-q", "-a", "no", "-c", "1316", "file://con", url],
                                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                             stderr=subprocess.PIPE))
        self.src = None
        if isinstance(source, bytes):
            self.data = source
        else:
            self.src = tc.spawn(subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
                                                  "-i", source, "-c", "copy", "-f", "mpegts", "-"],
                                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL))
        self.keep_open = keep_open
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.pump, daemon=True)
        self.thread.start()

    def chunks(self):
        if self.src is None:
            t0, rate = time.time(), 20e6 / 8
            for i in range(0, len(self.data), 1316):
                yield self.data[i:i + 1316]
                ahead = t0 + (i + 1316) / rate - time.time()
                if ahead > 0:
                    time.sleep(ahead)
        else:
            while True:
                b = self.src.stdout.read1(65536)
                if not b:
                    return
                yield b

    def pump(self):
        try:
            for b in self.chunks():
                self.slt.stdin.write(b)
                self.slt.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            pass
        self.done.set()
        if not self.keep_open:
            self.close()

    def close(self):
        try:
            self.slt.stdin.close()
        except (OSError, ValueError):
            pass


def log_lines(o, event, **fields):
    out = []
    for line in o.read_log().splitlines():
        if "event=%s " % event not in line + " ":
            continue
        if all(" %s=%s" % (k, v) in line + " " or " %s=%s " % (k, v) in line + " " for k, v in fields.items()):
            out.append(line)
    return out


def kv(line):
    return dict(p.split("=", 1) for p in line.split() if "=" in p)


class SrtIngest(cc.TestCase):
    def video(self, st):
        return [t for t in st["tracks"] if t["kind"] == "video"][0]

    def audio(self, st):
        return [t for t in st["tracks"] if t["kind"] == "audio"][0]

    def wait_stream(self, o, name, frames=1, timeout=15):
        def ready():
            st = o.streams().get(name)
            if st and st["tracks"] and any(t["kind"] == "video" and t["frames"] >= frames for t in st["tracks"]):
                return st
            return None
        return cc.wait_for(ready, timeout, "SRT stream %r with %d video frames" % (name, frames))

    def wait_reject(self, o, reason, timeout=10):
        return cc.wait_for(lambda: log_lines(o, "srt.reject", reason=reason), timeout, "srt.reject reason=%s" % reason)

    def check_timer_slack(self, o):
        # libsrt's receive and TSBPD threads inherit 2 ms of timer slack from
        # srt_bind (docs/srt.md); every other thread keeps the default.
        slack = {}
        for tid in os.listdir("/proc/%d/task" % o.proc.pid):
            try:
                with open("/proc/%d/task/%s/comm" % (o.proc.pid, tid)) as f:
                    comm = f.read().strip()
                with open("/proc/%s/timerslack_ns" % tid) as f:
                    slack.setdefault(comm, set()).add(int(f.read()))
            except PermissionError:
                return  # reading another thread's timerslack_ns needs CAP_SYS_NICE; the rest of the test still runs
            except FileNotFoundError:
                continue  # a thread that ended meanwhile
        self.assertEqual(slack.get("SRT:TsbPd"), {2000000}, slack)
        self.assertEqual(slack.get("SRT:RcvQ:w1"), {2000000}, slack)
        self.assertNotIn(2000000, slack.get("srt-pub", set()) | slack.get("cartcast-origin", set()), slack)

    def llhls_up(self, o, name):
        return cc.http_get(o.url("/live/%s/media.m3u8" % name), timeout=3)[0] == 200

    # ------------------------------------------------------------------

    def test_ffmpeg_keyed_streamid_h264(self):
        o = self.origin({"shop": KEY_A})
        ff = self.spawn(ffmpeg_srt(srt_url(o, keyed(KEY_A)), seconds=20))
        st = self.wait_stream(o, "shop", frames=60)
        self.assertEqual(st["protocol"], "srt")
        v, a = self.video(st), self.audio(st)
        self.assertEqual((v["codec"], v["width"], v["height"], v["timescale"]), ("h264", 640, 360, 1000))
        self.assertEqual((a["codec"], a["sample_rate"], a["channels"], a["timescale"]), ("aac", 48000, 2, 1000))
        self.assertEqual(v["first_dts"], 0)
        self.assertGreaterEqual(v["keyframes"], 1)
        self.assertEqual(v["dts_backwards"], 0)
        self.assertEqual(a["dts_backwards"], 0)
        self.check_timer_slack(o)
        time.sleep(1.5)
        st = o.streams()["shop"]
        # Link statistics, sampled once a second by the SRT module.
        s = cc.wait_for(lambda: o.streams()["shop"].get("srt"), 5, "SRT statistics in /v1/streams")
        self.assertGreater(s["packets_received"], 100, s)
        self.assertGreaterEqual(s["rtt_ms"], 0)
        self.assertGreaterEqual(s["latency_ms"], 120)  # the negotiated maximum of both sides
        m = o.metrics()
        self.assertIn('cartcast_stream_publishers{stream="shop",protocol="srt"} 1', m)
        self.assertRegex(m, r'cartcast_srt_packets_dropped_total\{stream="shop"\} \d')
        # LL-HLS of an SRT stream: the packager takes it like an RTMP one
        if self.llhls_up(o, "shop"):
            index = o.url("/live/shop/index.m3u8")
            rep = cc.llhls_check(index, 10)
            self.assertTrue(rep.ok, rep.text())
            p = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-i", index,
                                "-t", "2", "-c", "copy", "-f", "null", "-"], capture_output=True, text=True,
                               timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("avc1.", cc.http_get(index)[2].decode())
        self.assertEqual(ff.wait(timeout=30), 0, ff.stderr.read().decode())
        end = cc.wait_for(lambda: log_lines(o, "hub.end", stream="shop"), 10, "hub.end")[0]
        f = kv(end)
        self.assertEqual((f["protocol"], f["track0_codec"], f["track1_codec"]), ("srt", "h264", "aac"))
        self.assertEqual((f["track0_dts_backwards"], f["track1_dts_backwards"]), ("0", "0"))
        # 20 s at 30 fps: the frames arrive in order on a 33.3 ms grid (the last
        # few may still be in flight when ffmpeg hangs up)
        self.assertGreaterEqual(int(f["track0_frames"]), 20 * 30 - 10)
        self.assertLessEqual(int(f["track0_frames"]), 20 * 30)
        self.assertAlmostEqual(int(f["track0_dts_span"]) / (int(f["track0_frames"]) - 1), 1000 / 30, delta=0.5)
        self.assertTrue(log_lines(o, "srt.close", stream="shop", reason="closed"), o.read_log())
        self.assertNotIn(KEY_A, o.read_log(), "the stream key must never be logged")

    def test_srt_live_transmit_bare_key_then_reconnect(self):
        o = self.origin({"shop": KEY_A})
        clip = make_clip(os.path.join(self.workdir, "clip.ts"), seconds=4)
        feed = SltFeed(self, srt_url(o, KEY_A), clip)
        st = self.wait_stream(o, "shop", frames=30)
        self.assertEqual((self.video(st)["codec"], self.video(st)["width"]), ("h264", 640))
        self.assertEqual(feed.slt.wait(timeout=20), 0, feed.slt.stderr.read().decode())
        cc.wait_for(lambda: "shop" not in o.streams(), 10, "the stream to end with the publisher")
        end = kv(log_lines(o, "hub.end", stream="shop")[0])
        self.assertGreaterEqual(int(end["track0_frames"]), 4 * 30 - 5)
        self.assertEqual(end["track0_dts_backwards"], "0")
        # a reconnect publishes again (here with the publish:live/KEY form)
        feed2 = SltFeed(self, srt_url(o, "publish:live/" + KEY_A), clip)
        self.wait_stream(o, "shop", frames=10)
        self.assertEqual(len(log_lines(o, "srt.publish", stream="shop")), 2)
        feed2.slt.wait(timeout=20)
        self.assertNotIn(KEY_A, o.read_log())

    def test_hevc(self):
        o = self.origin({"shop": KEY_A})
        ff = self.spawn(ffmpeg_srt(srt_url(o, "#!::r=%s,m=publish" % KEY_A), seconds=8, hevc=True))
        st = self.wait_stream(o, "shop", frames=45)
        v = self.video(st)
        self.assertEqual((v["codec"], v["width"], v["height"]), ("hevc", 640, 360))
        self.assertEqual(v["dts_backwards"], 0)
        if self.llhls_up(o, "shop"):
            cc.wait_for(lambda: "hvc1." in cc.http_get(o.url("/live/shop/index.m3u8"))[2].decode(), 5, "hvc1 CODECS")
        self.assertEqual(ff.wait(timeout=30), 0, ff.stderr.read().decode())

    def test_refusals(self):
        o = self.origin({"shop": KEY_A})
        # unknown key: SRT_REJX_FORBIDDEN before the connection is accepted
        ff = self.spawn(ffmpeg_srt(srt_url(o, keyed("not-a-key-123")), seconds=2))
        self.assertNotEqual(ff.wait(timeout=20), 0, "ffmpeg must fail on an unknown key")
        line = self.wait_reject(o, "bad_key")[0]
        self.assertIn("code=1403", line)
        # a viewer (m=request): bad mode
        ff = self.spawn(ffmpeg_srt(srt_url(o, "#!::r=live/%s,m=request" % KEY_A), seconds=2))
        self.assertNotEqual(ff.wait(timeout=20), 0)
        self.assertIn("code=1405", self.wait_reject(o, "bad_mode")[0])
        # no streamid at all
        ff = self.spawn(ffmpeg_srt("srt://127.0.0.1:%d" % o.srt_port))
        self.assertNotEqual(ff.wait(timeout=20), 0)
        self.assertIn("code=1400", self.wait_reject(o, "bad_streamid")[0])
        self.assertEqual(o.streams(), {})
        # a second publisher on a live name: SRT_REJX_CONFLICT, the first goes on
        first = self.spawn(ffmpeg_srt(srt_url(o, keyed(KEY_A)), seconds=10))
        self.wait_stream(o, "shop", frames=30)
        second = self.spawn(ffmpeg_srt(srt_url(o, KEY_A), seconds=3))
        self.assertNotEqual(second.wait(timeout=20), 0, "the second publisher must be refused")
        line = self.wait_reject(o, "busy")[0]
        self.assertIn("stream=shop", line)
        self.assertIn("code=1409", line)
        before = self.video(o.streams()["shop"])["frames"]
        time.sleep(1)
        after = self.video(o.streams()["shop"])["frames"]
        self.assertGreater(after, before + 15, "the first publisher must keep going")
        self.assertEqual(len(log_lines(o, "srt.publish")), 1)
        m = o.metrics()
        for reason in ("bad_key", "bad_mode", "bad_streamid", "busy"):
            self.assertIn('cartcast_publish_rejected_total{reason="%s"} 1' % reason, m)
        self.assertEqual(first.wait(timeout=30), 0, first.stderr.read().decode())
        log = o.read_log()
        self.assertNotIn("not-a-key-123", log)
        self.assertNotIn(KEY_A, log)

    def test_passphrase(self):
        o = self.origin({"shop": KEY_A, "deals": KEY_B},
                        extra=["--srt-passphrase", PASS, "--srt-stream-passphrase", "deals=deals-only-passphrase"])
        # wrong, missing, and another stream's passphrase are refused
        for params in ({"passphrase": "wrong-passphrase-1"}, {}, {"passphrase": "deals-only-passphrase"}):
            ff = self.spawn(ffmpeg_srt(srt_url(o, keyed(KEY_A), **params), seconds=2))
            self.assertNotEqual(ff.wait(timeout=20), 0, "publish with %r must fail" % params)
        self.assertEqual(o.streams(), {})
        # libsrt checks the passphrase after the listen callback; the origin still names peer, stream and reason
        bad = cc.wait_for(lambda: (lambda l: l if len(l) == 2 else None)(log_lines(o, "srt.reject", reason="bad_passphrase")),
                          10, "two bad_passphrase refusals")
        self.assertIn("stream=shop", bad[0])
        self.assertIn("code=10", bad[0])  # SRT_REJ_BADSECRET
        missing = self.wait_reject(o, "passphrase_required")[0]
        self.assertIn("code=11", missing)  # SRT_REJ_UNSECURE
        # the right one works, with AES-256 too
        ff = self.spawn(ffmpeg_srt(srt_url(o, keyed(KEY_A), passphrase=PASS, pbkeylen=32), seconds=4))
        self.wait_stream(o, "shop", frames=30)
        # per-stream passphrase: deals needs its own, not the listener's
        bad = self.spawn(ffmpeg_srt(srt_url(o, keyed(KEY_B), passphrase=PASS), seconds=2))
        self.assertNotEqual(bad.wait(timeout=20), 0)
        cc.wait_for(lambda: log_lines(o, "srt.reject", reason="bad_passphrase", stream="deals"), 10, "deals refused")
        good = self.spawn(ffmpeg_srt(srt_url(o, keyed(KEY_B), passphrase="deals-only-passphrase"), seconds=4))
        self.wait_stream(o, "deals", frames=30)
        self.assertEqual(ff.wait(timeout=20), 0)
        self.assertEqual(good.wait(timeout=20), 0)
        self.assertIn('cartcast_publish_rejected_total{reason="bad_passphrase"} 3', o.metrics())
        log = o.read_log()
        for secret in (PASS, "deals-only-passphrase", "wrong-passphrase-1", KEY_A, KEY_B):
            self.assertNotIn(secret, log)

    def test_rtmp_and_srt_together(self):
        o = self.origin({"shop": KEY_A, "deals": KEY_B})
        rtmp = self.spawn(cc.ffmpeg_publish(o.rtmp_url(KEY_A)))
        srt = self.spawn(ffmpeg_srt(srt_url(o, keyed(KEY_B)), seconds=8, size="320x240"))
        both = cc.wait_for(lambda: (lambda s: s if {"shop", "deals"} <= set(s) else None)(o.streams()), 15,
                           "both streams")
        self.assertEqual((both["shop"]["protocol"], both["deals"]["protocol"]), ("rtmp", "srt"))
        self.wait_stream(o, "deals", frames=30)
        self.assertEqual(self.video(o.streams()["deals"])["width"], 320)
        self.assertEqual(self.video(o.streams()["shop"])["width"], 640)
        # an SRT publisher for the name RTMP is publishing is refused as a conflict
        clash = self.spawn(ffmpeg_srt(srt_url(o, keyed(KEY_A)), seconds=2))
        self.assertNotEqual(clash.wait(timeout=20), 0)
        self.assertIn("stream=shop", self.wait_reject(o, "busy")[0])
        self.assertEqual(o.streams()["shop"]["protocol"], "rtmp")
        self.assertEqual(rtmp.wait(timeout=30), 0, rtmp.stderr.read().decode())
        self.assertEqual(srt.wait(timeout=30), 0, srt.stderr.read().decode())

    def test_bad_input_ends_only_that_publisher(self):
        o = self.origin({"shop": KEY_A, "junk": KEY_B})
        good = self.spawn(ffmpeg_srt(srt_url(o, keyed(KEY_A)), seconds=120))
        self.wait_stream(o, "shop", frames=10)
        # 1. random bytes inside a valid SRT session: past 4 MiB without a
        # program the demuxer gives up (a silent one ends at the 10 s media timeout)
        SltFeed(self, srt_url(o, KEY_B), os.urandom(5 * 1024 * 1024))
        line = cc.wait_for(lambda: log_lines(o, "srt.close", stream="junk"), 20, "the junk publisher to end")[0]
        self.assertIn("level=warn", line)
        self.assertIn('reason=unsupported', line)
        self.assertIn('msg="no H.264 or HEVC video found in the first 4194304 bytes', line)
        # 2. a TS whose PMT announces only codecs we do not take
        mp2 = make_clip(os.path.join(self.workdir, "mpeg2.ts"), seconds=3, size="320x240", vcodec="mpeg2video")
        SltFeed(self, srt_url(o, KEY_B), mp2)
        line = cc.wait_for(lambda: log_lines(o, "srt.close", stream="junk")[1:], 20, "the MPEG-2 publisher to end")[0]
        self.assertIn("reason=unsupported", line)
        self.assertIn("mpeg2video", line)
        # 3. a truncated TS (cut mid-packet): what arrived is delivered, then a clean end
        clip = make_clip(os.path.join(self.workdir, "clip.ts"), seconds=3)
        with open(clip, "rb") as f:
            data = f.read()
        cut = os.path.join(self.workdir, "cut.ts")
        with open(cut, "wb") as f:
            f.write(data[:len(data) // 2 + 77])
        SltFeed(self, srt_url(o, KEY_B), cut)
        cc.wait_for(lambda: log_lines(o, "hub.end", stream="junk")[2:], 20, "the truncated publish to end")
        end = kv(log_lines(o, "hub.end", stream="junk")[2])
        self.assertGreater(int(end.get("track0_frames", "0")), 10)
        self.assertEqual(end["track0_dts_backwards"], "0")
        # the good stream never noticed
        st = o.streams()["shop"]
        self.assertEqual(self.video(st)["dts_backwards"], 0)
        f0 = self.video(st)["frames"]
        time.sleep(1)
        self.assertGreater(self.video(o.streams()["shop"])["frames"], f0 + 15)
        self.assertIsNone(good.poll(), "the good publisher must still be running")
        self.assertEqual(len(log_lines(o, "srt.publish", stream="shop")), 1)

    def test_idle_publisher_ends_and_comes_back(self):
        o = self.origin({"shop": KEY_A})
        clip = make_clip(os.path.join(self.workdir, "clip.ts"), seconds=2)
        feed = SltFeed(self, srt_url(o, KEY_A), clip, keep_open=True)
        self.wait_stream(o, "shop", frames=20)
        feed.done.wait(10)
        t0 = time.time()
        # the SRT connection stays up (keepalives) but no media comes: the idle timeout (10 s) ends it
        cc.wait_for(lambda: log_lines(o, "srt.close", stream="shop"), 16, "the idle publisher to be closed")
        self.assertGreater(time.time() - t0, 7)
        self.assertIn("reason=idle_timeout", log_lines(o, "srt.close", stream="shop")[0])
        self.assertNotIn("shop", o.streams())
        feed.close()
        # and a reconnect publishes again
        SltFeed(self, srt_url(o, KEY_A), clip)
        self.wait_stream(o, "shop", frames=10)


if __name__ == "__main__":
    cc.main()

"""RTMP ingest end to end: ffmpeg publishes to cartcast-origin; /v1/streams and
/metrics tell what arrived."""
import os
import signal
import subprocess
import time

import cc

KEY_A = "key-a-7f3e9c1d2b"
KEY_B = "key-b-0a9d8c7e6f"


class RtmpIngest(cc.TestCase):
    def test_publish_shows_tracks_and_frames(self):
        o = self.origin({"shop": KEY_A})
        ff = self.spawn(cc.ffmpeg_publish(o.rtmp_url(KEY_A), seconds=5))
        st = cc.wait_for(lambda: o.streams().get("shop"), 10, "stream 'shop' to appear")
        self.assertEqual(st["protocol"], "rtmp")
        # Just before the publish ends: everything so far must be consistent.
        time.sleep(4.0)
        st = o.streams()["shop"]
        tracks = {t["kind"]: t for t in st["tracks"]}
        v, a = tracks["video"], tracks["audio"]
        self.assertEqual((v["codec"], v["width"], v["height"]), ("h264", 640, 360))
        self.assertEqual((a["codec"], a["sample_rate"], a["channels"]), ("aac", 48000, 2))
        self.assertAlmostEqual(v["frame_rate"], 30, delta=0.5)
        self.assertEqual(v["dts_backwards"], 0)
        self.assertEqual(a["dts_backwards"], 0)
        self.assertGreater(st["bitrate_bps"], 10_000)
        m = o.metrics()
        self.assertIn('cartcast_stream_publishers{stream="shop",protocol="rtmp"} 1', m)
        self.assertIn('cartcast_stream_frames_total{stream="shop",track="video"}', m)
        self.assertEqual(ff.wait(timeout=20), 0, ff.stderr.read().decode())
        # The log tells the frame total at the end; the stream is gone once ffmpeg closes.
        cc.wait_for(lambda: "shop" not in o.streams(), 5, "stream to end after the publish")
        log = o.read_log()
        frames = [l for l in log.splitlines() if "event=hub.end" in l and "stream=shop" in l]
        self.assertEqual(len(frames), 1, log)
        total = int(frames[0].split("frames=")[1].split()[0])
        # 5 s at 30 fps = 150 video frames, plus ~234 AAC frames (48000/1024 per second).
        self.assertGreaterEqual(total, 150 + 220)
        self.assertLessEqual(total, 150 + 240)
        self.assertNotIn(KEY_A, log, "the stream key must never be logged")

    def test_timestamps_cover_the_publish(self):
        o = self.origin({"shop": KEY_A})
        # Without -re ffmpeg sends 3 s of media as fast as it can: the origin must keep every frame in order.
        ff = self.spawn(cc.ffmpeg_publish(o.rtmp_url(KEY_A), seconds=3, realtime=False))
        self.assertEqual(ff.wait(timeout=30), 0, ff.stderr.read().decode())
        line = cc.wait_for(lambda: [l for l in o.read_log().splitlines() if "event=hub.end" in l], 5, "hub.end")[0]
        f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        self.assertEqual((f["track0_codec"], f["track1_codec"]), ("h264", "aac"))
        self.assertEqual(int(f["track0_frames"]), 90)
        self.assertEqual(int(f["track0_keyframes"]), 3)  # -g 30 at 30 fps over 3 s
        self.assertAlmostEqual(int(f["track0_dts_span"]), 2967, delta=40)
        self.assertEqual(int(f["track0_dts_backwards"]), 0)
        self.assertEqual(int(f["track1_dts_backwards"]), 0)
        self.assertAlmostEqual(int(f["track1_frames"]), 3 * 48000 / 1024, delta=4)

    def test_unknown_key_is_refused(self):
        o = self.origin({"shop": KEY_A})
        ff = self.spawn(cc.ffmpeg_publish(o.rtmp_url("not-a-key"), seconds=3))
        rc = ff.wait(timeout=20)
        self.assertNotEqual(rc, 0, "ffmpeg must fail when the key is unknown")
        self.assertEqual(o.streams(), {})
        self.assertIn('cartcast_publish_rejected_total{reason="bad_key"} 1', o.metrics())
        self.assertNotIn("not-a-key", o.read_log())

    def test_two_publishers_on_two_keys(self):
        o = self.origin({"shop": KEY_A, "deals": KEY_B})
        self.spawn(cc.ffmpeg_publish(o.rtmp_url(KEY_A), seconds=4))
        self.spawn(cc.ffmpeg_publish(o.rtmp_url(KEY_B), seconds=4, size="320x240"))
        both = cc.wait_for(lambda: (lambda s: s if {"shop", "deals"} <= set(s) else None)(o.streams()),
                           10, "both streams")
        time.sleep(1.5)
        both = o.streams()
        vid = lambda s: [t for t in s["tracks"] if t["kind"] == "video"][0]
        self.assertEqual((vid(both["shop"])["width"], vid(both["deals"])["width"]), (640, 320))
        self.assertGreater(vid(both["shop"])["frames"], 20)
        self.assertGreater(vid(both["deals"])["frames"], 20)

    def test_vanished_publisher_frees_its_name(self):
        o = self.origin({"shop": KEY_A})
        ff = self.spawn(cc.ffmpeg_publish(o.rtmp_url(KEY_A), seconds=30))
        cc.wait_for(lambda: "shop" in o.streams(), 10, "stream to appear")
        ff.send_signal(signal.SIGKILL)  # no FCUnpublish, no deleteStream: the socket just dies
        ff.wait()
        cc.wait_for(lambda: "shop" not in o.streams(), 5, "the dead publisher's stream to end")
        ff2 = self.spawn(cc.ffmpeg_publish(o.rtmp_url(KEY_A), seconds=2))
        cc.wait_for(lambda: "shop" in o.streams(), 10, "the name to be usable again")
        self.assertEqual(ff2.wait(timeout=20), 0)

    def test_second_publisher_on_live_name_is_refused(self):
        o = self.origin({"shop": KEY_A})
        first = self.spawn(cc.ffmpeg_publish(o.rtmp_url(KEY_A), seconds=8))
        cc.wait_for(lambda: "shop" in o.streams(), 10, "first publisher")
        second = self.spawn(cc.ffmpeg_publish(o.rtmp_url(KEY_A), seconds=3))
        self.assertNotEqual(second.wait(timeout=20), 0, "the second publisher must be refused")
        self.assertIn('cartcast_publish_rejected_total{reason="busy"} 1', o.metrics())
        # The first one is undisturbed.
        before = o.streams()["shop"]["frames"]
        time.sleep(1.0)
        self.assertGreater(o.streams()["shop"]["frames"], before)
        self.assertEqual(first.wait(timeout=20), 0)


class OriginCommandLine(cc.TestCase):
    def run_origin(self, *args):
        # A free SRT port unless the test names one: never the shared default.
        if "--srt-port" not in args and "--help" not in args:
            args = args + ("--srt-port", str(cc.free_port()))
        return subprocess.run([os.path.join(cc.BUILD, "cartcast-origin")] + list(args),
                              capture_output=True, text=True, timeout=10)

    def test_help_tells_the_options(self):
        r = self.run_origin("--help")
        self.assertEqual(r.returncode, 0)
        for flag in ("--http-port", "--rtmp-port", "--bind", "--stream-key", "--config", "--log-level"):
            self.assertIn(flag, r.stdout)

    def test_bad_flags_are_explained_and_keys_not_echoed(self):
        r = self.run_origin("--stream-key", "noequalsign-secret")
        self.assertEqual(r.returncode, 2)
        self.assertIn("NAME=KEY", r.stderr)
        self.assertNotIn("noequalsign-secret", r.stderr)
        r = self.run_origin("--rtmp-port", "99999")
        self.assertEqual(r.returncode, 2)
        self.assertIn("between 1 and 65535", r.stderr)
        r = self.run_origin("--frobnicate")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown option", r.stderr)

    def test_config_file_and_flag_override(self):
        http_port, rtmp_port = cc.free_port(), cc.free_port()
        path = os.path.join(self.workdir, "origin.json")
        with open(path, "w") as f:
            f.write('{"http_port": 1, "rtmp_port": %d, "bind": "127.0.0.1", "stream_key": ["shop=%s"]}'
                    % (rtmp_port, KEY_A))
        d = cc.Daemon("cartcast-origin", ["--config", path, "--http-port", str(http_port), "--srt-port",
                                          str(cc.free_port())], http_port, self.workdir)
        self.daemons.append(d)
        d.rtmp_port = rtmp_port
        ff = self.spawn(cc.ffmpeg_publish("rtmp://127.0.0.1:%d/live/%s" % (rtmp_port, KEY_A), seconds=2))
        cc.wait_for(lambda: "shop" in {s["name"] for s in d.get_json("/v1/streams")["streams"]}, 10, "stream")
        self.assertEqual(ff.wait(timeout=20), 0)

    def test_port_in_use_is_a_clear_error(self):
        o = self.origin({"shop": KEY_A})
        r = self.run_origin("--bind", "127.0.0.1", "--rtmp-port", str(o.rtmp_port), "--http-port",
                            str(cc.free_port()), "--stream-key", "shop=" + KEY_A)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot listen for RTMP", r.stderr)


if __name__ == "__main__":
    cc.main()

"""LL-HLS delivery details on the real origin: byte ranges on segments,
recording to disk, HTTPS with HTTP/2, and the status endpoints."""
import json
import os
import re
import subprocess
import time
import urllib.request

import cc

KEY = "delivery-key-5e1f"


def get(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def media_playlist(o, name="shop"):
    return cc.wait_for(lambda: (lambda r: r[2].decode() if r[0] == 200 and b"#EXTINF" in r[2] else None)(
        get(o.url("/live/%s/media.m3u8" % name))), 20, "a media playlist with a complete segment")


class OriginDelivery(cc.TestCase):
    def test_byte_ranges_on_segments(self):
        o = self.origin({"shop": KEY})
        self.spawn(cc.ffmpeg_publish(o.rtmp_url(KEY), seconds=20))
        pl = media_playlist(o)
        seg = re.findall(r"^(seg\d+\.m4s)$", pl, re.M)[0]
        url = o.url("/live/shop/" + seg)
        status, headers, whole = get(url)
        self.assertEqual(status, 200)
        self.assertGreater(len(whole), 1000)
        self.assertEqual(headers["content-type"], "video/mp4")
        status, headers, part = get(url, {"Range": "bytes=10-109"})
        self.assertEqual(status, 206)
        self.assertEqual(headers["content-range"], "bytes 10-109/%d" % len(whole))
        self.assertEqual(part, whole[10:110])
        status, headers, tail = get(url, {"Range": "bytes=-64"})
        self.assertEqual((status, tail), (206, whole[-64:]))
        status, headers, _ = get(url, {"Range": "bytes=%d-" % (len(whole) + 10)})
        self.assertEqual(status, 416)
        self.assertEqual(headers["content-range"], "bytes */%d" % len(whole))
        # Several ranges: we answer with everything (RFC 9110 allows it).
        status, _, body = get(url, {"Range": "bytes=0-1,5-6"})
        self.assertEqual((status, body), (200, whole))

    def test_recording_gives_a_playable_vod(self):
        rec = os.path.join(self.workdir, "rec")
        o = self.origin({"shop": KEY}, ["--record", rec, "--grace-ms", "500"])
        ff = self.spawn(cc.ffmpeg_publish(o.rtmp_url(KEY), seconds=4))
        self.assertEqual(ff.wait(timeout=30), 0)
        vod = os.path.join(rec, "shop", "index.m3u8")
        text = cc.wait_for(lambda: os.path.exists(vod) and "#EXT-X-ENDLIST" in open(vod).read() and open(vod).read(),
                           10, "the VOD playlist to end")
        self.assertIn("#EXT-X-PLAYLIST-TYPE:VOD", text)
        self.assertIn("#EXT-X-MAP:URI=", text)
        durations = [float(d) for d in re.findall(r"#EXTINF:([\d.]+),", text)]
        self.assertAlmostEqual(sum(durations), 4.0, delta=0.5)
        self.assertEqual(len(re.findall(r"#EXT-X-PROGRAM-DATE-TIME:", text)), len(durations))
        probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                                "stream=codec_name,width,nb_read_frames", "-of", "json", vod],
                               capture_output=True, text=True, timeout=60)
        self.assertEqual(probe.returncode, 0, probe.stderr)
        st = json.loads(probe.stdout)["streams"][0]
        self.assertEqual((st["codec_name"], st["width"]), ("h264", 640))
        self.assertAlmostEqual(int(st["nb_read_frames"]), 120, delta=6)

    def test_https_serves_http2(self):
        cert, key = os.path.join(self.workdir, "c.pem"), os.path.join(self.workdir, "k.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                        "-days", "1", "-keyout", key, "-out", cert], check=True, capture_output=True)
        rtmp_port, http_port = cc.free_port(), cc.free_port()
        args = ["--http-port", str(http_port), "--rtmp-port", str(rtmp_port), "--srt-port", str(cc.free_port()),
                "--bind", "127.0.0.1",
                "--stream-key", "shop=" + KEY, "--tls-cert", cert, "--tls-key", key]
        d = cc.Daemon("cartcast-origin", args, http_port, self.workdir, scheme="https")
        self.daemons.append(d)
        self.spawn(cc.ffmpeg_publish("rtmp://127.0.0.1:%d/live/%s" % (rtmp_port, KEY), seconds=15))
        url = "https://127.0.0.1:%d/live/shop/media.m3u8" % http_port
        def fetch():
            r = subprocess.run(["curl", "-sk", "--http2", "-o", "-", "-w", "\n%{http_version} %{http_code}", url],
                               capture_output=True, text=True, timeout=10)
            return r.stdout if r.stdout.endswith("2 200") and "#EXT-X-PART" in r.stdout else None
        out = cc.wait_for(fetch, 20, "the playlist over HTTP/2")
        self.assertIn("#EXTM3U", out)

    def test_status_names_the_playback_url(self):
        o = self.origin({"shop": KEY})
        self.spawn(cc.ffmpeg_publish(o.rtmp_url(KEY), seconds=10))
        media_playlist(o)
        st = o.streams()["shop"]
        self.assertEqual(st["playback"], "/live/shop/index.m3u8")
        self.assertGreater(st["hls"]["parts"], 0)
        m = o.metrics()
        self.assertRegex(m, r'cartcast_hls_parts_total\{stream="shop"\} [1-9]')
        self.assertIn("cartcast_hls_held_requests ", m)


if __name__ == "__main__":
    cc.main()

#!/usr/bin/env python3
"""The shoppable timeline end to end, with real video (docs/overlay.md):

ffmpeg --RTMP--> cartcast-origin --redis  (live edge -> Redis; cues -> EXT-X-DATERANGE)
                 cartcast-overlay          (REST cues stamped with the live edge's PDT)
                 cartcast-orders           (when built: confirms the page's buy)
                 Chromium + hls.js         (viewer page: card drawn at the cue's PDT)

The browser part writes its screenshot to the test's temp dir; set
CC_OVERLAY_SCREENSHOT=docs/overlay-screenshot.png to keep it."""
import datetime
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cc  # noqa: E402

KEY = "overlay-timeline-key-01"
TOKEN = "timeline-operator-token"
S = "shop"


def pdt_ms(text):
    d = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return round(d.timestamp() * 1000)


def attrs(line):
    """EXT-X-DATERANGE attributes as a dict (quoted strings unquoted)."""
    out = {}
    for m in re.finditer(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)', line.split(":", 1)[1]):
        v = m.group(2)
        out[m.group(1)] = v[1:-1] if v.startswith('"') else v
    return out


class OverlayTimelineTest(cc.RedisTestCase):
    def playlist(self, origin):
        status, _, body = cc.http_get(origin.url("/live/%s/media.m3u8" % S))
        return body.decode() if status == 200 else ""

    def daterange(self, origin, cue_id):
        for line in self.playlist(origin).splitlines():
            if line.startswith("#EXT-X-DATERANGE:") and 'ID="%s"' % cue_id in line:
                return attrs(line)
        return None

    def live(self, redis):
        return cc.resp_hash(redis.call("HGETALL", "cc:{stream:%s}:live" % S))

    def test_live_edge_daterange_and_viewer_page(self):
        redis = self.redis_server()
        origin = self.origin({S: KEY}, extra=["--redis", redis.url, "--grace-ms", "1500"])
        ov = cc.Overlay(self.workdir, redis.url, {TOKEN: S}, origin_url=origin.url(""))
        self.daemons.append(ov)
        have_orders = os.path.exists(os.path.join(cc.BUILD, "cartcast-orders"))
        if have_orders:
            self.orders(redis)
        self.spawn(cc.ffmpeg_publish(origin.rtmp_url(KEY), seconds=45))

        # -- the origin publishes the live edge at every part --------------------------------
        first = cc.wait_for(lambda: self.live(redis).get("live") == "1" and self.live(redis), 20, "the live edge")
        for f in ("pdt_ms", "media_ms", "start_pdt_ms", "msn", "part", "part_seq", "updated_ms"):
            self.assertIn(f, first)
        time.sleep(1.0)
        edge = self.live(redis)
        self.assertGreater(int(edge["part_seq"]), int(first["part_seq"]), "the edge moves with every part")
        self.assertGreater(int(edge["pdt_ms"]), int(first["pdt_ms"]))
        self.assertEqual(int(edge["media_ms"]), int(edge["pdt_ms"]) - int(edge["start_pdt_ms"]))
        self.assertLess(abs(int(edge["updated_ms"]) - time.time() * 1000), 2000)
        self.assertIn(S.encode(), redis.call("SMEMBERS", "cc:streams"))
        # it is the playlist's own edge: last segment PDT + its listed parts' durations
        pl = self.playlist(origin)
        last_pdt = [pdt_ms(l.split(":", 1)[1]) for l in pl.splitlines() if l.startswith("#EXT-X-PROGRAM-DATE-TIME:")][-1]
        tail = pl.split("#EXT-X-PROGRAM-DATE-TIME:")[-1]
        parts = sum(float(m) for m in re.findall(r"#EXT-X-PART:DURATION=([0-9.]+)", tail))
        edge_now = int(self.live(redis)["pdt_ms"])
        self.assertLess(abs(last_pdt + parts * 1000 - edge_now), 700, "live edge %d vs playlist %d" %
                        (edge_now, last_pdt + parts * 1000))

        # -- a cue created "now" is stamped with it and lands in the playlist --------------------
        before = int(self.live(redis)["pdt_ms"])
        st, cue, _ = ov.rest("POST", "/v1/streams/%s/cues" % S, TOKEN, {
            "kind": "product", "duration_ms": 4000,
            "product": {"sku": "MUG-RED", "title": 'Red "mug" 100%', "price": 1299, "currency": "EUR"}})
        self.assertEqual(st, 201, cue)
        after = int(self.live(redis)["pdt_ms"])
        self.assertTrue(before <= cue["pdt_ms"] <= after, (before, cue["pdt_ms"], after))
        dr = cc.wait_for(lambda: self.daterange(origin, cue["id"]), 5, "EXT-X-DATERANGE %s" % cue["id"])
        self.assertEqual(pdt_ms(dr["START-DATE"]), cue["pdt_ms"])
        self.assertEqual(dr["CLASS"], "com.cartcast.product")
        self.assertEqual(dr["DURATION"], "4.000")
        self.assertEqual(dr["X-SKU"], "MUG-RED")
        card = json.loads(urllib.parse.unquote(dr["X-CARD"]))
        self.assertEqual(card["title"], 'Red "mug" 100%')
        self.assertEqual(card["price"], 1299)
        print("# DATERANGE %s START-DATE %s = cue PDT %d" % (cue["id"], dr["START-DATE"], cue["pdt_ms"]))

        # explicit media time; an open cue ended later gets its DURATION
        st, c2, _ = ov.rest("POST", "/v1/streams/%s/cues" % S, TOKEN, {
            "kind": "poll", "media_ms": int(edge["media_ms"]), "poll": {"question": "Colour?", "options": ["a", "b"]}})
        self.assertEqual(st, 201, c2)
        self.assertEqual(c2["pdt_ms"], int(edge["start_pdt_ms"]) + int(edge["media_ms"]))
        cc.wait_for(lambda: self.daterange(origin, c2["id"]), 5, "the poll's DATERANGE")
        self.assertNotIn("DURATION", self.daterange(origin, c2["id"]))
        time.sleep(0.5)
        st, ended, _ = ov.rest("DELETE", "/v1/streams/%s/cues/%s" % (S, c2["id"]), TOKEN)
        self.assertEqual(st, 200, ended)
        d2 = cc.wait_for(lambda: (self.daterange(origin, c2["id"]) or {}).get("DURATION") and
                         self.daterange(origin, c2["id"]), 5, "the poll's DURATION")
        self.assertEqual(round(float(d2["DURATION"]) * 1000), ended["end_pdt_ms"] - c2["pdt_ms"])
        self.assertEqual(d2["CLASS"], "com.cartcast.poll")

        # the playlist with date ranges still passes the LL-HLS checker.  Once the stream is
        # older than the skip boundary (6 TD): before that a v2 delta update is an EXT-X-SKIP
        # of SKIPPED-SEGMENTS=0 (it still carries the date ranges), which hls-parser's strict
        # mode wrongly reports as a missing attribute.
        cc.wait_for(lambda: int(self.live(redis)["media_ms"]) > 9000, 15, "9 s of media")
        rep = cc.llhls_check(origin.url("/live/%s/index.m3u8" % S), seconds=6)
        self.assertTrue(rep.ok, rep.text())
        self.assertGreaterEqual(origin_metric(origin, "cartcast_timeline_dateranges_total"), 2)

        # -- the viewer page in Chromium ------------------------------------------------------------
        self.browser(origin, ov, redis, have_orders)

        # -- the publisher leaves: live=0 after the grace time, and cues are refused (409) -----------
        for p in self.procs:
            p.kill()
        cc.wait_for(lambda: self.live(redis).get("live") == "0", 15, "live=0 after the publisher left")
        st, body, _ = ov.rest("POST", "/v1/streams/%s/cues" % S, TOKEN, {
            "kind": "product", "product": {"sku": "A", "title": "t", "price": 1, "currency": "EUR"}})
        self.assertEqual(st, 409, body)

    def browser(self, origin, ov, redis, have_orders):
        chromium = os.environ.get("CC_CHROMIUM", "/usr/bin/chromium")
        if not os.path.exists(chromium) or not os.path.exists(os.path.join(cc.ROOT, "node_modules", "playwright-core")):
            self.fail("Chromium or node_modules missing: run scripts/deps.sh")
        if have_orders:
            p = cc.orders_cli("stock", "set", "MUG-RED", 5, "--redis", redis.url)
            self.assertEqual(p.returncode, 0, p.stderr)
        shot = os.environ.get("CC_OVERLAY_SCREENSHOT") or os.path.join(self.workdir, "overlay.png")
        args = ["node", os.path.join(cc.ROOT, "tests", "integration", "overlay_browser.mjs"), "--overlay", ov.url(""),
                "--origin", origin.url(""), "--stream", S, "--token", TOKEN, "--screenshot", shot, "--buy"]
        if have_orders:
            args.append("--expect-confirm")
        p = subprocess.run(args, capture_output=True, text=True, timeout=150, cwd=cc.ROOT)
        self.assertEqual(p.returncode, 0, p.stderr + p.stdout)
        res = json.loads(p.stdout)
        sys.stderr.write(p.stderr)
        self.assertEqual({s["id"] for s in res["syncs"]} >= {c["id"] for c in res["cues"]}, True, res)
        for s in res["syncs"]:
            if s["id"] not in {c["id"] for c in res["cues"]}:
                continue
            print("# card %-9s drawn at video PDT %d, cue PDT %d: %+d ms (clock: %s)" %
                  (s["kind"], s["drawn_pdt"], s["cue_pdt"], s["diff_ms"], s["via"]))
            self.assertTrue(s["arrived_before"], "the cue must reach the page before its PDT is on screen: %r" % s)
            self.assertLessEqual(abs(s["diff_ms"]), 100, s)
        print("# the video was %d ms behind the wall clock (hls.js %s, Chromium %s)" %
              (res["lagMs"], res["hlsjs"], res["browser"]))
        self.assertEqual(res["titleText"], 'Red mug <b>not bold</b>')  # text, never markup
        self.assertEqual(res["boldElements"], 0)
        self.assertTrue(os.path.getsize(shot) > 10000)
        # the page's buy reached the orders stream under the page's identity
        buys = [cc.resp_hash(e[1]) for e in redis.call("XRANGE", "cc:{orders}:buys", "-", "+")]
        mine = [b for b in buys if b["viewer"] == res["viewer"]]
        self.assertEqual(len(mine), 1, buys)
        self.assertEqual(mine[0]["sku"], "MUG-RED")
        self.assertEqual(mine[0]["price"], "1299")
        if have_orders:
            self.assertRegex(res["buyResult"], r"^Confirmed · order ord_")
        print("# buy on the page: %s" % res["buyResult"])


def origin_metric(origin, name):
    return cc.metric_value(origin.metrics(), name)


if __name__ == "__main__":
    cc.main()

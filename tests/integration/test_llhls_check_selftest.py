"""Self-test of the LL-HLS checker (llhls_check.py): it must pass good playlists
and servers and fail bad ones, rule by rule, or a green conformance run means
nothing.

Three layers: hand-written playlists through the pure checks; ISO-BMFF boxes
built here through the box reader; and a small fake LL-HLS origin (http.server,
parts every 100 ms, blocking reload, preload hints, delta updates) that can be
told to misbehave in one way at a time, through the whole network run.
"""
import http.server
import json
import math
import os
import shutil
import struct
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llhls_check as lc  # noqa: E402

GOOD = """#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:1
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=6.0,HOLD-BACK=3.0,PART-HOLD-BACK=0.6
#EXT-X-PART-INF:PART-TARGET=0.2
#EXT-X-MEDIA-SEQUENCE:100
#EXT-X-DISCONTINUITY-SEQUENCE:0
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="init0.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z
#EXTINF:1.00000,
seg100.m4s
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:01.000Z
#EXT-X-PART:DURATION=0.20000,URI="part5.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.20000,URI="part6.m4s"
#EXT-X-PART:DURATION=0.20000,URI="part7.m4s"
#EXT-X-PART:DURATION=0.20000,URI="part8.m4s"
#EXT-X-PART:DURATION=0.16667,URI="part9.m4s"
#EXTINF:0.96667,
seg101.m4s
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:01.967Z
#EXT-X-PART:DURATION=0.20000,URI="part10.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.20000,URI="part11.m4s"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part12.m4s"
"""


def pl_check(text, opts=None):
    f = lc.Findings()
    pl = lc.parse_media_playlist(text)
    lc.check_media_playlist(pl, f, opts)
    return pl, f


def edit(text, old, new, count=1):
    assert old in text, old
    return text.replace(old, new, count)


class StaticChecks(unittest.TestCase):
    def assertFails(self, text, rule_prefix):
        _, f = pl_check(text)
        rules = f.rules()
        self.assertTrue(any(r.startswith(rule_prefix) for r in rules),
                        "expected a FAIL on %r, got:\n%s" % (rule_prefix, "\n".join(x.text() for x in f.all())))

    def test_good_playlist_passes(self):
        pl, f = pl_check(GOOD)
        self.assertEqual(f.of(lc.FAIL), [], "\n".join(x.text() for x in f.all()))
        self.assertEqual(f.of(lc.WARN), [], "\n".join(x.text() for x in f.all()))
        self.assertEqual([s.msn for s in pl.segments], [100, 101])
        self.assertEqual(pl.open_segment.msn, 102)
        self.assertEqual(pl.last_part.key, (102, 1))
        self.assertEqual(pl.hint()["URI"], "part12.m4s")
        self.assertAlmostEqual(pl.segments[1].pdt - pl.segments[0].pdt, 1.0)

    def test_part_over_part_target(self):
        self.assertFails(edit(GOOD, 'DURATION=0.20000,URI="part7.m4s"', 'DURATION=0.21000,URI="part7.m4s"'),
                         "4.4.4.9 EXT-X-PART")

    def test_short_middle_part(self):
        self.assertFails(edit(GOOD, 'DURATION=0.20000,URI="part7.m4s"', 'DURATION=0.16000,URI="part7.m4s"'),
                         "4.4.4.9 EXT-X-PART")

    def test_short_independent_part_is_allowed(self):
        t = edit(GOOD, 'DURATION=0.20000,URI="part7.m4s"', 'DURATION=0.16000,URI="part7.m4s",INDEPENDENT=YES')
        t = edit(t, "#EXTINF:0.96667,", "#EXTINF:0.92667,")
        t = edit(t, "00:00:01.967Z", "00:00:01.927Z")
        _, f = pl_check(t)
        self.assertEqual(f.of(lc.FAIL), [], "\n".join(x.text() for x in f.all()))

    def test_parts_do_not_add_up(self):
        self.assertFails(edit(GOOD, "#EXTINF:0.96667,", "#EXTINF:0.90000,"), "4.4.4.9 EXT-X-PART")

    def test_part_hold_back(self):
        self.assertFails(edit(GOOD, "PART-HOLD-BACK=0.6", "PART-HOLD-BACK=0.5"), "4.4.3.8 PART-HOLD-BACK")
        self.assertFails(edit(GOOD, ",PART-HOLD-BACK=0.6", ""), "4.4.3.8 PART-HOLD-BACK")

    def test_hold_back_and_skip_boundary(self):
        self.assertFails(edit(GOOD, "HOLD-BACK=3.0", "HOLD-BACK=2.0"), "4.4.3.8 HOLD-BACK")
        self.assertFails(edit(GOOD, "CAN-SKIP-UNTIL=6.0", "CAN-SKIP-UNTIL=5.0"), "4.4.3.8 CAN-SKIP-UNTIL")

    def test_can_block_reload_required(self):
        self.assertFails(edit(GOOD, "CAN-BLOCK-RELOAD=YES,", ""), "B.1 CAN-BLOCK-RELOAD")

    def test_required_tags(self):
        self.assertFails(edit(GOOD, "#EXT-X-VERSION:6\n", ""), "4.4.1.2 EXT-X-VERSION")
        self.assertFails(edit(GOOD, "#EXT-X-VERSION:6", "#EXT-X-VERSION:5"), "8 version")
        self.assertFails(edit(GOOD, "#EXT-X-TARGETDURATION:1\n", ""), "4.4.3.1")
        self.assertFails(edit(GOOD, '#EXT-X-MAP:URI="init0.mp4"\n', ""), "4.4.4.5 EXT-X-MAP")
        self.assertFails(edit(GOOD, "#EXT-X-PART-INF:PART-TARGET=0.2\n", ""), "4.4.3.7")
        self.assertFails(edit(GOOD, "#EXT-X-SERVER-CONTROL:", "#EXT-X-NOT-SERVER-CONTROL:"), "4.4.3.8 EXT-X-SERVER-CONTROL")

    def test_pdt_on_every_segment(self):
        self.assertFails(edit(GOOD, "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:01.000Z\n", ""),
                         "B.1 EXT-X-PROGRAM-DATE-TIME")
        self.assertFails(edit(GOOD, "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:01.967Z\n", ""),
                         "B.1 EXT-X-PROGRAM-DATE-TIME")

    def test_pdt_consistent_with_extinf(self):
        self.assertFails(edit(GOOD, "00:00:01.000Z", "00:00:01.020Z"), "4.4.4.6 EXT-X-PROGRAM-DATE-TIME")
        # the same jump after a discontinuity is fine
        t = edit(GOOD, "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:01.000Z",
                 "#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:03.000Z")
        t = edit(t, "00:00:01.967Z", "00:00:03.967Z")
        _, f = pl_check(t)
        self.assertEqual(f.of(lc.FAIL), [], "\n".join(x.text() for x in f.all()))
        # but not going back in time by more than the sub-second overlap allowed
        t2 = edit(GOOD, "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:01.000Z",
                  "#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2025-12-31T23:59:50.000Z")
        self.assertFails(t2, "6.2.1 EXT-X-PROGRAM-DATE-TIME")

    def test_extinf_over_target_duration(self):
        t = edit(GOOD, "#EXTINF:1.00000,", "#EXTINF:1.60000,")
        self.assertFails(t, "4.4.3.1 EXT-X-TARGETDURATION")
        # 1.4 rounds to 1: allowed (only PDT then disagrees)
        _, f = pl_check(edit(GOOD, "#EXTINF:1.00000,", "#EXTINF:1.40000,"))
        self.assertNotIn("4.4.3.1 EXT-X-TARGETDURATION", f.rules())

    def test_two_hints_of_a_type(self):
        self.assertFails(GOOD + '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part13.m4s"\n', "6.2.6 EXT-X-PRELOAD-HINT")

    def test_discontinuity_between_parts(self):
        t = edit(GOOD, '#EXT-X-PART:DURATION=0.20000,URI="part11.m4s"',
                 '#EXT-X-DISCONTINUITY\n#EXT-X-PART:DURATION=0.20000,URI="part11.m4s"')
        self.assertFails(t, "syntax")

    def test_syntax_errors_are_findings_not_crashes(self):
        self.assertFails(edit(GOOD, 'URI="part6.m4s"', 'URI="part6.m4s'), "syntax")
        self.assertFails(edit(GOOD, "#EXTINF:1.00000,", "#EXTINF:abc,"), "syntax")
        self.assertFails(edit(GOOD, "00:00:00.000Z", "yesterday"), "syntax")
        self.assertFails("#EXT-X-VERSION:6\n" + GOOD, "syntax")

    def test_skip_needs_version_9(self):
        t = edit(GOOD, "#EXT-X-INDEPENDENT-SEGMENTS\n", "#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-SKIP:SKIPPED-SEGMENTS=3\n")
        pl, f = pl_check(t)
        self.assertIn("8 version compatibility", f.rules())
        self.assertEqual(pl.segments[0].msn, 103)
        _, f = pl_check(edit(t, "#EXT-X-VERSION:6", "#EXT-X-VERSION:9"))
        self.assertNotIn("8 version compatibility", f.rules())

    def test_attribute_lists(self):
        a, q = lc.parse_attrs('A=1,URI="x,y=z",B=YES')
        self.assertEqual(a, {"A": "1", "URI": "x,y=z", "B": "YES"})
        self.assertEqual(q, {"URI"})
        for bad in ('A=1,A=2', 'a=1', 'A="x', 'A=1,', 'A="x"y'):
            with self.assertRaises(ValueError, msg=bad):
                lc.parse_attrs(bad)


class ReloadChecks(unittest.TestCase):
    def reload(self, a, b):
        f = lc.Findings()
        lc.check_reload(lc.parse_media_playlist(a), lc.parse_media_playlist(b), f)
        return f

    def next_version(self):
        return edit(GOOD, '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part12.m4s"',
                    '#EXT-X-PART:DURATION=0.20000,URI="part12.m4s"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part13.m4s"')

    def test_good_reload(self):
        f = self.reload(GOOD, self.next_version())
        self.assertEqual(f.all(), [])
        self.assertIsNone(lc.hint_prediction(lc.parse_media_playlist(GOOD), lc.parse_media_playlist(self.next_version())))

    def test_target_duration_must_not_change(self):
        f = self.reload(GOOD, edit(self.next_version(), "TARGETDURATION:1", "TARGETDURATION:2"))
        self.assertIn("6.2.1 EXT-X-TARGETDURATION", f.rules())

    def test_media_sequence_must_not_go_back(self):
        f = self.reload(GOOD, edit(self.next_version(), "MEDIA-SEQUENCE:100", "MEDIA-SEQUENCE:99"))
        self.assertIn("6.2.2 EXT-X-MEDIA-SEQUENCE", f.rules())

    def test_segments_must_not_change(self):
        f = self.reload(GOOD, edit(self.next_version(), "seg101.m4s", "seg101b.m4s"))
        self.assertIn("6.2.1 playlist changes", f.rules())
        f = self.reload(GOOD, edit(self.next_version(), "00:00:00.000Z", "00:00:00.100Z"))
        self.assertIn("6.2.1 EXT-X-PROGRAM-DATE-TIME", f.rules())
        f = self.reload(GOOD, edit(self.next_version(), 'URI="part10.m4s"', 'URI="part10b.m4s"'))
        self.assertIn("6.2.1 playlist changes", f.rules())

    def test_hint_must_name_the_next_part(self):
        wrong = edit(self.next_version(), 'URI="part12.m4s"', 'URI="part12x.m4s"')
        miss = lc.hint_prediction(lc.parse_media_playlist(GOOD), lc.parse_media_playlist(wrong))
        self.assertIsNotNone(miss)
        self.assertEqual(miss[1].uri, "part12x.m4s")

    def test_blocking_answer_satisfies(self):
        pl = lc.parse_media_playlist(GOOD)
        self.assertTrue(lc.satisfies(pl, 102, 1))
        self.assertFalse(lc.satisfies(pl, 102, 2))
        self.assertTrue(lc.satisfies(pl, 101, 5))   # past the final part of 101 = part 0 of 102
        self.assertTrue(lc.satisfies(pl, 101, 9))
        self.assertFalse(lc.satisfies(pl, 103, 0))
        self.assertTrue(lc.satisfies(lc.parse_media_playlist(GOOD + "#EXT-X-ENDLIST\n"), 200, 0))


# ---------------------------------------------------------------------------
# ISO-BMFF built here

def box(typ, payload):
    return struct.pack(">I4s", 8 + len(payload), typ.encode()) + payload


def full(typ, version, flags, payload):
    return box(typ, struct.pack(">I", (version << 24) | flags) + payload)


TIMESCALE = 90000


def make_init():
    avcc = box("avcC", bytes([1, 0x64, 0x00, 0x1F, 0xFF, 0xE0]))
    avc1 = box("avc1", bytes(6) + struct.pack(">H", 1) + bytes(16) + struct.pack(">HH", 64, 64) + bytes(50) + avcc)
    stsd = full("stsd", 0, 0, struct.pack(">I", 1) + avc1)
    stbl = box("stbl", stsd)
    minf = box("minf", stbl)
    hdlr = full("hdlr", 0, 0, bytes(4) + b"vide" + bytes(12) + b"v\0")
    mdhd = full("mdhd", 0, 0, struct.pack(">IIII", 0, 0, TIMESCALE, 0) + bytes(4))
    tkhd = full("tkhd", 0, 3, struct.pack(">III", 0, 0, 1) + bytes(68))
    trak = box("trak", tkhd + box("mdia", mdhd + hdlr + minf))
    mvex = box("mvex", full("trex", 0, 0, struct.pack(">IIIII", 1, 1, 0, 0, 0)))
    return box("ftyp", b"iso6" + bytes(4) + b"iso6cmfc") + box("moov", trak + mvex)


def make_fragment(seq, base, durations, key_first):
    n = len(durations)
    samples = b""
    for k, d in enumerate(durations):
        flags = 0x02000000 if (k == 0 and key_first) else 0x01010000
        samples += struct.pack(">IIIi", d, 10, flags, 0)
    trun = full("trun", 1, 0x000F01, struct.pack(">Ii", n, 0) + samples)
    traf = box("traf", full("tfhd", 0, 0x020000, struct.pack(">I", 1)) + full("tfdt", 1, 0, struct.pack(">Q", base)) + trun)
    moof = box("moof", full("mfhd", 0, 0, struct.pack(">I", seq)) + traf)
    return moof + box("mdat", bytes(10 * n))


class BoxChecks(unittest.TestCase):
    def test_init_and_fragment(self):
        init = lc.parse_init(make_init())
        self.assertEqual(init["tracks"][1]["timescale"], TIMESCALE)
        self.assertEqual(init["tracks"][1]["handler"], "vide")
        self.assertEqual(init["codecs"], ["avc1.64001f"])
        fr = lc.parse_fragment(make_fragment(1, 9000, [3000, 3000, 3000], True), init)
        t = fr["tracks"][1]
        self.assertEqual((t["tfdt"], t["samples"], t["duration"], t["first_sync"]), (9000, 3, 9000, True))
        fr = lc.parse_fragment(make_fragment(2, 0, [3000], False), init)
        self.assertFalse(fr["tracks"][1]["first_sync"])

    def test_malformed(self):
        with self.assertRaises(ValueError):
            lc.parse_fragment(make_fragment(1, 0, [3000], True)[:-3])
        with self.assertRaises(ValueError):
            lc.parse_fragment(box("mdat", b"xx"))
        with self.assertRaises(ValueError):
            lc.parse_init(box("moov", b""))


# ---------------------------------------------------------------------------
# a fake LL-HLS origin

PT = 0.1           # part duration = PART-TARGET
PARTS = 5          # parts per segment (0.5 s segments, TARGETDURATION 1)
TICKS = int(PT * TIMESCALE)


class FakeOrigin:
    """Parts every PT seconds since t0 (8 s of history at start, so that delta
    updates have something to skip). mode: good, noblock, no400, badhint, late,
    badpart (a part whose media is longer than its DURATION)."""

    def __init__(self, mode="good"):
        self.mode = mode
        self.t0 = time.time() - 8.0
        self.pdt0 = 1767225600.0  # 2026-01-01
        self.init = make_init()
        owner = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                owner.handle(self)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.base = "http://127.0.0.1:%d/live/x/" % self.httpd.server_address[1]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def last_part(self):
        return int((time.time() - self.t0) / PT) - 1

    def part_bytes(self, k):
        durs = [TICKS // 3] * 3
        if self.mode == "badpart" and k % 7 == 3:
            durs = [TICKS // 3] * 4
        return make_fragment(k + 1, k * TICKS, durs, k % PARTS == 0)

    def render(self, K, skip=False):
        lines = ["#EXTM3U", "#EXT-X-VERSION:%d" % (9 if skip else 6), "#EXT-X-TARGETDURATION:1",
                 "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=6.0,PART-HOLD-BACK=0.3",
                 "#EXT-X-PART-INF:PART-TARGET=%.1f" % PT, "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-INDEPENDENT-SEGMENTS"]
        n_complete = (K + 1) // PARTS
        open_parts = (K + 1) % PARTS
        total = n_complete * PARTS * PT
        first = 0
        if skip:
            while (total - first * PARTS * PT) > 6.0 + 1e-9:
                first += 1
            lines.append("#EXT-X-SKIP:SKIPPED-SEGMENTS=%d" % first)
        lines.append('#EXT-X-MAP:URI="init.mp4"')

        def seg_lines(m, nparts, complete):
            out = ["#EXT-X-PROGRAM-DATE-TIME:%s" % time.strftime(
                "%Y-%m-%dT%H:%M:%S", time.gmtime(self.pdt0 + m * PARTS * PT)) + ".%03dZ" % round(
                ((m * PARTS * PT) % 1) * 1000)]
            if m >= n_complete - 3:
                for i in range(nparts):
                    k = m * PARTS + i
                    out.append('#EXT-X-PART:DURATION=%.5f,URI="part%d.m4s"%s' % (PT, k, ",INDEPENDENT=YES" if i == 0 else ""))
            if complete:
                out += ["#EXTINF:%.5f," % (PARTS * PT), "seg%d.m4s" % m]
            return out

        for m in range(first, n_complete):
            lines += seg_lines(m, PARTS, True)
        if open_parts:
            lines += seg_lines(n_complete, open_parts, False)
        hint = K + (2 if self.mode == "badhint" else 1)
        lines.append('#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part%d.m4s"' % hint)
        return "\n".join(lines) + "\n"

    def send(self, h, status, body=b"", ctype="application/vnd.apple.mpegurl"):
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.send_header("Access-Control-Allow-Origin", "*")
        h.end_headers()
        h.wfile.write(body)

    def wait_part(self, k, timeout):
        deadline = time.time() + timeout
        while self.last_part() < k:
            if time.time() > deadline:
                return False
            time.sleep(0.003)
        return True

    def handle(self, h):
        u = urllib.parse.urlsplit(h.path)
        name = u.path.rsplit("/", 1)[-1]
        q = dict(urllib.parse.parse_qsl(u.query))
        if name == "index.m3u8":
            return self.send(h, 200, b'#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=14000,CODECS="avc1.64001f"\nmedia.m3u8\n')
        if name == "media.m3u8":
            K = self.last_part()
            if "_HLS_part" in q and "_HLS_msn" not in q and self.mode != "no400":
                return self.send(h, 400)
            if "_HLS_msn" in q:
                try:
                    msn, part = int(q["_HLS_msn"]), int(q.get("_HLS_part", 0))
                except ValueError:
                    return self.send(h, 400)
                last_msn = K // PARTS
                if self.mode != "no400":
                    if msn > last_msn + 2:
                        return self.send(h, 400)
                    if msn * PARTS + part - K > math.ceil(3 / PT):
                        return self.send(h, 400)
                want = msn * PARTS + min(part, PARTS)
                if self.mode != "noblock":
                    if not self.wait_part(want, 3.0):
                        return self.send(h, 503)
                    if self.mode == "late":
                        time.sleep(0.3)
                K = self.last_part() if self.mode != "noblock" else K
            return self.send(h, 200, self.render(K, skip=q.get("_HLS_skip") == "YES").encode())
        if name == "init.mp4":
            return self.send(h, 200, self.init, "video/mp4")
        if name.startswith("part") and name.endswith(".m4s"):
            k = int(name[4:-4])
            K = self.last_part()
            if k > K + 1:
                return self.send(h, 404)
            if k == K + 1 and not self.wait_part(k, 3.0):
                return self.send(h, 503)
            return self.send(h, 200, self.part_bytes(k), "video/mp4")
        if name.startswith("seg") and name.endswith(".m4s"):
            m = int(name[3:-4])
            if (m + 1) * PARTS - 1 > self.last_part():
                return self.send(h, 404)
            return self.send(h, 200, b"".join(self.part_bytes(m * PARTS + i) for i in range(PARTS)), "video/mp4")
        return self.send(h, 404)


class NetworkRun(unittest.TestCase):
    SECONDS = 2.5

    def run_mode(self, mode, **kw):
        o = FakeOrigin(mode)
        try:
            return lc.run(o.base + "index.m3u8", self.SECONDS, **kw)
        finally:
            o.close()

    def assertRuleFails(self, rep, prefix):
        self.assertTrue(any(r.startswith(prefix) for r in rep.findings.rules()),
                        "expected a FAIL on %r:\n%s" % (prefix, rep.text()))

    def test_good_origin_passes(self):
        hp = shutil.which("node") and os.path.isdir(os.path.join(lc.ROOT, "node_modules", "hls-parser"))
        rep = self.run_mode("good", hls_parser=bool(hp))
        self.assertTrue(rep.ok, rep.text())
        st = rep.stats
        self.assertGreater(st["reloads"], 10)
        self.assertLess(st["blocking_s"]["p50"], 2 * PT)
        self.assertEqual(st["directive_probes"]["part_without_msn"], 400)
        self.assertGreater(st["delta_update"]["skipped"], 0)
        self.assertTrue(st["downloads"]["part"].split("/")[0] == st["downloads"]["part"].split("/")[1].split()[0])
        self.assertEqual(rep.warnings, [], rep.text())
        json.dumps(rep.as_dict())

    def test_not_blocking_fails(self):
        rep = self.run_mode("noblock", hls_parser=False, downloads=False)
        self.assertRuleFails(rep, "6.2.5.2 blocking reload")

    def test_no_400_fails(self):
        rep = self.run_mode("no400", hls_parser=False, downloads=False)
        self.assertRuleFails(rep, "6.2.5.2 _HLS_part without _HLS_msn")
        self.assertRuleFails(rep, "6.2.5.2 advance limit")

    def test_wrong_hint_fails(self):
        rep = self.run_mode("badhint", hls_parser=False, downloads=False)
        self.assertRuleFails(rep, "4.4.5.3 EXT-X-PRELOAD-HINT")

    def test_late_playlist_fails(self):
        rep = self.run_mode("late", hls_parser=False, downloads=False)
        self.assertRuleFails(rep, "6.2.5.2 blocking reload")

    def test_part_duration_against_media(self):
        rep = self.run_mode("badpart", hls_parser=False)
        self.assertRuleFails(rep, "4.4.4.9 EXT-X-PART DURATION")

    def test_unreachable(self):
        rep = lc.run("http://127.0.0.1:9/nothing/index.m3u8", 1, hls_parser=False)
        self.assertFalse(rep.ok)
        with self.assertRaises(lc.LLHLSCheckFailed):
            rep.raise_for_failures()


@unittest.skipUnless(shutil.which("node") and os.path.isdir(os.path.join(lc.ROOT, "node_modules", "hls-parser")),
                     "node or node_modules/hls-parser missing (scripts/deps.sh installs them)")
class HlsParserOpinion(unittest.TestCase):
    def test_good_and_bad(self):
        hp = lc.HlsParser()
        try:
            self.assertTrue(hp.parse(GOOD)["ok"], hp.parse(GOOD))
            bad = hp.parse(edit(GOOD, "#EXTINF:1.00000,", "#EXTINF:2.00000,"))
            self.assertFalse(bad["ok"])
            self.assertIn("target duration", bad["error"])
            f = lc.Findings()
            lc.hls_parser_findings(bad, GOOD, f, set(), "x")
            self.assertIn("hls-parser strict", f.rules())
        finally:
            hp.close()


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[1:])

#!/usr/bin/env python3
"""LL-HLS conformance checker: plays a live stream the way a low-latency client
does and checks what the server says and serves against draft-pantos-hls-rfc8216bis
(4.4 tags, 6.2 server rules, 6.2.5 delivery directives, 6.2.6 preload hints,
Appendix B.1 low-latency server profile).

    python3 llhls_check.py http://127.0.0.1:8080/live/shop/index.m3u8 --seconds 10
    python3 llhls_check.py URL --json            # machine-readable report

As a module:

    import llhls_check
    report = llhls_check.run(url, seconds=10)
    print(report.text())
    report.raise_for_failures()                  # AssertionError listing every FAIL

What it does: fetches the multivariant playlist and the media playlist, then
reloads the media playlist for --seconds with blocking requests for the next
part (_HLS_msn/_HLS_part, as hls.js does), each together with a request for the
part named by EXT-X-PRELOAD-HINT (a blocking preload hint). Every playlist is
checked on its own (tags, attributes, durations, PDT) and against the previous
one (MSN, PDT, parts and hints consistent across reloads). Every listed part,
segment and init section is downloaded and its ISO-BMFF boxes are read, so that
EXT-X-PART/EXTINF durations, INDEPENDENT=YES and PDT can be checked against the
media itself. Then the directives' error cases (400s), a delta update
(_HLS_skip=YES) and, once the stream ends, the ENDLIST rules. Every playlist
text also goes through npm's hls-parser in strict mode (hls_parse.mjs).

Findings are FAIL (a MUST of the spec, or a rule this project holds itself to and
says so), WARN (a SHOULD, or a measurement outside its budget once) and INFO.
Python 3 standard library only; node + node_modules/hls-parser for the second
opinion (skipped with a WARN when missing).
"""
import argparse
import datetime
import gzip
import json
import math
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))

FAIL, WARN, INFO = "FAIL", "WARN", "INFO"
_SEVERITY_ORDER = {FAIL: 0, WARN: 1, INFO: 2}

# ---------------------------------------------------------------------------
# findings and report


class Finding:
    def __init__(self, severity, rule, message, excerpt=None):
        self.severity = severity
        self.rule = rule
        self.message = message
        self.excerpt = excerpt
        self.count = 1

    def as_dict(self):
        return {"severity": self.severity, "rule": self.rule, "message": self.message,
                "excerpt": self.excerpt, "count": self.count}

    def text(self):
        s = "%s [%s] %s" % (self.severity, self.rule, self.message)
        if self.count > 1:
            s += " (x%d)" % self.count
        if self.excerpt:
            s += "\n" + "\n".join("      | " + l for l in self.excerpt.rstrip("\n").split("\n"))
        return s


class Findings:
    """Findings keyed by (severity, rule, key): the same problem on every reload
    is reported once, with a count and the first excerpt."""

    def __init__(self):
        self._items = {}

    def add(self, severity, rule, message, excerpt=None, key=None):
        k = (severity, rule, key if key is not None else message)
        f = self._items.get(k)
        if f is not None:
            f.count += 1
            return f
        f = Finding(severity, rule, message, excerpt)
        self._items[k] = f
        return f

    def fail(self, rule, message, excerpt=None, key=None):
        return self.add(FAIL, rule, message, excerpt, key)

    def warn(self, rule, message, excerpt=None, key=None):
        return self.add(WARN, rule, message, excerpt, key)

    def info(self, rule, message, excerpt=None, key=None):
        return self.add(INFO, rule, message, excerpt, key)

    def all(self):
        return sorted(self._items.values(), key=lambda f: _SEVERITY_ORDER[f.severity])

    def of(self, severity):
        return [f for f in self.all() if f.severity == severity]

    def rules(self, severity=FAIL):
        return {f.rule for f in self.of(severity)}


class LLHLSCheckFailed(AssertionError):
    def __init__(self, report):
        self.report = report
        super().__init__("LL-HLS check failed:\n" + report.text())


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a list; None when empty."""
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(math.ceil(p / 100.0 * len(v))) - 1))
    return v[k]


def _stats(values, scale=1.0, digits=3):
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": round(percentile(values, 50) * scale, digits),
            "p90": round(percentile(values, 90) * scale, digits),
            "min": round(min(values) * scale, digits), "max": round(max(values) * scale, digits)}


class Report:
    def __init__(self, url):
        self.url = url
        self.findings = Findings()
        self.stats = {}
        self.log = []

    @property
    def failures(self):
        return self.findings.of(FAIL)

    @property
    def warnings(self):
        return self.findings.of(WARN)

    @property
    def ok(self):
        return not self.failures

    def as_dict(self):
        return {"url": self.url, "ok": self.ok, "stats": self.stats,
                "findings": [f.as_dict() for f in self.findings.all()]}

    def text(self):
        out = ["LL-HLS check of %s" % self.url]
        for k, v in self.stats.items():
            out.append("  %-22s %s" % (k + ":", json.dumps(v) if isinstance(v, (dict, list)) else v))
        fs = self.findings.all()
        out.append("  findings: %d FAIL, %d WARN, %d INFO" % (
            len(self.failures), len(self.warnings), len(self.findings.of(INFO))))
        for f in fs:
            out.append("  " + f.text().replace("\n", "\n  "))
        out.append("  result: %s" % ("PASS" if self.ok else "FAIL"))
        return "\n".join(out)

    def raise_for_failures(self):
        if not self.ok:
            raise LLHLSCheckFailed(self)
        return self


# ---------------------------------------------------------------------------
# playlist parsing (pure)

_ATTR_NAME = re.compile(r"[A-Z0-9-]+=")


def parse_attrs(s):
    """attribute-list (4.2) -> (dict name -> str value, set of quoted names).
    Raises ValueError on a malformed list or a repeated name."""
    attrs, quoted = {}, set()
    i, n = 0, len(s)
    while i < n:
        m = _ATTR_NAME.match(s, i)
        if not m:
            raise ValueError("malformed attribute-list at %r" % s[i:i + 30])
        key = m.group(0)[:-1]
        i = m.end()
        if i < n and s[i] == '"':
            j = s.find('"', i + 1)
            if j < 0:
                raise ValueError("unterminated quoted-string in %s" % key)
            val = s[i + 1:j]
            quoted.add(key)
            i = j + 1
        else:
            j = s.find(",", i)
            j = n if j < 0 else j
            val = s[i:j]
            i = j
        if key in attrs:
            raise ValueError("attribute %s appears twice" % key)
        attrs[key] = val
        if i < n:
            if s[i] != ",":
                raise ValueError("expected ',' after %s" % key)
            i += 1
            if i == n:
                raise ValueError("trailing ',' in attribute-list")
    return attrs, quoted


def parse_pdt(value):
    """EXT-X-PROGRAM-DATE-TIME value -> seconds since the epoch (float); ValueError."""
    v = value.strip()
    if not re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$", v):
        raise ValueError("not an ISO 8601 date-time with a time zone: %r" % value)
    v = v.replace("Z", "+00:00")
    m = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$", v)
    frac = float(m.group(2)) if m.group(2) else 0.0
    base = datetime.datetime.fromisoformat(m.group(1) + m.group(3))
    return base.timestamp() + frac


def _float(v, what):
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ValueError("%s is not a decimal number: %r" % (what, v))
    if math.isnan(f) or math.isinf(f):
        raise ValueError("%s is not finite" % what)
    return f


class Part:
    def __init__(self, msn, index, duration, uri, independent, gap, lineno):
        self.msn, self.index, self.duration, self.uri = msn, index, duration, uri
        self.independent, self.gap, self.lineno = independent, gap, lineno

    @property
    def key(self):
        return (self.msn, self.index)

    def __repr__(self):
        return "Part(%d.%d %s %.5f%s)" % (self.msn, self.index, self.uri, self.duration,
                                         " I" if self.independent else "")


class Segment:
    def __init__(self, msn):
        self.msn = msn
        self.duration = None       # EXTINF; None while the segment is open
        self.uri = None            # None while open
        self.parts = []
        self.pdt = None            # seconds since the epoch
        self.pdt_lineno = None
        self.pdt_after_part = False
        self.discontinuity = False
        self.map_uri = None
        self.gap = False
        self.dsn = 0               # discontinuity sequence number
        self.lineno = None         # the URI line (or the first part when open)
        self.extinf_lineno = None
        self.first_lineno = None

    @property
    def complete(self):
        return self.uri is not None

    def __repr__(self):
        return "Segment(%d %s %s parts=%d)" % (self.msn, self.uri, self.duration, len(self.parts))


class MediaPlaylist:
    def __init__(self, text):
        self.text = text
        self.lines = text.split("\n")
        self.errors = []           # (lineno, message)
        self.version = None
        self.version_count = 0
        self.target_duration = None
        self.target_duration_raw = None
        self.media_sequence = None
        self.disc_sequence = None
        self.part_target = None
        self.server_control = None  # dict of attributes
        self.independent_segments = False
        self.segments = []         # complete segments, skipped ones excluded
        self.open_segment = None   # the segment being built (parts, no URI yet)
        self.preload_hints = []    # dicts with TYPE, URI, lineno
        self.skip = None           # EXT-X-SKIP attributes
        self.skipped_segments = 0
        self.endlist = False
        self.playlist_type = None
        self.rendition_reports = []
        self.dateranges = []
        self.has_byterange = False
        self.map_count = 0
        self.tag_lines = {}        # tag name -> first line number

    # -- convenience
    def all_segments(self):
        return self.segments + ([self.open_segment] if self.open_segment else [])

    def all_parts(self):
        return [p for s in self.all_segments() for p in s.parts]

    @property
    def last_part(self):
        ps = self.all_parts()
        return ps[-1] if ps else None

    @property
    def first_msn(self):
        segs = self.all_segments()
        return segs[0].msn if segs else None

    @property
    def last_msn(self):
        """MSN of the last segment, the open one included."""
        segs = self.all_segments()
        return segs[-1].msn if segs else None

    def segment(self, msn):
        for s in self.all_segments():
            if s.msn == msn:
                return s
        return None

    def hint(self, type_="PART"):
        for h in self.preload_hints:
            if h.get("TYPE") == type_:
                return h
        return None

    def excerpt(self, lineno, before=2, after=2):
        if lineno is None:
            return None
        lo, hi = max(0, lineno - before), min(len(self.lines), lineno + after + 1)
        return "\n".join("%4d  %s" % (i + 1, self.lines[i]) for i in range(lo, hi))

    def head_excerpt(self, n=8):
        return "\n".join("%4d  %s" % (i + 1, l) for i, l in enumerate(self.lines[:n]))

    def duration(self):
        """Listed media: complete segments plus the open segment's parts."""
        d = sum(s.duration or 0 for s in self.segments)
        if self.open_segment:
            d += sum(p.duration for p in self.open_segment.parts)
        return d


def is_media_playlist(text):
    return bool(re.search(r"^#EXT(INF|-X-PART|-X-TARGETDURATION|-X-MEDIA-SEQUENCE)[:\s]", text, re.M))


def parse_media_playlist(text):
    """Parses a media playlist without raising: syntax problems land in .errors."""
    pl = MediaPlaylist(text)
    lines = pl.lines
    if not lines or lines[0].rstrip("\r") != "#EXTM3U":
        pl.errors.append((0, "the first line is not #EXTM3U (4.4.1.1)"))
    cur = None
    map_uri = None
    dsn_base = None
    disc_count = 0

    def new_segment(lineno):
        base = (pl.media_sequence or 0) + pl.skipped_segments
        s = Segment(base + len(pl.segments))
        s.map_uri = map_uri
        s.first_lineno = lineno
        return s

    for i, raw in enumerate(lines):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        if line.startswith("#"):
            if not line.startswith("#EXT"):
                continue  # comment
            name, _, value = line[1:].partition(":")
            pl.tag_lines.setdefault(name, i)
            try:
                if name == "EXTM3U":
                    if i != 0:
                        pl.errors.append((i, "EXTM3U not on the first line"))
                elif name == "EXT-X-VERSION":
                    pl.version_count += 1
                    pl.version = int(value)
                elif name == "EXT-X-TARGETDURATION":
                    pl.target_duration_raw = value
                    if not re.match(r"^\d+$", value):
                        pl.errors.append((i, "EXT-X-TARGETDURATION must be a decimal-integer (4.4.3.1): %r" % value))
                    pl.target_duration = int(float(value))
                elif name == "EXT-X-MEDIA-SEQUENCE":
                    if pl.segments or cur is not None:
                        pl.errors.append((i, "EXT-X-MEDIA-SEQUENCE after the first segment (4.4.3.2)"))
                    pl.media_sequence = int(value)
                elif name == "EXT-X-DISCONTINUITY-SEQUENCE":
                    if pl.segments or cur is not None or disc_count:
                        pl.errors.append((i, "EXT-X-DISCONTINUITY-SEQUENCE after the first segment (4.4.3.3)"))
                    pl.disc_sequence = int(value)
                elif name == "EXT-X-PART-INF":
                    a, _ = parse_attrs(value)
                    if "PART-TARGET" not in a:
                        pl.errors.append((i, "EXT-X-PART-INF without PART-TARGET (4.4.3.7)"))
                    else:
                        pl.part_target = _float(a["PART-TARGET"], "PART-TARGET")
                elif name == "EXT-X-SERVER-CONTROL":
                    a, _ = parse_attrs(value)
                    pl.server_control = a
                elif name == "EXT-X-INDEPENDENT-SEGMENTS":
                    pl.independent_segments = True
                elif name == "EXT-X-PLAYLIST-TYPE":
                    pl.playlist_type = value
                elif name == "EXT-X-ENDLIST":
                    pl.endlist = True
                elif name == "EXT-X-SKIP":
                    a, _ = parse_attrs(value)
                    pl.skip = a
                    pl.skip["lineno"] = i
                    if pl.segments or cur is not None:
                        pl.errors.append((i, "EXT-X-SKIP after a segment: it replaces the oldest ones (4.4.5.2)"))
                    try:
                        pl.skipped_segments = int(a.get("SKIPPED-SEGMENTS", ""))
                    except ValueError:
                        pl.errors.append((i, "EXT-X-SKIP without a decimal-integer SKIPPED-SEGMENTS (4.4.5.2)"))
                elif name == "EXT-X-MAP":
                    a, q = parse_attrs(value)
                    if "URI" not in a or "URI" not in q:
                        pl.errors.append((i, "EXT-X-MAP without a quoted URI (4.4.4.5)"))
                    map_uri = a.get("URI")
                    pl.map_count += 1
                    if cur is not None and cur.parts:
                        pl.errors.append((i, "EXT-X-MAP between the parts of a segment (4.4.4.9)"))
                    if cur is not None:
                        cur.map_uri = map_uri
                elif name == "EXT-X-PROGRAM-DATE-TIME":
                    if cur is None:
                        cur = new_segment(i)
                    cur.pdt = parse_pdt(value)
                    cur.pdt_lineno = i
                    if cur.parts:
                        cur.pdt_after_part = True
                elif name == "EXT-X-DISCONTINUITY":
                    if cur is None:
                        cur = new_segment(i)
                    if cur.parts:
                        pl.errors.append((i, "EXT-X-DISCONTINUITY after the first EXT-X-PART of its segment (4.4.4.9)"))
                    cur.discontinuity = True
                    disc_count += 1
                elif name == "EXT-X-GAP":
                    if cur is None:
                        cur = new_segment(i)
                    cur.gap = True
                elif name == "EXTINF":
                    if cur is None:
                        cur = new_segment(i)
                    dur, _, title = value.partition(",")
                    cur.duration = _float(dur, "EXTINF duration")
                    cur.extinf_lineno = i
                elif name == "EXT-X-BYTERANGE":
                    pl.has_byterange = True
                elif name == "EXT-X-PART":
                    a, q = parse_attrs(value)
                    if cur is None:
                        cur = new_segment(i)
                    if "URI" not in a or "URI" not in q:
                        pl.errors.append((i, "EXT-X-PART without a quoted URI (4.4.4.9)"))
                    if "DURATION" not in a:
                        pl.errors.append((i, "EXT-X-PART without DURATION (4.4.4.9)"))
                    if "BYTERANGE" in a:
                        pl.has_byterange = True
                    p = Part(cur.msn, len(cur.parts), _float(a.get("DURATION", "0"), "EXT-X-PART DURATION"),
                             a.get("URI"), a.get("INDEPENDENT") == "YES", a.get("GAP") == "YES", i)
                    if cur.extinf_lineno is not None:
                        pl.errors.append((i, "EXT-X-PART after its segment's EXTINF"))
                    cur.parts.append(p)
                    if cur.lineno is None:
                        cur.lineno = i
                elif name == "EXT-X-PRELOAD-HINT":
                    a, q = parse_attrs(value)
                    a["lineno"] = i
                    pl.preload_hints.append(a)
                elif name == "EXT-X-RENDITION-REPORT":
                    a, _ = parse_attrs(value)
                    pl.rendition_reports.append(a)
                elif name == "EXT-X-DATERANGE":
                    a, _ = parse_attrs(value)
                    a["lineno"] = i
                    pl.dateranges.append(a)
            except ValueError as e:
                pl.errors.append((i, "%s: %s" % (name, e)))
            continue
        # a URI line: closes the segment
        if cur is None:
            cur = new_segment(i)
        if cur.duration is None:
            pl.errors.append((i, "segment URI without an EXTINF (4.4.4.1)"))
        cur.uri = line.strip()
        cur.lineno = i
        pl.segments.append(cur)
        cur = None
    if cur is not None:
        if cur.duration is not None:
            pl.errors.append((cur.extinf_lineno, "EXTINF with no URI line after it"))
        if cur.parts or cur.pdt is not None or cur.discontinuity:
            pl.open_segment = cur
    # discontinuity sequence numbers
    dsn = pl.disc_sequence or 0
    for s in pl.all_segments():
        if s.discontinuity:
            dsn += 1
        s.dsn = dsn
    return pl


def parse_multivariant(text):
    """-> (variants [(attrs, uri, lineno)], media [attrs], errors [(lineno, msg)])"""
    variants, media, errors = [], [], []
    lines = text.split("\n")
    if not lines or lines[0].rstrip("\r") != "#EXTM3U":
        errors.append((0, "the first line is not #EXTM3U (4.4.1.1)"))
    pending = None
    for i, raw in enumerate(lines):
        line = raw.rstrip("\r").strip()
        if not line:
            continue
        if line.startswith("#EXT-X-STREAM-INF:"):
            try:
                pending = (parse_attrs(line.split(":", 1)[1])[0], i)
            except ValueError as e:
                errors.append((i, "EXT-X-STREAM-INF: %s" % e))
                pending = ({}, i)
        elif line.startswith("#EXT-X-MEDIA:"):
            try:
                media.append(parse_attrs(line.split(":", 1)[1])[0])
            except ValueError as e:
                errors.append((i, "EXT-X-MEDIA: %s" % e))
        elif line.startswith("#"):
            continue
        else:
            if pending is None:
                errors.append((i, "URI line without EXT-X-STREAM-INF"))
            else:
                variants.append((pending[0], line, pending[1]))
                pending = None
    if pending is not None:
        errors.append((pending[1], "EXT-X-STREAM-INF not followed by a URI line (4.4.6.2)"))
    return variants, media, errors


# ---------------------------------------------------------------------------
# static checks of one media playlist (pure)


def round_half_up(x):
    return int(math.floor(x + 0.5))


def check_media_playlist(pl, f, opts=None):
    """Checks one media playlist on its own; adds to Findings f."""
    opts = opts or {}
    pdt_tol = opts.get("pdt_tolerance", 0.005)
    dur_tol = opts.get("duration_tolerance", 0.005)
    for lineno, msg in pl.errors:
        f.fail("syntax", msg, pl.excerpt(lineno, 1, 1), key=msg)
    if pl.version is None:
        f.fail("4.4.1.2 EXT-X-VERSION", "no EXT-X-VERSION tag (needed: EXT-X-MAP requires version 6)", pl.head_excerpt())
    if pl.version_count > 1:
        f.fail("4.4.1.2 EXT-X-VERSION", "more than one EXT-X-VERSION tag")
    need = 1
    if any(s.duration is not None and s.duration != int(s.duration) for s in pl.segments):
        need = max(need, 3)
    if pl.has_byterange:
        need = max(need, 4)
    if pl.map_count:
        need = max(need, 6)
    if pl.skip is not None:
        need = max(need, 9)
    if pl.version is not None and pl.version < need:
        f.fail("8 version compatibility", "EXT-X-VERSION:%d but the playlist uses features of version %d%s" % (
            pl.version, need, " (EXT-X-SKIP)" if need == 9 else ""), pl.head_excerpt(), key="version %d<%d" % (pl.version, need))
    td = pl.target_duration
    if td is None:
        f.fail("4.4.3.1 EXT-X-TARGETDURATION", "no EXT-X-TARGETDURATION tag", pl.head_excerpt())
    if pl.media_sequence is None:
        f.warn("4.4.3.2 EXT-X-MEDIA-SEQUENCE", "no EXT-X-MEDIA-SEQUENCE: a live playlist that removes segments needs it (6.2.2)")
    if pl.playlist_type is not None and not pl.endlist:
        f.fail("6.2.2 live playlist", "a live playlist must not carry EXT-X-PLAYLIST-TYPE (%s)" % pl.playlist_type)

    # -- LL-HLS tags
    parts = pl.all_parts()
    pt = pl.part_target
    sc = pl.server_control
    if pt is None:
        f.fail("4.4.3.7 EXT-X-PART-INF", "no EXT-X-PART-INF:PART-TARGET: this is not a low-latency playlist"
               if not parts else "EXT-X-PART tags without EXT-X-PART-INF", pl.head_excerpt())
    if not parts and not pl.endlist:
        f.fail("4.4.4.9 EXT-X-PART", "no EXT-X-PART tags in a live playlist: nothing for a low-latency client to load",
               pl.head_excerpt(), key="no parts")
    if sc is None:
        f.fail("4.4.3.8 EXT-X-SERVER-CONTROL", "no EXT-X-SERVER-CONTROL tag", pl.head_excerpt())
        sc = {}
    sc_line = pl.excerpt(pl.tag_lines.get("EXT-X-SERVER-CONTROL"), 0, 0)
    if sc.get("CAN-BLOCK-RELOAD") != "YES":
        f.fail("B.1 CAN-BLOCK-RELOAD", "EXT-X-SERVER-CONTROL lacks CAN-BLOCK-RELOAD=YES (the low-latency profile requires "
               "blocking playlist reload)", sc_line)

    def num(name):
        if name not in sc:
            return None
        try:
            return _float(sc[name], name)
        except ValueError as e:
            f.fail("4.4.3.8 EXT-X-SERVER-CONTROL", str(e), sc_line)
            return None

    phb, hb, csu = num("PART-HOLD-BACK"), num("HOLD-BACK"), num("CAN-SKIP-UNTIL")
    if pt is not None:
        if phb is None:
            f.fail("4.4.3.8 PART-HOLD-BACK", "PART-HOLD-BACK is REQUIRED when the playlist has EXT-X-PART-INF", sc_line)
        elif phb < 2 * pt - 1e-9:
            f.fail("4.4.3.8 PART-HOLD-BACK", "PART-HOLD-BACK=%g is under twice PART-TARGET=%g (MUST)" % (phb, pt), sc_line)
        elif phb < 3 * pt - 1e-9:
            f.fail("4.4.3.8 PART-HOLD-BACK", "PART-HOLD-BACK=%g is under 3 x PART-TARGET=%g (SHOULD in 4.4.3.8; MUST in "
                   "Apple's HLS authoring spec 14.3)" % (phb, pt), sc_line)
    if hb is not None and td is not None and hb < 3 * td - 1e-9:
        f.fail("4.4.3.8 HOLD-BACK", "HOLD-BACK=%g is under 3 x TARGETDURATION=%d" % (hb, td), sc_line)
    if csu is not None and td is not None and csu < 6 * td - 1e-9:
        f.fail("4.4.3.8 CAN-SKIP-UNTIL", "CAN-SKIP-UNTIL=%g is under 6 x TARGETDURATION=%d" % (csu, td), sc_line)
    if sc.get("CAN-SKIP-DATERANGES") == "YES" and csu is None:
        f.fail("4.4.3.8 CAN-SKIP-DATERANGES", "CAN-SKIP-DATERANGES=YES without CAN-SKIP-UNTIL", sc_line)

    # -- segments
    segs = pl.all_segments()
    if segs and pl.map_count == 0:
        f.fail("4.4.4.5 EXT-X-MAP", "no EXT-X-MAP: fMP4/CMAF segments need their init section", pl.head_excerpt())
    if segs and segs[0].map_uri is None and pl.map_count:
        f.fail("4.4.4.5 EXT-X-MAP", "the first segment has no EXT-X-MAP before it", pl.excerpt(segs[0].first_lineno))
    seen_uris = {}
    for s in segs:
        where = pl.excerpt(s.lineno if s.lineno is not None else s.first_lineno)
        if s.pdt is None:
            f.fail("B.1 EXT-X-PROGRAM-DATE-TIME", "segment %d has no EXT-X-PROGRAM-DATE-TIME (every segment carries one: "
                   "players derive playingDate and the cue timeline from it)%s" % (
                       s.msn, " [the open segment]" if not s.complete else ""), where, key="pdt missing %s" % s.complete)
        elif s.pdt_after_part:
            f.warn("4.4.4.9 EXT-X-PROGRAM-DATE-TIME", "segment %d's PDT comes after its first EXT-X-PART: it no longer "
                   "dates the segment's start" % s.msn, pl.excerpt(s.pdt_lineno), key="pdt after part")
        if s.complete:
            if s.duration is not None and td is not None and round_half_up(s.duration) > td:
                f.fail("4.4.3.1 EXT-X-TARGETDURATION", "segment %d: EXTINF %.5f rounds to more than TARGETDURATION=%d" % (
                    s.msn, s.duration, td), pl.excerpt(s.extinf_lineno), key="extinf>td")
            if s.duration is not None and s.duration <= 0:
                f.fail("4.4.4.1 EXTINF", "segment %d: EXTINF %.5f is not positive" % (s.msn, s.duration), where)
            if s.parts and s.duration is not None:
                total = sum(p.duration for p in s.parts)
                if abs(total - s.duration) > dur_tol + 1e-5 * len(s.parts):
                    f.fail("4.4.4.9 EXT-X-PART", "segment %d: EXTINF %.5f but its parts add up to %.5f (a parent segment "
                           "and its parts hold the same media)" % (s.msn, s.duration, total), where, key="sum parts")
            if s.uri in seen_uris:
                f.fail("6.2.1 URIs", "segment URI %s listed twice" % s.uri, where)
            seen_uris[s.uri] = s.msn
        for k, p in enumerate(s.parts):
            pwhere = pl.excerpt(p.lineno, 1, 1)
            if pt is not None and p.duration > pt + 1e-9:
                f.fail("4.4.4.9 EXT-X-PART", "part %d.%d DURATION=%.5f exceeds PART-TARGET=%g" % (
                    p.msn, p.index, p.duration, pt), pwhere, key="part>pt")
            last_of_segment = (k == len(s.parts) - 1)
            # final part of a complete segment, or the newest part of the open one, may be short
            if pt is not None and not last_of_segment and not p.independent and not p.gap \
                    and p.duration < 0.85 * pt - 1e-9:
                f.fail("4.4.4.9 EXT-X-PART", "part %d.%d DURATION=%.5f is under 85%% of PART-TARGET=%g and is neither "
                       "INDEPENDENT=YES nor the last part of its segment" % (p.msn, p.index, p.duration, pt),
                       pwhere, key="part<85")
            if p.duration <= 0:
                f.fail("4.4.4.9 EXT-X-PART", "part %d.%d DURATION is not positive" % (p.msn, p.index), pwhere)
            if p.uri in seen_uris:
                f.fail("6.2.1 URIs", "URI %s listed twice" % p.uri, pwhere, key="dup uri")
            seen_uris[p.uri] = p.key
        if s.parts and pl.independent_segments and not s.parts[0].independent:
            f.warn("4.4.4.9 INDEPENDENT", "segment %d: first part lacks INDEPENDENT=YES although the playlist has "
                   "EXT-X-INDEPENDENT-SEGMENTS" % s.msn, pl.excerpt(s.parts[0].lineno, 1, 1), key="first part not indep")
    # parts older than 3 target durations should be gone (6.2.2 SHOULD)
    if td is not None and parts:
        end = pl.duration()
        t = 0.0
        for s in segs:
            if s.complete and s.parts and end - t - (s.duration or 0) > 3 * td + 0.001:
                f.warn("6.2.2 part removal", "segment %d still lists parts although it ends %.2f s (> 3 x TD) before "
                       "the end of the playlist" % (s.msn, end - t - (s.duration or 0)), pl.excerpt(s.parts[0].lineno),
                       key="old parts")
                break
            t += s.duration or 0
    # PDT: monotonic and consistent with EXTINF
    prev = None
    for s in segs:
        if prev is not None and prev.pdt is not None and s.pdt is not None and prev.duration is not None:
            expect = prev.pdt + (prev.duration or 0)
            delta = s.pdt - expect
            where = pl.excerpt(s.pdt_lineno, 3, 0)
            if s.discontinuity:
                if delta < -1.0:
                    f.fail("6.2.1 EXT-X-PROGRAM-DATE-TIME", "segment %d (after a discontinuity) starts %.3f s before the "
                           "previous one ends: more than the sub-second overlap allowed" % (s.msn, -delta), where)
            elif abs(delta) > pdt_tol:
                f.fail("4.4.4.6 EXT-X-PROGRAM-DATE-TIME", "segment %d: PDT is %+.1f ms off the previous PDT + EXTINF "
                       "(%.5f) with no discontinuity between them" % (s.msn, delta * 1000, prev.duration), where,
                       key="pdt drift")
        prev = s
    # preload hints
    types = [h.get("TYPE") for h in pl.preload_hints]
    for t in set(types):
        if types.count(t) > 1:
            f.fail("6.2.6 EXT-X-PRELOAD-HINT", "more than one EXT-X-PRELOAD-HINT with TYPE=%s" % t,
                   pl.excerpt(pl.preload_hints[-1]["lineno"]))
    for h in pl.preload_hints:
        if h.get("TYPE") not in ("PART", "MAP"):
            f.fail("4.4.5.3 EXT-X-PRELOAD-HINT", "TYPE must be PART or MAP, not %r" % h.get("TYPE"), pl.excerpt(h["lineno"], 0, 0))
        if not h.get("URI"):
            f.fail("4.4.5.3 EXT-X-PRELOAD-HINT", "no URI", pl.excerpt(h["lineno"], 0, 0))
    if parts and not pl.endlist and pl.hint("PART") is None:
        f.warn("6.2.6 EXT-X-PRELOAD-HINT", "a live playlist with parts has no EXT-X-PRELOAD-HINT:TYPE=PART (hls.js and "
               "AVPlayer then wait a playlist round trip for every part)", pl.excerpt(len(pl.lines) - 2), key="no hint")
    if pl.endlist and pl.preload_hints:
        f.warn("6.2.6 EXT-X-PRELOAD-HINT", "EXT-X-PRELOAD-HINT in an ended playlist (nothing more will come)",
               pl.excerpt(pl.preload_hints[0]["lineno"]), key="hint+endlist")
    if pl.endlist and pl.open_segment is not None and pl.open_segment.parts:
        f.fail("6.2.1 EXT-X-ENDLIST", "EXT-X-ENDLIST with parts that belong to no complete segment",
               pl.excerpt(pl.open_segment.parts[-1].lineno))
    disc = [s for s in segs if s.discontinuity]
    if disc and pl.disc_sequence is None:
        f.warn("6.2.2 EXT-X-DISCONTINUITY-SEQUENCE", "EXT-X-DISCONTINUITY without EXT-X-DISCONTINUITY-SEQUENCE: "
               "removing segments later is impossible without it")


def check_reload(prev, cur, f, opts=None):
    """Checks a reload against the previous version of the same playlist."""
    if cur.target_duration != prev.target_duration:
        f.fail("6.2.1 EXT-X-TARGETDURATION", "TARGETDURATION changed from %s to %s between reloads (MUST NOT change)" % (
            prev.target_duration, cur.target_duration), cur.head_excerpt(), key="td changed")
    if prev.part_target is not None and cur.part_target != prev.part_target:
        f.fail("4.4.3.7 PART-TARGET", "PART-TARGET changed from %s to %s between reloads" % (prev.part_target, cur.part_target),
               cur.head_excerpt(), key="pt changed")
    if prev.media_sequence is not None and cur.media_sequence is not None and cur.media_sequence < prev.media_sequence:
        f.fail("6.2.2 EXT-X-MEDIA-SEQUENCE", "MEDIA-SEQUENCE went back from %d to %d" % (prev.media_sequence, cur.media_sequence),
               cur.head_excerpt(), key="msn back")
    if prev.disc_sequence is not None and cur.disc_sequence is not None and cur.disc_sequence < prev.disc_sequence:
        f.fail("6.2.2 EXT-X-DISCONTINUITY-SEQUENCE", "DISCONTINUITY-SEQUENCE went back from %d to %d" % (
            prev.disc_sequence, cur.disc_sequence), cur.head_excerpt(), key="dsn back")
    if prev.endlist and not cur.endlist:
        f.fail("6.2.1 EXT-X-ENDLIST", "EXT-X-ENDLIST disappeared on reload", cur.head_excerpt(), key="endlist gone")
    pl, cl = prev.all_segments(), cur.all_segments()
    if pl and cl:
        if cl[-1].msn < pl[-1].msn:
            f.fail("6.2.1 playlist changes", "the reload ends at MSN %d, before the previous version's %d" % (
                cl[-1].msn, pl[-1].msn), cur.head_excerpt(), key="shrank")
        if cur.media_sequence is not None and prev.media_sequence is not None \
                and cur.media_sequence > prev.media_sequence and cur.duration() < 3 * (cur.target_duration or 0) - 0.01 \
                and not cur.endlist:
            f.fail("6.2.2 live playlists", "a segment was removed although the playlist is then shorter (%.2f s) than "
                   "3 x TARGETDURATION" % cur.duration(), cur.head_excerpt(), key="too short")
    pmap = {s.msn: s for s in pl}
    for s in cl:
        o = pmap.get(s.msn)
        if o is None:
            continue
        where = cur.excerpt(s.lineno if s.lineno is not None else s.first_lineno)
        if o.complete:
            if not s.complete:
                f.fail("6.2.1 playlist changes", "segment %d was complete (%s) and is open again" % (s.msn, o.uri), where)
                continue
            if s.uri != o.uri or abs((s.duration or 0) - (o.duration or 0)) > 1e-9:
                f.fail("6.2.1 playlist changes", "segment %d changed between reloads: %s %.5f -> %s %.5f" % (
                    s.msn, o.uri, o.duration, s.uri, s.duration), where, key="seg changed")
        if o.pdt is not None and s.pdt is not None and abs(o.pdt - s.pdt) > 1e-6:
            f.fail("6.2.1 EXT-X-PROGRAM-DATE-TIME", "segment %d's PDT changed between reloads (%.3f -> %.3f)" % (
                s.msn, o.pdt, s.pdt), cur.excerpt(s.pdt_lineno), key="pdt changed")
        if o.dsn != s.dsn or o.discontinuity != s.discontinuity:
            f.fail("6.2.2 discontinuity sequence", "segment %d's discontinuity sequence number changed (%d -> %d)" % (
                s.msn, o.dsn, s.dsn), where, key="dsn changed")
        if o.map_uri != s.map_uri and s.map_uri is not None and o.map_uri is not None:
            f.fail("6.2.1 playlist changes", "segment %d's EXT-X-MAP changed (%s -> %s)" % (s.msn, o.map_uri, s.map_uri),
                   where, key="map changed")
        # parts: the old list is a prefix of the new one (or the parts were removed, 6.2.2)
        if s.parts:
            n = min(len(o.parts), len(s.parts))
            if len(s.parts) < len(o.parts) or any(
                    (a.uri, a.duration, a.independent) != (b.uri, b.duration, b.independent)
                    for a, b in zip(o.parts[:n], s.parts[:n])):
                f.fail("6.2.1 playlist changes", "segment %d's parts changed between reloads: %s -> %s" % (
                    s.msn, [p.uri for p in o.parts], [p.uri for p in s.parts]), where, key="parts changed")
            if o.complete and len(s.parts) != len(o.parts):
                f.fail("6.2.1 playlist changes", "segment %d gained parts after it was complete" % s.msn, where)


def next_part_after(pl, key):
    """The part listed right after (msn, index) in pl, or None."""
    for p in pl.all_parts():
        if p.key > key:
            return p
    return None


def hint_prediction(prev, cur):
    """(hint attrs, the part published after prev's last part in cur) when the
    PART preload hint of prev does not name it, else None (6.2.6, 4.4.5.3)."""
    h = prev.hint("PART")
    lp = prev.last_part
    if h is None or lp is None:
        return None
    nxt = next_part_after(cur, lp.key)
    if nxt is None or nxt.uri == h.get("URI"):
        return None
    return h, nxt


def satisfies(pl, msn, part):
    """Does pl answer a blocking request for (_HLS_msn=msn, _HLS_part=part)? (6.2.5.2)"""
    if pl.endlist:
        return True
    if part is None:
        return any(s.msn >= msn and s.complete for s in pl.segments) or (pl.last_msn or -1) > msn
    for s in pl.all_segments():
        if s.msn > msn and (s.parts or s.complete):
            return True
        if s.msn == msn:
            if len(s.parts) > part:
                return True
            # a part index past the final part of a complete segment means part 0 of the next one
    return False


# ---------------------------------------------------------------------------
# ISO-BMFF (just what the checks need)


def iter_boxes(data, start=0, end=None):
    """Yields (type, payload_start, box_end) for the boxes in data[start:end];
    raises ValueError if they do not tile the range exactly."""
    end = len(data) if end is None else end
    i = start
    while i < end:
        if end - i < 8:
            raise ValueError("%d trailing bytes at offset %d" % (end - i, i))
        size, typ = struct.unpack(">I4s", data[i:i + 8])
        hdr = 8
        if size == 1:
            if end - i < 16:
                raise ValueError("truncated largesize box")
            size = struct.unpack(">Q", data[i + 8:i + 16])[0]
            hdr = 16
        elif size == 0:
            size = end - i
        if size < hdr or i + size > end:
            raise ValueError("box %r at offset %d has size %d past the end (%d)" % (typ, i, size, end))
        yield typ.decode("latin-1"), i + hdr, i + size
        i += size


def _child(data, start, end, typ):
    for t, s, e in iter_boxes(data, start, end):
        if t == typ:
            return s, e
    return None


def parse_init(data):
    """init section -> {"tracks": {id: {...}}, "codecs": [..]}; ValueError."""
    top = list(iter_boxes(data))
    if not top or top[0][0] != "ftyp":
        raise ValueError("does not start with ftyp (starts with %r)" % (top[0][0] if top else data[:8]))
    moov = [(s, e) for t, s, e in top if t == "moov"]
    if not moov:
        raise ValueError("no moov box")
    ms, me = moov[0]
    tracks, trex = {}, {}
    for t, s, e in iter_boxes(data, ms, me):
        if t == "trak":
            tk = {}
            tkhd = _child(data, s, e, "tkhd")
            if tkhd:
                v = data[tkhd[0]]
                off = tkhd[0] + 4 + (16 if v == 1 else 8)
                tk["id"] = struct.unpack(">I", data[off:off + 4])[0]
            mdia = _child(data, s, e, "mdia")
            if mdia:
                mdhd = _child(data, mdia[0], mdia[1], "mdhd")
                if mdhd:
                    v = data[mdhd[0]]
                    off = mdhd[0] + 4 + (16 if v == 1 else 8)
                    tk["timescale"] = struct.unpack(">I", data[off:off + 4])[0]
                hdlr = _child(data, mdia[0], mdia[1], "hdlr")
                if hdlr:
                    tk["handler"] = data[hdlr[0] + 8:hdlr[0] + 12].decode("latin-1")
                minf = _child(data, mdia[0], mdia[1], "minf")
                stbl = minf and _child(data, minf[0], minf[1], "stbl")
                stsd = stbl and _child(data, stbl[0], stbl[1], "stsd")
                if stsd:
                    es = stsd[0] + 8
                    ent = next(iter_boxes(data, es, stsd[1]), None)
                    if ent:
                        tk["sample_entry"] = ent[0]
                        tk["codec"] = _codec_string(data, ent)
            if "id" in tk:
                tracks[tk["id"]] = tk
        elif t == "mvex":
            for t2, s2, e2 in iter_boxes(data, s, e):
                if t2 == "trex":
                    tid, sdi, dur, size, flags = struct.unpack(">IIIII", data[s2 + 4:s2 + 24])
                    trex[tid] = {"duration": dur, "size": size, "flags": flags}
    for tid, tk in tracks.items():
        tk["trex"] = trex.get(tid, {"duration": 0, "size": 0, "flags": 0})
    return {"tracks": tracks, "codecs": [tk.get("codec") for tk in tracks.values() if tk.get("codec")]}


def _codec_string(data, ent):
    typ, s, e = ent
    try:
        if typ in ("avc1", "avc3"):
            box = _child(data, s + 78, e, "avcC")
            if box:
                b = data[box[0]:box[0] + 4]
                return "%s.%02x%02x%02x" % (typ, b[1], b[2], b[3])
        if typ == "mp4a":
            box = _child(data, s + 28, e, "esds")
            if box:
                d = data[box[0] + 4:box[1]]
                # walk descriptors to DecoderSpecificInfo (tag 5)
                i = 0

                def read_desc(i):
                    tag = d[i]
                    i += 1
                    ln = 0
                    for _ in range(4):
                        b = d[i]
                        i += 1
                        ln = (ln << 7) | (b & 0x7F)
                        if not b & 0x80:
                            break
                    return tag, i, ln

                tag, i, ln = read_desc(0)          # ES_Descriptor
                flags = d[i + 2]
                i += 3 + (2 if flags & 0x80 else 0)
                if flags & 0x40:
                    i += 1 + d[i]
                if flags & 0x20:
                    i += 2
                tag, i, ln = read_desc(i)          # DecoderConfigDescriptor
                oti = d[i]
                i += 13
                tag, i, ln = read_desc(i)          # DecoderSpecificInfo
                if tag == 5:
                    aot = d[i] >> 3
                    if aot == 31:
                        aot = 32 + (((d[i] & 7) << 3) | (d[i + 1] >> 5))
                    return "mp4a.%02x.%d" % (oti, aot)
    except (IndexError, ValueError, StopIteration):
        return typ
    return typ


def parse_fragment(data, init=None):
    """moof+mdat fragment(s) -> {"first_box", "tracks": {id: {"tfdt", "samples", "duration", "first_sync"}}}."""
    top = list(iter_boxes(data))
    if not top:
        raise ValueError("empty")
    info = {"first_box": top[0][0], "boxes": [t for t, _, _ in top], "tracks": {}}
    if "moof" not in info["boxes"]:
        raise ValueError("no moof box")
    if "mdat" not in info["boxes"]:
        raise ValueError("no mdat box")
    trex_of = lambda tid: ((init or {}).get("tracks", {}).get(tid, {}).get("trex") or {"duration": 0, "flags": 0})
    for t, s, e in top:
        if t != "moof":
            continue
        for t2, s2, e2 in iter_boxes(data, s, e):
            if t2 != "traf":
                continue
            tid = None
            d_dur = d_flags = None
            tr = None
            for t3, s3, e3 in iter_boxes(data, s2, e2):
                if t3 == "tfhd":
                    flags = struct.unpack(">I", data[s3:s3 + 4])[0] & 0xFFFFFF
                    tid = struct.unpack(">I", data[s3 + 4:s3 + 8])[0]
                    off = s3 + 8
                    if flags & 0x01:
                        off += 8
                    if flags & 0x02:
                        off += 4
                    if flags & 0x08:
                        d_dur = struct.unpack(">I", data[off:off + 4])[0]
                        off += 4
                    if flags & 0x10:
                        off += 4
                    if flags & 0x20:
                        d_flags = struct.unpack(">I", data[off:off + 4])[0]
                        off += 4
                    tr = info["tracks"].setdefault(tid, {"tfdt": None, "samples": 0, "duration": 0, "first_sync": None})
                    if d_dur is None:
                        d_dur = trex_of(tid)["duration"]
                    if d_flags is None:
                        d_flags = trex_of(tid)["flags"]
                elif t3 == "tfdt" and tr is not None:
                    v = data[s3]
                    val = struct.unpack(">Q" if v == 1 else ">I", data[s3 + 4:s3 + (12 if v == 1 else 8)])[0]
                    if tr["tfdt"] is None:
                        tr["tfdt"] = val
                elif t3 == "trun" and tr is not None:
                    vf = struct.unpack(">I", data[s3:s3 + 4])[0]
                    flags = vf & 0xFFFFFF
                    count = struct.unpack(">I", data[s3 + 4:s3 + 8])[0]
                    off = s3 + 8
                    first_flags = None
                    if flags & 0x01:
                        off += 4
                    if flags & 0x04:
                        first_flags = struct.unpack(">I", data[off:off + 4])[0]
                        off += 4
                    for k in range(count):
                        dur, sflags = d_dur, d_flags
                        if flags & 0x100:
                            dur = struct.unpack(">I", data[off:off + 4])[0]
                            off += 4
                        if flags & 0x200:
                            off += 4
                        if flags & 0x400:
                            sflags = struct.unpack(">I", data[off:off + 4])[0]
                            off += 4
                        if flags & 0x800:
                            off += 4
                        if k == 0 and first_flags is not None:
                            sflags = first_flags
                        if off > e3:
                            raise ValueError("trun runs past its box")
                        if tr["samples"] == 0:
                            tr["first_sync"] = not ((sflags or 0) >> 16) & 1
                        tr["samples"] += 1
                        tr["duration"] += dur or 0
    return info


# ---------------------------------------------------------------------------
# hls-parser (npm) as a second opinion


class HlsParser:
    """One long-lived `node hls_parse.mjs --jsonl` process."""

    def __init__(self):
        self.proc = None
        self.error = None
        self.cache = {}
        node = shutil.which("node")
        script = os.path.join(HERE, "hls_parse.mjs")
        if not node:
            self.error = "node is not installed"
        elif not os.path.isdir(os.path.join(ROOT, "node_modules", "hls-parser")):
            self.error = "node_modules/hls-parser is missing (run scripts/deps.sh or npm ci)"
        else:
            self.proc = subprocess.Popen([node, script, "--jsonl"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True, cwd=ROOT)
        self.lock = threading.Lock()

    def parse(self, text):
        if self.proc is None:
            return None
        if text in self.cache:
            return self.cache[text]
        with self.lock:
            try:
                self.proc.stdin.write(json.dumps({"text": text}) + "\n")
                self.proc.stdin.flush()
                line = self.proc.stdout.readline()
                res = json.loads(line)
            except (OSError, ValueError) as e:
                self.error = "hls_parse.mjs failed: %s %s" % (e, self.proc.stderr.read() if self.proc.poll() is not None else "")
                self.close()
                return None
        self.cache[text] = res
        return res

    def close(self):
        if self.proc is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            for p in (self.proc.stdout, self.proc.stderr):
                p.close()
            self.proc = None


# hls-parser messages that are SHOULDs in the spec, or hls-parser being stricter than the spec
_HLS_PARSER_SOFT = (
    ("greater than three target durations", "6.2.2: removing old EXT-X-PART tags is a SHOULD; hls-parser counts "
                                            "segments, not seconds"),
    ("85% of PART-TARGET", "4.4.4.9 exempts INDEPENDENT=YES parts from the 85% floor; hls-parser does not"),
)


def hls_parser_findings(res, pl_text, f, own_rules, what):
    if res is None or res.get("ok"):
        return
    for msg in res.get("errors") or [res.get("error", "?")]:
        soft = None
        for needle, why in _HLS_PARSER_SOFT:
            if needle in msg:
                soft = why
        if soft and "three target durations" in msg:
            # our own 6.2.2 check (in seconds) WARNs when the spec's SHOULD is really missed
            f.info("hls-parser strict", "%s: %s [%s]" % (what, msg, soft), key="hlsparser " + msg)
        elif soft and not ("85%" in msg and "4.4.4.9 EXT-X-PART" in own_rules):
            f.warn("hls-parser strict", "%s: %s [%s]" % (what, msg, soft), key="hlsparser " + msg)
        else:
            f.fail("hls-parser strict", "%s: hls-parser (strictMode) rejects it: %s" % (what, msg),
                   "\n".join(pl_text.split("\n")[:14]), key="hlsparser " + msg)


# ---------------------------------------------------------------------------
# HTTP


class Response:
    def __init__(self, url, status, headers, body, t0, t1, error=None):
        self.url, self.status, self.headers, self.body = url, status, headers, body
        self.t0, self.t1, self.error = t0, t1, error

    @property
    def elapsed(self):
        return self.t1 - self.t0

    def text(self):
        return self.body.decode("utf-8", errors="replace")


def fetch(url, timeout=10.0, gzip_ok=False):
    headers = {"User-Agent": "cartcast-llhls-check/1"}
    if gzip_ok:
        headers["Accept-Encoding"] = "gzip"
    req = urllib.request.Request(url, headers=headers)
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body, status, hdrs = r.read(), r.status, r.headers
    except urllib.error.HTTPError as e:
        body, status, hdrs = e.read(), e.code, e.headers
    except (OSError, socket.timeout) as e:
        return Response(url, None, {}, b"", t0, time.monotonic(), error="%s: %s" % (type(e).__name__, e))
    t1 = time.monotonic()
    if hdrs.get("Content-Encoding", "").lower() == "gzip":
        try:
            body = gzip.decompress(body)
        except OSError as e:
            return Response(url, status, hdrs, body, t0, t1, error="bad gzip body: %s" % e)
    return Response(url, status, hdrs, body, t0, t1)


def with_query(url, **params):
    u = urllib.parse.urlsplit(url)
    q = urllib.parse.parse_qsl(u.query, keep_blank_values=True)
    q = [(k, v) for k, v in q if not k.startswith("_HLS_")]
    # 6.2.5: clients sort the directives (hls.js and AVPlayer do); keep that order
    for k in sorted(params):
        if params[k] is not None:
            q.append((k, str(params[k])))
    return urllib.parse.urlunsplit((u.scheme, u.netloc, u.path, urllib.parse.urlencode(q), ""))


# ---------------------------------------------------------------------------
# the run


class Checker:
    def __init__(self, url, seconds=10.0, opts=None, log=None, hls_parser=True, downloads=True):
        self.url = url
        self.seconds = seconds
        self.opts = dict(opts or {})
        self.report = Report(url)
        self.f = self.report.findings
        self.logf = log
        self.hp = HlsParser() if hls_parser else None
        self.downloads = downloads
        self.pool = ThreadPoolExecutor(max_workers=3)
        self.pending = []             # futures of downloads
        self.fetched = {}             # absolute URL -> result dict
        self.fetched_lock = threading.Lock()
        self.inits = {}               # absolute URL -> parsed init
        self.hint_bodies = {}         # absolute URL -> body from the preload-hint request
        self.history = []             # every parsed media playlist (in order)
        self.parts_seen = {}          # (msn, idx) -> (Part, absolute url, dsn, map)
        self.segments_seen = {}       # msn -> (Segment, absolute url)
        self.block_times = []
        self.hint_lags = []
        self.part_arrivals = []       # monotonic time each new part was first seen
        self.unsatisfied = 0
        self.hp_texts = 0
        self.media_url = None
        self.reloads = 0
        self.gzip_seen = None
        self.codecs = None
        self.variant_bandwidth = None

    # -- helpers
    def log(self, msg):
        self.report.log.append(msg)
        if self.logf:
            self.logf.write("llhls_check: %s\n" % msg)
            self.logf.flush()

    def absolute(self, uri):
        return urllib.parse.urljoin(self.media_url, uri)

    def second_opinion(self, text, what):
        if self.hp is None:
            return
        res = self.hp.parse(text)
        self.hp_texts += 1
        hls_parser_findings(res, text, self.f, self.f.rules(FAIL), what)
        if res is None and self.hp.error:
            self.f.warn("hls-parser strict", "not run: %s" % self.hp.error, key="hp missing")

    def get_playlist(self, url, timeout, what):
        r = fetch(url, timeout=timeout, gzip_ok=True)
        if r.status == 200:
            enc = (r.headers.get("Content-Encoding") or "").lower()
            self.gzip_seen = (self.gzip_seen or False) or enc == "gzip"
            ctype = (r.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if ctype not in ("application/vnd.apple.mpegurl", "audio/mpegurl", "application/x-mpegurl"):
                self.f.warn("4 playlist MIME type", "%s served as %r (expected application/vnd.apple.mpegurl)" % (what, ctype),
                            key="ctype " + what)
        return r

    # -- downloads
    def queue_download(self, kind, url, meta=None):
        with self.fetched_lock:
            if url in self.fetched:
                return
            self.fetched[url] = {"kind": kind, "pending": True}
        if not self.downloads:
            return
        self.pending.append(self.pool.submit(self._download, kind, url, meta or {}))

    def _download(self, kind, url, meta):
        r = fetch(url, timeout=10)
        res = {"kind": kind, "status": r.status, "size": len(r.body), "error": r.error, "meta": meta}
        name = url.rsplit("/", 1)[-1]
        if r.status != 200:
            self.f.fail("6.2.1 availability", "%s %s: HTTP %s%s (a listed resource must be downloadable)" % (
                kind, name, r.status, " " + r.error if r.error else ""), key="dl %s %s" % (kind, r.status))
        elif not r.body:
            self.f.fail("6.2.1 availability", "%s %s: empty body" % (kind, name), key="dl empty " + kind)
        else:
            try:
                if kind == "init":
                    res["init"] = parse_init(r.body)
                    self.inits[url] = res["init"]
                else:
                    init = self.inits.get(meta.get("map")) if meta.get("map") else None
                    if init is None and meta.get("map"):
                        # the init may still be in flight: fetch it ourselves
                        ir = fetch(meta["map"], timeout=10)
                        if ir.status == 200:
                            init = self.inits.setdefault(meta["map"], parse_init(ir.body))
                    info = parse_fragment(r.body, init)
                    res["frag"] = info
                    res["init"] = init
                    if info["first_box"] not in ("moof", "styp"):
                        self.f.fail("3.1.2 fMP4 segments", "%s %s starts with a %r box, not moof or styp" % (
                            kind, name, info["first_box"]), key="first box " + kind)
                    hb = self.hint_bodies.get(url)
                    if hb is not None and hb != r.body:
                        self.f.fail("6.2.6 preload hints", "part %s: the body answered to the preload-hint request differs "
                                    "from the part served later (%d vs %d bytes)" % (name, len(hb), len(r.body)),
                                    key="hint body differs")
                res["ok"] = True
            except (ValueError, struct.error, IndexError) as e:
                self.f.fail("3.1.2 fMP4 segments", "%s %s: not a well-formed ISO-BMFF %s: %s" % (
                    kind, name, "init section" if kind == "init" else "fragment", e), key="bmff " + kind)
        with self.fetched_lock:
            self.fetched[url] = res
        return res

    # -- blocking preload hint
    def _fetch_hint(self, url, timeout, out):
        r = fetch(url, timeout=timeout)
        out["resp"] = r
        out["done"] = time.monotonic()

    # -- one new playlist version
    def absorb(self, pl, what):
        check_media_playlist(pl, self.f, self.opts)
        if self.history:
            check_reload(self.history[-1], pl, self.f, self.opts)
        self.second_opinion(pl.text, what)
        now = time.monotonic()
        for s in pl.all_segments():
            if s.map_uri:
                self.queue_download("init", self.absolute(s.map_uri))
            m = self.absolute(s.map_uri) if s.map_uri else None
            for p in s.parts:
                if p.key not in self.parts_seen:
                    self.parts_seen[p.key] = (p, self.absolute(p.uri), s.dsn, m)
                    if self.history:
                        self.part_arrivals.append(now)
                    if p.uri:
                        self.queue_download("part", self.absolute(p.uri), {"map": m, "key": p.key})
                else:
                    self.parts_seen[p.key] = (p, self.absolute(p.uri), s.dsn, m)
            if s.complete and s.msn not in self.segments_seen:
                self.segments_seen[s.msn] = (s, self.absolute(s.uri), m)
                self.queue_download("segment", self.absolute(s.uri), {"map": m, "msn": s.msn})
        self.history.append(pl)

    def check_hint_prediction(self, prev, cur):
        miss = hint_prediction(prev, cur)
        if miss is None:
            return
        h, nxt = miss
        seg = cur.segment(nxt.msn)
        if seg is not None and seg.discontinuity and nxt.index == 0:
            # 6.2.6 MAY: a hinted part need not be published when segmentation changes; then 404 (SHOULD)
            r = fetch(self.absolute(h["URI"]), timeout=2)
            if r.status == 200:
                self.f.warn("6.2.6 preload hints", "hint %s was not the next part (%s came after a discontinuity) but "
                            "still answers 200" % (h["URI"], nxt.uri), key="hint after disc")
            else:
                self.f.info("6.2.6 preload hints", "hint %s abandoned at a discontinuity (HTTP %s)" % (h["URI"], r.status),
                            key="hint abandoned")
            return
        self.f.fail("4.4.5.3 EXT-X-PRELOAD-HINT", "the preload hint named %s but the next part published was %s "
                    "(part %d.%d)" % (h.get("URI"), nxt.uri, nxt.msn, nxt.index),
                    prev.excerpt(h["lineno"], 2, 0) + "\n  ... next reload:\n" + cur.excerpt(nxt.lineno, 1, 0),
                    key="hint mismatch")

    # -- directive error cases
    def probe_directives(self, pl):
        td = pl.target_duration or 1
        pt = pl.part_target or 1
        lp = pl.last_part
        if lp is None:
            return
        res = {}
        # _HLS_part alone: MUST 400
        r = fetch(with_query(self.media_url, _HLS_part=0), timeout=3 * td + 2)
        res["part_without_msn"] = r.status
        if r.status != 400:
            self.f.fail("6.2.5.2 _HLS_part without _HLS_msn", "got HTTP %s%s, not 400 (MUST)" % (
                r.status, " after %.2f s" % r.elapsed if r.status else " (" + str(r.error) + ")"))
        def fresh():
            # the live edge moves while we probe: measure from a playlist fetched just now
            rr = fetch(self.media_url, timeout=5)
            return parse_media_playlist(rr.text()) if rr.status == 200 else pl

        # _HLS_msn more than 2 past the last segment: SHOULD 400 at once (one more for the edge moving)
        pl = fresh()
        far = pl.last_msn + 4
        r = fetch(with_query(self.media_url, _HLS_msn=far), timeout=3 * td + 2)
        res["msn_too_far"] = {"status": r.status, "s": round(r.elapsed, 3)}
        if r.status != 400 or r.elapsed > 0.5:
            self.f.fail("6.2.5.2 advance limit", "_HLS_msn=%d (last MSN %d + 4): HTTP %s after %.2f s; expected an "
                        "immediate 400" % (far, pl.last_msn, r.status, r.elapsed))
        # a part beyond the Advance Part Limit
        apl = 3.0 / pt if pt < 1 else 3
        pl = fresh()
        lp = pl.last_part or lp
        open_seg = pl.open_segment
        if open_seg is not None and open_seg.parts:
            m, n = open_seg.msn, open_seg.parts[-1].index + int(math.ceil(apl)) + 3
        else:
            m, n = lp.msn + 1, int(math.ceil(apl)) + 3
        r = fetch(with_query(self.media_url, _HLS_msn=m, _HLS_part=n), timeout=3 * td + 2)
        res["part_too_far"] = {"status": r.status, "s": round(r.elapsed, 3), "msn": m, "part": n}
        if r.status != 400 or r.elapsed > 0.5:
            self.f.fail("6.2.5.2 advance limit", "_HLS_msn=%d&_HLS_part=%d (more than the Advance Part Limit %.1f past "
                        "the last part %d.%d): HTTP %s after %.2f s; expected an immediate 400" % (
                            m, n, apl, lp.msn, lp.index, r.status, r.elapsed))
        # malformed directive
        r = fetch(with_query(self.media_url, _HLS_msn="x1"), timeout=3 * td + 2)
        res["malformed"] = r.status
        if r.status != 400:
            self.f.warn("6.2.5.2 delivery directives", "_HLS_msn=x1 answered HTTP %s, not 400" % r.status)
        # an old MSN: answered at once with the whole playlist
        first = pl.first_msn
        r = fetch(with_query(self.media_url, _HLS_msn=first, _HLS_part=0), timeout=3 * td + 2)
        res["old_msn"] = {"status": r.status, "s": round(r.elapsed, 3)}
        if r.status != 200 or r.elapsed > min(0.5, pt * 1.5):
            self.f.fail("6.2.5.2 blocking reload", "_HLS_msn=%d&_HLS_part=0 (already listed) answered HTTP %s after "
                        "%.2f s; expected 200 at once" % (first, r.status, r.elapsed))
        elif r.status == 200:
            old = parse_media_playlist(r.text())
            if old.last_msn is not None and old.last_msn < pl.last_msn:
                self.f.fail("6.2.5.2 blocking reload", "a request for an old MSN got an older playlist (ends at %d, "
                            "the live one at %d): the server must deliver the entire current playlist" % (
                                old.last_msn, pl.last_msn))
        # an unknown resource: 404 (SHOULD, 6.2.6)
        r = fetch(self.absolute("cc-llhls-check-no-such-part.m4s"), timeout=3)
        res["unknown_resource"] = r.status
        if r.status != 404:
            self.f.warn("6.2.6 not found", "an unknown resource answered HTTP %s, not 404" % r.status)
        self.report.stats["directive_probes"] = res

    def check_delta(self, pl):
        sc = pl.server_control or {}
        if "CAN-SKIP-UNTIL" not in sc:
            r = self.get_playlist(with_query(self.media_url, _HLS_skip="YES"), 5, "media playlist (_HLS_skip)")
            if r.status == 200 and "#EXT-X-SKIP" in r.text():
                self.f.fail("6.2.5.1 delta updates", "EXT-X-SKIP sent although CAN-SKIP-UNTIL is not advertised (MUST "
                            "ignore _HLS_skip)")
            self.f.info("6.2.5.1 delta updates", "CAN-SKIP-UNTIL not advertised: delta updates not offered", key="no delta")
            return
        kinds = ["YES"] + (["v2"] if sc.get("CAN-SKIP-DATERANGES") == "YES" else [])
        for kind in kinds:
            self._check_delta_kind(pl, float(sc["CAN-SKIP-UNTIL"]), kind)

    def _check_delta_kind(self, pl, csu, kind):
        lp = pl.last_part
        # the same (already available) part for both: the two answers are the same version
        q = dict(_HLS_msn=lp.msn, _HLS_part=lp.index) if lp else {}
        rf = self.get_playlist(with_query(self.media_url, **q), 5, "media playlist")
        rd = self.get_playlist(with_query(self.media_url, _HLS_skip=kind, **q), 5, "media playlist (_HLS_skip)")
        if rf.status != 200 or rd.status != 200:
            self.f.fail("6.2.5.1 delta updates", "full/delta requests answered HTTP %s/%s" % (rf.status, rd.status))
            return
        full, delta = parse_media_playlist(rf.text()), parse_media_playlist(rd.text())
        if full.endlist or delta.endlist:
            # the stream ended in between: _HLS_skip MUST then be ignored (6.2.5.1)
            if delta.endlist and delta.skip is not None:
                self.f.fail("6.2.5.1 EXT-X-ENDLIST", "delta update sent for an ended playlist (MUST ignore _HLS_skip)",
                            delta.head_excerpt(10))
            return
        what = "delta update (_HLS_skip=%s)" % kind
        self.second_opinion(delta.text, what)
        check_media_playlist(delta, self.f, self.opts)
        stats = {"full_segments": len(full.segments), "skipped": delta.skipped_segments,
                 "full_bytes": len(rf.body), "delta_bytes": len(rd.body)}
        self.report.stats["delta_update" if kind == "YES" else "delta_update_v2"] = stats
        # which segments lie beyond the skip boundary (measured from the end of the last segment)
        end = sum(s.duration or 0 for s in full.segments)
        t, skippable = 0.0, 0
        for s in full.segments:
            if end - t > csu + 1e-6 and end - (t + (s.duration or 0)) >= csu - 1e-6:
                skippable += 1  # wholly beyond the boundary
            t += s.duration or 0
        if kind == "v2" and delta.skip is not None:
            if delta.version is None or delta.version < 10:
                self.f.fail("8 version compatibility", "a _HLS_skip=v2 delta update (EXT-X-SKIP that may replace "
                            "EXT-X-DATERANGE tags) needs EXT-X-VERSION 10, not %s" % delta.version, delta.head_excerpt(10))
            if "RECENTLY-REMOVED-DATERANGES" not in delta.skip:
                self.f.warn("6.2.5.1 delta updates", "_HLS_skip=v2 answered without RECENTLY-REMOVED-DATERANGES",
                            delta.head_excerpt(10))
        if delta.skip is None:
            if skippable > 0:
                self.f.fail("6.2.5.1 delta updates", "_HLS_skip=%s answered without EXT-X-SKIP although %d segments lie "
                            "beyond CAN-SKIP-UNTIL=%g" % (kind, skippable, csu), delta.head_excerpt(10))
            return
        if full.media_sequence != delta.media_sequence:
            self.f.fail("4.4.5.2 EXT-X-SKIP", "delta update has MEDIA-SEQUENCE %s, the full playlist %s" % (
                delta.media_sequence, full.media_sequence), delta.head_excerpt(10))
        if delta.skipped_segments > skippable + 1 or delta.skipped_segments < max(0, skippable - 1):
            self.f.fail("6.2.5.1 delta updates", "SKIPPED-SEGMENTS=%d but %d segments lie beyond the skip boundary "
                        "(CAN-SKIP-UNTIL=%g, %d segments, %.3f s)" % (delta.skipped_segments, skippable, csu,
                                                                       len(full.segments), end), delta.head_excerpt(10))
        # everything after the skip must be the same as in the full playlist
        fm = {s.msn: s for s in full.all_segments()}
        for s in delta.all_segments():
            o = fm.get(s.msn)
            if o is None:
                self.f.fail("6.2.5.1 delta updates", "delta update lists MSN %d, absent from the full playlist" % s.msn,
                            delta.excerpt(s.lineno), key="delta extra")
                continue
            if (o.uri, o.duration, [p.uri for p in o.parts], o.discontinuity) != \
                    (s.uri, s.duration, [p.uri for p in s.parts], s.discontinuity) or \
                    (o.pdt is not None and s.pdt is not None and abs(o.pdt - s.pdt) > 1e-6):
                self.f.fail("6.2.5.1 delta updates", "segment %d differs between the delta update and the full playlist"
                            % s.msn, delta.excerpt(s.lineno), key="delta differs")
        if delta.all_segments() and full.all_segments() and delta.all_segments()[-1].msn != full.all_segments()[-1].msn:
            self.f.fail("6.2.5.1 delta updates", "delta update ends at MSN %d, the full playlist at %d" % (
                delta.all_segments()[-1].msn, full.all_segments()[-1].msn))
        if delta.server_control != full.server_control or delta.target_duration != full.target_duration:
            self.f.fail("6.2.5.1 delta updates", "delta update's header tags differ from the full playlist's",
                        delta.head_excerpt(10))
        if delta.segments and delta.segments[0].pdt is None:
            self.f.warn("6.2.5.1 delta updates", "the first segment after EXT-X-SKIP has no PDT", delta.head_excerpt(12))
        if delta.segments and delta.segments[0].map_uri is None:
            self.f.info("6.2.5.1 delta updates", "no EXT-X-MAP after EXT-X-SKIP: clients must keep the one from the "
                        "full playlist", key="delta no map")
        self.f.info("6.2.5.1 delta updates", "delta update (%s) skipped %d of %d segments: %d -> %d bytes" % (
            kind, delta.skipped_segments, len(full.segments), len(rf.body), len(rd.body)), key="delta ok " + kind)

    def check_endlist_rules(self, pl):
        r = fetch(with_query(self.media_url, _HLS_msn=(pl.last_msn or 0) + 5, _HLS_part=0), timeout=5)
        if r.status != 200 or r.elapsed > 0.5:
            self.f.fail("6.2.5.2 EXT-X-ENDLIST", "after EXT-X-ENDLIST a blocking request must be answered at once "
                        "(directives ignored): HTTP %s after %.2f s" % (r.status, r.elapsed))
        if "CAN-SKIP-UNTIL" in (pl.server_control or {}):
            r = fetch(with_query(self.media_url, _HLS_skip="YES"), timeout=5)
            if r.status == 200 and "#EXT-X-SKIP" in r.text():
                self.f.fail("6.2.5.1 EXT-X-ENDLIST", "delta update sent for an ended playlist (MUST ignore _HLS_skip)")

    # -- the media behind the playlists
    def check_media(self):
        for fu in self.pending:
            try:
                fu.result(timeout=30)
            except Exception as e:  # noqa: BLE001 - reported as a finding
                self.f.fail("checker", "download crashed: %r" % e)
        res = self.fetched
        ok = sum(1 for r in res.values() if r.get("ok"))
        self.report.stats["downloads"] = {
            k: "%d/%d ok" % (sum(1 for r in res.values() if r.get("kind") == k and r.get("ok")),
                             sum(1 for r in res.values() if r.get("kind") == k))
            for k in ("init", "part", "segment")}
        if not ok:
            return
        tol = self.opts.get("pdt_tolerance", 0.005)
        codecs_checked = False
        # parts: DURATION against the media, INDEPENDENT against the first sample
        prev = None
        for key in sorted(self.parts_seen):
            p, url, dsn, m = self.parts_seen[key]
            r = res.get(url) or {}
            frag, init = r.get("frag"), r.get("init")
            if not frag or not init:
                prev = None
                continue
            vid = self._main_track(init)
            if vid is None or vid not in frag["tracks"]:
                prev = None
                continue
            tk = init["tracks"][vid]
            tr = frag["tracks"][vid]
            ts = tk.get("timescale") or 1
            media_dur = tr["duration"] / ts
            one = media_dur / max(1, tr["samples"])
            if abs(media_dur - p.duration) > max(0.0015, one / 2):
                self.f.fail("4.4.4.9 EXT-X-PART DURATION", "part %d.%d (%s): DURATION=%.5f but its %s samples last %.5f s" % (
                    p.msn, p.index, p.uri, p.duration, tk.get("handler"), media_dur), key="part dur vs media")
            if p.independent and tk.get("handler") == "vide" and tr["first_sync"] is False:
                self.f.fail("4.4.4.9 INDEPENDENT", "part %d.%d (%s) is INDEPENDENT=YES but its first video sample is "
                            "not a sync sample" % (p.msn, p.index, p.uri), key="indep not sync")
            if not p.independent and p.index == 0 and tr["first_sync"]:
                self.f.info("4.4.4.9 INDEPENDENT", "part %d.0 starts with a sync sample but is not marked "
                            "INDEPENDENT=YES" % p.msn, key="sync not marked")
            if prev is not None and prev[0] == dsn and tr["tfdt"] is not None and prev[1] is not None:
                if tr["tfdt"] != prev[1]:
                    gap = (tr["tfdt"] - prev[1]) / ts
                    sev = self.f.fail if p.index != 0 else self.f.warn
                    sev("CMAF timeline", "part %d.%d (%s): media time jumps %+.1f ms from the end of the previous part "
                        "(tfdt %d, expected %d) with no discontinuity" % (p.msn, p.index, p.uri, gap * 1000, tr["tfdt"],
                                                                           prev[1]), key="tfdt jump %d" % (p.index != 0))
            prev = (dsn, tr["tfdt"] + tr["duration"] if tr["tfdt"] is not None else None)
            if not codecs_checked and self.codecs is not None:
                codecs_checked = True
                want = [c for c in init["codecs"]]
                missing = [c for c in want if c.lower() not in [x.strip().lower() for x in self.codecs.split(",")]]
                if missing:
                    self.f.fail("6.2.4 CODECS", "EXT-X-STREAM-INF CODECS=%r but the init section holds %s" % (
                        self.codecs, ",".join(want)))
        self.check_bandwidth(res)
        # segments: EXTINF and sample counts against their parts, PDT against media time
        last = None
        for msn in sorted(self.segments_seen):
            s, url, m = self.segments_seen[msn]
            r = res.get(url) or {}
            frag, init = r.get("frag"), r.get("init")
            if not frag or not init:
                last = None
                continue
            vid = self._main_track(init)
            if vid is None or vid not in frag["tracks"]:
                last = None
                continue
            tk, tr = init["tracks"][vid], frag["tracks"][vid]
            ts = tk.get("timescale") or 1
            media_dur = tr["duration"] / ts
            one = media_dur / max(1, tr["samples"])
            if s.duration is not None and abs(media_dur - s.duration) > max(0.0015, one / 2):
                self.f.fail("4.4.4.1 EXTINF", "segment %d (%s): EXTINF=%.5f but its %s samples last %.5f s" % (
                    msn, s.uri, s.duration, tk.get("handler"), media_dur), key="extinf vs media")
            # the parent holds the same samples as its parts (4.4.4.9)
            parts = [self.parts_seen[k] for k in sorted(self.parts_seen) if k[0] == msn]
            if parts and s.parts and len(parts) == len(s.parts):
                pres = [res.get(pu) or {} for _, pu, _, _ in parts]
                if all(x.get("frag") for x in pres):
                    for tid, t in frag["tracks"].items():
                        n = sum(x["frag"]["tracks"].get(tid, {}).get("samples", 0) for x in pres)
                        d = sum(x["frag"]["tracks"].get(tid, {}).get("duration", 0) for x in pres)
                        if n != t["samples"] or d != t["duration"]:
                            self.f.fail("4.4.4.9 parent segment", "segment %d track %d: %d samples / %d ticks, its parts "
                                        "%d / %d" % (msn, tid, t["samples"], t["duration"], n, d), key="seg vs parts")
                    first = pres[0]["frag"]["tracks"].get(vid, {}).get("tfdt")
                    if first is not None and first != tr["tfdt"]:
                        self.f.fail("4.4.4.9 parent segment", "segment %d starts at tfdt %s, its first part at %s" % (
                            msn, tr["tfdt"], first), key="seg tfdt")
            if last is not None and last[0] == msn - 1 and not s.discontinuity and s.pdt is not None and last[1] is not None:
                dm = (tr["tfdt"] - last[2]) / ts
                dp = s.pdt - last[1]
                if abs(dm - dp) > tol + 0.001:
                    self.f.fail("4.4.4.6 EXT-X-PROGRAM-DATE-TIME", "segments %d -> %d: PDT advances %.3f s but media time "
                                "%.3f s (drift %+.1f ms)" % (msn - 1, msn, dp, dm, (dp - dm) * 1000), key="pdt vs media")
            last = (msn, s.pdt, tr["tfdt"])

    def check_bandwidth(self, res):
        """4.4.6.2: BANDWIDTH is the peak segment bit rate (for a live stream, the best estimate so far)."""
        if self.media_url == self.url or not self.variant_bandwidth:
            return
        rates = []
        for msn, (s, url, m) in self.segments_seen.items():
            r = res.get(url) or {}
            if r.get("ok") and s.duration:
                rates.append(r["size"] * 8 / s.duration)
        if len(rates) < 3:
            return
        peak = max(rates)
        r = fetch(self.url, timeout=5)
        variants = parse_multivariant(r.text())[0] if r.status == 200 else []
        try:
            now = int(variants[0][0].get("BANDWIDTH", "0")) if variants else 0
        except ValueError:
            now = 0
        first = self.variant_bandwidth
        self.report.stats["bandwidth"] = {"first": first, "last": now, "peak_segment_bps": int(peak)}
        if first < 0.1 * peak:
            self.f.warn("4.4.6.2 BANDWIDTH", "the multivariant playlist first said BANDWIDTH=%d while segments peak at "
                        "%d b/s: an ABR player's first pick is made on that figure" % (first, peak), key="bw first")
        if now and (now < 0.7 * peak or now > 3 * peak):
            self.f.warn("4.4.6.2 BANDWIDTH", "BANDWIDTH=%d but the segments seen peak at %d b/s (the peak segment "
                        "bit rate)" % (now, peak), key="bw last")

    @staticmethod
    def _main_track(init):
        vids = [tid for tid, t in init["tracks"].items() if t.get("handler") == "vide"]
        if vids:
            return vids[0]
        return next(iter(init["tracks"]), None)

    # -- multivariant
    def load_entry(self):
        r = self.get_playlist(self.url, 10, "multivariant playlist")
        if r.status != 200:
            self.f.fail("availability", "%s: HTTP %s %s" % (self.url, r.status, r.error or ""))
            return None
        text = r.text()
        self.codecs = None
        if is_media_playlist(text):
            self.f.info("multivariant", "the URL is a media playlist; no multivariant checks")
            self.media_url = self.url
            return text
        self.second_opinion(text, "multivariant playlist")
        variants, media, errors = parse_multivariant(text)
        ex = "\n".join(text.split("\n")[:8])
        for lineno, msg in errors:
            self.f.fail("syntax", "multivariant playlist: %s" % msg, ex)
        if not variants:
            self.f.fail("4.4.6.2 EXT-X-STREAM-INF", "the multivariant playlist lists no variant", ex)
            return None
        for attrs, uri, _ in variants:
            if "BANDWIDTH" not in attrs:
                self.f.fail("4.4.6.2 BANDWIDTH", "EXT-X-STREAM-INF without BANDWIDTH (REQUIRED)", ex)
            if "CODECS" not in attrs:
                self.f.warn("4.4.6.2 CODECS", "EXT-X-STREAM-INF without CODECS (SHOULD)", ex)
        attrs, uri, _ = variants[0]
        self.codecs = attrs.get("CODECS")
        try:
            self.variant_bandwidth = int(attrs.get("BANDWIDTH", "0"))
        except ValueError:
            self.f.fail("4.4.6.2 BANDWIDTH", "BANDWIDTH is not a decimal-integer: %r" % attrs.get("BANDWIDTH"), ex)
        self.report.stats["variant"] = {k: attrs[k] for k in ("BANDWIDTH", "CODECS", "RESOLUTION", "FRAME-RATE") if k in attrs}
        if len(variants) > 1:
            self.f.info("multivariant", "%d variants; checking the first (%s)" % (len(variants), uri))
        self.media_url = urllib.parse.urljoin(self.url, uri)
        return None

    # -- main loop
    def run(self):
        try:
            self._run()
        except Exception as e:  # keep whatever was found; the crash is a finding too
            import traceback
            self.f.fail("checker", "the checker crashed: %r" % e, traceback.format_exc()[-2000:])
        finally:
            self.pool.shutdown(wait=False, cancel_futures=True)
            if self.hp:
                self.hp.close()
        return self.report

    def _run(self):
        text = self.load_entry()
        if self.media_url is None:
            return
        if text is None:
            r = self.get_playlist(self.media_url, 10, "media playlist")
            if r.status != 200:
                self.f.fail("availability", "%s: HTTP %s %s" % (self.media_url, r.status, r.error or ""))
                return
            text = r.text()
        pl = parse_media_playlist(text)
        self.absorb(pl, "media playlist")
        self.log("media playlist: TD=%s PART-TARGET=%s MSN %s..%s" % (pl.target_duration, pl.part_target,
                                                                      pl.first_msn, pl.last_msn))
        if pl.part_target is None or pl.last_part is None or (pl.server_control or {}).get("CAN-BLOCK-RELOAD") != "YES":
            self.f.fail("B.1 low-latency profile", "not an LL-HLS playlist (no parts or no blocking reload): only the "
                        "static checks ran", pl.head_excerpt(12), key="not llhls")
            self.check_media()
            self._finish_stats(pl)
            return
        td = pl.target_duration or 1
        pt = pl.part_target
        if not pl.endlist:
            self.probe_directives(pl)
        deadline = time.monotonic() + self.seconds
        delta_done = False
        while time.monotonic() < deadline and not pl.endlist:
            lp = pl.last_part
            m, n = lp.msn, lp.index + 1
            hint = pl.hint("PART")
            hint_out = {}
            th = None
            if hint and hint.get("URI"):
                hu = self.absolute(hint["URI"])
                th = threading.Thread(target=self._fetch_hint, args=(hu, 3 * td + 2, hint_out), daemon=True)
                th.start()
            r = self.get_playlist(with_query(self.media_url, _HLS_msn=m, _HLS_part=n), 3 * td + 2, "media playlist")
            self.reloads += 1
            if th is not None:
                th.join(timeout=3 * td + 2)
            blocked_ok = r.status == 200
            if r.status != 200:
                if r.status == 503:
                    self.f.warn("6.2.5.2 blocking reload", "a blocking request for %d.%d answered 503 after %.2f s" % (
                        m, n, r.elapsed), key="503")
                else:
                    self.f.fail("6.2.5.2 blocking reload", "a blocking request for %d.%d answered HTTP %s after %.2f s %s" % (
                        m, n, r.status, r.elapsed, r.error or ""), key="block status %s" % r.status)
                time.sleep(pt)
                r = self.get_playlist(self.media_url, 5, "media playlist")
                if r.status != 200:
                    break
            else:
                self.block_times.append(r.elapsed)
            cur = parse_media_playlist(r.text())
            if blocked_ok and not satisfies(cur, m, n):
                self.unsatisfied += 1
                self.f.fail("6.2.5.2 blocking reload", "a request for _HLS_msn=%d&_HLS_part=%d was answered (after %.3f s) "
                            "by a playlist without that part" % (m, n, r.elapsed),
                            cur.excerpt(len(cur.lines) - 3, 4, 2), key="unsatisfied")
                time.sleep(pt / 2)
            # preload hint
            hr = hint_out.get("resp")
            if hint and hr is not None:
                hu = self.absolute(hint["URI"])
                if hr.status == 200:
                    self.hint_bodies[hu] = hr.body
                    if r.status == 200:
                        self.hint_lags.append(r.t1 - hint_out["done"])
                elif hr.status == 404 and cur.segment(m) is not None and any(
                        p.uri == hint["URI"] for p in cur.all_parts()):
                    self.f.fail("6.2.6 preload hints", "the hinted part %s answered 404 although it was published "
                                "(a hinted resource MUST be available for request when hinted)" % hint["URI"], key="hint 404")
                elif hr.status is None:
                    self.f.fail("6.2.6 preload hints", "the request for the hinted part %s failed: %s" % (
                        hint["URI"], hr.error), key="hint err")
                elif hr.status == 503 and hr.elapsed >= 3 * td - 0.1:
                    # nothing came for 3 target durations (a publisher gap): like the playlist's 503 (6.2.5.2)
                    self.f.warn("6.2.6 preload hints", "the hinted part %s answered 503 after %.2f s" % (
                        hint["URI"], hr.elapsed), key="hint 503")
                elif hr.status != 404:
                    self.f.fail("6.2.6 preload hints", "the hinted part %s answered HTTP %s after %.2f s" % (
                        hint["URI"], hr.status, hr.elapsed), key="hint status %s" % hr.status)
            self.check_hint_prediction(pl, cur)
            self.absorb(cur, "media playlist")
            pl = cur
            # a delta update once the playlist reaches past the skip boundary (or near the end)
            csu = (pl.server_control or {}).get("CAN-SKIP-UNTIL")
            long_enough = csu is not None and pl.duration() > float(csu) + 2 * td
            if not delta_done and not pl.endlist and (long_enough or time.monotonic() > deadline - min(3.0, self.seconds / 2)):
                delta_done = True
                self.check_delta(pl)
        if pl.endlist:
            self.log("EXT-X-ENDLIST seen")
            self.check_endlist_rules(pl)
        elif not delta_done:
            self.check_delta(pl)
        if not delta_done and pl.endlist:
            self.f.info("6.2.5.1 delta updates", "the stream ended before a delta update was tried", key="no delta try")
        self.check_media()
        self._finish_stats(pl)

    def _finish_stats(self, pl):
        st = self.report.stats
        st["target_duration"] = pl.target_duration
        st["part_target"] = pl.part_target
        st["server_control"] = {k: v for k, v in (pl.server_control or {}).items()}
        st["reloads"] = self.reloads
        st["parts_seen"] = len(self.parts_seen)
        st["segments_seen"] = len(self.segments_seen)
        st["discontinuities"] = len({s.dsn for h in self.history for s in h.all_segments()}) - 1 if self.history else 0
        st["endlist"] = pl.endlist
        st["gzip"] = self.gzip_seen
        st["blocking_s"] = _stats(self.block_times)
        st["hint_to_playlist_s"] = _stats(self.hint_lags)
        gaps = [b - a for a, b in zip(self.part_arrivals, self.part_arrivals[1:])]
        st["part_interval_s"] = _stats(gaps)
        st["hls_parser_texts"] = self.hp_texts
        if self.hp and self.hp.error:
            st["hls_parser"] = self.hp.error
        if pl.part_target and self.block_times:
            pt = pl.part_target
            slack = self.opts.get("block_slack", 0.05)
            p50, p90 = percentile(self.block_times, 50), percentile(self.block_times, 90)
            if p50 > 1.5 * pt + slack:
                self.f.fail("6.2.5.2 blocking reload", "blocking requests for the next part took %.3f s at p50 (PART-TARGET "
                            "%.3f): they should be answered as the part appears, about one part duration" % (p50, pt))
            if p90 > 2.5 * pt + 2 * slack:
                self.f.fail("6.2.5.2 blocking reload", "blocking requests for the next part took %.3f s at p90 "
                            "(PART-TARGET %.3f)" % (p90, pt))
            worst = max(self.block_times)
            if worst > (pl.target_duration or 1):
                self.f.warn("6.2.5.2 blocking reload", "the slowest blocking request took %.3f s, more than "
                            "TARGETDURATION" % worst)
        if self.hint_lags:
            budget = self.opts.get("hint_lag_budget", 0.1)
            p90 = percentile(self.hint_lags, 90)
            if p90 > budget:
                self.f.fail("6.2.5.2 blocking reload", "the blocking playlist came %.0f ms (p90) after the part it announces "
                            "(the answer to the preload-hint request): held playlist requests must be answered when the "
                            "part appears" % (p90 * 1000))
        if gaps and pl.part_target:
            if percentile(gaps, 50) > 1.5 * pl.part_target + 0.05:
                self.f.fail("6.2.1 part cadence", "new parts appeared every %.3f s (p50), more than PART-TARGET %.3f: "
                            "a new part MUST follow within one Part Target Duration" % (percentile(gaps, 50), pl.part_target))
        if not pl.endlist and self.gzip_seen is False:
            self.f.info("6.2.1 gzip", "playlists are not gzip-encoded although the client accepts it (SHOULD)", key="gzip")


def run(url, seconds=10.0, log=None, hls_parser=True, downloads=True, **opts):
    """Runs the checker; returns a Report (never raises for findings)."""
    return Checker(url, seconds, opts, log=log, hls_parser=hls_parser, downloads=downloads).run()


def check(url, seconds=10.0, **kw):
    """Like run() but raises LLHLSCheckFailed when anything FAILs."""
    return run(url, seconds, **kw).raise_for_failures()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url", help="multivariant (or media) playlist URL")
    ap.add_argument("--seconds", type=float, default=10.0, help="how long to follow the live edge (default 10)")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    ap.add_argument("--no-hls-parser", action="store_true", help="skip the hls-parser (node) second opinion")
    ap.add_argument("--no-downloads", action="store_true", help="do not download parts and segments")
    ap.add_argument("--pdt-tolerance", type=float, default=0.005, help="seconds (default 0.005)")
    ap.add_argument("--hint-lag-budget", type=float, default=0.1,
                    help="p90 of playlist-after-part delay allowed, seconds (default 0.1)")
    ap.add_argument("--block-slack", type=float, default=0.05, help="extra seconds allowed on blocking times")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    rep = run(a.url, a.seconds, log=sys.stderr if a.verbose else None, hls_parser=not a.no_hls_parser,
              downloads=not a.no_downloads, pdt_tolerance=a.pdt_tolerance, hint_lag_budget=a.hint_lag_budget,
              block_slack=a.block_slack)
    print(json.dumps(rep.as_dict(), indent=2) if a.json else rep.text())
    return 0 if rep.ok else 1


if __name__ == "__main__":
    sys.exit(main())

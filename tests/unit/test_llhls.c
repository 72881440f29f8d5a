/* packager/llhls.c: the LL-HLS model, playlist writer, date ranges, blocking
 * decisions and request parsing.
 *
 * Every rendered playlist goes through check_playlist(), a small independent
 * parser that asserts the spec's numeric rules (draft-pantos-hls-rfc8216bis:
 * 4.4.3.1 EXTINF vs TARGETDURATION, 4.4.3.8 hold-backs and skip boundary,
 * 4.4.4.9 part durations and tag order, 4.4.5.3 preload hint, 6.2.2 part
 * retention, on the last three segments at most as hls-parser checks it,
 * monotonic MSN and PDT) and hands back what it read for the
 * test's own checks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cartcast/buf.h"
#include "cartcast/err.h"
#include "packager/llhls.h"

/* ---- a playlist reader that checks the rules ---- */

#define PL_MAX_SEGS 300
#define PL_MAX_PARTS 64
#define PL_MAX_DRS 32

typedef struct pl_seg {
    bool complete, discontinuity, has_map;
    char map[64];
    uint64_t msn;
    int64_t pdt_ms;
    double extinf;
    int nparts;
    uint64_t part_seq[PL_MAX_PARTS];
    double part_dur[PL_MAX_PARTS];
    bool part_indep[PL_MAX_PARTS];
} pl_seg_t;

typedef struct pl {
    int version;
    unsigned td;
    double part_target, part_hold_back, hold_back, can_skip_until;
    bool can_block, can_skip_dateranges, independent_segments, endlist;
    uint64_t media_seq, disc_seq;
    long skipped; /* -1: no EXT-X-SKIP */
    bool has_removed;
    char removed[512];
    int nsegs;
    pl_seg_t segs[PL_MAX_SEGS];
    bool has_hint;
    uint64_t hint_seq;
    int ndrs;
    char dr_lines[PL_MAX_DRS][512];
} pl_t;

static int64_t parse_date(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int ms = 0;
    assert_int_equal(sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                            &tm.tm_min, &tm.tm_sec, &ms),
                     7);
    assert_int_equal(strlen(s) >= 24 ? s[23] : 0, 'Z');
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static double attr_d(const char *line, const char *name)
{
    const char *p = strstr(line, name);
    assert_non_null(p);
    return strtod(p + strlen(name), NULL);
}

/* Parses text and asserts the rules; returns the parse in *pl (heap). */
static pl_t *check_playlist(const char *text)
{
    pl_t *pl = calloc(1, sizeof(*pl));
    assert_non_null(pl);
    pl->skipped = -1;
    char *copy = strdup(text), *save = NULL;
    assert_true(strncmp(text, "#EXTM3U\n", 8) == 0);
    assert_int_equal(text[strlen(text) - 1], '\n');
    pl_seg_t cur;
    memset(&cur, 0, sizeof(cur));
    bool pending = false, seen_segment = false, after_hint = false;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        assert_false(after_hint && !pl->endlist && strcmp(line, "#EXT-X-ENDLIST") != 0);
        if (strncmp(line, "#EXT-X-VERSION:", 15) == 0) {
            pl->version = atoi(line + 15);
        } else if (strncmp(line, "#EXT-X-TARGETDURATION:", 22) == 0) {
            pl->td = (unsigned)atoi(line + 22);
        } else if (strncmp(line, "#EXT-X-SERVER-CONTROL:", 22) == 0) {
            pl->can_block = strstr(line, "CAN-BLOCK-RELOAD=YES") != NULL;
            pl->can_skip_dateranges = strstr(line, "CAN-SKIP-DATERANGES=YES") != NULL;
            pl->part_hold_back = attr_d(line, "PART-HOLD-BACK=");
            pl->hold_back = attr_d(line, ",HOLD-BACK=");
            pl->can_skip_until = attr_d(line, "CAN-SKIP-UNTIL=");
        } else if (strncmp(line, "#EXT-X-PART-INF:", 16) == 0) {
            pl->part_target = attr_d(line, "PART-TARGET=");
        } else if (strncmp(line, "#EXT-X-MEDIA-SEQUENCE:", 22) == 0) {
            assert_false(seen_segment);
            pl->media_seq = strtoull(line + 22, NULL, 10);
        } else if (strncmp(line, "#EXT-X-DISCONTINUITY-SEQUENCE:", 30) == 0) {
            assert_false(seen_segment);
            pl->disc_seq = strtoull(line + 30, NULL, 10);
        } else if (strcmp(line, "#EXT-X-INDEPENDENT-SEGMENTS") == 0) {
            pl->independent_segments = true;
        } else if (strncmp(line, "#EXT-X-SKIP:", 12) == 0) {
            assert_false(seen_segment);
            assert_int_equal(pl->skipped, -1); /* at most once (4.4.5.2) */
            pl->skipped = atol(strstr(line, "SKIPPED-SEGMENTS=") + 17);
            const char *rr = strstr(line, "RECENTLY-REMOVED-DATERANGES=\"");
            if (rr) {
                pl->has_removed = true;
                rr += 29;
                size_t n = strcspn(rr, "\"");
                assert_true(n < sizeof(pl->removed));
                memcpy(pl->removed, rr, n);
            }
        } else if (strncmp(line, "#EXT-X-DATERANGE:", 17) == 0) {
            assert_true(pl->ndrs < PL_MAX_DRS);
            snprintf(pl->dr_lines[pl->ndrs++], 512, "%s", line);
        } else if (strcmp(line, "#EXT-X-DISCONTINUITY") == 0) {
            assert_int_equal(cur.nparts, 0);
            cur.discontinuity = true;
            pending = true;
        } else if (strncmp(line, "#EXT-X-MAP:URI=\"", 16) == 0) {
            assert_int_equal(cur.nparts, 0); /* before the first part (4.4.4.9) */
            cur.has_map = true;
            snprintf(cur.map, sizeof(cur.map), "%.*s", (int)strcspn(line + 16, "\""), line + 16);
            pending = true;
        } else if (strncmp(line, "#EXT-X-PROGRAM-DATE-TIME:", 25) == 0) {
            assert_int_equal(cur.nparts, 0);
            cur.pdt_ms = parse_date(line + 25);
            pending = true;
        } else if (strncmp(line, "#EXT-X-PART:", 12) == 0) {
            assert_true(cur.nparts < PL_MAX_PARTS);
            const char *u = strstr(line, "URI=\"part");
            assert_non_null(u);
            char *endp;
            cur.part_seq[cur.nparts] = strtoull(u + 9, &endp, 10);
            assert_true(strncmp(endp, ".m4s\"", 5) == 0);
            cur.part_dur[cur.nparts] = attr_d(line, "DURATION=");
            cur.part_indep[cur.nparts] = strstr(line, "INDEPENDENT=YES") != NULL;
            cur.nparts++;
            pending = true;
        } else if (strncmp(line, "#EXTINF:", 8) == 0) {
            cur.extinf = strtod(line + 8, NULL);
            cur.complete = true;
        } else if (strncmp(line, "seg", 3) == 0) {
            assert_true(cur.complete);
            char *endp;
            cur.msn = strtoull(line + 3, &endp, 10);
            assert_string_equal(endp, ".m4s");
            assert_true(pl->nsegs < PL_MAX_SEGS);
            pl->segs[pl->nsegs++] = cur;
            memset(&cur, 0, sizeof(cur));
            pending = false;
            seen_segment = true;
        } else if (strncmp(line, "#EXT-X-PRELOAD-HINT:", 20) == 0) {
            assert_false(pl->has_hint);
            const char *u = strstr(line, "URI=\"part");
            assert_non_null(u);
            assert_non_null(strstr(line, "TYPE=PART"));
            pl->hint_seq = strtoull(u + 9, NULL, 10);
            pl->has_hint = true;
            after_hint = true;
        } else if (strcmp(line, "#EXT-X-ENDLIST") == 0) {
            pl->endlist = true;
        } else {
            assert_true(strcmp(line, "#EXTM3U") == 0);
        }
        if (pending && strncmp(line, "#EXT-X-PRELOAD-HINT", 19) != 0)
            seen_segment = true;
    }
    if (pending) { /* the open segment: parts, no EXTINF */
        assert_true(cur.nparts > 0);
        assert_true(pl->nsegs < PL_MAX_SEGS);
        pl->segs[pl->nsegs++] = cur;
    }
    free(copy);

    /* 4.4.3.8 and 4.4.3.7 */
    assert_true(pl->td >= 1);
    assert_true(pl->can_block);
    assert_true(pl->part_target > 0);
    assert_true(pl->part_hold_back >= 3 * pl->part_target - 1e-9);
    assert_true(pl->hold_back >= 3.0 * pl->td - 1e-9);
    assert_true(pl->can_skip_until >= 6.0 * pl->td - 1e-9);
    assert_true(pl->version >= (pl->skipped >= 0 ? (pl->has_removed ? 10 : 9) : 6));
    assert_true(pl->nsegs > 0);
    /* MSN: consecutive from MEDIA-SEQUENCE (+ skipped); the open one follows. */
    uint64_t msn = pl->media_seq + (uint64_t)(pl->skipped > 0 ? pl->skipped : 0);
    int64_t last_pdt = INT64_MIN;
    double total = 0;
    uint64_t last_part = 0;
    bool any_part = false;
    for (int i = 0; i < pl->nsegs; i++) {
        pl_seg_t *s = &pl->segs[i];
        if (s->complete)
            assert_int_equal(s->msn, msn);
        else
            s->msn = msn;
        msn++;
        assert_true(s->pdt_ms > last_pdt); /* PDT on every segment, increasing */
        last_pdt = s->pdt_ms;
        if (i == 0)
            assert_true(s->has_map);
        if (s->discontinuity)
            assert_true(s->has_map);
        if (s->complete)
            assert_true(floor(s->extinf + 0.5) <= pl->td); /* 4.4.3.1 */
        else
            assert_int_equal(i, pl->nsegs - 1);
        double sum = 0;
        for (int k = 0; k < s->nparts; k++) {
            assert_true(s->part_dur[k] <= pl->part_target + 1e-9); /* 4.4.4.9 */
            assert_true(s->part_dur[k] > 0);
            if (any_part)
                assert_int_equal(s->part_seq[k], last_part + 1);
            last_part = s->part_seq[k];
            any_part = true;
            sum += s->part_dur[k];
        }
        if (s->complete && s->nparts)
            assert_true(fabs(sum - s->extinf) < 0.0001 * (s->nparts + 1));
        total += s->complete ? s->extinf : sum;
    }
    /* Parts: only for segments ending within 3 TD of the end, newest ones (6.2.2). */
    double end = 0;
    bool parts_stop = false;
    for (int i = pl->nsegs; i-- > 0;) {
        pl_seg_t *s = &pl->segs[i];
        double d = s->complete ? s->extinf : 0;
        for (int k = 0; k < s->nparts && !s->complete; k++)
            d += s->part_dur[k];
        end += d;
        if (s->nparts) {
            assert_false(parts_stop);
            assert_true(i + 3 >= pl->nsegs); /* the last three segments only */
            assert_true(total - (total - end + d) <= 3.0 * pl->td + 1e-6 || i == pl->nsegs - 1);
        } else {
            parts_stop = true;
        }
    }
    /* 4.4.5.3: the hint is the next part; none with ENDLIST. */
    if (pl->endlist)
        assert_false(pl->has_hint);
    if (pl->has_hint && any_part)
        assert_int_equal(pl->hint_seq, last_part + 1);
    return pl;
}

static pl_t *render(cc_llhls_t *h, int skip)
{
    cc_dynbuf_t d;
    cc_dynbuf_init(&d, 1 << 20);
    assert_int_equal(cc_llhls_render_media(h, skip, &d), 0);
    assert_int_equal(cc_dynbuf_append(&d, "", 1), 0);
    pl_t *pl = check_playlist((const char *)d.data);
    cc_dynbuf_free(&d);
    return pl;
}

static char *render_text(cc_llhls_t *h, int skip)
{
    cc_dynbuf_t d;
    cc_dynbuf_init(&d, 1 << 20);
    assert_int_equal(cc_llhls_render_media(h, skip, &d), 0);
    assert_int_equal(cc_dynbuf_append(&d, "", 1), 0);
    char *s = strdup((const char *)d.data);
    cc_dynbuf_free(&d);
    return s;
}

/* ---- a fake packager ---- */

#define T0 1763900000000LL /* 2025-11-23T12:13:20.000Z */

typedef struct feed {
    cc_llhls_t *h;
    int64_t pdt;
    unsigned n;              /* parts fed */
    unsigned parts_per_seg;  /* 5 x 200 ms = 1 s segments */
} feed_t;

static cc_llhls_t *new_model(uint32_t window_ms, int64_t base)
{
    cc_llhls_config_t cfg;
    cc_llhls_config_default(&cfg);
    cfg.window_ms = window_ms;
    cfg.number_base = base;
    cc_llhls_t *h = cc_llhls_new(&cfg);
    assert_non_null(h);
    return h;
}

static void begin(cc_llhls_t *h, const char *tag)
{
    cc_buf_t *init = cc_buf_from(tag, strlen(tag));
    cc_llhls_variant_t v;
    memset(&v, 0, sizeof(v));
    snprintf(v.codecs, sizeof(v.codecs), "avc1.64001f,mp4a.40.2");
    v.width = 1280;
    v.height = 720;
    v.frame_rate = 30;
    assert_int_equal(cc_llhls_begin(h, init, &v), 0);
    cc_buf_unref(init);
}

/* One 200 ms part; a keyframe (and a new segment) every parts_per_seg. */
static void feed_part(feed_t *f)
{
    char body[64];
    int n = snprintf(body, sizeof(body), "part-%u;", f->n);
    cc_buf_t *b = cc_buf_from(body, (size_t)n);
    bool key = f->n % f->parts_per_seg == 0;
    assert_int_equal(cc_llhls_add_part(f->h, b, 200.0, key, key, f->pdt), 0);
    cc_buf_unref(b);
    f->pdt += 200;
    f->n++;
}

static void feed_ms(feed_t *f, unsigned ms)
{
    for (unsigned t = 0; t < ms; t += 200)
        feed_part(f);
}

/* ---- config, parsing ---- */

static void test_config(void **state)
{
    cc_llhls_config_t cfg;
    cc_llhls_config_default(&cfg);
    assert_int_equal(cfg.part_target_ms, 200);
    assert_int_equal(cfg.segment_target_ms, 1000);
    assert_int_equal(cfg.window_ms, 30000);
    assert_int_equal(cfg.number_base, -1);
    assert_int_equal(cc_llhls_config_check(&cfg), 0);
    cc_llhls_config_t bad = cfg;
    bad.part_target_ms = 50;
    assert_int_equal(cc_llhls_config_check(&bad), CC_ECONFIG);
    assert_null(cc_llhls_new(&bad));
    bad = cfg;
    bad.segment_target_ms = 100;
    assert_int_equal(cc_llhls_config_check(&bad), CC_ECONFIG);
    bad = cfg;
    bad.window_ms = 600000; /* 600 one-second segments: over the ring */
    assert_int_equal(cc_llhls_config_check(&bad), CC_ECONFIG);
    bad = cfg;
    bad.number_base = -2;
    assert_int_equal(cc_llhls_config_check(&bad), CC_ECONFIG);
    /* TARGETDURATION = max(1, round(segment_target / 1000)) */
    cfg.segment_target_ms = 1400;
    cc_llhls_t *h = cc_llhls_new(&cfg);
    assert_int_equal(cc_llhls_target_duration_s(h), 1);
    cc_llhls_free(h);
    cfg.segment_target_ms = 2500;
    h = cc_llhls_new(&cfg);
    assert_int_equal(cc_llhls_target_duration_s(h), 3);
    cc_llhls_free(h);
}

static void test_uri_parse(void **state)
{
    cc_llhls_uri_kind_t k;
    uint64_t n = 99;
    assert_int_equal(cc_llhls_uri_parse("index.m3u8", &k, &n), 0);
    assert_int_equal(k, CC_LLHLS_URI_MULTIVARIANT);
    assert_int_equal(n, 0);
    assert_int_equal(cc_llhls_uri_parse("media.m3u8", &k, &n), 0);
    assert_int_equal(k, CC_LLHLS_URI_MEDIA);
    assert_int_equal(cc_llhls_uri_parse("init0.mp4", &k, &n), 0);
    assert_int_equal(k, CC_LLHLS_URI_INIT);
    assert_int_equal(n, 0);
    assert_int_equal(cc_llhls_uri_parse("seg1763900000000.m4s", &k, &n), 0);
    assert_int_equal(k, CC_LLHLS_URI_SEGMENT);
    assert_int_equal(n, 1763900000000ull);
    assert_int_equal(cc_llhls_uri_parse("part123.m4s", &k, &n), 0);
    assert_int_equal(k, CC_LLHLS_URI_PART);
    assert_int_equal(n, 123);
    assert_int_equal(cc_llhls_uri_parse("part18446744073709551615.m4s", &k, &n), 0);
    assert_int_equal(n, UINT64_MAX);
    static const char *const bad[] = {
        "", "index.m3u", "index.m3u8x", "Index.m3u8", "media.m3u8/", "/media.m3u8", "part.m4s", "part-1.m4s",
        "part+1.m4s", "part 1.m4s", "part01.m4s", "part1.m4s.m4s", "part1.mp4", "seg1.mp4", "init1.m4s",
        "part18446744073709551616.m4s", "part99999999999999999999.m4s", "part123456789012345678901.m4s",
        "part1x.m4s", "part0x1.m4s", "seg.m4s", "init.mp4", "part1.m4sx", "parts1.m4s", "segment1.m4s",
        "part\t1.m4s", "../media.m3u8",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (cc_llhls_uri_parse(bad[i], &k, &n) != CC_ENOENT)
            fail_msg("accepted %s", bad[i]);
    }
    assert_int_equal(cc_llhls_uri_parse(NULL, &k, &n), CC_ENOENT);
}

static void test_query_parse(void **state)
{
    cc_llhls_query_t q;
    assert_int_equal(cc_llhls_query_parse(NULL, NULL, NULL, &q), 0);
    assert_false(q.has_msn);
    assert_false(q.has_part);
    assert_int_equal(q.skip, 0);
    assert_int_equal(cc_llhls_query_parse("17", NULL, NULL, &q), 0);
    assert_true(q.has_msn);
    assert_int_equal(q.msn, 17);
    assert_int_equal(cc_llhls_query_parse("17", "3", "YES", &q), 0);
    assert_true(q.has_part);
    assert_int_equal(q.part, 3);
    assert_int_equal(q.skip, 1);
    assert_int_equal(cc_llhls_query_parse("18446744073709551615", "4294967295", "v2", &q), 0);
    assert_int_equal(q.msn, UINT64_MAX);
    assert_int_equal(q.part, UINT32_MAX);
    assert_int_equal(q.skip, 2);
    /* decimal-integer allows leading zeros (4.2) */
    assert_int_equal(cc_llhls_query_parse("007", "00", NULL, &q), 0);
    assert_int_equal(q.msn, 7);
    /* _HLS_part without _HLS_msn: 400 (6.2.5.2) */
    assert_int_equal(cc_llhls_query_parse(NULL, "1", NULL, &q), CC_EINVAL);
    static const char *const bad_num[] = {"", "+1", "-1", " 1", "1 ", "1x", "0x10", "1.0", "1e3",
                                          "18446744073709551616", "99999999999999999999", "000000000000000000001"};
    for (size_t i = 0; i < sizeof(bad_num) / sizeof(bad_num[0]); i++) {
        if (cc_llhls_query_parse(bad_num[i], NULL, NULL, &q) != CC_EINVAL)
            fail_msg("msn %s accepted", bad_num[i]);
        if (cc_llhls_query_parse("1", bad_num[i], NULL, &q) != CC_EINVAL)
            fail_msg("part %s accepted", bad_num[i]);
    }
    assert_int_equal(cc_llhls_query_parse("1", "4294967296", NULL, &q), CC_EINVAL);
    assert_int_equal(cc_llhls_query_parse(NULL, NULL, "yes", &q), CC_EINVAL);
    assert_int_equal(cc_llhls_query_parse(NULL, NULL, "", &q), CC_EINVAL);
    assert_int_equal(cc_llhls_query_parse(NULL, NULL, "V2", &q), CC_EINVAL);
    assert_int_equal(cc_llhls_query_parse(NULL, NULL, "YES ", &q), CC_EINVAL);
}

/* ---- the playlist ---- */

static void test_states(void **state)
{
    cc_llhls_t *h = new_model(30000, 0);
    cc_dynbuf_t d;
    cc_dynbuf_init(&d, 1 << 16);
    assert_int_equal(cc_llhls_render_media(h, 0, &d), CC_EAGAIN);
    assert_int_equal(cc_llhls_render_multivariant(h, &d), CC_EAGAIN);
    cc_buf_t *b = cc_buf_from("x", 1);
    assert_int_equal(cc_llhls_add_part(h, b, 200, true, true, T0), CC_ESTATE);
    cc_llhls_edge_t e;
    cc_llhls_live_edge(h, &e);
    assert_false(e.has_part);
    begin(h, "init-a");
    assert_int_equal(cc_llhls_render_media(h, 0, &d), CC_EAGAIN); /* nothing to list yet */
    assert_int_equal(cc_llhls_render_multivariant(h, &d), 0);
    assert_int_equal(cc_llhls_add_part(h, b, 200.5, true, true, T0), CC_EINVAL);
    assert_int_equal(cc_llhls_add_part(h, b, 0, true, true, T0), CC_EINVAL);
    assert_int_equal(cc_llhls_add_part(h, b, NAN, true, true, T0), CC_EINVAL);
    assert_int_equal(cc_llhls_add_part(h, NULL, 100, true, true, T0), CC_EINVAL);
    /* the first part starts a segment even without new_segment */
    assert_int_equal(cc_llhls_add_part(h, b, 200, true, false, T0), 0);
    cc_llhls_live_edge(h, &e);
    assert_true(e.has_part);
    assert_int_equal(e.msn, 0);
    assert_int_equal(e.part, 0);
    assert_int_equal(e.part_seq, 0);
    assert_int_equal(e.pdt_end_ms, T0 + 200);
    cc_buf_unref(b);
    cc_dynbuf_free(&d);
    cc_llhls_free(h);
}

static void test_playlist_rules(void **state)
{
    cc_llhls_t *h = new_model(30000, 0);
    begin(h, "init-a");
    feed_t f = {.h = h, .pdt = T0, .parts_per_seg = 5};
    feed_ms(&f, 3000);
    feed_part(&f); /* the open segment has one part */
    pl_t *pl = render(h, 0);
    assert_int_equal(pl->version, 6);
    assert_int_equal(pl->td, 1);
    assert_true(fabs(pl->part_target - 0.2) < 1e-9);
    assert_true(fabs(pl->part_hold_back - 0.6) < 1e-9);
    assert_true(fabs(pl->hold_back - 3.0) < 1e-9);
    assert_true(fabs(pl->can_skip_until - 6.0) < 1e-9);
    assert_true(pl->can_skip_dateranges);
    assert_true(pl->independent_segments);
    assert_int_equal(pl->media_seq, 0);
    assert_int_equal(pl->disc_seq, 0);
    assert_false(pl->endlist);
    assert_int_equal(pl->nsegs, 4);
    assert_string_equal(pl->segs[0].map, "init0.mp4");
    assert_int_equal(pl->segs[0].pdt_ms, T0);
    assert_int_equal(pl->segs[1].pdt_ms, T0 + 1000);
    assert_true(fabs(pl->segs[0].extinf - 1.0) < 1e-9);
    assert_false(pl->segs[3].complete);
    assert_int_equal(pl->segs[3].nparts, 1);
    assert_true(pl->segs[3].part_indep[0]);
    assert_false(pl->segs[2].part_indep[1]);
    assert_true(pl->has_hint);
    assert_int_equal(pl->hint_seq, 16);
    free(pl);

    /* The exact text of the first lines. */
    char *text = render_text(h, 0);
    assert_non_null(strstr(text, "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n"
                                 "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=6.000,"
                                 "CAN-SKIP-DATERANGES=YES,HOLD-BACK=3.000,PART-HOLD-BACK=0.600\n"
                                 "#EXT-X-PART-INF:PART-TARGET=0.200\n#EXT-X-MEDIA-SEQUENCE:0\n"
                                 "#EXT-X-DISCONTINUITY-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n"
                                 "#EXT-X-MAP:URI=\"init0.mp4\"\n"
                                 "#EXT-X-PROGRAM-DATE-TIME:2025-11-23T12:13:20.000Z\n"));
    assert_non_null(strstr(text, "#EXT-X-PART:DURATION=0.20000,URI=\"part15.m4s\",INDEPENDENT=YES\n"
                                 "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part16.m4s\"\n"));
    assert_non_null(strstr(text, "#EXTINF:1.00000,\nseg2.m4s\n"));
    free(text);

    /* Longer: the oldest segments lose their EXT-X-PART tags. */
    feed_ms(&f, 7000);
    pl = render(h, 0);
    assert_int_equal(pl->segs[0].nparts, 0);
    assert_true(pl->segs[pl->nsegs - 2].nparts > 0);
    free(pl);
    cc_llhls_free(h);
}

static void test_segment_buffers(void **state)
{
    cc_llhls_t *h = new_model(30000, 0);
    begin(h, "init-a");
    feed_t f = {.h = h, .pdt = T0, .parts_per_seg = 5};
    feed_ms(&f, 1000);
    assert_null(cc_llhls_get_segment(h, 0)); /* still open */
    bool pending = true;
    cc_buf_t *p = cc_llhls_get_part(h, 4, &pending);
    assert_non_null(p);
    assert_false(pending);
    cc_buf_unref(p);
    assert_null(cc_llhls_get_part(h, 5, &pending));
    assert_true(pending); /* the hinted part */
    assert_null(cc_llhls_get_part(h, 6, &pending));
    assert_false(pending);
    feed_part(&f); /* closes segment 0 */
    cc_buf_t *s1 = cc_llhls_get_segment(h, 0), *s2 = cc_llhls_get_segment(h, 0);
    assert_non_null(s1);
    assert_ptr_equal(s1, s2); /* built once, shared */
    const char *want = "part-0;part-1;part-2;part-3;part-4;";
    assert_int_equal(s1->len, strlen(want));
    assert_memory_equal(s1->data, want, s1->len);
    cc_buf_unref(s1);
    cc_buf_unref(s2);
    cc_buf_t *init = cc_llhls_get_init(h, 0);
    assert_non_null(init);
    assert_memory_equal(init->data, "init-a", 6);
    cc_buf_unref(init);
    assert_null(cc_llhls_get_init(h, 1));
    assert_null(cc_llhls_get_segment(h, 1));
    cc_llhls_free(h);
}

static void test_sliding_window(void **state)
{
    cc_llhls_t *h = new_model(6000, 0);
    begin(h, "init-a");
    feed_t f = {.h = h, .pdt = T0, .parts_per_seg = 5};
    feed_ms(&f, 20000);
    feed_part(&f);
    pl_t *pl = render(h, 0);
    /* 20 complete one-second segments, 6 s listed: MSN 14..19 + open 20 */
    assert_int_equal(pl->media_seq, 14);
    assert_int_equal(pl->nsegs, 7);
    double listed = 0;
    for (int i = 0; i < pl->nsegs; i++)
        listed += pl->segs[i].extinf;
    assert_true(listed >= 6.0 - 1e-9);
    assert_true(listed >= 3.0 * pl->td);
    free(pl);
    /* Left the window: kept 3 TD more (11, 12, 13), then freed. */
    for (uint64_t msn = 11; msn <= 19; msn++) {
        cc_buf_t *b = cc_llhls_get_segment(h, msn);
        if (b == NULL)
            fail_msg("segment %" PRIu64 " gone", msn);
        cc_buf_unref(b);
    }
    for (uint64_t msn = 0; msn <= 10; msn++)
        assert_null(cc_llhls_get_segment(h, msn));
    /* Parts: freed 7 TD from the end (listed 3 TD, +3 TD downloadable, +1). */
    bool pending;
    assert_null(cc_llhls_get_part(h, 5 * 12, &pending));
    cc_buf_t *b = cc_llhls_get_part(h, 5 * 13, &pending);
    assert_non_null(b);
    cc_buf_unref(b);
    cc_llhls_free(h);
}

static void test_discontinuity(void **state)
{
    cc_llhls_t *h = new_model(6000, 0);
    begin(h, "init-a");
    feed_t f = {.h = h, .pdt = T0, .parts_per_seg = 5};
    feed_ms(&f, 3000);
    feed_part(&f);
    feed_part(&f); /* segment 3 open with two parts */
    begin(h, "init-b"); /* closes segment 3 */
    pl_t *pl = render(h, 0);
    assert_int_equal(pl->nsegs, 4);
    assert_true(pl->segs[3].complete);
    assert_true(fabs(pl->segs[3].extinf - 0.4) < 1e-9);
    assert_true(pl->has_hint); /* the next part, in whichever segment */
    assert_int_equal(pl->hint_seq, 17);
    free(pl);
    /* A publisher coming back 5 s later: new segment, DISCONTINUITY, new MAP. */
    f.pdt += 5000;
    f.n = 0;
    feed_ms(&f, 2000);
    feed_part(&f);
    pl = render(h, 0);
    assert_int_equal(pl->disc_seq, 0);
    int k = -1;
    for (int i = 0; i < pl->nsegs; i++)
        if (pl->segs[i].discontinuity)
            k = i;
    assert_int_equal(k, 4);
    assert_string_equal(pl->segs[4].map, "init1.mp4");
    assert_false(pl->segs[5].has_map);
    assert_int_equal(pl->segs[4].pdt_ms, T0 + 3400 + 5000);
    assert_int_equal(pl->segs[4].part_seq[0], 17);
    free(pl);
    cc_buf_t *init = cc_llhls_get_init(h, 1);
    assert_non_null(init);
    assert_memory_equal(init->data, "init-b", 6);
    cc_buf_unref(init);
    /* Slide the old publish out: the sequence counts its discontinuity. */
    feed_ms(&f, 12000);
    pl = render(h, 0);
    assert_int_equal(pl->disc_seq, 1);
    for (int i = 0; i < pl->nsegs; i++)
        assert_false(pl->segs[i].discontinuity);
    assert_string_equal(pl->segs[0].map, "init1.mp4");
    free(pl);
    assert_null(cc_llhls_get_init(h, 0)); /* no kept segment maps it any more */
    cc_llhls_free(h);
}

static void test_end(void **state)
{
    cc_llhls_t *h = new_model(30000, 0);
    begin(h, "init-a");
    feed_t f = {.h = h, .pdt = T0, .parts_per_seg = 5};
    feed_ms(&f, 2200);
    cc_llhls_end(h);
    assert_true(cc_llhls_ended(h));
    pl_t *pl = render(h, 1); /* _HLS_skip is ignored once ended (6.2.5.1) */
    assert_true(pl->endlist);
    assert_false(pl->has_hint);
    assert_int_equal(pl->skipped, -1);
    assert_int_equal(pl->nsegs, 3);
    assert_true(pl->segs[2].complete);
    free(pl);
    cc_buf_t *b = cc_buf_from("x", 1);
    assert_int_equal(cc_llhls_add_part(h, b, 100, true, true, f.pdt), CC_ESTATE);
    bool pending = true;
    assert_null(cc_llhls_get_part(h, 11, &pending));
    assert_false(pending);
    cc_llhls_query_t q = {.has_msn = true, .msn = 1000, .has_part = true, .part = 900};
    assert_int_equal(cc_llhls_decide(h, &q), CC_LLHLS_ANSWER);
    /* A new publish after ENDLIST: the playlist goes on after a discontinuity. */
    begin(h, "init-b");
    assert_false(cc_llhls_ended(h));
    assert_int_equal(cc_llhls_add_part(h, b, 100, true, false, f.pdt + 1000), 0);
    cc_buf_unref(b);
    pl = render(h, 0);
    assert_false(pl->endlist);
    assert_true(pl->segs[3].discontinuity);
    assert_int_equal(pl->hint_seq, 12);
    free(pl);
    cc_llhls_free(h);
}

static void test_caps(void **state)
{
    cc_llhls_config_t cfg;
    cc_llhls_config_default(&cfg);
    cfg.part_target_ms = 100;
    cfg.segment_target_ms = 5000; /* TD 5: 64 parts of 50 ms fit */
    cfg.number_base = 0;
    cc_llhls_t *h = cc_llhls_new(&cfg);
    assert_non_null(h);
    begin(h, "i");
    cc_buf_t *b = cc_buf_from("p", 1);
    int64_t pdt = T0;
    for (int i = 0; i < CC_LLHLS_MAX_PARTS; i++, pdt += 50)
        assert_int_equal(cc_llhls_add_part(h, b, 50, i == 0, i == 0, pdt), 0);
    uint64_t v = cc_llhls_version(h);
    assert_int_equal(cc_llhls_add_part(h, b, 50, false, false, pdt), CC_ELIMIT);
    assert_int_equal(cc_llhls_version(h), v); /* nothing changed */
    assert_int_equal(cc_llhls_add_part(h, b, 50, false, true, pdt), 0);
    cc_llhls_free(h);

    /* A segment may not round above TARGETDURATION (4.4.3.1). */
    h = new_model(30000, 0);
    begin(h, "i");
    pdt = T0;
    for (int i = 0; i < 7; i++, pdt += 200)
        assert_int_equal(cc_llhls_add_part(h, b, 200, i == 0, i == 0, pdt), 0);
    /* 1.4 s so far; 1.6 s would round to 2 > TD 1 */
    assert_int_equal(cc_llhls_add_part(h, b, 200, false, false, pdt), CC_ELIMIT);
    assert_int_equal(cc_llhls_add_part(h, b, 99, false, false, pdt), 0);
    assert_int_equal(cc_llhls_add_part(h, b, 200, false, true, pdt + 99), 0);
    pl_t *pl = render(h, 0);
    assert_false(pl->independent_segments); /* a segment started without a keyframe */
    free(pl);
    cc_buf_unref(b);
    cc_llhls_free(h);
}

static void test_number_base(void **state)
{
    cc_llhls_t *h = new_model(30000, -1);
    begin(h, "init-a");
    feed_t f = {.h = h, .pdt = T0, .parts_per_seg = 5};
    feed_ms(&f, 2000);
    feed_part(&f);
    pl_t *pl = render(h, 0);
    assert_int_equal(pl->media_seq, (uint64_t)T0);
    assert_int_equal(pl->disc_seq, (uint64_t)T0);
    assert_string_equal(pl->segs[0].map, "init1763900000000.mp4");
    assert_int_equal(pl->segs[0].part_seq[0], (uint64_t)T0);
    assert_int_equal(pl->hint_seq, (uint64_t)T0 + 11);
    free(pl);
    cc_llhls_edge_t e;
    cc_llhls_live_edge(h, &e);
    assert_int_equal(e.msn, (uint64_t)T0 + 2);
    assert_int_equal(e.part_seq, (uint64_t)T0 + 10);
    cc_buf_t *b = cc_llhls_get_segment(h, (uint64_t)T0 + 1);
    assert_non_null(b);
    cc_buf_unref(b);
    assert_null(cc_llhls_get_segment(h, 1));
    b = cc_llhls_get_init(h, (uint64_t)T0);
    assert_non_null(b);
    cc_buf_unref(b);
    bool pending;
    b = cc_llhls_get_part(h, (uint64_t)T0 + 10, &pending);
    assert_non_null(b);
    cc_buf_unref(b);
    assert_null(cc_llhls_get_part(h, (uint64_t)T0 + 11, &pending));
    assert_true(pending);
    /* decisions in absolute numbers */
    cc_llhls_query_t q = {.has_msn = true, .msn = (uint64_t)T0 + 2, .has_part = true, .part = 0};
    assert_int_equal(cc_llhls_decide(h, &q), CC_LLHLS_ANSWER);
    q.part = 1;
    assert_int_equal(cc_llhls_decide(h, &q), CC_LLHLS_HOLD);
    q.msn = 5; /* long gone */
    assert_int_equal(cc_llhls_decide(h, &q), CC_LLHLS_ANSWER);
    cc_llhls_free(h);
}

/* ---- blocking decisions (6.2.5.2) ---- */

static cc_llhls_decision_t decide(cc_llhls_t *h, const char *msn, const char *part)
{
    cc_llhls_query_t q;
    assert_int_equal(cc_llhls_query_parse(msn, part, NULL, &q), 0);
    return cc_llhls_decide(h, &q);
}

static void test_decide(void **state)
{
    cc_llhls_t *h = new_model(30000, 0);
    cc_llhls_query_t none = {0};
    assert_int_equal(cc_llhls_decide(h, &none), CC_LLHLS_HOLD); /* nothing yet */
    begin(h, "init-a");
    assert_int_equal(cc_llhls_decide(h, &none), CC_LLHLS_HOLD);
    feed_t f = {.h = h, .pdt = T0, .parts_per_seg = 5};
    feed_part(&f); /* 0.0 */
    /* segment 0 open: no complete segment yet */
    assert_int_equal(cc_llhls_decide(h, &none), CC_LLHLS_ANSWER);
    assert_int_equal(decide(h, "0", NULL), CC_LLHLS_HOLD);
    assert_int_equal(decide(h, "0", "0"), CC_LLHLS_ANSWER);
    assert_int_equal(decide(h, "0", "1"), CC_LLHLS_HOLD);
    feed_ms(&f, 1600); /* segments 0 (complete) and 1 (4 parts: 1.0..1.3) */
    assert_int_equal(decide(h, "0", NULL), CC_LLHLS_ANSWER);
    assert_int_equal(decide(h, "1", NULL), CC_LLHLS_HOLD); /* 1 is still open */
    assert_int_equal(decide(h, "2", NULL), CC_LLHLS_HOLD);
    assert_int_equal(decide(h, "3", NULL), CC_LLHLS_HOLD); /* last MSN + 2 */
    assert_int_equal(decide(h, "4", NULL), CC_LLHLS_BAD_REQUEST);
    assert_int_equal(decide(h, "99", "0"), CC_LLHLS_BAD_REQUEST);
    /* msn + part */
    assert_int_equal(decide(h, "0", "4"), CC_LLHLS_ANSWER);
    assert_int_equal(decide(h, "0", "5"), CC_LLHLS_ANSWER); /* past 0's last part = 1.0, listed */
    assert_int_equal(decide(h, "0", "4000"), CC_LLHLS_ANSWER);
    assert_int_equal(decide(h, "1", "3"), CC_LLHLS_ANSWER);
    assert_int_equal(decide(h, "1", "4"), CC_LLHLS_HOLD);
    /* Advance Part Limit: 3 / 0.2 s = 15 parts past the last one */
    assert_int_equal(decide(h, "1", "18"), CC_LLHLS_HOLD);
    assert_int_equal(decide(h, "1", "19"), CC_LLHLS_BAD_REQUEST);
    assert_int_equal(decide(h, "2", "14"), CC_LLHLS_HOLD);
    assert_int_equal(decide(h, "2", "15"), CC_LLHLS_BAD_REQUEST);
    assert_int_equal(decide(h, "3", "9"), CC_LLHLS_HOLD);
    assert_int_equal(decide(h, "3", "10"), CC_LLHLS_BAD_REQUEST);
    /* the next part arrives */
    feed_part(&f);
    assert_int_equal(decide(h, "1", "4"), CC_LLHLS_ANSWER);
    assert_int_equal(decide(h, "2", "0"), CC_LLHLS_HOLD);
    feed_part(&f); /* starts segment 2 */
    assert_int_equal(decide(h, "1", "5"), CC_LLHLS_ANSWER); /* = part 0 of segment 2 */
    assert_int_equal(decide(h, "1", NULL), CC_LLHLS_ANSWER);
    assert_int_equal(decide(h, "2", "0"), CC_LLHLS_ANSWER);
    /* A complete last segment (after a re-begin): a part past its end is part 0 of the next. */
    begin(h, "init-b");
    assert_int_equal(decide(h, "2", "1"), CC_LLHLS_HOLD);
    assert_int_equal(decide(h, "2", "15"), CC_LLHLS_HOLD);
    assert_int_equal(decide(h, "2", NULL), CC_LLHLS_ANSWER);
    assert_int_equal(decide(h, "3", "0"), CC_LLHLS_HOLD);
    /* _HLS_part alone never reaches decide: the parser refuses it */
    cc_llhls_query_t q;
    assert_int_equal(cc_llhls_query_parse(NULL, "0", NULL, &q), CC_EINVAL);
    /* ended: directives ignored, even absurd ones */
    cc_llhls_end(h);
    assert_int_equal(decide(h, "99", "99"), CC_LLHLS_ANSWER);
    assert_int_equal(decide(h, "3", NULL), CC_LLHLS_ANSWER);
    cc_llhls_free(h);
}

/* ---- delta updates (6.2.5.1) ---- */

static void test_delta_update(void **state)
{
    cc_llhls_t *h = new_model(30000, 0);
    begin(h, "init-a");
    feed_t f = {.h = h, .pdt = T0, .parts_per_seg = 5};
    feed_ms(&f, 20000);
    feed_part(&f);
    pl_t *full = render(h, 0), *delta = render(h, 1);
    assert_int_equal(full->skipped, -1);
    assert_int_equal(full->nsegs, 21);
    /* CAN-SKIP-UNTIL 6 s: segments ending more than 6 s before the end (0.2 s
     * into segment 20) are 0..13 -> 14 skipped */
    assert_int_equal(delta->skipped, 14);
    assert_int_equal(delta->version, 9);
    assert_false(delta->has_removed);
    assert_int_equal(delta->media_seq, full->media_seq);
    assert_int_equal(delta->disc_seq, full->disc_seq);
    assert_int_equal(delta->nsegs, 7);
    assert_int_equal(delta->segs[0].msn, 14);
    assert_true(delta->segs[0].has_map);
    assert_int_equal(delta->hint_seq, full->hint_seq);
    free(full);
    free(delta);
    pl_t *v2 = render(h, 2);
    assert_int_equal(v2->version, 10);
    assert_int_equal(v2->skipped, 14);
    assert_true(v2->has_removed);
    assert_string_equal(v2->removed, "");
    free(v2);
    /* short playlist: nothing to skip, so the full playlist (no EXT-X-SKIP of 0) */
    cc_llhls_t *h2 = new_model(30000, 0);
    begin(h2, "init-a");
    feed_t f2 = {.h = h2, .pdt = T0, .parts_per_seg = 5};
    feed_ms(&f2, 3000);
    pl_t *d2 = render(h2, 1);
    assert_int_equal(d2->skipped, -1); /* no EXT-X-SKIP at all */
    assert_int_equal(d2->version, 6);
    assert_int_equal(d2->segs[0].msn, 0);
    free(d2);
    cc_llhls_free(h2);
    cc_llhls_free(h);
}

/* ---- date ranges ---- */

static cc_llhls_daterange_t dr_make(const char *id, int64_t start, int64_t dur)
{
    cc_llhls_daterange_t d;
    memset(&d, 0, sizeof(d));
    d.id = id;
    d.class_name = "com.cartcast.product";
    d.start_ms = start;
    d.duration_ms = dur;
    d.end_ms = -1;
    d.nx = 2;
    d.x[0].name = "X-SKU";
    d.x[0].value = "sku-42";
    d.x[1].name = "X-TITLE";
    d.x[1].value = "Red shoes, size 9";
    return d;
}

static bool has_dr(const pl_t *pl, const char *id)
{
    char want[160];
    snprintf(want, sizeof(want), "ID=\"%s\"", id);
    for (int i = 0; i < pl->ndrs; i++)
        if (strstr(pl->dr_lines[i], want))
            return true;
    return false;
}

static void test_dateranges(void **state)
{
    cc_llhls_t *h = new_model(6000, 0);
    begin(h, "init-a");
    feed_t f = {.h = h, .pdt = T0, .parts_per_seg = 5};
    feed_ms(&f, 2000);
    feed_part(&f);
    cc_llhls_daterange_t d = dr_make("card-1", T0 + 1500, -1);
    assert_int_equal(cc_llhls_daterange_add(h, &d), 0);
    assert_int_equal(cc_llhls_daterange_add(h, &d), CC_EBUSY); /* 6.2.1: never reused */
    cc_llhls_daterange_t d2 = dr_make("card-2", T0 + 1800, 2500);
    assert_int_equal(cc_llhls_daterange_add(h, &d2), 0);
    char *text = render_text(h, 0);
    assert_non_null(strstr(text, "#EXT-X-DATERANGE:ID=\"card-1\",CLASS=\"com.cartcast.product\","
                                 "START-DATE=\"2025-11-23T12:13:21.500Z\",X-SKU=\"sku-42\","
                                 "X-TITLE=\"Red shoes, size 9\"\n"));
    assert_non_null(strstr(text, "#EXT-X-DATERANGE:ID=\"card-2\",CLASS=\"com.cartcast.product\","
                                 "START-DATE=\"2025-11-23T12:13:21.800Z\",DURATION=2.500,"));
    free(text);
    /* bad attributes */
    cc_llhls_daterange_t bad = dr_make("bad-1", T0, -1);
    bad.id = "";
    assert_int_equal(cc_llhls_daterange_add(h, &bad), CC_EINVAL);
    bad.id = "a\"b";
    assert_int_equal(cc_llhls_daterange_add(h, &bad), CC_EINVAL);
    bad.id = "a\tb";
    assert_int_equal(cc_llhls_daterange_add(h, &bad), CC_EINVAL);
    bad = dr_make("bad-2", T0, -1);
    bad.x[0].name = "SKU";
    assert_int_equal(cc_llhls_daterange_add(h, &bad), CC_EINVAL);
    bad.x[0].name = "X-sku";
    assert_int_equal(cc_llhls_daterange_add(h, &bad), CC_EINVAL);
    bad.x[0].name = "X-TITLE"; /* duplicate */
    assert_int_equal(cc_llhls_daterange_add(h, &bad), CC_EINVAL);
    bad = dr_make("bad-3", T0, -1);
    bad.x[1].value = "line\nbreak";
    assert_int_equal(cc_llhls_daterange_add(h, &bad), CC_EINVAL);
    bad = dr_make("bad-4", T0, 1000);
    bad.end_ms = T0 + 2000; /* disagrees with DURATION */
    assert_int_equal(cc_llhls_daterange_add(h, &bad), CC_EINVAL);
    bad = dr_make("bad-5", T0, -1);
    bad.end_ms = T0 - 1;
    assert_int_equal(cc_llhls_daterange_add(h, &bad), CC_EINVAL);
    bad = dr_make("bad-6", T0, -1);
    bad.nx = CC_LLHLS_DATERANGE_X_MAX + 1;
    assert_int_equal(cc_llhls_daterange_add(h, &bad), CC_EINVAL);
    /* end */
    assert_int_equal(cc_llhls_daterange_end(h, "nope", T0), CC_ENOENT);
    assert_int_equal(cc_llhls_daterange_end(h, "card-1", T0 + 1000), CC_EINVAL);
    assert_int_equal(cc_llhls_daterange_end(h, "card-1", T0 + 4000), 0);
    assert_int_equal(cc_llhls_daterange_end(h, "card-1", T0 + 4000), 0); /* same end */
    assert_int_equal(cc_llhls_daterange_end(h, "card-1", T0 + 5000), CC_ESTATE);
    assert_int_equal(cc_llhls_daterange_end(h, "card-2", T0 + 4300), 0);
    text = render_text(h, 0);
    assert_non_null(strstr(text, "ID=\"card-1\",CLASS=\"com.cartcast.product\","
                                 "START-DATE=\"2025-11-23T12:13:21.500Z\",DURATION=2.500,X-SKU"));
    free(text);
    /* an open range */
    cc_llhls_daterange_t d3 = dr_make("poll-1", T0 + 2000, -1);
    assert_int_equal(cc_llhls_daterange_add(h, &d3), 0);

    /* Kept while any date maps to a listed segment: card-1 ends at T0+4.0 s,
     * card-2 at T0+4.3 s; the window is 6 s. */
    feed_ms(&f, 8000); /* edge at T0+10.2 s, first listed segment starts at T0+4 s */
    pl_t *pl = render(h, 0);
    assert_int_equal(pl->segs[0].pdt_ms, T0 + 4000);
    assert_true(has_dr(pl, "card-1")); /* its END-DATE maps to the first listed segment */
    assert_true(has_dr(pl, "card-2"));
    assert_true(has_dr(pl, "poll-1"));
    free(pl);
    feed_ms(&f, 1000); /* first listed now T0+5 s: card-2 (until 4.3 s) goes */
    pl = render(h, 0);
    assert_true(pl->segs[0].pdt_ms > T0 + 4300);
    assert_false(has_dr(pl, "card-1"));
    assert_false(has_dr(pl, "card-2"));
    assert_true(has_dr(pl, "poll-1")); /* still open */
    free(pl);
    /* v2: removed IDs are reported, old ranges skipped */
    pl = render(h, 2);
    assert_true(pl->has_removed);
    assert_true(strstr(pl->removed, "card-1") != NULL);
    assert_true(strstr(pl->removed, "card-2") != NULL);
    assert_non_null(strchr(pl->removed, '\t'));
    assert_false(has_dr(pl, "poll-1")); /* added 9 s ago, more than CAN-SKIP-UNTIL */
    free(pl);
    pl = render(h, 1); /* YES skips segments only */
    assert_true(has_dr(pl, "poll-1"));
    assert_false(pl->has_removed);
    free(pl);
    /* An ID stays refused after its range left the playlist. */
    d = dr_make("card-1", f.pdt, 1000);
    assert_int_equal(cc_llhls_daterange_add(h, &d), CC_EBUSY);
    /* ending poll-1 makes it new for v2 */
    assert_int_equal(cc_llhls_daterange_end(h, "poll-1", f.pdt), 0);
    pl = render(h, 2);
    assert_true(has_dr(pl, "poll-1"));
    free(pl);
    /* much later everything is gone and reported no more */
    feed_ms(&f, 14000);
    pl = render(h, 2);
    assert_int_equal(pl->ndrs, 0);
    assert_null(strstr(pl->removed, "card-"));
    free(pl);
    cc_llhls_free(h);
}

static void test_daterange_cap(void **state)
{
    cc_llhls_t *h = new_model(30000, 0);
    begin(h, "init-a");
    char id[32];
    for (int i = 0; i < CC_LLHLS_MAX_DATERANGES; i++) {
        snprintf(id, sizeof(id), "r%d", i);
        cc_llhls_daterange_t d = dr_make(id, T0, -1);
        assert_int_equal(cc_llhls_daterange_add(h, &d), 0);
    }
    cc_llhls_daterange_t d = dr_make("one-more", T0, -1);
    assert_int_equal(cc_llhls_daterange_add(h, &d), CC_ELIMIT);
    cc_llhls_free(h);
}

/* ---- listener, multivariant ---- */

typedef struct events {
    int updates, freed;
    uint64_t last_version;
} events_t;

static void on_event(cc_llhls_t *h, cc_llhls_event_t ev, void *data)
{
    events_t *e = data;
    if (ev == CC_LLHLS_EV_UPDATE) {
        e->updates++;
        assert_true(cc_llhls_version(h) > e->last_version);
        e->last_version = cc_llhls_version(h);
    } else {
        e->freed++;
    }
}

static void test_listener(void **state)
{
    events_t e = {0};
    cc_llhls_t *h = new_model(30000, 0);
    cc_llhls_set_listener(h, on_event, &e);
    begin(h, "init-a");
    assert_int_equal(e.updates, 1);
    feed_t f = {.h = h, .pdt = T0, .parts_per_seg = 5};
    feed_ms(&f, 1000);
    assert_int_equal(e.updates, 6);
    cc_llhls_daterange_t d = dr_make("a", T0, -1);
    assert_int_equal(cc_llhls_daterange_add(h, &d), 0);
    assert_int_equal(e.updates, 7);
    cc_buf_t *b = cc_buf_from("x", 1);
    assert_int_equal(cc_llhls_add_part(h, b, 300, false, false, f.pdt), CC_EINVAL);
    cc_buf_unref(b);
    assert_int_equal(e.updates, 7); /* failures are silent */
    cc_llhls_end(h);
    assert_int_equal(e.updates, 8);
    cc_llhls_end(h);
    assert_int_equal(e.updates, 8);
    cc_llhls_free(h);
    assert_int_equal(e.freed, 1);
}

static void test_multivariant(void **state)
{
    cc_llhls_t *h = new_model(30000, 0);
    begin(h, "init-a");
    cc_dynbuf_t d;
    cc_dynbuf_init(&d, 4096);
    assert_int_equal(cc_llhls_render_multivariant(h, &d), 0);
    assert_int_equal(cc_dynbuf_append(&d, "", 1), 0);
    assert_string_equal((char *)d.data, "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"avc1.64001f,mp4a.40.2\","
                                        "RESOLUTION=1280x720,FRAME-RATE=30.000\nmedia.m3u8\n");
    cc_llhls_variant_t v;
    memset(&v, 0, sizeof(v));
    snprintf(v.codecs, sizeof(v.codecs), "mp4a.40.2");
    v.bandwidth = 4800000;
    v.average_bandwidth = 4500000;
    cc_llhls_set_variant(h, &v);
    cc_dynbuf_reset(&d);
    assert_int_equal(cc_llhls_render_multivariant(h, &d), 0);
    assert_int_equal(cc_dynbuf_append(&d, "", 1), 0);
    assert_string_equal((char *)d.data, "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=4800000,AVERAGE-BANDWIDTH=4500000,"
                                        "CODECS=\"mp4a.40.2\"\nmedia.m3u8\n");
    cc_dynbuf_free(&d);
    /* a capped output fails cleanly */
    cc_dynbuf_init(&d, 64);
    feed_t f = {.h = h, .pdt = T0, .parts_per_seg = 5};
    feed_ms(&f, 1000);
    assert_int_equal(cc_llhls_render_media(h, 0, &d), CC_ETOOBIG);
    cc_dynbuf_free(&d);
    cc_llhls_free(h);
}

/* Many hours of a stream with restarts: memory stays bounded, every playlist valid. */
static void test_long_run(void **state)
{
    cc_llhls_t *h = new_model(30000, 0);
    begin(h, "init-a");
    feed_t f = {.h = h, .pdt = T0, .parts_per_seg = 5};
    char id[32];
    for (int minute = 0; minute < 30; minute++) {
        feed_ms(&f, 60000);
        snprintf(id, sizeof(id), "m%d", minute);
        cc_llhls_daterange_t d = dr_make(id, f.pdt - 500, 400);
        assert_int_equal(cc_llhls_daterange_add(h, &d), 0);
        if (minute % 7 == 3) {
            begin(h, minute % 2 ? "init-b" : "init-c");
            f.pdt += 3000;
            f.n = 0;
        }
        pl_t *pl = render(h, minute % 3);
        assert_true(pl->nsegs <= 40);
        free(pl);
    }
    cc_llhls_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),         cmocka_unit_test(test_uri_parse),
        cmocka_unit_test(test_query_parse),    cmocka_unit_test(test_states),
        cmocka_unit_test(test_playlist_rules), cmocka_unit_test(test_segment_buffers),
        cmocka_unit_test(test_sliding_window), cmocka_unit_test(test_discontinuity),
        cmocka_unit_test(test_end),            cmocka_unit_test(test_caps),
        cmocka_unit_test(test_number_base),    cmocka_unit_test(test_decide),
        cmocka_unit_test(test_delta_update),   cmocka_unit_test(test_dateranges),
        cmocka_unit_test(test_daterange_cap),  cmocka_unit_test(test_listener),
        cmocka_unit_test(test_multivariant),   cmocka_unit_test(test_long_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

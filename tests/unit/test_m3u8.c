/* The edge's media playlist reader (edge/m3u8.c): what packager/llhls.c
 * writes reads back with the same values; anything cartcast would not write
 * is refused rather than guessed; dates; bounds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cartcast/err.h"
#include "edge/m3u8.h"
#include "packager/llhls.h"

static cc_m3u8_media_t *M;

static int parse(const char *s) { return cc_m3u8_parse_media(s, strlen(s), M); }

static const char *EXAMPLE =
    "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n"
    "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=6.000,CAN-SKIP-DATERANGES=YES,HOLD-BACK=3.000,"
    "PART-HOLD-BACK=0.600\n"
    "#EXT-X-PART-INF:PART-TARGET=0.201\n#EXT-X-MEDIA-SEQUENCE:10\n#EXT-X-DISCONTINUITY-SEQUENCE:3\n"
    "#EXT-X-INDEPENDENT-SEGMENTS\n"
    "#EXT-X-DATERANGE:ID=\"card-1\",CLASS=\"com.cartcast.product\",START-DATE=\"2025-11-23T12:13:21.500Z\","
    "DURATION=2.500,X-SKU=\"sku-42\",X-PRICE=\"9,99 EUR\"\n"
    "#EXT-X-MAP:URI=\"init3.mp4\"\n"
    "#EXT-X-PROGRAM-DATE-TIME:2025-11-23T12:13:20.000Z\n#EXTINF:1.00000,\nseg10.m4s\n"
    "#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init4.mp4\"\n"
    "#EXT-X-PROGRAM-DATE-TIME:2025-11-23T12:13:21.000Z\n"
    "#EXT-X-PART:DURATION=0.20000,URI=\"part50.m4s\",INDEPENDENT=YES\n"
    "#EXT-X-PART:DURATION=0.20020,URI=\"part51.m4s\"\n#EXTINF:0.40020,\nseg11.m4s\n"
    "#EXT-X-PROGRAM-DATE-TIME:2025-11-23T12:13:21.400Z\n"
    "#EXT-X-PART:DURATION=0.20000,URI=\"part52.m4s\",INDEPENDENT=YES\n"
    "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part53.m4s\"\n";

static void test_example(void **state)
{
    assert_int_equal(parse(EXAMPLE), 0);
    assert_int_equal(M->version, 6);
    assert_int_equal(M->target_duration_s, 1);
    assert_int_equal(M->part_target_ms, 201);
    assert_true(M->can_block_reload);
    assert_int_equal(M->media_sequence, 10);
    assert_int_equal(M->discontinuity_sequence, 3);
    assert_true(M->independent_segments);
    assert_false(M->endlist);
    assert_true(M->has_hint);
    assert_int_equal(M->hint_seq, 53);
    assert_int_equal(M->nsegments, 3);
    assert_int_equal(M->nparts, 3);
    const cc_m3u8_segment_t *s = M->segments;
    assert_int_equal(s[0].msn, 10);
    assert_int_equal(s[0].disc, 3);
    assert_true(s[0].complete);
    assert_int_equal(s[0].nparts, 0);
    assert_int_equal(s[0].map_disc, 3);
    assert_int_equal(s[0].pdt_ms, 1763900000000LL);
    assert_true(s[1].discontinuity);
    assert_int_equal(s[1].disc, 4);
    assert_int_equal(s[1].map_disc, 4);
    assert_int_equal(s[1].nparts, 2);
    assert_true(s[1].dur_ms > 400.19 && s[1].dur_ms < 400.21);
    assert_int_equal(M->parts[s[1].first_part].seq, 50);
    assert_true(M->parts[0].independent);
    assert_false(M->parts[1].independent);
    assert_false(s[2].complete);
    assert_int_equal(s[2].msn, 12);
    assert_int_equal(s[2].disc, 4);
    assert_int_equal(s[2].pdt_ms, 1763900001400LL);
    assert_int_equal(M->ndateranges, 1);
    const cc_m3u8_daterange_t *d = &M->dateranges[0];
    assert_int_equal(d->id.len, 6);
    assert_memory_equal(d->id.base, "card-1", 6);
    assert_int_equal(d->start_ms, 1763900001500LL);
    assert_int_equal(d->duration_ms, 2500);
    assert_int_equal(d->end_ms, -1);
    assert_int_equal(d->nx, 2);
    assert_int_equal(d->x[1].value.len, 8);
    assert_memory_equal(d->x[1].value.base, "9,99 EUR", 8);
    /* CRLF line ends read the same */
    char crlf[4096];
    size_t n = 0;
    for (const char *p = EXAMPLE; *p; p++) {
        if (*p == '\n')
            crlf[n++] = '\r';
        crlf[n++] = *p;
    }
    crlf[n] = '\0';
    assert_int_equal(parse(crlf), 0);
    assert_int_equal(M->nsegments, 3);
    assert_int_equal(M->hint_seq, 53);
}

/* Whatever the model writes reads back: the numbers the edge needs. */
static void test_round_trip(void **state)
{
    cc_llhls_config_t cfg;
    cc_llhls_config_default(&cfg);
    cfg.window_ms = 6000;
    cc_llhls_t *h = cc_llhls_new(&cfg);
    cc_buf_t *b = cc_buf_from("x", 1);
    cc_llhls_variant_t v = {0};
    int64_t pdt = 1763900000000LL;
    uint64_t total = 0;
    for (int round = 0; round < 3; round++) {
        assert_int_equal(cc_llhls_begin(h, b, &v), 0);
        for (int i = 0; i < 47; i++, pdt += 200, total++) {
            assert_int_equal(cc_llhls_add_part(h, b, 200, i % 5 == 0, i % 5 == 0, pdt), 0);
            for (int skip = 0; skip <= 2; skip++) {
                cc_dynbuf_t d;
                cc_dynbuf_init(&d, 1 << 20);
                assert_int_equal(cc_llhls_render_media(h, skip, &d), 0);
                assert_int_equal(cc_m3u8_parse_media((const char *)d.data, d.len, M), 0);
                cc_llhls_edge_t e;
                cc_llhls_live_edge(h, &e);
                const cc_m3u8_segment_t *last = &M->segments[M->nsegments - 1];
                assert_int_equal(last->msn, e.msn);
                assert_int_equal(last->nparts, e.part + 1);
                assert_int_equal(M->parts[M->nparts - 1].seq, e.part_seq);
                assert_int_equal(M->hint_seq, e.part_seq + 1);
                assert_int_equal(M->part_target_ms, 200);
                if (skip == 0)
                    assert_int_equal(M->skipped, 0);
                cc_dynbuf_free(&d);
            }
        }
        pdt += 5000;
    }
    cc_llhls_end(h);
    cc_dynbuf_t d;
    cc_dynbuf_init(&d, 1 << 20);
    assert_int_equal(cc_llhls_render_media(h, 0, &d), 0);
    assert_int_equal(cc_m3u8_parse_media((const char *)d.data, d.len, M), 0);
    assert_true(M->endlist);
    assert_false(M->has_hint);
    cc_dynbuf_free(&d);
    cc_buf_unref(b);
    cc_llhls_free(h);
}

static void test_refused(void **state)
{
    static const char *const bad[] = {
        "",
        "#EXT-X-TARGETDURATION:1\n",
        "#EXTM3U\n",                                                           /* no TARGETDURATION */
        "#EXTM3U\n#EXT-X-TARGETDURATION:x\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\nother.ts\n",           /* not our URI */
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:5\n#EXT-X-PROGRAM-DATE-TIME:2025-11-23T12:13:20.000Z\n"
        "#EXTINF:1.0,\nseg6.m4s\n",                                            /* URI does not follow MSN */
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\nseg0.m4s\n",                         /* URI without EXTINF */
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n",                    /* EXTINF without URI */
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-PART:DURATION=0.2,URI=\"part1.m4s\"\n"
        "#EXT-X-PART:DURATION=0.2,URI=\"part3.m4s\"\n",                        /* parts skip a number */
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-PART:DURATION=0.2,URI=\"part01.m4s\"\n", /* leading zero */
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-PART:DURATION=-0.2,URI=\"part1.m4s\"\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-PART:DURATION=0.2,URI=part1.m4s\n",     /* unquoted URI */
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-PART:DURATION=0.2,URI=\"part1.m4s\",GAP=YES\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-PART:DURATION=0.2,URI=\"part1.m4s\n",   /* open quote */
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-PART:DURATION=0.2,,URI=\"part1.m4s\"\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MAP:URI=\"init1.mp4\",BYTERANGE=\"10@0\"\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-PROGRAM-DATE-TIME:yesterday\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-DISCONTINUITY\n",             /* dangling tag */
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-PART:DURATION=0.2,URI=\"part1.m4s\"\n"
        "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part1.m4s\"\n",                   /* hint not after the parts */
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-DATERANGE:CLASS=\"x\",START-DATE=\"2025-11-23T12:13:20Z\"\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:99999999999999999999999\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = parse(bad[i]);
        if (r != CC_EPROTO)
            fail_msg("case %zu: %d for:\n%s", i, r, bad[i]);
    }
    /* tags we do not use are skipped */
    assert_int_equal(parse("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-FOO:BAR\n# a comment\n#EXT-X-RENDITION-REPORT:"
                           "URI=\"x\"\n"),
                     0);
    assert_int_equal(M->target_duration_s, 2);
    assert_int_equal(M->nsegments, 0);
}

static void test_bounds(void **state)
{
    /* more segments than CC_M3U8_MAX_SEGMENTS */
    size_t cap = 64 + (CC_M3U8_MAX_SEGMENTS + 1) * 80;
    char *s = malloc(cap);
    size_t n = (size_t)snprintf(s, cap, "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MAP:URI=\"init0.mp4\"\n");
    for (int i = 0; i <= CC_M3U8_MAX_SEGMENTS; i++)
        n += (size_t)snprintf(s + n, cap - n, "#EXT-X-PROGRAM-DATE-TIME:2025-11-23T12:13:20.000Z\n#EXTINF:1.0,\nseg%d.m4s\n",
                              i);
    assert_int_equal(cc_m3u8_parse_media(s, n, M), CC_ETOOBIG);
    free(s);
    /* a line longer than CC_M3U8_LINE_MAX */
    s = malloc(CC_M3U8_LINE_MAX + 64);
    n = (size_t)sprintf(s, "#EXTM3U\n#X");
    memset(s + n, 'a', CC_M3U8_LINE_MAX);
    n += CC_M3U8_LINE_MAX;
    assert_int_equal(cc_m3u8_parse_media(s, n, M), CC_ETOOBIG);
    free(s);
    assert_int_equal(cc_m3u8_parse_media("#EXTM3U\n", CC_M3U8_TEXT_MAX + 1, M), CC_ETOOBIG);
}

static void test_dates(void **state)
{
    struct {
        const char *s;
        int64_t ms;
    } ok[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"1970-01-01T00:00:00.5Z", 500},
        {"1970-01-01T00:00:00.123456789Z", 123},
        {"2025-11-23T12:13:20.000Z", 1763900000000LL},
        {"2025-11-23T13:13:20.000+01:00", 1763900000000LL},
        {"2025-11-23T11:13:20.000-0100", 1763900000000LL},
        {"2024-02-29T00:00:00Z", 1709164800000LL},
        {"2000-03-01T00:00:00z", 951868800000LL},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t ms = -1;
        assert_int_equal(cc_m3u8_parse_date(ok[i].s, strlen(ok[i].s), &ms), 0);
        assert_int_equal(ms, ok[i].ms);
    }
    static const char *const bad[] = {"2025-11-23", "2025-11-23T12:13:20", "2025-13-23T12:13:20Z",
                                      "2025-11-23T24:13:20Z", "2025-11-23T12:13:20.Z", "2025-11-23T12:13:20+1",
                                      "1969-12-31T23:59:59Z", "2025-11-23T12:13:20Zjunk", "2025-11-23 12:13:20Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms;
        if (cc_m3u8_parse_date(bad[i], strlen(bad[i]), &ms) != CC_EPROTO)
            fail_msg("accepted %s", bad[i]);
    }
}

static int setup(void **state)
{
    M = malloc(sizeof(*M));
    return M ? 0 : -1;
}

static int teardown(void **state)
{
    free(M);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example), cmocka_unit_test(test_round_trip), cmocka_unit_test(test_refused),
        cmocka_unit_test(test_bounds),  cmocka_unit_test(test_dates),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

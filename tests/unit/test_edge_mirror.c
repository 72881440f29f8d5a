/* The edge's mirror (packager/llhls.c mirror mode + edge/mirror.c fed from
 * edge/m3u8.c): an origin model is fed parts the way the packager does; a
 * mirror follows it only through the origin's rendered playlists and the
 * bytes it serves.  After every step the mirror's playlists must be the
 * origin's, byte for byte (plain and delta updates), and it must serve the
 * same parts, segments and inits.  Joins at every point of a stream, lag,
 * re-publishes (DISCONTINUITY), ENDLIST and back, date ranges, the sliding
 * window, a restarted origin (new numbers: a resync). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cartcast/err.h"
#include "edge/m3u8.h"
#include "edge/mirror.h"
#include "packager/llhls.h"

#define T0 1763900000000LL /* a PDT in ms: numbers start here (number_base -1) */

typedef struct origin {
    cc_llhls_t *h;
    int64_t pdt;      /* next part's PDT */
    int in_seg;       /* parts in the open segment */
    int nparts, ninit;
    int parts_per_seg;
    double dur;
} origin_t;

typedef struct edge {
    cc_llhls_t *m;
    cc_mirror_track_t t;
    cc_m3u8_media_t *L;
    const origin_t *src;
    char *text;
    int fed, closed;
} edge_t;

static void o_new(origin_t *o, uint32_t window_ms, int64_t t0)
{
    memset(o, 0, sizeof(*o));
    cc_llhls_config_t cfg;
    cc_llhls_config_default(&cfg);
    cfg.window_ms = window_ms;
    o->h = cc_llhls_new(&cfg);
    assert_non_null(o->h);
    o->pdt = t0;
    o->parts_per_seg = 5;
    o->dur = 200;
}

static void o_begin(origin_t *o)
{
    char txt[32];
    snprintf(txt, sizeof(txt), "init-%d", o->ninit++);
    cc_buf_t *b = cc_buf_from(txt, strlen(txt));
    cc_llhls_variant_t v = {.codecs = "avc1.64001f", .width = 640, .height = 360, .frame_rate = 30, .bandwidth = 1000};
    assert_int_equal(cc_llhls_begin(o->h, b, &v), 0);
    cc_buf_unref(b);
    o->in_seg = 0;
}

static void o_part(origin_t *o)
{
    char txt[48];
    snprintf(txt, sizeof(txt), "part-%d-%lld", o->nparts++, (long long)o->pdt);
    cc_buf_t *b = cc_buf_from(txt, strlen(txt));
    bool seg = o->in_seg == 0 || o->in_seg >= o->parts_per_seg;
    if (seg)
        o->in_seg = 0;
    assert_int_equal(cc_llhls_add_part(o->h, b, o->dur, seg, seg, o->pdt), 0);
    cc_buf_unref(b);
    o->in_seg++;
    o->pdt += (int64_t)o->dur;
}

static char *render(cc_llhls_t *h, int skip)
{
    cc_dynbuf_t d;
    cc_dynbuf_init(&d, 1 << 20);
    int r = cc_llhls_render_media(h, skip, &d);
    if (r < 0) {
        cc_dynbuf_free(&d);
        return NULL;
    }
    cc_dynbuf_append(&d, "", 1);
    return (char *)d.data;
}

/* The origin's bytes, as a fetch would get them (NULL: 404). */
static cc_buf_t *get(void *data, cc_mirror_kind_t kind, uint64_t number)
{
    edge_t *e = data;
    static cc_buf_t *last; /* borrowed by the walk until the next call */
    cc_buf_unref(last);
    if (kind == CC_MIRROR_PART)
        last = cc_llhls_get_part(e->src->h, number, NULL);
    else if (kind == CC_MIRROR_SEGMENT)
        last = cc_llhls_get_segment(e->src->h, number);
    else
        last = cc_llhls_get_init(e->src->h, number);
    return last;
}

static void fed(void *data, cc_mirror_kind_t kind, uint64_t number) { ((edge_t *)data)->fed++; }
static void closed(void *data, uint64_t msn) { ((edge_t *)data)->closed++; }

static void e_new(edge_t *e, const origin_t *src)
{
    memset(e, 0, sizeof(*e));
    e->L = malloc(sizeof(*e->L));
    cc_llhls_config_t cfg;
    cc_llhls_config_default(&cfg);
    e->m = cc_llhls_new(&cfg);
    assert_non_null(e->m);
    e->src = src;
}

static void e_free(edge_t *e)
{
    cc_llhls_free(e->m);
    free(e->L);
    free(e->text);
    get(e, CC_MIRROR_PART, 0); /* drop the last borrowed buffer */
}

/* One playlist fetch: parse, then plan + apply; a resync from scratch when
 * the playlist does not continue the mirror.  Returns the walk's result
 * before any resync. */
static int e_step(edge_t *e, bool scratch)
{
    free(e->text);
    e->text = render(e->src->h, 0);
    assert_non_null(e->text);
    assert_int_equal(cc_m3u8_parse_media(e->text, strlen(e->text), e->L), 0);
    const cc_mirror_ops_t ops = {get, fed, closed, e};
    int r = scratch ? CC_EPROTO : cc_mirror_walk(e->m, &e->t, e->L, false, false, &ops);
    if (r >= 0)
        r = cc_mirror_walk(e->m, &e->t, e->L, true, false, &ops);
    if (r < 0) {
        assert_int_equal(cc_mirror_walk(e->m, &e->t, e->L, false, true, &ops), 0);
        assert_int_equal(cc_mirror_restart(e->m, e->L, &e->t), 0);
        assert_int_equal(cc_mirror_walk(e->m, &e->t, e->L, true, true, &ops), 0);
    }
    return r;
}

/* The mirror's playlists are the origin's, and so are its listed objects. */
static void same(const edge_t *e, const origin_t *o, bool check_v2)
{
    for (int skip = 0; skip <= (check_v2 ? 2 : 1); skip++) {
        char *a = render(o->h, skip), *b = render(e->m, skip);
        assert_non_null(a);
        assert_non_null(b);
        if (strcmp(a, b) != 0) {
            fprintf(stderr, "---- origin (skip %d)\n%s---- mirror\n%s", skip, a, b);
            fail_msg("playlists differ");
        }
        free(a);
        free(b);
    }
    for (size_t i = 0; i < e->L->nparts; i++) {
        cc_buf_t *a = cc_llhls_get_part(o->h, e->L->parts[i].seq, NULL);
        cc_buf_t *b = cc_llhls_get_part(e->m, e->L->parts[i].seq, NULL);
        assert_non_null(a);
        assert_non_null(b);
        assert_memory_equal(a->data, b->data, a->len);
        cc_buf_unref(a);
        cc_buf_unref(b);
    }
    for (size_t i = 0; i < e->L->nsegments; i++) {
        const cc_m3u8_segment_t *g = &e->L->segments[i];
        if (!g->complete)
            continue;
        cc_buf_t *a = cc_llhls_get_segment(o->h, g->msn), *b = cc_llhls_get_segment(e->m, g->msn);
        assert_non_null(b);
        assert_int_equal(a->len, b->len);
        assert_memory_equal(a->data, b->data, a->len);
        cc_buf_unref(a);
        cc_buf_unref(b);
        a = cc_llhls_get_init(o->h, g->disc);
        b = cc_llhls_get_init(e->m, g->disc);
        assert_non_null(b);
        assert_memory_equal(a->data, b->data, a->len);
        cc_buf_unref(a);
        cc_buf_unref(b);
    }
    /* Blocking decisions and the preload hint agree too. */
    cc_llhls_edge_t eo, em;
    cc_llhls_live_edge(o->h, &eo);
    cc_llhls_live_edge(e->m, &em);
    assert_true(eo.msn == em.msn && eo.part == em.part && eo.part_seq == em.part_seq);
    bool po = false, pm = false;
    cc_llhls_get_part(o->h, eo.part_seq + 1, &po);
    cc_llhls_get_part(e->m, eo.part_seq + 1, &pm);
    assert_true(po == pm);
    for (uint32_t d = 0; d < 30; d++) {
        cc_llhls_query_t q = {.has_msn = true, .has_part = true, .msn = eo.msn + d / 10, .part = d % 10};
        assert_int_equal(cc_llhls_decide(o->h, &q), cc_llhls_decide(e->m, &q));
    }
}

/* Joining after every number of parts, then following part by part. */
static void test_join_anywhere(void **state)
{
    for (int k = 1; k <= 40; k++) {
        origin_t o;
        o_new(&o, 5000, T0 + k * 1000);
        o_begin(&o);
        for (int i = 0; i < k; i++)
            o_part(&o);
        edge_t e;
        e_new(&e, &o);
        e_step(&e, true);
        same(&e, &o, false);
        for (int i = 0; i < 40; i++) {
            o_part(&o);
            assert_int_equal(e_step(&e, false), 0);
            same(&e, &o, false);
        }
        e_free(&e);
        cc_llhls_free(o.h);
    }
}

/* The edge misses playlists: it catches up from what is still listed, and
 * resyncs once the parts it lacks are no longer listed. */
static void test_lag(void **state)
{
    origin_t o;
    o_new(&o, 30000, T0);
    o_begin(&o);
    for (int i = 0; i < 12; i++)
        o_part(&o);
    edge_t e;
    e_new(&e, &o);
    e_step(&e, true);
    for (int lag = 1; lag <= 25; lag++) {
        for (int i = 0; i < lag; i++)
            o_part(&o);
        int r = e_step(&e, false);
        /* Parts stay listed for the last three segments (~10-15 parts here). */
        if (lag <= 10)
            assert_int_equal(r, 0);
        same(&e, &o, false);
    }
    e_free(&e);
    cc_llhls_free(o.h);
}

/* A publisher that comes back (begin): EXT-X-DISCONTINUITY, a new init; also
 * seen one playlist late, and after ENDLIST. */
static void test_republish(void **state)
{
    origin_t o;
    o_new(&o, 8000, T0);
    o_begin(&o);
    for (int i = 0; i < 13; i++)
        o_part(&o);
    edge_t e;
    e_new(&e, &o);
    e_step(&e, true);
    same(&e, &o, false);
    /* begin mid-segment: the playlist shows the segment closed, no new one yet */
    o_begin(&o);
    assert_int_equal(e_step(&e, false), 0);
    same(&e, &o, false);
    for (int i = 0; i < 7; i++) {
        o_part(&o);
        assert_int_equal(e_step(&e, false), 0);
        same(&e, &o, false);
    }
    /* begin and the first part between two playlists */
    o_begin(&o);
    o_part(&o);
    assert_int_equal(e_step(&e, false), 0);
    same(&e, &o, false);
    for (int i = 0; i < 3; i++) {
        o_part(&o);
        e_step(&e, false);
    }
    /* ENDLIST, then the publisher is back within linger */
    cc_llhls_end(o.h);
    assert_int_equal(e_step(&e, false), 0);
    same(&e, &o, false);
    assert_true(cc_llhls_ended(e.m));
    o_begin(&o);
    assert_int_equal(e_step(&e, false), 0);
    same(&e, &o, false);
    assert_false(cc_llhls_ended(e.m));
    for (int i = 0; i < 30; i++) {
        o_part(&o);
        assert_int_equal(e_step(&e, false), 0);
        same(&e, &o, false);
    }
    /* joining an ended stream, and one just re-begun */
    cc_llhls_end(o.h);
    edge_t late;
    e_new(&late, &o);
    e_step(&late, true);
    same(&late, &o, false);
    o_begin(&o);
    edge_t later;
    e_new(&later, &o);
    e_step(&later, true);
    same(&later, &o, false);
    o_part(&o);
    assert_int_equal(e_step(&later, false), 0);
    same(&later, &o, false);
    assert_int_equal(e_step(&late, false), 0);
    same(&late, &o, false);
    e_free(&late);
    e_free(&later);
    e_free(&e);
    cc_llhls_free(o.h);
}

static void o_daterange(origin_t *o, const char *id, int64_t start, int64_t dur)
{
    cc_llhls_daterange_t dr = {.id = id, .class_name = "com.cartcast.product", .start_ms = start,
                               .duration_ms = dur, .end_ms = -1, .nx = 1};
    dr.x[0].name = "X-SKU";
    dr.x[0].value = "sku-42";
    assert_int_equal(cc_llhls_daterange_add(o->h, &dr), 0);
}

/* Date ranges added and ended between parts, and leaving with the window:
 * full playlists and both kinds of delta update match. */
static void test_dateranges(void **state)
{
    origin_t o;
    o_new(&o, 6000, T0);
    o_begin(&o);
    for (int i = 0; i < 6; i++)
        o_part(&o);
    edge_t e;
    e_new(&e, &o);
    e_step(&e, true);
    char id[32];
    for (int i = 0; i < 120; i++) {
        if (i % 7 == 0) {
            snprintf(id, sizeof(id), "card-%d", i);
            o_daterange(&o, id, o.pdt - 100, i % 14 == 0 ? 1500 : -1);
        }
        if (i % 7 == 3) {
            snprintf(id, sizeof(id), "card-%d", i - 3);
            if ((i - 3) % 14 != 0)
                assert_int_equal(cc_llhls_daterange_end(o.h, id, o.pdt), 0);
        }
        o_part(&o);
        assert_int_equal(e_step(&e, false), 0);
        same(&e, &o, true);
    }
    e_free(&e);
    cc_llhls_free(o.h);
}

/* The origin restarted (a new model: numbers from its new first PDT) or the
 * edge failed over to another origin: the walk says so, a resync follows. */
static void test_restarted_origin(void **state)
{
    origin_t o1, o2;
    o_new(&o1, 5000, T0);
    o_begin(&o1);
    for (int i = 0; i < 20; i++)
        o_part(&o1);
    edge_t e;
    e_new(&e, &o1);
    e_step(&e, true);
    same(&e, &o1, false);
    o_new(&o2, 5000, T0 + 60000);
    o_begin(&o2);
    for (int i = 0; i < 3; i++)
        o_part(&o2);
    e.src = &o2;
    assert_int_equal(e_step(&e, false), CC_EPROTO);
    same(&e, &o2, false);
    o_part(&o2);
    assert_int_equal(e_step(&e, false), 0);
    same(&e, &o2, false);
    /* A different TARGETDURATION is a different stream too. */
    origin_t o3;
    o_new(&o3, 5000, T0 + 120000);
    cc_llhls_config_t cfg;
    cc_llhls_config_default(&cfg);
    cfg.segment_target_ms = 2000;
    cc_llhls_free(o3.h);
    o3.h = cc_llhls_new(&cfg);
    o3.parts_per_seg = 10;
    o_begin(&o3);
    for (int i = 0; i < 25; i++)
        o_part(&o3);
    e.src = &o3;
    assert_int_equal(e_step(&e, false), CC_EPROTO);
    same(&e, &o3, false);
    e_free(&e);
    cc_llhls_free(o1.h);
    cc_llhls_free(o2.h);
    cc_llhls_free(o3.h);
}

/* Segments that started without a keyframe clear INDEPENDENT-SEGMENTS on
 * the origin before the edge joined: the mirror says the same. */
static void test_independent_history(void **state)
{
    origin_t o;
    o_new(&o, 5000, T0);
    o_begin(&o);
    char txt[] = "p";
    cc_buf_t *b = cc_buf_from(txt, 1);
    assert_int_equal(cc_llhls_add_part(o.h, b, 200, false, true, o.pdt), 0); /* not independent */
    cc_buf_unref(b);
    o.pdt += 200;
    o.in_seg = 1;
    for (int i = 0; i < 40; i++)
        o_part(&o);
    edge_t e;
    e_new(&e, &o);
    e_step(&e, true);
    same(&e, &o, false);
    e_free(&e);
    cc_llhls_free(o.h);
}

/* The mirror's API refuses what makes no sense, and changes nothing for a
 * model that never uses it. */
static void test_mirror_api(void **state)
{
    cc_llhls_config_t cfg;
    cc_llhls_config_default(&cfg);
    cc_llhls_t *h = cc_llhls_new(&cfg);
    cc_buf_t *b = cc_buf_from("x", 1);
    assert_int_equal(cc_llhls_mirror_add_segment(h, b, 1000, T0), CC_ESTATE); /* not a mirror */
    assert_int_equal(cc_llhls_mirror_expect_begin(h), CC_ESTATE);
    assert_int_equal(cc_llhls_mirror_start(h, 100, 500, 90), 0);
    assert_int_equal(cc_llhls_mirror_start(h, 100, 500, 90), CC_ESTATE);
    assert_int_equal(cc_llhls_mirror_add_segment(h, b, 1000, T0), CC_ESTATE); /* before begin */
    cc_llhls_variant_t v = {0};
    assert_int_equal(cc_llhls_begin(h, b, &v), 0);
    assert_int_equal(cc_llhls_mirror_add_segment(h, b, 2000, T0), CC_EINVAL); /* EXTINF over TD */
    assert_int_equal(cc_llhls_mirror_add_segment(h, b, 1000, T0), 0);
    cc_buf_t *seg = cc_llhls_get_segment(h, 100);
    assert_non_null(seg);
    cc_buf_unref(seg);
    cc_buf_t *init = cc_llhls_get_init(h, 90);
    assert_ptr_equal(init, b);
    cc_buf_unref(init);
    assert_int_equal(cc_llhls_add_part(h, b, 200, true, true, T0 + 1000), 0);
    cc_buf_t *p = cc_llhls_get_part(h, 500, NULL);
    assert_non_null(p);
    cc_buf_unref(p);
    cc_llhls_edge_t edge;
    cc_llhls_live_edge(h, &edge);
    assert_int_equal(edge.msn, 101);
    assert_int_equal(edge.part_seq, 500);
    /* multivariant bytes verbatim */
    cc_buf_t *mv = cc_buf_from("#EXTM3U\nX\n", 10);
    uint64_t v0 = cc_llhls_version(h);
    cc_llhls_set_multivariant(h, mv);
    assert_true(cc_llhls_version(h) > v0);
    cc_dynbuf_t d;
    cc_dynbuf_init(&d, 1000);
    assert_int_equal(cc_llhls_render_multivariant(h, &d), 0);
    assert_int_equal(d.len, 10);
    assert_memory_equal(d.data, "#EXTM3U\nX\n", 10);
    cc_dynbuf_free(&d);
    cc_buf_unref(mv);
    /* reset keeps the version counting up */
    uint64_t v1 = cc_llhls_version(h);
    assert_int_equal(cc_llhls_mirror_reset(h, &cfg), 0);
    assert_true(cc_llhls_version(h) > v1);
    assert_null(cc_llhls_get_part(h, 500, NULL));
    cc_dynbuf_init(&d, 1000);
    assert_int_equal(cc_llhls_render_media(h, 0, &d), CC_EAGAIN);
    cc_dynbuf_free(&d);
    cfg.part_target_ms = 1;
    assert_int_equal(cc_llhls_mirror_reset(h, &cfg), CC_ECONFIG);
    cc_buf_unref(b);
    cc_llhls_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mirror_api),
        cmocka_unit_test(test_join_anywhere),
        cmocka_unit_test(test_lag),
        cmocka_unit_test(test_republish),
        cmocka_unit_test(test_dateranges),
        cmocka_unit_test(test_restarted_origin),
        cmocka_unit_test(test_independent_history),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

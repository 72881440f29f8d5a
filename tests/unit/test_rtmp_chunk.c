/* RTMP chunk stream: reassembly under every split, header types 0-3,
 * extended timestamps, Set Chunk Size, Abort, and every cap. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/err.h"
#include "ingest/rtmp/chunk.h"

#define MAXMSG 64

typedef struct got {
    int n;
    cc_rtmp_msg_t m[MAXMSG];
    int err;
} got_t;

static void got_free(got_t *g)
{
    for (int i = 0; i < g->n; i++)
        cc_buf_unref(g->m[i].body);
    g->n = 0;
}

/* Feeds [p, p+len) in pieces of `step` bytes (0 = whole), or split once at
 * `split` when step < 0. */
static void feed(cc_rtmp_chunk_reader_t *r, got_t *g, const uint8_t *p, size_t len, long step, size_t split)
{
    size_t off = 0;
    g->err = 0;
    while (off < len) {
        size_t n = len - off;
        if (step > 0 && (size_t)step < n)
            n = (size_t)step;
        if (step < 0 && off < split)
            n = split - off;
        /* A private copy of each piece so ASan catches reads past it. */
        uint8_t *piece = malloc(n);
        memcpy(piece, p + off, n);
        size_t at = 0;
        while (at < n) {
            size_t used;
            cc_rtmp_msg_t m;
            int rc = cc_rtmp_chunk_read(r, piece + at, n - at, &used, &m);
            at += used;
            if (rc == CC_EAGAIN) {
                assert_int_equal(at, n);
                break;
            }
            if (rc < 0) {
                g->err = rc;
                free(piece);
                return;
            }
            assert_int_equal(rc, 1);
            assert_true(g->n < MAXMSG);
            g->m[g->n++] = m;
        }
        free(piece);
        off += n;
    }
}

static void run_all_splits(const uint8_t *p, size_t len, void (*check)(got_t *g), const cc_rtmp_chunk_limits_t *lim)
{
    cc_rtmp_chunk_reader_t r;
    got_t g = {0};
    /* whole, byte by byte, a few odd steps, then split once at every offset */
    long steps[] = {0, 1, 2, 3, 7, 128, 129};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        cc_rtmp_chunk_reader_init(&r, lim);
        feed(&r, &g, p, len, steps[i], 0);
        check(&g);
        got_free(&g);
        cc_rtmp_chunk_reader_free(&r);
    }
    for (size_t s = 0; s <= len; s++) {
        cc_rtmp_chunk_reader_init(&r, lim);
        feed(&r, &g, p, len, -1, s);
        check(&g);
        got_free(&g);
        cc_rtmp_chunk_reader_free(&r);
    }
}

/* ---- writer -> reader round trip ---- */

static uint8_t big[20000];
static cc_dynbuf_t rt_stream;

static void check_roundtrip(got_t *g)
{
    assert_int_equal(g->err, 0);
    assert_int_equal(g->n, 6);
    assert_int_equal(g->m[0].csid, 3);
    assert_int_equal(g->m[0].type, 20);
    assert_int_equal(g->m[0].body->len, 5);
    assert_memory_equal(g->m[0].body->data, "hello", 5);
    /* big message on a 2-byte csid, split into 128-byte chunks */
    assert_int_equal(g->m[1].csid, 100);
    assert_int_equal(g->m[1].stream_id, 0x01020304);
    assert_int_equal(g->m[1].timestamp, 1000);
    assert_int_equal(g->m[1].body->len, sizeof(big));
    assert_memory_equal(g->m[1].body->data, big, sizeof(big));
    /* extended timestamp on a 3-byte csid, repeated on every type 3 chunk */
    assert_int_equal(g->m[2].csid, 40000);
    assert_int_equal(g->m[2].timestamp, 0x12345678);
    assert_int_equal(g->m[2].body->len, 1000);
    assert_memory_equal(g->m[2].body->data, big, 1000);
    /* empty message */
    assert_int_equal(g->m[3].body->len, 0);
    assert_int_equal(g->m[3].type, 4);
    /* exactly 0xFFFFFF is already extended */
    assert_int_equal(g->m[4].timestamp, 0xFFFFFF);
    assert_int_equal(g->m[4].body->len, 300);
    /* exactly one chunk */
    assert_int_equal(g->m[5].body->len, 128);
}

static void test_roundtrip(void **state)
{
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 31 + (i >> 8));
    cc_dynbuf_init(&rt_stream, 1 << 20);
    assert_int_equal(cc_rtmp_chunk_write(&rt_stream, 128, 3, 20, 0, 0, (const uint8_t *)"hello", 5), 0);
    assert_int_equal(cc_rtmp_chunk_write(&rt_stream, 128, 100, 9, 0x01020304, 1000, big, sizeof(big)), 0);
    assert_int_equal(cc_rtmp_chunk_write(&rt_stream, 128, 40000, 8, 1, 0x12345678, big, 1000), 0);
    assert_int_equal(cc_rtmp_chunk_write(&rt_stream, 128, 2, 4, 0, 0, NULL, 0), 0);
    assert_int_equal(cc_rtmp_chunk_write(&rt_stream, 128, 5, 8, 1, 0xFFFFFF, big, 300), 0);
    assert_int_equal(cc_rtmp_chunk_write(&rt_stream, 128, 5, 8, 1, 5, big, 128), 0);
    /* the whole split-every-offset run over 23 KB is quadratic: fine in C */
    run_all_splits(rt_stream.data, rt_stream.len, check_roundtrip, NULL);
    assert_int_equal(cc_rtmp_chunk_write(&rt_stream, 128, 1, 8, 1, 5, big, 1), CC_EINVAL);
    cc_dynbuf_free(&rt_stream);
}

/* ---- header types 1/2/3, deltas, extended timestamps on type 3 ---- */

static size_t b_len;
static uint8_t b_buf[4096];

static void put(const void *p, size_t n)
{
    memcpy(b_buf + b_len, p, n);
    b_len += n;
}
static void put8(uint8_t v) { put(&v, 1); }
static void put24(uint32_t v)
{
    uint8_t b[3];
    cc_wr24(b, v);
    put(b, 3);
}
static void put32(uint32_t v)
{
    uint8_t b[4];
    cc_wr32(b, v);
    put(b, 4);
}
static void fill(size_t n, uint8_t v)
{
    memset(b_buf + b_len, v, n);
    b_len += n;
}

static void check_types(got_t *g)
{
    assert_int_equal(g->err, 0);
    assert_int_equal(g->n, 7);
    /* fmt 0 ts 100 len 10 type 9 msid 1 */
    assert_int_equal(g->m[0].timestamp, 100);
    assert_int_equal(g->m[0].stream_id, 1);
    assert_int_equal(g->m[0].body->len, 10);
    /* fmt 1 delta 33, len 20, type 8 */
    assert_int_equal(g->m[1].timestamp, 133);
    assert_int_equal(g->m[1].type, 8);
    assert_int_equal(g->m[1].stream_id, 1);
    assert_int_equal(g->m[1].body->len, 20);
    /* fmt 2 delta 40 */
    assert_int_equal(g->m[2].timestamp, 173);
    assert_int_equal(g->m[2].body->len, 20);
    /* fmt 3 new message: delta 40 again */
    assert_int_equal(g->m[3].timestamp, 213);
    assert_int_equal(g->m[3].body->len, 20);
    assert_int_equal(g->m[3].body->data[0], 0x33);
    /* fmt 0 with an extended timestamp, 300 bytes in 3 chunks, ext ts on each type 3 */
    assert_int_equal(g->m[4].csid, 7);
    assert_int_equal(g->m[4].timestamp, 0x01000000);
    assert_int_equal(g->m[4].body->len, 300);
    for (int i = 0; i < 300; i++)
        assert_int_equal(g->m[4].body->data[i], (uint8_t)(i < 128 ? 0xA0 : i < 256 ? 0xA1 : 0xA2));
    /* fmt 3 new message after an extended header: the 4 bytes are the delta */
    assert_int_equal(g->m[5].timestamp, 0x01000000 + 0x01000000);
    assert_int_equal(g->m[5].body->len, 300);
    /* a Set Chunk Size is acted on and returned */
    assert_int_equal(g->m[6].type, CC_RTMP_MSG_SET_CHUNK_SIZE);
}

static void test_header_types(void **state)
{
    b_len = 0;
    /* csid 4 */
    put8(0x04); put24(100); put24(10); put8(9); put8(1); put8(0); put8(0); put8(0);
    fill(10, 0x11);
    put8(0x44); put24(33); put24(20); put8(8);
    fill(20, 0x22);
    put8(0x84); put24(40);
    fill(20, 0x22);
    put8(0xC4);
    fill(20, 0x33);
    /* csid 7 with extended timestamp */
    put8(0x07); put24(0xFFFFFF); put24(300); put8(9); put8(1); put8(0); put8(0); put8(0); put32(0x01000000);
    fill(128, 0xA0);
    put8(0xC7); put32(0x01000000);
    fill(128, 0xA1);
    put8(0xC7); put32(0x01000000);
    fill(44, 0xA2);
    /* new message, type 3, ext delta */
    put8(0xC7); put32(0x01000000);
    fill(128, 0xB0);
    put8(0xC7); put32(0x01000000);
    fill(128, 0xB1);
    put8(0xC7); put32(0x01000000);
    fill(44, 0xB2);
    /* Set Chunk Size 4096 */
    put8(0x02); put24(0); put24(4); put8(1); put32(0); put32(4096);
    run_all_splits(b_buf, b_len, check_types, NULL);
}

static void check_setchunk(got_t *g)
{
    assert_int_equal(g->err, 0);
    assert_int_equal(g->n, 3);
    assert_int_equal(g->m[1].body->len, 1000);
    assert_int_equal(g->m[2].type, 8);
    assert_int_equal(g->m[2].body->len, 5);
}

static void test_set_chunk_size_and_abort(void **state)
{
    b_len = 0;
    put8(0x02); put24(0); put24(4); put8(1); put32(0); put32(1000);
    /* one 1000-byte message in one chunk */
    put8(0x04); put24(0); put24(1000); put8(9); put32(0);
    fill(1000, 0x5A);
    /* start a message on csid 6, then abort it, then a fresh one */
    put8(0x06); put24(0); put24(2000); put8(8); put32(0);
    fill(1000, 0x01);
    put8(0x02); put24(0); put24(4); put8(2); put32(0); put32(6);
    put8(0x06); put24(0); put24(5); put8(8); put32(0);
    fill(5, 0x02);
    /* abort is returned as a message too */
    cc_rtmp_chunk_reader_t r;
    got_t g = {0};
    cc_rtmp_chunk_reader_init(&r, NULL);
    feed(&r, &g, b_buf, b_len, 0, 0);
    assert_int_equal(g.err, 0);
    assert_int_equal(g.n, 4);
    assert_int_equal(g.m[2].type, CC_RTMP_MSG_ABORT);
    assert_int_equal(r.pending, 0);
    got_free(&g);
    cc_rtmp_chunk_reader_free(&r);
    /* and, without the Abort, under every split (abort case counts differently) */
    b_len = 0;
    put8(0x02); put24(0); put24(4); put8(1); put32(0); put32(1000);
    put8(0x04); put24(0); put24(1000); put8(9); put32(0);
    fill(1000, 0x5A);
    put8(0x06); put24(0); put24(5); put8(8); put32(0);
    fill(5, 0x02);
    run_all_splits(b_buf, b_len, check_setchunk, NULL);
}

/* ---- caps and malformed input ---- */

static int feed_err(const uint8_t *p, size_t len, const cc_rtmp_chunk_limits_t *lim, const char **reason)
{
    /* The same error whatever the split. */
    int first = 1, err = 0;
    long steps[] = {0, 1, 5};
    for (size_t i = 0; i < 3; i++) {
        cc_rtmp_chunk_reader_t r;
        got_t g = {0};
        cc_rtmp_chunk_reader_init(&r, lim);
        feed(&r, &g, p, len, steps[i], 0);
        if (first)
            err = g.err;
        else
            assert_int_equal(g.err, err);
        first = 0;
        *reason = r.reason;
        got_free(&g);
        cc_rtmp_chunk_reader_free(&r);
    }
    return err;
}

static void test_caps(void **state)
{
    const char *reason;
    cc_rtmp_chunk_limits_t lim;
    cc_rtmp_chunk_limits_default(&lim);

    /* chunk size over the cap (and the spec's 2^31-1) */
    b_len = 0;
    put8(0x02); put24(0); put24(4); put8(1); put32(0); put32(65537);
    assert_int_equal(feed_err(b_buf, b_len, NULL, &reason), CC_ETOOBIG);
    assert_string_equal(reason, "chunk_size_over_cap");
    b_len = 0;
    put8(0x02); put24(0); put24(4); put8(1); put32(0); put32(0x7FFFFFFF);
    assert_int_equal(feed_err(b_buf, b_len, NULL, &reason), CC_ETOOBIG);
    b_len = 0;
    put8(0x02); put24(0); put24(4); put8(1); put32(0); put32(0);
    assert_int_equal(feed_err(b_buf, b_len, NULL, &reason), CC_EPROTO);
    b_len = 0;
    put8(0x02); put24(0); put24(2); put8(1); put32(0); put8(0); put8(1);
    assert_int_equal(feed_err(b_buf, b_len, NULL, &reason), CC_EPROTO);
    /* exactly at the cap is fine */
    b_len = 0;
    put8(0x02); put24(0); put24(4); put8(1); put32(0); put32(65536);
    assert_int_equal(feed_err(b_buf, b_len, NULL, &reason), 0);

    /* message length over the cap: refused on the header, before any body byte */
    lim.max_message_size = 1000;
    b_len = 0;
    put8(0x04); put24(0); put24(1001); put8(9); put32(0);
    assert_int_equal(feed_err(b_buf, b_len, &lim, &reason), CC_ETOOBIG);
    assert_string_equal(reason, "message_too_big");
    b_len = 0;
    put8(0x04); put24(0); put24(0xFFFFFF); put8(9); put32(0);
    assert_int_equal(feed_err(b_buf, b_len, NULL, &reason), CC_ETOOBIG);

    /* too many chunk streams */
    cc_rtmp_chunk_limits_default(&lim);
    lim.max_chunk_streams = 4;
    b_len = 0;
    for (int i = 0; i < 5; i++) {
        put8((uint8_t)(3 + i)); put24(0); put24(1); put8(9); put32(0); put8(0);
    }
    assert_int_equal(feed_err(b_buf, b_len, &lim, &reason), CC_ELIMIT);
    assert_string_equal(reason, "too_many_chunk_streams");
    lim.max_chunk_streams = 5;
    assert_int_equal(feed_err(b_buf, b_len, &lim, &reason), 0);
    /* default cap 64, with 2- and 3-byte ids */
    b_len = 0;
    for (int i = 0; i < 65; i++) {
        put8(0x01); put8((uint8_t)i); put8(1); put24(0); put24(1); put8(9); put32(0); put8(0);
    }
    assert_int_equal(feed_err(b_buf, b_len, NULL, &reason), CC_ELIMIT);

    /* pending bytes across chunk streams */
    cc_rtmp_chunk_limits_default(&lim);
    lim.max_pending_bytes = 3000;
    b_len = 0;
    put8(0x04); put24(0); put24(2000); put8(9); put32(0);
    fill(128, 0);
    put8(0x05); put24(0); put24(2000); put8(9); put32(0);
    assert_int_equal(feed_err(b_buf, b_len, &lim, &reason), CC_ELIMIT);
    assert_string_equal(reason, "too_many_pending_bytes");

    /* a chunk stream that starts without a type 0 header */
    b_len = 0;
    put8(0x44); put24(0); put24(1); put8(9); put8(0);
    assert_int_equal(feed_err(b_buf, b_len, NULL, &reason), CC_EPROTO);
    b_len = 0;
    put8(0xC4); put8(0);
    assert_int_equal(feed_err(b_buf, b_len, NULL, &reason), CC_EPROTO);
}

/* A full header in the middle of a message drops the partial one. */
static void test_restart_midmessage(void **state)
{
    b_len = 0;
    put8(0x04); put24(0); put24(500); put8(9); put32(0);
    fill(128, 1);
    put8(0x04); put24(10); put24(3); put8(8); put32(0);
    fill(3, 2);
    cc_rtmp_chunk_reader_t r;
    got_t g = {0};
    cc_rtmp_chunk_reader_init(&r, NULL);
    feed(&r, &g, b_buf, b_len, 1, 0);
    assert_int_equal(g.err, 0);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.m[0].body->len, 3);
    assert_int_equal(g.m[0].timestamp, 10);
    assert_int_equal(r.pending, 0);
    got_free(&g);
    cc_rtmp_chunk_reader_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_header_types),
        cmocka_unit_test(test_set_chunk_size_and_abort),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_restart_midmessage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

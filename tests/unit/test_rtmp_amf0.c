/* AMF0: every type, byte-exact round trips, every truncation, every cap. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/err.h"
#include "ingest/rtmp/amf0.h"

#define SLOTS 256
static cc_amf0_value_t slots[SLOTS];

/* Decodes from an exactly-sized heap copy, so ASan sees any overread. */
static int decode_copy(cc_amf0_arena_t *a, const uint8_t *p, size_t len, cc_amf0_value_t **v, uint8_t **keep)
{
    uint8_t *c = malloc(len ? len : 1);
    if (len)
        memcpy(c, p, len);
    int rc = cc_amf0_decode(a, c, len, v);
    if (keep)
        *keep = c;
    else
        free(c);
    return rc;
}

static void build_sample(cc_dynbuf_t *d, int long_string)
{
    cc_amf0_writer_t w = {d, 0};
    cc_amf0_put_object_start(&w);
    cc_amf0_put_key(&w, "num");
    cc_amf0_put_number(&w, 29.97);
    cc_amf0_put_key(&w, "yes");
    cc_amf0_put_bool(&w, true);
    cc_amf0_put_key(&w, "str");
    cc_amf0_put_string(&w, "live");
    cc_amf0_put_key(&w, "nil");
    cc_amf0_put_null(&w);
    cc_amf0_put_key(&w, "undef");
    cc_amf0_put_undefined(&w);
    cc_amf0_put_key(&w, "arr");
    cc_amf0_put_ecma_start(&w, 2);
    cc_amf0_put_key(&w, "a");
    cc_amf0_put_number(&w, 1);
    cc_amf0_put_key(&w, "b");
    cc_amf0_put_string(&w, "");
    cc_amf0_put_object_end(&w);
    cc_amf0_put_key(&w, "strict");
    /* strict array of 3 by hand: number, string, nested object */
    uint8_t sa[5] = {CC_AMF0_STRICT_ARRAY, 0, 0, 0, 3};
    cc_dynbuf_append(d, sa, 5);
    cc_amf0_put_number(&w, -1);
    cc_amf0_put_string(&w, "x");
    cc_amf0_put_object_start(&w);
    cc_amf0_put_object_end(&w);
    cc_amf0_put_key(&w, "date");
    uint8_t date[11] = {CC_AMF0_DATE, 0x42, 0x77, 0x0b, 0x1d, 0x4c, 0x80, 0x00, 0x00, 0x00, 0x00};
    cc_dynbuf_append(d, date, 11);
    if (long_string) {
        cc_amf0_put_key(&w, "long");
        char *ls = malloc(70001);
        memset(ls, 'L', 70000);
        ls[70000] = 0;
        cc_amf0_put_string(&w, ls); /* > 65535: written as a long string */
        free(ls);
    }
    cc_amf0_put_object_end(&w);
    assert_int_equal(w.err, 0);
}

static void check_sample(const cc_amf0_value_t *v, int long_string)
{
    assert_int_equal(v->type, CC_AMF0_OBJECT);
    assert_int_equal(v->count, long_string ? 9 : 8);
    assert_true(cc_amf0_num(cc_amf0_get(v, "num"), 0) == 29.97);
    const cc_amf0_value_t *b = cc_amf0_get(v, "yes");
    assert_non_null(b);
    assert_int_equal(b->type, CC_AMF0_BOOLEAN);
    assert_true(b->u.boolean);
    assert_true(cc_amf0_str_eq(cc_amf0_get(v, "str"), "live"));
    assert_int_equal(cc_amf0_get(v, "nil")->type, CC_AMF0_NULL);
    assert_int_equal(cc_amf0_get(v, "undef")->type, CC_AMF0_UNDEFINED);
    const cc_amf0_value_t *arr = cc_amf0_get(v, "arr");
    assert_int_equal(arr->type, CC_AMF0_ECMA_ARRAY);
    assert_int_equal(arr->count, 2);
    assert_true(cc_amf0_num(cc_amf0_get(arr, "a"), 0) == 1);
    assert_true(cc_amf0_str_eq(cc_amf0_get(arr, "b"), ""));
    const cc_amf0_value_t *sa = cc_amf0_get(v, "strict");
    assert_int_equal(sa->type, CC_AMF0_STRICT_ARRAY);
    assert_int_equal(sa->count, 3);
    assert_true(sa->child->u.number == -1);
    assert_true(cc_amf0_str_eq(sa->child->next, "x"));
    assert_int_equal(sa->child->next->next->type, CC_AMF0_OBJECT);
    assert_null(sa->child->next->next->next);
    assert_int_equal(cc_amf0_get(v, "date")->type, CC_AMF0_DATE);
    if (long_string) {
        const cc_amf0_value_t *ls = cc_amf0_get(v, "long");
        assert_int_equal(ls->type, CC_AMF0_LONG_STRING);
        assert_int_equal(ls->u.str.len, 70000);
    }
    assert_null(cc_amf0_get(v, "missing"));
    char buf[8];
    assert_int_equal(cc_amf0_str_copy(cc_amf0_get(v, "str"), buf, sizeof(buf)), 0);
    assert_string_equal(buf, "live");
    assert_int_equal(cc_amf0_str_copy(cc_amf0_get(v, "str"), buf, 4), CC_ETOOBIG);
    assert_int_equal(cc_amf0_str_copy(cc_amf0_get(v, "num"), buf, 8), CC_EINVAL);
}

static void test_roundtrip_and_every_prefix(void **state)
{
    cc_dynbuf_t d;
    cc_amf0_limits_t lim;
    cc_amf0_limits_default(&lim);
    lim.max_string = 100000;
    cc_amf0_arena_t a;
    cc_amf0_value_t *v;
    uint8_t *keep;
    for (int long_string = 1; long_string >= 0; long_string--) {
        cc_dynbuf_init(&d, 1 << 20);
        build_sample(&d, long_string);
        cc_amf0_arena_init(&a, slots, SLOTS, &lim);
        assert_int_equal(decode_copy(&a, d.data, d.len, &v, &keep), (int)d.len);
        check_sample(v, long_string);
        /* re-encoding gives the same bytes */
        cc_dynbuf_t e;
        cc_dynbuf_init(&e, 1 << 20);
        cc_amf0_writer_t w = {&e, 0};
        cc_amf0_put_value(&w, v);
        assert_int_equal(w.err, 0);
        assert_int_equal(e.len, d.len);
        assert_memory_equal(e.data, d.data, d.len);
        free(keep);
        cc_dynbuf_free(&e);
        if (long_string)
            cc_dynbuf_free(&d);
    }
    /* every strict prefix is "need more", never an error or a crash, and
     * leaves the arena as it was */
    for (size_t n = 0; n < d.len; n++) {
        cc_amf0_arena_init(&a, slots, SLOTS, &lim);
        assert_int_equal(decode_copy(&a, d.data, n, &v, NULL), CC_EAGAIN);
        assert_int_equal(a.used, 0);
        assert_null(v);
    }
    /* trailing bytes are left alone */
    assert_int_equal(cc_dynbuf_append(&d, "\x05\x05", 2), 0);
    cc_amf0_arena_init(&a, slots, SLOTS, &lim);
    assert_int_equal(cc_amf0_decode(&a, d.data, d.len, &v), (int)d.len - 2);
    cc_dynbuf_free(&d);
}

/* A command as two values split at every offset between calls to decode_all. */
static void test_sequence(void **state)
{
    cc_dynbuf_t d;
    cc_dynbuf_init(&d, 4096);
    cc_amf0_writer_t w = {&d, 0};
    cc_amf0_put_string(&w, "connect");
    cc_amf0_put_number(&w, 1);
    cc_amf0_put_object_start(&w);
    cc_amf0_put_key(&w, "app");
    cc_amf0_put_string(&w, "live");
    cc_amf0_put_object_end(&w);
    cc_amf0_put_null(&w);
    cc_amf0_arena_t a;
    cc_amf0_value_t *v[8];
    size_t n;
    cc_amf0_arena_init(&a, slots, SLOTS, NULL);
    assert_int_equal(cc_amf0_decode_all(&a, d.data, d.len, v, 8, &n), (int)d.len);
    assert_int_equal(n, 4);
    assert_true(cc_amf0_str_eq(v[0], "connect"));
    assert_true(cc_amf0_str_eq(cc_amf0_get(v[2], "app"), "live"));
    /* max values stops early */
    cc_amf0_arena_init(&a, slots, SLOTS, NULL);
    int used = cc_amf0_decode_all(&a, d.data, d.len, v, 2, &n);
    assert_int_equal(n, 2);
    assert_true(used > 0 && (size_t)used < d.len);
    /* split at every offset: decode what the first part holds, then resume */
    for (size_t s = 0; s <= d.len; s++) {
        cc_amf0_arena_init(&a, slots, SLOTS, NULL);
        size_t total = 0, off = 0;
        while (off < s) {
            cc_amf0_value_t *x;
            int rc = cc_amf0_decode(&a, d.data + off, s - off, &x);
            if (rc == CC_EAGAIN)
                break;
            assert_true(rc > 0);
            off += (size_t)rc;
            total++;
        }
        while (off < d.len) {
            cc_amf0_value_t *x;
            int rc = cc_amf0_decode(&a, d.data + off, d.len - off, &x);
            assert_true(rc > 0);
            off += (size_t)rc;
            total++;
        }
        assert_int_equal(total, 4);
    }
    cc_dynbuf_free(&d);
}

static int dec(const uint8_t *p, size_t len, const cc_amf0_limits_t *lim, uint32_t nslots)
{
    cc_amf0_arena_t a;
    cc_amf0_value_t *v;
    cc_amf0_arena_init(&a, slots, nslots, lim);
    return decode_copy(&a, p, len, &v, NULL);
}

static void test_depth(void **state)
{
    uint8_t b[128];
    /* 16 objects deep is fine, 17 is not. */
    for (int depth = 16; depth <= 17; depth++) {
        cc_dynbuf_t d;
        cc_dynbuf_init(&d, 4096);
        cc_amf0_writer_t w = {&d, 0};
        for (int i = 0; i < depth; i++) {
            cc_amf0_put_object_start(&w);
            cc_amf0_put_key(&w, "k");
        }
        cc_amf0_put_null(&w);
        for (int i = 0; i < depth; i++)
            cc_amf0_put_object_end(&w);
        int rc = dec(d.data, d.len, NULL, SLOTS);
        if (depth == 16)
            assert_int_equal(rc, (int)d.len);
        else
            assert_int_equal(rc, CC_EDEPTH);
        /* the depth cap fires before the input runs out: truncated input too */
        if (depth == 17)
            assert_int_equal(dec(d.data, 17 * 4, NULL, SLOTS), CC_EDEPTH);
        cc_dynbuf_free(&d);
    }
    /* a configured cap above 16 is clamped */
    cc_amf0_limits_t lim;
    cc_amf0_limits_default(&lim);
    lim.max_depth = 1000;
    memset(b, CC_AMF0_STRICT_ARRAY, sizeof(b));
    /* 0x0A0A0A0A elements: the count is refused first */
    assert_int_equal(dec(b, sizeof(b), &lim, SLOTS), CC_ETOOBIG);
    lim.max_elements = 0xFFFFFFFF;
    assert_int_equal(dec(b, sizeof(b), &lim, SLOTS), CC_EDEPTH);
}

static void test_caps(void **state)
{
    cc_amf0_limits_t lim;
    cc_amf0_limits_default(&lim);
    lim.max_string = 100;
    /* string over the cap: refused on the length, before the bytes arrive */
    uint8_t s[] = {CC_AMF0_STRING, 0, 101};
    assert_int_equal(dec(s, sizeof(s), &lim, SLOTS), CC_ETOOBIG);
    uint8_t s2[] = {CC_AMF0_STRING, 0, 100};
    assert_int_equal(dec(s2, sizeof(s2), &lim, SLOTS), CC_EAGAIN);
    uint8_t ls[] = {CC_AMF0_LONG_STRING, 0xFF, 0xFF, 0xFF, 0xFF};
    assert_int_equal(dec(ls, sizeof(ls), NULL, SLOTS), CC_ETOOBIG);
    /* keys are capped too */
    uint8_t k[] = {CC_AMF0_OBJECT, 0x01, 0x00};
    assert_int_equal(dec(k, sizeof(k), &lim, SLOTS), CC_ETOOBIG);
    /* strict array count from the wire: refused on the count */
    uint8_t sa[] = {CC_AMF0_STRICT_ARRAY, 0xFF, 0xFF, 0xFF, 0xFF};
    assert_int_equal(dec(sa, sizeof(sa), NULL, SLOTS), CC_ETOOBIG);
    uint8_t sa2[] = {CC_AMF0_STRICT_ARRAY, 0, 0, 4, 0}; /* 1024: at the cap, just truncated */
    assert_int_equal(dec(sa2, sizeof(sa2), NULL, SLOTS), CC_EAGAIN);
    uint8_t sa3[] = {CC_AMF0_STRICT_ARRAY, 0, 0, 4, 1};
    assert_int_equal(dec(sa3, sizeof(sa3), NULL, SLOTS), CC_ETOOBIG);
    /* an ECMA count is a hint: a huge one with no members decodes */
    uint8_t ea[] = {CC_AMF0_ECMA_ARRAY, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, CC_AMF0_OBJECT_END};
    assert_int_equal(dec(ea, sizeof(ea), NULL, SLOTS), (int)sizeof(ea));
    /* members per object */
    lim.max_elements = 3;
    cc_dynbuf_t d;
    cc_dynbuf_init(&d, 4096);
    cc_amf0_writer_t w = {&d, 0};
    cc_amf0_put_object_start(&w);
    for (int i = 0; i < 4; i++) {
        cc_amf0_put_key(&w, "k");
        cc_amf0_put_null(&w);
    }
    cc_amf0_put_object_end(&w);
    assert_int_equal(dec(d.data, d.len, &lim, SLOTS), CC_ETOOBIG);
    lim.max_elements = 4;
    assert_int_equal(dec(d.data, d.len, &lim, SLOTS), (int)d.len);
    /* the arena is the total-values cap */
    assert_int_equal(dec(d.data, d.len, &lim, 4), CC_ELIMIT);
    assert_int_equal(dec(d.data, d.len, &lim, 5), (int)d.len);
    cc_dynbuf_free(&d);
}

static void test_malformed(void **state)
{
    uint8_t end[] = {CC_AMF0_OBJECT_END};
    assert_int_equal(dec(end, 1, NULL, SLOTS), CC_EPROTO);
    uint8_t ref[] = {0x07, 0, 1};
    assert_int_equal(dec(ref, 3, NULL, SLOTS), CC_EUNSUPPORTED);
    uint8_t avm[] = {0x11, 0};
    assert_int_equal(dec(avm, 2, NULL, SLOTS), CC_EUNSUPPORTED);
    uint8_t bad[] = {0x42};
    assert_int_equal(dec(bad, 1, NULL, SLOTS), CC_EPROTO);
    /* object end inside a strict array is an error, not a terminator */
    uint8_t sa[] = {CC_AMF0_STRICT_ARRAY, 0, 0, 0, 2, CC_AMF0_NULL, CC_AMF0_OBJECT_END};
    assert_int_equal(dec(sa, sizeof(sa), NULL, SLOTS), CC_EPROTO);
    assert_int_equal(dec(NULL, 0, NULL, SLOTS), CC_EAGAIN);
    /* empty key with a value is legal */
    uint8_t ek[] = {CC_AMF0_OBJECT, 0, 0, CC_AMF0_NULL, 0, 0, CC_AMF0_OBJECT_END};
    assert_int_equal(dec(ek, sizeof(ek), NULL, SLOTS), (int)sizeof(ek));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_and_every_prefix),
        cmocka_unit_test(test_sequence),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* RTMP handshake: SHA-256/HMAC vectors, plain and digest (scheme 0 and 1)
 * replies that a verifying client accepts, any split of the input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/err.h"
#include "ingest/rtmp/handshake.h"
#include "ingest/rtmp/sha256.h"

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_sha256_vectors(void **state)
{
    uint8_t d[32];
    char h[65];
    cc__sha256("abc", 3, d);
    hex(d, 32, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    cc__sha256("", 0, d);
    hex(d, 32, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    cc__sha256(m, strlen(m), d);
    hex(d, 32, h);
    assert_string_equal(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* a million 'a's, fed in uneven pieces */
    cc_sha256_t c;
    cc__sha256_init(&c);
    char a[1001];
    memset(a, 'a', sizeof(a));
    for (int i = 0; i < 1000; i++)
        cc__sha256_update(&c, a, i % 2 ? 999 : 1001);
    cc__sha256_final(&c, d);
    hex(d, 32, h);
    assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* RFC 4231 test case 2, message split in two pieces */
    cc__hmac_sha256((const uint8_t *)"Jefe", 4, (const uint8_t *)"what do ya want ", 16,
                    (const uint8_t *)"for nothing?", 12, d);
    hex(d, 32, h);
    assert_string_equal(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* RFC 4231 test case 6: a key longer than the block */
    uint8_t key[131];
    memset(key, 0xaa, sizeof(key));
    const char *msg = "Test Using Larger Than Block-Size Key - Hash Key First";
    cc__hmac_sha256(key, sizeof(key), (const uint8_t *)msg, strlen(msg), NULL, 0, d);
    hex(d, 32, h);
    assert_string_equal(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void make_c0c1(uint8_t *buf, int scheme)
{
    buf[0] = 3;
    uint8_t *c1 = buf + 1;
    for (int i = 0; i < CC_RTMP_HANDSHAKE_SIZE; i++)
        c1[i] = (uint8_t)(i * 13 + 5);
    memset(c1, 0, 4);
    if (scheme < 0) {
        memset(c1 + 4, 0, 4);
    } else {
        c1[4] = 9, c1[5] = 0, c1[6] = 124, c1[7] = 2;
        cc_rtmp_handshake_imprint(c1, scheme, cc_rtmp_fp_key, 30);
    }
}

/* Runs the server over C0 C1 C2 + 5 extra bytes, fed in `step` pieces. */
static void run(int scheme, size_t step, cc_dynbuf_t *out, int *scheme_seen)
{
    static uint8_t in[1 + 2 * CC_RTMP_HANDSHAKE_SIZE + 5];
    make_c0c1(in, scheme);
    memset(in + 1 + CC_RTMP_HANDSHAKE_SIZE, 0x77, CC_RTMP_HANDSHAKE_SIZE);
    memcpy(in + sizeof(in) - 5, "after", 5);
    cc_rtmp_handshake_t hs;
    cc_rtmp_handshake_init(&hs, 42, 1000);
    size_t off = 0;
    int rc = CC_EAGAIN;
    while (off < sizeof(in)) {
        size_t n = step && step < sizeof(in) - off ? step : sizeof(in) - off;
        size_t used;
        rc = cc_rtmp_handshake_feed(&hs, in + off, n, &used, out);
        off += used;
        if (rc == 0)
            break;
        assert_int_equal(rc, CC_EAGAIN);
        assert_int_equal(used, n);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(off, sizeof(in) - 5); /* the chunk stream is left alone */
    assert_int_equal(hs.state, CC_RTMP_HS_DONE);
    *scheme_seen = hs.scheme;
}

static void test_plain(void **state)
{
    cc_dynbuf_t out;
    cc_dynbuf_init(&out, 1 << 16);
    int scheme;
    run(-1, 0, &out, &scheme);
    assert_int_equal(scheme, -1);
    assert_int_equal(out.len, 1 + 2 * CC_RTMP_HANDSHAKE_SIZE);
    assert_int_equal(out.data[0], 3);
    assert_int_equal(cc_rd32(out.data + 1), 1000);
    assert_int_equal(cc_rd32(out.data + 5), 0);
    uint8_t c0c1[1 + CC_RTMP_HANDSHAKE_SIZE];
    make_c0c1(c0c1, -1);
    /* S2 echoes C1 apart from the time2 field */
    assert_memory_equal(out.data + 1 + CC_RTMP_HANDSHAKE_SIZE + 8, c0c1 + 9, CC_RTMP_HANDSHAKE_SIZE - 8);
    /* byte by byte gives the same reply (same seed) */
    cc_dynbuf_t out2;
    cc_dynbuf_init(&out2, 1 << 16);
    run(-1, 1, &out2, &scheme);
    assert_int_equal(out2.len, out.len);
    assert_memory_equal(out2.data, out.data, out.len);
    cc_dynbuf_free(&out);
    cc_dynbuf_free(&out2);
}

static void check_digest_reply(int scheme, const uint8_t *out)
{
    const uint8_t *s1 = out + 1, *s2 = out + 1 + CC_RTMP_HANDSHAKE_SIZE;
    assert_true(s1[4] >= 3); /* ffmpeg verifies S1 only when this is >= 3 */
    /* what a verifying client (ffmpeg's rtmp_handshake in play mode) checks */
    assert_true(cc_rtmp_handshake_verify(s1, scheme, cc_rtmp_fms_key, 36));
    uint8_t c0c1[1 + CC_RTMP_HANDSHAKE_SIZE];
    make_c0c1(c0c1, scheme);
    const uint8_t *c1 = c0c1 + 1;
    uint32_t cpos = cc_rtmp_handshake_digest_pos(c1, scheme);
    uint8_t key[32], sig[32];
    cc__hmac_sha256(cc_rtmp_fms_key, 68, c1 + cpos, 32, NULL, 0, key);
    cc__hmac_sha256(key, 32, s2, CC_RTMP_HANDSHAKE_SIZE - 32, NULL, 0, sig);
    assert_memory_equal(sig, s2 + CC_RTMP_HANDSHAKE_SIZE - 32, 32);
}

static void test_digest(void **state)
{
    for (int scheme = 0; scheme <= 1; scheme++) {
        size_t steps[] = {0, 1, 100, 1537, 1538};
        for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
            cc_dynbuf_t out;
            cc_dynbuf_init(&out, 1 << 16);
            int seen;
            run(scheme, steps[i], &out, &seen);
            assert_int_equal(seen, scheme);
            check_digest_reply(scheme, out.data);
            cc_dynbuf_free(&out);
        }
    }
}

static void test_version_without_digest(void **state)
{
    /* A non-zero version with no valid digest falls back to the plain reply. */
    uint8_t c1[CC_RTMP_HANDSHAKE_SIZE];
    memset(c1, 0x11, sizeof(c1));
    assert_int_equal(cc_rtmp_handshake_client_scheme(c1), -1);
    /* and a zero version is never searched for a digest, even a valid one */
    uint8_t c0c1[1 + CC_RTMP_HANDSHAKE_SIZE];
    make_c0c1(c0c1, 0);
    assert_int_equal(cc_rtmp_handshake_client_scheme(c0c1 + 1), 0);
    memset(c0c1 + 5, 0, 4);
    assert_int_equal(cc_rtmp_handshake_client_scheme(c0c1 + 1), -1);
}

static void test_bad_c0(void **state)
{
    cc_dynbuf_t out;
    cc_dynbuf_init(&out, 1 << 16);
    cc_rtmp_handshake_t hs;
    size_t used;
    cc_rtmp_handshake_init(&hs, 1, 0);
    assert_int_equal(cc_rtmp_handshake_feed(&hs, (const uint8_t *)"GET / HTTP/1.1\r\n", 16, &used, &out), CC_EPROTO);
    cc_rtmp_handshake_init(&hs, 1, 0);
    uint8_t rtmpe = 6;
    assert_int_equal(cc_rtmp_handshake_feed(&hs, &rtmpe, 1, &used, &out), CC_EUNSUPPORTED);
    assert_int_equal(out.len, 0);
    /* an output buffer too small for S0 S1 S2 is reported */
    cc_dynbuf_t tiny;
    cc_dynbuf_init(&tiny, 100);
    uint8_t c0c1[1 + CC_RTMP_HANDSHAKE_SIZE];
    make_c0c1(c0c1, 0);
    cc_rtmp_handshake_init(&hs, 1, 0);
    assert_int_equal(cc_rtmp_handshake_feed(&hs, c0c1, sizeof(c0c1), &used, &tiny), CC_ETOOBIG);
    cc_dynbuf_free(&tiny);
    cc_dynbuf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_digest),
        cmocka_unit_test(test_version_without_digest),
        cmocka_unit_test(test_bad_c0),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* HTTP/1.x response parsing (edge/http_resp.c): heads and bodies fed whole,
 * byte by byte and split at every offset must give the same result. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cartcast/err.h"
#include "edge/http_resp.h"

#define MAXH 4096

typedef struct result {
    int err;        /* 0 or the first error */
    int status;
    int64_t age;
    bool conn_close;
    char body[8192];
    size_t body_len;
    size_t consumed; /* bytes of the input that belonged to this response */
    bool done;
} result_t;

/* Drives the parser over `in` delivered in pieces: cut[] offsets (sorted). */
static void run(const char *in, size_t len, const size_t *cuts, size_t ncuts, bool head_req, result_t *out)
{
    memset(out, 0, sizeof(*out));
    uint8_t *buf = malloc(len + 1); /* the caller's receive buffer: bytes accumulate */
    size_t have = 0, head_len = 0, body_off = 0;
    cc_http_resp_t resp;
    cc_http_body_t body;
    bool head_done = false;
    size_t ci = 0;
    while (have < len || (!out->done && ci <= ncuts)) {
        size_t next = ci < ncuts ? cuts[ci] : len;
        ci++;
        if (next < have)
            next = have;
        memcpy(buf + have, in + have, next - have);
        have = next;
        if (!head_done) {
            int n = cc_http_resp_parse_head(buf, have, MAXH, &resp);
            if (n == CC_EAGAIN) {
                if (have == len)
                    break;
                continue;
            }
            if (n < 0) {
                out->err = n;
                break;
            }
            head_done = true;
            head_len = (size_t)n;
            body_off = head_len;
            out->status = resp.status;
            out->age = resp.age;
            out->conn_close = resp.conn_close;
            int e = cc_http_body_init(&body, &resp, head_req, sizeof(out->body));
            if (e < 0) {
                out->err = e;
                break;
            }
        }
        while (body_off < have && !body.done) {
            cc_iov_t data;
            int n = cc_http_body_parse(&body, buf + body_off, have - body_off, &data);
            if (n < 0) {
                out->err = n;
                goto end;
            }
            assert_true(data.len <= (size_t)n);
            assert_true(data.base >= buf + body_off && data.base + data.len <= buf + body_off + (size_t)n);
            memcpy(out->body + out->body_len, data.base, data.len);
            out->body_len += data.len;
            if (n == 0)
                break;
            body_off += (size_t)n;
        }
        if (head_done && body.done) {
            out->done = true;
            break;
        }
        if (have == len) {
            if (head_done && cc_http_body_eof(&body) == 0)
                out->done = true;
            else if (head_done)
                out->err = CC_EPROTO;
            break;
        }
    }
end:
    out->consumed = body_off;
    free(buf);
}

/* Whole, byte by byte, and every single split must agree. */
static void check_all(const char *in, bool head_req, result_t *want)
{
    size_t len = strlen(in);
    run(in, len, NULL, 0, head_req, want);
    size_t *cuts = malloc(len * sizeof(*cuts));
    for (size_t i = 0; i < len; i++)
        cuts[i] = i + 1;
    result_t *got = malloc(sizeof(*got));
    run(in, len, cuts, len, head_req, got);
    assert_int_equal(got->err, want->err);
    assert_int_equal(got->done, want->done);
    assert_int_equal(got->body_len, want->body_len);
    assert_memory_equal(got->body, want->body, want->body_len);
    for (size_t at = 0; at <= len; at++) {
        size_t cut[1] = {at};
        run(in, len, cut, 1, head_req, got);
        assert_int_equal(got->err, want->err);
        assert_int_equal(got->status, want->status);
        assert_int_equal(got->done, want->done);
        assert_int_equal(got->body_len, want->body_len);
        assert_memory_equal(got->body, want->body, want->body_len);
        if (want->err == 0)
            assert_int_equal(got->consumed, want->consumed);
    }
    free(got);
    free(cuts);
}

static void test_content_length(void **state)
{
    result_t r;
    check_all("HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: 5\r\nAge: 7\r\n\r\nhelloNEXT", false, &r);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.age, 7);
    assert_false(r.conn_close);
    assert_true(r.done);
    assert_int_equal(r.body_len, 5);
    assert_memory_equal(r.body, "hello", 5);
    /* the next response's bytes were not consumed */
    assert_int_equal(r.consumed, strlen("HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: 5\r\nAge: 7\r\n\r\nhello"));

    check_all("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", false, &r);
    assert_int_equal(r.status, 404);
    assert_true(r.done);
    assert_int_equal(r.body_len, 0);
    /* same value twice is fine; LF-only line ends are accepted */
    check_all("HTTP/1.1 200 OK\nContent-Length: 2\nContent-Length: 2\n\nok", false, &r);
    assert_int_equal(r.err, 0);
    assert_memory_equal(r.body, "ok", 2);
    /* no reason phrase */
    check_all("HTTP/1.1 503\r\nContent-Length: 1\r\n\r\nx", false, &r);
    assert_int_equal(r.status, 503);
}

static void test_chunked(void **state)
{
    result_t r;
    check_all("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 999\r\n\r\n"
              "5;name=val\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT",
              false, &r);
    assert_int_equal(r.err, 0);
    assert_true(r.done);
    assert_int_equal(r.body_len, 16);
    assert_memory_equal(r.body, "hello 0123456789", 16);
    check_all("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false, &r);
    assert_int_equal(r.err, 0);
    assert_memory_equal(r.body, "abc", 3);
    /* bad framing */
    check_all("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZ\r\n", false, &r);
    assert_int_equal(r.err, CC_EPROTO);
    check_all("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n", false, &r);
    assert_int_equal(r.err, CC_EPROTO);
    check_all("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", false, &r);
    assert_int_equal(r.err, CC_EPROTO);
    /* sizes: 16 hex digits or more than the cap */
    check_all("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n", false, &r);
    assert_int_equal(r.err, CC_ETOOBIG);
    check_all("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2001\r\n", false, &r);
    assert_int_equal(r.err, CC_ETOOBIG);
    /* truncated: the connection closed mid-body */
    check_all("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", false, &r);
    assert_int_equal(r.err, CC_EPROTO);
}

static void test_close_delimited(void **state)
{
    result_t r;
    check_all("HTTP/1.0 200 OK\r\n\r\nuntil the end", false, &r);
    assert_int_equal(r.err, 0);
    assert_true(r.conn_close);
    assert_int_equal(r.body_len, 13);
    check_all("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nraw", false, &r);
    assert_int_equal(r.err, 0);
    assert_true(r.conn_close);
    check_all("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx", false, &r);
    assert_false(r.conn_close);
    check_all("HTTP/1.1 200 OK\r\nConnection: Keep-Alive, close\r\nContent-Length: 1\r\n\r\nx", false, &r);
    assert_true(r.conn_close);
    /* Content-Length bodies cut short are errors */
    check_all("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", false, &r);
    assert_int_equal(r.err, CC_EPROTO);
}

static void test_no_body(void **state)
{
    result_t r;
    check_all("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", false, &r);
    assert_true(r.done);
    assert_int_equal(r.body_len, 0);
    check_all("HTTP/1.1 304 Not Modified\r\n\r\n", false, &r);
    assert_true(r.done);
    check_all("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true, &r); /* HEAD */
    assert_true(r.done);
    assert_int_equal(r.body_len, 0);
}

static void test_age(void **state)
{
    result_t r;
    check_all("HTTP/1.1 200 OK\r\nAge: 99999999999999\r\nContent-Length: 0\r\n\r\n", false, &r);
    assert_int_equal(r.age, 2147483648LL);
    check_all("HTTP/1.1 200 OK\r\nAge: -3\r\nContent-Length: 0\r\n\r\n", false, &r);
    assert_int_equal(r.age, -1);
    check_all("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, &r);
    assert_int_equal(r.age, -1);
}

static void test_malformed_heads(void **state)
{
    static const char *const bad[] = {
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 099 OK\r\n\r\n",
        "ICY 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 9999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        result_t r;
        check_all(bad[i], false, &r);
        if (r.err != CC_EPROTO)
            fail_msg("accepted: %s", bad[i]);
    }
    /* a body over the cap is refused before it is read */
    result_t r;
    check_all("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", false, &r);
    assert_int_equal(r.err, CC_ETOOBIG);
}

static void test_caps(void **state)
{
    /* a head that never ends */
    char *big = malloc(MAXH + 100);
    strcpy(big, "HTTP/1.1 200 OK\r\nX: ");
    memset(big + strlen(big), 'a', MAXH);
    big[MAXH + 20] = '\0';
    cc_http_resp_t resp;
    assert_int_equal(cc_http_resp_parse_head((const uint8_t *)big, 100, MAXH, &resp), CC_EAGAIN);
    assert_int_equal(cc_http_resp_parse_head((const uint8_t *)big, strlen(big), MAXH, &resp), CC_ETOOBIG);
    free(big);
    /* too many header fields */
    char many[8192] = "HTTP/1.1 200 OK\r\n";
    for (int i = 0; i < CC_HTTP_RESP_MAX_HEADERS + 1; i++)
        strcat(many, "A: b\r\n");
    strcat(many, "\r\n");
    assert_int_equal(cc_http_resp_parse_head((const uint8_t *)many, strlen(many), sizeof(many), &resp), CC_ETOOBIG);
    /* chunk extensions and trailers are capped */
    char ext[4096] = "5;";
    memset(ext + 2, 'e', CC_HTTP_CHUNK_EXT_MAX + 10);
    cc_http_resp_t cr = {.status = 200, .chunked = true, .content_length = -1};
    cc_http_body_t b;
    assert_int_equal(cc_http_body_init(&b, &cr, false, 1000), 0);
    cc_iov_t data;
    assert_int_equal(cc_http_body_parse(&b, (const uint8_t *)ext, strlen(ext), &data), CC_ETOOBIG);
    /* header lookup */
    const char *h = "HTTP/1.1 200 OK\r\nContent-Type: text/plain \r\n\r\n";
    assert_true(cc_http_resp_parse_head((const uint8_t *)h, strlen(h), MAXH, &resp) > 0);
    cc_iov_t v = cc_http_resp_header(&resp, "content-type");
    assert_int_equal(v.len, 10);
    assert_memory_equal(v.base, "text/plain", 10);
    assert_null(cc_http_resp_header(&resp, "age").base);
}

static void test_interim(void **state)
{
    /* a 100 Continue head parses as its own response; the caller skips it */
    const char *in = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    cc_http_resp_t resp;
    int n = cc_http_resp_parse_head((const uint8_t *)in, strlen(in), MAXH, &resp);
    assert_int_equal(n, 25);
    assert_int_equal(resp.status, 100);
    cc_http_body_t b;
    assert_int_equal(cc_http_body_init(&b, &resp, false, 100), 0);
    assert_true(b.done);
    assert_true(cc_http_resp_parse_head((const uint8_t *)in + n, strlen(in) - (size_t)n, MAXH, &resp) > 0);
    assert_int_equal(resp.status, 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_length), cmocka_unit_test(test_chunked), cmocka_unit_test(test_close_delimited),
        cmocka_unit_test(test_no_body),        cmocka_unit_test(test_age),     cmocka_unit_test(test_malformed_heads),
        cmocka_unit_test(test_caps),           cmocka_unit_test(test_interim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

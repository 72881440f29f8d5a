/* HTTP/1.x responses from a hostile origin (edge/http_resp.c): the head
 * parser and the body decoder must never read out of bounds, must agree
 * with themselves when the bytes come split (at an offset taken from the
 * input), and must hand back body views that lie inside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/err.h"
#include "edge/http_resp.h"

#define MAXH 2048
#define MAXB 65536

/* Decodes the body of in[off..len) fed in pieces of `step` bytes; returns the
 * decoded length (or an error) and its checksum. */
static long body(const cc_http_resp_t *resp, const uint8_t *in, size_t len, size_t step, uint64_t *sum, bool *done)
{
    cc_http_body_t b;
    int r = cc_http_body_init(&b, resp, false, MAXB);
    if (r < 0)
        return r;
    size_t off = 0, have = 0;
    long total = 0;
    *sum = 0;
    while (!b.done) {
        if (off == have) {
            if (have == len)
                break;
            have = have + step < len ? have + step : len;
        }
        cc_iov_t data;
        int n = cc_http_body_parse(&b, in + off, have - off, &data);
        if (n < 0)
            return n;
        if (n == 0 && !b.done)
            abort(); /* input left, body not done: must consume something */
        if ((size_t)n > have - off || data.len > (size_t)n || data.base < in + off ||
            data.base + data.len > in + off + (size_t)n)
            abort();
        for (size_t i = 0; i < data.len; i++)
            *sum = *sum * 31 + data.base[i];
        total += (long)data.len;
        if (total > MAXB)
            abort(); /* the cap holds */
        off += (size_t)n;
    }
    *done = b.done || cc_http_body_eof(&b) == 0;
    return total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)data[0] % 7 + 1;
    data++;
    size--;
    cc_http_resp_t a, b;
    int n = cc_http_resp_parse_head(data, size, MAXH, &a);
    if (n == CC_EAGAIN && size >= MAXH)
        abort();
    if (n < 0)
        return 0;
    if ((size_t)n > size || a.status < 100 || a.status > 999 || a.nheaders > CC_HTTP_RESP_MAX_HEADERS)
        abort();
    /* Stateless: every shorter prefix is "need more", the same prefix parses the same. */
    if (n > 1 && cc_http_resp_parse_head(data, (size_t)n - 1, MAXH, &b) != CC_EAGAIN)
        abort();
    if (cc_http_resp_parse_head(data, (size_t)n, MAXH, &b) != n || b.content_length != a.content_length ||
        b.chunked != a.chunked)
        abort();
    for (size_t i = 0; i < a.nheaders; i++)
        if (a.headers[i].name.base < data || a.headers[i].value.base + a.headers[i].value.len > data + n)
            abort();
    uint64_t s1, s2;
    bool d1, d2;
    long r1 = body(&a, data + n, size - (size_t)n, size, &s1, &d1);
    long r2 = body(&a, data + n, size - (size_t)n, step, &s2, &d2);
    if (r1 != r2 || (r1 >= 0 && (s1 != s2 || d1 != d2)))
        abort();
    return 0;
}

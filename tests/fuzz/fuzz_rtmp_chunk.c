/* libFuzzer: the chunk reader over arbitrary bytes, fed whole and then in
 * pieces; both must yield the same messages (same count, same bytes). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/err.h"
#include "ingest/rtmp/chunk.h"
#include "ingest/rtmp/sha256.h"

/* Runs the reader and returns a digest of every message (type, csid, ts, body). */
static int run(const uint8_t *data, size_t size, size_t step, uint8_t digest[32], int *count)
{
    cc_rtmp_chunk_limits_t lim;
    cc_rtmp_chunk_limits_default(&lim);
    lim.max_message_size = 128 * 1024;
    lim.max_pending_bytes = 256 * 1024;
    lim.max_chunk_streams = 8;
    cc_rtmp_chunk_reader_t r;
    cc_rtmp_chunk_reader_init(&r, &lim);
    cc_sha256_t h;
    cc__sha256_init(&h);
    *count = 0;
    int err = 0;
    size_t off = 0;
    while (off < size && !err) {
        size_t n = step && step < size - off ? step : size - off;
        size_t at = 0;
        while (at < n) {
            size_t used;
            cc_rtmp_msg_t m;
            int rc = cc_rtmp_chunk_read(&r, data + off + at, n - at, &used, &m);
            at += used;
            if (rc == CC_EAGAIN)
                break;
            if (rc < 0) {
                err = rc;
                break;
            }
            uint8_t hdr[13];
            hdr[0] = m.type;
            cc_wr32(hdr + 1, m.csid);
            cc_wr32(hdr + 5, m.timestamp);
            cc_wr32(hdr + 9, m.stream_id);
            cc__sha256_update(&h, hdr, sizeof(hdr));
            cc__sha256_update(&h, m.body->data, m.body->len);
            cc_buf_unref(m.body);
            (*count)++;
        }
        off += n;
    }
    cc__sha256_final(&h, digest);
    cc_rtmp_chunk_reader_free(&r);
    return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t d1[32], d2[32];
    int c1, c2;
    int e1 = run(data, size, 0, d1, &c1);
    int e2 = run(data, size, 1 + size % 13, d2, &c2);
    if (e1 != e2 || c1 != c2 || memcmp(d1, d2, 32) != 0)
        abort();
    return 0;
}

/* libFuzzer: AMF0 decoding, and the round trip decode -> encode -> decode ->
 * encode giving the same bytes twice. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/rtmp/amf0.h"

#define SLOTS 512
static cc_amf0_value_t slots1[SLOTS], slots2[SLOTS];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cc_amf0_arena_t a;
    cc_amf0_arena_init(&a, slots1, SLOTS, NULL);
    cc_amf0_value_t *v[32];
    size_t n;
    int used = cc_amf0_decode_all(&a, data, size, v, 32, &n);
    if (used < 0)
        return 0;
    cc_dynbuf_t e1, e2;
    cc_dynbuf_init(&e1, 1 << 24);
    cc_dynbuf_init(&e2, 1 << 24);
    cc_amf0_writer_t w1 = {&e1, 0}, w2 = {&e2, 0};
    for (size_t i = 0; i < n; i++)
        cc_amf0_put_value(&w1, v[i]);
    if (w1.err == 0) {
        cc_amf0_arena_t b;
        cc_amf0_arena_init(&b, slots2, SLOTS, NULL);
        cc_amf0_value_t *u[32];
        size_t m;
        int used2 = cc_amf0_decode_all(&b, e1.data, e1.len, u, 32, &m);
        /* What we encode we must decode, to the same values. */
        if (used2 != (int)e1.len || m != n)
            abort();
        for (size_t i = 0; i < m; i++)
            cc_amf0_put_value(&w2, u[i]);
        if (w2.err || e2.len != e1.len || (e1.len && memcmp(e1.data, e2.data, e1.len) != 0))
            abort();
    }
    cc_dynbuf_free(&e1);
    cc_dynbuf_free(&e2);
    return 0;
}

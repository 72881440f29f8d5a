/* libFuzzer harness for the LL-HLS request parsers in packager/llhls.c.
 *
 * The input is split at NUL bytes: piece 0 is a file name for
 * cc_llhls_uri_parse(), pieces 1..3 are the _HLS_msn, _HLS_part and _HLS_skip
 * values for cc_llhls_query_parse() (a missing piece is an absent parameter,
 * a piece "\x01" too, so that "present but empty" and "absent" both occur).
 * A parsed query then goes through cc_llhls_decide() against a small live
 * model and an ended one.  Checks: accepted file names print back to the
 * same bytes (one URI per resource); accepted numbers are pure digits. */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/err.h"
#include "packager/llhls.h"

static cc_llhls_t *live, *ended;

static cc_llhls_t *make_model(bool end)
{
    cc_llhls_config_t cfg;
    cc_llhls_config_default(&cfg);
    cfg.number_base = 0;
    cc_llhls_t *h = cc_llhls_new(&cfg);
    cc_buf_t *init = cc_buf_from("init", 4);
    cc_llhls_variant_t v;
    memset(&v, 0, sizeof(v));
    if (h == NULL || init == NULL || cc_llhls_begin(h, init, &v) < 0)
        abort();
    cc_buf_unref(init);
    cc_buf_t *p = cc_buf_from("part", 4);
    for (int i = 0; i < 23; i++)
        if (cc_llhls_add_part(h, p, 200, i % 5 == 0, i % 5 == 0, 1763900000000LL + 200 * i) < 0)
            abort();
    cc_buf_unref(p);
    if (end)
        cc_llhls_end(h);
    return h;
}

static bool all_digits(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (live == NULL) {
        live = make_model(false);
        ended = make_model(true);
    }
    char *buf = malloc(size + 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *piece[4] = {NULL, NULL, NULL, NULL};
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= size && n < 4; i++) {
        if (i == size || buf[i] == '\0') {
            piece[n++] = buf + start;
            start = i + 1;
        }
    }
    for (size_t i = 1; i < 4; i++)
        if (piece[i] && strcmp(piece[i], "\x01") == 0)
            piece[i] = NULL;

    cc_llhls_uri_kind_t kind;
    uint64_t number;
    if (piece[0] && cc_llhls_uri_parse(piece[0], &kind, &number) == 0) {
        char back[64];
        switch (kind) {
        case CC_LLHLS_URI_MULTIVARIANT: snprintf(back, sizeof(back), "index.m3u8"); break;
        case CC_LLHLS_URI_MEDIA: snprintf(back, sizeof(back), "media.m3u8"); break;
        case CC_LLHLS_URI_INIT: snprintf(back, sizeof(back), "init%" PRIu64 ".mp4", number); break;
        case CC_LLHLS_URI_SEGMENT: snprintf(back, sizeof(back), "seg%" PRIu64 ".m4s", number); break;
        case CC_LLHLS_URI_PART: snprintf(back, sizeof(back), "part%" PRIu64 ".m4s", number); break;
        default: abort();
        }
        if (strcmp(back, piece[0]) != 0)
            abort();
    }

    cc_llhls_query_t q;
    int r = cc_llhls_query_parse(piece[1], piece[2], piece[3], &q);
    if (r == 0) {
        if (q.has_part && !q.has_msn)
            abort();
        if ((piece[1] != NULL) != q.has_msn || (piece[2] != NULL) != q.has_part)
            abort();
        if ((q.has_msn && !all_digits(piece[1])) || (q.has_part && !all_digits(piece[2])))
            abort();
        if (q.has_msn && strtoull(piece[1], NULL, 10) != q.msn)
            abort();
        if (q.skip < 0 || q.skip > 2)
            abort();
        cc_llhls_decision_t d = cc_llhls_decide(live, &q);
        if (d != CC_LLHLS_ANSWER && d != CC_LLHLS_HOLD && d != CC_LLHLS_BAD_REQUEST)
            abort();
        if (!q.has_msn && d != CC_LLHLS_ANSWER)
            abort();
        if (cc_llhls_decide(ended, &q) != CC_LLHLS_ANSWER) /* 6.2.5.2: ignored once ended */
            abort();
    } else if (r != CC_EINVAL) {
        abort();
    }
    free(buf);
    return 0;
}

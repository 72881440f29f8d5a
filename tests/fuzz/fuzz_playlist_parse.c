/* Media playlists from a hostile origin (edge/m3u8.c), then the edge's
 * mirror walk over whatever parses (edge/mirror.c): bounded, no reads
 * outside the text, results that respect the caps, and a mirror that never
 * breaks the model's invariants (it renders, or the walk says "lost"). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/err.h"
#include "edge/m3u8.h"
#include "edge/mirror.h"
#include "packager/llhls.h"

static cc_m3u8_media_t L;
static cc_buf_t *blob;

static cc_buf_t *get(void *data, cc_mirror_kind_t kind, uint64_t number)
{
    return number % 5 == 3 ? NULL : blob; /* some objects "not fetched yet" */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (blob == NULL)
        blob = cc_buf_from("fragment", 8);
    /* A private copy with nothing after it: ASan sees any overread. */
    char *text = malloc(size ? size : 1);
    memcpy(text, data, size);
    int r = cc_m3u8_parse_media(text, size, &L);
    if (r == 0) {
        if (L.nsegments > CC_M3U8_MAX_SEGMENTS || L.nparts > CC_M3U8_MAX_PARTS ||
            L.ndateranges > CC_M3U8_MAX_DATERANGES || L.target_duration_s == 0)
            abort();
        size_t parts = 0;
        for (size_t i = 0; i < L.nsegments; i++) {
            if (L.segments[i].first_part != parts)
                abort();
            parts += L.segments[i].nparts;
        }
        if (parts != L.nparts)
            abort();
        for (size_t i = 0; i < L.ndateranges; i++)
            if (L.dateranges[i].id.base < (const uint8_t *)text ||
                L.dateranges[i].id.base + L.dateranges[i].id.len > (const uint8_t *)text + size)
                abort();
        cc_llhls_config_t cfg;
        if (cc_mirror_config(&L, &cfg) == 0) {
            cc_llhls_t *h = cc_llhls_new(&cfg);
            cc_mirror_track_t t;
            const cc_mirror_ops_t ops = {get, NULL, NULL, NULL};
            if (h && cc_mirror_restart(h, &L, &t) == 0 && cc_mirror_walk(h, &t, &L, true, true, &ops) >= 0) {
                cc_dynbuf_t d;
                cc_dynbuf_init(&d, 1 << 20);
                int rr = cc_llhls_render_media(h, 0, &d);
                if (rr < 0 && rr != CC_EAGAIN)
                    abort();
                cc_dynbuf_free(&d);
                cc_mirror_walk(h, &t, &L, false, false, &ops);
            }
            cc_llhls_free(h);
        }
    }
    free(text);
    return 0;
}

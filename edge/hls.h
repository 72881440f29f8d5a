/* LL-HLS delivery over HTTP: the /live/ route of the origin (and later the
 * edge) on top of include/cartcast/http.h, reading a cc_llhls_t per stream.
 *
 *   GET /live/NAME/index.m3u8        multivariant playlist
 *   GET /live/NAME/media.m3u8        media playlist, with the delivery directives
 *                                    _HLS_msn, _HLS_part, _HLS_skip (blocking reload,
 *                                    delta updates: draft-pantos-hls-rfc8216bis 6.2.5)
 *   GET /live/NAME/init<D>.mp4       init section
 *   GET /live/NAME/seg<MSN>.m4s      whole segment
 *   GET /live/NAME/part<SEQ>.m4s     part; the preload-hinted next part is held
 *                                    until it exists, then sent whole (6.2.6)
 *
 * Statuses: 200; 400 for a malformed or too-far directive; 404 for an unknown
 * stream or resource (and for held requests when the stream's state is freed);
 * 503 when a held request is not satisfied within 3 x TARGETDURATION.  See
 * docs/llhls.md for headers (Cache-Control per Appendix B.1, gzip) and costs.
 *
 * Usage (origin/main.c):
 *
 *   static cc_llhls_t *find(void *data, const char *name) { return cc_packager_find(data, name); }
 *   cc_hls_delivery_t *hls = cc_hls_delivery_new(loop, find, packager);
 *   cc_http_route_t routes[] = { ..., cc_hls_delivery_route(hls), ... };
 *   ... cc_http_server_start(loop, &cfg, &http) ...
 *   // shutdown, from a loop callback: stop the server, then
 *   cc_hls_delivery_free(hls);   // held requests still parked get 503
 *   // keep running the loop: the sweep timer closes asynchronously
 *
 * The delivery object becomes the listener (cc_llhls_set_listener) of every
 * cc_llhls_t its lookup returns, the first time a request names the stream;
 * nothing else may replace that listener.  One loop thread. */
#ifndef CARTCAST_EDGE_HLS_H
#define CARTCAST_EDGE_HLS_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cartcast/http.h"
#include "packager/llhls.h"

/* The stream's LL-HLS state for a public name, or NULL (-> 404).  The
 * returned model must stay valid until it emits CC_LLHLS_EV_FREED. */
typedef cc_llhls_t *(*cc_hls_lookup_fn)(void *data, const char *name);

typedef struct cc_hls_delivery cc_hls_delivery_t;

/* NULL when out of memory.  loop, and lookup_data, must outlive the object. */
cc_hls_delivery_t *cc_hls_delivery_new(uv_loop_t *loop, cc_hls_lookup_fn lookup, void *lookup_data);

/* The route to put in cc_http_config_t.routes: {"GET", "/live/", handler, d}
 * (GET also answers HEAD). */
cc_http_route_t cc_hls_delivery_route(cc_hls_delivery_t *d);

/* Answers every held request 503, detaches from every model and frees the
 * object once its timer has closed (keep the loop running).  Call it outside
 * the HTTP handlers, before or after cc_http_server_stop(). */
void cc_hls_delivery_free(cc_hls_delivery_t *d);

/* While quiet, model events of h do not re-decide its held requests (they
 * stay parked); leaving quiet decides them once against the model as it is
 * then.  The edge rebuilds a mirror in one step (reset, then every segment
 * and part again, each an update event): without this, requests held across
 * a resync were decided against the half-built model: a blocking request for
 * the live edge got 400 ("more than two segments ahead" of the few segments
 * added so far), one below it a playlist missing most of the window.  No-op
 * for a model no request has named yet. */
void cc_hls_delivery_quiet(cc_hls_delivery_t *d, cc_llhls_t *h, bool quiet);

typedef struct cc_hls_stats {
    uint64_t held_now;        /* requests parked right now (playlists + parts) */
    uint64_t held_total;      /* requests ever parked */
    uint64_t held_answered;   /* parked, then answered 200 */
    uint64_t held_timeouts;   /* parked, then 503 after 3 x TARGETDURATION */
    uint64_t bad_requests;    /* 400 */
    uint64_t not_found;       /* 404 */
    uint64_t renders;         /* playlists rendered (once per model version and variant) */
    uint64_t streams;         /* models attached right now */
} cc_hls_stats_t;

void cc_hls_delivery_stats(const cc_hls_delivery_t *d, cc_hls_stats_t *out);

/* Optional extra headers on 200 answers (the edge adds Age, docs/edge.md).
 * The hook sees what is being answered and writes at most `max`
 * (CC_HLS_EXTRA_HEADERS) headers into out, returning how many; the strings
 * must stay valid until the hook's caller has answered (cc_http_respond
 * copies them at once), so a buffer owned by the hook's data is enough.
 * The origin sets none: its answers are unchanged. */
#define CC_HLS_EXTRA_HEADERS 2

typedef struct cc_hls_answer {
    cc_llhls_t *h;              /* the stream's model */
    cc_llhls_uri_kind_t kind;   /* playlist, init, segment or part */
    uint64_t number;            /* discontinuity / MSN / part sequence; 0 for playlists */
    bool blocking;              /* a media playlist asked with _HLS_msn */
    bool held;                  /* answered after being parked: made for this request just now */
    size_t body_len;            /* bytes of the body (gzipped when it is) */
} cc_hls_answer_t;

typedef size_t (*cc_hls_headers_fn)(void *data, const cc_hls_answer_t *a, cc_http_header_t *out, size_t max);

/* fn NULL removes the hook. */
void cc_hls_delivery_set_headers_hook(cc_hls_delivery_t *d, cc_hls_headers_fn fn, void *data);

/* Exposed for tests: does an Accept-Encoding value accept gzip?  Tokens are
 * case-insensitive, "gzip;q=0" refuses, "*" accepts unless gzip is refused. */
bool cc_hls_accepts_gzip(const char *accept_encoding);

#endif

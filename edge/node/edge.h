/* cartcast-edge's core: follows streams on an origin and serves them with the
 * origin's own delivery code (edge/hls.c) over a mirror of the origin's
 * LL-HLS model (packager/llhls.h mirror mode).  docs/edge.md has the design.
 *
 *   cc_edge_t *e;  cc_edge_new(loop, &cfg, &e);
 *   routes: {"GET", "/live/", ...} = cc_edge_route(e)
 *   /metrics: cc_edge_render_metrics(e, &dynbuf)
 *   shutdown (from a loop callback, after cc_http_server_stop): cc_edge_free(e),
 *   then keep running the loop until it is empty.
 *
 * Per stream: the first viewer request for /live/NAME/... starts following
 * NAME on the current origin; requests that come before the mirror has
 * content are parked and answered by the delivery code once it has.  One
 * blocking playlist request per stream is in flight upstream, plus the
 * preload-hinted part and the parts or segments the mirror lacks.  A stream
 * nobody requested for idle_ms is dropped. */
#ifndef CARTCAST_EDGE_NODE_EDGE_H
#define CARTCAST_EDGE_NODE_EDGE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cartcast/buf.h"
#include "cartcast/http.h"

typedef struct cc_edge cc_edge_t;

typedef struct cc_edge_config {
    const char *const *origins; /* "http://HOST:PORT[/PREFIX]", failover order */
    size_t norigins;
    uint32_t idle_ms;           /* 30000: drop a stream nobody requested for this long */
    uint32_t max_streams;       /* 256: streams followed at once (more: 503) */
    uint32_t failover_after;    /* 3: consecutive upstream failures before the next origin */
} cc_edge_config_t;

void cc_edge_config_default(cc_edge_config_t *cfg);
/* CC_EINVAL / CC_EUNSUPPORTED for a bad origin URL (errbuf says which), CC_ENOMEM. */
int cc_edge_new(uv_loop_t *loop, const cc_edge_config_t *cfg, cc_edge_t **out, char *errbuf, size_t errlen);
cc_http_route_t cc_edge_route(cc_edge_t *e);
int cc_edge_render_metrics(cc_edge_t *e, cc_dynbuf_t *out);
void cc_edge_free(cc_edge_t *e);

#endif

/* What the origin tells about itself over HTTP: /metrics (Prometheus text) and
 * /v1/streams (JSON).  Pure renderers from the hub's state into a buffer, so
 * unit tests can check them without a server. */
#ifndef CARTCAST_ORIGIN_STATUS_H
#define CARTCAST_ORIGIN_STATUS_H

#include <stdint.h>

#include "cartcast/buf.h"
#include "cartcast/hub.h"
#include "edge/hls.h"
#include "packager/packager.h"

/* Process-wide counters owned by the ingest servers. */
typedef struct cc_origin_counters {
    uint64_t rtmp_connections_open;
    uint64_t rtmp_connections_total;
    uint64_t rtmp_closed_by_error; /* protocol errors, caps, timeouts */
} cc_origin_counters_t;

/* packager and hls may be NULL (their parts are left out). */
int cc_origin_render_metrics(cc_hub_t *hub, const cc_origin_counters_t *counters, cc_packager_t *packager,
                             const cc_hls_stats_t *hls, cc_dynbuf_t *out);
int cc_origin_render_streams(cc_hub_t *hub, cc_packager_t *packager, cc_dynbuf_t *out);

#endif

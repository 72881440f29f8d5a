/* The origin's half of the shoppable timeline (docs/overlay.md, "Timeline"):
 *
 *  - publishes each stream's live edge to Redis at every part:
 *      HSET cc:{stream:NAME}:live pdt_ms media_ms msn part part_seq
 *                                 start_pdt_ms updated_ms live
 *    (pdt_ms = program date-time at the end of the newest part; live = 0 once
 *    the playlist has ENDLIST or is gone) and SADD cc:streams NAME once;
 *  - follows every packaged stream's cue stream (cc:{stream:NAME}:cues) and
 *    writes each cue into the playlist as EXT-X-DATERANGE through the
 *    packager's API (cc_llhls_daterange_add / _end), so that Safari, any HLS
 *    player and replays keep the cues without the WebSocket.
 *
 * Runs on the origin's loop with two Redis connections (commands, blocking
 * XREAD).  Off unless the origin is given --redis. */
#ifndef CARTCAST_ORIGIN_TIMELINE_H
#define CARTCAST_ORIGIN_TIMELINE_H

#include <uv.h>

#include "cartcast/buf.h"
#include "cartcast/hub.h"
#include "cartcast/redis.h"
#include "packager/packager.h"

typedef struct cc_timeline cc_timeline_t;

/* hub, packager and loop must outlive it.  0 or CC_ENOMEM / CC_EINVAL; a down
 * Redis is not an error (the client reconnects; edges are published again). */
int cc_timeline_start(uv_loop_t *loop, cc_hub_t *hub, cc_packager_t *packager, const cc_redis_url_t *url,
                      cc_timeline_t **out);
/* Marks every published stream live=0 (waiting up to 300 ms for Redis), then
 * closes; call before freeing the packager and keep running the loop. */
void cc_timeline_stop(cc_timeline_t *t);

/* Prometheus text: edges published, cues added/ended, errors, and the Redis
 * clients' own metrics.  0 or CC_ETOOBIG / CC_ENOMEM. */
int cc_timeline_render_metrics(const cc_timeline_t *t, cc_dynbuf_t *out);

#endif

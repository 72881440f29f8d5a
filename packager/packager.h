/* The LL-HLS packager: a hub listener that turns every published stream into
 * CMAF parts and segments in a cc_llhls_t, which edge/hls.c serves.
 *
 * One packager per origin, on the loop thread.  A stream's LL-HLS state is
 * keyed by its public name and outlives its publisher:
 *   - a publisher that comes back within grace_ms continues the same playlist
 *     after EXT-X-DISCONTINUITY;
 *   - after grace_ms without a publisher the playlist gets EXT-X-ENDLIST and
 *     stays servable for linger_ms (late viewers, replays of the window), then
 *     it is freed (cc_llhls_t's listener hears CC_LLHLS_EV_FREED first).
 *
 * Part cutting (video-driven): a part closes when the next video frame would
 * make it longer than PART-TARGET; a segment starts on a keyframe once the
 * segment is near segment_target_ms, or at a part boundary once it has
 * reached segment_target_ms without one (a GOP longer than the target). */
#ifndef CARTCAST_PACKAGER_PACKAGER_H
#define CARTCAST_PACKAGER_PACKAGER_H

#include <stdint.h>
#include <uv.h>

#include "cartcast/hub.h"
#include "packager/llhls.h"

typedef struct cc_packager_config {
    cc_llhls_config_t hls;
    uint32_t grace_ms;      /* 10000: publisher gone this long -> ENDLIST */
    uint32_t linger_ms;     /* 60000: an ended stream stays servable this long */
    const char *record_dir; /* NULL: no recording; else DIR/NAME/ gets init, segments and a VOD playlist */
} cc_packager_config_t;

void cc_packager_config_default(cc_packager_config_t *cfg);

typedef struct cc_packager cc_packager_t;

/* Registers itself as a hub listener.  hub and loop must outlive it. */
int cc_packager_new(uv_loop_t *loop, cc_hub_t *hub, const cc_packager_config_t *cfg, cc_packager_t **out);
/* Detaches from the hub and from every live stream and frees every stream's
 * state (playlist listeners hear CC_LLHLS_EV_FREED); keep running the loop so
 * the timers' close callbacks run. */
void cc_packager_free(cc_packager_t *p);

/* The LL-HLS state for a public stream name, or NULL.  Valid until the
 * listener registered on it hears CC_LLHLS_EV_FREED. */
cc_llhls_t *cc_packager_find(cc_packager_t *p, const char *name);

typedef struct cc_packager_stats {
    uint64_t parts, segments, bytes;     /* since the stream's state was created */
    uint64_t frames_dropped;             /* before the first keyframe, or over a queue cap */
    uint32_t publishes;                  /* 1 + reconnects */
} cc_packager_stats_t;

/* 0, or CC_ENOENT when the name has no state. */
int cc_packager_stats(cc_packager_t *p, const char *name, cc_packager_stats_t *out);

#endif

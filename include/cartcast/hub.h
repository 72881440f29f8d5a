/* The stream hub: where ingest (RTMP, SRT) publishes frames and where the
 * packager, recorders and stats subscribe to them.
 *
 * One hub per origin process, on the loop thread.  A stream exists while it has
 * a publisher: cc_hub_publish() creates it (refusing a second publisher on a
 * live name with CC_EBUSY), cc_stream_end() tears it down.  Subscribers attach
 * in two ways:
 *   - per stream:  cc_stream_subscribe(stream, sub) on a live stream;
 *   - for every stream: cc_hub_add_listener(hub, l); l->on_publish runs for each
 *     new stream (the packager uses this to attach itself), before any frame.
 *
 * Hooks run synchronously on the loop thread in registration order; a hook
 * must not block.  Frames passed to on_frame are borrowed for the call. */
#ifndef CARTCAST_HUB_H
#define CARTCAST_HUB_H

#include <stddef.h>
#include <stdint.h>

#include "cartcast/media.h"

#define CC_STREAM_NAME_MAX 64

typedef struct cc_hub cc_hub_t;
typedef struct cc_stream cc_stream_t;
typedef struct cc_subscriber cc_subscriber_t;
typedef struct cc_hub_listener cc_hub_listener_t;

struct cc_subscriber {
    /* Called when a track is added or its configuration changes (new sequence header). */
    void (*on_track)(cc_subscriber_t *sub, cc_stream_t *st, int track);
    void (*on_frame)(cc_subscriber_t *sub, cc_stream_t *st, const cc_frame_t *frame);
    /* The publisher has gone; the stream is freed right after all on_end hooks return.
     * The subscriber is detached by then and may free itself here. */
    void (*on_end)(cc_subscriber_t *sub, cc_stream_t *st);
    void *data;
    /* hub-private */
    cc_subscriber_t *next_;
};

struct cc_hub_listener {
    void (*on_publish)(cc_hub_listener_t *l, cc_stream_t *st);
    void *data;
    cc_hub_listener_t *next_;
};

/* Per-track counters kept by the hub for /metrics and /v1/streams. */
typedef struct cc_track_stats {
    uint64_t frames;
    uint64_t bytes;
    uint64_t keyframes;
    int64_t first_dts, last_dts;
    /* Frames whose DTS went backwards: ingest must keep this at 0; tests check it. */
    uint64_t dts_backwards;
} cc_track_stats_t;

cc_hub_t *cc_hub_new(void);
/* Ends every live stream (their on_end hooks run) and frees the hub. */
void cc_hub_free(cc_hub_t *hub);
void cc_hub_add_listener(cc_hub_t *hub, cc_hub_listener_t *l);
void cc_hub_remove_listener(cc_hub_t *hub, cc_hub_listener_t *l);

/* Stream names are 1..64 of [A-Za-z0-9_-].  Returns 0 or CC_EINVAL. */
int cc_stream_name_check(const char *name);

/* Start a publish on name.  protocol is "rtmp" / "srt"; peer is "ip:port".
 * CC_EBUSY when the name is live, CC_EINVAL for a bad name. */
int cc_hub_publish(cc_hub_t *hub, const char *name, const char *protocol, const char *peer, cc_stream_t **out);
/* Count a refused publish under a reason label ("bad_key", "busy", ...) for /metrics. */
void cc_hub_count_rejected(cc_hub_t *hub, const char *reason);

cc_stream_t *cc_hub_find(cc_hub_t *hub, const char *name);
/* Iterate live streams: start with NULL. */
cc_stream_t *cc_hub_next(cc_hub_t *hub, cc_stream_t *prev);
size_t cc_hub_count(const cc_hub_t *hub);
/* Rejected publishes, iterated by index: returns the reason, NULL past the end. */
const char *cc_hub_rejected(const cc_hub_t *hub, size_t i, uint64_t *count);

/* Add or replace track `index` (0..CC_MAX_TRACKS-1); the hub copies the description. */
int cc_stream_set_track(cc_stream_t *st, int index, const cc_track_t *track);
/* Deliver one frame to every subscriber. CC_EINVAL for a track not set. */
int cc_stream_push(cc_stream_t *st, const cc_frame_t *frame);
/* The publisher is gone: run on_end hooks and free the stream. */
void cc_stream_end(cc_stream_t *st);

int cc_stream_subscribe(cc_stream_t *st, cc_subscriber_t *sub);
void cc_stream_unsubscribe(cc_stream_t *st, cc_subscriber_t *sub);

const char *cc_stream_name(const cc_stream_t *st);
const char *cc_stream_protocol(const cc_stream_t *st);
/* NULL when the track is not set. */
const cc_track_t *cc_stream_track(const cc_stream_t *st, int index);
const cc_track_stats_t *cc_stream_track_stats(const cc_stream_t *st, int index);
uint64_t cc_stream_started_us(const cc_stream_t *st); /* wall clock of the publish */
/* Bits per second over the last few seconds of arrivals, all tracks. */
uint64_t cc_stream_bitrate(const cc_stream_t *st);
/* Free-form per-stream slot for the publisher's own stats (e.g. SRT). */
void *cc_stream_publisher_data(const cc_stream_t *st);
void cc_stream_set_publisher_data(cc_stream_t *st, void *data);

/* Wall clock in microseconds (CLOCK_REALTIME) and a monotonic clock in ms. */
uint64_t cc_now_us(void);
uint64_t cc_mono_ms(void);

#endif

/* MPEG-TS -> hub tracks and frames, for one SRT publisher.
 *
 * libavformat's mpegts demuxer reads the publisher's bytes through a custom
 * AVIOContext whose read callback is hooks->read (blocking: the SRT server
 * calls it on the publisher's own thread).  Every packet then goes through
 * es.h: H.264/HEVC access units become length-prefixed frames with an avcC /
 * hvcC built from the in-band parameter sets, ADTS becomes raw AAC frames
 * with an AudioSpecificConfig.  Timestamps are put on the stream's timeline
 * exactly as the RTMP ingest does: milliseconds (timescale 1000), the first
 * video keyframe's DTS is 0, DTS never goes backwards within a track, 33-bit
 * wraps are unwrapped.  Nothing is delivered before the first video keyframe
 * (audio before it is dropped), so a stream always starts decodable.
 *
 * Tracks: 0 is the video (first H.264/HEVC stream of the PMT), 1 the audio
 * (first AAC/ADTS stream); other streams are ignored with one log line each.
 * A TS whose PMT has no H.264/HEVC stream, or that shows no video within
 * max_probe_bytes, fails with a message that says so. */
#ifndef CARTCAST_INGEST_SRT_DEMUX_H
#define CARTCAST_INGEST_SRT_DEMUX_H

#include <stddef.h>
#include <stdint.h>

#include "cartcast/media.h"

#define CC_SRT_TRACK_VIDEO 0
#define CC_SRT_TRACK_AUDIO 1

typedef struct cc_srt_demux_hooks {
    /* Blocks until at least one byte is available: returns the count (1..len),
     * CC_ECLOSED at the end of the stream, or another negative code to abort
     * (the demuxer returns that code). */
    int (*read)(void *opaque, uint8_t *buf, size_t len);
    /* A track was added or its configuration changed.  Ownership of
     * track->config passes to the callee.  A negative return aborts. */
    int (*on_track)(void *opaque, int index, cc_track_t *track);
    /* One frame; ownership of frame->buf (one reference) passes to the callee. */
    int (*on_frame)(void *opaque, cc_frame_t *frame);
    void *opaque;
} cc_srt_demux_hooks_t;

typedef struct cc_srt_demux_config {
    size_t max_frame;        /* 8 MiB: a larger access unit is dropped */
    size_t max_probe_bytes;  /* 4 MiB: bytes read without a video stream before giving up */
    const char *log_name;    /* stream name for log lines ("-" when NULL) */
} cc_srt_demux_config_t;

void cc_srt_demux_config_default(cc_srt_demux_config_t *cfg);

typedef struct cc_srt_demux_stats {
    uint64_t bytes;   /* read from the publisher */
    uint64_t frames;  /* delivered (both tracks) */
    uint64_t skipped; /* packets or frames dropped: before the first keyframe, malformed, too big */
    uint64_t dts_fixed; /* DTS that went backwards and were clamped */
} cc_srt_demux_stats_t;

/* Runs the demuxer until the stream ends or fails.  Returns 0 when the read
 * hook reported CC_ECLOSED, the hook's code when it aborted, or:
 *   CC_EPROTO        not an MPEG-TS, or a demuxer error,
 *   CC_EUNSUPPORTED  no H.264/HEVC video in the program,
 *   CC_ENOMEM.
 * On failure why holds a one-line human message (why may be NULL). */
int cc_srt_demux_run(const cc_srt_demux_config_t *cfg, const cc_srt_demux_hooks_t *hooks,
                     cc_srt_demux_stats_t *stats, char *why, size_t whylen);

#endif

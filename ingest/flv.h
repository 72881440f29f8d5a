/* FLV audio/video tag bodies, as RTMP carries them in message types 8 and 9.
 *
 * Pure: no allocation, no I/O.  The parsers point into the caller's bytes.
 * Video covers the legacy VIDEODATA header (CodecID 7 = AVC) and Enhanced
 * RTMP's ExVideoTagHeader (FourCC "avc1", "hvc1", "av01"); audio covers AAC
 * (SoundFormat 10).  Anything else is CC_EUNSUPPORTED, which callers treat as
 * "skip this message", not as a broken connection. */
#ifndef CARTCAST_INGEST_FLV_H
#define CARTCAST_INGEST_FLV_H

#include <stdbool.h>
#include <stdint.h>

#include "cartcast/media.h"

typedef enum {
    CC_FLV_CONFIG, /* sequence header: data is the codec configuration record */
    CC_FLV_FRAME,  /* coded frame: data is the payload (length-prefixed NALUs / OBUs / raw AAC) */
    CC_FLV_EOS,    /* end of sequence: nothing to deliver */
    CC_FLV_SKIP,   /* valid but carries nothing for the hub (metadata, info frames) */
} cc_flv_kind_t;

typedef struct cc_flv_packet {
    cc_flv_kind_t kind;
    cc_codec_t codec;
    bool keyframe;
    int32_t cts; /* composition offset in ms: PTS = DTS + cts (video only) */
    const uint8_t *data;
    uint32_t len;
} cc_flv_packet_t;

/* 0, CC_EPROTO (truncated or inconsistent), or CC_EUNSUPPORTED (codec we do not take). */
int cc_flv_parse_video(const uint8_t *p, uint32_t len, cc_flv_packet_t *out);
int cc_flv_parse_audio(const uint8_t *p, uint32_t len, cc_flv_packet_t *out);

/* Builds a track from a CC_FLV_CONFIG packet: kind, codec, timescale 1000, a
 * copy of the configuration record in track->config, and what the record
 * tells (width/height from the SPS, sample rate/channels from the
 * AudioSpecificConfig).  Returns 0, CC_EPROTO for a record that does not
 * parse, or CC_ENOMEM.  On failure track is left cleared. */
int cc_flv_track_from_config(const cc_flv_packet_t *pkt, cc_track_t *track);

#endif

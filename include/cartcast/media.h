/* The media model shared by ingest, the hub and the packager.
 *
 * A stream has up to CC_MAX_TRACKS tracks; each frame names its track by index.
 * Timestamps are in the track's timescale (RTMP: 1000, MPEG-TS: 90000), on the
 * stream's own timeline: the first frame of a publish is near 0 and DTS never
 * goes backwards within a track.
 *
 * Video payloads are length-prefixed NAL units / OBUs (4-byte big-endian
 * lengths, the avcC/hvcC "AVCC" form; AV1 as low-overhead OBUs); audio
 * payloads are raw codec frames (AAC without ADTS). */
#ifndef CARTCAST_MEDIA_H
#define CARTCAST_MEDIA_H

#include <stdbool.h>
#include <stdint.h>

#include "cartcast/buf.h"

#define CC_MAX_TRACKS 4

typedef enum {
    CC_MEDIA_VIDEO,
    CC_MEDIA_AUDIO,
} cc_media_kind_t;

typedef enum {
    CC_CODEC_NONE = 0,
    CC_CODEC_H264,
    CC_CODEC_HEVC,
    CC_CODEC_AV1,
    CC_CODEC_AAC,
    CC_CODEC_MP3,
    CC_CODEC_OPUS,
} cc_codec_t;

/* "h264", "hevc", "av1", "aac", ... */
const char *cc_codec_name(cc_codec_t codec);

typedef struct cc_track {
    cc_media_kind_t kind;
    cc_codec_t codec;
    uint32_t timescale;
    /* Codec configuration record: avcC, hvcC, av1C or AudioSpecificConfig.
     * Owned by the track (one reference). NULL until the sequence header. */
    cc_buf_t *config;
    /* Video */
    uint32_t width, height;
    double frame_rate; /* 0 when unknown */
    /* Audio */
    uint32_t sample_rate, channels;
} cc_track_t;

typedef struct cc_frame {
    int track; /* index into the stream's tracks */
    int64_t dts, pts; /* track timescale */
    bool keyframe;
    /* The payload is [data, data+len) inside buf; buf holds a reference for
     * as long as the frame lives.  A subscriber that keeps the frame past its
     * on_frame callback takes its own reference with cc_buf_ref(buf). */
    cc_buf_t *buf;
    const uint8_t *data;
    uint32_t len;
    uint64_t arrival_us; /* wall clock (CLOCK_REALTIME) when it arrived, microseconds */
} cc_frame_t;

/* Copies a track description; the config buffer gets its own reference. */
void cc_track_copy(cc_track_t *dst, const cc_track_t *src);
/* Releases the config reference and clears the track. */
void cc_track_clear(cc_track_t *t);

/* Reads width/height from an avcC record's first SPS (0 on success). */
int cc_avcc_dimensions(const uint8_t *avcc, uint32_t len, uint32_t *width, uint32_t *height);
/* Reads sample rate and channel count from an AudioSpecificConfig. */
int cc_aac_asc_parse(const uint8_t *asc, uint32_t len, uint32_t *sample_rate, uint32_t *channels);

/* ---- Video sequence headers (core/media.c; see docs/codecs.md) ----
 * All of these are pure: they read [p, p+len) only, allocate nothing, and
 * return 0, CC_EPROTO (truncated, inconsistent or out of range) or CC_EINVAL
 * (NULL arguments). */

/* What a video configuration record / sequence header says about the picture. */
typedef struct cc_video_info {
    uint32_t width, height;   /* displayed size: cropping / conformance window applied */
    double frame_rate;        /* 0 when the bitstream does not say */
    uint8_t bit_depth;        /* luma bit depth */
    uint8_t chroma_format;    /* 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4 */
    uint8_t nal_length_size;  /* avcC/hvcC lengthSizeMinusOne + 1; 0 for AV1 */
} cc_video_info_t;

/* One H.264 SPS NAL unit (with its 1-byte NAL header, emulation prevention
 * bytes still in), ISO 14496-10 7.3.2.1.1. */
int cc_h264_sps_parse(const uint8_t *nal, uint32_t len, cc_video_info_t *vi);
/* One HEVC SPS NAL unit (2-byte NAL header), ISO 23008-2 7.3.2.2. Reads up to
 * the bit depths; frame_rate comes from the hvcC, not from here. */
int cc_hevc_sps_parse(const uint8_t *nal, uint32_t len, cc_video_info_t *vi);
/* A sequence of low-overhead AV1 OBUs (av1C configOBUs or a temporal unit);
 * parses the first sequence header OBU (AV1 spec 5.5). */
int cc_av1_seq_header_parse(const uint8_t *obus, uint32_t len, cc_video_info_t *vi);
/* A whole configuration record: avcC (CC_CODEC_H264), hvcC (CC_CODEC_HEVC)
 * or av1C (CC_CODEC_AV1).  CC_EUNSUPPORTED for any other codec. */
int cc_video_config_parse(cc_codec_t codec, const uint8_t *rec, uint32_t len, cc_video_info_t *vi);
/* Width/height from an hvcC record's first SPS / an av1C's sequence header. */
int cc_hvcc_dimensions(const uint8_t *hvcc, uint32_t len, uint32_t *width, uint32_t *height);
int cc_av1c_dimensions(const uint8_t *av1c, uint32_t len, uint32_t *width, uint32_t *height);

/* The RFC 6381 CODECS value for a track, from its configuration record:
 * "avc1.64001f", "hvc1.1.6.L93.B0", "av01.0.04M.08", "mp4a.40.2"; MP3 is
 * "mp4a.40.34", Opus "opus".  Writes a NUL-terminated string into out and
 * returns its length; CC_ETOOBIG when outlen is too small, CC_EINVAL when
 * the track has no config (H.264/HEVC/AV1/AAC need one), CC_EPROTO when the
 * record does not parse.  On error out is "" (when outlen > 0). */
int cc_track_codecs_string(const cc_track_t *t, char *out, size_t outlen);

#endif

/* Elementary streams out of MPEG-TS, into the hub's media model (media.h).
 *
 *  - H.264 / HEVC access units in Annex B (start codes) become 4-byte
 *    length-prefixed NAL units.  Parameter sets, access unit delimiters and
 *    filler data are left out of the frame: the parameter sets go into the
 *    avcC / hvcC record built here, exactly as an RTMP encoder sends them.
 *  - AAC in ADTS becomes raw frames plus a 2-byte AudioSpecificConfig.
 *  - 33-bit MPEG-TS timestamps are unwrapped onto a 64-bit timeline.
 *
 * Pure: no I/O and no allocation; every length is checked before it is read.
 * The demuxer (demux.c) and the fuzz harnesses drive these directly. */
#ifndef CARTCAST_INGEST_SRT_ES_H
#define CARTCAST_INGEST_SRT_ES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cartcast/buf.h"
#include "cartcast/media.h"

/* ---- Annex B ------------------------------------------------------------ */

/* Parameter sets kept per type and per access unit; more are ignored. */
#define CC_ES_PS_MAX 4
enum { CC_ES_VPS, CC_ES_SPS, CC_ES_PPS, CC_ES_PS_TYPES };

/* Iterates the NAL units of an Annex B buffer: *pos starts at 0.  Returns 1
 * with *nal pointing into p (trailing zero bytes trimmed), 0 at the end.
 * Bytes before the first start code are skipped. */
int cc_es_annexb_next(const uint8_t *p, size_t len, size_t *pos, cc_iov_t *nal);

typedef struct cc_es_au {
    bool keyframe;    /* an H.264 IDR slice / an HEVC IRAP picture */
    uint32_t nals;    /* NAL units kept in the frame */
    size_t out_len;   /* bytes of the length-prefixed frame (0: nothing to deliver) */
    /* Parameter sets in this access unit, views into the input (H.264 has no VPS). */
    cc_iov_t ps[CC_ES_PS_TYPES][CC_ES_PS_MAX];
    uint8_t nps[CC_ES_PS_TYPES];
} cc_es_au_t;

/* Scans one access unit of codec (CC_CODEC_H264 or CC_CODEC_HEVC).
 * 0, CC_EPROTO (no start code / no NAL unit), CC_ETOOBIG (output over 4 GiB),
 * CC_EUNSUPPORTED (another codec), CC_EINVAL. */
int cc_es_video_scan(cc_codec_t codec, const uint8_t *p, size_t len, cc_es_au_t *au);
/* Writes the length-prefixed frame that scan measured (au->out_len bytes)
 * into out.  Returns the bytes written or CC_ETOOBIG when outlen is short. */
int cc_es_video_write(cc_codec_t codec, const uint8_t *p, size_t len, uint8_t *out, size_t outlen);

/* Builds an avcC record (ISO 14496-15 5.3.3.1) from SPS and PPS NAL units
 * (with their NAL headers, emulation prevention bytes in): version 1, profile
 * / compatibility / level from the first SPS, 4-byte NAL lengths, and for
 * the High profiles the chroma format / bit depth extension as FFmpeg's mp4
 * muxer writes it.  Returns the record's length, CC_ETOOBIG when outlen is
 * short, CC_EPROTO when a set is missing, too long or the SPS does not parse. */
int cc_es_avcc_build(const cc_iov_t *sps, int nsps, const cc_iov_t *pps, int npps, uint8_t *out, size_t outlen);
/* Builds an hvcC record (ISO 14496-15 8.3.3.1) from VPS, SPS and PPS NAL
 * units: general profile / tier / level fields from the first SPS's
 * profile_tier_level, chroma format and bit depth from the SPS (chroma bit
 * depth taken equal to luma), temporal layers and nesting from the SPS, no
 * frame rate, 4-byte NAL lengths, arrays marked complete.  Same returns. */
int cc_es_hvcc_build(const cc_iov_t *vps, int nvps, const cc_iov_t *sps, int nsps, const cc_iov_t *pps,
                     int npps, uint8_t *out, size_t outlen);

/* ---- ADTS (ISO 14496-3 1.A.2) --------------------------------------------- */

typedef struct cc_adts {
    uint8_t object_type;   /* audioObjectType: profile + 1 (2 = AAC LC) */
    uint8_t sf_index;
    uint8_t channel_config;
    uint32_t sample_rate;
    uint32_t header_len;   /* 7, or 9 with a CRC */
    uint32_t frame_len;    /* header + payload */
} cc_adts_t;

/* Reads one ADTS header at p.  0; CC_EAGAIN when len is shorter than the
 * header or the frame it announces; CC_EPROTO for a bad sync word, layer,
 * sampling index or length; CC_EUNSUPPORTED for channel configuration 0
 * (a PCE) or several raw data blocks in one frame. */
int cc_es_adts_parse(const uint8_t *p, size_t len, cc_adts_t *out);
/* The 2-byte AudioSpecificConfig that describes h's stream. */
void cc_es_adts_asc(const cc_adts_t *h, uint8_t asc[2]);

/* ---- Timestamps ----------------------------------------------------------- */

#define CC_ES_TS_MASK ((INT64_C(1) << 33) - 1)

/* Unwraps 33-bit 90 kHz timestamps: each value moves the 64-bit time by its
 * signed 33-bit distance from the previous one, so a wrap (every 26.5 h)
 * moves forward and a slightly older value (audio behind video) moves back. */
typedef struct cc_es_unwrap {
    bool have;
    int64_t last_raw;
    int64_t ext;
} cc_es_unwrap_t;

int64_t cc_es_unwrap(cc_es_unwrap_t *u, int64_t raw);
/* Signed distance b - a between two 33-bit timestamps. */
int64_t cc_es_ts_diff(int64_t a, int64_t b);

#endif

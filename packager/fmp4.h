/* A CMAF / fragmented-MP4 box writer (ISO/IEC 14496-12, 14496-14/15, ISO/IEC
 * 23000-19): the init section for a set of tracks and one moof+mdat fragment
 * per LL-HLS part.  Pure: writes into a capped cc_dynbuf_t, no I/O.
 *
 * Why our own writer rather than libavformat's mp4 muxer: a part is a few
 * hundred bytes of boxes around payloads we already hold; writing them
 * directly avoids a muxer context, an AVPacket copy per frame and an AVIO
 * round trip per part (see docs/packager.md, "fMP4 writer"; not benchmarked yet).
 *
 * Both writers append to out (whatever it already holds stays in front) and
 * on any error leave out->len as it was, so a failed part never leaves half
 * a box behind.  Errors: CC_EINVAL (bad arguments), CC_EUNSUPPORTED (codec),
 * CC_ETOOBIG (out's cap, or a fragment past the 32-bit trun data_offset),
 * CC_ENOMEM. */
#ifndef CARTCAST_PACKAGER_FMP4_H
#define CARTCAST_PACKAGER_FMP4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cartcast/buf.h"
#include "cartcast/media.h"

#define CC_FMP4_MAX_TRACKS CC_MAX_TRACKS

typedef struct cc_fmp4_track {
    uint32_t track_id;         /* 1-based, unique in the file */
    uint32_t timescale;        /* mdhd timescale: 90000 for video, the sample rate for audio */
    const cc_track_t *track;   /* codec, configuration record, dimensions, audio format */
} cc_fmp4_track_t;

/* ftyp (iso6; iso6 cmfc mp41) + moov (mvhd, one trak per track with its
 * sample entry: avc1+avcC, hvc1+hvcC, av01+av1C, mp4a+esds; mvex/trex).
 * The configuration record is copied as-is.  0, CC_EINVAL for a track without
 * its configuration record (or a zero/duplicate track_id, zero timescale, more
 * than CC_FMP4_MAX_TRACKS), CC_EUNSUPPORTED for MP3/Opus or a codec that does
 * not match the track kind, CC_EPROTO for an ASC over 4 KiB, or a dynbuf error. */
int cc_fmp4_write_init(const cc_fmp4_track_t *tracks, size_t ntracks, cc_dynbuf_t *out);

typedef struct cc_fmp4_sample {
    uint32_t duration;   /* in the track's timescale */
    int32_t cts_offset;  /* PTS - DTS, in the track's timescale */
    bool keyframe;       /* sync sample; pass true for every audio frame (AAC) */
    const uint8_t *data; /* payload, copied into mdat; borrowed for the call only */
    uint32_t size;
} cc_fmp4_sample_t;

typedef struct cc_fmp4_run {
    uint32_t track_id;
    uint64_t base_dts;   /* tfdt baseMediaDecodeTime, track timescale */
    const cc_fmp4_sample_t *samples;
    size_t nsamples;
} cc_fmp4_run_t;

/* One fragment: moof (mfhd sequence_number, one traf per run with
 * tfhd default-base-is-moof, tfdt v1, trun with per-sample duration, size,
 * flags and (v1, signed) composition offsets) followed by one mdat holding
 * the runs' payloads in order.  Runs with no samples are left out (a
 * fragment with none at all is a bare moof/mfhd + empty mdat).  Sample
 * flags: keyframe -> sample_depends_on=2 (0x02000000), otherwise
 * depends_on=1 | is_non_sync (0x01010000).  Reserves the exact size once. */
int cc_fmp4_write_fragment(uint32_t sequence_number, const cc_fmp4_run_t *runs, size_t nruns, cc_dynbuf_t *out);

/* The exact number of bytes cc_fmp4_write_fragment would append for these
 * runs (to size a dynbuf cap or a cc_buf_t up front).  0 or the same
 * CC_EINVAL / CC_ETOOBIG the writer would return. */
int cc_fmp4_fragment_size(const cc_fmp4_run_t *runs, size_t nruns, size_t *size);

#endif

/* CMAF fMP4 writer: init section and moof+mdat fragments (see fmp4.h and
 * docs/packager.md "fMP4 writer").
 *
 * Spec references: ISO/IEC 14496-12:2015 (ISOBMFF, "12 §x"), 14496-14 (MP4,
 * esds), 14496-1 (descriptors), 14496-15 (avcC/hvcC sample entries), the AV1
 * ISOBMFF binding v1.2 (av01/av1C) and ISO/IEC 23000-19 (CMAF). */
#include <limits.h>
#include <string.h>

#include "cartcast/err.h"
#include "packager/fmp4.h"

/* ---- box writer -------------------------------------------------------
 * Appends to a dynbuf with a sticky error: every write checks the dynbuf's
 * result and the first failure is kept, so the box code reads as a plain
 * sequence and the caller checks once.  Boxes are remembered by offset, not
 * pointer, because an append may move the dynbuf's storage. */

typedef struct fmp4__w {
    cc_dynbuf_t *d;
    int err;
} fmp4__w_t;

static void w_bytes(fmp4__w_t *w, const void *p, size_t n)
{
    if (w->err == 0)
        w->err = cc_dynbuf_append(w->d, p, n);
}

static void w_zero(fmp4__w_t *w, size_t n)
{
    static const uint8_t zeros[64];
    while (n > 0 && w->err == 0) {
        size_t k = n < sizeof(zeros) ? n : sizeof(zeros);
        w_bytes(w, zeros, k);
        n -= k;
    }
}

static void w_u8(fmp4__w_t *w, uint8_t v) { w_bytes(w, &v, 1); }

static void w_u16(fmp4__w_t *w, uint16_t v)
{
    uint8_t b[2];
    cc_wr16(b, v);
    w_bytes(w, b, 2);
}

static void w_u24(fmp4__w_t *w, uint32_t v)
{
    uint8_t b[3];
    cc_wr24(b, v);
    w_bytes(w, b, 3);
}

static void w_u32(fmp4__w_t *w, uint32_t v)
{
    uint8_t b[4];
    cc_wr32(b, v);
    w_bytes(w, b, 4);
}

static void w_u64(fmp4__w_t *w, uint64_t v)
{
    w_u32(w, (uint32_t)(v >> 32));
    w_u32(w, (uint32_t)v);
}

static void w_fourcc(fmp4__w_t *w, const char *cc) { w_bytes(w, cc, 4); }

/* Starts a box (12 §4.2): size placeholder + type; returns its offset. */
static size_t w_box(fmp4__w_t *w, const char *type)
{
    size_t at = w->d->len;
    w_u32(w, 0);
    w_fourcc(w, type);
    return at;
}

/* Starts a FullBox: a box followed by version(8) and flags(24). */
static size_t w_fullbox(fmp4__w_t *w, const char *type, uint8_t version, uint32_t flags)
{
    size_t at = w_box(w, type);
    w_u8(w, version);
    w_u24(w, flags);
    return at;
}

/* Patches the size of the box started at `at`.  Our boxes stay far below
 * 4 GiB (the callers cap their input), so the 64-bit largesize is never needed. */
static void w_end(fmp4__w_t *w, size_t at)
{
    if (w->err != 0)
        return;
    size_t size = w->d->len - at;
    if (size > UINT32_MAX) {
        w->err = CC_ETOOBIG;
        return;
    }
    cc_wr32(w->d->data + at, (uint32_t)size);
}

/* The unity matrix of mvhd/tkhd (12 §8.2.2.3): {1,0,0, 0,1,0, 0,0,0x40000000}
 * in 16.16 / 2.30 fixed point. */
static void w_matrix(fmp4__w_t *w)
{
    static const uint32_t m[9] = {0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000};
    for (int i = 0; i < 9; i++)
        w_u32(w, m[i]);
}

/* ---- init section ---------------------------------------------------- */

/* ftyp (12 §4.3).  'iso6' as major brand because tfdt v1 / trun v1 with
 * signed composition offsets belong to that brand; 'cmfc' says the track
 * follows the CMAF structural constraints (23000-19 §7.2); 'mp41' keeps
 * older MP4 readers (some smart TVs, old QuickTime) willing to open it.
 * hls.js and AVPlayer do not gate on brands; this matches what Apple's
 * mediastreamsegmenter and FFmpeg's hls muxer emit in spirit. */
static void write_ftyp(fmp4__w_t *w)
{
    size_t b = w_box(w, "ftyp");
    w_fourcc(w, "iso6");
    w_u32(w, 0); /* minor_version */
    w_fourcc(w, "iso6");
    w_fourcc(w, "cmfc");
    w_fourcc(w, "mp41");
    w_end(w, b);
}

static void write_mvhd(fmp4__w_t *w, uint32_t next_track_id)
{
    /* 12 §8.2.2: duration 0 because a fragmented movie's length lives in the
     * fragments (mvex without mehd: unknown / live). */
    size_t b = w_fullbox(w, "mvhd", 0, 0);
    w_u32(w, 0);          /* creation_time */
    w_u32(w, 0);          /* modification_time */
    w_u32(w, 1000);       /* timescale */
    w_u32(w, 0);          /* duration */
    w_u32(w, 0x00010000); /* rate 1.0 */
    w_u16(w, 0x0100);     /* volume 1.0 */
    w_zero(w, 2 + 8);     /* reserved */
    w_matrix(w);
    w_zero(w, 24);        /* pre_defined */
    w_u32(w, next_track_id);
    w_end(w, b);
}

static void write_tkhd(fmp4__w_t *w, const cc_fmp4_track_t *ft)
{
    const cc_track_t *t = ft->track;
    bool video = t->kind == CC_MEDIA_VIDEO;
    /* flags: track_enabled | track_in_movie (12 §8.3.2). */
    size_t b = w_fullbox(w, "tkhd", 0, 0x000003);
    w_u32(w, 0); /* creation_time */
    w_u32(w, 0); /* modification_time */
    w_u32(w, ft->track_id);
    w_u32(w, 0); /* reserved */
    w_u32(w, 0); /* duration: unknown, fragmented */
    w_zero(w, 8);
    w_u16(w, 0); /* layer */
    w_u16(w, 0); /* alternate_group */
    w_u16(w, video ? 0 : 0x0100); /* volume: 1.0 for audio only */
    w_u16(w, 0);
    w_matrix(w);
    /* Presentation size in 16.16; the decoder's size comes from the codec
     * record, this one is what players scale to. */
    w_u32(w, video ? (uint32_t)((t->width & 0xffff) << 16) : 0);
    w_u32(w, video ? (uint32_t)((t->height & 0xffff) << 16) : 0);
    w_end(w, b);
}

static void write_mdhd(fmp4__w_t *w, const cc_fmp4_track_t *ft)
{
    size_t b = w_fullbox(w, "mdhd", 0, 0);
    w_u32(w, 0);
    w_u32(w, 0);
    w_u32(w, ft->timescale);
    w_u32(w, 0);
    /* pad(1) + ISO-639-2/T "und" packed as three 5-bit (c - 0x60) values. */
    w_u16(w, (uint16_t)((('u' - 0x60) << 10) | (('n' - 0x60) << 5) | ('d' - 0x60)));
    w_u16(w, 0);
    w_end(w, b);
}

static void write_hdlr(fmp4__w_t *w, bool video)
{
    size_t b = w_fullbox(w, "hdlr", 0, 0);
    w_u32(w, 0); /* pre_defined */
    w_fourcc(w, video ? "vide" : "soun");
    w_zero(w, 12);
    const char *name = video ? "VideoHandler" : "SoundHandler";
    w_bytes(w, name, strlen(name) + 1); /* NUL-terminated UTF-8 */
    w_end(w, b);
}

/* VisualSampleEntry (12 §12.1.3) + the codec's configuration box as-is. */
static void write_visual_entry(fmp4__w_t *w, const char *type, const char *cfgtype, const cc_track_t *t)
{
    size_t b = w_box(w, type);
    w_zero(w, 6);       /* SampleEntry reserved */
    w_u16(w, 1);        /* data_reference_index: the dref 'url ' self entry */
    w_zero(w, 16);      /* pre_defined, reserved, pre_defined[3] */
    w_u16(w, (uint16_t)t->width);
    w_u16(w, (uint16_t)t->height);
    w_u32(w, 0x00480000); /* 72 dpi */
    w_u32(w, 0x00480000);
    w_u32(w, 0);        /* reserved */
    w_u16(w, 1);        /* frame_count */
    w_zero(w, 32);      /* compressorname: empty Pascal string */
    w_u16(w, 0x0018);   /* depth: colour, no alpha */
    w_u16(w, 0xffff);   /* pre_defined = -1 */
    size_t c = w_box(w, cfgtype);
    w_bytes(w, t->config->data, t->config->len);
    w_end(w, c);
    w_end(w, b);
}

/* MPEG-4 descriptor header (14496-1 §8.3.3): tag + a length in the 4-byte
 * expandable form with continuation bits.  Fixed width keeps sizes
 * predictable and is what FFmpeg and Apple write. */
static void w_desc(fmp4__w_t *w, uint8_t tag, uint32_t len)
{
    w_u8(w, tag);
    w_u8(w, (uint8_t)(0x80 | ((len >> 21) & 0x7f)));
    w_u8(w, (uint8_t)(0x80 | ((len >> 14) & 0x7f)));
    w_u8(w, (uint8_t)(0x80 | ((len >> 7) & 0x7f)));
    w_u8(w, (uint8_t)(len & 0x7f));
}

/* The expandable length tops out at 28 bits; an ASC is a few bytes (a PCE
 * adds some), so anything near this is a broken record. */
#define FMP4__MAX_ASC 4096u

/* AudioSampleEntry 'mp4a' (12 §12.2.3, 14496-14 §5.6) with an esds whose
 * ES_Descriptor (14496-1 §7.2.6.5) carries DecoderConfigDescriptor
 * (§7.2.6.6: objectTypeIndication 0x40 = MPEG-4 Audio, streamType 5 =
 * AudioStream), DecoderSpecificInfo = the AudioSpecificConfig, and
 * SLConfigDescriptor predefined = 2 (reserved for MP4 files, 14496-14 §3.1.2). */
static void write_mp4a_entry(fmp4__w_t *w, const cc_fmp4_track_t *ft)
{
    const cc_track_t *t = ft->track;
    uint32_t asc_len = (uint32_t)t->config->len;
    size_t b = w_box(w, "mp4a");
    w_zero(w, 6);
    w_u16(w, 1);        /* data_reference_index */
    w_zero(w, 8);       /* reserved[2] */
    w_u16(w, (uint16_t)(t->channels ? t->channels : 2));
    w_u16(w, 16);       /* samplesize */
    w_u32(w, 0);        /* pre_defined, reserved */
    /* samplerate is 16.16, so it only holds rates < 65536; above that write
     * 0 and let the decoder take the rate from the ASC (which it does anyway). */
    uint32_t rate = t->sample_rate ? t->sample_rate : ft->timescale;
    w_u32(w, rate <= 0xffff ? rate << 16 : 0);

    size_t e = w_fullbox(w, "esds", 0, 0);
    uint32_t dsi = 5 + asc_len;
    uint32_t dcd = 13 + dsi;
    uint32_t sl = 5 + 1;
    w_desc(w, 0x03, 3 + (5 + dcd) + sl); /* ES_DescrTag */
    w_u16(w, (uint16_t)ft->track_id);   /* ES_ID: informative in MP4 files */
    w_u8(w, 0);                          /* no stream dependence, URL, OCR */
    w_desc(w, 0x04, dcd);                /* DecoderConfigDescrTag */
    w_u8(w, 0x40);
    w_u8(w, (5 << 2) | 1);               /* streamType 5, upStream 0, reserved 1 */
    w_u24(w, 0);                         /* bufferSizeDB: unknown */
    w_u32(w, 0);                         /* maxBitrate */
    w_u32(w, 0);                         /* avgBitrate: 0 = variable/unknown */
    w_desc(w, 0x05, asc_len);            /* DecSpecificInfoTag */
    w_bytes(w, t->config->data, asc_len);
    w_desc(w, 0x06, 1);                  /* SLConfigDescrTag */
    w_u8(w, 2);
    w_end(w, e);
    w_end(w, b);
}

static void write_stsd(fmp4__w_t *w, const cc_fmp4_track_t *ft)
{
    const cc_track_t *t = ft->track;
    size_t b = w_fullbox(w, "stsd", 0, 0);
    w_u32(w, 1); /* entry_count */
    switch (t->codec) {
    case CC_CODEC_H264:
        write_visual_entry(w, "avc1", "avcC", t); /* 14496-15 §5.4.2 */
        break;
    case CC_CODEC_HEVC:
        /* hvc1, not hev1: parameter sets only in the hvcC, which is what
         * Apple requires for HLS (HLS authoring spec 1.10) and what our
         * ingest gives us. */
        write_visual_entry(w, "hvc1", "hvcC", t); /* 14496-15 §8.4.1 */
        break;
    case CC_CODEC_AV1:
        write_visual_entry(w, "av01", "av1C", t); /* AV1-ISOBMFF §2.2, §2.3 */
        break;
    case CC_CODEC_AAC:
        write_mp4a_entry(w, ft);
        break;
    default:
        w->err = CC_EUNSUPPORTED; /* checked up front; kept as a backstop */
        break;
    }
    w_end(w, b);
}

/* Empty sample tables: in a fragmented file every sample lives in a moof
 * (12 §8.8.1), but stts/stsc/stsz/stco are still mandatory in stbl. */
static void write_empty_tables(fmp4__w_t *w)
{
    size_t b = w_fullbox(w, "stts", 0, 0);
    w_u32(w, 0);
    w_end(w, b);
    b = w_fullbox(w, "stsc", 0, 0);
    w_u32(w, 0);
    w_end(w, b);
    b = w_fullbox(w, "stsz", 0, 0);
    w_u32(w, 0); /* sample_size */
    w_u32(w, 0); /* sample_count */
    w_end(w, b);
    b = w_fullbox(w, "stco", 0, 0);
    w_u32(w, 0);
    w_end(w, b);
}

static void write_trak(fmp4__w_t *w, const cc_fmp4_track_t *ft)
{
    bool video = ft->track->kind == CC_MEDIA_VIDEO;
    size_t trak = w_box(w, "trak");
    write_tkhd(w, ft);
    size_t mdia = w_box(w, "mdia");
    write_mdhd(w, ft);
    write_hdlr(w, video);
    size_t minf = w_box(w, "minf");
    if (video) {
        size_t b = w_fullbox(w, "vmhd", 0, 1); /* flags 1: required by 12 §12.1.2 */
        w_zero(w, 8);                           /* graphicsmode copy, opcolor */
        w_end(w, b);
    } else {
        size_t b = w_fullbox(w, "smhd", 0, 0);
        w_u32(w, 0); /* balance, reserved */
        w_end(w, b);
    }
    size_t dinf = w_box(w, "dinf");
    size_t dref = w_fullbox(w, "dref", 0, 0);
    w_u32(w, 1);
    size_t url = w_fullbox(w, "url ", 0, 1); /* flags 1: media is in this file */
    w_end(w, url);
    w_end(w, dref);
    w_end(w, dinf);
    size_t stbl = w_box(w, "stbl");
    write_stsd(w, ft);
    write_empty_tables(w);
    w_end(w, stbl);
    w_end(w, minf);
    w_end(w, mdia);
    w_end(w, trak);
}

static bool codec_supported(const cc_track_t *t)
{
    switch (t->codec) {
    case CC_CODEC_H264:
    case CC_CODEC_HEVC:
    case CC_CODEC_AV1:
        return t->kind == CC_MEDIA_VIDEO;
    case CC_CODEC_AAC:
        return t->kind == CC_MEDIA_AUDIO;
    default:
        return false;
    }
}

static int check_tracks(const cc_fmp4_track_t *tracks, size_t ntracks)
{
    if (tracks == NULL || ntracks == 0 || ntracks > CC_FMP4_MAX_TRACKS)
        return CC_EINVAL;
    for (size_t i = 0; i < ntracks; i++) {
        const cc_fmp4_track_t *ft = &tracks[i];
        if (ft->track == NULL || ft->track_id == 0 || ft->timescale == 0)
            return CC_EINVAL;
        for (size_t j = 0; j < i; j++)
            if (tracks[j].track_id == ft->track_id)
                return CC_EINVAL;
        if (!codec_supported(ft->track))
            return CC_EUNSUPPORTED;
        const cc_buf_t *cfg = ft->track->config;
        if (cfg == NULL || cfg->len == 0)
            return CC_EINVAL;
        if (ft->track->codec == CC_CODEC_AAC && cfg->len > FMP4__MAX_ASC)
            return CC_EPROTO;
        /* A configuration record inside a 32-bit box with room to spare. */
        if (cfg->len > (1u << 24))
            return CC_ETOOBIG;
    }
    return 0;
}

int cc_fmp4_write_init(const cc_fmp4_track_t *tracks, size_t ntracks, cc_dynbuf_t *out)
{
    if (out == NULL)
        return CC_EINVAL;
    int r = check_tracks(tracks, ntracks);
    if (r < 0)
        return r;

    /* Fixed boxes are about 600 bytes per track; reserving once keeps this
     * to one allocation in the common case (and fails early on a tight cap). */
    size_t need = 64 + 128;
    uint32_t max_id = 0;
    for (size_t i = 0; i < ntracks; i++) {
        need += 640 + tracks[i].track->config->len;
        if (tracks[i].track_id > max_id)
            max_id = tracks[i].track_id;
    }
    size_t start = out->len;
    fmp4__w_t w = {out, cc_dynbuf_reserve(out, need)};
    if (w.err == CC_ENOMEM)
        return w.err;
    w.err = 0; /* a tight cap may still fit the exact size: let the writes decide */

    write_ftyp(&w);
    size_t moov = w_box(&w, "moov");
    write_mvhd(&w, max_id == UINT32_MAX ? UINT32_MAX : max_id + 1);
    for (size_t i = 0; i < ntracks; i++)
        write_trak(&w, &tracks[i]);
    /* mvex/trex (12 §8.8.1, §8.8.3): marks the movie as fragmented.  No
     * defaults: every trun carries its own durations, sizes and flags. */
    size_t mvex = w_box(&w, "mvex");
    for (size_t i = 0; i < ntracks; i++) {
        size_t b = w_fullbox(&w, "trex", 0, 0);
        w_u32(&w, tracks[i].track_id);
        w_u32(&w, 1); /* default_sample_description_index */
        w_u32(&w, 0); /* default_sample_duration */
        w_u32(&w, 0); /* default_sample_size */
        w_u32(&w, 0); /* default_sample_flags */
        w_end(&w, b);
    }
    w_end(&w, mvex);
    w_end(&w, moov);

    if (w.err != 0) {
        out->len = start; /* leave out as we found it */
        return w.err;
    }
    return 0;
}

/* ---- fragments ------------------------------------------------------- */

/* Sample flags (12 §8.8.3.1): is_leading(2) sample_depends_on(2)
 * sample_is_depended_on(2) sample_has_redundancy(2) padding(3)
 * sample_is_non_sync_sample(1) degradation_priority(16).
 * A sync sample "does not depend on others" (depends_on = 2); everything
 * else "depends on others" (1) and is non-sync.  MSE (Chromium) and AVPlayer
 * use these to find random access points inside a part. */
#define FMP4__FLAGS_SYNC 0x02000000u
#define FMP4__FLAGS_NON_SYNC 0x01010000u

/* trun flags (12 §8.8.8): data-offset | duration | size | flags | cts offset. */
#define FMP4__TRUN_FLAGS 0x000f01u

#define FMP4__MFHD_SIZE 16u
#define FMP4__TRAF_FIXED (8u + 16u + 20u + 20u) /* traf + tfhd + tfdt v1 + trun header */
#define FMP4__TRUN_SAMPLE 16u

/* Sizes of the moof and mdat payload for these runs; CC_ETOOBIG when the
 * fragment would not fit the 32-bit fields it needs (box sizes and the
 * signed trun data_offset). */
static int fragment_sizes(const cc_fmp4_run_t *runs, size_t nruns, uint64_t *moof, uint64_t *payload)
{
    uint64_t m = 8 + FMP4__MFHD_SIZE, p = 0;
    for (size_t i = 0; i < nruns; i++) {
        const cc_fmp4_run_t *r = &runs[i];
        if (r->nsamples == 0)
            continue;
        if (r->samples == NULL || r->track_id == 0)
            return CC_EINVAL;
        if (r->nsamples > UINT32_MAX / FMP4__TRUN_SAMPLE)
            return CC_ETOOBIG;
        m += FMP4__TRAF_FIXED + (uint64_t)FMP4__TRUN_SAMPLE * r->nsamples;
        for (size_t k = 0; k < r->nsamples; k++) {
            if (r->samples[k].data == NULL && r->samples[k].size > 0)
                return CC_EINVAL;
            p += r->samples[k].size;
        }
        if (m + 8 + p > INT32_MAX)
            return CC_ETOOBIG;
    }
    *moof = m;
    *payload = p;
    return 0;
}

int cc_fmp4_fragment_size(const cc_fmp4_run_t *runs, size_t nruns, size_t *size)
{
    if ((runs == NULL && nruns > 0) || size == NULL)
        return CC_EINVAL;
    uint64_t moof, payload;
    int r = fragment_sizes(runs, nruns, &moof, &payload);
    if (r < 0)
        return r;
    *size = (size_t)(moof + 8 + payload);
    return 0;
}

int cc_fmp4_write_fragment(uint32_t sequence_number, const cc_fmp4_run_t *runs, size_t nruns, cc_dynbuf_t *out)
{
    if (out == NULL || (runs == NULL && nruns > 0))
        return CC_EINVAL;
    uint64_t moof_size, payload;
    int r = fragment_sizes(runs, nruns, &moof_size, &payload);
    if (r < 0)
        return r;
    /* The whole fragment in one reservation: the sizes are known exactly, so
     * the writes below never reallocate, and a cap that is too small fails
     * here before anything is written. */
    r = cc_dynbuf_reserve(out, (size_t)(moof_size + 8 + payload));
    if (r < 0)
        return r;

    size_t start = out->len;
    fmp4__w_t w = {out, 0};
    size_t moof = w_box(&w, "moof");
    size_t b = w_fullbox(&w, "mfhd", 0, 0);
    w_u32(&w, sequence_number);
    w_end(&w, b);

    /* default-base-is-moof (12 §8.8.7.1, required by CMAF 23000-19 §7.5.16):
     * data_offset counts from the first byte of this moof, so the part stays
     * valid wherever it is served from. The first payload starts right after
     * the mdat header. */
    uint64_t data_at = moof_size + 8;
    for (size_t i = 0; i < nruns; i++) {
        const cc_fmp4_run_t *run = &runs[i];
        if (run->nsamples == 0)
            continue;
        size_t traf = w_box(&w, "traf");
        b = w_fullbox(&w, "tfhd", 0, 0x020000);
        w_u32(&w, run->track_id);
        w_end(&w, b);
        /* tfdt v1: 64-bit baseMediaDecodeTime (12 §8.8.12) so a 90 kHz clock
         * does not wrap after 13 hours. */
        b = w_fullbox(&w, "tfdt", 1, 0);
        w_u64(&w, run->base_dts);
        w_end(&w, b);
        /* trun v1: sample_composition_time_offset is signed (12 §8.8.8),
         * so a caller may shift DTS so that PTS of the first frame is 0. */
        b = w_fullbox(&w, "trun", 1, FMP4__TRUN_FLAGS);
        w_u32(&w, (uint32_t)run->nsamples);
        w_u32(&w, (uint32_t)data_at); /* <= INT32_MAX, checked in fragment_sizes */
        for (size_t k = 0; k < run->nsamples; k++) {
            const cc_fmp4_sample_t *s = &run->samples[k];
            w_u32(&w, s->duration);
            w_u32(&w, s->size);
            w_u32(&w, s->keyframe ? FMP4__FLAGS_SYNC : FMP4__FLAGS_NON_SYNC);
            w_u32(&w, (uint32_t)s->cts_offset);
            data_at += s->size;
        }
        w_end(&w, b);
        w_end(&w, traf);
    }
    w_end(&w, moof);

    /* One mdat for all runs, payloads in run order (12 §8.1.1). */
    size_t mdat = w_box(&w, "mdat");
    for (size_t i = 0; i < nruns; i++)
        for (size_t k = 0; k < runs[i].nsamples; k++)
            w_bytes(&w, runs[i].samples[k].data, runs[i].samples[k].size);
    w_end(&w, mdat);

    if (w.err == 0 && out->len - start != moof_size + 8 + payload)
        w.err = CC_EPROTO; /* the size arithmetic above is wrong: never ship it */
    if (w.err != 0) {
        out->len = start;
        return w.err;
    }
    return 0;
}

/* Annex B -> length-prefixed NAL units, avcC/hvcC builders, ADTS, 33-bit
 * timestamps.  See es.h. */
#include "ingest/srt/es.h"

#include <string.h>

#include "cartcast/err.h"

/* ---- Annex B ------------------------------------------------------------ */

/* Offset of the next 00 00 01 at or after from, or len. */
static size_t find_start(const uint8_t *p, size_t len, size_t from)
{
    size_t i = from + 2;
    while (i < len) {
        const uint8_t *one = memchr(p + i, 0x01, len - i);
        if (!one)
            return len;
        i = (size_t)(one - p);
        if (p[i - 1] == 0 && p[i - 2] == 0)
            return i - 2;
        i++;
    }
    return len;
}

int cc_es_annexb_next(const uint8_t *p, size_t len, size_t *pos, cc_iov_t *nal)
{
    size_t i = *pos;
    for (;;) {
        if (i >= len || len - i < 3) {
            *pos = len;
            return 0;
        }
        size_t sc = find_start(p, len, i);
        if (sc >= len) {
            *pos = len;
            return 0;
        }
        size_t start = sc + 3;
        size_t end = find_start(p, len, start);
        size_t stop = end;
        while (stop > start && p[stop - 1] == 0) /* trailing_zero_8bits, 4-byte start codes */
            stop--;
        *pos = end;
        i = end;
        if (stop > start) {
            nal->base = p + start;
            nal->len = stop - start;
            return 1;
        }
    }
}

static int nal_type(cc_codec_t codec, cc_iov_t nal)
{
    if (codec == CC_CODEC_H264)
        return nal.len >= 1 ? (nal.base[0] & 0x1f) : -1;
    return nal.len >= 2 ? ((nal.base[0] >> 1) & 0x3f) : -1;
}

/* The parameter-set slot of a NAL type, or -1; *drop for types left out of frames. */
static int classify(cc_codec_t codec, int type, int *drop, int *key)
{
    *drop = 0;
    *key = 0;
    if (type < 0) {
        *drop = 1;
        return -1;
    }
    if (codec == CC_CODEC_H264) {
        switch (type) {
        case 5: *key = 1; return -1;
        case 7: *drop = 1; return CC_ES_SPS;
        case 8: *drop = 1; return CC_ES_PPS;
        case 9: case 12: case 13: case 15: *drop = 1; return -1; /* AUD, filler, SPS ext, subset SPS */
        default: return -1;
        }
    }
    if (type >= 16 && type <= 23) /* IRAP: BLA, IDR, CRA */
        *key = 1;
    switch (type) {
    case 32: *drop = 1; return CC_ES_VPS;
    case 33: *drop = 1; return CC_ES_SPS;
    case 34: *drop = 1; return CC_ES_PPS;
    case 35: case 38: *drop = 1; return -1; /* AUD, filler */
    default: return -1;
    }
}

int cc_es_video_scan(cc_codec_t codec, const uint8_t *p, size_t len, cc_es_au_t *au)
{
    if (!au)
        return CC_EINVAL;
    memset(au, 0, sizeof(*au));
    if (!p && len)
        return CC_EINVAL;
    if (codec != CC_CODEC_H264 && codec != CC_CODEC_HEVC)
        return CC_EUNSUPPORTED;
    size_t pos = 0;
    cc_iov_t nal;
    int any = 0;
    while (cc_es_annexb_next(p, len, &pos, &nal)) {
        any = 1;
        int drop, key;
        int slot = classify(codec, nal_type(codec, nal), &drop, &key);
        if (slot >= 0 && au->nps[slot] < CC_ES_PS_MAX)
            au->ps[slot][au->nps[slot]++] = nal;
        if (drop)
            continue;
        if (key)
            au->keyframe = true;
        if (nal.len > UINT32_MAX - 4 || au->out_len > (size_t)UINT32_MAX - 4 - nal.len)
            return CC_ETOOBIG;
        au->out_len += 4 + nal.len;
        au->nals++;
    }
    return any ? 0 : CC_EPROTO;
}

int cc_es_video_write(cc_codec_t codec, const uint8_t *p, size_t len, uint8_t *out, size_t outlen)
{
    if ((!p && len) || (!out && outlen))
        return CC_EINVAL;
    size_t pos = 0, n = 0;
    cc_iov_t nal;
    while (cc_es_annexb_next(p, len, &pos, &nal)) {
        int drop, key;
        classify(codec, nal_type(codec, nal), &drop, &key);
        if (drop)
            continue;
        if (nal.len > outlen - n || outlen - n - nal.len < 4)
            return CC_ETOOBIG;
        cc_wr32(out + n, (uint32_t)nal.len);
        memcpy(out + n + 4, nal.base, nal.len);
        n += 4 + nal.len;
    }
    return n > (size_t)INT32_MAX ? CC_ETOOBIG : (int)n;
}

/* ---- configuration records ------------------------------------------------ */

typedef struct wr {
    uint8_t *p;
    size_t len, cap;
    int err;
} wr_t;

static void put8(wr_t *w, unsigned v)
{
    if (w->len >= w->cap) {
        w->err = 1;
        return;
    }
    w->p[w->len++] = (uint8_t)v;
}

static void put16(wr_t *w, unsigned v)
{
    put8(w, (v >> 8) & 0xff);
    put8(w, v & 0xff);
}

static void put_bytes(wr_t *w, const uint8_t *b, size_t n)
{
    if (n > w->cap - w->len) {
        w->err = 1;
        return;
    }
    memcpy(w->p + w->len, b, n);
    w->len += n;
}

static int sets_ok(const cc_iov_t *s, int n, int max, size_t min_len)
{
    if (!s || n < 1 || n > max)
        return 0;
    for (int i = 0; i < n; i++)
        if (!s[i].base || s[i].len < min_len || s[i].len > 0xffff)
            return 0;
    return 1;
}

static int finish(wr_t *w)
{
    if (w->err)
        return CC_ETOOBIG;
    return (int)w->len;
}

int cc_es_avcc_build(const cc_iov_t *sps, int nsps, const cc_iov_t *pps, int npps, uint8_t *out, size_t outlen)
{
    if (!out && outlen)
        return CC_EINVAL;
    if (!sets_ok(sps, nsps, 31, 4) || !sets_ok(pps, npps, 255, 1))
        return CC_EPROTO;
    cc_video_info_t vi;
    if (cc_h264_sps_parse(sps[0].base, (uint32_t)sps[0].len, &vi) < 0)
        return CC_EPROTO;
    const uint8_t *s = sps[0].base;
    wr_t w = {out, 0, outlen, 0};
    put8(&w, 1);    /* configurationVersion */
    put8(&w, s[1]); /* AVCProfileIndication */
    put8(&w, s[2]); /* profile_compatibility */
    put8(&w, s[3]); /* AVCLevelIndication */
    put8(&w, 0xfc | 3); /* lengthSizeMinusOne = 3 */
    put8(&w, 0xe0 | (unsigned)nsps);
    for (int i = 0; i < nsps; i++) {
        put16(&w, (unsigned)sps[i].len);
        put_bytes(&w, sps[i].base, sps[i].len);
    }
    put8(&w, (unsigned)npps);
    for (int i = 0; i < npps; i++) {
        put16(&w, (unsigned)pps[i].len);
        put_bytes(&w, pps[i].base, pps[i].len);
    }
    if (s[1] != 66 && s[1] != 77 && s[1] != 88) { /* 5.3.3.1.2: the High profiles' extension */
        unsigned depth = vi.bit_depth >= 8 ? vi.bit_depth - 8u : 0u;
        put8(&w, 0xfc | (vi.chroma_format & 3));
        put8(&w, 0xf8 | (depth & 7));
        put8(&w, 0xf8 | (depth & 7));
        put8(&w, 0); /* numOfSequenceParameterSetExt */
    }
    return finish(&w);
}

/* Unescapes the first bytes of a NAL unit's payload (after skip header bytes). */
static size_t rbsp_head(const cc_iov_t *nal, size_t skip, uint8_t *out, size_t outlen)
{
    size_t n = 0, zeros = 0;
    for (size_t i = skip; i < nal->len && n < outlen; i++) {
        uint8_t b = nal->base[i];
        if (zeros >= 2 && b == 3) {
            zeros = 0;
            continue;
        }
        zeros = b == 0 ? zeros + 1 : 0;
        out[n++] = b;
    }
    return n;
}

static void put_array(wr_t *w, int type, const cc_iov_t *s, int n)
{
    put8(w, 0x80 | (unsigned)type); /* array_completeness = 1: every set is here, none in-band */
    put16(w, (unsigned)n);
    for (int i = 0; i < n; i++) {
        put16(w, (unsigned)s[i].len);
        put_bytes(w, s[i].base, s[i].len);
    }
}

int cc_es_hvcc_build(const cc_iov_t *vps, int nvps, const cc_iov_t *sps, int nsps, const cc_iov_t *pps,
                     int npps, uint8_t *out, size_t outlen)
{
    if (!out && outlen)
        return CC_EINVAL;
    if (!sets_ok(vps, nvps, 16, 3) || !sets_ok(sps, nsps, 16, 3) || !sets_ok(pps, npps, 64, 3))
        return CC_EPROTO;
    cc_video_info_t vi;
    if (cc_hevc_sps_parse(sps[0].base, (uint32_t)sps[0].len, &vi) < 0)
        return CC_EPROTO;
    /* sps_video_parameter_set_id .. general_level_idc: 13 byte-aligned bytes (7.3.2.2, 7.3.3). */
    uint8_t h[13];
    if (rbsp_head(&sps[0], 2, h, sizeof(h)) < sizeof(h))
        return CC_EPROTO;
    unsigned max_sub_layers = ((h[0] >> 1) & 7) + 1, nested = h[0] & 1;
    unsigned depth = vi.bit_depth >= 8 ? vi.bit_depth - 8u : 0u;
    wr_t w = {out, 0, outlen, 0};
    put8(&w, 1);                 /* configurationVersion */
    put8(&w, h[1]);              /* profile_space, tier_flag, profile_idc */
    put_bytes(&w, h + 2, 4);     /* general_profile_compatibility_flags */
    put_bytes(&w, h + 6, 6);     /* general constraint indicator flags */
    put8(&w, h[12]);             /* general_level_idc */
    put16(&w, 0xf000);           /* min_spatial_segmentation_idc = 0 */
    put8(&w, 0xfc);              /* parallelismType = 0 (unknown) */
    put8(&w, 0xfc | (vi.chroma_format & 3));
    put8(&w, 0xf8 | (depth & 7)); /* bitDepthLumaMinus8 */
    put8(&w, 0xf8 | (depth & 7)); /* bitDepthChromaMinus8 */
    put16(&w, 0);                /* avgFrameRate: unknown */
    put8(&w, (max_sub_layers & 7) << 3 | nested << 2 | 3); /* constantFrameRate 0, lengthSizeMinusOne 3 */
    put8(&w, 3);                 /* numOfArrays */
    put_array(&w, 32, vps, nvps);
    put_array(&w, 33, sps, nsps);
    put_array(&w, 34, pps, npps);
    return finish(&w);
}

/* ---- ADTS ----------------------------------------------------------------- */

static const uint32_t aac_rates[13] = {96000, 88200, 64000, 48000, 44100, 32000, 24000,
                                       22050, 16000, 12000, 11025, 8000,  7350};

int cc_es_adts_parse(const uint8_t *p, size_t len, cc_adts_t *out)
{
    if (!out || (!p && len))
        return CC_EINVAL;
    memset(out, 0, sizeof(*out));
    if (len < 2)
        return CC_EAGAIN;
    if (p[0] != 0xff || (p[1] & 0xf0) != 0xf0 || (p[1] & 0x06) != 0) /* syncword, layer 0 */
        return CC_EPROTO;
    if (len < 7)
        return CC_EAGAIN;
    unsigned protection_absent = p[1] & 1;
    unsigned profile = p[2] >> 6;
    unsigned sfi = (p[2] >> 2) & 0x0f;
    unsigned ch = ((p[2] & 1u) << 2) | (p[3] >> 6);
    uint32_t flen = ((uint32_t)(p[3] & 3) << 11) | ((uint32_t)p[4] << 3) | (p[5] >> 5);
    unsigned blocks = p[6] & 3;
    uint32_t hlen = protection_absent ? 7 : 9;
    if (sfi >= 13 || flen <= hlen)
        return CC_EPROTO;
    if (ch == 0 || blocks != 0)
        return CC_EUNSUPPORTED;
    out->object_type = (uint8_t)(profile + 1);
    out->sf_index = (uint8_t)sfi;
    out->channel_config = (uint8_t)ch;
    out->sample_rate = aac_rates[sfi];
    out->header_len = hlen;
    out->frame_len = flen;
    return len < flen ? CC_EAGAIN : 0;
}

void cc_es_adts_asc(const cc_adts_t *h, uint8_t asc[2])
{
    /* audioObjectType(5) samplingFrequencyIndex(4) channelConfiguration(4) GASpecificConfig 000 */
    unsigned v = (unsigned)h->object_type << 11 | (unsigned)h->sf_index << 7 | (unsigned)h->channel_config << 3;
    asc[0] = (uint8_t)(v >> 8);
    asc[1] = (uint8_t)v;
}

/* ---- timestamps ----------------------------------------------------------- */

int64_t cc_es_ts_diff(int64_t a, int64_t b)
{
    int64_t d = (b - a) & CC_ES_TS_MASK;
    if (d >= (INT64_C(1) << 32))
        d -= INT64_C(1) << 33;
    return d;
}

int64_t cc_es_unwrap(cc_es_unwrap_t *u, int64_t raw)
{
    raw &= CC_ES_TS_MASK;
    if (!u->have) {
        u->have = true;
        u->last_raw = raw;
        u->ext = raw;
        return raw;
    }
    u->ext += cc_es_ts_diff(u->last_raw, raw);
    u->last_raw = raw;
    return u->ext;
}

/* packager/fmp4.c: CMAF init sections and moof+mdat fragments.
 *
 * Two kinds of test:
 *  - pure: walk every box we write and check each size field against its
 *    children, read the boxes back field by field, follow every trun
 *    data_offset to the payload bytes it must point at, and check the error
 *    returns (missing config, caps too small at every byte, bad runs).
 *  - real: ffmpeg encodes a 3 s clip (x264 with B-frames + AAC in FLV; x265
 *    and SVT-AV1/libaom in MP4 when those encoders exist), libavformat
 *    demuxes it HERE ONLY, we write init + 200 ms fragments, and ffprobe /
 *    ffmpeg read our file back: codecs, sizes, frame counts, no decode
 *    errors, the exact PTS/DTS we wrote, and the same payload hashes as the
 *    source (framemd5 with -c copy). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <libavformat/avformat.h>
#include <libavutil/mathematics.h>

#include "cartcast/buf.h"
#include "cartcast/err.h"
#include "cartcast/media.h"
#include "packager/fmp4.h"

/* ---- box reading helpers ------------------------------------------- */

typedef struct box {
    const uint8_t *start; /* first byte of the header */
    const uint8_t *body;  /* after size+type */
    size_t size;          /* whole box */
    size_t body_len;
} box_t;

/* Bytes to skip inside a box before its child boxes, or -1 if it is a leaf.
 * stsd/dref: FullBox + entry_count (12 §8.5.2, §8.7.2); sample entries:
 * VisualSampleEntry 78, AudioSampleEntry 28 bytes (12 §12.1.3, §12.2.3). */
static int child_skip(const uint8_t *type)
{
    static const char *plain[] = {"moov", "trak", "mdia", "minf", "dinf", "stbl", "mvex", "moof", "traf"};
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
        if (memcmp(type, plain[i], 4) == 0)
            return 0;
    if (memcmp(type, "stsd", 4) == 0 || memcmp(type, "dref", 4) == 0)
        return 8;
    if (memcmp(type, "avc1", 4) == 0 || memcmp(type, "hvc1", 4) == 0 || memcmp(type, "av01", 4) == 0)
        return 78;
    if (memcmp(type, "mp4a", 4) == 0)
        return 28;
    return -1;
}

/* Walks [p, p+len) as a sequence of boxes and recurses into containers:
 * every size must be >= 8, fit its parent, and the children must fill their
 * parent exactly.  Returns the number of boxes, or -1 on the first mismatch. */
static int walk_boxes(const uint8_t *p, size_t len, int depth)
{
    int n = 0;
    size_t off = 0;
    if (depth > 12)
        return -1;
    while (off < len) {
        if (len - off < 8)
            return -1;
        uint32_t size = cc_rd32(p + off);
        if (size < 8 || size > len - off)
            return -1;
        int skip = child_skip(p + off + 4);
        if (skip >= 0) {
            if ((size_t)skip > size - 8)
                return -1;
            int k = walk_boxes(p + off + 8 + skip, size - 8 - skip, depth + 1);
            if (k < 0)
                return -1;
            n += k;
        }
        n++;
        off += size;
    }
    return off == len ? n : -1;
}

/* The index-th box (0-based, document order) at a slash path such as
 * "moov/trak/mdia/mdhd": a depth-first search counting full-path matches. */
static bool find_rec(const uint8_t *p, size_t len, const char *path, int *index, box_t *out)
{
    size_t off = 0;
    while (off + 8 <= len) {
        uint32_t size = cc_rd32(p + off);
        if (size < 8 || size > len - off)
            return false;
        const uint8_t *type = p + off + 4;
        if (memcmp(type, path, 4) == 0) {
            if (path[4] == '\0') {
                if ((*index)-- == 0) {
                    out->start = p + off;
                    out->body = p + off + 8;
                    out->size = size;
                    out->body_len = size - 8;
                    return true;
                }
            } else {
                int skip = child_skip(type);
                if (skip >= 0 && (size_t)skip <= size - 8 &&
                    find_rec(p + off + 8 + skip, size - 8 - skip, path + 5, index, out))
                    return true;
            }
        }
        off += size;
    }
    return false;
}

static bool find_box(const uint8_t *p, size_t len, const char *path, int index, box_t *out)
{
    return find_rec(p, len, path, &index, out);
}

static int count_boxes(const uint8_t *p, size_t len, const char *path)
{
    box_t b;
    int n = 0;
    while (find_box(p, len, path, n, &b))
        n++;
    return n;
}

/* An MPEG-4 descriptor (14496-1 §8.3.3): tag + expandable length. */
static const uint8_t *read_desc(const uint8_t *p, const uint8_t *end, uint8_t tag, uint32_t *len)
{
    if (p >= end || *p != tag)
        return NULL;
    p++;
    uint32_t l = 0;
    for (int i = 0; i < 4; i++) {
        if (p >= end)
            return NULL;
        uint8_t b = *p++;
        l = (l << 7) | (b & 0x7f);
        if (!(b & 0x80))
            break;
    }
    if (l > (size_t)(end - p))
        return NULL;
    *len = l;
    return p;
}

/* ---- fixtures --------------------------------------------------------- */

/* Real records: the avcC of a libx264 64x64 stream (from test_flv.c) and
 * AAC-LC 48 kHz stereo.  The writer copies them as-is. */
static const uint8_t avcc[] = {
    0x01, 0x64, 0x00, 0x0a, 0xff, 0xe1, 0x00, 0x18, 0x67, 0x64, 0x00, 0x0a,
    0xac, 0xd9, 0x44, 0x26, 0xc0, 0x44, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00,
    0x00, 0x03, 0x00, 0xf0, 0x3c, 0x48, 0x96, 0x58, 0x01, 0x00, 0x06, 0x68,
    0xeb, 0xe0, 0xe4, 0xb2, 0x2c, 0xfd, 0xf8, 0xf8, 0x00,
};
static const uint8_t asc[] = {0x11, 0x90};
/* Stand-ins: the writer does not parse hvcC/av1C, it only wraps them. */
static const uint8_t hvcc[] = {0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5d};
static const uint8_t av1c[] = {0x81, 0x00, 0x0c, 0x00};

static cc_track_t mk_track(cc_media_kind_t kind, cc_codec_t codec, const uint8_t *cfg, size_t cfglen)
{
    cc_track_t t;
    memset(&t, 0, sizeof(t));
    t.kind = kind;
    t.codec = codec;
    t.timescale = kind == CC_MEDIA_VIDEO ? 90000 : 48000;
    t.config = cfg ? cc_buf_from(cfg, cfglen) : NULL;
    if (kind == CC_MEDIA_VIDEO) {
        t.width = 320;
        t.height = 240;
    } else {
        t.sample_rate = 48000;
        t.channels = 2;
    }
    return t;
}

/* ---- pure tests: init --------------------------------------------------- */

static void check_init_common(const cc_dynbuf_t *d, int ntracks)
{
    assert_true(walk_boxes(d->data, d->len, 0) > 0);
    box_t b;
    assert_true(find_box(d->data, d->len, "ftyp", 0, &b));
    assert_ptr_equal(b.start, d->data); /* ftyp first (12 §4.3) */
    assert_memory_equal(b.body, "iso6\0\0\0\0iso6cmfcmp41", 20);
    assert_true(find_box(d->data, d->len, "moov/mvhd", 0, &b));
    assert_int_equal(cc_rd32(b.body + 4 + 8), 1000);                       /* timescale */
    assert_int_equal(cc_rd32(b.body + b.body_len - 4), (uint32_t)ntracks + 1); /* next_track_ID */
    assert_int_equal(count_boxes(d->data, d->len, "moov/trak"), ntracks);
    assert_int_equal(count_boxes(d->data, d->len, "moov/mvex/trex"), ntracks);
    for (int i = 0; i < ntracks; i++) {
        assert_true(find_box(d->data, d->len, "moov/mvex/trex", i, &b));
        assert_int_equal(cc_rd32(b.body + 4), (uint32_t)i + 1);
        assert_int_equal(cc_rd32(b.body + 8), 1); /* default_sample_description_index */
        assert_true(find_box(d->data, d->len, "moov/trak/tkhd", i, &b));
        assert_int_equal(cc_rd32(b.body) & 0xffffff, 3); /* enabled | in_movie */
        assert_int_equal(cc_rd32(b.body + 12), (uint32_t)i + 1);
        for (const char *const *p = (const char *const[]){"stts", "stsc", "stco", NULL}; *p; p++) {
            char path[64];
            snprintf(path, sizeof(path), "moov/trak/mdia/minf/stbl/%s", *p);
            assert_true(find_box(d->data, d->len, path, i, &b));
            assert_int_equal(b.size, 16); /* empty: entry_count 0 */
        }
        assert_true(find_box(d->data, d->len, "moov/trak/mdia/minf/dinf/dref/url ", i, &b));
        assert_int_equal(cc_rd32(b.body), 1); /* self-contained */
    }
}

static void test_init_h264_aac(void **state)
{
    (void)state;
    cc_track_t v = mk_track(CC_MEDIA_VIDEO, CC_CODEC_H264, avcc, sizeof(avcc));
    cc_track_t a = mk_track(CC_MEDIA_AUDIO, CC_CODEC_AAC, asc, sizeof(asc));
    cc_fmp4_track_t ft[2] = {{1, 90000, &v}, {2, 48000, &a}};
    cc_dynbuf_t d;
    cc_dynbuf_init(&d, 1 << 16);
    assert_int_equal(cc_fmp4_write_init(ft, 2, &d), 0);
    check_init_common(&d, 2);

    box_t b;
    /* video: tkhd 320x240 in 16.16, volume 0, mdhd 90 kHz und, vide, vmhd */
    assert_true(find_box(d.data, d.len, "moov/trak/tkhd", 0, &b));
    assert_int_equal(cc_rd16(b.body + 4 + 32), 0);
    assert_int_equal(cc_rd32(b.body + b.body_len - 8), 320u << 16);
    assert_int_equal(cc_rd32(b.body + b.body_len - 4), 240u << 16);
    assert_true(find_box(d.data, d.len, "moov/trak/mdia/mdhd", 0, &b));
    assert_int_equal(cc_rd32(b.body + 12), 90000);
    assert_int_equal(cc_rd16(b.body + 20), 0x55c4); /* "und" */
    assert_true(find_box(d.data, d.len, "moov/trak/mdia/hdlr", 0, &b));
    assert_memory_equal(b.body + 8, "vide", 4);
    assert_string_equal((const char *)b.body + 24, "VideoHandler");
    assert_true(find_box(d.data, d.len, "moov/trak/mdia/minf/vmhd", 0, &b));
    assert_true(find_box(d.data, d.len, "moov/trak/mdia/minf/stbl/stsd/avc1", 0, &b));
    assert_int_equal(cc_rd16(b.body + 6), 1);   /* data_reference_index */
    assert_int_equal(cc_rd16(b.body + 24), 320);
    assert_int_equal(cc_rd16(b.body + 26), 240);
    assert_true(find_box(d.data, d.len, "moov/trak/mdia/minf/stbl/stsd/avc1/avcC", 0, &b));
    assert_int_equal(b.body_len, sizeof(avcc));
    assert_memory_equal(b.body, avcc, sizeof(avcc));

    /* audio: volume 1.0, soun, smhd, mp4a 2ch 16 bit 48000 << 16, esds */
    assert_true(find_box(d.data, d.len, "moov/trak/tkhd", 1, &b));
    assert_int_equal(cc_rd16(b.body + 4 + 32), 0x0100);
    assert_true(find_box(d.data, d.len, "moov/trak/mdia/mdhd", 1, &b));
    assert_int_equal(cc_rd32(b.body + 12), 48000);
    assert_true(find_box(d.data, d.len, "moov/trak/mdia/hdlr", 1, &b));
    assert_memory_equal(b.body + 8, "soun", 4);
    assert_true(find_box(d.data, d.len, "moov/trak/mdia/minf/smhd", 0, &b));
    assert_true(find_box(d.data, d.len, "moov/trak/mdia/minf/stbl/stsd/mp4a", 0, &b));
    assert_int_equal(cc_rd16(b.body + 16), 2);
    assert_int_equal(cc_rd16(b.body + 18), 16);
    assert_int_equal(cc_rd32(b.body + 24), 48000u << 16);
    assert_true(find_box(d.data, d.len, "moov/trak/mdia/minf/stbl/stsd/mp4a/esds", 0, &b));
    const uint8_t *end = b.body + b.body_len, *p = b.body + 4;
    uint32_t l = 0, es_len = 0; /* -O3 cannot see read_desc sets them */
    p = read_desc(p, end, 0x03, &es_len);
    assert_non_null(p);
    assert_int_equal(p + es_len, end); /* ES_Descriptor fills the esds */
    p += 3;                            /* ES_ID, flags */
    const uint8_t *dcd = read_desc(p, end, 0x04, &l);
    assert_non_null(dcd);
    assert_int_equal(dcd[0], 0x40);    /* MPEG-4 Audio */
    assert_int_equal(dcd[1] >> 2, 5);  /* AudioStream */
    const uint8_t *after_dcd = dcd + l;
    const uint8_t *dsi = read_desc(dcd + 13, after_dcd, 0x05, &l);
    assert_non_null(dsi);
    assert_int_equal(l, sizeof(asc));
    assert_memory_equal(dsi, asc, sizeof(asc));
    assert_ptr_equal(dsi + l, after_dcd);
    const uint8_t *sl = read_desc(after_dcd, end, 0x06, &l);
    assert_non_null(sl);
    assert_int_equal(l, 1);
    assert_int_equal(sl[0], 2);
    assert_ptr_equal(sl + 1, end);

    cc_dynbuf_free(&d);
    cc_track_clear(&v);
    cc_track_clear(&a);
}

static void test_init_hevc_av1(void **state)
{
    (void)state;
    cc_track_t h = mk_track(CC_MEDIA_VIDEO, CC_CODEC_HEVC, hvcc, sizeof(hvcc));
    cc_track_t x = mk_track(CC_MEDIA_VIDEO, CC_CODEC_AV1, av1c, sizeof(av1c));
    cc_track_t a = mk_track(CC_MEDIA_AUDIO, CC_CODEC_AAC, asc, sizeof(asc));
    cc_fmp4_track_t ft[3] = {{1, 90000, &h}, {2, 90000, &x}, {3, 44100, &a}};
    cc_dynbuf_t d;
    cc_dynbuf_init(&d, 1 << 16);
    /* something already in the buffer stays in front, untouched */
    assert_int_equal(cc_dynbuf_append(&d, "prefix", 6), 0);
    assert_int_equal(cc_fmp4_write_init(ft, 3, &d), 0);
    assert_memory_equal(d.data, "prefix", 6);
    const uint8_t *p = d.data + 6;
    size_t len = d.len - 6;
    check_init_common(&(cc_dynbuf_t){(uint8_t *)p, len, len, len}, 3);
    box_t b;
    assert_true(find_box(p, len, "moov/trak/mdia/minf/stbl/stsd/hvc1/hvcC", 0, &b));
    assert_memory_equal(b.body, hvcc, sizeof(hvcc));
    assert_true(find_box(p, len, "moov/trak/mdia/minf/stbl/stsd/av01/av1C", 0, &b));
    assert_int_equal(b.body_len, sizeof(av1c));
    assert_memory_equal(b.body, av1c, sizeof(av1c));
    assert_true(find_box(p, len, "moov/trak/mdia/mdhd", 2, &b));
    assert_int_equal(cc_rd32(b.body + 12), 44100);
    cc_dynbuf_free(&d);
    cc_track_clear(&h);
    cc_track_clear(&x);
    cc_track_clear(&a);
}

static void test_init_errors(void **state)
{
    (void)state;
    cc_track_t v = mk_track(CC_MEDIA_VIDEO, CC_CODEC_H264, avcc, sizeof(avcc));
    cc_track_t a = mk_track(CC_MEDIA_AUDIO, CC_CODEC_AAC, asc, sizeof(asc));
    cc_track_t noconf = mk_track(CC_MEDIA_VIDEO, CC_CODEC_H264, NULL, 0);
    cc_track_t opus = mk_track(CC_MEDIA_AUDIO, CC_CODEC_OPUS, asc, sizeof(asc));
    cc_track_t wrongkind = mk_track(CC_MEDIA_AUDIO, CC_CODEC_H264, avcc, sizeof(avcc));
    cc_dynbuf_t d;
    cc_dynbuf_init(&d, 1 << 16);

    cc_fmp4_track_t ok[2] = {{1, 90000, &v}, {2, 48000, &a}};
    assert_int_equal(cc_fmp4_write_init(&(cc_fmp4_track_t){1, 90000, &noconf}, 1, &d), CC_EINVAL);
    assert_int_equal(cc_fmp4_write_init((cc_fmp4_track_t[]){{1, 90000, &v}, {2, 90000, &noconf}}, 2, &d), CC_EINVAL);
    assert_int_equal(cc_fmp4_write_init(&(cc_fmp4_track_t){1, 48000, &opus}, 1, &d), CC_EUNSUPPORTED);
    assert_int_equal(cc_fmp4_write_init(&(cc_fmp4_track_t){1, 48000, &wrongkind}, 1, &d), CC_EUNSUPPORTED);
    assert_int_equal(cc_fmp4_write_init((cc_fmp4_track_t[]){{1, 90000, &v}, {1, 48000, &a}}, 2, &d), CC_EINVAL);
    assert_int_equal(cc_fmp4_write_init(&(cc_fmp4_track_t){0, 90000, &v}, 1, &d), CC_EINVAL);
    assert_int_equal(cc_fmp4_write_init(&(cc_fmp4_track_t){1, 0, &v}, 1, &d), CC_EINVAL);
    assert_int_equal(cc_fmp4_write_init(&(cc_fmp4_track_t){1, 90000, NULL}, 1, &d), CC_EINVAL);
    assert_int_equal(cc_fmp4_write_init(ok, 0, &d), CC_EINVAL);
    assert_int_equal(cc_fmp4_write_init(ok, CC_FMP4_MAX_TRACKS + 1, &d), CC_EINVAL);
    assert_int_equal(cc_fmp4_write_init(ok, 2, NULL), CC_EINVAL);
    assert_int_equal(d.len, 0);

    /* The exact size, then every smaller cap: CC_ETOOBIG and out untouched
     * (a 3-byte prefix stays, nothing half-written after it). */
    assert_int_equal(cc_fmp4_write_init(ok, 2, &d), 0);
    size_t need = d.len;
    cc_dynbuf_free(&d);
    for (size_t cap = 3; cap < need + 3; cap++) {
        cc_dynbuf_init(&d, cap);
        assert_int_equal(cc_dynbuf_append(&d, "abc", 3), 0);
        assert_int_equal(cc_fmp4_write_init(ok, 2, &d), CC_ETOOBIG);
        assert_int_equal(d.len, 3);
        cc_dynbuf_free(&d);
    }
    cc_dynbuf_init(&d, need + 3);
    assert_int_equal(cc_dynbuf_append(&d, "abc", 3), 0);
    assert_int_equal(cc_fmp4_write_init(ok, 2, &d), 0);
    assert_int_equal(d.len, need + 3);
    cc_dynbuf_free(&d);

    cc_track_clear(&v);
    cc_track_clear(&a);
    cc_track_clear(&opus);
    cc_track_clear(&wrongkind);
}

/* ---- pure tests: fragments --------------------------------------------- */

/* Reads one fragment back and checks it against the runs that made it:
 * every size, tfhd/tfdt/trun field, and that each trun data_offset (from
 * the moof start, default-base-is-moof) lands on that run's payload bytes. */
static void check_fragment(const uint8_t *p, size_t len, uint32_t seq, const cc_fmp4_run_t *runs, size_t nruns)
{
    assert_true(walk_boxes(p, len, 0) > 0);
    box_t moof, mdat, b;
    assert_true(find_box(p, len, "moof", 0, &moof));
    assert_ptr_equal(moof.start, p);
    assert_true(find_box(p, len, "mdat", 0, &mdat));
    assert_ptr_equal(mdat.start, p + moof.size);
    assert_int_equal(moof.size + mdat.size, len);
    assert_true(find_box(p, len, "moof/mfhd", 0, &b));
    assert_int_equal(cc_rd32(b.body + 4), seq);

    int traf = 0;
    size_t payload = 0;
    for (size_t i = 0; i < nruns; i++) {
        const cc_fmp4_run_t *r = &runs[i];
        if (r->nsamples == 0)
            continue;
        assert_true(find_box(p, len, "moof/traf/tfhd", traf, &b));
        assert_int_equal(cc_rd32(b.body), 0x020000); /* v0, default-base-is-moof */
        assert_int_equal(cc_rd32(b.body + 4), r->track_id);
        assert_int_equal(b.size, 16);
        assert_true(find_box(p, len, "moof/traf/tfdt", traf, &b));
        assert_int_equal(b.body[0], 1);
        assert_int_equal(((uint64_t)cc_rd32(b.body + 4) << 32) | cc_rd32(b.body + 8), r->base_dts);
        assert_true(find_box(p, len, "moof/traf/trun", traf, &b));
        assert_int_equal(cc_rd32(b.body), 0x01000f01);
        assert_int_equal(cc_rd32(b.body + 4), r->nsamples);
        assert_int_equal(b.body_len, 12 + 16 * r->nsamples);
        int32_t off = (int32_t)cc_rd32(b.body + 8);
        assert_int_equal((size_t)off, moof.size + 8 + payload);
        const uint8_t *s = b.body + 12;
        const uint8_t *data = p + off;
        for (size_t k = 0; k < r->nsamples; k++, s += 16) {
            const cc_fmp4_sample_t *x = &r->samples[k];
            assert_int_equal(cc_rd32(s), x->duration);
            assert_int_equal(cc_rd32(s + 4), x->size);
            assert_int_equal(cc_rd32(s + 8), x->keyframe ? 0x02000000 : 0x01010000);
            assert_int_equal((int32_t)cc_rd32(s + 12), x->cts_offset);
            assert_true(data + x->size <= p + len);
            if (x->size)
                assert_memory_equal(data, x->data, x->size);
            data += x->size;
            payload += x->size;
        }
        traf++;
    }
    assert_int_equal(count_boxes(p, len, "moof/traf"), traf);
    assert_int_equal(mdat.body_len, payload);
}

static uint8_t pay_v[3][40], pay_a[2][7];

static void mk_runs(cc_fmp4_sample_t *vs, cc_fmp4_sample_t *as, cc_fmp4_run_t *runs)
{
    for (int i = 0; i < 3; i++)
        memset(pay_v[i], 0xa0 + i, sizeof(pay_v[i]));
    for (int i = 0; i < 2; i++)
        memset(pay_a[i], 0x10 + i, sizeof(pay_a[i]));
    /* I P B in decode order; the B has a negative offset as a caller that
     * shifts DTS to make the first PTS 0 would produce (trun v1 is signed). */
    vs[0] = (cc_fmp4_sample_t){3000, 6000, true, pay_v[0], 40};
    vs[1] = (cc_fmp4_sample_t){3000, 3000, false, pay_v[1], 31};
    vs[2] = (cc_fmp4_sample_t){3000, -3000, false, pay_v[2], 17};
    as[0] = (cc_fmp4_sample_t){1024, 0, true, pay_a[0], 7};
    as[1] = (cc_fmp4_sample_t){1024, 0, true, pay_a[1], 5};
    runs[0] = (cc_fmp4_run_t){1, 0x1234567890ull, vs, 3};
    runs[1] = (cc_fmp4_run_t){3, 77, NULL, 0}; /* empty: left out */
    runs[2] = (cc_fmp4_run_t){2, 48000, as, 2};
}

static void test_fragment_offsets(void **state)
{
    (void)state;
    cc_fmp4_sample_t vs[3], as[2];
    cc_fmp4_run_t runs[3];
    mk_runs(vs, as, runs);
    cc_dynbuf_t d;
    cc_dynbuf_init(&d, 1 << 16);
    /* A prefix (say, the previous part) must not shift the data offsets. */
    assert_int_equal(cc_dynbuf_append(&d, "12345", 5), 0);
    assert_int_equal(cc_fmp4_write_fragment(42, runs, 3, &d), 0);
    size_t sz;
    assert_int_equal(cc_fmp4_fragment_size(runs, 3, &sz), 0);
    assert_int_equal(d.len, 5 + sz);
    /* moof 8 + mfhd 16 + 2 * (traf 8 + tfhd 16 + tfdt 20 + trun 20) + 5 * 16, mdat 8 + 100 */
    assert_int_equal(sz, 8 + 16 + 2 * 64 + 5 * 16 + 8 + 40 + 31 + 17 + 7 + 5);
    assert_memory_equal(d.data, "12345", 5);
    check_fragment(d.data + 5, d.len - 5, 42, runs, 3);

    /* Single run, then a fragment with no samples at all. */
    cc_dynbuf_reset(&d);
    assert_int_equal(cc_fmp4_write_fragment(7, &runs[2], 1, &d), 0);
    check_fragment(d.data, d.len, 7, &runs[2], 1);
    cc_dynbuf_reset(&d);
    assert_int_equal(cc_fmp4_write_fragment(8, &runs[1], 1, &d), 0);
    assert_int_equal(d.len, 8 + 16 + 8);
    check_fragment(d.data, d.len, 8, &runs[1], 1);
    cc_dynbuf_free(&d);
}

static void test_fragment_errors(void **state)
{
    (void)state;
    cc_fmp4_sample_t vs[3], as[2];
    cc_fmp4_run_t runs[3];
    mk_runs(vs, as, runs);
    size_t need;
    assert_int_equal(cc_fmp4_fragment_size(runs, 3, &need), 0);

    cc_dynbuf_t d;
    for (size_t cap = 2; cap < need + 2; cap++) {
        cc_dynbuf_init(&d, cap);
        assert_int_equal(cc_dynbuf_append(&d, "xy", 2), 0);
        assert_int_equal(cc_fmp4_write_fragment(1, runs, 3, &d), CC_ETOOBIG);
        assert_int_equal(d.len, 2);
        cc_dynbuf_free(&d);
    }
    cc_dynbuf_init(&d, need + 2);
    assert_int_equal(cc_dynbuf_append(&d, "xy", 2), 0);
    assert_int_equal(cc_fmp4_write_fragment(1, runs, 3, &d), 0);
    /* exactly one allocation: the reserve, sized to the fragment */
    assert_int_equal(d.len, need + 2);
    cc_dynbuf_free(&d);

    cc_dynbuf_init(&d, 1 << 16);
    assert_int_equal(cc_fmp4_write_fragment(1, NULL, 1, &d), CC_EINVAL);
    assert_int_equal(cc_fmp4_write_fragment(1, runs, 3, NULL), CC_EINVAL);
    cc_fmp4_run_t bad = {1, 0, NULL, 2}; /* samples missing */
    assert_int_equal(cc_fmp4_write_fragment(1, &bad, 1, &d), CC_EINVAL);
    cc_fmp4_sample_t nodata = {1, 0, true, NULL, 10};
    bad = (cc_fmp4_run_t){1, 0, &nodata, 1};
    assert_int_equal(cc_fmp4_write_fragment(1, &bad, 1, &d), CC_EINVAL);
    bad = (cc_fmp4_run_t){0, 0, vs, 1}; /* track_id 0 */
    assert_int_equal(cc_fmp4_write_fragment(1, &bad, 1, &d), CC_EINVAL);
    /* 3 GB of payload cannot be addressed by trun's signed 32-bit data_offset */
    static const uint8_t one = 0;
    cc_fmp4_sample_t huge[2] = {{1, 0, true, &one, 0xC0000000u}, {1, 0, true, &one, 1}};
    bad = (cc_fmp4_run_t){1, 0, huge, 2};
    assert_int_equal(cc_fmp4_write_fragment(1, &bad, 1, &d), CC_ETOOBIG);
    assert_int_equal(cc_fmp4_fragment_size(&bad, 1, &need), CC_ETOOBIG);
    assert_int_equal(d.len, 0);
    cc_dynbuf_free(&d);
}

/* ---- real clips through libavformat and ffprobe ------------------------- */

static char tmpdir[64];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int r = system(cmd);
    if (r != 0)
        fprintf(stderr, "test_fmp4: `%s` -> %d\n", cmd, r);
    return r;
}

/* Runs a command and returns its stdout (caller frees). */
static char *capture(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *capture(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t cap = 4096, len = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    size_t n;
    while ((n = fread(s + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            cap *= 2;
            s = realloc(s, cap);
            assert_non_null(s);
        }
    }
    s[len] = '\0';
    int rc = pclose(f);
    if (rc != 0)
        fprintf(stderr, "test_fmp4: `%s` -> %d\n%s\n", cmd, rc, s);
    assert_int_equal(rc, 0);
    return s;
}

static bool have_encoder(const char *name)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "ffmpeg -hide_banner -encoders 2>/dev/null | grep -q ' %s '", name);
    return system(cmd) == 0;
}

typedef struct pkt {
    int64_t dts, pts; /* track timescale, shifted so the first DTS is 0 */
    bool key;
    uint8_t *data;
    uint32_t size;
} pkt_t;

typedef struct strm {
    cc_track_t track;
    int index; /* AVStream index */
    pkt_t *pkts;
    size_t n, cap;
} strm_t;

typedef struct clip {
    strm_t s[2]; /* [0] video, [1] audio */
    int ns;
} clip_t;

static void clip_free(clip_t *c)
{
    for (int i = 0; i < c->ns; i++) {
        for (size_t k = 0; k < c->s[i].n; k++)
            free(c->s[i].pkts[k].data);
        free(c->s[i].pkts);
        cc_track_clear(&c->s[i].track);
    }
}

/* Demuxes src with libavformat: the video and audio stream become tracks
 * (config = extradata as-is: avcC / hvcC / av1C / ASC), packets are
 * rescaled to 90 kHz / the sample rate. */
static void demux(const char *src, clip_t *c)
{
    memset(c, 0, sizeof(*c));
    AVFormatContext *fmt = NULL;
    assert_int_equal(avformat_open_input(&fmt, src, NULL, NULL), 0);
    assert_true(avformat_find_stream_info(fmt, NULL) >= 0);
    for (unsigned i = 0; i < fmt->nb_streams && c->ns < 2; i++) {
        AVCodecParameters *par = fmt->streams[i]->codecpar;
        strm_t *s = &c->s[c->ns];
        cc_track_t *t = &s->track;
        if (par->codec_type == AVMEDIA_TYPE_VIDEO) {
            t->kind = CC_MEDIA_VIDEO;
            t->codec = par->codec_id == AV_CODEC_ID_H264 ? CC_CODEC_H264
                     : par->codec_id == AV_CODEC_ID_HEVC ? CC_CODEC_HEVC
                     : par->codec_id == AV_CODEC_ID_AV1  ? CC_CODEC_AV1 : CC_CODEC_NONE;
            t->timescale = 90000;
            t->width = (uint32_t)par->width;
            t->height = (uint32_t)par->height;
        } else if (par->codec_type == AVMEDIA_TYPE_AUDIO && par->codec_id == AV_CODEC_ID_AAC) {
            t->kind = CC_MEDIA_AUDIO;
            t->codec = CC_CODEC_AAC;
            t->timescale = (uint32_t)par->sample_rate;
            t->sample_rate = (uint32_t)par->sample_rate;
            t->channels = (uint32_t)par->ch_layout.nb_channels;
        } else {
            continue;
        }
        assert_int_not_equal(t->codec, CC_CODEC_NONE);
        assert_true(par->extradata_size > 0);
        t->config = cc_buf_from(par->extradata, (size_t)par->extradata_size);
        s->index = (int)i;
        c->ns++;
    }
    assert_int_equal(c->ns, 2);
    assert_int_equal(c->s[0].track.kind, CC_MEDIA_VIDEO);

    AVPacket *pkt = av_packet_alloc();
    assert_non_null(pkt);
    while (av_read_frame(fmt, pkt) >= 0) {
        for (int i = 0; i < c->ns; i++) {
            strm_t *s = &c->s[i];
            if (pkt->stream_index != s->index)
                continue;
            AVRational tb = fmt->streams[s->index]->time_base;
            AVRational ts = {1, (int)s->track.timescale};
            if (s->n == s->cap) {
                s->cap = s->cap ? s->cap * 2 : 256;
                s->pkts = realloc(s->pkts, s->cap * sizeof(*s->pkts));
                assert_non_null(s->pkts);
            }
            pkt_t *p = &s->pkts[s->n++];
            assert_true(pkt->dts != AV_NOPTS_VALUE);
            p->dts = av_rescale_q(pkt->dts, tb, ts);
            p->pts = av_rescale_q(pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts, tb, ts);
            p->key = (pkt->flags & AV_PKT_FLAG_KEY) != 0 || s->track.kind == CC_MEDIA_AUDIO;
            p->size = (uint32_t)pkt->size;
            p->data = malloc(pkt->size ? (size_t)pkt->size : 1);
            assert_non_null(p->data);
            memcpy(p->data, pkt->data, (size_t)pkt->size);
        }
        av_packet_unref(pkt);
    }
    av_packet_free(&pkt);
    avformat_close_input(&fmt);

    /* MP4 sources start video DTS below 0 (edit list for the B-frame delay);
     * our timeline starts at 0, per track. */
    for (int i = 0; i < c->ns; i++) {
        strm_t *s = &c->s[i];
        assert_true(s->n > 0);
        int64_t d0 = s->pkts[0].dts;
        for (size_t k = 0; k < s->n; k++) {
            s->pkts[k].dts -= d0;
            s->pkts[k].pts -= d0;
            assert_true(s->pkts[k].pts >= s->pkts[k].dts);
            assert_true(k == 0 || s->pkts[k].dts > s->pkts[k - 1].dts);
        }
    }
}

/* Writes init + one fragment per 200 ms of DTS (LL-HLS part sized). */
static void write_fmp4(const clip_t *c, const char *dst)
{
    FILE *f = fopen(dst, "wb");
    assert_non_null(f);
    cc_fmp4_track_t ft[2];
    for (int i = 0; i < c->ns; i++)
        ft[i] = (cc_fmp4_track_t){(uint32_t)i + 1, c->s[i].track.timescale, &c->s[i].track};
    cc_dynbuf_t d;
    cc_dynbuf_init(&d, 8 << 20);
    assert_int_equal(cc_fmp4_write_init(ft, (size_t)c->ns, &d), 0);
    assert_true(walk_boxes(d.data, d.len, 0) > 0);
    assert_int_equal(fwrite(d.data, 1, d.len, f), d.len);

    cc_fmp4_sample_t *samples[2];
    size_t next[2] = {0, 0};
    for (int i = 0; i < c->ns; i++) {
        samples[i] = calloc(c->s[i].n, sizeof(cc_fmp4_sample_t));
        assert_non_null(samples[i]);
    }
    uint32_t seq = 1;
    for (int64_t end_ms = 200;; end_ms += 200) {
        cc_fmp4_run_t runs[2];
        bool more = false;
        for (int i = 0; i < c->ns; i++) {
            const strm_t *s = &c->s[i];
            int64_t end = end_ms * s->track.timescale / 1000;
            size_t k0 = next[i], k = k0;
            for (; k < s->n && s->pkts[k].dts < end; k++) {
                const pkt_t *p = &s->pkts[k];
                /* duration: to the next DTS; the last frame repeats the previous */
                int64_t dur = k + 1 < s->n ? s->pkts[k + 1].dts - p->dts
                            : k > 0 ? p->dts - s->pkts[k - 1].dts : 1;
                samples[i][k] = (cc_fmp4_sample_t){(uint32_t)dur, (int32_t)(p->pts - p->dts), p->key, p->data, p->size};
            }
            runs[i] = (cc_fmp4_run_t){(uint32_t)i + 1, (uint64_t)(k0 < s->n ? s->pkts[k0].dts : 0),
                                      samples[i] + k0, k - k0};
            next[i] = k;
            more |= k < s->n;
        }
        cc_dynbuf_reset(&d);
        assert_int_equal(cc_fmp4_write_fragment(seq, runs, (size_t)c->ns, &d), 0);
        check_fragment(d.data, d.len, seq, runs, (size_t)c->ns);
        seq++;
        assert_int_equal(fwrite(d.data, 1, d.len, f), d.len);
        if (!more)
            break;
    }
    for (int i = 0; i < c->ns; i++)
        free(samples[i]);
    cc_dynbuf_free(&d);
    assert_int_equal(fclose(f), 0);
}

/* Size and payload hash (framemd5 fields 5 and 6) of each packet of one
 * stream.  Later fields are side data: an MP4 source's edit list adds
 * skip_samples (AAC priming) to its first packet, which we do not write. */
static char *hashes(const char *file, const char *map)
{
    return capture("ffmpeg -hide_banner -v error -i '%s' -map 0:%s -c copy -f framemd5 - | grep -v '^#' | "
                   "awk -F', *' '{print $5, $6}'",
                   file, map);
}

/* Reads our file back with ffprobe/ffmpeg and compares it with the clip. */
static void verify(const clip_t *c, const char *file, const char *src, const char *vcodec)
{
    /* 1. codecs, size, decoded frame counts */
    char *js = capture("ffprobe -v error -count_frames -show_entries stream=codec_name,width,height,nb_read_frames "
                       "-of json '%s'", file);
    json_error_t jerr;
    json_t *root = json_loads(js, 0, &jerr);
    assert_non_null(root);
    json_t *streams = json_object_get(root, "streams");
    assert_int_equal(json_array_size(streams), 2);
    json_t *v = json_array_get(streams, 0), *a = json_array_get(streams, 1);
    assert_string_equal(json_string_value(json_object_get(v, "codec_name")), vcodec);
    assert_int_equal(json_integer_value(json_object_get(v, "width")), c->s[0].track.width);
    assert_int_equal(json_integer_value(json_object_get(v, "height")), c->s[0].track.height);
    assert_string_equal(json_string_value(json_object_get(v, "nb_read_frames")), "90");
    assert_int_equal(c->s[0].n, 90);
    assert_string_equal(json_string_value(json_object_get(a, "codec_name")), "aac");
    long na = strtol(json_string_value(json_object_get(a, "nb_read_frames")), NULL, 10);
    assert_int_equal((size_t)na, c->s[1].n);
    assert_true(na >= 139 && na <= 144); /* 3 s of 1024-sample frames + priming */
    json_decref(root);
    free(js);

    /* 2. a full decode reports nothing at -v error */
    char *errs = capture("ffmpeg -hide_banner -v error -i '%s' -f null - 2>&1", file);
    if (errs[0] != '\0')
        fprintf(stderr, "test_fmp4: decode of %s: %s\n", file, errs);
    assert_string_equal(errs, "");
    free(errs);

    /* 3. the demuxer sees exactly our DTS and PTS (= DTS + trun composition
     * offset) in 90 kHz, in decode order, with B-frame reordering visible. */
    char *csv = capture("ffprobe -v error -select_streams v:0 -show_entries packet=dts,pts,flags -of csv=p=0 '%s'", file);
    const strm_t *vs = &c->s[0];
    size_t k = 0;
    int reordered = 0, keys = 0;
    for (char *line = strtok(csv, "\n"); line; line = strtok(NULL, "\n"), k++) {
        long long pts, dts;
        char flags[8] = "";
        assert_int_equal(sscanf(line, "%lld,%lld,%7s", &pts, &dts, flags), 3);
        assert_true(k < vs->n);
        assert_int_equal(dts, vs->pkts[k].dts);
        assert_int_equal(pts, vs->pkts[k].pts);
        assert_int_equal(flags[0] == 'K', vs->pkts[k].key);
        keys += flags[0] == 'K';
        reordered += k > 0 && vs->pkts[k].pts < vs->pkts[k - 1].pts;
    }
    assert_int_equal(k, vs->n);
    assert_true(keys >= 3); /* -g 30 over 90 frames */
    if (strcmp(vcodec, "av1") != 0)
        assert_true(reordered > 0); /* composition offsets were exercised */
    free(csv);

    /* 4. every payload byte-identical to the source, in the same order */
    for (int i = 0; i < 2; i++) {
        const char *map = i == 0 ? "v:0" : "a:0";
        char *h_src = hashes(src, map), *h_out = hashes(file, map);
        assert_true(strlen(h_src) > 0);
        assert_string_equal(h_src, h_out);
        free(h_src);
        free(h_out);
    }
}

static void real_clip(const char *name, const char *ext, const char *vcodec, const char *venc_args)
{
    char src[128], dst[128];
    snprintf(src, sizeof(src), "%s/%s.%s", tmpdir, name, ext);
    snprintf(dst, sizeof(dst), "%s/%s.cmaf.mp4", tmpdir, name);
    int r = sh("ffmpeg -nostdin -hide_banner -v error -y -f lavfi -i testsrc2=size=320x240:rate=30 "
               "-f lavfi -i sine=sample_rate=48000 -t 3 %s -c:a aac '%s' >'%s/%s.log' 2>&1 || "
               "{ cat '%s/%s.log' >&2; false; }",
               venc_args, src, tmpdir, name, tmpdir, name);
    assert_int_equal(r, 0);
    clip_t c;
    demux(src, &c);
    write_fmp4(&c, dst);
    verify(&c, dst, src, vcodec);
    clip_free(&c);
}

static void test_real_h264_aac(void **state)
{
    (void)state;
    if (!have_encoder("libx264")) {
        print_message("[  SKIP    ] libx264 encoder not available\n");
        skip();
    }
    /* FLV: the avcC is the extradata as ingest receives it over RTMP; -bf 2
     * gives B-frames, so composition offsets are non-zero. */
    real_clip("h264", "flv", "h264", "-c:v libx264 -g 30 -bf 2");
}

static void test_real_hevc_aac(void **state)
{
    (void)state;
    if (!have_encoder("libx265")) {
        print_message("[  SKIP    ] libx265 encoder not available\n");
        skip();
    }
    /* FFmpeg 5.1 cannot put HEVC in FLV, so the source is MP4 (hvcC extradata). */
    real_clip("hevc", "mp4", "hevc",
              "-c:v libx265 -tag:v hvc1 -x265-params log-level=error:keyint=30:min-keyint=30:bframes=2");
}

static void test_real_av1_aac(void **state)
{
    (void)state;
    if (have_encoder("libsvtav1")) {
        real_clip("av1", "mp4", "av1", "-c:v libsvtav1 -preset 12 -g 30");
    } else if (have_encoder("libaom-av1")) {
        real_clip("av1", "mp4", "av1", "-c:v libaom-av1 -cpu-used 8 -g 30");
    } else {
        print_message("[  SKIP    ] no AV1 encoder (libsvtav1, libaom-av1)\n");
        skip();
    }
}

static int setup_tmp(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_fmp4.XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    if (system("command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null") != 0) {
        fprintf(stderr, "test_fmp4: ffmpeg/ffprobe not on PATH\n");
        return -1;
    }
    return 0;
}

static int teardown_tmp(void **state)
{
    (void)state;
    if (getenv("CC_KEEP_TMP") != NULL) {
        fprintf(stderr, "test_fmp4: files kept in %s\n", tmpdir);
        return 0;
    }
    return sh("rm -rf '%s'", tmpdir) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_init_h264_aac),
        cmocka_unit_test(test_init_hevc_av1),
        cmocka_unit_test(test_init_errors),
        cmocka_unit_test(test_fragment_offsets),
        cmocka_unit_test(test_fragment_errors),
    };
    const struct CMUnitTest real[] = {
        cmocka_unit_test(test_real_h264_aac),
        cmocka_unit_test(test_real_hevc_aac),
        cmocka_unit_test(test_real_av1_aac),
    };
    int fails = cmocka_run_group_tests_name("fmp4 boxes", pure, NULL, NULL);
    fails += cmocka_run_group_tests_name("fmp4 real clips", real, setup_tmp, teardown_tmp);
    return fails;
}

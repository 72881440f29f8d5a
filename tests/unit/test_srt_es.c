/* ingest/srt/es.c: Annex B -> length-prefixed NAL units, the avcC / hvcC
 * builders (checked byte for byte against the records FFmpeg's mp4 muxer
 * writes for the same streams), ADTS and 33-bit timestamp unwrapping.
 *
 * The fixtures come from tests/fuzz/corpus/fuzz_srt_ts/{h264,hevc}_aac.ts
 * (made by ffmpeg with libx264 / libx265, see docs/srt.md): the parameter
 * sets and the first access unit as the TS carries it (slices cut to 24
 * bytes: es.c never decodes them), and the avcC / hvcC that
 * `ffmpeg -i X.ts -c copy X.mp4` writes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/err.h"
#include "cartcast/media.h"
#include "ingest/srt/es.h"

static const uint8_t h264_record_ffmpeg[43] = {
    0x01, 0x64, 0x00, 0x0b, 0xff, 0xe1, 0x00, 0x18, 0x67, 0x64, 0x00, 0x0b,
    0xac, 0xd9, 0x42, 0x8d, 0xb0, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00,
    0x00, 0x03, 0x00, 0x3c, 0x0f, 0x14, 0x29, 0x96, 0x01, 0x00, 0x04, 0x68,
    0xef, 0x8f, 0xcb, 0xfd, 0xf8, 0xf8, 0x00,
};
static const uint8_t h264_ps_type7[24] = {
    0x67, 0x64, 0x00, 0x0b, 0xac, 0xd9, 0x42, 0x8d, 0xb0, 0x11, 0x00, 0x00,
    0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x0f, 0x14, 0x29, 0x96,
};
static const uint8_t h264_ps_type8[4] = {
    0x68, 0xef, 0x8f, 0xcb,
};
static const uint8_t h264_au[94] = {
    0x00, 0x00, 0x00, 0x01, 0x09, 0xf0, 0x00, 0x00, 0x01, 0x67, 0x64, 0x00,
    0x0b, 0xac, 0xd9, 0x42, 0x8d, 0xb0, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01,
    0x00, 0x00, 0x03, 0x00, 0x3c, 0x0f, 0x14, 0x29, 0x96, 0x00, 0x00, 0x01,
    0x68, 0xef, 0x8f, 0xcb, 0x00, 0x00, 0x01, 0x06, 0x05, 0xff, 0xff, 0xa7,
    0xdc, 0x45, 0xe9, 0xbd, 0xe6, 0xd9, 0x48, 0xb7, 0x96, 0x2c, 0xd8, 0x20,
    0xd9, 0x23, 0xee, 0xef, 0x78, 0x32, 0x36, 0x00, 0x00, 0x01, 0x65, 0x88,
    0x84, 0x00, 0x57, 0xe9, 0xd7, 0xad, 0x67, 0x8d, 0xc1, 0xe9, 0x37, 0x3a,
    0xd3, 0x1a, 0xd4, 0x21, 0xee, 0x3e, 0xac, 0xf0, 0x09, 0x91,
};
static const uint8_t hevc_record_ffmpeg[109] = {
    0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x1e, 0xf0, 0x00, 0xfc, 0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x03, 0xa0,
    0x00, 0x01, 0x00, 0x18, 0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60,
    0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00,
    0x1e, 0x95, 0x94, 0x09, 0xa1, 0x00, 0x01, 0x00, 0x29, 0x42, 0x01, 0x01,
    0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
    0x03, 0x00, 0x1e, 0xa0, 0x14, 0x20, 0x61, 0x65, 0x95, 0x95, 0x29, 0x30,
    0xbc, 0x05, 0xa0, 0x20, 0x00, 0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x03,
    0x03, 0x21, 0xa2, 0x00, 0x01, 0x00, 0x06, 0x44, 0x01, 0xc0, 0x73, 0xc1,
    0x89,
};
static const uint8_t hevc_ps_type32[24] = {
    0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00,
    0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x1e, 0x95, 0x94, 0x09,
};
static const uint8_t hevc_ps_type33[41] = {
    0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00,
    0x03, 0x00, 0x00, 0x03, 0x00, 0x1e, 0xa0, 0x14, 0x20, 0x61, 0x65, 0x95,
    0x95, 0x29, 0x30, 0xbc, 0x05, 0xa0, 0x20, 0x00, 0x00, 0x03, 0x00, 0x20,
    0x00, 0x00, 0x03, 0x03, 0x21,
};
static const uint8_t hevc_ps_type34[6] = {
    0x44, 0x01, 0xc0, 0x73, 0xc1, 0x89,
};
static const uint8_t hevc_au[141] = {
    0x00, 0x00, 0x00, 0x01, 0x46, 0x01, 0x50, 0x00, 0x00, 0x01, 0x40, 0x01,
    0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00,
    0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x1e, 0x95, 0x94, 0x09, 0x00, 0x00,
    0x01, 0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00,
    0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x1e, 0xa0, 0x14, 0x20, 0x61, 0x65,
    0x95, 0x95, 0x29, 0x30, 0xbc, 0x05, 0xa0, 0x20, 0x00, 0x00, 0x03, 0x00,
    0x20, 0x00, 0x00, 0x03, 0x03, 0x21, 0x00, 0x00, 0x01, 0x44, 0x01, 0xc0,
    0x73, 0xc1, 0x89, 0x00, 0x00, 0x01, 0x4e, 0x01, 0x05, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xf2, 0x2c, 0xa2, 0xde, 0x09, 0xb5, 0x17,
    0x47, 0xdb, 0xbb, 0x55, 0xa4, 0xfe, 0x00, 0x00, 0x01, 0x28, 0x01, 0xac,
    0x75, 0x8b, 0xa1, 0xcc, 0x4e, 0xa0, 0xf5, 0xbd, 0x8f, 0xc4, 0xb9, 0x33,
    0x0c, 0xa7, 0x1b, 0x8d, 0x03, 0xd7, 0xda, 0x0a, 0x5e,
};

static void test_annexb_iter(void **state)
{
    /* 4-byte and 3-byte start codes, leading garbage, trailing zeros, an empty NAL */
    static const uint8_t in[] = {0xaa, 0xbb, 0, 0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x67, 0x01, 0x02, 0, 0,
                                 0, 0, 1, 0, 0, 1, 0x68, 0xce, 0, 0, 0};
    size_t pos = 0;
    cc_iov_t nal;
    assert_int_equal(cc_es_annexb_next(in, sizeof(in), &pos, &nal), 1);
    assert_int_equal(nal.len, 2);
    assert_int_equal(nal.base[0], 0x09);
    assert_int_equal(cc_es_annexb_next(in, sizeof(in), &pos, &nal), 1);
    assert_int_equal(nal.len, 3);
    assert_memory_equal(nal.base, "\x67\x01\x02", 3);
    assert_int_equal(cc_es_annexb_next(in, sizeof(in), &pos, &nal), 1);
    assert_int_equal(nal.len, 2);
    assert_int_equal(nal.base[0], 0x68);
    assert_int_equal(cc_es_annexb_next(in, sizeof(in), &pos, &nal), 0);
    assert_int_equal(cc_es_annexb_next(in, sizeof(in), &pos, &nal), 0);
    /* no start code at all */
    pos = 0;
    assert_int_equal(cc_es_annexb_next((const uint8_t *)"\x00\x00\x02\x65", 4, &pos, &nal), 0);
    pos = 0;
    assert_int_equal(cc_es_annexb_next(NULL, 0, &pos, &nal), 0);
}

static void check_avcc_frame(cc_codec_t codec, const uint8_t *au, size_t len, int want_nals, int want_key)
{
    cc_es_au_t s;
    assert_int_equal(cc_es_video_scan(codec, au, len, &s), 0);
    assert_int_equal(s.keyframe, want_key);
    assert_int_equal(s.nals, want_nals);
    uint8_t *out = malloc(s.out_len);
    assert_int_equal(cc_es_video_write(codec, au, len, out, s.out_len), (int)s.out_len);
    /* the output is a chain of 4-byte lengths that covers it exactly */
    size_t off = 0;
    int n = 0;
    while (off < s.out_len) {
        assert_true(s.out_len - off >= 4);
        uint32_t l = cc_rd32(out + off);
        assert_true(l > 0 && l <= s.out_len - off - 4);
        int type = codec == CC_CODEC_H264 ? (out[off + 4] & 0x1f) : ((out[off + 4] >> 1) & 0x3f);
        /* parameter sets and delimiters stay out of the frame */
        if (codec == CC_CODEC_H264)
            assert_true(type != 7 && type != 8 && type != 9);
        else
            assert_true(type < 32 || type > 35);
        off += 4 + l;
        n++;
    }
    assert_int_equal(n, want_nals);
    /* one byte short is refused, not overrun */
    assert_int_equal(cc_es_video_write(codec, au, len, out, s.out_len - 1), CC_ETOOBIG);
    free(out);
}

static void test_h264_au(void **state)
{
    cc_es_au_t s;
    assert_int_equal(cc_es_video_scan(CC_CODEC_H264, h264_au, sizeof(h264_au), &s), 0);
    assert_int_equal(s.nps[CC_ES_SPS], 1);
    assert_int_equal(s.nps[CC_ES_PPS], 1);
    assert_int_equal(s.nps[CC_ES_VPS], 0);
    assert_int_equal(s.ps[CC_ES_SPS][0].len, sizeof(h264_ps_type7));
    assert_memory_equal(s.ps[CC_ES_SPS][0].base, h264_ps_type7, sizeof(h264_ps_type7));
    assert_memory_equal(s.ps[CC_ES_PPS][0].base, h264_ps_type8, sizeof(h264_ps_type8));
    /* AUD, SPS, PPS dropped; SEI (24) and IDR (24) kept */
    assert_int_equal(s.out_len, 2 * (4 + 24));
    check_avcc_frame(CC_CODEC_H264, h264_au, sizeof(h264_au), 2, 1);
    /* the avcC built from the TS's parameter sets is FFmpeg's, byte for byte */
    uint8_t rec[256];
    int n = cc_es_avcc_build(s.ps[CC_ES_SPS], 1, s.ps[CC_ES_PPS], 1, rec, sizeof(rec));
    assert_int_equal(n, sizeof(h264_record_ffmpeg));
    assert_memory_equal(rec, h264_record_ffmpeg, sizeof(h264_record_ffmpeg));
    /* and the media layer reads it back */
    cc_video_info_t vi;
    assert_int_equal(cc_video_config_parse(CC_CODEC_H264, rec, (uint32_t)n, &vi), 0);
    assert_int_equal(vi.width, 160);
    assert_int_equal(vi.height, 96);
    assert_int_equal(vi.nal_length_size, 4);
    /* short output, missing sets */
    for (int i = 0; i < n; i++)
        assert_int_equal(cc_es_avcc_build(s.ps[CC_ES_SPS], 1, s.ps[CC_ES_PPS], 1, rec, (size_t)i), CC_ETOOBIG);
    assert_int_equal(cc_es_avcc_build(s.ps[CC_ES_SPS], 1, s.ps[CC_ES_PPS], 0, rec, sizeof(rec)), CC_EPROTO);
    assert_int_equal(cc_es_avcc_build(s.ps[CC_ES_SPS], 0, s.ps[CC_ES_PPS], 1, rec, sizeof(rec)), CC_EPROTO);
    /* a PPS in the SPS slot does not parse as an SPS */
    assert_int_equal(cc_es_avcc_build(s.ps[CC_ES_PPS], 1, s.ps[CC_ES_PPS], 1, rec, sizeof(rec)), CC_EPROTO);
}

static void test_h264_baseline_avcc(void **state)
{
    /* Baseline (66) has no High-profile extension in its avcC. */
    /* libx264 -profile:v baseline, 640x480 */
    static const uint8_t sps[] = {0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x3d, 0xb0, 0x11, 0x00, 0x00,
                                  0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x0f, 0x16, 0x2e, 0x48};
    static const uint8_t pps[] = {0x68, 0xcb, 0x83, 0xcb, 0x20};
    cc_iov_t s = cc_iov(sps, sizeof(sps)), p = cc_iov(pps, sizeof(pps));
    uint8_t rec[128];
    int n = cc_es_avcc_build(&s, 1, &p, 1, rec, sizeof(rec));
    assert_int_equal(n, 6 + 2 + sizeof(sps) + 1 + 2 + sizeof(pps));
    assert_memory_equal(rec, "\x01\x42\xc0\x1e\xff\xe1", 6);
    cc_video_info_t vi;
    assert_int_equal(cc_video_config_parse(CC_CODEC_H264, rec, (uint32_t)n, &vi), 0);
    assert_int_equal(vi.width, 640);
    assert_int_equal(vi.height, 480);
}

static void test_hevc_au(void **state)
{
    cc_es_au_t s;
    assert_int_equal(cc_es_video_scan(CC_CODEC_HEVC, hevc_au, sizeof(hevc_au), &s), 0);
    assert_int_equal(s.nps[CC_ES_VPS], 1);
    assert_int_equal(s.nps[CC_ES_SPS], 1);
    assert_int_equal(s.nps[CC_ES_PPS], 1);
    assert_memory_equal(s.ps[CC_ES_VPS][0].base, hevc_ps_type32, sizeof(hevc_ps_type32));
    assert_memory_equal(s.ps[CC_ES_SPS][0].base, hevc_ps_type33, sizeof(hevc_ps_type33));
    assert_memory_equal(s.ps[CC_ES_PPS][0].base, hevc_ps_type34, sizeof(hevc_ps_type34));
    check_avcc_frame(CC_CODEC_HEVC, hevc_au, sizeof(hevc_au), 2, 1); /* prefix SEI + IDR_N_LP */
    uint8_t rec[256];
    int n = cc_es_hvcc_build(s.ps[CC_ES_VPS], 1, s.ps[CC_ES_SPS], 1, s.ps[CC_ES_PPS], 1, rec, sizeof(rec));
    assert_int_equal(n, sizeof(hevc_record_ffmpeg));
    assert_memory_equal(rec, hevc_record_ffmpeg, sizeof(hevc_record_ffmpeg));
    cc_video_info_t vi;
    assert_int_equal(cc_video_config_parse(CC_CODEC_HEVC, rec, (uint32_t)n, &vi), 0);
    assert_int_equal(vi.width, 160);
    assert_int_equal(vi.height, 96);
    cc_track_t t = {.kind = CC_MEDIA_VIDEO, .codec = CC_CODEC_HEVC, .config = cc_buf_from(rec, (size_t)n)};
    char codecs[64];
    assert_true(cc_track_codecs_string(&t, codecs, sizeof(codecs)) > 0);
    assert_string_equal(codecs, "hvc1.1.6.L30.90");
    cc_track_clear(&t);
    for (int i = 0; i < n; i++)
        assert_int_equal(cc_es_hvcc_build(s.ps[CC_ES_VPS], 1, s.ps[CC_ES_SPS], 1, s.ps[CC_ES_PPS], 1, rec, (size_t)i),
                         CC_ETOOBIG);
    assert_int_equal(cc_es_hvcc_build(s.ps[CC_ES_VPS], 0, s.ps[CC_ES_SPS], 1, s.ps[CC_ES_PPS], 1, rec, sizeof(rec)),
                     CC_EPROTO);
    /* an SPS cut inside profile_tier_level */
    cc_iov_t cut = cc_iov(hevc_ps_type33, 10);
    assert_int_equal(cc_es_hvcc_build(s.ps[CC_ES_VPS], 1, &cut, 1, s.ps[CC_ES_PPS], 1, rec, sizeof(rec)), CC_EPROTO);
}

static void test_video_scan_edges(void **state)
{
    cc_es_au_t s;
    assert_int_equal(cc_es_video_scan(CC_CODEC_H264, (const uint8_t *)"\x01\x02\x03", 3, &s), CC_EPROTO);
    assert_int_equal(cc_es_video_scan(CC_CODEC_AAC, h264_au, sizeof(h264_au), &s), CC_EUNSUPPORTED);
    assert_int_equal(cc_es_video_scan(CC_CODEC_H264, NULL, 0, &s), CC_EPROTO);
    /* parameter sets only: nothing to deliver */
    static const uint8_t ps_only[] = {0, 0, 0, 1, 0x67, 0x64, 0x00, 0x0b, 0, 0, 1, 0x68, 0xef};
    assert_int_equal(cc_es_video_scan(CC_CODEC_H264, ps_only, sizeof(ps_only), &s), 0);
    assert_int_equal(s.out_len, 0);
    assert_false(s.keyframe);
    /* non-IDR slice: not a keyframe; HEVC CRA (21) is */
    static const uint8_t p_slice[] = {0, 0, 1, 0x41, 0x9a, 0x00};
    assert_int_equal(cc_es_video_scan(CC_CODEC_H264, p_slice, sizeof(p_slice), &s), 0);
    assert_false(s.keyframe);
    assert_int_equal(s.out_len, 4 + 2); /* the trailing zero byte is not part of the NAL */
    static const uint8_t cra[] = {0, 0, 1, 21 << 1, 0x01, 0xaf, 0x00, 0x00};
    assert_int_equal(cc_es_video_scan(CC_CODEC_HEVC, cra, sizeof(cra), &s), 0);
    assert_true(s.keyframe);
    assert_int_equal(s.out_len, 4 + 3); /* trailing zeros trimmed */
    static const uint8_t trail[] = {0, 0, 1, 1 << 1, 0x01, 0xaf};
    assert_int_equal(cc_es_video_scan(CC_CODEC_HEVC, trail, sizeof(trail), &s), 0);
    assert_false(s.keyframe);
    /* more parameter sets than CC_ES_PS_MAX: the extra ones are not kept */
    uint8_t many[64];
    size_t n = 0;
    for (int i = 0; i < CC_ES_PS_MAX + 2; i++) {
        memcpy(many + n, "\x00\x00\x01\x68\xee", 5);
        n += 5;
    }
    assert_int_equal(cc_es_video_scan(CC_CODEC_H264, many, n, &s), 0);
    assert_int_equal(s.nps[CC_ES_PPS], CC_ES_PS_MAX);
}

static void test_adts(void **state)
{
    /* AAC LC 48 kHz stereo, 7-byte header, frame of 20 bytes */
    uint8_t f[32] = {0xff, 0xf1, 0x4c, 0x80, 0x02, 0x9f, 0xfc};
    cc_adts_t h;
    assert_int_equal(cc_es_adts_parse(f, 20, &h), 0);
    assert_int_equal(h.object_type, 2);
    assert_int_equal(h.sample_rate, 48000);
    assert_int_equal(h.channel_config, 2);
    assert_int_equal(h.header_len, 7);
    assert_int_equal(h.frame_len, 20);
    uint8_t asc[2];
    cc_es_adts_asc(&h, asc);
    assert_memory_equal(asc, "\x11\x90", 2); /* what FFmpeg's esds carries for the 48 kHz stereo fixture */
    uint32_t rate, ch;
    assert_int_equal(cc_aac_asc_parse(asc, 2, &rate, &ch), 0);
    assert_int_equal(rate, 48000);
    assert_int_equal(ch, 2);
    /* need more: header cut, frame cut */
    for (size_t i = 0; i < 20; i++)
        assert_int_equal(cc_es_adts_parse(f, i, &h), CC_EAGAIN);
    /* 44.1 kHz mono with CRC (9-byte header): ASC 12 08 like FFmpeg's */
    uint8_t g[16] = {0xff, 0xf0, 0x50, 0x40, 0x01, 0x7f, 0xfc};
    assert_int_equal(cc_es_adts_parse(g, 11, &h), 0);
    assert_int_equal(h.header_len, 9);
    assert_int_equal(h.frame_len, 11);
    assert_int_equal(h.sample_rate, 44100);
    assert_int_equal(h.channel_config, 1);
    cc_es_adts_asc(&h, asc);
    assert_memory_equal(asc, "\x12\x08", 2);
    /* errors */
    uint8_t b[8];
    memcpy(b, f, 7);
    b[0] = 0xfe;
    assert_int_equal(cc_es_adts_parse(b, 20, &h), CC_EPROTO);      /* sync */
    memcpy(b, f, 7);
    b[1] = 0xf3;
    assert_int_equal(cc_es_adts_parse(b, 20, &h), CC_EPROTO);      /* layer != 0 */
    memcpy(b, f, 7);
    b[2] = (uint8_t)((b[2] & ~0x3c) | (13 << 2));
    assert_int_equal(cc_es_adts_parse(b, 20, &h), CC_EPROTO);      /* sampling index 13 */
    memcpy(b, f, 7);
    b[3] = 0x00;
    b[4] = 0x00;
    b[5] = 0xdf;                                                    /* frame_length 6 < header */
    assert_int_equal(cc_es_adts_parse(b, 20, &h), CC_EPROTO);
    memcpy(b, f, 7);
    b[2] &= (uint8_t)~1;
    b[3] &= 0x3f;
    assert_int_equal(cc_es_adts_parse(b, 20, &h), CC_EUNSUPPORTED); /* channel config 0: PCE */
    memcpy(b, f, 7);
    b[6] |= 1;
    assert_int_equal(cc_es_adts_parse(b, 20, &h), CC_EUNSUPPORTED); /* two raw data blocks */
}

static void test_unwrap(void **state)
{
    const int64_t wrap = INT64_C(1) << 33;
    cc_es_unwrap_t u = {0};
    assert_int_equal(cc_es_unwrap(&u, wrap - 3000), wrap - 3000);
    assert_int_equal(cc_es_unwrap(&u, wrap - 6000), wrap - 6000); /* audio slightly behind */
    assert_int_equal(cc_es_unwrap(&u, 1000), wrap + 1000);        /* across the wrap */
    assert_int_equal(cc_es_unwrap(&u, wrap - 100), wrap - 100);   /* a late one from before it */
    assert_int_equal(cc_es_unwrap(&u, 4000), wrap + 4000);
    /* a second wrap keeps going forward */
    int64_t t = 4000;
    for (int i = 0; i < 9; i++) {
        t = (t + wrap / 8) & CC_ES_TS_MASK;
        cc_es_unwrap(&u, t);
    }
    assert_int_equal(u.ext, 2 * wrap + 4000 + wrap / 8);
    /* input above 33 bits is masked */
    cc_es_unwrap_t v = {0};
    assert_int_equal(cc_es_unwrap(&v, wrap + 5), 5);
    assert_int_equal(cc_es_ts_diff(wrap - 1, 0), 1);
    assert_int_equal(cc_es_ts_diff(0, wrap - 1), -1);
    assert_int_equal(cc_es_ts_diff(100, 50), -50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_annexb_iter),
        cmocka_unit_test(test_h264_au),
        cmocka_unit_test(test_h264_baseline_avcc),
        cmocka_unit_test(test_hevc_au),
        cmocka_unit_test(test_video_scan_edges),
        cmocka_unit_test(test_adts),
        cmocka_unit_test(test_unwrap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* ingest/flv.c: FLV audio/video tag bodies, legacy and Enhanced RTMP.
 *
 * The legacy tags are real: `ffmpeg -f lavfi -i testsrc=size=64x64:rate=30
 * -f lavfi -i sine=sample_rate=48000 -c:v libx264 -c:a aac -ac 2 x.flv`, tag
 * bodies cut out of the file.  FFmpeg 5.1 cannot write Enhanced RTMP, so the
 * ExVideoTagHeaders are assembled here (Enhanced RTMP v1) around real hvcC and
 * av1C records from libx265 / libaom-av1. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/buf.h"
#include "cartcast/err.h"
#include "cartcast/media.h"
#include "ingest/flv.h"

/* FFmpeg libx264 64x64@30 -> FLV: legacy AVC sequence header (0x17 0x00 + cts 0 + avcC) */
static const uint8_t tag_avc_seq[] = {
    0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x64, 0x00, 0x0a, 0xff, 0xe1, 0x00,
    0x18, 0x67, 0x64, 0x00, 0x0a, 0xac, 0xd9, 0x44, 0x26, 0xc0, 0x44, 0x00,
    0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x48, 0x96,
    0x58, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe0, 0xe4, 0xb2, 0x2c, 0xfd, 0xf8,
    0xf8, 0x00,
};
/* the keyframe that follows (0x17 0x01, cts 67 ms; SEI removed with filter_units=remove_types=6) */
static const uint8_t tag_avc_key[] = {
    0x17, 0x01, 0x00, 0x00, 0x43, 0x00, 0x00, 0x00, 0xf6, 0x65, 0x88, 0x84,
    0x00, 0x25, 0xff, 0x74, 0x52, 0x4f, 0xef, 0x02, 0x25, 0x9a, 0xd7, 0x1b,
    0x58, 0x58, 0x1d, 0x3f, 0xc8, 0xe4, 0xb6, 0x89, 0x6e, 0xec, 0xbf, 0xfe,
    0x1c, 0xd4, 0x92, 0x4b, 0x56, 0x9c, 0xca, 0xf7, 0x7b, 0x7c, 0x93, 0x42,
    0x34, 0xe5, 0xca, 0x7e, 0x8b, 0x87, 0x7e, 0xa9, 0x72, 0x9e, 0x34, 0xca,
    0xda, 0x9a, 0x1c, 0x0d, 0xf9, 0x78, 0xee, 0x3f, 0xf0, 0x03, 0x87, 0xbe,
    0xd3, 0xf1, 0xa7, 0xba, 0xf8, 0x61, 0x34, 0x62, 0xef, 0x37, 0x88, 0xc1,
    0xe8, 0xd2, 0x69, 0x4f, 0x96, 0xa5, 0xf6, 0xbf, 0x47, 0x45, 0xb9, 0xc9,
    0xaf, 0xb8, 0x58, 0xe4, 0xde, 0x11, 0x0c, 0x5a, 0x94, 0x68, 0x35, 0x9a,
    0xc2, 0xe6, 0xb1, 0x63, 0x49, 0x01, 0xb2, 0x15, 0xb9, 0x17, 0x35, 0xe3,
    0x21, 0x82, 0x86, 0xad, 0x44, 0x91, 0x1a, 0x4a, 0x00, 0xd9, 0xe7, 0x76,
    0x15, 0xb4, 0xa2, 0xb8, 0xdd, 0x9a, 0xde, 0xd3, 0x0d, 0xb6, 0x45, 0xc9,
    0xe2, 0x17, 0x33, 0xa7, 0xb5, 0xde, 0x2d, 0x77, 0x11, 0x77, 0xd0, 0x39,
    0xbe, 0xdd, 0x88, 0x40, 0x85, 0xb7, 0xd3, 0x7d, 0x3f, 0xa2, 0x67, 0x0f,
    0x22, 0x7b, 0x0d, 0xa4, 0x5f, 0xd8, 0x6c, 0x59, 0x8b, 0x94, 0x8d, 0x4c,
    0x3b, 0x6a, 0x47, 0xeb, 0x00, 0x27, 0x9a, 0x6e, 0x65, 0x7c, 0x7e, 0x74,
    0xd3, 0xce, 0xd0, 0x9a, 0x0b, 0x85, 0x58, 0xea, 0x69, 0xe4, 0x85, 0xf0,
    0x7b, 0x97, 0x30, 0xe9, 0xb5, 0x53, 0xf9, 0x86, 0xf0, 0x0d, 0x5d, 0x12,
    0x46, 0x54, 0xd8, 0xc3, 0xbf, 0xf5, 0x35, 0x80, 0x93, 0x9b, 0x1e, 0xdd,
    0x07, 0xb8, 0x63, 0xfa, 0x7a, 0x81, 0xf6, 0xd2, 0xc9, 0x9a, 0x46, 0x7d,
    0xf9, 0x86, 0xe1, 0x53, 0xc4, 0xbb, 0x11, 0x52, 0x6d, 0x4f, 0x5d, 0x06,
    0x6d, 0x8b, 0xbf,
};
/* an inter frame (0x27 0x01, cts 100 ms) */
static const uint8_t tag_avc_inter[] = {
    0x27, 0x01, 0x00, 0x00, 0x64, 0x00, 0x00, 0x00, 0x08, 0x41, 0x9a, 0x22,
    0x6c, 0x42, 0xdf, 0x7b, 0x40,
};
/* end of sequence (0x17 0x02) */
static const uint8_t tag_avc_eos[] = {
    0x17, 0x02, 0x00, 0x00, 0x00,
};
/* FFmpeg aac 48 kHz stereo -> FLV: 0xaf 0x00 + AudioSpecificConfig */
static const uint8_t tag_aac_seq[] = {
    0xaf, 0x00, 0x11, 0x90, 0x56, 0xe5, 0x00,
};
/* a raw AAC frame tag (0xaf 0x01) */
static const uint8_t tag_aac_raw[] = {
    0xaf, 0x01, 0x01, 0x18, 0x81, 0xb4, 0x70,
};
/* libx265 Main 640x360 hvcC (FFmpeg 5.1 cannot mux Enhanced RTMP; the ExVideoTagHeaders below wrap real records) */
static const uint8_t hvcc_640x360[] = {
    0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x3f, 0xf0, 0x00, 0xfc, 0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x03, 0x20,
    0x00, 0x01, 0x00, 0x18, 0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60,
    0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00,
    0x3f, 0x95, 0x98, 0x09, 0x21, 0x00, 0x01, 0x00, 0x2a, 0x42, 0x01, 0x01,
    0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
    0x03, 0x00, 0x3f, 0xa0, 0x05, 0x02, 0x01, 0x69, 0x65, 0x95, 0x9a, 0x49,
    0x32, 0xbc, 0x05, 0xa0, 0x20, 0x00, 0x00, 0x03, 0x00, 0x20, 0x00, 0x00,
    0x03, 0x03, 0xc1, 0x22, 0x00, 0x01, 0x00, 0x07, 0x44, 0x01, 0xc1, 0x72,
    0xb4, 0x62, 0x40,
};
/* libaom-av1 640x360 av1C */
static const uint8_t av1c_640x360[] = {
    0x81, 0x01, 0x0c, 0x00, 0x0a, 0x0b, 0x00, 0x00, 0x00, 0x0c, 0xc4, 0xff,
    0x67, 0x36, 0xbe, 0x40, 0x10,
};
/* start of a real AV1 temporal unit (low-overhead OBUs) */
static const uint8_t av1_tu[] = {
    0x12, 0x00, 0x0a, 0x0b, 0x00, 0x00, 0x00, 0x0c, 0xc4, 0xff, 0x67, 0x36,
    0xbe, 0x40, 0x10, 0x32, 0xc2, 0x21, 0x10, 0x00, 0x87, 0xc0, 0x18, 0x60,
    0x82, 0x08, 0xae, 0xb2, 0xe0, 0xae, 0xb8, 0x20, 0xa0, 0x00, 0x2a, 0x6e,
    0x09, 0xcb, 0x46, 0x41,
};

/* Enhanced RTMP: IsExHeader | FrameType << 4 | PacketType, FourCC, [SI24], body. */
static uint32_t ex_tag(uint8_t *out, unsigned frame_type, unsigned packet_type, const char *fourcc,
                       const uint8_t *cts, const uint8_t *body, uint32_t len)
{
    uint32_t n = 0;
    out[n++] = (uint8_t)(0x80 | frame_type << 4 | packet_type);
    memcpy(out + n, fourcc, 4);
    n += 4;
    if (cts) {
        memcpy(out + n, cts, 3);
        n += 3;
    }
    if (len)
        memcpy(out + n, body, len);
    return n + len;
}

static void test_legacy_avc(void **state)
{
    cc_flv_packet_t pkt;
    cc_track_t t;

    assert_int_equal(cc_flv_parse_video(tag_avc_seq, sizeof(tag_avc_seq), &pkt), 0);
    assert_int_equal(pkt.kind, CC_FLV_CONFIG);
    assert_int_equal(pkt.codec, CC_CODEC_H264);
    assert_true(pkt.keyframe);
    assert_ptr_equal(pkt.data, tag_avc_seq + 5); /* points into our bytes */
    assert_int_equal(pkt.len, sizeof(tag_avc_seq) - 5);

    assert_int_equal(cc_flv_track_from_config(&pkt, &t), 0);
    assert_int_equal(t.kind, CC_MEDIA_VIDEO);
    assert_int_equal(t.codec, CC_CODEC_H264);
    assert_int_equal(t.timescale, 1000);
    assert_int_equal(t.width, 64);
    assert_int_equal(t.height, 64);
    assert_true(t.frame_rate > 29.999 && t.frame_rate < 30.001);
    assert_non_null(t.config);
    assert_int_equal(t.config->len, pkt.len);
    assert_memory_equal(t.config->data, pkt.data, pkt.len);
    assert_ptr_not_equal(t.config->data, pkt.data); /* a copy the track owns */
    char codecs[32];
    assert_true(cc_track_codecs_string(&t, codecs, sizeof(codecs)) > 0);
    assert_string_equal(codecs, "avc1.64000a");
    cc_track_clear(&t);

    assert_int_equal(cc_flv_parse_video(tag_avc_key, sizeof(tag_avc_key), &pkt), 0);
    assert_int_equal(pkt.kind, CC_FLV_FRAME);
    assert_true(pkt.keyframe);
    assert_int_equal(pkt.cts, 67);
    assert_ptr_equal(pkt.data, tag_avc_key + 5);
    assert_int_equal(pkt.len, sizeof(tag_avc_key) - 5);
    /* AVCC payload: the first 4-byte length stays inside the frame */
    assert_true(cc_rd32(pkt.data) + 4 <= pkt.len);

    assert_int_equal(cc_flv_parse_video(tag_avc_inter, sizeof(tag_avc_inter), &pkt), 0);
    assert_int_equal(pkt.kind, CC_FLV_FRAME);
    assert_false(pkt.keyframe);
    assert_int_equal(pkt.cts, 100);

    assert_int_equal(cc_flv_parse_video(tag_avc_eos, sizeof(tag_avc_eos), &pkt), 0);
    assert_int_equal(pkt.kind, CC_FLV_EOS);
    assert_null(pkt.data);
    assert_int_equal(pkt.len, 0);
}

static void test_legacy_avc_edges(void **state)
{
    cc_flv_packet_t pkt;
    /* SI24 is signed: 0xfffff6 is -10 ms. */
    uint8_t neg[] = {0x27, 0x01, 0xff, 0xff, 0xf6, 0, 0, 0, 1, 0x41};
    assert_int_equal(cc_flv_parse_video(neg, sizeof(neg), &pkt), 0);
    assert_int_equal(pkt.cts, -10);
    /* An empty coded frame carries nothing: skipped, not an error. */
    uint8_t empty[] = {0x27, 0x01, 0, 0, 0};
    assert_int_equal(cc_flv_parse_video(empty, sizeof(empty), &pkt), 0);
    assert_int_equal(pkt.kind, CC_FLV_SKIP);
    /* An empty sequence header is broken. */
    uint8_t empty_seq[] = {0x17, 0x00, 0, 0, 0};
    assert_int_equal(cc_flv_parse_video(empty_seq, sizeof(empty_seq), &pkt), CC_EPROTO);
    /* Video info/command frame (FrameType 5): skipped. */
    uint8_t cmd[] = {0x57, 0x00};
    assert_int_equal(cc_flv_parse_video(cmd, sizeof(cmd), &pkt), 0);
    assert_int_equal(pkt.kind, CC_FLV_SKIP);
    /* Reserved AVCPacketType and FrameTypes. */
    uint8_t bad_type[] = {0x17, 0x03, 0, 0, 0, 1};
    assert_int_equal(cc_flv_parse_video(bad_type, sizeof(bad_type), &pkt), CC_EPROTO);
    uint8_t frame0[] = {0x07, 0x01, 0, 0, 0, 1};
    assert_int_equal(cc_flv_parse_video(frame0, sizeof(frame0), &pkt), CC_EPROTO);
    uint8_t frame6[] = {0x67, 0x01, 0, 0, 0, 1};
    assert_int_equal(cc_flv_parse_video(frame6, sizeof(frame6), &pkt), CC_EPROTO);
    /* Other legacy codecs: Sorenson H.263, VP6, and the unofficial id 12 HEVC. */
    uint8_t h263[] = {0x12, 0x00, 0x00, 0x84};
    uint8_t vp6[] = {0x14, 0x00};
    uint8_t id12[] = {0x1c, 0x00, 0, 0, 0, 1};
    assert_int_equal(cc_flv_parse_video(h263, sizeof(h263), &pkt), CC_EUNSUPPORTED);
    assert_int_equal(cc_flv_parse_video(vp6, sizeof(vp6), &pkt), CC_EUNSUPPORTED);
    assert_int_equal(cc_flv_parse_video(id12, sizeof(id12), &pkt), CC_EUNSUPPORTED);
    assert_int_equal(cc_flv_parse_video(h263, 0, &pkt), CC_EPROTO);
    assert_int_equal(cc_flv_parse_video(NULL, 0, &pkt), CC_EINVAL);
}

static void test_enhanced_hevc(void **state)
{
    uint8_t tag[256];
    uint32_t n;
    cc_flv_packet_t pkt;
    cc_track_t t;
    static const uint8_t cts33[] = {0x00, 0x00, 0x21};
    static const uint8_t frame[] = {0, 0, 0, 3, 0x26, 0x01, 0xaf};

    n = ex_tag(tag, 1, 0, "hvc1", NULL, hvcc_640x360, sizeof(hvcc_640x360));
    assert_int_equal(cc_flv_parse_video(tag, n, &pkt), 0);
    assert_int_equal(pkt.kind, CC_FLV_CONFIG);
    assert_int_equal(pkt.codec, CC_CODEC_HEVC);
    assert_true(pkt.keyframe);
    assert_ptr_equal(pkt.data, tag + 5);
    assert_int_equal(pkt.len, sizeof(hvcc_640x360));
    assert_int_equal(cc_flv_track_from_config(&pkt, &t), 0);
    assert_int_equal(t.kind, CC_MEDIA_VIDEO);
    assert_int_equal(t.width, 640);
    assert_int_equal(t.height, 360);
    char codecs[32];
    assert_int_equal(cc_track_codecs_string(&t, codecs, sizeof(codecs)), 15);
    assert_string_equal(codecs, "hvc1.1.6.L63.90");
    cc_track_clear(&t);

    /* CodedFrames: SI24 composition time, then the payload. */
    n = ex_tag(tag, 1, 1, "hvc1", cts33, frame, sizeof(frame));
    assert_int_equal(cc_flv_parse_video(tag, n, &pkt), 0);
    assert_int_equal(pkt.kind, CC_FLV_FRAME);
    assert_true(pkt.keyframe);
    assert_int_equal(pkt.cts, 33);
    assert_ptr_equal(pkt.data, tag + 8);
    assert_int_equal(pkt.len, sizeof(frame));
    /* CodedFramesX: no composition time (it is 0). */
    n = ex_tag(tag, 2, 3, "hvc1", NULL, frame, sizeof(frame));
    assert_int_equal(cc_flv_parse_video(tag, n, &pkt), 0);
    assert_int_equal(pkt.kind, CC_FLV_FRAME);
    assert_false(pkt.keyframe);
    assert_int_equal(pkt.cts, 0);
    assert_ptr_equal(pkt.data, tag + 5);
    /* CodedFrames cut inside its SI24. */
    n = ex_tag(tag, 1, 1, "hvc1", NULL, cts33, 2);
    assert_int_equal(cc_flv_parse_video(tag, n, &pkt), CC_EPROTO);
    /* SequenceEnd */
    n = ex_tag(tag, 1, 2, "hvc1", NULL, NULL, 0);
    assert_int_equal(cc_flv_parse_video(tag, n, &pkt), 0);
    assert_int_equal(pkt.kind, CC_FLV_EOS);
    assert_int_equal(pkt.codec, CC_CODEC_HEVC);
}

static void test_enhanced_av1_and_avc(void **state)
{
    uint8_t tag[256];
    uint32_t n;
    cc_flv_packet_t pkt;
    cc_track_t t;
    char codecs[32];

    n = ex_tag(tag, 1, 0, "av01", NULL, av1c_640x360, sizeof(av1c_640x360));
    assert_int_equal(cc_flv_parse_video(tag, n, &pkt), 0);
    assert_int_equal(pkt.kind, CC_FLV_CONFIG);
    assert_int_equal(pkt.codec, CC_CODEC_AV1);
    assert_int_equal(cc_flv_track_from_config(&pkt, &t), 0);
    assert_int_equal(t.width, 640);
    assert_int_equal(t.height, 360);
    assert_true(cc_track_codecs_string(&t, codecs, sizeof(codecs)) > 0);
    assert_string_equal(codecs, "av01.0.01M.08");
    cc_track_clear(&t);

    /* AV1 CodedFrames has no SI24: the OBUs start right after the FourCC. */
    n = ex_tag(tag, 1, 1, "av01", NULL, av1_tu, sizeof(av1_tu));
    assert_int_equal(cc_flv_parse_video(tag, n, &pkt), 0);
    assert_int_equal(pkt.kind, CC_FLV_FRAME);
    assert_int_equal(pkt.cts, 0);
    assert_ptr_equal(pkt.data, tag + 5);
    assert_int_equal(pkt.len, sizeof(av1_tu));

    /* avc1 in an ExVideoTagHeader carries the same avcC as the legacy tag. */
    n = ex_tag(tag, 1, 0, "avc1", NULL, tag_avc_seq + 5, sizeof(tag_avc_seq) - 5);
    assert_int_equal(cc_flv_parse_video(tag, n, &pkt), 0);
    assert_int_equal(pkt.codec, CC_CODEC_H264);
    assert_int_equal(cc_flv_track_from_config(&pkt, &t), 0);
    assert_int_equal(t.width, 64);
    cc_track_clear(&t);
    static const uint8_t cts[] = {0xff, 0xff, 0xff};
    n = ex_tag(tag, 2, 1, "avc1", cts, tag_avc_inter + 5, sizeof(tag_avc_inter) - 5);
    assert_int_equal(cc_flv_parse_video(tag, n, &pkt), 0);
    assert_int_equal(pkt.cts, -1);
    assert_false(pkt.keyframe);
}

static void test_enhanced_skips_and_rejects(void **state)
{
    uint8_t tag[64];
    uint32_t n;
    cc_flv_packet_t pkt;
    static const uint8_t amf[] = {0x02, 0x00, 0x0a, 'c', 'o', 'l', 'o', 'r', 'I', 'n', 'f', 'o', 0x03, 0, 0, 9};

    n = ex_tag(tag, 1, 4, "hvc1", NULL, amf, sizeof(amf)); /* Metadata */
    assert_int_equal(cc_flv_parse_video(tag, n, &pkt), 0);
    assert_int_equal(pkt.kind, CC_FLV_SKIP);
    n = ex_tag(tag, 1, 5, "av01", NULL, amf, 4); /* MPEG2TSSequenceStart */
    assert_int_equal(cc_flv_parse_video(tag, n, &pkt), 0);
    assert_int_equal(pkt.kind, CC_FLV_SKIP);
    /* Command frame (FrameType 5): skipped, whatever follows. */
    uint8_t cmd[] = {0x80 | 5 << 4 | 1, 0x00};
    assert_int_equal(cc_flv_parse_video(cmd, sizeof(cmd), &pkt), 0);
    assert_int_equal(pkt.kind, CC_FLV_SKIP);
    /* Multitrack (PacketType 6), ModEx (7) and unknown FourCCs: unsupported. */
    n = ex_tag(tag, 1, 6, "\x01hvc", NULL, amf, 4);
    assert_int_equal(cc_flv_parse_video(tag, n, &pkt), CC_EUNSUPPORTED);
    n = ex_tag(tag, 1, 7, "hvc1", NULL, amf, 4);
    assert_int_equal(cc_flv_parse_video(tag, n, &pkt), CC_EUNSUPPORTED);
    n = ex_tag(tag, 1, 0, "vp09", NULL, amf, 4);
    assert_int_equal(cc_flv_parse_video(tag, n, &pkt), CC_EUNSUPPORTED);
    /* Too short for the FourCC; reserved FrameTypes. */
    assert_int_equal(cc_flv_parse_video(tag, 4, &pkt), CC_EPROTO);
    uint8_t ft0[] = {0x80, 'h', 'v', 'c', '1', 1};
    assert_int_equal(cc_flv_parse_video(ft0, sizeof(ft0), &pkt), CC_EPROTO);
    uint8_t ft7[] = {0xf0, 'h', 'v', 'c', '1', 1};
    assert_int_equal(cc_flv_parse_video(ft7, sizeof(ft7), &pkt), CC_EPROTO);
}

static void test_audio(void **state)
{
    cc_flv_packet_t pkt;
    cc_track_t t;
    char codecs[16];

    assert_int_equal(cc_flv_parse_audio(tag_aac_seq, sizeof(tag_aac_seq), &pkt), 0);
    assert_int_equal(pkt.kind, CC_FLV_CONFIG);
    assert_int_equal(pkt.codec, CC_CODEC_AAC);
    assert_ptr_equal(pkt.data, tag_aac_seq + 2);
    assert_int_equal(pkt.len, sizeof(tag_aac_seq) - 2);
    assert_int_equal(cc_flv_track_from_config(&pkt, &t), 0);
    assert_int_equal(t.kind, CC_MEDIA_AUDIO);
    assert_int_equal(t.timescale, 1000);
    assert_int_equal(t.sample_rate, 48000);
    assert_int_equal(t.channels, 2);
    assert_int_equal(cc_track_codecs_string(&t, codecs, sizeof(codecs)), 9);
    assert_string_equal(codecs, "mp4a.40.2");
    cc_track_clear(&t);

    assert_int_equal(cc_flv_parse_audio(tag_aac_raw, sizeof(tag_aac_raw), &pkt), 0);
    assert_int_equal(pkt.kind, CC_FLV_FRAME);
    assert_true(pkt.keyframe);
    assert_ptr_equal(pkt.data, tag_aac_raw + 2);
    assert_int_equal(pkt.len, sizeof(tag_aac_raw) - 2);

    uint8_t mp3[] = {0x2f, 0xff, 0xfb};
    uint8_t speex[] = {0xb6, 0x00};
    assert_int_equal(cc_flv_parse_audio(mp3, sizeof(mp3), &pkt), CC_EUNSUPPORTED);
    assert_int_equal(cc_flv_parse_audio(speex, sizeof(speex), &pkt), CC_EUNSUPPORTED);
    uint8_t bad_type[] = {0xaf, 0x02, 0x11};
    assert_int_equal(cc_flv_parse_audio(bad_type, sizeof(bad_type), &pkt), CC_EPROTO);
    assert_int_equal(cc_flv_parse_audio(tag_aac_seq, 1, &pkt), CC_EPROTO);
    assert_int_equal(cc_flv_parse_audio(tag_aac_seq, 2, &pkt), CC_EPROTO); /* empty ASC */
    assert_int_equal(cc_flv_parse_audio(tag_aac_seq, 0, &pkt), CC_EPROTO);
}

static void test_track_from_config_failures(void **state)
{
    cc_flv_packet_t pkt;
    cc_track_t t;

    /* A frame is not a config. */
    assert_int_equal(cc_flv_parse_video(tag_avc_key, sizeof(tag_avc_key), &pkt), 0);
    assert_int_equal(cc_flv_track_from_config(&pkt, &t), CC_EINVAL);
    assert_null(t.config);

    /* Garbage where the avcC should be: EPROTO, track left cleared. */
    uint8_t junk[] = {0x17, 0x00, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    assert_int_equal(cc_flv_parse_video(junk, sizeof(junk), &pkt), 0);
    memset(&t, 0xa5, sizeof(t));
    assert_int_equal(cc_flv_track_from_config(&pkt, &t), CC_EPROTO);
    assert_null(t.config);
    assert_int_equal(t.width, 0);
    assert_int_equal(t.codec, CC_CODEC_NONE);

    /* 2-byte NAL lengths: the hub takes 4-byte ones only. */
    uint8_t seq[sizeof(tag_avc_seq)];
    memcpy(seq, tag_avc_seq, sizeof(seq));
    seq[5 + 4] = 0xfd;
    assert_int_equal(cc_flv_parse_video(seq, sizeof(seq), &pkt), 0);
    assert_int_equal(cc_flv_track_from_config(&pkt, &t), CC_EUNSUPPORTED);
    assert_null(t.config);
}

/* Every prefix of every real tag: never a crash (each prefix lives in a heap
 * block of its own size, so ASan sees any over-read).  Prefixes that end
 * inside the tag header are EPROTO; longer frame prefixes are still frames
 * (the RTMP layer, not the tag, knows the message length); every prefix of
 * a sequence header is a record that fails to build a track, except where the
 * record's optional tail begins. */
typedef struct tag_case {
    const uint8_t *tag;
    uint32_t len;
    int audio;
    uint32_t header;
    uint32_t complete_prefixes_from; /* config tags: prefixes >= this may build a track */
} tag_case_t;

static void test_all_prefixes(void **state)
{
    uint8_t hevc_seq[5 + sizeof(hvcc_640x360)], av1_seq[5 + sizeof(av1c_640x360)];
    ex_tag(hevc_seq, 1, 0, "hvc1", NULL, hvcc_640x360, sizeof(hvcc_640x360));
    ex_tag(av1_seq, 1, 0, "av01", NULL, av1c_640x360, sizeof(av1c_640x360));
    const tag_case_t cases[] = {
        {tag_avc_seq, sizeof(tag_avc_seq), 0, 5, sizeof(tag_avc_seq) - 4}, /* avcC High block */
        {tag_avc_key, sizeof(tag_avc_key), 0, 5, 0},
        {tag_avc_inter, sizeof(tag_avc_inter), 0, 5, 0},
        {tag_avc_eos, sizeof(tag_avc_eos), 0, 5, 0},
        {tag_aac_seq, sizeof(tag_aac_seq), 1, 2, 4},  /* core LC ASC is 2 bytes */
        {tag_aac_raw, sizeof(tag_aac_raw), 1, 2, 0},
        {hevc_seq, sizeof(hevc_seq), 0, 5, sizeof(hevc_seq)},
        {av1_seq, sizeof(av1_seq), 0, 5, sizeof(av1_seq)},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const tag_case_t *c = &cases[i];
        cc_flv_packet_t full;
        assert_int_equal(c->audio ? cc_flv_parse_audio(c->tag, c->len, &full)
                                  : cc_flv_parse_video(c->tag, c->len, &full), 0);
        for (uint32_t n = 0; n < c->len; n++) {
            uint8_t *p = malloc(n ? n : 1);
            memcpy(p, c->tag, n);
            cc_flv_packet_t pkt;
            int rc = c->audio ? cc_flv_parse_audio(p, n, &pkt) : cc_flv_parse_video(p, n, &pkt);
            if (n < c->header) {
                assert_int_equal(rc, CC_EPROTO);
            } else if (full.kind == CC_FLV_CONFIG) {
                if (n == c->header) {
                    assert_int_equal(rc, CC_EPROTO); /* empty record */
                } else {
                    cc_track_t t;
                    assert_int_equal(rc, 0);
                    int trc = cc_flv_track_from_config(&pkt, &t);
                    if (n < c->complete_prefixes_from) {
                        if (trc != CC_EPROTO)
                            fail_msg("tag %zu: %u-byte prefix built a track (%d)", i, n, trc);
                        assert_null(t.config);
                    }
                    cc_track_clear(&t);
                }
            } else if (full.kind == CC_FLV_FRAME) {
                assert_int_equal(rc, 0);
                assert_int_equal(pkt.kind, n == c->header ? CC_FLV_SKIP : CC_FLV_FRAME);
                assert_int_equal(pkt.len, n == c->header ? 0 : n - c->header);
            }
            free(p);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_legacy_avc),
        cmocka_unit_test(test_legacy_avc_edges),
        cmocka_unit_test(test_enhanced_hevc),
        cmocka_unit_test(test_enhanced_av1_and_avc),
        cmocka_unit_test(test_enhanced_skips_and_rejects),
        cmocka_unit_test(test_audio),
        cmocka_unit_test(test_track_from_config_failures),
        cmocka_unit_test(test_all_prefixes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* FLV audio/video tag bodies (RTMP message types 8 and 9).
 *
 * References: Adobe FLV spec v10.1 E.4.2.1 (AUDIODATA) and E.4.3.1
 * (VIDEODATA, AVCVIDEOPACKET); Veovera "Enhanced RTMP" v1 (ExVideoTagHeader,
 * FourCC, PacketType).  Pure: we only classify and point into the caller's
 * bytes; what the configuration record says is read by core/media.c. */
#include <string.h>

#include "cartcast/buf.h"
#include "cartcast/err.h"
#include "ingest/flv.h"

/* Legacy VIDEODATA FrameType / CodecID (FLV spec E.4.3.1). */
enum {
    FLV_FRAME_KEY = 1,
    FLV_FRAME_COMMAND = 5, /* "video info/command frame": no picture */
    FLV_CODEC_AVC = 7,
};

/* Enhanced RTMP v1 PacketType (low nibble when IsExHeader is set). */
enum {
    EX_SEQUENCE_START = 0,
    EX_CODED_FRAMES = 1,
    EX_SEQUENCE_END = 2,
    EX_CODED_FRAMES_X = 3, /* like CodedFrames but without the SI24 cts */
    EX_METADATA = 4,       /* AMF colour/HDR metadata: nothing for the hub yet */
    EX_MPEG2TS_SEQUENCE_START = 5,
    EX_MULTITRACK = 6,     /* Enhanced RTMP v2 */
};

#define FOURCC(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))

static void packet_init(cc_flv_packet_t *out, cc_flv_kind_t kind, cc_codec_t codec, bool keyframe)
{
    memset(out, 0, sizeof(*out));
    out->kind = kind;
    out->codec = codec;
    out->keyframe = keyframe;
}

/* SI24: a signed 24-bit composition time offset. */
static int32_t rd_si24(const uint8_t *p)
{
    uint32_t v = cc_rd24(p);
    return (v & 0x800000) ? (int32_t)v - 0x1000000 : (int32_t)v;
}

/* Sets data/len to [p+off, p+len) for kinds that carry a payload.  An empty
 * sequence header is malformed (there is no record to read); an empty coded
 * frame carries nothing and is skipped rather than failing the publish. */
static int packet_payload(cc_flv_packet_t *out, const uint8_t *p, uint32_t len, uint32_t off)
{
    if (out->kind == CC_FLV_CONFIG && len == off)
        return CC_EPROTO;
    if (out->kind == CC_FLV_FRAME && len == off) {
        out->kind = CC_FLV_SKIP;
        return 0;
    }
    if (out->kind == CC_FLV_CONFIG || out->kind == CC_FLV_FRAME) {
        out->data = p + off;
        out->len = len - off;
    }
    return 0;
}

static int parse_ex_video(const uint8_t *p, uint32_t len, cc_flv_packet_t *out)
{
    unsigned frame_type = (p[0] >> 4) & 7;
    unsigned packet_type = p[0] & 0x0f;

    if (frame_type == 0 || frame_type > FLV_FRAME_COMMAND)
        return CC_EPROTO; /* 0, 6 and 7 are reserved */
    if (frame_type == FLV_FRAME_COMMAND) {
        /* Command frames (seek start/end) carry no FourCC payload to deliver. */
        packet_init(out, CC_FLV_SKIP, CC_CODEC_NONE, false);
        return 0;
    }
    if (packet_type == EX_MULTITRACK)
        return CC_EUNSUPPORTED; /* several tracks in one message: not taken */
    if (len < 5)
        return CC_EPROTO; /* no room for the FourCC */

    cc_codec_t codec;
    switch (cc_rd32(p + 1)) {
    case FOURCC('a', 'v', 'c', '1'): codec = CC_CODEC_H264; break;
    case FOURCC('h', 'v', 'c', '1'): codec = CC_CODEC_HEVC; break;
    case FOURCC('a', 'v', '0', '1'): codec = CC_CODEC_AV1; break;
    default: return CC_EUNSUPPORTED; /* vp09 and anything newer */
    }
    bool key = frame_type == FLV_FRAME_KEY;
    uint32_t off = 5;

    switch (packet_type) {
    case EX_SEQUENCE_START:
        packet_init(out, CC_FLV_CONFIG, codec, key);
        break;
    case EX_CODED_FRAMES:
        packet_init(out, CC_FLV_FRAME, codec, key);
        /* Only AVC and HEVC have a composition time here; AV1 has no
         * B-frame reordering, so its CodedFrames has none. */
        if (codec != CC_CODEC_AV1) {
            if (len < 8)
                return CC_EPROTO;
            out->cts = rd_si24(p + 5);
            off = 8;
        }
        break;
    case EX_CODED_FRAMES_X:
        packet_init(out, CC_FLV_FRAME, codec, key);
        break;
    case EX_SEQUENCE_END:
        packet_init(out, CC_FLV_EOS, codec, key);
        break;
    case EX_METADATA:
    case EX_MPEG2TS_SEQUENCE_START:
        packet_init(out, CC_FLV_SKIP, codec, key);
        break;
    default:
        return CC_EUNSUPPORTED; /* ModEx and later packet types */
    }
    int rc = packet_payload(out, p, len, off);
    if (rc < 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

int cc_flv_parse_video(const uint8_t *p, uint32_t len, cc_flv_packet_t *out)
{
    if (!p || !out)
        return CC_EINVAL;
    memset(out, 0, sizeof(*out));
    if (len < 1)
        return CC_EPROTO;
    /* Enhanced RTMP: the top bit of the legacy FrameType is IsExHeader
     * (legacy frame types stop at 5, so the bit was always 0). */
    if (p[0] & 0x80)
        return parse_ex_video(p, len, out);

    unsigned frame_type = p[0] >> 4;
    unsigned codec_id = p[0] & 0x0f;
    if (frame_type == 0 || frame_type > FLV_FRAME_COMMAND)
        return CC_EPROTO;
    if (frame_type == FLV_FRAME_COMMAND) {
        packet_init(out, CC_FLV_SKIP, codec_id == FLV_CODEC_AVC ? CC_CODEC_H264 : CC_CODEC_NONE, false);
        return 0;
    }
    if (codec_id != FLV_CODEC_AVC)
        return CC_EUNSUPPORTED; /* Sorenson, VP6, screen video, non-standard HEVC ids */

    /* AVCVIDEOPACKET: AVCPacketType UI8, CompositionTime SI24. */
    if (len < 5)
        return CC_EPROTO;
    bool key = frame_type == FLV_FRAME_KEY;
    switch (p[1]) {
    case 0: packet_init(out, CC_FLV_CONFIG, CC_CODEC_H264, key); break;
    case 1:
        packet_init(out, CC_FLV_FRAME, CC_CODEC_H264, key);
        out->cts = rd_si24(p + 2);
        break;
    case 2: packet_init(out, CC_FLV_EOS, CC_CODEC_H264, key); break;
    default: return CC_EPROTO;
    }
    int rc = packet_payload(out, p, len, 5);
    if (rc < 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

int cc_flv_parse_audio(const uint8_t *p, uint32_t len, cc_flv_packet_t *out)
{
    if (!p || !out)
        return CC_EINVAL;
    memset(out, 0, sizeof(*out));
    if (len < 1)
        return CC_EPROTO;
    /* SoundFormat is the top nibble; 10 = AAC.  The rate/size/type bits of
     * an AAC tag are fixed placeholders: the ASC is what counts. */
    if ((p[0] >> 4) != 10)
        return CC_EUNSUPPORTED;
    if (len < 2)
        return CC_EPROTO;
    switch (p[1]) { /* AACPacketType */
    case 0: packet_init(out, CC_FLV_CONFIG, CC_CODEC_AAC, true); break;
    case 1: packet_init(out, CC_FLV_FRAME, CC_CODEC_AAC, true); break; /* every AAC frame is a sync sample */
    default: return CC_EPROTO;
    }
    int rc = packet_payload(out, p, len, 2);
    if (rc < 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

int cc_flv_track_from_config(const cc_flv_packet_t *pkt, cc_track_t *track)
{
    if (!track)
        return CC_EINVAL;
    memset(track, 0, sizeof(*track));
    if (!pkt || pkt->kind != CC_FLV_CONFIG || !pkt->data)
        return CC_EINVAL;

    cc_track_t t;
    memset(&t, 0, sizeof(t));
    t.codec = pkt->codec;
    t.timescale = 1000; /* RTMP timestamps are milliseconds */
    switch (pkt->codec) {
    case CC_CODEC_H264:
    case CC_CODEC_HEVC:
    case CC_CODEC_AV1: {
        cc_video_info_t vi;
        int rc = cc_video_config_parse(pkt->codec, pkt->data, pkt->len, &vi);
        if (rc < 0)
            return rc;
        /* The hub and packager take 4-byte NAL lengths as given (media.h);
         * every RTMP encoder we know writes 4, so we reject rather than
         * rewrite every frame. */
        if (pkt->codec != CC_CODEC_AV1 && vi.nal_length_size != 4)
            return CC_EUNSUPPORTED;
        t.kind = CC_MEDIA_VIDEO;
        t.width = vi.width;
        t.height = vi.height;
        t.frame_rate = vi.frame_rate;
        break;
    }
    case CC_CODEC_AAC: {
        int rc = cc_aac_asc_parse(pkt->data, pkt->len, &t.sample_rate, &t.channels);
        if (rc < 0)
            return rc;
        t.kind = CC_MEDIA_AUDIO;
        break;
    }
    default:
        return CC_EUNSUPPORTED;
    }
    t.config = cc_buf_from(pkt->data, pkt->len);
    if (!t.config)
        return CC_ENOMEM;
    *track = t;
    return 0;
}

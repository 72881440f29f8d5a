/* The media model's helpers: track copies, and the parsers that read what a
 * codec configuration record says (picture size, sample rate, RFC 6381
 * CODECS string).
 *
 * Every parser here is pure: it reads the caller's bytes, allocates nothing,
 * and checks each length before it reads.  Bit-level syntax goes through one
 * bounds-checked reader whose error is sticky, so a truncated header turns
 * into CC_EPROTO at the end instead of a read past the buffer.  docs/codecs.md
 * lists what is parsed and what is rejected. */
#include <stdio.h>
#include <string.h>

#include "cartcast/buf.h"
#include "cartcast/err.h"
#include "cartcast/media.h"

/* Largest width or height we accept (16K).  Real encoders stay far below;
 * the cap keeps the size arithmetic far from overflow and rejects garbage. */
#define CC__MAX_DIM 16384u

/* The first bytes of an SPS that we unescape into a stack buffer.  The
 * largest H.264 SPS (4:4:4 with all twelve scaling lists at worst-case
 * deltas, plus a full VUI with two HRDs of 32 CPBs) is about 1.6 KB of RBSP;
 * 2 KB covers it, and anything longer fails the bounds check, not memory. */
#define CC__RBSP_MAX 2048

const char *cc_codec_name(cc_codec_t codec)
{
    switch (codec) {
    case CC_CODEC_NONE: return "none";
    case CC_CODEC_H264: return "h264";
    case CC_CODEC_HEVC: return "hevc";
    case CC_CODEC_AV1: return "av1";
    case CC_CODEC_AAC: return "aac";
    case CC_CODEC_MP3: return "mp3";
    case CC_CODEC_OPUS: return "opus";
    }
    return "unknown";
}

void cc_track_copy(cc_track_t *dst, const cc_track_t *src)
{
    /* dst is overwritten, not released: callers copy into cleared tracks. */
    *dst = *src;
    dst->config = cc_buf_ref(src->config);
}

void cc_track_clear(cc_track_t *t)
{
    cc_buf_unref(t->config);
    memset(t, 0, sizeof(*t));
}

/* ---- bit reader ------------------------------------------------------- */

typedef struct cc__bits {
    const uint8_t *p;
    size_t nbits;
    size_t pos;
    int err; /* sticky: once set, every read returns 0 */
} cc__bits_t;

static void bits_init(cc__bits_t *b, const uint8_t *p, size_t len)
{
    b->p = p;
    b->nbits = len * 8;
    b->pos = 0;
    b->err = 0;
}

static size_t bits_left(const cc__bits_t *b) { return b->err ? 0 : b->nbits - b->pos; }

/* n <= 32 bits, MSB first (every syntax here is big-endian bit order). */
static uint32_t bits_u(cc__bits_t *b, unsigned n)
{
    if (b->err || n > b->nbits - b->pos) {
        b->err = 1;
        return 0;
    }
    uint32_t v = 0;
    for (unsigned i = 0; i < n; i++, b->pos++)
        v = (v << 1) | ((b->p[b->pos >> 3] >> (7 - (b->pos & 7))) & 1u);
    return v;
}

static uint32_t bits_peek(cc__bits_t *b, unsigned n)
{
    size_t pos = b->pos;
    int err = b->err;
    uint32_t v = bits_u(b, n);
    b->pos = pos;
    b->err = err;
    return v;
}

static void bits_skip(cc__bits_t *b, size_t n)
{
    if (b->err || n > b->nbits - b->pos) {
        b->err = 1;
        return;
    }
    b->pos += n;
}

/* ue(v), ISO 14496-10 9.1: at most 31 leading zeros, so the value fits in
 * 32 bits (2^32 - 2 at most); more is not a valid code. */
static uint32_t bits_ue(cc__bits_t *b)
{
    unsigned zeros = 0;
    while (bits_u(b, 1) == 0) {
        if (b->err || ++zeros > 31) {
            b->err = 1;
            return 0;
        }
    }
    if (zeros == 0)
        return 0;
    return (uint32_t)((1ull << zeros) - 1 + bits_u(b, zeros));
}

/* se(v), 9.1.1: codeNum k maps to (-1)^(k+1) * ceil(k / 2). */
static int64_t bits_se(cc__bits_t *b)
{
    uint32_t k = bits_ue(b);
    return (k & 1) ? (int64_t)(k / 2) + 1 : -(int64_t)(k / 2);
}

/* NAL unit payload -> RBSP: drop each emulation_prevention_three_byte
 * (0x00 0x00 0x03 -> 0x00 0x00), ISO 14496-10 7.4.1.  Stops at cap; a parse
 * that needs more than cap bytes then fails its bounds check. */
static size_t nal_unescape(const uint8_t *src, size_t len, uint8_t *dst, size_t cap)
{
    size_t n = 0, zeros = 0;
    for (size_t i = 0; i < len && n < cap; i++) {
        if (zeros >= 2 && src[i] == 3) {
            zeros = 0;
            continue;
        }
        zeros = src[i] == 0 ? zeros + 1 : 0;
        dst[n++] = src[i];
    }
    return n;
}

/* Cropped size = coded size - unit * (a + b), with everything range-checked
 * so that no input can wrap or produce 0. */
static int crop_dim(uint64_t coded, uint64_t unit, uint64_t a, uint64_t b, uint32_t *out)
{
    uint64_t crop = unit * (a + b); /* a, b < 2^32, unit <= 4: no overflow */
    if (coded == 0 || coded > CC__MAX_DIM || crop >= coded)
        return CC_EPROTO;
    *out = (uint32_t)(coded - crop);
    return 0;
}

/* ---- H.264 SPS (ISO 14496-10 7.3.2.1.1) -------------------------------- */

/* scaling_list(), 7.3.2.1.1.1: only the deltas are in the bitstream, so
 * skipping means reading them; nextScale == 0 ends the list early
 * (useDefaultScalingMatrixFlag / repeat-last). */
static void h264_skip_scaling_list(cc__bits_t *b, int size)
{
    int last = 8, next = 8;
    for (int j = 0; j < size && !b->err; j++) {
        if (next != 0) {
            int64_t delta = bits_se(b);
            if (delta < -128 || delta > 127) { /* 7.4.2.1.1.1 range */
                b->err = 1;
                return;
            }
            next = (int)((last + delta + 256) % 256);
        }
        last = next == 0 ? last : next;
    }
}

/* hrd_parameters(), E.1.2. */
static void h264_skip_hrd(cc__bits_t *b)
{
    uint32_t cpb_cnt = bits_ue(b) + 1;
    if (cpb_cnt > 32) { /* E.2.2: cpb_cnt_minus1 in 0..31 */
        b->err = 1;
        return;
    }
    bits_skip(b, 8); /* bit_rate_scale, cpb_size_scale */
    for (uint32_t i = 0; i < cpb_cnt && !b->err; i++) {
        bits_ue(b); /* bit_rate_value_minus1 */
        bits_ue(b); /* cpb_size_value_minus1 */
        bits_skip(b, 1); /* cbr_flag */
    }
    bits_skip(b, 20); /* four 5-bit delay/length fields */
}

/* vui_parameters(), E.1.1: read to the end so that a truncated SPS cannot
 * pass for a whole one, and to pick up timing_info for the frame rate. */
static void h264_vui(cc__bits_t *b, cc_video_info_t *vi)
{
    if (bits_u(b, 1)) { /* aspect_ratio_info_present_flag */
        if (bits_u(b, 8) == 255) /* Extended_SAR */
            bits_skip(b, 32);
    }
    if (bits_u(b, 1)) /* overscan_info_present_flag */
        bits_skip(b, 1);
    if (bits_u(b, 1)) { /* video_signal_type_present_flag */
        bits_skip(b, 4);
        if (bits_u(b, 1)) /* colour_description_present_flag */
            bits_skip(b, 24);
    }
    if (bits_u(b, 1)) { /* chroma_loc_info_present_flag */
        bits_ue(b);
        bits_ue(b);
    }
    if (bits_u(b, 1)) { /* timing_info_present_flag */
        uint32_t num_units_in_tick = bits_u(b, 32);
        uint32_t time_scale = bits_u(b, 32);
        bits_skip(b, 1); /* fixed_frame_rate_flag */
        /* E.2.1: one frame is two ticks (field-based clock). */
        if (num_units_in_tick && time_scale && !b->err)
            vi->frame_rate = (double)time_scale / (2.0 * num_units_in_tick);
    }
    int nal_hrd = (int)bits_u(b, 1);
    if (nal_hrd)
        h264_skip_hrd(b);
    int vcl_hrd = (int)bits_u(b, 1);
    if (vcl_hrd)
        h264_skip_hrd(b);
    if (nal_hrd || vcl_hrd)
        bits_skip(b, 1); /* low_delay_hrd_flag */
    bits_skip(b, 1); /* pic_struct_present_flag */
    if (bits_u(b, 1)) { /* bitstream_restriction_flag */
        bits_skip(b, 1);
        for (int i = 0; i < 6; i++)
            bits_ue(b);
    }
}

int cc_h264_sps_parse(const uint8_t *nal, uint32_t len, cc_video_info_t *vi)
{
    uint8_t rbsp[CC__RBSP_MAX];
    cc__bits_t b;

    if (!nal || !vi)
        return CC_EINVAL;
    memset(vi, 0, sizeof(*vi));
    /* forbidden_zero_bit must be 0 and nal_unit_type 7 (7.4.1). */
    if (len < 4 || (nal[0] & 0x80) || (nal[0] & 0x1f) != 7)
        return CC_EPROTO;
    bits_init(&b, rbsp, nal_unescape(nal + 1, len - 1, rbsp, sizeof(rbsp)));

    uint32_t profile_idc = bits_u(&b, 8);
    bits_skip(&b, 16); /* constraint_set flags, level_idc */
    if (bits_ue(&b) > 31) /* seq_parameter_set_id */
        return CC_EPROTO;

    uint32_t chroma_format_idc = 1, separate_colour_plane = 0, bit_depth = 8;
    switch (profile_idc) {
    /* The profiles whose SPS carries chroma_format_idc and friends. */
    case 100: case 110: case 122: case 244: case 44: case 83:
    case 86: case 118: case 128: case 138: case 139: case 134: case 135: {
        chroma_format_idc = bits_ue(&b);
        if (chroma_format_idc > 3)
            return CC_EPROTO;
        if (chroma_format_idc == 3)
            separate_colour_plane = bits_u(&b, 1);
        uint32_t luma_minus8 = bits_ue(&b);
        uint32_t chroma_minus8 = bits_ue(&b);
        if (luma_minus8 > 6 || chroma_minus8 > 6) /* 7.4.2.1.1: 0..6 */
            return CC_EPROTO;
        bit_depth = 8 + luma_minus8;
        bits_skip(&b, 1); /* qpprime_y_zero_transform_bypass_flag */
        if (bits_u(&b, 1)) { /* seq_scaling_matrix_present_flag */
            int lists = chroma_format_idc != 3 ? 8 : 12;
            for (int i = 0; i < lists; i++) {
                if (bits_u(&b, 1)) /* seq_scaling_list_present_flag[i] */
                    h264_skip_scaling_list(&b, i < 6 ? 16 : 64);
            }
        }
        break;
    }
    default:
        break;
    }

    if (bits_ue(&b) > 12) /* log2_max_frame_num_minus4: 0..12 */
        return CC_EPROTO;
    uint32_t poc_type = bits_ue(&b);
    if (poc_type == 0) {
        if (bits_ue(&b) > 12) /* log2_max_pic_order_cnt_lsb_minus4 */
            return CC_EPROTO;
    } else if (poc_type == 1) {
        bits_skip(&b, 1); /* delta_pic_order_always_zero_flag */
        bits_se(&b);      /* offset_for_non_ref_pic */
        bits_se(&b);      /* offset_for_top_to_bottom_field */
        uint32_t cycle = bits_ue(&b);
        if (cycle > 255) /* 7.4.2.1.1: 0..255 */
            return CC_EPROTO;
        for (uint32_t i = 0; i < cycle && !b.err; i++)
            bits_se(&b);
    } else if (poc_type > 2) {
        return CC_EPROTO;
    }
    bits_ue(&b);       /* max_num_ref_frames */
    bits_skip(&b, 1);  /* gaps_in_frame_num_value_allowed_flag */
    uint32_t width_mbs = bits_ue(&b);       /* pic_width_in_mbs_minus1 */
    uint32_t height_map_units = bits_ue(&b); /* pic_height_in_map_units_minus1 */
    uint32_t frame_mbs_only = bits_u(&b, 1);
    if (!frame_mbs_only)
        bits_skip(&b, 1); /* mb_adaptive_frame_field_flag */
    bits_skip(&b, 1);     /* direct_8x8_inference_flag */
    uint32_t crop_l = 0, crop_r = 0, crop_t = 0, crop_b = 0;
    if (bits_u(&b, 1)) { /* frame_cropping_flag */
        crop_l = bits_ue(&b);
        crop_r = bits_ue(&b);
        crop_t = bits_ue(&b);
        crop_b = bits_ue(&b);
    }
    if (bits_u(&b, 1)) /* vui_parameters_present_flag */
        h264_vui(&b, vi);
    /* rbsp_stop_one_bit: its absence means the NAL unit was cut short. */
    if (bits_u(&b, 1) != 1 || b.err)
        return CC_EPROTO;

    /* 7.4.2.1.1: crop units depend on ChromaArrayType and on whether a
     * frame is two fields (frame_mbs_only_flag == 0). */
    uint32_t chroma_array_type = separate_colour_plane ? 0 : chroma_format_idc;
    uint64_t sub_w = (chroma_array_type == 1 || chroma_array_type == 2) ? 2 : 1;
    uint64_t sub_h = chroma_array_type == 1 ? 2 : 1;
    uint64_t crop_unit_x = chroma_array_type == 0 ? 1 : sub_w;
    uint64_t crop_unit_y = (chroma_array_type == 0 ? 1 : sub_h) * (2 - frame_mbs_only);
    uint64_t coded_w = ((uint64_t)width_mbs + 1) * 16;
    uint64_t coded_h = ((uint64_t)height_map_units + 1) * 16 * (2 - frame_mbs_only);
    if (crop_dim(coded_w, crop_unit_x, crop_l, crop_r, &vi->width) < 0 ||
        crop_dim(coded_h, crop_unit_y, crop_t, crop_b, &vi->height) < 0) {
        memset(vi, 0, sizeof(*vi));
        return CC_EPROTO;
    }
    vi->bit_depth = (uint8_t)bit_depth;
    vi->chroma_format = (uint8_t)chroma_format_idc;
    return 0;
}

/* avcC, ISO 14496-15 5.3.3.1.  Returns the first SPS through sps/sps_len. */
static int avcc_parse(const uint8_t *p, uint32_t len, const uint8_t **sps, uint32_t *sps_len,
                      uint8_t *length_size)
{
    if (!p || len < 7 || p[0] != 1) /* configurationVersion 1 */
        return CC_EPROTO;
    uint32_t off = 5;
    unsigned nsps = p[off++] & 0x1f;
    if (nsps == 0)
        return CC_EPROTO; /* nothing to size the picture from */
    *sps = NULL;
    for (unsigned i = 0; i < nsps; i++) {
        if (len - off < 2)
            return CC_EPROTO;
        uint32_t n = cc_rd16(p + off);
        off += 2;
        if (n == 0 || len - off < n)
            return CC_EPROTO;
        if (i == 0) {
            *sps = p + off;
            *sps_len = n;
        }
        off += n;
    }
    if (len - off < 1)
        return CC_EPROTO;
    unsigned npps = p[off++];
    for (unsigned i = 0; i < npps; i++) {
        if (len - off < 2)
            return CC_EPROTO;
        uint32_t n = cc_rd16(p + off);
        off += 2;
        if (len - off < n)
            return CC_EPROTO;
        off += n;
    }
    /* High profiles append chroma_format/bit depths/SPS extensions.  Old
     * writers omit them, so absence is fine; but if the block starts it must
     * be whole, or the record was cut. */
    unsigned profile = p[1];
    if (off < len && (profile == 100 || profile == 110 || profile == 122 || profile == 144 ||
                      profile == 244)) {
        if (len - off < 4)
            return CC_EPROTO;
        unsigned next = p[off + 3];
        off += 4;
        for (unsigned i = 0; i < next; i++) {
            if (len - off < 2)
                return CC_EPROTO;
            uint32_t n = cc_rd16(p + off);
            off += 2;
            if (len - off < n)
                return CC_EPROTO;
            off += n;
        }
    }
    *length_size = (uint8_t)((p[4] & 3) + 1);
    return 0;
}

static int avcc_info(const uint8_t *p, uint32_t len, cc_video_info_t *vi, const uint8_t **sps_out)
{
    const uint8_t *sps;
    uint32_t sps_len;
    uint8_t length_size;
    int rc = avcc_parse(p, len, &sps, &sps_len, &length_size);
    if (rc < 0)
        return rc;
    rc = cc_h264_sps_parse(sps, sps_len, vi);
    if (rc < 0)
        return rc;
    vi->nal_length_size = length_size;
    if (sps_out)
        *sps_out = sps;
    return 0;
}

int cc_avcc_dimensions(const uint8_t *avcc, uint32_t len, uint32_t *width, uint32_t *height)
{
    cc_video_info_t vi;
    if (!avcc || !width || !height)
        return CC_EINVAL;
    int rc = avcc_info(avcc, len, &vi, NULL);
    if (rc < 0)
        return rc;
    *width = vi.width;
    *height = vi.height;
    return 0;
}

/* ---- HEVC SPS (ISO 23008-2 7.3.2.2) ------------------------------------ */

/* profile_tier_level(1, maxNumSubLayersMinus1), 7.3.3: fixed-size fields
 * except the per-sub-layer blocks, which the presence flags size. */
static void hevc_skip_ptl(cc__bits_t *b, unsigned max_sub_layers_minus1)
{
    /* general_profile_space .. general_level_idc: 2+1+5+32+4+43+1+8 bits */
    bits_skip(b, 96);
    unsigned profile_present[8] = {0}, level_present[8] = {0};
    for (unsigned i = 0; i < max_sub_layers_minus1; i++) {
        profile_present[i] = bits_u(b, 1);
        level_present[i] = bits_u(b, 1);
    }
    if (max_sub_layers_minus1 > 0)
        bits_skip(b, 2 * (8 - max_sub_layers_minus1)); /* reserved_zero_2bits */
    for (unsigned i = 0; i < max_sub_layers_minus1; i++) {
        if (profile_present[i])
            bits_skip(b, 88);
        if (level_present[i])
            bits_skip(b, 8);
    }
}

int cc_hevc_sps_parse(const uint8_t *nal, uint32_t len, cc_video_info_t *vi)
{
    uint8_t rbsp[CC__RBSP_MAX];
    cc__bits_t b;

    if (!nal || !vi)
        return CC_EINVAL;
    memset(vi, 0, sizeof(*vi));
    /* nal_unit_header, 7.3.1.2: forbidden_zero_bit 0, type 33 (SPS_NUT),
     * nuh_temporal_id_plus1 != 0. */
    if (len < 3 || (nal[0] & 0x80) || ((nal[0] >> 1) & 0x3f) != 33 || (nal[1] & 7) == 0)
        return CC_EPROTO;
    bits_init(&b, rbsp, nal_unescape(nal + 2, len - 2, rbsp, sizeof(rbsp)));

    bits_skip(&b, 4); /* sps_video_parameter_set_id */
    unsigned max_sub_layers_minus1 = bits_u(&b, 3);
    if (max_sub_layers_minus1 > 6) /* 7.4.3.2.1: 0..6 */
        return CC_EPROTO;
    bits_skip(&b, 1); /* sps_temporal_id_nesting_flag */
    hevc_skip_ptl(&b, max_sub_layers_minus1);
    if (bits_ue(&b) > 15) /* sps_seq_parameter_set_id */
        return CC_EPROTO;
    uint32_t chroma_format_idc = bits_ue(&b);
    if (chroma_format_idc > 3)
        return CC_EPROTO;
    uint32_t separate_colour_plane = 0;
    if (chroma_format_idc == 3)
        separate_colour_plane = bits_u(&b, 1);
    uint32_t pic_w = bits_ue(&b); /* pic_width_in_luma_samples */
    uint32_t pic_h = bits_ue(&b);
    uint32_t win_l = 0, win_r = 0, win_t = 0, win_b = 0;
    if (bits_u(&b, 1)) { /* conformance_window_flag */
        win_l = bits_ue(&b);
        win_r = bits_ue(&b);
        win_t = bits_ue(&b);
        win_b = bits_ue(&b);
    }
    uint32_t luma_minus8 = bits_ue(&b);
    uint32_t chroma_minus8 = bits_ue(&b);
    if (b.err || luma_minus8 > 8 || chroma_minus8 > 8) /* 0..8 */
        return CC_EPROTO;

    /* Table 6-1: SubWidthC/SubHeightC by ChromaArrayType; the conformance
     * window offsets are in chroma units. */
    uint32_t chroma_array_type = separate_colour_plane ? 0 : chroma_format_idc;
    uint64_t sub_w = (chroma_array_type == 1 || chroma_array_type == 2) ? 2 : 1;
    uint64_t sub_h = chroma_array_type == 1 ? 2 : 1;
    if (crop_dim(pic_w, sub_w, win_l, win_r, &vi->width) < 0 ||
        crop_dim(pic_h, sub_h, win_t, win_b, &vi->height) < 0) {
        memset(vi, 0, sizeof(*vi));
        return CC_EPROTO;
    }
    vi->bit_depth = (uint8_t)(8 + luma_minus8);
    vi->chroma_format = (uint8_t)chroma_format_idc;
    return 0;
}

/* hvcC, ISO 14496-15 8.3.3.1: a 23-byte header, then arrays of NAL units.
 * Returns the first SPS. */
#define CC__HVCC_HEADER 23

static int hvcc_parse(const uint8_t *p, uint32_t len, const uint8_t **sps, uint32_t *sps_len)
{
    if (!p || len < CC__HVCC_HEADER || p[0] != 1) /* configurationVersion 1 */
        return CC_EPROTO;
    uint32_t off = CC__HVCC_HEADER - 1;
    unsigned narrays = p[off++];
    *sps = NULL;
    for (unsigned a = 0; a < narrays; a++) {
        if (len - off < 3)
            return CC_EPROTO;
        unsigned type = p[off] & 0x3f;
        unsigned nnalus = cc_rd16(p + off + 1);
        off += 3;
        for (unsigned i = 0; i < nnalus; i++) {
            if (len - off < 2)
                return CC_EPROTO;
            uint32_t n = cc_rd16(p + off);
            off += 2;
            if (len - off < n)
                return CC_EPROTO;
            if (type == 33 && !*sps && n >= 2) {
                *sps = p + off;
                *sps_len = n;
            }
            off += n;
        }
    }
    return *sps ? 0 : CC_EPROTO;
}

static int hvcc_info(const uint8_t *p, uint32_t len, cc_video_info_t *vi)
{
    const uint8_t *sps;
    uint32_t sps_len;
    int rc = hvcc_parse(p, len, &sps, &sps_len);
    if (rc < 0)
        return rc;
    rc = cc_hevc_sps_parse(sps, sps_len, vi);
    if (rc < 0)
        return rc;
    vi->nal_length_size = (uint8_t)((p[21] & 3) + 1);
    /* avgFrameRate is in frames per 256 s; 0 means unspecified. */
    uint16_t avg = cc_rd16(p + 19);
    if (avg)
        vi->frame_rate = avg / 256.0;
    return 0;
}

int cc_hvcc_dimensions(const uint8_t *hvcc, uint32_t len, uint32_t *width, uint32_t *height)
{
    cc_video_info_t vi;
    if (!hvcc || !width || !height)
        return CC_EINVAL;
    int rc = hvcc_info(hvcc, len, &vi);
    if (rc < 0)
        return rc;
    *width = vi.width;
    *height = vi.height;
    return 0;
}

/* ---- AV1 sequence header (AV1 spec 5.5, av1C per AV1-ISOBMFF 2.3) ------- */

typedef struct cc__av1_seq {
    unsigned profile, level, tier, bit_depth;
    unsigned mono, ss_x, ss_y, csp;
    unsigned color_desc, cp, tc, mc, full_range;
    uint32_t width, height;
    double frame_rate;
} cc__av1_seq_t;

/* uvlc(), 4.10.3: more than 31 leading zeros only happens in garbage. */
static uint32_t bits_uvlc(cc__bits_t *b)
{
    unsigned zeros = 0;
    while (bits_u(b, 1) == 0) {
        if (b->err || ++zeros > 31) {
            b->err = 1;
            return 0;
        }
    }
    return (uint32_t)(bits_u(b, zeros) + (1ull << zeros) - 1);
}

/* color_config(), 5.5.2. */
static void av1_color_config(cc__bits_t *b, cc__av1_seq_t *s)
{
    unsigned high_bitdepth = bits_u(b, 1);
    if (s->profile == 2 && high_bitdepth)
        s->bit_depth = bits_u(b, 1) ? 12 : 10; /* twelve_bit */
    else
        s->bit_depth = high_bitdepth ? 10 : 8;
    s->mono = s->profile == 1 ? 0 : bits_u(b, 1);
    s->color_desc = bits_u(b, 1);
    if (s->color_desc) {
        s->cp = bits_u(b, 8);
        s->tc = bits_u(b, 8);
        s->mc = bits_u(b, 8);
    } else {
        s->cp = s->tc = s->mc = 2; /* CP/TC/MC_UNSPECIFIED */
    }
    if (s->mono) {
        s->full_range = bits_u(b, 1);
        s->ss_x = s->ss_y = 1;
        s->csp = 0;
        return; /* no separate_uv_delta_q for monochrome */
    }
    if (s->cp == 1 && s->tc == 13 && s->mc == 0) { /* BT.709 / sRGB / identity: 4:4:4 RGB */
        s->full_range = 1;
        s->ss_x = s->ss_y = 0;
    } else {
        s->full_range = bits_u(b, 1);
        if (s->profile == 0) {
            s->ss_x = s->ss_y = 1;
        } else if (s->profile == 1) {
            s->ss_x = s->ss_y = 0;
        } else if (s->bit_depth == 12) {
            s->ss_x = bits_u(b, 1);
            s->ss_y = s->ss_x ? bits_u(b, 1) : 0;
        } else {
            s->ss_x = 1;
            s->ss_y = 0;
        }
        if (s->ss_x && s->ss_y)
            s->csp = bits_u(b, 2); /* chroma_sample_position */
    }
    bits_skip(b, 1); /* separate_uv_delta_q */
}

/* sequence_header_obu(), 5.5.1, through the trailing bits. */
static int av1_seq_parse(const uint8_t *p, size_t len, cc__av1_seq_t *s)
{
    cc__bits_t b;
    bits_init(&b, p, len);
    memset(s, 0, sizeof(*s));

    s->profile = bits_u(&b, 3);
    if (s->profile > 2) /* 6.4.1: 3..7 reserved */
        return CC_EPROTO;
    bits_skip(&b, 1); /* still_picture */
    unsigned reduced = bits_u(&b, 1);
    if (reduced) {
        s->level = bits_u(&b, 5);
    } else {
        unsigned decoder_model_info = 0, buffer_delay_len = 0;
        if (bits_u(&b, 1)) { /* timing_info_present_flag */
            uint32_t num_units = bits_u(&b, 32); /* num_units_in_display_tick */
            uint32_t time_scale = bits_u(&b, 32);
            if (bits_u(&b, 1)) { /* equal_picture_interval */
                uint32_t ticks = bits_uvlc(&b); /* num_ticks_per_picture_minus_1 */
                if (num_units && time_scale && !b.err)
                    s->frame_rate = (double)time_scale / ((double)num_units * ((double)ticks + 1));
            }
            decoder_model_info = bits_u(&b, 1);
            if (decoder_model_info) {
                buffer_delay_len = bits_u(&b, 5) + 1;
                bits_skip(&b, 32 + 5 + 5);
            }
        }
        unsigned initial_display_delay = bits_u(&b, 1);
        unsigned ops = bits_u(&b, 5) + 1; /* operating_points_cnt_minus_1 */
        for (unsigned i = 0; i < ops && !b.err; i++) {
            bits_skip(&b, 12); /* operating_point_idc */
            unsigned level = bits_u(&b, 5);
            unsigned tier = level > 7 ? bits_u(&b, 1) : 0;
            if (i == 0) {
                s->level = level;
                s->tier = tier;
            }
            if (decoder_model_info && bits_u(&b, 1)) /* decoder_model_present_for_this_op */
                bits_skip(&b, 2 * buffer_delay_len + 1);
            if (initial_display_delay && bits_u(&b, 1))
                bits_skip(&b, 4);
        }
    }
    unsigned wbits = bits_u(&b, 4) + 1;
    unsigned hbits = bits_u(&b, 4) + 1;
    uint64_t w = (uint64_t)bits_u(&b, wbits) + 1; /* max_frame_width_minus_1 */
    uint64_t h = (uint64_t)bits_u(&b, hbits) + 1;
    if (!reduced && bits_u(&b, 1)) /* frame_id_numbers_present_flag */
        bits_skip(&b, 7);
    bits_skip(&b, 3); /* use_128x128_superblock, enable_filter_intra, enable_intra_edge_filter */
    if (!reduced) {
        bits_skip(&b, 4); /* interintra, masked, warped, dual_filter */
        unsigned order_hint = bits_u(&b, 1);
        if (order_hint)
            bits_skip(&b, 2); /* enable_jnt_comp, enable_ref_frame_mvs */
        unsigned force_sct = bits_u(&b, 1) ? 2 : bits_u(&b, 1); /* seq_choose_screen_content_tools */
        if (force_sct > 0 && !bits_u(&b, 1)) /* seq_choose_integer_mv */
            bits_skip(&b, 1); /* seq_force_integer_mv */
        if (order_hint)
            bits_skip(&b, 3); /* order_hint_bits_minus_1 */
    }
    bits_skip(&b, 3); /* enable_superres, enable_cdef, enable_restoration */
    av1_color_config(&b, s);
    bits_skip(&b, 1); /* film_grain_params_present */
    /* trailing_bits(), 5.3.4: a missing one bit means the OBU was cut. */
    if (bits_u(&b, 1) != 1 || b.err)
        return CC_EPROTO;
    if (w > CC__MAX_DIM || h > CC__MAX_DIM)
        return CC_EPROTO;
    s->width = (uint32_t)w;
    s->height = (uint32_t)h;
    return 0;
}

/* leb128(), 4.10.5: at most 8 bytes, value below 2^32. */
static int leb128(const uint8_t *p, size_t len, uint64_t *v, size_t *used)
{
    uint64_t value = 0;
    for (size_t i = 0; i < 8; i++) {
        if (i >= len)
            return CC_EPROTO;
        value |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            if (value > UINT32_MAX)
                return CC_EPROTO;
            *v = value;
            *used = i + 1;
            return 0;
        }
    }
    return CC_EPROTO;
}

/* Walks low-overhead OBUs (5.3) to the first sequence header. */
static int av1_find_seq(const uint8_t *p, size_t len, cc__av1_seq_t *s)
{
    size_t off = 0;
    while (off < len) {
        uint8_t h = p[off++];
        if (h & 0x80) /* obu_forbidden_bit */
            return CC_EPROTO;
        unsigned type = (h >> 3) & 0x0f;
        if (h & 0x04) { /* obu_extension_flag: one more header byte */
            if (off >= len)
                return CC_EPROTO;
            off++;
        }
        uint64_t size = len - off;
        if (h & 0x02) { /* obu_has_size_field */
            size_t used;
            if (leb128(p + off, len - off, &size, &used) < 0)
                return CC_EPROTO;
            off += used;
            if (size > len - off)
                return CC_EPROTO;
        }
        if (type == 1) /* OBU_SEQUENCE_HEADER */
            return av1_seq_parse(p + off, (size_t)size, s);
        off += (size_t)size;
    }
    return CC_EPROTO; /* no sequence header: nothing tells the picture size */
}

static void av1_to_info(const cc__av1_seq_t *s, cc_video_info_t *vi)
{
    memset(vi, 0, sizeof(*vi));
    vi->width = s->width;
    vi->height = s->height;
    vi->frame_rate = s->frame_rate;
    vi->bit_depth = (uint8_t)s->bit_depth;
    vi->chroma_format = s->mono ? 0 : (s->ss_x && s->ss_y) ? 1 : s->ss_x ? 2 : 3;
}

int cc_av1_seq_header_parse(const uint8_t *obus, uint32_t len, cc_video_info_t *vi)
{
    cc__av1_seq_t s;
    if (!obus || !vi)
        return CC_EINVAL;
    memset(vi, 0, sizeof(*vi));
    int rc = av1_find_seq(obus, len, &s);
    if (rc < 0)
        return rc;
    av1_to_info(&s, vi);
    return 0;
}

/* av1C, AV1-ISOBMFF 2.3.3: marker(1)=1 version(7)=1, three bytes of
 * profile/level/flags that mirror the sequence header, then configOBUs. */
static int av1c_seq(const uint8_t *p, uint32_t len, cc__av1_seq_t *s)
{
    if (!p || len < 4 || p[0] != 0x81)
        return CC_EPROTO;
    return av1_find_seq(p + 4, len - 4, s);
}

int cc_av1c_dimensions(const uint8_t *av1c, uint32_t len, uint32_t *width, uint32_t *height)
{
    cc__av1_seq_t s;
    if (!av1c || !width || !height)
        return CC_EINVAL;
    int rc = av1c_seq(av1c, len, &s);
    if (rc < 0)
        return rc;
    *width = s.width;
    *height = s.height;
    return 0;
}

int cc_video_config_parse(cc_codec_t codec, const uint8_t *rec, uint32_t len, cc_video_info_t *vi)
{
    cc__av1_seq_t s;
    int rc;
    if (!rec || !vi)
        return CC_EINVAL;
    memset(vi, 0, sizeof(*vi));
    switch (codec) {
    case CC_CODEC_H264:
        return avcc_info(rec, len, vi, NULL);
    case CC_CODEC_HEVC:
        return hvcc_info(rec, len, vi);
    case CC_CODEC_AV1:
        rc = av1c_seq(rec, len, &s);
        if (rc == 0)
            av1_to_info(&s, vi);
        return rc;
    default:
        return CC_EUNSUPPORTED;
    }
}

/* ---- AudioSpecificConfig (ISO 14496-3 1.6.2.1) -------------------------- */

typedef struct cc__asc {
    unsigned object_type; /* the first audioObjectType: 2 LC, 5 SBR, 29 PS, ... */
    uint32_t sample_rate, channels;
} cc__asc_t;

static unsigned asc_object_type(cc__bits_t *b)
{
    unsigned t = bits_u(b, 5);
    return t == 31 ? 32 + bits_u(b, 6) : t; /* escape for types >= 32 */
}

static uint32_t asc_sample_rate(cc__bits_t *b)
{
    /* Table 1.18; 13 and 14 are reserved. */
    static const uint32_t rates[13] = {96000, 88200, 64000, 48000, 44100, 32000, 24000,
                                       22050, 16000, 12000, 11025, 8000, 7350};
    unsigned idx = bits_u(b, 4);
    if (idx == 15)
        return bits_u(b, 24); /* explicit samplingFrequency */
    return idx < 13 ? rates[idx] : 0;
}

/* program_config_element(), 4.4.1.1 Table 4.2: the channel count when
 * channelConfiguration is 0. */
static uint32_t asc_pce_channels(cc__bits_t *b)
{
    bits_skip(b, 4 + 2 + 4); /* element_instance_tag, object_type, sampling_frequency_index */
    unsigned front = bits_u(b, 4), side = bits_u(b, 4), back = bits_u(b, 4);
    unsigned lfe = bits_u(b, 2), assoc = bits_u(b, 3), cc = bits_u(b, 4);
    if (bits_u(b, 1)) /* mono_mixdown_present */
        bits_skip(b, 4);
    if (bits_u(b, 1)) /* stereo_mixdown_present */
        bits_skip(b, 4);
    if (bits_u(b, 1)) /* matrix_mixdown_idx_present */
        bits_skip(b, 3);
    uint32_t channels = lfe;
    for (unsigned i = 0; i < front + side + back; i++) {
        channels += bits_u(b, 1) ? 2 : 1; /* *_element_is_cpe */
        bits_skip(b, 4);
    }
    bits_skip(b, 4 * (size_t)lfe + 4 * (size_t)assoc + 5 * (size_t)cc);
    bits_skip(b, (8 - (b->pos & 7)) & 7); /* byte_alignment(), from the ASC start */
    bits_skip(b, 8 * (size_t)bits_u(b, 8)); /* comment_field_data */
    return channels;
}

static int asc_parse(const uint8_t *p, uint32_t len, cc__asc_t *out)
{
    /* Table 1.19 channelConfiguration -> channels; 8..10 and 15 reserved. */
    static const uint8_t config_channels[16] = {0, 1, 2, 3, 4, 5, 6, 8, 0, 0, 0, 7, 8, 24, 8, 0};
    cc__bits_t b;

    if (!p || !out)
        return CC_EINVAL;
    memset(out, 0, sizeof(*out));
    bits_init(&b, p, len);
    unsigned aot = asc_object_type(&b);
    uint32_t rate = asc_sample_rate(&b);
    unsigned chan_config = bits_u(&b, 4);
    uint32_t channels = config_channels[chan_config];
    out->object_type = aot;
    int explicit_sbr = 0;
    if (aot == 5 || aot == 29) {
        /* Explicit hierarchical SBR/PS signalling: the output rate follows,
         * then the core object type. */
        explicit_sbr = 1;
        rate = asc_sample_rate(&b);
        if (aot == 29 && channels == 1)
            channels = 2; /* PS turns a mono core into stereo output */
        aot = asc_object_type(&b);
    }
    if (b.err || aot == 0 || rate == 0)
        return CC_EPROTO;

    switch (aot) {
    /* GASpecificConfig(), 4.4.1 Table 4.1, for the GA object types. */
    case 1: case 2: case 3: case 4: case 6: case 7:
    case 17: case 19: case 20: case 21: case 22: case 23: {
        bits_skip(&b, 1); /* frameLengthFlag */
        if (bits_u(&b, 1)) /* dependsOnCoreCoder */
            bits_skip(&b, 14);
        unsigned ext = bits_u(&b, 1);
        if (chan_config == 0)
            channels = asc_pce_channels(&b);
        if (aot == 6 || aot == 20)
            bits_skip(&b, 3); /* layerNr */
        if (ext) {
            if (aot == 22)
                bits_skip(&b, 16);
            if (aot == 17 || aot == 19 || aot == 20 || aot == 23)
                bits_skip(&b, 3);
            bits_skip(&b, 1); /* extensionFlag3 */
        }
        break;
    }
    default:
        /* Other object types keep their config elsewhere; we only need the
         * rate and channel count, which came from the common header. */
        if (chan_config == 0)
            return CC_EPROTO; /* channels defined by a PCE we cannot reach */
        break;
    }
    if (b.err || channels == 0)
        return CC_EPROTO;

    /* Backward-compatible SBR signalling (1.6.5.2): sync extension 0x2b7
     * after the core config.  Optional, so only read it when it is there;
     * once it starts it must be whole. */
    if (!explicit_sbr && bits_left(&b) >= 16 && bits_peek(&b, 11) == 0x2b7) {
        bits_skip(&b, 11);
        if (asc_object_type(&b) == 5) {
            if (bits_u(&b, 1)) { /* sbrPresentFlag */
                uint32_t ext_rate = asc_sample_rate(&b);
                if (ext_rate == 0)
                    return CC_EPROTO;
                rate = ext_rate;
                out->object_type = 5;
                if (bits_left(&b) >= 12 && bits_peek(&b, 11) == 0x548) {
                    bits_skip(&b, 11);
                    if (bits_u(&b, 1) && channels == 1) { /* psPresentFlag */
                        channels = 2;
                        out->object_type = 29;
                    }
                }
            }
        }
        if (b.err)
            return CC_EPROTO;
    }
    out->sample_rate = rate;
    out->channels = channels;
    return 0;
}

int cc_aac_asc_parse(const uint8_t *asc, uint32_t len, uint32_t *sample_rate, uint32_t *channels)
{
    cc__asc_t a;
    if (!asc || !sample_rate || !channels)
        return CC_EINVAL;
    int rc = asc_parse(asc, len, &a);
    if (rc < 0)
        return rc;
    *sample_rate = a.sample_rate;
    *channels = a.channels;
    return 0;
}

/* ---- RFC 6381 CODECS ---------------------------------------------------- */

static int codecs_put(char *out, size_t outlen, int n)
{
    if (n < 0 || (size_t)n >= outlen) {
        if (outlen)
            out[0] = '\0';
        return CC_ETOOBIG;
    }
    return n;
}

/* ISO 14496-15 E.3: hvc1.[space]profile.compat(bit-reversed hex).
 * tier+level.constraint bytes (trailing zero bytes left out). */
static int codecs_hevc(const uint8_t *p, char *out, size_t outlen)
{
    static const char *space[4] = {"", "A", "B", "C"};
    uint32_t compat = cc_rd32(p + 2), rev = 0;
    for (int i = 0; i < 32; i++)
        rev |= ((compat >> i) & 1u) << (31 - i);
    char buf[96];
    int n = snprintf(buf, sizeof(buf), "hvc1.%s%u.%X.%c%u", space[p[1] >> 6], p[1] & 0x1fu, rev,
                     (p[1] & 0x20) ? 'H' : 'L', p[12]);
    int last = -1;
    for (int i = 0; i < 6; i++)
        if (p[6 + i])
            last = i;
    for (int i = 0; i <= last; i++)
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, ".%02X", p[6 + i]);
    return codecs_put(out, outlen, snprintf(out, outlen, "%s", buf));
}

/* AV1-ISOBMFF "Codecs Parameter String": av01.P.LLT.DD, with the optional
 * .M.CCC.cp.tc.mc.F tail only when it differs from the defaults
 * (4:2:0 colocated-unknown, BT.709, limited range) that the short form implies. */
static int codecs_av1(const cc__av1_seq_t *s, char *out, size_t outlen)
{
    int defaults = !s->mono && s->ss_x == 1 && s->ss_y == 1 && s->csp == 0 && !s->full_range &&
                   (!s->color_desc || (s->cp == 1 && s->tc == 1 && s->mc == 1));
    if (defaults)
        return codecs_put(out, outlen,
                          snprintf(out, outlen, "av01.%u.%02u%c.%02u", s->profile, s->level,
                                   s->tier ? 'H' : 'M', s->bit_depth));
    return codecs_put(out, outlen,
                      snprintf(out, outlen, "av01.%u.%02u%c.%02u.%u.%u%u%u.%02u.%02u.%02u.%u",
                               s->profile, s->level, s->tier ? 'H' : 'M', s->bit_depth, s->mono,
                               s->ss_x, s->ss_y, s->csp, s->cp, s->tc, s->mc, s->full_range));
}

int cc_track_codecs_string(const cc_track_t *t, char *out, size_t outlen)
{
    if (!out || !t)
        return CC_EINVAL;
    if (outlen)
        out[0] = '\0';
    const uint8_t *rec = t->config ? t->config->data : NULL;
    uint32_t len = t->config ? (uint32_t)t->config->len : 0;
    int rc;

    switch (t->codec) {
    case CC_CODEC_MP3:
        return codecs_put(out, outlen, snprintf(out, outlen, "mp4a.40.34"));
    case CC_CODEC_OPUS:
        return codecs_put(out, outlen, snprintf(out, outlen, "opus"));
    case CC_CODEC_NONE:
        return CC_EINVAL;
    default:
        break;
    }
    if (!rec)
        return CC_EINVAL;

    switch (t->codec) {
    case CC_CODEC_H264: {
        /* RFC 6381 3.3: profile_idc, constraint flags byte and level_idc
         * of the SPS, as hex. */
        cc_video_info_t vi;
        const uint8_t *sps;
        if ((rc = avcc_info(rec, len, &vi, &sps)) < 0)
            return rc;
        return codecs_put(out, outlen,
                          snprintf(out, outlen, "avc1.%02x%02x%02x", sps[1], sps[2], sps[3]));
    }
    case CC_CODEC_HEVC: {
        cc_video_info_t vi;
        if ((rc = hvcc_info(rec, len, &vi)) < 0)
            return rc;
        return codecs_hevc(rec, out, outlen);
    }
    case CC_CODEC_AV1: {
        cc__av1_seq_t s;
        if ((rc = av1c_seq(rec, len, &s)) < 0)
            return rc;
        return codecs_av1(&s, out, outlen);
    }
    case CC_CODEC_AAC: {
        cc__asc_t a;
        if ((rc = asc_parse(rec, len, &a)) < 0)
            return rc;
        return codecs_put(out, outlen, snprintf(out, outlen, "mp4a.40.%u", a.object_type));
    }
    default:
        return CC_EUNSUPPORTED;
    }
}

/* libFuzzer harness for ingest/srt/es.c: the Annex B -> length-prefixed
 * converter, the avcC / hvcC builders fed with whatever parameter sets the
 * input holds, and the ADTS splitter, as demux.c drives them.
 *
 * Byte 0 picks the path: bit 0 H.264 / HEVC, bit 1 video / ADTS.  The corpus
 * holds real access units and ADTS frames from ffmpeg-made streams. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/err.h"
#include "cartcast/media.h"
#include "ingest/srt/es.h"

static void video(cc_codec_t codec, const uint8_t *p, size_t len)
{
    cc_es_au_t au;
    if (cc_es_video_scan(codec, p, len, &au) < 0)
        return;
    uint8_t *out = malloc(au.out_len ? au.out_len : 1);
    if (!out)
        return;
    int n = cc_es_video_write(codec, p, len, out, au.out_len);
    if (n != (int)au.out_len)
        abort();
    /* the frame is a chain of 4-byte lengths covering it exactly */
    size_t off = 0;
    uint32_t nals = 0;
    while (off < au.out_len) {
        if (au.out_len - off < 4)
            abort();
        uint32_t l = cc_rd32(out + off);
        if (l == 0 || l > au.out_len - off - 4)
            abort();
        off += 4 + l;
        nals++;
    }
    if (nals != au.nals)
        abort();
    free(out);
    for (int t = 0; t < CC_ES_PS_TYPES; t++)
        for (int i = 0; i < au.nps[t]; i++)
            if (au.ps[t][i].base < p || au.ps[t][i].base + au.ps[t][i].len > p + len)
                abort();
    uint8_t rec[4096];
    int r = codec == CC_CODEC_H264
                ? cc_es_avcc_build(au.ps[CC_ES_SPS], au.nps[CC_ES_SPS], au.ps[CC_ES_PPS], au.nps[CC_ES_PPS], rec,
                                   sizeof(rec))
                : cc_es_hvcc_build(au.ps[CC_ES_VPS], au.nps[CC_ES_VPS], au.ps[CC_ES_SPS], au.nps[CC_ES_SPS],
                                   au.ps[CC_ES_PPS], au.nps[CC_ES_PPS], rec, sizeof(rec));
    if (r > 0) {
        /* what we build, the media layer must be able to read back */
        cc_video_info_t vi;
        cc_video_config_parse(codec, rec, (uint32_t)r, &vi);
        cc_track_t t = {.kind = CC_MEDIA_VIDEO, .codec = codec, .config = cc_buf_from(rec, (size_t)r)};
        char codecs[64];
        cc_track_codecs_string(&t, codecs, sizeof(codecs));
        cc_track_clear(&t);
    }
}

static void adts(const uint8_t *p, size_t len)
{
    while (len > 0) {
        cc_adts_t h;
        if (cc_es_adts_parse(p, len, &h) < 0)
            return;
        if (h.frame_len > len || h.header_len >= h.frame_len || h.sample_rate == 0 || h.channel_config == 0)
            abort();
        uint8_t asc[2];
        uint32_t rate, ch;
        cc_es_adts_asc(&h, asc);
        if (cc_aac_asc_parse(asc, 2, &rate, &ch) < 0 || rate != h.sample_rate)
            abort();
        p += h.frame_len;
        len -= h.frame_len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    uint8_t *copy = malloc(size - 1 ? size - 1 : 1);
    if (!copy)
        return 0;
    memcpy(copy, data + 1, size - 1);
    if (sel & 2)
        adts(copy, size - 1);
    else
        video(sel & 1 ? CC_CODEC_HEVC : CC_CODEC_H264, copy, size - 1);
    cc_es_unwrap_t u = {0};
    for (size_t i = 0; i + 5 <= size - 1; i += 5) {
        int64_t t = ((int64_t)copy[i] << 32) | ((int64_t)copy[i + 1] << 24) | ((int64_t)copy[i + 2] << 16) |
                    ((int64_t)copy[i + 3] << 8) | copy[i + 4];
        int64_t before = u.ext;
        int64_t after = cc_es_unwrap(&u, t);
        if (i && (after - before > (INT64_C(1) << 32) || before - after > (INT64_C(1) << 32)))
            abort();
    }
    free(copy);
    return 0;
}

/* libFuzzer harness for ingest/flv.c and the record parsers in core/media.c.
 *
 * The whole input goes through both tag parsers (and, when it is a sequence
 * header, cc_flv_track_from_config and the CODECS string), and then straight
 * into each SPS / sequence header / record / ASC parser, so one corpus entry
 * exercises every layer.  The corpus holds real tag bodies from ffmpeg (see
 * docs/codecs.md). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "cartcast/err.h"
#include "cartcast/media.h"
#include "ingest/flv.h"

static void check_packet(const cc_flv_packet_t *pkt, const uint8_t *data, size_t size)
{
    /* The payload must lie inside the input. */
    if (pkt->data && (pkt->data < data || pkt->len > size || pkt->data + pkt->len > data + size))
        abort();
    if (pkt->kind != CC_FLV_CONFIG)
        return;
    cc_track_t t;
    int rc = cc_flv_track_from_config(pkt, &t);
    if (rc == 0) {
        char codecs[64];
        if (!t.config || t.config->len != pkt->len)
            abort();
        if (t.kind == CC_MEDIA_VIDEO && (t.width == 0 || t.height == 0))
            abort();
        cc_track_codecs_string(&t, codecs, sizeof(codecs));
        cc_track_t copy;
        cc_track_copy(&copy, &t);
        cc_track_clear(&copy);
    } else if (t.config) {
        abort(); /* failure leaves the track cleared */
    }
    cc_track_clear(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cc_flv_packet_t pkt;
    cc_video_info_t vi;
    uint32_t a, b;
    uint32_t len = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;

    if (cc_flv_parse_video(data, len, &pkt) == 0)
        check_packet(&pkt, data, size);
    if (cc_flv_parse_audio(data, len, &pkt) == 0)
        check_packet(&pkt, data, size);

    cc_h264_sps_parse(data, len, &vi);
    cc_hevc_sps_parse(data, len, &vi);
    cc_av1_seq_header_parse(data, len, &vi);
    cc_avcc_dimensions(data, len, &a, &b);
    cc_hvcc_dimensions(data, len, &a, &b);
    cc_av1c_dimensions(data, len, &a, &b);
    cc_aac_asc_parse(data, len, &a, &b);
    return 0;
}

/* libFuzzer harness for the SRT TS-to-hub path: the bytes that would come
 * from the SRT socket go through cc_srt_demux_run (libavformat's mpegts
 * demuxer + es.c) into a real hub stream with a subscriber, exactly as the
 * server's loop side delivers them.  The last input byte picks the read size
 * (SRT payloads are 1316 bytes; any split must work).  Checks: frames only
 * on set tracks, DTS never backwards, payloads inside their buffers, every
 * reference released (LeakSanitizer).  The corpus is ffmpeg-made TS files:
 * H.264+AAC, HEVC+AAC, a 33-bit wrap, a clock jump, MPEG-2+MP2 (refused), a
 * truncated one. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/log.h>

#include "cartcast/err.h"
#include "cartcast/hub.h"
#include "cartcast/log.h"
#include "ingest/srt/demux.h"

typedef struct feed {
    const uint8_t *data;
    size_t len, pos, chunk;
    cc_stream_t *st;
    int has_track[2];
    int64_t last_dts[2];
    uint64_t frames[2];
} feed_t;

static int rd(void *opaque, uint8_t *buf, size_t len)
{
    feed_t *f = opaque;
    if (f->pos >= f->len)
        return CC_ECLOSED;
    size_t n = f->chunk < len ? f->chunk : len;
    if (n > f->len - f->pos)
        n = f->len - f->pos;
    memcpy(buf, f->data + f->pos, n);
    f->pos += n;
    return (int)n;
}

static int on_track(void *opaque, int index, cc_track_t *t)
{
    feed_t *f = opaque;
    if (index != 0 && index != 1)
        abort();
    if (!t->config || t->timescale != 1000)
        abort();
    if (cc_stream_set_track(f->st, index, t) < 0)
        abort();
    f->has_track[index] = 1;
    cc_track_clear(t);
    return 0;
}

static int on_frame(void *opaque, cc_frame_t *fr)
{
    feed_t *f = opaque;
    int i = fr->track;
    if ((i != 0 && i != 1) || !f->has_track[i] || !fr->buf || fr->pts < fr->dts || fr->dts < 0)
        abort();
    if (fr->data < fr->buf->data || fr->data + fr->len > fr->buf->data + fr->buf->len)
        abort();
    if (f->frames[i] && fr->dts < f->last_dts[i])
        abort();
    f->last_dts[i] = fr->dts;
    f->frames[i]++;
    if (cc_stream_push(f->st, fr) < 0)
        abort();
    cc_buf_unref(fr->buf);
    return 0;
}

static uint64_t seen;
static void sub_frame(cc_subscriber_t *sub, cc_stream_t *st, const cc_frame_t *fr)
{
    seen += fr->len;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    av_log_set_level(AV_LOG_QUIET);
    cc_log_set_level(CC_LOG_OFF);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const size_t chunks[] = {1316, 188, 1, 7, 1456, 4096, 65536, 100};
    feed_t f;
    memset(&f, 0, sizeof(f));
    f.data = data;
    f.len = size - 1;
    f.chunk = chunks[data[size - 1] % (sizeof(chunks) / sizeof(chunks[0]))];
    cc_hub_t *hub = cc_hub_new();
    if (cc_hub_publish(hub, "fuzz", "srt", "-", &f.st) < 0)
        abort();
    cc_subscriber_t sub = {.on_frame = sub_frame};
    cc_stream_subscribe(f.st, &sub);
    cc_srt_demux_config_t cfg;
    cc_srt_demux_config_default(&cfg);
    cfg.max_probe_bytes = 1 << 20;
    cc_srt_demux_hooks_t hooks = {rd, on_track, on_frame, &f};
    char why[256];
    cc_srt_demux_stats_t st;
    int rc = cc_srt_demux_run(&cfg, &hooks, &st, why, sizeof(why));
    if (rc < 0 && rc != CC_EPROTO && rc != CC_EUNSUPPORTED && rc != CC_ENOMEM)
        abort();
    if (rc < 0 && why[0] == '\0')
        abort(); /* every failure says why */
    for (int i = 0; i < 2; i++) {
        const cc_track_stats_t *ts = cc_stream_track_stats(f.st, i);
        if (ts && ts->dts_backwards)
            abort();
    }
    cc_hub_free(hub);
    return 0;
}

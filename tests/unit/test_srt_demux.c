/* ingest/srt/demux.c: real MPEG-TS files (tests/fuzz/corpus/fuzz_srt_ts, made
 * by ffmpeg) through libavformat and es.c into a real hub stream, fed whole,
 * in SRT-sized payloads and byte by byte; the broken inputs the issue lists
 * (random bytes, a truncated TS, a PMT with unsupported codecs) fail cleanly. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/err.h"
#include "cartcast/hub.h"
#include "ingest/srt/demux.h"

#ifndef CC_SRT_CORPUS
#error "CC_SRT_CORPUS must name tests/fuzz/corpus/fuzz_srt_ts"
#endif

typedef struct feed {
    const uint8_t *data;
    size_t len, pos;
    size_t chunk;      /* bytes per read; 0: vary */
    uint32_t rng;
    cc_stream_t *st;
    int tracks_set[2];
    cc_track_t track[2];
    uint64_t frames[2], keyframes[2];
    int64_t first_dts[2], last_dts[2], max_pts_gap;
    int bad_order;     /* a frame before its track, pts < dts, or dts going backwards */
    int fail_after;    /* on_frame fails after this many frames (0: never) */
} feed_t;

static int feed_read(void *opaque, uint8_t *buf, size_t len)
{
    feed_t *f = opaque;
    if (f->pos >= f->len)
        return CC_ECLOSED;
    size_t n = f->chunk;
    if (n == 0) {
        f->rng = f->rng * 1103515245u + 12345u;
        n = 1 + (f->rng >> 16) % 3000;
    }
    if (n > len)
        n = len;
    if (n > f->len - f->pos)
        n = f->len - f->pos;
    memcpy(buf, f->data + f->pos, n);
    f->pos += n;
    return (int)n;
}

static int feed_track(void *opaque, int index, cc_track_t *t)
{
    feed_t *f = opaque;
    assert_true(index == 0 || index == 1);
    assert_int_equal(cc_stream_set_track(f->st, index, t), 0);
    cc_track_clear(&f->track[index]);
    f->track[index] = *t; /* keep our reference */
    f->tracks_set[index] = 1;
    return 0;
}

static int feed_frame(void *opaque, cc_frame_t *fr)
{
    feed_t *f = opaque;
    int i = fr->track;
    assert_true(i == 0 || i == 1);
    assert_non_null(fr->buf);
    assert_true(fr->data >= fr->buf->data && fr->data + fr->len <= fr->buf->data + fr->buf->len);
    if (!f->tracks_set[i] || fr->pts < fr->dts || (f->frames[i] && fr->dts < f->last_dts[i]))
        f->bad_order = 1;
    if (f->frames[i] == 0)
        f->first_dts[i] = fr->dts;
    f->last_dts[i] = fr->dts;
    f->frames[i]++;
    if (fr->keyframe)
        f->keyframes[i]++;
    if (fr->pts - fr->dts > f->max_pts_gap)
        f->max_pts_gap = fr->pts - fr->dts;
    assert_int_equal(cc_stream_push(f->st, fr), 0);
    cc_buf_unref(fr->buf);
    if (f->fail_after && f->frames[0] + f->frames[1] >= (uint64_t)f->fail_after)
        return CC_ECLOSED;
    return 0;
}

static uint8_t *load(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", CC_SRT_CORPUS, name);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        fail_msg("cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n);
    assert_int_equal(fread(b, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return b;
}

/* Runs data through the demuxer into a hub stream; returns the demuxer's code. */
static int run(const uint8_t *data, size_t len, size_t chunk, feed_t *f, char *why, size_t whylen)
{
    cc_hub_t *hub = cc_hub_new();
    memset(f, 0, sizeof(*f));
    f->data = data;
    f->len = len;
    f->chunk = chunk;
    f->rng = 42;
    assert_int_equal(cc_hub_publish(hub, "t", "srt", "-", &f->st), 0);
    cc_srt_demux_hooks_t hooks = {feed_read, feed_track, feed_frame, f};
    cc_srt_demux_stats_t st;
    int rc = cc_srt_demux_run(NULL, &hooks, &st, why, whylen);
    for (int i = 0; i < 2; i++) {
        const cc_track_stats_t *ts = cc_stream_track_stats(f->st, i);
        if (ts)
            assert_int_equal(ts->dts_backwards, 0);
    }
    assert_true(st.bytes <= len);
    cc_hub_free(hub);
    return rc;
}

static void release(feed_t *f)
{
    cc_track_clear(&f->track[0]);
    cc_track_clear(&f->track[1]);
}

static void check_h264(feed_t *f)
{
    assert_false(f->bad_order);
    assert_int_equal(f->track[0].codec, CC_CODEC_H264);
    assert_int_equal(f->track[0].timescale, 1000);
    assert_int_equal(f->track[0].width, 160);
    assert_int_equal(f->track[0].height, 96);
    assert_int_equal(f->track[1].codec, CC_CODEC_AAC);
    assert_int_equal(f->track[1].sample_rate, 48000);
    assert_int_equal(f->track[1].channels, 2);
    assert_int_equal(f->track[1].config->len, 2);
    assert_memory_equal(f->track[1].config->data, "\x11\x90", 2);
    /* ffprobe -count_packets: 30 video frames (GOP 10: 3 keyframes) */
    assert_int_equal(f->frames[0], 30);
    assert_int_equal(f->keyframes[0], 3);
    assert_int_equal(f->first_dts[0], 0);
    assert_int_equal(f->last_dts[0], 29 * 1000 / 30); /* 30 fps in ms, floor */
    /* B-frames: PTS up to 12000 ticks (133.3 ms) ahead of DTS (ffprobe); each is floored to ms */
    assert_true(f->max_pts_gap == 133 || f->max_pts_gap == 134);
    /* 48 AAC frames in the file; the ones before the first video frame are dropped */
    assert_true(f->frames[1] >= 40 && f->frames[1] <= 48);
    assert_true(f->first_dts[1] >= 0 && f->first_dts[1] < 200);
}

static void test_h264_whole_and_split(void **state)
{
    size_t len;
    uint8_t *ts = load("h264_aac.ts", &len);
    size_t chunks[] = {1316, 188, 1, 0, 65536};
    for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        feed_t f;
        char why[256];
        assert_int_equal(run(ts, len, chunks[i], &f, why, sizeof(why)), 0);
        check_h264(&f);
        release(&f);
    }
    free(ts);
}

static void test_hevc(void **state)
{
    size_t len;
    uint8_t *ts = load("hevc_aac.ts", &len);
    feed_t f;
    char why[256];
    assert_int_equal(run(ts, len, 1316, &f, why, sizeof(why)), 0);
    assert_false(f.bad_order);
    assert_int_equal(f.track[0].codec, CC_CODEC_HEVC);
    assert_int_equal(f.track[0].width, 160);
    assert_int_equal(f.track[0].height, 96);
    assert_int_equal(f.frames[0], 25);
    assert_int_equal(f.keyframes[0], 3);
    assert_int_equal(f.last_dts[0], 24 * 40);
    assert_int_equal(f.track[1].sample_rate, 44100);
    assert_int_equal(f.track[1].channels, 1);
    assert_memory_equal(f.track[1].config->data, "\x12\x08", 2);
    char codecs[64];
    assert_true(cc_track_codecs_string(&f.track[0], codecs, sizeof(codecs)) > 0);
    assert_string_equal(codecs, "hvc1.1.6.L30.90");
    release(&f);
    free(ts);
}

static void test_wrap(void **state)
{
    /* PTS/DTS cross 2^33 about 0.8 s in (ffmpeg -output_ts_offset 95441.6) */
    size_t len;
    uint8_t *ts = load("h264_wrap.ts", &len);
    feed_t f;
    char why[256];
    assert_int_equal(run(ts, len, 1316, &f, why, sizeof(why)), 0);
    assert_false(f.bad_order);
    assert_int_equal(f.frames[0], 60);
    assert_int_equal(f.first_dts[0], 0);
    assert_int_equal(f.last_dts[0], 59 * 1000 / 30);
    assert_true(f.last_dts[1] > 1800 && f.last_dts[1] < 2100);
    release(&f);
    free(ts);
}

static void test_clock_jump(void **state)
{
    /* two 1 s clips, the second one hour later on the TS clock (an encoder that
     * restarted without reconnecting): the timeline goes on, it does not jump */
    size_t len;
    uint8_t *ts = load("h264_jump.ts", &len);
    feed_t f;
    char why[256];
    assert_int_equal(run(ts, len, 1316, &f, why, sizeof(why)), 0);
    assert_false(f.bad_order);
    assert_int_equal(f.frames[0], 60);
    assert_int_equal(f.keyframes[0], 4);
    assert_true(f.last_dts[0] > 1900 && f.last_dts[0] < 2100);
    assert_true(f.last_dts[1] > 1800 && f.last_dts[1] < 2200);
    release(&f);
    free(ts);
}

static void test_unsupported_pmt(void **state)
{
    size_t len;
    uint8_t *ts = load("mpeg2_mp2.ts", &len);
    feed_t f;
    char why[256];
    assert_int_equal(run(ts, len, 1316, &f, why, sizeof(why)), CC_EUNSUPPORTED);
    assert_non_null(strstr(why, "no H.264 or HEVC video"));
    assert_non_null(strstr(why, "mpeg2video"));
    assert_int_equal(f.frames[0] + f.frames[1], 0);
    release(&f);
    free(ts);
}

static void test_truncated(void **state)
{
    size_t len;
    uint8_t *ts = load("h264_truncated.ts", &len);
    feed_t f;
    char why[256];
    assert_int_equal(run(ts, len, 1316, &f, why, sizeof(why)), 0);
    assert_false(f.bad_order);
    assert_true(f.frames[0] > 0 && f.frames[0] < 30);
    release(&f);
    /* cut at every TS packet boundary and in the middle of packets: never worse than a clean end */
    for (size_t cut = 0; cut < len; cut += 941) {
        int rc = run(ts, cut, 1316, &f, why, sizeof(why));
        assert_true(rc == 0 || rc == CC_EPROTO || rc == CC_EUNSUPPORTED);
        assert_false(f.bad_order);
        if (rc < 0)
            assert_true(why[0] != '\0');
        release(&f);
    }
    free(ts);
}

static void test_garbage(void **state)
{
    feed_t f;
    char why[256];
    /* random bytes: libavformat guesses a packet size, resyncs on stray 0x47
     * bytes and never finds a program: the stream ends without video */
    uint8_t *rnd = malloc(200000);
    uint32_t x = 7;
    for (size_t i = 0; i < 200000; i++) {
        x = x * 1664525u + 1013904223u;
        rnd[i] = (uint8_t)(x >> 24);
    }
    assert_int_equal(run(rnd, 200000, 1316, &f, why, sizeof(why)), CC_EUNSUPPORTED);
    if (!strstr(why, "H.264 or HEVC"))
        fail_msg("why: %s", why);
    assert_int_equal(f.frames[0] + f.frames[1], 0);
    release(&f);
    /* nothing at all: the stream ends before any video */
    assert_int_equal(run(rnd, 0, 1316, &f, why, sizeof(why)), CC_EUNSUPPORTED);
    assert_non_null(strstr(why, "ended before any H.264 or HEVC video"));
    release(&f);
    /* a valid TS with random bytes spliced into its middle: the demuxer resyncs */
    size_t len;
    uint8_t *ts = load("h264_aac.ts", &len);
    uint8_t *mix = malloc(len);
    memcpy(mix, ts, len);
    memcpy(mix + 10000, rnd, 3000);
    int rc = run(mix, len, 1316, &f, why, sizeof(why));
    assert_true(rc == 0);
    assert_false(f.bad_order);
    assert_true(f.frames[0] > 10);
    release(&f);
    free(mix);
    free(ts);
    free(rnd);
}

/* A live publisher of random bytes never reaches EOF: the probe cap ends it. */
static void test_probe_cap(void **state)
{
    uint8_t *rnd = malloc(1 << 20);
    uint32_t x = 9;
    for (size_t i = 0; i < (1 << 20); i++) {
        x = x * 1664525u + 1013904223u;
        rnd[i] = (uint8_t)(x >> 24);
    }
    cc_hub_t *hub = cc_hub_new();
    feed_t f;
    memset(&f, 0, sizeof(f));
    f.data = rnd;
    f.len = 1 << 20;
    f.chunk = 1316;
    assert_int_equal(cc_hub_publish(hub, "t", "srt", "-", &f.st), 0);
    cc_srt_demux_config_t cfg;
    cc_srt_demux_config_default(&cfg);
    cfg.max_probe_bytes = 64 * 1024;
    cc_srt_demux_hooks_t hooks = {feed_read, feed_track, feed_frame, &f};
    cc_srt_demux_stats_t st;
    char why[256];
    assert_int_equal(cc_srt_demux_run(&cfg, &hooks, &st, why, sizeof(why)), CC_EUNSUPPORTED);
    assert_non_null(strstr(why, "no H.264 or HEVC video found in the first 65536 bytes"));
    assert_true(st.bytes < 80 * 1024);
    cc_hub_free(hub);
    release(&f);
    free(rnd);
}

static void test_hook_abort(void **state)
{
    size_t len;
    uint8_t *ts = load("h264_aac.ts", &len);
    cc_hub_t *hub = cc_hub_new();
    feed_t f;
    memset(&f, 0, sizeof(f));
    f.data = ts;
    f.len = len;
    f.chunk = 1316;
    f.fail_after = 5;
    assert_int_equal(cc_hub_publish(hub, "t", "srt", "-", &f.st), 0);
    cc_srt_demux_hooks_t hooks = {feed_read, feed_track, feed_frame, &f};
    assert_int_equal(cc_srt_demux_run(NULL, &hooks, NULL, NULL, 0), CC_ECLOSED);
    assert_int_equal(f.frames[0] + f.frames[1], 5);
    cc_hub_free(hub);
    release(&f);
    free(ts);
    assert_int_equal(cc_srt_demux_run(NULL, NULL, NULL, NULL, 0), CC_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h264_whole_and_split),
        cmocka_unit_test(test_hevc),
        cmocka_unit_test(test_wrap),
        cmocka_unit_test(test_clock_jump),
        cmocka_unit_test(test_unsupported_pmt),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_probe_cap),
        cmocka_unit_test(test_hook_abort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The packager end to end without sockets: frames into a real hub, parts and
 * segments out of the real playlist model, checked on the rendered playlist. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cartcast/err.h"
#include "cartcast/hub.h"
#include "packager/packager.h"

/* A real avcC (x264 High, 640x360) and AAC-LC 48 kHz stereo AudioSpecificConfig. */
static const uint8_t avcc[] = {0x01, 0x64, 0x00, 0x1e, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x64, 0x00, 0x1e, 0xac,
                               0xd9, 0x40, 0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00,
                               0x00, 0x03, 0x00, 0x3c, 0x0f, 0x16, 0x2d, 0x96, 0x01, 0x00, 0x06, 0x68, 0xeb,
                               0xe3, 0xcb, 0x22, 0xc0};
static const uint8_t asc[] = {0x11, 0x90};

typedef struct fixture {
    uv_loop_t loop;
    cc_hub_t *hub;
    cc_packager_t *pk;
    cc_stream_t *st;
    int64_t video_n, audio_n; /* frames pushed so far in this publish */
    uint64_t wall_us;
} fixture_t;

static void publish(fixture_t *f, double fps)
{
    assert_int_equal(cc_hub_publish(f->hub, "shop", "rtmp", "127.0.0.1:1", &f->st), 0);
    cc_track_t v = {.kind = CC_MEDIA_VIDEO, .codec = CC_CODEC_H264, .timescale = 1000, .width = 640, .height = 360,
                    .frame_rate = fps};
    v.config = cc_buf_from(avcc, sizeof(avcc));
    cc_track_t a = {.kind = CC_MEDIA_AUDIO, .codec = CC_CODEC_AAC, .timescale = 1000, .sample_rate = 48000,
                    .channels = 2};
    a.config = cc_buf_from(asc, sizeof(asc));
    assert_int_equal(cc_stream_set_track(f->st, 0, &v), 0);
    assert_int_equal(cc_stream_set_track(f->st, 1, &a), 0);
    cc_track_clear(&v);
    cc_track_clear(&a);
    f->video_n = f->audio_n = 0;
}

/* Pushes `seconds` of 30 fps video (keyframe every gop frames) and 48 kHz AAC,
 * interleaved by timestamp, with millisecond timestamps as RTMP carries them. */
static void push_media(fixture_t *f, double seconds, double fps, int gop)
{
    uint8_t payload[64] = {0, 0, 0, 60};
    cc_buf_t *b = cc_buf_from(payload, sizeof(payload));
    int64_t until = (int64_t)(seconds * 1000);
    int64_t vstart = f->video_n, astart = f->audio_n;
    for (;;) {
        int64_t vt = (int64_t)((double)f->video_n * 1000.0 / fps + 0.5);
        int64_t at = (int64_t)((double)f->audio_n * 1024 * 1000 / 48000 + 0.5);
        if (vt - (int64_t)((double)vstart * 1000.0 / fps) >= until &&
            at - (int64_t)((double)astart * 1024000 / 48000) >= until)
            break;
        cc_frame_t fr = {.buf = b, .data = b->data, .len = sizeof(payload)};
        if (vt <= at) {
            fr.track = 0;
            fr.dts = fr.pts = vt;
            fr.keyframe = f->video_n % gop == 0;
            f->video_n++;
        } else {
            fr.track = 1;
            fr.dts = fr.pts = at;
            fr.keyframe = true;
            f->audio_n++;
        }
        fr.arrival_us = f->wall_us + (uint64_t)fr.dts * 1000;
        assert_int_equal(cc_stream_push(f->st, &fr), 0);
    }
    cc_buf_unref(b);
}

static char *render(fixture_t *f)
{
    cc_llhls_t *h = cc_packager_find(f->pk, "shop");
    assert_non_null(h);
    cc_dynbuf_t d;
    cc_dynbuf_init(&d, 1 << 20);
    assert_int_equal(cc_llhls_render_media(h, 0, &d), 0);
    assert_int_equal(cc_dynbuf_append(&d, "", 1), 0);
    char *text = strdup((char *)d.data);
    cc_dynbuf_free(&d);
    if (getenv("CC_TEST_VERBOSE")) /* to eyeball the playlist */
        fputs(text, stderr);
    return text;
}

static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    uv_loop_init(&f->loop);
    f->hub = cc_hub_new();
    cc_packager_config_t cfg;
    cc_packager_config_default(&cfg);
    cfg.grace_ms = 30;
    cfg.linger_ms = 60;
    assert_int_equal(cc_packager_new(&f->loop, f->hub, &cfg, &f->pk), 0);
    f->wall_us = 1700000000000000ull;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    cc_packager_free(f->pk); /* the origin's order: the packager detaches from the hub first */
    cc_hub_free(f->hub);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
    return 0;
}

static void test_parts_and_segments_at_30fps(void **state)
{
    fixture_t *f = *state;
    publish(f, 30);
    push_media(f, 5.0, 30, 30);
    char *pl = render(f);
    /* 6 frames of 30 fps = 200 ms, + 1 ms for millisecond rounding. */
    assert_non_null(strstr(pl, "PART-TARGET=0.201"));
    assert_non_null(strstr(pl, "#EXT-X-TARGETDURATION:1\n"));
    /* Four complete 1 s segments (the fifth is open). */
    assert_int_equal(count(pl, "#EXTINF:"), 4);
    for (const char *p = pl; (p = strstr(p, "#EXTINF:")) != NULL; p++) {
        double d = atof(p + 8);
        assert_true(d > 0.99 && d < 1.01);
    }
    for (const char *p = pl; (p = strstr(p, "#EXT-X-PART:DURATION=")) != NULL; p++) {
        double d = atof(p + 21);
        assert_true(d <= 0.201 + 1e-9);
        assert_true(d >= 0.85 * 0.201 - 1e-9);
    }
    assert_non_null(strstr(pl, "INDEPENDENT=YES"));
    assert_non_null(strstr(pl, "#EXT-X-PRELOAD-HINT:TYPE=PART"));
    assert_non_null(strstr(pl, "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.000Z"));
    free(pl);
    cc_packager_stats_t s;
    assert_int_equal(cc_packager_stats(f->pk, "shop", &s), 0);
    assert_int_equal(s.segments, 4);
    assert_true(s.parts >= 24);
}

static void test_29_97_fps_parts_stay_within_target(void **state)
{
    fixture_t *f = *state;
    publish(f, 29.97);
    push_media(f, 4.0, 29.97, 30);
    char *pl = render(f);
    assert_non_null(strstr(pl, "PART-TARGET=0.202"));
    for (const char *p = pl; (p = strstr(p, "#EXT-X-PART:DURATION=")) != NULL; p++)
        assert_true(atof(p + 21) <= 0.202 + 1e-9);
    free(pl);
}

static void test_long_gop_is_cut_at_part_boundaries(void **state)
{
    fixture_t *f = *state;
    publish(f, 30);
    push_media(f, 6.0, 30, 120); /* a keyframe every 4 s */
    char *pl = render(f);
    for (const char *p = pl; (p = strstr(p, "#EXTINF:")) != NULL; p++)
        assert_true(atof(p + 8) < 1.5); /* rounds to TARGETDURATION 1 */
    assert_true(count(pl, "#EXTINF:") >= 4);
    free(pl);
}

static void test_reconnect_within_grace_then_endlist(void **state)
{
    fixture_t *f = *state;
    publish(f, 30);
    push_media(f, 2.0, 30, 30);
    cc_stream_end(f->st);
    /* Back before the grace period ends: the same playlist continues. */
    f->wall_us += 3000000;
    publish(f, 30);
    push_media(f, 2.0, 30, 30);
    char *pl = render(f);
    assert_int_equal(count(pl, "#EXT-X-DISCONTINUITY\n"), 1);
    assert_int_equal(count(pl, "#EXT-X-ENDLIST"), 0);
    free(pl);
    cc_stream_end(f->st);
    /* One loop turn blocks until the first timer, the 30 ms grace period, fires
     * (the 60 ms linger timer is armed by it and not yet due). */
    uv_run(&f->loop, UV_RUN_ONCE);
    pl = render(f);
    assert_int_equal(count(pl, "#EXT-X-ENDLIST"), 1);
    assert_null(strstr(pl, "PRELOAD-HINT"));
    free(pl);
    /* And after the linger period the state is gone. */
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_null(cc_packager_find(f->pk, "shop"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_parts_and_segments_at_30fps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_29_97_fps_parts_stay_within_target, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_gop_is_cut_at_part_boundaries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconnect_within_grace_then_endlist, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

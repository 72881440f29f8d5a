/* The stream hub: one publisher per name, hooks in order, clean teardown. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "cartcast/err.h"
#include "cartcast/hub.h"

struct recorder {
    cc_subscriber_t sub;
    int tracks, frames, ends;
    int64_t last_dts;
    uint32_t last_len;
};

static void rec_track(cc_subscriber_t *s, cc_stream_t *st, int track) { ((struct recorder *)s->data)->tracks++; }
static void rec_frame(cc_subscriber_t *s, cc_stream_t *st, const cc_frame_t *f)
{
    struct recorder *r = s->data;
    r->frames++;
    r->last_dts = f->dts;
    r->last_len = f->len;
}
static void rec_end(cc_subscriber_t *s, cc_stream_t *st) { ((struct recorder *)s->data)->ends++; }

static void recorder_init(struct recorder *r)
{
    memset(r, 0, sizeof(*r));
    r->sub.on_track = rec_track;
    r->sub.on_frame = rec_frame;
    r->sub.on_end = rec_end;
    r->sub.data = r;
}

struct auto_attach {
    cc_hub_listener_t l;
    struct recorder rec;
    int publishes;
};

static void on_publish(cc_hub_listener_t *l, cc_stream_t *st)
{
    struct auto_attach *a = l->data;
    a->publishes++;
    cc_stream_subscribe(st, &a->rec.sub);
}

static cc_track_t video_track(void)
{
    static const uint8_t avcc[] = {1, 0x64, 0, 0x1f, 0xff};
    cc_track_t t = {.kind = CC_MEDIA_VIDEO, .codec = CC_CODEC_H264, .timescale = 1000, .width = 640, .height = 360};
    t.config = cc_buf_from(avcc, sizeof(avcc));
    return t;
}

static void test_names(void **state)
{
    assert_int_equal(cc_stream_name_check("shop-1_A"), 0);
    assert_int_equal(cc_stream_name_check(""), CC_EINVAL);
    assert_int_equal(cc_stream_name_check("a/b"), CC_EINVAL);
    assert_int_equal(cc_stream_name_check("../x"), CC_EINVAL);
    char longname[CC_STREAM_NAME_MAX + 2];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(cc_stream_name_check(longname), CC_EINVAL);
    longname[CC_STREAM_NAME_MAX] = '\0';
    assert_int_equal(cc_stream_name_check(longname), 0);
}

static void test_publish_subscribe_end(void **state)
{
    cc_hub_t *hub = cc_hub_new();
    struct auto_attach a;
    memset(&a, 0, sizeof(a));
    recorder_init(&a.rec);
    a.l.on_publish = on_publish;
    a.l.data = &a;
    cc_hub_add_listener(hub, &a.l);

    cc_stream_t *st, *st2;
    assert_int_equal(cc_hub_publish(hub, "shop", "rtmp", "127.0.0.1:1", &st), 0);
    assert_int_equal(a.publishes, 1);
    assert_int_equal(cc_hub_publish(hub, "shop", "srt", "127.0.0.1:2", &st2), CC_EBUSY);
    assert_null(st2);
    assert_int_equal(cc_hub_publish(hub, "bad name", "rtmp", "", &st2), CC_EINVAL);
    assert_ptr_equal(cc_hub_find(hub, "shop"), st);
    assert_int_equal(cc_hub_count(hub), 1);

    struct recorder late;
    recorder_init(&late);
    assert_int_equal(cc_stream_subscribe(st, &late.sub), 0);
    assert_int_equal(cc_stream_subscribe(st, &late.sub), CC_EINVAL);

    cc_track_t t = video_track();
    assert_int_equal(cc_stream_set_track(st, 0, &t), 0);
    cc_track_clear(&t); /* the hub holds its own copy */
    assert_int_equal(cc_stream_track(st, 0)->width, 640);
    assert_null(cc_stream_track(st, 1));
    assert_int_equal(a.rec.tracks, 1);

    cc_buf_t *payload = cc_buf_from("\0\0\0\1x", 5);
    cc_frame_t f = {.track = 0, .dts = 33, .pts = 66, .keyframe = true, .buf = payload, .data = payload->data, .len = 5};
    assert_int_equal(cc_stream_push(st, &f), 0);
    f.track = 1;
    assert_int_equal(cc_stream_push(st, &f), CC_EINVAL); /* no audio track yet */
    cc_buf_unref(payload);
    assert_int_equal(a.rec.frames, 1);
    assert_int_equal(late.frames, 1);
    assert_int_equal(a.rec.last_dts, 33);
    assert_int_equal(cc_stream_track_stats(st, 0)->frames, 1);
    assert_int_equal(cc_stream_track_stats(st, 0)->keyframes, 1);
    assert_int_equal(cc_stream_track_stats(st, 0)->bytes, 5);

    cc_stream_unsubscribe(st, &late.sub);
    cc_stream_end(st);
    assert_int_equal(a.rec.ends, 1);
    assert_int_equal(late.ends, 0);
    assert_null(cc_hub_find(hub, "shop"));
    /* the name is free again */
    assert_int_equal(cc_hub_publish(hub, "shop", "rtmp", "127.0.0.1:3", &st), 0);
    assert_int_equal(a.publishes, 2);
    cc_hub_free(hub); /* ends the live stream */
    assert_int_equal(a.rec.ends, 2);
}

static void test_rejected_counters(void **state)
{
    cc_hub_t *hub = cc_hub_new();
    cc_hub_count_rejected(hub, "bad_key");
    cc_hub_count_rejected(hub, "busy");
    cc_hub_count_rejected(hub, "bad_key");
    uint64_t n;
    int seen_bad = 0, seen_busy = 0;
    for (size_t i = 0;; i++) {
        const char *r = cc_hub_rejected(hub, i, &n);
        if (r == NULL)
            break;
        if (strcmp(r, "bad_key") == 0)
            seen_bad = (int)n;
        if (strcmp(r, "busy") == 0)
            seen_busy = (int)n;
    }
    assert_int_equal(seen_bad, 2);
    assert_int_equal(seen_busy, 1);
    cc_hub_free(hub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_publish_subscribe_end),
        cmocka_unit_test(test_rejected_counters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The sans-I/O RTMP session against a real hub: a whole publish (handshake,
 * connect, createStream, publish, metadata, sequence headers, frames) fed
 * whole, byte by byte and in odd pieces; the replies OBS/ffmpeg wait for;
 * frames reaching a subscriber; bad key, busy name, bad app; protocol
 * control (ping, acks); timestamp wrap. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/err.h"
#include "cartcast/hub.h"
#include "cartcast/log.h"
#include "ingest/auth.h"
#include "ingest/rtmp/session.h"
#include "rtmp_testlib.h"

#define KEY "s3cret-key-1"

typedef struct rec {
    cc_hub_listener_t l;
    cc_subscriber_t sub;
    int publishes, tracks, frames, ends;
    int frames_per_track[2];
    int64_t dts[64], pts[64];
    int track[64];
    uint32_t len[64];
    uint8_t first[64];
    int key[64];
    int bufs_ok;
    cc_track_t vtrack, atrack;
} rec_t;

static void on_track(cc_subscriber_t *s, cc_stream_t *st, int track)
{
    rec_t *r = s->data;
    r->tracks++;
    const cc_track_t *t = cc_stream_track(st, track);
    if (track == 0) {
        cc_track_clear(&r->vtrack);
        cc_track_copy(&r->vtrack, t);
    } else {
        cc_track_clear(&r->atrack);
        cc_track_copy(&r->atrack, t);
    }
}

static void on_frame(cc_subscriber_t *s, cc_stream_t *st, const cc_frame_t *f)
{
    rec_t *r = s->data;
    if (r->frames < 64) {
        r->dts[r->frames] = f->dts;
        r->pts[r->frames] = f->pts;
        r->track[r->frames] = f->track;
        r->len[r->frames] = f->len;
        r->first[r->frames] = f->len ? f->data[0] : 0;
        r->key[r->frames] = f->keyframe;
    }
    /* zero copy: the payload lies inside the frame's buffer */
    if (f->buf && f->data >= f->buf->data && f->data + f->len <= f->buf->data + f->buf->len)
        r->bufs_ok++;
    r->frames_per_track[f->track]++;
    r->frames++;
}

static void on_end(cc_subscriber_t *s, cc_stream_t *st) { ((rec_t *)s->data)->ends++; }

static void on_publish_hook(cc_hub_listener_t *l, cc_stream_t *st)
{
    rec_t *r = l->data;
    r->publishes++;
    cc_stream_subscribe(st, &r->sub);
}

static void rec_init(rec_t *r, cc_hub_t *hub)
{
    memset(r, 0, sizeof(*r));
    r->l.on_publish = on_publish_hook;
    r->l.data = r;
    r->sub.on_track = on_track;
    r->sub.on_frame = on_frame;
    r->sub.on_end = on_end;
    r->sub.data = r;
    cc_hub_add_listener(hub, &r->l);
}

static void rec_clear(rec_t *r)
{
    cc_track_clear(&r->vtrack);
    cc_track_clear(&r->atrack);
}

typedef struct fixture {
    cc_hub_t *hub;
    cc_auth_t *auth;
    rec_t rec;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    f->hub = cc_hub_new();
    f->auth = cc_auth_new();
    assert_int_equal(cc_auth_add(f->auth, "shop1=" KEY), 0);
    rec_init(&f->rec, f->hub);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    cc_hub_free(f->hub);
    cc_auth_free(f->auth);
    rec_clear(&f->rec);
    free(f);
    return 0;
}

static uint64_t rejected(cc_hub_t *hub, const char *reason)
{
    uint64_t n;
    const char *r;
    for (size_t i = 0; (r = cc_hub_rejected(hub, i, &n)) != NULL; i++)
        if (strcmp(r, reason) == 0)
            return n;
    return 0;
}

/* Feeds in pieces of step bytes (0 = whole); collects all output. */
static int feed(cc_rtmp_session_t *s, const uint8_t *p, size_t len, size_t step, cc_dynbuf_t *out)
{
    size_t off = 0;
    int rc = 0;
    while (off < len) {
        size_t n = step && step < len - off ? step : len - off;
        uint8_t *piece = malloc(n);
        memcpy(piece, p + off, n);
        rc = cc_rtmp_session_feed(s, piece, n);
        free(piece);
        cc_buf_t *b = cc_rtmp_session_take_output(s);
        if (b) {
            cc_dynbuf_append(out, b->data, b->len);
            cc_buf_unref(b);
        }
        off += n;
        if (rc < 0)
            break;
    }
    return rc;
}

/* The full publish script: returns the client bytes in c. */
static void script(tl_client_t *c, const char *key)
{
    tl_init(c);
    tl_handshake(c, 0);
    tl_publish_preamble(c, "live", key);
    tl_metadata(c, 1, 320, 240, 30);
    tl_msg(c, 6, CC_RTMP_MSG_VIDEO, 1, 0, tl_avc_seq, sizeof(tl_avc_seq));
    tl_msg(c, 4, CC_RTMP_MSG_AUDIO, 1, 0, tl_aac_seq, sizeof(tl_aac_seq));
    tl_video(c, 0, 1, 66, 10000, 0xAB); /* bigger than the 4096 chunk size */
    tl_audio(c, 0, 200, 0x11);
    tl_audio(c, 23, 200, 0x12);
    tl_video(c, 33, 0, 33, 500, 0xCD);
    tl_audio(c, 46, 200, 0x13);
    tl_video(c, 30, 0, 0, 50, 0xEE); /* a step back: DTS is held monotonic */
    tl_video(c, 100, 0, 0, 50, 0xEF);
}

static void check_replies(const cc_dynbuf_t *out)
{
    /* S0 S1 S2 then chunked replies */
    assert_true(out->len > 3073);
    assert_int_equal(out->data[0], 3);
    tl_reply_t r[32];
    int n = tl_read_replies(out->data + 3073, out->len - 3073, r, 32);
    assert_true(n >= 10);
    int i = 0;
    assert_int_equal(r[i].type, CC_RTMP_MSG_WINDOW_ACK_SIZE);
    assert_int_equal(cc_rd32(r[i].body->data), 2500000);
    i++;
    assert_int_equal(r[i].type, CC_RTMP_MSG_SET_PEER_BANDWIDTH);
    assert_int_equal(r[i].body->data[4], 2);
    i++;
    assert_int_equal(r[i].type, CC_RTMP_MSG_SET_CHUNK_SIZE);
    assert_int_equal(cc_rd32(r[i].body->data), 4096);
    i++;
    assert_true(tl_reply_is(&r[i], "_result", "NetConnection.Connect.Success"));
    /* fmsVer and capabilities in the properties object */
    {
        cc_amf0_value_t slots[32];
        cc_amf0_arena_t a;
        cc_amf0_arena_init(&a, slots, 32, NULL);
        cc_amf0_value_t *v[4];
        size_t nv;
        assert_true(cc_amf0_decode_all(&a, r[i].body->data, r[i].body->len, v, 4, &nv) > 0);
        assert_int_equal(nv, 4);
        assert_true(v[1]->u.number == 1);
        assert_true(cc_amf0_str_eq(cc_amf0_get(v[2], "fmsVer"), "FMS/3,0,1,123"));
        assert_true(cc_amf0_num(cc_amf0_get(v[2], "capabilities"), 0) == 31);
        assert_true(cc_amf0_str_eq(cc_amf0_get(v[3], "level"), "status"));
    }
    i++;
    assert_true(tl_reply_is(&r[i++], "_result", NULL)); /* releaseStream */
    assert_true(tl_reply_is(&r[i++], "onFCPublish", "NetStream.Publish.Start"));
    assert_true(tl_reply_is(&r[i++], "_result", NULL)); /* FCPublish */
    /* createStream -> _result(4, null, 1) */
    {
        cc_amf0_value_t slots[8];
        cc_amf0_arena_t a;
        cc_amf0_arena_init(&a, slots, 8, NULL);
        cc_amf0_value_t *v[4];
        size_t nv;
        assert_true(tl_reply_is(&r[i], "_result", NULL));
        assert_true(cc_amf0_decode_all(&a, r[i].body->data, r[i].body->len, v, 4, &nv) > 0);
        assert_int_equal(nv, 4);
        assert_true(v[1]->u.number == 4);
        assert_true(v[3]->u.number == 1);
    }
    i++;
    /* StreamBegin(1) */
    assert_int_equal(r[i].type, CC_RTMP_MSG_USER_CONTROL);
    assert_int_equal(cc_rd16(r[i].body->data), 0);
    assert_int_equal(cc_rd32(r[i].body->data + 2), 1);
    i++;
    assert_true(tl_reply_is(&r[i], "onStatus", "NetStream.Publish.Start"));
    assert_int_equal(r[i].msid, 1);
    /* the key never appears in anything we send */
    assert_null(memmem(out->data, out->len, KEY, strlen(KEY)));
    tl_replies_free(r, n);
}

static void check_frames(rec_t *rec)
{
    assert_int_equal(rec->publishes, 1);
    assert_int_equal(rec->frames, 7);
    assert_int_equal(rec->bufs_ok, 7);
    assert_int_equal(rec->frames_per_track[0], 4);
    assert_int_equal(rec->frames_per_track[1], 3);
    /* video track: from the SPS, frame rate from onMetaData */
    assert_int_equal(rec->vtrack.codec, CC_CODEC_H264);
    assert_int_equal(rec->vtrack.width, 320);
    assert_int_equal(rec->vtrack.height, 240);
    assert_true(rec->vtrack.frame_rate > 0);
    assert_int_equal(rec->atrack.codec, CC_CODEC_AAC);
    assert_int_equal(rec->atrack.sample_rate, 44100);
    /* frame 0: video key, dts 0 pts 66, payload = the NAL with its length */
    assert_int_equal(rec->track[0], 0);
    assert_true(rec->key[0]);
    assert_int_equal(rec->dts[0], 0);
    assert_int_equal(rec->pts[0], 66);
    assert_int_equal(rec->len[0], 4 + 10000);
    assert_int_equal(rec->track[1], 1);
    assert_int_equal(rec->len[1], 200);
    assert_int_equal(rec->first[1], 0x11);
    assert_int_equal(rec->dts[2], 23);
    assert_int_equal(rec->dts[3], 33);
    assert_int_equal(rec->pts[3], 66);
    assert_false(rec->key[3]);
    assert_int_equal(rec->dts[4], 46);
    /* ts 30 after 33 on the video track: held at 33 */
    assert_int_equal(rec->dts[5], 33);
    assert_int_equal(rec->dts[6], 100);
}

static void test_publish(void **state)
{
    fixture_t *f = *state;
    tl_client_t c;
    script(&c, KEY "?foo=bar"); /* a query on the key is ignored */
    size_t steps[] = {0, 1, 2, 3, 5, 127, 128, 1000, 4097};
    for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
        rec_clear(&f->rec);
        memset(&f->rec.tracks, 0, sizeof(f->rec) - offsetof(rec_t, tracks));
        f->rec.publishes = 0;
        cc_rtmp_session_t *s = cc_rtmp_session_new(NULL, f->hub, f->auth, "127.0.0.1:5000");
        cc_dynbuf_t out;
        cc_dynbuf_init(&out, 1 << 20);
        assert_int_equal(feed(s, c.out.data, c.out.len, steps[k], &out), 0);
        assert_int_equal(cc_rtmp_session_state(s), CC_RTMP_STATE_PUBLISHING);
        assert_string_equal(cc_rtmp_session_stream_name(s), "shop1");
        assert_non_null(cc_hub_find(f->hub, "shop1"));
        check_replies(&out);
        check_frames(&f->rec);
        cc_rtmp_session_stats_t st;
        cc_rtmp_session_stats(s, &st);
        assert_int_equal(st.frames, 7);
        assert_int_equal(st.bytes_in, c.out.len);
        /* an idle publisher holds no output buffer and no message buffers */
        assert_int_equal(cc_rtmp_session_output_len(s), 0);
        assert_true(cc_rtmp_session_memory(s) < 2048);
        cc_rtmp_session_free(s);
        assert_int_equal(f->rec.ends, 1);
        assert_null(cc_hub_find(f->hub, "shop1"));
        cc_dynbuf_free(&out);
    }
    tl_free(&c);
}

static void test_unpublish_and_republish(void **state)
{
    fixture_t *f = *state;
    tl_client_t c;
    script(&c, KEY);
    tl_command(&c, 0, "FCUnpublish", "zs", KEY);
    tl_command(&c, 0, "deleteStream", "zn", 1.0);
    cc_rtmp_session_t *s = cc_rtmp_session_new(NULL, f->hub, f->auth, "p");
    cc_dynbuf_t out;
    cc_dynbuf_init(&out, 1 << 20);
    assert_int_equal(feed(s, c.out.data, c.out.len, 0, &out), 0);
    assert_int_equal(f->rec.ends, 1);
    assert_null(cc_hub_find(f->hub, "shop1"));
    assert_int_equal(cc_rtmp_session_state(s), CC_RTMP_STATE_CONNECTED);
    /* publish again on the same connection */
    tl_client_t c2;
    tl_init(&c2);
    c2.chunk_size = 4096;
    c2.txid = 20;
    tl_command(&c2, 0, "createStream", "z");
    tl_command(&c2, 1, "publish", "zss", KEY, "live");
    assert_int_equal(feed(s, c2.out.data, c2.out.len, 0, &out), 0);
    assert_int_equal(cc_rtmp_session_state(s), CC_RTMP_STATE_PUBLISHING);
    assert_non_null(cc_hub_find(f->hub, "shop1"));
    cc_rtmp_session_free(s);
    assert_int_equal(f->rec.ends, 2);
    cc_dynbuf_free(&out);
    tl_free(&c);
    tl_free(&c2);
}

/* Reads the replies after the handshake and returns 1 if one is onStatus with code. */
static int has_status(const cc_dynbuf_t *out, const char *name, const char *code)
{
    tl_reply_t r[32];
    int n = tl_read_replies(out->data + 3073, out->len - 3073, r, 32);
    int found = 0;
    for (int i = 0; i < n; i++)
        if (tl_reply_is(&r[i], name, code))
            found = 1;
    tl_replies_free(r, n > 0 ? n : 0);
    return found;
}

static void test_bad_key(void **state)
{
    fixture_t *f = *state;
    tl_client_t c;
    script(&c, "wrong-key");
    cc_rtmp_session_t *s = cc_rtmp_session_new(NULL, f->hub, f->auth, "p");
    cc_dynbuf_t out;
    cc_dynbuf_init(&out, 1 << 20);
    assert_int_equal(feed(s, c.out.data, c.out.len, 7, &out), CC_EAUTH);
    assert_string_equal(cc_rtmp_session_reason(s), "bad_key");
    assert_string_equal(cc_rtmp_session_stream_name(s), "-");
    assert_true(has_status(&out, "onStatus", "NetStream.Publish.Denied"));
    assert_int_equal(rejected(f->hub, "bad_key"), 1);
    assert_int_equal(f->rec.publishes, 0);
    /* sticky */
    assert_int_equal(cc_rtmp_session_feed(s, (const uint8_t *)"x", 1), CC_EAUTH);
    assert_null(memmem(out.data, out.len, "wrong-key", 9));
    cc_rtmp_session_free(s);
    cc_dynbuf_free(&out);
    tl_free(&c);
}

static void test_busy(void **state)
{
    fixture_t *f = *state;
    tl_client_t c;
    script(&c, KEY);
    cc_rtmp_session_t *s1 = cc_rtmp_session_new(NULL, f->hub, f->auth, "p1");
    cc_rtmp_session_t *s2 = cc_rtmp_session_new(NULL, f->hub, f->auth, "p2");
    cc_dynbuf_t out1, out2;
    cc_dynbuf_init(&out1, 1 << 20);
    cc_dynbuf_init(&out2, 1 << 20);
    assert_int_equal(feed(s1, c.out.data, c.out.len, 0, &out1), 0);
    assert_int_equal(feed(s2, c.out.data, c.out.len, 0, &out2), CC_EBUSY);
    assert_string_equal(cc_rtmp_session_reason(s2), "busy");
    assert_string_equal(cc_rtmp_session_stream_name(s2), "shop1");
    assert_true(has_status(&out2, "onStatus", "NetStream.Publish.BadName"));
    assert_int_equal(rejected(f->hub, "busy"), 1);
    /* the first publisher is untouched */
    assert_int_equal(f->rec.publishes, 1);
    cc_rtmp_session_free(s2);
    assert_int_equal(f->rec.ends, 0);
    assert_non_null(cc_hub_find(f->hub, "shop1"));
    cc_rtmp_session_free(s1);
    assert_int_equal(f->rec.ends, 1);
    cc_dynbuf_free(&out1);
    cc_dynbuf_free(&out2);
    tl_free(&c);
}

static void test_bad_app_and_order(void **state)
{
    fixture_t *f = *state;
    tl_client_t c;
    tl_init(&c);
    tl_handshake(&c, -1);
    tl_publish_preamble(&c, "vod", KEY);
    cc_rtmp_session_t *s = cc_rtmp_session_new(NULL, f->hub, f->auth, "p");
    cc_dynbuf_t out;
    cc_dynbuf_init(&out, 1 << 20);
    assert_int_equal(feed(s, c.out.data, c.out.len, 0, &out), CC_ENOENT);
    assert_string_equal(cc_rtmp_session_reason(s), "bad_app");
    assert_true(has_status(&out, "_error", "NetConnection.Connect.Rejected"));
    cc_rtmp_session_free(s);
    tl_free(&c);

    /* "live/" and "live?x=y" are the live app */
    const char *apps[] = {"live/", "live?token=abc"};
    for (int i = 0; i < 2; i++) {
        tl_init(&c);
        tl_handshake(&c, 1);
        tl_publish_preamble(&c, apps[i], KEY);
        s = cc_rtmp_session_new(NULL, f->hub, f->auth, "p");
        cc_dynbuf_reset(&out);
        assert_int_equal(feed(s, c.out.data, c.out.len, 0, &out), 0);
        assert_int_equal(cc_rtmp_session_state(s), CC_RTMP_STATE_PUBLISHING);
        cc_rtmp_session_free(s);
        tl_free(&c);
    }

    /* publish before connect */
    tl_init(&c);
    tl_handshake(&c, -1);
    tl_command(&c, 1, "publish", "zss", KEY, "live");
    s = cc_rtmp_session_new(NULL, f->hub, f->auth, "p");
    assert_int_equal(feed(s, c.out.data, c.out.len, 0, &out), CC_ESTATE);
    assert_string_equal(cc_rtmp_session_reason(s), "command_before_connect");
    cc_rtmp_session_free(s);
    tl_free(&c);

    /* play is refused with a status */
    tl_init(&c);
    tl_handshake(&c, -1);
    tl_command(&c, 0, "connect", "o", "app", "s", "live", (const char *)NULL);
    tl_command(&c, 1, "play", "zs", "shop1");
    s = cc_rtmp_session_new(NULL, f->hub, f->auth, "p");
    cc_dynbuf_reset(&out);
    assert_int_equal(feed(s, c.out.data, c.out.len, 0, &out), CC_EUNSUPPORTED);
    assert_true(has_status(&out, "onStatus", "NetStream.Play.Failed"));
    cc_rtmp_session_free(s);
    tl_free(&c);

    /* garbage instead of C0 */
    s = cc_rtmp_session_new(NULL, f->hub, f->auth, "p");
    assert_int_equal(cc_rtmp_session_feed(s, (const uint8_t *)"GET / HTTP/1.0\r\n", 16), CC_EPROTO);
    assert_string_equal(cc_rtmp_session_reason(s), "bad_handshake");
    cc_rtmp_session_free(s);
    cc_dynbuf_free(&out);
}

static void test_control(void **state)
{
    fixture_t *f = *state;
    tl_client_t c;
    tl_init(&c);
    tl_handshake(&c, -1);
    tl_command(&c, 0, "connect", "o", "app", "s", "live", (const char *)NULL);
    /* window ack size 5000 from the peer: we ack once 5000 bytes are in */
    uint8_t w[4];
    cc_wr32(w, 5000);
    tl_msg(&c, 2, CC_RTMP_MSG_WINDOW_ACK_SIZE, 0, 0, w, 4);
    uint8_t ping[6] = {0, 6, 0x12, 0x34, 0x56, 0x78};
    tl_msg(&c, 2, CC_RTMP_MSG_USER_CONTROL, 0, 0, ping, 6);
    /* an unknown command and an AMF3 command are fine */
    tl_command(&c, 0, "_checkbw", "z");
    cc_dynbuf_t b;
    cc_dynbuf_init(&b, 256);
    uint8_t zero = 0;
    cc_dynbuf_append(&b, &zero, 1);
    cc_amf0_writer_t aw = {&b, 0};
    cc_amf0_put_string(&aw, "createStream");
    cc_amf0_put_number(&aw, 9);
    cc_amf0_put_null(&aw);
    tl_msg(&c, 3, CC_RTMP_MSG_COMMAND_AMF3, 0, 0, b.data, b.len);
    cc_dynbuf_free(&b);
    cc_rtmp_session_t *s = cc_rtmp_session_new(NULL, f->hub, f->auth, "p");
    cc_dynbuf_t out;
    cc_dynbuf_init(&out, 1 << 20);
    assert_int_equal(feed(s, c.out.data, c.out.len, 0, &out), 0);
    tl_reply_t r[32];
    int n = tl_read_replies(out.data + 3073, out.len - 3073, r, 32);
    int pong = 0, results = 0;
    for (int i = 0; i < n; i++) {
        if (r[i].type == CC_RTMP_MSG_USER_CONTROL && cc_rd16(r[i].body->data) == 7 &&
            cc_rd32(r[i].body->data + 2) == 0x12345678)
            pong++;
        if (tl_reply_is(&r[i], "_result", NULL))
            results++;
    }
    tl_replies_free(r, n);
    assert_int_equal(pong, 1);
    assert_int_equal(results, 2); /* connect + the AMF3 createStream */
    cc_rtmp_session_stats_t st;
    cc_rtmp_session_stats(s, &st);
    assert_int_equal(st.acks_sent, 0); /* about 3.3 KB in so far: the 5000-byte window is not crossed */
    /* push 6000 more bytes of ignored messages and an ack follows */
    tl_client_t c2;
    tl_init(&c2);
    c2.chunk_size = 128;
    uint8_t filler[6000] = {0};
    tl_msg(&c2, 7, 0x7F /* unknown type */, 0, 0, filler, sizeof(filler));
    cc_dynbuf_reset(&out);
    assert_int_equal(feed(s, c2.out.data, c2.out.len, 0, &out), 0);
    cc_rtmp_session_stats(s, &st);
    assert_int_equal(st.acks_sent, 1);
    n = tl_read_replies(out.data, out.len, r, 32);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].type, CC_RTMP_MSG_ACK);
    assert_int_equal(cc_rd32(r[0].body->data), (uint32_t)st.bytes_in);
    tl_replies_free(r, n);
    cc_rtmp_session_free(s);
    cc_dynbuf_free(&out);
    tl_free(&c);
    tl_free(&c2);
}

static void test_timestamp_wrap(void **state)
{
    fixture_t *f = *state;
    tl_client_t c;
    tl_init(&c);
    tl_handshake(&c, -1);
    tl_publish_preamble(&c, "live", KEY);
    tl_msg(&c, 6, CC_RTMP_MSG_VIDEO, 1, 0xFFFFFF00u, tl_avc_seq, sizeof(tl_avc_seq));
    tl_video(&c, 0xFFFFFF00u, 1, 0, 10, 1);
    tl_video(&c, 0xFFFFFFF0u, 0, 0, 10, 1);
    tl_video(&c, 0x00000010u, 0, 0, 10, 1); /* wrapped */
    tl_video(&c, 0x00000100u, 0, 0, 10, 1);
    cc_rtmp_session_t *s = cc_rtmp_session_new(NULL, f->hub, f->auth, "p");
    cc_dynbuf_t out;
    cc_dynbuf_init(&out, 1 << 20);
    assert_int_equal(feed(s, c.out.data, c.out.len, 3, &out), 0);
    assert_int_equal(f->rec.frames, 4);
    assert_int_equal(f->rec.dts[0], 0);
    assert_int_equal(f->rec.dts[1], 0xF0);
    assert_int_equal(f->rec.dts[2], 0x110);
    assert_int_equal(f->rec.dts[3], 0x200);
    cc_rtmp_session_free(s);
    cc_dynbuf_free(&out);
    tl_free(&c);
}

static void test_caps(void **state)
{
    fixture_t *f = *state;
    /* a message over the cap closes with its reason */
    cc_rtmp_session_config_t cfg;
    cc_rtmp_session_config_default(&cfg);
    cfg.chunk.max_message_size = 1000;
    tl_client_t c;
    tl_init(&c);
    tl_handshake(&c, -1);
    tl_publish_preamble(&c, "live", KEY);
    tl_video(&c, 0, 1, 0, 2000, 1);
    cc_rtmp_session_t *s = cc_rtmp_session_new(&cfg, f->hub, f->auth, "p");
    cc_dynbuf_t out;
    cc_dynbuf_init(&out, 1 << 20);
    assert_int_equal(feed(s, c.out.data, c.out.len, 0, &out), CC_ETOOBIG);
    assert_string_equal(cc_rtmp_session_reason(s), "message_too_big");
    cc_rtmp_session_free(s);
    assert_int_equal(f->rec.ends, 1);
    tl_free(&c);
    /* a peer chunk size over the cap */
    tl_init(&c);
    tl_handshake(&c, -1);
    tl_set_chunk_size(&c, 1 << 20);
    s = cc_rtmp_session_new(NULL, f->hub, f->auth, "p");
    assert_int_equal(feed(s, c.out.data, c.out.len, 0, &out), CC_ETOOBIG);
    assert_string_equal(cc_rtmp_session_reason(s), "chunk_size_over_cap");
    cc_rtmp_session_free(s);
    tl_free(&c);
    /* AMF nested too deep inside a command */
    tl_init(&c);
    tl_handshake(&c, -1);
    cc_dynbuf_t b;
    cc_dynbuf_init(&b, 4096);
    cc_amf0_writer_t w = {&b, 0};
    cc_amf0_put_string(&w, "connect");
    cc_amf0_put_number(&w, 1);
    for (int i = 0; i < 20; i++) {
        cc_amf0_put_object_start(&w);
        cc_amf0_put_key(&w, "a");
    }
    cc_amf0_put_null(&w);
    for (int i = 0; i < 20; i++)
        cc_amf0_put_object_end(&w);
    tl_msg(&c, 3, CC_RTMP_MSG_COMMAND_AMF0, 0, 0, b.data, b.len);
    cc_dynbuf_free(&b);
    s = cc_rtmp_session_new(NULL, f->hub, f->auth, "p");
    assert_int_equal(feed(s, c.out.data, c.out.len, 0, &out), CC_EDEPTH);
    assert_string_equal(cc_rtmp_session_reason(s), "bad_amf_command");
    cc_rtmp_session_free(s);
    tl_free(&c);
    cc_dynbuf_free(&out);
}

int main(void)
{
    cc_log_set_level(CC_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_publish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unpublish_and_republish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_app_and_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_control, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timestamp_wrap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_caps, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The RTMP listener on a real loop and real sockets: many idle publishers
 * (and the heap they cost), a malformed peer closed without disturbing the
 * others, handshake and idle timeouts, stop with connections open, and a
 * real ffmpeg publish when ffmpeg is installed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "cartcast/err.h"
#include "cartcast/hub.h"
#include "cartcast/log.h"
#include "ingest/auth.h"
#include "ingest/rtmp/server.h"
#include "rtmp_testlib.h"

#define NPUB 200

typedef struct client {
    uv_tcp_t tcp;
    uv_connect_t conn;
    uv_write_t wr;
    const uint8_t *script;
    size_t script_len;
    int connected, eof, closed;
    uint64_t got;
} client_t;

static uv_loop_t loop;
static cc_hub_t *hub;
static cc_auth_t *auth;
static cc_rtmp_server_t *srv;
static client_t clients[NPUB + 8]; /* static: the heap measurement sees only the server */
static uint8_t rbuf[65536];

static void c_alloc(uv_handle_t *h, size_t s, uv_buf_t *b) { *b = uv_buf_init((char *)rbuf, sizeof(rbuf)); }
static void c_closed(uv_handle_t *h) { ((client_t *)h->data)->closed = 1; }

static void c_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    client_t *c = s->data;
    if (n > 0)
        c->got += (uint64_t)n;
    if (n < 0) {
        c->eof = 1;
        uv_close((uv_handle_t *)s, c_closed);
    }
}

static void c_written(uv_write_t *w, int status) {}

static void c_connected(uv_connect_t *req, int status)
{
    client_t *c = req->data;
    assert_int_equal(status, 0);
    c->connected = 1;
    uv_read_start((uv_stream_t *)&c->tcp, c_alloc, c_read);
    if (c->script_len) {
        uv_buf_t b = uv_buf_init((char *)c->script, (unsigned)c->script_len);
        uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, c_written);
    }
}

static void client_start(client_t *c, int port, const uint8_t *script, size_t len)
{
    memset(c, 0, sizeof(*c));
    c->script = script;
    c->script_len = len;
    uv_tcp_init(&loop, &c->tcp);
    c->tcp.data = c;
    c->conn.data = c;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", port, &a);
    assert_int_equal(uv_tcp_connect(&c->conn, &c->tcp, (const struct sockaddr *)&a, c_connected), 0);
}

static void client_close(client_t *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, c_closed);
}

/* Runs the loop until cond() or timeout_ms; returns cond(). */
static int (*wait_cond)(void);
static void on_poll(uv_timer_t *t)
{
    if (wait_cond())
        uv_stop(&loop);
}
static int run_until(int (*cond)(void), uint64_t timeout_ms)
{
    uv_timer_t t;
    wait_cond = cond;
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, on_poll, 5, 5);
    uint64_t end = uv_now(&loop) + timeout_ms;
    while (!cond() && uv_now(&loop) < end)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    return cond();
}

static int setup(void **state)
{
    uv_loop_init(&loop);
    hub = cc_hub_new();
    auth = cc_auth_new();
    char buf[64];
    for (int i = 0; i < NPUB; i++) {
        snprintf(buf, sizeof(buf), "shop%d=key-%d-abcdef", i, i);
        assert_int_equal(cc_auth_add(auth, buf), 0);
    }
    return 0;
}

static int teardown(void **state)
{
    uv_run(&loop, UV_RUN_DEFAULT); /* let every close callback run */
    assert_int_equal(uv_loop_close(&loop), 0);
    cc_hub_free(hub);
    cc_auth_free(auth);
    return 0;
}

static int all_published(void) { return cc_hub_count(hub) == NPUB; }
static int garbage_closed(void) { return clients[NPUB].eof; }
static int none_published(void) { return cc_hub_count(hub) == 0; }

static void test_idle_publishers_and_garbage(void **state)
{
    cc_rtmp_config_t cfg;
    cc_rtmp_config_default(&cfg);
    cfg.bind = "127.0.0.1";
    cfg.port = 0;
    assert_int_equal(cc_rtmp_server_start(&loop, &cfg, hub, auth, &srv), 0);
    int port = cc_rtmp_server_port(srv);
    assert_true(port > 0);

    static tl_client_t scripts[NPUB];
    char key[64];
    for (int i = 0; i < NPUB; i++) {
        snprintf(key, sizeof(key), "key-%d-abcdef", i);
        tl_init(&scripts[i]);
        tl_handshake(&scripts[i], i % 3 - 1);
        tl_publish_preamble(&scripts[i], "live", key);
        tl_metadata(&scripts[i], 1, 320, 240, 30);
        tl_msg(&scripts[i], 6, CC_RTMP_MSG_VIDEO, 1, 0, tl_avc_seq, sizeof(tl_avc_seq));
        tl_msg(&scripts[i], 4, CC_RTMP_MSG_AUDIO, 1, 0, tl_aac_seq, sizeof(tl_aac_seq));
        tl_video(&scripts[i], 0, 1, 0, 3000, 1);
    }
    /* settle the loop's own allocations before the baseline */
    uv_run(&loop, UV_RUN_NOWAIT);
    malloc_trim(0);
    size_t before = mallinfo2().uordblks;
    for (int i = 0; i < NPUB; i++)
        client_start(&clients[i], port, scripts[i].out.data, scripts[i].out.len);
    assert_true(run_until(all_published, 10000));
    /* give the last replies time to be written, so no write request is counted */
    for (int i = 0; i < 20; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    size_t after = mallinfo2().uordblks;
    size_t per = (after - before) / NPUB;
    cc_rtmp_server_stats_t st;
    cc_rtmp_server_stats(srv, &st);
    printf("# rtmp: %d idle publishers: %zu bytes of heap each (connection + session + hub stream)\n", NPUB, per);
    assert_true(per < 16 * 1024);
    assert_int_equal(st.connections_open, NPUB);
    assert_int_equal(st.publishing, NPUB);

    /* a peer that speaks HTTP is closed; the publishers are not disturbed */
    static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    client_start(&clients[NPUB], port, (const uint8_t *)http, sizeof(http) - 1);
    assert_true(run_until(garbage_closed, 5000));
    assert_int_equal(cc_hub_count(hub), NPUB);
    cc_rtmp_server_stats(srv, &st);
    assert_int_equal(st.closed_error, 1);
    uint64_t open, total, closed;
    cc_rtmp_server_counters(srv, &open, &total, &closed);
    assert_int_equal(total, NPUB + 1);
    assert_int_equal(closed, 1);

    /* one publisher leaves: only its stream ends */
    client_close(&clients[0]);
    assert_true(run_until(none_published, 300) == 0);
    for (int i = 0; i < 50 && cc_hub_count(hub) == NPUB; i++)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(cc_hub_count(hub), NPUB - 1);
    assert_null(cc_hub_find(hub, "shop0"));
    assert_non_null(cc_hub_find(hub, "shop1"));

    /* stop with everything open: all streams end, every handle closes */
    cc_rtmp_server_stop(srv);
    srv = NULL;
    assert_true(run_until(none_published, 5000));
    for (int i = 1; i < NPUB; i++)
        client_close(&clients[i]);
    for (int i = 0; i < NPUB; i++)
        tl_free(&scripts[i]);
}

static int first_two_closed(void) { return clients[0].eof && clients[1].eof; }
static int third_closed(void) { return clients[2].eof; }

static void test_timeouts(void **state)
{
    cc_rtmp_config_t cfg;
    cc_rtmp_config_default(&cfg);
    cfg.bind = "127.0.0.1";
    cfg.port = 0;
    cfg.handshake_timeout_ms = 200;
    cfg.idle_timeout_ms = 600;
    assert_int_equal(cc_rtmp_server_start(&loop, &cfg, hub, auth, &srv), 0);
    int port = cc_rtmp_server_port(srv);
    /* silent, and handshake-only (then silent): both past the handshake timeout */
    tl_client_t hs, pub;
    tl_init(&hs);
    tl_handshake(&hs, 0);
    tl_init(&pub);
    tl_handshake(&pub, -1);
    tl_publish_preamble(&pub, "live", "key-7-abcdef");
    uint64_t t0 = uv_now(&loop);
    client_start(&clients[0], port, NULL, 0);
    client_start(&clients[1], port, hs.out.data, hs.out.len);
    client_start(&clients[2], port, pub.out.data, pub.out.len);
    assert_true(run_until(first_two_closed, 3000));
    assert_false(clients[2].eof);
    assert_non_null(cc_hub_find(hub, "shop7"));
    /* the publisher then sends nothing: closed by the idle timeout, stream ends */
    assert_true(run_until(third_closed, 3000));
    assert_true(uv_now(&loop) - t0 >= 600);
    assert_true(run_until(none_published, 1000));
    cc_rtmp_server_stats_t st;
    cc_rtmp_server_stats(srv, &st);
    assert_int_equal(st.closed_error, 3);
    cc_rtmp_server_stop(srv);
    srv = NULL;
    tl_free(&hs);
    tl_free(&pub);
}

/* ---- a real ffmpeg publish ---- */

typedef struct ff_rec {
    cc_hub_listener_t l;
    cc_subscriber_t sub;
    int frames[2], keyframes, ends, tracks;
    int64_t last_dts[2];
    int backwards;
    uint32_t width, height;
    cc_codec_t vcodec, acodec;
} ff_rec_t;

static ff_rec_t ffr;
static int ff_exited = 0;
static int64_t ff_status = -1;

static void ff_track(cc_subscriber_t *s, cc_stream_t *st, int track)
{
    const cc_track_t *t = cc_stream_track(st, track);
    ffr.tracks++;
    if (track == 0) {
        ffr.vcodec = t->codec;
        ffr.width = t->width;
        ffr.height = t->height;
    } else {
        ffr.acodec = t->codec;
    }
}

static void ff_frame(cc_subscriber_t *s, cc_stream_t *st, const cc_frame_t *f)
{
    if (ffr.frames[f->track] && f->dts < ffr.last_dts[f->track])
        ffr.backwards++;
    ffr.last_dts[f->track] = f->dts;
    ffr.frames[f->track]++;
    ffr.keyframes += f->keyframe && f->track == 0;
}

static void ff_end(cc_subscriber_t *s, cc_stream_t *st) { ffr.ends++; }
static void ff_publish(cc_hub_listener_t *l, cc_stream_t *st) { cc_stream_subscribe(st, &ffr.sub); }

static void ff_exit(uv_process_t *p, int64_t status, int sig)
{
    ff_exited = 1;
    ff_status = status;
    uv_close((uv_handle_t *)p, NULL);
}

static int ff_done(void) { return ff_exited && ffr.ends == 1; }

static void test_ffmpeg_publish(void **state)
{
    if (access("/usr/bin/ffmpeg", X_OK) != 0) {
        printf("# ffmpeg not installed: skipped\n");
        return;
    }
    memset(&ffr, 0, sizeof(ffr));
    ffr.l.on_publish = ff_publish;
    ffr.sub.on_track = ff_track;
    ffr.sub.on_frame = ff_frame;
    ffr.sub.on_end = ff_end;
    cc_hub_add_listener(hub, &ffr.l);
    cc_rtmp_config_t cfg;
    cc_rtmp_config_default(&cfg);
    cfg.bind = "127.0.0.1";
    cfg.port = 0;
    assert_int_equal(cc_rtmp_server_start(&loop, &cfg, hub, auth, &srv), 0);
    char url[128];
    snprintf(url, sizeof(url), "rtmp://127.0.0.1:%d/live/key-3-abcdef", cc_rtmp_server_port(srv));
    char *args[] = {"ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30",
                    "-f", "lavfi", "-i", "sine", "-t", "1", "-c:v", "libx264", "-preset", "veryfast", "-g", "30",
                    "-c:a", "aac", "-f", "flv", url, NULL};
    uv_process_options_t o;
    memset(&o, 0, sizeof(o));
    o.file = "/usr/bin/ffmpeg";
    o.args = args;
    o.exit_cb = ff_exit;
    uv_stdio_container_t stdio[3] = {{UV_IGNORE, {0}}, {UV_INHERIT_FD, {.fd = 1}}, {UV_INHERIT_FD, {.fd = 2}}};
    o.stdio = stdio;
    o.stdio_count = 3;
    static uv_process_t proc;
    assert_int_equal(uv_spawn(&loop, &proc, &o), 0);
    assert_true(run_until(ff_done, 30000));
    assert_int_equal(ff_status, 0);
    assert_int_equal(ffr.vcodec, CC_CODEC_H264);
    assert_int_equal(ffr.acodec, CC_CODEC_AAC);
    assert_int_equal(ffr.width, 320);
    assert_int_equal(ffr.height, 240);
    assert_int_equal(ffr.frames[0], 30);
    assert_true(ffr.frames[1] >= 40); /* 1 s of 44.1/48 kHz AAC: 43-47 frames */
    assert_true(ffr.keyframes >= 1);
    assert_int_equal(ffr.backwards, 0);
    cc_rtmp_server_stop(srv);
    srv = NULL;
}

int main(void)
{
    cc_log_set_level(CC_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_idle_publishers_and_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeouts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ffmpeg_publish, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

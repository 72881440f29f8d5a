/* The edge's origin client (edge/http_client.c) against a scripted HTTP
 * server on the same libuv loop: Content-Length, chunked and close-delimited
 * bodies, keep-alive reuse, a keep-alive connection the server closed, the
 * pool limit, timeouts, refused connections (never reported synchronously),
 * the body cap, cancellation, and a clean free. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <uv.h>

#include "cartcast/err.h"
#include "edge/http_client.h"

/* ---- a scripted server: each accepted connection answers every request
 * (one per empty line seen) with the script's response, then maybe closes ---- */

typedef struct server {
    uv_tcp_t listener;
    int port;
    const char *response;  /* NULL: never answer */
    bool close_after;      /* close the connection after each answer */
    bool split;            /* write the response one byte per write */
    int accepted, requests;
    char last_request[1024];
} server_t;

typedef struct sconn {
    uv_tcp_t tcp;
    server_t *srv;
    char buf[4096];
    size_t len;
} sconn_t;

static void sconn_closed(uv_handle_t *h) { free(h->data); }

static void on_swritten(uv_write_t *w, int status)
{
    free(w->data);
    free(w);
}

static void swrite(sconn_t *c, const char *data, size_t len)
{
    uv_write_t *w = malloc(sizeof(*w));
    char *copy = malloc(len);
    memcpy(copy, data, len);
    w->data = copy;
    uv_buf_t b = uv_buf_init(copy, (unsigned)len);
    uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, on_swritten);
}

static void s_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    sconn_t *c = h->data;
    b->base = c->buf + c->len;
    b->len = sizeof(c->buf) - c->len - 1;
}

static void s_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    sconn_t *c = st->data;
    if (n < 0) {
        if (!uv_is_closing((uv_handle_t *)st))
            uv_close((uv_handle_t *)st, sconn_closed);
        return;
    }
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    char *end;
    while ((end = strstr(c->buf, "\r\n\r\n")) != NULL) {
        size_t rl = (size_t)(end - c->buf) + 4;
        server_t *s = c->srv;
        s->requests++;
        snprintf(s->last_request, sizeof(s->last_request), "%.*s", (int)rl, c->buf);
        memmove(c->buf, c->buf + rl, c->len - rl + 1);
        c->len -= rl;
        if (s->response == NULL)
            continue;
        if (s->split)
            for (size_t i = 0; s->response[i]; i++)
                swrite(c, s->response + i, 1);
        else
            swrite(c, s->response, strlen(s->response));
        if (s->close_after) {
            uv_close((uv_handle_t *)&c->tcp, sconn_closed);
            return;
        }
    }
}

static void on_sconn(uv_stream_t *l, int status)
{
    server_t *s = l->data;
    sconn_t *c = calloc(1, sizeof(*c));
    c->srv = s;
    uv_tcp_init(l->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) == 0) {
        s->accepted++;
        uv_read_start((uv_stream_t *)&c->tcp, s_alloc, s_read);
    } else {
        uv_close((uv_handle_t *)&c->tcp, sconn_closed);
    }
}

static void server_start(uv_loop_t *loop, server_t *s)
{
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    assert_int_equal(uv_tcp_bind(&s->listener, (const struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&s->listener, 16, on_sconn), 0);
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len);
    s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void close_all(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, h->type == UV_TCP && h->data && h->data != arg ? sconn_closed : NULL);
}

/* ---- client side ---- */

typedef struct got {
    int calls, err, status;
    char body[70000];
    size_t len;
    int64_t age;
} got_t;

static void on_done(void *data, int err, const cc_httpc_response_t *resp)
{
    got_t *g = data;
    g->calls++;
    g->err = err;
    if (resp) {
        g->status = resp->status;
        g->len = resp->body->len < sizeof(g->body) ? resp->body->len : sizeof(g->body);
        memcpy(g->body, resp->body->data, g->len);
        g->age = resp->age;
    }
}

typedef struct fixture {
    uv_loop_t loop;
    server_t srv;
    cc_httpc_t *c;
    cc_httpc_origin_t *o;
} fixture_t;

static void run_until(fixture_t *f, const int *calls, int want)
{
    for (int i = 0; i < 2000 && *calls < want; i++)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(*calls, want);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    uv_loop_init(&f->loop);
    server_start(&f->loop, &f->srv);
    cc_httpc_config_t cfg;
    cc_httpc_config_default(&cfg);
    cfg.max_conns = 2;
    cfg.connect_timeout_ms = 500;
    assert_int_equal(cc_httpc_new(&f->loop, &cfg, &f->c), 0);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/pre", f->srv.port);
    assert_int_equal(cc_httpc_origin_add(f->c, url, &f->o), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    cc_httpc_free(f->c);
    uv_walk(&f->loop, close_all, &f->srv);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
    return 0;
}

static void test_content_length_and_reuse(void **state)
{
    fixture_t *f = *state;
    f->srv.response = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nAge: 4\r\n\r\nhello";
    got_t *g = calloc(1, sizeof(*g));
    assert_int_equal(cc_httpc_get(f->o, "/live/a/media.m3u8?_HLS_msn=1&_HLS_part=2", 1000, 100, on_done, g, NULL), 0);
    assert_int_equal(g->calls, 0); /* never before the call returned */
    run_until(f, &g->calls, 1);
    assert_int_equal(g->err, 0);
    assert_int_equal(g->status, 200);
    assert_int_equal(g->len, 5);
    assert_memory_equal(g->body, "hello", 5);
    assert_int_equal(g->age, 4);
    assert_non_null(strstr(f->srv.last_request, "GET /pre/live/a/media.m3u8?_HLS_msn=1&_HLS_part=2 HTTP/1.1\r\n"));
    assert_non_null(strstr(f->srv.last_request, "\r\nHost: 127.0.0.1:"));
    /* the second request reuses the connection */
    assert_int_equal(cc_httpc_get(f->o, "/x", 1000, 100, on_done, g, NULL), 0);
    run_until(f, &g->calls, 2);
    assert_int_equal(g->status, 200);
    assert_int_equal(f->srv.accepted, 1);
    cc_httpc_stats_t st;
    cc_httpc_stats(f->c, &st);
    assert_int_equal(st.connects, 1);
    assert_int_equal(st.responses, 2);
    free(g);
}

static void test_chunked_split(void **state)
{
    fixture_t *f = *state;
    f->srv.response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4;x=1\r\ndefg\r\n0\r\n\r\n";
    f->srv.split = true; /* one byte per write */
    got_t *g = calloc(1, sizeof(*g));
    for (int i = 0; i < 3; i++)
        assert_int_equal(cc_httpc_get(f->o, "/c", 1000, 100, on_done, g, NULL), 0);
    run_until(f, &g->calls, 3);
    assert_int_equal(g->err, 0);
    assert_int_equal(g->len, 7);
    assert_memory_equal(g->body, "abcdefg", 7);
    assert_true(f->srv.accepted <= 2); /* max_conns */
    free(g);
}

static void test_close_delimited_and_server_close(void **state)
{
    fixture_t *f = *state;
    f->srv.response = "HTTP/1.0 200 OK\r\n\r\nto the end";
    f->srv.close_after = true;
    got_t *g = calloc(1, sizeof(*g));
    assert_int_equal(cc_httpc_get(f->o, "/e", 1000, 100, on_done, g, NULL), 0);
    run_until(f, &g->calls, 1);
    assert_int_equal(g->err, 0);
    assert_int_equal(g->len, 10);
    /* keep-alive announced, but the server closes after each answer: the
     * next request meets a closed connection and is retried on a new one */
    f->srv.response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    assert_int_equal(cc_httpc_get(f->o, "/k", 1000, 100, on_done, g, NULL), 0);
    run_until(f, &g->calls, 2);
    assert_int_equal(cc_httpc_get(f->o, "/k", 1000, 100, on_done, g, NULL), 0);
    run_until(f, &g->calls, 3);
    assert_int_equal(g->err, 0);
    assert_int_equal(g->status, 200);
    assert_memory_equal(g->body, "ok", 2);
    free(g);
}

static void test_timeout_cap_cancel(void **state)
{
    fixture_t *f = *state;
    f->srv.response = NULL; /* never answers */
    got_t *g = calloc(1, sizeof(*g));
    assert_int_equal(cc_httpc_get(f->o, "/slow", 100, 100, on_done, g, NULL), 0);
    run_until(f, &g->calls, 1);
    assert_int_equal(g->err, CC_ETIMEDOUT);
    /* a body over the cap */
    f->srv.response = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
    assert_int_equal(cc_httpc_get(f->o, "/big", 1000, 100, on_done, g, NULL), 0);
    run_until(f, &g->calls, 2);
    assert_int_equal(g->err, CC_ETOOBIG);
    /* cancelled: the callback never runs */
    f->srv.response = NULL;
    cc_httpc_req_t *r;
    got_t *h = calloc(1, sizeof(*h));
    assert_int_equal(cc_httpc_get(f->o, "/never", 1000, 100, on_done, h, &r), 0);
    for (int i = 0; i < 20; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
    cc_httpc_cancel(r);
    assert_int_equal(cc_httpc_get(f->o, "/queued", 1000, 100, on_done, h, &r), 0);
    cc_httpc_cancel(r);
    for (int i = 0; i < 20; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(h->calls, 0);
    /* malformed input */
    f->srv.response = "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n";
    assert_int_equal(cc_httpc_get(f->o, "/bad", 1000, 100, on_done, g, NULL), 0);
    run_until(f, &g->calls, 3);
    assert_int_equal(g->err, CC_EPROTO);
    free(g);
    free(h);
}

static void test_refused_and_bad_input(void **state)
{
    fixture_t *f = *state;
    /* nothing listens on a port just released */
    uv_tcp_t t;
    uv_tcp_init(&f->loop, &t);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_bind(&t, (const struct sockaddr *)&a, 0);
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(&t, (struct sockaddr *)&ss, &len);
    int port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    cc_httpc_origin_t *dead;
    assert_int_equal(cc_httpc_origin_add(f->c, url, &dead), 0);
    got_t *g = calloc(1, sizeof(*g));
    assert_int_equal(cc_httpc_get(dead, "/x", 1000, 100, on_done, g, NULL), 0);
    assert_int_equal(g->calls, 0);
    run_until(f, &g->calls, 1);
    assert_int_equal(g->err, UV_ECONNREFUSED);
    /* URLs and paths */
    cc_httpc_origin_t *o;
    assert_int_equal(cc_httpc_origin_add(f->c, "https://x", &o), CC_EUNSUPPORTED);
    assert_int_equal(cc_httpc_origin_add(f->c, "http://", &o), CC_EINVAL);
    assert_int_equal(cc_httpc_origin_add(f->c, "http://a b", &o), CC_EINVAL);
    assert_int_equal(cc_httpc_origin_add(f->c, "http://h:0", &o), CC_EINVAL);
    assert_int_equal(cc_httpc_origin_add(f->c, "http://h:99999", &o), CC_EINVAL);
    assert_int_equal(cc_httpc_origin_add(f->c, "http://h:80x", &o), CC_EINVAL);
    assert_int_equal(cc_httpc_origin_add(f->c, "http://[::1]:8080/p/", &o), 0);
    assert_int_equal(cc_httpc_origin_add(f->c, "http://origin.example:8080", &o), 0);
    assert_int_equal(cc_httpc_get(f->o, "no-slash", 1000, 100, on_done, g, NULL), CC_EINVAL);
    assert_int_equal(cc_httpc_get(f->o, "/a b", 1000, 100, on_done, g, NULL), CC_EINVAL);
    assert_int_equal(cc_httpc_get(f->o, "/a\r\nX: y", 1000, 100, on_done, g, NULL), CC_EINVAL);
    free(g);
}

/* Freed with requests in flight and queued: no callback, no leak (ASan). */
static void test_free_busy(void **state)
{
    fixture_t *f = *state;
    f->srv.response = NULL;
    got_t *g = calloc(1, sizeof(*g));
    for (int i = 0; i < 5; i++)
        assert_int_equal(cc_httpc_get(f->o, "/hang", 5000, 100, on_done, g, NULL), 0);
    for (int i = 0; i < 20; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
    cc_httpc_free(f->c);
    f->c = NULL;
    for (int i = 0; i < 20; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(g->calls, 0);
    free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_content_length_and_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked_split, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_delimited_and_server_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_cap_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_and_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_busy, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

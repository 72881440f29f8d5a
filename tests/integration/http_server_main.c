/* A small server over edge/http.c for tests/integration/test_http.py.
 *
 *   http_test_server [--tls CERT KEY]    prints "PORT n" once listening
 *
 * Routes:
 *   GET  /text?name=X   "hello X\n" (query decoding), X-Test header
 *   GET  /held?ms=N     answered after a uv timer of N ms (default 200)
 *   GET  /big           5 MB, byte i = (i * 7 + i / 65536) & 0xff
 *   POST /echo          the request body, same content-type
 *   GET  /header?name=H the value of request header H (404 when absent)
 *   GET  /peer          cc_http_req_peer()
 *   GET  /stats         held-request counters as JSON
 *   GET  /dir/          anything under /dir/: the path
 * SIGTERM/SIGINT stop the server; the process exits 0 only if the loop then
 * closes cleanly (uv_loop_close() == 0). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "cartcast/err.h"
#include "cartcast/http.h"
#include "cartcast/log.h"

#define BIG_LEN (5 * 1024 * 1024)

typedef struct app {
    uv_loop_t *loop;
    cc_http_server_t *http;
    uv_signal_t sigterm, sigint;
    cc_buf_t *big;
    unsigned long held_live, held_answered, held_closed;
} app_t;

typedef struct held {
    uv_timer_t timer;
    cc_http_req_t *req;
    app_t *app;
} held_t;

static void held_free_cb(uv_handle_t *h) { free(h->data); }

static void held_fire(uv_timer_t *t)
{
    held_t *h = t->data;
    h->app->held_live--;
    h->app->held_answered++;
    cc_http_respond_text(h->req, 200, "text/plain", "held\n");
    uv_close((uv_handle_t *)&h->timer, held_free_cb);
}

static void held_closed(cc_http_req_t *req, void *data)
{
    held_t *h = data;
    h->app->held_live--;
    h->app->held_closed++;
    cc_log_info("test.held_closed", "path=%s", cc_http_req_path(req));
    uv_timer_stop(&h->timer);
    uv_close((uv_handle_t *)&h->timer, held_free_cb);
}

static int handle_held(cc_http_req_t *req, void *data)
{
    app_t *app = data;
    const char *ms = cc_http_req_query(req, "ms");
    held_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return CC_ENOMEM;
    h->req = req;
    h->app = app;
    uv_timer_init(app->loop, &h->timer);
    h->timer.data = h;
    uv_timer_start(&h->timer, held_fire, ms ? strtoul(ms, NULL, 10) : 200, 0);
    cc_http_req_on_close(req, held_closed, h);
    app->held_live++;
    return CC_HTTP_HELD;
}

static int handle_text(cc_http_req_t *req, void *data)
{
    const char *name = cc_http_req_query(req, "name");
    char text[512];
    snprintf(text, sizeof(text), "hello%s%s\n", name ? " " : "", name ? name : "");
    cc_buf_t *b = cc_buf_from(text, strlen(text));
    cc_http_header_t h[] = {{"X-Test", "1"}, {"Cache-Control", "no-cache"}};
    int r = cc_http_respond(req, 200, "text/plain; charset=utf-8", b, h, 2);
    cc_buf_unref(b);
    return r;
}

static int handle_big(cc_http_req_t *req, void *data)
{
    app_t *app = data;
    return cc_http_respond(req, 200, "application/octet-stream", app->big, NULL, 0);
}

static int handle_echo(cc_http_req_t *req, void *data)
{
    cc_iov_t body = cc_http_req_body(req);
    const char *type = cc_http_req_header(req, "content-type");
    cc_buf_t *b = cc_buf_from(body.base, body.len);
    int r = cc_http_respond(req, 200, type ? type : "application/octet-stream", b, NULL, 0);
    cc_buf_unref(b);
    return r;
}

static int handle_header(cc_http_req_t *req, void *data)
{
    const char *name = cc_http_req_query(req, "name");
    const char *v = name ? cc_http_req_header(req, name) : NULL;
    if (v == NULL)
        return cc_http_respond_text(req, 404, "text/plain", "absent\n");
    return cc_http_respond_text(req, 200, "text/plain", v);
}

static int handle_peer(cc_http_req_t *req, void *data) { return cc_http_respond_text(req, 200, "text/plain", cc_http_req_peer(req)); }

static int handle_dir(cc_http_req_t *req, void *data) { return cc_http_respond_text(req, 200, "text/plain", cc_http_req_path(req)); }

static int handle_stats(cc_http_req_t *req, void *data)
{
    app_t *app = data;
    char text[256];
    snprintf(text, sizeof(text), "{\"held_live\": %lu, \"held_answered\": %lu, \"held_closed\": %lu}\n",
             app->held_live, app->held_answered, app->held_closed);
    return cc_http_respond_text(req, 200, "application/json", text);
}

static void on_signal(uv_signal_t *s, int signum)
{
    app_t *app = s->data;
    cc_log_info("test.stop", "signal=%d held_live=%lu", signum, app->held_live);
    cc_http_server_stop(app->http);
    app->http = NULL;
    uv_close((uv_handle_t *)&app->sigterm, NULL);
    uv_close((uv_handle_t *)&app->sigint, NULL);
}

int main(int argc, char **argv)
{
    const char *cert = NULL, *key = NULL;
    if (argc == 4 && strcmp(argv[1], "--tls") == 0) {
        cert = argv[2];
        key = argv[3];
    } else if (argc != 1) {
        fprintf(stderr, "usage: %s [--tls CERT KEY]\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    const char *lvl = getenv("CC_LOG_LEVEL");
    cc_log_level_t level;
    if (lvl && cc_log_parse_level(lvl, &level) == 0)
        cc_log_set_level(level);

    app_t app = {0};
    uv_loop_t loop;
    uv_loop_init(&loop);
    app.loop = &loop;
    app.big = cc_buf_new(BIG_LEN);
    for (size_t i = 0; i < BIG_LEN; i++)
        app.big->data[i] = (uint8_t)((i * 7 + i / 65536) & 0xff);

    const cc_http_route_t routes[] = {
        {"GET", "/text", handle_text, &app},
        {"GET", "/held", handle_held, &app},
        {"GET", "/big", handle_big, &app},
        {"POST", "/echo", handle_echo, &app},
        {"GET", "/header", handle_header, &app},
        {"GET", "/peer", handle_peer, &app},
        {"GET", "/stats", handle_stats, &app},
        {NULL, "/dir/", handle_dir, &app},
    };
    cc_http_config_t cfg = {.bind = "127.0.0.1", .port = 0, .tls_cert = cert, .tls_key = key, .routes = routes,
                            .nroutes = sizeof(routes) / sizeof(routes[0]), .server_name = "test"};
    int r = cc_http_server_start(&loop, &cfg, &app.http);
    if (r < 0) {
        fprintf(stderr, "http_test_server: cannot start: %s\n", cc_strerror(r));
        /* lws may still be tearing down a failed context: let it finish. */
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        cc_buf_unref(app.big);
        return 1;
    }

    /* A second server on the same port must fail with a clear code and leave
     * nothing behind in the loop. */
    cc_http_server_t *dup = NULL;
    cfg.port = cc_http_server_port(app.http);
    r = getenv("SKIP_DUP") ? UV_EADDRINUSE : cc_http_server_start(&loop, &cfg, &dup);
    if (r != UV_EADDRINUSE) {
        fprintf(stderr, "http_test_server: second start on the same port gave %d (%s), want EADDRINUSE\n", r,
                cc_strerror(r));
        return 1;
    }

    uv_signal_init(&loop, &app.sigterm);
    uv_signal_init(&loop, &app.sigint);
    app.sigterm.data = app.sigint.data = &app;
    uv_signal_start(&app.sigterm, on_signal, SIGTERM);
    uv_signal_start(&app.sigint, on_signal, SIGINT);

    printf("PORT %d\n", cc_http_server_port(app.http));
    fflush(stdout);

    uv_run(&loop, UV_RUN_DEFAULT);
    cc_buf_unref(app.big);
    r = uv_loop_close(&loop);
    if (r != 0) {
        fprintf(stderr, "http_test_server: uv_loop_close: %s (handles left open)\n", cc_strerror(r));
        uv_print_all_handles(&loop, stderr);
        return 1;
    }
    fprintf(stderr, "http_test_server: clean exit held_answered=%lu held_closed=%lu\n", app.held_answered,
            app.held_closed);
    return 0;
}

/* A test server for edge/hls.c (driven by tests/integration/test_hls_delivery.py).
 *
 *   hls_test_server            prints "PORT n" once listening
 *
 * One stream, "shop1": a cc_llhls_t (PART-TARGET 0.2 s, 1 s segments, 10 s
 * window) fed fake parts ("part <SEQ>\n" + filler) by a uv timer every 200 ms,
 * after 12 s of parts fed at once with past PDTs (so delta updates have
 * something to skip).  A new segment and an independent part every 5 parts.
 *
 * Control routes (for the test):
 *   GET /ctl/pause | /ctl/resume   stop / restart the feed
 *   GET /ctl/end                   cc_llhls_end (ENDLIST)
 *   GET /ctl/restart               cc_llhls_begin again (a re-publish) and resume
 *   GET /ctl/free                  cc_llhls_free (held requests get 404)
 *   GET /ctl/daterange?id=X        a date range starting now
 *   GET /ctl/stats                 delivery counters as JSON
 * SIGTERM/SIGINT stop everything; exit 0 only if the loop closes cleanly. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <uv.h>

#include "cartcast/err.h"
#include "cartcast/http.h"
#include "cartcast/log.h"
#include "edge/hls.h"
#include "packager/llhls.h"

#define PART_MS 200
#define PARTS_PER_SEG 5
#define FILLER 3000

typedef struct app {
    uv_loop_t *loop;
    cc_http_server_t *http;
    cc_hls_delivery_t *hls;
    cc_llhls_t *model;
    uv_timer_t feed;
    uv_signal_t sigterm, sigint;
    uint64_t base;   /* the first part's PDT: number_base */
    uint64_t nparts; /* parts fed since the last begin */
    uint64_t seq;    /* local part sequence number */
    int64_t pdt;     /* PDT of the next part */
    bool paused;
} app_t;

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static cc_llhls_t *lookup(void *data, const char *name)
{
    app_t *app = data;
    return strcmp(name, "shop1") == 0 ? app->model : NULL;
}

static void begin(app_t *app)
{
    cc_buf_t *init = cc_buf_from("init-a", 6);
    cc_llhls_variant_t v;
    memset(&v, 0, sizeof(v));
    snprintf(v.codecs, sizeof(v.codecs), "avc1.64001f,mp4a.40.2");
    v.width = 1280;
    v.height = 720;
    v.frame_rate = 30;
    v.bandwidth = 2000000;
    v.average_bandwidth = 1800000;
    int r = cc_llhls_begin(app->model, init, &v);
    cc_buf_unref(init);
    if (r < 0) {
        fprintf(stderr, "begin: %s\n", cc_strerror(r));
        exit(1);
    }
    app->nparts = 0;
}

static void add_part(app_t *app)
{
    char head[64];
    int n = snprintf(head, sizeof(head), "part %" PRIu64 "\n", app->base + app->seq);
    cc_buf_t *b = cc_buf_new((size_t)n + FILLER);
    memcpy(b->data, head, (size_t)n);
    memset(b->data + n, 'a' + (int)(app->seq % 26), FILLER);
    bool key = app->nparts % PARTS_PER_SEG == 0;
    int r = cc_llhls_add_part(app->model, b, PART_MS, key, key, app->pdt);
    cc_buf_unref(b);
    if (r < 0) {
        fprintf(stderr, "add_part: %s\n", cc_strerror(r));
        exit(1);
    }
    app->seq++;
    app->nparts++;
    app->pdt += PART_MS;
}

static void on_feed(uv_timer_t *t)
{
    app_t *app = t->data;
    if (app->model && !app->paused && !cc_llhls_ended(app->model))
        add_part(app);
}

static int handle_ctl(cc_http_req_t *req, void *data)
{
    app_t *app = data;
    const char *what = cc_http_req_path(req) + 5;
    char text[512];
    snprintf(text, sizeof(text), "ok\n");
    if (strcmp(what, "stats") == 0) {
        cc_hls_stats_t st;
        cc_hls_delivery_stats(app->hls, &st);
        snprintf(text, sizeof(text),
                 "{\"held_now\": %" PRIu64 ", \"held_total\": %" PRIu64 ", \"held_answered\": %" PRIu64
                 ", \"held_timeouts\": %" PRIu64 ", \"bad_requests\": %" PRIu64 ", \"not_found\": %" PRIu64
                 ", \"renders\": %" PRIu64 ", \"streams\": %" PRIu64 "}\n",
                 st.held_now, st.held_total, st.held_answered, st.held_timeouts, st.bad_requests, st.not_found,
                 st.renders, st.streams);
        return cc_http_respond_text(req, 200, "application/json", text);
    }
    if (app->model == NULL)
        return cc_http_respond_text(req, 409, "text/plain", "no model\n");
    if (strcmp(what, "pause") == 0) {
        app->paused = true;
    } else if (strcmp(what, "resume") == 0) {
        app->paused = false;
        app->pdt = wall_ms();
    } else if (strcmp(what, "end") == 0) {
        cc_llhls_end(app->model);
    } else if (strcmp(what, "restart") == 0) {
        begin(app);
        app->paused = false;
        app->pdt = wall_ms();
    } else if (strcmp(what, "free") == 0) {
        cc_llhls_free(app->model);
        app->model = NULL;
    } else if (strcmp(what, "daterange") == 0) {
        const char *id = cc_http_req_query(req, "id");
        cc_llhls_daterange_t dr;
        memset(&dr, 0, sizeof(dr));
        dr.id = id ? id : "dr";
        dr.class_name = "com.cartcast.product";
        dr.start_ms = app->pdt;
        dr.duration_ms = 5000;
        dr.end_ms = -1;
        dr.nx = 1;
        dr.x[0].name = "X-SKU";
        dr.x[0].value = "sku-42";
        int r = cc_llhls_daterange_add(app->model, &dr);
        if (r < 0)
            snprintf(text, sizeof(text), "%s\n", cc_err_name(r));
    } else {
        return cc_http_respond_text(req, 404, "text/plain", "unknown control\n");
    }
    return cc_http_respond_text(req, 200, "text/plain", text);
}

static void on_signal(uv_signal_t *s, int signum)
{
    app_t *app = s->data;
    cc_log_info("test.stop", "signal=%d", signum);
    cc_hls_delivery_free(app->hls); /* held requests: 503 */
    app->hls = NULL;
    cc_http_server_stop(app->http);
    app->http = NULL;
    cc_llhls_free(app->model);
    app->model = NULL;
    uv_close((uv_handle_t *)&app->feed, NULL);
    uv_close((uv_handle_t *)&app->sigterm, NULL);
    uv_close((uv_handle_t *)&app->sigint, NULL);
}

int main(int argc, char **argv)
{
    if (argc != 1) {
        fprintf(stderr, "usage: %s\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    const char *lvl = getenv("CC_LOG_LEVEL");
    cc_log_level_t level;
    if (lvl && cc_log_parse_level(lvl, &level) == 0)
        cc_log_set_level(level);

    app_t app;
    memset(&app, 0, sizeof(app));
    uv_loop_t loop;
    uv_loop_init(&loop);
    app.loop = &loop;

    cc_llhls_config_t cfg;
    cc_llhls_config_default(&cfg);
    cfg.window_ms = 10000;
    app.model = cc_llhls_new(&cfg);
    app.pdt = wall_ms() - 12000;
    app.base = (uint64_t)app.pdt; /* number_base -1: the first part's PDT */
    begin(&app);
    while (app.pdt < wall_ms())
        add_part(&app);

    app.hls = cc_hls_delivery_new(&loop, lookup, &app);
    const cc_http_route_t routes[] = {
        cc_hls_delivery_route(app.hls),
        {"GET", "/ctl/", handle_ctl, &app},
    };
    cc_http_config_t hc = {.bind = "127.0.0.1", .port = 0, .routes = routes, .nroutes = 2, .server_name = "hls-test"};
    int r = cc_http_server_start(&loop, &hc, &app.http);
    if (r < 0) {
        fprintf(stderr, "hls_test_server: cannot start: %s\n", cc_strerror(r));
        return 1;
    }
    uv_timer_init(&loop, &app.feed);
    app.feed.data = &app;
    uv_timer_start(&app.feed, on_feed, PART_MS, PART_MS);
    uv_signal_init(&loop, &app.sigterm);
    uv_signal_init(&loop, &app.sigint);
    app.sigterm.data = app.sigint.data = &app;
    uv_signal_start(&app.sigterm, on_signal, SIGTERM);
    uv_signal_start(&app.sigint, on_signal, SIGINT);

    printf("PORT %d\n", cc_http_server_port(app.http));
    fflush(stdout);
    uv_run(&loop, UV_RUN_DEFAULT);
    r = uv_loop_close(&loop);
    if (r != 0) {
        fprintf(stderr, "hls_test_server: uv_loop_close: %s\n", cc_strerror(r));
        uv_print_all_handles(&loop, stderr);
        return 1;
    }
    fprintf(stderr, "hls_test_server: clean exit\n");
    return 0;
}

/* cartcast-edge: serves an origin's LL-HLS streams to viewers from memory,
 * pulling from the origin with one blocking request per stream however many
 * viewers it holds.  docs/edge.md.
 *
 * One libuv loop runs everything: the HTTP server (libwebsockets, foreign
 * loop), the origin client and the signal handlers that stop them. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cartcast/config.h"
#include "cartcast/err.h"
#include "cartcast/http.h"
#include "cartcast/log.h"
#include "edge/node/edge.h"

#define METRICS_BODY_MAX (4u << 20)

typedef struct node {
    uv_loop_t *loop;
    cc_edge_t *edge;
    cc_http_server_t *http;
    uv_signal_t sigint, sigterm;
} node_t;

static int handle_healthz(cc_http_req_t *req, void *data)
{
    /* The edge itself is fine even when its origin is not: it keeps serving
     * what it holds (docs/edge.md); /metrics tells the origin's state. */
    return cc_http_respond_text(req, 200, "text/plain", "ok\n");
}

static int handle_metrics(cc_http_req_t *req, void *data)
{
    node_t *n = data;
    cc_dynbuf_t d;
    cc_dynbuf_init(&d, METRICS_BODY_MAX);
    int r = cc_edge_render_metrics(n->edge, &d);
    cc_buf_t *body = r == 0 ? cc_dynbuf_take(&d) : NULL;
    cc_dynbuf_free(&d);
    if (body == NULL)
        return cc_http_respond_text(req, 500, "text/plain", "internal error\n");
    cc_http_header_t nocache = {"Cache-Control", "no-cache"};
    r = cc_http_respond(req, 200, "text/plain; version=0.0.4", body, &nocache, 1);
    cc_buf_unref(body);
    return r;
}

static void on_signal(uv_signal_t *h, int signum)
{
    node_t *n = h->data;
    cc_log_info("edge.stop", "signal=%d", signum);
    uv_signal_stop(&n->sigint);
    uv_signal_stop(&n->sigterm);
    uv_close((uv_handle_t *)&n->sigint, NULL);
    uv_close((uv_handle_t *)&n->sigterm, NULL);
    if (n->http) {
        cc_http_server_stop(n->http); /* held and parked viewers get their on_close */
        n->http = NULL;
    }
    if (n->edge) {
        cc_edge_free(n->edge);
        n->edge = NULL;
    }
}

int main(int argc, char **argv)
{
    int http_port = 8081, idle_ms = 30000, max_streams = 256, failover_after = 3, fanout_threads = 0;
    const char *bind = "0.0.0.0", *log_level = "info", *tls_cert = NULL, *tls_key = NULL;
    cc_strlist_t origins = {0};
    const cc_option_t options[] = {
        {"origin", CC_OPT_LIST, &origins, "URL",
         "origin to pull from, http://HOST:PORT[/PREFIX]; repeat for failover, in order", 0, 0},
        {"http-port", CC_OPT_INT, &http_port, "N", "HTTP port for playback (/live/), /metrics and /healthz", 1, 65535},
        {"bind", CC_OPT_STRING, &bind, "ADDR", "address the HTTP server binds to", 0, 0},
        {"fanout-threads", CC_OPT_INT, &fanout_threads, "N",
         "threads sharing the send()s when many held requests are answered at once, the event loop's included "
         "(0 = one per CPU, up to 8; 1 = the event loop alone)",
         0, 64},
        {"idle-ms", CC_OPT_INT, &idle_ms, "MS", "stop following a stream nobody requested for this long", 1000,
         86400000},
        {"max-streams", CC_OPT_INT, &max_streams, "N", "streams followed at once (a new one beyond: 503)", 1, 100000},
        {"failover-after", CC_OPT_INT, &failover_after, "N",
         "consecutive upstream failures before moving to the next --origin", 1, 1000},
        {"tls-cert", CC_OPT_STRING, &tls_cert, "FILE", "PEM certificate: serve HTTPS with HTTP/2 (needs --tls-key)", 0, 0},
        {"tls-key", CC_OPT_STRING, &tls_key, "FILE", "PEM private key for --tls-cert", 0, 0},
        {"log-level", CC_OPT_STRING, &log_level, "LEVEL", "debug, info, warn or error", 0, 0},
    };
    const cc_program_t prog = {
        "cartcast-edge",
        "Serves the LL-HLS streams of a cartcast origin (--origin) at http://HOST:HTTP-PORT/live/NAME/index.m3u8,\n"
        "from memory, with one blocking upstream request per stream however many viewers; /metrics and /healthz.",
        options, sizeof(options) / sizeof(options[0])};

    char err[512];
    int exit_code = 0;
    node_t n = {0};
    int r = cc_config_parse(&prog, argc, argv, err, sizeof(err));
    if (r == 1)
        goto out;
    if (r < 0) {
        fprintf(stderr, "cartcast-edge: %s\n", err);
        exit_code = 2;
        goto out;
    }
    cc_log_level_t level;
    if (cc_log_parse_level(log_level, &level) < 0) {
        fprintf(stderr, "cartcast-edge: --log-level must be debug, info, warn or error, got '%s'\n", log_level);
        exit_code = 2;
        goto out;
    }
    cc_log_set_level(level);
    if ((tls_cert == NULL) != (tls_key == NULL)) {
        fprintf(stderr, "cartcast-edge: --tls-cert and --tls-key go together\n");
        exit_code = 2;
        goto out;
    }
    if (origins.count == 0) {
        fprintf(stderr, "cartcast-edge: --origin http://HOST:PORT is required (see --help)\n");
        exit_code = 2;
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);

    n.loop = uv_default_loop();
    cc_edge_config_t ecfg;
    cc_edge_config_default(&ecfg);
    ecfg.origins = (const char *const *)origins.items;
    ecfg.norigins = origins.count;
    ecfg.idle_ms = (uint32_t)idle_ms;
    ecfg.max_streams = (uint32_t)max_streams;
    ecfg.failover_after = (uint32_t)failover_after;
    err[0] = '\0';
    if ((r = cc_edge_new(n.loop, &ecfg, &n.edge, err, sizeof(err))) < 0) {
        fprintf(stderr, "cartcast-edge: %s\n", err[0] ? err : cc_strerror(r));
        exit_code = 2;
        goto out;
    }

    const cc_http_route_t routes[] = {
        {"GET", "/healthz", handle_healthz, &n},
        {"GET", "/metrics", handle_metrics, &n},
        cc_edge_route(n.edge),
    };
    cc_http_config_t hcfg = {.bind = bind, .port = http_port, .routes = routes,
                             .nroutes = sizeof(routes) / sizeof(routes[0]), .server_name = "edge",
                             .tls_cert = tls_cert, .tls_key = tls_key, .fanout_threads = (unsigned)fanout_threads};
    if ((r = cc_http_server_start(n.loop, &hcfg, &n.http)) < 0) {
        fprintf(stderr, "cartcast-edge: cannot listen for HTTP on %s:%d: %s\n", bind, http_port, cc_strerror(r));
        cc_edge_free(n.edge);
        n.edge = NULL;
        exit_code = 1;
        goto out;
    }

    uv_signal_init(n.loop, &n.sigint);
    uv_signal_init(n.loop, &n.sigterm);
    n.sigint.data = n.sigterm.data = &n;
    uv_signal_start(&n.sigint, on_signal, SIGINT);
    uv_signal_start(&n.sigterm, on_signal, SIGTERM);

    cc_log_info("edge.start", "http=%s:%d origins=%zu first=%s idle_ms=%d", bind, http_port, origins.count,
                origins.items[0], idle_ms);
    uv_run(n.loop, UV_RUN_DEFAULT);
    cc_log_info("edge.exit", "status=clean");

out:
    if (n.edge)
        cc_edge_free(n.edge);
    if (n.loop) {
        uv_run(n.loop, UV_RUN_DEFAULT); /* close callbacks */
        uv_loop_close(n.loop);
    }
    cc_strlist_free(&origins);
    cc_config_release();
    return exit_code;
}

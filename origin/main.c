/* cartcast-origin: RTMP ingest -> stream hub -> HTTP (health, metrics, streams).
 *
 * One libuv loop runs everything: the RTMP server, libwebsockets' HTTP server
 * (foreign loop) and the signal handlers that stop them. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cartcast/config.h"
#include "cartcast/err.h"
#include "cartcast/http.h"
#include "cartcast/hub.h"
#include "cartcast/log.h"
#include "ingest/auth.h"
#include "ingest/rtmp/server.h"
#include "ingest/srt/server.h"
#include "edge/hls.h"
#include "origin/status.h"
#include "origin/timeline.h"
#include "packager/packager.h"

#define STATUS_BODY_MAX (4u << 20)

typedef struct origin {
    uv_loop_t *loop;
    cc_hub_t *hub;
    cc_auth_t *auth;
    cc_rtmp_server_t *rtmp;
    cc_srt_server_t *srt;
    cc_packager_t *packager;
    cc_hls_delivery_t *hls;
    cc_http_server_t *http;
    cc_timeline_t *timeline; /* --redis: live edges and cues (origin/timeline.c) */
    uv_signal_t sigint, sigterm;
} origin_t;

static int respond_dynbuf(cc_http_req_t *req, const char *type, cc_dynbuf_t *d, int r)
{
    if (r < 0) {
        cc_dynbuf_free(d);
        return cc_http_respond_text(req, 500, "text/plain", "internal error\n");
    }
    cc_buf_t *body = cc_dynbuf_take(d);
    cc_dynbuf_free(d);
    if (body == NULL)
        return cc_http_respond_text(req, 500, "text/plain", "out of memory\n");
    cc_http_header_t nocache = {"Cache-Control", "no-cache"};
    r = cc_http_respond(req, 200, type, body, &nocache, 1);
    cc_buf_unref(body);
    return r;
}

static cc_llhls_t *lookup_stream(void *data, const char *name)
{
    origin_t *o = data;
    return cc_packager_find(o->packager, name);
}

static int handle_healthz(cc_http_req_t *req, void *data)
{
    return cc_http_respond_text(req, 200, "text/plain", "ok\n");
}

static int handle_metrics(cc_http_req_t *req, void *data)
{
    origin_t *o = data;
    cc_origin_counters_t c = {0};
    cc_rtmp_server_counters(o->rtmp, &c.rtmp_connections_open, &c.rtmp_connections_total, &c.rtmp_closed_by_error);
    cc_dynbuf_t d;
    cc_dynbuf_init(&d, STATUS_BODY_MAX);
    cc_hls_stats_t hs;
    if (o->hls)
        cc_hls_delivery_stats(o->hls, &hs);
    int r = cc_origin_render_metrics(o->hub, &c, o->packager, o->hls ? &hs : NULL, &d);
    if (r >= 0 && o->timeline)
        r = cc_timeline_render_metrics(o->timeline, &d);
    return respond_dynbuf(req, "text/plain; version=0.0.4", &d, r);
}

static int handle_streams(cc_http_req_t *req, void *data)
{
    origin_t *o = data;
    cc_dynbuf_t d;
    cc_dynbuf_init(&d, STATUS_BODY_MAX);
    int r = cc_origin_render_streams(o->hub, o->packager, &d);
    return respond_dynbuf(req, "application/json", &d, r);
}

static void on_signal(uv_signal_t *h, int signum)
{
    origin_t *o = h->data;
    cc_log_info("origin.stop", "signal=%d", signum);
    uv_signal_stop(&o->sigint);
    uv_signal_stop(&o->sigterm);
    uv_close((uv_handle_t *)&o->sigint, NULL);
    uv_close((uv_handle_t *)&o->sigterm, NULL);
    if (o->rtmp) {
        cc_rtmp_server_stop(o->rtmp);
        o->rtmp = NULL;
    }
    if (o->srt) {
        cc_srt_server_stop(o->srt);
        o->srt = NULL;
    }
    if (o->http) {
        cc_http_server_stop(o->http);
        o->http = NULL;
    }
    if (o->timeline) { /* before the packager it reads */
        cc_timeline_stop(o->timeline);
        o->timeline = NULL;
    }
    /* The packager's grace and linger timers would keep the loop alive for a
     * minute: drop every stream's playlist now (held viewers were closed with
     * the HTTP server), then the delivery layer. */
    if (o->packager) {
        cc_packager_free(o->packager);
        o->packager = NULL;
    }
    if (o->hls) {
        cc_hls_delivery_free(o->hls);
        o->hls = NULL;
    }
}

int main(int argc, char **argv)
{
    int http_port = 8080, rtmp_port = 1935, fanout_threads = 0;
    int srt_port = 9000, srt_latency_ms = 120;
    const char *srt_passphrase = NULL;
    cc_strlist_t srt_stream_passphrases = {0};
    const char *bind = "0.0.0.0", *log_level = "info", *tls_cert = NULL, *tls_key = NULL, *record_dir = NULL;
    const char *redis_url = NULL;
    cc_strlist_t stream_keys = {0};
    cc_packager_config_t pcfg;
    cc_packager_config_default(&pcfg);
    int part_target_ms = (int)pcfg.hls.part_target_ms, segment_target_ms = (int)pcfg.hls.segment_target_ms;
    int window_ms = (int)pcfg.hls.window_ms, grace_ms = (int)pcfg.grace_ms, linger_ms = (int)pcfg.linger_ms;
    const cc_option_t options[] = {
        {"http-port", CC_OPT_INT, &http_port, "N", "HTTP port for playback, /metrics, /healthz and /v1/streams", 1, 65535},
        {"rtmp-port", CC_OPT_INT, &rtmp_port, "N", "RTMP ingest port", 1, 65535},
        {"fanout-threads", CC_OPT_INT, &fanout_threads, "N",
         "threads sharing the send()s when many held requests are answered at once, the event loop's included "
         "(0 = one per CPU, up to 8; 1 = the event loop alone)",
         0, 64},
        {"srt-port", CC_OPT_INT, &srt_port, "N", "SRT ingest port (UDP): srt://HOST:N?streamid=#!::r=live/KEY,m=publish", 1, 65535},
        {"srt-latency-ms", CC_OPT_INT, &srt_latency_ms, "MS", "SRT receiver latency (retransmission window)", 20, 8000},
        {"srt-passphrase", CC_OPT_STRING, &srt_passphrase, "PASS",
         "require SRT encryption with this passphrase (10-79 characters)", 0, 0},
        {"srt-stream-passphrase", CC_OPT_LIST, &srt_stream_passphrases, "NAME=PASS",
         "SRT passphrase for stream NAME only (replaces --srt-passphrase for it)", 0, 0},
        {"bind", CC_OPT_STRING, &bind, "ADDR", "address every listener binds to", 0, 0},
        {"stream-key", CC_OPT_LIST, &stream_keys, "NAME=KEY",
         "allow publishing to stream NAME with secret KEY; playback uses NAME, never KEY", 0, 0},
        {"part-target-ms", CC_OPT_INT, &part_target_ms, "MS",
         "LL-HLS part target; rounded to whole video frames (PART-TARGET)", 50, 2000},
        {"segment-target-ms", CC_OPT_INT, &segment_target_ms, "MS",
         "segments end on the first keyframe at or after this (TARGETDURATION is its rounding)", 500, 10000},
        {"window-ms", CC_OPT_INT, &window_ms, "MS", "media kept in the live playlist and in memory", 5000, 600000},
        {"grace-ms", CC_OPT_INT, &grace_ms, "MS",
         "a publisher back within this continues the playlist; after it the playlist ends (ENDLIST)", 0, 3600000},
        {"linger-ms", CC_OPT_INT, &linger_ms, "MS", "an ended stream stays servable this long", 0, 86400000},
        {"record", CC_OPT_STRING, &record_dir, "DIR", "write every segment and a VOD playlist to DIR/NAME/", 0, 0},
        {"tls-cert", CC_OPT_STRING, &tls_cert, "FILE", "PEM certificate: serve HTTPS with HTTP/2 (needs --tls-key)", 0, 0},
        {"tls-key", CC_OPT_STRING, &tls_key, "FILE", "PEM private key for --tls-cert", 0, 0},
        {"redis", CC_OPT_STRING, &redis_url, "URL",
         "publish live edges to Redis and write the overlay's cues as EXT-X-DATERANGE (off when absent)", 0, 0},
        {"log-level", CC_OPT_STRING, &log_level, "LEVEL", "debug, info, warn or error", 0, 0},
    };
    const cc_program_t prog = {
        "cartcast-origin",
        "Accepts live streams over RTMP (rtmp://HOST:PORT/live, stream key KEY) and serves them as Low-Latency HLS\n"
        "at http://HOST:HTTP-PORT/live/NAME/index.m3u8, with /metrics, /healthz and /v1/streams beside it.",
        options, sizeof(options) / sizeof(options[0])};

    char err[512];
    int exit_code = 0;
    origin_t o = {0};
    int r = cc_config_parse(&prog, argc, argv, err, sizeof(err));
    if (r == 1)
        goto out;
    if (r < 0) {
        fprintf(stderr, "cartcast-origin: %s\n", err);
        exit_code = 2;
        goto out;
    }
    cc_log_level_t level;
    if (cc_log_parse_level(log_level, &level) < 0) {
        fprintf(stderr, "cartcast-origin: --log-level must be debug, info, warn or error, got '%s'\n", log_level);
        exit_code = 2;
        goto out;
    }
    cc_log_set_level(level);
    if ((tls_cert == NULL) != (tls_key == NULL)) {
        fprintf(stderr, "cartcast-origin: --tls-cert and --tls-key go together\n");
        exit_code = 2;
        goto out;
    }
    pcfg.hls.part_target_ms = (uint32_t)part_target_ms;
    pcfg.hls.segment_target_ms = (uint32_t)segment_target_ms;
    pcfg.hls.window_ms = (uint32_t)window_ms;
    pcfg.grace_ms = (uint32_t)grace_ms;
    pcfg.linger_ms = (uint32_t)linger_ms;
    pcfg.record_dir = record_dir;
    if (part_target_ms * 2 > segment_target_ms) {
        fprintf(stderr, "cartcast-origin: --part-target-ms must be at most half of --segment-target-ms\n");
        exit_code = 2;
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);

    o.loop = uv_default_loop();
    o.hub = cc_hub_new();
    o.auth = cc_auth_new();
    for (size_t i = 0; i < stream_keys.count; i++) {
        if (cc_auth_add(o.auth, stream_keys.items[i]) < 0) {
            /* Never echo the argument: it holds a secret key. */
            fprintf(stderr, "cartcast-origin: --stream-key #%zu is not NAME=KEY with NAME of 1-64 [A-Za-z0-9_-] "
                            "and a KEY of 1-256 printable characters without spaces (or the KEY is repeated)\n",
                    i + 1);
            exit_code = 2;
            goto out;
        }
    }
    if (stream_keys.count == 0)
        cc_log_warn("origin.config", "msg=\"no --stream-key given: every publish will be refused\"");

    cc_packager_new(o.loop, o.hub, &pcfg, &o.packager);
    o.hls = cc_hls_delivery_new(o.loop, lookup_stream, &o);
    if (o.packager == NULL || o.hls == NULL) {
        fprintf(stderr, "cartcast-origin: out of memory\n");
        exit_code = 1;
        goto out;
    }
    if (redis_url) {
        cc_redis_url_t rurl;
        char rerr[256];
        if (cc_redis_url_parse(redis_url, &rurl, rerr, sizeof(rerr)) < 0) {
            fprintf(stderr, "cartcast-origin: --redis: %s\n", rerr);
            exit_code = 2;
            goto out;
        }
        if ((r = cc_timeline_start(o.loop, o.hub, o.packager, &rurl, &o.timeline)) < 0) {
            fprintf(stderr, "cartcast-origin: --redis: %s\n", cc_strerror(r));
            exit_code = 1;
            goto out;
        }
    }

    cc_rtmp_config_t rcfg;
    cc_rtmp_config_default(&rcfg);
    rcfg.bind = bind;
    rcfg.port = rtmp_port;
    if ((r = cc_rtmp_server_start(o.loop, &rcfg, o.hub, o.auth, &o.rtmp)) < 0) {
        fprintf(stderr, "cartcast-origin: cannot listen for RTMP on %s:%d: %s\n", bind, rtmp_port, cc_strerror(r));
        exit_code = 1;
        goto out;
    }
    cc_srt_config_t scfg;
    cc_srt_config_default(&scfg);
    scfg.bind = bind;
    scfg.port = srt_port;
    scfg.latency_ms = (uint32_t)srt_latency_ms;
    scfg.passphrase = srt_passphrase;
    scfg.stream_passphrases = (const char *const *)srt_stream_passphrases.items;
    scfg.nstream_passphrases = srt_stream_passphrases.count;
    if (cc_srt_config_check(&scfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "cartcast-origin: %s\n", err); /* never echoes a passphrase */
        cc_rtmp_server_stop(o.rtmp);
        uv_run(o.loop, UV_RUN_DEFAULT);
        exit_code = 2;
        goto out;
    }
    if ((r = cc_srt_server_start(o.loop, &scfg, o.hub, o.auth, &o.srt)) < 0) {
        fprintf(stderr, "cartcast-origin: cannot listen for SRT on %s:%d: %s\n", bind, srt_port, cc_strerror(r));
        cc_rtmp_server_stop(o.rtmp);
        uv_run(o.loop, UV_RUN_DEFAULT);
        exit_code = 1;
        goto out;
    }

    const cc_http_route_t routes[] = {
        {"GET", "/healthz", handle_healthz, &o},
        {"GET", "/metrics", handle_metrics, &o},
        {"GET", "/v1/streams", handle_streams, &o},
        cc_hls_delivery_route(o.hls),
    };
    cc_http_config_t hcfg = {.bind = bind, .port = http_port, .routes = routes,
                             .nroutes = sizeof(routes) / sizeof(routes[0]), .server_name = "origin",
                             .tls_cert = tls_cert, .tls_key = tls_key, .fanout_threads = (unsigned)fanout_threads};
    if ((r = cc_http_server_start(o.loop, &hcfg, &o.http)) < 0) {
        fprintf(stderr, "cartcast-origin: cannot listen for HTTP on %s:%d: %s\n", bind, http_port, cc_strerror(r));
        cc_rtmp_server_stop(o.rtmp);
        cc_srt_server_stop(o.srt);
        uv_run(o.loop, UV_RUN_DEFAULT);
        exit_code = 1;
        goto out;
    }

    uv_signal_init(o.loop, &o.sigint);
    uv_signal_init(o.loop, &o.sigterm);
    o.sigint.data = o.sigterm.data = &o;
    uv_signal_start(&o.sigint, on_signal, SIGINT);
    uv_signal_start(&o.sigterm, on_signal, SIGTERM);

    cc_log_info("origin.start", "rtmp=%s:%d http=%s:%d stream_keys=%zu", bind, rtmp_port, bind, http_port,
                stream_keys.count);
    uv_run(o.loop, UV_RUN_DEFAULT);
    cc_log_info("origin.exit", "status=clean");

out:
    if (o.timeline)
        cc_timeline_stop(o.timeline); /* only on an early exit: on_signal stops it otherwise */
    if (o.packager)
        cc_packager_free(o.packager); /* only on an early exit: on_signal frees it otherwise */
    if (o.hls)
        cc_hls_delivery_free(o.hls);
    if (o.hub)
        cc_hub_free(o.hub);
    if (o.loop)
        uv_run(o.loop, UV_RUN_DEFAULT); /* timers' and recorders' close callbacks */
    if (o.auth)
        cc_auth_free(o.auth);
    if (o.loop)
        uv_loop_close(o.loop);
    cc_strlist_free(&stream_keys);
    cc_strlist_free(&srt_stream_passphrases);
    cc_config_release();
    return exit_code;
}

/* cartcast-orders: the order microservice (docs/orders.md).
 *
 *   cartcast-orders [--redis URL] [--http-port 8091] ...   the daemon
 *   cartcast-orders stock set SKU N [--limit L]            stock administration
 *   cartcast-orders stock add SKU N                        (N may be negative)
 *   cartcast-orders stock get SKU
 *   cartcast-orders coins add VIEWER N | coins get VIEWER   gift coins (coins.c)
 *
 * One libuv loop runs the two Redis connections (hiredis), the HTTP server
 * (libwebsockets, foreign loop) and the signal handlers. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "cartcast/config.h"
#include "cartcast/err.h"
#include "cartcast/http.h"
#include "cartcast/log.h"
#include "cartcast/redis.h"
#include "orders/buy.h"
#include "orders/coins.h"
#include "orders/service.h"

#define METRICS_MAX (4u << 20)

typedef struct app {
    uv_loop_t *loop;
    cc_orders_t *orders;
    cc_http_server_t *http;
    uv_signal_t sigint, sigterm;
} app_t;

static int handle_healthz(cc_http_req_t *req, void *data)
{
    app_t *a = data;
    char why[700], body[720];
    int ok = cc_orders_healthy(a->orders, why, sizeof(why));
    snprintf(body, sizeof(body), "%s\n", why);
    return cc_http_respond_text(req, ok ? 200 : 503, "text/plain", body);
}

static int handle_metrics(cc_http_req_t *req, void *data)
{
    app_t *a = data;
    cc_dynbuf_t d;
    cc_dynbuf_init(&d, METRICS_MAX);
    int r = cc_orders_render_metrics(a->orders, &d);
    if (r < 0) {
        cc_dynbuf_free(&d);
        return cc_http_respond_text(req, 500, "text/plain", "internal error\n");
    }
    cc_buf_t *body = cc_dynbuf_take(&d);
    cc_dynbuf_free(&d);
    if (body == NULL)
        return cc_http_respond_text(req, 500, "text/plain", "out of memory\n");
    r = cc_http_respond(req, 200, "text/plain; version=0.0.4", body, NULL, 0);
    cc_buf_unref(body);
    return r;
}

static void on_signal(uv_signal_t *h, int signum)
{
    app_t *a = h->data;
    cc_log_info("orders.stop", "signal=%d", signum);
    uv_signal_stop(&a->sigint);
    uv_signal_stop(&a->sigterm);
    uv_close((uv_handle_t *)&a->sigint, NULL);
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    if (a->http) {
        cc_http_server_stop(a->http); /* held sales requests get their on_close */
        a->http = NULL;
    }
    cc_orders_stop(a->orders);
}

/* ---- stock administration ---------------------------------------------------------- */

typedef struct stock_cmd {
    uv_loop_t *loop;
    cc_redis_t *r;
    uv_timer_t deadline;
    const char *verb, *sku, *units, *limit;
    int exit_code;
    int64_t stock, version, sold, lim;
} stock_cmd_t;

static void stock_finish(stock_cmd_t *s, int code)
{
    s->exit_code = code;
    uv_timer_stop(&s->deadline);
    uv_close((uv_handle_t *)&s->deadline, NULL);
    cc_redis_free(s->r);
    s->r = NULL;
}

static int64_t reply_int(const redisReply *e)
{
    if (e->type == REDIS_REPLY_INTEGER)
        return e->integer;
    if (e->type == REDIS_REPLY_STRING)
        return strtoll(e->str, NULL, 10);
    return -1;
}

static void on_stock_event(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    stock_cmd_t *s = data;
    if (status < 0) {
        fprintf(stderr, "cartcast-orders: stock set, but announcing it on %s failed: %s\n", CC_ORDERS_K_STOCK,
                cc_redis_status_str(status, reply));
        stock_finish(s, 1);
        return;
    }
    printf("{\"sku\":\"%s\",\"stock\":%lld,\"sold\":%lld,\"limit\":%lld,\"version\":%lld}\n", s->sku,
           (long long)s->stock, (long long)s->sold, (long long)s->lim, (long long)s->version);
    stock_finish(s, 0);
}

static void on_stock_reply(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    stock_cmd_t *s = data;
    if (status < 0) {
        fprintf(stderr, "cartcast-orders: stock %s %s: %s\n", s->verb, s->sku, cc_redis_status_str(status, reply));
        stock_finish(s, 1);
        return;
    }
    if (strcmp(s->verb, "get") == 0) {
        /* HMGET avail sold limit version */
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4) {
            fprintf(stderr, "cartcast-orders: unexpected reply from Redis\n");
            stock_finish(s, 1);
            return;
        }
        if (reply->element[0]->type == REDIS_REPLY_NIL) {
            fprintf(stderr, "cartcast-orders: no stock set for SKU '%s' (cartcast-orders stock set %s N)\n", s->sku,
                    s->sku);
            stock_finish(s, 1);
            return;
        }
        long long lim = reply->element[2]->type == REDIS_REPLY_NIL ? -1 : reply_int(reply->element[2]);
        printf("{\"sku\":\"%s\",\"stock\":%lld,\"sold\":%lld,\"limit\":%lld,\"version\":%lld}\n", s->sku,
               (long long)reply_int(reply->element[0]),
               reply->element[1]->type == REDIS_REPLY_NIL ? 0LL : (long long)reply_int(reply->element[1]), lim,
               reply->element[3]->type == REDIS_REPLY_NIL ? 0LL : (long long)reply_int(reply->element[3]));
        stock_finish(s, 0);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4) {
        fprintf(stderr, "cartcast-orders: unexpected reply from Redis\n");
        stock_finish(s, 1);
        return;
    }
    s->stock = reply_int(reply->element[0]);
    s->version = reply_int(reply->element[1]);
    s->sold = reply_int(reply->element[2]);
    s->lim = reply_int(reply->element[3]);
    /* Tell the overlays (docs/redis-schema.md: the stock-change stream). */
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    cc_redis_args_add(&a, "XADD");
    cc_redis_args_add(&a, CC_ORDERS_K_STOCK);
    cc_redis_args_add(&a, "MAXLEN");
    cc_redis_args_add(&a, "~");
    cc_redis_args_add(&a, "10000");
    cc_redis_args_add(&a, "*");
    cc_redis_args_add(&a, "sku");
    cc_redis_args_add(&a, s->sku);
    cc_redis_args_add(&a, "stock");
    cc_redis_args_addi(&a, s->stock);
    cc_redis_args_add(&a, "version");
    cc_redis_args_addi(&a, s->version);
    cc_redis_args_add(&a, "source");
    cc_redis_args_add(&a, "admin");
    if (cc_redis_send(r, &a, on_stock_event, s) < 0) {
        fprintf(stderr, "cartcast-orders: Redis connection lost\n");
        stock_finish(s, 1);
    }
}

static void on_stock_ready(cc_redis_t *r, void *data)
{
    stock_cmd_t *s = data;
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    if (strcmp(s->verb, "get") == 0) {
        cc_redis_args_add(&a, "HMGET");
        cc_redis_args_addf(&a, "cc:{sku:%s}:stock", s->sku);
        cc_redis_args_add(&a, "avail");
        cc_redis_args_add(&a, "sold");
        cc_redis_args_add(&a, "limit");
        cc_redis_args_add(&a, "version");
    } else {
        cc_redis_args_add(&a, "EVAL");
        cc_redis_args_add(&a, cc_orders_lua[CC_ORDERS_LUA_STOCK_SET]);
        cc_redis_args_add(&a, "1");
        cc_redis_args_addf(&a, "cc:{sku:%s}:stock", s->sku);
        cc_redis_args_add(&a, s->units);
        cc_redis_args_add(&a, s->limit ? s->limit : "");
        cc_redis_args_add(&a, strcmp(s->verb, "add") == 0 ? "add" : "set");
    }
    if (cc_redis_send(r, &a, on_stock_reply, s) < 0) {
        fprintf(stderr, "cartcast-orders: Redis connection lost\n");
        stock_finish(s, 1);
    }
}

static void on_stock_deadline(uv_timer_t *t)
{
    stock_cmd_t *s = t->data;
    fprintf(stderr, "cartcast-orders: cannot reach Redis: %s\n", cc_redis_why(s->r));
    stock_finish(s, 1);
}

static int valid_int(const char *s, int allow_neg)
{
    if (allow_neg && *s == '-')
        s++;
    if (*s == '\0' || strlen(s) > 12)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

static int stock_main(int argc, char **argv)
{
    const char *redis_url = "redis://127.0.0.1:6379", *log_level = "warn", *limit = NULL;
    const cc_option_t options[] = {
        {"redis", CC_OPT_STRING, &redis_url, "URL", "redis://HOST:PORT[/DB]", 0, 0},
        {"limit", CC_OPT_STRING, &limit, "N", "stock set: units one viewer may buy of this SKU (0 = no limit)", 0, 0},
        {"log-level", CC_OPT_STRING, &log_level, "LEVEL", "debug, info, warn or error", 0, 0},
    };
    const cc_program_t prog = {"cartcast-orders stock",
                               "cartcast-orders stock set SKU N [--limit L] | stock add SKU N | stock get SKU",
                               options, sizeof(options) / sizeof(options[0])};
    const char *usage = "usage: cartcast-orders stock set SKU N [--limit L] [--redis URL]\n"
                        "       cartcast-orders stock add SKU N [--redis URL]   (N may be negative)\n"
                        "       cartcast-orders stock get SKU [--redis URL]\n";
    if (argc < 4 || (strcmp(argv[2], "set") != 0 && strcmp(argv[2], "add") != 0 && strcmp(argv[2], "get") != 0)) {
        fputs(usage, stderr);
        return 2;
    }
    stock_cmd_t s = {0};
    s.verb = argv[2];
    s.sku = argv[3];
    int npos = 4;
    if (strcmp(s.verb, "get") != 0) {
        if (argc < 5) {
            fputs(usage, stderr);
            return 2;
        }
        s.units = argv[4];
        npos = 5;
        if (!valid_int(s.units, strcmp(s.verb, "add") == 0)) {
            fprintf(stderr, "cartcast-orders: stock %s: N must be a whole number of units%s, got '%s'\n", s.verb,
                    strcmp(s.verb, "add") == 0 ? "" : " >= 0", s.units);
            return 2;
        }
    }
    cc_iov_t fv[2] = {cc_iov("sku", 3), cc_iov(s.sku, strlen(s.sku))};
    cc_buy_t tmp;
    char reason[200];
    cc_buy_parse(fv, 2, &tmp, reason, sizeof(reason));
    if (tmp.sku[0] == '\0') {
        fprintf(stderr, "cartcast-orders: SKU must be 1-64 characters of [A-Za-z0-9._-], got '%s'\n", s.sku);
        return 2;
    }
    char *args[64];
    int n = 0;
    args[n++] = argv[0];
    for (int i = npos; i < argc && n < 63; i++)
        args[n++] = argv[i];
    char err[512];
    int r = cc_config_parse(&prog, n, args, err, sizeof(err));
    if (r == 1)
        return 0;
    if (r < 0) {
        fprintf(stderr, "cartcast-orders: %s\n", err);
        return 2;
    }
    if (limit && (!valid_int(limit, 0) || strcmp(s.verb, "set") != 0)) {
        fprintf(stderr, "cartcast-orders: --limit must be a whole number >= 0 and goes with 'stock set'\n");
        cc_config_release();
        return 2;
    }
    s.limit = limit;
    cc_log_level_t level;
    if (cc_log_parse_level(log_level, &level) == 0)
        cc_log_set_level(level);
    cc_redis_config_t rc;
    cc_redis_config_default(&rc);
    if (cc_redis_url_parse(redis_url, &rc.url, err, sizeof(err)) < 0) {
        fprintf(stderr, "cartcast-orders: --redis: %s\n", err);
        cc_config_release();
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    s.loop = uv_default_loop();
    s.exit_code = 1;
    rc.name = "admin";
    rc.client_name = "cartcast-orders";
    rc.on_ready = on_stock_ready;
    rc.data = &s;
    uv_timer_init(s.loop, &s.deadline);
    s.deadline.data = &s;
    uv_timer_start(&s.deadline, on_stock_deadline, 5000, 0);
    if (cc_redis_new(s.loop, &rc, &s.r) < 0) {
        fprintf(stderr, "cartcast-orders: out of memory\n");
        uv_close((uv_handle_t *)&s.deadline, NULL);
    }
    uv_run(s.loop, UV_RUN_DEFAULT);
    uv_loop_close(s.loop);
    cc_config_release();
    return s.exit_code;
}

/* ---- the daemon ---------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "stock") == 0)
        return stock_main(argc, argv);
    if (argc > 1 && strcmp(argv[1], "coins") == 0)
        return cc_orders_coins_main(argc, argv); /* gift coins: coins.c */

    cc_orders_config_t ocfg;
    cc_orders_config_default(&ocfg);
    int http_port = 8091;
    const char *bind = "0.0.0.0", *log_level = "info", *redis_url = "redis://127.0.0.1:6379", *consumer = NULL;
    const char *commission = "10";
    int claim_idle_ms = (int)ocfg.claim_idle_ms, max_deliveries = (int)ocfg.max_deliveries;
    int per_viewer_limit = (int)ocfg.default_limit, idem_ttl_s = (int)ocfg.idem_ttl_s;
    int orders_ttl_s = (int)ocfg.orders_ttl_s;
    int batch = (int)ocfg.batch, max_inflight = (int)ocfg.max_inflight;
    int trim_interval_ms = (int)ocfg.trim_interval_ms, buys_keep_ms = (int)ocfg.buys_keep_ms;
    int events_keep_ms = (int)ocfg.events_keep_ms, command_timeout_ms = (int)ocfg.command_timeout_ms;
    int block_ms = (int)ocfg.block_ms;
    const cc_option_t options[] = {
        {"redis", CC_OPT_STRING, &redis_url, "URL", "Redis: redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]", 0, 0},
        {"http-port", CC_OPT_INT, &http_port, "N", "HTTP port for /healthz, /metrics and /v1/.../sales", 1, 65535},
        {"bind", CC_OPT_STRING, &bind, "ADDR", "address the HTTP server binds to", 0, 0},
        {"consumer", CC_OPT_STRING, &consumer, "NAME",
         "consumer name in the group, unique per instance (default HOSTNAME-PID)", 0, 0},
        {"claim-idle-ms", CC_OPT_INT, &claim_idle_ms, "MS",
         "reclaim buys another consumer left pending this long (XAUTOCLAIM)", 10, 3600000},
        {"max-deliveries", CC_OPT_INT, &max_deliveries, "N",
         "a buy delivered more often than this goes to the dead-letter stream", 1, 1000},
        {"commission-pct", CC_OPT_STRING, &commission, "PCT", "creator commission in percent (0-100, e.g. 12.5)", 0,
         0},
        {"per-viewer-limit", CC_OPT_INT, &per_viewer_limit, "N",
         "units of one SKU one viewer may buy when the SKU sets no limit (0 = none)", 0, 1000000},
        {"idempotency-ttl-s", CC_OPT_INT, &idem_ttl_s, "S", "how long a buy's result answers its retries", 60,
         365 * 86400},
        {"orders-ttl-s", CC_OPT_INT, &orders_ttl_s, "S",
         "a SKU's order records expire this long after its last order (0 = kept forever)", 0, 3650 * 86400},
        {"batch", CC_OPT_INT, &batch, "N", "buys read per XREADGROUP (and per script call)", 1, 256},
        {"max-inflight", CC_OPT_INT, &max_inflight, "N", "buys processed at once by this instance", 1, 100000},
        {"trim-interval-ms", CC_OPT_INT, &trim_interval_ms, "MS", "how often streams are trimmed (0 = never)", 0,
         3600000},
        {"buys-keep-ms", CC_OPT_INT, &buys_keep_ms, "MS", "keep acknowledged buys this long before trimming", 0,
         86400000 * 7},
        {"events-keep-ms", CC_OPT_INT, &events_keep_ms, "MS",
         "keep order events this long (longer while a consumer group on them still needs them)", 1000,
         2000000000},
        {"block-ms", CC_OPT_INT, &block_ms, "MS", "XREADGROUP BLOCK time on the reading connection", 10, 600000},
        {"command-timeout-ms", CC_OPT_INT, &command_timeout_ms, "MS", "Redis command timeout", 50, 600000},
        {"log-level", CC_OPT_STRING, &log_level, "LEVEL", "debug, info, warn or error", 0, 0},
    };
    const cc_program_t prog = {
        "cartcast-orders",
        "Turns buys from the Redis orders stream into orders (consumer group, atomic stock, attribution) and\n"
        "publishes each result on the events stream.  Stock: cartcast-orders stock set|add|get SKU [N].",
        options, sizeof(options) / sizeof(options[0])};

    char err[512];
    int exit_code = 0;
    app_t a = {0};
    int r = cc_config_parse(&prog, argc, argv, err, sizeof(err));
    if (r == 1) {
        printf("\nStock administration:\n  cartcast-orders stock set SKU N [--limit L] [--redis URL]\n"
               "  cartcast-orders stock add SKU N [--redis URL]\n  cartcast-orders stock get SKU [--redis URL]\n");
        /* gift coins (coins.c, docs/gifts-and-shop.md) */
        printf("\nGift coins:\n  cartcast-orders coins add VIEWER N [--redis URL]   (N may be negative)\n"
               "  cartcast-orders coins get VIEWER [--redis URL]\n");
        goto out;
    }
    if (r < 0) {
        fprintf(stderr, "cartcast-orders: %s\n", err);
        exit_code = 2;
        goto out;
    }
    cc_log_level_t level;
    if (cc_log_parse_level(log_level, &level) < 0) {
        fprintf(stderr, "cartcast-orders: --log-level must be debug, info, warn or error, got '%s'\n", log_level);
        exit_code = 2;
        goto out;
    }
    cc_log_set_level(level);
    cc_redis_url_t url;
    if (cc_redis_url_parse(redis_url, &url, err, sizeof(err)) < 0) {
        fprintf(stderr, "cartcast-orders: --redis: %s\n", err);
        exit_code = 2;
        goto out;
    }
    if (cc_buy_parse_pct(commission, &ocfg.commission_bp) < 0) {
        fprintf(stderr, "cartcast-orders: --commission-pct must be 0-100 with at most two decimals, got '%s'\n",
                commission);
        exit_code = 2;
        goto out;
    }
    if (max_inflight < batch) {
        fprintf(stderr, "cartcast-orders: --max-inflight must be at least --batch\n");
        exit_code = 2;
        goto out;
    }
    char consumer_buf[128];
    if (consumer == NULL) {
        char host[64] = "host";
        gethostname(host, sizeof(host) - 1);
        host[sizeof(host) - 1] = '\0';
        snprintf(consumer_buf, sizeof(consumer_buf), "%s-%d", host, (int)getpid());
        consumer = consumer_buf;
    }
    if (consumer[0] == '\0' || strlen(consumer) > 100 || strpbrk(consumer, " \t\r\n") != NULL) {
        fprintf(stderr, "cartcast-orders: --consumer must be 1-100 characters without spaces\n");
        exit_code = 2;
        goto out;
    }
    ocfg.consumer = consumer;
    ocfg.claim_idle_ms = (uint32_t)claim_idle_ms;
    ocfg.max_deliveries = (uint32_t)max_deliveries;
    ocfg.default_limit = (uint32_t)per_viewer_limit;
    ocfg.idem_ttl_s = (uint32_t)idem_ttl_s;
    ocfg.orders_ttl_s = (uint32_t)orders_ttl_s;
    ocfg.batch = (uint32_t)batch;
    ocfg.max_inflight = (uint32_t)max_inflight;
    ocfg.trim_interval_ms = (uint32_t)trim_interval_ms;
    ocfg.buys_keep_ms = (uint32_t)buys_keep_ms;
    ocfg.events_keep_ms = (uint32_t)events_keep_ms;
    ocfg.command_timeout_ms = (uint32_t)command_timeout_ms;
    ocfg.block_ms = (uint32_t)block_ms;
    signal(SIGPIPE, SIG_IGN);

    a.loop = uv_default_loop();
    if ((r = cc_orders_start(a.loop, &url, &ocfg, &a.orders)) < 0) {
        fprintf(stderr, "cartcast-orders: cannot start: %s\n", cc_strerror(r));
        exit_code = 1;
        goto out;
    }
    const cc_http_route_t routes[] = {
        {"GET", "/healthz", handle_healthz, &a},
        {"GET", "/metrics", handle_metrics, &a},
        {"GET", "/v1/creators/", cc_orders_handle_creator_sales, a.orders},
        {"GET", "/v1/streams/", cc_orders_handle_stream_sales, a.orders},
    };
    cc_http_config_t hcfg = {.bind = bind, .port = http_port, .routes = routes,
                             .nroutes = sizeof(routes) / sizeof(routes[0]), .server_name = "orders"};
    if ((r = cc_http_server_start(a.loop, &hcfg, &a.http)) < 0) {
        fprintf(stderr, "cartcast-orders: cannot listen for HTTP on %s:%d: %s\n", bind, http_port, cc_strerror(r));
        cc_orders_stop(a.orders);
        uv_run(a.loop, UV_RUN_DEFAULT);
        exit_code = 1;
        goto out;
    }
    uv_signal_init(a.loop, &a.sigint);
    uv_signal_init(a.loop, &a.sigterm);
    a.sigint.data = a.sigterm.data = &a;
    uv_signal_start(&a.sigint, on_signal, SIGINT);
    uv_signal_start(&a.sigterm, on_signal, SIGTERM);
    char shown[300];
    cc_log_info("orders.start", "redis=%s http=%s:%d consumer=%s commission_bp=%d claim_idle_ms=%d max_deliveries=%d",
                cc_redis_url_format(&url, shown, sizeof(shown)), bind, http_port, consumer, ocfg.commission_bp,
                claim_idle_ms, max_deliveries);
    uv_run(a.loop, UV_RUN_DEFAULT);
    cc_log_info("orders.exit", "status=clean");

out:
    if (a.loop)
        uv_loop_close(a.loop);
    cc_config_release();
    return exit_code;
}

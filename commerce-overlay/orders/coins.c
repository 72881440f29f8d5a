/* cartcast-orders coins ... (coins.h). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "cartcast/config.h"
#include "cartcast/err.h"
#include "cartcast/log.h"
#include "cartcast/redis.h"
#include "orders/coins.h"

extern const char cc_orders_lua_coins[]; /* commerce-overlay/lua/coins.lua, embedded by CMake */

#define COINS_MAX 1000000000LL /* per call, either way */

typedef struct coins_cmd {
    cc_redis_t *r;
    uv_timer_t deadline;
    const char *verb, *viewer, *n;
    int exit_code;
} coins_cmd_t;

static void coins_finish(coins_cmd_t *c, int code)
{
    c->exit_code = code;
    uv_timer_stop(&c->deadline);
    uv_close((uv_handle_t *)&c->deadline, NULL);
    cc_redis_free(c->r);
    c->r = NULL;
}

static void on_coins_reply(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    coins_cmd_t *c = data;
    if (status == CC_REDIS_EREPLY && reply && reply->str && strncmp(reply->str, "NEGATIVE", 8) == 0) {
        fprintf(stderr, "cartcast-orders: coins add %s %s: refused, the %s\n", c->viewer, c->n, reply->str + 9);
        coins_finish(c, 1);
        return;
    }
    if (status < 0 || (reply->type != REDIS_REPLY_INTEGER && reply->type != REDIS_REPLY_STRING &&
                       reply->type != REDIS_REPLY_NIL)) {
        fprintf(stderr, "cartcast-orders: coins %s %s: %s\n", c->verb, c->viewer, cc_redis_status_str(status, reply));
        coins_finish(c, 1);
        return;
    }
    long long bal = reply->type == REDIS_REPLY_INTEGER ? reply->integer
                    : reply->type == REDIS_REPLY_STRING ? strtoll(reply->str, NULL, 10)
                                                        : 0;
    printf("{\"viewer\":\"%s\",\"balance\":%lld}\n", c->viewer, bal);
    coins_finish(c, 0);
}

static void on_coins_ready(cc_redis_t *r, void *data)
{
    coins_cmd_t *c = data;
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    if (strcmp(c->verb, "get") == 0) {
        cc_redis_args_add(&a, "HGET");
        cc_redis_args_add(&a, "cc:{orders}:coins");
        cc_redis_args_add(&a, c->viewer);
    } else {
        cc_redis_args_add(&a, "EVAL");
        cc_redis_args_add(&a, cc_orders_lua_coins);
        cc_redis_args_add(&a, "3");
        cc_redis_args_add(&a, "cc:{orders}:coins");
        cc_redis_args_add(&a, "cc:{orders}:gifts:total");
        cc_redis_args_add(&a, "cc:{orders}:events");
        cc_redis_args_add(&a, c->viewer);
        cc_redis_args_add(&a, c->n);
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        cc_redis_args_addi(&a, (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000); /* the entry's "at" */
    }
    if (cc_redis_send(r, &a, on_coins_reply, c) < 0) {
        fprintf(stderr, "cartcast-orders: Redis connection lost\n");
        coins_finish(c, 1);
    }
}

static void on_coins_deadline(uv_timer_t *t)
{
    coins_cmd_t *c = t->data;
    fprintf(stderr, "cartcast-orders: cannot reach Redis: %s\n", cc_redis_why(c->r));
    coins_finish(c, 1);
}

/* The viewer field of the orders stream: 1-128 of [A-Za-z0-9._:@-]. */
static int viewer_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || strchr("._:@-", *s)))
            return 0;
    return 1;
}

static int coins_ok(const char *s)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    return *s && *end == '\0' && strlen(s) <= 11 && v != 0 && v >= -COINS_MAX && v <= COINS_MAX;
}

int cc_orders_coins_main(int argc, char **argv)
{
    const char *redis_url = "redis://127.0.0.1:6379", *log_level = "warn";
    const cc_option_t options[] = {
        {"redis", CC_OPT_STRING, &redis_url, "URL", "redis://HOST:PORT[/DB]", 0, 0},
        {"log-level", CC_OPT_STRING, &log_level, "LEVEL", "debug, info, warn or error", 0, 0},
    };
    const cc_program_t prog = {"cartcast-orders coins",
                               "cartcast-orders coins add VIEWER N | coins get VIEWER: a viewer's gift coins\n"
                               "(N may be negative to take coins back; a balance never goes below 0)",
                               options, sizeof(options) / sizeof(options[0])};
    const char *usage = "usage: cartcast-orders coins add VIEWER N [--redis URL]   (N: non-zero integer, may be negative)\n"
                        "       cartcast-orders coins get VIEWER [--redis URL]\n";
    if (argc >= 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc < 4 || (strcmp(argv[2], "add") != 0 && strcmp(argv[2], "get") != 0)) {
        fputs(usage, stderr);
        return 2;
    }
    coins_cmd_t c = {0};
    c.verb = argv[2];
    c.viewer = argv[3];
    int npos = 4;
    if (!viewer_ok(c.viewer)) {
        fprintf(stderr, "cartcast-orders: VIEWER must be 1-128 characters of [A-Za-z0-9._:@-], got '%s'\n", c.viewer);
        return 2;
    }
    if (strcmp(c.verb, "add") == 0) {
        if (argc < 5 || !coins_ok(argv[4])) {
            fprintf(stderr, "cartcast-orders: coins add: N must be a non-zero whole number of coins between %lld and "
                            "%lld, got '%s'\n", -COINS_MAX, COINS_MAX, argc < 5 ? "" : argv[4]);
            return 2;
        }
        c.n = argv[4];
        npos = 5;
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
    uv_loop_t *loop = uv_default_loop();
    c.exit_code = 1;
    rc.name = "admin";
    rc.client_name = "cartcast-orders";
    rc.on_ready = on_coins_ready;
    rc.data = &c;
    uv_timer_init(loop, &c.deadline);
    c.deadline.data = &c;
    uv_timer_start(&c.deadline, on_coins_deadline, 5000, 0);
    if (cc_redis_new(loop, &rc, &c.r) < 0) {
        fprintf(stderr, "cartcast-orders: out of memory\n");
        uv_close((uv_handle_t *)&c.deadline, NULL);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    cc_config_release();
    return c.exit_code;
}

/* A driver for core/redis.c used by test_redis_client.py: one command client
 * and one blocking-read client on a real redis-server.
 *
 *   redis_client_driver URL [INTERVAL_MS] [TIMEOUT_MS] [PING_MS]
 *
 * Every INTERVAL_MS it sends INCR cc:test:n on the command client, and keeps
 * one XREAD BLOCK 1000 on cc:test:stream going on the blocking client; it
 * prints one line per event on stdout:
 *   ready CONN | down CONN ERR WHY | ok SEQ N LAT_US | fail SEQ STATUS_NAME LAT_US MSG |
 *   reject SEQ STATUS_NAME | xread COUNT | xfail STATUS_NAME
 * SEQ numbers the commands: each must get exactly one ok, fail or reject.
 * and exits 0 on SIGTERM/SIGINT once the clients are freed (ASan checks it). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cartcast/log.h"
#include "cartcast/redis.h"

static cc_redis_t *cmd, *blk;
static uv_timer_t tick;
static uv_signal_t sigterm, sigint;
static int blk_reading;
static int stopping;
static unsigned long seq;

typedef struct sent {
    unsigned long seq;
    uint64_t t0;
} sent_t;

static void on_ready(cc_redis_t *r, void *data);

static void on_incr(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    sent_t *s = data;
    uint64_t lat = (uv_hrtime() - s->t0) / 1000;
    if (status == 0 && reply->type == REDIS_REPLY_INTEGER)
        printf("ok %lu %lld %llu\n", s->seq, reply->integer, (unsigned long long)lat);
    else
        printf("fail %lu %s %llu %s\n", s->seq, cc_err_name(status), (unsigned long long)lat,
               cc_redis_status_str(status, reply));
    fflush(stdout);
    free(s);
}

static void start_xread(void);

static void on_xread(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    blk_reading = 0;
    if (status < 0) {
        printf("xfail %s\n", cc_err_name(status));
    } else {
        size_t n = 0;
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0)
            n = reply->element[0]->element[1]->elements;
        printf("xread %zu\n", n);
    }
    fflush(stdout);
    if (!stopping)
        start_xread();
}

static void start_xread(void)
{
    if (blk_reading || !cc_redis_ready(blk))
        return;
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    cc_redis_args_add(&a, "XREAD");
    cc_redis_args_add(&a, "BLOCK");
    cc_redis_args_addi(&a, 1000);
    cc_redis_args_add(&a, "STREAMS");
    cc_redis_args_add(&a, "cc:test:stream");
    cc_redis_args_add(&a, "$");
    a.timeout_ms = 1000 + 1000;
    if (cc_redis_send(blk, &a, on_xread, NULL) == 0)
        blk_reading = 1;
}

static void on_tick(uv_timer_t *t)
{
    sent_t *s = malloc(sizeof(*s));
    s->seq = ++seq;
    s->t0 = uv_hrtime();
    int rc = cc_redis_command(cmd, on_incr, s, "INCR %s", "cc:test:n");
    if (rc < 0) {
        printf("reject %lu %s\n", s->seq, cc_err_name(rc));
        fflush(stdout);
        free(s);
    }
}

static void on_ready(cc_redis_t *r, void *data)
{
    printf("ready %s\n", cc_redis_name(r));
    fflush(stdout);
    if (r == blk)
        start_xread();
}

static void on_down(cc_redis_t *r, int err, const char *why, void *data)
{
    printf("down %s %s %s\n", cc_redis_name(r), cc_err_name(err), why);
    fflush(stdout);
}

static void on_signal(uv_signal_t *h, int sig)
{
    stopping = 1;
    uv_signal_stop(&sigterm);
    uv_signal_stop(&sigint);
    uv_close((uv_handle_t *)&sigterm, NULL);
    uv_close((uv_handle_t *)&sigint, NULL);
    uv_timer_stop(&tick);
    uv_close((uv_handle_t *)&tick, NULL);
    cc_redis_free(cmd);
    cc_redis_free(blk);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s URL [INTERVAL_MS] [TIMEOUT_MS] [PING_MS]\n", argv[0]);
        return 2;
    }
    int interval = argc > 2 ? atoi(argv[2]) : 20;
    int timeout = argc > 3 ? atoi(argv[3]) : 500;
    int ping = argc > 4 ? atoi(argv[4]) : 200;
    cc_log_set_level(CC_LOG_DEBUG);
    cc_redis_config_t cfg;
    cc_redis_config_default(&cfg);
    char err[256];
    if (cc_redis_url_parse(argv[1], &cfg.url, err, sizeof(err)) < 0) {
        fprintf(stderr, "redis_client_driver: %s\n", err);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    uv_loop_t *loop = uv_default_loop();
    cfg.connect_timeout_ms = (uint32_t)timeout;
    cfg.command_timeout_ms = (uint32_t)timeout;
    cfg.ping_interval_ms = (uint32_t)ping;
    cfg.backoff_max_ms = 500;
    cfg.client_name = "cc-test";
    cfg.on_ready = on_ready;
    cfg.on_down = on_down;
    cfg.name = "cmd";
    if (cc_redis_new(loop, &cfg, &cmd) < 0)
        return 1;
    cfg.name = "block";
    if (cc_redis_new(loop, &cfg, &blk) < 0)
        return 1;
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, on_tick, (uint64_t)interval, (uint64_t)interval);
    uv_signal_init(loop, &sigterm);
    uv_signal_init(loop, &sigint);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_run(loop, UV_RUN_DEFAULT);
    printf("exit\n");
    fflush(stdout);
    return uv_loop_close(loop) == 0 ? 0 : 3;
}

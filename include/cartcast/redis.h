/* The shared Redis client: hiredis 0.14.1 async on the caller's libuv loop,
 * with what 0.14.1 lacks: connect and per-command timeouts, a PING watchdog,
 * automatic reconnection with capped exponential backoff, and counters for
 * /metrics.  Used by cartcast-orders and cartcast-overlay.
 *
 * ONE cc_redis_t IS ONE TCP CONNECTION.  A blocking read (XREAD / XREADGROUP
 * BLOCK) holds its connection until it returns, so give blocking reads their
 * own client and keep ordinary commands on another:
 *
 *     cc_redis_config_t cfg;
 *     cc_redis_config_default(&cfg);
 *     char err[256];
 *     if (cc_redis_url_parse("redis://127.0.0.1:6379/0", &cfg.url, err, sizeof(err)) < 0)
 *         die("--redis: %s", err);                 // e.g. "port must be 1-65535, got '0'"
 *     cfg.name = "cmd";                            // log field and metrics label conn="cmd"
 *     cfg.on_ready = on_ready;  cfg.on_down = on_down;  cfg.data = app;
 *     cc_redis_t *cmd;
 *     cc_redis_new(loop, &cfg, &cmd);              // starts connecting at once, never fails on a
 *                                                  // down Redis: it retries in the background
 *     cfg.name = "block"; cc_redis_new(loop, &cfg, &blk);
 *
 * Sending a command (arguments are binary-safe and only borrowed for the call:
 * hiredis copies them into its output buffer before cc_redis_send returns):
 *
 *     cc_redis_args_t a;
 *     cc_redis_args_init(&a);
 *     cc_redis_args_add(&a, "XADD");
 *     cc_redis_args_addf(&a, "cc:{%s}:orders", "main");   // formatted into the builder's arena
 *     cc_redis_args_add(&a, "*");
 *     cc_redis_args_add(&a, "sku");  cc_redis_args_addb(&a, sku, sku_len);
 *     cc_redis_args_add(&a, "qty");  cc_redis_args_addi(&a, 2);
 *     int rc = cc_redis_send(cmd, &a, on_reply, ctx);
 *     if (rc < 0)            // UV_ENOTCONN (Redis down), CC_ELIMIT, CC_ETOOBIG (args), ...
 *         ...;               // on_reply will NOT run: handle the failure here
 *
 *     static void on_reply(cc_redis_t *r, int status, redisReply *reply, void *data)
 *     {
 *         if (status < 0) {   // reply is NULL unless status == CC_REDIS_EREPLY
 *             log("%s", cc_redis_status_str(status, reply));
 *             return;
 *         }
 *         ... reply->type, reply->str, reply->element[...]  (valid during this call only)
 *     }
 *
 * Guarantees (the libuv rule):
 *  - If cc_redis_send() (or any call here that takes a callback) returns < 0,
 *    the callback never runs.  If it returns 0, the callback runs exactly once,
 *    later, from the loop (never from inside cc_redis_send).
 *  - Status of a callback: 0 with a reply that is not an error reply;
 *    CC_REDIS_EREPLY with reply->type == REDIS_REPLY_ERROR and reply->str
 *    ("NOSCRIPT ...", "WRONGTYPE ...", "BUSYGROUP ..."); CC_ETIMEDOUT when no
 *    answer came within the command's timeout; CC_ECLOSED when the connection
 *    was lost (or dropped because another command timed out) before the
 *    answer; UV_ECANCELED when cc_redis_free() ran first.  On every status but
 *    0 and CC_REDIS_EREPLY the command MAY OR MAY NOT have been executed by
 *    Redis: make commands idempotent (the order service's buy script is).
 *  - While disconnected, commands FAIL FAST: cc_redis_send() returns
 *    UV_ENOTCONN at once.  Nothing is queued across a reconnect; callers
 *    retry after on_ready.  While connected, at most cfg.max_inflight commands
 *    wait for their replies; one more returns CC_ELIMIT (backpressure).
 *  - hiredis cannot cancel a command, so when one times out its callback
 *    fails with CC_ETIMEDOUT, every other pending command on the connection
 *    fails with CC_ECLOSED, the connection is dropped and a new one is made
 *    right away (then with backoff if that fails too).  A blocking read needs
 *    a timeout above its BLOCK time: set a.timeout_ms = block_ms + slack.
 *  - The PING watchdog sends PING when the connection has been idle for
 *    cfg.ping_interval_ms (commands in flight are their own watchdog), with
 *    the same timeout: a dead peer that never sends RST is found in
 *    ping_interval + command_timeout.
 *  - Reconnection: backoff_min_ms, doubling up to backoff_max_ms, with jitter
 *    (a random point in [d/2, d]); reset once a connection is ready.  Each
 *    new connection runs AUTH (if the URL has a password), CLIENT SETNAME
 *    "<client_name>:<name>" and SELECT DB (if the URL has /DB > 0) before
 *    on_ready.  The connect timeout covers TCP connect and that handshake.
 *  - on_ready(r, data) runs on every (re)connection, on_down(r, err, why,
 *    data) once per lost connection that had been ready (not for every failed
 *    attempt).  Pending callbacks have already run with CC_ECLOSED when
 *    on_down runs.
 *  - cc_redis_free() is safe anywhere, callbacks included: every pending
 *    callback runs with UV_ECANCELED before it returns, and nothing of this
 *    client runs after it returns.  Memory is released from libuv close
 *    callbacks, so keep running the loop after it.
 *  - Pub/Sub (SUBSCRIBE ...) and MONITOR are refused with CC_EUNSUPPORTED:
 *    hiredis calls their callbacks many times.  Read streams instead.
 *  - The host name in the URL is resolved with blocking getaddrinfo by
 *    hiredis at each connect: use an IP address or a local name.
 *
 * One client belongs to the loop thread that created it.  Pure parts (URL
 * parser, argument builder) do no I/O and are unit-tested and fuzzed. */
#ifndef CARTCAST_REDIS_H
#define CARTCAST_REDIS_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cartcast/buf.h"
#include "cartcast/err.h"

/* Redis answered with an error reply (reply->str says which).  Passes through
 * cc_strerror()/cc_err_name() as "remote I/O error" / "EREMOTEIO". */
#define CC_REDIS_EREPLY UV_EREMOTEIO

/* ---- redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] (pure) ---------------- */

typedef struct cc_redis_url {
    char host[256]; /* name, IPv4, or IPv6 without brackets */
    int port;       /* 6379 when absent */
    int db;         /* 0 when absent */
    char user[128]; /* "" when absent (Redis 6 ACL user) */
    char password[256];
    int has_password;
} cc_redis_url_t;

/* 0, or CC_EINVAL (CC_EUNSUPPORTED for rediss:// and unix://) with a one-line
 * reason in err that never contains the password.  Percent-escapes (%XX) are
 * decoded in USER and PASSWORD. */
int cc_redis_url_parse(const char *s, cc_redis_url_t *out, char *err, size_t errlen);
/* "redis://HOST:PORT/DB" for logs: the password is never printed (shown as
 * ":***@" when set).  Always NUL-terminates; returns out. */
char *cc_redis_url_format(const cc_redis_url_t *u, char *out, size_t outlen);

/* ---- command arguments (pure) --------------------------------------------- */

#define CC_REDIS_ARGS_MAX 64
#define CC_REDIS_ARENA 2048

typedef struct cc_redis_args {
    int argc;
    int err;             /* sticky: first failure (CC_ETOOBIG); cc_redis_send returns it */
    uint32_t timeout_ms; /* 0 = the client's command_timeout_ms */
    const char *argv[CC_REDIS_ARGS_MAX];
    size_t argvlen[CC_REDIS_ARGS_MAX];
    size_t arena_used;
    char arena[CC_REDIS_ARENA]; /* backs addi/addf arguments */
} cc_redis_args_t;

void cc_redis_args_init(cc_redis_args_t *a);
/* Borrowed: s (NUL-terminated) / [p, p+n) must live until cc_redis_send returns. */
void cc_redis_args_add(cc_redis_args_t *a, const char *s);
void cc_redis_args_addb(cc_redis_args_t *a, const void *p, size_t n);
void cc_redis_args_addv(cc_redis_args_t *a, cc_iov_t v);
/* Copied into the builder's arena. */
void cc_redis_args_addi(cc_redis_args_t *a, long long v);
void cc_redis_args_addf(cc_redis_args_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- the client -------------------------------------------------------- */

typedef struct cc_redis cc_redis_t;

typedef void (*cc_redis_cb)(cc_redis_t *r, int status, redisReply *reply, void *data);

typedef struct cc_redis_config {
    cc_redis_url_t url;
    const char *name;        /* "cmd", "block": logs and the conn="" metrics label (copied) */
    const char *client_name; /* CLIENT SETNAME prefix, e.g. "cartcast-orders" (copied); NULL = none */
    uint32_t connect_timeout_ms; /* TCP connect + handshake; default 2000 */
    uint32_t command_timeout_ms; /* default 2000 */
    uint32_t ping_interval_ms;   /* idle time before a watchdog PING; default 1000; 0 = off */
    uint32_t backoff_min_ms;     /* default 50 */
    uint32_t backoff_max_ms;     /* default 2000 */
    uint32_t max_inflight;       /* default 100000 */
    void (*on_ready)(cc_redis_t *r, void *data);
    /* err: CC_ECLOSED, CC_ETIMEDOUT...; why: human text ("Server closed the connection"). */
    void (*on_down)(cc_redis_t *r, int err, const char *why, void *data);
    void *data;
} cc_redis_config_t;

void cc_redis_config_default(cc_redis_config_t *cfg);

/* Creates the client and starts connecting.  0, or CC_ENOMEM / CC_EINVAL
 * (bad config).  A Redis that is down is not an error: the client retries. */
int cc_redis_new(uv_loop_t *loop, const cc_redis_config_t *cfg, cc_redis_t **out);
/* See the guarantees above.  NULL-safe. */
void cc_redis_free(cc_redis_t *r);

int cc_redis_send(cc_redis_t *r, const cc_redis_args_t *a, cc_redis_cb cb, void *data);
/* The same for an argument vector built by the caller (batched scripts with
 * thousands of arguments); timeout_ms 0 = the client's. */
int cc_redis_send_argv(cc_redis_t *r, int argc, const char *const *argv, const size_t *argvlen, uint32_t timeout_ms,
                       cc_redis_cb cb, void *data);
/* XREAD [COUNT count] BLOCK block_ms STREAMS keys[0..n) ids[0..n): one
 * blocking read over any number of streams (count 0 = no COUNT), with a
 * timeout of block_ms + 2 s.  Same rules as cc_redis_send. */
int cc_redis_xread(cc_redis_t *r, int count, int block_ms, size_t n, const char *const *keys, const char *const *ids,
                   cc_redis_cb cb, void *data);
/* An integer reply, or a string reply holding a number (HGET, HMGET), as
 * int64; -1 for NULL, nil and anything else. */
int64_t cc_redis_reply_int(const redisReply *r);
/* hiredis format string ("%s", "%b" = pointer + size_t length, "%d"...); for
 * fixed commands.  Same rules as cc_redis_send, with the client's timeout. */
int cc_redis_command(cc_redis_t *r, cc_redis_cb cb, void *data, const char *fmt, ...);

/* 1 when a connection is up and its handshake done (commands are accepted). */
int cc_redis_ready(const cc_redis_t *r);
/* Why the client is not ready ("connect to 127.0.0.1:6379: Connection refused",
 * "connecting", "command timed out after 2000 ms"); "" when ready. */
const char *cc_redis_why(const cc_redis_t *r);
const char *cc_redis_name(const cc_redis_t *r);
/* "CC_REDIS_EREPLY: <reply->str>" style text for any callback status. */
const char *cc_redis_status_str(int status, const redisReply *reply);

/* ---- counters for /metrics --------------------------------------------- */

#define CC_REDIS_LAT_BUCKETS 12 /* 0.25 0.5 1 2.5 5 10 25 50 100 250 1000 5000 ms, then +Inf */

typedef struct cc_redis_stats {
    uint64_t commands;      /* accepted by cc_redis_send */
    uint64_t replies;       /* answered (errors replies included) */
    uint64_t error_replies; /* CC_REDIS_EREPLY */
    uint64_t timeouts;      /* CC_ETIMEDOUT */
    uint64_t conn_failed;   /* CC_ECLOSED / UV_ECANCELED callbacks */
    uint64_t rejected;      /* cc_redis_send() < 0 (not connected, over the bound...) */
    uint64_t connects;      /* connections made ready */
    uint64_t connect_failures;
    uint64_t disconnects; /* ready connections lost */
    uint64_t inflight;
    uint64_t lat_bucket[CC_REDIS_LAT_BUCKETS + 1]; /* cumulative counts are rendered */
    double lat_sum_s;
} cc_redis_stats_t;

void cc_redis_get_stats(const cc_redis_t *r, cc_redis_stats_t *out);
/* Appends Prometheus text for n clients (labelled conn="<name>") with the given
 * metric name prefix ("cartcast_orders_redis").  0 or CC_ETOOBIG / CC_ENOMEM. */
int cc_redis_render_metrics(cc_redis_t *const *clients, size_t n, const char *prefix, cc_dynbuf_t *out);

#endif

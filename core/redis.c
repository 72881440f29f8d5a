/* The Redis client glue: hiredis 0.14.1 async on the caller's libuv loop, with
 * connect/command timeouts, a PING watchdog and reconnection (see redis.h).
 *
 * Ownership: a req_t is allocated per command and handed to hiredis as its
 * privdata; hiredis calls on_reply() exactly once per command (with NULL when
 * the context dies), and on_reply() frees it.  The user's callback may already
 * have run by then (timeout, drop, free): req->done says so.  The client is
 * freed only once every req_t has come back and every timer is closed.
 *
 * Our own event adapter replaces hiredis/adapters/libuv.h, which ignores poll
 * errors: libuv reports POLLERR (a refused connect, a reset) as status < 0 on
 * a stopped handle, and the stock adapter returns without telling hiredis, so
 * a refused connect hung forever.  Here an error status hands the socket to
 * hiredis, which reads the error and fails the connection. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "cartcast/log.h"
#include "cartcast/redis.h"

enum { ST_DOWN, ST_CONNECTING, ST_HANDSHAKE, ST_READY, ST_CLOSED };
enum { K_USER, K_PING, K_HANDSHAKE };

typedef struct req {
    struct req *prev, *next;
    cc_redis_t *r;
    cc_redis_cb cb;
    void *data;
    uint64_t t0_ns;
    uint64_t deadline_ms;
    uint8_t done;
    uint8_t kind;
} req_t;

struct cc_redis {
    uv_loop_t *loop;
    cc_redis_config_t cfg;
    char name[32];
    char client_name[64];
    char addr[300]; /* redis://host:port/db (no password) for logs */
    redisAsyncContext *ac;
    int state;
    req_t pending; /* sentinel: every req hiredis still owns, in send order */
    uint32_t npending;
    uint32_t inflight; /* reqs whose callback has not run yet */
    int handshake_left;
    uint32_t backoff_ms;
    uv_timer_t conn_timer, retry_timer, ping_timer, cmd_timer;
    int timers_open;
    uint64_t cmd_timer_due;
    int freeing;
    char why[512];
    cc_redis_stats_t st;
};

static const uint64_t lat_bounds_us[CC_REDIS_LAT_BUCKETS] = {250,   500,   1000,   2500,   5000,    10000,
                                                            25000, 50000, 100000, 250000, 1000000, 5000000};
static const char *const lat_labels[CC_REDIS_LAT_BUCKETS] = {"0.00025", "0.0005", "0.001", "0.0025",
                                                             "0.005",   "0.01",   "0.025", "0.05",
                                                             "0.1",     "0.25",   "1",     "5"};

/* ---- event adapter ---------------------------------------------------------- */

typedef struct uvev {
    redisAsyncContext *ac;
    uv_poll_t handle;
    int events;
} uvev_t;

static void ev_poll(uv_poll_t *h, int status, int events)
{
    uvev_t *p = h->data;
    if (p->ac == NULL)
        return;
    if (status < 0) {
        /* libuv stopped the handle: let hiredis find the socket error. */
        p->events = 0;
        if (!(p->ac->c.flags & REDIS_CONNECTED))
            redisAsyncHandleWrite(p->ac);
        else
            redisAsyncHandleRead(p->ac);
        return;
    }
    if (events & UV_READABLE)
        redisAsyncHandleRead(p->ac);
    if (p->ac != NULL && (events & UV_WRITABLE))
        redisAsyncHandleWrite(p->ac);
}

static void ev_update(uvev_t *p, int events)
{
    if (events == p->events)
        return;
    p->events = events;
    if (events)
        uv_poll_start(&p->handle, events, ev_poll);
    else
        uv_poll_stop(&p->handle);
}

static void ev_add_read(void *d) { uvev_t *p = d; ev_update(p, p->events | UV_READABLE); }
static void ev_del_read(void *d) { uvev_t *p = d; ev_update(p, p->events & ~UV_READABLE); }
static void ev_add_write(void *d) { uvev_t *p = d; ev_update(p, p->events | UV_WRITABLE); }
static void ev_del_write(void *d) { uvev_t *p = d; ev_update(p, p->events & ~UV_WRITABLE); }

static void ev_closed(uv_handle_t *h) { free(h->data); }

static void ev_cleanup(void *d)
{
    uvev_t *p = d;
    p->ac = NULL; /* the context is being freed */
    uv_close((uv_handle_t *)&p->handle, ev_closed);
}

static int ev_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    uvev_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return CC_ENOMEM;
    int rc = uv_poll_init(loop, &p->handle, ac->c.fd);
    if (rc < 0) {
        free(p);
        return rc;
    }
    p->ac = ac;
    p->handle.data = p;
    ac->ev.data = p;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    return 0;
}

/* ---- helpers ------------------------------------------------------------------ */

static void set_why(cc_redis_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_why(cc_redis_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof(r->why), fmt, ap);
    va_end(ap);
}

static void maybe_free(cc_redis_t *r)
{
    if (r->freeing && r->npending == 0 && r->timers_open == 0 && r->ac == NULL)
        free(r);
}

static void timer_closed(uv_handle_t *h)
{
    cc_redis_t *r = h->data;
    r->timers_open--;
    maybe_free(r);
}

static void account(cc_redis_t *r, req_t *q, int status)
{
    r->inflight--;
    if (q->kind != K_USER)
        return;
    if (status == 0 || status == CC_REDIS_EREPLY) {
        uint64_t us = (uv_hrtime() - q->t0_ns) / 1000;
        int b = 0;
        while (b < CC_REDIS_LAT_BUCKETS && us > lat_bounds_us[b])
            b++;
        r->st.lat_bucket[b]++;
        r->st.lat_sum_s += (double)us / 1e6;
        r->st.replies++;
        if (status == CC_REDIS_EREPLY)
            r->st.error_replies++;
    } else if (status == CC_ETIMEDOUT) {
        r->st.timeouts++;
    } else {
        r->st.conn_failed++;
    }
}

/* Marks q done and runs the user's callback (user commands only). */
static void finish(cc_redis_t *r, req_t *q, int status, redisReply *reply)
{
    q->done = 1;
    account(r, q, status);
    if (q->kind == K_USER && q->cb != NULL)
        q->cb(r, status, reply, q->data);
}

/* Fails every request whose callback has not run.  Callbacks may send (they
 * get UV_ENOTCONN: the state is not READY) or free the client (the context is
 * already detached, so nothing unlinks requests under this walk). */
static void fail_pending(cc_redis_t *r, int status, int only_expired, uint64_t now)
{
    for (req_t *q = r->pending.next; q != &r->pending; q = q->next) {
        if (q->done)
            continue;
        if (only_expired && q->deadline_ms > now)
            continue;
        finish(r, q, status, NULL);
    }
}

static void start_connect(cc_redis_t *r);

static void on_retry(uv_timer_t *t)
{
    cc_redis_t *r = t->data;
    if (r->state == ST_DOWN && !r->freeing)
        start_connect(r);
}

static void schedule_retry(cc_redis_t *r)
{
    uint32_t d = r->backoff_ms;
    uint32_t jittered = d / 2 + (d > 1 ? (uint32_t)(rand() % (int)(d / 2 + 1)) : 0);
    r->backoff_ms = d * 2 > r->cfg.backoff_max_ms ? r->cfg.backoff_max_ms : d * 2;
    uv_timer_start(&r->retry_timer, on_retry, jittered, 0);
}

/* The connection is gone or must go.  Detaches the context first (so that no
 * callback run from here can free it under us), fails what is pending, tells
 * the user, schedules the reconnect, and frees the context if we own the
 * decision (free_it; when hiredis is already freeing it, not). */
static void drop(cc_redis_t *r, int err, const char *why, int timed_out, int free_it)
{
    redisAsyncContext *ac = r->ac;
    if (ac != NULL) {
        ac->data = NULL;
        r->ac = NULL;
    }
    int was_ready = r->state == ST_READY;
    if (r->state != ST_CLOSED)
        r->state = ST_DOWN;
    uv_timer_stop(&r->conn_timer);
    uv_timer_stop(&r->ping_timer);
    set_why(r, "%s", why);
    if (was_ready) {
        r->st.disconnects++;
        cc_log_warn("redis.down", "conn=%s addr=%s err=%s why=\"%s\"", r->name, r->addr, cc_err_name(err), r->why);
    } else {
        r->st.connect_failures++;
        cc_log_warn("redis.connect_failed", "conn=%s addr=%s why=\"%s\" retry_ms=%u", r->name, r->addr, r->why,
                    (unsigned)r->backoff_ms);
    }
    if (timed_out)
        fail_pending(r, CC_ETIMEDOUT, 1, uv_now(r->loop));
    fail_pending(r, CC_ECLOSED, 0, 0);
    if (!r->freeing && r->state == ST_DOWN)
        schedule_retry(r);
    if (was_ready && r->cfg.on_down != NULL && !r->freeing)
        r->cfg.on_down(r, err, r->why, r->cfg.data);
    if (ac != NULL && free_it)
        redisAsyncFree(ac); /* deferred by hiredis when inside one of its callbacks */
}

/* ---- hiredis callbacks -------------------------------------------------------- */

static void on_ping_tick(uv_timer_t *t);

static void become_ready(cc_redis_t *r)
{
    r->state = ST_READY;
    uv_timer_stop(&r->conn_timer);
    r->backoff_ms = r->cfg.backoff_min_ms;
    r->why[0] = '\0';
    r->st.connects++;
    cc_log_info("redis.ready", "conn=%s addr=%s", r->name, r->addr);
    if (r->cfg.ping_interval_ms > 0)
        uv_timer_start(&r->ping_timer, on_ping_tick, r->cfg.ping_interval_ms, r->cfg.ping_interval_ms);
    if (r->cfg.on_ready != NULL)
        r->cfg.on_ready(r, r->cfg.data);
}

static void unlink_req(cc_redis_t *r, req_t *q)
{
    q->prev->next = q->next;
    q->next->prev = q->prev;
    r->npending--;
}

static void on_reply(redisAsyncContext *ac, void *reply_, void *privdata)
{
    req_t *q = privdata;
    cc_redis_t *r = q->r;
    redisReply *reply = reply_;
    if (reply == NULL && !q->done && r->ac == ac) {
        /* hiredis is failing every command of a dying connection. */
        char why[512];
        snprintf(why, sizeof(why), "%s", ac->errstr[0] ? ac->errstr : "connection lost");
        drop(r, CC_ECLOSED, why, 0, 0);
    }
    if (!q->done) {
        int status = reply == NULL ? CC_ECLOSED : reply->type == REDIS_REPLY_ERROR ? CC_REDIS_EREPLY : 0;
        if (q->kind == K_HANDSHAKE) {
            finish(r, q, status, reply);
            if (status < 0 && r->ac == ac) {
                char why[512];
                snprintf(why, sizeof(why), "handshake: %s", cc_redis_status_str(status, reply));
                drop(r, status, why, 0, 1);
            } else if (--r->handshake_left == 0 && r->ac == ac && r->state == ST_HANDSHAKE) {
                become_ready(r);
            }
        } else {
            finish(r, q, status, reply);
        }
    }
    unlink_req(r, q);
    free(q);
    maybe_free(r);
}

static int submit(cc_redis_t *r, int kind, int argc, const char **argv, const size_t *argvlen, const char *fmtcmd,
                  size_t fmtlen, uint32_t timeout_ms, cc_redis_cb cb, void *data);
static void on_conn_timeout(uv_timer_t *t);
static void on_cmd_timer(uv_timer_t *t);

static void on_connect(const redisAsyncContext *cac, int status)
{
    cc_redis_t *r = cac->data;
    if (r == NULL)
        return;
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    if (status != REDIS_OK) {
        /* hiredis frees the context right after this callback. */
        char why[512];
        snprintf(why, sizeof(why), "connect to %s: %s", r->addr, ac->errstr[0] ? ac->errstr : "failed");
        drop(r, CC_ECLOSED, why, 0, 0);
        return;
    }
    redisEnableKeepAlive(&ac->c);
    r->state = ST_HANDSHAKE;
    set_why(r, "handshake with %s", r->addr);
    /* AUTH, CLIENT SETNAME, SELECT, then PING: PING answers -LOADING while a
     * restarted Redis replays its AOF, so "ready" means commands work. */
    const char *argv[3];
    size_t lens[3];
    int rc = 0;
    r->handshake_left = 0;
    if (r->cfg.url.has_password) {
        int n = 0;
        argv[n++] = "AUTH";
        if (r->cfg.url.user[0])
            argv[n++] = r->cfg.url.user;
        argv[n++] = r->cfg.url.password;
        for (int i = 0; i < n; i++)
            lens[i] = strlen(argv[i]);
        rc |= submit(r, K_HANDSHAKE, n, argv, lens, NULL, 0, r->cfg.connect_timeout_ms, NULL, NULL);
    }
    if (r->client_name[0]) {
        argv[0] = "CLIENT", argv[1] = "SETNAME", argv[2] = r->client_name;
        for (int i = 0; i < 3; i++)
            lens[i] = strlen(argv[i]);
        rc |= submit(r, K_HANDSHAKE, 3, argv, lens, NULL, 0, r->cfg.connect_timeout_ms, NULL, NULL);
    }
    if (r->cfg.url.db != 0) {
        char db[16];
        snprintf(db, sizeof(db), "%d", r->cfg.url.db);
        argv[0] = "SELECT", argv[1] = db;
        lens[0] = 6, lens[1] = strlen(db);
        rc |= submit(r, K_HANDSHAKE, 2, argv, lens, NULL, 0, r->cfg.connect_timeout_ms, NULL, NULL);
    }
    argv[0] = "PING", lens[0] = 4;
    rc |= submit(r, K_HANDSHAKE, 1, argv, lens, NULL, 0, r->cfg.connect_timeout_ms, NULL, NULL);
    if (rc != 0) {
        /* Freeing the context inside hiredis' connect callback is unsafe in
         * 0.14.1: let the connect timer drop it at once instead. */
        set_why(r, "handshake with %s: could not queue commands", r->addr);
        uv_timer_start(&r->conn_timer, on_conn_timeout, 0, 0);
    }
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
    cc_redis_t *r = cac->data;
    if (r == NULL)
        return;
    char why[512];
    snprintf(why, sizeof(why), "%s", cac->errstr[0] ? cac->errstr : "Server closed the connection");
    drop(r, CC_ECLOSED, why, 0, 0);
}

/* ---- timers ---------------------------------------------------------------------- */

static void on_conn_timeout(uv_timer_t *t)
{
    cc_redis_t *r = t->data;
    if (r->ac == NULL || r->state == ST_READY)
        return;
    char why[512];
    if (r->state == ST_CONNECTING)
        snprintf(why, sizeof(why), "connect to %s timed out after %u ms", r->addr, (unsigned)r->cfg.connect_timeout_ms);
    else if (r->why[0] && strstr(r->why, "could not queue") != NULL)
        snprintf(why, sizeof(why), "%s", r->why);
    else
        snprintf(why, sizeof(why), "handshake with %s timed out after %u ms", r->addr,
                 (unsigned)r->cfg.connect_timeout_ms);
    drop(r, CC_ETIMEDOUT, why, 0, 1);
}

static void arm_cmd_timer(cc_redis_t *r, uint64_t deadline)
{
    if (uv_is_active((uv_handle_t *)&r->cmd_timer) && r->cmd_timer_due <= deadline)
        return;
    uint64_t now = uv_now(r->loop);
    r->cmd_timer_due = deadline;
    uv_timer_start(&r->cmd_timer, on_cmd_timer, deadline > now ? deadline - now : 0, 0);
}

static void on_cmd_timer(uv_timer_t *t)
{
    cc_redis_t *r = t->data;
    uint64_t now = uv_now(r->loop), next = 0;
    int expired = 0;
    uint32_t ms = 0;
    for (req_t *q = r->pending.next; q != &r->pending; q = q->next) {
        if (q->done)
            continue;
        if (q->deadline_ms <= now) {
            expired = 1;
            if (q->kind == K_PING)
                ms = r->cfg.command_timeout_ms;
        } else if (next == 0 || q->deadline_ms < next) {
            next = q->deadline_ms;
        }
    }
    if (expired && r->ac != NULL) {
        char why[512];
        if (ms)
            snprintf(why, sizeof(why), "watchdog PING got no answer in %u ms", (unsigned)ms);
        else
            snprintf(why, sizeof(why), "a command got no answer within its timeout");
        drop(r, CC_ETIMEDOUT, why, 1, 1);
        return;
    }
    if (next != 0)
        arm_cmd_timer(r, next);
}

static void on_ping_tick(uv_timer_t *t)
{
    cc_redis_t *r = t->data;
    if (r->state != ST_READY || r->inflight > 0)
        return; /* commands in flight are their own watchdog */
    const char *argv[1] = {"PING"};
    size_t len[1] = {4};
    submit(r, K_PING, 1, argv, len, NULL, 0, r->cfg.command_timeout_ms, NULL, NULL);
}

/* ---- connect ------------------------------------------------------------------------ */

static void start_connect(cc_redis_t *r)
{
    r->state = ST_CONNECTING;
    set_why(r, "connecting to %s", r->addr);
    redisAsyncContext *ac = redisAsyncConnect(r->cfg.url.host, r->cfg.url.port);
    char why[512];
    if (ac == NULL) {
        drop(r, CC_ENOMEM, "out of memory", 0, 0);
        return;
    }
    if (ac->err) {
        snprintf(why, sizeof(why), "connect to %s: %s", r->addr, ac->errstr);
        redisAsyncFree(ac);
        drop(r, CC_ECLOSED, why, 0, 0);
        return;
    }
    int rc = ev_attach(ac, r->loop);
    if (rc < 0) {
        snprintf(why, sizeof(why), "connect to %s: cannot poll the socket: %s", r->addr, cc_strerror(rc));
        redisAsyncFree(ac);
        drop(r, rc, why, 0, 0);
        return;
    }
    ac->data = r;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    r->ac = ac;
    uv_timer_start(&r->conn_timer, on_conn_timeout, r->cfg.connect_timeout_ms, 0);
}

/* ---- public -------------------------------------------------------------------------- */

void cc_redis_config_default(cc_redis_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->url.host, sizeof(cfg->url.host), "127.0.0.1");
    cfg->url.port = 6379;
    cfg->name = "redis";
    cfg->connect_timeout_ms = 2000;
    cfg->command_timeout_ms = 2000;
    cfg->ping_interval_ms = 1000;
    cfg->backoff_min_ms = 50;
    cfg->backoff_max_ms = 2000;
    cfg->max_inflight = 100000;
}

int cc_redis_new(uv_loop_t *loop, const cc_redis_config_t *cfg, cc_redis_t **out)
{
    *out = NULL;
    if (cfg->url.host[0] == '\0' || cfg->url.port <= 0 || cfg->connect_timeout_ms == 0 ||
        cfg->command_timeout_ms == 0 || cfg->backoff_min_ms == 0 || cfg->backoff_max_ms < cfg->backoff_min_ms ||
        cfg->max_inflight == 0)
        return CC_EINVAL;
    cc_redis_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return CC_ENOMEM;
    r->loop = loop;
    r->cfg = *cfg;
    snprintf(r->name, sizeof(r->name), "%s", cfg->name ? cfg->name : "redis");
    if (cfg->client_name)
        snprintf(r->client_name, sizeof(r->client_name), "%s:%s", cfg->client_name, r->name);
    r->cfg.name = r->name;
    r->cfg.client_name = NULL;
    cc_redis_url_format(&cfg->url, r->addr, sizeof(r->addr));
    r->pending.next = r->pending.prev = &r->pending;
    r->backoff_ms = cfg->backoff_min_ms;
    uv_timer_t *timers[] = {&r->conn_timer, &r->retry_timer, &r->ping_timer, &r->cmd_timer};
    for (size_t i = 0; i < 4; i++) {
        uv_timer_init(loop, timers[i]);
        timers[i]->data = r;
        r->timers_open++;
    }
    start_connect(r);
    *out = r;
    return 0;
}

void cc_redis_free(cc_redis_t *r)
{
    if (r == NULL || r->freeing)
        return;
    r->freeing = 1;
    redisAsyncContext *ac = r->ac;
    if (ac != NULL) {
        ac->data = NULL;
        r->ac = NULL;
    }
    r->state = ST_CLOSED;
    set_why(r, "closed");
    fail_pending(r, UV_ECANCELED, 0, 0);
    uv_timer_t *timers[] = {&r->conn_timer, &r->retry_timer, &r->ping_timer, &r->cmd_timer};
    for (size_t i = 0; i < 4; i++) {
        uv_timer_stop(timers[i]);
        uv_close((uv_handle_t *)timers[i], timer_closed);
    }
    if (ac != NULL)
        redisAsyncFree(ac); /* runs on_reply (done) for every pending command */
    maybe_free(r);
}

static int is_subscribe(const char *s, size_t n)
{
    static const char *const names[] = {"subscribe", "psubscribe", "ssubscribe", "unsubscribe",
                                        "punsubscribe", "sunsubscribe", "monitor"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i]) == n && strncasecmp(s, names[i], n) == 0)
            return 1;
    return 0;
}

static int submit(cc_redis_t *r, int kind, int argc, const char **argv, const size_t *argvlen, const char *fmtcmd,
                  size_t fmtlen, uint32_t timeout_ms, cc_redis_cb cb, void *data)
{
    if (r->freeing)
        return UV_ECANCELED;
    if (r->ac == NULL || (kind == K_USER && r->state != ST_READY))
        return UV_ENOTCONN;
    if (kind == K_USER && r->inflight >= r->cfg.max_inflight)
        return CC_ELIMIT;
    req_t *q = malloc(sizeof(*q));
    if (q == NULL)
        return CC_ENOMEM;
    q->r = r;
    q->cb = cb;
    q->data = data;
    q->done = 0;
    q->kind = (uint8_t)kind;
    q->t0_ns = uv_hrtime();
    q->deadline_ms = uv_now(r->loop) + (timeout_ms ? timeout_ms : r->cfg.command_timeout_ms);
    int rc = fmtcmd ? redisAsyncFormattedCommand(r->ac, on_reply, q, fmtcmd, fmtlen)
                    : redisAsyncCommandArgv(r->ac, on_reply, q, argc, argv, argvlen);
    if (rc != REDIS_OK) {
        free(q);
        return CC_ECLOSED;
    }
    q->prev = r->pending.prev;
    q->next = &r->pending;
    r->pending.prev->next = q;
    r->pending.prev = q;
    r->npending++;
    r->inflight++;
    if (kind == K_HANDSHAKE)
        r->handshake_left++;
    if (kind == K_USER)
        r->st.commands++;
    arm_cmd_timer(r, q->deadline_ms);
    return 0;
}

int cc_redis_send(cc_redis_t *r, const cc_redis_args_t *a, cc_redis_cb cb, void *data)
{
    int rc;
    if (a->err)
        rc = a->err;
    else if (a->argc <= 0)
        rc = CC_EINVAL;
    else if (is_subscribe(a->argv[0], a->argvlen[0]))
        rc = CC_EUNSUPPORTED;
    else
        rc = submit(r, K_USER, a->argc, (const char **)a->argv, a->argvlen, NULL, 0, a->timeout_ms, cb, data);
    if (rc < 0)
        r->st.rejected++;
    return rc;
}

int cc_redis_send_argv(cc_redis_t *r, int argc, const char *const *argv, const size_t *argvlen, uint32_t timeout_ms,
                       cc_redis_cb cb, void *data)
{
    int rc;
    if (argc <= 0)
        rc = CC_EINVAL;
    else if (is_subscribe(argv[0], argvlen[0]))
        rc = CC_EUNSUPPORTED;
    else
        rc = submit(r, K_USER, argc, (const char **)argv, argvlen, NULL, 0, timeout_ms, cb, data);
    if (rc < 0)
        r->st.rejected++;
    return rc;
}

int cc_redis_xread(cc_redis_t *r, int count, int block_ms, size_t n, const char *const *keys, const char *const *ids,
                   cc_redis_cb cb, void *data)
{
    if (n == 0 || n > 100000 || count < 0 || block_ms < 0)
        return CC_EINVAL;
    size_t argc = 6 + 2 * n, k = 0;
    const char **argv = malloc(argc * sizeof(*argv));
    size_t *argvlen = malloc(argc * sizeof(*argvlen));
    if (argv == NULL || argvlen == NULL) {
        free(argv);
        free(argvlen);
        return CC_ENOMEM;
    }
    char count_s[24], block_s[24];
    snprintf(count_s, sizeof(count_s), "%d", count);
    snprintf(block_s, sizeof(block_s), "%d", block_ms);
    argv[k++] = "XREAD";
    if (count > 0) {
        argv[k++] = "COUNT";
        argv[k++] = count_s;
    }
    argv[k++] = "BLOCK";
    argv[k++] = block_s;
    argv[k++] = "STREAMS";
    for (size_t i = 0; i < n; i++)
        argv[k++] = keys[i];
    for (size_t i = 0; i < n; i++)
        argv[k++] = ids[i];
    for (size_t i = 0; i < k; i++)
        argvlen[i] = strlen(argv[i]);
    /* hiredis formats the command before this returns: the vectors can go. */
    int rc = cc_redis_send_argv(r, (int)k, argv, argvlen, (uint32_t)block_ms + 2000, cb, data);
    free(argv);
    free(argvlen);
    return rc;
}

int64_t cc_redis_reply_int(const redisReply *r)
{
    if (r == NULL)
        return -1;
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING)
        return strtoll(r->str, NULL, 10);
    return -1;
}

int cc_redis_command(cc_redis_t *r, cc_redis_cb cb, void *data, const char *fmt, ...)
{
    size_t w = strspn(fmt, " ");
    size_t n = strcspn(fmt + w, " ");
    if (is_subscribe(fmt + w, n)) {
        r->st.rejected++;
        return CC_EUNSUPPORTED;
    }
    char *cmd = NULL;
    va_list ap;
    va_start(ap, fmt);
    int len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    if (len < 0) {
        r->st.rejected++;
        return len == -2 ? CC_EINVAL : CC_ENOMEM;
    }
    int rc = submit(r, K_USER, 0, NULL, NULL, cmd, (size_t)len, 0, cb, data);
    redisFreeCommand(cmd);
    if (rc < 0)
        r->st.rejected++;
    return rc;
}

int cc_redis_ready(const cc_redis_t *r) { return r != NULL && r->state == ST_READY && r->ac != NULL; }

const char *cc_redis_why(const cc_redis_t *r) { return r == NULL ? "closed" : cc_redis_ready(r) ? "" : r->why; }

const char *cc_redis_name(const cc_redis_t *r) { return r->name; }

const char *cc_redis_status_str(int status, const redisReply *reply)
{
    if (status == CC_REDIS_EREPLY && reply != NULL && reply->str != NULL)
        return reply->str;
    if (status == CC_ECLOSED)
        return "Redis connection lost before the reply";
    if (status == CC_ETIMEDOUT)
        return "Redis command timed out";
    if (status == UV_ENOTCONN)
        return "Redis is not connected";
    if (status == UV_ECANCELED)
        return "Redis client closed";
    if (status == CC_ELIMIT)
        return "too many Redis commands in flight";
    return cc_strerror(status);
}

void cc_redis_get_stats(const cc_redis_t *r, cc_redis_stats_t *out)
{
    *out = r->st;
    out->inflight = r->inflight;
}

int cc_redis_render_metrics(cc_redis_t *const *clients, size_t n, const char *prefix, cc_dynbuf_t *out)
{
    int rc = 0;
#define COUNTER(field, help)                                                                                     \
    rc |= cc_dynbuf_appendf(out, "# HELP %s_" #field "_total %s\n# TYPE %s_" #field "_total counter\n", prefix, \
                            help, prefix);                                                                      \
    for (size_t i = 0; i < n; i++)                                                                             \
        rc |= cc_dynbuf_appendf(out, "%s_" #field "_total{conn=\"%s\"} %llu\n", prefix, clients[i]->name,     \
                                (unsigned long long)clients[i]->st.field);
    COUNTER(commands, "Redis commands sent")
    COUNTER(replies, "Redis replies received (error replies included)")
    COUNTER(error_replies, "Redis error replies")
    COUNTER(timeouts, "Redis commands that timed out")
    COUNTER(conn_failed, "Redis commands failed by a lost connection")
    COUNTER(rejected, "Redis commands refused before sending (not connected, over the bound)")
    COUNTER(connects, "Redis connections made ready")
    COUNTER(connect_failures, "failed Redis connection attempts")
    COUNTER(disconnects, "ready Redis connections lost")
#undef COUNTER
    rc |= cc_dynbuf_appendf(out, "# HELP %s_up 1 when the connection is ready\n# TYPE %s_up gauge\n", prefix, prefix);
    for (size_t i = 0; i < n; i++)
        rc |= cc_dynbuf_appendf(out, "%s_up{conn=\"%s\"} %d\n", prefix, clients[i]->name, cc_redis_ready(clients[i]));
    rc |= cc_dynbuf_appendf(out, "# HELP %s_inflight commands awaiting a reply\n# TYPE %s_inflight gauge\n", prefix,
                            prefix);
    for (size_t i = 0; i < n; i++)
        rc |= cc_dynbuf_appendf(out, "%s_inflight{conn=\"%s\"} %u\n", prefix, clients[i]->name,
                                (unsigned)clients[i]->inflight);
    rc |= cc_dynbuf_appendf(out,
                            "# HELP %s_latency_seconds command round trip\n# TYPE %s_latency_seconds histogram\n",
                            prefix, prefix);
    for (size_t i = 0; i < n; i++) {
        const cc_redis_stats_t *s = &clients[i]->st;
        uint64_t cum = 0;
        for (int b = 0; b < CC_REDIS_LAT_BUCKETS; b++) {
            cum += s->lat_bucket[b];
            rc |= cc_dynbuf_appendf(out, "%s_latency_seconds_bucket{conn=\"%s\",le=\"%s\"} %llu\n", prefix,
                                    clients[i]->name, lat_labels[b], (unsigned long long)cum);
        }
        cum += s->lat_bucket[CC_REDIS_LAT_BUCKETS];
        rc |= cc_dynbuf_appendf(out, "%s_latency_seconds_bucket{conn=\"%s\",le=\"+Inf\"} %llu\n", prefix,
                                clients[i]->name, (unsigned long long)cum);
        rc |= cc_dynbuf_appendf(out, "%s_latency_seconds_sum{conn=\"%s\"} %.6f\n", prefix, clients[i]->name,
                                s->lat_sum_s);
        rc |= cc_dynbuf_appendf(out, "%s_latency_seconds_count{conn=\"%s\"} %llu\n", prefix, clients[i]->name,
                                (unsigned long long)cum);
    }
    return rc ? CC_ETOOBIG : 0;
}

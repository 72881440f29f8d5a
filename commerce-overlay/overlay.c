/* cartcast-overlay: REST for operators, WebSockets for viewers, Redis between
 * them (see overlay.h, docs/overlay.md for the schemas).
 *
 * Ownership, in one place:
 *  - ovs_t: one per stream this instance watches (it has viewers).  Created at
 *    the first viewer, loaded from Redis (state.lua), followed by the shared
 *    XREAD, freed by the sweep a while after its last viewer left (never
 *    while a load is in flight).
 *  - vconn_t: one per viewer connection, refcounted: the connection holds one
 *    reference until on_ws_close, each Redis command in flight for it holds
 *    one, so a reply that comes after the viewer left finds vc->c == NULL.
 *  - rest_t: one per REST request waiting for Redis; freed by its last
 *    callback, which always answers the request (ov_http_respond* is safe on
 *    a request whose client left).
 *  - Broadcast messages are one cc_buf_t shared by every viewer's queue. */
#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "cartcast/err.h"
#include "cartcast/log.h"
#include "chat.h"
#include "cue.h"
#include "gift.h" /* gifts (issue 9) */
#include "ident.h"
#include "lua.h"
#include "overlay.h"
#include "shop.h" /* catalog, shop page, coins, earnings (issue 9) */

#define MAX_STREAMS 4096   /* streams followed at once: a bound on the state one overlay keeps */
#define MAX_CUES 64        /* per stream, in memory (config max_active_cues <= this) */
#define VIEWER_BUCKETS 4096
#define STREAM_IDLE_MS 30000
#define STOCK_KEY "cc:{orders}:stock"
#define EVENTS_KEY "cc:{orders}:events"
#define BUYS_KEY "cc:{orders}:buys"
#define STREAMS_SET "cc:streams"

/* ---- small helpers ------------------------------------------------------------ */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static cc_buf_t *buf_str(const char *s) { return cc_buf_from(s, strlen(s)); }

static cc_buf_t *buf_json(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    cc_buf_t *b = s ? buf_str(s) : NULL;
    free(s);
    return b;
}


/* ---- tokens ---------------------------------------------------------------------- */

int ov_token_parse(const char *spec, ov_token_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const char *eq = strchr(spec, '=');
    if (eq == NULL || eq == spec || eq[1] == '\0') {
        snprintf(err, errlen, "must be TOKEN=STREAM[,STREAM...] (STREAM * for every stream)");
        return CC_EINVAL;
    }
    size_t tl = (size_t)(eq - spec);
    if (tl < 8 || tl > 256) {
        snprintf(err, errlen, "the token must be 8-256 characters");
        return CC_EINVAL;
    }
    for (size_t i = 0; i < tl; i++) {
        if (spec[i] <= 0x20 || spec[i] >= 0x7f) {
            snprintf(err, errlen, "the token must be printable ASCII without spaces");
            return CC_EINVAL;
        }
    }
    out->token = strndup(spec, tl);
    const char *p = eq + 1;
    while (*p) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (n == 1 && p[0] == '*') {
            out->all = 1;
        } else if (cc_cue_stream_name_check(p, n) < 0) {
            snprintf(err, errlen, "stream '%.*s' is not a stream name ([A-Za-z0-9._-]{1,64}) or *", (int)(n > 64 ? 64 : n),
                     p);
            ov_token_free(out);
            return CC_EINVAL;
        } else {
            char **s = realloc(out->streams, (out->nstreams + 1) * sizeof(*s));
            if (s == NULL) {
                ov_token_free(out);
                return CC_ENOMEM;
            }
            out->streams = s;
            out->streams[out->nstreams++] = strndup(p, n);
        }
        p += n;
        if (*p == ',')
            p++;
    }
    if (!out->all && out->nstreams == 0) {
        snprintf(err, errlen, "no stream given");
        ov_token_free(out);
        return CC_EINVAL;
    }
    return 0;
}

void ov_token_free(ov_token_t *t)
{
    if (t->token)
        OPENSSL_cleanse(t->token, strlen(t->token));
    free(t->token);
    for (size_t i = 0; i < t->nstreams; i++)
        free(t->streams[i]);
    free(t->streams);
    memset(t, 0, sizeof(*t));
}

/* ---- state ------------------------------------------------------------------------- */

typedef struct cue {
    char id[CC_CUE_ID_MAX + 1];
    cc_cue_kind_t kind;
    int64_t pdt_ms, duration_ms, created_ms;
    char sku[CC_CUE_SKU_MAX + 1];
    char currency[4];
    char creator[129];
    int64_t price;
    int max_qty;
    cc_buf_t *json; /* the cue object as stored */
    /* polls */
    bool open, dirty;
    int nopt;
    int64_t counts[CC_CUE_POLL_OPTIONS_MAX];
} cue_t;

typedef struct stock {
    char sku[CC_CUE_SKU_MAX + 1];
    int64_t units, version; /* units -1: unknown */
} stock_t;

enum { ST_LOADING, ST_READY, ST_GONE };

typedef struct vconn vconn_t;
typedef struct ov_app ov_app_t;

typedef struct ovs {
    struct ovs *next;
    ov_app_t *app;
    char name[65];
    char k_cues[96], k_active[96], k_polls[96], k_live[96];
    char last_id[48];
    int state;
    bool loading, reload;
    vconn_t *conns;
    size_t nconns;
    cue_t *cues[MAX_CUES];
    size_t ncues;
    stock_t stock[MAX_CUES];
    size_t nstock;
    cc_buf_t *hello_state; /* cached "\"stream\":...,\"cues\":[...],...": rebuilt after any change */
    int64_t idle_since;
    ov_chat_room_t *chat;  /* chat.c; NULL when the chat has no room left for it */
} ovs_t;

struct vconn {
    ov_conn_t *c;  /* NULL once closed */
    ovs_t *st;
    vconn_t *prev, *next;   /* in st->conns */
    vconn_t *vnext;         /* in the viewer map */
    ov_app_t *app;
    int refs;
    bool hello_sent;
    bool not_found; /* closed with 4404 (stream never announced) */
    double tokens;
    int64_t tokens_at;
    char viewer[OV_VIEWER_ID_LEN + 1];
    char token[OV_VIEWER_TOKEN_LEN + 1];
    ov_chat_member_t chat; /* chat.c: display name, chat rate */
};

#define LAT_N 12
static const double lat_bounds[LAT_N] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};

struct ov_app {
    uv_loop_t *loop;
    ov_app_config_t cfg;
    ov_server_t *srv;
    cc_redis_t *cmd, *blk;
    ovs_t *streams;
    size_t nstreams;
    ov_chat_t *chat; /* chat and moderation (chat.c) */
    vconn_t *viewers[VIEWER_BUCKETS];
    /* the blocking reader */
    bool ids_ready, ids_loading, xread_busy, xread_stale, stopping;
    long long blk_client_id;
    char stock_id[48], events_id[48];
    uv_timer_t retry_timer, tally_timer, sweep_timer;
    bool tally_armed;
    /* counters */
    uint64_t cues_created, cues_replayed, cues_ended, cue_msgs, rest_errors;
    uint64_t buys_accepted, buys_rate_limited, buys_rejected, buys_failed;
    uint64_t votes_counted, votes_repeated, votes_rejected;
    uint64_t order_events, order_events_delivered, stock_updates;
    uint64_t closed_unknown; /* viewers closed with 4404: no origin announced their stream */
    uint64_t fanout_lat[LAT_N + 1];
    double fanout_sum;
    uint64_t fanout_count;
    ov_conn_t **room; /* broadcast()'s list of a stream's viewers, reused */
    size_t room_cap;
    /* gifts and the shop (gift.c, shop.c; docs/gifts-and-shop.md) */
    ov_gifts_t *gifts;
    ov_shop_t *shop;
};

static void xread_kick(ov_app_t *app);
static void stream_load(ovs_t *st);
static void send_hello(vconn_t *vc);
static void on_tally_timer(uv_timer_t *t);

static void vconn_unref(vconn_t *vc)
{
    if (--vc->refs == 0)
        free(vc);
}

static void stream_invalidate(ovs_t *st)
{
    cc_buf_unref(st->hello_state);
    st->hello_state = NULL;
}

/* msg to every viewer of st who has had its hello (later ones get the state
 * in their hello).  The server writes the frame once for all of them. */
static void broadcast(ovs_t *st, cc_buf_t *msg)
{
    if (msg == NULL)
        return;
    ov_app_t *app = st->app;
    size_t n = 0;
    for (vconn_t *vc = st->conns; vc; vc = vc->next) {
        if (!vc->c || !vc->hello_sent)
            continue;
        if (n == app->room_cap) {
            size_t cap = app->room_cap ? app->room_cap * 2 : 256;
            ov_conn_t **r = realloc(app->room, cap * sizeof(*r));
            if (r == NULL) { /* out of memory: one at a time, same result */
                for (; vc; vc = vc->next)
                    if (vc->c && vc->hello_sent)
                        ov_conn_send(vc->c, msg);
                break;
            }
            app->room = r;
            app->room_cap = cap;
        }
        app->room[n++] = vc->c;
    }
    if (app->srv)
        ov_server_broadcast(app->srv, app->room, n, msg);
    else
        for (size_t i = 0; i < n; i++)
            ov_conn_send(app->room[i], msg);
}

static void send_to(vconn_t *vc, json_t *o)
{
    cc_buf_t *b = buf_json(o);
    json_decref(o);
    if (b && vc->c)
        ov_conn_send(vc->c, b);
    cc_buf_unref(b);
}

static void send_error(vconn_t *vc, const char *req, const char *action, const char *code, const char *message)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "type", "error", "action", action, "code", code, "message", message);
    if (req && req[0])
        json_object_set_new(o, "req", json_string(req));
    send_to(vc, o);
}

static ovs_t *stream_find(ov_app_t *app, const char *name)
{
    for (ovs_t *s = app->streams; s; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

static cue_t *cue_find(ovs_t *st, const char *id)
{
    for (size_t i = 0; i < st->ncues; i++)
        if (strcmp(st->cues[i]->id, id) == 0)
            return st->cues[i];
    return NULL;
}

static void cue_free(cue_t *c)
{
    cc_buf_unref(c->json);
    free(c);
}

static stock_t *stock_find(ovs_t *st, const char *sku)
{
    for (size_t i = 0; i < st->nstock; i++)
        if (strcmp(st->stock[i].sku, sku) == 0)
            return &st->stock[i];
    return NULL;
}

static void stream_free(ovs_t *st)
{
    ov_chat_room_free(st->chat);
    for (size_t i = 0; i < st->ncues; i++)
        cue_free(st->cues[i]);
    cc_buf_unref(st->hello_state);
    free(st);
}

/* Builds a cue_t from its stored JSON text; NULL when malformed. */
static cue_t *cue_parse(const char *text, size_t len)
{
    json_t *o = json_loadb(text, len, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    cue_t *c = calloc(1, sizeof(*c));
    json_t *id = json_object_get(o, "id"), *kind = json_object_get(o, "kind");
    if (c == NULL || !json_is_string(id) || cc_cue_id_check(json_string_value(id), json_string_length(id)) < 0 ||
        !json_is_string(kind) || cc_cue_kind_parse(json_string_value(kind), &c->kind) < 0) {
        free(c);
        json_decref(o);
        return NULL;
    }
    snprintf(c->id, sizeof(c->id), "%s", json_string_value(id));
    c->pdt_ms = json_integer_value(json_object_get(o, "pdt_ms"));
    c->created_ms = json_integer_value(json_object_get(o, "created_ms"));
    json_t *d = json_object_get(o, "duration_ms");
    c->duration_ms = json_is_integer(d) ? json_integer_value(d) : -1;
    json_t *sec = json_object_get(o, c->kind == CC_CUE_POLL ? "poll" : c->kind == CC_CUE_COUNTDOWN ? "countdown"
                                                                                                  : "product");
    json_t *sku = json_object_get(sec, "sku");
    if (json_is_string(sku))
        snprintf(c->sku, sizeof(c->sku), "%s", json_string_value(sku));
    if (c->kind == CC_CUE_PRODUCT || c->kind == CC_CUE_BUY_BUTTON) {
        c->price = json_integer_value(json_object_get(sec, "price"));
        json_t *cur = json_object_get(sec, "currency"), *cr = json_object_get(sec, "creator");
        snprintf(c->currency, sizeof(c->currency), "%s", json_is_string(cur) ? json_string_value(cur) : "");
        snprintf(c->creator, sizeof(c->creator), "%s", json_is_string(cr) ? json_string_value(cr) : "");
        json_t *mq = json_object_get(sec, "max_qty");
        c->max_qty = json_is_integer(mq) ? (int)json_integer_value(mq) : 0;
    }
    if (c->kind == CC_CUE_POLL) {
        c->nopt = (int)json_array_size(json_object_get(sec, "options"));
        if (c->nopt > CC_CUE_POLL_OPTIONS_MAX)
            c->nopt = CC_CUE_POLL_OPTIONS_MAX;
        c->open = true;
    }
    c->json = cc_buf_from(text, len);
    json_decref(o);
    return c;
}

static void parse_counts(cue_t *c, const char *csv)
{
    int i = 0;
    for (const char *p = csv; p && *p && i < CC_CUE_POLL_OPTIONS_MAX; i++) {
        c->counts[i] = strtoll(p, NULL, 10);
        p = strchr(p, ',');
        if (p)
            p++;
    }
}

/* ---- stock ---------------------------------------------------------------------------- */

typedef struct stock_fetch {
    ov_app_t *app;
    char stream[65];
    char sku[CC_CUE_SKU_MAX + 1];
} stock_fetch_t;

static cc_buf_t *stock_msg(const char *sku, int64_t units)
{
    json_t *o = json_pack("{s:s,s:s,s:I}", "type", "stock", "sku", sku, "stock", (json_int_t)units);
    cc_buf_t *b = buf_json(o);
    json_decref(o);
    return b;
}

static void stock_apply(ovs_t *st, const char *sku, int64_t units, int64_t version)
{
    stock_t *s = stock_find(st, sku);
    if (s == NULL || (s->version >= version && s->units >= 0))
        return;
    s->units = units;
    s->version = version;
    stream_invalidate(st);
    cc_buf_t *m = stock_msg(sku, units);
    broadcast(st, m);
    cc_buf_unref(m);
}

static void on_stock_fetched(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    stock_fetch_t *f = data;
    ovs_t *st = f->app->stopping ? NULL : stream_find(f->app, f->stream);
    if (st && status == 0 && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[0]->type == REDIS_REPLY_STRING)
        stock_apply(st, f->sku, cc_redis_reply_int(reply->element[0]), cc_redis_reply_int(reply->element[1]));
    free(f);
}

/* Follows sku's stock on st (a cue shows it): fetched once, then kept
 * current by the stock stream. */
static void stock_track(ovs_t *st, const char *sku)
{
    if (sku[0] == '\0' || stock_find(st, sku) || st->nstock >= MAX_CUES)
        return;
    stock_t *s = &st->stock[st->nstock++];
    snprintf(s->sku, sizeof(s->sku), "%s", sku);
    s->units = -1;
    s->version = -1;
    stock_fetch_t *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return;
    f->app = st->app;
    snprintf(f->stream, sizeof(f->stream), "%s", st->name);
    snprintf(f->sku, sizeof(f->sku), "%s", sku);
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    cc_redis_args_add(&a, "HMGET");
    cc_redis_args_addf(&a, "cc:{sku:%s}:stock", sku);
    cc_redis_args_add(&a, "avail");
    cc_redis_args_add(&a, "version");
    if (cc_redis_send(st->app->cmd, &a, on_stock_fetched, f) < 0)
        free(f);
}

/* ---- cues in memory -------------------------------------------------------------------- */

static void cue_add(ovs_t *st, cue_t *c)
{
    cue_t *old = cue_find(st, c->id);
    if (old) {
        /* same cue seen twice (load + stream): keep the poll's counts */
        c->open = old->open;
        memcpy(c->counts, old->counts, sizeof(c->counts));
        for (size_t i = 0; i < st->ncues; i++)
            if (st->cues[i] == old)
                st->cues[i] = c;
        cue_free(old);
    } else if (st->ncues < MAX_CUES) {
        st->cues[st->ncues++] = c;
    } else {
        cc_log_warn("overlay.cue_dropped", "stream=%s cue=%s msg=\"more than %d cues active in memory\"", st->name,
                    c->id, MAX_CUES);
        cue_free(c);
        return;
    }
    stock_track(st, c->sku);
    stream_invalidate(st);
}

static void cue_remove(ovs_t *st, const char *id)
{
    for (size_t i = 0; i < st->ncues; i++) {
        if (strcmp(st->cues[i]->id, id) == 0) {
            cue_free(st->cues[i]);
            st->cues[i] = st->cues[--st->ncues];
            stream_invalidate(st);
            return;
        }
    }
}

static json_t *counts_json(const cue_t *c)
{
    json_t *a = json_array();
    for (int i = 0; i < c->nopt; i++)
        json_array_append_new(a, json_integer(c->counts[i]));
    return a;
}

static cc_buf_t *poll_msg(const char *type, const cue_t *c)
{
    json_t *o = json_pack("{s:s,s:s,s:b,s:o}", "type", type, "id", c->id, "open", c->open, "counts", counts_json(c));
    cc_buf_t *b = buf_json(o);
    json_decref(o);
    return b;
}

/* The part of hello every viewer of the stream shares. */
static cc_buf_t *hello_state(ovs_t *st)
{
    if (st->hello_state)
        return st->hello_state;
    cc_dynbuf_t d;
    cc_dynbuf_init(&d, 8u << 20);
    json_t *jn = json_string(st->name);
    char *name = jn ? json_dumps(jn, JSON_ENCODE_ANY) : NULL;
    json_decref(jn);
    int rc = cc_dynbuf_appendf(&d, "\"stream\":%s,\"cues\":[", name ? name : "\"\"");
    free(name);
    for (size_t i = 0; i < st->ncues; i++) {
        if (i)
            rc |= cc_dynbuf_append(&d, ",", 1);
        rc |= cc_dynbuf_append(&d, st->cues[i]->json->data, st->cues[i]->json->len);
    }
    rc |= cc_dynbuf_append(&d, "],\"polls\":{", 11);
    int first = 1;
    for (size_t i = 0; i < st->ncues; i++) {
        cue_t *c = st->cues[i];
        if (c->kind != CC_CUE_POLL)
            continue;
        rc |= cc_dynbuf_appendf(&d, "%s\"%s\":{\"open\":%s,\"counts\":[", first ? "" : ",", c->id,
                                c->open ? "true" : "false");
        for (int k = 0; k < c->nopt; k++)
            rc |= cc_dynbuf_appendf(&d, "%s%" PRId64, k ? "," : "", c->counts[k]);
        rc |= cc_dynbuf_append(&d, "]}", 2);
        first = 0;
    }
    rc |= cc_dynbuf_append(&d, "},\"stock\":{", 11);
    first = 1;
    for (size_t i = 0; i < st->nstock; i++) {
        if (st->stock[i].units < 0)
            continue;
        rc |= cc_dynbuf_appendf(&d, "%s\"%s\":%" PRId64, first ? "" : ",", st->stock[i].sku, st->stock[i].units);
        first = 0;
    }
    rc |= cc_dynbuf_append(&d, "}", 1);
    if (rc < 0) {
        cc_dynbuf_free(&d);
        return NULL;
    }
    st->hello_state = cc_dynbuf_take(&d);
    cc_dynbuf_free(&d);
    return st->hello_state;
}

static void send_hello(vconn_t *vc)
{
    ov_app_t *app = vc->app;
    if (vc->st->chat && !ov_chat_room_ready(vc->st->chat))
        return; /* the chat's own load calls back (chat_room_ready) */
    if (vc->c && vc->st->chat && ov_chat_member_banned(vc->st->chat, &vc->chat)) {
        ov_conn_close(vc->c, OV_CLOSE_BANNED, "banned");
        return;
    }
    cc_buf_t *shared = hello_state(vc->st);
    if (vc->c == NULL || shared == NULL)
        return;
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "{\"type\":\"hello\",\"v\":1,\"server_ms\":%" PRId64 ",\"viewer\":\"%s\",\"token\":\"%s\","
                     "\"limits\":{\"max_message\":%d,\"max_qty\":%d,\"buys_per_window\":%d,\"window_ms\":%d},",
                     now_ms(), vc->viewer, vc->token, (int)CC_VIEWER_MSG_MAX, app->cfg.max_qty, app->cfg.buy_rate,
                     app->cfg.buy_window_ms);
    cc_dynbuf_t d;
    cc_dynbuf_init(&d, 16u << 20);
    int rc = cc_dynbuf_append(&d, head, (size_t)n);
    rc |= cc_dynbuf_append(&d, shared->data, shared->len);
    if (vc->st->chat)
        rc |= ov_chat_hello(vc->st->chat, &vc->chat, &d); /* ,"chat":{...} */
    rc |= cc_dynbuf_append(&d, "}", 1);
    cc_buf_t *b = rc == 0 ? cc_dynbuf_take(&d) : NULL;
    cc_dynbuf_free(&d);
    if (b == NULL)
        return;
    vc->hello_sent = true;
    ov_conn_send(vc->c, b);
    cc_buf_unref(b);
    if (app->gifts && app->cfg.gift_catalog && app->cfg.gift_catalog->n > 0) {
        vc->refs++; /* released by gift_release */
        ov_gifts_join(app->gifts, vc, vc->viewer, vc->st->name);
    }
}

/* ---- stream lifecycle and loading ------------------------------------------------------------ */

static void on_state_loaded(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    ovs_t *st = data;
    ov_app_t *app = st->app;
    st->loading = false;
    if (app->stopping || st->state == ST_GONE) {
        if (st->state == ST_GONE)
            stream_free(st);
        return;
    }
    if (status < 0 || reply->type != REDIS_REPLY_ARRAY || reply->elements != 4) {
        cc_log_warn("overlay.load_failed", "stream=%s err=\"%s\"", st->name, cc_redis_status_str(status, reply));
        st->reload = true; /* the sweep retries */
        return;
    }
    redisReply *id = reply->element[0], *active = reply->element[1], *polls = reply->element[2];
    if (cc_redis_reply_int(reply->element[3]) != 1) {
        /* never announced by an origin: nothing will ever play here */
        size_t closed = 0;
        for (vconn_t *vc = st->conns; vc; vc = vc->next) {
            if (vc->c && !vc->not_found) {
                vc->not_found = true; /* closing: counted once */
                ov_conn_close(vc->c, OV_CLOSE_NOT_FOUND, "unknown stream");
                closed++;
            }
        }
        app->closed_unknown += closed;
        cc_log_debug("overlay.not_announced", "stream=%s closed=%zu", st->name, closed);
        st->reload = false;
        st->state = ST_LOADING;
        st->idle_since = now_ms();
        return;
    }
    for (size_t i = 0; i < st->ncues; i++)
        cue_free(st->cues[i]);
    st->ncues = 0;
    for (size_t i = 0; active->type == REDIS_REPLY_ARRAY && i + 1 < active->elements; i += 2) {
        cue_t *c = cue_parse(active->element[i + 1]->str, active->element[i + 1]->len);
        if (c)
            cue_add(st, c);
    }
    for (size_t i = 0; polls->type == REDIS_REPLY_ARRAY && i + 1 < polls->elements; i += 2) {
        const char *f = polls->element[i]->str, *colon = strchr(f, ':');
        if (colon == NULL || colon - f != 17)
            continue;
        char cid[18];
        memcpy(cid, f, 17);
        cid[17] = '\0';
        cue_t *c = cue_find(st, cid);
        if (c == NULL)
            continue;
        const char *what = colon + 1;
        int64_t v = cc_redis_reply_int(polls->element[i + 1]);
        if (strcmp(what, "open") == 0)
            c->open = v == 1;
        else if (isdigit((unsigned char)what[0]) && atoi(what) < CC_CUE_POLL_OPTIONS_MAX)
            c->counts[atoi(what)] = v;
    }
    snprintf(st->last_id, sizeof(st->last_id), "%s", id->str ? id->str : "0-0");
    bool was_ready = st->state == ST_READY;
    st->state = ST_READY;
    st->reload = false;
    stream_invalidate(st);
    for (vconn_t *vc = st->conns; vc; vc = vc->next)
        if (vc->c && !vc->hello_sent)
            send_hello(vc);
    if (!was_ready) {
        app->xread_stale = true;
        xread_kick(app);
    }
}

static void stream_load(ovs_t *st)
{
    if (st->loading)
        return;
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    cc_redis_args_add(&a, "EVAL");
    cc_redis_args_add(&a, ov_lua_state);
    cc_redis_args_add(&a, "4");
    cc_redis_args_add(&a, st->k_cues);
    cc_redis_args_add(&a, st->k_active);
    cc_redis_args_add(&a, st->k_polls);
    cc_redis_args_add(&a, st->k_live);
    if (cc_redis_send(st->app->cmd, &a, on_state_loaded, st) < 0) {
        st->reload = true;
        return;
    }
    st->loading = true;
}

static ovs_t *stream_get(ov_app_t *app, const char *name)
{
    ovs_t *st = stream_find(app, name);
    if (st)
        return st;
    if (app->nstreams >= MAX_STREAMS)
        return NULL;
    st = calloc(1, sizeof(*st));
    if (st == NULL)
        return NULL;
    st->app = app;
    snprintf(st->name, sizeof(st->name), "%s", name);
    snprintf(st->k_cues, sizeof(st->k_cues), "cc:{stream:%s}:cues", name);
    snprintf(st->k_active, sizeof(st->k_active), "cc:{stream:%s}:active", name);
    snprintf(st->k_polls, sizeof(st->k_polls), "cc:{stream:%s}:polls", name);
    snprintf(st->k_live, sizeof(st->k_live), "cc:{stream:%s}:live", name);
    snprintf(st->last_id, sizeof(st->last_id), "0-0");
    st->state = ST_LOADING;
    st->next = app->streams;
    app->streams = st;
    app->nstreams++;
    st->chat = ov_chat_room_new(app->chat, name, st);
    stream_load(st);
    return st;
}

static void stream_unlink(ov_app_t *app, ovs_t *st)
{
    for (ovs_t **pp = &app->streams; *pp; pp = &(*pp)->next) {
        if (*pp == st) {
            *pp = st->next;
            app->nstreams--;
            break;
        }
    }
    st->state = ST_GONE;
    if (!st->loading)
        stream_free(st);
    app->xread_stale = true;
}

/* ---- the blocking reader --------------------------------------------------------------------------- */

static void record_fanout(ov_app_t *app, int64_t created_ms)
{
    if (created_ms <= 0)
        return;
    double s = (double)(now_ms() - created_ms) / 1000.0;
    if (s < 0)
        s = 0;
    int i = 0;
    while (i < LAT_N && s > lat_bounds[i])
        i++;
    app->fanout_lat[i]++;
    app->fanout_sum += s;
    app->fanout_count++;
}

static const redisReply *field(const redisReply *fv, const char *name)
{
    for (size_t i = 0; fv && fv->type == REDIS_REPLY_ARRAY && i + 1 < fv->elements; i += 2)
        if (fv->element[i]->type == REDIS_REPLY_STRING && strcmp(fv->element[i]->str, name) == 0)
            return fv->element[i + 1];
    return NULL;
}

static const char *fstr(const redisReply *fv, const char *name)
{
    const redisReply *v = field(fv, name);
    return v && v->type == REDIS_REPLY_STRING ? v->str : NULL;
}

static void on_cue_entry(ovs_t *st, const redisReply *fv)
{
    ov_app_t *app = st->app;
    const char *op = fstr(fv, "op"), *id = fstr(fv, "id");
    if (op == NULL || id == NULL)
        return;
    app->cue_msgs++;
    if (strcmp(op, "create") == 0) {
        const redisReply *j = field(fv, "cue");
        if (j == NULL || j->type != REDIS_REPLY_STRING)
            return;
        cue_t *c = cue_parse(j->str, j->len);
        if (c == NULL)
            return;
        record_fanout(app, c->created_ms);
        cue_add(st, c);
        /* {"type":"cue","cue":<stored json>} without re-encoding it */
        static const char pre[] = "{\"type\":\"cue\",\"cue\":";
        cc_buf_t *b = cc_buf_new(sizeof(pre) - 1 + j->len + 1);
        if (b) {
            memcpy(b->data, pre, sizeof(pre) - 1);
            memcpy(b->data + sizeof(pre) - 1, j->str, j->len);
            b->data[b->len - 1] = '}';
            broadcast(st, b);
            cc_buf_unref(b);
        }
    } else if (strcmp(op, "end") == 0) {
        const char *end = fstr(fv, "end_pdt_ms");
        cue_remove(st, id);
        json_t *o = json_pack("{s:s,s:s,s:I}", "type", "cue_end", "id", id, "end_pdt_ms",
                              (json_int_t)(end ? strtoll(end, NULL, 10) : 0));
        cc_buf_t *b = buf_json(o);
        json_decref(o);
        broadcast(st, b);
        cc_buf_unref(b);
    } else if (strcmp(op, "poll") == 0 || strcmp(op, "tally") == 0) {
        cue_t *c = cue_find(st, id);
        if (c == NULL || c->kind != CC_CUE_POLL)
            return;
        parse_counts(c, fstr(fv, "counts"));
        stream_invalidate(st);
        if (strcmp(op, "poll") == 0) {
            const char *open = fstr(fv, "open");
            c->open = open && strcmp(open, "1") == 0;
            c->dirty = false;
            cc_buf_t *b = poll_msg("poll", c);
            broadcast(st, b);
            cc_buf_unref(b);
        } else if (!c->dirty) {
            /* Tallies are coalesced: at most one broadcast per poll per 100 ms,
             * however many votes arrive. */
            c->dirty = true;
            if (!app->tally_armed) {
                app->tally_armed = true;
                uv_timer_start(&app->tally_timer, on_tally_timer, 100, 0);
            }
        }
    }
}

static void on_tally_timer(uv_timer_t *t)
{
    ov_app_t *app = t->data;
    app->tally_armed = false;
    for (ovs_t *st = app->streams; st; st = st->next) {
        for (size_t i = 0; i < st->ncues; i++) {
            cue_t *c = st->cues[i];
            if (!c->dirty)
                continue;
            c->dirty = false;
            cc_buf_t *b = poll_msg("tally", c);
            broadcast(st, b);
            cc_buf_unref(b);
        }
    }
}

static void on_stock_entry(ov_app_t *app, const redisReply *fv)
{
    const char *sku = fstr(fv, "sku"), *units = fstr(fv, "stock"), *ver = fstr(fv, "version");
    if (sku == NULL || units == NULL)
        return;
    app->stock_updates++;
    for (ovs_t *st = app->streams; st; st = st->next)
        if (st->state == ST_READY)
            stock_apply(st, sku, strtoll(units, NULL, 10), ver ? strtoll(ver, NULL, 10) : 0);
}

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static void on_event_entry(ov_app_t *app, const redisReply *fv)
{
    const char *viewer = fstr(fv, "viewer");
    if (app->shop)
        ov_shop_on_event(app->shop, fv); /* a shop buy's answer, held as an HTTP request */
    if (app->gifts && ov_gifts_on_event(app->gifts, fv))
        return; /* a gift: broadcast to its room, not an order */
    app->order_events++;
    if (viewer == NULL)
        return;
    json_t *o = NULL;
    for (vconn_t *vc = app->viewers[hash_str(viewer) % VIEWER_BUCKETS]; vc; vc = vc->vnext) {
        if (vc->c == NULL || strcmp(vc->viewer, viewer) != 0)
            continue;
        if (o == NULL) {
            o = json_object();
            json_object_set_new(o, "type", json_string("order"));
            for (size_t i = 0; i + 1 < fv->elements; i += 2) {
                const redisReply *k = fv->element[i], *v = fv->element[i + 1];
                if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING || strcmp(k->str, "type") == 0)
                    continue;
                json_t *js = json_stringn(v->str, v->len);
                if (js)
                    json_object_set_new(o, k->str, js);
            }
        }
        json_incref(o);
        send_to(vc, o);
        app->order_events_delivered++;
    }
    json_decref(o);
}

static void on_retry_timer(uv_timer_t *t)
{
    xread_kick(t->data);
}

static void on_xread(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    ov_app_t *app = data;
    app->xread_busy = false;
    if (app->stopping)
        return;
    if (status < 0) {
        if (status != CC_ECLOSED && status != UV_ECANCELED)
            cc_log_warn("overlay.xread", "err=\"%s\"", cc_redis_status_str(status, reply));
        uv_timer_start(&app->retry_timer, on_retry_timer, 200, 0);
        return;
    }
    for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements; i++) {
        const redisReply *s = reply->element[i];
        if (s->type != REDIS_REPLY_ARRAY || s->elements != 2 || s->element[0]->type != REDIS_REPLY_STRING)
            continue;
        const char *key = s->element[0]->str;
        const redisReply *entries = s->element[1];
        ovs_t *st = NULL;
        bool is_stock = strcmp(key, STOCK_KEY) == 0, is_events = strcmp(key, EVENTS_KEY) == 0;
        if (!is_stock && !is_events) {
            for (ovs_t *x = app->streams; x; x = x->next)
                if (strcmp(x->k_cues, key) == 0)
                    st = x;
            if (st == NULL)
                continue;
        }
        for (size_t k = 0; entries->type == REDIS_REPLY_ARRAY && k < entries->elements; k++) {
            const redisReply *e = entries->element[k];
            if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING)
                continue;
            const char *eid = e->element[0]->str;
            if (is_stock) {
                snprintf(app->stock_id, sizeof(app->stock_id), "%s", eid);
                on_stock_entry(app, e->element[1]);
            } else if (is_events) {
                snprintf(app->events_id, sizeof(app->events_id), "%s", eid);
                on_event_entry(app, e->element[1]);
            } else {
                snprintf(st->last_id, sizeof(st->last_id), "%s", eid);
                on_cue_entry(st, e->element[1]);
            }
        }
    }
    xread_kick(app);
}

static void on_unblocked(cc_redis_t *r, int status, redisReply *reply, void *data) {}

static void on_last_ids(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    ov_app_t *app = data;
    app->ids_loading = false;
    if (app->stopping)
        return;
    if (status < 0 || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        uv_timer_start(&app->retry_timer, on_retry_timer, 200, 0);
        return;
    }
    char *ids[2] = {app->stock_id, app->events_id};
    for (int i = 0; i < 2; i++) {
        const redisReply *x = reply->element[i];
        if (x->type == REDIS_REPLY_ARRAY && x->elements > 0 && x->element[0]->type == REDIS_REPLY_ARRAY &&
            x->element[0]->elements == 2 && x->element[0]->element[0]->type == REDIS_REPLY_STRING)
            snprintf(ids[i], 48, "%s", x->element[0]->element[0]->str);
        else
            snprintf(ids[i], 48, "0-0");
    }
    app->ids_ready = true;
    xread_kick(app);
}

static void on_client_id(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    ov_app_t *app = data;
    if (status == 0 && reply->type == REDIS_REPLY_INTEGER)
        app->blk_client_id = reply->integer;
    app->xread_busy = false;
    if (!app->stopping)
        xread_kick(app);
}

/* (Re)starts the one blocking XREAD over every ready stream's cue stream, the
 * stock stream and the order events.  When the set of streams changed while
 * it blocks, CLIENT UNBLOCK ends it early and it starts again. */
static void xread_kick(ov_app_t *app)
{
    if (app->stopping || !cc_redis_ready(app->blk))
        return;
    if (!app->ids_ready) {
        if (!app->ids_loading && cc_redis_ready(app->cmd)) {
            /* Where the shared streams end now: read from there. */
            static const char script[] = "return {redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1), "
                                         "redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)}";
            cc_redis_args_t a;
            cc_redis_args_init(&a);
            cc_redis_args_add(&a, "EVAL");
            cc_redis_args_add(&a, script);
            cc_redis_args_add(&a, "2");
            cc_redis_args_add(&a, STOCK_KEY);
            cc_redis_args_add(&a, EVENTS_KEY);
            /* Two keys of one slot ({orders}): fine on a cluster too. */
            if (cc_redis_send(app->cmd, &a, on_last_ids, app) == 0)
                app->ids_loading = true;
        }
        return;
    }
    if (app->xread_busy) {
        if (app->xread_stale && app->blk_client_id > 0 && cc_redis_ready(app->cmd)) {
            app->xread_stale = false;
            cc_redis_command(app->cmd, on_unblocked, NULL, "CLIENT UNBLOCK %lld", app->blk_client_id);
        }
        return;
    }
    if (app->blk_client_id <= 0) {
        if (cc_redis_command(app->blk, on_client_id, app, "CLIENT ID") == 0)
            app->xread_busy = true;
        return;
    }
    app->xread_stale = false;
    /* One blocking read for every stream this overlay follows, however many:
     * each ready stream's cues, then the shared stock and events streams. */
    size_t ready = 0;
    for (ovs_t *st = app->streams; st; st = st->next)
        ready += st->state == ST_READY;
    const char **keys = malloc((ready + 2) * sizeof(*keys));
    const char **ids = malloc((ready + 2) * sizeof(*ids));
    int rc = CC_ENOMEM;
    if (keys && ids) {
        size_t k = 0;
        for (ovs_t *st = app->streams; st; st = st->next) {
            if (st->state == ST_READY) {
                keys[k] = st->k_cues;
                ids[k++] = st->last_id;
            }
        }
        keys[k] = STOCK_KEY;
        ids[k++] = app->stock_id;
        keys[k] = EVENTS_KEY;
        ids[k++] = app->events_id;
        rc = cc_redis_xread(app->blk, 512, app->cfg.block_ms, k, keys, ids, on_xread, app);
    }
    free(keys);
    free(ids);
    if (rc < 0) {
        cc_log_warn("overlay.xread", "err=%s", cc_err_name(rc));
        uv_timer_start(&app->retry_timer, on_retry_timer, 200, 0);
        return;
    }
    app->xread_busy = true;
}

static void on_redis_ready(cc_redis_t *r, void *data)
{
    ov_app_t *app = data;
    cc_log_info("overlay.redis_ready", "conn=%s", cc_redis_name(r));
    if (r == app->blk) {
        app->blk_client_id = 0; /* a new connection has a new id */
        app->xread_busy = false;
    }
    if (r == app->cmd) {
        for (ovs_t *st = app->streams; st; st = st->next)
            if (st->state != ST_READY || st->reload)
                stream_load(st);
        ov_chat_redis_ready(app->chat);
    }
    xread_kick(app);
}

static void on_redis_down(cc_redis_t *r, int err, const char *why, void *data)
{
    ov_app_t *app = data;
    cc_log_warn("overlay.redis_down", "conn=%s err=%s why=\"%s\"", cc_redis_name(r), cc_err_name(err), why);
    if (r == app->blk)
        app->xread_busy = false;
}

/* ---- sweeping: idle streams, expired cues, failed loads ------------------------------------------------ */

typedef struct end_ctx {
    ov_app_t *app;
} end_ctx_t;

static void on_expire_done(cc_redis_t *r, int status, redisReply *reply, void *data) {}

static void send_end(ov_app_t *app, const char *stream, const char *id, int64_t end_pdt, cc_redis_cb cb, void *data)
{
    char k1[96], k2[96], k3[96], k4[128];
    snprintf(k1, sizeof(k1), "cc:{stream:%s}:cues", stream);
    snprintf(k2, sizeof(k2), "cc:{stream:%s}:active", stream);
    snprintf(k3, sizeof(k3), "cc:{stream:%s}:polls", stream);
    snprintf(k4, sizeof(k4), "cc:{stream:%s}:voters:%s", stream, id);
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    cc_redis_args_add(&a, "EVAL");
    cc_redis_args_add(&a, ov_lua_end);
    cc_redis_args_add(&a, "4");
    cc_redis_args_add(&a, k1);
    cc_redis_args_add(&a, k2);
    cc_redis_args_add(&a, k3);
    cc_redis_args_add(&a, k4);
    cc_redis_args_add(&a, id);
    cc_redis_args_addi(&a, end_pdt);
    cc_redis_args_addi(&a, app->cfg.stream_maxlen);
    cc_redis_args_add(&a, "86400");
    int rc = cc_redis_send(app->cmd, &a, cb, data);
    if (rc < 0 && cb != on_expire_done)
        cb(app->cmd, rc, NULL, data); /* callers of send_end expect exactly one callback */
}

static void on_sweep(uv_timer_t *t)
{
    ov_app_t *app = t->data;
    int64_t now = now_ms();
    for (ovs_t *st = app->streams, *next; st; st = next) {
        next = st->next;
        if (st->nconns == 0 && !st->loading && now - st->idle_since > STREAM_IDLE_MS) {
            stream_unlink(app, st);
            continue;
        }
        if (st->reload && !st->loading && cc_redis_ready(app->cmd))
            stream_load(st);
        if (st->state != ST_READY || !cc_redis_ready(app->cmd))
            continue;
        for (size_t i = 0; i < st->ncues; i++) {
            cue_t *c = st->cues[i];
            if (c->duration_ms > 0 && c->pdt_ms + c->duration_ms + app->cfg.cue_grace_ms < now)
                send_end(app, st->name, c->id, c->pdt_ms + c->duration_ms, on_expire_done, NULL);
        }
    }
    if (app->xread_stale)
        xread_kick(app);
}

/* ---- viewers ------------------------------------------------------------------------------------------ */

static void viewer_map_add(ov_app_t *app, vconn_t *vc)
{
    uint32_t b = hash_str(vc->viewer) % VIEWER_BUCKETS;
    vc->vnext = app->viewers[b];
    app->viewers[b] = vc;
}

static void viewer_map_del(ov_app_t *app, vconn_t *vc)
{
    for (vconn_t **pp = &app->viewers[hash_str(vc->viewer) % VIEWER_BUCKETS]; *pp; pp = &(*pp)->vnext) {
        if (*pp == vc) {
            *pp = vc->vnext;
            return;
        }
    }
}

static int on_ws_open(ov_conn_t *c, const char *path, const char *query, void *data)
{
    ov_app_t *app = data;
    /* /v1/streams/NAME/ws */
    const char *name = path + 12;
    size_t n = strlen(name);
    if (strncmp(path, "/v1/streams/", 12) != 0 || n < 4 || strcmp(name + n - 3, "/ws") != 0 ||
        cc_cue_stream_name_check(name, n - 3) < 0)
        return OV_CLOSE_NOT_FOUND;
    char sname[65];
    snprintf(sname, sizeof(sname), "%.*s", (int)(n - 3), name);
    ovs_t *st = stream_get(app, sname);
    if (st == NULL) {
        cc_log_warn("overlay.streams_full", "stream=%s max=%d", sname, MAX_STREAMS);
        return OV_CLOSE_TRY_LATER;
    }
    vconn_t *vc = calloc(1, sizeof(*vc));
    if (vc == NULL)
        return OV_CLOSE_INTERNAL;
    vc->c = c;
    vc->app = app;
    vc->st = st;
    vc->refs = 1;
    vc->tokens = app->cfg.msg_rate;
    vc->tokens_at = now_ms();
    /* ?viewer=TOKEN keeps an identity across reconnects, if it is ours. */
    const char *q = strstr(query, "viewer=");
    bool have = false;
    if (q && (q == query || q[-1] == '&')) {
        char tok[OV_VIEWER_TOKEN_LEN + 2];
        size_t tl = strcspn(q + 7, "&");
        if (tl >= sizeof(tok))
            tl = sizeof(tok) - 1;
        memcpy(tok, q + 7, tl);
        tok[tl] = '\0';
        if (ov_ident_check(app->cfg.viewer_secret, app->cfg.viewer_secret_len, tok, vc->viewer) == 0) {
            memcpy(vc->token, tok, OV_VIEWER_TOKEN_LEN + 1); /* checked: exactly this long */
            have = true;
        }
    }
    if (!have && ov_ident_new(app->cfg.viewer_secret, app->cfg.viewer_secret_len, vc->viewer, vc->token) < 0) {
        free(vc);
        return OV_CLOSE_INTERNAL;
    }
    ov_chat_member_init(&vc->chat, vc, vc->viewer, query); /* the display name: ?name= */
    vc->next = st->conns;
    if (st->conns)
        st->conns->prev = vc;
    st->conns = vc;
    st->nconns++;
    viewer_map_add(app, vc);
    ov_conn_set_data(c, vc);
    if (st->state == ST_READY)
        send_hello(vc);
    else if (!st->loading && cc_redis_ready(app->cmd))
        stream_load(st);
    return 0;
}

static void on_ws_close(ov_conn_t *c, void *data)
{
    ov_app_t *app = data;
    vconn_t *vc = ov_conn_data(c);
    if (vc == NULL)
        return;
    ovs_t *st = vc->st;
    if (vc->prev)
        vc->prev->next = vc->next;
    else
        st->conns = vc->next;
    if (vc->next)
        vc->next->prev = vc->prev;
    if (--st->nconns == 0)
        st->idle_since = now_ms();
    viewer_map_del(app, vc);
    vc->c = NULL;
    vconn_unref(vc);
}

typedef struct vop {
    vconn_t *vc;
    char req[CC_VIEWER_ID_MAX + 1];
    char id[CC_CUE_ID_MAX + 1];
} vop_t;

static vop_t *vop_new(vconn_t *vc, const cc_viewer_msg_t *m)
{
    vop_t *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return NULL;
    op->vc = vc;
    vc->refs++;
    snprintf(op->req, sizeof(op->req), "%s", m->req);
    snprintf(op->id, sizeof(op->id), "%s", m->cue_id);
    return op;
}

static void vop_free(vop_t *op)
{
    vconn_unref(op->vc);
    free(op);
}

static void on_buy_reply(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    vop_t *op = data;
    ov_app_t *app = op->vc->app;
    if (status < 0 || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        app->buys_failed++;
        cc_log_warn("overlay.buy_failed", "viewer=%s err=\"%s\"", op->vc->viewer, cc_redis_status_str(status, reply));
        send_error(op->vc, op->req, "buy", "unavailable", "the order could not be recorded: try again");
    } else if (cc_redis_reply_int(reply->element[0]) == 1) {
        app->buys_accepted++;
        json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s}", "type", "ack", "action", "buy", "status", "accepted", "cue_id",
                              op->id, "entry", reply->element[1]->str ? reply->element[1]->str : "");
        if (op->req[0])
            json_object_set_new(o, "req", json_string(op->req));
        send_to(op->vc, o);
    } else {
        app->buys_rate_limited++;
        json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:I}", "type", "error", "action", "buy", "code", "rate_limited",
                              "message", "too many buys: wait a moment", "retry_after_ms",
                              (json_int_t)cc_redis_reply_int(reply->element[1]));
        if (op->req[0])
            json_object_set_new(o, "req", json_string(op->req));
        send_to(op->vc, o);
    }
    vop_free(op);
}

static void handle_buy(vconn_t *vc, const cc_viewer_msg_t *m)
{
    ov_app_t *app = vc->app;
    ovs_t *st = vc->st;
    cue_t *c = st->state == ST_READY ? cue_find(st, m->cue_id) : NULL;
    const char *why = NULL, *code = "invalid";
    int64_t now = now_ms();
    if (c == NULL) {
        why = "this offer is not active";
        code = "cue_not_active";
    } else if (c->kind != CC_CUE_PRODUCT && c->kind != CC_CUE_BUY_BUTTON) {
        why = "this cue is not a product";
    } else if (strcmp(c->sku, m->sku) != 0) {
        why = "sku does not match the cue's product";
    } else if (c->duration_ms > 0 && c->pdt_ms + c->duration_ms + app->cfg.cue_grace_ms < now) {
        why = "this offer has ended";
        code = "cue_not_active";
    } else if (m->qty > app->cfg.max_qty || (c->max_qty > 0 && m->qty > c->max_qty)) {
        why = "quantity above the limit";
        code = "qty_limit";
    }
    if (why) {
        app->buys_rejected++;
        send_error(vc, m->req, "buy", code, why);
        return;
    }
    vop_t *op = vop_new(vc, m);
    if (op == NULL)
        return;
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    cc_redis_args_add(&a, "EVAL");
    cc_redis_args_add(&a, ov_lua_buy);
    cc_redis_args_add(&a, "2");
    cc_redis_args_addf(&a, "cc:{orders}:rl:%s", vc->viewer);
    cc_redis_args_add(&a, BUYS_KEY);
    cc_redis_args_addi(&a, app->cfg.buy_rate);
    cc_redis_args_addi(&a, app->cfg.buy_window_ms);
    cc_redis_args_add(&a, "idem");
    cc_redis_args_add(&a, m->idem);
    cc_redis_args_add(&a, "viewer");
    cc_redis_args_add(&a, vc->viewer);
    cc_redis_args_add(&a, "sku");
    cc_redis_args_add(&a, c->sku);
    cc_redis_args_add(&a, "qty");
    cc_redis_args_addi(&a, m->qty);
    cc_redis_args_add(&a, "price");
    cc_redis_args_addi(&a, c->price);
    cc_redis_args_add(&a, "currency");
    cc_redis_args_add(&a, c->currency);
    cc_redis_args_add(&a, "stream");
    cc_redis_args_add(&a, st->name);
    cc_redis_args_add(&a, "creator");
    cc_redis_args_add(&a, c->creator[0] ? c->creator : st->name);
    cc_redis_args_add(&a, "cue");
    cc_redis_args_add(&a, c->id);
    cc_redis_args_add(&a, "ts");
    cc_redis_args_addi(&a, now);
    cc_redis_args_add(&a, "node");
    cc_redis_args_add(&a, app->cfg.node);
    if (m->req[0]) {
        cc_redis_args_add(&a, "req");
        cc_redis_args_add(&a, m->req);
    }
    int rc = cc_redis_send(app->cmd, &a, on_buy_reply, op);
    if (rc < 0) {
        app->buys_failed++;
        send_error(vc, m->req, "buy", "unavailable", "orders are unavailable right now: try again");
        vop_free(op);
    }
}

static void on_vote_reply(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    vop_t *op = data;
    ov_app_t *app = op->vc->app;
    if (status == CC_REDIS_EREPLY && reply && reply->str) {
        app->votes_rejected++;
        const char *code = strncmp(reply->str, "CLOSED", 6) == 0 ? "poll_closed"
                           : strncmp(reply->str, "OPTION", 6) == 0 ? "invalid"
                                                                    : "poll_not_active";
        const char *sp = strchr(reply->str, ' ');
        send_error(op->vc, op->req, "vote", code, sp ? sp + 1 : reply->str);
    } else if (status < 0 || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        app->votes_rejected++;
        send_error(op->vc, op->req, "vote", "unavailable", "the vote could not be recorded: try again");
    } else {
        bool counted = cc_redis_reply_int(reply->element[0]) == 1;
        if (counted)
            app->votes_counted++;
        else
            app->votes_repeated++;
        json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "type", counted ? "ack" : "error", "action", "vote",
                              counted ? "status" : "code", counted ? "counted" : "already_voted", "poll_id", op->id);
        if (!counted)
            json_object_set_new(o, "message", json_string("you already voted in this poll"));
        if (op->req[0])
            json_object_set_new(o, "req", json_string(op->req));
        send_to(op->vc, o);
    }
    vop_free(op);
}

static void handle_vote(vconn_t *vc, const cc_viewer_msg_t *m)
{
    ov_app_t *app = vc->app;
    ovs_t *st = vc->st;
    cue_t *c = st->state == ST_READY ? cue_find(st, m->cue_id) : NULL;
    if (c == NULL || c->kind != CC_CUE_POLL) {
        app->votes_rejected++;
        send_error(vc, m->req, "vote", "poll_not_active", "this poll is not active");
        return;
    }
    if (m->option >= c->nopt) {
        app->votes_rejected++;
        send_error(vc, m->req, "vote", "invalid", "option: no such option");
        return;
    }
    vop_t *op = vop_new(vc, m);
    if (op == NULL)
        return;
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    cc_redis_args_add(&a, "EVAL");
    cc_redis_args_add(&a, ov_lua_vote);
    cc_redis_args_add(&a, "3");
    cc_redis_args_add(&a, st->k_polls);
    cc_redis_args_addf(&a, "cc:{stream:%s}:voters:%s", st->name, c->id);
    cc_redis_args_add(&a, st->k_cues);
    cc_redis_args_add(&a, c->id);
    cc_redis_args_addi(&a, m->option);
    cc_redis_args_add(&a, vc->viewer);
    cc_redis_args_addi(&a, app->cfg.stream_maxlen);
    if (cc_redis_send(app->cmd, &a, on_vote_reply, op) < 0) {
        app->votes_rejected++;
        send_error(vc, m->req, "vote", "unavailable", "votes are unavailable right now: try again");
        vop_free(op);
    }
}

/* ---- gifts (gift.c): the host side ---- */

static void gift_reply(void *who, cc_buf_t *msg)
{
    vconn_t *vc = who;
    if (vc->c)
        ov_conn_send(vc->c, msg);
}

static void gift_release(void *who) { vconn_unref(who); }

static size_t gift_broadcast(void *host, const char *stream, cc_buf_t *msg)
{
    ovs_t *st = stream_find(host, stream);
    if (st == NULL || st->state != ST_READY)
        return 0;
    broadcast(st, msg);
    return st->nconns;
}

static void gift_to_viewer(void *host, const char *viewer, cc_buf_t *msg)
{
    ov_app_t *app = host;
    for (vconn_t *vc = app->viewers[hash_str(viewer) % VIEWER_BUCKETS]; vc; vc = vc->vnext)
        if (vc->c && vc->hello_sent && strcmp(vc->viewer, viewer) == 0)
            ov_conn_send(vc->c, msg);
}

static void on_ws_message(ov_conn_t *c, const char *msg, size_t len, void *data)
{
    ov_app_t *app = data;
    vconn_t *vc = ov_conn_data(c);
    if (vc == NULL)
        return;
    /* token bucket: msg_rate messages per 10 s */
    int64_t now = now_ms();
    vc->tokens += (double)(now - vc->tokens_at) * app->cfg.msg_rate / 10000.0;
    vc->tokens_at = now;
    if (vc->tokens > app->cfg.msg_rate)
        vc->tokens = app->cfg.msg_rate;
    cc_viewer_msg_t m;
    char err[160];
    ov_gift_msg_t gm;
    int grc = ov_gift_msg_parse(msg, len, &gm, err, sizeof(err));
    if (grc != 1) { /* a gift (gift.c); same rate limit and hello rule as every message */
        if (vc->tokens < 1 || !vc->hello_sent || grc < 0) {
            send_error(vc, gm.req, "gift", grc < 0 ? "invalid" : vc->tokens < 1 ? "rate_limited" : "not_ready",
                       grc < 0 ? err : vc->tokens < 1 ? "too many messages: slow down" : "wait for hello");
        } else {
            vc->refs++; /* released by gift_release */
            ov_gifts_send(app->gifts, vc, vc->viewer, vc->st->name, vc->st->name, &gm);
        }
        if (vc->tokens >= 1)
            vc->tokens -= 1;
        return;
    }
    int rc = cc_viewer_parse(msg, len, CC_VIEWER_MSG_MAX, &m, err, sizeof(err));
    if (vc->tokens < 1) {
        send_error(vc, rc == 0 ? m.req : NULL, "message", "rate_limited", "too many messages: slow down");
        return;
    }
    vc->tokens -= 1;
    if (rc < 0 && vc->st->chat && ov_chat_on_message(vc->st->chat, &vc->chat, msg, len))
        return; /* a chat message (chat.c) */
    if (rc < 0) {
        send_error(vc, m.req, "message", "invalid", err);
        return;
    }
    if (!vc->hello_sent) {
        send_error(vc, m.req, "message", "not_ready", "wait for hello");
        return;
    }
    switch (m.type) {
    case CC_VIEWER_PING: {
        json_t *o = json_pack("{s:s,s:I}", "type", "pong", "server_ms", (json_int_t)now);
        if (m.req[0])
            json_object_set_new(o, "req", json_string(m.req));
        send_to(vc, o);
        break;
    }
    case CC_VIEWER_BUY:
        handle_buy(vc, &m);
        break;
    case CC_VIEWER_VOTE:
        handle_vote(vc, &m);
        break;
    }
}

/* ---- REST ------------------------------------------------------------------------------------------------ */

typedef struct rest {
    ov_app_t *app;
    ov_http_t *req;
    char stream[65];
    char id[CC_CUE_ID_MAX + 1];
    char idem[72];
    char fingerprint[20];
    cc_cue_req_t cue;
    int64_t explicit_end;
    int open; /* poll open/close */
    char sku[CC_CUE_SKU_MAX + 1];
    int64_t units;
    char limit[24];
    int pending; /* GET /v1/streams: replies outstanding */
    json_t *acc;
} rest_t;

static void rest_free(rest_t *x)
{
    json_decref(x->cue.body);
    json_decref(x->acc);
    free(x);
}

static void rest_redis_error(rest_t *x, int status, const redisReply *reply)
{
    x->app->rest_errors++;
    cc_log_warn("overlay.rest_redis", "stream=%s err=\"%s\"", x->stream, cc_redis_status_str(status, reply));
    ov_http_respond_error(x->req, 503, "redis_unavailable", cc_redis_status_str(status, reply));
}

static const ov_token_t *auth_check(ov_app_t *app, ov_http_t *req, const char *stream)
{
    const char *h = ov_http_authorization(req);
    if (strncasecmp(h, "Bearer ", 7) != 0 || h[7] == '\0') {
        static const char body[] = "{\"error\":\"unauthorized\",\"message\":\"send Authorization: Bearer TOKEN\"}";
        ov_http_respond(req, 401, "application/json", body, sizeof(body) - 1,
                        "www-authenticate: Bearer realm=\"cartcast-overlay\"\r\n");
        return NULL;
    }
    const char *tok = h + 7;
    size_t tl = strlen(tok);
    const ov_token_t *hit = NULL;
    for (size_t i = 0; i < app->cfg.ntokens; i++) {
        const ov_token_t *t = &app->cfg.tokens[i];
        if (strlen(t->token) == tl && CRYPTO_memcmp(t->token, tok, tl) == 0)
            hit = t;
    }
    if (hit == NULL) {
        static const char body[] = "{\"error\":\"unauthorized\",\"message\":\"unknown token\"}";
        ov_http_respond(req, 401, "application/json", body, sizeof(body) - 1,
                        "www-authenticate: Bearer realm=\"cartcast-overlay\", error=\"invalid_token\"\r\n");
        return NULL;
    }
    if (hit->all)
        return hit;
    for (size_t i = 0; i < hit->nstreams; i++)
        if (strcmp(hit->streams[i], stream) == 0)
            return hit;
    ov_http_respond_error(req, 403, "forbidden", "this token may not control this stream");
    return NULL;
}

static uint64_t fnv64(const void *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ ((const uint8_t *)p)[i]) * 1099511628211ull;
    return h;
}

typedef void (*live_cb)(rest_t *x, int64_t pdt_ms, int64_t start_pdt_ms);

/* Reads the live edge the origin publishes: 404 when the stream was never
 * announced, 409 when it is not live (live=0 or no part for live_stale_ms). */
typedef struct live_ctx {
    rest_t *x;
    live_cb cb;
    bool need_live;
} live_ctx_t;

static void on_live(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    live_ctx_t *lc = data;
    rest_t *x = lc->x;
    live_cb cb = lc->cb;
    bool need_live = lc->need_live;
    free(lc);
    if (status < 0 || reply->type != REDIS_REPLY_ARRAY || reply->elements != 4) {
        rest_redis_error(x, status, reply);
        rest_free(x);
        return;
    }
    if (reply->element[0]->type == REDIS_REPLY_NIL) {
        ov_http_respond_error(x->req, 404, "unknown_stream", "no origin has announced this stream");
        rest_free(x);
        return;
    }
    int64_t pdt = cc_redis_reply_int(reply->element[0]), live = cc_redis_reply_int(reply->element[1]);
    int64_t updated = cc_redis_reply_int(reply->element[2]), start = cc_redis_reply_int(reply->element[3]);
    if (need_live && (live != 1 || now_ms() - updated > x->app->cfg.live_stale_ms)) {
        ov_http_respond_error(x->req, 409, "not_live", live != 1 ? "the stream is not live"
                                                                 : "the stream is not live (no new media recently)");
        rest_free(x);
        return;
    }
    cb(x, pdt, start);
}

static void with_live(rest_t *x, bool need_live, live_cb cb)
{
    live_ctx_t *lc = malloc(sizeof(*lc));
    if (lc == NULL) {
        ov_http_respond_error(x->req, 500, "internal", "out of memory");
        rest_free(x);
        return;
    }
    lc->x = x;
    lc->cb = cb;
    lc->need_live = need_live;
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    cc_redis_args_add(&a, "HMGET");
    cc_redis_args_addf(&a, "cc:{stream:%s}:live", x->stream);
    cc_redis_args_add(&a, "pdt_ms");
    cc_redis_args_add(&a, "live");
    cc_redis_args_add(&a, "updated_ms");
    cc_redis_args_add(&a, "start_pdt_ms");
    int rc = cc_redis_send(x->app->cmd, &a, on_live, lc);
    if (rc < 0) {
        free(lc);
        rest_redis_error(x, rc, NULL);
        rest_free(x);
    }
}

static void on_created(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    rest_t *x = data;
    if (status == CC_REDIS_EREPLY && reply && reply->str && strncmp(reply->str, "LIMIT", 5) == 0) {
        ov_http_respond_error(x->req, 409, "too_many_cues", reply->str + 6);
    } else if (status < 0 || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) {
        rest_redis_error(x, status, reply);
    } else if (cc_redis_reply_int(reply->element[0]) == 1) {
        x->app->cues_created++;
        ov_http_respond(x->req, 201, "application/json", reply->element[1]->str, reply->element[1]->len, NULL);
    } else if (strcmp(reply->element[2]->str, x->fingerprint) != 0) {
        ov_http_respond_error(x->req, 422, "idempotency_key_reused",
                              "this Idempotency-Key was used for a different request");
    } else {
        x->app->cues_replayed++;
        ov_http_respond(x->req, 200, "application/json", reply->element[1]->str, reply->element[1]->len,
                        "idempotent-replayed: true\r\n");
    }
    rest_free(x);
}

static void create_stamped(rest_t *x, int64_t live_pdt, int64_t start_pdt)
{
    ov_app_t *app = x->app;
    int64_t pdt = x->cue.pdt_ms >= 0 ? x->cue.pdt_ms : live_pdt;
    if (x->cue.media_ms >= 0) {
        if (start_pdt <= 0) {
            ov_http_respond_error(x->req, 409, "no_media_time", "the origin has not published the stream's start");
            rest_free(x);
            return;
        }
        pdt = start_pdt + x->cue.media_ms;
    }
    char rnd[17];
    if (ov_random_hex(rnd, 8) < 0) {
        ov_http_respond_error(x->req, 500, "internal", "no randomness");
        rest_free(x);
        return;
    }
    snprintf(x->id, sizeof(x->id), "c%s", rnd);
    json_t *cue = json_object();
    json_object_set_new(cue, "id", json_string(x->id));
    json_object_set_new(cue, "stream", json_string(x->stream));
    json_object_set(cue, "kind", json_object_get(x->cue.body, "kind"));
    json_object_set_new(cue, "pdt_ms", json_integer(pdt));
    if (x->cue.duration_ms > 0) {
        json_object_set_new(cue, "duration_ms", json_integer(x->cue.duration_ms));
        json_object_set_new(cue, "end_pdt_ms", json_integer(pdt + x->cue.duration_ms));
    }
    json_object_set_new(cue, "created_ms", json_integer(now_ms()));
    const char *key;
    json_t *v;
    json_object_foreach(x->cue.body, key, v) {
        if (strcmp(key, "kind") != 0)
            json_object_set(cue, key, v);
    }
    char *text = json_dumps(cue, JSON_COMPACT);
    json_decref(cue);
    int nopt = x->cue.kind == CC_CUE_POLL
                   ? (int)json_array_size(json_object_get(json_object_get(x->cue.body, "poll"), "options"))
                   : 0;
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    cc_redis_args_add(&a, "EVAL");
    cc_redis_args_add(&a, ov_lua_create);
    cc_redis_args_add(&a, "4");
    cc_redis_args_addf(&a, "cc:{stream:%s}:cues", x->stream);
    cc_redis_args_addf(&a, "cc:{stream:%s}:active", x->stream);
    cc_redis_args_addf(&a, "cc:{stream:%s}:polls", x->stream);
    if (x->idem[0])
        cc_redis_args_addf(&a, "cc:{stream:%s}:idem:%s", x->stream, x->idem);
    else
        cc_redis_args_addf(&a, "cc:{stream:%s}:active", x->stream);
    cc_redis_args_add(&a, x->id);
    cc_redis_args_add(&a, text ? text : "{}");
    cc_redis_args_add(&a, x->fingerprint);
    cc_redis_args_addi(&a, app->cfg.idem_ttl_s);
    cc_redis_args_addi(&a, app->cfg.stream_maxlen);
    cc_redis_args_addi(&a, app->cfg.max_active_cues);
    cc_redis_args_addi(&a, nopt);
    cc_redis_args_add(&a, x->idem[0] ? "1" : "0");
    cc_redis_args_addi(&a, live_pdt);
    cc_redis_args_addi(&a, app->cfg.cue_grace_ms);
    int rc = cc_redis_send(app->cmd, &a, on_created, x);
    free(text);
    if (rc < 0) {
        rest_redis_error(x, rc, NULL);
        rest_free(x);
    }
}

static void rest_create(ov_app_t *app, ov_http_t *req, rest_t *x)
{
    cc_iov_t body = ov_http_body(req);
    cc_cue_errors_t errs;
    int rc = cc_cue_validate((const char *)body.base, body.len, &x->cue, &errs);
    if (rc < 0) {
        char *j = cc_cue_errors_json(&errs);
        ov_http_respond_json(req, rc == CC_ETOOBIG ? 413 : 400, j ? j : "{\"error\":\"validation\"}");
        free(j);
        rest_free(x);
        return;
    }
    const char *idem = ov_http_idempotency_key(req);
    if (idem[0]) {
        if (cc_cue_token_check(idem, strlen(idem)) < 0) {
            ov_http_respond_error(req, 400, "validation", "Idempotency-Key: must be 1-64 characters of [A-Za-z0-9._:@-]");
            rest_free(x);
            return;
        }
        snprintf(x->idem, sizeof(x->idem), "%s", idem);
    }
    snprintf(x->fingerprint, sizeof(x->fingerprint), "%016" PRIx64, fnv64(body.base, body.len));
    with_live(x, true, create_stamped);
}

static void on_ended(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    rest_t *x = data;
    if (status < 0 || reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        rest_redis_error(x, status, reply);
    } else if (reply->elements != 2) {
        ov_http_respond_error(x->req, 404, "unknown_cue", "no active cue with this id on this stream");
    } else {
        x->app->cues_ended++;
        json_t *o = json_loadb(reply->element[0]->str, reply->element[0]->len, 0, NULL);
        if (o == NULL)
            o = json_object();
        json_object_set_new(o, "ended", json_true());
        json_object_set_new(o, "end_pdt_ms", json_integer(x->explicit_end));
        char *s = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        ov_http_respond_json(x->req, 200, s ? s : "{}");
        free(s);
    }
    rest_free(x);
}

static void end_stamped(rest_t *x, int64_t live_pdt, int64_t start_pdt)
{
    if (x->explicit_end < 0)
        x->explicit_end = live_pdt > 0 ? live_pdt : now_ms();
    send_end(x->app, x->stream, x->id, x->explicit_end, on_ended, x);
}

static void on_poll_set(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    rest_t *x = data;
    if (status == CC_REDIS_EREPLY && reply && reply->str &&
        (strncmp(reply->str, "NOTFOUND", 8) == 0 || strncmp(reply->str, "NOTPOLL", 7) == 0)) {
        bool nf = reply->str[3] == 'F';
        ov_http_respond_error(x->req, nf ? 404 : 409, nf ? "unknown_cue" : "not_a_poll", strchr(reply->str, ' ') + 1);
    } else if (status < 0 || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        rest_redis_error(x, status, reply);
    } else {
        json_t *counts = json_array();
        for (const char *p = reply->element[0]->str; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
            json_array_append_new(counts, json_integer(strtoll(p, NULL, 10)));
        json_t *o = json_pack("{s:s,s:b,s:o}", "id", x->id, "open", x->open, "counts", counts);
        char *s = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        ov_http_respond_json(x->req, 200, s ? s : "{}");
        free(s);
    }
    rest_free(x);
}

static void rest_poll(ov_app_t *app, rest_t *x)
{
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    cc_redis_args_add(&a, "EVAL");
    cc_redis_args_add(&a, ov_lua_poll);
    cc_redis_args_add(&a, "3");
    cc_redis_args_addf(&a, "cc:{stream:%s}:cues", x->stream);
    cc_redis_args_addf(&a, "cc:{stream:%s}:active", x->stream);
    cc_redis_args_addf(&a, "cc:{stream:%s}:polls", x->stream);
    cc_redis_args_add(&a, x->id);
    cc_redis_args_add(&a, x->open ? "1" : "0");
    cc_redis_args_addi(&a, app->cfg.stream_maxlen);
    int rc = cc_redis_send(app->cmd, &a, on_poll_set, x);
    if (rc < 0) {
        rest_redis_error(x, rc, NULL);
        rest_free(x);
    }
}

static void on_listed(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    rest_t *x = data;
    if (status < 0 || reply->type != REDIS_REPLY_ARRAY || reply->elements != 4) {
        rest_redis_error(x, status, reply);
        rest_free(x);
        return;
    }
    if (cc_redis_reply_int(reply->element[3]) != 1) {
        ov_http_respond_error(x->req, 404, "unknown_stream", "no origin has announced this stream");
        rest_free(x);
        return;
    }
    json_t *cues = json_array(), *polls = json_object();
    redisReply *active = reply->element[1], *pr = reply->element[2];
    for (size_t i = 0; active->type == REDIS_REPLY_ARRAY && i + 1 < active->elements; i += 2) {
        json_t *c = json_loadb(active->element[i + 1]->str, active->element[i + 1]->len, 0, NULL);
        if (c)
            json_array_append_new(cues, c);
    }
    for (size_t i = 0; pr->type == REDIS_REPLY_ARRAY && i + 1 < pr->elements; i += 2) {
        const char *f = pr->element[i]->str, *colon = strchr(f, ':');
        if (colon == NULL || colon - f != 17)
            continue;
        char cid[18];
        snprintf(cid, sizeof(cid), "%.17s", f);
        json_t *p = json_object_get(polls, cid);
        if (p == NULL) {
            p = json_pack("{s:b,s:[]}", "open", 0, "counts");
            json_object_set_new(polls, cid, p);
        }
        int64_t v = cc_redis_reply_int(pr->element[i + 1]);
        if (strcmp(colon + 1, "open") == 0) {
            json_object_set_new(p, "open", json_boolean(v == 1));
        } else if (isdigit((unsigned char)colon[1])) {
            size_t k = (size_t)atoi(colon + 1);
            json_t *arr = json_object_get(p, "counts");
            while (json_array_size(arr) <= k && k < CC_CUE_POLL_OPTIONS_MAX)
                json_array_append_new(arr, json_integer(0));
            if (k < CC_CUE_POLL_OPTIONS_MAX)
                json_array_set_new(arr, k, json_integer(v));
        }
    }
    /* only active polls */
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(polls, tmp, key, v) {
        bool found = false;
        size_t i;
        json_t *c;
        json_array_foreach(cues, i, c) {
            const char *cid = json_string_value(json_object_get(c, "id"));
            found |= cid != NULL && strcmp(cid, key) == 0;
        }
        if (!found)
            json_object_del(polls, key);
    }
    json_t *o = json_pack("{s:s,s:o,s:o,s:I}", "stream", x->stream, "cues", cues, "polls", polls, "server_ms",
                          (json_int_t)now_ms());
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    ov_http_respond_json(x->req, 200, s ? s : "{}");
    free(s);
    rest_free(x);
}

static void rest_list(ov_app_t *app, rest_t *x)
{
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    cc_redis_args_add(&a, "EVAL");
    cc_redis_args_add(&a, ov_lua_state);
    cc_redis_args_add(&a, "4");
    cc_redis_args_addf(&a, "cc:{stream:%s}:cues", x->stream);
    cc_redis_args_addf(&a, "cc:{stream:%s}:active", x->stream);
    cc_redis_args_addf(&a, "cc:{stream:%s}:polls", x->stream);
    cc_redis_args_addf(&a, "cc:{stream:%s}:live", x->stream);
    int rc = cc_redis_send(app->cmd, &a, on_listed, x);
    if (rc < 0) {
        rest_redis_error(x, rc, NULL);
        rest_free(x);
    }
}

static void on_stock_published(cc_redis_t *r, int status, redisReply *reply, void *data) {}

static void on_stock_set(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    rest_t *x = data;
    if (status < 0 || reply->type != REDIS_REPLY_ARRAY || reply->elements != 4) {
        rest_redis_error(x, status, reply);
        rest_free(x);
        return;
    }
    int64_t version = cc_redis_reply_int(reply->element[1]);
    x->units = cc_redis_reply_int(reply->element[0]);
    /* Every overlay follows the stock stream: tell them ("3 left"). */
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    cc_redis_args_add(&a, "XADD");
    cc_redis_args_add(&a, STOCK_KEY);
    cc_redis_args_add(&a, "MAXLEN");
    cc_redis_args_add(&a, "~");
    cc_redis_args_add(&a, "10000");
    cc_redis_args_add(&a, "*");
    cc_redis_args_add(&a, "sku");
    cc_redis_args_add(&a, x->sku);
    cc_redis_args_add(&a, "stock");
    cc_redis_args_addi(&a, x->units);
    cc_redis_args_add(&a, "version");
    cc_redis_args_addi(&a, version);
    cc_redis_args_add(&a, "source");
    cc_redis_args_add(&a, "admin");
    cc_redis_send(x->app->cmd, &a, on_stock_published, NULL);
    json_t *o = json_pack("{s:s,s:I,s:I}", "sku", x->sku, "stock", (json_int_t)x->units, "version",
                          (json_int_t)version);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    ov_http_respond_json(x->req, 200, s ? s : "{}");
    free(s);
    rest_free(x);
}

static void rest_stock(ov_app_t *app, ov_http_t *req, rest_t *x)
{
    cc_iov_t body = ov_http_body(req);
    json_t *o = json_loadb((const char *)body.base, body.len, JSON_REJECT_DUPLICATES, NULL);
    cc_cue_errors_t errs = {0};
    json_t *sku = json_object_get(o, "sku"), *units = json_object_get(o, "stock"), *limit = json_object_get(o, "limit");
    int n = 0;
    cc_cue_error_t *e = errs.e;
    if (!json_is_object(o)) {
        snprintf(e[n].field, sizeof(e[n].field), "%s", "");
        snprintf(e[n++].message, sizeof(e[0].message), "must be a JSON object {\"sku\": ..., \"stock\": N}");
    } else {
        if (!json_is_string(sku) || cc_cue_sku_check(json_string_value(sku), json_string_length(sku)) < 0) {
            snprintf(e[n].field, sizeof(e[n].field), "sku");
            snprintf(e[n++].message, sizeof(e[0].message), "must be 1-64 characters of [A-Za-z0-9._-]");
        }
        if (!json_is_integer(units) || json_integer_value(units) < 0 || json_integer_value(units) > 1000000000) {
            snprintf(e[n].field, sizeof(e[n].field), "stock");
            snprintf(e[n++].message, sizeof(e[0].message), "must be an integer 0-1000000000");
        }
        if (limit && !json_is_null(limit) &&
            (!json_is_integer(limit) || json_integer_value(limit) < 0 || json_integer_value(limit) > 1000)) {
            snprintf(e[n].field, sizeof(e[n].field), "limit");
            snprintf(e[n++].message, sizeof(e[0].message), "must be an integer 0-1000 (units per viewer, 0 = none)");
        }
        const char *key;
        json_t *v;
        json_object_foreach(o, key, v) {
            if (strcmp(key, "sku") && strcmp(key, "stock") && strcmp(key, "limit") && n < CC_CUE_ERRORS_MAX) {
                snprintf(e[n].field, sizeof(e[n].field), "%.40s", key);
                snprintf(e[n++].message, sizeof(e[0].message), "unknown field");
            }
        }
    }
    errs.n = (size_t)n;
    if (n > 0) {
        char *j = cc_cue_errors_json(&errs);
        ov_http_respond_json(req, 400, j ? j : "{}");
        free(j);
        json_decref(o);
        rest_free(x);
        return;
    }
    snprintf(x->sku, sizeof(x->sku), "%s", json_string_value(sku));
    x->units = json_integer_value(units);
    if (json_is_integer(limit))
        snprintf(x->limit, sizeof(x->limit), "%" PRId64, (int64_t)json_integer_value(limit));
    json_decref(o);
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    cc_redis_args_add(&a, "EVAL");
    cc_redis_args_add(&a, ov_lua_stock_set);
    cc_redis_args_add(&a, "1");
    cc_redis_args_addf(&a, "cc:{sku:%s}:stock", x->sku);
    cc_redis_args_addi(&a, x->units);
    cc_redis_args_add(&a, x->limit);
    cc_redis_args_add(&a, "set");
    int rc = cc_redis_send(app->cmd, &a, on_stock_set, x);
    if (rc < 0) {
        rest_redis_error(x, rc, NULL);
        rest_free(x);
    }
}

/* GET /v1/streams: the streams origins announced, with their live edge. */
static void on_stream_live(cc_redis_t *r, int status, redisReply *reply, void *data);

static void respond_streams(rest_t *x)
{
    json_t *o = json_pack("{s:O,s:I}", "streams", x->acc, "server_ms", (json_int_t)now_ms());
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    ov_http_respond_json(x->req, 200, s ? s : "{}");
    free(s);
    rest_free(x);
}

typedef struct sl {
    rest_t *x;
    char name[65];
} sl_t;

static void on_stream_live(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    sl_t *sl = data;
    rest_t *x = sl->x;
    if (status == 0 && reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
        reply->element[0]->type != REDIS_REPLY_NIL) {
        int64_t updated = cc_redis_reply_int(reply->element[2]);
        bool live = cc_redis_reply_int(reply->element[1]) == 1 && now_ms() - updated <= x->app->cfg.live_stale_ms;
        json_array_append_new(x->acc, json_pack("{s:s,s:b,s:I,s:I}", "name", sl->name, "live", live, "pdt_ms",
                                                (json_int_t)cc_redis_reply_int(reply->element[0]), "updated_ms",
                                                (json_int_t)updated));
    }
    free(sl);
    if (--x->pending == 0)
        respond_streams(x);
}

static void on_stream_names(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    rest_t *x = data;
    if (status < 0 || reply->type != REDIS_REPLY_ARRAY) {
        rest_redis_error(x, status, reply);
        rest_free(x);
        return;
    }
    x->acc = json_array();
    x->pending = 1;
    for (size_t i = 0; i < reply->elements && i < 200; i++) {
        const redisReply *n = reply->element[i];
        if (n->type != REDIS_REPLY_STRING || cc_cue_stream_name_check(n->str, n->len) < 0)
            continue;
        sl_t *sl = calloc(1, sizeof(*sl));
        if (sl == NULL)
            break;
        sl->x = x;
        snprintf(sl->name, sizeof(sl->name), "%s", n->str);
        cc_redis_args_t a;
        cc_redis_args_init(&a);
        cc_redis_args_add(&a, "HMGET");
        cc_redis_args_addf(&a, "cc:{stream:%s}:live", n->str);
        cc_redis_args_add(&a, "pdt_ms");
        cc_redis_args_add(&a, "live");
        cc_redis_args_add(&a, "updated_ms");
        if (cc_redis_send(x->app->cmd, &a, on_stream_live, sl) == 0)
            x->pending++;
        else
            free(sl);
    }
    if (--x->pending == 0)
        respond_streams(x);
}

static void on_sales(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    rest_t *x = data;
    if (status < 0 || reply->type != REDIS_REPLY_ARRAY) {
        rest_redis_error(x, status, reply);
        rest_free(x);
        return;
    }
    /* orders, units, amount:CUR, commission:CUR -> {"orders":N,"units":N,"amount":{"EUR":N},"commission":{...}} */
    json_t *o = json_pack("{s:s,s:I,s:I,s:{},s:{}}", "stream", x->stream, "orders", (json_int_t)0, "units",
                          (json_int_t)0, "amount", "commission");
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        const char *k = reply->element[i]->str;
        json_int_t v = (json_int_t)cc_redis_reply_int(reply->element[i + 1]);
        if (k == NULL)
            continue;
        if (strcmp(k, "orders") == 0 || strcmp(k, "units") == 0)
            json_object_set_new(o, k, json_integer(v));
        else if (strncmp(k, "amount:", 7) == 0)
            json_object_set_new(json_object_get(o, "amount"), k + 7, json_integer(v));
        else if (strncmp(k, "commission:", 11) == 0)
            json_object_set_new(json_object_get(o, "commission"), k + 11, json_integer(v));
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    ov_http_respond_json(x->req, 200, s ? s : "{}");
    free(s);
    rest_free(x);
}

/* ---- metrics ---------------------------------------------------------------------------------------------- */

static void handle_metrics(ov_app_t *app, ov_http_t *req)
{
    cc_dynbuf_t d;
    cc_dynbuf_init(&d, 1u << 20);
    ov_server_stats_t s = {0};
    if (app->srv)
        ov_server_get_stats(app->srv, &s);
    int rc = 0;
#define G(name, help, v)                                                                                     \
    rc |= cc_dynbuf_appendf(&d, "# HELP cartcast_overlay_" name " " help "\n# TYPE cartcast_overlay_" name \
                                " gauge\ncartcast_overlay_" name " %llu\n",                                \
                            (unsigned long long)(v))
#define C(name, help, v)                                                                                       \
    rc |= cc_dynbuf_appendf(&d, "# HELP cartcast_overlay_" name "_total " help                                 \
                                "\n# TYPE cartcast_overlay_" name "_total counter\ncartcast_overlay_" name "_total %llu\n", \
                            (unsigned long long)(v))
    G("connections", "open viewer WebSockets", s.conns);
    G("streams_watched", "streams this instance follows (it has viewers)", app->nstreams);
    C("connections", "viewer WebSockets accepted", s.conns_total);
    C("ws_messages_in", "messages received from viewers", s.msgs_in);
    C("ws_messages_out", "messages written to viewers", s.msgs_out);
    C("ws_bytes_out", "payload bytes written to viewers", s.bytes_out);
    C("dropped_slow_clients", "viewers dropped because their send queue was full (close 4008)", s.dropped_slow);
    C("closed_oversize", "viewers closed for a message over the size cap (close 1009)", s.closed_too_big);
    C("refused_per_address", "WebSockets refused over the per-address cap (close 1013)", s.refused_addr);
    C("refused_full", "WebSockets refused over --max-connections (close 1013)", s.refused_total);
    C("closed_unknown_stream", "viewers closed because no origin announced their stream (close 4404)",
      app->closed_unknown);
    C("http_requests", "HTTP requests", s.http_requests);
    C("http_4xx", "HTTP answers 4xx", s.http_4xx);
    C("http_5xx", "HTTP answers 5xx", s.http_5xx);
    C("cues_created", "cues created through this instance's REST API", app->cues_created);
    C("cues_replayed", "cue creations answered from an idempotency key", app->cues_replayed);
    C("cues_ended", "cues ended through this instance's REST API", app->cues_ended);
    C("cue_messages", "cue stream entries received (create, end, poll, tally)", app->cue_msgs);
    C("buys_accepted", "buys appended to the orders stream", app->buys_accepted);
    C("buys_rate_limited", "buys refused by the per-viewer rate limit", app->buys_rate_limited);
    C("buys_rejected", "buys refused before Redis (cue not active, qty, sku)", app->buys_rejected);
    C("buys_failed", "buys that Redis could not record", app->buys_failed);
    C("votes_counted", "poll votes counted", app->votes_counted);
    C("votes_repeated", "votes refused because the viewer had voted", app->votes_repeated);
    C("votes_rejected", "votes refused (closed, unknown poll, Redis down)", app->votes_rejected);
    C("order_events", "order events read", app->order_events);
    C("order_events_delivered", "order events pushed to a buyer's connection", app->order_events_delivered);
    C("stock_updates", "stock stream entries read", app->stock_updates);
    C("rest_redis_errors", "REST requests answered 503 because of Redis", app->rest_errors);
    ov_gifts_stats_t gs = {0};
    if (app->gifts)
        ov_gifts_get_stats(app->gifts, &gs);
    C("gifts_sent", "gifts debited and recorded", gs.sent);
    C("gifts_duplicates", "gifts answered from their idempotency key", gs.duplicates);
    C("gifts_insufficient", "gifts refused: not enough coins", gs.insufficient);
    C("gifts_failed", "gifts Redis could not record", gs.failed);
    C("gifts_broadcast", "gift events broadcast to a room here", gs.broadcasts);
#undef G
#undef C
    rc |= cc_dynbuf_appendf(&d, "# HELP cartcast_overlay_cue_fanout_seconds cue creation (REST) to broadcast on this "
                                "instance\n# TYPE cartcast_overlay_cue_fanout_seconds histogram\n");
    uint64_t cum = 0;
    for (int i = 0; i < LAT_N; i++) {
        cum += app->fanout_lat[i];
        rc |= cc_dynbuf_appendf(&d, "cartcast_overlay_cue_fanout_seconds_bucket{le=\"%g\"} %llu\n", lat_bounds[i],
                                (unsigned long long)cum);
    }
    cum += app->fanout_lat[LAT_N];
    rc |= cc_dynbuf_appendf(&d,
                            "cartcast_overlay_cue_fanout_seconds_bucket{le=\"+Inf\"} %llu\n"
                            "cartcast_overlay_cue_fanout_seconds_sum %.6f\ncartcast_overlay_cue_fanout_seconds_count %llu\n",
                            (unsigned long long)cum, app->fanout_sum, (unsigned long long)app->fanout_count);
    cc_redis_t *clients[2] = {app->cmd, app->blk};
    rc |= cc_redis_render_metrics(clients, 2, "cartcast_overlay_redis", &d);
    if (app->chat)
        rc |= ov_chat_metrics(app->chat, &d); /* cartcast_overlay_chat_* */
    if (rc < 0)
        ov_http_respond_error(req, 500, "internal", "metrics too large");
    else
        ov_http_respond(req, 200, "text/plain; version=0.0.4", d.data, d.len, NULL);
    cc_dynbuf_free(&d);
}

/* ---- static files ----------------------------------------------------------------------------------------- */

static void serve_file(ov_http_t *req, const char *path, const char *type)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        ov_http_respond_error(req, 404, "not_found", "no such file");
        return;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) < 0 || sb.st_size > (8 << 20) || !S_ISREG(sb.st_mode)) {
        fclose(f);
        ov_http_respond_error(req, 404, "not_found", "no such file");
        return;
    }
    char *buf = malloc((size_t)sb.st_size + 1);
    size_t n = buf ? fread(buf, 1, (size_t)sb.st_size, f) : 0;
    fclose(f);
    if (buf == NULL) {
        ov_http_respond_error(req, 500, "internal", "out of memory");
        return;
    }
    ov_http_respond(req, 200, type, buf, n, NULL);
    free(buf);
}

static void handle_static(ov_app_t *app, ov_http_t *req, const char *path)
{
    char file[1024];
    const char *name = NULL, *type = "text/html; charset=utf-8";
    if (strcmp(path, "/") == 0 || strcmp(path, "/operator") == 0)
        name = "operator.html";
    else if (strncmp(path, "/watch/", 7) == 0 && cc_cue_stream_name_check(path + 7, strlen(path + 7)) == 0)
        name = "viewer.html";
    else if (strncmp(path, "/shop/", 6) == 0 && cc_cue_stream_name_check(path + 6, strlen(path + 6)) == 0)
        name = "shop.html"; /* the creator's shop page (shop.c) */
    else if (strcmp(path, "/static/hls.min.js") == 0) {
        serve_file(req, app->cfg.hlsjs, "text/javascript; charset=utf-8");
        return;
    } else if (strncmp(path, "/static/", 8) == 0) {
        const char *f = path + 8;
        size_t n = strlen(f);
        bool ok = n > 0 && n < 64 && f[0] != '.';
        for (size_t i = 0; ok && i < n; i++)
            ok = isalnum((unsigned char)f[i]) || f[i] == '.' || f[i] == '_' || f[i] == '-';
        if (ok && n > 3 && strcmp(f + n - 3, ".js") == 0)
            name = f, type = "text/javascript; charset=utf-8";
        else if (ok && n > 4 && strcmp(f + n - 4, ".css") == 0)
            name = f, type = "text/css; charset=utf-8";
        else if (ok && n > 4 && strcmp(f + n - 4, ".svg") == 0)
            name = f, type = "image/svg+xml";
    }
    if (name == NULL) {
        ov_http_respond_error(req, 404, "not_found", "no such page");
        return;
    }
    snprintf(file, sizeof(file), "%s/%s", app->cfg.web_root, name);
    serve_file(req, file, type);
}

/* ---- routing ------------------------------------------------------------------------------------------------ */

static void on_http(ov_http_t *req, void *data)
{
    ov_app_t *app = data;
    const char *m = ov_http_method(req), *path = ov_http_path(req);
    bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0, post = strcmp(m, "POST") == 0;
    if (strcmp(m, "OPTIONS") == 0) {
        ov_http_respond(req, 204, NULL, NULL, 0,
                        "access-control-allow-methods: GET, POST, PUT, DELETE, OPTIONS\r\n"
                        "access-control-allow-headers: authorization, content-type, idempotency-key\r\n"
                        "access-control-max-age: 86400\r\n");
        return;
    }
    if (get && strcmp(path, "/healthz") == 0) {
        ov_http_respond(req, 200, "text/plain", "ok\n", 3, NULL);
        return;
    }
    if (get && strcmp(path, "/metrics") == 0) {
        handle_metrics(app, req);
        return;
    }
    if (get && strcmp(path, "/v1/config") == 0) {
        json_t *o = json_pack("{s:s,s:s,s:s}", "origin", app->cfg.origin_url ? app->cfg.origin_url : "",
                              "playlist", "/live/{name}/index.m3u8", "ws", "/v1/streams/{name}/ws");
        char *s = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        ov_http_respond_json(req, 200, s ? s : "{}");
        free(s);
        return;
    }
    if (get && strcmp(path, "/v1/streams") == 0) {
        rest_t *x = calloc(1, sizeof(*x));
        if (x == NULL) {
            ov_http_respond_error(req, 500, "internal", "out of memory");
            return;
        }
        x->app = app;
        x->req = req;
        int rc = cc_redis_command(app->cmd, on_stream_names, x, "SMEMBERS %s", STREAMS_SET);
        if (rc < 0) {
            rest_redis_error(x, rc, NULL);
            rest_free(x);
        }
        return;
    }
    if (app->shop && ov_shop_http(app->shop, req))
        return; /* /v1/creators/..., /v1/shop/..., /v1/viewers/... (shop.c) */
    if (strncmp(path, "/v1/streams/", 12) != 0) {
        if (get)
            handle_static(app, req, path);
        else
            ov_http_respond_error(req, 404, "not_found", "no such resource");
        return;
    }
    /* /v1/streams/NAME/<rest> */
    const char *name = path + 12, *slash = strchr(name, '/');
    if (slash == NULL || cc_cue_stream_name_check(name, (size_t)(slash - name)) < 0) {
        ov_http_respond_error(req, 404, "not_found", "no such resource");
        return;
    }
    char stream[65];
    snprintf(stream, sizeof(stream), "%.*s", (int)(slash - name), name);
    const char *rest = slash; /* "/cues", "/cues/ID", "/cues/ID/end", "/stock" */
    if (ov_chat_http(app->chat, req, stream, rest))
        return; /* "/chat...", "/moderation/log" (chat.c) */
    enum { R_NONE, R_LIST, R_CREATE, R_END, R_OPEN, R_CLOSE, R_STOCK, R_SALES } route = R_NONE;
    char id[CC_CUE_ID_MAX + 1] = "";
    bool known = false;
    if (strcmp(rest, "/cues") == 0) {
        known = true;
        route = get ? R_LIST : post ? R_CREATE : R_NONE;
    } else if (strcmp(rest, "/stock") == 0) {
        known = true;
        route = post ? R_STOCK : R_NONE;
    } else if (strcmp(rest, "/sales") == 0) {
        known = true;
        route = get ? R_SALES : R_NONE;
    } else if (strncmp(rest, "/cues/", 6) == 0) {
        const char *cid = rest + 6, *tail = strchr(cid, '/');
        size_t n = tail ? (size_t)(tail - cid) : strlen(cid);
        if (cc_cue_id_check(cid, n) == 0) {
            snprintf(id, sizeof(id), "%.*s", (int)n, cid);
            known = true;
            if (tail == NULL && strcmp(m, "DELETE") == 0)
                route = R_END;
            else if (tail && strcmp(tail, "/end") == 0)
                route = post ? R_END : R_NONE;
            else if (tail && strcmp(tail, "/open") == 0)
                route = post ? R_OPEN : R_NONE;
            else if (tail && strcmp(tail, "/close") == 0)
                route = post ? R_CLOSE : R_NONE;
            else
                known = tail == NULL;
        }
    }
    if (route == R_NONE) {
        if (known)
            ov_http_respond_error(req, 405, "method_not_allowed", "method not allowed here");
        else
            ov_http_respond_error(req, 404, "not_found", "no such resource");
        return;
    }
    const ov_token_t *tok = auth_check(app, req, stream);
    if (tok == NULL)
        return;
    if (tok->moderator) {
        ov_http_respond_error(req, 403, "forbidden", "a moderator token may only moderate the chat");
        return;
    }
    rest_t *x = calloc(1, sizeof(*x));
    if (x == NULL) {
        ov_http_respond_error(req, 500, "internal", "out of memory");
        return;
    }
    x->app = app;
    x->req = req;
    x->explicit_end = -1;
    snprintf(x->stream, sizeof(x->stream), "%s", stream);
    snprintf(x->id, sizeof(x->id), "%s", id);
    switch (route) {
    case R_LIST:
        rest_list(app, x);
        break;
    case R_CREATE:
        rest_create(app, req, x);
        break;
    case R_END: {
        cc_iov_t body = ov_http_body(req);
        if (body.len > 0) {
            json_t *o = json_loadb((const char *)body.base, body.len, 0, NULL);
            json_t *e = json_object_get(o, "end_pdt_ms");
            if (!json_is_object(o) || (e && (!json_is_integer(e) || json_integer_value(e) < 1000000000000LL))) {
                json_decref(o);
                ov_http_respond_error(req, 400, "validation",
                                      "end_pdt_ms: must be milliseconds since the epoch (or send no body)");
                rest_free(x);
                return;
            }
            if (e)
                x->explicit_end = json_integer_value(e);
            json_decref(o);
        }
        with_live(x, false, end_stamped);
        break;
    }
    case R_OPEN:
    case R_CLOSE:
        x->open = route == R_OPEN;
        rest_poll(app, x);
        break;
    case R_STOCK:
        rest_stock(app, req, x);
        break;
    case R_SALES: {
        /* the order service's per-stream counters (docs/redis-schema.md) */
        int rc = cc_redis_command(app->cmd, on_sales, x, "HGETALL cc:{orders}:sales:stream:%s", x->stream);
        if (rc < 0) {
            rest_redis_error(x, rc, NULL);
            rest_free(x);
        }
        break;
    }
    default:
        rest_free(x);
        break;
    }
}

/* shop.c asks: may this request's token control stream ("*": every stream, an admin)?
 * Answers 401/403 itself when not. */
static int shop_authorize(void *host, ov_http_t *req, const char *stream)
{
    return auth_check(host, req, stream) != NULL;
}

/* ---- lifecycle ------------------------------------------------------------------------------------------------ */

/* ---- the chat's view of streams and connections (chat.h) ------------------------------------------------ */

static void chat_broadcast(void *room_ctx, cc_buf_t *msg) { broadcast(room_ctx, msg); }

static void chat_close_viewer(void *room_ctx, const char *viewer, int code, const char *reason)
{
    ovs_t *st = room_ctx;
    for (vconn_t *vc = st->conns; vc; vc = vc->next)
        if (vc->c && strcmp(vc->viewer, viewer) == 0)
            ov_conn_close(vc->c, code, reason);
}

static void chat_room_ready(void *room_ctx)
{
    ovs_t *st = room_ctx;
    if (st->state != ST_READY)
        return; /* on_state_loaded sends the hellos */
    for (vconn_t *vc = st->conns; vc; vc = vc->next)
        if (vc->c && !vc->hello_sent)
            send_hello(vc);
}

static void chat_conn_hold(void *conn_ctx) { ((vconn_t *)conn_ctx)->refs++; }
static void chat_conn_release(void *conn_ctx) { vconn_unref(conn_ctx); }
static ov_conn_t *chat_conn_get(void *conn_ctx) { return ((vconn_t *)conn_ctx)->c; }

static int chat_auth(void *data, ov_http_t *req, const char *stream, ov_chat_caller_t *caller)
{
    const ov_token_t *t = auth_check(data, req, stream);
    if (t == NULL)
        return -1;
    caller->token = t->token;
    caller->moderator = t->moderator;
    return 0;
}

int ov_app_new(uv_loop_t *loop, const ov_app_config_t *cfg, ov_app_t **out)
{
    ov_app_t *app = calloc(1, sizeof(*app));
    if (app == NULL)
        return CC_ENOMEM;
    app->loop = loop;
    app->cfg = *cfg;
    if (app->cfg.max_active_cues > MAX_CUES)
        app->cfg.max_active_cues = MAX_CUES;
    snprintf(app->stock_id, sizeof(app->stock_id), "0-0");
    snprintf(app->events_id, sizeof(app->events_id), "0-0");
    uv_timer_init(loop, &app->retry_timer);
    uv_timer_init(loop, &app->tally_timer);
    uv_timer_init(loop, &app->sweep_timer);
    app->retry_timer.data = app->tally_timer.data = app->sweep_timer.data = app;
    uv_timer_start(&app->sweep_timer, on_sweep, 1000, 1000);
    const ov_gifts_host_t gift_host = {gift_reply, gift_release, gift_broadcast, gift_to_viewer, app};
    static const ov_gift_catalog_t no_gifts = {0};
    if (ov_gifts_new(loop, cfg->gift_catalog ? cfg->gift_catalog : &no_gifts, &app->cmd, &gift_host, cfg->node,
                     cfg->idem_ttl_s, &app->gifts) < 0 ||
        ov_shop_new(loop, &app->cmd, &app->cfg, shop_authorize, app, &app->shop) < 0) {
        ov_app_stop(app);
        return CC_ENOMEM;
    }

    cc_redis_config_t rc;
    cc_redis_config_default(&rc);
    rc.url = cfg->redis;
    rc.client_name = "cartcast-overlay";
    rc.on_ready = on_redis_ready;
    rc.on_down = on_redis_down;
    rc.data = app;
    rc.name = "cmd";
    int r = cc_redis_new(loop, &rc, &app->cmd);
    if (r == 0) {
        rc.name = "block";
        rc.ping_interval_ms = 0; /* the XREAD in flight is its own watchdog */
        r = cc_redis_new(loop, &rc, &app->blk);
    }
    if (r == 0) {
        ov_chat_host_t host = {chat_broadcast, chat_close_viewer, chat_room_ready, chat_conn_hold, chat_conn_release,
                               chat_conn_get, chat_auth, app};
        r = ov_chat_new(loop, &cfg->chat, &cfg->redis, app->cmd, &host, &app->chat);
    }
    if (r < 0) {
        ov_app_stop(app);
        return r;
    }
    *out = app;
    return 0;
}

void ov_app_server_callbacks(ov_app_t *app, ov_server_callbacks_t *cb)
{
    memset(cb, 0, sizeof(*cb));
    cb->on_http = on_http;
    cb->on_ws_open = on_ws_open;
    cb->on_ws_message = on_ws_message;
    cb->on_ws_close = on_ws_close;
    cb->data = app;
}

void ov_app_set_server(ov_app_t *app, ov_server_t *srv) { app->srv = srv; }

static void timer_closed(uv_handle_t *h) {}

void ov_app_stop(ov_app_t *app)
{
    if (app->stopping)
        return;
    app->stopping = true;
    app->srv = NULL;
    ov_chat_stop(app->chat); /* before cmd goes: its callbacks still find the chat */
    cc_redis_free(app->blk);
    cc_redis_free(app->cmd);
    app->blk = app->cmd = NULL;
    uv_close((uv_handle_t *)&app->retry_timer, timer_closed);
    uv_close((uv_handle_t *)&app->tally_timer, timer_closed);
    uv_close((uv_handle_t *)&app->sweep_timer, timer_closed);
    ov_gifts_stop(app->gifts);
    ov_shop_stop(app->shop);
}

void ov_app_free(ov_app_t *app)
{
    if (app == NULL)
        return;
    while (app->streams) {
        ovs_t *st = app->streams;
        app->streams = st->next;
        /* viewers were all closed by the server's stop */
        stream_free(st);
    }
    free(app->room);
    ov_chat_free(app->chat);
    ov_gifts_free(app->gifts);
    ov_shop_free(app->shop);
    free(app);
}

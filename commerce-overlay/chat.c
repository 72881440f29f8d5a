/* Live chat and moderation, the glue half (see chat.h, docs/chat.md).
 *
 * A message's way: viewer -> ov_chat_on_message (parse, per-connection rate,
 * cached ban/mute/slow mode, blocked terms) -> the review hook, if configured
 * -> chat_send.lua (authoritative ban/mute/slow mode, publish or hold) -> the
 * chat stream -> every overlay's chat reader -> the room's pending events ->
 * one frame per viewer per tick.
 *
 * Ownership: a room is refcounted (the host's reference, one per command or
 * hook in flight); a send op holds its room and its connection (conn_hold) and
 * is freed by its last callback; a REST op answers its request exactly once. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/sha.h>

#include "cartcast/err.h"
#include "cartcast/log.h"
#include "chat.h"
#include "edge/http_client.h"
#include "ident.h"
#include "lua.h"

#define HISTORY_MAX 200
#define PENDING_MAX 4096      /* events per room per tick: more flush at once */
#define LOCAL_LIST_MAX 10000  /* muted / banned viewers cached per room */
#define MAX_ROOMS 29          /* 6 + 2 x rooms XREAD arguments within CC_REDIS_ARGS_MAX */

enum { K_STREAM, K_RECENT, K_MSGS, K_PINNED, K_SETTINGS, K_TERMS, K_MUTED, K_BANNED, K_QUESTIONS, K_HELD, K_MODLOG,
       K_N };
static const char *const key_suffix[K_N] = {"chat", "chat:recent", "chat:msgs", "chat:pinned", "chat:settings",
                                             "chat:terms", "chat:muted", "chat:banned", "chat:questions", "chat:held",
                                             "modlog"};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- state ---------------------------------------------------------------------------- */

typedef struct hist {
    char id[24];
    cc_buf_t *json;
} hist_t;

typedef struct muted {
    char viewer[OV_VIEWER_ID_LEN + 1];
    int64_t until_ms;
} muted_t;

/* An event read from the chat stream, applied and sent at the next tick. */
typedef enum { EV_MSG, EV_DEL, EV_PIN, EV_UNPIN, EV_ANSWERED, EV_SETTINGS } ev_kind_t;

typedef struct event {
    ev_kind_t kind;
    char id[24];
    cc_buf_t *json; /* EV_MSG, EV_PIN */
} event_t;

struct ov_chat_room {
    ov_chat_t *chat;
    ov_chat_room_t *next;
    void *ctx;
    char name[65];
    char keys[K_N][112];
    int refs;
    bool gone, loading, ready, reload;
    char last_id[48];
    hist_t hist[HISTORY_MAX];
    size_t nhist;
    char pinned_id[24];
    cc_buf_t *pinned;
    int64_t slow_ms;
    bool hold_all;
    ov_mod_terms_t terms;
    muted_t *muted;
    size_t nmuted;
    char (*banned)[OV_VIEWER_ID_LEN + 1];
    size_t nbanned;
    event_t pending[PENDING_MAX];
    size_t npending;
    cc_buf_t *hello_cache; /* "\"history\":[...],\"pinned\":...,..." */
};

struct ov_chat {
    uv_loop_t *loop;
    ov_chat_config_t cfg;
    ov_chat_host_t host;
    cc_redis_t *cmd, *blk;
    ov_chat_room_t *rooms;
    size_t nrooms;
    bool stopping, xread_busy, xread_stale;
    long long blk_client_id;
    uv_timer_t tick_timer, retry_timer;
    bool tick_armed;
    cc_httpc_t *httpc;
    cc_httpc_origin_t *review;
    char review_path[1024];
    /* counters */
    uint64_t msgs_in, msgs_sent, msgs_held, msgs_refused, msgs_blocked, review_calls, review_timeouts,
        review_denied, review_replaced, events, frames, mod_actions;
};

static void xread_kick(ov_chat_t *chat);
static void room_load(ov_chat_room_t *room);

static void room_unref(ov_chat_room_t *r)
{
    if (--r->refs > 0)
        return;
    for (size_t i = 0; i < r->nhist; i++)
        cc_buf_unref(r->hist[i].json);
    for (size_t i = 0; i < r->npending; i++)
        cc_buf_unref(r->pending[i].json);
    cc_buf_unref(r->pinned);
    cc_buf_unref(r->hello_cache);
    ov_mod_terms_free(&r->terms);
    free(r->muted);
    free(r->banned);
    free(r);
}

static void room_invalidate(ov_chat_room_t *r)
{
    cc_buf_unref(r->hello_cache);
    r->hello_cache = NULL;
}

void ov_chat_config_default(ov_chat_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->max_chars = 300;
    cfg->rate = 10;
    cfg->history = 50;
    cfg->tick_ms = 100;
    cfg->stream_maxlen = 10000;
    cfg->modlog_maxlen = 100000;
    cfg->held_max = 1000;
    cfg->review_timeout_ms = 200;
    cfg->block_ms = 1000;
}

/* ---- the local caches of muted and banned viewers ----------------------------------------------- */

static muted_t *muted_find(const ov_chat_room_t *r, const char *viewer)
{
    for (size_t i = 0; i < r->nmuted; i++)
        if (strcmp(r->muted[i].viewer, viewer) == 0)
            return &r->muted[i];
    return NULL;
}

static void muted_set(ov_chat_room_t *r, const char *viewer, int64_t until_ms)
{
    muted_t *m = muted_find(r, viewer);
    if (m == NULL && until_ms > 0 && r->nmuted < LOCAL_LIST_MAX && strlen(viewer) == OV_VIEWER_ID_LEN) {
        muted_t *n = realloc(r->muted, (r->nmuted + 1) * sizeof(*n));
        if (n == NULL)
            return;
        r->muted = n;
        m = &r->muted[r->nmuted++];
        memcpy(m->viewer, viewer, OV_VIEWER_ID_LEN + 1);
    }
    if (m == NULL)
        return;
    if (until_ms > 0)
        m->until_ms = until_ms;
    else
        *m = r->muted[--r->nmuted];
}

static bool banned_find(const ov_chat_room_t *r, const char *viewer, size_t *at)
{
    for (size_t i = 0; i < r->nbanned; i++) {
        if (strcmp(r->banned[i], viewer) == 0) {
            if (at)
                *at = i;
            return true;
        }
    }
    return false;
}

static void banned_set(ov_chat_room_t *r, const char *viewer, bool on)
{
    size_t at;
    bool have = banned_find(r, viewer, &at);
    if (on && !have && r->nbanned < LOCAL_LIST_MAX && strlen(viewer) == OV_VIEWER_ID_LEN) {
        void *n = realloc(r->banned, (r->nbanned + 1) * sizeof(*r->banned));
        if (n == NULL)
            return;
        r->banned = n;
        memcpy(r->banned[r->nbanned++], viewer, OV_VIEWER_ID_LEN + 1);
    } else if (!on && have) {
        memcpy(r->banned[at], r->banned[--r->nbanned], OV_VIEWER_ID_LEN + 1);
    }
}

static void terms_set(ov_chat_room_t *r, const char *json, size_t len)
{
    ov_mod_terms_t t;
    char err[200];
    if (len == 0) {
        ov_mod_terms_free(&r->terms);
        return;
    }
    if (ov_mod_terms_parse(json, len, &t, err, sizeof(err)) < 0) {
        cc_log_warn("chat.terms_bad", "stream=%s err=\"%s\"", r->name, err);
        return;
    }
    ov_mod_terms_free(&r->terms);
    r->terms = t;
}

/* ---- history and the frames viewers get ---------------------------------------------------------- */

static void hist_push(ov_chat_room_t *r, const char *id, cc_buf_t *json)
{
    size_t cap = (size_t)r->chat->cfg.history;
    if (cap == 0)
        return;
    for (size_t i = 0; i < r->nhist; i++)
        if (strcmp(r->hist[i].id, id) == 0)
            return; /* seen twice (load + stream) */
    if (r->nhist == cap) {
        cc_buf_unref(r->hist[0].json);
        memmove(&r->hist[0], &r->hist[1], (r->nhist - 1) * sizeof(hist_t));
        r->nhist--;
    }
    snprintf(r->hist[r->nhist].id, sizeof(r->hist[0].id), "%s", id);
    r->hist[r->nhist++].json = cc_buf_ref(json);
}

static void hist_del(ov_chat_room_t *r, const char *id)
{
    for (size_t i = 0; i < r->nhist; i++) {
        if (strcmp(r->hist[i].id, id) == 0) {
            cc_buf_unref(r->hist[i].json);
            memmove(&r->hist[i], &r->hist[i + 1], (r->nhist - i - 1) * sizeof(hist_t));
            r->nhist--;
            return;
        }
    }
}

/* An event as viewers get it: {"type":"chat","msg":{...}}, {"type":"chat_delete","id":...}, ... */
static int event_json(const ov_chat_room_t *r, const event_t *e, cc_dynbuf_t *d)
{
    switch (e->kind) {
    case EV_MSG:
    case EV_PIN: {
        int rc = cc_dynbuf_appendf(d, "{\"type\":\"%s\",\"msg\":", e->kind == EV_MSG ? "chat" : "chat_pin");
        rc |= cc_dynbuf_append(d, e->json->data, e->json->len);
        return rc | cc_dynbuf_append(d, "}", 1);
    }
    case EV_DEL:
        return cc_dynbuf_appendf(d, "{\"type\":\"chat_delete\",\"id\":\"%s\"}", e->id);
    case EV_UNPIN:
        return cc_dynbuf_appendf(d, "{\"type\":\"chat_unpin\",\"id\":\"%s\"}", e->id);
    case EV_ANSWERED:
        return cc_dynbuf_appendf(d, "{\"type\":\"chat_answered\",\"id\":\"%s\"}", e->id);
    case EV_SETTINGS:
        return cc_dynbuf_appendf(d, "{\"type\":\"chat_settings\",\"slow_ms\":%" PRId64 ",\"hold_all\":%s}", r->slow_ms,
                                 r->hold_all ? "true" : "false");
    }
    return 0;
}

static void event_apply(ov_chat_room_t *r, const event_t *e)
{
    switch (e->kind) {
    case EV_MSG:
        hist_push(r, e->id, e->json);
        break;
    case EV_DEL:
        hist_del(r, e->id);
        if (strcmp(r->pinned_id, e->id) == 0) {
            cc_buf_unref(r->pinned);
            r->pinned = NULL;
            r->pinned_id[0] = '\0';
        }
        break;
    case EV_PIN:
        cc_buf_unref(r->pinned);
        r->pinned = cc_buf_ref(e->json);
        snprintf(r->pinned_id, sizeof(r->pinned_id), "%s", e->id);
        break;
    case EV_UNPIN:
        cc_buf_unref(r->pinned);
        r->pinned = NULL;
        r->pinned_id[0] = '\0';
        break;
    case EV_ANSWERED:
    case EV_SETTINGS:
        break;
    }
    room_invalidate(r);
}

/* Applies the pending events to the room (history, pin) and sends them: one
 * frame {"type":"chat_batch","events":[...]} per viewer when batching, one
 * frame per event when not.  Applied at send time, so a hello between the
 * event's arrival and the tick never holds it twice. */
static void room_flush(ov_chat_room_t *r)
{
    ov_chat_t *chat = r->chat;
    if (r->npending == 0)
        return;
    bool batch = chat->cfg.tick_ms > 0;
    cc_dynbuf_t d;
    cc_dynbuf_init(&d, 64u << 20);
    int rc = batch ? cc_dynbuf_append(&d, "{\"type\":\"chat_batch\",\"events\":[", 31) : 0;
    for (size_t i = 0; i < r->npending; i++) {
        event_t *e = &r->pending[i];
        event_apply(r, e);
        if (batch) {
            rc |= i ? cc_dynbuf_append(&d, ",", 1) : 0;
            rc |= event_json(r, e, &d);
        } else {
            cc_dynbuf_reset(&d);
            if (event_json(r, e, &d) == 0) {
                cc_buf_t *b = cc_buf_from(d.data, d.len);
                if (b && !r->gone)
                    chat->host.broadcast(r->ctx, b);
                chat->frames++;
                cc_buf_unref(b);
            }
        }
        cc_buf_unref(e->json);
    }
    r->npending = 0;
    if (batch && rc == 0 && cc_dynbuf_append(&d, "]}", 2) == 0) {
        cc_buf_t *b = cc_dynbuf_take(&d);
        if (b && !r->gone)
            chat->host.broadcast(r->ctx, b);
        chat->frames++;
        cc_buf_unref(b);
    }
    cc_dynbuf_free(&d);
}

/* A repeating timer while events flow: its next run is due tick_ms after
 * this loop iteration began, so the flush's own time (tens of ms for
 * thousands of viewers) does not stretch the cycle; a tick with nothing to
 * send stops it, and the next event starts it again. */
static void on_tick(uv_timer_t *t)
{
    ov_chat_t *chat = t->data;
    bool any = false;
    for (ov_chat_room_t *r = chat->rooms; r; r = r->next) {
        any |= r->npending > 0;
        room_flush(r);
    }
    if (!any) {
        uv_timer_stop(&chat->tick_timer);
        chat->tick_armed = false;
    }
}

static void room_queue(ov_chat_room_t *r, ev_kind_t kind, const char *id, const char *json, size_t jlen)
{
    ov_chat_t *chat = r->chat;
    if (r->npending == PENDING_MAX)
        room_flush(r);
    event_t *e = &r->pending[r->npending];
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    snprintf(e->id, sizeof(e->id), "%s", id ? id : "");
    if (json) {
        e->json = cc_buf_from(json, jlen);
        if (e->json == NULL)
            return;
    }
    r->npending++;
    chat->events++;
    if (chat->cfg.tick_ms <= 0) {
        room_flush(r);
    } else if (!chat->tick_armed) {
        chat->tick_armed = true;
        uv_timer_start(&chat->tick_timer, on_tick, (uint64_t)chat->cfg.tick_ms, (uint64_t)chat->cfg.tick_ms);
    }
}

/* ---- the chat reader --------------------------------------------------------------------------- */

static const redisReply *field(const redisReply *fv, const char *name)
{
    for (size_t i = 0; fv && fv->type == REDIS_REPLY_ARRAY && i + 1 < fv->elements; i += 2)
        if (fv->element[i]->type == REDIS_REPLY_STRING && strcmp(fv->element[i]->str, name) == 0 &&
            fv->element[i + 1]->type == REDIS_REPLY_STRING)
            return fv->element[i + 1];
    return NULL;
}

static const char *fstr(const redisReply *fv, const char *name)
{
    const redisReply *v = field(fv, name);
    return v ? v->str : NULL;
}

static void on_entry(ov_chat_room_t *r, const redisReply *fv)
{
    const char *op = fstr(fv, "op"), *id = fstr(fv, "id"), *viewer = fstr(fv, "viewer");
    const redisReply *json = field(fv, "json");
    if (op == NULL)
        return;
    if (strcmp(op, "msg") == 0 && id && json)
        room_queue(r, EV_MSG, id, json->str, json->len);
    else if (strcmp(op, "del") == 0 && id)
        room_queue(r, EV_DEL, id, NULL, 0);
    else if (strcmp(op, "pin") == 0 && id && json)
        room_queue(r, EV_PIN, id, json->str, json->len);
    else if (strcmp(op, "unpin") == 0)
        room_queue(r, EV_UNPIN, id, NULL, 0);
    else if (strcmp(op, "answered") == 0 && id)
        room_queue(r, EV_ANSWERED, id, NULL, 0);
    else if (strcmp(op, "settings") == 0) {
        const char *s = fstr(fv, "slow_ms"), *h = fstr(fv, "hold_all");
        r->slow_ms = s ? strtoll(s, NULL, 10) : 0;
        r->hold_all = h && strcmp(h, "1") == 0;
        room_invalidate(r);
        room_queue(r, EV_SETTINGS, NULL, NULL, 0);
    } else if (strcmp(op, "terms") == 0) {
        const redisReply *t = field(fv, "terms");
        terms_set(r, t ? t->str : "", t ? t->len : 0);
    } else if (strcmp(op, "mute") == 0 && viewer) {
        const char *u = fstr(fv, "until_ms");
        muted_set(r, viewer, u ? strtoll(u, NULL, 10) : 0);
    } else if (strcmp(op, "unmute") == 0 && viewer) {
        muted_set(r, viewer, 0);
    } else if (strcmp(op, "ban") == 0 && viewer) {
        banned_set(r, viewer, true);
        /* every overlay closes the viewer's connections to this stream */
        r->chat->host.close_viewer(r->ctx, viewer, OV_CLOSE_BANNED, "banned");
    } else if (strcmp(op, "unban") == 0 && viewer) {
        banned_set(r, viewer, false);
    }
}

/* Retries what failed: the reader, and rooms whose state did not load (a
 * room that never loads would hold its viewers' hello back). */
static void on_retry(uv_timer_t *t)
{
    ov_chat_t *chat = t->data;
    for (ov_chat_room_t *r = chat->rooms; r; r = r->next)
        if (!r->ready || r->reload)
            room_load(r);
    xread_kick(chat);
}

static void on_xread(cc_redis_t *rd, int status, redisReply *reply, void *data)
{
    ov_chat_t *chat = data;
    chat->xread_busy = false;
    if (chat->stopping)
        return;
    if (status < 0) {
        if (status != CC_ECLOSED && status != UV_ECANCELED)
            cc_log_warn("chat.xread", "err=\"%s\"", cc_redis_status_str(status, reply));
        uv_timer_start(&chat->retry_timer, on_retry, 200, 0);
        return;
    }
    for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements; i++) {
        const redisReply *s = reply->element[i];
        if (s->type != REDIS_REPLY_ARRAY || s->elements != 2 || s->element[0]->type != REDIS_REPLY_STRING)
            continue;
        ov_chat_room_t *r = NULL;
        for (ov_chat_room_t *x = chat->rooms; x; x = x->next)
            if (x->ready && strcmp(x->keys[K_STREAM], s->element[0]->str) == 0)
                r = x;
        const redisReply *entries = s->element[1];
        for (size_t k = 0; r && entries->type == REDIS_REPLY_ARRAY && k < entries->elements; k++) {
            const redisReply *e = entries->element[k];
            if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING)
                continue;
            snprintf(r->last_id, sizeof(r->last_id), "%s", e->element[0]->str);
            on_entry(r, e->element[1]);
        }
    }
    xread_kick(chat);
}

static void on_unblocked(cc_redis_t *r, int status, redisReply *reply, void *data) {}

static void on_client_id(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    ov_chat_t *chat = data;
    chat->xread_busy = false;
    if (status == 0 && reply->type == REDIS_REPLY_INTEGER)
        chat->blk_client_id = reply->integer;
    if (!chat->stopping)
        xread_kick(chat);
}

/* One blocking XREAD over every ready room's chat stream; restarted early
 * (CLIENT UNBLOCK) when a room joins, as the overlay's cue reader. */
static void xread_kick(ov_chat_t *chat)
{
    if (chat->stopping || !cc_redis_ready(chat->blk))
        return;
    if (chat->xread_busy) {
        if (chat->xread_stale && chat->blk_client_id > 0 && cc_redis_ready(chat->cmd)) {
            chat->xread_stale = false;
            cc_redis_command(chat->cmd, on_unblocked, NULL, "CLIENT UNBLOCK %lld", chat->blk_client_id);
        }
        return;
    }
    if (chat->blk_client_id <= 0) {
        if (cc_redis_command(chat->blk, on_client_id, chat, "CLIENT ID") == 0)
            chat->xread_busy = true;
        return;
    }
    size_t n = 0;
    for (ov_chat_room_t *r = chat->rooms; r; r = r->next)
        n += r->ready;
    if (n == 0)
        return;
    chat->xread_stale = false;
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    cc_redis_args_add(&a, "XREAD");
    cc_redis_args_add(&a, "COUNT");
    cc_redis_args_add(&a, "1024");
    cc_redis_args_add(&a, "BLOCK");
    cc_redis_args_addi(&a, chat->cfg.block_ms);
    cc_redis_args_add(&a, "STREAMS");
    for (ov_chat_room_t *r = chat->rooms; r; r = r->next)
        if (r->ready)
            cc_redis_args_add(&a, r->keys[K_STREAM]);
    for (ov_chat_room_t *r = chat->rooms; r; r = r->next)
        if (r->ready)
            cc_redis_args_add(&a, r->last_id);
    a.timeout_ms = (uint32_t)chat->cfg.block_ms + 2000;
    if (cc_redis_send(chat->blk, &a, on_xread, chat) < 0) {
        uv_timer_start(&chat->retry_timer, on_retry, 200, 0);
        return;
    }
    chat->xread_busy = true;
}

static void on_blk_ready(cc_redis_t *r, void *data)
{
    ov_chat_t *chat = data;
    chat->blk_client_id = 0;
    chat->xread_busy = false;
    xread_kick(chat);
}

static void on_blk_down(cc_redis_t *r, int err, const char *why, void *data)
{
    ov_chat_t *chat = data;
    chat->xread_busy = false;
}

/* ---- rooms --------------------------------------------------------------------------------------- */

static void flat_pairs(const redisReply *a, void (*fn)(ov_chat_room_t *, const char *, const char *),
                       ov_chat_room_t *r)
{
    for (size_t i = 0; a && a->type == REDIS_REPLY_ARRAY && i + 1 < a->elements; i += 2)
        if (a->element[i]->type == REDIS_REPLY_STRING && a->element[i + 1]->type == REDIS_REPLY_STRING)
            fn(r, a->element[i]->str, a->element[i + 1]->str);
}

static void load_setting(ov_chat_room_t *r, const char *k, const char *v)
{
    if (strcmp(k, "slow_ms") == 0)
        r->slow_ms = strtoll(v, NULL, 10);
    else if (strcmp(k, "hold_all") == 0)
        r->hold_all = strcmp(v, "1") == 0;
}

static void load_muted(ov_chat_room_t *r, const char *viewer, const char *until)
{
    muted_set(r, viewer, strtoll(until, NULL, 10));
}

static void load_banned(ov_chat_room_t *r, const char *viewer, const char *json) { banned_set(r, viewer, true); }

static const char *msg_id_of(const char *json, size_t len, char id[24])
{
    /* our own JSON always starts {"id":"m...", */
    id[0] = '\0';
    if (len > 8 && strncmp(json, "{\"id\":\"", 7) == 0) {
        const char *end = memchr(json + 7, '"', len - 7 < 23 ? len - 7 : 23);
        if (end)
            snprintf(id, 24, "%.*s", (int)(end - json - 7), json + 7);
    }
    return id;
}

static void on_room_loaded(cc_redis_t *rd, int status, redisReply *reply, void *data)
{
    ov_chat_room_t *r = data;
    r->loading = false;
    if (r->gone || r->chat->stopping) {
        room_unref(r);
        return;
    }
    if (status < 0 || reply->type != REDIS_REPLY_ARRAY || reply->elements != 9) {
        cc_log_warn("chat.load_failed", "stream=%s err=\"%s\"", r->name, cc_redis_status_str(status, reply));
        r->reload = true;
        uv_timer_start(&r->chat->retry_timer, on_retry, 500, 0);
        room_unref(r);
        return;
    }
    snprintf(r->last_id, sizeof(r->last_id), "%s", reply->element[0]->str ? reply->element[0]->str : "0-0");
    for (size_t i = 0; i < r->nhist; i++)
        cc_buf_unref(r->hist[i].json);
    r->nhist = 0;
    const redisReply *h = reply->element[1];
    for (size_t i = 0; h->type == REDIS_REPLY_ARRAY && i < h->elements; i++) {
        char id[24];
        cc_buf_t *b = cc_buf_from(h->element[i]->str, h->element[i]->len);
        if (b)
            hist_push(r, msg_id_of(h->element[i]->str, h->element[i]->len, id), b);
        cc_buf_unref(b);
    }
    const redisReply *p = reply->element[2];
    cc_buf_unref(r->pinned);
    r->pinned = NULL;
    r->pinned_id[0] = '\0';
    if (p->type == REDIS_REPLY_STRING && p->len > 0) {
        r->pinned = cc_buf_from(p->str, p->len);
        msg_id_of(p->str, p->len, r->pinned_id);
    }
    r->slow_ms = 0;
    r->hold_all = false;
    flat_pairs(reply->element[3], load_setting, r);
    terms_set(r, reply->element[4]->str ? reply->element[4]->str : "", reply->element[4]->len);
    r->nmuted = r->nbanned = 0;
    flat_pairs(reply->element[5], load_muted, r);
    flat_pairs(reply->element[6], load_banned, r);
    bool was = r->ready;
    r->ready = true;
    r->reload = false;
    room_invalidate(r);
    if (!was) {
        r->chat->xread_stale = true;
        xread_kick(r->chat);
        r->chat->host.room_ready(r->ctx);
    }
    room_unref(r);
}

static void add_keys(cc_redis_args_t *a, const ov_chat_room_t *r, int n)
{
    for (int i = 0; i < n; i++)
        cc_redis_args_add(a, r->keys[i]);
}

static void room_load(ov_chat_room_t *r)
{
    ov_chat_t *chat = r->chat;
    if (r->loading || chat->stopping || !cc_redis_ready(chat->cmd))
        return;
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    cc_redis_args_add(&a, "EVAL");
    cc_redis_args_add(&a, ov_lua_chat_state);
    cc_redis_args_add(&a, "10");
    add_keys(&a, r, 10);
    cc_redis_args_addi(&a, chat->cfg.history);
    r->refs++;
    if (cc_redis_send(chat->cmd, &a, on_room_loaded, r) < 0) {
        r->refs--;
        r->reload = true; /* on_retry, or the next (re)connection */
        uv_timer_start(&chat->retry_timer, on_retry, 500, 0);
        return;
    }
    r->loading = true;
}

ov_chat_room_t *ov_chat_room_new(ov_chat_t *chat, const char *stream, void *room_ctx)
{
    if (chat->nrooms >= MAX_ROOMS)
        return NULL;
    ov_chat_room_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->chat = chat;
    r->ctx = room_ctx;
    r->refs = 1;
    snprintf(r->name, sizeof(r->name), "%s", stream);
    for (int i = 0; i < K_N; i++)
        snprintf(r->keys[i], sizeof(r->keys[i]), "cc:{stream:%s}:%s", stream, key_suffix[i]);
    snprintf(r->last_id, sizeof(r->last_id), "0-0");
    r->next = chat->rooms;
    chat->rooms = r;
    chat->nrooms++;
    room_load(r);
    return r;
}

void ov_chat_room_free(ov_chat_room_t *r)
{
    if (r == NULL)
        return;
    ov_chat_t *chat = r->chat;
    for (ov_chat_room_t **pp = &chat->rooms; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            chat->nrooms--;
            break;
        }
    }
    r->gone = true;
    chat->xread_stale = true;
    room_unref(r);
}

int ov_chat_room_ready(const ov_chat_room_t *r) { return r && r->ready; }

void ov_chat_redis_ready(ov_chat_t *chat)
{
    for (ov_chat_room_t *r = chat->rooms; r; r = r->next)
        if (!r->ready || r->reload)
            room_load(r);
    xread_kick(chat);
}

/* ---- members and hello ------------------------------------------------------------------------------ */

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                                                                        : -1;
}

void ov_chat_member_init(ov_chat_member_t *m, void *conn_ctx, const char *viewer, const char *query)
{
    memset(m, 0, sizeof(*m));
    m->conn_ctx = conn_ctx;
    m->viewer = viewer;
    m->tokens_at = 0; /* a full bucket at the first message */
    snprintf(m->name, sizeof(m->name), "viewer-%.4s", viewer + 1);
    /* ?name=URL-ENCODED: the display name, if it passes the checks */
    const char *q = query ? strstr(query, "name=") : NULL;
    while (q && q != query && q[-1] != '&')
        q = strstr(q + 1, "name=");
    if (q == NULL)
        return;
    q += 5;
    char name[OV_CHAT_NAME_MAX_BYTES + 1];
    size_t n = 0;
    for (; *q && *q != '&'; q++) {
        int c = (unsigned char)*q;
        if (c == '%' && hexval(q[1]) >= 0 && hexval(q[2]) >= 0) {
            c = hexval(q[1]) * 16 + hexval(q[2]);
            q += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (n == OV_CHAT_NAME_MAX_BYTES)
            return; /* too long: keep the default */
        name[n++] = (char)c;
    }
    name[n] = '\0';
    char err[160];
    if (memchr(name, '\0', n) == NULL && ov_chat_name_check(name, n, err, sizeof(err)) == 0)
        memcpy(m->name, name, n + 1);
}

int ov_chat_member_banned(const ov_chat_room_t *r, const ov_chat_member_t *m)
{
    return r && banned_find(r, m->viewer, NULL);
}

static int append_json_string(cc_dynbuf_t *d, const char *s)
{
    json_t *j = json_string(s);
    char *t = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    int rc = t ? cc_dynbuf_append(d, t, strlen(t)) : CC_ENOMEM;
    free(t);
    return rc;
}

int ov_chat_hello(ov_chat_room_t *r, const ov_chat_member_t *m, cc_dynbuf_t *out)
{
    ov_chat_t *chat = r->chat;
    if (r->hello_cache == NULL) {
        cc_dynbuf_t d;
        cc_dynbuf_init(&d, 8u << 20);
        int rc = cc_dynbuf_append(&d, "\"history\":[", 11);
        for (size_t i = 0; i < r->nhist; i++) {
            rc |= i ? cc_dynbuf_append(&d, ",", 1) : 0;
            rc |= cc_dynbuf_append(&d, r->hist[i].json->data, r->hist[i].json->len);
        }
        rc |= cc_dynbuf_append(&d, "],\"pinned\":", 11);
        rc |= r->pinned ? cc_dynbuf_append(&d, r->pinned->data, r->pinned->len) : cc_dynbuf_append(&d, "null", 4);
        rc |= cc_dynbuf_appendf(&d,
                                ",\"slow_ms\":%" PRId64 ",\"hold_all\":%s,\"tick_ms\":%d,"
                                "\"limits\":{\"max_chars\":%d,\"per_10s\":%d}",
                                r->slow_ms, r->hold_all ? "true" : "false", chat->cfg.tick_ms, chat->cfg.max_chars,
                                chat->cfg.rate);
        if (rc < 0) {
            cc_dynbuf_free(&d);
            return rc;
        }
        r->hello_cache = cc_dynbuf_take(&d);
        cc_dynbuf_free(&d);
        if (r->hello_cache == NULL)
            return CC_ENOMEM;
    }
    int rc = cc_dynbuf_append(out, ",\"chat\":{\"name\":", 16);
    rc |= append_json_string(out, m->name);
    rc |= cc_dynbuf_append(out, ",", 1);
    rc |= cc_dynbuf_append(out, r->hello_cache->data, r->hello_cache->len);
    return rc | cc_dynbuf_append(out, "}", 1);
}

/* ---- answering a viewer ------------------------------------------------------------------------------ */

static void send_json(ov_chat_t *chat, void *conn_ctx, json_t *o)
{
    ov_conn_t *c = chat->host.conn_get(conn_ctx);
    char *s = c ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (s == NULL)
        return;
    cc_buf_t *b = cc_buf_from(s, strlen(s));
    free(s);
    if (b)
        ov_conn_send(c, b);
    cc_buf_unref(b);
}

static void send_error(ov_chat_t *chat, void *conn_ctx, const char *req, const char *code, const char *message,
                       int64_t retry_after_ms)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "type", "error", "action", "chat", "code", code, "message", message);
    if (req && req[0])
        json_object_set_new(o, "req", json_string(req));
    if (retry_after_ms > 0)
        json_object_set_new(o, "retry_after_ms", json_integer(retry_after_ms));
    send_json(chat, conn_ctx, o);
}

/* ---- sending: hook, script ---------------------------------------------------------------------------- */

typedef struct send_op {
    ov_chat_room_t *room;
    void *conn_ctx;
    char viewer[OV_VIEWER_ID_LEN + 1];
    char name[OV_CHAT_NAME_MAX_BYTES + 1];
    char req[65];
    char id[24];
    char text[OV_CHAT_TEXT_MAX_BYTES + 1];
    bool question, hold, replaced;
    char hold_reason[160];
    int64_t ts;
    /* the review hook */
    cc_httpc_req_t *hreq;
    uv_timer_t timer;
    bool timer_on, decided;
} send_op_t;

static void op_free(send_op_t *op)
{
    op->room->chat->host.conn_release(op->conn_ctx);
    room_unref(op->room);
    free(op);
}

static void op_timer_closed(uv_handle_t *h) { op_free(h->data); }

static void op_done(send_op_t *op)
{
    if (op->timer_on) {
        op->timer_on = false;
        uv_close((uv_handle_t *)&op->timer, op_timer_closed);
        return;
    }
    op_free(op);
}

static void log_auto(ov_chat_room_t *r, const char *action, const char *viewer, const char *reason,
                     const char *text);

static char *msg_json(const send_op_t *op)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:I,s:b}", "id", op->id, "viewer", op->viewer, "name", op->name, "text",
                          op->text, "ts", (json_int_t)op->ts, "question", op->question);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return s;
}

static void on_sent(cc_redis_t *rd, int status, redisReply *reply, void *data)
{
    send_op_t *op = data;
    ov_chat_t *chat = op->room->chat;
    if (status < 0 || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING) {
        chat->msgs_refused++;
        if (status != UV_ECANCELED)
            cc_log_warn("chat.send_failed", "stream=%s err=\"%s\"", op->room->name,
                        cc_redis_status_str(status, reply));
        send_error(chat, op->conn_ctx, op->req, "unavailable", "chat is unavailable right now: try again", 0);
        op_done(op);
        return;
    }
    const char *what = reply->element[0]->str;
    int64_t left = reply->element[1]->str ? strtoll(reply->element[1]->str, NULL, 10) : 0;
    if (strcmp(what, "sent") == 0 || strcmp(what, "held") == 0) {
        bool held = what[0] == 'h';
        if (held)
            chat->msgs_held++;
        else
            chat->msgs_sent++;
        json_t *o = json_pack("{s:s,s:s,s:s}", "type", "chat_ack", "id", op->id, "status", held ? "held" : "sent");
        if (op->req[0])
            json_object_set_new(o, "req", json_string(op->req));
        if (op->replaced)
            json_object_set_new(o, "text", json_string(op->text));
        if (held)
            json_object_set_new(o, "message", json_string("your message waits for a moderator"));
        send_json(chat, op->conn_ctx, o);
    } else {
        chat->msgs_refused++;
        if (strcmp(what, "banned") == 0) {
            banned_set(op->room, op->viewer, true);
            send_error(chat, op->conn_ctx, op->req, "banned", "you are banned from this chat", 0);
            ov_conn_t *c = chat->host.conn_get(op->conn_ctx);
            if (c)
                ov_conn_close(c, OV_CLOSE_BANNED, "banned");
        } else if (strcmp(what, "muted") == 0) {
            send_error(chat, op->conn_ctx, op->req, "muted", "you are muted in this chat for now", left);
        } else if (strcmp(what, "slow") == 0) {
            send_error(chat, op->conn_ctx, op->req, "slow_mode", "slow mode is on: wait before your next message",
                       left);
        } else {
            send_error(chat, op->conn_ctx, op->req, "full",
                       strcmp(reply->element[1]->str ? reply->element[1]->str : "", "questions") == 0
                           ? "too many open questions: try again later"
                           : "too many messages wait for moderators: try again later",
                       0);
        }
    }
    op_done(op);
}

static void op_submit(send_op_t *op)
{
    ov_chat_room_t *r = op->room;
    ov_chat_t *chat = r->chat;
    if (chat->stopping) {
        send_error(chat, op->conn_ctx, op->req, "unavailable", "the overlay is stopping", 0);
        op_done(op);
        return;
    }
    char *json = msg_json(op);
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    cc_redis_args_add(&a, "EVAL");
    cc_redis_args_add(&a, ov_lua_chat_send);
    cc_redis_args_add(&a, "12");
    add_keys(&a, r, K_N);
    cc_redis_args_addf(&a, "cc:{stream:%s}:chat:slow:%s", r->name, op->viewer);
    cc_redis_args_add(&a, op->viewer);
    cc_redis_args_add(&a, op->id);
    cc_redis_args_add(&a, json ? json : "");
    cc_redis_args_addi(&a, op->ts);
    cc_redis_args_add(&a, op->question ? "1" : "0");
    cc_redis_args_add(&a, op->hold ? "1" : "0");
    cc_redis_args_add(&a, op->hold_reason);
    cc_redis_args_addi(&a, chat->cfg.stream_maxlen);
    cc_redis_args_addi(&a, chat->cfg.history > 0 ? chat->cfg.history : 1);
    cc_redis_args_addi(&a, chat->cfg.modlog_maxlen);
    cc_redis_args_addi(&a, chat->cfg.held_max);
    cc_redis_args_add(&a, op->name);
    int rc = json ? cc_redis_send(chat->cmd, &a, on_sent, op) : CC_ENOMEM;
    free(json);
    if (rc < 0) {
        chat->msgs_refused++;
        send_error(chat, op->conn_ctx, op->req, "unavailable", "chat is unavailable right now: try again", 0);
        op_done(op);
    }
}

/* The hook's verdict (or the fallback's): go on, change the text, or refuse. */
static void op_review_decided(send_op_t *op, int verdict, const char *text, const char *reason, bool fallback)
{
    ov_chat_t *chat = op->room->chat;
    op->decided = true;
    if (verdict == OV_REVIEW_DENY) {
        chat->review_denied++;
        chat->msgs_refused++;
        log_auto(op->room, fallback ? "review_fallback_deny" : "review_deny", op->viewer,
                 reason && reason[0] ? reason : fallback ? "the review hook did not answer in time" : "review hook",
                 op->text);
        send_error(chat, op->conn_ctx, op->req, "denied",
                   reason && reason[0] ? reason : "this message was not accepted", 0);
        op_done(op);
        return;
    }
    if (verdict == OV_REVIEW_REPLACE && text) {
        chat->review_replaced++;
        snprintf(op->text, sizeof(op->text), "%s", text);
        op->replaced = true;
    }
    op_submit(op);
}

static void on_review_answer(void *data, int err, const cc_httpc_response_t *resp)
{
    send_op_t *op = data;
    op->hreq = NULL;
    if (op->decided)
        return;
    if (op->timer_on)
        uv_timer_stop(&op->timer);
    ov_chat_t *chat = op->room->chat;
    ov_review_t rv;
    char why[200] = "";
    if (err == 0 && resp->status == 200 &&
        ov_review_parse((const char *)resp->body->data, resp->body->len, (size_t)chat->cfg.max_chars, &rv, why,
                        sizeof(why)) == 0) {
        op_review_decided(op, (int)rv.result, rv.text, rv.reason, false);
        return;
    }
    cc_log_warn("chat.review_bad", "stream=%s status=%d err=\"%s\"", op->room->name, err == 0 ? resp->status : 0,
                err ? cc_strerror(err) : why);
    op_review_decided(op, chat->cfg.review_fallback_deny ? OV_REVIEW_DENY : OV_REVIEW_ALLOW, NULL, NULL, true);
}

static void on_review_timeout(uv_timer_t *t)
{
    send_op_t *op = t->data;
    ov_chat_t *chat = op->room->chat;
    if (op->decided)
        return;
    chat->review_timeouts++;
    if (op->hreq && !chat->stopping) { /* once stopping, cc_httpc_free has cancelled it */
        cc_httpc_cancel(op->hreq);
        op->hreq = NULL;
    }
    op_review_decided(op, chat->cfg.review_fallback_deny ? OV_REVIEW_DENY : OV_REVIEW_ALLOW, NULL, NULL, true);
}

static void op_review(send_op_t *op)
{
    ov_chat_t *chat = op->room->chat;
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:I}", "stream", op->room->name, "id", op->id, "viewer",
                          op->viewer, "name", op->name, "text", op->text, "question", op->question, "ts",
                          (json_int_t)op->ts);
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    chat->review_calls++;
    uv_timer_init(chat->loop, &op->timer);
    op->timer.data = op;
    op->timer_on = true;
    uv_timer_start(&op->timer, on_review_timeout, (uint64_t)chat->cfg.review_timeout_ms, 0);
    int rc = body ? cc_httpc_post(chat->review, chat->review_path, "application/json", body, strlen(body),
                                  (uint32_t)chat->cfg.review_timeout_ms + 1000, 64 * 1024, on_review_answer, op,
                                  &op->hreq)
                  : CC_ENOMEM;
    free(body);
    if (rc < 0) {
        uv_timer_stop(&op->timer);
        cc_log_warn("chat.review_failed", "err=%s", cc_err_name(rc));
        op_review_decided(op, chat->cfg.review_fallback_deny ? OV_REVIEW_DENY : OV_REVIEW_ALLOW, NULL, NULL, true);
    }
}

int ov_chat_on_message(ov_chat_room_t *r, ov_chat_member_t *m, const char *msg, size_t len)
{
    ov_chat_t *chat = r->chat;
    ov_chat_msg_t pm;
    const char *code = NULL;
    char err[200];
    int rc = ov_chat_parse(msg, len, (size_t)chat->cfg.max_chars, &pm, &code, err, sizeof(err));
    if (rc == OV_CHAT_NOT_MINE)
        return 0;
    chat->msgs_in++;
    if (rc < 0) {
        chat->msgs_refused++;
        send_error(chat, m->conn_ctx, pm.req, code, err, 0);
        return 1;
    }
    if (pm.type == OV_CHAT_NAME) {
        memcpy(m->name, pm.name, sizeof(m->name));
        json_t *o = json_pack("{s:s,s:s}", "type", "chat_name", "name", m->name);
        if (pm.req[0])
            json_object_set_new(o, "req", json_string(pm.req));
        send_json(chat, m->conn_ctx, o);
        return 1;
    }
    int64_t now = now_ms();
    /* per connection: rate messages per 10 s (token bucket) */
    m->tokens = m->tokens_at == 0 ? chat->cfg.rate : m->tokens + (double)(now - m->tokens_at) * chat->cfg.rate / 10000.0;
    m->tokens_at = now;
    if (m->tokens > chat->cfg.rate)
        m->tokens = chat->cfg.rate;
    if (m->tokens < 1) {
        chat->msgs_refused++;
        send_error(chat, m->conn_ctx, pm.req, "rate_limited", "too many chat messages: slow down",
                   (int64_t)((1 - m->tokens) * 10000.0 / chat->cfg.rate) + 1);
        return 1;
    }
    m->tokens -= 1;
    if (!r->ready) {
        send_error(chat, m->conn_ctx, pm.req, "not_ready", "chat is loading: try again", 0);
        return 1;
    }
    /* the cached verdicts every overlay shares through the chat stream (the
     * script checks them again: this only spares the round trip) */
    muted_t *mu = muted_find(r, m->viewer);
    if (mu && mu->until_ms > now) {
        chat->msgs_refused++;
        send_error(chat, m->conn_ctx, pm.req, "muted", "you are muted in this chat for now", mu->until_ms - now);
        return 1;
    }
    if (r->slow_ms > 0 && m->last_sent_ms > 0 && now - m->last_sent_ms < r->slow_ms) {
        chat->msgs_refused++;
        send_error(chat, m->conn_ctx, pm.req, "slow_mode", "slow mode is on: wait before your next message",
                   r->slow_ms - (now - m->last_sent_ms));
        return 1;
    }
    send_op_t *op = calloc(1, sizeof(*op));
    if (op == NULL) {
        send_error(chat, m->conn_ctx, pm.req, "unavailable", "out of memory", 0);
        return 1;
    }
    op->room = r;
    r->refs++;
    op->conn_ctx = m->conn_ctx;
    chat->host.conn_hold(m->conn_ctx);
    snprintf(op->viewer, sizeof(op->viewer), "%s", m->viewer);
    memcpy(op->name, m->name, sizeof(op->name));
    memcpy(op->req, pm.req, sizeof(op->req));
    memcpy(op->text, pm.text, sizeof(op->text));
    op->question = pm.question;
    op->ts = now;
    char hex[17];
    if (ov_random_hex(hex, 8) < 0) {
        send_error(chat, m->conn_ctx, pm.req, "unavailable", "no randomness", 0);
        op_free(op);
        return 1;
    }
    snprintf(op->id, sizeof(op->id), "m%s", hex);
    m->last_sent_ms = now;
    /* blocked terms, on the normalised text */
    char norm[OV_MOD_NORM_CAP(OV_CHAT_TEXT_MAX_BYTES)];
    ov_mod_normalise(op->text, strlen(op->text), norm, sizeof(norm));
    size_t which = 0;
    ov_mod_action_t act = ov_mod_terms_match(&r->terms, norm, &which);
    if (act == OV_MOD_REJECT) {
        chat->msgs_blocked++;
        chat->msgs_refused++;
        char why[200];
        snprintf(why, sizeof(why), "blocked term: %s", r->terms.t[which].term);
        log_auto(r, "blocked_term", op->viewer, why, op->text);
        send_error(chat, m->conn_ctx, pm.req, "blocked", "your message contains a term that is not allowed here", 0);
        op_free(op);
        return 1;
    }
    if (act == OV_MOD_HOLD) {
        op->hold = true;
        snprintf(op->hold_reason, sizeof(op->hold_reason), "blocked term: %.100s", r->terms.t[which].term);
    }
    if (chat->review && !op->hold)
        op_review(op);
    else
        op_submit(op);
    return 1;
}

/* ---- the moderation log and moderator actions ---------------------------------------------------------- */

static void on_logged(cc_redis_t *r, int status, redisReply *reply, void *data) { room_unref(data); }

static void mod_args(cc_redis_args_t *a, const ov_chat_room_t *r, const char *action, const char *who,
                     const char *scope, const char *target, const char *reason, const char *v1, const char *v2)
{
    ov_chat_t *chat = r->chat;
    cc_redis_args_init(a);
    cc_redis_args_add(a, "EVAL");
    cc_redis_args_add(a, ov_lua_chat_mod);
    cc_redis_args_add(a, "11");
    add_keys(a, r, K_N);
    cc_redis_args_add(a, action);
    cc_redis_args_add(a, who);
    cc_redis_args_add(a, scope);
    cc_redis_args_addi(a, now_ms());
    cc_redis_args_add(a, target);
    cc_redis_args_add(a, reason);
    cc_redis_args_add(a, v1);
    cc_redis_args_add(a, v2);
    cc_redis_args_addi(a, chat->cfg.stream_maxlen);
    cc_redis_args_addi(a, chat->cfg.history > 0 ? chat->cfg.history : 1);
    cc_redis_args_addi(a, chat->cfg.modlog_maxlen);
}

static void log_auto(ov_chat_room_t *r, const char *action, const char *viewer, const char *reason, const char *text)
{
    if (r->chat->stopping)
        return;
    cc_redis_args_t a;
    mod_args(&a, r, "log", "auto", "auto", viewer, reason, text, action);
    r->refs++;
    if (cc_redis_send(r->chat->cmd, &a, on_logged, r) < 0) {
        r->refs--;
        cc_log_warn("chat.modlog_failed", "stream=%s action=%s viewer=%s", r->name, action, viewer);
    }
}

/* ---- REST ------------------------------------------------------------------------------------------------ */

typedef struct rest_op {
    ov_chat_t *chat;
    ov_http_t *req;
    ov_chat_room_t *room; /* a detached room for the keys (never in chat->rooms) */
    char action[16];
    char target[40];
} rest_op_t;

static void rest_done(rest_op_t *x)
{
    free(x->room);
    free(x);
}

static void rest_redis_error(rest_op_t *x, int status, const redisReply *reply)
{
    cc_log_warn("chat.rest_redis", "stream=%s err=\"%s\"", x->room->name, cc_redis_status_str(status, reply));
    ov_http_respond_error(x->req, 503, "redis_unavailable", cc_redis_status_str(status, reply));
}

static void respond_json(ov_http_t *req, int status, json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (s == NULL) {
        ov_http_respond_error(req, 500, "internal", "out of memory");
        return;
    }
    ov_http_respond_json(req, status, s);
    free(s);
}

static json_t *parse_or_null(const char *s, size_t n)
{
    json_t *j = json_loadb(s, n, 0, NULL);
    return j ? j : json_stringn(s, n);
}

static json_t *flat_object(const redisReply *a, bool values_json)
{
    json_t *o = json_object();
    for (size_t i = 0; a->type == REDIS_REPLY_ARRAY && i + 1 < a->elements; i += 2)
        if (a->element[i]->type == REDIS_REPLY_STRING && a->element[i + 1]->type == REDIS_REPLY_STRING)
            json_object_set_new(o, a->element[i]->str,
                                values_json ? parse_or_null(a->element[i + 1]->str, a->element[i + 1]->len)
                                            : json_integer(strtoll(a->element[i + 1]->str, NULL, 10)));
    return o;
}

static void on_state_read(cc_redis_t *rd, int status, redisReply *reply, void *data)
{
    rest_op_t *x = data;
    if (status < 0 || reply->type != REDIS_REPLY_ARRAY || reply->elements != 9) {
        rest_redis_error(x, status, reply);
        rest_done(x);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "stream", json_string(x->room->name));
    json_t *h = json_array();
    for (size_t i = 0; reply->element[1]->type == REDIS_REPLY_ARRAY && i < reply->element[1]->elements; i++)
        json_array_append_new(h, parse_or_null(reply->element[1]->element[i]->str, reply->element[1]->element[i]->len));
    json_object_set_new(o, "messages", h);
    const redisReply *p = reply->element[2];
    json_object_set_new(o, "pinned", p->type == REDIS_REPLY_STRING && p->len ? parse_or_null(p->str, p->len)
                                                                             : json_null());
    json_t *s = flat_object(reply->element[3], false);
    json_t *settings = json_pack("{s:I,s:b}", "slow_ms", json_integer_value(json_object_get(s, "slow_ms")),
                                 "hold_all", json_integer_value(json_object_get(s, "hold_all")) == 1);
    json_decref(s);
    json_object_set_new(o, "settings", settings);
    const redisReply *t = reply->element[4];
    json_t *terms = t->type == REDIS_REPLY_STRING && t->len ? json_loadb(t->str, t->len, 0, NULL) : NULL;
    json_object_set_new(o, "terms", terms ? terms : json_array());
    json_object_set_new(o, "muted", flat_object(reply->element[5], false));
    json_object_set_new(o, "banned", flat_object(reply->element[6], true));
    json_t *q = json_array();
    for (size_t i = 0; reply->element[7]->type == REDIS_REPLY_ARRAY && i < reply->element[7]->elements; i++)
        json_array_append_new(q, parse_or_null(reply->element[7]->element[i]->str, reply->element[7]->element[i]->len));
    json_object_set_new(o, "questions", q);
    json_t *held = json_array();
    for (size_t i = 0; reply->element[8]->type == REDIS_REPLY_ARRAY && i < reply->element[8]->elements; i++) {
        const redisReply *e = reply->element[8]->element[i];
        const char *nl = e->str ? memchr(e->str, '\n', e->len) : NULL;
        if (nl == NULL)
            continue;
        json_t *m = json_loadb(nl + 1, e->len - (size_t)(nl + 1 - e->str), 0, NULL);
        if (json_is_object(m)) {
            json_object_set_new(m, "held_reason", json_stringn(e->str, (size_t)(nl - e->str)));
            json_array_append_new(held, m);
        } else {
            json_decref(m);
        }
    }
    json_object_set_new(o, "held", held);
    json_object_set_new(o, "server_ms", json_integer(now_ms()));
    respond_json(x->req, 200, o);
    rest_done(x);
}

static void on_mod_done(cc_redis_t *rd, int status, redisReply *reply, void *data)
{
    rest_op_t *x = data;
    if (status < 0 || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING) {
        rest_redis_error(x, status, reply);
    } else if (strcmp(reply->element[0]->str, "unknown") == 0) {
        ov_http_respond_error(x->req, 404, "not_found",
                              strcmp(x->action, "unban") == 0 || strcmp(x->action, "unmute") == 0
                                  ? "this viewer is not banned/muted here"
                                  : "no such message (or not in that state)");
    } else {
        x->chat->mod_actions++;
        json_t *o = json_pack("{s:b,s:s,s:s}", "ok", 1, "action", x->action, "target", x->target);
        if (strcmp(x->action, "delete") == 0)
            json_object_set_new(o, "found", json_boolean(strcmp(reply->element[1]->str ? reply->element[1]->str : "0",
                                                                "0") != 0));
        respond_json(x->req, 200, o);
    }
    rest_done(x);
}

static void on_log_read(cc_redis_t *rd, int status, redisReply *reply, void *data)
{
    rest_op_t *x = data;
    if (status < 0 || reply->type != REDIS_REPLY_ARRAY) {
        rest_redis_error(x, status, reply);
        rest_done(x);
        return;
    }
    json_t *entries = json_array();
    const char *last = NULL;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *e = reply->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
            continue;
        json_t *o = json_object();
        json_object_set_new(o, "id", json_string(e->element[0]->str));
        last = e->element[0]->str;
        const redisReply *fv = e->element[1];
        for (size_t k = 0; fv->type == REDIS_REPLY_ARRAY && k + 1 < fv->elements; k += 2) {
            const char *f = fv->element[k]->str;
            const redisReply *v = fv->element[k + 1];
            if (f == NULL || v->type != REDIS_REPLY_STRING)
                continue;
            if (strcmp(f, "ts") == 0)
                json_object_set_new(o, "ts", json_integer(strtoll(v->str, NULL, 10)));
            else
                json_object_set_new(o, f, json_stringn(v->str, v->len));
        }
        json_array_append_new(entries, o);
    }
    json_t *o = json_pack("{s:s,s:o}", "stream", x->room->name, "entries", entries);
    json_object_set_new(o, "next", last ? json_string(last) : json_null());
    respond_json(x->req, 200, o);
    rest_done(x);
}

/* "who" in the log: the caller's "by" (if any) and the token's SHA-256
 * prefix, which names a token without revealing it. */
static void who_of(const ov_chat_caller_t *caller, const char *by, char *out, size_t cap)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)caller->token, strlen(caller->token), md);
    char fp[17];
    for (int i = 0; i < 8; i++)
        snprintf(fp + 2 * i, 3, "%02x", md[i]);
    if (by && by[0])
        snprintf(out, cap, "%s (token:%s)", by, fp);
    else
        snprintf(out, cap, "token:%s", fp);
}

static bool id_ok(const char *s, size_t n, char first, size_t len)
{
    if (n != len || s[0] != first)
        return false;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* Optional {"by": NAME, "reason": TEXT} and an action's own fields. */
typedef struct mod_body {
    json_t *root;
    char by[65];
    char reason[OV_MOD_REASON_MAX + 1];
} mod_body_t;

static int body_text(json_t *root, const char *key, size_t max, char *out, size_t cap, char *err, size_t errlen)
{
    json_t *v = json_object_get(root, key);
    if (v == NULL || json_is_null(v))
        return 0;
    char why[160];
    size_t n = json_is_string(v) ? json_string_length(v) : 0;
    if (!json_is_string(v) || n == 0 || n > max || n >= cap ||
        ov_chat_text_check(json_string_value(v), n, max, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "%s: must be 1-%zu bytes of text without control characters", key, max);
        return -1;
    }
    memcpy(out, json_string_value(v), n + 1);
    return 0;
}

static int mod_body_parse(ov_http_t *req, const char *allowed, mod_body_t *b, char *err, size_t errlen)
{
    memset(b, 0, sizeof(*b));
    cc_iov_t body = ov_http_body(req);
    if (body.len == 0) {
        b->root = json_object();
        return 0;
    }
    b->root = json_loadb((const char *)body.base, body.len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(b->root)) {
        snprintf(err, errlen, "body: must be a JSON object");
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach(b->root, key, v) {
        char pat[80];
        snprintf(pat, sizeof(pat), " %.40s ", key);
        if (strstr(" by reason ", pat) == NULL && strstr(allowed, pat) == NULL) {
            snprintf(err, errlen, "%.40s: unknown field", key);
            return -1;
        }
    }
    if (body_text(b->root, "by", 64, b->by, sizeof(b->by), err, errlen) < 0 ||
        body_text(b->root, "reason", OV_MOD_REASON_MAX, b->reason, sizeof(b->reason), err, errlen) < 0)
        return -1;
    return 0;
}

static void respond_validation(ov_http_t *req, const char *err)
{
    const char *colon = strchr(err, ':');
    json_t *f = json_pack("{s:s%,s:s}", "field", err, colon ? (size_t)(colon - err) : (size_t)0, "message",
                          colon ? colon + 2 : err);
    json_t *o = json_pack("{s:s,s:s,s:[o]}", "error", "validation", "message", err, "fields", f);
    respond_json(req, 400, o);
}

int ov_chat_http(ov_chat_t *chat, ov_http_t *req, const char *stream, const char *rest)
{
    const char *m = ov_http_method(req);
    bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0, post = strcmp(m, "POST") == 0,
         del = strcmp(m, "DELETE") == 0;
    if (strcmp(rest, "/moderation/log") != 0 && strcmp(rest, "/chat") != 0 && strncmp(rest, "/chat/", 6) != 0)
        return 0;
    /* route first (404/405), then the token (401/403), then the body (400) */
    enum { R_NONE, R_STATE, R_LOG, R_SETTINGS, R_TERMS, R_MSG, R_UNPIN, R_HELD, R_VIEWER } route = R_NONE;
    bool known = false, method_ok = false;
    char action[16] = "", target[40] = "";
    if (strcmp(rest, "/chat") == 0) {
        known = true, method_ok = get, route = R_STATE;
    } else if (strcmp(rest, "/moderation/log") == 0) {
        known = true, method_ok = get, route = R_LOG;
    } else if (strcmp(rest, "/chat/settings") == 0) {
        known = true, method_ok = post, route = R_SETTINGS;
        snprintf(action, sizeof(action), "settings");
    } else if (strcmp(rest, "/chat/terms") == 0) {
        known = true, method_ok = post, route = R_TERMS;
        snprintf(action, sizeof(action), "terms");
    } else if (strcmp(rest, "/chat/unpin") == 0) {
        known = true, method_ok = post, route = R_UNPIN;
        snprintf(action, sizeof(action), "unpin");
    } else {
        /* /chat/messages/ID[/delete|/pin|/answered], /chat/held/ID/(approve|reject),
         * /chat/viewers/VIEWER/(mute|unmute|ban|unban) */
        static const struct {
            const char *prefix, *verbs;
            char first;
            size_t len;
            int route;
        } kinds[] = {{"/chat/messages/", " delete pin answered ", 'm', 17, R_MSG},
                     {"/chat/held/", " approve reject ", 'm', 17, R_HELD},
                     {"/chat/viewers/", " mute unmute ban unban ", 'v', OV_VIEWER_ID_LEN, R_VIEWER}};
        for (size_t k = 0; k < 3; k++) {
            size_t pl = strlen(kinds[k].prefix);
            if (strncmp(rest, kinds[k].prefix, pl) != 0)
                continue;
            const char *id = rest + pl, *slash = strchr(id, '/');
            size_t n = slash ? (size_t)(slash - id) : strlen(id);
            if (!id_ok(id, n, kinds[k].first, kinds[k].len))
                break;
            snprintf(target, sizeof(target), "%.*s", (int)n, id);
            if (slash == NULL && kinds[k].route == R_MSG) {
                known = true, method_ok = del, route = R_MSG;
                snprintf(action, sizeof(action), "delete");
            } else if (slash && strlen(slash + 1) < 12 && strchr(slash + 1, '/') == NULL) {
                char pat[24];
                snprintf(pat, sizeof(pat), " %s ", slash + 1);
                if (strstr(kinds[k].verbs, pat)) {
                    known = true, method_ok = post, route = kinds[k].route;
                    snprintf(action, sizeof(action), "%s", strcmp(slash + 1, "answered") == 0 ? "answer" : slash + 1);
                }
            }
            break;
        }
    }
    if (!known) {
        ov_http_respond_error(req, 404, "not_found", "no such resource");
        return 1;
    }
    if (!method_ok) {
        ov_http_respond_error(req, 405, "method_not_allowed", "method not allowed here");
        return 1;
    }
    ov_chat_caller_t caller;
    if (chat->host.auth(chat->host.data, req, stream, &caller) != 0)
        return 1;
    rest_op_t *x = calloc(1, sizeof(*x));
    ov_chat_room_t *room = calloc(1, sizeof(*room));
    if (x == NULL || room == NULL) {
        free(x);
        free(room);
        ov_http_respond_error(req, 500, "internal", "out of memory");
        return 1;
    }
    x->chat = chat;
    x->req = req;
    x->room = room;
    room->chat = chat;
    snprintf(room->name, sizeof(room->name), "%s", stream);
    for (int i = 0; i < K_N; i++)
        snprintf(room->keys[i], sizeof(room->keys[i]), "cc:{stream:%s}:%s", stream, key_suffix[i]);
    snprintf(x->action, sizeof(x->action), "%s", action);
    snprintf(x->target, sizeof(x->target), "%s", target);
    int rc;
    if (route == R_STATE) {
        cc_redis_args_t a;
        cc_redis_args_init(&a);
        cc_redis_args_add(&a, "EVAL");
        cc_redis_args_add(&a, ov_lua_chat_state);
        cc_redis_args_add(&a, "10");
        add_keys(&a, room, 10);
        cc_redis_args_addi(&a, HISTORY_MAX);
        rc = cc_redis_send(chat->cmd, &a, on_state_read, x);
    } else if (route == R_LOG) {
        /* ?count=N (1-1000, default 100) &after=ID (exclusive), oldest first */
        const char *q = ov_http_query(req), *c = strstr(q, "count="), *af = strstr(q, "after=");
        long count = c ? strtol(c + 6, NULL, 10) : 100;
        char after[48] = "-";
        if (af) {
            size_t n = strcspn(af + 6, "&");
            bool ok = n > 0 && n < 40;
            for (size_t i = 0; ok && i < n; i++)
                ok = (af[6 + i] >= '0' && af[6 + i] <= '9') || af[6 + i] == '-';
            if (!ok) {
                rest_done(x);
                respond_validation(req, "after: must be a log entry id (digits-digits)");
                return 1;
            }
            snprintf(after, sizeof(after), "(%.*s", (int)n, af + 6);
        }
        /* ?latest=N: the newest N, newest first (the operator page) */
        const char *lt = strstr(q, "latest=");
        if (lt)
            count = strtol(lt + 7, NULL, 10);
        if (count < 1 || count > 1000) {
            rest_done(x);
            respond_validation(req, lt ? "latest: must be 1-1000" : "count: must be 1-1000");
            return 1;
        }
        if (lt)
            rc = cc_redis_command(chat->cmd, on_log_read, x, "XREVRANGE %s + - COUNT %ld", room->keys[K_MODLOG], count);
        else
            rc = cc_redis_command(chat->cmd, on_log_read, x, "XRANGE %s %s + COUNT %ld", room->keys[K_MODLOG], after,
                                  count);
    } else {
        static const char *const allowed[] = {[R_SETTINGS] = " slow_ms hold_all ", [R_TERMS] = " terms ",
                                              [R_VIEWER] = " duration_s "};
        mod_body_t b;
        char err[200];
        const char *al = (route == R_SETTINGS || route == R_TERMS || route == R_VIEWER) ? allowed[route] : "";
        if (route == R_VIEWER && strcmp(action, "mute") != 0)
            al = "";
        if (mod_body_parse(req, al, &b, err, sizeof(err)) < 0) {
            json_decref(b.root);
            rest_done(x);
            respond_validation(req, err);
            return 1;
        }
        char v1[64] = "", v2[8] = "";
        char *terms_json = NULL;
        if (route == R_SETTINGS) {
            json_t *s = json_object_get(b.root, "slow_ms"), *h = json_object_get(b.root, "hold_all");
            bool bad_s = s && (!json_is_integer(s) || json_integer_value(s) < 0 || json_integer_value(s) > 3600000);
            bool bad_h = h && !json_is_boolean(h);
            if (bad_s || bad_h || (!s && !h)) {
                json_decref(b.root); /* s and h die with it: decided above */
                rest_done(x);
                respond_validation(req, bad_s   ? "slow_ms: must be an integer 0-3600000 (0 = off)"
                                        : bad_h ? "hold_all: must be true or false"
                                                : "body: give slow_ms and/or hold_all");
                return 1;
            }
            if (s)
                snprintf(v1, sizeof(v1), "%" PRId64, (int64_t)json_integer_value(s));
            if (h)
                snprintf(v2, sizeof(v2), "%d", json_is_true(h) ? 1 : 0);
        } else if (route == R_TERMS) {
            cc_iov_t body = ov_http_body(req);
            ov_mod_terms_t t;
            if (ov_mod_terms_parse((const char *)body.base, body.len, &t, err, sizeof(err)) < 0) {
                json_decref(b.root);
                rest_done(x);
                respond_validation(req, err);
                return 1;
            }
            terms_json = ov_mod_terms_json(&t);
            ov_mod_terms_free(&t);
        } else if (route == R_VIEWER && strcmp(action, "mute") == 0) {
            json_t *d = json_object_get(b.root, "duration_s");
            if (d && (!json_is_integer(d) || json_integer_value(d) < 1 || json_integer_value(d) > 604800)) {
                json_decref(b.root);
                rest_done(x);
                respond_validation(req, "duration_s: must be an integer 1-604800 (default 600)");
                return 1;
            }
            snprintf(v1, sizeof(v1), "%" PRId64, now_ms() + 1000 * (int64_t)(d ? json_integer_value(d) : 600));
        }
        char who[128];
        who_of(&caller, b.by, who, sizeof(who));
        cc_redis_args_t a;
        mod_args(&a, room, action, who, caller.moderator ? "moderator" : "operator", target, b.reason,
                 terms_json ? terms_json : v1, v2);
        rc = cc_redis_send(chat->cmd, &a, on_mod_done, x);
        free(terms_json);
        json_decref(b.root);
    }
    if (rc < 0) {
        rest_redis_error(x, rc, NULL);
        rest_done(x);
    }
    return 1;
}

/* ---- metrics and lifecycle ---------------------------------------------------------------------------- */

int ov_chat_metrics(ov_chat_t *chat, cc_dynbuf_t *d)
{
    int rc = 0;
#define C(name, help, v)                                                                                    \
    rc |= cc_dynbuf_appendf(d, "# HELP cartcast_overlay_chat_" name " " help "\n# TYPE cartcast_overlay_chat_" name \
                               " counter\ncartcast_overlay_chat_" name " %llu\n",                           \
                            (unsigned long long)(v))
    C("messages_in_total", "chat messages from viewers", chat->msgs_in);
    C("messages_sent_total", "chat messages published", chat->msgs_sent);
    C("messages_held_total", "chat messages held for a moderator", chat->msgs_held);
    C("messages_refused_total", "chat messages refused (any reason)", chat->msgs_refused);
    C("messages_blocked_total", "chat messages refused for a blocked term", chat->msgs_blocked);
    C("review_calls_total", "messages sent to the review hook", chat->review_calls);
    C("review_timeouts_total", "review hook calls that did not answer in time", chat->review_timeouts);
    C("review_denied_total", "messages denied by the review hook or its fallback", chat->review_denied);
    C("review_replaced_total", "messages whose text the review hook replaced", chat->review_replaced);
    C("events_total", "chat events read from the chat streams", chat->events);
    C("frames_total", "chat frames broadcast (each to every viewer of a room)", chat->frames);
    C("moderator_actions_total", "moderator actions applied", chat->mod_actions);
#undef C
    return rc;
}

static void split_url(const char *url, char *base, size_t bcap, char *path, size_t pcap)
{
    const char *p = strncmp(url, "http://", 7) == 0 ? strchr(url + 7, '/') : NULL;
    if (p == NULL) {
        snprintf(base, bcap, "%s", url);
        snprintf(path, pcap, "/");
    } else {
        snprintf(base, bcap, "%.*s", (int)(p - url), url);
        snprintf(path, pcap, "%s", p);
    }
}

int ov_chat_new(uv_loop_t *loop, const ov_chat_config_t *cfg, const cc_redis_url_t *redis, cc_redis_t *cmd,
                const ov_chat_host_t *host, ov_chat_t **out)
{
    ov_chat_t *chat = calloc(1, sizeof(*chat));
    if (chat == NULL)
        return CC_ENOMEM;
    chat->loop = loop;
    chat->cfg = *cfg;
    if (chat->cfg.history > HISTORY_MAX)
        chat->cfg.history = HISTORY_MAX;
    if (chat->cfg.max_chars < 1 || chat->cfg.max_chars > OV_CHAT_TEXT_MAX_CHARS)
        chat->cfg.max_chars = OV_CHAT_TEXT_MAX_CHARS;
    chat->host = *host;
    chat->cmd = cmd;
    uv_timer_init(loop, &chat->tick_timer);
    uv_timer_init(loop, &chat->retry_timer);
    chat->tick_timer.data = chat->retry_timer.data = chat;
    int rc = 0;
    if (cfg->review_url && cfg->review_url[0]) {
        char base[512];
        split_url(cfg->review_url, base, sizeof(base), chat->review_path, sizeof(chat->review_path));
        cc_httpc_config_t hc;
        cc_httpc_config_default(&hc);
        hc.connect_timeout_ms = (uint32_t)cfg->review_timeout_ms;
        rc = cc_httpc_new(loop, &hc, &chat->httpc);
        if (rc == 0)
            rc = cc_httpc_origin_add(chat->httpc, base, &chat->review);
    }
    if (rc == 0) {
        cc_redis_config_t rcfg;
        cc_redis_config_default(&rcfg);
        rcfg.url = *redis;
        rcfg.client_name = "cartcast-overlay";
        rcfg.name = "chat";
        rcfg.ping_interval_ms = 0; /* the XREAD in flight is its own watchdog */
        rcfg.on_ready = on_blk_ready;
        rcfg.on_down = on_blk_down;
        rcfg.data = chat;
        rc = cc_redis_new(loop, &rcfg, &chat->blk);
    }
    if (rc < 0) {
        ov_chat_stop(chat);
        *out = chat; /* the caller frees it after running the loop */
        return rc;
    }
    *out = chat;
    return 0;
}

static void handle_closed(uv_handle_t *h) {}

void ov_chat_stop(ov_chat_t *chat)
{
    if (chat == NULL || chat->stopping)
        return;
    chat->stopping = true;
    cc_redis_free(chat->blk);
    chat->blk = NULL;
    if (chat->httpc)
        cc_httpc_free(chat->httpc); /* pending hook calls: no callback; their timers decide */
    chat->httpc = NULL;
    chat->review = NULL;
    uv_close((uv_handle_t *)&chat->tick_timer, handle_closed);
    uv_close((uv_handle_t *)&chat->retry_timer, handle_closed);
}

void ov_chat_free(ov_chat_t *chat) { free(chat); }
